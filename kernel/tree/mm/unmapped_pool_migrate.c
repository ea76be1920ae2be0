// SPDX-License-Identifier: GPL-2.0
/*
 * Moving pages of the unmapped page pool.
 *
 * Pool pages are absent from the direct map, so the generic migration
 * copy (folio_mc_copy(), which reaches pages through __va()) would fault on
 * them.  Everything else of migration works for them as for any page
 * cache folio: migrate_pages() locks the folio, replaces its user mappings
 * with migration entries, calls the consumer's migrate_folio, and maps the
 * new folio where the old one was.  So the pool provides two pieces:
 *
 *  - unmapped_pool_migrate_folio(), the consumers' migrate_folio when both
 *    folios are the pool's: a copy through this CPU's temporary mappings,
 *    then the page cache entry and the flags, as filemap_migrate_folio()
 *    moves them;
 *  - moving the pages of one block that a compaction plan
 *    (unmapped_pool_compact.c) sends elsewhere: isolate its folios,
 *    migrate_pages() with a callback that hands out, for each folio, the
 *    pages the plan reserved for it at the same offset of the destination
 *    block, and give back what no folio came for.
 *
 * A folio that cannot move stays where it is, mapped as before.  No
 * kernel TLB flush is needed at all: neither the source nor the
 * destination is in the direct map, and the temporary mappings only ever
 * need a local invalidation.  The user mappings migration replaces are
 * flushed by migration itself, once per batch; compaction counts the
 * folios that were mapped.
 */
#define pr_fmt(fmt) "unmapped_pool: " fmt

#include <linux/bitmap.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/rmap.h>
#include <linux/unmapped_pool.h>

#include "unmapped_pool.h"
#include "unmapped_pool_compact.h"

/* Documented in include/linux/unmapped_pool.h, next to its callers' API. */
int unmapped_pool_migrate_folio(struct address_space *mapping,
				struct folio *dst, struct folio *src,
				enum migrate_mode mode)
{
	long i, nr = folio_nr_pages(src);
	int rc;

	if (!unmapped_pool_has_page(&src->page) ||
	    !unmapped_pool_has_page(&dst->page) || folio_nr_pages(dst) != nr)
		return -EBUSY;
	/* As __migrate_folio(): no copy while somebody else may write. */
	if (folio_ref_count(src) != folio_expected_ref_count(src) + 1)
		return -EAGAIN;
	for (i = 0; i < nr; i++) {
		rc = unmapped_pool_copy_page(folio_page(dst, i),
					     folio_page(src, i));
		if (rc)
			return rc;
	}
	rc = folio_migrate_mapping(mapping, dst, src, 0);
	if (rc != MIGRATEPAGE_SUCCESS)
		return rc;
	if (folio_get_private(src))
		folio_attach_private(dst, folio_detach_private(src));
	folio_migrate_flags(dst, src);
	return MIGRATEPAGE_SUCCESS;
}
EXPORT_SYMBOL_GPL(unmapped_pool_migrate_folio);

static unsigned long block_pfn(const struct unmapped_pool_chunk *chunk,
			       unsigned int block)
{
	return chunk->pfn + (unsigned long)block * UNMAPPED_POOL_BLOCK_PAGES;
}

/**
 * unmapped_pool_move_reserve - start carrying out a planned move
 * @bm: the move's state, with @bm->pool and @bm->move set
 *
 * Records which pages the plan reserved in the destination block: those
 * in use in the source block when it was planned.  Called under the pool
 * lock that the plan was made under.
 */
void unmapped_pool_move_reserve(struct unmapped_pool_block_move *bm)
{
	const struct unmapped_pool_compact_move *move = bm->move;

	lockdep_assert_held(&bm->pool->lock);
	bitmap_copy(bm->reserved,
		    move->src->used_map +
		    BIT_WORD((unsigned long)move->src_block *
			     UNMAPPED_POOL_BLOCK_PAGES),
		    UNMAPPED_POOL_BLOCK_PAGES);
	bitmap_zero(bm->handed, UNMAPPED_POOL_BLOCK_PAGES);
	bitmap_zero(bm->freed, UNMAPPED_POOL_BLOCK_PAGES);
	bm->moved = 0;
	bm->failed = 0;
	bm->shootdowns = 0;
}

/*
 * migrate_pages()'s get_new_folio: the reserved pages at the source
 * folio's offset in the destination block.  Pages keep their offset in
 * the block, so a folio of any order stays naturally aligned.  Migration
 * tries a folio again after a failure (asynchronously first, then
 * synchronously, and on -EAGAIN): the destination an earlier try freed is
 * taken again, with the source block's owner id, as the plan took it.
 */
static struct folio *unmapped_pool_move_dst(struct folio *src,
					    unsigned long private)
{
	struct unmapped_pool_block_move *bm = (void *)private;
	const struct unmapped_pool_compact_move *move = bm->move;
	unsigned long off = folio_pfn(src) - block_pfn(move->src,
							move->src_block);
	unsigned long nr = folio_nr_pages(src), retake_id = 0;
	struct folio *dst;

	if (WARN_ON_ONCE(off + nr > UNMAPPED_POOL_BLOCK_PAGES ||
			 find_next_zero_bit(bm->reserved, off + nr, off) <
			 off + nr))
		return NULL;
	if (find_next_bit(bm->freed, off + nr, off) < off + nr)
		retake_id = move->src->block_owner[move->src_block];
	dst = unmapped_pool_hand_reserved(bm->pool, move->dst,
					  (unsigned long)move->dst_block *
					  UNMAPPED_POOL_BLOCK_PAGES + off,
					  folio_order(src), retake_id);
	if (!dst)
		return NULL;
	bitmap_clear(bm->freed, off, nr);
	bitmap_set(bm->handed, off, nr);
	bm->moved += nr;
	/* Its user mappings are about to become migration entries. */
	if (folio_mapped(src))
		bm->shootdowns++;
	/* A large page cache folio is rmappable: so must its new place be. */
	if (folio_test_large(src) && folio_test_large_rmappable(src))
		folio_set_large_rmappable(dst);
	return dst;
}

/*
 * migrate_pages()'s put_new_folio, for a destination whose move failed:
 * it goes back to the pool like any freed page, as a dirty one, and is
 * no longer reserved; a later try takes it again.
 */
static void unmapped_pool_move_put_dst(struct folio *dst,
				       unsigned long private)
{
	struct unmapped_pool_block_move *bm = (void *)private;
	const struct unmapped_pool_compact_move *move = bm->move;
	unsigned long off = folio_pfn(dst) - block_pfn(move->dst,
							move->dst_block);
	unsigned long nr = folio_nr_pages(dst);

	bitmap_clear(bm->handed, off, nr);
	bitmap_set(bm->freed, off, nr);
	bm->moved -= nr;
	folio_put(dst);
}

/*
 * Isolate the folio of a pool page for migration, if its consumer moves
 * pool pages itself.  A mapping without migrate_folio would be migrated
 * by fallback_migrate_folio(), whose copy goes through the direct map.
 */
static bool unmapped_pool_isolate(struct folio *folio, struct list_head *list)
{
	struct address_space *mapping = folio_mapping(folio);

	if (!folio_test_lru(folio) || folio_test_anon(folio) || !mapping ||
	    !mapping->a_ops->migrate_folio)
		return false;
	return isolate_folio_to_list(folio, list);
}

/**
 * unmapped_pool_move_block - move the pages of one planned source block
 * @bm: the move's state, set up by unmapped_pool_move_reserve()
 *
 * Pages freed since the plan need not move; the folios of the others are
 * isolated and migrated into the pages the plan reserved.  @bm->moved
 * counts the pages that moved, @bm->failed those that could not (not
 * isolable, other references, the consumer refused), @bm->shootdowns
 * the folios whose user mappings were replaced.  Called without the pool
 * lock: migration sleeps.
 */
void unmapped_pool_move_block(struct unmapped_pool_block_move *bm)
{
	const struct unmapped_pool_compact_move *move = bm->move;
	unsigned long base = block_pfn(move->src, move->src_block);
	unsigned long i, next = 0;
	struct folio *folio;
	struct page *page;
	LIST_HEAD(folios);

	for_each_set_bit(i, bm->reserved, UNMAPPED_POOL_BLOCK_PAGES) {
		if (i < next)
			continue;
		next = i + 1;
		page = pfn_to_page(base + i);
		folio = page_folio(page);
		/* Freed since the plan: nothing to move. */
		if (!folio_try_get(folio))
			continue;
		if (unlikely(page_folio(page) != folio)) {
			folio_put(folio);
			bm->failed++;
			continue;
		}
		next = max(next, folio_pfn(folio) + folio_nr_pages(folio) -
				 base);
		if (!unmapped_pool_isolate(folio, &folios))
			bm->failed += folio_nr_pages(folio);
		folio_put(folio);
	}
	if (list_empty(&folios))
		return;
	migrate_pages(&folios, unmapped_pool_move_dst,
		      unmapped_pool_move_put_dst, (unsigned long)bm,
		      MIGRATE_SYNC, MR_COMPACTION, NULL);
	/* What is left on the list did not move. */
	list_for_each_entry(folio, &folios, lru)
		bm->failed += folio_nr_pages(folio);
	putback_movable_pages(&folios);
}

/**
 * unmapped_pool_move_release - finish carrying out a planned move
 * @bm: the move's state, after unmapped_pool_move_block()
 *
 * Gives back the reserved pages no folio came for: those whose source
 * page was freed or could not be isolated.  Destinations of failed moves
 * went back through the free path already (@bm->freed).  Called under the
 * pool lock.
 */
void unmapped_pool_move_release(struct unmapped_pool_block_move *bm)
{
	DECLARE_BITMAP(unused, UNMAPPED_POOL_BLOCK_PAGES);
	const struct unmapped_pool_compact_move *move = bm->move;
	unsigned long base = (unsigned long)move->dst_block *
			     UNMAPPED_POOL_BLOCK_PAGES;
	unsigned long i;

	lockdep_assert_held(&bm->pool->lock);
	bitmap_andnot(unused, bm->reserved, bm->handed,
		      UNMAPPED_POOL_BLOCK_PAGES);
	bitmap_andnot(unused, unused, bm->freed, UNMAPPED_POOL_BLOCK_PAGES);
	for_each_set_bit(i, unused, UNMAPPED_POOL_BLOCK_PAGES)
		unmapped_pool_chunk_put(bm->pool, move->dst, base + i, 0);
}
