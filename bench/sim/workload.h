/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The workload: a fixed, seeded stream of VMs (and small memfd_secret-like
 * owners) arriving at one host, admitted by a cluster scheduler that only
 * counts memory.  Every placement and every policy replays the same stream.
 */
#ifndef SIM_WORKLOAD_H
#define SIM_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#define PAGES_PER_GIB	262144U		/* 4 KiB pages in a 1 GiB chunk */
#define PAGES_PER_BLOCK	512U		/* 4 KiB pages in a 2 MiB block */
#define USEC_PER_HOUR	3600000000ULL

/* A pool owner faults its memory in this many equal steps ... */
#define TOUCH_STEPS	4
/* ... this long after it starts (steps after its end never happen). */
extern const uint64_t touch_offset_us[TOUCH_STEPS];

extern const char workload_citation[];

enum entity_kind {
	ENT_ORDINARY,		/* VM on 1 GiB hugetlb pages */
	ENT_CONFIDENTIAL,	/* VM on pool memory (guest_memfd), one owner */
	ENT_SECRET,		/* small memfd_secret-like owner, 4 KiB pages */
};

struct entity {
	uint64_t arrive_us, depart_us;
	uint32_t pages;		/* 4 KiB pages; VMs are a multiple of a 2 MiB block */
	uint8_t kind;
};

struct workload_params {
	uint64_t vm_events;		/* VM creates + destroys to generate, at least */
	uint64_t seed;
	unsigned host_gib;
	double confidential_share;	/* of VMs */
	double secrets_per_vm;		/* small owners started per VM arrival */
	double load;			/* offered memory / host memory */
};

struct workload {
	struct entity *ents;		/* admitted ones, in arrival order */
	size_t n;
	uint64_t vms, confidential, secrets, rejected;
	double mean_vm_gib, mean_life_h;	/* of the distributions */
	double arrivals_per_hour;
};

/* Whole GiB an entity may use: what the scheduler counts, and hugetlb pages of an ordinary VM. */
static inline uint32_t entity_gib(const struct entity *e)
{
	return (e->pages + PAGES_PER_GIB - 1) / PAGES_PER_GIB;
}

int workload_generate(const struct workload_params *p, struct workload *ret);
void workload_done(struct workload *w);

#endif
