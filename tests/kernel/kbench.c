// SPDX-License-Identifier: GPL-2.0
/*
 * kbench - the kernel figures of `make bench`, on a stock or a gigapool
 * kernel booted fresh for it.
 *
 *   kbench [--rounds N]
 *
 * Round 1 starts from the direct map as the boot left it, so its splits
 * and DirectMap1G loss are what serving the first GiB costs; every round
 * then times, for 1 GiB each: faulting memfd_secret (on gigapool from one
 * chunk lent for it, which is given back afterwards), faulting plain
 * memfd_create memory, allocating guest_memfd memory with fallocate() (on
 * gigapool with GUEST_MEMFD_FLAG_UNMAPPED_POOL) and plain memfd memory the
 * same way.  On gigapool it also times lending a chunk from a free 1 GiB
 * hugetlb page and from CMA, reclaiming a clean and a dirty chunk, and the
 * memory lending costs (MemFree before and after); on both kernels it times
 * clearing 1 GiB, by faulting a 1 GiB hugetlb page and by memset().
 *
 * Compaction (gigapool): two chunks fragmented as compacttest fragments
 * them (frag_fault() in tests/lib/util.c), the time to give a 1 GiB page
 * back by compaction to one empty chunk and the reclaim of that chunk, the
 * pages moved and the user-mapping shootdowns by the pool's own counters,
 * against faulting as many memfd_secret pages as compaction moved, fresh,
 * in the same boot.
 *
 * The free-path figure times freeing ordinary anonymous pages, which every
 * host does all the time: the pool's hook in the page allocator's free
 * path must cost nothing measurable, with no chunk lent (the hook is a
 * patched-out branch) and with one lent (it asks whether each page is the
 * pool's).
 *
 * Cross-CPU work is counted over the whole life of the GiB and per phase
 * (lend; fault; free and reclaim): function-call IPIs, which carry the
 * kernel's TLB shootdowns (set_memory_*() and flush_tlb_kernel_range()
 * send them with on_each_cpu(), which nr_tlb_remote_flush does not
 * count) and other cross-CPU calls, and on gigapool the pool's own count
 * of the shootdowns it issued (tlb_flushes).
 *
 * Output: "# figure kbench-boot ..." once and "# figure kbench ..." per
 * round, key=value pairs that bench/kernel.sh collects; the checks are TAP.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/kvm.h>
#include <linux/memfd.h>
#include <linux/unmapped_pool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "util.h"

#define GIB		(1024ULL * MIB)
#define MEMINFO		"/proc/meminfo"

static bool has_pool;

/* Time of one step in ns, or -1 when it failed. */
static long long timed_chunks(int node, long long chunks)
{
	long long start = now_ns();

	return pool_set_chunks(node, chunks) ? now_ns() - start : -1;
}

/*
 * Allocate size bytes of fd.  KEEP_SIZE because guest_memfd accepts
 * nothing else; the plain memfd it is compared with gets its size first.
 */
static long long fallocate_ns(int fd, size_t size)
{
	long long start = now_ns();

	if (fd < 0 || fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, size)) {
		tap_diag("fallocate %zu MiB: %s", size / MIB, strerror(errno));
		return -1;
	}
	return now_ns() - start;
}

/* A guest_memfd of size bytes in a fresh software-protected VM, or -1. */
static int gmem_open(int *ret_vm, size_t size)
{
	int vm, gmem;

	vm = protected_vm_create();
	if (vm < 0)
		return -1;
	gmem = guest_memfd_create(vm, size, has_pool ? GUEST_MEMFD_FLAG_UNMAPPED_POOL : 0);
	if (gmem < 0) {
		close(vm);
		return -1;
	}
	*ret_vm = vm;
	return gmem;
}

/* Fault one 1 GiB hugetlb page (the kernel clears it), then memset it. */
static void clear_gib(long long *ret_fault_ns, long long *ret_memset_ns)
{
	int fd = memfd_create("kbench-huge", MFD_CLOEXEC | MFD_HUGETLB | MFD_HUGE_1GB);
	long long start;
	char *p;

	*ret_fault_ns = *ret_memset_ns = -1;
	if (fd < 0 || ftruncate(fd, GIB)) {
		tap_diag("1 GiB hugetlb memfd: %s", strerror(errno));
		goto out;
	}
	p = mmap(NULL, GIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto out;
	start = now_ns();
	p[0] = 1;
	*ret_fault_ns = now_ns() - start;
	start = now_ns();
	memset(p, 0, GIB);
	*ret_memset_ns = now_ns() - start;
	munmap(p, GIB);
out:
	if (fd >= 0)
		close(fd);
}

/* Lend/reclaim figures of gigapool, printed as one figure line. */
static void lend_figures(void)
{
	long long free0, free1, from_huge, from_cma, reclaim_clean, huge;

	huge = hugetlb_read(-1, "nr_hugepages");
	free0 = proc_value(MEMINFO, "MemFree:");
	from_huge = timed_chunks(-1, 2);
	free1 = proc_value(MEMINFO, "MemFree:");
	reclaim_clean = timed_chunks(-1, 0);
	tap_ok(from_huge >= 0 && reclaim_clean >= 0, "lend 2 chunks from hugetlb and reclaim them");
	/* With no free 1 GiB hugetlb page the pool takes chunks from CMA. */
	tap_ok(node_write(-1, HUGETLB_DIR, "nr_hugepages", 0), "free every 1 GiB hugetlb page");
	from_cma = timed_chunks(-1, 1);
	tap_ok(from_cma >= 0 && pool_set_chunks(-1, 0), "lend 1 chunk from CMA and reclaim it");
	tap_ok(hugetlb_reserve(-1, huge), "restore %lld 1 GiB hugetlb pages", huge);
	printf("# figure kbench-lend lend_huge_ns_per_gib=%lld lend_cma_ns_per_gib=%lld "
	       "reclaim_clean_ns_per_gib=%lld memfree_kb_per_chunk=%lld\n",
	       from_huge / 2, from_cma, reclaim_clean / 2, (free0 - free1) / 2);
}

#define COMPACT_NODE	0
/* The wipe worker clears a fragmented pool's freed pages in well under this. */
#define WIPE_TIMEOUT_MS	(120 * 1000)

/* Time of a compaction of COMPACT_NODE to one empty chunk, -1 on failure. */
static long long timed_compact(void)
{
	long long start = now_ns();

	return node_write(COMPACT_NODE, POOL_DIR, "compact", 1) ? now_ns() - start : -1;
}

/* Time to fault that many fresh pages of memfd_secret, -1 on failure. */
static long long timed_secret_fault(long long pages)
{
	struct region r;
	long long ns;

	if (pages <= 0 || !region_map(&r, secret_create(), pages * PAGE_SIZE_4K))
		return -1;
	ns = region_fault(&r);
	region_unmap(&r);
	return ns;
}

/*
 * Giving back a 1 GiB page by compaction, printed as one figure line: two
 * chunks lent, fragmented by FRAG_OWNERS owners of which three in four are
 * freed (a chunk's worth free, no chunk empty); once the wipe worker has
 * cleared the freed pages, `compact` to one empty chunk and the reclaim of
 * that chunk, which returns a free 1 GiB hugetlb page, are timed.  The
 * fill figures are the owners' faults into the fresh chunks and, after
 * the reclaim, a fault of exactly as many pages as compaction moved.
 */
static void compact_figures(void)
{
	struct frag_owner owners[FRAG_OWNERS];
	long long lend, frag, used, moved, failed, shootdowns, compact, reclaim;
	long long huge, fallbacks, fill;

	lend = timed_chunks(COMPACT_NODE, 2);
	if (lend < 0)
		tap_bail("cannot lend two chunks to fragment");
	frag = frag_fault(owners, NULL);
	tap_ok(frag >= 0 && pool_read(COMPACT_NODE, "empty_chunks") == 0,
	       "compaction: %d owners of %lu MiB faulted over two chunks",
	       FRAG_OWNERS, FRAG_OWNER_SIZE / MIB);
	frag_free_most(owners);
	tap_eq(pool_wait_wiped(COMPACT_NODE, WIPE_TIMEOUT_MS), 0,
	       "compaction: three in four owners freed, their pages wiped");
	used = pool_read(COMPACT_NODE, "used_pages");
	tap_ok(pool_read(COMPACT_NODE, "free_pages") >= CHUNK_PAGES &&
	       pool_read(COMPACT_NODE, "empty_chunks") == 0,
	       "compaction: a chunk's worth free, no chunk empty (%lld pages used)", used);

	moved = pool_read_raw(COMPACT_NODE, "compact_pages_moved");
	failed = pool_read_raw(COMPACT_NODE, "compact_pages_failed");
	shootdowns = pool_read_raw(COMPACT_NODE, "compact_shootdowns");
	compact = timed_compact();
	moved = pool_read_raw(COMPACT_NODE, "compact_pages_moved") - moved;
	failed = pool_read_raw(COMPACT_NODE, "compact_pages_failed") - failed;
	shootdowns = pool_read_raw(COMPACT_NODE, "compact_shootdowns") - shootdowns;
	tap_ok(compact >= 0 && pool_read(COMPACT_NODE, "empty_chunks") == 1 && moved > 0 &&
	       !failed, "compaction: one chunk emptied, %lld pages moved, %lld failed",
	       moved, failed);
	huge = hugetlb_read(COMPACT_NODE, "free_hugepages");
	reclaim = timed_chunks(COMPACT_NODE, 1);
	tap_ok(reclaim >= 0 && hugetlb_read(COMPACT_NODE, "free_hugepages") == huge + 1,
	       "compaction: the emptied chunk reclaimed, a free 1 GiB hugetlb page back");

	fallbacks = pool_read_raw(COMPACT_NODE, "fallbacks");
	fill = timed_secret_fault(moved);
	tap_ok(fill >= 0 && pool_read_raw(COMPACT_NODE, "fallbacks") == fallbacks,
	       "compaction: %lld pages of memfd_secret faulted from the pool", moved);
	frag_release(owners);
	tap_ok(pool_set_chunks(COMPACT_NODE, 0), "compaction: the last chunk reclaimed");
	printf("# figure kbench-compact lend2_ns=%lld frag_pages=%lld frag_ns=%lld "
	       "used_pages=%lld moved=%lld shootdowns=%lld compact_ns=%lld reclaim_ns=%lld "
	       "fill_ns=%lld\n", lend, FRAG_OWNERS * (long long)(FRAG_OWNER_SIZE / PAGE_SIZE_4K),
	       frag, used, moved, shootdowns, compact, reclaim, fill);
}

#define FREE_BYTES	(64 * MIB)
#define FREE_REPS	15

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

/*
 * Median time, over FREE_REPS runs, to free FREE_BYTES of faulted
 * anonymous memory with MADV_DONTNEED.  Faulting is not timed;
 * the madvise() is the page allocator's batched free path, one page at a
 * time through free_pages_prepare(), plus the unmapping around it, which
 * is the same on every kernel.
 */
static long long free_ns(void)
{
	long long t[FREE_REPS], start;
	char *p;
	int i;

	p = mmap(NULL, FREE_BYTES, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	/* Small pages only: a THP would be freed as one. */
	madvise(p, FREE_BYTES, MADV_NOHUGEPAGE);
	for (i = 0; i < FREE_REPS; i++) {
		memset(p, 1, FREE_BYTES);
		start = now_ns();
		if (madvise(p, FREE_BYTES, MADV_DONTNEED)) {
			munmap(p, FREE_BYTES);
			return -1;
		}
		t[i] = now_ns() - start;
	}
	munmap(p, FREE_BYTES);
	qsort(t, FREE_REPS, sizeof(t[0]), cmp_ll);
	return t[FREE_REPS / 2];
}

/* The free-path figures: no chunk lent, and on gigapool one lent. */
static void free_figures(void)
{
	long long unlent, lent = -1;

	unlent = free_ns();
	tap_ok(unlent >= 0, "free %lu MiB of anonymous memory %d times, no chunk lent",
	       FREE_BYTES / MIB, FREE_REPS);
	if (has_pool) {
		tap_ok(pool_set_chunks(-1, 1), "lend a chunk for the free-path figure");
		lent = free_ns();
		tap_ok(lent >= 0 && pool_set_chunks(-1, 0),
		       "free anonymous memory with a chunk lent, reclaim it");
	}
	printf("# figure kbench-free free_pages=%lu free_ns=%lld free_lent_ns=%lld\n",
	       FREE_BYTES / PAGE_SIZE_4K, unlent, lent);
}

/*
 * QEMU backs guest memory when the guest first writes it, which more than
 * doubles the time of a first clear of a GiB (round 1 of clear_fault_ns
 * on stock without this).  hugetlb does not clear a page until it is
 * faulted, so lending a page no one wrote yet would count the emulator's
 * work on top of the lend, and not the same in every round.  Faulting
 * every free 1 GiB hugetlb page once leaves it out of the figures, as a
 * real machine has none of it; the pages go back to hugetlb's free list.
 */
static bool warm_hugetlb(void)
{
	long long n = hugetlb_read(-1, "free_hugepages"), i;
	char *p;

	if (n <= 0)
		return false;
	p = mmap(NULL, n * GIB, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (30 << MAP_HUGE_SHIFT), -1, 0);
	if (p == MAP_FAILED)
		return false;
	for (i = 0; i < n; i++)
		p[i * GIB] = 1;
	munmap(p, n * GIB);
	return hugetlb_read(-1, "free_hugepages") == n;
}

/* One round: the 1 GiB measurements described at the top. */
static void round_figures(int round)
{
	struct mm_counters c0, cl, c1, c2;
	long long lend = 0, reclaim = 0, secret, memfd, gmem, gmemref;
	long long fallbacks0 = 0, fallbacks1 = 0, clear_fault, clear_memset;
	long long flushes0 = 0, flushes1 = 0;
	struct region r;
	int vm = -1, fd;

	if (has_pool) {
		fallbacks0 = pool_read(-1, "fallbacks");
		flushes0 = pool_read(-1, "tlb_flushes");
	}
	tap_ok(mm_counters_read(&c0), "round %d: counters readable", round);
	if (has_pool)
		lend = timed_chunks(-1, 1);
	mm_counters_read(&cl);
	fd = secret_create();
	if (!region_map(&r, fd, GIB))
		tap_bail("round %d: cannot map 1 GiB of memfd_secret", round);
	secret = region_fault(&r);
	mm_counters_read(&c1);
	region_unmap(&r);
	if (has_pool) {
		reclaim = timed_chunks(-1, 0);
		fallbacks1 = pool_read(-1, "fallbacks");
		flushes1 = pool_read(-1, "tlb_flushes");
	}
	mm_counters_read(&c2);
	tap_ok(secret >= 0 && lend >= 0 && reclaim >= 0,
	       "round %d: memfd_secret 1 GiB faulted%s", round,
	       has_pool ? " from one lent chunk, chunk reclaimed" : "");

	if (!region_map(&r, memfd_create("kbench-ref", MFD_CLOEXEC), GIB))
		tap_bail("round %d: cannot map 1 GiB of memfd", round);
	memfd = region_fault(&r);
	region_unmap(&r);

	if (has_pool && !pool_set_chunks(-1, 1))
		tap_bail("round %d: cannot lend a chunk for guest_memfd", round);
	fd = gmem_open(&vm, GIB);
	gmem = fallocate_ns(fd, GIB);
	if (fd >= 0)
		close(fd);
	if (vm >= 0)
		close(vm);
	if (has_pool && !pool_set_chunks(-1, 0))
		tap_bail("round %d: cannot reclaim the guest_memfd chunk", round);
	fd = memfd_create("kbench-gref", MFD_CLOEXEC);
	gmemref = fd >= 0 && !ftruncate(fd, GIB) ? fallocate_ns(fd, GIB) : -1;
	close(fd);
	tap_ok(memfd >= 0 && gmem >= 0 && gmemref >= 0,
	       "round %d: memfd faulted, guest_memfd and memfd fallocated", round);
	clear_gib(&clear_fault, &clear_memset);
	tap_ok(clear_fault >= 0 && clear_memset >= 0, "round %d: cleared 1 GiB hugetlb page", round);

	printf("# figure kbench round=%d splits2=%lld splits3=%lld dm1g_before_kb=%lld "
	       "dm1g_after_kb=%lld tlb_remote=%lld ipis=%lld ipis_lend=%lld ipis_fault=%lld "
	       "ipis_free=%lld pool_tlb_flushes=%lld fallbacks=%lld lend_ns=%lld "
	       "secret_ns=%lld reclaim_dirty_ns=%lld memfd_ns=%lld gmem_ns=%lld "
	       "gmem_memfd_ns=%lld clear_fault_ns=%lld clear_memset_ns=%lld\n",
	       round, c2.splits2 - c0.splits2, c2.splits3 - c0.splits3, c0.dm1g, c2.dm1g,
	       c2.tlb_remote - c0.tlb_remote, c2.ipis - c0.ipis, cl.ipis - c0.ipis,
	       c1.ipis - cl.ipis, c2.ipis - c1.ipis, flushes1 - flushes0,
	       fallbacks1 - fallbacks0, lend, secret, reclaim, memfd, gmem, gmemref,
	       clear_fault, clear_memset);
}

int main(int argc, char **argv)
{
	struct utsname uts;
	int rounds = 3, i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			rounds = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: kbench [--rounds N]\n");
			return 2;
		}
	}
	if (rounds < 1)
		return 2;
	uname(&uts);
	/*
	 * On one CPU the process's own unmaps flush only locally, so that the
	 * remote flushes counted are the kernel's (direct map, chunk moves).
	 * Pinning is not enough for a process that may have run elsewhere
	 * already: its address space stays marked as used there.  A fresh
	 * one, exec'ed on CPU 0, is not.
	 */
	if (!getenv("KBENCH_PINNED")) {
		if (!set_cpus(1) || setenv("KBENCH_PINNED", "1", 1))
			tap_bail("cannot pin to CPU 0");
		execv("/proc/self/exe", argv);
		tap_bail("cannot exec myself on CPU 0: %s", strerror(errno));
	}
	has_pool = access("/dev/unmapped_pool", F_OK) == 0;
	/* Two for lending, one for the clearing measurement. */
	tap_ok(hugetlb_reserve(-1, 3), "reserve three 1 GiB hugetlb pages");
	tap_ok(warm_hugetlb(), "write every free 1 GiB hugetlb page once");
	printf("# figure kbench-boot kernel=%s pool=%d hvo=%lld cpus=%ld\n", uts.release,
	       has_pool, sysfs_read("/proc/sys/vm/hugetlb_optimize_vmemmap"),
	       sysconf(_SC_NPROCESSORS_ONLN));
	free_figures();
	for (i = 1; i <= rounds; i++)
		round_figures(i);
	if (has_pool) {
		compact_figures();
		lend_figures();
	}
	return tap_done();
}
