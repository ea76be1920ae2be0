// SPDX-License-Identifier: GPL-2.0
/*
 * Placement policy of the unmapped page pool.
 *
 * A chunk goes back to hugetlb only once every one of its pages is free,
 * so where pages are placed decides how many chunks stay stranded by a few
 * long-lived pages.  Four rules keep chunks reclaimable:
 *
 *  - small owners share: an owner (a memfd_secret or guest_memfd file)
 *    takes its first UNMAPPED_POOL_OWNER_SMALL_PAGES from blocks that all
 *    small owners share, so that many small files pin a few blocks, not a
 *    block each, and these blocks stay together in one chunk, whose last
 *    UNMAPPED_POOL_SHARED_RESERVE free blocks other owners leave to them,
 *    rather than scatter into the holes of the VMs' chunks;
 *  - owner affinity: further pages of an owner are packed into blocks of
 *    its own, so that the owner going away frees whole blocks rather than
 *    holes in everybody's blocks;
 *  - fullest first: a new block is taken from the fullest chunk, so that
 *    allocations concentrate and the emptiest chunks drain;
 *  - a growing owner spreads out: an owner that has filled a block of its
 *    own and finds no free block left in its chunk takes the next one from
 *    the emptiest chunk, so that a large owner (a VM's guest memory) ends
 *    up with chunks of its own rather than filling the holes of many.
 *
 * Work is bounded: a request that fits the block its owner (or the small
 * owners) filled last costs a search of that one block's bitmap; one that
 * needs another block costs a walk over the pool's chunks, with a word
 * search of per-chunk block maps in each and the search of one block's
 * bitmap, never a walk over every block.
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
#include <linux/math.h>
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
	bitmap_fill(chunk->free_block_map, UNMAPPED_POOL_CHUNK_BLOCKS);
	bitmap_zero(chunk->shared_map, UNMAPPED_POOL_CHUNK_BLOCKS);
	bitmap_zero(chunk->full_map, UNMAPPED_POOL_CHUNK_BLOCKS);
	chunk->used = 0;
	chunk->poisoned = 0;
	chunk->leaked = 0;
	chunk->pinned = 0;
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

/*
 * Whether a request goes to the shared blocks: it has no owner, its owner
 * has not yet taken enough pages to earn blocks of its own, or its owner's
 * blocks are in the pool of another node.
 */
static bool place_shared(const struct unmapped_pool *pool,
			 const struct unmapped_pool_owner *owner,
			 unsigned int order)
{
	return !owner ||
	       owner->pages + (1UL << order) <= UNMAPPED_POOL_OWNER_SMALL_PAGES ||
	       (owner->pool && owner->pool != pool);
}

/*
 * The chunk of the block of its own the owner filled last, if it is still
 * in the pool (no chunk left the pool since it was recorded) and not being
 * emptied by compaction.
 */
static struct unmapped_pool_chunk *
owner_chunk(const struct unmapped_pool *pool,
	    const struct unmapped_pool_owner *owner)
{
	if (owner->pool != pool || owner->gen != pool->chunk_gen ||
	    owner->chunk->draining)
		return NULL;
	return owner->chunk;
}

/*
 * The chunk with a free block that has the most or the fewest pages used,
 * other than @avoid unless no other has one.
 */
static struct unmapped_pool_chunk *
chunk_with_free_block(struct unmapped_pool *pool, bool emptiest,
		      struct unmapped_pool_chunk *avoid)
{
	struct unmapped_pool_chunk *chunk, *best = NULL;

	list_for_each_entry(chunk, &pool->chunks, list) {
		if (chunk->draining || !chunk->free_blocks || chunk == avoid)
			continue;
		if (!best || (emptiest ? chunk->used < best->used :
					 chunk->used > best->used))
			best = chunk;
	}
	if (!best && avoid && !avoid->draining &&
	    avoid->free_blocks > UNMAPPED_POOL_SHARED_RESERVE)
		best = avoid;
	return best;
}

/* A free block of the chunk, as the index of its first page. */
static unsigned long first_free_block(const struct unmapped_pool_chunk *chunk)
{
	return find_first_bit(chunk->free_block_map,
			      UNMAPPED_POOL_CHUNK_BLOCKS) *
	       UNMAPPED_POOL_BLOCK_PAGES;
}

/*
 * A free page in a block of the chunk that is in use and not full, shared
 * ones only or any: its index, or -1.  One word search of the block maps
 * and one of a block's page bitmap.
 */
static long chunk_find_page(struct unmapped_pool_chunk *chunk, bool shared_only)
{
	DECLARE_BITMAP(candidates, UNMAPPED_POOL_CHUNK_BLOCKS);
	unsigned long block;

	bitmap_or(candidates, chunk->free_block_map, chunk->full_map,
		  UNMAPPED_POOL_CHUNK_BLOCKS);
	bitmap_complement(candidates, candidates, UNMAPPED_POOL_CHUNK_BLOCKS);
	if (shared_only)
		bitmap_and(candidates, candidates, chunk->shared_map,
			   UNMAPPED_POOL_CHUNK_BLOCKS);
	block = find_first_bit(candidates, UNMAPPED_POOL_CHUNK_BLOCKS);
	if (block >= UNMAPPED_POOL_CHUNK_BLOCKS)
		return -1;
	return block_find(chunk, block, 0);
}

/*
 * A free page in a block in use of the fullest chunk that has one.  Only
 * order 0: whether a larger request fits a block in use depends on how
 * its free pages lie, which only a search of every such block could tell.
 */
static struct unmapped_pool_chunk *share_block(struct unmapped_pool *pool,
					       bool shared_only,
					       unsigned int order,
					       unsigned long *ret_index)
{
	struct unmapped_pool_chunk *chunk, *best = NULL;
	long index;

	if (order)
		return NULL;
	list_for_each_entry(chunk, &pool->chunks, list) {
		if (chunk->draining ||
		    chunk->used == UNMAPPED_POOL_CHUNK_PAGES ||
		    (best && chunk->used <= best->used))
			continue;
		index = chunk_find_page(chunk, shared_only);
		if (index >= 0) {
			best = chunk;
			*ret_index = index;
		}
	}
	return best;
}

/*
 * A request of small owners: the shared block they filled last, another
 * shared block or a free block of its chunk, a page of a shared block in
 * the fullest chunk that has one, a free block of the fullest chunk, and
 * only then a page of any block in use.
 */
static struct unmapped_pool_chunk *place_small(struct unmapped_pool *pool,
					       unsigned int order,
					       unsigned long *ret_index)
{
	struct unmapped_pool_chunk *chunk = pool->shared_chunk;
	long index;

	/* Compaction is emptying it: small owners go elsewhere meanwhile. */
	if (chunk && !chunk->draining) {
		if (test_bit(pool->shared_block, chunk->shared_map)) {
			index = block_find(chunk, pool->shared_block, order);
			if (index >= 0) {
				*ret_index = index;
				return chunk;
			}
		}
		index = order ? -1 : chunk_find_page(chunk, true);
		if (index < 0 && chunk->free_blocks)
			index = first_free_block(chunk);
		if (index >= 0) {
			*ret_index = index;
			return chunk;
		}
	}
	chunk = share_block(pool, true, order, ret_index);
	if (chunk)
		return chunk;
	chunk = chunk_with_free_block(pool, false, NULL);
	if (chunk) {
		*ret_index = first_free_block(chunk);
		return chunk;
	}
	return share_block(pool, false, order, ret_index);
}

/**
 * unmapped_pool_place - choose where a request of the pool is served
 * @pool: pool of the node
 * @owner: placement state of the request's owner, NULL for none
 * @order: order of the request, at most UNMAPPED_POOL_MAX_ORDER
 * @ret_index: page index inside the returned chunk
 *
 * Requests of owners that have not earned blocks of their own go to the
 * shared blocks.  For the others, in order of preference: the block of its
 * own the owner allocated from last, a free block of the chunk that block
 * is in, a free block of the emptiest chunk for an owner that has filled
 * a block of its own or of the fullest chunk for any other (the small
 * owners' chunk last), then a page of a block some other owner uses, and
 * only when the pool is full but for it a free block of the small owners'
 * reserve.  Requests of order > 0 only
 * ever get the block the owner (or the small owners) filled last or a
 * free block.
 *
 * Return: the chunk, or NULL if the pool has no room for the request.
 */
struct unmapped_pool_chunk *unmapped_pool_place(struct unmapped_pool *pool,
						struct unmapped_pool_owner *owner,
						unsigned int order,
						unsigned long *ret_index)
{
	struct unmapped_pool_chunk *last, *chunk = NULL;
	bool grows = false;
	long index;

	if (place_shared(pool, owner, order))
		return place_small(pool, order, ret_index);
	last = owner_chunk(pool, owner);
	if (last) {
		if (last->block_owner[owner->block] == owner->id) {
			index = block_find(last, owner->block, order);
			if (index >= 0) {
				*ret_index = index;
				return last;
			}
			grows = true;
		}
		if (last->free_blocks && last != pool->shared_chunk)
			chunk = last;
	}
	if (!chunk)
		chunk = chunk_with_free_block(pool, grows, pool->shared_chunk);
	if (chunk) {
		*ret_index = first_free_block(chunk);
		return chunk;
	}
	chunk = share_block(pool, false, order, ret_index);
	if (chunk)
		return chunk;
	/* Full but for the small owners' reserve: use it rather than fail. */
	chunk = pool->shared_chunk;
	if (!chunk || chunk->draining || !chunk->free_blocks)
		return NULL;
	*ret_index = first_free_block(chunk);
	return chunk;
}

static void block_set_owner(struct unmapped_pool_chunk *chunk,
			    unsigned int block, unsigned long id)
{
	chunk->block_owner[block] = id;
	if (id == UNMAPPED_POOL_OWNER_SHARED)
		__set_bit(block, chunk->shared_map);
	else
		__clear_bit(block, chunk->shared_map);
}

/**
 * unmapped_pool_chunk_take_as - account pages handed out to an owner id
 * @pool: pool of the chunk
 * @chunk: chunk of the pages
 * @index: first page
 * @nr: pages, all in the block of @index and free
 * @id: owner id of the pages, or UNMAPPED_POOL_OWNER_SHARED
 *
 * The block becomes @id's if it was free and shared if another owner's;
 * no owner's placement state changes.  Compaction takes the pages it moves
 * to with the id of the block they come from.
 */
void unmapped_pool_chunk_take_as(struct unmapped_pool *pool,
				 struct unmapped_pool_chunk *chunk,
				 unsigned long index, unsigned long nr,
				 unsigned long id)
{
	unsigned int block = index / UNMAPPED_POOL_BLOCK_PAGES;

	bitmap_set(chunk->used_map, index, nr);
	if (!chunk->block_used[block]) {
		chunk->free_blocks--;
		__clear_bit(block, chunk->free_block_map);
		block_set_owner(chunk, block, id);
	} else if (chunk->block_owner[block] != id) {
		block_set_owner(chunk, block, UNMAPPED_POOL_OWNER_SHARED);
	}
	chunk->block_used[block] += nr;
	if (chunk->block_used[block] == UNMAPPED_POOL_BLOCK_PAGES)
		__set_bit(block, chunk->full_map);
	chunk->used += nr;
	pool->used_pages += nr;
}

/**
 * unmapped_pool_chunk_take - account pages handed out
 * @pool: pool of the chunk
 * @chunk: chunk chosen by unmapped_pool_place()
 * @index: first page, as returned by unmapped_pool_place()
 * @order: order of the request
 * @owner: placement state of the request's owner, NULL for none
 *
 * The owner's state is updated too: the caller serialises requests of
 * one owner, from every pool, and placing them.
 */
void unmapped_pool_chunk_take(struct unmapped_pool *pool,
			      struct unmapped_pool_chunk *chunk,
			      unsigned long index, unsigned int order,
			      struct unmapped_pool_owner *owner)
{
	unsigned int block = index / UNMAPPED_POOL_BLOCK_PAGES;
	bool shared = place_shared(pool, owner, order);
	unsigned long id = shared ? UNMAPPED_POOL_OWNER_SHARED : owner->id;
	unsigned long nr = 1UL << order;

	unmapped_pool_chunk_take_as(pool, chunk, index, nr, id);
	if (shared) {
		pool->shared_chunk = chunk;
		pool->shared_block = block;
	} else {
		owner->pool = pool;
		owner->chunk = chunk;
		owner->gen = pool->chunk_gen;
		owner->block = block;
	}
	if (owner)
		owner->pages += nr;
}

/**
 * unmapped_pool_chunk_put - account pages given back
 * @pool: pool of the chunk
 * @chunk: chunk the pages belong to
 * @index: first page inside the chunk
 * @order: order of the block of pages
 *
 * Only the page is known here, not its owner, which may be gone: the
 * owner's state is left alone.
 */
void unmapped_pool_chunk_put(struct unmapped_pool *pool,
			     struct unmapped_pool_chunk *chunk,
			     unsigned long index, unsigned int order)
{
	unsigned int block = index / UNMAPPED_POOL_BLOCK_PAGES;
	unsigned long nr = 1UL << order;

	bitmap_clear(chunk->used_map, index, nr);
	__clear_bit(block, chunk->full_map);
	chunk->block_used[block] -= nr;
	if (!chunk->block_used[block]) {
		block_set_owner(chunk, block, 0);
		__set_bit(block, chunk->free_block_map);
		chunk->free_blocks++;
	}
	chunk->used -= nr;
	pool->used_pages -= nr;
}

/*
 * Keep page @index of @chunk out of placement for good: it keeps (or
 * gets) its bit in @chunk->used_map and its place in @chunk->used, so that
 * every placement rule skips it and no reclaim takes the chunk.  Its block
 * can never be free as a whole again, so it becomes nobody's to grow into.
 * Return: true if the page was handed out, and so counted as used.
 */
static bool chunk_retire(struct unmapped_pool_chunk *chunk,
			 unsigned long index)
{
	unsigned int block = index / UNMAPPED_POOL_BLOCK_PAGES;
	bool in_use = test_bit(index, chunk->used_map);

	if (!in_use) {
		__set_bit(index, chunk->used_map);
		if (!chunk->block_used[block]++) {
			chunk->free_blocks--;
			__clear_bit(block, chunk->free_block_map);
		}
		if (chunk->block_used[block] == UNMAPPED_POOL_BLOCK_PAGES)
			__set_bit(block, chunk->full_map);
		chunk->used++;
	}
	block_set_owner(chunk, block, UNMAPPED_POOL_OWNER_SHARED);
	return in_use;
}

/**
 * unmapped_pool_chunk_poison - take a page out of use for good
 * @pool: pool of the chunk
 * @chunk: chunk the page belongs to
 * @index: the page inside the chunk, free or handed out
 *
 * A page that a memory error hit must never be handed out again.  It stays
 * out of placement for good; a page in use stays so until its user frees
 * it, which does not change that.  It counts as poisoned instead of used,
 * unless it was leaked already, which it stays counted as.
 *
 * Return: false if the page was poisoned already.
 */
bool unmapped_pool_chunk_poison(struct unmapped_pool *pool,
				struct unmapped_pool_chunk *chunk,
				unsigned long index)
{
	if (test_bit(index, chunk->poison_map))
		return false;
	__set_bit(index, chunk->poison_map);
	if (test_bit(index, chunk->leak_map))
		return true;
	if (chunk_retire(chunk, index))
		pool->used_pages--;
	chunk->poisoned++;
	pool->poisoned_pages++;
	return true;
}

/**
 * unmapped_pool_chunk_leak - count a page the firmware did not give back
 * @pool: pool of the chunk
 * @chunk: chunk the page belongs to
 * @index: the page inside the chunk, normally handed out
 *
 * A page that the firmware of a confidential VM failed to return to the
 * host must never be handed out again, nor its chunk go back to the direct
 * map: the host would fault on its first access.  Like a poisoned page it
 * stays out of placement for good, and counts as leaked instead of used.
 *
 * Return: false if the page was leaked or poisoned already.
 */
bool unmapped_pool_chunk_leak(struct unmapped_pool *pool,
			      struct unmapped_pool_chunk *chunk,
			      unsigned long index)
{
	if (test_bit(index, chunk->poison_map) ||
	    test_bit(index, chunk->leak_map))
		return false;
	__set_bit(index, chunk->leak_map);
	if (chunk_retire(chunk, index))
		pool->used_pages--;
	chunk->leaked++;
	pool->leaked_pages++;
	return true;
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
 * @owner: placement state of the request's owner, NULL for none
 *
 * Return: true if an event is due, as for unmapped_pool_note_level().
 */
bool unmapped_pool_account(struct unmapped_pool *pool,
			   struct unmapped_pool_chunk *chunk,
			   unsigned long index, unsigned int order,
			   struct unmapped_pool_owner *owner)
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
 * and placement's memory, marked as draining: the shared block and, as the
 * chunk generation moves on, every owner's record of its block are
 * forgotten, the latter without a walk over owners the pool cannot list.
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
		if (pool->shared_chunk == chunk)
			pool->shared_chunk = NULL;
		pool->chunk_gen++;
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
