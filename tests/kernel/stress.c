// SPDX-License-Identifier: GPL-2.0
/*
 * stress - allocate and free pool memory from many threads while chunks
 * are lent and reclaimed underneath, then check that nothing leaked.
 *
 *   stress [--seconds N] [--workers N]
 *
 * Per node: workers bound to the node fault and verify memfd_secret
 * regions and fallocate and punch guest_memfd files (pool flag), while a
 * resizer thread lends and reclaims chunks of every node, in turn, through
 * sysfs and the ioctls.  The resizer never goes below a floor of chunks
 * that covers what the workers can hold at once, so every allocation must
 * come from the pool: no fallback, no direct-map split.  Every move is
 * counted: lends and reclaims must succeed during the run, and a failed one
 * must fail for a reason the kernel gives under load (see move_failed()).
 * Since nothing else in the guest uses 1 GiB hugetlb pages, the resizer
 * knows how many hugetlb must hold on every node after every move (see
 * expect_move()); at the end every counter must be back where it started,
 * every chunk a free 1 GiB hugetlb page and the hugetlb pages exactly as
 * many as the moves account for.  With hugetlb_free_vmemmap=on on the
 * kernel command line, HugeTLB vmemmap optimisation (HVO) must be in
 * effect; where it is, every lend of a hugetlb page must undo it and every
 * reclaim redo it, where it is not, the vmemmap must not change.
 * A compactor thread meanwhile asks every node, in turn, for one more empty
 * chunk, through sysfs and the ioctl, so that pages move while workers
 * fault, fill, check and free them and the resizer lends and reclaims:
 * a compaction may only fall short (EAGAIN), every one must be counted,
 * and a worker's check after a pause sees its data wherever it moved.
 * Last, with the resizer stopped, every node gets a mapped fixture that
 * the compactor must move under the workers' load (see compact_fixtures()).
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
/*
 * Each worker holds at most two regions of this size (one kept for a few
 * rounds, see worker_fn()) and a guest_memfd of GMEM_SIZE at once.  A
 * region of more than 16 MiB gets blocks of its own in another chunk than
 * the small owners' one, which gives compaction pages to move.
 */
#define REGION_MAX	(24 * MIB)
#define GMEM_SIZE	(16 * MIB)

/*
 * HugeTLB vmemmap optimisation frees all but one of the 4 KiB pages that
 * hold the struct pages of a 1 GiB page: 2^18 struct pages of 64 bytes
 * are 4096 pages, 4095 of them freed (the kernel's "16380 KiB vmemmap can
 * be freed for a 1.00 GiB page" at boot).
 */
#define HVO_PAGES	(CHUNK_PAGES * 64 / PAGE_SIZE_4K - 1)

static atomic_bool stop, stop_resizer;
static atomic_long secret_ops, gmem_ops, worker_errors;
static int nodes[MAX_NODES], nr_nodes;
static long long floor_chunks;

/* Written by the resizer only, read by main() once it has joined it. */
static struct {
	long lends, lend_failures, reclaims, reclaim_failures;
	long unexpected;		/* failures with an errno not expected */
	long hugetlb_mismatches;	/* checks that found hugetlb off */
} moves;
/* Written by the compactor only, read by main() once it has joined it. */
static struct {
	long runs, emptied, moved, busy;
	long unexpected;		/* failures other than EAGAIN */
} compacts;
/* 1 GiB hugetlb pages each node must have, all free; by node index. */
static long long expect_hugetlb[MAX_NODES];

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

/* Fault a region of size bytes, check it came zeroed and fill it. */
static bool secret_fill(struct worker *w, struct region *r, size_t size)
{
	size_t off;
	int fd;

	fd = secret_create();
	if (fd < 0 || !region_map(r, fd, size)) {
		fail("memfd_secret");
		return false;
	}
	for (off = 0; off < size; off += PAGE_SIZE_4K) {
		if (*(volatile long *)(r->addr + off)) {
			errno = EIO;
			fail("memfd_secret page not zero");
			break;
		}
		*(long *)(r->addr + off) = (long)off + w->node;
	}
	return true;
}

/*
 * Check a region secret_fill() filled kept its data, wherever it moved;
 * free it.  Returns whether the data was intact.
 */
static bool secret_check(struct worker *w, struct region *r)
{
	bool intact = true;
	size_t off;

	for (off = 0; off < r->size; off += PAGE_SIZE_4K) {
		if (*(long *)(r->addr + off) != (long)off + w->node) {
			errno = EIO;
			fail("memfd_secret lost data");
			intact = false;
			break;
		}
	}
	region_unmap(r);
	atomic_fetch_add(&secret_ops, 1);
	return intact;
}

/* A region of up to REGION_MAX, filled, checked after a pause and freed. */
static void secret_round(struct worker *w)
{
	size_t size = ((rand_r(&w->seed) % (REGION_MAX / PAGE_SIZE_4K)) + 1) *
		      PAGE_SIZE_4K;
	struct region r;

	if (!secret_fill(w, &r, size))
		return;
	usleep(rand_r(&w->seed) % 20000);
	secret_check(w, &r);
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

/*
 * A region of more than 16 MiB that a worker keeps for KEEP_ROUNDS rounds,
 * with blocks of its own: pages that stay long enough for compaction to
 * move them while they are mapped.
 */
#define KEEP_ROUNDS	8
#define KEEP_MIN	(17 * MIB)

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	struct region keep = { .addr = MAP_FAILED };
	long round;
	int vm;

	/* The pool serves the node of the memory policy; CPUs just follow. */
	if (node_cpus(w->node))
		set_cpus(node_cpus(w->node));
	if (!bind_memory(w->node)) {
		fail("bind_memory");
		return NULL;
	}
	vm = protected_vm_create();
	for (round = 0; !atomic_load(&stop); round++) {
		if (!(round % KEEP_ROUNDS)) {
			if (keep.addr != MAP_FAILED)
				secret_check(w, &keep);
			secret_fill(w, &keep, KEEP_MIN + (rand_r(&w->seed) %
					((REGION_MAX - KEEP_MIN) / PAGE_SIZE_4K)) * PAGE_SIZE_4K);
		}
		secret_round(w);
		if (vm >= 0)
			gmem_round(w, vm);
	}
	if (keep.addr != MAP_FAILED)
		secret_check(w, &keep);
	if (vm >= 0)
		close(vm);
	return NULL;
}

/*
 * A lend or reclaim that fell short, with the error the kernel gave for
 * it.  Under this load the kernel may refuse:
 *  - a lend with ENOMEM (unmapped_lend()): the node has no free 1 GiB
 *    hugetlb page and cma_alloc() found no free 1 GiB range in the node's
 *    CMA area: the area (hugetlb_cma=4G: 2 GiB per node on two nodes) is
 *    full of chunks and hugetlb pages, or a page of the range could not be
 *    migrated away;
 *  - a reclaim with EBUSY (unmapped_reclaim()): every chunk of the node
 *    has a page in use by the workers.
 * Anything else (EINTR, ENODEV, EINVAL, EFAULT, EPERM, a sysfs write that
 * fell short without an error) is a bug.
 */
static void move_failed(const char *how, int node, bool lend, int err)
{
	if (lend)
		moves.lend_failures++;
	else
		moves.reclaim_failures++;
	if (err == (lend ? ENOMEM : EBUSY))
		return;
	moves.unexpected++;
	tap_diag("resizer: %s %s on node %d failed with %s (%d)", how,
		 lend ? "lend" : "reclaim", node, err ? strerror(err) : "no error", err);
}

/*
 * Whether node index i holds the 1 GiB hugetlb pages the moves account
 * for, all free (no page is ever in use); when not, counted as a
 * mismatch, the first one told.
 */
static void check_node_hugetlb(int i, const char *when)
{
	long long nr = hugetlb_read(nodes[i], "nr_hugepages");
	long long free = hugetlb_read(nodes[i], "free_hugepages");

	if (nr == expect_hugetlb[i] && free == nr)
		return;
	if (!moves.hugetlb_mismatches++)
		tap_diag("resizer: node %d has %lld 1 GiB hugetlb pages, %lld free, %s: want %lld",
			 nodes[i], nr, free, when, expect_hugetlb[i]);
}

/*
 * What done chunks moved mean for hugetlb: a lend takes a free 1 GiB
 * hugetlb page of the node while there is one (hugetlb_take_free_gigantic();
 * no page here is reserved, surplus or outside CMA), else a range of the
 * CMA area; a reclaim always gives one back
 * (hugetlb_add_fresh_gigantic()).  Checked right after the move, as the
 * state of every node is before each move.
 */
static void expect_move(int i, bool lend, long long done)
{
	long long *expect = &expect_hugetlb[i];

	if (lend)
		*expect -= done < *expect ? done : *expect;
	else
		*expect += done;
	check_node_hugetlb(i, lend ? "after a lend" : "after a reclaim");
}

/* Lends or reclaims count chunks of a node through the ioctls. */
static long long move_ioctl(int dev, int node, bool lend, long long count)
{
	struct unmapped_pool_node_req req = { .node = node, .count = count };
	struct unmapped_pool_move move = {
		.nr_reqs = 1, .reqs_ptr = (unsigned long)&req,
	};
	int ret, err;

	ret = ioctl(dev, lend ? UNMAPPED_POOL_IOC_LEND : UNMAPPED_POOL_IOC_RECLAIM,
		    &move);
	err = ret ? errno : 0;
	/* Short of the count: EAGAIN, with the reason in the entry. */
	if (req.done < (__u64)count) {
		if (err == EAGAIN)
			move_failed("ioctl", node, lend, -req.error);
		else
			move_failed("ioctl (status)", node, lend, err);
	} else if (err || req.error) {
		move_failed("ioctl (done, yet)", node, lend, err ? err : -req.error);
	}
	return req.done;
}

/* Lends or reclaims one chunk of a node by writing its nr_chunks. */
static long long move_sysfs(int node, long long chunks, bool lend)
{
	long long target = chunks + (lend ? 1 : -1), after;
	int err = 0;

	/* A write that moved nothing fails with the reason. */
	if (!node_write(node, POOL_DIR, "nr_chunks", target))
		err = errno;
	after = pool_read(node, "nr_chunks");
	if (after != target)
		move_failed("sysfs", node, lend, err);
	else if (err)
		move_failed("sysfs (done, yet)", node, lend, err);
	return lend ? after - chunks : chunks - after;
}

/*
 * Chunks of each node wander between the floor and floor + 2: lends and
 * reclaims alternate, each on a random node with room for it, through
 * sysfs one chunk at a time (so that a write that falls short fails with
 * its reason) or through an ioctl of one or two chunks.
 */
static void *resizer_fn(void *arg)
{
	int dev = *(int *)arg;
	unsigned int seed = 1;
	long turn;

	for (turn = 0; !atomic_load(&stop_resizer); turn++) {
		long long chunks[MAX_NODES], room, done;
		int i, n, candidates[MAX_NODES], nr = 0;
		bool lend = !(turn & 1);

		for (i = 0; i < nr_nodes; i++) {
			check_node_hugetlb(i, "before a move");
			chunks[i] = pool_read(nodes[i], "nr_chunks");
			if (lend ? chunks[i] < floor_chunks + 2 : chunks[i] > floor_chunks)
				candidates[nr++] = i;
		}
		if (!nr) {
			/* Every node at the floor (or at the top): go the other way. */
			usleep(20000);
			continue;
		}
		i = candidates[rand_r(&seed) % nr];
		n = nodes[i];
		room = lend ? floor_chunks + 2 - chunks[i] : chunks[i] - floor_chunks;
		if (rand_r(&seed) & 1)
			done = move_sysfs(n, chunks[i], lend);
		else
			done = move_ioctl(dev, n, lend, 1 + rand_r(&seed) % room);
		if (lend)
			moves.lends += done;
		else
			moves.reclaims += done;
		expect_move(i, lend, done);
		usleep(20000);
	}
	return NULL;
}

/* A compaction that failed for another reason than falling short. */
static void compact_failed(const char *how, int node, int err)
{
	compacts.unexpected++;
	tap_diag("compactor: %s on node %d failed with %s (%d)", how, node,
		 strerror(err), err);
}

/*
 * Ask a random node for one empty chunk more than it has, by the ioctl or
 * through sysfs, until the run stops.
 */
static void *compactor_fn(void *arg)
{
	int dev = *(int *)arg;
	unsigned int seed = 2;

	while (!atomic_load(&stop)) {
		int node = nodes[rand_r(&seed) % nr_nodes];
		long long target = pool_read_raw(node, "empty_chunks") + 1;
		struct unmapped_pool_compact_req req = {
			.node = node, .target = target,
		};

		if (rand_r(&seed) & 1) {
			if (ioctl(dev, UNMAPPED_POOL_IOC_COMPACT, &req) && errno != EAGAIN)
				compact_failed("ioctl", node, errno);
			compacts.emptied += req.chunks_emptied;
			compacts.moved += req.pages_moved;
			compacts.busy += req.pages_busy;
		} else if (!node_write(node, POOL_DIR, "compact", target) && errno != EAGAIN) {
			compact_failed("sysfs", node, errno);
		}
		compacts.runs++;
		usleep(10000);
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

/*
 * The fixture of the last phase, one per node: a region of more than the
 * small owners' share, whose further pages take blocks of their own in
 * another chunk than the small owners' one (unmapped_pool_place()).
 */
#define FIXTURE_MIB	24
#define FIXTURE_SIZE	(FIXTURE_MIB * MIB)
#define FIXTURE_PAGES	(FIXTURE_SIZE / PAGE_SIZE_4K)
/* Seconds the compactor gets to move pages of every fixture. */
#define FIXTURE_WAIT	60
/* Tries at a lend that falls short under load, a second apart. */
#define LEND_TRIES	10

static struct fixture {
	struct worker owner;	/* the node and data pattern, as a worker's */
	struct region r;
	bool filled;
	unsigned long long pfns[FIXTURE_PAGES];	/* page frames when filled */
	long moved;		/* pages found on other frames since */
	int seconds;		/* waited until then */
} fixtures[MAX_NODES];

/*
 * The page frames of a fixture, which a page being moved (under a
 * migration entry, so not present) may hide for a moment.
 */
static bool fixture_pfns(struct fixture *f, unsigned long long *pfns)
{
	int try;

	for (try = 0; try < 100; try++) {
		if (region_pfns(&f->r, pfns))
			return true;
		usleep(10000);
	}
	return false;
}

/*
 * Whether node index i has at least two chunks, lending the missing one;
 * a lend may fall short under load (see move_failed()), so it is tried
 * again.  The resizer is stopped: the moves are main's to count.
 */
static bool fixture_chunks(int i)
{
	long long chunks = pool_read(nodes[i], "nr_chunks"), done;
	int try;

	for (try = 0; chunks < 2 && try < LEND_TRIES; try++) {
		if (try)
			sleep(1);
		done = move_sysfs(nodes[i], chunks, true);
		moves.lends += done;
		expect_move(i, true, done);
		chunks += done;
	}
	return chunks >= 2;
}

/*
 * Whether a compaction finds pages to move under the free-running load
 * depends on the moment: its node needs two chunks in use at once, which
 * the resizer's lends and reclaims seldom leave for long, least of all on
 * the slow debug kernel.  So, with the resizer stopped and the workers and
 * the compactor still running, every node gets a second chunk and a
 * fixture with blocks of its own in it: two chunks in use, the fixture's
 * the emptier one (the small owners' chunk holds the first 16 MiB of every
 * region and guest_memfd file), and room in the other for its pages.
 * Within FIXTURE_WAIT seconds the compactor must have moved pages of every
 * fixture while they were mapped, and each must read back unchanged.
 */
static void compact_fixtures(void)
{
	static unsigned long long now[FIXTURE_PAGES];
	int i, p, waited, left = nr_nodes;

	for (i = 0; i < nr_nodes; i++) {
		struct fixture *f = &fixtures[i];

		f->owner.node = nodes[i];
		tap_ok(fixture_chunks(i), "node %d: a second chunk for the fixture",
		       nodes[i]);
		f->filled = bind_memory(nodes[i]) &&
			    secret_fill(&f->owner, &f->r, FIXTURE_SIZE);
		tap_ok(f->filled && fixture_pfns(f, f->pfns),
		       "node %d: a fixture of %d MiB filled", nodes[i],
		       FIXTURE_MIB);
		left -= !f->filled;
	}
	for (waited = 1; left && waited <= FIXTURE_WAIT; waited++) {
		sleep(1);
		for (i = 0; i < nr_nodes; i++) {
			struct fixture *f = &fixtures[i];

			if (!f->filled || f->moved || !fixture_pfns(f, now))
				continue;
			for (p = 0; p < FIXTURE_PAGES; p++)
				f->moved += now[p] != f->pfns[p];
			f->seconds = waited;
			left -= f->moved > 0;
		}
	}
	for (i = 0; i < nr_nodes; i++) {
		struct fixture *f = &fixtures[i];

		tap_ok(f->moved > 0,
		       "node %d: compaction moved pages of the mapped fixture under load (%ld of %lu, in %d s)",
		       nodes[i], f->moved, (unsigned long)FIXTURE_PAGES, f->seconds);
		tap_ok(f->filled && secret_check(&f->owner, &f->r),
		       "node %d: the fixture reads back unchanged", nodes[i]);
	}
}

/*
 * Whether the kernel command line turns HugeTLB vmemmap optimisation on:
 * its last hugetlb_free_vmemmap= word, as the kernel reads it.
 */
static bool hvo_requested(void)
{
	char cmdline[4096], *word, *save;
	bool on = false;
	FILE *f;

	f = fopen("/proc/cmdline", "r");
	if (!f || !fgets(cmdline, sizeof(cmdline), f))
		tap_bail("cannot read /proc/cmdline");
	fclose(f);
	for (word = strtok_r(cmdline, " \n", &save); word; word = strtok_r(NULL, " \n", &save))
		if (!strncmp(word, "hugetlb_free_vmemmap=", 21))
			on = strchr("1yY", word[21]) || !strcmp(word + 21, "on");
	return on;
}

/*
 * hugetlb's own invariants with no page in use, against what the moves
 * account for: per node and in total, nr_hugepages as expected, all of
 * them free, none surplus, none reserved.
 */
static void check_hugetlb(const char *when)
{
	long long want = 0;
	int i;

	for (i = 0; i < nr_nodes; i++) {
		long long nr = hugetlb_read(nodes[i], "nr_hugepages");

		want += expect_hugetlb[i];
		tap_eq(nr, expect_hugetlb[i], "%s: node %d nr_hugepages as the moves account for",
		       when, nodes[i]);
		tap_ok(hugetlb_read(nodes[i], "free_hugepages") == nr &&
		       hugetlb_read(nodes[i], "surplus_hugepages") == 0,
		       "%s: node %d: every 1 GiB hugetlb page free, none surplus", when, nodes[i]);
	}
	tap_eq(hugetlb_read(-1, "nr_hugepages"), want,
	       "%s: nr_hugepages is the sum over the nodes", when);
	tap_ok(hugetlb_read(-1, "free_hugepages") == want &&
	       hugetlb_read(-1, "surplus_hugepages") == 0 &&
	       hugetlb_read(-1, "resv_hugepages") == 0,
	       "%s: every 1 GiB hugetlb page free, none surplus or reserved", when);
}

static long long expected_total(void)
{
	long long sum = 0;
	int i;

	for (i = 0; i < nr_nodes; i++)
		sum += expect_hugetlb[i];
	return sum;
}

/*
 * Pages holding struct pages.  HVO frees boot-time ones (counted in
 * nr_memmap_boot_pages) and ones it allocated itself when it restored a
 * vmemmap (nr_memmap_pages), so only the sum follows the hugetlb pages.
 */
static long long memmap_pages(void)
{
	long long buddy = proc_value("/proc/vmstat", "nr_memmap_pages");
	long long boot = proc_value("/proc/vmstat", "nr_memmap_boot_pages");

	return buddy < 0 || boot < 0 ? -1 : buddy + boot;
}

int main(int argc, char **argv)
{
	struct worker workers[MAX_WORKERS];
	int seconds = 20, per_node = 2, nr_workers, dev, i;
	long long fallbacks0, lends0, reclaims0, huge0, memmap0, hvo_pages;
	long long final_reclaims = 0, compactions0, moved0;
	struct mm_counters before, after;
	bool hvo;
	uint64_t online;
	pthread_t resizer, compactor;

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
	/* Every worker may hold 2 x 24 + 16 MiB; one chunk per node is plenty. */
	floor_chunks = 1;

	dev = open(UNMAPPED_POOL_DEVICE, O_RDONLY);
	if (dev < 0)
		tap_bail("%s: %s", UNMAPPED_POOL_DEVICE, strerror(errno));
	/*
	 * With HVO in effect, every 1 GiB hugetlb page that leaves hugetlb
	 * gets its vmemmap back and every one that joins it loses it again.
	 */
	hvo = sysfs_read("/proc/sys/vm/hugetlb_optimize_vmemmap") == 1;
	if (hvo_requested())
		tap_ok(hvo, "hugetlb_free_vmemmap=on: /proc/sys/vm/hugetlb_optimize_vmemmap is 1");
	hvo_pages = hvo ? HVO_PAGES : 0;
	for (i = 0; i < nr_nodes; i++)
		if (!pool_set_chunks(nodes[i], 0) || !hugetlb_reserve(nodes[i], 1))
			tap_bail("cannot reserve a 1 GiB page on node %d", nodes[i]);

	/* The baseline, before this run lends anything. */
	for (i = 0; i < nr_nodes; i++)
		expect_hugetlb[i] = hugetlb_read(nodes[i], "nr_hugepages");
	huge0 = expected_total();
	check_hugetlb("before any lend");
	memmap0 = memmap_pages();
	tap_ok(memmap0 >= 0, "/proc/vmstat has nr_memmap_pages and nr_memmap_boot_pages (%lld)",
	       memmap0);
	lends0 = counter_sum("lends");
	reclaims0 = counter_sum("reclaims");
	compactions0 = counter_sum("compactions");
	moved0 = counter_sum("compact_pages_moved");

	for (i = 0; i < nr_nodes; i++) {
		check_node_hugetlb(i, "before the floor lend");
		tap_ok(pool_set_chunks(nodes[i], floor_chunks),
		       "node %d: lend the floor of %lld chunk(s)", nodes[i],
		       floor_chunks);
		expect_move(i, true, floor_chunks);
	}
	tap_eq(memmap_pages() - memmap0, hvo_pages * (huge0 - expected_total()),
	       "lending %lld hugetlb page(s) restored %lld vmemmap pages each",
	       huge0 - expected_total(), hvo_pages);
	fallbacks0 = counter_sum("fallbacks");
	if (!mm_counters_read(&before))
		tap_bail("kernel counters missing");

	for (i = 0; i < nr_workers; i++) {
		workers[i].node = nodes[i % nr_nodes];
		workers[i].seed = i + 1;
		pthread_create(&workers[i].thread, NULL, worker_fn, &workers[i]);
	}
	pthread_create(&resizer, NULL, resizer_fn, &dev);
	pthread_create(&compactor, NULL, compactor_fn, &dev);
	sleep(seconds);
	atomic_store(&stop_resizer, true);
	pthread_join(resizer, NULL);
	compact_fixtures();
	atomic_store(&stop, true);
	for (i = 0; i < nr_workers; i++)
		pthread_join(workers[i].thread, NULL);
	pthread_join(compactor, NULL);

	tap_eq(atomic_load(&worker_errors), 0, "workers saw no error");
	tap_ok(atomic_load(&secret_ops) > 0 && atomic_load(&gmem_ops) > 0,
	       "both consumers ran (%ld memfd_secret, %ld guest_memfd rounds)",
	       atomic_load(&secret_ops), atomic_load(&gmem_ops));
	tap_ok(moves.lends > 0, "the resizer lent chunks under load (%ld lent, %ld lends fell short)",
	       moves.lends, moves.lend_failures);
	tap_ok(moves.reclaims > 0,
	       "the resizer reclaimed chunks under load (%ld reclaimed, %ld reclaims fell short)",
	       moves.reclaims, moves.reclaim_failures);
	tap_eq(moves.unexpected, 0,
	       "every lend that fell short failed with ENOMEM, every reclaim with EBUSY");
	tap_ok(compacts.runs > 0, "the compactor ran under load (%ld compactions)", compacts.runs);
	tap_eq(compacts.unexpected, 0, "every compaction that fell short failed with EAGAIN");
	tap_eq(counter_sum("compactions") - compactions0, compacts.runs,
	       "compactions counts every compaction, no more");
	tap_ok(counter_sum("compact_pages_moved") - moved0 >= compacts.moved,
	       "compact_pages_moved counts the pages the ioctls reported moved (%ld)",
	       compacts.moved);
	tap_ok(counter_sum("compact_pages_moved") > moved0,
	       "compaction moved pages under load (%lld)",
	       counter_sum("compact_pages_moved") - moved0);
	tap_eq(counter_sum("used_pages"), 0, "every pool page came back");
	tap_eq(counter_sum("fallbacks") - fallbacks0, 0,
	       "no allocation fell back outside the pool");
	for (i = 0; i < nr_nodes; i++) {
		long long chunks = pool_read(nodes[i], "nr_chunks");

		check_node_hugetlb(i, "before the last reclaim");
		tap_ok(pool_set_chunks(nodes[i], 0), "node %d: every chunk reclaimed",
		       nodes[i]);
		final_reclaims += chunks;
		expect_move(i, false, chunks);
	}
	tap_eq(moves.hugetlb_mismatches, 0,
	       "before and after every move, 1 GiB hugetlb pages as the moves account for");
	tap_eq(counter_sum("lends") - lends0, floor_chunks * nr_nodes + moves.lends,
	       "lends counts every chunk lent, no more");
	tap_eq(counter_sum("reclaims") - reclaims0, moves.reclaims + final_reclaims,
	       "reclaims counts every chunk reclaimed, no more");
	check_hugetlb("no 1 GiB hugetlb page lost");
	tap_eq(memmap_pages() - memmap0, -hvo_pages * (expected_total() - huge0),
	       "reclaims optimised the vmemmap of every hugetlb page they added (%lld pages each)",
	       hvo_pages);
	if (!mm_counters_read(&after))
		tap_bail("kernel counters missing");
	tap_eq(after.splits2 - before.splits2, 0, "no 2M direct-map splits");
	tap_eq(after.splits3 - before.splits3, 0, "no 1G direct-map splits");
	printf("# figure stress seconds=%d workers=%d secret_rounds=%ld gmem_rounds=%ld lent=%ld lends_short=%ld reclaimed=%ld reclaims_short=%ld hugetlb=%lld->%lld compactions=%ld compact_moved=%lld compact_emptied_ioctl=%ld compact_busy_ioctl=%ld\n",
	       seconds, nr_workers, atomic_load(&secret_ops),
	       atomic_load(&gmem_ops), moves.lends,
	       moves.lend_failures, moves.reclaims, moves.reclaim_failures, huge0,
	       expected_total(), compacts.runs,
	       counter_sum("compact_pages_moved") - moved0, compacts.emptied,
	       compacts.busy);
	close(dev);
	return tap_done();
}
