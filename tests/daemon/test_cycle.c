// SPDX-License-Identifier: GPL-2.0
/* Unit tests of the decisions after a cycle: the same cycle.c gigapoold and the simulator run. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cycle.h"
#include "util.h"

#define MSEC USEC_PER_MSEC

static struct policy pol;
static struct cycle_sched sched;

static int setup(void **state)
{
	(void)state;
	memset(&pol, 0, sizeof(pol));
	pol.retry_attempts = 4;
	pol.retry_backoff_ms = 100;
	pol.retry_backoff_max_ms = 1000;
	memset(&sched, 0, sizeof(sched));
	return 0;
}

static void expect_retry(uint64_t delay_usec)
{
	uint64_t delay = 0;

	assert_int_equal(cycle_retry(&sched, &pol, true, &delay), CYCLE_NEXT_AFTER);
	assert_int_equal(delay, delay_usec);
}

static void expect_more(uint64_t deferred, uint64_t moved, bool shortfall)
{
	uint64_t delay = 0;

	assert_int_equal(cycle_more(&sched, deferred, moved, shortfall, &delay), CYCLE_NEXT_AFTER);
	assert_int_equal(delay, 100 * MSEC);
}

static void test_retry_not_short_resets(void **state)
{
	uint64_t delay = 7;

	(void)state;
	sched.retries = 2;
	assert_int_equal(cycle_retry(&sched, &pol, false, &delay), CYCLE_NEXT_NONE);
	assert_int_equal(sched.retries, 0);
	assert_int_equal(delay, 7);	/* untouched */
}

/* 100, 200, 400, 800 ms, then give up; the next shortfall starts at 100 again. */
static void test_retry_backoff_then_give_up(void **state)
{
	uint64_t delay;

	(void)state;
	expect_retry(100 * MSEC);
	expect_retry(200 * MSEC);
	expect_retry(400 * MSEC);
	expect_retry(800 * MSEC);
	assert_int_equal(sched.retries, 4);
	assert_int_equal(cycle_retry(&sched, &pol, true, &delay), CYCLE_NEXT_GIVE_UP);
	assert_int_equal(sched.retries, 0);
	expect_retry(100 * MSEC);
}

static void test_retry_backoff_capped(void **state)
{
	(void)state;
	pol.retry_backoff_max_ms = 250;
	expect_retry(100 * MSEC);
	expect_retry(200 * MSEC);
	expect_retry(250 * MSEC);
	expect_retry(250 * MSEC);
}

/* A success between two shortfalls starts the backoff again. */
static void test_retry_success_restarts_backoff(void **state)
{
	uint64_t delay;

	(void)state;
	expect_retry(100 * MSEC);
	expect_retry(200 * MSEC);
	assert_int_equal(cycle_retry(&sched, &pol, false, &delay), CYCLE_NEXT_NONE);
	expect_retry(100 * MSEC);
}

/* The doubling stops at 2^32 times the backoff, whatever the count. */
static void test_retry_shift_bounded(void **state)
{
	(void)state;
	pol.retry_attempts = 100;
	pol.retry_backoff_ms = 1;
	pol.retry_backoff_max_ms = UINT64_MAX;
	sched.retries = 40;
	expect_retry((1ULL << 32) * MSEC);
	assert_int_equal(sched.retries, 41);
}

/*
 * No retry at all with retry.attempts 0, and none left for a count that a
 * reload to fewer attempts left above them.
 */
static void test_retry_give_up_at_once(void **state)
{
	static const struct { uint64_t attempts; unsigned retries; } cases[] = {
		{ 0, 0 },
		{ 4, 6 },
	};
	uint64_t delay;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		pol.retry_attempts = cases[i].attempts;
		sched.retries = cases[i].retries;
		assert_int_equal(cycle_retry(&sched, &pol, true, &delay), CYCLE_NEXT_GIVE_UP);
		assert_int_equal(sched.retries, 0);
	}
}

static void test_more_after_budget(void **state)
{
	(void)state;
	expect_more(3, 4, false);
	assert_int_equal(sched.more, 1);
	expect_more(1, 4, false);
	assert_int_equal(sched.more, 2);
}

/*
 * Nothing left for later, nothing moved (a dry run) or a shortfall (the
 * retry's business): no follow-up, and the chain starts again.
 */
static void test_more_not_wanted(void **state)
{
	static const struct { uint64_t deferred, moved; bool shortfall; } cases[] = {
		{ 0, 4, false },
		{ 3, 0, false },
		{ 3, 4, true },
		{ 0, 0, true },
	};
	uint64_t delay = 7;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		sched.more = 5;
		assert_int_equal(cycle_more(&sched, cases[i].deferred, cases[i].moved,
					    cases[i].shortfall, &delay), CYCLE_NEXT_NONE);
		assert_int_equal(sched.more, 0);
	}
	assert_int_equal(delay, 7);	/* untouched */
}

/* 256 follow-ups in a row, then the daemon waits for events; then a new chain. */
static void test_more_capped(void **state)
{
	uint64_t delay;

	(void)state;
	for (unsigned i = 0; i < 256; i++)
		expect_more(1, 1, false);
	assert_int_equal(sched.more, 256);
	assert_int_equal(cycle_more(&sched, 1, 1, false, &delay), CYCLE_NEXT_GIVE_UP);
	assert_int_equal(sched.more, 0);
	expect_more(1, 1, false);
	assert_int_equal(sched.more, 1);
}

/* The counts of retries and follow-ups are kept apart. */
static void test_retry_and_more_independent(void **state)
{
	uint64_t delay;

	(void)state;
	expect_more(2, 2, false);
	expect_retry(100 * MSEC);
	assert_int_equal(sched.more, 1);
	assert_int_equal(cycle_more(&sched, 2, 1, true, &delay), CYCLE_NEXT_NONE);
	assert_int_equal(sched.retries, 1);
}

static void test_read_back_chunks(void **state)
{
	(void)state;
	assert_int_equal(cycle_read_back_chunks(5, 3, 0), 8);
	assert_int_equal(cycle_read_back_chunks(5, 0, 2), 3);
	assert_int_equal(cycle_read_back_chunks(4, 1, 2), 3);
	assert_int_equal(cycle_read_back_chunks(0, 0, 0), 0);
}

static void test_watermark(void **state)
{
	(void)state;
	/* Never set: set whatever the kernel holds. */
	assert_int_equal(cycle_watermark(false, 0, 0, 262144), CYCLE_WATERMARK_SET);
	assert_int_equal(cycle_watermark(false, 0, 262144, 262144), CYCLE_WATERMARK_SET);
	/* Set, read back as set: only a new value is set. */
	assert_int_equal(cycle_watermark(true, 262144, 262144, 262144), CYCLE_WATERMARK_KEEP);
	assert_int_equal(cycle_watermark(true, 262144, 262144, 524288), CYCLE_WATERMARK_SET);
	/* Read back another value than set: set again, even the same. */
	assert_int_equal(cycle_watermark(true, 262144, 0, 262144), CYCLE_WATERMARK_RESET);
	assert_int_equal(cycle_watermark(true, 262144, 1, 524288), CYCLE_WATERMARK_RESET);
}

#define PPC 262144ULL

/*
 * The page budget goes to the nodes in order, at most a chunk's worth per
 * chunk; a node it cannot reach gets 0 (it waits), and the budget never
 * goes below 0 or wraps.
 */
static void test_compact_pages_budget(void **state)
{
	uint64_t budget = 3 * PPC;

	(void)state;
	assert_int_equal(cycle_compact_pages(&budget, 1, PPC), PPC);
	assert_int_equal(budget, 2 * PPC);
	assert_int_equal(cycle_compact_pages(&budget, 5, PPC), 2 * PPC);
	assert_int_equal(budget, 0);
	assert_int_equal(cycle_compact_pages(&budget, 1, PPC), 0);
	assert_int_equal(budget, 0);
	budget = 1000;
	assert_int_equal(cycle_compact_pages(&budget, 2, PPC), 1000);
	budget = UINT64_MAX;
	assert_int_equal(cycle_compact_pages(&budget, UINT64_MAX, PPC), UINT64_MAX);
	assert_int_equal(budget, 0);
}

/*
 * Compaction needs both the kernel's UNMAPPED_POOL_FEAT_COMPACT and a
 * policy budget above 0; either alone leaves it off.
 */
static void test_can_compact(void **state)
{
	(void)state;
	pol.max_compact_pages_per_cycle = 262144;
	assert_true(cycle_can_compact(true, &pol));
	assert_false(cycle_can_compact(false, &pol));
	pol.max_compact_pages_per_cycle = 1;
	assert_true(cycle_can_compact(true, &pol));
	pol.max_compact_pages_per_cycle = 0;
	assert_false(cycle_can_compact(true, &pol));
	assert_false(cycle_can_compact(false, &pol));
}

static void expect_compacted(uint64_t count, uint64_t done, int error,
			     const struct unmapped_pool_compact_req *report, uint64_t reclaim,
			     uint64_t deferred, bool shortfall)
{
	struct cycle_compacted out;

	cycle_compacted(count, done, error, report, &out);
	assert_int_equal(out.reclaim, reclaim);
	assert_int_equal(out.deferred, deferred);
	assert_int_equal(out.shortfall, shortfall);
}

/*
 * Chunks emptied go to the reclaim; what only the page budget left waits
 * for the next cycle; what pinned, unplaceable or busy pages, or an
 * error, left is a shortfall to retry.
 */
static void test_compacted(void **state)
{
	struct unmapped_pool_compact_req r = { 0 };

	(void)state;
	expect_compacted(2, 2, 0, &r, 2, 0, false);
	r.pages_over_budget = 100;
	expect_compacted(3, 1, -EAGAIN, &r, 1, 2, false);
	expect_compacted(3, 0, -EAGAIN, &r, 0, 3, false);
	r.pages_busy = 1;
	expect_compacted(3, 1, -EAGAIN, &r, 1, 0, true);
	r = (struct unmapped_pool_compact_req){ .pages_pinned = 5 };
	expect_compacted(2, 1, -EAGAIN, &r, 1, 0, true);
	r = (struct unmapped_pool_compact_req){ .pages_no_room = 5 };
	expect_compacted(2, 0, -EAGAIN, &r, 0, 0, true);
	/* Short without a reason, or another error: a shortfall too. */
	r = (struct unmapped_pool_compact_req){ 0 };
	expect_compacted(2, 0, -EAGAIN, &r, 0, 0, true);
	r.pages_over_budget = 100;	/* not the kernel's word after -ENODEV */
	expect_compacted(2, 0, -ENODEV, &r, 0, 0, true);
	/* Never more chunks to reclaim than were asked for. */
	expect_compacted(1, 3, 0, &r, 1, 0, false);
}

static void test_compact_why(void **state)
{
	struct unmapped_pool_compact_req r = { .pages_pinned = 812, .pages_busy = 3 };
	char buf[160];

	(void)state;
	cycle_compact_why(-EAGAIN, &r, buf, sizeof(buf));
	assert_string_equal(buf, "812 pages pinned, 3 pages busy");
	r = (struct unmapped_pool_compact_req){ .pages_no_room = 1, .pages_over_budget = 2 };
	cycle_compact_why(-EAGAIN, &r, buf, sizeof(buf));
	assert_string_equal(buf, "1 pages without room, 2 pages over the page budget");
	cycle_compact_why(-ENODEV, &r, buf, sizeof(buf));
	assert_string_equal(buf, strerror(ENODEV));
	r = (struct unmapped_pool_compact_req){ 0 };
	cycle_compact_why(-EAGAIN, &r, buf, sizeof(buf));
	assert_string_equal(buf, "the kernel gave no reason");
	/* A short buffer is cut, never overrun. */
	r.pages_pinned = r.pages_busy = 123456789;
	cycle_compact_why(-EAGAIN, &r, buf, 20);
	assert_int_equal(strlen(buf), 19);
}

/* The compaction counters Status carries stop at 2^53-1, exact in JSON. */
static void test_counter_saturates(void **state)
{
	const uint64_t max = (1ULL << 53) - 1;
	uint64_t c = 5;

	(void)state;
	counter_add(&c, 7);
	assert_int_equal(c, 12);
	c = max - 1;
	counter_add(&c, 1);
	assert_int_equal(c, max);
	counter_add(&c, 1);
	assert_int_equal(c, max);
	c = 3;
	counter_add(&c, UINT64_MAX);
	assert_int_equal(c, max);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_retry_not_short_resets, setup),
		cmocka_unit_test_setup(test_retry_backoff_then_give_up, setup),
		cmocka_unit_test_setup(test_retry_backoff_capped, setup),
		cmocka_unit_test_setup(test_retry_success_restarts_backoff, setup),
		cmocka_unit_test_setup(test_retry_shift_bounded, setup),
		cmocka_unit_test_setup(test_retry_give_up_at_once, setup),
		cmocka_unit_test_setup(test_more_after_budget, setup),
		cmocka_unit_test_setup(test_more_not_wanted, setup),
		cmocka_unit_test_setup(test_more_capped, setup),
		cmocka_unit_test_setup(test_retry_and_more_independent, setup),
		cmocka_unit_test_setup(test_read_back_chunks, setup),
		cmocka_unit_test_setup(test_watermark, setup),
		cmocka_unit_test_setup(test_compact_pages_budget, setup),
		cmocka_unit_test_setup(test_can_compact, setup),
		cmocka_unit_test_setup(test_compacted, setup),
		cmocka_unit_test_setup(test_compact_why, setup),
		cmocka_unit_test_setup(test_counter_saturates, setup),
	};

	return cmocka_run_group_tests_name("cycle", tests, NULL, NULL);
}
