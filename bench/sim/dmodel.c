// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's cycle (daemon/manager.c, manager_run_cycle()) without its I/O:
 * snapshot, planner_plan(), lends taking free hugetlb pages, lends from
 * CMA, reclaims, compaction before a reclaim when planner_compact() asks
 * for it (gigapoold compacts before the plan's reclaim and gives back both
 * in that one; the chunks given back are the same), low watermark, retry
 * with backoff after a shortfall, and the next cycle soon after one that
 * the move budget cut short.  What to
 * do after the moves is the daemon's own daemon/cycle.c.
 *
 * In the host model the CMA area holds nothing but the 1 GiB hugetlb
 * pages, so a lend from CMA alone finds no room and falls short, as it
 * would on a host whose whole hugetlb_cma= area is in hugetlb pages.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cycle.h"
#include "planner.h"
#include "policy.h"
#include "util.h"

#include "array.h"
#include "dmodel.h"

#define PAGE_BYTES	4096ULL
/* A daemon woken again and again without the events stopping is a bug. */
#define MAX_POLL_CYCLES	1000
/* CLOCK_MONOTONIC is not 0 when the daemon starts, and 0 means "never moved". */
#define CLOCK_OFFSET_US	USEC_PER_SEC

struct dmodel {
	struct host *host;
	struct policy *policy;
	struct reservation *resv;
	size_t n_resv, cap_resv;
	uint64_t last_lend_us;
	uint64_t watermark;
	bool watermark_set;
	struct cycle_sched sched;
	uint64_t retry_at;		/* 0: no retry pending */
	uint64_t more_at;		/* 0: no cycle pending for moves the budget left */
	uint64_t next_timer;
	bool feat_compact;		/* the kernel announces UNMAPPED_POOL_FEAT_COMPACT */
	struct dmodel_stats stats;
};

int dmodel_new(const char *policy_path, struct host *h, bool feat_compact,
	       struct dmodel **ret, char **ret_error)
{
	struct dmodel *d = calloc(1, sizeof(*d));
	int r;

	*ret_error = NULL;
	if (!d)
		return -ENOMEM;
	r = policy_load(policy_path, &d->policy, ret_error);
	if (r < 0) {
		free(d);
		return r;
	}
	d->host = h;
	d->feat_compact = feat_compact;
	*ret = d;
	return 0;
}

void dmodel_free(struct dmodel *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_resv; i++)
		free(d->resv[i].owner);
	free(d->resv);
	policy_free(d->policy);
	free(d);
}

static void snapshot(const struct dmodel *d, uint64_t now_us, struct node_state *n,
		     struct system_state *ret)
{
	struct host_stats st;

	host_stats(d->host, &st);
	*n = (struct node_state){
		.node = 0, .online = true, .has_cma = true,
		.hugetlb_total = st.hugetlb_total, .hugetlb_free = st.hugetlb_free,
		.pool_chunks = st.chunks, .pool_free_pages = st.free_pages,
		.pool_used_pages = st.used_pages, .pool_empty_chunks = st.empty_chunks,
		.low_watermark = st.low_watermark,
		.last_lend_usec = d->last_lend_us,
	};
	*ret = (struct system_state){
		.pool_available = true, .chunk_size = GIB, .page_size = PAGE_BYTES,
		.now_usec = now_us + CLOCK_OFFSET_US,
		.hugetlb = { .known = true, .total = st.hugetlb_total, .free = st.hugetlb_free },
		.n_nodes = 1, .nodes = n,
	};
}

/* Do count moves one chunk at a time, as the kernel's ioctls do; returns those done. */
static uint64_t move(struct host *h, int (*op)(struct host *), uint64_t count)
{
	uint64_t done = 0;

	while (done < count && op(h) == 0)
		done++;
	return done;
}

/* A lend from CMA alone: the model's CMA area has no room outside hugetlb. */
static int lend_cma(struct host *h)
{
	(void)h;
	return -ENOMEM;
}

/* The daemon's decisions after a cycle (daemon/cycle.c), on the model's clock. */
static void schedule(struct dmodel *d, uint64_t deferred, uint64_t moved, bool shortfall,
		     uint64_t now_us)
{
	uint64_t delay;

	if (cycle_retry(&d->sched, d->policy, shortfall, &delay) == CYCLE_NEXT_AFTER)
		d->retry_at = now_us + delay;
	switch (cycle_more(&d->sched, deferred, moved, shortfall, &delay)) {
	case CYCLE_NEXT_AFTER:
		d->more_at = now_us + delay;
		return;
	case CYCLE_NEXT_GIVE_UP:
		d->stats.more_capped++;
		break;
	case CYCLE_NEXT_NONE:
		break;
	}
	d->more_at = 0;
}

/*
 * Empty np->compact chunks more than are empty after the cycle's reclaims,
 * moving at most the pages the policy's max_compact_pages_per_cycle gives
 * the node (cycle_compact_pages(), as gigapoold shares it out; the one
 * node has it all), and give back those it emptied; returns the chunks
 * given back.  Chunks left for the page cap are left to the next cycle,
 * as the move budget's are (*deferred); chunks that found no room, or
 * only pinned ones, are a shortfall.
 */
static uint64_t compact(struct dmodel *d, const struct system_state *s,
			const struct node_plan *np, uint64_t *deferred, bool *shortfall)
{
	uint64_t budget = d->policy->max_compact_pages_per_cycle;
	struct host_compact hc;
	struct host_stats st;
	uint64_t returned, max_pages;

	if (!np->compact)
		return 0;
	max_pages = cycle_compact_pages(&budget, np->compact, pages_per_chunk(s));
	host_stats(d->host, &st);
	if (host_compact(d->host, st.empty_chunks + np->compact, max_pages, &hc) < 0) {
		*shortfall = true;
		return 0;
	}
	d->stats.compactions++;
	d->stats.compact_pages_moved += hc.pages_moved;
	if (hc.pages_moved > d->stats.compact_pages_cycle_max)
		d->stats.compact_pages_cycle_max = hc.pages_moved;
	d->stats.compact_short += hc.emptied < np->compact;
	d->stats.compact_stuck_pinned += hc.stuck_pinned;
	d->stats.compact_stuck_no_room += hc.stuck_no_room;
	d->stats.compact_stuck_budget += hc.stuck_budget;
	if (hc.emptied < np->compact && hc.stuck_budget)
		*deferred += np->compact - hc.emptied;
	else if (hc.emptied < np->compact)
		*shortfall = true;
	returned = move(d->host, host_reclaim, hc.emptied);
	*shortfall |= returned < hc.emptied;
	d->stats.compact_returned += returned;
	return returned;
}

static int cycle(struct dmodel *d, uint64_t now_us)
{
	struct node_state n;
	struct system_state s;
	struct node_plan *np;
	struct plan plan;
	uint64_t lent, lent_cma, reclaimed, compacted, deferred;
	bool shortfall;
	int r;

	snapshot(d, now_us, &n, &s);
	/* The STATS ioctl acknowledges the event and reports failures since the last one. */
	n.alloc_failed = host_snapshot_ack(d->host);
	r = planner_plan(&s, d->policy, d->resv, d->n_resv, &plan);
	if (r < 0)
		return r;
	/* gigapoold's manager_plan(), with the model's kernel's INFO features. */
	if (cycle_can_compact(d->feat_compact, d->policy))
		planner_compact(&s, d->policy, &plan);
	np = &plan.nodes[0];
	lent = move(d->host, host_lend, np->lend);
	lent_cma = move(d->host, lend_cma, np->lend_cma);
	reclaimed = move(d->host, host_reclaim, np->reclaim);
	shortfall = lent < np->lend || lent_cma < np->lend_cma || reclaimed < np->reclaim;
	deferred = np->deferred;
	compacted = compact(d, &s, np, &deferred, &shortfall);
	if (lent + lent_cma)
		d->last_lend_us = s.now_usec;
	/* Only this sets the model's watermark: the cycle's snapshot reads back the last one set. */
	if (cycle_watermark(d->watermark_set, d->watermark, n.low_watermark,
			    np->low_watermark_pages) != CYCLE_WATERMARK_KEEP) {
		host_set_watermark(d->host, np->low_watermark_pages);
		d->watermark = np->low_watermark_pages;
		d->watermark_set = true;
	}
	d->stats.cycles++;
	d->stats.lend_requested += np->lend + np->lend_cma;
	d->stats.lent += lent + lent_cma;
	d->stats.reclaim_requested += np->reclaim;
	d->stats.reclaimed += reclaimed;
	d->stats.reclaim_short_cycles += reclaimed < np->reclaim;
	schedule(d, deferred, lent + lent_cma + reclaimed + compacted, shortfall, now_us);
	plan_done(&plan);
	return 0;
}

int dmodel_poll(struct dmodel *d, uint64_t now_us)
{
	for (unsigned i = 0; host_event_pending(d->host); i++) {
		int r;

		if (i == MAX_POLL_CYCLES) {
			d->stats.event_storms++;
			host_snapshot_ack(d->host);
			return 0;
		}
		r = cycle(d, now_us);
		if (r < 0)
			return r;
	}
	return 0;
}

/* A cycle, then whatever events it raised, as the daemon's poll loop would see them. */
static int cycle_and_poll(struct dmodel *d, uint64_t now_us)
{
	int r = cycle(d, now_us);

	return r < 0 ? r : dmodel_poll(d, now_us);
}

bool dmodel_more_pending(const struct dmodel *d)
{
	return d->more_at != 0;
}

int dmodel_more(struct dmodel *d, uint64_t now_us)
{
	if (!d->more_at)
		return 0;
	d->more_at = 0;
	d->stats.more_cycles++;
	return cycle_and_poll(d, now_us);
}

int dmodel_advance(struct dmodel *d, uint64_t now_us)
{
	uint64_t interval = d->policy->interval_sec * USEC_PER_SEC;

	for (;;) {
		/* The safety timer is always armed; on a tie it goes first. */
		uint64_t *due = &d->next_timer;
		uint64_t at;
		int r;

		if (d->retry_at && d->retry_at < *due)
			due = &d->retry_at;
		if (d->more_at && d->more_at < *due)
			due = &d->more_at;
		at = *due;
		if (at > now_us)
			return 0;
		if (due == &d->next_timer)
			d->next_timer += interval;
		else
			*due = 0;
		d->stats.more_cycles += due == &d->more_at;
		r = cycle_and_poll(d, at);
		if (r < 0)
			return r;
	}
}

int dmodel_reserve(struct dmodel *d, const char *owner, uint64_t bytes, bool ordinary,
		   uint64_t now_us)
{
	enum resv_kind kind = ordinary ? RESV_ORDINARY : RESV_CONFIDENTIAL;
	struct node_state n;
	struct system_state s;
	struct reservation *r;

	if (array_room(&d->resv, &d->cap_resv, d->n_resv, sizeof(*d->resv), 16) < 0)
		return -ENOMEM;
	snapshot(d, now_us, &n, &s);
	r = &d->resv[d->n_resv];
	*r = (struct reservation){ .bytes = bytes, .any = true, .kind = kind };
	r->node = planner_place(&s, d->policy, d->resv, d->n_resv, kind);
	r->owner = strdup(owner);
	if (!r->owner || r->node < 0) {
		free(r->owner);
		return r->node < 0 ? r->node : -ENOMEM;
	}
	d->n_resv++;
	return cycle_and_poll(d, now_us);
}

int dmodel_release(struct dmodel *d, const char *owner, uint64_t now_us)
{
	for (size_t i = 0; i < d->n_resv; i++)
		if (strcmp(d->resv[i].owner, owner) == 0) {
			free(d->resv[i].owner);
			d->resv[i] = d->resv[--d->n_resv];
			return cycle_and_poll(d, now_us);
		}
	return -ENOENT;
}

uint64_t dmodel_headroom_high(const struct dmodel *d)
{
	struct node_state n;
	struct system_state s;
	struct node_policy pol;

	snapshot(d, 0, &n, &s);
	return planner_node_policy(d->policy, &n, &pol)->headroom_high;
}

uint64_t dmodel_settle_us(const struct dmodel *d)
{
	return (policy_node(d->policy, 0)->cooldown_sec + 2 * d->policy->interval_sec) *
	       USEC_PER_SEC;
}

uint64_t dmodel_compact_pages(const struct dmodel *d)
{
	return cycle_can_compact(d->feat_compact, d->policy) ?
	       d->policy->max_compact_pages_per_cycle : 0;
}

void dmodel_stats(const struct dmodel *d, struct dmodel_stats *ret)
{
	*ret = d->stats;
}
