/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gigapoold as the simulator runs it: the daemon's own policy parser, pure
 * planner and cycle decisions (daemon/policy.c, planner.c, cycle.c, linked
 * unchanged), driven the way its manager drives them: a cycle on every
 * pool event, on the safety timer, on retries after a shortfall, soon
 * after a cycle that the move budget cut short, and on Reserve and
 * Release.  How far VMs fault before the daemon answers is the caller's
 * choice (sim.c's --react-mib); the kernel side is struct host.
 */
#ifndef SIM_DMODEL_H
#define SIM_DMODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "host.h"

struct dmodel_stats {
	uint64_t cycles;
	uint64_t lend_requested, lent;
	uint64_t reclaim_requested, reclaimed;
	uint64_t reclaim_short_cycles;	/* cycles whose reclaims found too few empty chunks */
	uint64_t event_storms;		/* polls cut off after too many cycles */
	uint64_t more_cycles;		/* cycles run for moves the budget left to them */
	uint64_t more_capped;		/* chains of those ended by MORE_CYCLES_MAX */
	uint64_t compactions;		/* compactions the planner asked for */
	uint64_t compact_pages_moved;
	uint64_t compact_pages_cycle_max;	/* the most pages one cycle's compaction moved */
	uint64_t compact_returned;	/* chunks they emptied and the reclaim after gave back */
	uint64_t compact_short;		/* compactions that emptied fewer chunks than asked */
	uint64_t compact_stuck_pinned, compact_stuck_no_room, compact_stuck_budget;
};

struct dmodel;

/*
 * The policy file is parsed with policy_parse(); errors come back in
 * ret_error.  feat_compact: the model's kernel announces
 * UNMAPPED_POOL_FEAT_COMPACT in INFO.  With it, and the policy's
 * max_compact_pages_per_cycle not 0, cycles ask for compaction when the
 * planner wants it (planner_compact()) and move at most that many pages;
 * otherwise the daemon never compacts, as gigapoold decides
 * (cycle_can_compact()).
 */
int dmodel_new(const char *policy_path, struct host *h, bool feat_compact,
	       struct dmodel **ret, char **ret_error);
void dmodel_free(struct dmodel *d);

/* Run the cycles that timers (safety, retry, move budget) make due up to now_us, in order. */
int dmodel_advance(struct dmodel *d, uint64_t now_us);
/* Run cycles while the kernel reports an event, as poll() would wake the daemon. */
int dmodel_poll(struct dmodel *d, uint64_t now_us);
/* Whether a cycle that the move budget cut short has the next one pending. */
bool dmodel_more_pending(const struct dmodel *d);
/*
 * Run that pending cycle at now_us rather than when it is due: for a caller
 * whose clock stands still while VMs fault and that counts the daemon's
 * delay in memory instead.
 */
int dmodel_more(struct dmodel *d, uint64_t now_us);

/*
 * gigapoolctl reserve [--kind ordinary] / release: the reservation changes,
 * then a cycle runs.  An ordinary one holds free 1 GiB pages, a
 * confidential one free pool chunks.
 */
int dmodel_reserve(struct dmodel *d, const char *owner, uint64_t bytes, bool ordinary,
		   uint64_t now_us);
int dmodel_release(struct dmodel *d, const char *owner, uint64_t now_us);

/* The chunks the policy keeps free at most with no reservation. */
uint64_t dmodel_headroom_high(const struct dmodel *d);
/* The time after which the policy would have given back any surplus. */
uint64_t dmodel_settle_us(const struct dmodel *d);
/* The pages a cycle's compaction may move; 0 when the daemon never compacts. */
uint64_t dmodel_compact_pages(const struct dmodel *d);
void dmodel_stats(const struct dmodel *d, struct dmodel_stats *ret);

#endif
