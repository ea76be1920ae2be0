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
 * allocator.  That may happen in atomic context, so a page freed by a
 * consumer is only marked dirty there, and a per-node worker wipes it soon
 * after, as stock memfd_secret clears a page when it is freed; reclaim
 * wipes whatever is left before the chunk is mapped again.  Wiping goes
 * through a per-CPU temporary mapping that only ever needs a local TLB
 * invalidation.  Under memory pressure a shrinker gives empty chunks,
 * beyond what the pool's low watermark asks for, to the page allocator as
 * free CMA pages.
 */
#define pr_fmt(fmt) "unmapped_pool: " fmt

#include <linux/cma.h>
#include <linux/hugetlb.h>
#include <linux/mempolicy.h>
#include <linux/mm.h>
#include <linux/nodemask.h>
#include <linux/pagemap.h>
#include <linux/page_table_check.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/set_memory.h>
#include <linux/shrinker.h>
#include <linux/slab.h>
#include <linux/swap.h>
#include <linux/uaccess.h>
#include <linux/unmapped_pool.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <asm/cacheflush.h>
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

/*
 * The chunk lent from each GiB of physical memory, indexed by
 * pfn >> UNMAPPED_POOL_CHUNK_ORDER, or NULL.  Every page freed while a
 * chunk is lent asks it whether the page is the pool's, so the answer is
 * one load from an array of one pointer per GiB (8 KiB for 1 TiB), not a
 * tree walk, made inline in the free path by unmapped_pool_chunk_of_pfn().
 * It covers the memory present at boot, which is where the hugetlb CMA
 * areas that chunks come from were reserved.  Its entries are written
 * under unmapped_pool_resize_lock, read locklessly: a page's chunk is
 * published before any of its pages is handed out and cleared only once
 * none is.  Where the array is and its size are set at boot and read-only
 * after it.  Both are exported, as mem_section is, for
 * unmapped_pool_has_page() in modules (KVM's guest_memfd).
 */
struct unmapped_pool_chunk **unmapped_pool_chunk_of __ro_after_init;
EXPORT_SYMBOL_GPL(unmapped_pool_chunk_of);
unsigned long unmapped_pool_nr_gib __ro_after_init;
EXPORT_SYMBOL_GPL(unmapped_pool_nr_gib);

/* Bumped whenever user space should look at the pools again. */
static atomic64_t unmapped_pool_events;

/*
 * Two pages of kernel address space per CPU: the first maps the page being
 * wiped, flushed or copied, the second the source of a copy between two
 * pool pages (unmapped_pool_copy_page()).
 */
#define UNMAPPED_POOL_SLOT_PAGES	2

struct unmapped_pool_wipe_slot {
	struct vm_struct *area;
	unsigned long addr;
	pte_t *pte[UNMAPPED_POOL_SLOT_PAGES];
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

/* Make @chunk, or no chunk if NULL, the one of the GiB at @pfn. */
static void unmapped_pool_publish(unsigned long pfn,
				  struct unmapped_pool_chunk *chunk)
{
	WRITE_ONCE(unmapped_pool_chunk_of[pfn >> UNMAPPED_POOL_CHUNK_ORDER],
		   chunk);
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
	st->poisoned_pages = pool->poisoned_pages;
	st->leaked_pages = pool->leaked_pages;
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
	struct unmapped_pool_wipe_slot *slot = data;

	slot->pte[(addr - slot->addr) >> PAGE_SHIFT] = pte;
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
		slot->area = get_vm_area(UNMAPPED_POOL_SLOT_PAGES * PAGE_SIZE,
					 VM_ALLOC);
		if (!slot->area) {
			err = -ENOMEM;
			goto fail;
		}
		slot->addr = (unsigned long)slot->area->addr;
		err = apply_to_page_range(&init_mm, slot->addr,
					  UNMAPPED_POOL_SLOT_PAGES * PAGE_SIZE,
					  unmapped_pool_wipe_slot_pte, slot);
		if (err)
			goto fail;
	}
	return 0;

fail:
	unmapped_pool_wipe_free();
	return err;
}

/*
 * Map a page that is not in the direct map at this CPU's wipe slot, with
 * the direct map's attributes, until unmapped_pool_unmap_slot().  The
 * temporary mapping is private to this CPU and torn down before
 * interrupts are enabled again, so no other CPU can have cached it and a
 * local invalidation suffices.  It is one 4 KiB entry outside the direct
 * map, which stays as it is.
 */
static void *unmapped_pool_map_slot(struct page *page, unsigned long *flags)
{
	struct unmapped_pool_wipe_slot *slot;

	local_irq_save(*flags);
	slot = this_cpu_ptr(&unmapped_pool_wipe_slot);
	set_pte_at(&init_mm, slot->addr, slot->pte[0],
		   mk_pte(page, PAGE_KERNEL));
	return (void *)slot->addr;
}

static void unmapped_pool_unmap_slot(unsigned long flags)
{
	struct unmapped_pool_wipe_slot *slot =
		this_cpu_ptr(&unmapped_pool_wipe_slot);

	pte_clear(&init_mm, slot->addr, slot->pte[0]);
	flush_tlb_one_kernel(slot->addr);
	local_irq_restore(flags);
}

/**
 * unmapped_pool_copy_page - copy a pool page to another, off the direct map
 * @dst: page of the unmapped pool, whose contents are replaced
 * @src: page of the unmapped pool
 *
 * Both pages are mapped at this CPU's two slots for the copy only, with
 * interrupts off, and each mapping is torn down with a local invalidation:
 * the copy costs no cross-CPU TLB flush, and the chunks' direct-map
 * entries stay absent and whole.  A memory error in @src ends the copy
 * rather than the kernel (copy_mc_to_kernel(), as folio_mc_copy() does).
 *
 * Return: 0, or -EHWPOISON if @src could not be read whole.
 */
int unmapped_pool_copy_page(struct page *dst, struct page *src)
{
	struct unmapped_pool_wipe_slot *slot;
	unsigned long flags, from, left;
	void *to;

	to = unmapped_pool_map_slot(dst, &flags);
	slot = this_cpu_ptr(&unmapped_pool_wipe_slot);
	from = slot->addr + PAGE_SIZE;
	set_pte_at(&init_mm, from, slot->pte[1], mk_pte(src, PAGE_KERNEL));
	left = copy_mc_to_kernel(to, (void *)from, PAGE_SIZE);
	pte_clear(&init_mm, from, slot->pte[1]);
	flush_tlb_one_kernel(from);
	unmapped_pool_unmap_slot(flags);
	return left ? -EHWPOISON : 0;
}

/* Zero a page that is not in the direct map. */
static void unmapped_pool_wipe_page(struct page *page)
{
	unsigned long flags;

	clear_page(unmapped_pool_map_slot(page, &flags));
	unmapped_pool_unmap_slot(flags);
}

/*
 * Copy a whole page between a pool page and user memory.  Interrupts are
 * off while the slot maps the page, so the user memory is accessed with
 * page faults disabled, and faulted in between tries; every try goes on
 * where the last one stopped, until the task is killed.
 */
static int unmapped_pool_copy_user(struct page *page, void __user *ubuf,
				   bool to_page)
{
	unsigned long left = PAGE_SIZE, off, flags;
	void *addr;

	might_fault();
	if (!access_ok(ubuf, PAGE_SIZE))
		return -EFAULT;
	while (left) {
		off = PAGE_SIZE - left;
		addr = unmapped_pool_map_slot(page, &flags);
		pagefault_disable();
		if (to_page)
			left = __copy_from_user_inatomic(addr + off, ubuf + off,
							 left);
		else
			left = __copy_to_user_inatomic(ubuf + off, addr + off,
						       left);
		pagefault_enable();
		unmapped_pool_unmap_slot(flags);
		if (!left)
			break;
		if (fatal_signal_pending(current))
			return -EINTR;
		off = PAGE_SIZE - left;
		if ((to_page ? fault_in_readable(ubuf + off, left) :
			       fault_in_writeable(ubuf + off, left)) == left)
			return -EFAULT;
	}
	return 0;
}

/**
 * unmapped_pool_copy_from_user - fill a pool page from user memory
 * @page: page of the unmapped pool, in use by the caller
 * @src: PAGE_SIZE bytes of user memory
 *
 * For the initial contents of a confidential VM's private memory (SEV-SNP
 * launch update), which the host writes before the page becomes the
 * guest's.  The page is reached through a temporary mapping of this CPU:
 * its chunk's direct-map entry stays absent and whole.  May sleep to
 * fault in @src.
 *
 * Return: 0, -EFAULT if @src could not be read whole or -EINTR if the
 * task was killed meanwhile; the page may then hold part of it.
 */
int unmapped_pool_copy_from_user(struct page *page, const void __user *src)
{
	return unmapped_pool_copy_user(page, (void __user *)src, true);
}
EXPORT_SYMBOL_GPL(unmapped_pool_copy_from_user);

/**
 * unmapped_pool_copy_to_user - copy a pool page out to user memory
 * @dst: PAGE_SIZE bytes of user memory
 * @page: page of the unmapped pool, in use by the caller
 *
 * For what the firmware of a confidential VM leaves for the host in a
 * page it gave back (SEV-SNP's CPUID page after a failed launch update).
 * Reaches the page as unmapped_pool_copy_from_user() does.  May sleep to
 * fault in @dst.
 *
 * Return: 0, -EFAULT if @dst could not be written whole or -EINTR if
 * the task was killed meanwhile.
 */
int unmapped_pool_copy_to_user(void __user *dst, struct page *page)
{
	return unmapped_pool_copy_user(page, dst, false);
}
EXPORT_SYMBOL_GPL(unmapped_pool_copy_to_user);

/**
 * unmapped_pool_flush_pages - write back and evict pool pages from the caches
 * @page: first page, of the unmapped pool and in use by the caller
 * @nr: number of pages, all in @page's chunk
 *
 * What clflush_cache_range() through the direct map does for other pages:
 * a confidential VM's page that goes back to the host has its cache lines,
 * which may be tagged with the guest's key, flushed before the host uses
 * it (SEV-SNP's invalidation of guest_memfd pages).  CLFLUSH acts on the
 * physical line whatever the virtual address, so flushing through this
 * CPU's temporary mapping, with the direct map's attributes, is the same
 * flush.  One page at a time, so that interrupts are off for one page's
 * flush at most.
 */
void unmapped_pool_flush_pages(struct page *page, unsigned long nr)
{
	unsigned long i, flags;

	for (i = 0; i < nr; i++) {
		clflush_cache_range(unmapped_pool_map_slot(page + i, &flags),
				    PAGE_SIZE);
		unmapped_pool_unmap_slot(flags);
	}
}
EXPORT_SYMBOL_GPL(unmapped_pool_flush_pages);

/*
 * Pages the wipe worker clears per hold of the pool lock, with interrupts
 * off: 64 KiB, sixteen page clears and local TLB invalidations, which
 * bounds how long a free or an allocation on another CPU waits for it.
 */
#define UNMAPPED_POOL_WIPE_BATCH	16

/*
 * Wipe up to UNMAPPED_POOL_WIPE_BATCH dirty free pages of @pool, in chunk
 * list order.  The pool lock stays held across the wipes: a page being
 * wiped can then neither be handed out, which would let the wipe land on
 * its new owner's data, nor have its chunk reclaimed and the chunk's
 * metadata freed under the worker, and no page has to be claimed first.
 *
 * Return: true if dirty pages are left after the batch.
 */
static bool unmapped_pool_wipe_batch(struct unmapped_pool *pool)
{
	struct unmapped_pool_chunk *chunk;
	unsigned int done = 0;
	unsigned long i;

	lockdep_assert_held(&pool->lock);
	list_for_each_entry(chunk, &pool->chunks, list) {
		if (!chunk->dirty)
			continue;
		for_each_set_bit(i, chunk->dirty_map, UNMAPPED_POOL_CHUNK_PAGES) {
			if (done == UNMAPPED_POOL_WIPE_BATCH)
				return true;
			/*
			 * memory_failure() marks a page before it tells the
			 * pool, which then takes it out of the dirty map:
			 * reading poison would raise another machine check.
			 */
			if (PageHWPoison(pfn_to_page(chunk->pfn + i)))
				continue;
			unmapped_pool_wipe_page(pfn_to_page(chunk->pfn + i));
			__clear_bit(i, chunk->dirty_map);
			__set_bit(i, chunk->zeroed_map);
			chunk->dirty--;
			done++;
		}
	}
	return false;
}

/*
 * The pool's wipe worker: wipes every dirty free page of the pool, one
 * batch per hold of the pool lock, and ends once none is left.  A page
 * freed while it runs either falls into one of its batches or, through
 * the free queueing the work again, into its next run.
 */
static void unmapped_pool_wipe_workfn(struct work_struct *work)
{
	struct unmapped_pool *pool =
		container_of(work, struct unmapped_pool, wipe_work);
	bool more;

	do {
		spin_lock_irq(&pool->lock);
		more = unmapped_pool_wipe_batch(pool);
		spin_unlock_irq(&pool->lock);
		cond_resched();
	} while (more);
}

/**
 * unmapped_pool_dirty_pages - free pages of a node's pool not yet wiped
 * @nid: node id
 *
 * Pages of chunks being reclaimed are not counted: reclaim wipes them
 * before it maps the chunk again.
 *
 * Return: the number of free pages that still hold what a consumer left in
 * them, 0 for a node without a pool.
 */
unsigned long unmapped_pool_dirty_pages(int nid)
{
	struct unmapped_pool *pool = unmapped_pool_of_node(nid);
	struct unmapped_pool_chunk *chunk;
	unsigned long dirty = 0;

	if (!pool)
		return 0;
	spin_lock_irq(&pool->lock);
	list_for_each_entry(chunk, &pool->chunks, list)
		dirty += chunk->dirty;
	spin_unlock_irq(&pool->lock);
	return dirty;
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

static void unmapped_pool_chunk_free(struct unmapped_pool_chunk *chunk)
{
	kvfree(chunk->used_map);
	kvfree(chunk->dirty_map);
	kvfree(chunk->zeroed_map);
	kvfree(chunk->poison_map);
	kvfree(chunk->leak_map);
	kvfree(chunk->pinned_map);
	kfree(chunk);
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
	chunk->poison_map = kvzalloc_node(map, GFP_KERNEL, nid);
	chunk->leak_map = kvzalloc_node(map, GFP_KERNEL, nid);
	chunk->pinned_map = kvzalloc_node(map, GFP_KERNEL, nid);
	if (!chunk->used_map || !chunk->dirty_map || !chunk->zeroed_map ||
	    !chunk->poison_map || !chunk->leak_map || !chunk->pinned_map) {
		unmapped_pool_chunk_free(chunk);
		return NULL;
	}
	chunk->nid = nid;
	unmapped_pool_chunk_init(chunk);
	return chunk;
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
	if (chunk->pfn >> UNMAPPED_POOL_CHUNK_ORDER >= unmapped_pool_nr_gib) {
		err = -ERANGE;
		goto out_unfreeze;
	}
	unmapped_pool_publish(chunk->pfn, chunk);
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
			unmapped_pool_publish(chunk->pfn, NULL);
			unmapped_pool_chunk_free(chunk);
			return err;
		}
		goto out_unpublish;
	}
	static_branch_inc(&unmapped_pool_lent);

	spin_lock_irq(&pool->lock);
	unmapped_pool_add_chunk(pool, chunk);
	pool->tlb_flushes++;
	unmapped_pool_unlock(pool);
	return 0;

out_unpublish:
	unmapped_pool_publish(chunk->pfn, NULL);
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
 * queues work on CPUs that have something batched, but it does queue it
 * and waits for it: only a reclaim and a privileged caller who asks for
 * exact counts (sysfs settle) do it, never a reader of the counters.
 */
void unmapped_pool_settle(void)
{
	if (unmapped_pool_active())
		lru_add_drain_all();
}

/*
 * The shrinker may be called with cpu_hotplug_lock or jump_label_mutex
 * held, as both are held around allocations, and static_branch_dec()
 * takes them when the last chunk goes: it leaves the decrement to this
 * worker.  The key staying on a little longer than a chunk is lent only
 * sends a few allocations and frees to a pool that turns them away.
 */
static atomic_t unmapped_pool_key_puts = ATOMIC_INIT(0);

static void unmapped_pool_key_put_workfn(struct work_struct *work)
{
	while (atomic_add_unless(&unmapped_pool_key_puts, -1, 0))
		static_branch_dec(&unmapped_pool_lent);
}

static DECLARE_WORK(unmapped_pool_key_put_work, unmapped_pool_key_put_workfn);

/*
 * The work of unmapped_pool_reclaim(), for a node that has a pool.  With
 * @to_hugetlb false, for the shrinker, the chunk becomes free pages of the
 * node's CMA area, which movable allocations can use, instead of a free
 * gigantic page, which only hugetlb can: hugetlb already shrank by that
 * page when it was lent.  The shrinker takes only chunks that are empty
 * already, so it has no need to drain the LRU batches and wait for every
 * CPU from within reclaim.
 */
static int unmapped_pool_reclaim_chunk(struct unmapped_pool *pool, int nid,
				       bool to_hugetlb)
{
	struct unmapped_pool_chunk *chunk;
	struct page *page;
	unsigned long i;
	int err;

	if (to_hugetlb)
		unmapped_pool_settle();
	spin_lock_irq(&pool->lock);
	chunk = unmapped_pool_remove_empty(pool);
	spin_unlock_irq(&pool->lock);
	if (!chunk)
		return -EBUSY;

	/* No page of the chunk is in use, so no free can look it up now. */
	unmapped_pool_publish(chunk->pfn, NULL);
	page = pfn_to_page(chunk->pfn);
	for_each_set_bit(i, chunk->dirty_map, UNMAPPED_POOL_CHUNK_PAGES) {
		unmapped_pool_wipe_page(page + i);
		cond_resched();
	}
	bitmap_zero(chunk->dirty_map, UNMAPPED_POOL_CHUNK_PAGES);
	chunk->dirty = 0;

	err = set_memory_p((unsigned long)page_address(page),
			   UNMAPPED_POOL_CHUNK_PAGES);
	if (err) {
		/* Still unmapped: keep serving it rather than lose it. */
		unmapped_pool_publish(chunk->pfn, chunk);
		spin_lock_irq(&pool->lock);
		chunk->draining = false;
		list_add_tail(&chunk->list, &pool->chunks);
		pool->nr_chunks++;
		spin_unlock_irq(&pool->lock);
		return err;
	}
	unmapped_pool_unfreeze_pages(page, UNMAPPED_POOL_CHUNK_PAGES);
	cma_release(hugetlb_cma_area(nid), page, UNMAPPED_POOL_CHUNK_PAGES);
	if (to_hugetlb) {
		static_branch_dec(&unmapped_pool_lent);
	} else {
		atomic_inc(&unmapped_pool_key_puts);
		queue_work(system_unbound_wq, &unmapped_pool_key_put_work);
	}

	spin_lock_irq(&pool->lock);
	pool->reclaims++;
	pool->tlb_flushes++;
	unmapped_pool_unlock(pool);
	unmapped_pool_chunk_free(chunk);

	if (!to_hugetlb) {
		/* Direct reclaim sees the progress, as for freed slab pages. */
		mm_account_reclaimed_pages(UNMAPPED_POOL_CHUNK_PAGES);
		return 0;
	}
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
	err = unmapped_pool_reclaim_chunk(pool, nid, true);
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

/*
 * Pages leaving the pool are neither dirty free pages nor known to stay
 * zero any more.  @wipe gets the pages among them that are not known to
 * be zero: those freed dirty that the wipe worker has not reached yet, as
 * a free page is either zeroed (at lend, or by the worker) or dirty.
 * They are wiped whatever the request's flags: they hold what another
 * consumer left, which must neither reach the next one nor stay in memory
 * for as long as the next one keeps the page.  So every page leaves the
 * pool zeroed, and __GFP_ZERO or init_on_alloc cost nothing more.
 */
static void unmapped_pool_hand_out(struct unmapped_pool_chunk *chunk,
				   unsigned long index, unsigned long nr,
				   unsigned long *wipe)
{
	unsigned long i = index;

	bitmap_zero(wipe, nr);
	for_each_clear_bit_from(i, chunk->zeroed_map, index + nr)
		__set_bit(i - index, wipe);
	i = index;
	for_each_set_bit_from(i, chunk->dirty_map, index + nr) {
		__clear_bit(i, chunk->dirty_map);
		chunk->dirty--;
	}
	bitmap_clear(chunk->zeroed_map, index, nr);
}

/* Owner ids are never reused, so a block never names a later owner. */
static atomic_long_t unmapped_pool_owner_ids;

/**
 * unmapped_pool_owner_init - set up the placement state of a new owner
 * @owner: state embedded in the consumer's per-file structure
 *
 * The state needs no teardown: the pool refers to its owner by a number
 * that is never reused, so pages that outlive the file lead nowhere.
 */
void unmapped_pool_owner_init(struct unmapped_pool_owner *owner)
{
	memset(owner, 0, sizeof(*owner));
	spin_lock_init(&owner->lock);
	owner->id = atomic_long_inc_return(&unmapped_pool_owner_ids);
}
EXPORT_SYMBOL_GPL(unmapped_pool_owner_init);

/* Documented in include/linux/unmapped_pool.h, next to its callers' API. */
void unmapped_pool_owner_set_pinned(struct unmapped_pool_owner *owner)
{
	WRITE_ONCE(owner->pinned, true);
}
EXPORT_SYMBOL_GPL(unmapped_pool_owner_set_pinned);

/*
 * Record pages handed to an owner whose pages never move, under the pool
 * lock, so that compaction does not take their chunk as a source.
 */
static void unmapped_pool_pin(struct unmapped_pool_chunk *chunk,
			      unsigned long index, unsigned long nr)
{
	bitmap_set(chunk->pinned_map, index, nr);
	chunk->pinned += nr;
}

/* Forget freed pages among those unmapped_pool_pin() recorded. */
static void unmapped_pool_unpin(struct unmapped_pool_chunk *chunk,
				unsigned long index, unsigned long nr)
{
	unsigned long i = index;

	for_each_set_bit_from(i, chunk->pinned_map, index + nr) {
		__clear_bit(i, chunk->pinned_map);
		chunk->pinned--;
	}
}

/*
 * Give pages leaving the pool what the page allocator gives its pages:
 * one reference, no ->private (post_alloc_hook() clears it), page table
 * check's record, and a compound head if asked.
 *
 * A free pool page may still hold a stale ->private from before it was
 * lent: restoring a hugetlb page's vmemmap copies the head's struct page,
 * hugetlb's flags in ->private included, into every 64th struct page, and
 * freeing the gigantic folio clears ->private of its head only.  Page
 * cache code reads a non-NULL ->private as the folio's private data:
 * migration (unmapped_pool_migrate_folio(), as filemap_migrate_folio())
 * would attach it to the destination, with a reference and PG_private
 * that no consumer of the pool ever drops, and that page would never
 * come back.  Every page is cleared, before prep_compound_page() stores
 * the folio's fields in the struct pages of the first tails.
 */
static void unmapped_pool_prep_pages(struct page *page, unsigned int order,
				     gfp_t gfp)
{
	unsigned long i;

	for (i = 0; i < 1UL << order; i++)
		set_page_private(page + i, 0);
	set_page_refcounted(page);
	page_table_check_alloc(page, order);
	if (order && (gfp & __GFP_COMP))
		prep_compound_page(page, order);
}

/**
 * unmapped_pool_alloc_pages - allocate pages that are not in the direct map
 * @nid: node to allocate from, NUMA_NO_NODE for the local one
 * @order: order of the allocation, at most PMD order
 * @gfp: allocation flags; __GFP_COMP is honoured, and the pages come
 *	zeroed with or without __GFP_ZERO (below)
 * @owner: placement state of the object the pages belong to (a file,
 *	say), so that one owner's pages are placed together; NULL for none
 *
 * The pages come with a reference count of one and are freed like any
 * other page, with put_page() or unmapped_pool_free_pages(); their final put returns
 * them to the pool.
 *
 * The pages always come zeroed, so __GFP_ZERO is honoured: a page the
 * wipe worker has not reached since it was freed is wiped on the way out.
 *
 * Return: the first page, or NULL if the node's pool has no room.
 */
struct page *unmapped_pool_alloc_pages(int nid, unsigned int order, gfp_t gfp,
				       struct unmapped_pool_owner *owner)
{
	DECLARE_BITMAP(wipe, UNMAPPED_POOL_BLOCK_PAGES);
	struct unmapped_pool *pool;
	struct unmapped_pool_chunk *chunk;
	unsigned long index = 0, i, nr = 1UL << order;
	unsigned long flags;
	struct page *page;
	bool raise, pinned = false;

	if (!unmapped_pool_active() || order > UNMAPPED_POOL_MAX_ORDER)
		return NULL;
	if (nid == NUMA_NO_NODE)
		nid = numa_mem_id();
	pool = unmapped_pool_of_node(nid);
	if (!pool)
		return NULL;

	spin_lock_irqsave(&pool->lock, flags);
	if (owner) {
		spin_lock(&owner->lock);
		pinned = READ_ONCE(owner->pinned);
	}
	chunk = unmapped_pool_place(pool, owner, order, &index);
	raise = unmapped_pool_account(pool, chunk, index, order, owner);
	if (owner)
		spin_unlock(&owner->lock);
	if (chunk) {
		unmapped_pool_hand_out(chunk, index, nr, wipe);
		if (pinned)
			unmapped_pool_pin(chunk, index, nr);
	}
	spin_unlock_irqrestore(&pool->lock, flags);
	if (raise)
		unmapped_pool_raise_event();
	if (!chunk)
		return NULL;

	page = pfn_to_page(chunk->pfn + index);
	for_each_set_bit(i, wipe, nr)
		unmapped_pool_wipe_page(page + i);
	unmapped_pool_prep_pages(page, order, gfp);
	return page;
}
EXPORT_SYMBOL_GPL(unmapped_pool_alloc_pages);

/**
 * unmapped_pool_hand_reserved - hand out pages a compaction plan reserved
 * @pool: pool of @chunk
 * @chunk: chunk of the pages, kept in the pool by the caller
 * @index: first page, of a range the plan took in @chunk's bookkeeping
 * @order: order of the folio to make of them
 * @retake_id: 0 while the plan still holds the pages; else they went back
 *	to the pool (an earlier try of the same move failed and freed them)
 *	and are taken again for this owner id, if nobody took them meanwhile
 *
 * The destination of one folio's move: the pages leave the wipe worker's
 * reach, as any page handed out does, but are not wiped, since the copy
 * overwrites every byte of them before anybody can see them; should the
 * move fail first, they are freed as dirty pages and wiped then.
 *
 * Return: the folio, with one reference, or NULL if pages to take again
 * are in use.
 */
struct folio *unmapped_pool_hand_reserved(struct unmapped_pool *pool,
					  struct unmapped_pool_chunk *chunk,
					  unsigned long index, unsigned int order,
					  unsigned long retake_id)
{
	DECLARE_BITMAP(wipe, UNMAPPED_POOL_BLOCK_PAGES);
	struct page *page = pfn_to_page(chunk->pfn + index);
	unsigned long nr = 1UL << order;

	spin_lock_irq(&pool->lock);
	if (retake_id) {
		if (find_next_bit(chunk->used_map, index + nr, index) <
		    index + nr) {
			spin_unlock_irq(&pool->lock);
			return NULL;
		}
		unmapped_pool_chunk_take_as(pool, chunk, index, nr, retake_id);
	}
	unmapped_pool_hand_out(chunk, index, nr, wipe);
	spin_unlock_irq(&pool->lock);
	unmapped_pool_prep_pages(page, order, __GFP_COMP);
	return page_folio(page);
}

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
 * @owner: placement state of the object the folio belongs to, or NULL
 *
 * Allocates on the node the current task's memory policy picks.
 *
 * Return: the folio, or NULL if the pool has no room.
 */
struct folio *unmapped_pool_alloc_folio(gfp_t gfp,
					struct unmapped_pool_owner *owner)
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

/**
 * unmapped_pool_count_unserved - count a failure the pool may not have seen
 *
 * A consumer that may not fall back (guest_memfd that requires the pool)
 * says so after unmapped_pool_alloc_folio() failed.  A pool with chunks
 * counted that failure and raised its event already; a pool without any did
 * not, as most requests it cannot serve (memfd_secret's) are served
 * elsewhere.  This one is not: count it, and raise the event, so that the
 * daemon lends the node a chunk.
 */
void unmapped_pool_count_unserved(void)
{
	struct unmapped_pool *pool =
		unmapped_pool_of_node(unmapped_pool_policy_node());
	unsigned long flags;
	bool raise;

	if (!pool)
		return;
	spin_lock_irqsave(&pool->lock, flags);
	raise = !pool->nr_chunks;
	if (raise)
		pool->alloc_failures++;
	spin_unlock_irqrestore(&pool->lock, flags);
	if (raise)
		unmapped_pool_raise_event();
}

/* Say which chunk of which node a memory error took a page from. */
static void unmapped_pool_report_poison(struct unmapped_pool_chunk *chunk,
					unsigned long pfn, const char *state)
{
	pr_warn("node %d chunk %#lx: memory error on %s page %#lx, never handed out again; the chunk has %lu poisoned pages and stays lent\n",
		chunk->nid, chunk->pfn, state, pfn, chunk->poisoned);
}

/*
 * Give back the pages of a block but those a memory error hit or the
 * firmware leaked while they were in use, which stay out of use, and
 * those that carry PG_hwpoison but that unmapped_pool_memory_failure()
 * has not seen yet, which it would otherwise find free.  Never wiped:
 * writing a poisoned page may consume the poison, and a leaked page may
 * still be the firmware's.
 */
static void unmapped_pool_put_unpoisoned(struct unmapped_pool *pool,
					 struct unmapped_pool_chunk *chunk,
					 struct page *page, unsigned long index,
					 unsigned int order)
{
	unsigned long i;

	for (i = 0; i < 1UL << order; i++) {
		if (test_bit(index + i, chunk->poison_map) ||
		    test_bit(index + i, chunk->leak_map))
			continue;
		if (PageHWPoison(page + i)) {
			unmapped_pool_chunk_poison(pool, chunk, index + i);
			unmapped_pool_report_poison(chunk, page_to_pfn(page + i),
						    "freed");
			continue;
		}
		unmapped_pool_chunk_put(pool, chunk, index + i, 0);
		__set_bit(index + i, chunk->dirty_map);
		chunk->dirty++;
	}
}

/**
 * __unmapped_pool_return_page - take a freed block back into its chunk
 * @chunk: chunk that unmapped_pool_chunk_of_pfn() found @page in
 * @page: first page of a block whose last reference is gone
 * @order: order of the block
 *
 * The part of unmapped_pool_return_page() for pool pages, out of line as
 * the free path calls it for no other page.  Marks the block dirty and has
 * the wipe worker clear it; pages a memory error hit or the firmware
 * leaked stay out of use.
 *
 * Context: any, as the page allocator's free path.
 */
void __unmapped_pool_return_page(struct unmapped_pool_chunk *chunk,
				 struct page *page, unsigned int order)
{
	/* Once the pages are free, the chunk may be reclaimed and freed. */
	int nid = chunk->nid;
	struct unmapped_pool *pool = node_pools[nid];
	unsigned long index = page_to_pfn(page) - chunk->pfn;
	unsigned long flags;

	spin_lock_irqsave(&pool->lock, flags);
	if (unlikely(chunk->pinned))
		unmapped_pool_unpin(chunk, index, 1UL << order);
	if (likely(!chunk->poisoned && !chunk->leaked)) {
		unmapped_pool_chunk_put(pool, chunk, index, order);
		bitmap_set(chunk->dirty_map, index, 1UL << order);
		chunk->dirty += 1UL << order;
	} else {
		unmapped_pool_put_unpoisoned(pool, chunk, page, index, order);
	}
	spin_unlock_irqrestore(&pool->lock, flags);
	/*
	 * The free may come with interrupts off or from an interrupt, where
	 * wiping up to 512 pages would take too long: the worker does it.
	 */
	queue_work_node(nid, system_unbound_wq, &pool->wipe_work);
}

/**
 * unmapped_pool_memory_failure - take a poisoned pool page out of use
 * @page: page that memory_failure() has just marked PG_hwpoison
 *
 * A free pool page has no reference count and is on no free list, so
 * memory_failure() can neither take it off the buddy allocator nor find
 * users to kill: only the pool can keep it from being handed out again,
 * as take_page_off_buddy() does for buddy pages.  A page in use is left
 * to memory_failure(), which unmaps it and kills its users as for any
 * page, and usually keeps a reference to it for good; either way the
 * pool never hands it out again and counts it as poisoned from now on.
 *
 * Return: true if @page was a free pool page and is now out of use for
 * good, false if it is no pool page or is in use.
 */
bool unmapped_pool_memory_failure(struct page *page)
{
	unsigned long pfn = page_to_pfn(page);
	struct unmapped_pool_chunk *chunk;
	struct unmapped_pool *pool;
	unsigned long index;
	bool in_use;

	if (!unmapped_pool_active())
		return false;
	/*
	 * A chunk being lent or reclaimed is in the pool's index but not on
	 * its list, and may be freed under us: wait until it is in or out.
	 */
	mutex_lock(&unmapped_pool_resize_lock);
	chunk = unmapped_pool_chunk_of_pfn(pfn);
	if (!chunk) {
		mutex_unlock(&unmapped_pool_resize_lock);
		return false;
	}
	pool = node_pools[chunk->nid];
	index = pfn - chunk->pfn;
	spin_lock_irq(&pool->lock);
	in_use = test_bit(index, chunk->used_map) &&
		 !test_bit(index, chunk->poison_map);
	if (unmapped_pool_chunk_poison(pool, chunk, index))
		unmapped_pool_report_poison(chunk, pfn,
					    in_use ? "in-use" : "free");
	if (__test_and_clear_bit(index, chunk->dirty_map))
		chunk->dirty--;
	unmapped_pool_unlock(pool);
	mutex_unlock(&unmapped_pool_resize_lock);
	return !in_use;
}

/**
 * unmapped_pool_leak_page - keep a page the firmware did not give back
 * @page: page of any kind, in use by the caller
 *
 * A confidential VM's page that the firmware failed to give back to the
 * host (SEV-SNP's snp_leak_pages()) would fault the host on its first
 * access.  A pool page of that kind is never handed out again, however
 * often it is freed, and its chunk stays lent rather than go back to the
 * direct map; it counts as leaked, in sysfs and the chunk map.  The
 * caller's reference keeps the chunk lent while this runs.
 *
 * Return: true if @page is a pool page, now leaked, false if it is no pool
 * page and the caller has to keep it out of use itself.
 */
bool unmapped_pool_leak_page(struct page *page)
{
	unsigned long pfn = page_to_pfn(page);
	struct unmapped_pool_chunk *chunk;
	struct unmapped_pool *pool;
	unsigned long flags, index, nr = 0;

	if (!unmapped_pool_active())
		return false;
	chunk = unmapped_pool_chunk_of_pfn(pfn);
	if (!chunk)
		return false;
	pool = node_pools[chunk->nid];
	index = pfn - chunk->pfn;
	spin_lock_irqsave(&pool->lock, flags);
	if (unmapped_pool_chunk_leak(pool, chunk, index)) {
		/* Never wiped either: the page may still be the firmware's. */
		if (__test_and_clear_bit(index, chunk->dirty_map))
			chunk->dirty--;
		nr = chunk->leaked;
	}
	spin_unlock_irqrestore(&pool->lock, flags);
	if (nr)
		pr_warn("node %d chunk %#lx: page %#lx leaked by the firmware, never handed out again; the chunk has %lu leaked pages and stays lent\n",
			chunk->nid, chunk->pfn, pfn, nr);
	return true;
}

/**
 * unmapped_pool_empty_chunks - chunks of a pool with no page in use
 * @pool: the pool, whose lock the caller holds
 *
 * Only these can be reclaimed; the free pages of chunks in use cannot,
 * and a chunk with a poisoned page is never empty again.
 * They are counted when asked rather than kept in a counter next to
 * each chunk's used count: the snapshots and the shrinker that ask are
 * rare next to the allocations and frees that would have to keep such a
 * counter right.
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

/**
 * unmapped_pool_report_meminfo - the pool's lines of /proc/meminfo
 * @m: the seq_file of /proc/meminfo
 *
 * Lent memory is neither free nor hugetlb's, so without these lines it
 * would show up nowhere: UnmappedPool is what all pools hold, lent chunks
 * in kB, and UnmappedFree the part of it no consumer uses.  Like the other
 * counters, they do not drain the LRU batches, so a page freed a moment
 * ago may still count as used.
 */
void unmapped_pool_report_meminfo(struct seq_file *m)
{
	unsigned long chunks = 0, free = 0;
	struct unmapped_pool *pool;
	int nid;

	for_each_node(nid) {
		pool = node_pools[nid];
		if (!pool)
			continue;
		spin_lock_irq(&pool->lock);
		chunks += pool->nr_chunks;
		free += unmapped_pool_nr_free(pool);
		spin_unlock_irq(&pool->lock);
	}
	seq_printf(m, "UnmappedPool:   %8lu kB\n",
		   chunks << (UNMAPPED_POOL_CHUNK_ORDER + PAGE_SHIFT - 10));
	seq_printf(m, "UnmappedFree:   %8lu kB\n", free << (PAGE_SHIFT - 10));
}

/* Empty chunks of a node beyond those its low watermark needs. */
static unsigned long unmapped_pool_spare_chunks(struct unmapped_pool *pool)
{
	unsigned long spare;

	spin_lock_irq(&pool->lock);
	spare = unmapped_pool_spare(pool, unmapped_pool_empty_chunks(pool));
	spin_unlock_irq(&pool->lock);
	return spare;
}

/*
 * The shrinker counts pages, the unit in which reclaim weighs the LRU
 * lists against shrinkers, so that a spare chunk feels the pressure that
 * 1 GiB of page cache would.  It frees them a chunk at a time, the
 * smallest amount it can free: its batch is one chunk, so each call asks
 * for exactly what freeing one chunk gives.
 */
static unsigned long unmapped_pool_shrink_count(struct shrinker *shrinker,
						struct shrink_control *sc)
{
	struct unmapped_pool *pool = unmapped_pool_of_node(sc->nid);
	unsigned long spare = pool ? unmapped_pool_spare_chunks(pool) : 0;

	return spare ? spare * UNMAPPED_POOL_CHUNK_PAGES : SHRINK_EMPTY;
}

/*
 * Give spare chunks of sc->nid to its CMA area, where the page allocator
 * can use them, until nr_to_scan pages are freed.  A lend holds
 * unmapped_pool_resize_lock across cma_alloc(), whose migration may
 * allocate and land here: only trying the lock keeps that from
 * deadlocking, and a node being resized has nothing to give right now.
 * The work is done here, not by a worker, so that reclaim learns what
 * was freed and can use it at once.
 */
static unsigned long unmapped_pool_shrink_scan(struct shrinker *shrinker,
					       struct shrink_control *sc)
{
	struct unmapped_pool *pool = unmapped_pool_of_node(sc->nid);
	unsigned long want, freed = 0;

	if (!pool || !mutex_trylock(&unmapped_pool_resize_lock))
		return SHRINK_STOP;
	want = DIV_ROUND_UP(sc->nr_to_scan, UNMAPPED_POOL_CHUNK_PAGES);
	WRITE_ONCE(pool->resizing, true);
	while (freed < want && unmapped_pool_spare_chunks(pool) &&
	       !unmapped_pool_reclaim_chunk(pool, sc->nid, false))
		freed++;
	WRITE_ONCE(pool->resizing, false);
	mutex_unlock(&unmapped_pool_resize_lock);
	return freed ? freed * UNMAPPED_POOL_CHUNK_PAGES : SHRINK_STOP;
}

static int __init unmapped_pool_init(void)
{
	struct shrinker *shrinker;
	struct unmapped_pool *pool;
	unsigned long nr_gib;
	int nid, err;

	/* Without its wipe slots there is no pool: every node has none. */
	err = unmapped_pool_wipe_init();
	if (err) {
		pr_err("no wipe slots (%d), the pool is disabled\n", err);
		return err;
	}
	nr_gib = DIV_ROUND_UP(max_pfn, UNMAPPED_POOL_CHUNK_PAGES);
	unmapped_pool_chunk_of = kvcalloc(nr_gib,
					  sizeof(*unmapped_pool_chunk_of),
					  GFP_KERNEL);
	if (!unmapped_pool_chunk_of)
		return -ENOMEM;
	/* Only now: unmapped_pool_chunk_of_pfn() trusts it. */
	unmapped_pool_nr_gib = nr_gib;
	for_each_online_node(nid) {
		pool = kzalloc(sizeof(*pool), GFP_KERNEL);
		if (!pool)
			return -ENOMEM;
		spin_lock_init(&pool->lock);
		INIT_LIST_HEAD(&pool->chunks);
		INIT_WORK(&pool->wipe_work, unmapped_pool_wipe_workfn);
		node_pools[nid] = pool;
	}

	shrinker = shrinker_alloc(SHRINKER_NUMA_AWARE, "unmapped_pool");
	if (!shrinker)
		return -ENOMEM;
	shrinker->count_objects = unmapped_pool_shrink_count;
	shrinker->scan_objects = unmapped_pool_shrink_scan;
	shrinker->batch = UNMAPPED_POOL_CHUNK_PAGES;
	shrinker_register(shrinker);
	return 0;
}
subsys_initcall(unmapped_pool_init);
