// SPDX-License-Identifier: GPL-2.0
/*
 * secretfault - what faulting memfd_secret memory costs the direct map.
 *
 *   secretfault [--mib N] [--lend CHUNKS] [--expect-splits | --expect-no-splits]
 *
 * Faults N MiB (default 1024) of memfd_secret and reports the direct-map
 * splits, the DirectMap sizes, the function-call IPIs and remote TLB
 * flushes it caused and the fault time per page, next to the fault time of
 * the same amount of plain memfd_create memory, which stays in the direct
 * map.  --lend first lends CHUNKS 1 GiB chunks to the unmapped pool (and
 * takes them back at the end); --expect-no-splits asserts that the direct
 * map was not split.  --expect-splits is the positive control of that
 * assertion, for the stock kernel: faulting the first GiB after boot must
 * split 2 MiB and 1 GiB mappings of the direct map and the split counters
 * must show it, else a pool run's zero would prove nothing.  The
 * "# figure" line is what run.sh tabulates.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>

#include "util.h"

struct fault_result {
	long long ns;		/* time to touch every page, -1 on error */
	struct mm_counters before, after;
};

/* Maps and faults size bytes of fd; counters are taken around the faults. */
static bool measure(const char *what, int fd, size_t size, struct fault_result *res)
{
	struct region r;
	bool ok;

	if (!region_map(&r, fd, size)) {
		tap_ok(false, "%s: create and map %zu MiB", what, size / MIB);
		return false;
	}
	ok = mm_counters_read(&res->before);
	res->ns = region_fault(&r);
	ok = mm_counters_read(&res->after) && ok;
	region_unmap(&r);
	tap_ok(res->ns >= 0, "%s: fault %zu MiB and read it back", what, size / MIB);
	tap_ok(ok, "%s: direct-map and TLB counters readable", what);
	return ok && res->ns >= 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: secretfault [--mib N] [--lend CHUNKS] [--expect-splits | --expect-no-splits]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct fault_result sec, ref;
	bool expect_no_splits = false, expect_splits = false;
	long long mib = 1024, lend = 0, pages;
	struct mm_counters *b = &sec.before, *a = &sec.after;
	struct utsname uts;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--expect-no-splits"))
			expect_no_splits = true;
		else if (!strcmp(argv[i], "--expect-splits"))
			expect_splits = true;
		else if (!strcmp(argv[i], "--mib") && i + 1 < argc)
			mib = atoll(argv[++i]);
		else if (!strcmp(argv[i], "--lend") && i + 1 < argc)
			lend = atoll(argv[++i]);
		else
			usage();
	}
	if (mib <= 0 || lend < 0 || (expect_splits && expect_no_splits))
		usage();
	pages = mib * MIB / PAGE_SIZE_4K;
	uname(&uts);

	if (lend) {
		tap_ok(hugetlb_reserve(-1, lend), "reserve %lld 1 GiB hugetlb pages", lend);
		if (!pool_set_chunks(-1, lend))
			tap_bail("cannot lend %lld chunks to the unmapped pool", lend);
		tap_ok(true, "lend %lld chunks to the unmapped pool", lend);
	}

	if (!measure("memfd_secret", secret_create(), mib * MIB, &sec))
		tap_bail("memfd_secret measurement failed");
	if (!measure("memfd_create", memfd_create("secretfault-ref", MFD_CLOEXEC),
		     mib * MIB, &ref))
		tap_bail("memfd_create measurement failed");

	tap_diag("memfd_secret %lld MiB: direct_map_level2_splits +%lld, level3_splits +%lld",
		 mib, a->splits2 - b->splits2, a->splits3 - b->splits3);
	tap_diag("DirectMap4k %lld -> %lld kB, 2M %lld -> %lld kB, 1G %lld -> %lld kB",
		 b->dm4k, a->dm4k, b->dm2m, a->dm2m, b->dm1g, a->dm1g);
	tap_diag("CAL IPIs +%lld, nr_tlb_remote_flush +%lld, nr_tlb_remote_flush_received +%lld",
		 a->ipis - b->ipis, a->tlb_remote - b->tlb_remote,
		 a->tlb_remote_recv - b->tlb_remote_recv);
	tap_diag("fault: memfd_secret %lld ns/page (%lld pages/s), memfd_create %lld ns/page (%lld pages/s)",
		 sec.ns / pages, pages * 1000000000LL / (sec.ns ? sec.ns : 1),
		 ref.ns / pages, pages * 1000000000LL / (ref.ns ? ref.ns : 1));
	printf("# figure secretfault kernel=%s mib=%lld lent=%lld splits2=%lld splits3=%lld "
	       "dm4k=%lld/%lld dm2m=%lld/%lld dm1g=%lld/%lld ipis=%lld tlb_remote=%lld "
	       "tlb_remote_recv=%lld ns_per_page=%lld memfd_ns_per_page=%lld\n",
	       uts.release, mib, lend, a->splits2 - b->splits2, a->splits3 - b->splits3,
	       b->dm4k, a->dm4k, b->dm2m, a->dm2m, b->dm1g, a->dm1g, a->ipis - b->ipis,
	       a->tlb_remote - b->tlb_remote, a->tlb_remote_recv - b->tlb_remote_recv,
	       sec.ns / pages, ref.ns / pages);

	if (expect_no_splits) {
		tap_eq(a->splits2 - b->splits2, 0, "memfd_secret: no 2 MiB direct-map splits");
		tap_eq(a->splits3 - b->splits3, 0, "memfd_secret: no 1 GiB direct-map splits");
		tap_eq(a->dm1g, b->dm1g, "memfd_secret: DirectMap1G unchanged");
	}
	if (expect_splits) {
		tap_ok(a->splits2 > b->splits2, "memfd_secret: 2 MiB direct-map splits rose (+%lld)",
		       a->splits2 - b->splits2);
		tap_ok(a->splits3 > b->splits3, "memfd_secret: 1 GiB direct-map splits rose (+%lld)",
		       a->splits3 - b->splits3);
		tap_ok(a->dm1g < b->dm1g, "memfd_secret: DirectMap1G fell (%lld -> %lld kB)",
		       b->dm1g, a->dm1g);
	}
	if (lend)
		tap_ok(pool_set_chunks(-1, 0), "take the %lld chunks back", lend);
	return tap_done();
}
