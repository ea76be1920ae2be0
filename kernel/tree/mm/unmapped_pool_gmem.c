// SPDX-License-Identifier: GPL-2.0
/*
 * guest_memfd's use of the unmapped page pool, and the operator's switch
 * that sets it, /sys/kernel/mm/unmapped_pool/guest_memfd:
 *
 *   flag     only a guest_memfd created with GUEST_MEMFD_FLAG_UNMAPPED_POOL
 *            draws from the pool (the default)
 *   prefer   every guest_memfd of a VM type the arch allows draws from the
 *            pool, and takes an ordinary page when the pool has no room
 *   require  the same, but a pool without room fails the allocation
 *
 * The flag is ours: no VMM sets it, and an operator cannot add it, so the
 * switch is how a host serves confidential VMs of unmodified VMMs from the
 * pool.  A file reads the switch once, when it is created, and keeps what
 * it read: a file changing its mind halfway would hold pool pages and
 * ordinary ones for reasons nobody could reconstruct.  A file created with
 * the flag requires the pool whatever the switch says.
 */
#define pr_fmt(fmt) "unmapped_pool: " fmt

#include <linux/atomic.h>
#include <linux/err.h>
#include <linux/mm.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/unmapped_pool.h>

#include "unmapped_pool.h"

/* The switch, in sysfs's words; indexed by enum unmapped_pool_gmem_mode. */
static const char *const unmapped_pool_gmem_mode_names[] = {
	[UNMAPPED_POOL_GMEM_NONE] = "flag",
	[UNMAPPED_POOL_GMEM_PREFER] = "prefer",
	[UNMAPPED_POOL_GMEM_REQUIRE] = "require",
};

/*
 * What a new guest_memfd without the flag does.  Host-wide, not per node:
 * a guest_memfd has no node, its pages come from the node of whichever
 * task faults them in.
 */
static enum unmapped_pool_gmem_mode unmapped_pool_gmem_switch;

/**
 * unmapped_pool_gmem_mode_parse - read a word written to the switch
 * @buf: "flag", "prefer" or "require", with or without a newline
 *
 * Return: the mode, or -EINVAL for anything else.
 */
int unmapped_pool_gmem_mode_parse(const char *buf)
{
	return sysfs_match_string(unmapped_pool_gmem_mode_names, buf);
}

/**
 * unmapped_pool_gmem_mode_show - the switch as sysfs shows it
 * @buf: sysfs page
 * @mode: the current mode
 *
 * Every mode, the current one in brackets, as transparent_hugepage/enabled
 * shows its own: "[flag] prefer require".
 *
 * Return: the length written.
 */
int unmapped_pool_gmem_mode_show(char *buf, enum unmapped_pool_gmem_mode mode)
{
	int len = 0;
	int i;

	for (i = 0; i < ARRAY_SIZE(unmapped_pool_gmem_mode_names); i++)
		len += sysfs_emit_at(buf, len, i == mode ? "%s[%s]" : "%s%s",
				     i ? " " : "",
				     unmapped_pool_gmem_mode_names[i]);
	len += sysfs_emit_at(buf, len, "\n");
	return len;
}

/**
 * unmapped_pool_gmem_get_switch - the switch's current mode
 *
 * Return: what a guest_memfd created now without the flag does.
 */
enum unmapped_pool_gmem_mode unmapped_pool_gmem_get_switch(void)
{
	return READ_ONCE(unmapped_pool_gmem_switch);
}

/**
 * unmapped_pool_gmem_set_switch - set the switch
 * @mode: what guest_memfds created from now on without the flag do; files
 *	that exist keep theirs
 */
void unmapped_pool_gmem_set_switch(enum unmapped_pool_gmem_mode mode)
{
	WRITE_ONCE(unmapped_pool_gmem_switch, mode);
}

/**
 * __unmapped_pool_gmem_file_mode - how a new guest_memfd draws from the pool
 * @mode: the switch
 * @allowed: the VM type may have its guest_memfd served from the pool
 * @flagged: the VMM passed GUEST_MEMFD_FLAG_UNMAPPED_POOL
 *
 * Return: the file's mode.  A type the arch does not allow is never served
 * from the pool (and cannot pass the flag); the flag requires the pool.
 */
enum unmapped_pool_gmem_mode
__unmapped_pool_gmem_file_mode(enum unmapped_pool_gmem_mode mode, bool allowed,
			       bool flagged)
{
	if (!allowed)
		return UNMAPPED_POOL_GMEM_NONE;
	return flagged ? UNMAPPED_POOL_GMEM_REQUIRE : mode;
}

/**
 * unmapped_pool_gmem_file_mode - how a guest_memfd being created draws from the pool
 * @allowed: the VM type may have its guest_memfd served from the pool
 *	(kvm_arch_gmem_unmapped_pool_ok())
 * @flagged: the VMM passed GUEST_MEMFD_FLAG_UNMAPPED_POOL
 *
 * Reads the switch once; the file keeps the answer for its lifetime.
 *
 * Return: UNMAPPED_POOL_GMEM_NONE for ordinary pages, as without the pool;
 * otherwise the mode to pass to unmapped_pool_gmem_alloc_folio().
 */
enum unmapped_pool_gmem_mode unmapped_pool_gmem_file_mode(bool allowed,
							  bool flagged)
{
	return __unmapped_pool_gmem_file_mode(unmapped_pool_gmem_get_switch(),
					      allowed, flagged);
}
EXPORT_SYMBOL_GPL(unmapped_pool_gmem_file_mode);

/**
 * unmapped_pool_gmem_alloc_folio - allocate a guest_memfd folio from the pool
 * @gfp: allocation flags, as for unmapped_pool_alloc_folio()
 * @mode: the file's mode from unmapped_pool_gmem_file_mode(), not NONE
 * @owner: the file's placement state
 *
 * Allocates on the node the current task's memory policy picks, and counts
 * the folio in the node's guest_memfd_pages.  When the pool has no room, a
 * file that prefers the pool is told to take an ordinary folio, counted as
 * a fallback exactly as memfd_secret's: the pool counted the failure and
 * raised its event if it had chunks, and counts none if it had not.  A file
 * that requires the pool gets -ENOMEM, and the failure is counted and
 * raised even when the node's pool has no chunk at all, so that a daemon
 * learns that a VM needs one.
 *
 * Return: the folio; NULL when the caller is to fall back to an ordinary
 * folio; ERR_PTR(-ENOMEM) when it may not.
 */
struct folio *unmapped_pool_gmem_alloc_folio(gfp_t gfp,
					     enum unmapped_pool_gmem_mode mode,
					     struct unmapped_pool_owner *owner)
{
	struct folio *folio = unmapped_pool_alloc_folio(gfp, owner);

	if (folio) {
		atomic64_inc(&unmapped_pool_of_node(folio_nid(folio))->gmem_pages);
		return folio;
	}
	if (mode == UNMAPPED_POOL_GMEM_PREFER) {
		unmapped_pool_count_fallback();
		return NULL;
	}
	unmapped_pool_count_unserved();
	return ERR_PTR(-ENOMEM);
}
EXPORT_SYMBOL_GPL(unmapped_pool_gmem_alloc_folio);

/**
 * unmapped_pool_gmem_pages - pages a node's pool handed to guest_memfd
 * @nid: node id
 *
 * Return: the pages handed out since boot, a count that never goes down, so
 * that whoever runs a VM can tell its memory came from the pool without
 * sampling used_pages while it runs; 0 for a node without a pool.
 */
u64 unmapped_pool_gmem_pages(int nid)
{
	struct unmapped_pool *pool = unmapped_pool_of_node(nid);

	return pool ? atomic64_read(&pool->gmem_pages) : 0;
}
