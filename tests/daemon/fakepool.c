// SPDX-License-Identifier: GPL-2.0
/*
 * fakepool.so: an LD_PRELOAD test double of /dev/unmapped_pool for the
 * integration tests, so that the real gigapoold binary runs unchanged.
 *
 * Opening $FAKEPOOL_ROOT/dev/unmapped_pool (a FIFO the test creates) gives
 * a real, pollable descriptor; its ioctls are emulated here.  The state of
 * the emulated pool lives in the fake sysfs files under the same root, so
 * a test sets up and inspects the "kernel" with cat and echo:
 *   sys/devices/system/node/nodeN/unmapped_pool/{nr_chunks,free_pages,
 *     used_pages,lends,reclaims,alloc_failures,low_watermark}
 *   sys/devices/system/node/nodeN/unmapped_pool/fake_cma_chunks
 *     (test only: chunks the node's CMA area can still give; absent = no CMA)
 *   sys/devices/system/node/nodeN/unmapped_pool/fake_lend_delay_ms
 *     (test only: each chunk lent takes this long, as a 1 GiB clear or a CMA
 *     migration does on a real host; absent = at once)
 *   sys/devices/system/node/nodeN/unmapped_pool/fake_alloc_failed
 *     (test only: 1 = an allocation failed; the next STATS reports and clears it)
 *   sys/devices/system/node/nodeN/unmapped_pool/empty_chunks
 *     (optional: chunks no page is in use of, so that a test can strand free
 *     pages in chunks in use; absent = nr_chunks - ceil(used_pages / chunk);
 *     a reclaim takes one, a lend adds one)
 *   sys/devices/system/node/nodeN/hugepages/hugepages-1048576kB/{nr,free}_hugepages
 *   sys/devices/system/node/nodeN/unmapped_pool/fallbacks
 *     (optional: allocations served outside the pool)
 *   sys/kernel/mm/unmapped_pool/guest_memfd
 *     (optional: the guest_memfd switch; if the test made the file, INFO
 *     announces it, and a write of flag, prefer or require shows as
 *     "flag [prefer] require" while any other write fails with EINVAL)
 *   sys/devices/system/node/nodeN/unmapped_pool/fake_pinned_chunks
 *     (optional: chunks in use that hold a page bound to its address, which
 *     COMPACT never empties)
 *   sys/devices/system/node/nodeN/unmapped_pool/fake_busy_pages
 *     (optional: pages whose move fails for the moment; the next COMPACT
 *     stops on them and clears the file)
 *   sys/devices/system/node/nodeN/unmapped_pool/{compactions,compact_pages_moved}
 *     (written by COMPACT, as the kernel's cumulative counters in sysfs)
 *   sys/devices/system/node/nodeN/unmapped_pool/fake_compact_calls
 *     (every COMPACT ioctl, whether the kernel has it or not)
 * A LEND or RECLAIM that starts while another runs (the daemon must never
 * issue two at once) counts one in $FAKEPOOL_ROOT/fake_overlaps.
 * Writing a byte into the FIFO is a pool event (POLLIN); STATS drains it.
 * With FAKEPOOL_OLD_KERNEL set, INFO does not announce empty_chunks and
 * STATS leaves it 0, as a kernel from before the field does; such a kernel,
 * and any with FAKEPOOL_NO_COMPACT set, has no COMPACT either (-ENOTTY).
 *
 * COMPACT models the pool's chunks by counts alone: the used pages are
 * spread evenly over the chunks in use, so each source chunk holds
 * ceil(used / chunks in use) pages.  It empties chunks one at a time,
 * while one is not pinned, the others have room for every used page and
 * the page budget allows, and says which of those stopped it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/unmapped_pool.h>

#define PAGES_PER_CHUNK (1ULL << 18)
#define MAX_FDS 1024

enum fake_fd { FAKE_NONE, FAKE_POOL, FAKE_GUEST_MEMFD };

static enum fake_fd fake_fd[MAX_FDS];
static __u64 seq;

static const char *root(void)
{
	const char *r = getenv("FAKEPOOL_ROOT");

	return r ? r : "";
}

static bool old_kernel(void)
{
	return getenv("FAKEPOOL_OLD_KERNEL") != NULL;
}

static bool has_compact(void)
{
	return !old_kernel() && !getenv("FAKEPOOL_NO_COMPACT");
}

static void guest_memfd_path(char *buf, size_t size)
{
	snprintf(buf, size, "%s/sys/kernel/mm/unmapped_pool/guest_memfd", root());
}

static bool has_guest_memfd_mode(void)
{
	char path[4096];

	guest_memfd_path(path, sizeof(path));
	return access(path, F_OK) == 0;
}

static bool node_file(char *buf, size_t size, unsigned node, const char *file)
{
	const char *dir = strncmp(file, "hugepages", 9) == 0 ? "" : "unmapped_pool/";

	snprintf(buf, size, "%s/sys/devices/system/node/node%u/%s%s", root(), node, dir, file);
	return access(buf, F_OK) == 0;
}

static bool get(unsigned node, const char *file, __u64 *ret)
{
	char path[4096];
	unsigned long long v = 0;
	FILE *f;

	*ret = 0;
	if (!node_file(path, sizeof(path), node, file))
		return false;
	f = fopen(path, "r");
	if (!f)
		return false;
	if (fscanf(f, "%llu", &v) == 1)
		*ret = v;
	fclose(f);
	return true;
}

/*
 * Written aside and renamed into place: a test that reads the file while
 * the daemon's worker lends never sees it empty.
 */
static void put(unsigned node, const char *file, __u64 v)
{
	char path[4096], tmp[4200];
	FILE *f;

	node_file(path, sizeof(path), node, file);
	snprintf(tmp, sizeof(tmp), "%s.fake-tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "%llu\n", (unsigned long long)v);
	if (fclose(f) == 0)
		rename(tmp, path);
}

static void add(unsigned node, const char *file, int64_t delta)
{
	__u64 v;

	get(node, file, &v);
	put(node, file, v + delta);
}

static bool node_exists(unsigned node)
{
	char path[4096];

	return node_file(path, sizeof(path), node, "nr_chunks");
}

static unsigned nr_node_ids(void)
{
	unsigned n = 0;

	while (n < UNMAPPED_POOL_MAX_NODES && node_exists(n))
		n++;
	return n;
}

#define HUGE_NR "hugepages/hugepages-1048576kB/nr_hugepages"
#define HUGE_FREE "hugepages/hugepages-1048576kB/free_hugepages"

/*
 * The chunks a reclaim can give back.  Without an empty_chunks file the
 * used pages are taken to be packed into as few chunks as they fill.
 */
static __u64 empty_chunks(unsigned node)
{
	__u64 chunks, used, empty;

	if (get(node, "empty_chunks", &empty))
		return empty;
	get(node, "nr_chunks", &chunks);
	get(node, "used_pages", &used);
	used = (used + PAGES_PER_CHUNK - 1) / PAGES_PER_CHUNK;
	return chunks > used ? chunks - used : 0;
}

/* Count a chunk more or less in the empty_chunks file, if the test made one. */
static void add_empty(unsigned node, int64_t delta)
{
	__u64 empty;

	if (get(node, "empty_chunks", &empty))
		put(node, "empty_chunks", empty + delta);
}

static int lend_one(unsigned node, bool cma_only)
{
	__u64 free_huge, cma, delay_ms;

	if (get(node, "fake_lend_delay_ms", &delay_ms) && delay_ms)
		usleep(delay_ms * 1000);
	get(node, HUGE_FREE, &free_huge);
	if (!cma_only && free_huge > 0) {
		add(node, HUGE_NR, -1);
		add(node, HUGE_FREE, -1);
	} else if (get(node, "fake_cma_chunks", &cma) && cma > 0) {
		add(node, "fake_cma_chunks", -1);
	} else {
		return -ENOMEM;
	}
	add(node, "nr_chunks", 1);
	add(node, "free_pages", PAGES_PER_CHUNK);
	add(node, "lends", 1);
	add_empty(node, 1);
	return 0;
}

static int reclaim_one(unsigned node)
{
	if (empty_chunks(node) == 0)
		return -EBUSY;
	add_empty(node, -1);
	add(node, "nr_chunks", -1);
	add(node, "free_pages", -(int64_t)PAGES_PER_CHUNK);
	add(node, "reclaims", 1);
	add(node, HUGE_NR, 1);
	add(node, HUGE_FREE, 1);
	return 0;
}

/* Count a move that overlaps another; see the top of the file. */
static void count_overlap(void)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/fake_overlaps", root());
	f = fopen(path, "a");
	if (f) {
		fputs("1\n", f);
		fclose(f);
	}
}

static int move_reqs(struct unmapped_pool_move *m, bool lend)
{
	struct unmapped_pool_node_req *reqs = (void *)(uintptr_t)m->reqs_ptr;
	bool short_any = false;

	if (m->nr_reqs == 0 || m->nr_reqs > UNMAPPED_POOL_MAX_NODES ||
	    (m->flags & ~(lend ? UNMAPPED_POOL_LEND_NO_HUGETLB : 0)))
		return -EINVAL;
	for (uint32_t i = 0; i < m->nr_reqs; i++) {
		struct unmapped_pool_node_req *r = &reqs[i];

		r->done = 0;
		r->error = node_exists(r->node) ? 0 : -ENODEV;
		while (r->error == 0 && r->done < r->count) {
			r->error = lend ? lend_one(r->node, m->flags & UNMAPPED_POOL_LEND_NO_HUGETLB)
					: reclaim_one(r->node);
			if (r->error == 0)
				r->done++;
		}
		short_any |= r->done < r->count;
	}
	return short_any ? -EAGAIN : 0;
}

static int do_move(struct unmapped_pool_move *m, bool lend)
{
	static int moving;
	int r;

	if (__atomic_fetch_add(&moving, 1, __ATOMIC_SEQ_CST) > 0)
		count_overlap();
	r = move_reqs(m, lend);
	__atomic_fetch_sub(&moving, 1, __ATOMIC_SEQ_CST);
	return r;
}

static bool compact_reserved_zero(const struct unmapped_pool_compact_req *c)
{
	for (size_t i = 0; i < sizeof(c->reserved) / sizeof(c->reserved[0]); i++)
		if (c->reserved[i])
			return false;
	return true;
}

static int do_compact(struct unmapped_pool_compact_req *c)
{
	__u64 chunks, used, pinned, busy, empty, in_use, per_chunk, moved = 0, emptied = 0;
	__u64 *stuck = NULL;

	if (node_exists(c->node))
		add(c->node, "fake_compact_calls", 1);
	if (!has_compact())
		return -ENOTTY;
	if (c->flags || !compact_reserved_zero(c))
		return -EINVAL;
	if (!node_exists(c->node))
		return -ENODEV;
	get(c->node, "nr_chunks", &chunks);
	get(c->node, "used_pages", &used);
	get(c->node, "fake_pinned_chunks", &pinned);
	get(c->node, "fake_busy_pages", &busy);
	empty = empty_chunks(c->node);
	in_use = chunks > empty ? chunks - empty : 0;
	per_chunk = in_use ? (used + in_use - 1) / in_use : 0;
	pinned = pinned < in_use ? pinned : in_use;
	while (empty < c->target) {
		if (busy) {
			stuck = &c->pages_busy;
			put(c->node, "fake_busy_pages", 0);
			break;
		}
		if (in_use <= pinned) {
			stuck = &c->pages_pinned;
			break;
		}
		if ((in_use - 1) * PAGES_PER_CHUNK < used) {
			stuck = &c->pages_no_room;
			break;
		}
		if (c->max_pages && moved + per_chunk > c->max_pages) {
			stuck = &c->pages_over_budget;
			break;
		}
		moved += per_chunk;
		in_use--;
		empty++;
		emptied++;
	}
	if (stuck)
		*stuck = busy ? busy : (c->target - empty) * per_chunk;
	c->empty_chunks = empty;
	c->chunks_emptied = emptied;
	c->pages_moved = moved;
	put(c->node, "empty_chunks", empty);
	add(c->node, "compactions", 1);
	add(c->node, "compact_pages_moved", moved);
	return empty >= c->target ? 0 : -EAGAIN;
}

static int do_stats(int fd, struct unmapped_pool_stats *s)
{
	struct unmapped_pool_node_stats *st = (void *)(uintptr_t)s->nodes_ptr;
	unsigned n = nr_node_ids();
	char drain[256];

	if (s->flags)
		return -EINVAL;
	if (s->nr_nodes < n)
		n = s->nr_nodes;
	for (unsigned i = 0; i < n; i++) {
		struct unmapped_pool_node_stats *e = &st[i];
		__u64 cma, pending;

		memset(e, 0, sizeof(*e));
		e->node = i;
		e->flags = UNMAPPED_POOL_NODE_ONLINE;
		if (get(i, "fake_cma_chunks", &cma))
			e->flags |= UNMAPPED_POOL_NODE_HAS_CMA;
		get(i, "nr_chunks", &e->nr_chunks);
		get(i, "free_pages", &e->free_pages);
		get(i, "used_pages", &e->used_pages);
		get(i, "lends", &e->lends);
		get(i, "reclaims", &e->reclaims);
		get(i, "alloc_failures", &e->alloc_failures);
		get(i, "fallbacks", &e->fallbacks);
		get(i, "low_watermark", &e->low_watermark);
		get(i, HUGE_NR, &e->hugetlb_total);
		get(i, HUGE_FREE, &e->hugetlb_free);
		if (!old_kernel())
			e->empty_chunks = empty_chunks(i);
		if (e->low_watermark && e->free_pages < e->low_watermark)
			e->flags |= UNMAPPED_POOL_NODE_LOW;
		/* fake_alloc_failed (test only): a failure pending until this snapshot. */
		if (get(i, "fake_alloc_failed", &pending) && pending) {
			e->flags |= UNMAPPED_POOL_NODE_ALLOC_FAILED;
			put(i, "fake_alloc_failed", 0);
		}
	}
	s->nr_nodes = n;
	s->seq = ++seq;
	/* The snapshot acknowledges the events poll() reported. */
	while (read(fd, drain, sizeof(drain)) > 0)
		;
	return 0;
}

static int emulate(int fd, unsigned long req, void *arg)
{
	struct unmapped_pool_info *info = arg;
	struct unmapped_pool_watermark *w = arg;

	switch (req) {
	case UNMAPPED_POOL_IOC_INFO:
		memset(info, 0, sizeof(*info));
		info->api_version = UNMAPPED_POOL_API_VERSION;
		info->nr_node_ids = nr_node_ids();
		info->chunk_size = PAGES_PER_CHUNK * 4096;
		info->page_size = 4096;
		info->features = UNMAPPED_POOL_FEAT_CMA_DIRECT;
		if (!old_kernel())
			info->features |= UNMAPPED_POOL_FEAT_EMPTY_CHUNKS;
		if (has_guest_memfd_mode())
			info->features |= UNMAPPED_POOL_FEAT_GUEST_MEMFD_MODE;
		if (has_compact())
			info->features |= UNMAPPED_POOL_FEAT_COMPACT;
		return 0;
	case UNMAPPED_POOL_IOC_STATS:
		return do_stats(fd, arg);
	case UNMAPPED_POOL_IOC_LEND:
		return do_move(arg, true);
	case UNMAPPED_POOL_IOC_RECLAIM:
		return do_move(arg, false);
	case UNMAPPED_POOL_IOC_COMPACT:
		return do_compact(arg);
	case UNMAPPED_POOL_IOC_SET_WATERMARK:
		if (w->flags || !node_exists(w->node))
			return -EINVAL;
		put(w->node, "low_watermark", w->low_pages);
		return 0;
	}
	return -ENOTTY;
}

static bool is_pool(const char *path)
{
	char dev[4096];

	snprintf(dev, sizeof(dev), "%s" UNMAPPED_POOL_DEVICE, root());
	return getenv("FAKEPOOL_ROOT") && strcmp(path, dev) == 0;
}

static enum fake_fd fake_of(const char *path)
{
	char gmem[4096];

	if (is_pool(path))
		return FAKE_POOL;
	guest_memfd_path(gmem, sizeof(gmem));
	return getenv("FAKEPOOL_ROOT") && strcmp(path, gmem) == 0 ? FAKE_GUEST_MEMFD : FAKE_NONE;
}

static int track(int fd, const char *path)
{
	if (fd >= 0 && fd < MAX_FDS)
		fake_fd[fd] = fake_of(path);
	return fd;
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

/*
 * The kernel's switch takes one word, with or without a newline, and shows
 * every mode with the current one in brackets.
 */
static ssize_t write_guest_memfd(int fd, const char *buf, size_t len)
{
	static const char *const modes[] = { "flag", "prefer", "require" };
	char text[64];
	size_t n = len;
	int pos = 0;

	if (n > 0 && buf[n - 1] == '\n')
		n--;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strlen(modes[i]) == n && memcmp(buf, modes[i], n) == 0)
			for (size_t j = 0; j < sizeof(modes) / sizeof(modes[0]); j++)
				pos += snprintf(text + pos, sizeof(text) - pos, j == i ? "%s[%s]" : "%s%s",
						j ? " " : "", modes[j]);
	if (pos == 0) {
		errno = EINVAL;
		return -1;
	}
	text[pos++] = '\n';
	if (ftruncate(fd, 0) < 0 || pwrite(fd, text, pos, 0) != pos)
		return -1;
	return len;
}

ssize_t write(int fd, const void *buf, size_t len)
{
	if (fd >= 0 && fd < MAX_FDS && fake_fd[fd] == FAKE_GUEST_MEMFD)
		return write_guest_memfd(fd, buf, len);
	return REAL(write)(fd, buf, len);
}

/*
 * O_CREAT and O_TMPFILE pass a mode; reading it otherwise is harmless.
 * The fake device is a FIFO that tests write to for a pool event; opened
 * read-write it never reports a hang-up once they close it, like the real
 * device, whatever access mode the daemon asks for.
 */
#define OPEN_WRAPPER(name)						\
	int name(const char *path, int flags, ...)			\
	{								\
		va_list ap;						\
		mode_t mode;						\
									\
		va_start(ap, flags);					\
		mode = va_arg(ap, mode_t);				\
		va_end(ap);						\
		if (is_pool(path))					\
			flags = (flags & ~O_ACCMODE) | O_RDWR;		\
		return track(REAL(name)(path, flags, mode), path);	\
	}

OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)

int close(int fd)
{
	if (fd >= 0 && fd < MAX_FDS)
		fake_fd[fd] = FAKE_NONE;
	return REAL(close)(fd);
}

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;
	int r;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (fd < 0 || fd >= MAX_FDS || fake_fd[fd] != FAKE_POOL)
		return REAL(ioctl)(fd, req, arg);
	r = emulate(fd, req, arg);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}
