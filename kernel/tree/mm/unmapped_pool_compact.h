/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The compaction planner of the unmapped page pool (unmapped_pool_compact.c):
 * which chunks to empty and where their pages go.  Shared by the pool, its
 * KUnit tests and the placement simulator (bench/sim).
 */
#ifndef _MM_UNMAPPED_POOL_COMPACT_H
#define _MM_UNMAPPED_POOL_COMPACT_H

#include <linux/bitmap.h>
#include <linux/types.h>

#include "unmapped_pool.h"

/**
 * struct unmapped_pool_compact_move - the pages a compaction moves out of one block
 * @src: chunk the pages leave
 * @dst: chunk they go to
 * @src_block: block of @src whose pages in use all move
 * @dst_block: block of @dst they go to; each page keeps its offset in the
 *	block, so a folio of any order up to a block stays naturally aligned
 * @pages: pages that move
 */
struct unmapped_pool_compact_move {
	struct unmapped_pool_chunk *src;
	struct unmapped_pool_chunk *dst;
	unsigned int src_block;
	unsigned int dst_block;
	unsigned int pages;
};

/**
 * struct unmapped_pool_compact - a compaction request and what its plan does
 * @target: chunks with no page in use wanted, those empty already included
 * @max_pages: pages the plan may move at most
 * @pinned: whether a chunk holds pages that must stay where they are
 *	(hardware-bound, such as SEV-SNP private memory, or pinned); NULL
 *	when every page in use may move
 * @data: passed to @pinned
 * @moves: where the plan is written
 * @max_moves: length of @moves
 * @nr_moves: moves planned
 * @pages_moved: pages they move
 * @emptied: chunks the moves empty
 * @empty: chunks with no page in use once the moves are done
 * @stuck_poisoned: pages in use of chunks that were not emptied because a
 *	page of theirs is poisoned, which never moves
 * @stuck_pinned: the same, for chunks @pinned kept
 * @stuck_no_room: pages in use of chunks that were not emptied because the
 *	other chunks had no room for all of them
 * @stuck_budget: the same, because @max_pages or @max_moves ran out
 */
struct unmapped_pool_compact {
	unsigned long target;
	unsigned long max_pages;
	bool (*pinned)(const struct unmapped_pool_chunk *chunk, void *data);
	void *data;
	struct unmapped_pool_compact_move *moves;
	unsigned int max_moves;
	unsigned int nr_moves;
	unsigned long pages_moved;
	unsigned long emptied;
	unsigned long empty;
	unsigned long stuck_poisoned;
	unsigned long stuck_pinned;
	unsigned long stuck_no_room;
	unsigned long stuck_budget;
};

void unmapped_pool_compact_plan(struct unmapped_pool *pool,
				struct unmapped_pool_compact *cc);

/**
 * struct unmapped_pool_block_move - a planned move being carried out
 * @pool: pool of the move's chunks
 * @move: the move, from the plan
 * @reserved: pages of the destination block the plan took, at the offsets
 *	of the source block's pages in use when it was planned
 * @handed: of those, the ones handed out as a folio's destination
 * @freed: of those, the ones a failed try of a move freed: no longer
 *	reserved, taken again if migration tries the folio again
 * @moved: pages that moved
 * @failed: pages that could not move for the moment
 * @shootdowns: folios that were mapped in processes when a try to move
 *	them began, one per try
 *
 * Carried out by unmapped_pool_migrate.c; the compaction driver
 * (unmapped_pool_compact_run.c) holds one per move of a round.
 */
struct unmapped_pool_block_move {
	struct unmapped_pool *pool;
	const struct unmapped_pool_compact_move *move;
	DECLARE_BITMAP(reserved, UNMAPPED_POOL_BLOCK_PAGES);
	DECLARE_BITMAP(handed, UNMAPPED_POOL_BLOCK_PAGES);
	DECLARE_BITMAP(freed, UNMAPPED_POOL_BLOCK_PAGES);
	unsigned long moved;
	unsigned long failed;
	unsigned long shootdowns;
};

void unmapped_pool_move_reserve(struct unmapped_pool_block_move *bm);
void unmapped_pool_move_block(struct unmapped_pool_block_move *bm);
void unmapped_pool_move_release(struct unmapped_pool_block_move *bm);

#endif /* _MM_UNMAPPED_POOL_COMPACT_H */
