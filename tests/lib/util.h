/* SPDX-License-Identifier: GPL-2.0 */
/*
 * util.h - helpers shared by the in-guest test programs: TAP output,
 * kernel counters from /proc and sysfs, and faulting memory regions.
 */
#ifndef GIGAPOOL_TEST_UTIL_H
#define GIGAPOOL_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAGE_SIZE_4K		4096UL
#define CHUNK_PAGES		262144LL	/* 4 KiB pages in one 1 GiB chunk */
#define MIB			(1024UL * 1024)

/*
 * TAP.  Every check prints one "ok N - name" or "not ok N - name" line;
 * a skipped check prints "ok N - name # SKIP why", which the harness counts
 * as skipped, never as passed.  tap_done() prints the plan and returns the
 * exit status of the program.
 */
void tap_ok(bool pass, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Checks got == want and prints both when they differ. */
bool tap_eq(long long got, long long want, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void tap_skip(const char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tap_bail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
int tap_done(void);

/*
 * The first number after "key" at the start of a line of a /proc file,
 * e.g. "direct_map_level2_splits 12" or "DirectMap4k:   1234 kB", or -1
 * when the file or the key is missing.
 */
long long proc_value(const char *file, const char *key);
/* The sum over CPUs of one row of /proc/interrupts ("CAL"), or -1. */
long long irq_count(const char *row);

/* A number read from or written to a sysfs file; -1 / false on error. */
long long sysfs_read(const char *path);
bool sysfs_write(const char *path, long long val);
/* Bit mask of a sysfs list such as "0-1,4" (ids below 64), 0 on error. */
uint64_t sysfs_list(const char *path);

/*
 * A number in a sysfs directory of the whole system (node < 0,
 * /sys/kernel/mm/DIR) or of one node (/sys/devices/system/node/nodeN/DIR):
 * the unmapped pool's or the 1 GiB hugetlb pages'.
 */
#define POOL_DIR	"unmapped_pool"
#define HUGETLB_DIR	"hugepages/hugepages-1048576kB"
long long node_read(int node, const char *dir, const char *file);
bool node_write(int node, const char *dir, const char *file, long long val);
/*
 * A pool counter as any reader gets it: pages freed a moment ago may still
 * count as used while another CPU's LRU batch holds them.
 */
#define pool_read_raw(node, file)	node_read(node, POOL_DIR, file)
/* Drains every CPU's LRU batches (sysfs settle, root only); true if done. */
bool pool_settle(void);
/* A pool counter made exact by pool_settle() first. */
long long pool_read(int node, const char *file);
#define hugetlb_read(node, file)	node_read(node, HUGETLB_DIR, file)
/* Lends or takes back chunks until the pool holds that many; true if so. */
bool pool_set_chunks(int node, long long chunks);
/* Makes the system or node hold at least n 1 GiB hugetlb pages. */
bool hugetlb_reserve(int node, long long n);

/* Direct-map and cross-CPU TLB flush counters at one moment. */
struct mm_counters {
	long long splits2;		/* direct_map_level2_splits */
	long long splits3;		/* direct_map_level3_splits */
	long long dm4k, dm2m, dm1g;	/* DirectMap* in kB */
	long long ipis;			/* function-call IPIs, all CPUs */
	long long tlb_remote;		/* nr_tlb_remote_flush */
	long long tlb_remote_recv;	/* nr_tlb_remote_flush_received */
};

/* False when a counter is missing (a kernel without the right config). */
bool mm_counters_read(struct mm_counters *c);

/* A shared mapping of a memfd_secret or memfd_create file. */
struct region {
	int fd;
	char *addr;
	size_t size;
};

/* Raise RLIMIT_MEMLOCK (secretmem is charged to it) and create the fd. */
int secret_create(void);
/* Size and map fd into r; false (and fd closed) on error. */
bool region_map(struct region *r, int fd, size_t size);
/* CLOCK_MONOTONIC in ns. */
long long now_ns(void);
/* Write every page once; returns the elapsed ns, or -1 if data got lost. */
long long region_fault(struct region *r);
void region_unmap(struct region *r);
/*
 * The page frame of every page of r, which /proc/self/pagemap shows root;
 * false if a page is not present or the file cannot be read.
 */
bool region_pfns(const struct region *r, unsigned long long *pfns);

/*
 * Two chunks of a node's pool fragmented the way departed owners leave
 * them (compacttest checks compaction on it, kbench times it): FRAG_OWNERS
 * memfd_secret owners of FRAG_OWNER_SIZE faulted one after another into
 * two lent chunks, then three in four freed, so that a chunk's worth of
 * pages is free but no chunk is empty.  24 MiB each: the first 16 MiB of
 * an owner go to the blocks small owners share, in one chunk, the rest to
 * blocks of its own, in the other.
 */
#define FRAG_OWNERS		40
#define FRAG_OWNER_SIZE		(24 * MIB)
#define FRAG_SURVIVOR(i)	((i) % 4 == 0)
/* Half of the survivors stay mapped; the others keep only their fd. */
#define FRAG_MAPPED(i)		((i) % 8 == 0)

struct frag_owner {
	struct region r;
	bool alive;
};

/*
 * Create and fault the FRAG_OWNERS owners in turn.  fill, if not NULL,
 * writes each survivor (its id is its index); every other owner is faulted
 * with region_fault().  Returns the ns those region_fault() calls took, or
 * -1 on error.
 */
long long frag_fault(struct frag_owner *owners,
		     void (*fill)(struct frag_owner *owner, int id));
/* Free the owners that do not survive; unmap the survivors not kept mapped. */
void frag_free_most(struct frag_owner *owners);
/* Unmap and close the owners still alive. */
void frag_release(struct frag_owner *owners);
/*
 * Wait up to timeout_ms for the wipe worker to clear the node's freed
 * pages; returns how many are left dirty (0: all wiped), or -1.
 */
long long pool_wait_wiped(int node, long long timeout_ms);

/*
 * A KVM_X86_SW_PROTECTED_VM, the VM type with private memory that
 * guest_memfd from the pool needs, or -1 with errno set.
 */
int protected_vm_create(void);
/* A guest_memfd of size bytes in vm, or -1 with errno set. */
int guest_memfd_create(int vm, unsigned long long size, unsigned long long flags);

/* The online CPUs of a node (node < 0: of the system); 0 if it has none. */
uint64_t node_cpus(int node);
/* Restricts the calling thread to a set of CPUs / to one node's memory. */
bool set_cpus(uint64_t cpus);
bool bind_memory(int node);

#endif /* GIGAPOOL_TEST_UTIL_H */
