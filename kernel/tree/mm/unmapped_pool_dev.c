// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/unmapped_pool, the unmapped page pool's interface for a management
 * daemon: its ioctls (include/uapi/linux/unmapped_pool.h) take consistent
 * snapshots of every node and move chunks with an exact result per node,
 * and poll() sleeps until a pool runs low or fails a request.
 */
#define pr_fmt(fmt) "unmapped_pool: " fmt

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mmzone.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <uapi/linux/unmapped_pool.h>

#include "unmapped_pool.h"

/* The largest low watermark, in pages: all the physical address space. */
#define UNMAPPED_POOL_MAX_WATERMARK	BIT_ULL(MAX_PHYSMEM_BITS - PAGE_SHIFT)

/* What the user of one open /dev/unmapped_pool has already been told. */
struct unmapped_pool_file {
	u64 seen_seq;
	u64 seen_failures[];
};

static int unmapped_pool_dev_open(struct inode *inode, struct file *file)
{
	struct unmapped_pool_file *uf;

	uf = kzalloc(struct_size(uf, seen_failures, nr_node_ids), GFP_KERNEL);
	if (!uf)
		return -ENOMEM;
	uf->seen_seq = unmapped_pool_event_seq();
	file->private_data = uf;
	return nonseekable_open(inode, file);
}

static int unmapped_pool_dev_release(struct inode *inode, struct file *file)
{
	kfree(file->private_data);
	return 0;
}

static long unmapped_pool_ioc_info(void __user *uarg)
{
	struct unmapped_pool_info info = {
		.api_version = UNMAPPED_POOL_API_VERSION,
		.nr_node_ids = nr_node_ids,
		.chunk_size = UNMAPPED_POOL_CHUNK_PAGES * PAGE_SIZE,
		.page_size = PAGE_SIZE,
		.features = UNMAPPED_POOL_FEAT_CMA_DIRECT |
			    UNMAPPED_POOL_FEAT_EMPTY_CHUNKS |
			    UNMAPPED_POOL_FEAT_RESIZING |
			    UNMAPPED_POOL_FEAT_POISONED |
			    UNMAPPED_POOL_FEAT_LEAKED |
			    UNMAPPED_POOL_FEAT_COMPACT |
			    (IS_ENABLED(CONFIG_SECRETMEM) ?
			     UNMAPPED_POOL_FEAT_MEMFD_SECRET : 0) |
			    (IS_ENABLED(CONFIG_KVM_PRIVATE_MEM) ?
			     UNMAPPED_POOL_FEAT_GUEST_MEMFD |
			     UNMAPPED_POOL_FEAT_GUEST_MEMFD_MODE : 0),
	};

	return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
}

static long unmapped_pool_ioc_stats(struct unmapped_pool_file *uf,
				    void __user *uarg)
{
	struct unmapped_pool_node_stats *nodes;
	struct unmapped_pool_stats req;
	long err = 0;
	int nid;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (req.flags || req.nr_nodes < nr_node_ids)
		return -EINVAL;
	nodes = kcalloc(nr_node_ids, sizeof(*nodes), GFP_KERNEL);
	if (!nodes)
		return -ENOMEM;

	/*
	 * The device is world-readable: a snapshot must not wait for a
	 * lend, which may take seconds, and does not need to, as every
	 * node's counters are taken under its own lock and a node with a
	 * chunk on its way says so (UNMAPPED_POOL_NODE_RESIZING).  Nor does
	 * it drain the LRU batches of every CPU: pages freed a moment ago
	 * may still count as used until a reclaim or sysfs settle drains.
	 */
	/* Events after this point are not covered and will wake poll(). */
	req.seq = unmapped_pool_event_seq();
	for (nid = 0; nid < nr_node_ids; nid++) {
		unmapped_pool_node_snapshot(nid, &nodes[nid]);
		if (nodes[nid].alloc_failures != uf->seen_failures[nid])
			nodes[nid].flags |= UNMAPPED_POOL_NODE_ALLOC_FAILED;
	}

	req.nr_nodes = nr_node_ids;
	if (copy_to_user(u64_to_user_ptr(req.nodes_ptr), nodes,
			 nr_node_ids * sizeof(*nodes)) ||
	    copy_to_user(uarg, &req, sizeof(req))) {
		err = -EFAULT;
		goto out;
	}
	/* Acknowledge only what reached user space. */
	for (nid = 0; nid < nr_node_ids; nid++)
		uf->seen_failures[nid] = nodes[nid].alloc_failures;
	WRITE_ONCE(uf->seen_seq, req.seq);
out:
	kfree(nodes);
	return err;
}

/* Move the chunks one node entry asks for; caller holds unmapped_pool_resize_lock. */
static void unmapped_pool_move_node(struct unmapped_pool_node_req *req,
				    bool lend, bool allow_hugetlb)
{
	int err = 0;

	req->done = 0;
	if (req->node >= nr_node_ids || !unmapped_pool_of_node(req->node))
		err = -ENODEV;
	while (!err && req->done < req->count) {
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			break;
		}
		err = lend ? unmapped_pool_lend(req->node, allow_hugetlb) :
			     unmapped_pool_reclaim(req->node);
		if (!err)
			req->done++;
	}
	req->error = err;
}

static long unmapped_pool_ioc_move(void __user *uarg, bool lend)
{
	struct unmapped_pool_node_req *reqs;
	struct unmapped_pool_move move;
	bool short_of_target = false;
	long err = 0;
	u32 i;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (copy_from_user(&move, uarg, sizeof(move)))
		return -EFAULT;
	if (!move.nr_reqs || move.nr_reqs > UNMAPPED_POOL_MAX_NODES)
		return -EINVAL;
	if (move.flags & ~(lend ? UNMAPPED_POOL_LEND_NO_HUGETLB : 0))
		return -EINVAL;
	reqs = memdup_array_user(u64_to_user_ptr(move.reqs_ptr), move.nr_reqs,
				 sizeof(*reqs));
	if (IS_ERR(reqs))
		return PTR_ERR(reqs);

	mutex_lock(&unmapped_pool_resize_lock);
	for (i = 0; i < move.nr_reqs; i++) {
		unmapped_pool_move_node(&reqs[i], lend,
					!(move.flags &
					  UNMAPPED_POOL_LEND_NO_HUGETLB));
		short_of_target |= reqs[i].done < reqs[i].count;
	}
	mutex_unlock(&unmapped_pool_resize_lock);

	if (copy_to_user(u64_to_user_ptr(move.reqs_ptr), reqs,
			 move.nr_reqs * sizeof(*reqs)))
		err = -EFAULT;
	else if (short_of_target)
		err = -EAGAIN;
	kfree(reqs);
	return err;
}

static long unmapped_pool_ioc_watermark(void __user *uarg)
{
	struct unmapped_pool_watermark wm;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (copy_from_user(&wm, uarg, sizeof(wm)))
		return -EFAULT;
	if (wm.flags)
		return -EINVAL;
	/*
	 * No node has more pages than physical addresses: a larger
	 * watermark is a mistake, and would overflow the shrinker's count
	 * of the chunks the watermark needs.
	 */
	if (wm.low_pages > UNMAPPED_POOL_MAX_WATERMARK)
		return -EINVAL;
	if (wm.node >= nr_node_ids || !unmapped_pool_of_node(wm.node))
		return -ENODEV;
	unmapped_pool_set_watermark(wm.node, wm.low_pages);
	return 0;
}

static long unmapped_pool_ioc_compact(void __user *uarg)
{
	struct unmapped_pool_compact_req req;
	long err;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (req.flags || memchr_inv(req.reserved, 0, sizeof(req.reserved)))
		return -EINVAL;
	if (req.node >= nr_node_ids || !unmapped_pool_of_node(req.node))
		return -ENODEV;
	err = unmapped_pool_compact_node(req.node, &req);
	if (copy_to_user(uarg, &req, sizeof(req)))
		return -EFAULT;
	return err;
}

static long unmapped_pool_dev_ioctl(struct file *file, unsigned int cmd,
				    unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case UNMAPPED_POOL_IOC_INFO:
		return unmapped_pool_ioc_info(uarg);
	case UNMAPPED_POOL_IOC_STATS:
		return unmapped_pool_ioc_stats(file->private_data, uarg);
	case UNMAPPED_POOL_IOC_LEND:
		return unmapped_pool_ioc_move(uarg, true);
	case UNMAPPED_POOL_IOC_RECLAIM:
		return unmapped_pool_ioc_move(uarg, false);
	case UNMAPPED_POOL_IOC_SET_WATERMARK:
		return unmapped_pool_ioc_watermark(uarg);
	case UNMAPPED_POOL_IOC_COMPACT:
		return unmapped_pool_ioc_compact(uarg);
	default:
		return -ENOTTY;
	}
}

static __poll_t unmapped_pool_dev_poll(struct file *file, poll_table *wait)
{
	struct unmapped_pool_file *uf = file->private_data;

	poll_wait(file, &unmapped_pool_event_wait, wait);
	if (unmapped_pool_event_seq() != READ_ONCE(uf->seen_seq))
		return EPOLLIN | EPOLLRDNORM;
	return 0;
}

static const struct file_operations unmapped_pool_dev_fops = {
	.owner		= THIS_MODULE,
	.open		= unmapped_pool_dev_open,
	.release	= unmapped_pool_dev_release,
	.unlocked_ioctl	= unmapped_pool_dev_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.poll		= unmapped_pool_dev_poll,
};

/* Anybody may look; changes need CAP_SYS_ADMIN, checked per ioctl. */
static struct miscdevice unmapped_pool_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "unmapped_pool",
	.fops	= &unmapped_pool_dev_fops,
	.mode	= 0444,
};

static int __init unmapped_pool_dev_init(void)
{
	return misc_register(&unmapped_pool_misc);
}
late_initcall(unmapped_pool_dev_init);
