// SPDX-License-Identifier: GPL-2.0
/*
 * Compaction planner of the unmapped page pool.
 *
 * A chunk goes back to hugetlb only once every one of its pages is free, so
 * pages that outlive their neighbours strand chunks: the pool may hold many
 * chunks' worth of free pages and no empty chunk.  Compaction empties the
 * emptiest chunks by moving their pages into the holes of fuller ones.
 * This file decides what moves where; moving the pages (unmapping,
 * copying through the pool's temporary mappings, remapping) is the
 * caller's.
 *
 * The plan works in blocks, placement's unit of affinity: all pages in use
 * of a source block go to one destination block, each at the same offset
 * in the block it had.  A folio of any order up to a block thus stays
 * naturally aligned without the plan knowing folio orders, and an owner's
 * block stays one block.  For the pages of a block of owner X, in order of
 * preference:
 *
 *  - a block of X in use whose free pages lie where the moving pages do, in
 *    the fullest chunk that has one: an owner's pages go to its own blocks
 *    first, as placement puts them;
 *  - a free block, in the chunk that received X's last moved block if it
 *    has one, otherwise in the fullest chunk that has one, as placement
 *    takes a new block from the fullest chunk; the small owners' chunk
 *    keeps the free blocks placement leaves to them;
 *  - any block in use whose free pages lie where the moving pages do, in
 *    the fullest chunk that has one; the block becomes shared.
 *
 * Sources are the emptiest chunks that may move: a chunk with a poisoned
 * page can never be emptied, and one whose pages the caller says must stay
 * (hardware-bound or pinned) is not a source either.  Empty chunks receive
 * no pages.  A source whose pages do not all find room keeps all of them.
 *
 * Work is bounded: choosing the sources costs a walk over the pool's
 * chunks per source; each source block costs one walk over them, with a
 * word search of each chunk's block maps and, per candidate block, a test
 * of its 512-bit page map against the source block's.  The caller bounds
 * the pages and the moves of a plan.
 *
 * Like unmapped_pool_place.c this is pure bookkeeping over struct
 * unmapped_pool_chunk and struct unmapped_pool, compiled unchanged into the
 * placement simulator (bench/sim).  Callers hold the pool lock.  The plan
 * takes the destination pages in the bookkeeping, with the owner id of
 * their source block, so that no allocation gets them before the pages
 * arrive; each source page is freed as usual once its contents moved.
 */
#include <linux/bitmap.h>
#include <linux/list.h>

#include "unmapped_pool.h"
#include "unmapped_pool_compact.h"

/* Where the pages of one source block go. */
struct compact_dest {
	struct unmapped_pool_chunk *chunk;
	unsigned int block;
};

static unsigned long *block_map(const struct unmapped_pool_chunk *chunk,
				unsigned int block)
{
	return chunk->used_map +
	       BIT_WORD((unsigned long)block * UNMAPPED_POOL_BLOCK_PAGES);
}

/*
 * The movable, non-empty chunk next after (*used, *pos) in the order of
 * pages in use, then of list position, and its place in that order; NULL
 * when none is left.  Chunks already chosen as sources are draining.
 */
static struct unmapped_pool_chunk *next_emptiest(struct unmapped_pool *pool,
						 unsigned long *used, long *pos)
{
	struct unmapped_pool_chunk *chunk, *best = NULL;
	unsigned long best_used = 0;
	long i = 0, best_pos = 0;

	list_for_each_entry(chunk, &pool->chunks, list) {
		bool after = chunk->used > *used ||
			     (chunk->used == *used && i > *pos);

		if (chunk->used && !chunk->draining && after &&
		    (!best || chunk->used < best_used)) {
			best = chunk;
			best_used = chunk->used;
			best_pos = i;
		}
		i++;
	}
	*used = best_used;
	*pos = best_pos;
	return best;
}

/*
 * Mark the sources, the emptiest chunks that may move, as draining, so
 * that no pages are planned into them; count the pages of the chunks that
 * would have been sources but may not move.
 */
static void choose_sources(struct unmapped_pool *pool,
			   struct unmapped_pool_compact *cc,
			   unsigned long want)
{
	struct unmapped_pool_chunk *chunk;
	unsigned long chosen = 0, used = 0;
	long pos = -1;

	while (chosen < want) {
		chunk = next_emptiest(pool, &used, &pos);
		if (!chunk)
			break;
		if (chunk->poisoned) {
			cc->stuck_poisoned += chunk->used - chunk->poisoned;
		} else if (cc->pinned && cc->pinned(chunk, cc->data)) {
			cc->stuck_pinned += chunk->used;
		} else {
			chunk->draining = true;
			chosen++;
		}
	}
}

/* Whether the free pages of a block lie where a source block's pages do. */
static bool block_fits(const struct unmapped_pool_chunk *chunk,
		       unsigned int block, const unsigned long *pages,
		       unsigned int nr)
{
	return chunk->block_used[block] + nr <= UNMAPPED_POOL_BLOCK_PAGES &&
	       !bitmap_intersects(block_map(chunk, block), pages,
				  UNMAPPED_POOL_BLOCK_PAGES);
}

/*
 * A block of @chunk in use that is not full and that the pages fit, of
 * owner @id only or of any owner: its index, or -1.
 */
static long chunk_fit(const struct unmapped_pool_chunk *chunk,
		      unsigned long id, bool any, const unsigned long *pages,
		      unsigned int nr)
{
	DECLARE_BITMAP(candidates, UNMAPPED_POOL_CHUNK_BLOCKS);
	unsigned int block;

	bitmap_or(candidates, chunk->free_block_map, chunk->full_map,
		  UNMAPPED_POOL_CHUNK_BLOCKS);
	bitmap_complement(candidates, candidates, UNMAPPED_POOL_CHUNK_BLOCKS);
	for_each_set_bit(block, candidates, UNMAPPED_POOL_CHUNK_BLOCKS) {
		if (!any && chunk->block_owner[block] != id)
			continue;
		if (block_fits(chunk, block, pages, nr))
			return block;
	}
	return -1;
}

/* Whether @chunk may take a free block for pages of owner @id. */
static bool takes_free_block(const struct unmapped_pool *pool,
			     const struct unmapped_pool_chunk *chunk,
			     unsigned long id)
{
	if (!chunk->free_blocks)
		return false;
	return chunk != pool->shared_chunk || id == UNMAPPED_POOL_OWNER_SHARED ||
	       chunk->free_blocks > UNMAPPED_POOL_SHARED_RESERVE;
}

/*
 * The destination of the pages of block @block of @src, in the order of
 * preference at the top; @last is the chunk that took the last block
 * moved, with @last_id its owner.
 */
static bool find_dest(struct unmapped_pool *pool,
		      struct unmapped_pool_chunk *src, unsigned int block,
		      const struct compact_dest *last, unsigned long last_id,
		      struct compact_dest *ret)
{
	const unsigned long *pages = block_map(src, block);
	unsigned int nr = src->block_used[block];
	unsigned long id = src->block_owner[block];
	struct unmapped_pool_chunk *chunk, *own = NULL, *any = NULL;
	struct unmapped_pool_chunk *free = NULL;
	long own_block = -1, any_block = -1, b;

	if (last->chunk && last_id == id &&
	    takes_free_block(pool, last->chunk, id))
		free = last->chunk;
	list_for_each_entry(chunk, &pool->chunks, list) {
		if (chunk->draining || !chunk->used)
			continue;
		if (!own || chunk->used > own->used) {
			b = chunk_fit(chunk, id, false, pages, nr);
			if (b >= 0) {
				own = chunk;
				own_block = b;
			}
		}
		if (!own && (!any || chunk->used > any->used)) {
			b = chunk_fit(chunk, id, true, pages, nr);
			if (b >= 0) {
				any = chunk;
				any_block = b;
			}
		}
		if ((!free || (free != last->chunk && chunk->used > free->used)) &&
		    takes_free_block(pool, chunk, id))
			free = chunk;
	}
	if (own) {
		*ret = (struct compact_dest){ own, own_block };
	} else if (free) {
		*ret = (struct compact_dest){
			free, find_first_bit(free->free_block_map,
					     UNMAPPED_POOL_CHUNK_BLOCKS) };
	} else if (any) {
		*ret = (struct compact_dest){ any, any_block };
	} else {
		return false;
	}
	return true;
}

/* Take the destination pages of a move: those of its source block. */
static void move_take(struct unmapped_pool *pool,
		      const struct unmapped_pool_compact_move *move)
{
	const unsigned long *pages = block_map(move->src, move->src_block);
	unsigned long base = (unsigned long)move->dst_block *
			     UNMAPPED_POOL_BLOCK_PAGES;
	unsigned long id = move->src->block_owner[move->src_block];
	unsigned long start = 0, end;

	for (;;) {
		start = find_next_bit(pages, UNMAPPED_POOL_BLOCK_PAGES, start);
		if (start >= UNMAPPED_POOL_BLOCK_PAGES)
			break;
		end = find_next_zero_bit(pages, UNMAPPED_POOL_BLOCK_PAGES,
					 start);
		unmapped_pool_chunk_take_as(pool, move->dst, base + start,
					    end - start, id);
		start = end;
	}
}

/* Give the destination pages of a move back: its source keeps its pages. */
static void move_undo(struct unmapped_pool *pool,
		      const struct unmapped_pool_compact_move *move)
{
	const unsigned long *pages = block_map(move->src, move->src_block);
	unsigned long base = (unsigned long)move->dst_block *
			     UNMAPPED_POOL_BLOCK_PAGES;
	unsigned int i;

	for_each_set_bit(i, pages, UNMAPPED_POOL_BLOCK_PAGES)
		unmapped_pool_chunk_put(pool, move->dst, base + i, 0);
}

/*
 * Plan the moves that empty @src, or none: false if some block found no
 * room, and then the destination pages already taken are given back.
 */
static bool plan_source(struct unmapped_pool *pool,
			struct unmapped_pool_compact *cc,
			struct unmapped_pool_chunk *src)
{
	unsigned int first = cc->nr_moves, block;
	struct compact_dest last = { NULL, 0 }, dest;
	unsigned long last_id = 0;
	struct unmapped_pool_compact_move *move;

	for (block = 0; block < UNMAPPED_POOL_CHUNK_BLOCKS; block++) {
		if (!src->block_used[block])
			continue;
		if (!find_dest(pool, src, block, &last, last_id, &dest))
			goto undo;
		move = &cc->moves[cc->nr_moves++];
		*move = (struct unmapped_pool_compact_move){
			.src = src, .dst = dest.chunk, .src_block = block,
			.dst_block = dest.block, .pages = src->block_used[block],
		};
		move_take(pool, move);
		last = dest;
		last_id = src->block_owner[block];
	}
	return true;
undo:
	while (cc->nr_moves > first)
		move_undo(pool, &cc->moves[--cc->nr_moves]);
	return false;
}

/* Blocks of a chunk that have pages in use: the moves that empty it. */
static unsigned int blocks_in_use(const struct unmapped_pool_chunk *chunk)
{
	return UNMAPPED_POOL_CHUNK_BLOCKS - chunk->free_blocks;
}

/**
 * unmapped_pool_compact_plan - plan the moves that empty chunks of a pool
 * @pool: pool of the node
 * @cc: the request (@target, @max_pages, @pinned, @data, @moves and
 *	@max_moves); the rest is filled in
 *
 * Chooses the emptiest chunks that may move, as many as @target lacks
 * empty chunks, and a destination block for each of their blocks in use,
 * until each is planned or nothing more can move.  While it plans, the
 * sources are marked draining, which keeps pages from being planned into
 * them; the marks are gone when it returns.  The destination pages
 * are taken in the bookkeeping of @pool; the source pages stay in use
 * until the caller has moved them and frees them.  Placement must not
 * take pages of a source meanwhile: the plan leaves the sources as they
 * were, and keeping allocations off them is the caller's.
 */
void unmapped_pool_compact_plan(struct unmapped_pool *pool,
				struct unmapped_pool_compact *cc)
{
	struct unmapped_pool_chunk *chunk;
	unsigned long empty = 0;

	cc->nr_moves = 0;
	cc->pages_moved = 0;
	cc->emptied = 0;
	cc->stuck_poisoned = 0;
	cc->stuck_pinned = 0;
	cc->stuck_no_room = 0;
	cc->stuck_budget = 0;
	list_for_each_entry(chunk, &pool->chunks, list)
		empty += !chunk->used && !chunk->draining;
	if (cc->target > empty)
		choose_sources(pool, cc, cc->target - empty);
	list_for_each_entry(chunk, &pool->chunks, list) {
		if (!chunk->draining)
			continue;
		if (cc->pages_moved + chunk->used > cc->max_pages ||
		    cc->nr_moves + blocks_in_use(chunk) > cc->max_moves) {
			cc->stuck_budget += chunk->used;
		} else if (plan_source(pool, cc, chunk)) {
			cc->pages_moved += chunk->used;
			cc->emptied++;
		} else {
			cc->stuck_no_room += chunk->used;
		}
	}
	list_for_each_entry(chunk, &pool->chunks, list)
		chunk->draining = false;
	cc->empty = empty + cc->emptied;
}
