/* SPDX-License-Identifier: GPL-2.0 */
/* A binary min-heap of timed items; equal times pop in push order. */
#ifndef SIM_HEAP_H
#define SIM_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct heap_item {
	uint64_t key;		/* time in microseconds */
	uint64_t seq;		/* push order, so that ties are deterministic */
	uint64_t value;
};

struct heap {
	struct heap_item *items;
	size_t n, cap;
	uint64_t next_seq;
};

int heap_push(struct heap *h, uint64_t key, uint64_t value);
bool heap_pop(struct heap *h, struct heap_item *ret);
void heap_done(struct heap *h);

#endif
