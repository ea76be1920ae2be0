// SPDX-License-Identifier: GPL-2.0
/*
 * The decisions that follow a cycle: whether and when to retry one that
 * fell short, whether the next one runs soon because the move budget left
 * moves for later, and what the kernel must report when the moves are read
 * back.  Pure, without I/O or a clock, so that gigapoold, its unit tests
 * and the simulator (bench/sim) compile this one file unchanged.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cycle.h"
#include "util.h"

/*
 * When the move budget (max_moves, max_moves_per_cycle) cut a cycle's plan
 * short, the next cycle runs this much later instead of at the next pool
 * event: the kernel raises the low-watermark event only when the pool
 * crosses below the watermark, so a pool left short by a large reservation
 * would otherwise stay short until the safety timer.  The pause lets the
 * socket and the watchdog have the loop between batches and holds the
 * daemon to ten batches a second.
 */
#define MORE_DELAY_MSEC 100
/*
 * At most this many such cycles in a row, so that a daemon whose moves
 * something else undoes (a hand-run reclaim, the kernel's shrinker) falls
 * back to the pace of pool events and the safety timer.  With the shipped
 * budget of 4 chunks per node that is 1 TiB on a node.
 */
#define MORE_CYCLES_MAX 256

/*
 * Exponential backoff from retry.backoff_ms up to retry.backoff_max_ms, at
 * most retry.attempts times in a row; a cycle that does not fall short
 * starts the count again.
 */
enum cycle_next cycle_retry(struct cycle_sched *c, const struct policy *p, bool shortfall,
			    uint64_t *ret_delay_usec)
{
	uint64_t delay_ms;

	if (!shortfall) {
		c->retries = 0;
		return CYCLE_NEXT_NONE;
	}
	if (c->retries >= p->retry_attempts) {
		c->retries = 0;
		return CYCLE_NEXT_GIVE_UP;
	}
	delay_ms = p->retry_backoff_ms << min_u64(c->retries, 32);
	delay_ms = min_u64(delay_ms, p->retry_backoff_max_ms);
	c->retries++;
	*ret_delay_usec = delay_ms * USEC_PER_MSEC;
	return CYCLE_NEXT_AFTER;
}

/*
 * Run the next cycle soon when the move budget, not a failure, left moves
 * for later and this cycle's moves all went through; a shortfall is the
 * retry's business, and a cycle that moved nothing (a dry run) would only
 * plan the same again.  A cycle that leaves nothing for later, whatever
 * ran it, makes a pending one pointless.
 */
enum cycle_next cycle_more(struct cycle_sched *c, uint64_t deferred, uint64_t moved,
			   bool shortfall, uint64_t *ret_delay_usec)
{
	bool wanted = deferred > 0 && moved > 0 && !shortfall;
	bool capped = c->more >= MORE_CYCLES_MAX;

	if (!wanted || capped) {
		c->more = 0;
		return wanted ? CYCLE_NEXT_GIVE_UP : CYCLE_NEXT_NONE;
	}
	c->more++;
	*ret_delay_usec = MORE_DELAY_MSEC * USEC_PER_MSEC;
	return CYCLE_NEXT_AFTER;
}

/*
 * The chunks of each node must have changed by exactly what the kernel
 * said the moves did; a difference means someone else moved chunks too.
 */
uint64_t cycle_read_back_chunks(uint64_t before, uint64_t lent, uint64_t reclaimed)
{
	return before + lent - reclaimed;
}

/*
 * The snapshot reads back the watermark the kernel holds: one that differs
 * from what was set is set again, one that agrees is set only when the
 * plan wants another.
 */
enum cycle_watermark cycle_watermark(bool is_set, uint64_t set_pages, uint64_t kernel_pages,
				     uint64_t want_pages)
{
	if (is_set && kernel_pages != set_pages)
		return CYCLE_WATERMARK_RESET;
	if (is_set && set_pages == want_pages)
		return CYCLE_WATERMARK_KEEP;
	return CYCLE_WATERMARK_SET;
}

/*
 * A kernel without compaction leaves the plan's free pages in chunks in
 * use where they are; a policy can turn compaction off with a budget of 0.
 * gigapoold and the simulator's model of it decide this here alike.
 */
bool cycle_can_compact(bool feat_compact, const struct policy *p)
{
	return feat_compact && p->max_compact_pages_per_cycle > 0;
}

/*
 * The cycle's page budget (max_compact_pages_per_cycle) goes to the nodes
 * in order, each taking at most a chunk's worth of pages per chunk it
 * empties: a chunk that is to be emptied has fewer pages in use than
 * that.  A node the budget cannot reach waits for the next cycle.  The
 * shares are known before any ioctl, so the compactions need not wait for
 * one another's results.
 */
uint64_t cycle_compact_pages(uint64_t *budget, uint64_t chunks, uint64_t pages_per_chunk)
{
	uint64_t want = pages_per_chunk && chunks > UINT64_MAX / pages_per_chunk ?
			UINT64_MAX : chunks * pages_per_chunk;
	uint64_t pages = min_u64(*budget, want);

	*budget -= pages;
	return pages;
}

/*
 * Chunks emptied are given back at once.  Chunks that only the page
 * budget kept full are work for the next cycle, as the move budget's are;
 * chunks that pinned pages, a lack of room or busy pages kept full, or a
 * failed ioctl, are a shortfall, retried with backoff: busy pages may move
 * later, and frees may make room or unpin.
 */
void cycle_compacted(uint64_t count, uint64_t done, int error,
		     const struct unmapped_pool_compact_req *report, struct cycle_compacted *ret)
{
	uint64_t rest = sub_sat(count, done);
	bool budget_only = error == -EAGAIN && report->pages_over_budget > 0 &&
			   report->pages_pinned + report->pages_no_room + report->pages_busy == 0;

	*ret = (struct cycle_compacted){ .reclaim = min_u64(done, count) };
	if (rest == 0)
		return;
	if (budget_only)
		ret->deferred = rest;
	else
		ret->shortfall = true;
}

void cycle_compact_why(int error, const struct unmapped_pool_compact_req *report, char *buf,
		       size_t size)
{
	const struct {
		uint64_t pages;
		const char *why;
	} reasons[] = {
		{ report->pages_pinned, "pinned" },
		{ report->pages_no_room, "without room" },
		{ report->pages_over_budget, "over the page budget" },
		{ report->pages_busy, "busy" },
	};
	size_t len = 0;

	buf[0] = '\0';
	if (error && error != -EAGAIN) {
		snprintf(buf, size, "%s", strerror(-error));
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(reasons) && len < size; i++)
		if (reasons[i].pages)
			len += snprintf(buf + len, size - len, "%s%" PRIu64 " pages %s",
					len ? ", " : "", reasons[i].pages, reasons[i].why);
	if (len == 0)
		snprintf(buf, size, "the kernel gave no reason");
}
