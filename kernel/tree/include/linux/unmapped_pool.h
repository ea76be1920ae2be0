/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Allocator of pages that are absent from the kernel direct map.
 *
 * Whole PUD-sized pages of the hugetlb CMA reservation are lent, per NUMA
 * node, to this allocator.  Each leaves the direct map as one PUD, so that
 * serving memfd_secret or guest_memfd does not split the direct map, and
 * returns to hugetlb once its pages are free again.
 */
#ifndef _LINUX_UNMAPPED_POOL_H
#define _LINUX_UNMAPPED_POOL_H

#include <linux/compiler.h>
#include <linux/err.h>
#include <linux/errno.h>
#include <linux/gfp_types.h>
#include <linux/jump_label.h>
#include <linux/migrate_mode.h>
#include <linux/mm_types.h>
#include <linux/pgtable.h>
#include <linux/unmapped_pool_types.h>

struct address_space;
struct seq_file;

#ifdef CONFIG_UNMAPPED_POOL

DECLARE_STATIC_KEY_FALSE(unmapped_pool_lent);

/*
 * The chunk lent from each GiB of physical memory, indexed by
 * pfn >> UNMAPPED_POOL_CHUNK_ORDER, or NULL; unmapped_pool_nr_gib entries.
 * Read through unmapped_pool_chunk_of_pfn() only.
 */
extern struct unmapped_pool_chunk **unmapped_pool_chunk_of;
extern unsigned long unmapped_pool_nr_gib;

void unmapped_pool_owner_init(struct unmapped_pool_owner *owner);
struct page *unmapped_pool_alloc_pages(int nid, unsigned int order, gfp_t gfp,
				       struct unmapped_pool_owner *owner);
void unmapped_pool_free_pages(struct page *page, unsigned int order);
struct folio *unmapped_pool_alloc_folio(gfp_t gfp,
					struct unmapped_pool_owner *owner);
void unmapped_pool_count_fallback(void);
enum unmapped_pool_gmem_mode unmapped_pool_gmem_file_mode(bool allowed,
							  bool flagged);
struct folio *unmapped_pool_gmem_alloc_folio(gfp_t gfp,
					     enum unmapped_pool_gmem_mode mode,
					     struct unmapped_pool_owner *owner);
void __unmapped_pool_return_page(struct unmapped_pool_chunk *chunk,
				 struct page *page, unsigned int order);
bool unmapped_pool_memory_failure(struct page *page);
void unmapped_pool_report_meminfo(struct seq_file *m);
int unmapped_pool_copy_from_user(struct page *page, const void __user *src);
int unmapped_pool_copy_to_user(void __user *dst, struct page *page);
void unmapped_pool_flush_pages(struct page *page, unsigned long nr);
bool unmapped_pool_leak_page(struct page *page);

/**
 * unmapped_pool_owner_set_pinned - keep an owner's pages where they are
 * @owner: placement state of a consumer's file, before its first page
 *
 * For memory whose physical address is bound by hardware (SEV-SNP private
 * memory, which the RMP ties to its address) or pinned for as long as the
 * file lives: pages this owner gets from now on never move, and a chunk
 * holding one is not a compaction source until the page is freed.  Call
 * it before the owner's first allocation; pages it has already are not
 * marked.  It cannot be undone.
 */
void unmapped_pool_owner_set_pinned(struct unmapped_pool_owner *owner);

/**
 * unmapped_pool_migrate_folio - move a pool folio's contents and mapping
 * @mapping: address space of @src
 * @dst: locked folio of the unmapped pool, of @src's order, that compaction
 *	handed out as @src's new place
 * @src: locked folio of the unmapped pool, unmapped from every process
 * @mode: migration mode
 *
 * The pool's filemap_migrate_folio(), for a consumer's
 * address_space_operations.migrate_folio when both folios are the pool's:
 * neither is in the direct map, so the generic copy, which reaches pages
 * through it, would fault.  The contents are copied page by page through
 * this CPU's temporary mappings, each torn down with a local TLB
 * invalidation, so the direct map stays whole and no other CPU is
 * flushed; then the page cache entry and the folio's flags move as
 * folio_migrate_mapping() and folio_migrate_flags() move them.  A consumer
 * with mappings of its own (KVM's of guest_memfd) invalidates them around
 * the call.  Nothing is changed when it fails.
 *
 * Context: may be called with interrupts on only; does not sleep.
 * Return: MIGRATEPAGE_SUCCESS, -EAGAIN if @src has references beyond the
 * page cache's and the migration's, -EBUSY if either folio is no pool
 * folio, or -EHWPOISON if a page of @src could not be read.
 */
int unmapped_pool_migrate_folio(struct address_space *mapping,
				struct folio *dst, struct folio *src,
				enum migrate_mode mode);

/**
 * unmapped_pool_active - tell whether any chunk is lent to the unmapped pool
 *
 * Costs a patched-out branch while no chunk is lent, so that hot paths can
 * ask it first.  Hibernation asks it too, as it asks secretmem_active():
 * its image would be read through temporary direct-map entries of the
 * pool's pages, which splits their chunks' PUD mappings and writes what
 * they hold to disk.
 *
 * Return: true while at least one chunk is lent.
 */
static __always_inline bool unmapped_pool_active(void)
{
	return static_branch_unlikely(&unmapped_pool_lent);
}

/**
 * unmapped_pool_chunk_of_pfn - the lent chunk a page frame lies in
 * @pfn: any page frame number
 *
 * One bounds check and one load from the pool's index of its chunks, read
 * without a lock: a chunk is in the index before any of its pages is handed
 * out and leaves it only once none is.  Inline, so that the page
 * allocator's free path, which asks for every page it frees while a chunk
 * is lent, makes no call for the pages that are not the pool's.  Ask
 * unmapped_pool_active() first, or hold a reference to a page of the chunk
 * or the pool's resize lock, for the chunk to stay lent.
 *
 * Return: the chunk, or NULL if @pfn lies in no chunk lent to the pool.
 */
static __always_inline struct unmapped_pool_chunk *
unmapped_pool_chunk_of_pfn(unsigned long pfn)
{
	unsigned long gib = pfn >> UNMAPPED_POOL_CHUNK_ORDER;

	if (gib >= unmapped_pool_nr_gib)
		return NULL;
	return READ_ONCE(unmapped_pool_chunk_of[gib]);
}

/**
 * unmapped_pool_has_page - tell whether a page belongs to the unmapped pool
 * @page: any page
 *
 * Costs a patched-out branch while no chunk is lent, and a load from the
 * pool's index of its chunks while one is.
 *
 * Return: true if @page lies in a chunk lent to the unmapped pool.
 */
static inline bool unmapped_pool_has_page(const struct page *page)
{
	if (!unmapped_pool_active())
		return false;
	return unmapped_pool_chunk_of_pfn(page_to_pfn(page));
}

/**
 * unmapped_pool_return_page - hand a freed pool page back to its pool
 * @page: first page of a block whose last reference is gone
 * @order: order of the block
 *
 * Called by the page allocator's free path once the page has been reset,
 * so that pool pages never reach the buddy allocator.  Costs a patched-out
 * branch while no chunk is lent, and a load from the pool's index of its
 * chunks for any other page while one is: only pool pages make a call.
 * Always inline, as with -Os (CONFIG_CC_OPTIMIZE_FOR_SIZE) GCC otherwise
 * makes a copy of it in page_alloc.c and calls that for every free.
 *
 * Return: true if the pool took the page, false if it is not a pool page.
 */
static __always_inline bool unmapped_pool_return_page(struct page *page,
						      unsigned int order)
{
	struct unmapped_pool_chunk *chunk;

	if (!unmapped_pool_active())
		return false;
	chunk = unmapped_pool_chunk_of_pfn(page_to_pfn(page));
	if (likely(!chunk))
		return false;
	__unmapped_pool_return_page(chunk, page, order);
	return true;
}

#else /* !CONFIG_UNMAPPED_POOL */

static inline void unmapped_pool_owner_init(struct unmapped_pool_owner *owner)
{
}

static inline struct page *
unmapped_pool_alloc_pages(int nid, unsigned int order, gfp_t gfp,
			  struct unmapped_pool_owner *owner)
{
	return NULL;
}

static inline struct folio *
unmapped_pool_alloc_folio(gfp_t gfp, struct unmapped_pool_owner *owner)
{
	return NULL;
}

static inline void
unmapped_pool_owner_set_pinned(struct unmapped_pool_owner *owner)
{
}

static inline int unmapped_pool_migrate_folio(struct address_space *mapping,
					      struct folio *dst,
					      struct folio *src,
					      enum migrate_mode mode)
{
	return -EBUSY;
}

static inline void unmapped_pool_count_fallback(void)
{
}

static inline enum unmapped_pool_gmem_mode
unmapped_pool_gmem_file_mode(bool allowed, bool flagged)
{
	return UNMAPPED_POOL_GMEM_NONE;
}

static inline struct folio *
unmapped_pool_gmem_alloc_folio(gfp_t gfp, enum unmapped_pool_gmem_mode mode,
			       struct unmapped_pool_owner *owner)
{
	return ERR_PTR(-ENOMEM);
}

static inline void unmapped_pool_report_meminfo(struct seq_file *m)
{
}

static inline bool unmapped_pool_active(void)
{
	return false;
}

static inline bool unmapped_pool_has_page(const struct page *page)
{
	return false;
}

static inline bool unmapped_pool_return_page(struct page *page,
					     unsigned int order)
{
	return false;
}

static inline bool unmapped_pool_memory_failure(struct page *page)
{
	return false;
}

static inline int unmapped_pool_copy_from_user(struct page *page,
					       const void __user *src)
{
	return -EFAULT;
}

static inline int unmapped_pool_copy_to_user(void __user *dst,
					     struct page *page)
{
	return -EFAULT;
}

static inline void unmapped_pool_flush_pages(struct page *page,
					     unsigned long nr)
{
}

static inline bool unmapped_pool_leak_page(struct page *page)
{
	return false;
}

#endif /* CONFIG_UNMAPPED_POOL */
#endif /* _LINUX_UNMAPPED_POOL_H */
