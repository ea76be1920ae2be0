// SPDX-License-Identifier: GPL-2.0
/*
 * ipitrace - where the function-call IPIs of kbench's memfd_secret GiB
 * come from, on a kernel with the ipi and csd tracepoints (the debug
 * kernel); the ipitrace suite of tests/kernel/init.sh turns the tracing
 * on, runs this and tabulates the trace per phase by callsite and
 * callback.
 *
 *   ipitrace
 *
 * Two rounds of kbench's memfd_secret steps, pinned to CPU 0 as kbench
 * is: lend a chunk, fault 1 GiB from it, free it (munmap and close), and
 * reclaim the chunk with the same pool reads kbench makes then.  Each
 * phase starts with a "phase NAME" line in trace_marker; "# counts" lines
 * give the CAL, TLB and RES rows of /proc/interrupts and the pool's
 * tlb_flushes between the phases, to set the trace against.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util.h"

#define GIB	(1024ULL * MIB)

static void mark(const char *what)
{
	int fd = open("/sys/kernel/tracing/trace_marker", O_WRONLY);

	if (fd >= 0) {
		dprintf(fd, "phase %s\n", what);
		close(fd);
	}
}

static void counts(const char *what)
{
	printf("# counts %s CAL=%lld TLB=%lld RES=%lld tlb_flushes=%lld\n", what,
	       irq_count("CAL"), irq_count("TLB"), irq_count("RES"),
	       pool_read_raw(-1, "tlb_flushes"));
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct region r;
	int round;

	if (!getenv("KBENCH_PINNED")) {
		if (!set_cpus(1) || setenv("KBENCH_PINNED", "1", 1))
			tap_bail("cannot pin to CPU 0");
		execv("/proc/self/exe", argv);
		tap_bail("cannot exec: %s", strerror(errno));
	}
	tap_ok(hugetlb_reserve(-1, 1), "reserve a 1 GiB hugetlb page");
	for (round = 1; round <= 2; round++) {
		counts("start");
		mark("lend");
		tap_ok(pool_set_chunks(-1, 1), "round %d: lend", round);
		counts("lent");
		mark("fault");
		if (!region_map(&r, secret_create(), GIB))
			tap_bail("map");
		tap_ok(region_fault(&r) >= 0, "round %d: fault", round);
		counts("faulted");
		mark("free");
		region_unmap(&r);
		counts("unmapped");
		mark("reclaim");
		tap_ok(pool_set_chunks(-1, 0), "round %d: reclaim", round);
		pool_read(-1, "fallbacks");
		pool_read(-1, "tlb_flushes");
		counts("reclaimed");
		mark("end");
	}
	return tap_done();
}
