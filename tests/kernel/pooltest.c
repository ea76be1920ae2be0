// SPDX-License-Identifier: GPL-2.0
/*
 * pooltest - the unmapped pool seen from user space: sysfs, the ioctls of
 * /dev/unmapped_pool and memfd_secret drawing from the pool.
 *
 *   pooltest [--cpus N]            lend, use and reclaim on the whole system
 *   pooltest [--cpus N] --node N   lend on node N only and check that
 *                                  memfd_secret faulted by a thread bound
 *                                  to node N uses N's pool (boot with
 *                                  numa=fake=2 for N = 1)
 *   pooltest [--cpus N] --poison   poison pool pages, free and in use,
 *                                  through hwpoison-inject and check that
 *                                  they are never handed out again; the
 *                                  chunk stays lent for good, so run it
 *                                  last in a boot
 *   pooltest [--cpus N] --hugetlb N
 *                                  lend on node N from 1 GiB hugetlb pages
 *                                  with surplus pages about and check
 *                                  hugetlb's counters and page types (boot
 *                                  with numa=fake=2 hugetlb_free_vmemmap=on,
 *                                  nothing done on node N before)
 *
 * Memory is faulted on one CPU and freed on another, which needs at least
 * two online CPUs: fewer fails the run, and so does a count other than the
 * N CPUs the harness booted the guest with (--cpus).
 *
 * Every step checks the direct map: lending, using and reclaiming the pool
 * must never split it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/unmapped_pool.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define NOBODY		65534
#define LENT		2	/* chunks lent through sysfs */
/*
 * How long freed pool pages may stay unwiped in this test: far beyond the
 * worker run docs/kernel.md promises (milliseconds on hardware), for TCG
 * and the debug kernel.
 */
#define WIPE_DEADLINE_S	60

/* The sysfs files of a pool and the STATS fields they mirror. */
static const struct {
	const char *file;
	size_t off;
} stat_files[] = {
#define STAT_FILE(f) { #f, offsetof(struct unmapped_pool_node_stats, f) }
	STAT_FILE(nr_chunks), STAT_FILE(free_pages), STAT_FILE(used_pages),
	STAT_FILE(lends), STAT_FILE(reclaims), STAT_FILE(alloc_failures),
	STAT_FILE(fallbacks), STAT_FILE(tlb_flushes), STAT_FILE(empty_chunks),
	STAT_FILE(poisoned_pages), STAT_FILE(leaked_pages),
};
#define NR_STAT_FILES	(sizeof(stat_files) / sizeof(stat_files[0]))

static int fd;
static unsigned int nr_node_ids;
static uint64_t online;			/* nodes with a sysfs directory */
static struct unmapped_pool_node_stats *stats;	/* nr_node_ids entries */
static struct mm_counters start;	/* before anything was lent */

static int pool_ioctl(unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

static int move(unsigned long cmd, struct unmapped_pool_node_req *reqs,
		unsigned int nr_reqs, unsigned int flags)
{
	struct unmapped_pool_move m = {
		.nr_reqs = nr_reqs,
		.flags = flags,
		.reqs_ptr = (uintptr_t)reqs,
	};

	return pool_ioctl(cmd, &m);
}

/* LEND or RECLAIM count chunks on one node; *req tells what happened. */
static int move_one(unsigned long cmd, unsigned int node, long long count,
		    struct unmapped_pool_node_req *req)
{
	*req = (struct unmapped_pool_node_req){ .node = node, .count = count };
	return move(cmd, req, 1, 0);
}

static int snapshot(__u64 *seq)
{
	struct unmapped_pool_stats s = {
		.nr_nodes = nr_node_ids,
		.nodes_ptr = (uintptr_t)stats,
	};
	int err = pool_ioctl(UNMAPPED_POOL_IOC_STATS, &s);

	if (seq)
		*seq = s.seq;
	return err ? err : (int)s.nr_nodes;
}

static __u64 stat_field(const struct unmapped_pool_node_stats *s, unsigned int i)
{
	return *(const __u64 *)((const char *)s + stat_files[i].off);
}

static bool is_online(int node)
{
	return node < 64 && (online & (1ULL << node));
}

static long long since_start_splits(void)
{
	struct mm_counters now;

	if (!mm_counters_read(&now))
		return -1;
	return now.splits2 - start.splits2 + now.splits3 - start.splits3;
}

/* The direct map is as it was before the test lent anything. */
static void check_direct_map(const char *when)
{
	struct mm_counters now;

	mm_counters_read(&now);
	tap_eq(since_start_splits(), 0, "%s: no direct-map split since the start", when);
	tap_eq(now.dm1g, start.dm1g, "%s: DirectMap1G unchanged since the start", when);
}

struct fault_job {
	int node;		/* bind the faulting thread to it; -1: don't */
	size_t size;
	struct region r;
	bool ok;
};

static void *fault_thread(void *arg)
{
	struct fault_job *job = arg;
	uint64_t cpus = node_cpus(job->node);

	/* A fake NUMA node may have memory but no CPU. */
	if (!cpus)
		cpus = node_cpus(-1);
	/*
	 * Fault away from CPU 0, where the main thread frees (see main()):
	 * with no other CPU to fault on, the test would turn into a same-CPU
	 * one, so that fails.
	 */
	cpus &= ~1ULL;
	if (!cpus)
		tap_diag("no CPU but CPU 0 to fault on (node %d)", job->node);
	job->ok = cpus && set_cpus(cpus) && (job->node < 0 || bind_memory(job->node)) &&
		  region_map(&job->r, secret_create(), job->size) &&
		  region_fault(&job->r) >= 0;
	return NULL;
}

/*
 * Faults size bytes of memfd_secret in a thread of its own, so that its
 * CPU and node binding do not stick to the main thread.  The mapping
 * outlives the thread; *r is it.
 */
static bool fault_secret(int node, size_t size, struct region *r)
{
	struct fault_job job = { .node = node, .size = size };
	pthread_t t;

	if (pthread_create(&t, NULL, fault_thread, &job))
		return false;
	pthread_join(t, NULL);
	*r = job.r;
	return job.ok;
}

static void test_info(void)
{
	struct unmapped_pool_info info;
	int i, nonzero = 0;

	memset(&info, 0xff, sizeof(info));
	if (pool_ioctl(UNMAPPED_POOL_IOC_INFO, &info))
		tap_bail("UNMAPPED_POOL_IOC_INFO failed: %s", strerror(errno));
	tap_eq(info.api_version, UNMAPPED_POOL_API_VERSION, "INFO api_version");
	tap_eq(info.chunk_size, 1LL << 30, "INFO chunk_size is 1 GiB");
	tap_eq(info.page_size, PAGE_SIZE_4K, "INFO page_size is 4 KiB");
	tap_ok(info.nr_node_ids >= 1 && info.nr_node_ids <= UNMAPPED_POOL_MAX_NODES,
	       "INFO nr_node_ids %u within 1..%d", info.nr_node_ids, UNMAPPED_POOL_MAX_NODES);
	tap_ok(info.features & UNMAPPED_POOL_FEAT_MEMFD_SECRET,
	       "INFO features include MEMFD_SECRET (0x%llx)", (unsigned long long)info.features);
	tap_ok(info.features & UNMAPPED_POOL_FEAT_EMPTY_CHUNKS,
	       "INFO features include EMPTY_CHUNKS (0x%llx)", (unsigned long long)info.features);
	tap_ok(info.features & UNMAPPED_POOL_FEAT_RESIZING,
	       "INFO features include RESIZING (0x%llx)", (unsigned long long)info.features);
	tap_ok(info.features & UNMAPPED_POOL_FEAT_POISONED,
	       "INFO features include POISONED (0x%llx)", (unsigned long long)info.features);
	tap_ok(info.features & UNMAPPED_POOL_FEAT_LEAKED,
	       "INFO features include LEAKED (0x%llx)", (unsigned long long)info.features);
	for (i = 0; i < 4; i++)
		nonzero += info.reserved[i] != 0;
	tap_eq(nonzero, 0, "INFO reserved fields are zero");
	if (info.nr_node_ids < 1 || info.nr_node_ids > UNMAPPED_POOL_MAX_NODES)
		tap_bail("cannot size STATS with nr_node_ids %u", info.nr_node_ids);
	nr_node_ids = info.nr_node_ids;
	stats = calloc(nr_node_ids, sizeof(*stats));
}

static void test_sysfs_files(void)
{
	unsigned int i;
	int node;

	for (i = 0; i < NR_STAT_FILES; i++) {
		bool ok = pool_read(-1, stat_files[i].file) >= 0;

		for (node = 0; node < 64; node++)
			if (is_online(node))
				ok = ok && pool_read(node, stat_files[i].file) >= 0;
		tap_ok(ok, "sysfs %s readable globally and on every node", stat_files[i].file);
	}
}

/* The first node holding chunks, which the per-node checks work on. */
static int sysfs_lend(long long hp_nr, long long hp_free)
{
	long long lends = pool_read(-1, "lends"), sum = 0;
	int node, first = -1;

	tap_ok(pool_set_chunks(-1, LENT), "echo %d > nr_chunks reads back %d", LENT, LENT);
	for (node = 0; node < 64; node++) {
		long long n = is_online(node) ? pool_read(node, "nr_chunks") : 0;

		sum += n;
		if (n > 0 && first < 0)
			first = node;
	}
	tap_eq(sum, LENT, "per-node nr_chunks add up to %d", LENT);
	tap_eq(pool_read(-1, "free_pages"), LENT * CHUNK_PAGES, "free_pages after lending");
	tap_eq(pool_read(-1, "used_pages"), 0, "used_pages after lending");
	tap_eq(pool_read(-1, "empty_chunks"), LENT, "empty_chunks after lending");
	tap_eq(pool_read(-1, "lends"), lends + LENT, "lends counts the lent chunks");
	tap_eq(hugetlb_read(-1, "nr_hugepages"), hp_nr - LENT,
	       "nr_hugepages went down by what was lent");
	tap_eq(hugetlb_read(-1, "free_hugepages"), hp_free - LENT,
	       "free_hugepages went down by what was lent");
	check_direct_map("after lending");
	if (first < 0)
		tap_bail("no node holds the lent chunks");
	return first;
}

static void test_stats(void)
{
	__u64 seq1, seq2, sum[NR_STAT_FILES] = { 0 }, hp_total = 0, hp_free = 0;
	unsigned int i, node, bad_node = 0;
	int n = snapshot(&seq1);

	if (!tap_eq(n, nr_node_ids, "STATS returns one entry per node id"))
		return;
	for (node = 0; node < nr_node_ids; node++) {
		bad_node += stats[node].node != node;
		hp_total += stats[node].hugetlb_total;
		hp_free += stats[node].hugetlb_free;
	}
	tap_eq(bad_node, 0, "STATS entries are in node order");
	for (i = 0; i < NR_STAT_FILES; i++) {
		bool match = true;

		for (node = 0; node < nr_node_ids; node++) {
			sum[i] += stat_field(&stats[node], i);
			if (is_online(node))
				match = match && stat_field(&stats[node], i) ==
						 (__u64)pool_read(node, stat_files[i].file);
		}
		tap_ok(match && sum[i] == (__u64)pool_read(-1, stat_files[i].file),
		       "STATS %s matches sysfs per node and in total", stat_files[i].file);
	}
	tap_eq(hp_total, hugetlb_read(-1, "nr_hugepages"), "STATS hugetlb_total adds up to nr_hugepages");
	tap_eq(hp_free, hugetlb_read(-1, "free_hugepages"), "STATS hugetlb_free adds up to free_hugepages");
	n = snapshot(&seq2);
	tap_ok(n == (int)nr_node_ids && seq2 == seq1,
	       "STATS seq unchanged while nothing happened (%llu, %llu)",
	       (unsigned long long)seq1, (unsigned long long)seq2);
}

/* While the pool's pages are in use, reclaiming all of its chunks falls short. */
static void test_reclaim_busy(int node)
{
	long long chunks = pool_read(node, "nr_chunks"), used = pool_read(-1, "used_pages");
	long long empty = pool_read(node, "empty_chunks");
	struct unmapped_pool_node_req req;
	int err = move_one(UNMAPPED_POOL_IOC_RECLAIM, node, chunks, &req);

	tap_ok(err == -EAGAIN && req.error == -EBUSY && req.done < (__u64)chunks,
	       "RECLAIM of chunks in use: -EAGAIN, error -EBUSY, done < %lld (got %d, %d, %llu)",
	       chunks, err, req.error, (unsigned long long)req.done);
	tap_eq(req.done, empty, "RECLAIM gave back exactly the empty_chunks of the node");
	tap_eq(pool_read(-1, "used_pages"), used, "RECLAIM left the pages in use alone");
	if (req.done)
		move_one(UNMAPPED_POOL_IOC_LEND, node, req.done, &req);
	tap_eq(pool_read(node, "nr_chunks"), chunks, "chunks reclaimed while busy lent again");
}

static void test_fault(int node)
{
	long long fallbacks = pool_read(-1, "fallbacks"), failures = pool_read(-1, "alloc_failures");
	struct region r;

	tap_ok(fault_secret(-1, 1024 * MIB, &r), "fault 1 GiB of memfd_secret");
	tap_eq(pool_read(-1, "used_pages"), CHUNK_PAGES, "used_pages is 1 GiB worth");
	tap_eq(pool_read(-1, "free_pages"), (LENT - 1) * CHUNK_PAGES, "free_pages went down by as much");
	/*
	 * Its first 16 MiB share blocks with small owners in one chunk, which
	 * blocks of its own then avoid: the rest fills the other chunk.
	 */
	tap_eq(pool_read(-1, "empty_chunks"), LENT - 2,
	       "one owner's 1 GiB: small owners' share in one chunk, its own blocks in another");
	tap_eq(pool_read(-1, "fallbacks"), fallbacks, "no allocation fell back outside the pool");
	tap_eq(pool_read(-1, "alloc_failures"), failures, "no allocation failed");
	check_direct_map("1 GiB of memfd_secret faulted");
	test_reclaim_busy(node);
	region_unmap(&r);
	tap_eq(pool_read(-1, "used_pages"), 0, "used_pages back to 0 after munmap and close");
	tap_eq(pool_read(-1, "free_pages"), LENT * CHUNK_PAGES, "free_pages back after munmap and close");
	tap_eq(pool_read(-1, "empty_chunks"), LENT, "every chunk empty again");
}

/*
 * Faults a memfd_secret region on one CPU of the node and frees it there:
 * munmap() drains that CPU's LRU and mlock batches, so the pages reach the
 * pool without a drain of every CPU.
 */
static void *fault_free_thread(void *arg)
{
	struct fault_job *job = arg;
	uint64_t cpus = node_cpus(job->node);

	if (!cpus)
		cpus = node_cpus(-1);
	cpus &= -cpus;
	job->ok = cpus && set_cpus(cpus) && bind_memory(job->node) &&
		  region_map(&job->r, secret_create(), job->size);
	if (!job->ok)
		return NULL;
	job->ok = region_fault(&job->r) >= 0;
	region_unmap(&job->r);
	return NULL;
}

/* used_pages of every node together, from one STATS snapshot; -1 on error. */
static long long stats_used_pages(void)
{
	long long used = 0;
	unsigned int i;

	if (snapshot(NULL) != (int)nr_node_ids)
		return -1;
	for (i = 0; i < nr_node_ids; i++)
		used += stats[i].used_pages;
	return used;
}

/* A fault_job whose thread stays, parked, on its CPU until told to go. */
struct parked_fault {
	struct fault_job job;
	int faulted[2];		/* the thread writes a byte once it faulted */
	int go[2];		/* and exits once it can read one */
};

static void *parked_fault_thread(void *arg)
{
	struct parked_fault *pf = arg;
	char c = 0;

	fault_thread(&pf->job);
	if (write(pf->faulted[1], &c, 1) != 1 || read(pf->go[0], &c, 1) != 1)
		pf->job.ok = false;
	return NULL;
}

/*
 * Freed secrets do not stay in memory: the pool's worker wipes freed pages
 * soon after, as stock memfd_secret clears a page when it is freed, and
 * without a chunk being reclaimed.
 */
static void test_wipe_at_free(int node)
{
	struct fault_job job = { .node = node, .size = 16 * MIB };
	long long chunks = pool_read(node, "nr_chunks"), reclaims = pool_read(-1, "reclaims");
	long long dirty, freed;
	pthread_t t;

	if (pthread_create(&t, NULL, fault_free_thread, &job))
		tap_bail("pthread_create: %s", strerror(errno));
	pthread_join(t, NULL);
	tap_ok(job.ok, "fault and free 16 MiB of memfd_secret on node %d", node);
	freed = now_ns();
	/* Settled, the freed pages are free at once; only their wipe lags. */
	tap_eq(pool_read(node, "used_pages"), 0, "node %d used_pages back to 0 after the free", node);
	dirty = pool_wait_wiped(node, WIPE_DEADLINE_S * 1000LL);
	tap_diag("node %d: dirty_pages read %lld %lld ms after the free", node, dirty,
		 (now_ns() - freed) / 1000000);
	tap_eq(dirty, 0, "node %d dirty_pages reached 0 within %d s: every freed page wiped",
	       node, WIPE_DEADLINE_S);
	tap_eq(pool_read(-1, "dirty_pages"), 0, "global dirty_pages is 0");
	tap_eq(pool_read(node, "nr_chunks"), chunks, "node %d nr_chunks unchanged by the wipe", node);
	tap_eq(pool_read(-1, "reclaims"), reclaims, "no chunk was reclaimed to wipe the pages");
}

/*
 * Reading the counters never drains the LRU batches of every CPU, which
 * would make each of them run work for whoever reads.  A few pages faulted
 * on another CPU and freed on this one stay in that CPU's batch, counted
 * as used, through sysfs and STATS reads, until root writes settle.
 * Before readers stopped draining, the first read already found them free.
 * The faulting thread stays parked until then: a thread's exit drains its
 * CPU's batches (glibc madvise()s the unused part of its stack away).
 */
static void test_readers_do_not_drain(void)
{
	const long long pages = 8;	/* well under a batch, so none drains */
	struct parked_fault pf = { .job = { .node = -1, .size = pages * PAGE_SIZE_4K } };
	long long used = pool_read(-1, "used_pages");
	pthread_t t;
	char c = 0;

	if (pipe(pf.faulted) || pipe(pf.go) ||
	    pthread_create(&t, NULL, parked_fault_thread, &pf))
		tap_bail("cannot start the faulting thread: %s", strerror(errno));
	tap_ok(read(pf.faulted[0], &c, 1) == 1 && pf.job.ok,
	       "fault %lld pages of memfd_secret on another CPU", pages);
	region_unmap(&pf.job.r);
	tap_eq(pool_read_raw(-1, "used_pages"), used + pages,
	       "reading sysfs used_pages does not drain the other CPU's LRU batch");
	tap_eq(stats_used_pages(), used + pages,
	       "STATS does not drain the other CPU's LRU batch either");
	tap_ok(pool_settle(), "root can write sysfs settle");
	tap_eq(pool_read_raw(-1, "used_pages"), used,
	       "after settle the freed pages count as free");
	tap_eq(stats_used_pages(), used, "and STATS agrees");
	if (write(pf.go[1], &c, 1) != 1)
		tap_bail("cannot release the faulting thread");
	pthread_join(t, NULL);
	close(pf.faulted[0]);
	close(pf.faulted[1]);
	close(pf.go[0]);
	close(pf.go[1]);
}

struct poller {
	int ret;
	short revents;
};

static void *poll_thread(void *arg)
{
	struct poller *p = arg;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	p->ret = poll(&pfd, 1, 10000);
	p->revents = pfd.revents;
	return NULL;
}

static void test_watermark(int node)
{
	long long free = pool_read(node, "free_pages");
	struct unmapped_pool_watermark wm = { .node = node, .low_pages = free - 16 };
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct poller p = { -1, 0 };
	__u64 seq1, seq2;
	struct region r;
	pthread_t t;
	bool faulted;
	int n;

	tap_eq(pool_ioctl(UNMAPPED_POOL_IOC_SET_WATERMARK, &wm), 0,
	       "SET_WATERMARK node %d low_pages %llu", node, (unsigned long long)wm.low_pages);
	snapshot(&seq1);
	tap_eq(poll(&pfd, 1, 0), 0, "no POLLIN while free pages are above the watermark");
	if (pthread_create(&t, NULL, poll_thread, &p))
		tap_bail("pthread_create: %s", strerror(errno));
	/* Let the poller block before the pages go. */
	usleep(200 * 1000);
	faulted = fault_secret(node, 64 * PAGE_SIZE_4K, &r);
	pthread_join(t, NULL);
	tap_ok(faulted, "fault 64 pages of memfd_secret on node %d", node);
	tap_ok(p.ret == 1 && (p.revents & POLLIN),
	       "a blocked poll() wakes with POLLIN below the watermark (ret %d, revents 0x%x)",
	       p.ret, p.revents);
	n = snapshot(&seq2);
	tap_ok(n == (int)nr_node_ids && (stats[node].flags & UNMAPPED_POOL_NODE_LOW),
	       "STATS flags node %d LOW", node);
	tap_ok(seq2 > seq1, "STATS seq moved past the watermark event (%llu, %llu)",
	       (unsigned long long)seq1, (unsigned long long)seq2);
	tap_eq(poll(&pfd, 1, 0), 0, "the snapshot acknowledged the event: no POLLIN");
	region_unmap(&r);
	tap_eq(pool_read(-1, "used_pages"), 0, "used_pages back to 0 after freeing the 64 pages");
	wm.low_pages = 0;
	tap_eq(pool_ioctl(UNMAPPED_POOL_IOC_SET_WATERMARK, &wm), 0, "SET_WATERMARK 0 turns it off");
}

static void test_lend_reclaim(int node)
{
	long long chunks = pool_read(node, "nr_chunks"), hp_free = hugetlb_read(-1, "free_hugepages");
	long long lends = pool_read(-1, "lends"), reclaims = pool_read(-1, "reclaims");
	long long flushes = pool_read(node, "tlb_flushes");
	long long meminfo = proc_value("/proc/meminfo", "UnmappedPool");
	long long meminfo_free = proc_value("/proc/meminfo", "UnmappedFree");
	struct unmapped_pool_node_req reqs[2], req;
	int err;

	tap_eq(meminfo, pool_read(-1, "nr_chunks") * (CHUNK_PAGES * 4),
	       "/proc/meminfo UnmappedPool is the lent chunks in kB");
	tap_eq(meminfo_free, pool_read(-1, "free_pages") * 4,
	       "/proc/meminfo UnmappedFree is the free pool pages in kB");
	err = move_one(UNMAPPED_POOL_IOC_LEND, node, 1, &req);
	tap_ok(!err && req.done == 1 && !req.error, "LEND 1 chunk on node %d (got %d, done %llu, error %d)",
	       node, err, (unsigned long long)req.done, req.error);
	tap_eq(pool_read(node, "nr_chunks"), chunks + 1, "LEND: node nr_chunks went up by 1");
	tap_eq(hugetlb_read(-1, "free_hugepages"), hp_free - 1, "LEND: free_hugepages went down by 1");
	tap_eq(pool_read(-1, "lends"), lends + 1, "LEND: lends went up by 1");
	tap_eq(pool_read(node, "tlb_flushes"), flushes + 1,
	       "LEND: one TLB flush for the whole chunk (tlb_flushes up by 1)");
	tap_eq(proc_value("/proc/meminfo", "UnmappedPool"), meminfo + 1024 * 1024,
	       "LEND: /proc/meminfo UnmappedPool went up by 1 GiB");
	tap_eq(proc_value("/proc/meminfo", "UnmappedFree"), meminfo_free + 1024 * 1024,
	       "LEND: /proc/meminfo UnmappedFree went up by 1 GiB");

	err = move_one(UNMAPPED_POOL_IOC_RECLAIM, node, 1, &req);
	tap_ok(!err && req.done == 1 && !req.error, "RECLAIM 1 chunk on node %d (got %d, done %llu, error %d)",
	       node, err, (unsigned long long)req.done, req.error);
	tap_eq(pool_read(node, "nr_chunks"), chunks, "RECLAIM: node nr_chunks back");
	tap_eq(hugetlb_read(-1, "free_hugepages"), hp_free, "RECLAIM: free_hugepages back");
	tap_eq(pool_read(-1, "reclaims"), reclaims + 1, "RECLAIM: reclaims went up by 1");
	tap_eq(pool_read(node, "tlb_flushes"), flushes + 2,
	       "RECLAIM: one TLB flush for the whole chunk (tlb_flushes up by 1)");
	tap_eq(proc_value("/proc/meminfo", "UnmappedPool"), meminfo,
	       "RECLAIM: /proc/meminfo UnmappedPool back");

	/* Each node entry succeeds or fails on its own. */
	reqs[0] = (struct unmapped_pool_node_req){ .node = node, .count = 1 };
	reqs[1] = (struct unmapped_pool_node_req){ .node = nr_node_ids, .count = 1 };
	err = move(UNMAPPED_POOL_IOC_LEND, reqs, 2, 0);
	tap_eq(err, -EAGAIN, "LEND with an unknown node returns -EAGAIN");
	tap_ok(reqs[0].done == 1 && !reqs[0].error, "LEND: the known node was served (done %llu, error %d)",
	       (unsigned long long)reqs[0].done, reqs[0].error);
	tap_ok(!reqs[1].done && reqs[1].error == -ENODEV,
	       "LEND: the unknown node got -ENODEV (done %llu, error %d)",
	       (unsigned long long)reqs[1].done, reqs[1].error);
	if (reqs[0].done)
		move_one(UNMAPPED_POOL_IOC_RECLAIM, node, reqs[0].done, &req);
	tap_eq(pool_read(node, "nr_chunks"), chunks, "node nr_chunks back after the mixed LEND");
}

/* A reader of the counters, running while the main thread lends. */
struct lend_reader {
	int node;
	atomic_bool started;	/* it took a first snapshot */
	atomic_bool lend_done;	/* set by the main thread once LEND returned */
	bool stats_resizing;	/* STATS said RESIZING before LEND returned */
	bool sysfs_resizing;	/* so did sysfs, after that */
	long long nr_chunks;	/* sysfs nr_chunks read while resizing */
	bool sysfs_in_time;	/* and both sysfs reads were done before LEND returned */
};

static void *lend_reader_thread(void *arg)
{
	struct unmapped_pool_node_stats *st = calloc(nr_node_ids, sizeof(*st));
	struct unmapped_pool_stats s = { .nr_nodes = nr_node_ids, .nodes_ptr = (uintptr_t)st };
	struct lend_reader *lr = arg;
	uint64_t cpus = node_cpus(-1) & ~1ULL;

	/* Away from CPU 0, where the main thread lends. */
	if (!st || !cpus || !set_cpus(cpus) || pool_ioctl(UNMAPPED_POOL_IOC_STATS, &s)) {
		atomic_store(&lr->started, true);
		free(st);
		return NULL;
	}
	atomic_store(&lr->started, true);
	while (!atomic_load(&lr->lend_done)) {
		s.nr_nodes = nr_node_ids;
		if (pool_ioctl(UNMAPPED_POOL_IOC_STATS, &s))
			break;
		if (!(st[lr->node].flags & UNMAPPED_POOL_NODE_RESIZING))
			continue;
		lr->stats_resizing |= !atomic_load(&lr->lend_done);
		/* The lend may end between the two reads: then try again. */
		lr->sysfs_resizing = pool_read_raw(lr->node, "resizing") == 1;
		lr->nr_chunks = pool_read_raw(lr->node, "nr_chunks");
		lr->sysfs_in_time = !atomic_load(&lr->lend_done);
		if (lr->sysfs_resizing && lr->sysfs_in_time)
			break;
	}
	free(st);
	return NULL;
}

/*
 * The counters are world-readable and must not wait for a lend, which
 * holds the resize lock for as long as it takes to clear 1 GiB.  A
 * second thread reads them while this one lends a chunk: a read that
 * waited could only return after LEND did, and would not see the lend in
 * progress.
 */
static void test_read_during_lend(int node)
{
	struct lend_reader lr = { .node = node };
	long long chunks = pool_read(node, "nr_chunks");
	struct unmapped_pool_node_req req;
	pthread_t t;
	int err;

	if (pthread_create(&t, NULL, lend_reader_thread, &lr))
		tap_bail("cannot start the reader thread");
	while (!atomic_load(&lr.started))
		sched_yield();
	err = move_one(UNMAPPED_POOL_IOC_LEND, node, 1, &req);
	atomic_store(&lr.lend_done, true);
	pthread_join(t, NULL);
	tap_ok(!err && req.done == 1, "LEND 1 chunk on node %d with a reader running (got %d, done %llu)",
	       node, err, (unsigned long long)req.done);
	tap_ok(lr.stats_resizing, "STATS returned during the LEND, with NODE_RESIZING set");
	tap_ok(lr.sysfs_resizing && lr.sysfs_in_time,
	       "sysfs resizing read 1 and nr_chunks read %lld, both before the LEND returned",
	       lr.nr_chunks);
	tap_eq(pool_read(node, "resizing"), 0, "sysfs resizing reads 0 after the LEND");
	tap_eq(pool_read(-1, "resizing"), 0, "global sysfs resizing reads 0 after the LEND");
	if (req.done)
		move_one(UNMAPPED_POOL_IOC_RECLAIM, node, req.done, &req);
	tap_eq(pool_read(node, "nr_chunks"), chunks, "node nr_chunks back after the LEND and RECLAIM");
}

static void test_bad_input(int node)
{
	struct unmapped_pool_node_req req = { .node = node, .count = 1 };
	static const struct {
		const char *what;
		unsigned long cmd;
		unsigned int nr_reqs, flags;
		bool bad_ptr;
		int err;
	} moves[] = {
		{ "LEND nr_reqs 0", UNMAPPED_POOL_IOC_LEND, 0, 0, false, -EINVAL },
		{ "LEND nr_reqs MAX_NODES + 1", UNMAPPED_POOL_IOC_LEND,
		  UNMAPPED_POOL_MAX_NODES + 1, 0, false, -EINVAL },
		{ "LEND nr_reqs 0xffffffff", UNMAPPED_POOL_IOC_LEND, 0xffffffff, 0, false, -EINVAL },
		{ "LEND unknown flag", UNMAPPED_POOL_IOC_LEND, 1, 1U << 31, false, -EINVAL },
		{ "RECLAIM non-zero flags", UNMAPPED_POOL_IOC_RECLAIM, 1,
		  UNMAPPED_POOL_LEND_NO_HUGETLB, false, -EINVAL },
		{ "LEND bad reqs_ptr", UNMAPPED_POOL_IOC_LEND, 1, 0, true, -EFAULT },
	};
	struct unmapped_pool_stats s = { .nr_nodes = nr_node_ids, .nodes_ptr = (uintptr_t)stats };
	struct unmapped_pool_watermark wm = { .node = node };
	long long chunks = pool_read(-1, "nr_chunks");
	unsigned int i;

	for (i = 0; i < sizeof(moves) / sizeof(moves[0]); i++) {
		struct unmapped_pool_move m = {
			.nr_reqs = moves[i].nr_reqs,
			.flags = moves[i].flags,
			.reqs_ptr = moves[i].bad_ptr ? 8 : (uintptr_t)&req,
		};

		tap_eq(pool_ioctl(moves[i].cmd, &m), moves[i].err, "%s is refused", moves[i].what);
	}
	s.flags = 1;
	tap_eq(pool_ioctl(UNMAPPED_POOL_IOC_STATS, &s), -EINVAL, "STATS non-zero flags is refused");
	s.flags = 0;
	s.nr_nodes = nr_node_ids - 1;
	tap_eq(pool_ioctl(UNMAPPED_POOL_IOC_STATS, &s), -EINVAL,
	       "STATS with fewer than nr_node_ids entries is refused");
	wm.flags = 1;
	tap_eq(pool_ioctl(UNMAPPED_POOL_IOC_SET_WATERMARK, &wm), -EINVAL,
	       "SET_WATERMARK non-zero flags is refused");
	wm.flags = 0;
	wm.node = nr_node_ids;
	tap_eq(pool_ioctl(UNMAPPED_POOL_IOC_SET_WATERMARK, &wm), -ENODEV,
	       "SET_WATERMARK unknown node is -ENODEV");
	/*
	 * More pages than there are physical addresses; ~0 made the
	 * shrinker's DIV_ROUND_UP() of the chunks the watermark needs wrap
	 * to 0, so that it would give away every empty chunk.
	 */
	wm.node = node;
	wm.low_pages = ~0ULL;
	tap_eq(pool_ioctl(UNMAPPED_POOL_IOC_SET_WATERMARK, &wm), -EINVAL,
	       "SET_WATERMARK low_pages 2^64 - 1 is refused");
	wm.low_pages = 1ULL << 52;
	tap_eq(pool_ioctl(UNMAPPED_POOL_IOC_SET_WATERMARK, &wm), -EINVAL,
	       "SET_WATERMARK low_pages beyond 52 bits of physical address is refused");
	tap_eq(pool_read(-1, "nr_chunks"), chunks, "refused requests moved nothing");
}

/* What an unprivileged child saw, in memory shared with the parent. */
struct unpriv {
	int euid, lend, reclaim, watermark, stats, settle;
};

static void test_unprivileged(int node)
{
	long long chunks = pool_read(-1, "nr_chunks");
	struct unmapped_pool_watermark wm = { .node = node, .low_pages = 1 };
	struct unmapped_pool_node_req req;
	struct unpriv *u;
	int status;
	pid_t pid;

	u = mmap(NULL, sizeof(*u), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (u == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	*u = (struct unpriv){ -1, 1, 1, 1, 1, 1 };
	pid = fork();
	if (pid == 0) {
		/* Leaving uid 0 drops every capability; the fd stays open. */
		if (setresgid(NOBODY, NOBODY, NOBODY) || setresuid(NOBODY, NOBODY, NOBODY))
			_exit(1);
		u->euid = geteuid();
		u->lend = move_one(UNMAPPED_POOL_IOC_LEND, node, 1, &req);
		u->reclaim = move_one(UNMAPPED_POOL_IOC_RECLAIM, node, 1, &req);
		u->watermark = pool_ioctl(UNMAPPED_POOL_IOC_SET_WATERMARK, &wm);
		u->stats = snapshot(NULL);
		u->settle = pool_settle() ? 0 : -errno;
		_exit(0);
	}
	tap_ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       !WEXITSTATUS(status) && u->euid == NOBODY, "child dropped to uid %d", NOBODY);
	tap_eq(u->lend, -EPERM, "LEND without CAP_SYS_ADMIN is -EPERM");
	tap_eq(u->reclaim, -EPERM, "RECLAIM without CAP_SYS_ADMIN is -EPERM");
	tap_eq(u->watermark, -EPERM, "SET_WATERMARK without CAP_SYS_ADMIN is -EPERM");
	tap_eq(u->stats, nr_node_ids, "STATS without CAP_SYS_ADMIN works");
	tap_eq(u->settle, -EACCES, "writing sysfs settle without root is -EACCES");
	tap_eq(pool_read(-1, "nr_chunks"), chunks, "the unprivileged child moved nothing");
	munmap(u, sizeof(*u));
}

/* The default RLIMIT_MEMLOCK of an unprivileged user, the one the test grants. */
#define USER_MEMLOCK	(8 * MIB)

static sigjmp_buf pin_bus;

static void pin_sigbus(int sig)
{
	siglongjmp(pin_bus, sig);
}

/*
 * In an unprivileged child: make one-page memfd_secret files, each with its
 * page faulted, until a limit stops it: RLIMIT_MEMLOCK, which secretmem
 * charges at fault time for as long as the file lives (SIGBUS), or the
 * open-file limit.  Mapped, each file is closed and kept alive by its
 * mapping; otherwise it is unmapped and its fd kept open.
 */
static int make_pinners(int node, bool mapped)
{
	struct sigaction sa = { .sa_handler = pin_sigbus };
	volatile int files = 0;
	char *p;
	int f;

	if (!bind_memory(node) || sigaction(SIGBUS, &sa, NULL))
		return -1;
	for (;;) {
		f = syscall(__NR_memfd_secret, 0);
		if (f < 0)
			break;
		p = MAP_FAILED;
		if (!ftruncate(f, PAGE_SIZE_4K))
			p = mmap(NULL, PAGE_SIZE_4K, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
		if (p == MAP_FAILED)
			break;
		if (sigsetjmp(pin_bus, 1))
			break;
		*p = 1;
		files++;
		if (mapped)
			close(f);
		else
			munmap(p, PAGE_SIZE_4K);
	}
	return files;
}

/* What a pinning child reports, in memory shared with the parent. */
struct pinner {
	int euid, files;
};

/*
 * One unprivileged uid with the default 8 MiB RLIMIT_MEMLOCK and its
 * default open-file limit makes as many one-page memfd_secret files as it
 * can.  Small owners share blocks, so all of them keep at most one chunk
 * from hugetlb; with a 2 MiB block each they would keep two (every chunk
 * this test lent), one per 512 files.
 */
static void test_unprivileged_pinning(int node, bool mapped)
{
	const char *how = mapped ? "mapped" : "unmapped, fds kept";
	struct rlimit memlock = { USER_MEMLOCK, USER_MEMLOCK };
	long long chunks = pool_read(node, "nr_chunks");
	long long used = pool_read(node, "used_pages");
	long long fallbacks = pool_read(-1, "fallbacks");
	int hold[2], done[2], status;
	struct pinner *pin;
	char c = 0;
	pid_t pid;

	tap_ok(chunks >= 2 && pool_read(node, "empty_chunks") == chunks,
	       "%s: node %d has %lld chunks, all empty, to pin (at least 2)", how, node, chunks);
	pin = mmap(NULL, sizeof(*pin), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (pin == MAP_FAILED || pipe(hold) || pipe(done))
		tap_bail("mmap or pipe: %s", strerror(errno));
	*pin = (struct pinner){ -1, -1 };
	pid = fork();
	if (pid == 0) {
		close(fd);
		close(hold[0]);
		close(done[1]);
		if (setrlimit(RLIMIT_MEMLOCK, &memlock) ||
		    setresgid(NOBODY, NOBODY, NOBODY) || setresuid(NOBODY, NOBODY, NOBODY))
			_exit(1);
		pin->euid = geteuid();
		pin->files = make_pinners(node, mapped);
		/* Hold every file until the parent has looked. */
		if (write(hold[1], &c, 1) != 1 || read(done[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(hold[1]);
	close(done[0]);
	if (pid < 0 || read(hold[0], &c, 1) != 1)
		tap_bail("pinning child: %s", strerror(errno));
	tap_eq(pin->euid, NOBODY, "%s: the child runs as uid %d", how, NOBODY);
	tap_ok(pin->files >= (mapped ? 2000 : 1000),
	       "%s: the child made %d one-page memfd_secret files", how, pin->files);
	tap_eq(pool_read(node, "used_pages") - used, pin->files,
	       "%s: every file's page came from node %d's pool", how, node);
	tap_eq(pool_read(-1, "fallbacks"), fallbacks, "%s: no page fell back outside the pool", how);
	tap_ok(pool_read(node, "nr_chunks") - pool_read(node, "empty_chunks") <= 1,
	       "%s: %d files keep at most one chunk busy (%lld of %lld)", how, pin->files,
	       pool_read(node, "nr_chunks") - pool_read(node, "empty_chunks"),
	       pool_read(node, "nr_chunks"));
	close(hold[0]);
	close(done[1]);
	tap_ok(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status),
	       "%s: the child exited cleanly", how);
	tap_eq(pool_read(node, "used_pages"), used, "%s: its pages went back to the pool", how);
	munmap(pin, sizeof(*pin));
}

static void sysfs_reclaim(long long hp_nr, long long hp_free)
{
	long long reclaims = pool_read(-1, "reclaims");

	tap_ok(pool_set_chunks(-1, 0), "echo 0 > nr_chunks reads back 0");
	tap_eq(pool_read(-1, "free_pages"), 0, "free_pages 0 after reclaiming");
	tap_eq(pool_read(-1, "reclaims"), reclaims + LENT, "reclaims counts the chunks taken back");
	tap_eq(hugetlb_read(-1, "nr_hugepages"), hp_nr, "nr_hugepages back to the start value");
	tap_eq(hugetlb_read(-1, "free_hugepages"), hp_free, "free_hugepages back to the start value");
	check_direct_map("after reclaiming");
}

#define POWER_STATE	"/sys/power/state"

/* Whether the kernel offers hibernation: "disk" in /sys/power/state. */
static bool hibernation_offered(void)
{
	char buf[256], *word, *save;
	bool offered = false;
	ssize_t n;
	int f;

	f = open(POWER_STATE, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return false;
	n = read(f, buf, sizeof(buf) - 1);
	close(f);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (word = strtok_r(buf, " \n", &save); word; word = strtok_r(NULL, " \n", &save))
		offered = offered || !strcmp(word, "disk");
	return offered;
}

/*
 * Hibernation would read every page of a lent chunk, free or not, through
 * a temporary direct-map entry, splitting the chunk's PUD, and write it to
 * swap: the kernel must refuse it while any chunk is lent.
 */
static void test_hibernation_refused(void)
{
	bool refused;
	int f;

	tap_ok(!hibernation_offered(), "%s offers no disk while chunks are lent", POWER_STATE);
	f = open(POWER_STATE, O_WRONLY | O_CLOEXEC);
	refused = f >= 0 && write(f, "disk", 4) < 0 && errno == EPERM;
	if (f >= 0)
		close(f);
	tap_ok(refused, "echo disk > %s fails with EPERM while chunks are lent", POWER_STATE);
}

static void test_system(void)
{
	long long hp_nr, hp_free;
	int node;

	test_sysfs_files();
	tap_ok(hugetlb_reserve(-1, LENT + 1), "at least %d 1 GiB hugetlb pages", LENT + 1);
	hp_nr = hugetlb_read(-1, "nr_hugepages");
	hp_free = hugetlb_read(-1, "free_hugepages");
	tap_diag("1 GiB hugetlb pages: nr %lld, free %lld", hp_nr, hp_free);
	if (!mm_counters_read(&start))
		tap_bail("direct-map counters missing");

	tap_ok(hibernation_offered(), "%s offers disk before anything is lent", POWER_STATE);
	node = sysfs_lend(hp_nr, hp_free);
	test_hibernation_refused();
	test_stats();
	test_fault(node);
	test_wipe_at_free(node);
	test_readers_do_not_drain();
	test_watermark(node);
	test_lend_reclaim(node);
	test_read_during_lend(node);
	test_bad_input(node);
	test_unprivileged(node);
	test_unprivileged_pinning(node, true);
	test_unprivileged_pinning(node, false);
	sysfs_reclaim(hp_nr, hp_free);
	tap_ok(hibernation_offered(), "%s offers disk again once the chunks are back", POWER_STATE);
}

#define HUGETLB_2M_DIR	"hugepages/hugepages-2048kB"
#define SHRINK_DEADLINE_S	120

/* Wait until no chunk of the node is on its way in or out; false on timeout. */
static bool wait_not_resizing(int node, int seconds)
{
	long long deadline = now_ns() + seconds * 1000000000LL;

	while (pool_read_raw(node, "resizing") != 0) {
		if (now_ns() > deadline)
			return false;
		usleep(10 * 1000);
	}
	return true;
}

/*
 * Memory pressure on one node: the shrinker gives that node's spare chunk
 * to the page allocator, as free CMA pages, and leaves other nodes'
 * chunks alone.  The pressure comes from asking for more 2 MiB hugetlb
 * pages on the node than it has free memory: their allocations reclaim on
 * that node only (__GFP_THISNODE) and, being movable, can use CMA pages.
 * Before the shrinker followed sc->nid and gave chunks to the page
 * allocator, its worker gave every node's spare chunks to hugetlb's free
 * pool, where the pressure could not use them.
 */
static void test_shrink(int node)
{
	const int other = node ? 0 : 1;
	long long hp_nr, other_chunks, reclaims, cma_free, got;

	tap_ok(pool_set_chunks(other, 1), "echo 1 > node%d nr_chunks reads back 1", other);
	tap_ok(pool_set_chunks(node, 1), "echo 1 > node%d nr_chunks reads back 1", node);
	hp_nr = hugetlb_read(node, "nr_hugepages");
	other_chunks = pool_read(other, "nr_chunks");
	reclaims = pool_read(node, "reclaims");
	cma_free = proc_value("/proc/meminfo", "CmaFree");

	node_write(node, HUGETLB_2M_DIR, "nr_hugepages", 1000000);
	got = node_read(node, HUGETLB_2M_DIR, "nr_hugepages");
	tap_diag("node %d took %lld 2 MiB hugetlb pages under pressure", node, got);
	tap_ok(node_write(node, HUGETLB_2M_DIR, "nr_hugepages", 0) &&
	       node_read(node, HUGETLB_2M_DIR, "nr_hugepages") == 0,
	       "node %d 2 MiB hugetlb pages given back", node);
	/*
	 * kswapd may still be giving the chunk back: it has left the pool's
	 * list, but its pages are not in CMA yet and reclaims not counted,
	 * which sysfs resizing says (seconds on the KASAN kernel under TCG).
	 */
	tap_ok(wait_not_resizing(node, SHRINK_DEADLINE_S),
	       "node %d done resizing within %d s of the pressure", node, SHRINK_DEADLINE_S);

	tap_eq(pool_read(node, "nr_chunks"), 0, "pressure on node %d: its spare chunk went", node);
	tap_eq(pool_read(node, "reclaims"), reclaims + 1, "node %d reclaims went up by 1", node);
	tap_eq(pool_read(other, "nr_chunks"), other_chunks,
	       "pressure on node %d left node %d's chunk alone", node, other);
	tap_eq(hugetlb_read(node, "nr_hugepages"), hp_nr,
	       "the chunk did not go to node %d's 1 GiB hugetlb pool", node);
	tap_ok(proc_value("/proc/meminfo", "CmaFree") - cma_free >= 1024 * 1024 - 64 * 1024,
	       "CmaFree rose by about 1 GiB: the page allocator has the chunk (%lld kB -> %lld kB)",
	       cma_free, proc_value("/proc/meminfo", "CmaFree"));
	tap_ok(pool_set_chunks(other, 0), "echo 0 > node%d nr_chunks reads back 0", other);
	tap_ok(hugetlb_reserve(node, hp_nr + 1), "node %d gets its 1 GiB hugetlb page back", node);
}

static void test_node(int node)
{
	long long hp_free, others, flushes, fallbacks = pool_read(-1, "fallbacks");
	const long long pages = 64 * MIB / PAGE_SIZE_4K;
	struct region r;

	tap_ok(__builtin_popcountll(online) >= 2 && is_online(node),
	       "node %d is one of at least 2 online nodes (mask 0x%llx)",
	       node, (unsigned long long)online);
	if (!is_online(node) || (unsigned int)node >= nr_node_ids)
		tap_bail("node %d is not online", node);
	tap_ok(hugetlb_reserve(node, 1), "node %d has a 1 GiB hugetlb page", node);
	hp_free = hugetlb_read(node, "free_hugepages");
	others = pool_read(-1, "nr_chunks") - pool_read(node, "nr_chunks");
	flushes = pool_read(node, "tlb_flushes");
	if (!mm_counters_read(&start))
		tap_bail("direct-map counters missing");

	tap_ok(pool_set_chunks(node, 1), "echo 1 > node%d nr_chunks reads back 1", node);
	tap_eq(hugetlb_read(node, "free_hugepages"), hp_free - 1, "node %d free_hugepages went down by 1", node);
	tap_eq(pool_read(node, "tlb_flushes"), flushes + 1,
	       "node %d: one TLB flush for the lent chunk (tlb_flushes up by 1)", node);
	tap_eq(pool_read(-1, "nr_chunks") - pool_read(node, "nr_chunks"), others,
	       "other nodes' nr_chunks unchanged");
	tap_ok(fault_secret(node, 64 * MIB, &r), "fault 64 MiB of memfd_secret bound to node %d", node);
	tap_eq(pool_read(node, "used_pages"), pages, "node %d used_pages is 64 MiB worth", node);
	tap_eq(pool_read(-1, "used_pages"), pages, "no other node's pool was used");
	tap_eq(pool_read(node, "empty_chunks"), 0, "node %d has no empty chunk while 64 MiB are in use", node);
	tap_eq(pool_read(-1, "fallbacks"), fallbacks, "no allocation fell back outside the pool");
	check_direct_map("64 MiB faulted on one node");
	region_unmap(&r);
	tap_eq(pool_read(node, "used_pages"), 0, "node %d used_pages back to 0", node);
	tap_eq(pool_read(node, "empty_chunks"), 1, "node %d chunk empty again", node);
	test_wipe_at_free(node);
	tap_ok(pool_set_chunks(node, 0), "echo 0 > node%d nr_chunks reads back 0", node);
	tap_eq(hugetlb_read(node, "free_hugepages"), hp_free, "node %d free_hugepages back", node);
	tap_eq(pool_read(node, "tlb_flushes"), flushes + 2,
	       "node %d: one TLB flush for the reclaimed chunk (tlb_flushes up by 1)", node);
	check_direct_map("after reclaiming the node's chunk");
	test_shrink(node);
}

#define CHUNK_MAP	"/sys/kernel/debug/unmapped_pool/chunks"
#define CORRUPT_PFN	"/sys/kernel/debug/hwpoison/corrupt-pfn"

/*
 * First pfn and poisoned pages of node's first chunk in the debugfs chunk
 * map; -1 poisoned pages when the map has no such column.
 */
static bool chunk_of_node(int node, unsigned long long *ret_pfn, long long *ret_poisoned)
{
	FILE *f = fopen(CHUNK_MAP, "r");
	unsigned long long pfn;
	long long poisoned;
	char line[256];
	bool found = false;
	int n, got;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		poisoned = -1;
		got = sscanf(line, "%d %llx %*u %*u %*u %*u %*u %lld", &n, &pfn, &poisoned);
		found = got >= 2 && n == node;
	}
	fclose(f);
	if (found) {
		*ret_pfn = pfn;
		*ret_poisoned = poisoned;
	}
	return found;
}

/* Whether the kernel log holds a line containing needle. */
static bool kmsg_has(const char *needle)
{
	int f = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	bool found = false;
	char rec[8192];
	ssize_t n;

	if (f < 0)
		return false;
	while (!found && ((n = read(f, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE))) {
		rec[n > 0 ? n : 0] = '\0';
		found = strstr(rec, needle);
	}
	close(f);
	return found;
}

/*
 * In a child, which memory_failure() may kill: fault two pages of
 * memfd_secret on node, send their pfns up the pipe, and poison the first
 * through hwpoison-inject while it is mapped.  MADV_HWPOISON cannot reach
 * a memfd_secret page (get_user_pages() refuses secretmem), which the
 * child also checks and reports as the third word.
 */
static void poison_in_use_child(int node, int out)
{
	unsigned long long msg[3] = { 0 };
	struct region r;

	if (fault_secret(node, 2 * PAGE_SIZE_4K, &r) && region_pfns(&r, msg)) {
		msg[2] = madvise(r.addr, PAGE_SIZE_4K, MADV_HWPOISON) && errno == EFAULT;
		if (write(out, msg, sizeof(msg)) == sizeof(msg))
			sysfs_write(CORRUPT_PFN, msg[0]);
	}
	_exit(0);
}

/*
 * A memory error on a pool page, free or in use, takes it out of use for
 * good: it is never handed out again, the counters and the chunk map say
 * where it is, and its chunk stays lent instead of going back to hugetlb
 * with the poison.
 */
static void test_poison(int node)
{
	unsigned long long chunk, bad_free, msg[3], *pfns;
	long long poisoned, pages = CHUNK_PAGES - 2, in_chunk = 0, hits = 0, i;
	struct unmapped_pool_node_req req;
	char needle[128];
	struct region r;
	int pipefd[2], status, err;
	ssize_t got;
	pid_t pid;

	tap_ok(hugetlb_reserve(node, 1), "node %d has a 1 GiB hugetlb page", node);
	if (!pool_set_chunks(node, 1) || !chunk_of_node(node, &chunk, &poisoned))
		tap_bail("cannot lend a chunk of node %d", node);
	tap_eq(poisoned, 0, "chunk map: chunk %#llx holds no poison yet", chunk);

	/* A free page where a new owner's second page would go. */
	bad_free = chunk + 1;
	tap_ok(sysfs_write(CORRUPT_PFN, bad_free),
	       "hwpoison-inject on free pool page %#llx: recovered", bad_free);
	tap_eq(pool_read(node, "poisoned_pages"), 1, "node %d poisoned_pages is 1", node);
	tap_eq(pool_read(node, "free_pages"), CHUNK_PAGES - 1, "free_pages leaves it out");
	tap_eq(pool_read(node, "used_pages"), 0, "used_pages does not count it");
	if (!chunk_of_node(node, &chunk, &poisoned))
		poisoned = -1;
	tap_eq(poisoned, 1, "chunk map: chunk %#llx holds 1 poisoned page", chunk);
	snprintf(needle, sizeof(needle), "node %d chunk %#llx: memory error on free page %#llx",
		 node, chunk, bad_free);
	tap_ok(kmsg_has(needle), "kernel log: \"%s\"", needle);

	if (pipe(pipefd))
		tap_bail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (!pid) {
		close(pipefd[0]);
		poison_in_use_child(node, pipefd[1]);
	}
	close(pipefd[1]);
	got = read(pipefd[0], msg, sizeof(msg));
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	/* Killed by SIGBUS: it was handed the poisoned page and touched it. */
	tap_ok(got == sizeof(msg), "a child faults two pages of memfd_secret (%s %d)",
	       WIFSIGNALED(status) ? "killed by signal" : "exit status",
	       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	if (got != sizeof(msg))
		tap_bail("the child could not fault two pages of memfd_secret");
	tap_ok(msg[2], "MADV_HWPOISON on memfd_secret fails with EFAULT (no GUP of secretmem)");
	tap_ok(msg[0] - chunk < CHUNK_PAGES && msg[1] - chunk < CHUNK_PAGES,
	       "the child's pages %#llx, %#llx come from the chunk", msg[0], msg[1]);
	tap_ok(msg[0] != bad_free && msg[1] != bad_free,
	       "the poisoned free page was not handed out");
	tap_eq(pool_read(node, "poisoned_pages"), 2,
	       "node %d poisoned_pages is 2 with the page poisoned in use", node);
	tap_eq(pool_read(node, "used_pages"), 0, "used_pages back to 0 once the child is gone");
	tap_eq(pool_read(node, "free_pages"), CHUNK_PAGES - 2, "free_pages leaves both out");
	if (!chunk_of_node(node, &chunk, &poisoned))
		poisoned = -1;
	tap_eq(poisoned, 2, "chunk map: chunk %#llx holds 2 poisoned pages", chunk);
	snprintf(needle, sizeof(needle), "node %d chunk %#llx: memory error on in-use page %#llx",
		 node, chunk, msg[0]);
	tap_ok(kmsg_has(needle), "kernel log: \"%s\"", needle);

	/* Every free page of the node's pool, and none of them poisoned. */
	pfns = malloc(pages * sizeof(*pfns));
	if (!pfns || !fault_secret(node, pages * PAGE_SIZE_4K, &r) || !region_pfns(&r, pfns))
		tap_bail("cannot fault and look up the pool's %lld free pages", pages);
	for (i = 0; i < pages; i++) {
		in_chunk += pfns[i] - chunk < CHUNK_PAGES;
		hits += pfns[i] == bad_free || pfns[i] == msg[0];
	}
	tap_eq(in_chunk, pages, "all %lld free pages of the pool faulted in", pages);
	tap_eq(hits, 0, "none of them is a poisoned page");
	tap_eq(pool_read(node, "free_pages"), 0, "free_pages is 0 with the pool full");
	region_unmap(&r);
	free(pfns);
	tap_eq(pool_read(node, "used_pages"), 0, "used_pages back to 0");

	tap_eq(pool_read(node, "empty_chunks"), 0, "a chunk with poison is never empty");
	err = move_one(UNMAPPED_POOL_IOC_RECLAIM, node, 1, &req);
	tap_ok(err == -EAGAIN && req.error == -EBUSY && !req.done,
	       "RECLAIM keeps the chunk with poison: -EAGAIN, error -EBUSY, nothing done (%d, %d, %llu)",
	       err, req.error, (unsigned long long)req.done);
	tap_eq(pool_read(node, "nr_chunks"), 1, "the chunk stays lent");
	tap_eq(pool_read(node, "poisoned_pages"), 2, "and keeps its poisoned pages");
}

#define HVO_SYSCTL	"/proc/sys/vm/hugetlb_optimize_vmemmap"
#define KPF_COMPOUND_HEAD	15
#define KPF_COMPOUND_TAIL	16
#define KPF_HUGE		17

/*
 * hugetlb's own invariants on the 1 GiB counters of the system and of each
 * node (nr = free + in use, persistent = nr - surplus, reservations come
 * out of free pages), which any page taken out of hugetlb must keep.
 */
static void check_hugetlb_counters(const char *when)
{
	long long nr = hugetlb_read(-1, "nr_hugepages"), free = hugetlb_read(-1, "free_hugepages");
	long long surplus = hugetlb_read(-1, "surplus_hugepages");
	long long resv = hugetlb_read(-1, "resv_hugepages");
	long long sum_nr = 0, sum_free = 0, sum_surplus = 0;
	bool nodes_ok = true;
	int node;

	for (node = 0; node < 64; node++) {
		long long n_nr, n_free, n_surplus;

		if (!is_online(node))
			continue;
		n_nr = hugetlb_read(node, "nr_hugepages");
		n_free = hugetlb_read(node, "free_hugepages");
		n_surplus = hugetlb_read(node, "surplus_hugepages");
		if (n_nr < 0 || n_free < 0 || n_free > n_nr || n_surplus < 0 || n_surplus > n_nr) {
			tap_diag("%s: node %d has nr %lld, free %lld, surplus %lld", when, node,
				 n_nr, n_free, n_surplus);
			nodes_ok = false;
		}
		sum_nr += n_nr;
		sum_free += n_free;
		sum_surplus += n_surplus;
	}
	tap_ok(nr >= 0 && free >= 0 && free <= nr && surplus >= 0 && surplus <= nr &&
	       resv >= 0 && resv <= free,
	       "%s: hugetlb 0 <= free %lld <= nr %lld, surplus %lld <= nr, resv %lld <= free",
	       when, free, nr, surplus, resv);
	tap_ok(nodes_ok && sum_nr == nr && sum_free == free && sum_surplus == surplus,
	       "%s: every node's free and surplus <= its nr, and the nodes add up (%lld, %lld, %lld)",
	       when, sum_nr, sum_free, sum_surplus);
}

/*
 * Pages of a node that /proc/kpageflags calls hugetlb without being part
 * of a compound page: a hugetlb page type left on a loose page.  Such a
 * page may be free, or handed out by the page allocator to anyone.  The
 * node's pages are those its zones span (/proc/zoneinfo).
 */
static long long stale_hugetlb_pages(int node)
{
	enum { BATCH = 32768 };
	long long stale = 0, spanned = -1, start, pfn, end;
	uint64_t *flags = malloc(BATCH * sizeof(*flags));
	int kpf = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	FILE *f = fopen("/proc/zoneinfo", "r");
	bool ours = false;
	char line[256];
	int n;

	if (!flags || kpf < 0 || !f) {
		tap_diag("cannot read the page flags of node %d", node);
		stale = -1;
		goto out;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Node %d, zone", &n) == 1) {
			ours = n == node;
			spanned = -1;
		} else if (sscanf(line, " spanned %lld", &start) == 1) {
			spanned = start;
		} else if (ours && spanned > 0 && sscanf(line, " start_pfn: %lld", &start) == 1) {
			for (pfn = start, end = start + spanned; pfn < end; pfn += BATCH) {
				long long want = end - pfn < BATCH ? end - pfn : BATCH, i;
				ssize_t got = pread(kpf, flags, want * sizeof(*flags),
						    pfn * sizeof(*flags));

				for (i = 0; i < got / (ssize_t)sizeof(*flags); i++)
					if ((flags[i] >> KPF_HUGE & 1) &&
					    !(flags[i] >> KPF_COMPOUND_HEAD & 1) &&
					    !(flags[i] >> KPF_COMPOUND_TAIL & 1))
						stale++;
			}
		}
	}
out:
	if (f)
		fclose(f);
	if (kpf >= 0)
		close(kpf);
	free(flags);
	return stale;
}

struct fault_huge_job {
	int node;
	void *addr;
};

/* Faults one 1 GiB hugetlb page on a node, in a thread bound to it. */
static void *fault_huge_thread(void *arg)
{
	struct fault_huge_job *job = arg;
	char *p;

	if (!bind_memory(job->node))
		return NULL;
	p = mmap(NULL, 1UL << 30, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (30 << MAP_HUGE_SHIFT), -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	*p = 1;
	job->addr = p;
	return NULL;
}

static void lend_and_check(int node, unsigned int flags, long long hp_taken, const char *what)
{
	long long nr = hugetlb_read(node, "nr_hugepages"), chunks = pool_read(node, "nr_chunks");
	struct unmapped_pool_node_req req = { .node = node, .count = 1 };
	int err = move(UNMAPPED_POOL_IOC_LEND, &req, 1, flags);

	tap_ok(!err && req.done == 1, "%s: LEND 1 chunk on node %d (got %d, error %d)",
	       what, node, err, req.error);
	tap_eq(pool_read(node, "nr_chunks"), chunks + 1, "%s: node nr_chunks went up by 1", what);
	tap_eq(hugetlb_read(node, "nr_hugepages"), nr - hp_taken,
	       "%s: node nr_hugepages went down by %lld", what, hp_taken);
	check_hugetlb_counters(what);
	tap_eq(stale_hugetlb_pages(node), 0, "%s: no loose page of node %d has a hugetlb type",
	       what, node);
}

static void reclaim_and_check(int node, const char *what)
{
	long long nr = hugetlb_read(node, "nr_hugepages"), chunks = pool_read(node, "nr_chunks");
	struct unmapped_pool_node_req req;
	int err = move_one(UNMAPPED_POOL_IOC_RECLAIM, node, 1, &req);

	tap_ok(!err && req.done == 1, "%s: RECLAIM 1 chunk on node %d (got %d, error %d)",
	       what, node, err, req.error);
	tap_eq(pool_read(node, "nr_chunks"), chunks - 1, "%s: node nr_chunks went down by 1", what);
	tap_eq(hugetlb_read(node, "nr_hugepages"), nr + 1, "%s: node nr_hugepages went up by 1", what);
	check_hugetlb_counters(what);
	tap_eq(stale_hugetlb_pages(node), 0, "%s: no loose page of node %d has a hugetlb type",
	       what, node);
}

/*
 * Lending from hugetlb with HugeTLB vmemmap optimisation on and surplus
 * pages about, on a node of its own (its 2 GiB of hugetlb_cma= hold two
 * chunks), before anything else used the node's hugetlb pages.
 *
 * First the range: a free optimised page sits in the upper GiB of the CMA
 * area with the lower GiB free, so a lend that gave the page back to CMA
 * and allocated the first free range would leave the page's GiB, with
 * the stale page types its vmemmap restore leaves, to the page allocator.
 * Pages made only to shape the area are not optimised, so that freeing
 * them leaves no stale type of its own.
 *
 * Then surplus pages, which 1 GiB pages only become when nr_hugepages is
 * lowered below what is in use (no overcommit for them): with a surplus
 * page in use on the other node, the node's one free page is one that
 * lowering nr_hugepages would not free, so lending must not take it; once
 * nr_hugepages of the node is lowered to 0 that page is itself counted as
 * surplus, and taking it would leave the node's surplus above its pages.
 */
static void test_hugetlb_accounting(int node)
{
	struct fault_huge_job job = { .node = node ? 0 : 1 };
	int other = job.node;
	pthread_t t;

	tap_eq(sysfs_read(HVO_SYSCTL), 1, "HugeTLB vmemmap optimisation is on (%s)", HVO_SYSCTL);
	tap_ok(hugetlb_read(node, "nr_hugepages") == 0 && pool_read(node, "nr_chunks") == 0,
	       "node %d starts with no 1 GiB hugetlb page and no chunk", node);
	tap_eq(stale_hugetlb_pages(node), 0, "no loose page of node %d has a hugetlb type at boot",
	       node);

	/* The lower GiB lent from CMA, an optimised page above it. */
	lend_and_check(node, UNMAPPED_POOL_LEND_NO_HUGETLB, 0, "shaping: lend from CMA");
	tap_ok(node_write(node, HUGETLB_DIR, "nr_hugepages", 1), "shaping: node %d nr_hugepages = 1",
	       node);
	/* The lower GiB back to hugetlb unoptimised, then freed. */
	sysfs_write(HVO_SYSCTL, 0);
	reclaim_and_check(node, "shaping: reclaim");
	tap_ok(node_write(node, HUGETLB_DIR, "nr_hugepages", 1) &&
	       hugetlb_read(node, "nr_hugepages") == 1,
	       "shaping: node %d nr_hugepages back to 1", node);
	sysfs_write(HVO_SYSCTL, 1);
	tap_eq(stale_hugetlb_pages(node), 0, "shaping left no loose page with a hugetlb type");

	lend_and_check(node, 0, 1, "optimised page in the upper GiB");
	reclaim_and_check(node, "optimised page in the upper GiB");

	/* A page in use on the other node, made surplus there. */
	sysfs_write(HVO_SYSCTL, 0);
	tap_ok(hugetlb_reserve(other, 1), "node %d has a 1 GiB hugetlb page", other);
	if (pthread_create(&t, NULL, fault_huge_thread, &job))
		tap_bail("pthread_create: %s", strerror(errno));
	pthread_join(t, NULL);
	tap_ok(job.addr, "a 1 GiB MAP_HUGETLB page faulted on node %d", other);
	tap_ok(node_write(other, HUGETLB_DIR, "nr_hugepages", 0) &&
	       hugetlb_read(other, "surplus_hugepages") == 1,
	       "node %d nr_hugepages = 0 leaves its page in use as a surplus page (surplus %lld)",
	       other, hugetlb_read(other, "surplus_hugepages"));
	check_hugetlb_counters("surplus page in use");

	lend_and_check(node, 0, 0, "surplus in use elsewhere");
	reclaim_and_check(node, "surplus in use elsewhere");
	/* Frees the unoptimised page reclaim just made; the other becomes surplus. */
	tap_ok(node_write(node, HUGETLB_DIR, "nr_hugepages", 0),
	       "node %d nr_hugepages = 0 with the surplus page in use", node);
	tap_eq(hugetlb_read(node, "surplus_hugepages"), 1,
	       "node %d: its free page is now counted as surplus", node);
	check_hugetlb_counters("free surplus page");
	lend_and_check(node, 0, 0, "free surplus page");
	reclaim_and_check(node, "free surplus page");

	if (job.addr)
		munmap(job.addr, 1UL << 30);
	/* Surplus back to persistent, then only the optimised page kept. */
	node_write(node, HUGETLB_DIR, "nr_hugepages", hugetlb_read(node, "nr_hugepages"));
	node_write(node, HUGETLB_DIR, "nr_hugepages", 1);
	sysfs_write(HVO_SYSCTL, 1);
	tap_eq(hugetlb_read(node, "nr_hugepages"), 1, "node %d keeps 1 hugetlb page", node);
	tap_eq(hugetlb_read(-1, "surplus_hugepages"), 0, "no surplus page left");
	check_hugetlb_counters("after the surplus pages went");
	tap_eq(stale_hugetlb_pages(node), 0, "no loose page of node %d has a hugetlb type in the end",
	       node);
}

/* The cross-CPU frees need a second CPU, and every CPU the guest got. */
static void check_cpus(int want)
{
	int cpus = __builtin_popcountll(node_cpus(-1));

	tap_ok(cpus >= 2, "at least 2 online CPUs to fault on one and free on another (%d)",
	       cpus);
	if (want)
		tap_eq(cpus, want, "the guest sees the %d CPUs it was booted with", want);
}

int main(int argc, char **argv)
{
	int i, node = -1, want_cpus = 0;
	bool poison = false, hugetlb = false;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--poison")) {
			poison = true;
		} else if (i + 1 < argc && !strcmp(argv[i], "--node")) {
			node = atoi(argv[++i]);
		} else if (i + 1 < argc && !strcmp(argv[i], "--hugetlb")) {
			node = atoi(argv[++i]);
			hugetlb = true;
		} else if (i + 1 < argc && !strcmp(argv[i], "--cpus")) {
			want_cpus = atoi(argv[++i]);
		} else {
			tap_bail("usage: pooltest [--cpus N] [--node N | --poison | --hugetlb N]");
		}
	}

	/*
	 * The main thread stays on CPU 0 and faults run on other CPUs, as when
	 * one thread of an application faults memory in and another frees it:
	 * what the faulting CPU still caches must not keep freed pages from
	 * the pool, and the outcome must not depend on where threads ran.
	 */
	check_cpus(want_cpus);
	if (!set_cpus(1))
		tap_bail("cannot run on CPU 0");
	online = sysfs_list("/sys/devices/system/node/online");
	fd = open(UNMAPPED_POOL_DEVICE, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		tap_bail("open %s: %s", UNMAPPED_POOL_DEVICE, strerror(errno));
	test_info();
	if (poison)
		test_poison(node < 0 ? 0 : node);
	else if (node < 0)
		test_system();
	else if (hugetlb)
		test_hugetlb_accounting(node);
	else
		test_node(node);
	return tap_done();
}
