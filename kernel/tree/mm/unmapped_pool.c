// SPDX-License-Identifier: GPL-2.0
/*
 * Allocator of pages that are absent from the kernel direct map.
 *
 * memfd_secret and guest_memfd need memory that the kernel itself cannot
 * reach.  Removing such pages from the direct map one at a time splits its
 * 1 GiB mappings down to 4 KiB ones for good and costs a cross-CPU TLB
 * flush per page.  Instead, whole PUD-sized pages of a node's hugetlb CMA
 * reservation are lent to a per-node pool: each leaves the direct map as
 * one PUD with one TLB flush, is served in pages of up to PMD size, and
 * returns to hugetlb as a free gigantic page once its pages are free.
 *
 * Free pool pages keep a reference count of zero, like free buddy pages,
 * so that speculative references fail on them.  Their last put lands in
 * free_pages_prepare(), which hands them back here instead of to the buddy
 * allocator.  Pages freed by a consumer are wiped before the chunk is
 * mapped again, through a per-CPU temporary mapping that only ever needs a
 * local TLB invalidation.  Under memory pressure a shrinker gives empty
 * chunks back to hugetlb, beyond what the pool's low watermark asks for.
 */
#define pr_fmt(fmt) "unmapped_pool: " fmt

#include <linux/cma.h>
#include <linux/hugetlb.h>
#include <linux/mempolicy.h>
#include <linux/mm.h>
#include <linux/nodemask.h>
#include <linux/page_table_check.h>
#include <linux/sched/signal.h>
#include <linux/set_memory.h>
#include <linux/shrinker.h>
#include <linux/slab.h>
#include <linux/swap.h>
#include <linux/unmapped_pool.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <asm/tlbflush.h>
#include <uapi/linux/unmapped_pool.h>

#include "internal.h"
#include "unmapped_pool.h"

DEFINE_STATIC_KEY_FALSE(unmapped_pool_lent);
/* Modules test it too, through unmapped_pool_has_page() (KVM's guest_memfd). */
EXPORT_SYMBOL_GPL(unmapped_pool_lent);
/* Serialises lending and reclaim, which sleep, against each other. */
DEFINE_MUTEX(unmapped_pool_resize_lock);
DECLARE_WAIT_QUEUE_HEAD(unmapped_pool_event_wait);

static struct unmapped_pool *node_pools[MAX_NUMNODES];

/* Chunks by pfn >> UNMAPPED_POOL_CHUNK_ORDER, for the free path. */
static DEFINE_XARRAY(unmapped_pool_chunks);

/* Bumped whenever user space should look at the pools again. */
static atomic64_t unmapped_pool_events;

struct unmapped_pool_wipe_slot {
	struct vm_struct *area;
	unsigned long addr;
	pte_t *pte;
};

static DEFINE_PER_CPU(struct unmapped_pool_wipe_slot, unmapped_pool_wipe_slot);

/**
 * unmapped_pool_of_node - the pool of a node
 * @nid: node id
 *
 * Return: the pool, or NULL for a node id without one.
 */
struct unmapped_pool *unmapped_pool_of_node(int nid)
{
	if (nid < 0 || nid >= nr_node_ids)
		return NULL;
	return node_pools[nid];
}

/**
 * unmapped_pool_event_seq - sequence number of pool events
 *
 * Return: a number that changes whenever a pool fell below its low
 * watermark or failed a request.
 */
u64 unmapped_pool_event_seq(void)
{
	return atomic64_read(&unmapped_pool_events);
}

static void unmapped_pool_raise_event(void)
{
	atomic64_inc(&unmapped_pool_events);
	wake_up_interruptible_all(&unmapped_pool_event_wait);
}

/*
 * Drop pool->lock, taken with spin_lock_irq() around a change of the
 * pool's size or watermark, and raise the low-watermark event if the
 * change crossed it.
 */
static void unmapped_pool_unlock(struct unmapped_pool *pool)
{
	bool raise = unmapped_pool_note_level(pool, false);

	spin_unlock_irq(&pool->lock);
	if (raise)
		unmapped_pool_raise_event();
}

/**
 * unmapped_pool_set_watermark - set the free-page level that raises an event
 * @nid: node of the pool
 * @low_pages: free pages under which an event is raised, 0 for none
 */
void unmapped_pool_set_watermark(int nid, unsigned long low_pages)
{
	struct unmapped_pool *pool = unmapped_pool_of_node(nid);

	spin_lock_irq(&pool->lock);
	unmapped_pool_watermark_reset(pool, low_pages);
	unmapped_pool_unlock(pool);
}

/**
 * unmapped_pool_node_snapshot - the state of a node's pool
 * @nid: node id
 * @st: filled with the node's counters, flags and hugetlb pages
 *
 * The counters are taken under the pool's lock and never wait for a lend
 * or reclaim, which holds unmapped_pool_resize_lock for as long as it
 * takes to clear or wipe a chunk: anybody may read them.  While a chunk is
 * on its way, UNMAPPED_POOL_NODE_RESIZING says that the chunk and hugetlb
 * counts may not add up yet.
 */
void unmapped_pool_node_snapshot(int nid,
				 struct unmapped_pool_node_stats *st)
{
	struct unmapped_pool *pool = unmapped_pool_of_node(nid);
	unsigned long total, free;

	memset(st, 0, sizeof(*st));
	st->node = nid;
	if (node_online(nid))
		st->flags |= UNMAPPED_POOL_NODE_ONLINE;
	if (unmapped_pool_node_has_cma(nid))
		st->flags |= UNMAPPED_POOL_NODE_HAS_CMA;
	if (!pool)
		return;
	spin_lock_irq(&pool->lock);
	st->nr_chunks = pool->nr_chunks;
	st->free_pages = unmapped_pool_nr_free(pool);
	st->used_pages = pool->used_pages;
	st->lends = pool->lends;
	st->reclaims = pool->reclaims;
	st->alloc_failures = pool->alloc_failures;
	st->tlb_flushes = pool->tlb_flushes;
	st->low_watermark = pool->low_watermark;
	st->empty_chunks = unmapped_pool_empty_chunks(pool);
	if (pool->below_watermark)
		st->flags |= UNMAPPED_POOL_NODE_LOW;
	if (READ_ONCE(pool->resizing))
		st->flags |= UNMAPPED_POOL_NODE_RESIZING;
	spin_unlock_irq(&pool->lock);
	st->fallbacks = atomic64_read(&pool->fallbacks);
	hugetlb_gigantic_counts(nid, &total, &free);
	st->hugetlb_total = total;
	st->hugetlb_free = free;
}

static int unmapped_pool_wipe_slot_pte(pte_t *pte, unsigned long addr,
				       void *data)
{
	*(pte_t **)data = pte;
	return 0;
}

static void __init unmapped_pool_wipe_free(void)
{
	struct unmapped_pool_wipe_slot *slot;
	int cpu;

	for_each_possible_cpu(cpu) {
		slot = per_cpu_ptr(&unmapped_pool_wipe_slot, cpu);
		if (slot->area)
			free_vm_area(slot->area);
		memset(slot, 0, sizeof(*slot));
	}
}

/*
 * Every CPU gets its slot or none does: the wipe has no way to fail, so
 * a pool that could not set up every slot must not exist at all.
 */
static int __init unmapped_pool_wipe_init(void)
{
	struct unmapped_pool_wipe_slot *slot;
	int cpu, err;

	for_each_possible_cpu(cpu) {
		slot = per_cpu_ptr(&unmapped_pool_wipe_slot, cpu);
		slot->area = get_vm_area(PAGE_SIZE, VM_ALLOC);
		if (!slot->area) {
			err = -ENOMEM;
			goto fail;
		}
		slot->addr = (unsigned long)slot->area->addr;
		err = apply_to_page_range(&init_mm, slot->addr, PAGE_SIZE,
					  unmapped_pool_wipe_slot_pte,
					  &slot->pte);
		if (err)
			goto fail;
	}
	return 0;

fail:
	unmapped_pool_wipe_free();
	return err;
}

/*
 * Zero a page that is not in the direct map.  The temporary mapping is
 * private to this CPU and torn down before interrupts are enabled again,
 * so no other CPU can have cached it and a local invalidation suffices.
 */
static void unmapped_pool_wipe_page(struct page *page)
{
	struct unmapped_pool_wipe_slot *slot;
	unsigned long flags;

	local_irq_save(flags);
	slot = this_cpu_ptr(&unmapped_pool_wipe_slot);
	set_pte_at(&init_mm, slot->addr, slot->pte, mk_pte(page, PAGE_KERNEL));
	clear_page((void *)slot->addr);
	pte_clear(&init_mm, slot->addr, slot->pte);
	flush_tlb_one_kernel(slot->addr);
	local_irq_restore(flags);
}

/*
 * Zero a chunk about to be lent, while the direct map still covers it.
 * Through the chunk's own PUD mapping this is a plain clear of 1 GiB;
 * once unmapped, every __GFP_ZERO request would instead pay for a
 * temporary mapping and a TLB invalidation per page, on the fault path of
 * the VM.  Lending is the daemon's work, done ahead of the VMs.
 */
static void unmapped_pool_zero_chunk(struct unmapped_pool_chunk *chunk,
				     struct page *page)
{
	unsigned long i;

	for (i = 0; i < UNMAPPED_POOL_CHUNK_PAGES; i++) {
		clear_page(page_address(page + i));
		if (!(i % UNMAPPED_POOL_BLOCK_PAGES))
			cond_resched();
	}
	bitmap_fill(chunk->zeroed_map, UNMAPPED_POOL_CHUNK_PAGES);
}

static struct unmapped_pool_chunk *unmapped_pool_chunk_alloc(int nid)
{
	struct unmapped_pool_chunk *chunk;
	size_t map = BITS_TO_LONGS(UNMAPPED_POOL_CHUNK_PAGES) * sizeof(long);

	chunk = kzalloc_node(sizeof(*chunk), GFP_KERNEL, nid);
	if (!chunk)
		return NULL;
	chunk->used_map = kvzalloc_node(map, GFP_KERNEL, nid);
	chunk->dirty_map = kvzalloc_node(map, GFP_KERNEL, nid);
	chunk->zeroed_map = kvzalloc_node(map, GFP_KERNEL, nid);
	if (!chunk->used_map || !chunk->dirty_map || !chunk->zeroed_map) {
		kvfree(chunk->used_map);
		kvfree(chunk->dirty_map);
		kvfree(chunk->zeroed_map);
		kfree(chunk);
		return NULL;
	}
	chunk->nid = nid;
	unmapped_pool_chunk_init(chunk);
	return chunk;
}

static void unmapped_pool_chunk_free(struct unmapped_pool_chunk *chunk)
{
	kvfree(chunk->used_map);
	kvfree(chunk->dirty_map);
	kvfree(chunk->zeroed_map);
	kfree(chunk);
}

/* Give the first @nr frozen pages of a chunk their one reference back. */
static void unmapped_pool_unfreeze_pages(struct page *page, unsigned long nr)
{
	unsigned long i;

	for (i = 0; i < nr; i++) {
		page_ref_unfreeze(page + i, 1);
		if (!(i % UNMAPPED_POOL_BLOCK_PAGES))
			cond_resched();
	}
}

/*
 * Take every page of a chunk cma_alloc() just returned from its one
 * reference to the zero that free pool pages keep, and clear its
 * mapcount and type (the two share a field: -1 means neither).
 *
 * The pages are ours, but a pfn walker (compaction, memory-failure,
 * page_idle, /proc/kpageflags readers) may hold a speculative reference
 * taken with get_page_unless_zero() on a page it found in the memmap.
 * page_ref_freeze(), as migration and THP splitting use it, goes from
 * exactly our reference to zero or fails; set_page_count(0) would wipe
 * out the walker's reference, and its put would then free a pool page
 * that is already free.  Such a reference is dropped quickly, so a page
 * that is not ours alone fails the lend with -EBUSY and a later lend
 * retries.
 *
 * The page type matters too: when hugetlb itself freed a gigantic page of
 * the range (nr_hugepages lowered) with its vmemmap optimised, restoring
 * the vmemmap copied the head's struct page, hugetlb page type included,
 * into every 64th struct page, and cma_alloc() only resets the heads of
 * the free blocks it takes.  Left alone, such a stale type aliases the mapcount of
 * a consumer's page and its final put goes to free_huge_folio().  Pages
 * taken from hugetlb with hugetlb_take_free_gigantic() come without.
 */
static int unmapped_pool_freeze_pages(struct page *page)
{
	unsigned long i;

	for (i = 0; i < UNMAPPED_POOL_CHUNK_PAGES; i++) {
		if (!page_ref_freeze(page + i, 1)) {
			unmapped_pool_unfreeze_pages(page, i);
			return -EBUSY;
		}
		atomic_set(&page[i]._mapcount, -1);
		if (!(i % UNMAPPED_POOL_BLOCK_PAGES))
			cond_resched();
	}
	return 0;
}

/**
 * unmapped_pool_node_has_cma - tell whether a node can lend chunks
 * @nid: node id
 *
 * Return: true if @nid has a hugetlb CMA area to lend chunks from.
 */
bool unmapped_pool_node_has_cma(int nid)
{
	return unmapped_pool_of_node(nid) && hugetlb_cma_area(nid);
}

/* The work of unmapped_pool_lend(), for a node known to have a CMA area. */
static int unmapped_pool_lend_chunk(struct unmapped_pool *pool, int nid,
				    bool allow_hugetlb)
{
	struct unmapped_pool_chunk *chunk;
	struct page *page;
	bool released;
	int err;

	chunk = unmapped_pool_chunk_alloc(nid);
	if (!chunk)
		return -ENOMEM;
	page = allow_hugetlb ? hugetlb_take_free_gigantic(nid) : ERR_PTR(-ENOSPC);
	released = !IS_ERR(page);
	/*
	 * Without a free page to spare in hugetlb, any free range of the
	 * node's CMA area will do.  Not when hugetlb had one but could not
	 * restore its vmemmap: memory is short, and migrating pages to make
	 * room for a chunk would only make it shorter.
	 */
	if (PTR_ERR(page) == -ENOMEM) {
		unmapped_pool_chunk_free(chunk);
		return -ENOMEM;
	}
	if (IS_ERR(page))
		page = cma_alloc(hugetlb_cma_area(nid),
				 UNMAPPED_POOL_CHUNK_PAGES,
				 UNMAPPED_POOL_CHUNK_ORDER, true);
	if (!page) {
		err = -ENOMEM;
		goto out_hugetlb;
	}
	err = unmapped_pool_freeze_pages(page);
	if (err)
		goto out_cma;
	chunk->pfn = page_to_pfn(page);
	err = xa_insert(&unmapped_pool_chunks,
			chunk->pfn >> UNMAPPED_POOL_CHUNK_ORDER, chunk,
			GFP_KERNEL);
	if (err)
		goto out_unfreeze;
	unmapped_pool_zero_chunk(chunk, page);
	/*
	 * One call for the whole chunk keeps a PUD mapping whole and costs
	 * one TLB flush; page by page would split it down to 4 KiB.
	 */
	err = set_memory_np((unsigned long)page_address(page),
			    UNMAPPED_POOL_CHUNK_PAGES);
	if (err) {
		/*
		 * x86 changes attributes mapping by mapping and may stop
		 * part-way (a split that found no memory for a page
		 * table), leaving a prefix unmapped.  set_memory_p() over
		 * the whole range maps it all again, as it leaves present
		 * entries alone.  If even that fails, part of the chunk is
		 * absent from the direct map and must not go back to CMA:
		 * it stays with nobody, and the log says so.
		 */
		if (set_memory_p((unsigned long)page_address(page),
				 UNMAPPED_POOL_CHUNK_PAGES)) {
			pr_err("node %d: chunk at pfn %#lx is partly unmapped and lost\n",
			       nid, chunk->pfn);
			xa_erase(&unmapped_pool_chunks,
				 chunk->pfn >> UNMAPPED_POOL_CHUNK_ORDER);
			unmapped_pool_chunk_free(chunk);
			return err;
		}
		goto out_xa;
	}
	static_branch_inc(&unmapped_pool_lent);

	spin_lock_irq(&pool->lock);
	unmapped_pool_add_chunk(pool, chunk);
	pool->tlb_flushes++;
	unmapped_pool_unlock(pool);
	return 0;

out_xa:
	xa_erase(&unmapped_pool_chunks,
		 chunk->pfn >> UNMAPPED_POOL_CHUNK_ORDER);
out_unfreeze:
	unmapped_pool_unfreeze_pages(page, UNMAPPED_POOL_CHUNK_PAGES);
out_cma:
	cma_release(hugetlb_cma_area(nid), page, UNMAPPED_POOL_CHUNK_PAGES);
out_hugetlb:
	if (released && hugetlb_add_fresh_gigantic(nid))
		pr_warn("node %d lost a gigantic page to CMA\n", nid);
	unmapped_pool_chunk_free(chunk);
	return err;
}

/**
 * unmapped_pool_lend - lend one chunk of a node to its pool
 * @nid: node id
 * @allow_hugetlb: take a free gigantic hugetlb page of the node first
 *
 * The chunk is a free gigantic hugetlb page of the node's CMA area, taken
 * out of hugetlb as the loose pages it is made of, or, when hugetlb has
 * none to spare, any suitable range of that CMA area.
 * The caller holds unmapped_pool_resize_lock.
 *
 * Return: 0, -ENODEV for a node without a hugetlb CMA area, -ENOMEM when
 * neither hugetlb nor CMA could provide a chunk (or hugetlb could not
 * restore the vmemmap of its page), -EBUSY when a page of
 * the range was briefly referenced by someone else, or the error of
 * unmapping it.
 */
int unmapped_pool_lend(int nid, bool allow_hugetlb)
{
	struct unmapped_pool *pool = unmapped_pool_of_node(nid);
	int err;

	lockdep_assert_held(&unmapped_pool_resize_lock);
	if (!unmapped_pool_node_has_cma(nid))
		return -ENODEV;
	WRITE_ONCE(pool->resizing, true);
	err = unmapped_pool_lend_chunk(pool, nid, allow_hugetlb);
	WRITE_ONCE(pool->resizing, false);
	return err;
}

/**
 * unmapped_pool_settle - let pages whose users are gone reach the pool
 *
 * A page cache folio goes through per-CPU LRU batches, which hold a
 * reference until they are drained, so a page freed by its owner on one
 * CPU may still count as used for a while when it was added on another.
 * Draining them, as CMA does before it migrates, makes the pool's counts
 * exact and lets chunks whose users are gone be reclaimed.  It only
 * queues work on CPUs that have something batched.
 */
void unmapped_pool_settle(void)
{
	if (unmapped_pool_active())
		lru_add_drain_all();
}

/* The work of unmapped_pool_reclaim(), for a node that has a pool. */
static int unmapped_pool_reclaim_chunk(struct unmapped_pool *pool, int nid)
{
	struct unmapped_pool_chunk *chunk;
	struct page *page;
	unsigned long i;
	int err;

	unmapped_pool_settle();
	spin_lock_irq(&pool->lock);
	chunk = unmapped_pool_remove_empty(pool);
	spin_unlock_irq(&pool->lock);
	if (!chunk)
		return -EBUSY;

	/* No page of the chunk is in use, so no free can look it up now. */
	xa_erase(&unmapped_pool_chunks,
		 chunk->pfn >> UNMAPPED_POOL_CHUNK_ORDER);
	page = pfn_to_page(chunk->pfn);
	for_each_set_bit(i, chunk->dirty_map, UNMAPPED_POOL_CHUNK_PAGES) {
		unmapped_pool_wipe_page(page + i);
		cond_resched();
	}
	bitmap_zero(chunk->dirty_map, UNMAPPED_POOL_CHUNK_PAGES);

	err = set_memory_p((unsigned long)page_address(page),
			   UNMAPPED_POOL_CHUNK_PAGES);
	if (err) {
		/* Still unmapped: keep serving it rather than lose it. */
		WARN_ON(xa_insert(&unmapped_pool_chunks,
				  chunk->pfn >> UNMAPPED_POOL_CHUNK_ORDER,
				  chunk, GFP_KERNEL));
		spin_lock_irq(&pool->lock);
		chunk->draining = false;
		list_add_tail(&chunk->list, &pool->chunks);
		pool->nr_chunks++;
		spin_unlock_irq(&pool->lock);
		return err;
	}
	unmapped_pool_unfreeze_pages(page, UNMAPPED_POOL_CHUNK_PAGES);
	cma_release(hugetlb_cma_area(nid), page, UNMAPPED_POOL_CHUNK_PAGES);
	static_branch_dec(&unmapped_pool_lent);

	spin_lock_irq(&pool->lock);
	pool->reclaims++;
	pool->tlb_flushes++;
	unmapped_pool_unlock(pool);
	unmapped_pool_chunk_free(chunk);

	err = hugetlb_add_fresh_gigantic(nid);
	if (err)
		pr_warn("node %d: hugetlb did not take back a chunk (%d), it stays in CMA\n",
			nid, err);
	return 0;
}

/**
 * unmapped_pool_reclaim - give one empty chunk of a node back to hugetlb
 * @nid: node id
 *
 * Pages that held a consumer's data are wiped while still unmapped, then
 * the chunk is mapped again as one PUD and becomes a free gigantic hugetlb
 * page of the node.  The caller holds unmapped_pool_resize_lock.
 *
 * Return: 0 once the chunk has left the pool, -EBUSY when every chunk of
 * the node has pages in use, or the error of mapping the chunk again (the
 * chunk then stays in the pool).  If hugetlb cannot take the page back,
 * the memory stays free in the node's CMA area and a warning says so.
 */
int unmapped_pool_reclaim(int nid)
{
	struct unmapped_pool *pool = unmapped_pool_of_node(nid);
	int err;

	lockdep_assert_held(&unmapped_pool_resize_lock);
	if (!pool)
		return -ENODEV;
	WRITE_ONCE(pool->resizing, true);
	err = unmapped_pool_reclaim_chunk(pool, nid);
	WRITE_ONCE(pool->resizing, false);
	return err;
}

/**
 * unmapped_pool_set_node_chunks - lend or reclaim until a node has @target chunks
 * @nid: node id
 * @target: chunks the node's pool should have
 * @ret_chunks: chunks it has afterwards
 *
 * Return: 0 if @target was reached, else the error that stopped it.
 */
int unmapped_pool_set_node_chunks(int nid, unsigned long target,
				  unsigned long *ret_chunks)
{
	struct unmapped_pool *pool = unmapped_pool_of_node(nid);
	int err = 0;

	if (!pool)
		return -ENODEV;
	mutex_lock(&unmapped_pool_resize_lock);
	while (!err && pool->nr_chunks != target) {
		if (fatal_signal_pending(current))
			err = -EINTR;
		else if (pool->nr_chunks < target)
			err = unmapped_pool_lend(nid, true);
		else
			err = unmapped_pool_reclaim(nid);
	}
	*ret_chunks = pool->nr_chunks;
	mutex_unlock(&unmapped_pool_resize_lock);
	return err;
}

/**
 * unmapped_pool_total_chunks - chunks lent over all nodes
 *
 * Return: the sum of every pool's chunks.
 */
unsigned long unmapped_pool_total_chunks(void)
{
	unsigned long total = 0;
	int nid;

	for_each_node(nid)
		if (node_pools[nid])
			total += READ_ONCE(node_pools[nid]->nr_chunks);
	return total;
}

/**
 * unmapped_pool_set_total_chunks - lend or reclaim until @target chunks are lent
 * @target: chunks all pools together should have
 * @ret_chunks: chunks they have afterwards
 *
 * Like writing nr_hugepages, chunks are lent from and reclaimed to the
 * nodes in turn, so that the pools stay balanced.
 *
 * Return: 0 if @target was reached, else the last error that stopped it.
 */
int unmapped_pool_set_total_chunks(unsigned long target,
				   unsigned long *ret_chunks)
{
	unsigned long total;
	bool progress = true;
	int nid, step, err = 0;

	mutex_lock(&unmapped_pool_resize_lock);
	total = unmapped_pool_total_chunks();
	while (total != target && progress) {
		progress = false;
		for_each_node(nid) {
			if (total == target)
				break;
			if (!node_pools[nid])
				continue;
			if (fatal_signal_pending(current)) {
				err = -EINTR;
				goto out;
			}
			step = total < target ? unmapped_pool_lend(nid, true) :
						unmapped_pool_reclaim(nid);
			if (!step)
				progress = true;
			else if (step != -ENODEV)
				err = step;
			total = unmapped_pool_total_chunks();
		}
	}
	if (total == target)
		err = 0;
	else if (!err)
		err = -ENODEV;
out:
	*ret_chunks = unmapped_pool_total_chunks();
	mutex_unlock(&unmapped_pool_resize_lock);
	return err;
}

static int unmapped_pool_policy_node(void)
{
#ifdef CONFIG_NUMA
	return mempolicy_slab_node();
#else
	return numa_mem_id();
#endif
}

/**
 * unmapped_pool_alloc_pages - allocate pages that are not in the direct map
 * @nid: node to allocate from, NUMA_NO_NODE for the local one
 * @order: order of the allocation, at most PMD order
 * @gfp: allocation flags; __GFP_ZERO and __GFP_COMP are honoured.  A
 *	consumer whose memory is initialised by a trusted party leaves
 *	out __GFP_ZERO and skips the wipe.
 * @owner: cookie of the object the pages belong to (a file, say), so
 *	that one owner's pages are placed together; 0 for none
 *
 * The pages come with a reference count of one and are freed like any
 * other page, with put_page() or unmapped_pool_free_pages(); their final put returns
 * them to the pool.
 *
 * Return: the first page, or NULL if the node's pool has no room.
 */
struct page *unmapped_pool_alloc_pages(int nid, unsigned int order, gfp_t gfp,
				       unsigned long owner)
{
	struct unmapped_pool *pool;
	struct unmapped_pool_chunk *chunk;
	unsigned long index = 0, i, nr = 1UL << order;
	unsigned long flags;
	struct page *page;
	bool wipe = false;
	bool raise;

	if (!unmapped_pool_active() || order > UNMAPPED_POOL_MAX_ORDER)
		return NULL;
	if (nid == NUMA_NO_NODE)
		nid = numa_mem_id();
	pool = unmapped_pool_of_node(nid);
	if (!pool)
		return NULL;
	if (!owner)
		owner = UNMAPPED_POOL_OWNER_SHARED;

	spin_lock_irqsave(&pool->lock, flags);
	chunk = unmapped_pool_place(pool, owner, order, &index);
	raise = unmapped_pool_account(pool, chunk, index, order, owner);
	if (chunk) {
		if (gfp & __GFP_ZERO)
			wipe = find_next_zero_bit(chunk->zeroed_map, index + nr,
						  index) < index + nr;
		bitmap_clear(chunk->zeroed_map, index, nr);
		bitmap_clear(chunk->dirty_map, index, nr);
	}
	spin_unlock_irqrestore(&pool->lock, flags);
	if (raise)
		unmapped_pool_raise_event();
	if (!chunk)
		return NULL;

	page = pfn_to_page(chunk->pfn + index);
	if (wipe)
		for (i = 0; i < nr; i++)
			unmapped_pool_wipe_page(page + i);
	set_page_refcounted(page);
	page_table_check_alloc(page, order);
	if (order && (gfp & __GFP_COMP))
		prep_compound_page(page, order);
	return page;
}
EXPORT_SYMBOL_GPL(unmapped_pool_alloc_pages);

/**
 * unmapped_pool_free_pages - free pages from unmapped_pool_alloc_pages()
 * @page: first page
 * @order: order they were allocated with
 *
 * Equivalent to __free_pages(): the pages return to their pool when the
 * last reference is gone.
 */
void unmapped_pool_free_pages(struct page *page, unsigned int order)
{
	__free_pages(page, order);
}
EXPORT_SYMBOL_GPL(unmapped_pool_free_pages);

/**
 * unmapped_pool_alloc_folio - allocate an order-0 folio for a consumer
 * @gfp: allocation flags, as for unmapped_pool_alloc_pages()
 * @owner: cookie of the object the folio belongs to
 *
 * Allocates on the node the current task's memory policy picks.
 *
 * Return: the folio, or NULL if the pool has no room.
 */
struct folio *unmapped_pool_alloc_folio(gfp_t gfp, unsigned long owner)
{
	int nid = unmapped_pool_policy_node();
	struct page *page = unmapped_pool_alloc_pages(nid, 0, gfp, owner);

	return page ? page_folio(page) : NULL;
}
EXPORT_SYMBOL_GPL(unmapped_pool_alloc_folio);

/**
 * unmapped_pool_count_fallback - count an allocation served outside the pool
 *
 * A consumer that falls back to ordinary pages after unmapped_pool_alloc_folio()
 * failed says so, for the node the allocation was meant for, so that the
 * pool's users see how often the pool was too small.
 */
void unmapped_pool_count_fallback(void)
{
	struct unmapped_pool *pool =
		unmapped_pool_of_node(unmapped_pool_policy_node());

	if (pool)
		atomic64_inc(&pool->fallbacks);
}

bool __unmapped_pool_has_page(const struct page *page)
{
	return xa_load(&unmapped_pool_chunks,
		       page_to_pfn(page) >> UNMAPPED_POOL_CHUNK_ORDER);
}
EXPORT_SYMBOL_GPL(__unmapped_pool_has_page);

bool __unmapped_pool_return_page(struct page *page, unsigned int order)
{
	unsigned long pfn = page_to_pfn(page);
	struct unmapped_pool_chunk *chunk;
	struct unmapped_pool *pool;
	unsigned long flags, index;

	chunk = xa_load(&unmapped_pool_chunks,
			pfn >> UNMAPPED_POOL_CHUNK_ORDER);
	if (!chunk)
		return false;
	pool = node_pools[chunk->nid];
	index = pfn - chunk->pfn;
	spin_lock_irqsave(&pool->lock, flags);
	unmapped_pool_chunk_put(pool, chunk, index, order);
	bitmap_set(chunk->dirty_map, index, 1UL << order);
	spin_unlock_irqrestore(&pool->lock, flags);
	return true;
}

/**
 * unmapped_pool_empty_chunks - chunks of a pool with no page in use
 * @pool: the pool, whose lock the caller holds
 *
 * Only these can be reclaimed; the free pages of chunks in use cannot.
 * They are counted when asked rather than kept in a counter next to
 * @used: the snapshots and the shrinker that ask are rare next to the
 * allocations and frees that would have to keep such a counter right.
 *
 * Return: the number of empty chunks in @pool.
 */
unsigned long unmapped_pool_empty_chunks(struct unmapped_pool *pool)
{
	struct unmapped_pool_chunk *chunk;
	unsigned long empty = 0;

	lockdep_assert_held(&pool->lock);
	list_for_each_entry(chunk, &pool->chunks, list)
		empty += !chunk->used;
	return empty;
}

/*
 * Empty chunks of a node beyond those its low watermark needs, given the
 * free pages of its other chunks.
 */
static unsigned long unmapped_pool_spare_chunks(struct unmapped_pool *pool)
{
	unsigned long empty, other_free, needed = 0;

	spin_lock_irq(&pool->lock);
	empty = unmapped_pool_empty_chunks(pool);
	other_free =
		unmapped_pool_nr_free(pool) - empty * UNMAPPED_POOL_CHUNK_PAGES;
	/* No overflow: SET_WATERMARK bounds the watermark. */
	if (pool->low_watermark > other_free)
		needed = DIV_ROUND_UP(pool->low_watermark - other_free,
				      UNMAPPED_POOL_CHUNK_PAGES);
	spin_unlock_irq(&pool->lock);
	return empty > needed ? empty - needed : 0;
}

static void unmapped_pool_shrink_workfn(struct work_struct *work)
{
	struct unmapped_pool *pool;
	int nid;

	mutex_lock(&unmapped_pool_resize_lock);
	for_each_node(nid) {
		pool = unmapped_pool_of_node(nid);
		while (pool && unmapped_pool_spare_chunks(pool) &&
		       !unmapped_pool_reclaim(nid))
			;
	}
	mutex_unlock(&unmapped_pool_resize_lock);
}

static DECLARE_WORK(unmapped_pool_shrink_work, unmapped_pool_shrink_workfn);

static unsigned long unmapped_pool_shrink_count(struct shrinker *shrinker,
						struct shrink_control *sc)
{
	struct unmapped_pool *pool = unmapped_pool_of_node(sc->nid);
	unsigned long spare = pool ? unmapped_pool_spare_chunks(pool) : 0;

	return spare ? spare * UNMAPPED_POOL_CHUNK_PAGES : SHRINK_EMPTY;
}

/*
 * Giving a chunk back sleeps and allocates, which reclaim context must
 * not do, so the shrinker hands the work to a worker and reports nothing
 * freed yet.
 */
static unsigned long unmapped_pool_shrink_scan(struct shrinker *shrinker,
					       struct shrink_control *sc)
{
	queue_work(system_unbound_wq, &unmapped_pool_shrink_work);
	return SHRINK_STOP;
}

static int __init unmapped_pool_init(void)
{
	struct shrinker *shrinker;
	struct unmapped_pool *pool;
	int nid, err;

	/* Without its wipe slots there is no pool: every node has none. */
	err = unmapped_pool_wipe_init();
	if (err) {
		pr_err("no wipe slots (%d), the pool is disabled\n", err);
		return err;
	}
	for_each_online_node(nid) {
		pool = kzalloc(sizeof(*pool), GFP_KERNEL);
		if (!pool)
			return -ENOMEM;
		spin_lock_init(&pool->lock);
		INIT_LIST_HEAD(&pool->chunks);
		node_pools[nid] = pool;
	}

	shrinker = shrinker_alloc(SHRINKER_NUMA_AWARE, "unmapped_pool");
	if (!shrinker)
		return -ENOMEM;
	shrinker->count_objects = unmapped_pool_shrink_count;
	shrinker->scan_objects = unmapped_pool_shrink_scan;
	shrinker_register(shrinker);
	return 0;
}
subsys_initcall(unmapped_pool_init);
