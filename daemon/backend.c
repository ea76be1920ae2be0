// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel I/O: 1 GiB hugetlb through sysfs, the unmapped pool through the
 * ioctls of <linux/unmapped_pool.h>, topology through libnuma.  Paths are
 * relative to a configurable root so that tests can run the real daemon
 * against a fake sysfs tree and a test double of the device.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/unmapped_pool.h>
#include <numa.h>

#include "backend.h"
#include "util.h"

#define NODE_DIR "sys/devices/system/node"
#define HUGETLB_1G "hugepages/hugepages-1048576kB"

static int read_u64(const struct backend *b, uint64_t *ret, const char *fmt, unsigned node)
{
	char rel[256], path[4096], *text, *end;
	int r;

	snprintf(rel, sizeof(rel), fmt, node);
	snprintf(path, sizeof(path), "%s/%s", b->root, rel);
	r = read_file_str(path, &text, 64);
	if (r < 0)
		return r;
	errno = 0;
	*ret = strtoull(text, &end, 10);
	r = (end == text || (*end && *end != '\n') || errno) ? -EINVAL : 0;
	free(text);
	return r;
}

static int add_node(struct system_state *s, unsigned node)
{
	struct node_state *ns = reallocarray(s->nodes, s->n_nodes + 1, sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	s->nodes = ns;
	memset(&ns[s->n_nodes], 0, sizeof(*ns));
	ns[s->n_nodes].node = node;
	ns[s->n_nodes].online = true;
	s->n_nodes++;
	return 0;
}

/* Parse a node list such as "0-3,8" (the format of .../node/online). */
static int parse_node_list(const char *text, struct system_state *s)
{
	const char *p = text;

	while (*p && *p != '\n') {
		char *end;
		unsigned long lo = strtoul(p, &end, 10), hi = lo;

		if (end == p)
			return -EINVAL;
		if (*end == '-') {
			p = end + 1;
			hi = strtoul(p, &end, 10);
			if (end == p)
				return -EINVAL;
		}
		if (hi < lo || hi >= UNMAPPED_POOL_MAX_NODES)
			return -ERANGE;
		for (unsigned long n = lo; n <= hi; n++)
			if (add_node(s, n) < 0)
				return -ENOMEM;
		p = *end == ',' ? end + 1 : end;
	}
	return 0;
}

/*
 * The node list comes from libnuma on the real root.  libnuma always reads
 * the host's /sys, so under a test root the same list is parsed from the
 * fake tree instead.
 */
static int read_topology(const struct backend *b, struct system_state *s)
{
	char path[4096], *text;
	int r;

	if (strcmp(b->root, "/") == 0 && numa_available() >= 0) {
		for (int n = 0; n <= numa_max_node(); n++)
			if (numa_bitmask_isbitset(numa_nodes_ptr, n) && add_node(s, n) < 0)
				return -ENOMEM;
		return 0;
	}
	snprintf(path, sizeof(path), "%s/" NODE_DIR "/online", b->root);
	r = read_file_str(path, &text, 4096);
	if (r < 0)
		return r;
	r = parse_node_list(text, s);
	free(text);
	return r;
}

#define GLOBAL_1G "sys/kernel/mm/" HUGETLB_1G

/* Global counters; resv_hugepages exists only globally, not per node. */
static void read_global_hugetlb(const struct backend *b, struct hugetlb_global *ret)
{
	ret->known = read_u64(b, &ret->total, GLOBAL_1G "/nr_hugepages", 0) >= 0 &&
		     read_u64(b, &ret->free, GLOBAL_1G "/free_hugepages", 0) >= 0 &&
		     read_u64(b, &ret->resv, GLOBAL_1G "/resv_hugepages", 0) >= 0 &&
		     read_u64(b, &ret->surplus, GLOBAL_1G "/surplus_hugepages", 0) >= 0;
}

/* What both snapshots share: sizes, global hugetlb and the node list. */
static int snapshot_common(struct backend *b, struct system_state *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->chunk_size = b->chunk_size;
	ret->page_size = b->page_size;
	read_global_hugetlb(b, &ret->hugetlb);
	return read_topology(b, ret);
}

static int hugetlb_snapshot(struct backend *b, struct system_state *ret)
{
	int r;

	r = snapshot_common(b, ret);
	for (size_t i = 0; r >= 0 && i < ret->n_nodes; i++) {
		struct node_state *n = &ret->nodes[i];

		/* A node without 1 GiB hugetlb support simply has none. */
		if (read_u64(b, &n->hugetlb_total, NODE_DIR "/node%u/" HUGETLB_1G "/nr_hugepages", n->node) < 0 ||
		    read_u64(b, &n->hugetlb_free, NODE_DIR "/node%u/" HUGETLB_1G "/free_hugepages", n->node) < 0)
			n->hugetlb_total = n->hugetlb_free = 0;
	}
	if (r < 0)
		system_state_done(ret);
	return r;
}

static int hugetlb_move(struct backend *b, enum move_dir dir, bool cma_only,
			struct move *moves, size_t n)
{
	(void)b, (void)dir, (void)cma_only, (void)moves, (void)n;
	return -EOPNOTSUPP;
}

static int hugetlb_set_watermark(struct backend *b, unsigned node, uint64_t low_pages)
{
	(void)b, (void)node, (void)low_pages;
	return -EOPNOTSUPP;
}

static int hugetlb_set_guest_memfd(struct backend *b, const char *mode)
{
	(void)b, (void)mode;
	return -EOPNOTSUPP;
}

static const struct backend_ops hugetlb_ops = {
	.mode = "hugetlb-only",
	.snapshot = hugetlb_snapshot,
	.move = hugetlb_move,
	.set_watermark = hugetlb_set_watermark,
	.set_guest_memfd = hugetlb_set_guest_memfd,
};

#define GUEST_MEMFD_FILE "sys/kernel/mm/unmapped_pool/guest_memfd"

/*
 * The current mode of the kernel's guest_memfd switch, which shows all
 * modes with the current one in brackets ("flag [prefer] require", as
 * transparent_hugepage/enabled does); "" if it cannot be read.
 */
static void read_guest_memfd(const struct backend *b, char *ret, size_t size)
{
	char path[4096], *text, *lb, *rb;

	ret[0] = '\0';
	if (!(b->features & UNMAPPED_POOL_FEAT_GUEST_MEMFD_MODE))
		return;
	snprintf(path, sizeof(path), "%s/" GUEST_MEMFD_FILE, b->root);
	if (read_file_str(path, &text, 256) < 0)
		return;
	lb = strchr(text, '[');
	rb = lb ? strchr(lb, ']') : NULL;
	/* A word of lower-case letters, so that Status shows nothing odd. */
	if (rb && rb - lb - 1 > 0 && (size_t)(rb - lb - 1) < size &&
	    strspn(lb + 1, "abcdefghijklmnopqrstuvwxyz") == (size_t)(rb - lb - 1))
		snprintf(ret, size, "%.*s", (int)(rb - lb - 1), lb + 1);
	free(text);
}

/* One STATS ioctl gives an atomic view of every node, hugetlb included. */
static int pool_snapshot(struct backend *b, struct system_state *ret)
{
	struct unmapped_pool_node_stats *st;
	struct unmapped_pool_stats req = { .nr_nodes = b->nr_node_ids };
	int r;

	memset(ret, 0, sizeof(*ret));
	st = calloc(b->nr_node_ids, sizeof(*st));
	if (!st)
		return -ENOMEM;
	req.nodes_ptr = (uintptr_t)st;
	r = ioctl(b->fd, UNMAPPED_POOL_IOC_STATS, &req) < 0 ? -errno : 0;
	if (r >= 0)
		r = snapshot_common(b, ret);
	ret->pool_available = true;
	for (size_t i = 0; r >= 0 && i < ret->n_nodes; i++) {
		struct node_state *n = &ret->nodes[i];
		const struct unmapped_pool_node_stats *k;

		if (n->node >= req.nr_nodes) {
			n->online = false;
			continue;
		}
		k = &st[n->node];
		n->online = k->flags & UNMAPPED_POOL_NODE_ONLINE;
		n->has_cma = k->flags & UNMAPPED_POOL_NODE_HAS_CMA;
		n->hugetlb_total = k->hugetlb_total;
		n->hugetlb_free = k->hugetlb_free;
		n->pool_chunks = k->nr_chunks;
		n->pool_free_pages = k->free_pages;
		n->pool_used_pages = k->used_pages;
		/*
		 * A kernel without empty_chunks leaves it 0; free pages are
		 * then the best bound there is, as they were before it.
		 */
		if (b->features & UNMAPPED_POOL_FEAT_EMPTY_CHUNKS)
			n->pool_empty_chunks = k->empty_chunks;
		else
			n->pool_empty_chunks = k->free_pages / pages_per_chunk(ret);
		n->low_watermark = k->low_watermark;
		n->alloc_failed = k->flags & UNMAPPED_POOL_NODE_ALLOC_FAILED;
		n->fallbacks = k->fallbacks;
		/* Older kernels waited for the resize instead: never set there. */
		n->resizing = k->flags & UNMAPPED_POOL_NODE_RESIZING;
	}
	free(st);
	if (r < 0)
		system_state_done(ret);
	else
		read_guest_memfd(b, ret->guest_memfd, sizeof(ret->guest_memfd));
	return r;
}

bool backend_can_compact(const struct backend *b)
{
	return b->fd >= 0 && (b->features & UNMAPPED_POOL_FEAT_COMPACT);
}

/*
 * One COMPACT ioctl per node: the kernel compacts a node at a time.  A
 * node that fell short (-EAGAIN, with the report saying why) or failed
 * (-ENODEV) does not stop the others, as in a lend or reclaim.  done is
 * the chunks the call emptied; when the target was reached, all that were
 * asked for, even if frees emptied some of them meanwhile.
 */
static int pool_compact(struct backend *b, struct move *moves, size_t n)
{
	bool short_any = false;

	if (!backend_can_compact(b))
		return -EOPNOTSUPP;
	for (size_t i = 0; i < n; i++) {
		struct unmapped_pool_compact_req req = {
			.node = moves[i].node,
			.target = moves[i].compact.target,
			.max_pages = moves[i].compact.max_pages,
		};
		int r = ioctl(b->fd, UNMAPPED_POOL_IOC_COMPACT, &req) < 0 ? -errno : 0;

		moves[i].error = r;
		moves[i].done = 0;
		if (r == 0 || r == -EAGAIN) {
			moves[i].compact = req;
			moves[i].done = r == 0 ? moves[i].count :
				min_u64(moves[i].count, req.chunks_emptied);
		}
		short_any |= r < 0;
	}
	return short_any ? -EAGAIN : 0;
}

static int pool_move(struct backend *b, enum move_dir dir, bool cma_only,
		     struct move *moves, size_t n)
{
	struct unmapped_pool_node_req *reqs;
	struct unmapped_pool_move m = { .nr_reqs = n };
	int r;

	if (n == 0 || n > UNMAPPED_POOL_MAX_NODES)
		return -EINVAL;
	if (dir == MOVE_COMPACT)
		return pool_compact(b, moves, n);
	reqs = calloc(n, sizeof(*reqs));
	if (!reqs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		reqs[i].node = moves[i].node;
		reqs[i].count = moves[i].count;
	}
	m.reqs_ptr = (uintptr_t)reqs;
	if (dir == MOVE_LEND && cma_only)
		m.flags = UNMAPPED_POOL_LEND_NO_HUGETLB;
	r = ioctl(b->fd, dir == MOVE_LEND ? UNMAPPED_POOL_IOC_LEND : UNMAPPED_POOL_IOC_RECLAIM, &m);
	r = r < 0 ? -errno : 0;
	/* -EAGAIN means some node fell short; done and error say which. */
	for (size_t i = 0; (r == 0 || r == -EAGAIN) && i < n; i++) {
		moves[i].done = reqs[i].done;
		moves[i].error = reqs[i].error;
	}
	free(reqs);
	return r;
}

static int pool_set_watermark(struct backend *b, unsigned node, uint64_t low_pages)
{
	struct unmapped_pool_watermark w = { .node = node, .low_pages = low_pages };

	return ioctl(b->fd, UNMAPPED_POOL_IOC_SET_WATERMARK, &w) < 0 ? -errno : 0;
}

/* The kernel takes one word; it refuses anything else with -EINVAL. */
static int pool_set_guest_memfd(struct backend *b, const char *mode)
{
	char path[4096];
	int fd, r;

	if (!(b->features & UNMAPPED_POOL_FEAT_GUEST_MEMFD_MODE))
		return -EOPNOTSUPP;
	snprintf(path, sizeof(path), "%s/" GUEST_MEMFD_FILE, b->root);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = write_all(fd, mode, strlen(mode));
	if (close(fd) < 0 && r >= 0)
		r = -errno;
	return r;
}

static const struct backend_ops pool_ops = {
	.mode = "pool",
	.snapshot = pool_snapshot,
	.move = pool_move,
	.set_watermark = pool_set_watermark,
	.set_guest_memfd = pool_set_guest_memfd,
};

/*
 * Why the pool device at path cannot be used, or "" if it can; fills the
 * pool fields of b from its INFO ioctl.  An operator must be able to tell a
 * stock kernel from a device that the unit's sandbox or an ABI mismatch
 * keeps the daemon from, so each case gets its own words.
 */
static void probe_pool(struct backend *b, const char *path)
{
	struct unmapped_pool_info info = { 0 };

	/*
	 * Read-only: the node is 0444 and the kernel checks CAP_SYS_ADMIN per
	 * ioctl.  Asking for write access would need CAP_DAC_OVERRIDE, which
	 * the unit's CapabilityBoundingSet= rightly does not grant.
	 */
	b->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (b->fd < 0) {
		if (errno == ENOENT)
			snprintf(b->mode_reason, sizeof(b->mode_reason),
				 "kernel has no %s", UNMAPPED_POOL_DEVICE);
		else
			snprintf(b->mode_reason, sizeof(b->mode_reason),
				 "cannot open %s: %s", UNMAPPED_POOL_DEVICE, strerror(errno));
		return;
	}
	if (ioctl(b->fd, UNMAPPED_POOL_IOC_INFO, &info) < 0)
		snprintf(b->mode_reason, sizeof(b->mode_reason),
			 "%s: INFO ioctl failed: %s", UNMAPPED_POOL_DEVICE, strerror(errno));
	else if (info.api_version != UNMAPPED_POOL_API_VERSION)
		snprintf(b->mode_reason, sizeof(b->mode_reason),
			 "%s speaks API version %u, gigapoold version %u",
			 UNMAPPED_POOL_DEVICE, info.api_version, UNMAPPED_POOL_API_VERSION);
	else if (info.nr_node_ids == 0 || info.nr_node_ids > UNMAPPED_POOL_MAX_NODES ||
		 !info.page_size || info.chunk_size < info.page_size)
		snprintf(b->mode_reason, sizeof(b->mode_reason),
			 "%s reports an impossible geometry (%u nodes, page %llu, chunk %llu)",
			 UNMAPPED_POOL_DEVICE, info.nr_node_ids, (unsigned long long)info.page_size,
			 (unsigned long long)info.chunk_size);
	if (b->mode_reason[0]) {
		close(b->fd);
		b->fd = -1;
		return;
	}
	b->ops = &pool_ops;
	b->nr_node_ids = info.nr_node_ids;
	b->chunk_size = info.chunk_size;
	b->page_size = info.page_size;
	b->features = info.features;
}

/*
 * Open the pool device under root.  Without it (a stock kernel) the
 * backend runs in hugetlb-only mode instead of failing: the daemon can
 * still report hugetlb and serve its socket.
 */
int backend_open(const char *root, struct backend **ret)
{
	char path[4096];
	struct backend *b;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->root = strdup(root);
	if (!b->root) {
		free(b);
		return -ENOMEM;
	}
	b->ops = &hugetlb_ops;
	b->chunk_size = GIB;
	b->page_size = 4096;
	snprintf(path, sizeof(path), "%s/%s", strcmp(root, "/") ? root : "",
		 UNMAPPED_POOL_DEVICE + 1);
	probe_pool(b, path);
	*ret = b;
	return 0;
}

void backend_close(struct backend *b)
{
	if (!b)
		return;
	if (b->fd >= 0)
		close(b->fd);
	free(b->root);
	free(b);
}

void system_state_done(struct system_state *s)
{
	free(s->nodes);
	s->nodes = NULL;
	s->n_nodes = 0;
}
