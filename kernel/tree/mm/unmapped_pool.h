/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal interfaces of the unmapped page pool, shared by its core
 * (unmapped_pool.c), its placement policy (unmapped_pool_place.c), its user
 * interfaces (unmapped_pool_sysfs.c, unmapped_pool_dev.c,
 * unmapped_pool_debug.c) and its KUnit tests.
 */
#ifndef _MM_UNMAPPED_POOL_H
#define _MM_UNMAPPED_POOL_H

#include <linux/bits.h>
#include <linux/list.h>
#include <linux/pgtable.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/workqueue.h>
#include <linux/unmapped_pool_types.h>

/*
 * A chunk (UNMAPPED_POOL_CHUNK_ORDER, <linux/unmapped_pool_types.h>) is
 * served in pages of up to one PMD.
 */
#define UNMAPPED_POOL_BLOCK_ORDER	(PMD_SHIFT - PAGE_SHIFT)
#define UNMAPPED_POOL_BLOCK_PAGES	BIT(UNMAPPED_POOL_BLOCK_ORDER)
#define UNMAPPED_POOL_CHUNK_BLOCKS \
	(UNMAPPED_POOL_CHUNK_PAGES / UNMAPPED_POOL_BLOCK_PAGES)
#define UNMAPPED_POOL_MAX_ORDER		UNMAPPED_POOL_BLOCK_ORDER

/* Owner of a block that small owners, or owners that had to, share. */
#define UNMAPPED_POOL_OWNER_SHARED	(~0UL)

/*
 * Pages an owner takes from shared blocks before it gets blocks of its
 * own: 16 MiB, eight blocks.  An owner that gets a block of its own has
 * used eight blocks' worth already, so the block it has only begun to fill
 * adds at most an eighth to what it keeps from hugetlb, while one that
 * never gets this far keeps no block to itself: the 8 MiB a uid may lock
 * by default in memfd_secret files, in however many files, stays in shared
 * blocks.  Of the thresholds tried in the placement simulator (half a
 * block to 32 MiB), this one left the fewest chunks stranded: owners of a
 * few MiB with blocks of their own scatter over the chunks of VMs.
 */
#define UNMAPPED_POOL_OWNER_SMALL_PAGES	(8 * UNMAPPED_POOL_BLOCK_PAGES)

/*
 * Free blocks of the chunk that small owners fill which owners with blocks
 * of their own leave to them even when no other chunk has a free block,
 * so that small owners stay together in one chunk rather than scatter
 * into holes of the VMs' chunks; only a request the pool would otherwise
 * fail takes one.
 */
#define UNMAPPED_POOL_SHARED_RESERVE	(UNMAPPED_POOL_CHUNK_BLOCKS / 8)

/*
 * Bitmaps of one bit per page that a chunk has, allocated apart from its
 * struct: the *_map pointers of struct unmapped_pool_chunk.  bench/sim's
 * chunk-size counts the bookkeeping per chunk with it.
 */
#define UNMAPPED_POOL_CHUNK_PAGE_MAPS	6

/**
 * struct unmapped_pool_chunk - one PUD-sized page lent to the pool
 * @list: entry in the pool's list of chunks
 * @pfn: first page frame of the chunk
 * @nid: node the chunk belongs to
 * @used: pages handed out, poisoned or leaked: the pages placement cannot use
 * @dirty: pages set in @dirty_map
 * @poisoned: pages a memory error took out of use for good
 * @leaked: pages the firmware of a confidential VM failed to give back to
 *	the host, out of use for good
 * @pinned: pages in use of owners whose pages never move
 *	(unmapped_pool_owner_set_pinned()), set in @pinned_map
 * @free_blocks: blocks with no page handed out or poisoned
 * @draining: being given back, or emptied by compaction; no new allocations
 * @compact_busy: a page of the chunk failed to move in the compaction
 *	under way, which takes it as a source no more
 * @used_map: one bit per page handed out
 * @dirty_map: free pages that held a consumer's data since they were
 *	last wiped; the pool's wipe worker wipes them soon after they are
 *	freed, and reclaim wipes any left before the chunk is mapped again
 * @zeroed_map: pages known to hold zeroes, which __GFP_ZERO requests
 *	get without wiping them again
 * @poison_map: pages a memory error hit; they keep their bit in
 *	@used_map for good, so that placement never picks them again
 * @leak_map: pages leaked by unmapped_pool_leak_page(); like poisoned
 *	ones, they keep their bit in @used_map for good
 * @pinned_map: pages in use that must never move; their chunk is no
 *	compaction source.  The free path clears their bit, as it cannot
 *	know the page's owner
 * @block_owner: id of each block's owner (0: none), so that one owner's
 *	pages stay together and leave whole blocks behind when it goes
 * @block_used: pages handed out per block
 * @free_block_map: blocks with no page handed out
 * @shared_map: blocks whose owner is UNMAPPED_POOL_OWNER_SHARED
 * @full_map: blocks with every page handed out
 *
 * Placement uses blocks of PMD size as its unit of affinity: an owner
 * that has taken UNMAPPED_POOL_OWNER_SMALL_PAGES gets blocks of its own
 * while there are free blocks, smaller ones share blocks, and owners only
 * share a block of another once every block of the pool is in use.  The
 * three block maps let placement find a block with a word search rather
 * than a walk over the blocks.
 */
struct unmapped_pool_chunk {
	struct list_head list;
	unsigned long pfn;
	int nid;
	unsigned long used;
	unsigned long dirty;
	unsigned long poisoned;
	unsigned long leaked;
	unsigned long pinned;
	unsigned int free_blocks;
	bool draining;
	bool compact_busy;
	unsigned long *used_map;
	unsigned long *dirty_map;
	unsigned long *zeroed_map;
	unsigned long *poison_map;
	unsigned long *leak_map;
	unsigned long *pinned_map;
	unsigned long block_owner[UNMAPPED_POOL_CHUNK_BLOCKS];
	u16 block_used[UNMAPPED_POOL_CHUNK_BLOCKS];
	DECLARE_BITMAP(free_block_map, UNMAPPED_POOL_CHUNK_BLOCKS);
	DECLARE_BITMAP(shared_map, UNMAPPED_POOL_CHUNK_BLOCKS);
	DECLARE_BITMAP(full_map, UNMAPPED_POOL_CHUNK_BLOCKS);
};

/**
 * struct unmapped_pool - the pool of one NUMA node
 * @lock: protects everything below but the counters marked atomic
 * @chunks: chunks of the node
 * @nr_chunks: length of @chunks, draining ones included
 * @used_pages: pages handed out and not poisoned since
 * @poisoned_pages: pages a memory error took out of use, whether their
 *	last user has freed them yet or not
 * @leaked_pages: pages leaked by unmapped_pool_leak_page(), whether their
 *	last user has freed them yet or not
 * @low_watermark: free pages under which user space wants an event
 * @below_watermark: the low-watermark event has been raised and not yet
 *	cleared by free pages rising above the watermark again
 * @resizing: a chunk is being lent or reclaimed; set and cleared under
 *	unmapped_pool_resize_lock, read without it by the counters
 * @shared_chunk: chunk of the shared block small owners fill, or NULL
 * @shared_block: that block's index in @shared_chunk
 * @chunk_gen: bumped whenever a chunk leaves the pool, so that an owner's
 *	record of its block, made under an older generation, is not trusted
 * @lends: chunks lent since boot
 * @reclaims: chunks given back since boot
 * @alloc_failures: requests that found the pool full
 * @fallbacks: consumer allocations served outside the pool (atomic)
 * @gmem_pages: pages handed to guest_memfd since boot (atomic)
 * @tlb_flushes: cross-CPU TLB flushes done for this pool
 * @compactions: compactions of this pool since boot
 * @compact_pages_moved: pages compaction moved since boot
 * @compact_pages_failed: pages whose move failed for the moment (another
 *	reference held, not isolable, the consumer refused)
 * @compact_shootdowns: folios whose user mappings compaction replaced by
 *	migration entries (and flushed), one per folio and try, moved or not
 * @wipe_work: wipes the pool's dirty free pages; queued by every free
 */
struct unmapped_pool {
	spinlock_t lock;	/* see above */
	struct list_head chunks;
	unsigned long nr_chunks;
	unsigned long used_pages;
	unsigned long poisoned_pages;
	unsigned long leaked_pages;
	unsigned long low_watermark;
	bool below_watermark;
	bool resizing;
	struct unmapped_pool_chunk *shared_chunk;
	unsigned int shared_block;
	unsigned long chunk_gen;
	u64 lends;
	u64 reclaims;
	u64 alloc_failures;
	atomic64_t fallbacks;
	atomic64_t gmem_pages;
	u64 tlb_flushes;
	u64 compactions;
	u64 compact_pages_moved;
	u64 compact_pages_failed;
	u64 compact_shootdowns;
	struct work_struct wipe_work;
};

static inline unsigned long
unmapped_pool_nr_free(const struct unmapped_pool *pool)
{
	return pool->nr_chunks * UNMAPPED_POOL_CHUNK_PAGES - pool->used_pages -
	       pool->poisoned_pages - pool->leaked_pages;
}

/*
 * unmapped_pool_place.c: where a request goes and what the pool's counters
 * and chunk list decide; pure bookkeeping, no locking
 */
struct unmapped_pool_chunk *unmapped_pool_place(struct unmapped_pool *pool,
						struct unmapped_pool_owner *owner,
						unsigned int order,
						unsigned long *ret_index);
void unmapped_pool_chunk_take(struct unmapped_pool *pool,
			      struct unmapped_pool_chunk *chunk,
			      unsigned long index, unsigned int order,
			      struct unmapped_pool_owner *owner);
void unmapped_pool_chunk_take_as(struct unmapped_pool *pool,
				 struct unmapped_pool_chunk *chunk,
				 unsigned long index, unsigned long nr,
				 unsigned long id);
void unmapped_pool_chunk_put(struct unmapped_pool *pool,
			     struct unmapped_pool_chunk *chunk,
			     unsigned long index, unsigned int order);
void unmapped_pool_chunk_init(struct unmapped_pool_chunk *chunk);
bool unmapped_pool_chunk_poison(struct unmapped_pool *pool,
				struct unmapped_pool_chunk *chunk,
				unsigned long index);
bool unmapped_pool_chunk_leak(struct unmapped_pool *pool,
			      struct unmapped_pool_chunk *chunk,
			      unsigned long index);
bool unmapped_pool_note_level(struct unmapped_pool *pool, bool failed);
void unmapped_pool_watermark_reset(struct unmapped_pool *pool,
				   unsigned long low_pages);
bool unmapped_pool_account(struct unmapped_pool *pool,
			   struct unmapped_pool_chunk *chunk,
			   unsigned long index, unsigned int order,
			   struct unmapped_pool_owner *owner);
void unmapped_pool_add_chunk(struct unmapped_pool *pool,
			     struct unmapped_pool_chunk *chunk);
struct unmapped_pool_chunk *
unmapped_pool_remove_empty(struct unmapped_pool *pool);
unsigned long unmapped_pool_spare(const struct unmapped_pool *pool,
				  unsigned long empty);

/* unmapped_pool.c: the pools and their lending */
struct unmapped_pool_node_stats;

struct unmapped_pool *unmapped_pool_of_node(int nid);
int unmapped_pool_lend(int nid, bool allow_hugetlb);
int unmapped_pool_reclaim(int nid);
int unmapped_pool_set_node_chunks(int nid, unsigned long target,
				  unsigned long *ret_chunks);
int unmapped_pool_set_total_chunks(unsigned long target,
				   unsigned long *ret_chunks);
unsigned long unmapped_pool_total_chunks(void);
unsigned long unmapped_pool_empty_chunks(struct unmapped_pool *pool);
unsigned long unmapped_pool_dirty_pages(int nid);
bool unmapped_pool_node_has_cma(int nid);
void unmapped_pool_set_watermark(int nid, unsigned long low_pages);
void unmapped_pool_node_snapshot(int nid, struct unmapped_pool_node_stats *st);
u64 unmapped_pool_event_seq(void);
void unmapped_pool_settle(void);
void unmapped_pool_count_unserved(void);
extern struct mutex unmapped_pool_resize_lock;
extern wait_queue_head_t unmapped_pool_event_wait;

/* unmapped_pool_gmem.c: guest_memfd and its switch */
int unmapped_pool_gmem_mode_parse(const char *buf);
int unmapped_pool_gmem_mode_show(char *buf,
				 enum unmapped_pool_gmem_mode mode);
enum unmapped_pool_gmem_mode unmapped_pool_gmem_get_switch(void);
void unmapped_pool_gmem_set_switch(enum unmapped_pool_gmem_mode mode);
enum unmapped_pool_gmem_mode
__unmapped_pool_gmem_file_mode(enum unmapped_pool_gmem_mode mode, bool allowed,
			       bool flagged);
u64 unmapped_pool_gmem_pages(int nid);

/* unmapped_pool.c: what moving pages needs of the pool's core */
struct folio;
struct page;

int unmapped_pool_copy_page(struct page *dst, struct page *src);
struct folio *unmapped_pool_hand_reserved(struct unmapped_pool *pool,
					  struct unmapped_pool_chunk *chunk,
					  unsigned long index, unsigned int order,
					  unsigned long retake_id);

/* unmapped_pool_compact_run.c: compaction of a node's pool */
struct unmapped_pool_compact_req;

bool unmapped_pool_chunk_pinned(const struct unmapped_pool_chunk *chunk,
				void *data);
int unmapped_pool_compact_node(int nid,
			       struct unmapped_pool_compact_req *req);
u64 unmapped_pool_compact_stat(int nid, size_t offset);

#endif /* _MM_UNMAPPED_POOL_H */
