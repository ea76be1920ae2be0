/* SPDX-License-Identifier: GPL-2.0 */
/*
 * User-space stand-in for the kernel's <linux/types.h>: only the types the
 * pool's placement code and its header use.  The simulator compiles
 * kernel/tree/mm/unmapped_pool_place.c unchanged against these shims, as the
 * kernel's own tools/testing does.
 */
#ifndef _SIM_LINUX_TYPES_H
#define _SIM_LINUX_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DECLARE_BITMAP(name, bits) \
	unsigned long name[((bits) + 8 * sizeof(long) - 1) / (8 * sizeof(long))]

typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

/* Only declared in the pool struct; the placement code never touches it. */
typedef struct {
	int64_t counter;
} atomic64_t;

#endif
