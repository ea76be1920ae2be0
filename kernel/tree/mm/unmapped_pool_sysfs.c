// SPDX-License-Identifier: GPL-2.0
/*
 * User interfaces of the unmapped page pool:
 *
 *  - sysfs in hugetlb's style: /sys/kernel/mm/unmapped_pool/ for all nodes
 *    together and /sys/devices/system/node/nodeN/unmapped_pool/ per node,
 *    each with a writable nr_chunks and read-only counters;
 *  - /dev/unmapped_pool, whose ioctls (include/uapi/linux/unmapped_pool.h)
 *    let a management daemon take consistent snapshots, move chunks with
 *    an exact result per node, and sleep in poll() until a pool runs low;
 *  - debugfs unmapped_pool/chunks, a per-chunk map for debugging placement.
 */
#define pr_fmt(fmt) "unmapped_pool: " fmt

#include <linux/capability.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/hugetlb.h>
#include <linux/kobject.h>
#include <linux/miscdevice.h>
#include <linux/node.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/uaccess.h>
#include <uapi/linux/unmapped_pool.h>

#include "unmapped_pool.h"

static struct kobject *unmapped_pool_kobj;
static struct kobject *unmapped_pool_node_kobjs[MAX_NUMNODES];

/* What the user of one open /dev/unmapped_pool has already been told. */
struct unmapped_pool_file {
	u64 seen_seq;
	u64 seen_failures[];
};

/*
 * Fill @st with the state of node @nid.  Callers hold unmapped_pool_resize_lock
 * so that chunk counts of several nodes form one consistent picture.
 */
static void unmapped_pool_node_snapshot(int nid,
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
	spin_unlock_irq(&pool->lock);
	st->fallbacks = atomic64_read(&pool->fallbacks);
	hugetlb_gigantic_counts(nid, &total, &free);
	st->hugetlb_total = total;
	st->hugetlb_free = free;
}

static int kobj_to_nid(struct kobject *kobj)
{
	int nid;

	for_each_node(nid)
		if (unmapped_pool_node_kobjs[nid] == kobj)
			return nid;
	return NUMA_NO_NODE;
}

struct unmapped_pool_stat_attr {
	struct kobj_attribute attr;
	size_t offset;
};

/* A counter of one node, or its sum over all nodes in the global directory. */
static ssize_t unmapped_pool_stat_show(struct kobject *kobj,
				       struct kobj_attribute *attr, char *buf)
{
	struct unmapped_pool_stat_attr *sa =
		container_of(attr, struct unmapped_pool_stat_attr, attr);
	int want = kobj_to_nid(kobj), nid;
	struct unmapped_pool_node_stats st;
	u64 sum = 0;

	unmapped_pool_settle();
	mutex_lock(&unmapped_pool_resize_lock);
	for_each_node(nid) {
		if (want != NUMA_NO_NODE && nid != want)
			continue;
		unmapped_pool_node_snapshot(nid, &st);
		sum += *(u64 *)((char *)&st + sa->offset);
	}
	mutex_unlock(&unmapped_pool_resize_lock);
	return sysfs_emit(buf, "%llu\n", sum);
}

/*
 * Like nr_hugepages: lend or reclaim towards the value written, and let
 * a read tell what was achieved.  A write that changed nothing fails with
 * the reason, so that "echo 4 > nr_chunks" does not succeed silently when
 * no chunk could be lent.
 */
static ssize_t nr_chunks_store(struct kobject *kobj,
			       struct kobj_attribute *attr, const char *buf,
			       size_t len)
{
	int nid = kobj_to_nid(kobj);
	unsigned long target, before, after;
	int err;

	err = kstrtoul(buf, 10, &target);
	if (err)
		return err;
	if (nid == NUMA_NO_NODE) {
		before = unmapped_pool_total_chunks();
		err = unmapped_pool_set_total_chunks(target, &after);
	} else {
		before = READ_ONCE(unmapped_pool_of_node(nid)->nr_chunks);
		err = unmapped_pool_set_node_chunks(nid, target, &after);
	}
	if (err && (err == -EINTR || after == before))
		return err;
	return len;
}

#define UNMAPPED_POOL_STAT_ATTR(_name, _mode, _store, _field)			\
static struct unmapped_pool_stat_attr unmapped_pool_attr_##_name = {		\
	.attr = __ATTR(_name, _mode, unmapped_pool_stat_show, _store),	\
	.offset = offsetof(struct unmapped_pool_node_stats, _field),	\
}

UNMAPPED_POOL_STAT_ATTR(nr_chunks, 0644, nr_chunks_store, nr_chunks);
UNMAPPED_POOL_STAT_ATTR(empty_chunks, 0444, NULL, empty_chunks);
UNMAPPED_POOL_STAT_ATTR(free_pages, 0444, NULL, free_pages);
UNMAPPED_POOL_STAT_ATTR(used_pages, 0444, NULL, used_pages);
UNMAPPED_POOL_STAT_ATTR(lends, 0444, NULL, lends);
UNMAPPED_POOL_STAT_ATTR(reclaims, 0444, NULL, reclaims);
UNMAPPED_POOL_STAT_ATTR(alloc_failures, 0444, NULL, alloc_failures);
UNMAPPED_POOL_STAT_ATTR(fallbacks, 0444, NULL, fallbacks);
UNMAPPED_POOL_STAT_ATTR(tlb_flushes, 0444, NULL, tlb_flushes);

static struct attribute *unmapped_pool_attrs[] = {
	&unmapped_pool_attr_nr_chunks.attr.attr,
	&unmapped_pool_attr_empty_chunks.attr.attr,
	&unmapped_pool_attr_free_pages.attr.attr,
	&unmapped_pool_attr_used_pages.attr.attr,
	&unmapped_pool_attr_lends.attr.attr,
	&unmapped_pool_attr_reclaims.attr.attr,
	&unmapped_pool_attr_alloc_failures.attr.attr,
	&unmapped_pool_attr_fallbacks.attr.attr,
	&unmapped_pool_attr_tlb_flushes.attr.attr,
	NULL,
};

static const struct attribute_group unmapped_pool_attr_group = {
	.attrs = unmapped_pool_attrs,
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
			    (IS_ENABLED(CONFIG_SECRETMEM) ?
			     UNMAPPED_POOL_FEAT_MEMFD_SECRET : 0) |
			    (IS_ENABLED(CONFIG_KVM_PRIVATE_MEM) ?
			     UNMAPPED_POOL_FEAT_GUEST_MEMFD : 0),
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

	unmapped_pool_settle();
	mutex_lock(&unmapped_pool_resize_lock);
	/* Events after this point are not covered and will wake poll(). */
	req.seq = unmapped_pool_event_seq();
	for (nid = 0; nid < nr_node_ids; nid++) {
		unmapped_pool_node_snapshot(nid, &nodes[nid]);
		if (nodes[nid].alloc_failures != uf->seen_failures[nid])
			nodes[nid].flags |= UNMAPPED_POOL_NODE_ALLOC_FAILED;
	}
	mutex_unlock(&unmapped_pool_resize_lock);

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
	if (wm.node >= nr_node_ids || !unmapped_pool_of_node(wm.node))
		return -ENODEV;
	unmapped_pool_set_watermark(wm.node, wm.low_pages);
	return 0;
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
	unsigned long *owners, used, dirty;
	struct unmapped_pool_chunk *chunk;
	struct unmapped_pool *pool;
	unsigned int shared, free_blocks;
	int nid;

	owners = kmalloc_array(UNMAPPED_POOL_CHUNK_BLOCKS, sizeof(*owners),
			       GFP_KERNEL);
	if (!owners)
		return -ENOMEM;
	seq_puts(m, "node pfn used_pages free_blocks owners shared_blocks dirty_pages\n");
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
			memcpy(owners, chunk->block_owner,
			       sizeof(chunk->block_owner));
			spin_unlock_irq(&pool->lock);
			seq_printf(m, "%d %#lx %lu %u %u %u %lu\n", nid,
				   chunk->pfn, used, free_blocks,
				   count_owners(owners, &shared), shared,
				   dirty);
		}
	}
	mutex_unlock(&unmapped_pool_resize_lock);
	kfree(owners);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(unmapped_pool_chunks);

static int __init unmapped_pool_sysfs_init(void)
{
	struct kobject *kobj;
	int nid, err;

	unmapped_pool_kobj = kobject_create_and_add("unmapped_pool", mm_kobj);
	if (!unmapped_pool_kobj)
		return -ENOMEM;
	err = sysfs_create_group(unmapped_pool_kobj, &unmapped_pool_attr_group);
	if (err)
		return err;

	for_each_online_node(nid) {
		if (!node_devices[nid] || !unmapped_pool_of_node(nid))
			continue;
		kobj = kobject_create_and_add("unmapped_pool",
					      &node_devices[nid]->dev.kobj);
		if (!kobj)
			return -ENOMEM;
		err = sysfs_create_group(kobj, &unmapped_pool_attr_group);
		if (err) {
			kobject_put(kobj);
			return err;
		}
		unmapped_pool_node_kobjs[nid] = kobj;
	}

	debugfs_create_file("chunks", 0400,
			    debugfs_create_dir("unmapped_pool", NULL), NULL,
			    &unmapped_pool_chunks_fops);
	return misc_register(&unmapped_pool_misc);
}
late_initcall(unmapped_pool_sysfs_init);
