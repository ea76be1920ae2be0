// SPDX-License-Identifier: GPL-2.0
/*
 * Compaction of a node's unmapped pool: empty chunks by moving the pages
 * in use of the emptiest ones into the holes of fuller ones, so that a
 * reclaim can give them back to hugetlb as free 1 GiB pages.  The plan is
 * unmapped_pool_compact_plan()'s, the moves unmapped_pool_migrate.c's;
 * this file runs them under the pool's locks and reports the outcome
 * (UNMAPPED_POOL_IOC_COMPACT, sysfs compact).
 *
 * Locking.  unmapped_pool_resize_lock is held throughout, so that no chunk
 * is lent or reclaimed meanwhile: the plan keeps pointers to chunks, and a
 * source chunk that its consumers empty would otherwise be reclaimed and
 * freed under the moves.  The pool spinlock is held only to plan, which
 * takes the destination pages in the bookkeeping so that no allocation
 * can get them, and marks the sources draining, so that placement puts no
 * new page there; and again to give back the reserved pages no folio came
 * for.  Migration runs without it: it sleeps, and allocations, frees, the
 * wipe worker and memory errors go on meanwhile (a memory error waits for
 * the resize lock).  The shrinker only tries the resize lock and finds
 * nothing to give while a compaction runs.
 *
 * Work goes in rounds of UNMAPPED_POOL_COMPACT_ROUND_CHUNKS sources, which
 * bounds the memory for the plan whatever the target.  A source whose
 * page failed to move keeps its pages and is no source again in the same
 * call, which ends once the target is met, the page budget is spent, or
 * a round finds nothing more to move.
 */
#define pr_fmt(fmt) "unmapped_pool: " fmt

#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <uapi/linux/unmapped_pool.h>

#include "unmapped_pool.h"
#include "unmapped_pool_compact.h"

/* Sources per round: 1,024 moves and their states, about 270 KiB. */
#define UNMAPPED_POOL_COMPACT_ROUND_CHUNKS	2
#define UNMAPPED_POOL_COMPACT_ROUND_MOVES \
	(UNMAPPED_POOL_COMPACT_ROUND_CHUNKS * UNMAPPED_POOL_CHUNK_BLOCKS)

/**
 * unmapped_pool_chunk_pinned - whether a chunk holds pages that never move
 * @chunk: chunk of a pool, whose lock the caller holds
 * @data: unused
 *
 * Pages of owners set with unmapped_pool_owner_set_pinned() and pages the
 * firmware leaked never move; poisoned ones the planner knows of itself.
 * The planner's @pinned callback.
 *
 * Return: true if a page of @chunk must stay where it is.
 */
bool unmapped_pool_chunk_pinned(const struct unmapped_pool_chunk *chunk,
				void *data)
{
	return chunk->pinned || chunk->leaked;
}

struct compact_run {
	struct unmapped_pool *pool;
	struct unmapped_pool_compact cc;
	struct unmapped_pool_block_move *bms;
	/* pages of busy chunks the plan counted as pinned, this round */
	unsigned long busy_excluded;
	unsigned long empty;
	unsigned long emptied;
	unsigned long moved;
	unsigned long failed;
	unsigned long shootdowns;
};

/*
 * The round's @pinned: chunks with pages that never move, and those whose
 * page failed to move earlier in this call, which are not counted pinned.
 */
static bool compact_run_pinned(const struct unmapped_pool_chunk *chunk,
			       void *data)
{
	struct compact_run *run = data;

	if (unmapped_pool_chunk_pinned(chunk, NULL))
		return true;
	if (chunk->compact_busy) {
		run->busy_excluded += chunk->used;
		return true;
	}
	return false;
}

/* Plan a round and reserve its destinations; under the pool lock. */
static void compact_round_plan(struct compact_run *run, unsigned long target,
			       unsigned long budget)
{
	struct unmapped_pool_compact *cc = &run->cc;
	unsigned int m;

	lockdep_assert_held(&run->pool->lock);
	cc->target = target;
	cc->max_pages = budget;
	run->busy_excluded = 0;
	unmapped_pool_compact_plan(run->pool, cc);
	for (m = 0; m < cc->nr_moves; m++) {
		run->bms[m].pool = run->pool;
		run->bms[m].move = &cc->moves[m];
		unmapped_pool_move_reserve(&run->bms[m]);
		cc->moves[m].src->draining = true;
	}
}

/*
 * Give back what the round's moves did not use, let placement use the
 * sources again, and count the round; under the pool lock.  A plan lists
 * each source's moves one after the other.  A source left with pages in
 * use is no source again in this call, so that every round makes progress.
 */
static void compact_round_finish(struct compact_run *run)
{
	struct unmapped_pool_compact *cc = &run->cc;
	struct unmapped_pool_chunk *src;
	unsigned int m;

	lockdep_assert_held(&run->pool->lock);
	for (m = 0; m < cc->nr_moves; m++) {
		unmapped_pool_move_release(&run->bms[m]);
		src = cc->moves[m].src;
		src->draining = false;
		run->moved += run->bms[m].moved;
		run->failed += run->bms[m].failed;
		run->shootdowns += run->bms[m].shootdowns;
		if (m + 1 < cc->nr_moves && cc->moves[m + 1].src == src)
			continue;
		if (src->used)
			src->compact_busy = true;
		else
			run->emptied++;
	}
	run->empty = unmapped_pool_empty_chunks(run->pool);
}

/* Plan and carry out rounds until the target or a limit is met. */
static int compact_rounds(struct compact_run *run, unsigned long target,
			  unsigned long max_pages)
{
	struct unmapped_pool *pool = run->pool;
	unsigned int m;

	for (;;) {
		if (fatal_signal_pending(current))
			return -EINTR;
		spin_lock_irq(&pool->lock);
		compact_round_plan(run, target, max_pages - run->moved);
		spin_unlock_irq(&pool->lock);
		if (!run->cc.nr_moves)
			return 0;
		for (m = 0; m < run->cc.nr_moves; m++) {
			unmapped_pool_move_block(&run->bms[m]);
			cond_resched();
		}
		spin_lock_irq(&pool->lock);
		compact_round_finish(run);
		spin_unlock_irq(&pool->lock);
		if (run->empty >= target)
			return 0;
	}
}

/* Fill in the request's outcome and the pool's counters. */
static void compact_report(struct compact_run *run,
			   struct unmapped_pool_compact_req *req)
{
	struct unmapped_pool *pool = run->pool;
	struct unmapped_pool_chunk *chunk;

	spin_lock_irq(&pool->lock);
	list_for_each_entry(chunk, &pool->chunks, list)
		chunk->compact_busy = false;
	req->empty_chunks = unmapped_pool_empty_chunks(pool);
	pool->compactions++;
	pool->compact_pages_moved += run->moved;
	pool->compact_pages_failed += run->failed;
	pool->compact_shootdowns += run->shootdowns;
	spin_unlock_irq(&pool->lock);
	req->chunks_emptied = run->emptied;
	req->pages_moved = run->moved;
	req->pages_busy = run->failed;
	/* What the last plan could not move, if the target is not met. */
	if (req->empty_chunks < req->target) {
		req->pages_pinned = run->cc.stuck_poisoned +
				    run->cc.stuck_pinned - run->busy_excluded;
		req->pages_no_room = run->cc.stuck_no_room;
		req->pages_over_budget = run->cc.stuck_budget;
	}
}

/**
 * unmapped_pool_compact_node - empty chunks of a node by moving pages
 * @nid: node id
 * @req: the request: @req->target and @req->max_pages (0: no limit) in,
 *	the outcome out (UNMAPPED_POOL_IOC_COMPACT's fields)
 *
 * Drains the LRU batches first, so that pages whose users are gone count
 * as free and folios can be isolated.  Emptied chunks stay lent.
 *
 * Return: 0 if the node has @req->target empty chunks, -EAGAIN if not,
 * -ENODEV for a node without a pool, -ENOMEM, or -EINTR if the task was
 * killed (what moved until then is reported).
 */
int unmapped_pool_compact_node(int nid, struct unmapped_pool_compact_req *req)
{
	struct unmapped_pool *pool = unmapped_pool_of_node(nid);
	struct compact_run *run;
	int err;

	/* The outcome starts from nothing; reserved fields are zero. */
	*req = (struct unmapped_pool_compact_req){
		.node = req->node, .flags = req->flags,
		.target = req->target, .max_pages = req->max_pages,
	};
	if (!pool)
		return -ENODEV;
	run = kzalloc(sizeof(*run), GFP_KERNEL);
	if (!run)
		return -ENOMEM;
	run->pool = pool;
	run->cc.pinned = compact_run_pinned;
	run->cc.data = run;
	run->cc.max_moves = UNMAPPED_POOL_COMPACT_ROUND_MOVES;
	run->cc.moves = kvcalloc(UNMAPPED_POOL_COMPACT_ROUND_MOVES,
				 sizeof(*run->cc.moves), GFP_KERNEL);
	run->bms = kvcalloc(UNMAPPED_POOL_COMPACT_ROUND_MOVES,
			    sizeof(*run->bms), GFP_KERNEL);
	if (!run->cc.moves || !run->bms) {
		err = -ENOMEM;
		goto out;
	}

	mutex_lock(&unmapped_pool_resize_lock);
	unmapped_pool_settle();
	err = compact_rounds(run, req->target,
			     req->max_pages ? req->max_pages : ULONG_MAX);
	compact_report(run, req);
	mutex_unlock(&unmapped_pool_resize_lock);
	if (!err && req->empty_chunks < req->target)
		err = -EAGAIN;
out:
	kvfree(run->bms);
	kvfree(run->cc.moves);
	kfree(run);
	return err;
}

/**
 * unmapped_pool_compact_stat - a compaction counter of a node's pool
 * @nid: node id
 * @offset: offset of the u64 counter in struct unmapped_pool
 *
 * Return: the counter, 0 for a node without a pool.
 */
u64 unmapped_pool_compact_stat(int nid, size_t offset)
{
	struct unmapped_pool *pool = unmapped_pool_of_node(nid);
	u64 val;

	if (!pool)
		return 0;
	spin_lock_irq(&pool->lock);
	val = *(u64 *)((char *)pool + offset);
	spin_unlock_irq(&pool->lock);
	return val;
}
