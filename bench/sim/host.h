/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The host: its 1 GiB hugetlb pages, of which some are lent to the
 * unmapped pool as chunks, and the pool itself, whose placement is the
 * kernel's (kernel/tree/mm/unmapped_pool_place.c, compiled unchanged) or a
 * first-fit baseline.  One NUMA node.
 */
#ifndef SIM_HOST_H
#define SIM_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum placement {
	PLACE_FIRST_FIT,	/* lowest free address, no owners (the 2023 RFC) */
	PLACE_FULLEST_FIRST,	/* the kernel's code with no owner for anything */
	PLACE_OWNER_AFFINE,	/* the kernel's code as it is */
};

/* Where an allocation went: host page (chunk) and first page inside it. */
struct alloc_rec {
	uint32_t index;
	uint16_t slot;
	uint8_t order;
	bool pinned;		/* may not move: SEV-SNP private memory, say */
};

struct host_stats {
	uint64_t chunks;		/* lent to the pool */
	uint64_t used_pages;		/* pool pages handed out */
	uint64_t free_pages;		/* pool pages free */
	uint64_t used_chunks;		/* chunks with a page handed out */
	uint64_t empty_chunks;		/* chunks - used_chunks: what a reclaim can give back */
	uint64_t stranded;		/* used_chunks - ceil(used_pages / chunk) */
	uint64_t hugetlb_free;		/* free 1 GiB hugetlb pages */
	uint64_t hugetlb_total;		/* 1 GiB hugetlb pages, free or used */
	uint64_t low_watermark;		/* pages */
	uint64_t lends, reclaims;
};

struct host;

const char *placement_name(enum placement p);
int placement_parse(const char *name, enum placement *ret);

/* check: keep an independent model of every chunk for host_verify(). */
int host_new(unsigned host_gib, enum placement placement, bool check, struct host **ret);
void host_free(struct host *h);

/*
 * Pool pages of one owner (cookie, never 0, each with its placement state);
 * -ENOMEM when the pool has no room.
 */
int host_alloc(struct host *h, unsigned long cookie, unsigned order, bool pinned,
	       struct alloc_rec *ret);
void host_put(struct host *h, const struct alloc_rec *rec);

/* Lend a free 1 GiB page (-ENOMEM: none) or give an empty chunk back (-EBUSY: none). */
int host_lend(struct host *h);
int host_reclaim(struct host *h);

/* What a compaction achieved, as unmapped_pool_compact_plan() reports it. */
struct host_compact {
	uint64_t moves, pages_moved, emptied;
	uint64_t stuck_pinned, stuck_no_room, stuck_budget;
};

/* A block a compaction moved: each page keeps its offset in the block. */
struct host_move {
	uint16_t src_slot, src_block, dst_slot, dst_block;
};

/* Called after each compaction with the blocks it moved. */
typedef void (*host_moved_fn)(void *data, const struct host_move *moves, size_t n);
void host_on_move(struct host *h, host_moved_fn fn, void *data);

/*
 * Empty chunks until target of them are empty, moving at most max_pages,
 * with the kernel's planner (unmapped_pool_compact_plan()); the moves are
 * done at once, as the mechanism would, and each one reported.
 */
int host_compact(struct host *h, uint64_t target, uint64_t max_pages, struct host_compact *ret);

/* 1 GiB hugetlb pages of ordinary VMs; -ENOMEM when too few are free. */
int host_hugetlb_take(struct host *h, unsigned pages);
void host_hugetlb_put(struct host *h, unsigned pages);

void host_stats(const struct host *h, struct host_stats *ret);

/*
 * The kernel's event interface, as the daemon sees it through
 * /dev/unmapped_pool: a low watermark, poll() readiness, and whether an
 * allocation failed since the last snapshot.  A snapshot acknowledges the
 * event and the failures.
 */
void host_set_watermark(struct host *h, uint64_t pages);
bool host_event_pending(const struct host *h);
bool host_snapshot_ack(struct host *h);

/*
 * Compare every chunk touched since the last call with the independent
 * model (and check each allocation and free as it happened); 0 or
 * -EBADMSG with a description.
 */
int host_verify(struct host *h, char **ret_error);

/*
 * Show that host_verify() is not vacuous: plant a wrong block counter and
 * a page handed out twice in a scratch host; 0 if both were caught.
 */
int host_selftest(char **ret_error);

#endif
