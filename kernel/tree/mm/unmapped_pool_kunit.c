// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the unmapped page pool.
 *
 * The placement tests run unmapped_pool_place() on chunks that only exist as
 * bookkeeping.  The live tests lend a real chunk of node 0, which needs
 * hugetlb_cma= on the command line; without it they are reported as
 * skipped, never as passed.
 */
#define pr_fmt(fmt) "unmapped_pool: " fmt

#include <kunit/test.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/pagemap.h>
#include <linux/set_memory.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/unmapped_pool.h>
#include <linux/vmalloc.h>
#include <linux/vmstat.h>
#include <uapi/linux/unmapped_pool.h>

#include "unmapped_pool.h"
#include "unmapped_pool_compact.h"

struct place_ctx {
	struct unmapped_pool pool;
	struct unmapped_pool_chunk chunks[3];
	struct unmapped_pool_owner a, b, c;
};

static struct place_ctx *place_ctx_init(struct kunit *test, int nr_chunks)
{
	size_t map = BITS_TO_LONGS(UNMAPPED_POOL_CHUNK_PAGES) * sizeof(long);
	struct place_ctx *ctx;
	int i;

	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx);
	spin_lock_init(&ctx->pool.lock);
	INIT_LIST_HEAD(&ctx->pool.chunks);
	for (i = 0; i < nr_chunks; i++) {
		ctx->chunks[i].used_map = kunit_kzalloc(test, map, GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, ctx->chunks[i].used_map);
		ctx->chunks[i].poison_map = kunit_kzalloc(test, map, GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, ctx->chunks[i].poison_map);
		ctx->chunks[i].leak_map = kunit_kzalloc(test, map, GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, ctx->chunks[i].leak_map);
		unmapped_pool_chunk_init(&ctx->chunks[i]);
		ctx->chunks[i].pfn = (unsigned long)i
				     << UNMAPPED_POOL_CHUNK_ORDER;
		list_add_tail(&ctx->chunks[i].list, &ctx->pool.chunks);
		ctx->pool.nr_chunks++;
	}
	unmapped_pool_owner_init(&ctx->a);
	unmapped_pool_owner_init(&ctx->b);
	unmapped_pool_owner_init(&ctx->c);
	return ctx;
}

/*
 * An owner that has taken its share of shared blocks already, so that its
 * next page goes to a block of its own.
 */
static void owner_grown(struct unmapped_pool_owner *owner)
{
	unmapped_pool_owner_init(owner);
	owner->pages = UNMAPPED_POOL_OWNER_SMALL_PAGES;
}

/* Place and account one request, as unmapped_pool_alloc_pages() does. */
static long place(struct kunit *test, struct place_ctx *ctx,
		  struct unmapped_pool_owner *owner, unsigned int order,
		  struct unmapped_pool_chunk **ret_chunk)
{
	struct unmapped_pool_chunk *chunk;
	unsigned long index;

	chunk = unmapped_pool_place(&ctx->pool, owner, order, &index);
	if (!chunk)
		return -1;
	KUNIT_EXPECT_EQ(test, index % (1UL << order), 0);
	unmapped_pool_chunk_take(&ctx->pool, chunk, index, order, owner);
	if (ret_chunk)
		*ret_chunk = chunk;
	return index;
}

static unsigned long block_owner_of(struct unmapped_pool_chunk *chunk,
				    long index)
{
	return chunk->block_owner[index / UNMAPPED_POOL_BLOCK_PAGES];
}

/*
 * Small owners share blocks: 2,048 one-page owners, which is what 8 MiB of
 * RLIMIT_MEMLOCK buys in one-page memfd_secret files, fill four blocks.
 */
static void unmapped_pool_place_small_owners_share(struct kunit *test)
{
	struct place_ctx *ctx = place_ctx_init(test, 2);
	struct unmapped_pool_owner *owners;
	struct unmapped_pool_chunk *chunk;
	long index;
	int i;

	owners = kunit_kcalloc(test, 2048, sizeof(*owners), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, owners);
	for (i = 0; i < 2048; i++) {
		unmapped_pool_owner_init(&owners[i]);
		index = place(test, ctx, &owners[i], 0, &chunk);
		KUNIT_ASSERT_GE(test, index, 0);
		KUNIT_EXPECT_EQ(test, block_owner_of(chunk, index),
				UNMAPPED_POOL_OWNER_SHARED);
	}
	KUNIT_EXPECT_EQ(test, ctx->chunks[0].free_blocks +
			ctx->chunks[1].free_blocks,
			2 * UNMAPPED_POOL_CHUNK_BLOCKS - 4);
	KUNIT_EXPECT_TRUE(test, !ctx->chunks[0].used || !ctx->chunks[1].used);
}

/* An owner gets a block of its own once it has used its share, not before. */
static void unmapped_pool_place_sharing_threshold(struct kunit *test)
{
	struct place_ctx *ctx = place_ctx_init(test, 1);
	struct unmapped_pool_chunk *chunk = &ctx->chunks[0];
	unsigned long i;
	long index;

	for (i = 0; i < UNMAPPED_POOL_OWNER_SMALL_PAGES; i++) {
		index = place(test, ctx, &ctx->a, 0, NULL);
		KUNIT_ASSERT_GE(test, index, 0);
		KUNIT_ASSERT_EQ(test, block_owner_of(chunk, index),
				UNMAPPED_POOL_OWNER_SHARED);
	}
	index = place(test, ctx, &ctx->a, 0, NULL);
	KUNIT_ASSERT_GE(test, index, 0);
	KUNIT_EXPECT_EQ(test, block_owner_of(chunk, index), ctx->a.id);

	/* A newcomer still shares, and not the block of owner A. */
	index = place(test, ctx, &ctx->b, 0, NULL);
	KUNIT_ASSERT_GE(test, index, 0);
	KUNIT_EXPECT_EQ(test, block_owner_of(chunk, index),
			UNMAPPED_POOL_OWNER_SHARED);
}

/* Interleaved owners that earned blocks each get blocks of their own. */
static void unmapped_pool_place_owner_affinity(struct kunit *test)
{
	struct place_ctx *ctx = place_ctx_init(test, 1);
	struct unmapped_pool_chunk *chunk = &ctx->chunks[0];
	long *a, b;
	int i;

	a = kunit_kcalloc(test, 600, sizeof(*a), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, a);
	owner_grown(&ctx->a);
	owner_grown(&ctx->b);

	for (i = 0; i < 600; i++) {
		a[i] = place(test, ctx, &ctx->a, 0, NULL);
		b = place(test, ctx, &ctx->b, 0, NULL);
		KUNIT_ASSERT_GE(test, a[i], 0);
		KUNIT_ASSERT_GE(test, b, 0);
		KUNIT_EXPECT_NE(test, a[i] / UNMAPPED_POOL_BLOCK_PAGES,
				b / UNMAPPED_POOL_BLOCK_PAGES);
	}
	/* 600 pages each: two blocks each, four blocks in all. */
	KUNIT_EXPECT_EQ(test, chunk->free_blocks,
			UNMAPPED_POOL_CHUNK_BLOCKS - 4);

	/* Owner A going away leaves whole blocks free. */
	for (i = 0; i < 600; i++)
		unmapped_pool_chunk_put(&ctx->pool, chunk, a[i], 0);
	KUNIT_EXPECT_EQ(test, chunk->free_blocks,
			UNMAPPED_POOL_CHUNK_BLOCKS - 2);
	KUNIT_EXPECT_EQ(test, chunk->used, 600);
	KUNIT_EXPECT_EQ(test, ctx->pool.used_pages, 600);
}

/*
 * Place blocks of an owner into one chunk only, by hiding the free blocks
 * of the others for the time being.
 */
static void place_blocks_in(struct kunit *test, struct place_ctx *ctx,
			    int target, struct unmapped_pool_owner *owner,
			    unsigned int blocks)
{
	unsigned int saved[ARRAY_SIZE(ctx->chunks)];
	int i, nr_chunks = ctx->pool.nr_chunks;
	struct unmapped_pool_chunk *chunk;

	for (i = 0; i < nr_chunks; i++) {
		saved[i] = ctx->chunks[i].free_blocks;
		if (i != target)
			ctx->chunks[i].free_blocks = 0;
	}
	while (blocks--) {
		KUNIT_ASSERT_GE(test,
				place(test, ctx, owner, UNMAPPED_POOL_MAX_ORDER,
				      &chunk),
				0);
		KUNIT_ASSERT_PTR_EQ(test, chunk, &ctx->chunks[target]);
	}
	for (i = 0; i < nr_chunks; i++)
		if (i != target)
			ctx->chunks[i].free_blocks = saved[i];
}

/* A new block starts in the fullest chunk, so the emptier one drains. */
static void unmapped_pool_place_fullest_first(struct kunit *test)
{
	struct place_ctx *ctx = place_ctx_init(test, 2);
	struct unmapped_pool_chunk *chunk;
	long index;

	/* Put three blocks of owner A into the second chunk. */
	owner_grown(&ctx->a);
	owner_grown(&ctx->b);
	place_blocks_in(test, ctx, 1, &ctx->a, 3);

	index = place(test, ctx, &ctx->b, 0, &chunk);
	KUNIT_EXPECT_PTR_EQ(test, chunk, &ctx->chunks[1]);
	KUNIT_EXPECT_EQ(test, index, 3 * UNMAPPED_POOL_BLOCK_PAGES);

	/* So do small owners. */
	index = place(test, ctx, &ctx->c, 0, &chunk);
	KUNIT_EXPECT_PTR_EQ(test, chunk, &ctx->chunks[1]);
	KUNIT_EXPECT_EQ(test, index, 4 * UNMAPPED_POOL_BLOCK_PAGES);
}

/*
 * An owner that outgrew its chunk goes on in the emptiest chunk, while a
 * new owner still starts in the fullest one.
 */
static void unmapped_pool_place_growing_owner(struct kunit *test)
{
	struct place_ctx *ctx = place_ctx_init(test, 3);
	struct unmapped_pool_chunk *chunk;

	owner_grown(&ctx->a);
	owner_grown(&ctx->b);
	owner_grown(&ctx->c);
	place_blocks_in(test, ctx, 2, &ctx->b, 2);
	place_blocks_in(test, ctx, 1, &ctx->a, UNMAPPED_POOL_CHUNK_BLOCKS);
	KUNIT_EXPECT_EQ(test, ctx->chunks[1].free_blocks, 0);

	KUNIT_ASSERT_GE(test, place(test, ctx, &ctx->a, 0, &chunk), 0);
	KUNIT_EXPECT_PTR_EQ(test, chunk, &ctx->chunks[0]);
	KUNIT_ASSERT_GE(test, place(test, ctx, &ctx->c, 0, &chunk), 0);
	KUNIT_EXPECT_PTR_EQ(test, chunk, &ctx->chunks[2]);
}

/*
 * Owners with blocks of their own leave the small owners' chunk the last
 * UNMAPPED_POOL_SHARED_RESERVE free blocks, even when it is the only
 * chunk with free blocks, and take one only when the pool would fail them
 * otherwise.
 */
static void unmapped_pool_place_shared_reserve(struct kunit *test)
{
	struct place_ctx *ctx = place_ctx_init(test, 2);
	struct unmapped_pool_chunk *chunk = &ctx->chunks[0];
	struct unmapped_pool_chunk *other = &ctx->chunks[1];
	struct unmapped_pool_chunk *got;

	KUNIT_ASSERT_GE(test, place(test, ctx, &ctx->b, 0, NULL), 0);
	KUNIT_ASSERT_PTR_EQ(test, ctx->pool.shared_chunk, chunk);
	owner_grown(&ctx->a);
	while (other->free_blocks ||
	       chunk->free_blocks > UNMAPPED_POOL_SHARED_RESERVE) {
		KUNIT_ASSERT_GE(test,
				place(test, ctx, &ctx->a,
				      UNMAPPED_POOL_MAX_ORDER, NULL),
				0);
		KUNIT_ASSERT_GE(test, chunk->free_blocks,
				UNMAPPED_POOL_SHARED_RESERVE);
	}
	/* Small owners still get free blocks there. */
	KUNIT_EXPECT_GE(test,
			place(test, ctx, &ctx->c, UNMAPPED_POOL_MAX_ORDER,
			      &got),
			0);
	KUNIT_EXPECT_PTR_EQ(test, got, chunk);
	KUNIT_EXPECT_EQ(test, chunk->free_blocks,
			UNMAPPED_POOL_SHARED_RESERVE - 1);
	/* With the rest of the pool full, the reserve serves, not a failure. */
	KUNIT_EXPECT_GE(test,
			place(test, ctx, &ctx->a, UNMAPPED_POOL_MAX_ORDER,
			      &got),
			0);
	KUNIT_EXPECT_PTR_EQ(test, got, chunk);
	KUNIT_EXPECT_EQ(test, chunk->free_blocks,
			UNMAPPED_POOL_SHARED_RESERVE - 2);
}

/*
 * Only when every block is taken do owners share one, and only with a
 * request of order 0, which the first block with room serves.
 */
static void unmapped_pool_place_share_when_full(struct kunit *test)
{
	struct place_ctx *ctx = place_ctx_init(test, 1);
	struct unmapped_pool_chunk *chunk = &ctx->chunks[0];
	struct unmapped_pool_owner *owners;
	unsigned int block;
	long index;

	owners = kunit_kcalloc(test, UNMAPPED_POOL_CHUNK_BLOCKS,
			       sizeof(*owners), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, owners);
	for (block = 0; block < UNMAPPED_POOL_CHUNK_BLOCKS; block++) {
		owner_grown(&owners[block]);
		KUNIT_ASSERT_GE(test, place(test, ctx, &owners[block], 0, NULL),
				0);
	}
	KUNIT_EXPECT_EQ(test, chunk->free_blocks, 0);

	owner_grown(&ctx->b);
	KUNIT_EXPECT_EQ(test, place(test, ctx, &ctx->b, 3, NULL), -1);
	index = place(test, ctx, &ctx->b, 0, NULL);
	KUNIT_ASSERT_GE(test, index, 0);
	KUNIT_EXPECT_EQ(test, block_owner_of(chunk, index),
			UNMAPPED_POOL_OWNER_SHARED);
}

/* A full pool says so instead of handing out a page twice. */
static void unmapped_pool_place_full_pool(struct kunit *test)
{
	struct place_ctx *ctx = place_ctx_init(test, 1);
	unsigned int block;

	owner_grown(&ctx->a);
	for (block = 0; block < UNMAPPED_POOL_CHUNK_BLOCKS; block++)
		KUNIT_ASSERT_GE(test,
				place(test, ctx, &ctx->a,
				      UNMAPPED_POOL_MAX_ORDER, NULL),
				0);
	KUNIT_EXPECT_EQ(test, ctx->pool.used_pages, UNMAPPED_POOL_CHUNK_PAGES);
	KUNIT_EXPECT_EQ(test, place(test, ctx, &ctx->b, 0, NULL), -1);
	KUNIT_EXPECT_EQ(test, place(test, ctx, &ctx->c, 0, NULL), -1);
}

/*
 * The block maps that placement searches instead of the blocks agree with
 * the blocks after takes and puts of every kind, and lead to the only
 * page left in a pool otherwise full.
 */
static void unmapped_pool_place_block_maps(struct kunit *test)
{
	struct place_ctx *ctx = place_ctx_init(test, 2);
	struct unmapped_pool_owner *owners[] = { &ctx->a, &ctx->b, NULL };
	struct unmapped_pool_chunk *chunk;
	unsigned int i, block, order;
	unsigned long bits, used;
	long index;

	owner_grown(&ctx->a);
	for (i = 0; i < 4 * UNMAPPED_POOL_BLOCK_PAGES; i++) {
		order = i % 5 ? 0 : 2;
		index = place(test, ctx, owners[i % 3], order, &chunk);
		KUNIT_ASSERT_GE(test, index, 0);
		if (i % 7 == 3)
			unmapped_pool_chunk_put(&ctx->pool, chunk, index, order);
	}
	for (i = 0; i < 2; i++) {
		chunk = &ctx->chunks[i];
		for (block = 0; block < UNMAPPED_POOL_CHUNK_BLOCKS; block++) {
			used = chunk->block_used[block];
			bits = bitmap_weight(chunk->used_map +
					     block * BITS_TO_LONGS(UNMAPPED_POOL_BLOCK_PAGES),
					     UNMAPPED_POOL_BLOCK_PAGES);
			KUNIT_EXPECT_EQ(test, bits, used);
			KUNIT_EXPECT_EQ(test,
					test_bit(block, chunk->free_block_map),
					!used);
			KUNIT_EXPECT_EQ(test, test_bit(block, chunk->full_map),
					used == UNMAPPED_POOL_BLOCK_PAGES);
			KUNIT_EXPECT_EQ(test,
					test_bit(block, chunk->shared_map),
					chunk->block_owner[block] ==
					UNMAPPED_POOL_OWNER_SHARED);
		}
	}

	/* Fill both chunks but one page, the last of all, and find it. */
	ctx = place_ctx_init(test, 2);
	for (i = 0; i < 2; i++) {
		chunk = &ctx->chunks[i];
		bitmap_fill(chunk->used_map, UNMAPPED_POOL_CHUNK_PAGES);
		for (block = 0; block < UNMAPPED_POOL_CHUNK_BLOCKS; block++)
			unmapped_pool_chunk_take(&ctx->pool, chunk,
						 block * UNMAPPED_POOL_BLOCK_PAGES,
						 UNMAPPED_POOL_MAX_ORDER, NULL);
	}
	unmapped_pool_chunk_put(&ctx->pool, &ctx->chunks[1],
				UNMAPPED_POOL_CHUNK_PAGES - 1, 0);
	owner_grown(&ctx->a);
	KUNIT_EXPECT_EQ(test, place(test, ctx, &ctx->a, 0, &chunk),
			UNMAPPED_POOL_CHUNK_PAGES - 1);
	KUNIT_EXPECT_PTR_EQ(test, chunk, &ctx->chunks[1]);
	KUNIT_EXPECT_EQ(test, place(test, ctx, &ctx->b, 0, NULL), -1);
}

/*
 * An owner's record of its block does not outlive the block's chunk: once
 * the chunk has left the pool and is gone, placement for the owner never
 * looks at it again.
 */
static void unmapped_pool_place_owner_outlives_chunk(struct kunit *test)
{
	struct place_ctx *ctx = place_ctx_init(test, 2);
	struct unmapped_pool_chunk *chunk, *gone;
	long index;

	owner_grown(&ctx->a);
	index = place(test, ctx, &ctx->a, 0, &gone);
	KUNIT_ASSERT_GE(test, index, 0);
	unmapped_pool_chunk_put(&ctx->pool, gone, index, 0);
	KUNIT_ASSERT_PTR_EQ(test, unmapped_pool_remove_empty(&ctx->pool), gone);
	/* What a freed chunk may hold: anything, here an invitation. */
	memset(gone->block_owner, 0, sizeof(gone->block_owner));
	gone->block_owner[index / UNMAPPED_POOL_BLOCK_PAGES] = ctx->a.id;
	gone->draining = false;

	index = place(test, ctx, &ctx->a, 0, &chunk);
	KUNIT_ASSERT_GE(test, index, 0);
	KUNIT_EXPECT_PTR_NE(test, chunk, gone);
}

/*
 * A poisoned page, free or in use, is never placed again, counts as
 * poisoned rather than used, and keeps its chunk from ever being empty.
 */
static void unmapped_pool_place_poisoned(struct kunit *test)
{
	struct place_ctx *ctx = place_ctx_init(test, 2);
	struct unmapped_pool_chunk *chunk, *c0 = &ctx->chunks[0];
	const unsigned long bad = 5;
	unsigned long first, n = 0;
	long index, taken;
	int i;

	/* Chunk 0 is where the first request of a new owner goes. */
	KUNIT_ASSERT_PTR_EQ(test, unmapped_pool_place(&ctx->pool, &ctx->a, 0,
						      &first),
			    c0);
	KUNIT_ASSERT_EQ(test, first, 0);
	KUNIT_EXPECT_TRUE(test, unmapped_pool_chunk_poison(&ctx->pool, c0, bad));
	KUNIT_EXPECT_FALSE(test, unmapped_pool_chunk_poison(&ctx->pool, c0, bad));
	KUNIT_EXPECT_EQ(test, c0->poisoned, 1);
	KUNIT_EXPECT_EQ(test, c0->used, 1);
	KUNIT_EXPECT_EQ(test, c0->free_blocks, UNMAPPED_POOL_CHUNK_BLOCKS - 1);
	KUNIT_EXPECT_EQ(test, ctx->pool.used_pages, 0);
	KUNIT_EXPECT_EQ(test, ctx->pool.poisoned_pages, 1);
	KUNIT_EXPECT_EQ(test, unmapped_pool_nr_free(&ctx->pool),
			2 * UNMAPPED_POOL_CHUNK_PAGES - 1);

	/* No block of PMD order holds it... */
	KUNIT_EXPECT_NE(test, place(test, ctx, &ctx->b, UNMAPPED_POOL_MAX_ORDER,
				    NULL),
			0);
	/* ...and a page in use that gets poisoned stays taken. */
	taken = place(test, ctx, &ctx->c, 0, &chunk);
	KUNIT_ASSERT_GE(test, taken, 0);
	KUNIT_EXPECT_TRUE(test, unmapped_pool_chunk_poison(&ctx->pool, chunk,
							   taken));
	KUNIT_EXPECT_EQ(test, ctx->pool.used_pages, UNMAPPED_POOL_BLOCK_PAGES);
	KUNIT_EXPECT_EQ(test, ctx->pool.poisoned_pages, 2);

	/* Single pages fill every page of the pool but the poisoned ones. */
	while ((index = place(test, ctx, &ctx->a, 0, &chunk)) >= 0) {
		n++;
		if (chunk == c0 && (index == bad || index == taken))
			break;
	}
	KUNIT_EXPECT_EQ(test, index, -1);
	KUNIT_EXPECT_EQ(test, n, 2 * UNMAPPED_POOL_CHUNK_PAGES - 2 -
				 UNMAPPED_POOL_BLOCK_PAGES);
	KUNIT_EXPECT_EQ(test, unmapped_pool_nr_free(&ctx->pool), 0);

	/* Emptied, chunk 1 can be reclaimed and chunk 0, poisoned, cannot. */
	for (i = 0; i < 2; i++) {
		unmapped_pool_chunk_init(&ctx->chunks[i]);
		bitmap_zero(ctx->chunks[i].poison_map,
			    UNMAPPED_POOL_CHUNK_PAGES);
	}
	ctx->pool.used_pages = 0;
	ctx->pool.poisoned_pages = 0;
	unmapped_pool_chunk_poison(&ctx->pool, c0, bad);
	KUNIT_EXPECT_PTR_EQ(test, unmapped_pool_remove_empty(&ctx->pool),
			    &ctx->chunks[1]);
	KUNIT_EXPECT_NULL(test, unmapped_pool_remove_empty(&ctx->pool));
}

/*
 * A leaked page is never placed again, counts as leaked rather than used,
 * keeps its chunk from ever being empty, and is not counted twice when a
 * memory error hits it too.
 */
static void unmapped_pool_place_leaked(struct kunit *test)
{
	struct place_ctx *ctx = place_ctx_init(test, 2);
	struct unmapped_pool_chunk *chunk, *c0 = &ctx->chunks[0];
	unsigned long first, n = 0;
	long index;
	int i;

	KUNIT_ASSERT_PTR_EQ(test, unmapped_pool_place(&ctx->pool, &ctx->a, 0,
						      &first),
			    c0);
	unmapped_pool_chunk_take(&ctx->pool, c0, first, 0, &ctx->a);
	KUNIT_EXPECT_EQ(test, ctx->pool.used_pages, 1);

	KUNIT_EXPECT_TRUE(test, unmapped_pool_chunk_leak(&ctx->pool, c0, first));
	KUNIT_EXPECT_FALSE(test, unmapped_pool_chunk_leak(&ctx->pool, c0, first));
	KUNIT_EXPECT_EQ(test, c0->leaked, 1);
	KUNIT_EXPECT_EQ(test, c0->used, 1);
	KUNIT_EXPECT_EQ(test, ctx->pool.used_pages, 0);
	KUNIT_EXPECT_EQ(test, ctx->pool.leaked_pages, 1);
	KUNIT_EXPECT_EQ(test, unmapped_pool_nr_free(&ctx->pool),
			2 * UNMAPPED_POOL_CHUNK_PAGES - 1);

	/* Poisoned as well, it stays one leaked page. */
	KUNIT_EXPECT_TRUE(test, unmapped_pool_chunk_poison(&ctx->pool, c0,
							   first));
	KUNIT_EXPECT_EQ(test, ctx->pool.leaked_pages, 1);
	KUNIT_EXPECT_EQ(test, ctx->pool.poisoned_pages, 0);
	KUNIT_EXPECT_EQ(test, ctx->pool.used_pages, 0);
	KUNIT_EXPECT_EQ(test, unmapped_pool_nr_free(&ctx->pool),
			2 * UNMAPPED_POOL_CHUNK_PAGES - 1);
	/* A poisoned page is not leaked on top. */
	KUNIT_EXPECT_TRUE(test, unmapped_pool_chunk_poison(&ctx->pool, c0, 7));
	KUNIT_EXPECT_FALSE(test, unmapped_pool_chunk_leak(&ctx->pool, c0, 7));
	KUNIT_EXPECT_EQ(test, ctx->pool.leaked_pages, 1);
	KUNIT_EXPECT_EQ(test, ctx->pool.poisoned_pages, 1);

	/* Single pages fill every page of the pool but those two. */
	while ((index = place(test, ctx, &ctx->b, 0, &chunk)) >= 0) {
		n++;
		if (chunk == c0 && (index == first || index == 7))
			break;
	}
	KUNIT_EXPECT_EQ(test, index, -1);
	KUNIT_EXPECT_EQ(test, n, 2 * UNMAPPED_POOL_CHUNK_PAGES - 2);
	KUNIT_EXPECT_EQ(test, unmapped_pool_nr_free(&ctx->pool), 0);

	/* Emptied but for its leaked page, chunk 0 is never reclaimed. */
	for (i = 0; i < 2; i++)
		unmapped_pool_chunk_init(&ctx->chunks[i]);
	bitmap_zero(c0->leak_map, UNMAPPED_POOL_CHUNK_PAGES);
	bitmap_zero(c0->poison_map, UNMAPPED_POOL_CHUNK_PAGES);
	ctx->pool.used_pages = 0;
	ctx->pool.leaked_pages = 0;
	ctx->pool.poisoned_pages = 0;
	unmapped_pool_chunk_leak(&ctx->pool, c0, first);
	KUNIT_EXPECT_PTR_EQ(test, unmapped_pool_remove_empty(&ctx->pool),
			    &ctx->chunks[1]);
	KUNIT_EXPECT_NULL(test, unmapped_pool_remove_empty(&ctx->pool));
}

static unsigned long vm_event(enum vm_event_item item)
{
	unsigned long *events;
	unsigned long val;

	events = kcalloc(NR_VM_EVENT_ITEMS, sizeof(*events), GFP_KERNEL);
	if (!events)
		return ULONG_MAX;
	all_vm_events(events);
	val = events[item];
	kfree(events);
	return val;
}

static bool direct_map_present(struct page *page, unsigned int *ret_level)
{
	pte_t *pte = lookup_address((unsigned long)page_address(page),
				    ret_level);

	return pte && pte_present(*pte);
}

/* Lend one more chunk to node 0, or skip; returns the node's chunks. */
static unsigned long live_lend(struct kunit *test)
{
	struct unmapped_pool *pool = unmapped_pool_of_node(0);
	unsigned long chunks;
	int err;

	if (!unmapped_pool_node_has_cma(0))
		kunit_skip(test, "no hugetlb_cma= area on node 0");
	chunks = pool->nr_chunks;
	err = unmapped_pool_set_node_chunks(0, chunks + 1, &chunks);
	if (err == -ENOMEM)
		kunit_skip(test, "hugetlb_cma= area of node 0 is full");
	KUNIT_ASSERT_EQ(test, err, 0);
	return chunks;
}

/* Lend a real chunk, serve from it, and give it back whole. */
static void unmapped_pool_live_lend_alloc_reclaim(struct kunit *test)
{
	unsigned long splits2 = vm_event(DIRECT_MAP_LEVEL2_SPLIT);
	unsigned long splits3 = vm_event(DIRECT_MAP_LEVEL3_SPLIT);
	struct unmapped_pool *pool = unmapped_pool_of_node(0);
	unsigned long chunks = live_lend(test);
	struct page *page, *big, *other;
	unsigned int level;
	unsigned long base;
	u8 *alias;

	page = unmapped_pool_alloc_pages(0, 0, GFP_KERNEL | __GFP_ZERO, NULL);
	KUNIT_ASSERT_NOT_NULL(test, page);
	KUNIT_EXPECT_TRUE(test, unmapped_pool_has_page(page));
	KUNIT_EXPECT_EQ(test, page_ref_count(page), 1);
	/* The free path's lookup covers the chunk and nothing next to it. */
	base = ALIGN_DOWN(page_to_pfn(page), UNMAPPED_POOL_CHUNK_PAGES);
	KUNIT_EXPECT_TRUE(test, unmapped_pool_has_page(pfn_to_page(base)));
	KUNIT_EXPECT_TRUE(test, unmapped_pool_has_page(pfn_to_page(base +
					UNMAPPED_POOL_CHUNK_PAGES - 1)));
	if (pfn_valid(base - 1))
		KUNIT_EXPECT_FALSE(test,
				   unmapped_pool_has_page(pfn_to_page(base - 1)));
	if (pfn_valid(base + UNMAPPED_POOL_CHUNK_PAGES))
		KUNIT_EXPECT_FALSE(test, unmapped_pool_has_page(pfn_to_page(base +
					UNMAPPED_POOL_CHUNK_PAGES)));
	/* Past the memory present at boot it reads nothing. */
	KUNIT_EXPECT_NULL(test, unmapped_pool_chunk_of_pfn(unmapped_pool_nr_gib <<
					UNMAPPED_POOL_CHUNK_ORDER));
	/* The free path leaves pages of the buddy allocator to it. */
	other = alloc_page(GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, other);
	KUNIT_EXPECT_FALSE(test, unmapped_pool_return_page(other, 0));
	__free_page(other);
	KUNIT_EXPECT_EQ(test, pool->used_pages, 1);
	KUNIT_EXPECT_FALSE(test, direct_map_present(page, &level));
	KUNIT_EXPECT_EQ(test, level, PG_LEVEL_1G);

	/* Soft offline leaves pool pages alone, in use or free. */
	if (IS_ENABLED(CONFIG_MEMORY_FAILURE)) {
		KUNIT_EXPECT_EQ(test, soft_offline_page(page_to_pfn(page), 0),
				-EBUSY);
		KUNIT_EXPECT_EQ(test,
				soft_offline_page(page_to_pfn(page) + 1, 0),
				-EBUSY);
		KUNIT_EXPECT_FALSE(test, PageHWPoison(page));
		KUNIT_EXPECT_FALSE(test, PageHWPoison(page + 1));
		KUNIT_EXPECT_EQ(test, page_ref_count(page), 1);
		KUNIT_EXPECT_EQ(test, pool->used_pages, 1);
	}

	/* Scribble through an alias, free, and expect zeroes next time. */
	alias = vmap(&page, 1, VM_MAP, PAGE_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, alias);
	KUNIT_EXPECT_NULL(test, memchr_inv(alias, 0, PAGE_SIZE));
	memset(alias, 0xa5, PAGE_SIZE);
	vunmap(alias);
	put_page(page);
	KUNIT_EXPECT_EQ(test, pool->used_pages, 0);

	page = unmapped_pool_alloc_pages(0, 0, GFP_KERNEL | __GFP_ZERO, NULL);
	KUNIT_ASSERT_NOT_NULL(test, page);
	alias = vmap(&page, 1, VM_MAP, PAGE_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, alias);
	KUNIT_EXPECT_NULL(test, memchr_inv(alias, 0, PAGE_SIZE));
	vunmap(alias);

	/* Compound pages come back through the folio free path too. */
	big = unmapped_pool_alloc_pages(0, 3, GFP_KERNEL | __GFP_COMP, NULL);
	KUNIT_ASSERT_NOT_NULL(test, big);
	KUNIT_EXPECT_EQ(test, folio_order(page_folio(big)), 3);
	KUNIT_EXPECT_EQ(test, page_to_pfn(big) % 8, 0);
	KUNIT_EXPECT_EQ(test, pool->used_pages, 9);

	/* A chunk with pages in use stays. */
	KUNIT_EXPECT_EQ(test,
			unmapped_pool_set_node_chunks(0, chunks - 1, &chunks),
			-EBUSY);
	folio_put(page_folio(big));
	unmapped_pool_free_pages(page, 0);
	KUNIT_EXPECT_EQ(test, pool->used_pages, 0);

	KUNIT_ASSERT_EQ(test,
			unmapped_pool_set_node_chunks(0, chunks - 1, &chunks),
			0);
	KUNIT_EXPECT_FALSE(test, unmapped_pool_has_page(page));
	KUNIT_EXPECT_TRUE(test, direct_map_present(page, &level));
	KUNIT_EXPECT_EQ(test, level, PG_LEVEL_1G);
	KUNIT_EXPECT_EQ(test, vm_event(DIRECT_MAP_LEVEL2_SPLIT), splits2);
	KUNIT_EXPECT_EQ(test, vm_event(DIRECT_MAP_LEVEL3_SPLIT), splits3);
}

/* A page of node 0's pool, and an alias of it that the test scribbles on. */
static struct page *live_scribbled_page(struct kunit *test, u8 **ret_alias)
{
	struct page *page;

	page = unmapped_pool_alloc_pages(0, 0, GFP_KERNEL | __GFP_ZERO, NULL);
	KUNIT_ASSERT_NOT_NULL(test, page);
	*ret_alias = vmap(&page, 1, VM_MAP, PAGE_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, *ret_alias);
	memset(*ret_alias, 0xa5, PAGE_SIZE);
	return page;
}

/*
 * A freed page is wiped soon after by the pool's worker, not only when
 * its chunk is reclaimed, and is then known to be zero.
 */
static void unmapped_pool_live_wipe_at_free(struct kunit *test)
{
	struct unmapped_pool *pool = unmapped_pool_of_node(0);
	unsigned long chunks = live_lend(test);
	struct unmapped_pool_chunk *chunk;
	struct page *page;
	u8 *alias;

	page = live_scribbled_page(test, &alias);
	chunk = list_first_entry(&pool->chunks, struct unmapped_pool_chunk,
				 list);
	put_page(page);
	flush_work(&pool->wipe_work);
	KUNIT_EXPECT_EQ(test, unmapped_pool_dirty_pages(0), 0);
	KUNIT_EXPECT_NULL(test, memchr_inv(alias, 0, PAGE_SIZE));
	KUNIT_EXPECT_TRUE(test, test_bit(page_to_pfn(page) - chunk->pfn,
					 chunk->zeroed_map));
	vunmap(alias);
	KUNIT_ASSERT_EQ(test,
			unmapped_pool_set_node_chunks(0, chunks - 1, &chunks),
			0);
}

static void enable_wipe_work(void *pool)
{
	enable_work(&((struct unmapped_pool *)pool)->wipe_work);
}

/*
 * A page freed dirty and handed out again before the wipe worker reached
 * it is wiped on the way out, whatever the request's flags and
 * init_on_alloc (check-kernel boots without it, check-debug with it): it
 * holds what the previous consumer left.  The worker is held off so that
 * the page is still dirty.
 */
static void unmapped_pool_live_wipe_on_hand_out(struct kunit *test)
{
	struct unmapped_pool *pool = unmapped_pool_of_node(0);
	unsigned long chunks = live_lend(test);
	struct page *page, *again;
	u8 *alias;

	disable_work_sync(&pool->wipe_work);
	KUNIT_ASSERT_EQ(test,
			kunit_add_action_or_reset(test, enable_wipe_work, pool),
			0);
	page = live_scribbled_page(test, &alias);
	put_page(page);
	KUNIT_EXPECT_EQ(test, unmapped_pool_dirty_pages(0), 1);
	again = unmapped_pool_alloc_pages(0, 0, GFP_KERNEL, NULL);
	KUNIT_ASSERT_PTR_EQ(test, again, page);
	KUNIT_EXPECT_EQ(test, unmapped_pool_dirty_pages(0), 0);
	KUNIT_EXPECT_NULL(test, memchr_inv(alias, 0, PAGE_SIZE));
	kunit_info(test, "init_on_alloc %s\n",
		   want_init_on_alloc(GFP_KERNEL) ? "on" : "off");
	vunmap(alias);
	kunit_release_action(test, enable_wipe_work, pool);
	put_page(again);
	flush_work(&pool->wipe_work);
	KUNIT_EXPECT_EQ(test, unmapped_pool_dirty_pages(0), 0);
	KUNIT_ASSERT_EQ(test,
			unmapped_pool_set_node_chunks(0, chunks - 1, &chunks),
			0);
}

/*
 * The shrinker's spare chunks: the empty ones beyond what the low
 * watermark needs once the free pages of chunks in use are counted.
 */
static void unmapped_pool_spare_watermark(struct kunit *test)
{
	const unsigned long chunk = UNMAPPED_POOL_CHUNK_PAGES;
	/* Three chunks, two empty, 10 pages of the third in use. */
	struct unmapped_pool pool = { .nr_chunks = 3, .used_pages = 10 };
	unsigned long other_free = chunk - 10;

	KUNIT_EXPECT_EQ(test, unmapped_pool_spare(&pool, 2), 2);
	pool.low_watermark = other_free;
	KUNIT_EXPECT_EQ(test, unmapped_pool_spare(&pool, 2), 2);
	pool.low_watermark = other_free + 1;
	KUNIT_EXPECT_EQ(test, unmapped_pool_spare(&pool, 2), 1);
	pool.low_watermark = other_free + chunk;
	KUNIT_EXPECT_EQ(test, unmapped_pool_spare(&pool, 2), 1);
	pool.low_watermark = other_free + chunk + 1;
	KUNIT_EXPECT_EQ(test, unmapped_pool_spare(&pool, 2), 0);
	pool.low_watermark = 3 * chunk;
	KUNIT_EXPECT_EQ(test, unmapped_pool_spare(&pool, 2), 0);

	/* No empty chunk, nothing spare, whatever the watermark. */
	pool.used_pages = 2 * chunk + 10;
	pool.low_watermark = 0;
	KUNIT_EXPECT_EQ(test, unmapped_pool_spare(&pool, 0), 0);
}

/* Owner ids of the compaction tests' blocks; placement state is not needed. */
#define OWNER_X	11
#define OWNER_Y	12

/* Pages [first, first + nr) of a block of a chunk, taken for owner id. */
static void fill(struct place_ctx *ctx, int c, unsigned int block,
		 unsigned int first, unsigned int nr, unsigned long id)
{
	unmapped_pool_chunk_take_as(&ctx->pool, &ctx->chunks[c],
				    (unsigned long)block *
				    UNMAPPED_POOL_BLOCK_PAGES + first, nr, id);
}

/* Plan into moves, as a caller with room for a chunk's blocks does. */
static void compact_plan(struct kunit *test, struct place_ctx *ctx,
			 struct unmapped_pool_compact *cc,
			 unsigned long target)
{
	cc->target = target;
	if (!cc->max_pages)
		cc->max_pages = ULONG_MAX;
	cc->max_moves = UNMAPPED_POOL_CHUNK_BLOCKS;
	cc->moves = kunit_kcalloc(test, cc->max_moves, sizeof(*cc->moves),
				  GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, cc->moves);
	unmapped_pool_compact_plan(&ctx->pool, cc);
}

/* What the mechanism does once a move's contents arrived: free the source. */
static void compact_apply(struct unmapped_pool *pool,
			  const struct unmapped_pool_compact *cc)
{
	unsigned long base, i;
	unsigned int m;

	for (m = 0; m < cc->nr_moves; m++) {
		const struct unmapped_pool_compact_move *move = &cc->moves[m];

		base = (unsigned long)move->src_block *
		       UNMAPPED_POOL_BLOCK_PAGES;
		for (i = 0; i < UNMAPPED_POOL_BLOCK_PAGES; i++)
			if (test_bit(base + i, move->src->used_map))
				unmapped_pool_chunk_put(pool, move->src,
							base + i, 0);
	}
}

/*
 * The direct map around a pool page: its chunk's PUD entry, absent and
 * whole, and no split anywhere since @splits2/@splits3 were read.
 */
static void expect_direct_map_untouched(struct kunit *test, struct page *page,
					unsigned long splits2,
					unsigned long splits3)
{
	unsigned int level;

	KUNIT_EXPECT_FALSE(test, direct_map_present(page, &level));
	KUNIT_EXPECT_EQ(test, level, PG_LEVEL_1G);
	KUNIT_EXPECT_EQ(test, vm_event(DIRECT_MAP_LEVEL2_SPLIT), splits2);
	KUNIT_EXPECT_EQ(test, vm_event(DIRECT_MAP_LEVEL3_SPLIT), splits3);
}

/* An anonymous mapping of @prot in the test's own address space. */
static u8 __user *live_user_page(struct kunit *test, unsigned long prot)
{
	unsigned long addr = kunit_vm_mmap(test, NULL, 0, PAGE_SIZE, prot,
					   MAP_ANONYMOUS | MAP_PRIVATE, 0);

	KUNIT_ASSERT_NE_MSG(test, addr, 0, "no user address space");
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(addr));
	return (u8 __user *)addr;
}

/*
 * What SEV-SNP's launch update and its CPUID error path do: copy a page
 * of user memory into a pool page and back out, through the pool's own
 * temporary mapping.  The destination of the copy out was never touched,
 * so the first try faults and the copy has to fault it in.
 */
static void unmapped_pool_live_copy_user(struct kunit *test)
{
	unsigned long splits2 = vm_event(DIRECT_MAP_LEVEL2_SPLIT);
	unsigned long splits3 = vm_event(DIRECT_MAP_LEVEL3_SPLIT);
	const void __user *beyond = (const void __user *)TASK_SIZE_MAX;
	unsigned long chunks = live_lend(test);
	u8 __user *src, *dst, *none;
	struct page *page;
	u8 *buf, *alias;
	int i;

	buf = kunit_kmalloc(test, PAGE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	src = live_user_page(test, PROT_READ | PROT_WRITE);
	dst = live_user_page(test, PROT_READ | PROT_WRITE);
	none = live_user_page(test, PROT_NONE);
	for (i = 0; i < PAGE_SIZE; i++)
		buf[i] = i * 7 + 3;
	KUNIT_ASSERT_EQ(test, copy_to_user(src, buf, PAGE_SIZE), 0);

	page = unmapped_pool_alloc_pages(0, 0, GFP_KERNEL | __GFP_ZERO, NULL);
	KUNIT_ASSERT_NOT_NULL(test, page);
	KUNIT_EXPECT_EQ(test, unmapped_pool_copy_from_user(page, src), 0);
	alias = vmap(&page, 1, VM_MAP, PAGE_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, alias);
	KUNIT_EXPECT_EQ(test, memcmp(alias, buf, PAGE_SIZE), 0);

	memset(buf, 0, PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, unmapped_pool_copy_to_user(dst, page), 0);
	KUNIT_EXPECT_EQ(test, copy_from_user(buf, dst, PAGE_SIZE), 0);
	KUNIT_EXPECT_EQ(test, memcmp(alias, buf, PAGE_SIZE), 0);

	/* Memory that cannot be faulted in fails the copy, both ways. */
	KUNIT_EXPECT_EQ(test, unmapped_pool_copy_from_user(page, none), -EFAULT);
	KUNIT_EXPECT_EQ(test, unmapped_pool_copy_to_user(none, page), -EFAULT);
	KUNIT_EXPECT_EQ(test, unmapped_pool_copy_from_user(page, beyond),
			-EFAULT);
	KUNIT_EXPECT_EQ(test, memcmp(alias, buf, PAGE_SIZE), 0);
	vunmap(alias);

	expect_direct_map_untouched(test, page, splits2, splits3);
	put_page(page);
	KUNIT_ASSERT_EQ(test,
			unmapped_pool_set_node_chunks(0, chunks - 1, &chunks),
			0);
}

/*
 * What SEV-SNP's invalidation of a guest page does: flush a pool page's
 * cache lines.  Through __va() it would fault on hardware (not under
 * QEMU's TCG, whose CLFLUSH translates no address); it must leave the
 * page's contents and the direct map as they were.
 */
static void unmapped_pool_live_flush(struct kunit *test)
{
	unsigned long splits2 = vm_event(DIRECT_MAP_LEVEL2_SPLIT);
	unsigned long splits3 = vm_event(DIRECT_MAP_LEVEL3_SPLIT);
	unsigned long chunks = live_lend(test);
	struct page *pages[2];
	u8 *alias;

	pages[0] = unmapped_pool_alloc_pages(0, 1, GFP_KERNEL, NULL);
	KUNIT_ASSERT_NOT_NULL(test, pages[0]);
	pages[1] = pages[0] + 1;
	alias = vmap(pages, 2, VM_MAP, PAGE_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, alias);
	memset(alias, 0x5a, 2 * PAGE_SIZE);
	unmapped_pool_flush_pages(pages[0], 2);
	KUNIT_EXPECT_NULL(test, memchr_inv(alias, 0x5a, 2 * PAGE_SIZE));
	vunmap(alias);
	expect_direct_map_untouched(test, pages[0], splits2, splits3);
	expect_direct_map_untouched(test, pages[1], splits2, splits3);
	__free_pages(pages[0], 1);
	KUNIT_ASSERT_EQ(test,
			unmapped_pool_set_node_chunks(0, chunks - 1, &chunks),
			0);
}

/* Give the @nr chunks a live test lent back: node 0 had @chunks with them. */
static void live_give_back(struct kunit *test, unsigned long chunks,
			   unsigned long nr)
{
	KUNIT_ASSERT_EQ(test,
			unmapped_pool_set_node_chunks(0, chunks - nr, &chunks),
			0);
}

/* Fill a pool page through a temporary alias with bytes from @seed on. */
static void live_fill(struct kunit *test, struct page *page, u8 seed)
{
	u8 *alias = vmap(&page, 1, VM_MAP, PAGE_KERNEL);
	int i;

	KUNIT_ASSERT_NOT_NULL(test, alias);
	for (i = 0; i < PAGE_SIZE; i++)
		alias[i] = seed + i * 13;
	vunmap(alias);
}

/* Whether a pool page holds what live_fill() put there with @seed. */
static bool live_holds(struct page *page, u8 seed)
{
	u8 *alias = vmap(&page, 1, VM_MAP, PAGE_KERNEL);
	bool same = alias;
	int i;

	for (i = 0; same && i < PAGE_SIZE; i++)
		same = alias[i] == (u8)(seed + i * 13);
	if (alias)
		vunmap(alias);
	return same;
}

/* Move @src, which the caller locked, to @dst; unlocks both. */
static void live_move(struct kunit *test, struct folio *dst, struct folio *src)
{
	folio_lock(dst);
	KUNIT_EXPECT_EQ(test, unmapped_pool_migrate_folio(NULL, dst, src,
							  MIGRATE_SYNC),
			MIGRATEPAGE_SUCCESS);
	folio_unlock(dst);
	folio_unlock(src);
}

/*
 * The pool's migrate_folio: contents and flags reach the destination pool
 * folio through the pool's temporary mappings, the direct map stays absent
 * and whole, and a destination outside the pool is refused untouched, as
 * one CMA would pick.
 */
static void unmapped_pool_live_migrate_folio(struct kunit *test)
{
	unsigned long splits2 = vm_event(DIRECT_MAP_LEVEL2_SPLIT);
	unsigned long splits3 = vm_event(DIRECT_MAP_LEVEL3_SPLIT);
	unsigned long chunks = live_lend(test);
	struct folio *src, *dst, *plain;
	struct page *page;

	page = unmapped_pool_alloc_pages(0, 0, GFP_KERNEL, NULL);
	KUNIT_ASSERT_NOT_NULL(test, page);
	src = page_folio(page);
	page = unmapped_pool_alloc_pages(0, 0, GFP_KERNEL, NULL);
	KUNIT_ASSERT_NOT_NULL(test, page);
	dst = page_folio(page);
	plain = folio_alloc(GFP_KERNEL | __GFP_ZERO, 0);
	KUNIT_ASSERT_NOT_NULL(test, plain);
	live_fill(test, &src->page, 0x3c);
	folio_mark_uptodate(src);

	folio_lock(src);
	folio_lock(plain);
	KUNIT_EXPECT_EQ(test, unmapped_pool_migrate_folio(NULL, plain, src,
							  MIGRATE_SYNC),
			-EBUSY);
	KUNIT_EXPECT_NULL(test, memchr_inv(folio_address(plain), 0,
					   PAGE_SIZE));
	folio_unlock(plain);
	folio_put(plain);

	live_move(test, dst, src);
	KUNIT_EXPECT_TRUE(test, live_holds(&dst->page, 0x3c));
	KUNIT_EXPECT_TRUE(test, folio_test_uptodate(dst));
	expect_direct_map_untouched(test, &src->page, splits2, splits3);
	expect_direct_map_untouched(test, &dst->page, splits2, splits3);
	folio_put(src);
	folio_put(dst);
	live_give_back(test, chunks, 1);
}

/*
 * Pages of an owner set pinned are counted per chunk while in use, which
 * makes their chunk no compaction source, and forgotten when freed.
 */
static void unmapped_pool_live_pinned_owner(struct kunit *test)
{
	struct unmapped_pool *pool = unmapped_pool_of_node(0);
	unsigned long chunks = live_lend(test);
	struct unmapped_pool_owner *owner;
	struct unmapped_pool_chunk *chunk;
	struct page *page, *other;

	owner = kunit_kzalloc(test, sizeof(*owner), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, owner);
	unmapped_pool_owner_init(owner);
	unmapped_pool_owner_set_pinned(owner);
	page = unmapped_pool_alloc_pages(0, 2, GFP_KERNEL, owner);
	KUNIT_ASSERT_NOT_NULL(test, page);
	other = unmapped_pool_alloc_pages(0, 0, GFP_KERNEL, NULL);
	KUNIT_ASSERT_NOT_NULL(test, other);
	chunk = list_first_entry(&pool->chunks, struct unmapped_pool_chunk,
				 list);
	KUNIT_EXPECT_EQ(test, chunk->pinned, 4);
	KUNIT_EXPECT_TRUE(test, test_bit(page_to_pfn(page) - chunk->pfn,
					 chunk->pinned_map));
	KUNIT_EXPECT_FALSE(test, test_bit(page_to_pfn(other) - chunk->pfn,
					  chunk->pinned_map));
	KUNIT_EXPECT_TRUE(test, unmapped_pool_chunk_pinned(chunk, NULL));
	__free_pages(page, 2);
	KUNIT_EXPECT_EQ(test, chunk->pinned, 0);
	KUNIT_EXPECT_FALSE(test, unmapped_pool_chunk_pinned(chunk, NULL));
	put_page(other);
	live_give_back(test, chunks, 1);
}

/*
 * Compaction of a real pool whose only source page cannot move (no
 * consumer's folio, not on the LRU): the page stays, with its contents,
 * its chunk is not emptied, the page counts as busy, and the destination
 * pages the plan reserved are given back.  The destination chunk's pages
 * in use are taken in the bookkeeping only.
 */
static void unmapped_pool_live_compact_busy(struct kunit *test)
{
	struct unmapped_pool *pool = unmapped_pool_of_node(0);
	struct unmapped_pool_compact_req req = { .node = 0, .target = 1 };
	struct unmapped_pool_chunk *src, *dst;
	unsigned long chunks, used, failed;
	struct page *page;

	live_lend(test);
	chunks = live_lend(test);
	page = unmapped_pool_alloc_pages(0, 0, GFP_KERNEL, NULL);
	KUNIT_ASSERT_NOT_NULL(test, page);
	live_fill(test, page, 0x77);
	src = list_first_entry(&pool->chunks, struct unmapped_pool_chunk, list);
	dst = list_next_entry(src, list);
	if (page_to_pfn(page) - dst->pfn < UNMAPPED_POOL_CHUNK_PAGES)
		swap(src, dst);
	spin_lock_irq(&pool->lock);
	unmapped_pool_chunk_take_as(pool, dst, 0, UNMAPPED_POOL_BLOCK_PAGES,
				    OWNER_X);
	used = pool->used_pages;
	failed = pool->compact_pages_failed;
	spin_unlock_irq(&pool->lock);

	KUNIT_EXPECT_EQ(test, unmapped_pool_compact_node(0, &req), -EAGAIN);
	KUNIT_EXPECT_EQ(test, req.pages_moved, 0);
	KUNIT_EXPECT_EQ(test, req.pages_busy, 1);
	KUNIT_EXPECT_EQ(test, req.chunks_emptied, 0);
	KUNIT_EXPECT_EQ(test, req.empty_chunks, 0);
	KUNIT_EXPECT_EQ(test, pool->used_pages, used);
	KUNIT_EXPECT_EQ(test, dst->used, UNMAPPED_POOL_BLOCK_PAGES);
	KUNIT_EXPECT_EQ(test, src->used, 1);
	KUNIT_EXPECT_FALSE(test, src->draining);
	KUNIT_EXPECT_FALSE(test, src->compact_busy);
	KUNIT_EXPECT_EQ(test, pool->compact_pages_failed, failed + 1);
	KUNIT_EXPECT_EQ(test, page_ref_count(page), 1);
	KUNIT_EXPECT_TRUE(test, live_holds(page, 0x77));

	spin_lock_irq(&pool->lock);
	unmapped_pool_chunk_put(pool, dst, 0, UNMAPPED_POOL_BLOCK_ORDER);
	spin_unlock_irq(&pool->lock);
	put_page(page);
	live_give_back(test, chunks, 2);
}

/*
 * Take @nr pages from @index on of the chunk live_lend() lent last (the
 * first of the list) for OWNER_X, as a compaction plan takes the pages it
 * moves to; *@ret_used is the pool's used_pages before.
 */
static struct unmapped_pool_chunk *live_reserve(struct unmapped_pool *pool,
						unsigned long index,
						unsigned long nr,
						unsigned long *ret_used)
{
	struct unmapped_pool_chunk *chunk;

	chunk = list_first_entry(&pool->chunks, struct unmapped_pool_chunk,
				 list);
	spin_lock_irq(&pool->lock);
	*ret_used = pool->used_pages;
	unmapped_pool_chunk_take_as(pool, chunk, index, nr, OWNER_X);
	spin_unlock_irq(&pool->lock);
	return chunk;
}

/*
 * A planned destination handed out, freed by a failed try of its move and
 * taken again for migration's next try: the bookkeeping counts it once
 * either way, and a page in use is not taken again.
 */
static void unmapped_pool_live_hand_reserved(struct kunit *test)
{
	struct unmapped_pool *pool = unmapped_pool_of_node(0);
	unsigned long chunks = live_lend(test);
	struct unmapped_pool_chunk *chunk;
	struct folio *folio;
	unsigned long used;

	chunk = live_reserve(pool, 5, 1, &used);
	folio = unmapped_pool_hand_reserved(pool, chunk, 5, 0, 0);
	KUNIT_ASSERT_NOT_NULL(test, folio);
	KUNIT_EXPECT_EQ(test, folio_ref_count(folio), 1);
	KUNIT_EXPECT_EQ(test, pool->used_pages, used + 1);
	folio_put(folio);
	KUNIT_EXPECT_EQ(test, pool->used_pages, used);
	KUNIT_EXPECT_FALSE(test, test_bit(5, chunk->used_map));

	folio = unmapped_pool_hand_reserved(pool, chunk, 5, 0, OWNER_X);
	KUNIT_ASSERT_NOT_NULL(test, folio);
	KUNIT_EXPECT_EQ(test, pool->used_pages, used + 1);
	KUNIT_EXPECT_TRUE(test, test_bit(5, chunk->used_map));
	KUNIT_EXPECT_EQ(test, chunk->block_owner[0], OWNER_X);
	KUNIT_EXPECT_NULL(test, unmapped_pool_hand_reserved(pool, chunk, 5, 0,
							    OWNER_X));
	KUNIT_EXPECT_EQ(test, pool->used_pages, used + 1);
	folio_put(folio);
	KUNIT_EXPECT_EQ(test, pool->used_pages, used);
	flush_work(&pool->wipe_work);
	live_give_back(test, chunks, 1);
}

/*
 * A free page with a stale ->private, as restoring a hugetlb page's
 * vmemmap leaves one in every 64th struct page, leaves the pool without
 * it; else moving it gave its destination a reference and PG_private that
 * nobody drops, and the destination never came back to the pool.
 */
static void unmapped_pool_live_stale_private(struct kunit *test)
{
	struct unmapped_pool *pool = unmapped_pool_of_node(0);
	unsigned long chunks = live_lend(test);
	struct unmapped_pool_chunk *chunk;
	struct folio *src, *dst;
	unsigned long used;

	chunk = live_reserve(pool, 64, 2, &used);
	set_page_private(pfn_to_page(chunk->pfn + 64), 0x10);
	src = unmapped_pool_hand_reserved(pool, chunk, 64, 0, 0);
	dst = unmapped_pool_hand_reserved(pool, chunk, 65, 0, 0);
	KUNIT_ASSERT_NOT_NULL(test, src);
	KUNIT_ASSERT_NOT_NULL(test, dst);
	KUNIT_EXPECT_NULL(test, folio_get_private(src));

	folio_lock(src);
	live_move(test, dst, src);
	KUNIT_EXPECT_FALSE(test, folio_test_private(dst));
	KUNIT_EXPECT_EQ(test, folio_ref_count(dst), 1);
	/* Undo what a failed check found, so that the chunk can go back. */
	if (folio_test_private(dst))
		folio_detach_private(dst);
	folio_put(src);
	folio_put(dst);
	KUNIT_EXPECT_EQ(test, pool->used_pages, used);
	flush_work(&pool->wipe_work);
	live_give_back(test, chunks, 1);
}

/*
 * Take a leaked page back by hand, so that the test's chunk can go back to
 * hugetlb: nothing but this test ever does.
 */
static void live_unleak(struct unmapped_pool *pool,
			struct unmapped_pool_chunk *chunk, unsigned long index)
{
	spin_lock_irq(&pool->lock);
	__clear_bit(index, chunk->leak_map);
	chunk->leaked--;
	pool->leaked_pages--;
	pool->used_pages++;
	unmapped_pool_chunk_put(pool, chunk, index, 0);
	spin_unlock_irq(&pool->lock);
}

/*
 * What SEV-SNP does with a page the firmware failed to reclaim: the pool
 * keeps it, freed or not, and its chunk stays lent; the counters say so.
 */
static void unmapped_pool_live_leak(struct kunit *test)
{
	unsigned long splits2 = vm_event(DIRECT_MAP_LEVEL2_SPLIT);
	unsigned long splits3 = vm_event(DIRECT_MAP_LEVEL3_SPLIT);
	struct unmapped_pool *pool = unmapped_pool_of_node(0);
	unsigned long chunks = live_lend(test), index, free;
	struct unmapped_pool_node_stats st;
	struct unmapped_pool_chunk *chunk;
	struct page *page, *other, *again;

	page = unmapped_pool_alloc_pages(0, 0, GFP_KERNEL, NULL);
	KUNIT_ASSERT_NOT_NULL(test, page);
	chunk = list_first_entry(&pool->chunks, struct unmapped_pool_chunk,
				 list);
	KUNIT_ASSERT_EQ(test, ALIGN_DOWN(page_to_pfn(page),
					 UNMAPPED_POOL_CHUNK_PAGES),
			chunk->pfn);
	index = page_to_pfn(page) - chunk->pfn;
	other = alloc_page(GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, other);
	KUNIT_EXPECT_FALSE(test, unmapped_pool_leak_page(other));
	__free_page(other);

	KUNIT_EXPECT_TRUE(test, unmapped_pool_leak_page(page));
	KUNIT_EXPECT_TRUE(test, unmapped_pool_leak_page(page));
	unmapped_pool_node_snapshot(0, &st);
	KUNIT_EXPECT_EQ(test, st.leaked_pages, 1);
	KUNIT_EXPECT_EQ(test, st.used_pages, 0);
	free = st.free_pages;
	KUNIT_EXPECT_EQ(test, free, chunks * UNMAPPED_POOL_CHUNK_PAGES - 1);

	/* Freed, it stays out of use: neither free nor dirty. */
	put_page(page);
	flush_work(&pool->wipe_work);
	unmapped_pool_node_snapshot(0, &st);
	KUNIT_EXPECT_EQ(test, st.free_pages, free);
	KUNIT_EXPECT_EQ(test, st.leaked_pages, 1);
	KUNIT_EXPECT_EQ(test, st.empty_chunks, chunks - 1);
	KUNIT_EXPECT_TRUE(test, test_bit(index, chunk->used_map));
	KUNIT_EXPECT_FALSE(test, test_bit(index, chunk->dirty_map));
	KUNIT_EXPECT_EQ(test, unmapped_pool_dirty_pages(0), 0);

	/* The next page of the block is another one. */
	again = unmapped_pool_alloc_pages(0, 0, GFP_KERNEL, NULL);
	KUNIT_ASSERT_NOT_NULL(test, again);
	KUNIT_EXPECT_PTR_NE(test, again, page);
	put_page(again);

	/* Its chunk cannot be reclaimed. */
	KUNIT_EXPECT_EQ(test,
			unmapped_pool_set_node_chunks(0, chunks - 1, &chunks),
			-EBUSY);
	expect_direct_map_untouched(test, page, splits2, splits3);

	live_unleak(pool, chunk, index);
	KUNIT_ASSERT_EQ(test,
			unmapped_pool_set_node_chunks(0, chunks - 1, &chunks),
			0);
}

/*
 * guest_memfd's switch reads the three words, with or without the newline
 * echo adds, and nothing else, and shows every mode with the current one
 * in brackets, as transparent_hugepage/enabled does.
 */
static void unmapped_pool_gmem_mode_words(struct kunit *test)
{
	static const struct {
		const char *word;
		int mode;
	} words[] = {
		{ "flag", UNMAPPED_POOL_GMEM_NONE },
		{ "flag\n", UNMAPPED_POOL_GMEM_NONE },
		{ "prefer", UNMAPPED_POOL_GMEM_PREFER },
		{ "prefer\n", UNMAPPED_POOL_GMEM_PREFER },
		{ "require", UNMAPPED_POOL_GMEM_REQUIRE },
		{ "require\n", UNMAPPED_POOL_GMEM_REQUIRE },
		{ "", -EINVAL }, { "\n", -EINVAL }, { "Flag", -EINVAL },
		{ "prefer ", -EINVAL }, { " prefer", -EINVAL },
		{ "preferred", -EINVAL }, { "requir", -EINVAL },
		{ "flag prefer", -EINVAL }, { "0", -EINVAL }, { "never", -EINVAL },
	};
	static const char *const shown[] = {
		[UNMAPPED_POOL_GMEM_NONE] = "[flag] prefer require\n",
		[UNMAPPED_POOL_GMEM_PREFER] = "flag [prefer] require\n",
		[UNMAPPED_POOL_GMEM_REQUIRE] = "flag prefer [require]\n",
	};
	char *buf = kunit_kzalloc(test, PAGE_SIZE, GFP_KERNEL);
	int i;

	KUNIT_ASSERT_NOT_NULL(test, buf);
	for (i = 0; i < ARRAY_SIZE(words); i++)
		KUNIT_EXPECT_EQ_MSG(test,
				    unmapped_pool_gmem_mode_parse(words[i].word),
				    words[i].mode, "word \"%s\"", words[i].word);
	for (i = 0; i < ARRAY_SIZE(shown); i++) {
		KUNIT_EXPECT_EQ(test, unmapped_pool_gmem_mode_show(buf, i),
				strlen(shown[i]));
		KUNIT_EXPECT_STREQ(test, buf, shown[i]);
	}
}

/*
 * Fragmented chunks: the plan empties the emptiest one into the holes of
 * the others, keeps each page's offset in its block, and once the pages
 * are moved that chunk is the one a reclaim gives back.
 */
static void unmapped_pool_compact_emptiest(struct kunit *test)
{
	struct place_ctx *ctx = place_ctx_init(test, 3);
	struct unmapped_pool_compact cc = {};
	unsigned long used;

	fill(ctx, 0, 0, 0, UNMAPPED_POOL_BLOCK_PAGES, OWNER_X);
	fill(ctx, 0, 1, 0, 100, UNMAPPED_POOL_OWNER_SHARED);
	fill(ctx, 1, 0, 0, UNMAPPED_POOL_BLOCK_PAGES, OWNER_Y);
	fill(ctx, 1, 7, 0, UNMAPPED_POOL_BLOCK_PAGES, OWNER_Y);
	fill(ctx, 2, 3, 200, 10, UNMAPPED_POOL_OWNER_SHARED);
	used = ctx->pool.used_pages;

	compact_plan(test, ctx, &cc, 1);
	KUNIT_EXPECT_EQ(test, cc.emptied, 1);
	KUNIT_EXPECT_EQ(test, cc.empty, 1);
	KUNIT_EXPECT_EQ(test, cc.pages_moved, 10);
	KUNIT_ASSERT_EQ(test, cc.nr_moves, 1);
	KUNIT_EXPECT_PTR_EQ(test, cc.moves[0].src, &ctx->chunks[2]);
	KUNIT_EXPECT_EQ(test, cc.moves[0].src_block, 3);
	/* The small owners' pages join their shared block. */
	KUNIT_EXPECT_PTR_EQ(test, cc.moves[0].dst, &ctx->chunks[0]);
	KUNIT_EXPECT_EQ(test, cc.moves[0].dst_block, 1);
	KUNIT_EXPECT_TRUE(test, test_bit(UNMAPPED_POOL_BLOCK_PAGES + 200,
					 ctx->chunks[0].used_map));
	/* Destination pages are taken until the sources are freed. */
	KUNIT_EXPECT_EQ(test, ctx->pool.used_pages, used + 10);

	compact_apply(&ctx->pool, &cc);
	KUNIT_EXPECT_EQ(test, ctx->pool.used_pages, used);
	KUNIT_EXPECT_EQ(test, ctx->chunks[2].used, 0);
	KUNIT_EXPECT_EQ(test, ctx->chunks[0].block_used[1], 110);
	KUNIT_EXPECT_EQ(test, ctx->chunks[0].block_owner[1],
			UNMAPPED_POOL_OWNER_SHARED);
	KUNIT_EXPECT_PTR_EQ(test, unmapped_pool_remove_empty(&ctx->pool),
			    &ctx->chunks[2]);
}

/*
 * Owner affinity: a page of owner X goes to X's block with room at its
 * offset, not to the fuller chunk; X's next block goes to a free block of
 * the chunk that took X's last one, not to the fullest chunk.
 */
static void unmapped_pool_compact_owner_affinity(struct kunit *test)
{
	struct place_ctx *ctx = place_ctx_init(test, 3);
	struct unmapped_pool_compact cc = {};
	unsigned int b;

	fill(ctx, 0, 4, 0, 256, OWNER_X);
	for (b = 0; b < 10; b++)
		fill(ctx, 0, 20 + b, 0, UNMAPPED_POOL_BLOCK_PAGES, OWNER_Y);
	/* Chunk 1 is fuller, and Y's block there has room at those offsets. */
	fill(ctx, 1, 0, 0, 256, OWNER_Y);
	for (b = 0; b < 40; b++)
		fill(ctx, 1, 100 + b, 0, UNMAPPED_POOL_BLOCK_PAGES, OWNER_Y);
	fill(ctx, 2, 0, 256, 256, OWNER_X);
	fill(ctx, 2, 1, 0, UNMAPPED_POOL_BLOCK_PAGES, OWNER_X);

	compact_plan(test, ctx, &cc, 1);
	KUNIT_ASSERT_EQ(test, cc.nr_moves, 2);
	KUNIT_EXPECT_PTR_EQ(test, cc.moves[0].dst, &ctx->chunks[0]);
	KUNIT_EXPECT_EQ(test, cc.moves[0].dst_block, 4);
	KUNIT_EXPECT_PTR_EQ(test, cc.moves[1].dst, &ctx->chunks[0]);
	KUNIT_EXPECT_FALSE(test, test_bit(cc.moves[1].dst_block,
					  ctx->chunks[0].free_block_map));
	KUNIT_EXPECT_EQ(test, ctx->chunks[0].block_owner[4], OWNER_X);
	KUNIT_EXPECT_EQ(test, ctx->chunks[0].block_used[4],
			UNMAPPED_POOL_BLOCK_PAGES);
	KUNIT_EXPECT_EQ(test, ctx->chunks[0].block_owner[cc.moves[1].dst_block],
			OWNER_X);
	KUNIT_EXPECT_EQ(test, ctx->chunks[1].block_owner[0], OWNER_Y);
	KUNIT_EXPECT_EQ(test, ctx->chunks[1].block_used[0], 256);
}

/* Every chunk but @data holds pinned pages. */
static bool pinned_but(const struct unmapped_pool_chunk *chunk, void *data)
{
	return chunk != data;
}

/*
 * Chunks that cannot be emptied are not sources: one with a poisoned page,
 * one the caller says holds pinned pages; the next emptiest is emptied.
 */
static void unmapped_pool_compact_unmovable(struct kunit *test)
{
	size_t map = BITS_TO_LONGS(UNMAPPED_POOL_CHUNK_PAGES) * sizeof(long);
	struct place_ctx *ctx = place_ctx_init(test, 3);
	struct unmapped_pool_compact cc = {};

	ctx->chunks[1].poison_map = kunit_kzalloc(test, map, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx->chunks[1].poison_map);
	fill(ctx, 0, 0, 0, UNMAPPED_POOL_BLOCK_PAGES, OWNER_X);
	fill(ctx, 1, 0, 0, 4, OWNER_Y);
	unmapped_pool_chunk_poison(&ctx->pool, &ctx->chunks[1], 4);
	fill(ctx, 2, 0, 0, 8, OWNER_Y);

	compact_plan(test, ctx, &cc, 1);
	KUNIT_EXPECT_EQ(test, cc.emptied, 1);
	KUNIT_EXPECT_EQ(test, cc.stuck_poisoned, 4);
	KUNIT_ASSERT_EQ(test, cc.nr_moves, 1);
	KUNIT_EXPECT_PTR_EQ(test, cc.moves[0].src, &ctx->chunks[2]);
	/* The poisoned chunk's pages lie where they would go: a free block. */
	KUNIT_EXPECT_PTR_EQ(test, cc.moves[0].dst, &ctx->chunks[0]);
	KUNIT_EXPECT_EQ(test, cc.moves[0].dst_block, 1);
	compact_apply(&ctx->pool, &cc);

	/* Chunk 1 poisoned and the others pinned: nothing can be emptied. */
	fill(ctx, 2, 0, 100, 8, OWNER_Y);
	cc = (struct unmapped_pool_compact){
		.pinned = pinned_but, .data = &ctx->chunks[1],
	};
	compact_plan(test, ctx, &cc, 1);
	KUNIT_EXPECT_EQ(test, cc.emptied, 0);
	KUNIT_EXPECT_EQ(test, cc.nr_moves, 0);
	KUNIT_EXPECT_EQ(test, cc.stuck_poisoned, 4);
	KUNIT_EXPECT_EQ(test, cc.stuck_pinned, 8 + ctx->chunks[0].used);
	KUNIT_EXPECT_FALSE(test, ctx->chunks[0].draining);
}

/*
 * What the pool tells the planner: a chunk with a page of an owner whose
 * pages never move, or with a leaked page, is no source; the next
 * emptiest chunk is emptied instead.
 */
static void unmapped_pool_compact_pinned_chunks(struct kunit *test)
{
	struct place_ctx *ctx = place_ctx_init(test, 3);
	struct unmapped_pool_compact cc = { .pinned = unmapped_pool_chunk_pinned };

	fill(ctx, 0, 0, 0, UNMAPPED_POOL_BLOCK_PAGES, OWNER_X);
	fill(ctx, 1, 0, 0, 4, OWNER_Y);
	ctx->chunks[1].pinned = 1;
	fill(ctx, 2, 0, 0, 8, OWNER_Y);
	KUNIT_EXPECT_FALSE(test, unmapped_pool_chunk_pinned(&ctx->chunks[2],
							    NULL));

	compact_plan(test, ctx, &cc, 1);
	KUNIT_EXPECT_EQ(test, cc.stuck_pinned, 4);
	KUNIT_EXPECT_EQ(test, cc.emptied, 1);
	KUNIT_ASSERT_EQ(test, cc.nr_moves, 1);
	KUNIT_EXPECT_PTR_EQ(test, cc.moves[0].src, &ctx->chunks[2]);
	compact_apply(&ctx->pool, &cc);

	/* Without pinned pages but with a leaked one, still no source. */
	ctx->chunks[1].pinned = 0;
	unmapped_pool_chunk_leak(&ctx->pool, &ctx->chunks[1], 0);
	KUNIT_EXPECT_TRUE(test, unmapped_pool_chunk_pinned(&ctx->chunks[1],
							   NULL));
	cc = (struct unmapped_pool_compact){ .pinned = unmapped_pool_chunk_pinned };
	compact_plan(test, ctx, &cc, 2);
	KUNIT_EXPECT_EQ(test, cc.stuck_pinned, 4);
	KUNIT_ASSERT_GT(test, cc.nr_moves, 0);
	/* The fuller chunk is emptied into it instead. */
	KUNIT_EXPECT_PTR_EQ(test, cc.moves[0].src, &ctx->chunks[0]);
	KUNIT_EXPECT_PTR_EQ(test, cc.moves[0].dst, &ctx->chunks[1]);
}

/*
 * A target the holes can meet is met; one they cannot is not, and the
 * chunk that did not fit keeps its pages, with no destination page taken.
 * The page budget stops a plan the same way.
 */
static void unmapped_pool_compact_target(struct kunit *test)
{
	struct place_ctx *ctx = place_ctx_init(test, 3);
	struct unmapped_pool_compact cc = {};
	unsigned long used;
	unsigned int b;

	/* Chunk 0 is full but for three free blocks. */
	for (b = 3; b < UNMAPPED_POOL_CHUNK_BLOCKS; b++)
		fill(ctx, 0, b, 0, UNMAPPED_POOL_BLOCK_PAGES, OWNER_X);
	for (b = 0; b < 2; b++)
		fill(ctx, 1, b, 0, UNMAPPED_POOL_BLOCK_PAGES, OWNER_Y);
	for (b = 0; b < 3; b++)
		fill(ctx, 2, b, 0, UNMAPPED_POOL_BLOCK_PAGES, OWNER_Y);
	used = ctx->pool.used_pages;

	/* Too few pages allowed for the emptiest chunk: nothing planned. */
	cc.max_pages = 2 * UNMAPPED_POOL_BLOCK_PAGES - 1;
	compact_plan(test, ctx, &cc, 1);
	KUNIT_EXPECT_EQ(test, cc.emptied, 0);
	KUNIT_EXPECT_EQ(test, cc.stuck_budget, 2 * UNMAPPED_POOL_BLOCK_PAGES);
	KUNIT_EXPECT_EQ(test, ctx->pool.used_pages, used);

	/*
	 * Target 2: chunk 1 fits chunk 0's holes; chunk 2's first block
	 * fits the last hole and its others do not, so it keeps them all.
	 */
	cc = (struct unmapped_pool_compact){};
	compact_plan(test, ctx, &cc, 2);
	KUNIT_EXPECT_EQ(test, cc.emptied, 1);
	KUNIT_EXPECT_EQ(test, cc.empty, 1);
	KUNIT_EXPECT_EQ(test, cc.nr_moves, 2);
	KUNIT_EXPECT_PTR_EQ(test, cc.moves[0].src, &ctx->chunks[1]);
	KUNIT_EXPECT_EQ(test, cc.stuck_no_room, 3 * UNMAPPED_POOL_BLOCK_PAGES);
	KUNIT_EXPECT_EQ(test, ctx->pool.used_pages,
			used + 2 * UNMAPPED_POOL_BLOCK_PAGES);
	KUNIT_EXPECT_EQ(test, ctx->chunks[0].used,
			UNMAPPED_POOL_CHUNK_PAGES - UNMAPPED_POOL_BLOCK_PAGES);
	KUNIT_EXPECT_EQ(test, ctx->chunks[0].free_blocks, 1);
	compact_apply(&ctx->pool, &cc);
	KUNIT_EXPECT_EQ(test, ctx->chunks[1].used, 0);
	KUNIT_EXPECT_EQ(test, ctx->chunks[2].used,
			3 * UNMAPPED_POOL_BLOCK_PAGES);
	KUNIT_EXPECT_EQ(test, ctx->pool.used_pages, used);

	/* Already empty chunks count towards the target: nothing to do. */
	cc = (struct unmapped_pool_compact){};
	compact_plan(test, ctx, &cc, 1);
	KUNIT_EXPECT_EQ(test, cc.nr_moves, 0);
	KUNIT_EXPECT_EQ(test, cc.empty, 1);
}

/*
 * What a new guest_memfd does, for every switch mode: a VM type the arch
 * does not allow never draws from the pool; the flag requires the pool;
 * without it the file does as the switch says.
 */
static void unmapped_pool_gmem_file_modes(struct kunit *test)
{
	enum unmapped_pool_gmem_mode mode;

	for (mode = UNMAPPED_POOL_GMEM_NONE; mode <= UNMAPPED_POOL_GMEM_REQUIRE;
	     mode++) {
		KUNIT_EXPECT_EQ(test,
				__unmapped_pool_gmem_file_mode(mode, false, false),
				UNMAPPED_POOL_GMEM_NONE);
		KUNIT_EXPECT_EQ(test,
				__unmapped_pool_gmem_file_mode(mode, true, false),
				mode);
		KUNIT_EXPECT_EQ(test,
				__unmapped_pool_gmem_file_mode(mode, true, true),
				UNMAPPED_POOL_GMEM_REQUIRE);
	}
}

static struct kunit_case unmapped_pool_cases[] = {
	KUNIT_CASE(unmapped_pool_place_small_owners_share),
	KUNIT_CASE(unmapped_pool_place_sharing_threshold),
	KUNIT_CASE(unmapped_pool_place_owner_affinity),
	KUNIT_CASE(unmapped_pool_place_fullest_first),
	KUNIT_CASE(unmapped_pool_place_growing_owner),
	KUNIT_CASE(unmapped_pool_place_shared_reserve),
	KUNIT_CASE(unmapped_pool_place_share_when_full),
	KUNIT_CASE(unmapped_pool_place_full_pool),
	KUNIT_CASE(unmapped_pool_place_block_maps),
	KUNIT_CASE(unmapped_pool_place_owner_outlives_chunk),
	KUNIT_CASE(unmapped_pool_place_poisoned),
	KUNIT_CASE(unmapped_pool_place_leaked),
	KUNIT_CASE(unmapped_pool_spare_watermark),
	KUNIT_CASE(unmapped_pool_compact_emptiest),
	KUNIT_CASE(unmapped_pool_compact_owner_affinity),
	KUNIT_CASE(unmapped_pool_compact_unmovable),
	KUNIT_CASE(unmapped_pool_compact_target),
	KUNIT_CASE(unmapped_pool_compact_pinned_chunks),
	KUNIT_CASE(unmapped_pool_gmem_mode_words),
	KUNIT_CASE(unmapped_pool_gmem_file_modes),
	KUNIT_CASE(unmapped_pool_live_lend_alloc_reclaim),
	KUNIT_CASE(unmapped_pool_live_wipe_at_free),
	KUNIT_CASE(unmapped_pool_live_wipe_on_hand_out),
	KUNIT_CASE(unmapped_pool_live_copy_user),
	KUNIT_CASE(unmapped_pool_live_flush),
	KUNIT_CASE(unmapped_pool_live_migrate_folio),
	KUNIT_CASE(unmapped_pool_live_stale_private),
	KUNIT_CASE(unmapped_pool_live_pinned_owner),
	KUNIT_CASE(unmapped_pool_live_compact_busy),
	KUNIT_CASE(unmapped_pool_live_hand_reserved),
	KUNIT_CASE(unmapped_pool_live_leak),
	{}
};

static struct kunit_suite unmapped_pool_suite = {
	.name = "unmapped_pool",
	.test_cases = unmapped_pool_cases,
};

kunit_test_suite(unmapped_pool_suite);

MODULE_DESCRIPTION("KUnit tests of the unmapped page pool");
MODULE_LICENSE("GPL");
