/* SPDX-License-Identifier: GPL-2.0 */
#ifndef GIGAPOOL_BACKEND_H
#define GIGAPOOL_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/unmapped_pool.h>

#include "planner.h"

/* MOVE_COMPACT empties chunks that stay lent: a reclaim gives them back. */
enum move_dir { MOVE_LEND, MOVE_RECLAIM, MOVE_COMPACT };

/* One node's part of a move: what was asked and what the kernel did. */
struct move {
	unsigned node;
	uint64_t count;		/* chunks to lend, to reclaim, or to empty */
	uint64_t done;		/* chunks lent, reclaimed, or emptied */
	int error;		/* 0 or negative errno why done < count */
	/*
	 * MOVE_COMPACT: target and max_pages in (node and the rest are
	 * filled in), the kernel's report out.
	 */
	struct unmapped_pool_compact_req compact;
};

struct backend;

/*
 * Everything gigapoold does to the kernel goes through these operations,
 * so that the pool and the hugetlb-only mode are two tables of the same
 * interface, and tests can point the backend at a fake root.
 */
struct backend_ops {
	const char *mode;
	int (*snapshot)(struct backend *b, struct system_state *ret);
	/*
	 * 0 when every request was met, -EAGAIN when any fell short (done and
	 * error say which), another error when none could be made.
	 * MOVE_COMPACT: -EOPNOTSUPP without backend_can_compact().
	 */
	int (*move)(struct backend *b, enum move_dir dir, bool cma_only,
		    struct move *moves, size_t n);
	int (*set_watermark)(struct backend *b, unsigned node, uint64_t low_pages);
	/* -EOPNOTSUPP: the kernel has no guest_memfd switch. */
	int (*set_guest_memfd)(struct backend *b, const char *mode);
};

struct backend {
	const struct backend_ops *ops;
	char *root;		/* "/" on a real host */
	int fd;			/* /dev/unmapped_pool, or -1 */
	uint32_t nr_node_ids;
	uint64_t chunk_size;
	uint64_t page_size;
	uint64_t features;
	/* Why the pool is not used, for logs and Status; "" in pool mode. */
	char mode_reason[160];
};

int backend_open(const char *root, struct backend **ret);
/* Whether the kernel can empty chunks by moving pages (UNMAPPED_POOL_FEAT_COMPACT). */
bool backend_can_compact(const struct backend *b);
void backend_close(struct backend *b);
void system_state_done(struct system_state *s);

#endif
