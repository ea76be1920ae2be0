/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Types of the unmapped page pool that its consumers embed in their own
 * structures (include/linux/unmapped_pool.h has the interface).
 */
#ifndef _LINUX_UNMAPPED_POOL_TYPES_H
#define _LINUX_UNMAPPED_POOL_TYPES_H

#include <linux/bits.h>
#include <linux/spinlock.h>

/*
 * A chunk is one PUD of memory, aligned to its size.  Here rather than in
 * <linux/unmapped_pool.h> because the pool's bookkeeping (mm/unmapped_pool.h)
 * needs it and is compiled into the placement simulator, which cannot take
 * the interface's kernel headers; expanded where <linux/pgtable.h> is.
 */
#define UNMAPPED_POOL_CHUNK_ORDER	(PUD_SHIFT - PAGE_SHIFT)
#define UNMAPPED_POOL_CHUNK_PAGES	BIT(UNMAPPED_POOL_CHUNK_ORDER)

struct unmapped_pool;
struct unmapped_pool_chunk;

/**
 * struct unmapped_pool_owner - placement state of one owner of pool pages
 * @lock: serialises placement for this owner between the pools of
 *	different nodes; nests inside a pool's lock
 * @id: number naming the owner in the blocks it uses; never 0 and never
 *	reused, so that a page freed after its owner is gone leads to no
 *	owner, not to a stale one
 * @pages: pages handed out to the owner so far; it places them in shared
 *	blocks until they reach UNMAPPED_POOL_OWNER_SMALL_PAGES
 * @pool: pool of @chunk, set with the owner's first block of its own and
 *	kept; requests on other nodes are placed as small owners' are
 * @chunk: chunk of the block of its own the owner fills, trusted only
 *	while @gen is @pool's chunk generation
 * @gen: chunk generation of @pool when @chunk was recorded
 * @block: that block's index in @chunk
 * @pinned: the owner's pages never move (unmapped_pool_owner_set_pinned())
 *
 * A consumer embeds one per file whose pages it takes from the pool and
 * sets it up with unmapped_pool_owner_init().  Nothing refers to it once
 * the file is gone, so it needs no teardown: the pool's blocks name their
 * owner by @id, never by address.
 */
struct unmapped_pool_owner {
#ifdef CONFIG_UNMAPPED_POOL
	spinlock_t lock;	/* see above */
	unsigned long id;
	unsigned long pages;
	struct unmapped_pool *pool;
	struct unmapped_pool_chunk *chunk;
	unsigned long gen;
	unsigned int block;
	bool pinned;
#endif
};

/**
 * enum unmapped_pool_gmem_mode - how a guest_memfd draws from the pool
 * @UNMAPPED_POOL_GMEM_NONE: not at all, as without the pool; as the
 *	switch (shown as "flag"), only files created with the flag draw
 * @UNMAPPED_POOL_GMEM_PREFER: from the pool, from ordinary pages when it
 *	has no room
 * @UNMAPPED_POOL_GMEM_REQUIRE: from the pool only: -ENOMEM when it has no
 *	room
 *
 * Both the host-wide switch /sys/kernel/mm/unmapped_pool/guest_memfd and
 * the mode a file fixes when it is created.
 */
enum unmapped_pool_gmem_mode {
	UNMAPPED_POOL_GMEM_NONE,
	UNMAPPED_POOL_GMEM_PREFER,
	UNMAPPED_POOL_GMEM_REQUIRE,
};

#endif /* _LINUX_UNMAPPED_POOL_TYPES_H */
