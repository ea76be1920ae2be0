/* SPDX-License-Identifier: GPL-2.0 */
#ifndef GIGAPOOL_CYCLE_H
#define GIGAPOOL_CYCLE_H

#include <stdbool.h>
#include <stdint.h>

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
/*
 * The low watermark: is_set and set_pages, what the daemon last set;
 * kernel_pages, what the kernel reports; want_pages, what the plan asks.
 */
enum cycle_watermark cycle_watermark(bool is_set, uint64_t set_pages, uint64_t kernel_pages,
				     uint64_t want_pages);

#endif
