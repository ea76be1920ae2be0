// SPDX-License-Identifier: GPL-2.0
/*
 * The planner turns a snapshot of the kernel, the policy and the
 * reservations into chunk moves per node.  It is pure: no I/O, no globals,
 * no clock (the caller passes the time), so the daemon, gigapoolctl plan,
 * the unit tests and a simulator all run this very code.
 *
 * Reservations come first: their deficits are planned for every node
 * before any headroom.  A confidential reservation holds free pool chunks
 * and may use free 1 GiB pages that keep_free_hugetlb would otherwise hold
 * back; an ordinary one holds free 1 GiB hugetlb pages, which nothing
 * lends away, and takes empty chunks back from the pool when the node has
 * too few.  Headroom is kept in a band
 * [headroom_low, headroom_high] of free chunks above the reserved ones;
 * lending stops at high and reclaiming starts above high, so a pool inside
 * the band is left alone (hysteresis), unless the kernel reports that an
 * allocation from it failed or fell back to ordinary memory.
 *
 * The cooldown only delays reclaims that are a matter of choice (surplus
 * above the band, pages for ordinary VMs) after a lend on the node; it
 * never delays a lend.  gigapool-policy(5), PLANNING, says why.
 */
#include <errno.h>
#include <stdlib.h>

#include "planner.h"
#include "util.h"

const char *plan_reason_name(enum plan_reason r)
{
	static const char *const names[] = {
		[REASON_NONE] = "none",
		[REASON_RESERVATION] = "reservation",
		[REASON_HEADROOM] = "headroom",
		[REASON_SURPLUS] = "surplus",
		[REASON_HUGETLB] = "hugetlb",
		[REASON_CAP] = "cap",
	};

	return r < ARRAY_SIZE(names) ? names[r] : "unknown";
}

static bool node_managed(const struct system_state *s, const struct node_state *n,
			 const struct policy *p)
{
	return s->pool_available && n->online && !policy_node(p, n->node)->excluded;
}

/*
 * A node whose chunk was on its way when the snapshot was taken gets no
 * moves: its chunk and hugetlb counts may miss that chunk, and a plan on
 * them could lend or reclaim one chunk too many.  The manager runs the
 * cycle again shortly (plan.nodes[].resizing).
 */
static bool node_plannable(const struct system_state *s, const struct node_state *n,
			   const struct policy *p)
{
	return node_managed(s, n, p) && !n->resizing;
}

/*
 * Shares in the policy are of the node's 1 GiB pages: hugetlb's and the
 * chunks lent to the pool, whichever way they went.
 */
const struct node_policy *planner_node_policy(const struct policy *p, const struct node_state *n,
					      struct node_policy *buf)
{
	node_policy_resolve(policy_node(p, n->node), n->hugetlb_total + n->pool_chunks, buf);
	return buf;
}

uint64_t pages_per_chunk(const struct system_state *s)
{
	return s->page_size && s->chunk_size >= s->page_size ? s->chunk_size / s->page_size : 1;
}

/*
 * Chunks (confidential) or 1 GiB pages (ordinary: a chunk is one 1 GiB
 * page lent) that reservations of one kind hold on a node.
 */
uint64_t planner_reserved(const struct system_state *s, const struct reservation *res,
			  size_t n_res, unsigned node, enum resv_kind kind)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n_res; i++)
		if (res[i].node == (int)node && res[i].kind == kind)
			sum += div_round_up(res[i].bytes, s->chunk_size);
	return sum;
}

static bool cooled_down(const struct system_state *s, uint64_t last, uint64_t cooldown_sec)
{
	return last == 0 || s->now_usec >= last + cooldown_sec * USEC_PER_SEC;
}

struct budget {
	uint64_t global;
	uint64_t *node;
	uint64_t hugetlb;	/* free 1 GiB pages no hugetlb reservation needs */
};

/*
 * Take up to want moves from the budgets of the cycle and of node i; what
 * they withhold is left to a later cycle.  Pass 2 asks again for what pass
 * 1 could not take on the same node (its target includes the reserved
 * chunks), so the last request on a node says how much is deferred.
 */
static uint64_t take_budget(struct budget *b, size_t i, struct node_plan *np, uint64_t want)
{
	uint64_t n = min_u64(want, min_u64(b->global, b->node[i]));

	b->global -= n;
	b->node[i] -= n;
	np->deferred = want - n;
	return n;
}

/*
 * Lend count chunks: free hugetlb pages above keep first (keep is what
 * ordinary reservations hold, plus keep_free_hugetlb for headroom), then
 * CMA if the node has an area; the rest is shortfall.
 * Free pages that hugetlb has promised to mappings (resv_hugepages) are
 * not free to lend: a VM faulting them in later would get SIGBUS.
 */
static void plan_lend(const struct node_state *n, struct node_plan *np, struct budget *b,
		      uint64_t count, uint64_t keep, enum plan_reason reason)
{
	uint64_t from_hugetlb = min_u64(count, sub_sat(sub_sat(n->hugetlb_free, np->lend), keep));
	uint64_t rest;

	from_hugetlb = min_u64(from_hugetlb, b->hugetlb);
	b->hugetlb -= from_hugetlb;
	rest = count - from_hugetlb;
	if (count == 0)
		return;
	np->lend += from_hugetlb;
	if (n->has_cma)
		np->lend_cma += rest;
	else
		np->shortfall += rest;
	if (np->reason == REASON_NONE)
		np->reason = reason;
}

/*
 * Chunks ordinary VMs want back from a node as a matter of choice: the
 * free 1 GiB pages that keep_free_hugetlb and the ordinary reservations
 * lack, as far as the pool's free pages above the reserved chunks and
 * headroom_low make chunks.  Not during the cooldown.
 */
static uint64_t hugetlb_wanted(const struct system_state *s, const struct node_state *n,
			       const struct node_policy *pol, const struct node_plan *np)
{
	uint64_t free_chunks = n->pool_free_pages / pages_per_chunk(s);

	if (!cooled_down(s, n->last_lend_usec, pol->cooldown_sec))
		return 0;
	return min_u64(sub_sat(pol->keep_free_hugetlb + np->ordinary_pages, n->hugetlb_free),
		       sub_sat(free_chunks, np->reserved_chunks + pol->headroom_low));
}

/*
 * Empty chunks that ordinary reservations lacking free 1 GiB pages take
 * back: below the headroom if need be, but never the free chunks
 * confidential reservations hold.  What no empty chunk can give now is
 * pending (ordinary_shortfall): the next cycles try again, and
 * planner_compact() asks to empty chunks for it.
 */
static uint64_t ordinary_reclaim(const struct system_state *s, const struct node_state *n,
				 const struct node_plan *np)
{
	uint64_t spare = sub_sat(n->pool_free_pages / pages_per_chunk(s), np->reserved_chunks);

	return min_u64(sub_sat(np->ordinary_pages, n->hugetlb_free),
		       min_u64(n->pool_empty_chunks, spare));
}

/*
 * Reclaims of choice and of the cap, on top of what ordinary reservations
 * took in pass 1: the largest want wins.
 */
static void plan_node_reclaim(const struct system_state *s, const struct node_state *n,
			      const struct node_policy *pol, struct node_plan *np,
			      struct budget *b, size_t i)
{
	uint64_t free_chunks = n->pool_free_pages / pages_per_chunk(s);
	uint64_t want = ordinary_reclaim(s, n, np), r;
	enum plan_reason reason = want > 0 ? REASON_RESERVATION : REASON_NONE;

	if (cooled_down(s, n->last_lend_usec, pol->cooldown_sec)) {
		uint64_t surplus = sub_sat(free_chunks, np->reserved_chunks + pol->headroom_high);
		uint64_t hugetlb = hugetlb_wanted(s, n, pol, np);

		if (surplus > want) {
			want = surplus;
			reason = REASON_SURPLUS;
		}
		if (hugetlb > want) {
			want = hugetlb;
			reason = REASON_HUGETLB;
		}
	}
	/* The cap is a hard limit: it applies even during the cooldown. */
	if (sub_sat(n->pool_chunks, pol->max_pool_chunks) > want) {
		want = sub_sat(n->pool_chunks, pol->max_pool_chunks);
		reason = REASON_CAP;
	}
	/*
	 * Only empty chunks can go back.  Free pages spread over chunks in use
	 * (stranded ones among them) add up to free chunks too, but a reclaim
	 * asking for those would fall short and be retried for nothing.
	 */
	r = take_budget(b, i, np, sub_sat(min_u64(want, n->pool_empty_chunks), np->reclaim));
	np->reclaim += r;
	if (np->reclaim > 0)
		np->reason = reason;
}

int planner_plan(const struct system_state *s, const struct policy *p,
		 const struct reservation *res, size_t n_res, struct plan *ret)
{
	struct budget b = {
		.global = p->max_moves_per_cycle,
		.hugetlb = s->hugetlb.known ? sub_sat(s->hugetlb.free, s->hugetlb.resv) : UINT64_MAX,
	};
	uint64_t ppc = pages_per_chunk(s);

	ret->n_nodes = s->n_nodes;
	ret->nodes = calloc(s->n_nodes ? s->n_nodes : 1, sizeof(*ret->nodes));
	b.node = calloc(s->n_nodes ? s->n_nodes : 1, sizeof(*b.node));
	if (!ret->nodes || !b.node) {
		free(b.node);
		plan_done(ret);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->n_nodes; i++) {
		const struct node_state *n = &s->nodes[i];
		struct node_policy pol_buf;
		const struct node_policy *pol = planner_node_policy(p, n, &pol_buf);
		struct node_plan *np = &ret->nodes[i];

		np->node = n->node;
		np->resizing = n->resizing;
		np->reserved_chunks = planner_reserved(s, res, n_res, n->node, RESV_CONFIDENTIAL);
		np->ordinary_pages = planner_reserved(s, res, n_res, n->node, RESV_ORDINARY);
		b.node[i] = pol->max_moves;
		if (node_managed(s, n, p))
			np->low_watermark_pages = (np->reserved_chunks + pol->headroom_low) * ppc;
	}

	/*
	 * Pass 1: reservation deficits on every node: lends for confidential
	 * ones (within the cap), reclaims for ordinary ones.
	 */
	for (size_t i = 0; i < s->n_nodes; i++) {
		const struct node_state *n = &s->nodes[i];
		struct node_policy pol_buf;
		const struct node_policy *pol = planner_node_policy(p, n, &pol_buf);
		struct node_plan *np = &ret->nodes[i];
		uint64_t deficit, want;

		if (!node_plannable(s, n, p))
			continue;
		deficit = min_u64(sub_sat(np->reserved_chunks, n->pool_free_pages / ppc),
				  sub_sat(pol->max_pool_chunks, n->pool_chunks));
		if (deficit > 0)
			plan_lend(n, np, &b, take_budget(&b, i, np, deficit), np->ordinary_pages,
				  REASON_RESERVATION);
		/* Nothing to reclaim while confidential ones lack chunks: none is spare. */
		want = ordinary_reclaim(s, n, np);
		np->ordinary_shortfall = sub_sat(np->ordinary_pages, n->hugetlb_free) - want;
		if (want > 0)
			np->reclaim = take_budget(&b, i, np, want);
		if (np->reclaim > 0)
			np->reason = REASON_RESERVATION;
	}

	/* Pass 2: headroom below the band, otherwise reclaim above it. */
	for (size_t i = 0; i < s->n_nodes; i++) {
		const struct node_state *n = &s->nodes[i];
		struct node_policy pol_buf;
		const struct node_policy *pol = planner_node_policy(p, n, &pol_buf);
		struct node_plan *np = &ret->nodes[i];
		uint64_t have = n->pool_free_pages / ppc + np->lend + np->lend_cma;
		uint64_t lent = n->pool_chunks + np->lend + np->lend_cma;

		if (!node_plannable(s, n, p))
			continue;
		/*
		 * A failed allocation, or one that fell back to ordinary
		 * memory, means the headroom was too small for the demand that
		 * came: refill to the top of the band right away, even if the
		 * node reclaimed a moment ago (see the top).  A node giving
		 * chunks back to ordinary reservations refills its headroom
		 * once they hold their pages: reservations first.
		 */
		if (ordinary_reclaim(s, n, np) == 0 &&
		    (have < np->reserved_chunks + pol->headroom_low ||
		     ((n->alloc_failed || n->fell_back) &&
		      have < np->reserved_chunks + pol->headroom_high))) {
			uint64_t want = min_u64(np->reserved_chunks + pol->headroom_high - have,
						sub_sat(pol->max_pool_chunks, lent));

			plan_lend(n, np, &b, take_budget(&b, i, np, want),
				  pol->keep_free_hugetlb + np->ordinary_pages, REASON_HEADROOM);
			/* Back inside the band, the next cycle would lend no more. */
			if (n->pool_free_pages / ppc + np->lend + np->lend_cma >=
			    np->reserved_chunks + pol->headroom_low)
				np->deferred = 0;
		} else if (np->lend + np->lend_cma == 0) {
			plan_node_reclaim(s, n, pol, np, &b, i);
		}
	}
	free(b.node);
	return 0;
}

void planner_compact(const struct system_state *s, const struct policy *p, struct plan *plan)
{
	uint64_t global = p->max_moves_per_cycle;
	uint64_t ppc = pages_per_chunk(s);

	for (size_t i = 0; i < plan->n_nodes; i++) {
		const struct node_plan *np = &plan->nodes[i];

		global = sub_sat(global, np->lend + np->lend_cma + np->reclaim);
	}
	for (size_t i = 0; i < plan->n_nodes; i++) {
		const struct node_state *n = &s->nodes[i];
		struct node_policy pol_buf;
		const struct node_policy *pol = planner_node_policy(p, n, &pol_buf);
		struct node_plan *np = &plan->nodes[i];
		uint64_t moves = np->lend + np->lend_cma + np->reclaim;
		uint64_t spare, want, ordinary;

		/* A node that lends wants more pool pages, not fewer. */
		if (!node_plannable(s, n, p) || np->lend + np->lend_cma)
			continue;
		/*
		 * Ordinary reservations go first and below the headroom, as
		 * their reclaims do: what no empty chunk gave them, as far as
		 * the free pages beside the confidential reservations make
		 * chunks.
		 */
		spare = sub_sat(sub_sat(n->pool_free_pages / ppc, np->reserved_chunks), np->reclaim);
		ordinary = min_u64(np->ordinary_shortfall, spare);
		want = max_u64(sub_sat(hugetlb_wanted(s, n, pol, np), np->reclaim), ordinary);
		np->compact = min_u64(want, min_u64(global, sub_sat(pol->max_moves, moves)));
		np->deferred += want - np->compact;
		global -= np->compact;
		/* The reclaim of what it empties says why, as any reclaim does. */
		if (np->compact && np->reason == REASON_NONE)
			np->reason = ordinary ? REASON_RESERVATION : REASON_HUGETLB;
	}
}

/*
 * Choose the node for a reservation that may go anywhere: the managed node
 * with the most capacity of the kind not yet promised to other
 * reservations.  For a confidential one that is free chunks and what can
 * still be lent (free 1 GiB pages no ordinary reservation holds, within
 * the cap); for an ordinary one, free 1 GiB pages and the empty chunks no
 * confidential reservation holds.
 */
int planner_place(const struct system_state *s, const struct policy *p,
		  const struct reservation *res, size_t n_res, enum resv_kind kind)
{
	int64_t best_spare = INT64_MIN;
	int best = -ENODEV;

	for (size_t i = 0; i < s->n_nodes; i++) {
		const struct node_state *n = &s->nodes[i];
		struct node_policy pol_buf;
		const struct node_policy *pol = planner_node_policy(p, n, &pol_buf);
		uint64_t free_chunks = n->pool_free_pages / pages_per_chunk(s);
		uint64_t confidential = planner_reserved(s, res, n_res, n->node, RESV_CONFIDENTIAL);
		uint64_t ordinary = planner_reserved(s, res, n_res, n->node, RESV_ORDINARY);
		int64_t spare;

		if (!node_managed(s, n, p))
			continue;
		if (kind == RESV_ORDINARY)
			spare = (int64_t)(n->hugetlb_free +
					  min_u64(n->pool_empty_chunks,
						  sub_sat(free_chunks, confidential))) -
				(int64_t)ordinary;
		else
			spare = (int64_t)min_u64(free_chunks + sub_sat(n->hugetlb_free, ordinary),
						 free_chunks + sub_sat(pol->max_pool_chunks,
								       n->pool_chunks)) -
				(int64_t)confidential;
		if (spare > best_spare) {
			best_spare = spare;
			best = n->node;
		}
	}
	return best;
}

void plan_done(struct plan *plan)
{
	free(plan->nodes);
	plan->nodes = NULL;
	plan->n_nodes = 0;
}
