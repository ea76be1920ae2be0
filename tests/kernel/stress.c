// SPDX-License-Identifier: GPL-2.0
/*
 * stress - allocate and free pool memory from many threads while chunks
 * are lent and reclaimed underneath, then check that nothing leaked.
 *
 *   stress [--seconds N] [--workers N]
 *
 * Per node: workers bound to the node fault and verify memfd_secret
 * regions and fallocate and punch guest_memfd files (pool flag), while a
 * resizer thread lends and reclaims chunks of every node through sysfs and
 * the ioctls.  The resizer never goes below a floor of chunks that covers
 * what the workers can hold at once, so every allocation must come from
 * the pool: no fallback, no direct-map split.  At the end every counter
 * must be back where it started and every chunk a free 1 GiB hugetlb page.
 * Meant for the debug kernel (KASAN, lockdep, DEBUG_VM), whose console the
 * harness checks for reports.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/kvm.h>
#include <linux/unmapped_pool.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define MAX_NODES	8
#define MAX_WORKERS	16
/* Each worker holds at most this much at once: 2 x 16 MiB. */
#define REGION_MAX	(16 * MIB)
#define GMEM_SIZE	(16 * MIB)

static atomic_bool stop;
static atomic_long secret_ops, gmem_ops, moves, worker_errors;
static int nodes[MAX_NODES], nr_nodes;
static long long floor_chunks;

struct worker {
	pthread_t thread;
	int node;
	unsigned int seed;
};

static void fail(const char *what)
{
	atomic_fetch_add(&worker_errors, 1);
	tap_diag("worker: %s: %s", what, strerror(errno));
}

/* Fault a region, check it came zeroed, fill it, check it kept its data. */
static void secret_round(struct worker *w)
{
	size_t size = ((rand_r(&w->seed) % (REGION_MAX / PAGE_SIZE_4K)) + 1) *
		      PAGE_SIZE_4K;
	struct region r;
	size_t off;
	int fd;

	fd = secret_create();
	if (fd < 0 || !region_map(&r, fd, size)) {
		fail("memfd_secret");
		return;
	}
	for (off = 0; off < size; off += PAGE_SIZE_4K) {
		if (*(volatile long *)(r.addr + off)) {
			errno = EIO;
			fail("memfd_secret page not zero");
			break;
		}
		*(long *)(r.addr + off) = (long)off + w->node;
	}
	for (off = 0; off < size; off += PAGE_SIZE_4K) {
		if (*(long *)(r.addr + off) != (long)off + w->node) {
			errno = EIO;
			fail("memfd_secret lost data");
			break;
		}
	}
	region_unmap(&r);
	atomic_fetch_add(&secret_ops, 1);
}

/* One VM per worker; guest_memfd files come and go under it. */
static void gmem_round(struct worker *w, int vm)
{
	int gmem, i;

	gmem = guest_memfd_create(vm, GMEM_SIZE, GUEST_MEMFD_FLAG_UNMAPPED_POOL);
	if (gmem < 0) {
		fail("KVM_CREATE_GUEST_MEMFD");
		return;
	}
	for (i = 0; i < 8; i++) {
		off_t off = (rand_r(&w->seed) % (GMEM_SIZE / PAGE_SIZE_4K)) * PAGE_SIZE_4K;
		off_t len = ((rand_r(&w->seed) % 512) + 1) * PAGE_SIZE_4K;
		int mode = FALLOC_FL_KEEP_SIZE;

		if (off + len > (off_t)GMEM_SIZE)
			len = GMEM_SIZE - off;
		if (i & 1)
			mode |= FALLOC_FL_PUNCH_HOLE;
		if (fallocate(gmem, mode, off, len)) {
			fail("guest_memfd fallocate");
			break;
		}
	}
	close(gmem);
	atomic_fetch_add(&gmem_ops, 1);
}

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	int vm;

	/* The pool serves the node of the memory policy; CPUs just follow. */
	if (node_cpus(w->node))
		set_cpus(node_cpus(w->node));
	if (!bind_memory(w->node)) {
		fail("bind_memory");
		return NULL;
	}
	vm = protected_vm_create();
	while (!atomic_load(&stop)) {
		secret_round(w);
		if (vm >= 0)
			gmem_round(w, vm);
	}
	if (vm >= 0)
		close(vm);
	return NULL;
}

/* Lend or reclaim one chunk of a node through the ioctls. */
static void move_ioctl(int dev, int node, bool lend)
{
	struct unmapped_pool_node_req req = { .node = node, .count = 1 };
	struct unmapped_pool_move move = {
		.nr_reqs = 1, .reqs_ptr = (unsigned long)&req,
	};

	ioctl(dev, lend ? UNMAPPED_POOL_IOC_LEND : UNMAPPED_POOL_IOC_RECLAIM,
	      &move);
}

/* Chunks of each node wander between the floor and floor + 2. */
static void *resizer_fn(void *arg)
{
	int dev = *(int *)arg;
	unsigned int seed = 1;

	while (!atomic_load(&stop)) {
		int node = nodes[rand_r(&seed) % nr_nodes];
		long long chunks = pool_read(node, "nr_chunks");
		long long target = floor_chunks + rand_r(&seed) % 3;

		if (rand_r(&seed) & 1)
			pool_set_chunks(node, target);
		else if (chunks != target)
			move_ioctl(dev, node, chunks < target);
		atomic_fetch_add(&moves, 1);
		usleep(20000);
	}
	return NULL;
}

static long long counter_sum(const char *file)
{
	long long sum = 0;
	int i;

	for (i = 0; i < nr_nodes; i++)
		sum += pool_read(nodes[i], file);
	return sum;
}

int main(int argc, char **argv)
{
	struct worker workers[MAX_WORKERS];
	int seconds = 20, per_node = 2, nr_workers, dev, i;
	long long fallbacks0, huge_total0;
	struct mm_counters before, after;
	uint64_t online;
	pthread_t resizer;

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--seconds"))
			seconds = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--workers"))
			per_node = atoi(argv[i + 1]);
	}
	online = sysfs_list("/sys/devices/system/node/online");
	for (i = 0; i < MAX_NODES; i++)
		if (online & (1ULL << i))
			nodes[nr_nodes++] = i;
	nr_workers = per_node * nr_nodes;
	if (!nr_nodes || nr_workers > MAX_WORKERS)
		tap_bail("bad node or worker count");
	/* Every worker may hold 2 x 16 MiB; one chunk per node is plenty. */
	floor_chunks = 1;

	dev = open(UNMAPPED_POOL_DEVICE, O_RDONLY);
	if (dev < 0)
		tap_bail("%s: %s", UNMAPPED_POOL_DEVICE, strerror(errno));
	for (i = 0; i < nr_nodes; i++) {
		if (!pool_set_chunks(nodes[i], 0) || !hugetlb_reserve(nodes[i], 1))
			tap_bail("cannot reserve a 1 GiB page on node %d", nodes[i]);
		tap_ok(pool_set_chunks(nodes[i], floor_chunks),
		       "node %d: lend the floor of %lld chunk(s)", nodes[i],
		       floor_chunks);
	}
	fallbacks0 = counter_sum("fallbacks");
	huge_total0 = hugetlb_read(-1, "nr_hugepages");
	if (!mm_counters_read(&before))
		tap_bail("kernel counters missing");

	for (i = 0; i < nr_workers; i++) {
		workers[i].node = nodes[i % nr_nodes];
		workers[i].seed = i + 1;
		pthread_create(&workers[i].thread, NULL, worker_fn, &workers[i]);
	}
	pthread_create(&resizer, NULL, resizer_fn, &dev);
	sleep(seconds);
	atomic_store(&stop, true);
	for (i = 0; i < nr_workers; i++)
		pthread_join(workers[i].thread, NULL);
	pthread_join(resizer, NULL);

	tap_eq(atomic_load(&worker_errors), 0, "workers saw no error");
	tap_ok(atomic_load(&secret_ops) > 0 && atomic_load(&gmem_ops) > 0,
	       "both consumers ran (%ld memfd_secret, %ld guest_memfd rounds)",
	       atomic_load(&secret_ops), atomic_load(&gmem_ops));
	tap_eq(counter_sum("used_pages"), 0, "every pool page came back");
	tap_eq(counter_sum("fallbacks") - fallbacks0, 0,
	       "no allocation fell back outside the pool");
	for (i = 0; i < nr_nodes; i++)
		tap_ok(pool_set_chunks(nodes[i], 0), "node %d: every chunk reclaimed",
		       nodes[i]);
	tap_ok(hugetlb_read(-1, "nr_hugepages") >= huge_total0,
	       "no 1 GiB hugetlb page lost");
	tap_eq(hugetlb_read(-1, "free_hugepages"), hugetlb_read(-1, "nr_hugepages"),
	       "every 1 GiB hugetlb page is free again");
	if (!mm_counters_read(&after))
		tap_bail("kernel counters missing");
	tap_eq(after.splits2 - before.splits2, 0, "no 2M direct-map splits");
	tap_eq(after.splits3 - before.splits3, 0, "no 1G direct-map splits");
	printf("# figure stress seconds=%d workers=%d secret_rounds=%ld gmem_rounds=%ld resizes=%ld lends=%lld reclaims=%lld\n",
	       seconds, nr_workers, atomic_load(&secret_ops),
	       atomic_load(&gmem_ops), atomic_load(&moves),
	       counter_sum("lends"), counter_sum("reclaims"));
	close(dev);
	return tap_done();
}
