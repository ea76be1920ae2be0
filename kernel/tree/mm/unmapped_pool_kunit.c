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
#include <linux/mm.h>
#include <linux/set_memory.h>
#include <linux/slab.h>
#include <linux/unmapped_pool.h>
#include <linux/vmalloc.h>
#include <linux/vmstat.h>

#include "unmapped_pool.h"

#define OWNER_A	0x1000UL
#define OWNER_B	0x2000UL
#define OWNER_C	0x3000UL

struct place_ctx {
	struct unmapped_pool pool;
	struct unmapped_pool_chunk chunks[3];
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
		unmapped_pool_chunk_init(&ctx->chunks[i]);
		ctx->chunks[i].pfn = (unsigned long)i
				     << UNMAPPED_POOL_CHUNK_ORDER;
		list_add_tail(&ctx->chunks[i].list, &ctx->pool.chunks);
		ctx->pool.nr_chunks++;
	}
	return ctx;
}

/* Place and account one request, as unmapped_pool_alloc_pages() does. */
static long place(struct kunit *test, struct place_ctx *ctx,
		  unsigned long owner, unsigned int order,
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

/* Interleaved owners each get blocks of their own. */
static void unmapped_pool_place_owner_affinity(struct kunit *test)
{
	struct place_ctx *ctx = place_ctx_init(test, 1);
	struct unmapped_pool_chunk *chunk = &ctx->chunks[0];
	long *a, b;
	int i;

	a = kunit_kcalloc(test, 600, sizeof(*a), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, a);

	for (i = 0; i < 600; i++) {
		a[i] = place(test, ctx, OWNER_A, 0, NULL);
		b = place(test, ctx, OWNER_B, 0, NULL);
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
			    int target, unsigned long owner,
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

/* A new owner starts in the fullest chunk, so the emptier one drains. */
static void unmapped_pool_place_fullest_first(struct kunit *test)
{
	struct place_ctx *ctx = place_ctx_init(test, 2);
	struct unmapped_pool_chunk *chunk;
	long index;

	/* Put three blocks of owner A into the second chunk. */
	place_blocks_in(test, ctx, 1, OWNER_A, 3);

	index = place(test, ctx, OWNER_B, 0, &chunk);
	KUNIT_EXPECT_PTR_EQ(test, chunk, &ctx->chunks[1]);
	KUNIT_EXPECT_EQ(test, index, 3 * UNMAPPED_POOL_BLOCK_PAGES);
}

/*
 * An owner that outgrew its chunk goes on in the emptiest chunk, while a
 * new owner still starts in the fullest one.
 */
static void unmapped_pool_place_growing_owner(struct kunit *test)
{
	struct place_ctx *ctx = place_ctx_init(test, 3);
	struct unmapped_pool_chunk *chunk;

	place_blocks_in(test, ctx, 2, OWNER_B, 2);
	place_blocks_in(test, ctx, 1, OWNER_A, UNMAPPED_POOL_CHUNK_BLOCKS);
	KUNIT_EXPECT_EQ(test, ctx->chunks[1].free_blocks, 0);

	KUNIT_ASSERT_GE(test, place(test, ctx, OWNER_A, 0, &chunk), 0);
	KUNIT_EXPECT_PTR_EQ(test, chunk, &ctx->chunks[0]);
	KUNIT_ASSERT_GE(test, place(test, ctx, OWNER_C, 0, &chunk), 0);
	KUNIT_EXPECT_PTR_EQ(test, chunk, &ctx->chunks[2]);
}

/* Only when every block is taken do owners share one. */
static void unmapped_pool_place_share_when_full(struct kunit *test)
{
	struct place_ctx *ctx = place_ctx_init(test, 1);
	struct unmapped_pool_chunk *chunk = &ctx->chunks[0];
	unsigned int block;
	long index;

	for (block = 0; block < UNMAPPED_POOL_CHUNK_BLOCKS; block++)
		KUNIT_ASSERT_GE(test,
				place(test, ctx, OWNER_A + block, 0, NULL), 0);
	KUNIT_EXPECT_EQ(test, chunk->free_blocks, 0);

	index = place(test, ctx, OWNER_B, 3, NULL);
	KUNIT_ASSERT_GE(test, index, 0);
	KUNIT_EXPECT_EQ(test,
			chunk->block_owner[index / UNMAPPED_POOL_BLOCK_PAGES],
			UNMAPPED_POOL_OWNER_SHARED);
}

/* A full pool says so instead of handing out a page twice. */
static void unmapped_pool_place_full_pool(struct kunit *test)
{
	struct place_ctx *ctx = place_ctx_init(test, 1);
	unsigned int block;

	for (block = 0; block < UNMAPPED_POOL_CHUNK_BLOCKS; block++)
		KUNIT_ASSERT_GE(test,
				place(test, ctx, OWNER_A,
				      UNMAPPED_POOL_MAX_ORDER, NULL),
				0);
	KUNIT_EXPECT_EQ(test, ctx->pool.used_pages, UNMAPPED_POOL_CHUNK_PAGES);
	KUNIT_EXPECT_EQ(test, place(test, ctx, OWNER_B, 0, NULL), -1);
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

/* Lend a real chunk, serve from it, and give it back whole. */
static void unmapped_pool_live_lend_alloc_reclaim(struct kunit *test)
{
	unsigned long splits2 = vm_event(DIRECT_MAP_LEVEL2_SPLIT);
	unsigned long splits3 = vm_event(DIRECT_MAP_LEVEL3_SPLIT);
	struct unmapped_pool *pool = unmapped_pool_of_node(0);
	unsigned long chunks;
	struct page *page, *big;
	unsigned int level;
	u8 *alias;
	int err;

	if (!unmapped_pool_node_has_cma(0))
		kunit_skip(test, "no hugetlb_cma= area on node 0");
	chunks = pool->nr_chunks;
	err = unmapped_pool_set_node_chunks(0, chunks + 1, &chunks);
	if (err == -ENOMEM)
		kunit_skip(test, "hugetlb_cma= area of node 0 is full");
	KUNIT_ASSERT_EQ(test, err, 0);

	page = unmapped_pool_alloc_pages(0, 0, GFP_KERNEL | __GFP_ZERO,
					 OWNER_A);
	KUNIT_ASSERT_NOT_NULL(test, page);
	KUNIT_EXPECT_TRUE(test, unmapped_pool_has_page(page));
	KUNIT_EXPECT_EQ(test, page_ref_count(page), 1);
	KUNIT_EXPECT_FALSE(test, direct_map_present(page, &level));
	KUNIT_EXPECT_EQ(test, level, PG_LEVEL_1G);

	/* Scribble through an alias, free, and expect zeroes next time. */
	alias = vmap(&page, 1, VM_MAP, PAGE_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, alias);
	KUNIT_EXPECT_NULL(test, memchr_inv(alias, 0, PAGE_SIZE));
	memset(alias, 0xa5, PAGE_SIZE);
	vunmap(alias);
	put_page(page);
	KUNIT_EXPECT_EQ(test, pool->used_pages, 0);

	page = unmapped_pool_alloc_pages(0, 0, GFP_KERNEL | __GFP_ZERO,
					 OWNER_A);
	KUNIT_ASSERT_NOT_NULL(test, page);
	alias = vmap(&page, 1, VM_MAP, PAGE_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, alias);
	KUNIT_EXPECT_NULL(test, memchr_inv(alias, 0, PAGE_SIZE));
	vunmap(alias);

	/* Compound pages come back through the folio free path too. */
	big = unmapped_pool_alloc_pages(0, 3, GFP_KERNEL | __GFP_COMP, OWNER_B);
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

static struct kunit_case unmapped_pool_cases[] = {
	KUNIT_CASE(unmapped_pool_place_owner_affinity),
	KUNIT_CASE(unmapped_pool_place_fullest_first),
	KUNIT_CASE(unmapped_pool_place_growing_owner),
	KUNIT_CASE(unmapped_pool_place_share_when_full),
	KUNIT_CASE(unmapped_pool_place_full_pool),
	KUNIT_CASE(unmapped_pool_spare_watermark),
	KUNIT_CASE(unmapped_pool_live_lend_alloc_reclaim),
	{}
};

static struct kunit_suite unmapped_pool_suite = {
	.name = "unmapped_pool",
	.test_cases = unmapped_pool_cases,
};

kunit_test_suite(unmapped_pool_suite);

MODULE_DESCRIPTION("KUnit tests of the unmapped page pool");
MODULE_LICENSE("GPL");
