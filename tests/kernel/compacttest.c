// SPDX-License-Identifier: GPL-2.0
/*
 * compacttest - compaction of the unmapped pool seen from user space.
 *
 *   compacttest
 *
 * Fragments node 0's pool over two chunks with many memfd_secret owners
 * (frag_fault() and frag_free_most() of tests/lib/util.c), the survivors
 * each filled with a pattern of its own, so that a chunk's worth of pages
 * is free but no chunk is empty, and checks that a reclaim fails; then
 * compacts through sysfs (echo 1 > .../compact), reclaims a chunk and
 * checks that a free 1 GiB hugetlb page came back, that every byte of the
 * surviving owners, mapped in this process or not, reads back unchanged,
 * that mapped pages moved to the same offset of a 2 MiB block with an
 * owner's block kept together, that the direct map was never split, and
 * that the user-mapping shootdowns were counted.
 * The ioctl's refusals and limits (bad input, page budget, no room) are
 * checked on the way.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/unmapped_pool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util.h"

#define NODE		0
#define OWNER_PAGES	(FRAG_OWNER_SIZE / PAGE_SIZE_4K)
#define BLOCK_PAGES	512ULL

static struct frag_owner owners[FRAG_OWNERS];
/* Page frames of the mapped survivors before compaction. */
static unsigned long long *pfns[FRAG_OWNERS];
static int fd;
static struct mm_counters start;

static unsigned long long pattern(int id, size_t word)
{
	return ((unsigned long long)id << 48) ^ (word * 0x9e3779b97f4a7c15ULL);
}

static void fill(struct frag_owner *o, int id)
{
	unsigned long long *w = (unsigned long long *)o->r.addr;
	size_t i;

	for (i = 0; i < o->r.size / sizeof(*w); i++)
		w[i] = pattern(id, i);
}

/* Pages of an owner's mapping at addr that do not hold its pattern. */
static long long bad_pages(const char *addr, int id)
{
	const unsigned long long *w = (const unsigned long long *)addr;
	size_t per_page = PAGE_SIZE_4K / sizeof(*w), i, j;
	long long bad = 0;

	for (i = 0; i < OWNER_PAGES; i++)
		for (j = 0; j < per_page; j++)
			if (w[i * per_page + j] != pattern(id, i * per_page + j)) {
				bad++;
				break;
			}
	return bad;
}

/* Pages of every survivor that lost their pattern; unmapped ones are mapped again. */
static long long survivors_bad(void)
{
	long long bad = 0;
	char *addr;
	int i;

	for (i = 0; i < FRAG_OWNERS; i++) {
		if (!owners[i].alive)
			continue;
		if (owners[i].r.addr != MAP_FAILED) {
			bad += bad_pages(owners[i].r.addr, i);
			continue;
		}
		addr = mmap(NULL, FRAG_OWNER_SIZE, PROT_READ, MAP_SHARED, owners[i].r.fd, 0);
		if (addr == MAP_FAILED) {
			tap_diag("owner %d: mmap again: %s", i, strerror(errno));
			bad += OWNER_PAGES;
			continue;
		}
		bad += bad_pages(addr, i);
		munmap(addr, FRAG_OWNER_SIZE);
	}
	return bad;
}

static int compact_ioctl(struct unmapped_pool_compact_req *req)
{
	return ioctl(fd, UNMAPPED_POOL_IOC_COMPACT, req) ? -errno : 0;
}

static void test_bad_input(void)
{
	struct unmapped_pool_compact_req req = { .node = NODE, .target = 1, .flags = 1 };

	tap_eq(compact_ioctl(&req), -EINVAL, "COMPACT with flags: EINVAL");
	req = (struct unmapped_pool_compact_req){ .node = NODE, .target = 1 };
	req.reserved[3] = 1;
	tap_eq(compact_ioctl(&req), -EINVAL, "COMPACT with a reserved field set: EINVAL");
	req = (struct unmapped_pool_compact_req){ .node = 1 << 20, .target = 1 };
	tap_eq(compact_ioctl(&req), -ENODEV, "COMPACT of a node that does not exist: ENODEV");
}

static bool record_pfns(void)
{
	bool ok = true;
	int i;

	for (i = 0; i < FRAG_OWNERS && ok; i++) {
		if (!owners[i].alive || owners[i].r.addr == MAP_FAILED)
			continue;
		pfns[i] = calloc(OWNER_PAGES, sizeof(*pfns[i]));
		ok = pfns[i] && region_pfns(&owners[i].r, pfns[i]);
	}
	return ok;
}

/*
 * Mapped survivors' pages that moved: how many, how many landed at another
 * offset of a 2 MiB block, and how many left a block whose other pages of
 * the same owner went to another block.
 */
static void check_moves(void)
{
	long long moved = 0, offset = 0, split = 0;
	unsigned long long now[OWNER_PAGES], from[64], to[64];
	unsigned int nr, k;
	size_t p;
	int i;

	for (i = 0; i < FRAG_OWNERS; i++) {
		if (!pfns[i])
			continue;
		if (!region_pfns(&owners[i].r, now)) {
			tap_ok(false, "owner %d: page frames after compaction", i);
			return;
		}
		nr = 0;
		for (p = 0; p < OWNER_PAGES; p++) {
			if (now[p] == pfns[i][p])
				continue;
			moved++;
			offset += (now[p] ^ pfns[i][p]) % BLOCK_PAGES != 0;
			for (k = 0; k < nr && from[k] != pfns[i][p] / BLOCK_PAGES; k++)
				;
			if (k == nr && nr < 64) {
				from[nr] = pfns[i][p] / BLOCK_PAGES;
				to[nr++] = now[p] / BLOCK_PAGES;
			} else if (k < nr) {
				split += to[k] != now[p] / BLOCK_PAGES;
			}
		}
	}
	tap_ok(moved > 0, "pages mapped in this process moved (%lld)", moved);
	tap_eq(offset, 0, "moved pages keep their offset in their 2 MiB block");
	tap_eq(split, 0, "an owner's pages of one block moved to one block");
}

static void test_compact(void)
{
	struct unmapped_pool_compact_req req;
	long long hp_free, compactions, moved, failed, shootdowns, used, err;
	struct mm_counters now;

	tap_ok(frag_fault(owners, fill) >= 0,
	       "%d memfd_secret owners of %lu MiB faulted, %d with a pattern",
	       FRAG_OWNERS, FRAG_OWNER_SIZE / MIB, (FRAG_OWNERS + 3) / 4);
	tap_eq(pool_read(NODE, "empty_chunks"), 0, "both chunks hold pages");
	frag_free_most(owners);
	used = pool_read(NODE, "used_pages");
	tap_ok(pool_read(NODE, "free_pages") >= CHUNK_PAGES,
	       "three owners in four freed: a chunk's worth of pages is free (%lld used)", used);
	tap_eq(pool_read(NODE, "empty_chunks"), 0, "but no chunk is empty");
	tap_ok(!node_write(NODE, POOL_DIR, "nr_chunks", 1) &&
	       pool_read(NODE, "nr_chunks") == 2,
	       "so no chunk can be reclaimed without compaction");

	req = (struct unmapped_pool_compact_req){ .node = NODE, .target = 1, .max_pages = 1 };
	err = compact_ioctl(&req);
	tap_eq(err, -EAGAIN, "COMPACT with a budget of one page: EAGAIN");
	tap_ok(req.pages_moved == 0 && req.pages_over_budget > 0 && req.empty_chunks == 0,
	       "and nothing moved: %llu moved, %llu over budget, %llu empty",
	       (unsigned long long)req.pages_moved,
	       (unsigned long long)req.pages_over_budget,
	       (unsigned long long)req.empty_chunks);

	tap_ok(record_pfns(), "page frames of the mapped survivors");
	compactions = pool_read_raw(NODE, "compactions");
	moved = pool_read_raw(NODE, "compact_pages_moved");
	failed = pool_read_raw(NODE, "compact_pages_failed");
	shootdowns = pool_read_raw(NODE, "compact_shootdowns");
	tap_ok(node_write(NODE, POOL_DIR, "compact", 1), "echo 1 > node%d/unmapped_pool/compact",
	       NODE);
	tap_eq(pool_read(NODE, "empty_chunks"), 1, "a chunk is empty");
	tap_eq(pool_read(NODE, "used_pages"), used, "as many pages in use as before");
	tap_eq(pool_read_raw(NODE, "compactions"), compactions + 1, "compactions counted");
	moved = pool_read_raw(NODE, "compact_pages_moved") - moved;
	tap_ok(moved > 0 && moved <= used, "compact_pages_moved: %lld of %lld pages in use",
	       moved, used);
	tap_eq(pool_read_raw(NODE, "compact_pages_failed"), failed, "no page failed to move");
	shootdowns = pool_read_raw(NODE, "compact_shootdowns") - shootdowns;
	tap_ok(shootdowns > 0 && shootdowns <= moved,
	       "user-mapping shootdowns counted: %lld for %lld pages moved", shootdowns, moved);
	check_moves();
	tap_eq(survivors_bad(), 0, "every surviving page reads back unchanged");

	req = (struct unmapped_pool_compact_req){ .node = NODE, .target = 2 };
	err = compact_ioctl(&req);
	tap_eq(err, -EAGAIN, "COMPACT to two empty chunks: EAGAIN");
	tap_ok(req.pages_moved == 0 && req.pages_no_room > 0 && req.empty_chunks == 1 &&
	       req.pages_busy == 0 && req.pages_pinned == 0,
	       "no room for the last chunk's pages: %llu moved, %llu no room, %llu empty",
	       (unsigned long long)req.pages_moved, (unsigned long long)req.pages_no_room,
	       (unsigned long long)req.empty_chunks);
	req = (struct unmapped_pool_compact_req){ .node = NODE, .target = 1 };
	tap_eq(compact_ioctl(&req), 0, "COMPACT to the one empty chunk there is: done");

	hp_free = hugetlb_read(NODE, "free_hugepages");
	tap_ok(pool_set_chunks(NODE, 1), "reclaim the emptied chunk");
	tap_eq(hugetlb_read(NODE, "free_hugepages"), hp_free + 1,
	       "a free 1 GiB hugetlb page came back");
	tap_eq(survivors_bad(), 0, "every surviving page still reads back unchanged");

	mm_counters_read(&now);
	tap_eq(now.splits2 - start.splits2, 0, "no 2 MiB direct-map split");
	tap_eq(now.splits3 - start.splits3, 0, "no 1 GiB direct-map split");
	tap_eq(now.dm1g, start.dm1g, "DirectMap1G unchanged");
}

int main(void)
{
	struct unmapped_pool_info info;
	int i;

	if (!bind_memory(NODE))
		tap_bail("cannot bind to node %d", NODE);
	fd = open(UNMAPPED_POOL_DEVICE, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		tap_bail("open %s: %s", UNMAPPED_POOL_DEVICE, strerror(errno));
	if (ioctl(fd, UNMAPPED_POOL_IOC_INFO, &info))
		tap_bail("INFO: %s", strerror(errno));
	tap_ok(info.features & UNMAPPED_POOL_FEAT_COMPACT, "INFO announces FEAT_COMPACT");
	test_bad_input();
	if (!pool_set_chunks(NODE, 0) || !hugetlb_reserve(NODE, 2) || !pool_set_chunks(NODE, 2))
		tap_bail("cannot lend node %d two chunks from hugetlb", NODE);
	if (!mm_counters_read(&start))
		tap_bail("direct-map counters unreadable");
	test_compact();
	frag_release(owners);
	for (i = 0; i < FRAG_OWNERS; i++)
		free(pfns[i]);
	tap_ok(pool_set_chunks(NODE, 0), "every chunk back once the survivors are gone");
	return tap_done();
}
