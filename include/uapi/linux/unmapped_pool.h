/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * unmapped_pool.h - user ABI of the unmapped page pool (/dev/unmapped_pool)
 *
 * The unmapped pool borrows whole 1 GiB pages from the hugetlb CMA
 * reservation of a NUMA node, removes each from the kernel direct map as
 * one PUD, and serves it as 4 KiB pages to memfd_secret and guest_memfd.
 * A management daemon sizes the pools through this device.
 *
 * All structures have explicit padding and only fixed-size types so that
 * 32-bit and 64-bit user space see the same layout.  Pointers are passed as
 * __u64.  Every ioctl fails with -EINVAL when a reserved field or flag is
 * non-zero, so that later versions can give them meaning.
 */
#ifndef _UAPI_LINUX_UNMAPPED_POOL_H
#define _UAPI_LINUX_UNMAPPED_POOL_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define UNMAPPED_POOL_DEVICE		"/dev/unmapped_pool"
#define UNMAPPED_POOL_API_VERSION	1

/* The largest node count one request may carry (MAX_NUMNODES on x86-64). */
#define UNMAPPED_POOL_MAX_NODES		1024

/* Bits of unmapped_pool_info.features */
/* memfd_secret draws from the pool */
#define UNMAPPED_POOL_FEAT_MEMFD_SECRET	(1ULL << 0)
/* KVM_CREATE_GUEST_MEMFD takes a flag to draw from the pool */
#define UNMAPPED_POOL_FEAT_GUEST_MEMFD	(1ULL << 1)
/* chunks can be lent straight from CMA, without a hugetlb page */
#define UNMAPPED_POOL_FEAT_CMA_DIRECT	(1ULL << 2)
/* unmapped_pool_node_stats.empty_chunks is filled in */
#define UNMAPPED_POOL_FEAT_EMPTY_CHUNKS	(1ULL << 3)
/*
 * STATS never waits for a lend or reclaim: it reports one in progress
 * with UNMAPPED_POOL_NODE_RESIZING instead.
 */
#define UNMAPPED_POOL_FEAT_RESIZING	(1ULL << 4)
/* unmapped_pool_node_stats.poisoned_pages is filled in */
#define UNMAPPED_POOL_FEAT_POISONED	(1ULL << 5)
/*
 * /sys/kernel/mm/unmapped_pool/guest_memfd exists: the operator's switch
 * (flag, prefer, require) that serves guest_memfds created without the
 * flag from the pool, and guest_memfd_pages counts what the pool served.
 */
#define UNMAPPED_POOL_FEAT_GUEST_MEMFD_MODE	(1ULL << 6)
/* unmapped_pool_node_stats.leaked_pages is filled in */
#define UNMAPPED_POOL_FEAT_LEAKED	(1ULL << 7)
/* UNMAPPED_POOL_IOC_COMPACT moves pages in use to empty chunks */
#define UNMAPPED_POOL_FEAT_COMPACT	(1ULL << 8)

struct unmapped_pool_info {
	__u32 api_version;	/* out: UNMAPPED_POOL_API_VERSION */
	__u32 nr_node_ids;	/* out: node ids are below this */
	__u64 chunk_size;	/* out: bytes per chunk (1 GiB on x86-64) */
	__u64 page_size;	/* out: bytes per page served (4 KiB) */
	__u64 features;		/* out: UNMAPPED_POOL_FEAT_* */
	__u64 reserved[4];	/* out: zero */
};

/* Bits of unmapped_pool_node_stats.flags */
#define UNMAPPED_POOL_NODE_ONLINE	(1U << 0)	/* node has memory */
#define UNMAPPED_POOL_NODE_HAS_CMA	(1U << 1)	/* node has a hugetlb CMA area */
#define UNMAPPED_POOL_NODE_LOW		(1U << 2)	/* free pages below the low watermark */
/* an allocation failed since this file's last snapshot */
#define UNMAPPED_POOL_NODE_ALLOC_FAILED	(1U << 3)
/*
 * a chunk of this node is being lent or reclaimed: its chunk and hugetlb
 * counts may not add up until it is done
 */
#define UNMAPPED_POOL_NODE_RESIZING	(1U << 4)

struct unmapped_pool_node_stats {
	__u32 node;
	__u32 flags;		/* UNMAPPED_POOL_NODE_* */
	__u64 nr_chunks;	/* chunks lent to the pool */
	__u64 free_pages;	/* pool pages not in use */
	__u64 used_pages;	/* pool pages in use */
	__u64 lends;		/* chunks lent since boot */
	__u64 reclaims;		/* chunks given back since boot */
	__u64 alloc_failures;	/* requests the pool could not serve */
	__u64 fallbacks;	/* consumer allocations served outside the pool */
	__u64 tlb_flushes;	/* cross-CPU TLB flushes done by the pool */
	__u64 low_watermark;	/* pages; 0 = none */
	__u64 hugetlb_total;	/* 1 GiB hugetlb pages of the node */
	__u64 hugetlb_free;	/* free 1 GiB hugetlb pages of the node */
	/*
	 * Chunks with no page in use: what a reclaim can give back now.
	 * Free pages spread over chunks in use cannot be reclaimed.
	 */
	__u64 empty_chunks;
	/*
	 * Pages a memory error took out of use for good.  They count in
	 * neither free_pages nor used_pages, and their chunks are never
	 * empty again, so they stay lent.
	 */
	__u64 poisoned_pages;
	/*
	 * Pages the firmware of a confidential VM (SEV-SNP) failed to give
	 * back to the host, out of use for good; counted like poisoned_pages.
	 */
	__u64 leaked_pages;
};

/*
 * UNMAPPED_POOL_IOC_STATS: a snapshot of every node's pool, each node's
 * counters taken atomically.  It does not wait for a lend or reclaim in
 * progress, which UNMAPPED_POOL_NODE_RESIZING flags (kernels with
 * UNMAPPED_POOL_FEAT_RESIZING; older ones waited for it to finish).
 * In: nodes_ptr points to an array of nr_nodes entries, at least
 * unmapped_pool_info.nr_node_ids of them (-EINVAL otherwise).
 * Out: nr_nodes is the number of entries written (one per node id below
 * nr_node_ids, in order), seq the event sequence number the snapshot
 * covers.  Taking a snapshot acknowledges the events poll() reported.
 */
struct unmapped_pool_stats {
	__u32 nr_nodes;
	__u32 flags;		/* in: zero */
	__u64 seq;		/* out */
	__u64 nodes_ptr;	/* struct unmapped_pool_node_stats[nr_nodes] */
};

/*
 * One node's part of a lend or reclaim request.  The kernel fills done
 * with the number of chunks it moved and error with 0 or a negative errno
 * telling why it stopped short of count (-ENOMEM: no 1 GiB page or CMA
 * range to lend; -EBUSY: chunks in use; -ENODEV: no such node).
 */
struct unmapped_pool_node_req {
	__u32 node;
	__s32 error;		/* out */
	__u64 count;		/* in: chunks to move */
	__u64 done;		/* out: chunks moved */
};

/*
 * UNMAPPED_POOL_IOC_LEND / UNMAPPED_POOL_IOC_RECLAIM: move count chunks per
 * listed node from hugetlb into the pool, or from the pool back to
 * hugetlb.  Each node entry succeeds or fails on its own; the ioctl
 * returns 0 when every request was met in full, -EAGAIN when any fell
 * short (read error/done), and other errors only for a malformed request,
 * in which case nothing was moved.
 */
#define UNMAPPED_POOL_LEND_NO_HUGETLB	(1U << 0)	/* lend from CMA only */

struct unmapped_pool_move {
	__u32 nr_reqs;		/* 1..UNMAPPED_POOL_MAX_NODES */
	__u32 flags;		/* LEND: UNMAPPED_POOL_LEND_*; RECLAIM: zero */
	__u64 reqs_ptr;		/* struct unmapped_pool_node_req[nr_reqs] */
};

/*
 * UNMAPPED_POOL_IOC_SET_WATERMARK: poll() reports POLLIN once the free
 * pages of the node fall below low_pages (0 turns it off).
 */
struct unmapped_pool_watermark {
	__u32 node;
	__u32 flags;		/* zero */
	__u64 low_pages;
};

/*
 * UNMAPPED_POOL_IOC_COMPACT: empty chunks of one node by moving the pages
 * in use of the emptiest chunks into the free pages of fuller ones, until
 * the node has target chunks with no page in use (those empty already
 * count), max_pages pages moved, or nothing more can move.  Emptied chunks
 * stay lent: UNMAPPED_POOL_IOC_RECLAIM gives them back.  Pages whose
 * physical address is bound (SEV-SNP private memory, poisoned and leaked
 * pages) never move, and a chunk holding one is never emptied.
 * Returns 0 when target was reached, -EAGAIN when it was not (the out
 * fields tell why), -ENODEV for a node without a pool and -EINVAL for
 * non-zero flags or reserved fields; then nothing moved.
 */
struct unmapped_pool_compact_req {
	__u32 node;		/* in */
	__u32 flags;		/* in: zero */
	__u64 target;		/* in: chunks with no page in use wanted */
	__u64 max_pages;	/* in: pages to move at most; 0: no limit */
	__u64 empty_chunks;	/* out: chunks with no page in use now */
	__u64 chunks_emptied;	/* out: of those, emptied by this call */
	__u64 pages_moved;	/* out */
	/* out: pages in use of chunks not emptied because a page there is bound */
	__u64 pages_pinned;
	/* out: the same, because the other chunks had no room for them */
	__u64 pages_no_room;
	/* out: the same, because max_pages ran out */
	__u64 pages_over_budget;
	/*
	 * out: pages whose move failed for the moment (another reference was
	 * held, the owner was busy); a later call may move them
	 */
	__u64 pages_busy;
	__u64 reserved[4];	/* in and out: zero */
};

#define UNMAPPED_POOL_IOC_MAGIC		0xB9
#define UNMAPPED_POOL_IOC_INFO \
	_IOR(UNMAPPED_POOL_IOC_MAGIC, 0x00, struct unmapped_pool_info)
#define UNMAPPED_POOL_IOC_STATS \
	_IOWR(UNMAPPED_POOL_IOC_MAGIC, 0x01, struct unmapped_pool_stats)
#define UNMAPPED_POOL_IOC_LEND \
	_IOWR(UNMAPPED_POOL_IOC_MAGIC, 0x02, struct unmapped_pool_move)
#define UNMAPPED_POOL_IOC_RECLAIM \
	_IOWR(UNMAPPED_POOL_IOC_MAGIC, 0x03, struct unmapped_pool_move)
#define UNMAPPED_POOL_IOC_SET_WATERMARK \
	_IOW(UNMAPPED_POOL_IOC_MAGIC, 0x04, struct unmapped_pool_watermark)
#define UNMAPPED_POOL_IOC_COMPACT \
	_IOWR(UNMAPPED_POOL_IOC_MAGIC, 0x05, struct unmapped_pool_compact_req)

#endif /* _UAPI_LINUX_UNMAPPED_POOL_H */
