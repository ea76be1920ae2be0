/* SPDX-License-Identifier: GPL-2.0 */
#ifndef GIGAPOOL_PLANNER_H
#define GIGAPOOL_PLANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

#define NODE_ANY (-1)

/* What the kernel reported for one node, plus the daemon's move history. */
struct node_state {
	unsigned node;
	bool online;
	bool has_cma;
	uint64_t hugetlb_total;
	uint64_t hugetlb_free;
	uint64_t pool_chunks;
	uint64_t pool_free_pages;
	uint64_t pool_used_pages;
	/*
	 * Chunks no page is in use of: what a reclaim can give back.  Free
	 * pages spread over chunks in use count in pool_free_pages only.
	 */
	uint64_t pool_empty_chunks;
	uint64_t low_watermark;		/* pages, as the kernel reports it */
	bool alloc_failed;		/* the pool failed an allocation since the last snapshot */
	uint64_t fallbacks;		/* allocations served outside the pool since boot */
	/*
	 * fallbacks rose since the last cycle planned the node: memfd_secret,
	 * or guest_memfd under the kernel's "prefer", took ordinary memory
	 * because the pool was full.  Demand, like alloc_failed.
	 */
	bool fell_back;
	/*
	 * A chunk of the node was on its way into or out of the pool (lent
	 * or reclaimed by someone else: the kernel's shrinker, a hand-run
	 * write to nr_chunks), so its counts may not add up.
	 */
	bool resizing;
	uint64_t last_lend_usec;	/* 0: never */
};

/* The global 1 GiB hugetlb counters of /sys/kernel/mm/hugepages. */
struct hugetlb_global {
	bool known;			/* false: the files were missing */
	uint64_t total, free, resv, surplus;
};

struct system_state {
	bool pool_available;		/* false: hugetlb-only mode */
	uint64_t chunk_size;		/* bytes */
	uint64_t page_size;		/* bytes */
	uint64_t now_usec;		/* CLOCK_MONOTONIC */
	struct hugetlb_global hugetlb;
	/* The kernel's guest_memfd switch as read back; "" when it has none. */
	char guest_memfd[16];
	size_t n_nodes;
	struct node_state *nodes;
};

/* What a reservation holds on its node until it is released. */
enum resv_kind {
	RESV_CONFIDENTIAL,		/* free pool chunks, for a confidential VM */
	RESV_ORDINARY,			/* free 1 GiB hugetlb pages, for an ordinary VM */
};

struct reservation {
	char *owner;
	enum resv_kind kind;
	uint64_t bytes;
	int node;			/* where the capacity is held */
	bool any;			/* the owner let the daemon choose node */
	uint64_t created;		/* CLOCK_REALTIME seconds */
};

/* Why the planner moves chunks on a node; the daemon logs it. */
enum plan_reason {
	REASON_NONE,
	/*
	 * Lend: confidential reservations need more free chunks; reclaim:
	 * ordinary ones need more free 1 GiB pages.
	 */
	REASON_RESERVATION,
	REASON_HEADROOM,	/* lend: free chunks below headroom_low */
	REASON_SURPLUS,		/* reclaim: free chunks above headroom_high */
	REASON_HUGETLB,		/* reclaim: ordinary VMs lack free 1 GiB pages */
	REASON_CAP,		/* reclaim: more chunks than max_pool_chunks */
};

struct node_plan {
	unsigned node;
	uint64_t reserved_chunks;	/* chunks confidential reservations hold on the node */
	uint64_t ordinary_pages;	/* 1 GiB pages ordinary reservations hold on the node */
	uint64_t lend;			/* chunks to lend taking free hugetlb pages first */
	uint64_t lend_cma;		/* chunks to lend from CMA only */
	uint64_t reclaim;		/* chunks to give back to hugetlb */
	uint64_t compact;		/* chunks to empty by moving pages, then give back */
	uint64_t shortfall;		/* chunks wanted that no source can give */
	/*
	 * 1 GiB pages ordinary reservations lack that no empty chunk can
	 * give now: pending until chunks empty (or free pages come).
	 */
	uint64_t ordinary_shortfall;
	uint64_t deferred;		/* chunks wanted that the move budget left to a later cycle */
	uint64_t low_watermark_pages;	/* poll() wakes us below this */
	bool resizing;			/* not planned: its counts were in flux */
	enum plan_reason reason;
};

struct plan {
	size_t n_nodes;
	struct node_plan *nodes;	/* same order as system_state.nodes */
};

/* The policy of node n, its shares turned into counts for the node; in buf. */
const struct node_policy *planner_node_policy(const struct policy *p, const struct node_state *n,
					      struct node_policy *buf);
/* Pages of page_size per chunk; 1 for sizes that make no sense. */
uint64_t pages_per_chunk(const struct system_state *s);
const char *plan_reason_name(enum plan_reason r);
int planner_plan(const struct system_state *s, const struct policy *p,
		 const struct reservation *res, size_t n_res, struct plan *ret);
uint64_t planner_reserved(const struct system_state *s, const struct reservation *res,
			  size_t n_res, unsigned node, enum resv_kind kind);
/*
 * Compaction before reclaim, after planner_plan(): on each node whose
 * ordinary VMs lack free 1 GiB pages (keep_free_hugetlb and ordinary
 * reservations) that the plan's reclaims of empty chunks do not give,
 * while the pool's free pages would make whole chunks, ask to empty that
 * many chunks more by moving their pages into the holes of others, and to
 * give them back: plan.nodes[].compact, within the move budget that the
 * plan left.  Otherwise those free pages, spread over chunks in use, never
 * become a 1 GiB page.
 */
void planner_compact(const struct system_state *s, const struct policy *p, struct plan *plan);
int planner_place(const struct system_state *s, const struct policy *p,
		  const struct reservation *res, size_t n_res, enum resv_kind kind);
void plan_done(struct plan *plan);

#endif
