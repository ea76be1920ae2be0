// SPDX-License-Identifier: GPL-2.0
/*
 * Placement policy of the unmapped page pool.
 *
 * A chunk goes back to hugetlb only once every one of its pages is free,
 * so where pages are placed decides how many chunks stay stranded by a few
 * long-lived pages.  Three rules keep chunks reclaimable:
 *
 *  - owner affinity: pages of one owner (a memfd_secret or guest_memfd
 *    file) are packed into blocks of their own, so that the owner going
 *    away frees whole blocks rather than holes in everybody's blocks;
 *  - fullest first: a new owner's first block is taken from the fullest
 *    chunk, so that allocations concentrate and the emptiest chunks drain;
 *  - a growing owner spreads out: an owner that has filled a block of its
 *    own and finds no free block left in its chunk takes the next one from
 *    the emptiest chunk, so that a large owner (a VM's guest memory) ends
 *    up with chunks of its own rather than filling the holes of many.
 *
 * The decisions around placement live here too: which chunk a reclaim
 * gives back, how requests, failures and lends are counted, and when the
 * pool's level against its low watermark is worth an event.
 *
 * This file is pure bookkeeping over struct unmapped_pool_chunk and struct
 * unmapped_pool: no locking and no calls into memory management, so that it
 * can be compiled unchanged into a user-space simulator (bench/sim).
 * Callers hold the pool lock.
 */
#define pr_fmt(fmt) "unmapped_pool: " fmt

#include <linux/bitmap.h>
#include <linux/list.h>
#include <linux/string.h>

#include "unmapped_pool.h"

/**
 * unmapped_pool_chunk_init - reset the placement state of a fresh chunk
 * @chunk: chunk whose bitmaps are allocated
 */
void unmapped_pool_chunk_init(struct unmapped_pool_chunk *chunk)
{
	bitmap_zero(chunk->used_map, UNMAPPED_POOL_CHUNK_PAGES);
	memset(chunk->block_owner, 0, sizeof(chunk->block_owner));
	memset(chunk->block_used, 0, sizeof(chunk->block_used));
	chunk->used = 0;
	chunk->free_blocks = UNMAPPED_POOL_CHUNK_BLOCKS;
	chunk->draining = false;
}

/* First free, naturally aligned range of 2^order pages in a block, or -1. */
static long block_find(struct unmapped_pool_chunk *chunk, unsigned int block,
		       unsigned int order)
{
	unsigned long start = (unsigned long)block * UNMAPPED_POOL_BLOCK_PAGES;
	unsigned long end = start + UNMAPPED_POOL_BLOCK_PAGES;
	unsigned long nr = 1UL << order;
	unsigned long index;

	if (chunk->block_used[block] + nr > UNMAPPED_POOL_BLOCK_PAGES)
		return -1;
	index = bitmap_find_next_zero_area(chunk->used_map, end, start, nr,
					   nr - 1);
	return index < end ? index : -1;
}

static struct unmapped_pool_owner_hint *hint_find(struct unmapped_pool *pool,
						  unsigned long owner)
{
	unsigned int i;

	for (i = 0; i < UNMAPPED_POOL_OWNER_HINTS; i++)
		if (pool->hints[i].owner == owner && pool->hints[i].chunk)
			return &pool->hints[i];
	return NULL;
}

static void hint_update(struct unmapped_pool *pool, unsigned long owner,
			struct unmapped_pool_chunk *chunk, unsigned int block)
{
	struct unmapped_pool_owner_hint *hint = hint_find(pool, owner);

	if (!hint) {
		hint = &pool->hints[pool->next_hint];
		pool->next_hint =
			(pool->next_hint + 1) % UNMAPPED_POOL_OWNER_HINTS;
		hint->owner = owner;
	}
	hint->chunk = chunk;
	hint->block = block;
}

/* Drop what placement remembers of a chunk that leaves the pool. */
static void place_forget(struct unmapped_pool *pool,
			 struct unmapped_pool_chunk *chunk)
{
	unsigned int i;

	for (i = 0; i < UNMAPPED_POOL_OWNER_HINTS; i++)
		if (pool->hints[i].chunk == chunk)
			pool->hints[i].chunk = NULL;
}

/* The chunk with a free block that has the most or the fewest pages used. */
static struct unmapped_pool_chunk *
chunk_with_free_block(struct unmapped_pool *pool, bool emptiest)
{
	struct unmapped_pool_chunk *chunk, *best = NULL;

	list_for_each_entry(chunk, &pool->chunks, list) {
		if (chunk->draining || !chunk->free_blocks)
			continue;
		if (!best || (emptiest ? chunk->used < best->used :
					 chunk->used > best->used))
			best = chunk;
	}
	return best;
}

static unsigned int first_free_block(const struct unmapped_pool_chunk *chunk)
{
	unsigned int block;

	for (block = 0; block < UNMAPPED_POOL_CHUNK_BLOCKS; block++)
		if (!chunk->block_used[block])
			break;
	return block;
}

/* Every block is in use: share a block of the fullest chunk with room. */
static struct unmapped_pool_chunk *share_block(struct unmapped_pool *pool,
					       unsigned int order,
					       unsigned long *ret_index)
{
	struct unmapped_pool_chunk *chunk, *best = NULL;
	unsigned int block;
	long index;

	list_for_each_entry(chunk, &pool->chunks, list) {
		if (chunk->draining ||
		    chunk->used + (1UL << order) > UNMAPPED_POOL_CHUNK_PAGES ||
		    (best && chunk->used <= best->used))
			continue;
		for (block = 0; block < UNMAPPED_POOL_CHUNK_BLOCKS; block++) {
			index = block_find(chunk, block, order);
			if (index >= 0) {
				best = chunk;
				*ret_index = index;
				break;
			}
		}
	}
	return best;
}

/**
 * unmapped_pool_place - choose where a request of the pool is served
 * @pool: pool of the node
 * @owner: owner cookie of the request (never 0)
 * @order: order of the request, at most UNMAPPED_POOL_MAX_ORDER
 * @ret_index: page index inside the returned chunk
 *
 * In order of preference: the block the owner allocated from last, a free
 * block of the chunk that block is in, a free block of the emptiest chunk
 * for an owner that has filled a block of its own or of the fullest chunk
 * for any other, and only then room in a block some other owner uses.
 *
 * Return: the chunk, or NULL if the pool has no room for the request.
 */
struct unmapped_pool_chunk *unmapped_pool_place(struct unmapped_pool *pool,
						unsigned long owner,
						unsigned int order,
						unsigned long *ret_index)
{
	struct unmapped_pool_owner_hint *hint = hint_find(pool, owner);
	struct unmapped_pool_chunk *chunk = NULL;
	bool grows = false;
	long index;

	if (hint && !hint->chunk->draining) {
		if (hint->chunk->block_owner[hint->block] == owner) {
			index = block_find(hint->chunk, hint->block, order);
			if (index >= 0) {
				*ret_index = index;
				return hint->chunk;
			}
			/* Requests without an owner are no one owner growing. */
			grows = owner != UNMAPPED_POOL_OWNER_SHARED;
		}
		if (hint->chunk->free_blocks)
			chunk = hint->chunk;
	}
	if (!chunk)
		chunk = chunk_with_free_block(pool, grows);
	if (chunk) {
		*ret_index = (unsigned long)first_free_block(chunk) *
			     UNMAPPED_POOL_BLOCK_PAGES;
		return chunk;
	}
	return share_block(pool, order, ret_index);
}

/**
 * unmapped_pool_chunk_take - account pages handed out
 * @pool: pool of the chunk
 * @chunk: chunk chosen by unmapped_pool_place()
 * @index: first page, as returned by unmapped_pool_place()
 * @order: order of the request
 * @owner: owner cookie of the request
 */
void unmapped_pool_chunk_take(struct unmapped_pool *pool,
			      struct unmapped_pool_chunk *chunk,
			      unsigned long index, unsigned int order,
			      unsigned long owner)
{
	unsigned int block = index / UNMAPPED_POOL_BLOCK_PAGES;
	unsigned long nr = 1UL << order;

	bitmap_set(chunk->used_map, index, nr);
	if (!chunk->block_used[block]) {
		chunk->free_blocks--;
		chunk->block_owner[block] = owner;
	} else if (chunk->block_owner[block] != owner) {
		chunk->block_owner[block] = UNMAPPED_POOL_OWNER_SHARED;
	}
	chunk->block_used[block] += nr;
	chunk->used += nr;
	pool->used_pages += nr;
	hint_update(pool, owner, chunk, block);
}

/**
 * unmapped_pool_chunk_put - account pages given back
 * @pool: pool of the chunk
 * @chunk: chunk the pages belong to
 * @index: first page inside the chunk
 * @order: order of the block of pages
 */
void unmapped_pool_chunk_put(struct unmapped_pool *pool,
			     struct unmapped_pool_chunk *chunk,
			     unsigned long index, unsigned int order)
{
	unsigned int block = index / UNMAPPED_POOL_BLOCK_PAGES;
	unsigned long nr = 1UL << order;

	bitmap_clear(chunk->used_map, index, nr);
	chunk->block_used[block] -= nr;
	if (!chunk->block_used[block]) {
		chunk->block_owner[block] = 0;
		chunk->free_blocks++;
	}
	chunk->used -= nr;
	pool->used_pages -= nr;
}

/**
 * unmapped_pool_note_level - compare the pool's free pages with its watermark
 * @pool: pool whose use, size or watermark just changed
 * @failed: a request just found no room in the pool
 *
 * User space is told once when the pool falls below its low watermark, not
 * again while it stays below, and on every failed request.
 *
 * Return: true if an event is due.
 */
bool unmapped_pool_note_level(struct unmapped_pool *pool, bool failed)
{
	bool low = pool->low_watermark &&
		   unmapped_pool_nr_free(pool) < pool->low_watermark;
	bool raise = failed || (low && !pool->below_watermark);

	pool->below_watermark = low;
	return raise;
}

/**
 * unmapped_pool_watermark_reset - set the free-page level that raises an event
 * @pool: pool of the node
 * @low_pages: free pages under which an event is due, 0 for none
 *
 * The pool counts as above the new watermark, so that a pool already below
 * it raises the event at the next unmapped_pool_note_level().
 */
void unmapped_pool_watermark_reset(struct unmapped_pool *pool,
				   unsigned long low_pages)
{
	pool->low_watermark = low_pages;
	pool->below_watermark = false;
}

/**
 * unmapped_pool_account - account a request where unmapped_pool_place() put it
 * @pool: pool of the node, with at least one chunk
 * @chunk: chunk chosen by unmapped_pool_place(), or NULL if it found no room
 * @index: first page, as returned by unmapped_pool_place()
 * @order: order of the request
 * @owner: owner cookie of the request
 *
 * Return: true if an event is due, as for unmapped_pool_note_level().
 */
bool unmapped_pool_account(struct unmapped_pool *pool,
			   struct unmapped_pool_chunk *chunk,
			   unsigned long index, unsigned int order,
			   unsigned long owner)
{
	if (chunk)
		unmapped_pool_chunk_take(pool, chunk, index, order, owner);
	else if (pool->nr_chunks)
		pool->alloc_failures++;
	return unmapped_pool_note_level(pool, !chunk && pool->nr_chunks);
}

/**
 * unmapped_pool_add_chunk - account a chunk just lent to the pool
 * @pool: pool of the chunk's node
 * @chunk: chunk after unmapped_pool_chunk_init()
 *
 * A new chunk goes to the head of the list, which placement's ties and the
 * choice of unmapped_pool_remove_empty() depend on.
 */
void unmapped_pool_add_chunk(struct unmapped_pool *pool,
			     struct unmapped_pool_chunk *chunk)
{
	list_add(&chunk->list, &pool->chunks);
	pool->nr_chunks++;
	pool->lends++;
}

/**
 * unmapped_pool_remove_empty - take the chunk a reclaim gives back
 * @pool: pool of the node
 *
 * The first chunk in list order with no page in use leaves the pool's list
 * and placement's memory, marked as draining.
 *
 * Return: the chunk, or NULL when every chunk has pages in use.
 */
struct unmapped_pool_chunk *
unmapped_pool_remove_empty(struct unmapped_pool *pool)
{
	struct unmapped_pool_chunk *chunk;

	list_for_each_entry(chunk, &pool->chunks, list) {
		if (chunk->used)
			continue;
		chunk->draining = true;
		list_del(&chunk->list);
		place_forget(pool, chunk);
		pool->nr_chunks--;
		return chunk;
	}
	return NULL;
}

/**
 * unmapped_pool_spare - empty chunks a pool can give up to memory pressure
 * @pool: pool of the node
 * @empty: its chunks with no page in use
 *
 * The low watermark asks for free pages.  Those of the chunks in use count
 * towards it first, and the empty chunks beyond what it still needs are
 * spare: the shrinker may take them.
 *
 * Return: the spare chunks of @pool, at most @empty.
 */
unsigned long unmapped_pool_spare(const struct unmapped_pool *pool,
				  unsigned long empty)
{
	unsigned long other_free, needed = 0;

	other_free = unmapped_pool_nr_free(pool) -
		     empty * UNMAPPED_POOL_CHUNK_PAGES;
	/* No overflow: SET_WATERMARK bounds the watermark. */
	if (pool->low_watermark > other_free)
		needed = DIV_ROUND_UP(pool->low_watermark - other_free,
				      UNMAPPED_POOL_CHUNK_PAGES);
	return empty > needed ? empty - needed : 0;
}
