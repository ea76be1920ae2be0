// SPDX-License-Identifier: GPL-2.0
/* Unit tests of the planner: the same planner_plan() gigapoold runs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "planner.h"
#include "util.h"

#define PPC 262144ULL
#define SEC 1000000ULL

static struct policy pol;
static struct node_state nodes[4];
static struct system_state st;

static int setup(void **state)
{
	(void)state;
	memset(&pol, 0, sizeof(pol));
	pol.defaults = (struct node_policy){
		.keep_free_hugetlb = 1, .headroom_low = 1, .headroom_high = 3,
		.max_pool_chunks = 10, .max_moves = 8, .cooldown_sec = 60,
	};
	pol.max_moves_per_cycle = 100;
	memset(nodes, 0, sizeof(nodes));
	for (unsigned i = 0; i < 4; i++) {
		nodes[i].node = i;
		nodes[i].online = true;
		nodes[i].hugetlb_total = nodes[i].hugetlb_free = 8;
	}
	st = (struct system_state){
		.pool_available = true, .chunk_size = GIB, .page_size = 4096,
		.now_usec = 1000 * SEC, .n_nodes = 1, .nodes = nodes,
	};
	return 0;
}

/*
 * A pool of node whose free pages fill free_chunks whole chunks, of which
 * empty_chunks have no page in use; the others' free pages are spread over
 * chunks in use.
 */
static void set_pool_on(unsigned node, uint64_t chunks, uint64_t free_chunks,
			uint64_t empty_chunks)
{
	nodes[node].pool_chunks = chunks;
	nodes[node].pool_free_pages = free_chunks * PPC;
	nodes[node].pool_empty_chunks = empty_chunks;
}

/* A pool of node 0 whose free pages fill whole chunks, all of them empty. */
static void set_pool(uint64_t chunks, uint64_t free_chunks)
{
	set_pool_on(0, chunks, free_chunks, free_chunks);
}

static struct plan run(const struct reservation *res, size_t n)
{
	struct plan p;

	assert_int_equal(planner_plan(&st, &pol, res, n, &p), 0);
	assert_int_equal(p.n_nodes, st.n_nodes);
	return p;
}

static void test_empty_pool_lends_to_high(void **state)
{
	struct plan p;

	(void)state;
	/* A lend a second ago, inside the cooldown, does not keep an empty pool empty. */
	nodes[0].last_lend_usec = st.now_usec - SEC;
	p = run(NULL, 0);
	assert_int_equal(p.nodes[0].lend, 3);
	assert_int_equal(p.nodes[0].lend_cma, 0);
	assert_int_equal(p.nodes[0].reclaim, 0);
	assert_int_equal(p.nodes[0].reason, REASON_HEADROOM);
	assert_int_equal(p.nodes[0].low_watermark_pages, PPC);
	plan_done(&p);
}

static void test_inside_band_nothing_moves(void **state)
{
	struct plan p;

	(void)state;
	for (uint64_t free_chunks = 1; free_chunks <= 3; free_chunks++) {
		set_pool(free_chunks, free_chunks);
		p = run(NULL, 0);
		assert_int_equal(p.nodes[0].lend + p.nodes[0].lend_cma + p.nodes[0].reclaim, 0);
		assert_int_equal(p.nodes[0].reason, REASON_NONE);
		plan_done(&p);
	}
}

static void test_alloc_failure_refills_band(void **state)
{
	struct plan p;

	(void)state;
	/* Inside the cooldown, too: the cooldown delays no lend. */
	set_pool(2, 2);
	nodes[0].alloc_failed = true;
	nodes[0].last_lend_usec = st.now_usec - SEC;
	p = run(NULL, 0);
	assert_int_equal(p.nodes[0].lend, 1);
	assert_int_equal(p.nodes[0].reason, REASON_HEADROOM);
	plan_done(&p);
}

/*
 * guest_memfd under the kernel's "prefer" falls back to ordinary memory when
 * the pool is full, as memfd_secret does: both raise the node's fallbacks
 * counter, which is demand the pool failed to meet, like a failed
 * allocation, whoever fell back.  A node inside the band with fallbacks
 * is refilled to headroom_high; without them it is left alone.
 */
static void test_guest_memfd_prefer_fallback_refills_band(void **state)
{
	struct plan p;

	(void)state;
	set_pool(2, 2);
	nodes[0].fallbacks = 7;
	nodes[0].last_lend_usec = st.now_usec - SEC;
	p = run(NULL, 0);
	assert_int_equal(p.nodes[0].lend, 0);	/* fallbacks from before: not news */
	assert_int_equal(p.nodes[0].reason, REASON_NONE);
	plan_done(&p);
	nodes[0].fell_back = true;
	p = run(NULL, 0);
	assert_int_equal(p.nodes[0].lend, 1);
	assert_int_equal(p.nodes[0].reason, REASON_HEADROOM);
	plan_done(&p);
	/* An empty pool that only fell back (no chunk, so no failure counted). */
	set_pool(0, 0);
	pol.defaults.headroom_low = 0;
	p = run(NULL, 0);
	assert_int_equal(p.nodes[0].lend, 3);
	plan_done(&p);
}

static void test_surplus_reclaimed_after_cooldown(void **state)
{
	struct plan p;

	(void)state;
	set_pool(6, 6);
	nodes[0].last_lend_usec = st.now_usec - 10 * SEC;
	p = run(NULL, 0);
	assert_int_equal(p.nodes[0].reclaim, 0);	/* still cooling down */
	assert_int_equal(p.nodes[0].deferred, 0);	/* and no work for the next cycle */
	plan_done(&p);
	nodes[0].hugetlb_free = 0;	/* nor for ordinary VMs short of pages */
	p = run(NULL, 0);
	assert_int_equal(p.nodes[0].reclaim, 0);
	plan_done(&p);
	nodes[0].last_lend_usec = st.now_usec - 61 * SEC;
	p = run(NULL, 0);
	assert_int_equal(p.nodes[0].reclaim, 3);
	assert_int_equal(p.nodes[0].reason, REASON_SURPLUS);
	plan_done(&p);
}

static void test_only_free_chunks_reclaimed(void **state)
{
	struct plan p;

	(void)state;
	nodes[0].pool_chunks = 8;
	nodes[0].pool_free_pages = 4 * PPC + 5;
	nodes[0].pool_used_pages = 4 * PPC - 5;
	nodes[0].pool_empty_chunks = 4;
	p = run(NULL, 0);
	assert_int_equal(p.nodes[0].reclaim, 1);
	plan_done(&p);
}

/*
 * Free pages worth 5 chunks above headroom_high, all of them in chunks
 * that other pages keep in use: no chunk can go back, so no reclaim is
 * asked for, not even for the cap, and none is deferred to a later cycle.
 */
static void test_stranded_free_pages_not_reclaimed(void **state)
{
	struct plan p;

	(void)state;
	set_pool_on(0, 10, 8, 0);
	p = run(NULL, 0);
	assert_int_equal(p.nodes[0].reclaim, 0);
	assert_int_equal(p.nodes[0].deferred, 0);
	assert_int_equal(p.nodes[0].reason, REASON_NONE);
	plan_done(&p);
	pol.defaults.max_pool_chunks = 8;
	p = run(NULL, 0);
	assert_int_equal(p.nodes[0].reclaim, 0);
	plan_done(&p);
}

static void test_empty_chunks_bound_reclaim(void **state)
{
	struct plan p;

	(void)state;
	/* A surplus of 3 free chunks, of which one is empty. */
	set_pool_on(0, 8, 6, 1);
	p = run(NULL, 0);
	assert_int_equal(p.nodes[0].reclaim, 1);
	assert_int_equal(p.nodes[0].reason, REASON_SURPLUS);
	/* The rest is not the move budget's doing: nothing to follow up at once. */
	assert_int_equal(p.nodes[0].deferred, 0);
	plan_done(&p);
}

static void test_keep_free_hugetlb_uses_cma(void **state)
{
	struct plan p;

	(void)state;
	nodes[0].hugetlb_free = 2;	/* keep 1: one may be lent */
	p = run(NULL, 0);
	assert_int_equal(p.nodes[0].lend, 1);
	assert_int_equal(p.nodes[0].shortfall, 2);
	plan_done(&p);
	nodes[0].has_cma = true;
	p = run(NULL, 0);
	assert_int_equal(p.nodes[0].lend, 1);
	assert_int_equal(p.nodes[0].lend_cma, 2);
	assert_int_equal(p.nodes[0].shortfall, 0);
	plan_done(&p);
}

static void test_reservation_before_headroom(void **state)
{
	struct reservation r = { .owner = "vm", .bytes = 2 * GIB + 1, .node = 0 };
	struct plan p;

	(void)state;
	/* Reservations may use the kept page; the headroom after them may not. */
	nodes[0].hugetlb_free = 3;
	p = run(&r, 1);
	assert_int_equal(p.nodes[0].reserved_chunks, 3);
	assert_int_equal(p.nodes[0].lend, 3);
	assert_int_equal(p.nodes[0].shortfall, 3);
	assert_int_equal(p.nodes[0].reason, REASON_RESERVATION);
	assert_int_equal(p.nodes[0].low_watermark_pages, 4 * PPC);
	plan_done(&p);
}

static void test_reservations_first_across_nodes(void **state)
{
	struct reservation r = { .owner = "vm", .bytes = 2 * GIB, .node = 1 };
	struct plan p;

	(void)state;
	st.n_nodes = 2;
	pol.max_moves_per_cycle = 2;
	p = run(&r, 1);
	assert_int_equal(p.nodes[1].lend, 2);
	assert_int_equal(p.nodes[0].lend, 0);
	/* The headroom of both waits for the next cycles. */
	assert_int_equal(p.nodes[1].deferred, 3);
	assert_int_equal(p.nodes[0].deferred, 3);
	plan_done(&p);
}

/* Apply a plan to the fake kernel state as the kernel would carry it out. */
static void apply(const struct plan *p)
{
	for (size_t i = 0; i < p->n_nodes; i++) {
		const struct node_plan *np = &p->nodes[i];
		struct node_state *n = &nodes[i];
		uint64_t lent = np->lend + np->lend_cma;

		n->hugetlb_free = n->hugetlb_free - np->lend + np->reclaim;
		n->pool_chunks = n->pool_chunks + lent - np->reclaim;
		n->pool_free_pages = n->pool_free_pages + (lent - np->reclaim) * PPC;
		n->pool_empty_chunks = n->pool_empty_chunks + lent - np->reclaim;
		if (lent)
			n->last_lend_usec = st.now_usec;
	}
}

/*
 * Without demand the planner settles: from any pool size and any number of
 * free 1 GiB pages, cycles a cooldown apart reach a plan that moves
 * nothing within a few cycles and keep it, so no lend can undo a reclaim
 * over and over (and the other way round).
 */
static void test_settles_without_demand(void **state)
{
	(void)state;
	for (uint64_t chunks = 0; chunks <= 12; chunks++)
		for (uint64_t hfree = 0; hfree <= 4; hfree++) {
			unsigned moves = 0, last_move = 0;

			setup(NULL);
			nodes[0].has_cma = true;
			set_pool(chunks, chunks);
			nodes[0].hugetlb_free = hfree;
			for (unsigned cycle = 1; cycle <= 10; cycle++) {
				struct plan p = run(NULL, 0);

				if (p.nodes[0].lend + p.nodes[0].lend_cma + p.nodes[0].reclaim) {
					moves++;
					last_move = cycle;
				}
				apply(&p);
				plan_done(&p);
				st.now_usec += 61 * SEC;
			}
			assert_in_range(moves, 0, 2);
			assert_in_range(last_move, 0, 3);
		}
}

static void test_deferred_by_budget(void **state)
{
	struct reservation r = { .owner = "vm", .bytes = 20 * GIB, .node = 0 };
	uint64_t lends[3], deferred[3];
	struct plan p;

	(void)state;
	pol.defaults.max_pool_chunks = 30;
	nodes[0].hugetlb_total = nodes[0].hugetlb_free = 30;
	/* 20 reserved and 3 of headroom, 8 a cycle: the rest waits for the next cycles. */
	for (unsigned c = 0; c < 3; c++) {
		p = run(&r, 1);
		lends[c] = p.nodes[0].lend;
		deferred[c] = p.nodes[0].deferred;
		apply(&p);
		plan_done(&p);
	}
	assert_int_equal(lends[0], 8);
	assert_int_equal(deferred[0], 15);
	assert_int_equal(lends[1], 8);
	assert_int_equal(deferred[1], 7);
	assert_int_equal(lends[2], 7);
	assert_int_equal(deferred[2], 0);
	/* Reclaims too: 20 chunks above the band after the release, 8 a cycle. */
	st.now_usec += 61 * SEC;
	p = run(NULL, 0);
	assert_int_equal(p.nodes[0].reclaim, 8);
	assert_int_equal(p.nodes[0].deferred, 12);
	plan_done(&p);
}

static void test_per_node_budget(void **state)
{
	struct plan p;

	(void)state;
	pol.defaults.max_moves = 2;
	p = run(NULL, 0);
	assert_int_equal(p.nodes[0].lend, 2);
	/* Two free chunks are inside the band: the next cycle will not lend the third. */
	assert_int_equal(p.nodes[0].deferred, 0);
	plan_done(&p);
}

static void test_cap(void **state)
{
	struct reservation r = { .owner = "vm", .bytes = 20 * GIB, .node = 0 };
	struct plan p;

	(void)state;
	p = run(&r, 1);
	assert_int_equal(p.nodes[0].lend, 8);	/* cap 10, budget 8 */
	assert_int_equal(p.nodes[0].deferred, 2);	/* up to the cap, not the reservation */
	plan_done(&p);
	set_pool(12, 12);
	nodes[0].last_lend_usec = st.now_usec - SEC;
	p = run(NULL, 0);
	assert_int_equal(p.nodes[0].reclaim, 2);
	assert_int_equal(p.nodes[0].reason, REASON_CAP);
	plan_done(&p);
}

static void test_reclaim_for_hugetlb(void **state)
{
	struct plan p;

	(void)state;
	pol.defaults.keep_free_hugetlb = 4;
	nodes[0].hugetlb_free = 1;
	set_pool(3, 3);
	p = run(NULL, 0);
	/* Ordinary VMs lack 3 pages, but the pool keeps headroom_low. */
	assert_int_equal(p.nodes[0].reclaim, 2);
	assert_int_equal(p.nodes[0].reason, REASON_HUGETLB);
	plan_done(&p);
}

/*
 * Ordinary VMs lack free 1 GiB pages, the pool has the free pages but too
 * few empty chunks: planner_compact() asks to empty the rest, within the
 * pool's floor, the cooldown and the move budget; planner_plan() alone
 * never does.
 */
static void test_compact_for_hugetlb(void **state)
{
	struct plan p;

	(void)state;
	pol.defaults.keep_free_hugetlb = 4;
	nodes[0].hugetlb_free = 1;
	set_pool_on(0, 8, 5, 1);
	p = run(NULL, 0);
	assert_int_equal(p.nodes[0].reclaim, 1);
	assert_int_equal(p.nodes[0].compact, 0);
	planner_compact(&st, &pol, &p);
	/* 3 wanted: 1 empty chunk, 2 more to empty; headroom_low stays. */
	assert_int_equal(p.nodes[0].reclaim, 1);
	assert_int_equal(p.nodes[0].compact, 2);
	assert_int_equal(p.nodes[0].deferred, 0);
	plan_done(&p);

	/* The free pages make 2 chunks: one stays as headroom_low. */
	set_pool_on(0, 8, 2, 0);
	p = run(NULL, 0);
	assert_int_equal(p.nodes[0].reason, REASON_NONE);
	planner_compact(&st, &pol, &p);
	assert_int_equal(p.nodes[0].compact, 1);
	/* No reclaim of empty chunks said why: the compaction's reclaim does. */
	assert_int_equal(p.nodes[0].reason, REASON_HUGETLB);
	plan_done(&p);

	/* The move budget: what it leaves is deferred. */
	set_pool_on(0, 8, 5, 1);
	pol.defaults.max_moves = 2;
	p = run(NULL, 0);
	planner_compact(&st, &pol, &p);
	assert_int_equal(p.nodes[0].reclaim, 1);
	assert_int_equal(p.nodes[0].compact, 1);
	assert_int_equal(p.nodes[0].deferred, 1);
	plan_done(&p);

	/* A matter of choice, as the reclaim: not right after a lend. */
	pol.defaults.max_moves = 8;
	nodes[0].last_lend_usec = st.now_usec - SEC;
	p = run(NULL, 0);
	planner_compact(&st, &pol, &p);
	assert_int_equal(p.nodes[0].compact, 0);
	plan_done(&p);

	/* Enough free hugetlb pages: nothing to compact. */
	nodes[0].last_lend_usec = 0;
	nodes[0].hugetlb_free = 4;
	p = run(NULL, 0);
	planner_compact(&st, &pol, &p);
	assert_int_equal(p.nodes[0].compact, 0);
	plan_done(&p);
}

static void test_excluded_and_hugetlb_only(void **state)
{
	struct node_override o = { .node = 0, .p = pol.defaults };
	struct plan p;

	(void)state;
	o.p.excluded = true;
	pol.overrides = &o;
	pol.n_overrides = 1;
	p = run(NULL, 0);
	assert_int_equal(p.nodes[0].lend, 0);
	assert_int_equal(p.nodes[0].low_watermark_pages, 0);
	plan_done(&p);
	pol.n_overrides = 0;
	st.pool_available = false;
	p = run(NULL, 0);
	assert_int_equal(p.nodes[0].lend, 0);
	plan_done(&p);
}

static void test_hugetlb_reservations_respected(void **state)
{
	struct reservation r = { .owner = "vm", .bytes = 4 * GIB, .node = 1 };
	struct plan p;

	(void)state;
	/* 16 free pages, 13 promised to mappings: only 3 may be lent, reservation first. */
	st.n_nodes = 2;
	st.hugetlb = (struct hugetlb_global){ .known = true, .total = 16, .free = 16, .resv = 13 };
	p = run(&r, 1);
	assert_int_equal(p.nodes[1].lend, 3);
	assert_int_equal(p.nodes[1].shortfall, 1 + 4);	/* reservation, then headroom */
	assert_int_equal(p.nodes[0].lend, 0);
	assert_int_equal(p.nodes[0].shortfall, 3);
	plan_done(&p);
}

static void test_place(void **state)
{
	struct reservation r = { .owner = "vm", .bytes = 6 * GIB, .node = 0 };
	struct node_override o = { .node = 2, .p = pol.defaults };

	(void)state;
	st.n_nodes = 3;
	nodes[1].hugetlb_free = 4;
	nodes[2].hugetlb_free = 20;
	assert_int_equal(planner_place(&st, &pol, NULL, 0, RESV_CONFIDENTIAL), 2);
	o.p.excluded = true;
	pol.overrides = &o;
	pol.n_overrides = 1;
	assert_int_equal(planner_place(&st, &pol, NULL, 0, RESV_CONFIDENTIAL), 0);
	assert_int_equal(planner_place(&st, &pol, &r, 1, RESV_CONFIDENTIAL), 1);
	st.pool_available = false;
	assert_int_equal(planner_place(&st, &pol, NULL, 0, RESV_CONFIDENTIAL), -ENODEV);
}

/*
 * An ordinary reservation holds free 1 GiB pages: no lend takes them, for
 * headroom or for a confidential reservation.
 */
static void test_ordinary_pages_not_lent(void **state)
{
	struct reservation r[] = {
		{ .owner = "web", .kind = RESV_ORDINARY, .bytes = 6 * GIB, .node = 0 },
		{ .owner = "cvm", .bytes = 4 * GIB, .node = 0 },
	};
	struct plan p;

	(void)state;
	pol.defaults.max_moves = 100;
	/* 8 free pages, 6 held: headroom may lend 2 minus keep_free_hugetlb (1). */
	p = run(r, 1);
	assert_int_equal(p.nodes[0].ordinary_pages, 6);
	assert_int_equal(p.nodes[0].lend, 1);
	assert_int_equal(p.nodes[0].shortfall, 2);
	assert_int_equal(p.nodes[0].reclaim, 0);
	assert_int_equal(p.nodes[0].ordinary_shortfall, 0);
	plan_done(&p);
	/* A confidential reservation may use keep_free_hugetlb's page, not the held ones. */
	p = run(r, 2);
	assert_int_equal(p.nodes[0].reserved_chunks, 4);
	assert_int_equal(p.nodes[0].lend, 2);
	assert_int_equal(p.nodes[0].shortfall, 2 + 5);	/* reservation, then headroom */
	assert_int_equal(p.nodes[0].reason, REASON_RESERVATION);
	plan_done(&p);
	/* With a CMA area the rest comes from there. */
	nodes[0].has_cma = true;
	p = run(r, 2);
	assert_int_equal(p.nodes[0].lend, 2);
	assert_int_equal(p.nodes[0].lend_cma, 2 + 3);
	plan_done(&p);
}

/*
 * An ordinary reservation lacking free 1 GiB pages takes empty chunks back
 * at once (no cooldown), below the headroom but not from the chunks a
 * confidential reservation holds; the rest is pending.
 */
static void test_ordinary_reclaims_empty_chunks(void **state)
{
	struct reservation r[] = {
		{ .owner = "web", .kind = RESV_ORDINARY, .bytes = 16 * GIB, .node = 0 },
		{ .owner = "cvm", .bytes = 2 * GIB, .node = 0 },
	};
	struct plan p;

	(void)state;
	set_pool(10, 10);
	nodes[0].hugetlb_free = 8;
	nodes[0].last_lend_usec = st.now_usec - SEC;	/* inside the cooldown */
	p = run(r, 1);
	assert_int_equal(p.nodes[0].reclaim, 8);
	assert_int_equal(p.nodes[0].reason, REASON_RESERVATION);
	assert_int_equal(p.nodes[0].ordinary_shortfall, 0);
	/* The pool is left at 2 free chunks: no headroom lend takes pages back. */
	assert_int_equal(p.nodes[0].lend + p.nodes[0].lend_cma + p.nodes[0].shortfall, 0);
	plan_done(&p);

	/* Only 5 empty chunks; 2 of the free ones are held by "cvm". */
	nodes[0].pool_empty_chunks = 5;
	p = run(r, 2);
	assert_int_equal(p.nodes[0].reclaim, 5);
	assert_int_equal(p.nodes[0].ordinary_shortfall, 3);
	plan_done(&p);
	nodes[0].pool_empty_chunks = 10;
	p = run(r, 2);
	assert_int_equal(p.nodes[0].reclaim, 8);
	assert_int_equal(p.nodes[0].ordinary_shortfall, 0);
	plan_done(&p);
	nodes[0].pool_free_pages = 3 * PPC;	/* 1 chunk not held by "cvm" */
	nodes[0].pool_empty_chunks = 3;
	p = run(r, 2);
	assert_int_equal(p.nodes[0].reclaim, 1);
	assert_int_equal(p.nodes[0].ordinary_shortfall, 7);
	plan_done(&p);

	/* keep_free_hugetlb's pages come on top of the held ones. */
	set_pool(10, 10);
	nodes[0].hugetlb_free = 16;
	nodes[0].last_lend_usec = 0;
	p = run(r, 1);
	assert_int_equal(p.nodes[0].reason, REASON_SURPLUS);
	assert_int_equal(p.nodes[0].reclaim, 7);
	plan_done(&p);
	set_pool(3, 3);
	p = run(r, 1);
	assert_int_equal(p.nodes[0].reclaim, 1);
	assert_int_equal(p.nodes[0].reason, REASON_HUGETLB);
	plan_done(&p);
	nodes[0].hugetlb_free = 15;	/* 1 for the reservation, 1 for keep_free_hugetlb */
	p = run(r, 1);
	assert_int_equal(p.nodes[0].reclaim, 2);
	assert_int_equal(p.nodes[0].reason, REASON_HUGETLB);
	plan_done(&p);
	nodes[0].last_lend_usec = st.now_usec - SEC;	/* the cooldown delays the choice only */
	p = run(r, 1);
	assert_int_equal(p.nodes[0].reclaim, 1);
	assert_int_equal(p.nodes[0].reason, REASON_RESERVATION);
	plan_done(&p);
}

/* The move budget defers an ordinary reservation's reclaims like any move. */
static void test_ordinary_deferred_by_budget(void **state)
{
	struct reservation r = { .owner = "web", .kind = RESV_ORDINARY, .bytes = 16 * GIB };
	struct plan p;

	(void)state;
	set_pool(10, 10);
	nodes[0].hugetlb_free = 4;
	pol.defaults.max_moves = 3;
	p = run(&r, 1);
	assert_int_equal(p.nodes[0].reclaim, 3);
	assert_int_equal(p.nodes[0].deferred, 7);
	assert_int_equal(p.nodes[0].ordinary_shortfall, 2);
	plan_done(&p);
}

/*
 * What no empty chunk gives an ordinary reservation, planner_compact()
 * asks to empty: at once (no cooldown) and below the headroom, as its
 * reclaims, but not from the free chunks a confidential reservation holds.
 */
static void test_compact_for_ordinary(void **state)
{
	struct reservation r[] = {
		{ .owner = "web", .kind = RESV_ORDINARY, .bytes = 4 * GIB, .node = 0 },
		{ .owner = "cvm", .bytes = 2 * GIB, .node = 0 },
	};
	struct plan p;

	(void)state;
	nodes[0].hugetlb_free = 1;
	set_pool_on(0, 8, 3, 0);
	nodes[0].last_lend_usec = st.now_usec - SEC;	/* inside the cooldown */
	p = run(r, 1);
	assert_int_equal(p.nodes[0].ordinary_shortfall, 3);
	assert_int_equal(p.nodes[0].reclaim, 0);
	planner_compact(&st, &pol, &p);
	/* All 3 free chunks' worth, headroom_low's included. */
	assert_int_equal(p.nodes[0].compact, 3);
	assert_int_equal(p.nodes[0].deferred, 0);
	assert_int_equal(p.nodes[0].reason, REASON_RESERVATION);
	plan_done(&p);

	/* One empty chunk is reclaimed; the other 2 are emptied. */
	nodes[0].pool_empty_chunks = 1;
	p = run(r, 1);
	assert_int_equal(p.nodes[0].reclaim, 1);
	assert_int_equal(p.nodes[0].ordinary_shortfall, 2);
	planner_compact(&st, &pol, &p);
	assert_int_equal(p.nodes[0].compact, 2);
	plan_done(&p);

	/* "cvm" holds 2 of the 3 free chunks' worth: 1 is left to empty. */
	nodes[0].pool_empty_chunks = 0;
	p = run(r, 2);
	assert_int_equal(p.nodes[0].ordinary_shortfall, 3);
	planner_compact(&st, &pol, &p);
	assert_int_equal(p.nodes[0].compact, 1);
	plan_done(&p);

	/* The move budget: what it leaves is deferred. */
	pol.defaults.max_moves = 2;
	p = run(r, 1);
	planner_compact(&st, &pol, &p);
	assert_int_equal(p.nodes[0].compact, 2);
	assert_int_equal(p.nodes[0].deferred, 1);
	plan_done(&p);
}

static void test_place_ordinary(void **state)
{
	struct reservation r = { .owner = "web", .kind = RESV_ORDINARY, .bytes = 6 * GIB,
				 .node = 1 };

	(void)state;
	st.n_nodes = 2;
	/* Node 0: 8 free pages; node 1: 4 free pages and 6 empty chunks. */
	nodes[1].hugetlb_free = 4;
	set_pool_on(1, 6, 6, 6);
	assert_int_equal(planner_place(&st, &pol, NULL, 0, RESV_ORDINARY), 1);
	assert_int_equal(planner_place(&st, &pol, &r, 1, RESV_ORDINARY), 0);
	/* Node 1 without its pool: the pages held on node 0 are no one's to lend. */
	set_pool_on(1, 0, 0, 0);
	r.node = 0;
	assert_int_equal(planner_place(&st, &pol, NULL, 0, RESV_CONFIDENTIAL), 0);
	assert_int_equal(planner_place(&st, &pol, &r, 1, RESV_CONFIDENTIAL), 1);
	assert_int_equal(planner_place(&st, &pol, &r, 1, RESV_ORDINARY), 1);
}

/* Shares of the policy are of the node's 1 GiB pages: hugetlb's and the pool's. */
static void test_shares_of_the_node(void **state)
{
	struct reservation r = { .owner = "cvm", .bytes = 6 * GIB };
	struct plan p;

	(void)state;
	pol.defaults.max_pool_chunks = POLICY_SHARE_WHOLE / 2;
	pol.defaults.shares = POLICY_SHARE_MAX_POOL_CHUNKS;
	p = run(&r, 1);		/* 8 pages: a cap of 4 */
	assert_int_equal(p.nodes[0].lend, 4);
	assert_int_equal(p.nodes[0].lend_cma + p.nodes[0].shortfall, 0);
	plan_done(&p);
	/* Lent, they still count: the cap stays 4. */
	nodes[0].hugetlb_total = nodes[0].hugetlb_free = 4;
	set_pool(4, 4);
	p = run(&r, 1);
	assert_int_equal(p.nodes[0].lend + p.nodes[0].lend_cma + p.nodes[0].reclaim, 0);
	plan_done(&p);
	/* A quarter is 2: the cap reclaims 2, cooldown or not, and headroom_high is clamped. */
	pol.defaults.max_pool_chunks = POLICY_SHARE_WHOLE / 4;
	nodes[0].last_lend_usec = st.now_usec - SEC;
	p = run(NULL, 0);
	assert_int_equal(p.nodes[0].reclaim, 2);
	assert_int_equal(p.nodes[0].reason, REASON_CAP);
	plan_done(&p);
	/* headroom_low as a share: 0.1% of 2048 pages is 3 (2.048 rounded up). */
	pol.defaults.headroom_low = 100;
	pol.defaults.headroom_high = 5;
	pol.defaults.max_pool_chunks = 64;
	pol.defaults.shares = POLICY_SHARE_HEADROOM_LOW;
	nodes[0].hugetlb_total = nodes[0].hugetlb_free = 2046;
	set_pool(2, 2);
	p = run(NULL, 0);
	assert_int_equal(p.nodes[0].lend, 3);	/* 2 free < 3: up to 5 */
	assert_int_equal(p.nodes[0].low_watermark_pages, 3 * PPC);
	plan_done(&p);
}

/*
 * A node with a chunk on its way (someone else's lend or reclaim) gets no
 * moves, whatever its counts say, and the plan says why; the other nodes
 * are planned as usual.
 */
static void test_resizing_node_not_planned(void **state)
{
	struct plan p;

	(void)state;
	st.n_nodes = 2;
	nodes[0].resizing = true;	/* empty pool: would lend 3 */
	set_pool_on(1, 8, 8, 8);	/* 8 free chunks: would reclaim 5 */
	nodes[1].resizing = true;
	p = run(NULL, 0);
	for (unsigned i = 0; i < 2; i++) {
		assert_true(p.nodes[i].resizing);
		assert_int_equal(p.nodes[i].lend + p.nodes[i].lend_cma, 0);
		assert_int_equal(p.nodes[i].reclaim, 0);
	}
	plan_done(&p);

	nodes[0].resizing = nodes[1].resizing = false;
	p = run(NULL, 0);
	assert_false(p.nodes[0].resizing);
	assert_int_equal(p.nodes[0].lend, 3);
	assert_int_equal(p.nodes[1].reclaim, 5);
	plan_done(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_empty_pool_lends_to_high, setup),
		cmocka_unit_test_setup(test_inside_band_nothing_moves, setup),
		cmocka_unit_test_setup(test_alloc_failure_refills_band, setup),
		cmocka_unit_test_setup(test_guest_memfd_prefer_fallback_refills_band, setup),
		cmocka_unit_test_setup(test_surplus_reclaimed_after_cooldown, setup),
		cmocka_unit_test_setup(test_only_free_chunks_reclaimed, setup),
		cmocka_unit_test_setup(test_stranded_free_pages_not_reclaimed, setup),
		cmocka_unit_test_setup(test_empty_chunks_bound_reclaim, setup),
		cmocka_unit_test_setup(test_keep_free_hugetlb_uses_cma, setup),
		cmocka_unit_test_setup(test_reservation_before_headroom, setup),
		cmocka_unit_test_setup(test_reservations_first_across_nodes, setup),
		cmocka_unit_test_setup(test_settles_without_demand, setup),
		cmocka_unit_test_setup(test_deferred_by_budget, setup),
		cmocka_unit_test_setup(test_per_node_budget, setup),
		cmocka_unit_test_setup(test_cap, setup),
		cmocka_unit_test_setup(test_reclaim_for_hugetlb, setup),
		cmocka_unit_test_setup(test_compact_for_hugetlb, setup),
		cmocka_unit_test_setup(test_excluded_and_hugetlb_only, setup),
		cmocka_unit_test_setup(test_hugetlb_reservations_respected, setup),
		cmocka_unit_test_setup(test_place, setup),
		cmocka_unit_test_setup(test_resizing_node_not_planned, setup),
		cmocka_unit_test_setup(test_ordinary_pages_not_lent, setup),
		cmocka_unit_test_setup(test_ordinary_reclaims_empty_chunks, setup),
		cmocka_unit_test_setup(test_ordinary_deferred_by_budget, setup),
		cmocka_unit_test_setup(test_compact_for_ordinary, setup),
		cmocka_unit_test_setup(test_place_ordinary, setup),
		cmocka_unit_test_setup(test_shares_of_the_node, setup),
	};

	return cmocka_run_group_tests_name("planner", tests, NULL, NULL);
}
