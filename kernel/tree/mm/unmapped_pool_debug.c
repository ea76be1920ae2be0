// SPDX-License-Identifier: GPL-2.0
/*
 * debugfs unmapped_pool/chunks: one line per chunk of the unmapped page
 * pool, with its use, its free blocks, how many owners share it and how
 * many of its pages a memory error or a confidential VM's firmware took
 * out of use (poisoned, leaked: either keeps the chunk from ever being
 * reclaimed) and how many in use must never move (pinned: the chunk is no
 * compaction source while they are), for debugging placement and
 * compaction.
 */
#define pr_fmt(fmt) "unmapped_pool: " fmt

#include <linux/bitmap.h>
#include <linux/debugfs.h>
#include <linux/mutex.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/string.h>

#include "unmapped_pool.h"

static int cmp_owner(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a;
	unsigned long y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

/* Distinct owners of a chunk's blocks; sorts @owners in place. */
static unsigned int count_owners(unsigned long *owners,
				 unsigned int *ret_shared)
{
	unsigned int i, nr = 0;

	sort(owners, UNMAPPED_POOL_CHUNK_BLOCKS, sizeof(*owners), cmp_owner,
	     NULL);
	*ret_shared = 0;
	for (i = 0; i < UNMAPPED_POOL_CHUNK_BLOCKS; i++) {
		if (owners[i] == UNMAPPED_POOL_OWNER_SHARED)
			(*ret_shared)++;
		else if (owners[i] && (!i || owners[i] != owners[i - 1]))
			nr++;
	}
	return nr;
}

static int unmapped_pool_chunks_show(struct seq_file *m, void *v)
{
	unsigned long *owners, used, dirty, poisoned, leaked, pinned;
	struct unmapped_pool_chunk *chunk;
	struct unmapped_pool *pool;
	unsigned int nr_owners, shared, free_blocks;
	int nid;

	owners = kmalloc_array(UNMAPPED_POOL_CHUNK_BLOCKS, sizeof(*owners),
			       GFP_KERNEL);
	if (!owners)
		return -ENOMEM;
	seq_puts(m, "node pfn used_pages free_blocks owners shared_blocks dirty_pages poisoned_pages leaked_pages pinned_pages\n");
	/* Chunks only come and go under the resize lock. */
	mutex_lock(&unmapped_pool_resize_lock);
	for_each_node(nid) {
		pool = unmapped_pool_of_node(nid);
		if (!pool)
			continue;
		list_for_each_entry(chunk, &pool->chunks, list) {
			spin_lock_irq(&pool->lock);
			used = chunk->used;
			free_blocks = chunk->free_blocks;
			dirty = bitmap_weight(chunk->dirty_map,
					      UNMAPPED_POOL_CHUNK_PAGES);
			poisoned = chunk->poisoned;
			leaked = chunk->leaked;
			pinned = chunk->pinned;
			memcpy(owners, chunk->block_owner,
			       sizeof(chunk->block_owner));
			spin_unlock_irq(&pool->lock);
			/*
			 * Apart from the call: count_owners() sets @shared, and
			 * the order arguments are evaluated in is unspecified.
			 */
			nr_owners = count_owners(owners, &shared);
			seq_printf(m, "%d %#lx %lu %u %u %u %lu %lu %lu %lu\n",
				   nid, chunk->pfn, used, free_blocks, nr_owners,
				   shared, dirty, poisoned, leaked, pinned);
		}
	}
	mutex_unlock(&unmapped_pool_resize_lock);
	kfree(owners);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(unmapped_pool_chunks);

static int __init unmapped_pool_debug_init(void)
{
	debugfs_create_file("chunks", 0400,
			    debugfs_create_dir("unmapped_pool", NULL), NULL,
			    &unmapped_pool_chunks_fops);
	return 0;
}
late_initcall(unmapped_pool_debug_init);
