/* SPDX-License-Identifier: GPL-2.0 */
#ifndef GIGAPOOL_CYCLE_H
#define GIGAPOOL_CYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/unmapped_pool.h>

#include "policy.h"

/* What the daemon keeps between cycles to decide when the next one runs. */
struct cycle_sched {
	unsigned retries;	/* retries in a row after cycles that fell short */
	unsigned more;		/* cycles in a row run for moves the budget left */
};

/* When to run a cycle ahead of the next event or the safety timer. */
enum cycle_next {
	CYCLE_NEXT_NONE,	/* no early cycle is wanted */
	CYCLE_NEXT_AFTER,	/* run one after *ret_delay_usec */
	CYCLE_NEXT_GIVE_UP,	/* one is wanted but the limit in a row is reached */
};

/* What to do with a node's low watermark after a cycle. */
enum cycle_watermark {
	CYCLE_WATERMARK_KEEP,	/* the kernel holds what was set, and the plan wants it */
	CYCLE_WATERMARK_SET,	/* set the plan's value */
	CYCLE_WATERMARK_RESET,	/* the kernel holds another value than set: set it again */
};

/*
 * A retry after a cycle that fell short.  CYCLE_NEXT_NONE and
 * CYCLE_NEXT_GIVE_UP leave a retry already pending as it is.
 */
enum cycle_next cycle_retry(struct cycle_sched *c, const struct policy *p, bool shortfall,
			    uint64_t *ret_delay_usec);
/*
 * The cycle after one that the move budget cut short: deferred chunks the
 * planner left for later, moved chunks this cycle's moves achieved.
 * CYCLE_NEXT_NONE and CYCLE_NEXT_GIVE_UP cancel one already pending.
 */
enum cycle_next cycle_more(struct cycle_sched *c, uint64_t deferred, uint64_t moved,
			   bool shortfall, uint64_t *ret_delay_usec);
/* The chunks a node must hold when a cycle's moves are read back. */
uint64_t cycle_read_back_chunks(uint64_t before, uint64_t lent, uint64_t reclaimed);
/* What one node's compaction leaves to the rest of the cycle and the next ones. */
struct cycle_compacted {
	uint64_t reclaim;	/* chunks it emptied: given back in this cycle */
	uint64_t deferred;	/* chunks only the page budget left: the next cycle soon */
	bool shortfall;		/* chunks stuck otherwise (pinned, no room, busy): retry */
};

/*
 * Whether a cycle asks for compaction at all (planner_compact()): the
 * kernel announces UNMAPPED_POOL_FEAT_COMPACT (feat_compact) and the
 * policy's max_compact_pages_per_cycle is not 0.
 */
bool cycle_can_compact(bool feat_compact, const struct policy *p);
/*
 * The pages the compaction of chunks chunks on one node may move, taken
 * from what the cycle's page budget has left; 0 when it is spent.
 */
uint64_t cycle_compact_pages(uint64_t *budget, uint64_t chunks, uint64_t pages_per_chunk);
/*
 * After a compaction asked to empty count chunks and emptied done of them:
 * error is the ioctl's (0, -EAGAIN with report saying why, or another).
 */
void cycle_compacted(uint64_t count, uint64_t done, int error,
		     const struct unmapped_pool_compact_req *report, struct cycle_compacted *ret);
/*
 * Why a compaction stopped short, for one log line: the report's pages per
 * reason ("812 pages pinned, 3 busy"), or the error.
 */
void cycle_compact_why(int error, const struct unmapped_pool_compact_req *report, char *buf,
		       size_t size);
/*
 * The low watermark: is_set and set_pages, what the daemon last set;
 * kernel_pages, what the kernel reports; want_pages, what the plan asks.
 */
enum cycle_watermark cycle_watermark(bool is_set, uint64_t set_pages, uint64_t kernel_pages,
				     uint64_t want_pages);

#endif
