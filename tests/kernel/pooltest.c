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
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define NOBODY		65534
#define LENT		2	/* chunks lent through sysfs */

/* The sysfs files of a pool and the STATS fields they mirror. */
static const struct {
	const char *file;
	size_t off;
} stat_files[] = {
#define STAT_FILE(f) { #f, offsetof(struct unmapped_pool_node_stats, f) }
	STAT_FILE(nr_chunks), STAT_FILE(free_pages), STAT_FILE(used_pages),
	STAT_FILE(lends), STAT_FILE(reclaims), STAT_FILE(alloc_failures),
	STAT_FILE(fallbacks), STAT_FILE(tlb_flushes), STAT_FILE(empty_chunks),
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
	tap_eq(pool_read(-1, "empty_chunks"), LENT - 1, "one owner's 1 GiB filled one chunk whole");
	tap_eq(pool_read(-1, "fallbacks"), fallbacks, "no allocation fell back outside the pool");
	tap_eq(pool_read(-1, "alloc_failures"), failures, "no allocation failed");
	check_direct_map("1 GiB of memfd_secret faulted");
	test_reclaim_busy(node);
	region_unmap(&r);
	tap_eq(pool_read(-1, "used_pages"), 0, "used_pages back to 0 after munmap and close");
	tap_eq(pool_read(-1, "free_pages"), LENT * CHUNK_PAGES, "free_pages back after munmap and close");
	tap_eq(pool_read(-1, "empty_chunks"), LENT, "every chunk empty again");
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
	struct unmapped_pool_node_req reqs[2], req;
	int err;

	err = move_one(UNMAPPED_POOL_IOC_LEND, node, 1, &req);
	tap_ok(!err && req.done == 1 && !req.error, "LEND 1 chunk on node %d (got %d, done %llu, error %d)",
	       node, err, (unsigned long long)req.done, req.error);
	tap_eq(pool_read(node, "nr_chunks"), chunks + 1, "LEND: node nr_chunks went up by 1");
	tap_eq(hugetlb_read(-1, "free_hugepages"), hp_free - 1, "LEND: free_hugepages went down by 1");
	tap_eq(pool_read(-1, "lends"), lends + 1, "LEND: lends went up by 1");
	tap_eq(pool_read(node, "tlb_flushes"), flushes + 1,
	       "LEND: one TLB flush for the whole chunk (tlb_flushes up by 1)");

	err = move_one(UNMAPPED_POOL_IOC_RECLAIM, node, 1, &req);
	tap_ok(!err && req.done == 1 && !req.error, "RECLAIM 1 chunk on node %d (got %d, done %llu, error %d)",
	       node, err, (unsigned long long)req.done, req.error);
	tap_eq(pool_read(node, "nr_chunks"), chunks, "RECLAIM: node nr_chunks back");
	tap_eq(hugetlb_read(-1, "free_hugepages"), hp_free, "RECLAIM: free_hugepages back");
	tap_eq(pool_read(-1, "reclaims"), reclaims + 1, "RECLAIM: reclaims went up by 1");
	tap_eq(pool_read(node, "tlb_flushes"), flushes + 2,
	       "RECLAIM: one TLB flush for the whole chunk (tlb_flushes up by 1)");

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
		lr->sysfs_resizing = pool_read(lr->node, "resizing") == 1;
		lr->nr_chunks = pool_read(lr->node, "nr_chunks");
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
	int euid, lend, reclaim, watermark, stats;
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
	*u = (struct unpriv){ -1, 1, 1, 1, 1 };
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
		_exit(0);
	}
	tap_ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       !WEXITSTATUS(status) && u->euid == NOBODY, "child dropped to uid %d", NOBODY);
	tap_eq(u->lend, -EPERM, "LEND without CAP_SYS_ADMIN is -EPERM");
	tap_eq(u->reclaim, -EPERM, "RECLAIM without CAP_SYS_ADMIN is -EPERM");
	tap_eq(u->watermark, -EPERM, "SET_WATERMARK without CAP_SYS_ADMIN is -EPERM");
	tap_eq(u->stats, nr_node_ids, "STATS without CAP_SYS_ADMIN works");
	tap_eq(pool_read(-1, "nr_chunks"), chunks, "the unprivileged child moved nothing");
	munmap(u, sizeof(*u));
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
	test_watermark(node);
	test_lend_reclaim(node);
	test_read_during_lend(node);
	test_bad_input(node);
	test_unprivileged(node);
	sysfs_reclaim(hp_nr, hp_free);
	tap_ok(hibernation_offered(), "%s offers disk again once the chunks are back", POWER_STATE);
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
	tap_ok(pool_set_chunks(node, 0), "echo 0 > node%d nr_chunks reads back 0", node);
	tap_eq(hugetlb_read(node, "free_hugepages"), hp_free, "node %d free_hugepages back", node);
	tap_eq(pool_read(node, "tlb_flushes"), flushes + 2,
	       "node %d: one TLB flush for the reclaimed chunk (tlb_flushes up by 1)", node);
	check_direct_map("after reclaiming the node's chunk");
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
	bool hugetlb = false;

	for (i = 1; i < argc; i += 2) {
		if (i + 1 < argc && !strcmp(argv[i], "--node"))
			node = atoi(argv[i + 1]);
		else if (i + 1 < argc && !strcmp(argv[i], "--hugetlb"))
			node = atoi(argv[i + 1]), hugetlb = true;
		else if (i + 1 < argc && !strcmp(argv[i], "--cpus"))
			want_cpus = atoi(argv[i + 1]);
		else
			tap_bail("usage: pooltest [--cpus N] [--node N | --hugetlb N]");
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
	if (node < 0)
		test_system();
	else if (hugetlb)
		test_hugetlb_accounting(node);
	else
		test_node(node);
	return tap_done();
}
