// SPDX-License-Identifier: GPL-2.0
/*
 * sysfs of the unmapped page pool, in hugetlb's style:
 * /sys/kernel/mm/unmapped_pool/ for all nodes together and
 * /sys/devices/system/node/nodeN/unmapped_pool/ per node, each with a
 * writable nr_chunks and read-only counters, a write-only compact per
 * node, and a write-only settle and guest_memfd's switch in the global
 * directory.
 */
#define pr_fmt(fmt) "unmapped_pool: " fmt

#include <linux/capability.h>
#include <linux/kobject.h>
#include <linux/node.h>
#include <linux/sysfs.h>
#include <uapi/linux/unmapped_pool.h>

#include "unmapped_pool.h"
#include "unmapped_pool_compact.h"

static struct kobject *unmapped_pool_kobj;
static struct kobject *unmapped_pool_node_kobjs[MAX_NUMNODES];

static int kobj_to_nid(struct kobject *kobj)
{
	int nid;

	for_each_node(nid)
		if (unmapped_pool_node_kobjs[nid] == kobj)
			return nid;
	return NUMA_NO_NODE;
}

/*
 * A counter: @get reads it for one node, given @offset, the counter's
 * place in whatever structure @get reads it from.
 */
struct unmapped_pool_stat_attr {
	struct kobj_attribute attr;
	u64 (*get)(int nid, size_t offset);
	size_t offset;
};

/* A counter of one node, or its sum over all nodes in the global directory. */
static ssize_t unmapped_pool_stat_show(struct kobject *kobj,
				       struct kobj_attribute *attr, char *buf)
{
	struct unmapped_pool_stat_attr *sa =
		container_of(attr, struct unmapped_pool_stat_attr, attr);
	int want = kobj_to_nid(kobj), nid;
	u64 sum = 0;

	for_each_node(nid)
		if (want == NUMA_NO_NODE || nid == want)
			sum += sa->get(nid, sa->offset);
	return sysfs_emit(buf, "%llu\n", sum);
}

/* A field of struct unmapped_pool_node_stats, as STATS reports it. */
static u64 unmapped_pool_snapshot_get(int nid, size_t offset)
{
	struct unmapped_pool_node_stats st;

	unmapped_pool_node_snapshot(nid, &st);
	return *(u64 *)((char *)&st + offset);
}

/*
 * Free pages of the node (of every node, globally) that still hold what a
 * consumer left in them, until the pool's wipe worker gets to them.
 */
static u64 unmapped_pool_dirty_get(int nid, size_t offset)
{
	return unmapped_pool_dirty_pages(nid);
}

/*
 * Pages the node's pool (every pool, globally) handed to guest_memfd since
 * boot.  It never goes down, so that a VM's memory can be shown to have
 * come from the pool by its value before and after, without sampling
 * used_pages while the VM runs.
 */
static u64 unmapped_pool_gmem_get(int nid, size_t offset)
{
	return unmapped_pool_gmem_pages(nid);
}

/*
 * 1 while a chunk of the node (of any node, globally) is being lent or
 * reclaimed.  The counters do not wait for that to finish, so their sum
 * may miss the chunk on its way until this reads 0.
 */
static ssize_t resizing_show(struct kobject *kobj, struct kobj_attribute *attr,
			     char *buf)
{
	int want = kobj_to_nid(kobj), nid;
	struct unmapped_pool *pool;
	bool resizing = false;

	for_each_node(nid) {
		pool = unmapped_pool_of_node(nid);
		if (pool && (want == NUMA_NO_NODE || nid == want))
			resizing |= READ_ONCE(pool->resizing);
	}
	return sysfs_emit(buf, "%d\n", resizing);
}

static struct kobj_attribute unmapped_pool_attr_resizing = __ATTR_RO(resizing);

/*
 * The operator's switch, host-wide: whether guest_memfds created without
 * GUEST_MEMFD_FLAG_UNMAPPED_POOL draw from the pool (unmapped_pool_gmem.c).
 */
static ssize_t guest_memfd_show(struct kobject *kobj,
				struct kobj_attribute *attr, char *buf)
{
	return unmapped_pool_gmem_mode_show(buf,
					    unmapped_pool_gmem_get_switch());
}

static ssize_t guest_memfd_store(struct kobject *kobj,
				 struct kobj_attribute *attr, const char *buf,
				 size_t len)
{
	int mode = unmapped_pool_gmem_mode_parse(buf);

	if (mode < 0)
		return mode;
	unmapped_pool_gmem_set_switch(mode);
	return len;
}

static struct kobj_attribute unmapped_pool_attr_guest_memfd =
	__ATTR_RW(guest_memfd);

/*
 * Write-only, for CAP_SYS_ADMIN: drain every CPU's LRU batches, so that
 * the counters read next no longer count pages whose users are all gone
 * but that another CPU's batch still holds.  Reading a counter never does
 * this itself: it would make every CPU, nohz_full ones too, run work on
 * behalf of anybody who may read.
 */
static ssize_t settle_store(struct kobject *kobj, struct kobj_attribute *attr,
			    const char *buf, size_t len)
{
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	unmapped_pool_settle();
	return len;
}

static struct kobj_attribute unmapped_pool_attr_settle = __ATTR_WO(settle);

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

/*
 * Write-only, for CAP_SYS_ADMIN, per node: compact until the node has the
 * number of empty chunks written (those empty already count), moving the
 * pages in use of its emptiest chunks into the holes of fuller ones.
 * Like nr_chunks, a write that achieved nothing fails with the reason
 * (EAGAIN: no chunk could be emptied); empty_chunks and the compact_*
 * counters tell what one did.
 */
static ssize_t compact_store(struct kobject *kobj, struct kobj_attribute *attr,
			     const char *buf, size_t len)
{
	struct unmapped_pool_compact_req req = {};
	int nid = kobj_to_nid(kobj), err;
	unsigned long target;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	err = kstrtoul(buf, 10, &target);
	if (err)
		return err;
	req.node = nid;
	req.target = target;
	err = unmapped_pool_compact_node(nid, &req);
	if (err && (err == -EINTR || !req.chunks_emptied))
		return err;
	return len;
}

static struct kobj_attribute unmapped_pool_attr_compact = __ATTR_WO(compact);

#define UNMAPPED_POOL_COUNTER_ATTR(_name, _mode, _store, _get, _offset)	\
static struct unmapped_pool_stat_attr unmapped_pool_attr_##_name = {		\
	.attr = __ATTR(_name, _mode, unmapped_pool_stat_show, _store),	\
	.get = _get,							\
	.offset = _offset,						\
}

#define UNMAPPED_POOL_STAT_ATTR(_name, _mode, _store, _field)			\
	UNMAPPED_POOL_COUNTER_ATTR(_name, _mode, _store,			\
				   unmapped_pool_snapshot_get,			\
				   offsetof(struct unmapped_pool_node_stats,	\
					    _field))

/* A counter of compaction, which STATS does not report. */
#define UNMAPPED_POOL_COMPACT_ATTR(_name, _field)				\
	UNMAPPED_POOL_COUNTER_ATTR(_name, 0444, NULL,				\
				   unmapped_pool_compact_stat,			\
				   offsetof(struct unmapped_pool, _field))

UNMAPPED_POOL_STAT_ATTR(nr_chunks, 0644, nr_chunks_store, nr_chunks);
UNMAPPED_POOL_STAT_ATTR(empty_chunks, 0444, NULL, empty_chunks);
UNMAPPED_POOL_STAT_ATTR(free_pages, 0444, NULL, free_pages);
UNMAPPED_POOL_STAT_ATTR(used_pages, 0444, NULL, used_pages);
UNMAPPED_POOL_STAT_ATTR(lends, 0444, NULL, lends);
UNMAPPED_POOL_STAT_ATTR(reclaims, 0444, NULL, reclaims);
UNMAPPED_POOL_STAT_ATTR(alloc_failures, 0444, NULL, alloc_failures);
UNMAPPED_POOL_STAT_ATTR(fallbacks, 0444, NULL, fallbacks);
UNMAPPED_POOL_STAT_ATTR(tlb_flushes, 0444, NULL, tlb_flushes);
UNMAPPED_POOL_STAT_ATTR(poisoned_pages, 0444, NULL, poisoned_pages);
UNMAPPED_POOL_STAT_ATTR(leaked_pages, 0444, NULL, leaked_pages);
UNMAPPED_POOL_COUNTER_ATTR(dirty_pages, 0444, NULL, unmapped_pool_dirty_get, 0);
UNMAPPED_POOL_COUNTER_ATTR(guest_memfd_pages, 0444, NULL,
			   unmapped_pool_gmem_get, 0);
UNMAPPED_POOL_COMPACT_ATTR(compactions, compactions);
UNMAPPED_POOL_COMPACT_ATTR(compact_pages_moved, compact_pages_moved);
UNMAPPED_POOL_COMPACT_ATTR(compact_pages_failed, compact_pages_failed);
UNMAPPED_POOL_COMPACT_ATTR(compact_shootdowns, compact_shootdowns);

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
	&unmapped_pool_attr_poisoned_pages.attr.attr,
	&unmapped_pool_attr_leaked_pages.attr.attr,
	&unmapped_pool_attr_dirty_pages.attr.attr,
	&unmapped_pool_attr_guest_memfd_pages.attr.attr,
	&unmapped_pool_attr_compactions.attr.attr,
	&unmapped_pool_attr_compact_pages_moved.attr.attr,
	&unmapped_pool_attr_compact_pages_failed.attr.attr,
	&unmapped_pool_attr_compact_shootdowns.attr.attr,
	&unmapped_pool_attr_resizing.attr,
	NULL,
};

static const struct attribute_group unmapped_pool_attr_group = {
	.attrs = unmapped_pool_attrs,
};

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
	/* Draining is system-wide: the file is only in the global directory. */
	err = sysfs_create_file(unmapped_pool_kobj,
				&unmapped_pool_attr_settle.attr);
	if (err)
		return err;
	/* guest_memfd allocates on the faulting task's node: one switch. */
	if (IS_ENABLED(CONFIG_KVM_PRIVATE_MEM)) {
		err = sysfs_create_file(unmapped_pool_kobj,
					&unmapped_pool_attr_guest_memfd.attr);
		if (err)
			return err;
	}

	for_each_online_node(nid) {
		if (!node_devices[nid] || !unmapped_pool_of_node(nid))
			continue;
		kobj = kobject_create_and_add("unmapped_pool",
					      &node_devices[nid]->dev.kobj);
		if (!kobj)
			return -ENOMEM;
		err = sysfs_create_group(kobj, &unmapped_pool_attr_group);
		/* Compaction is per node: the file is only in node directories. */
		if (!err)
			err = sysfs_create_file(kobj,
						&unmapped_pool_attr_compact.attr);
		if (err) {
			kobject_put(kobj);
			return err;
		}
		unmapped_pool_node_kobjs[nid] = kobj;
	}
	return 0;
}
late_initcall(unmapped_pool_sysfs_init);
