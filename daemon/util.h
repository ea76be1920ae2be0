/* SPDX-License-Identifier: GPL-2.0 */
/* Small helpers shared by gigapoold, gigapoolctl and the tests. */
#ifndef GIGAPOOL_UTIL_H
#define GIGAPOOL_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define GIB (1024ULL * 1024 * 1024)
#define USEC_PER_SEC 1000000ULL
#define USEC_PER_MSEC 1000ULL

static inline uint64_t div_round_up(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static inline uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static inline uint64_t sub_sat(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/*
 * A counter the protocol carries: it stops at 2^53-1, the largest integer
 * below which a JSON number (a double) holds every integer exactly.
 */
static inline void counter_add(uint64_t *c, uint64_t v)
{
	const uint64_t max = (1ULL << 53) - 1;

	*c = v > max - min_u64(*c, max) ? max : *c + v;
}

int write_all(int fd, const void *buf, size_t len);
int read_file_str(const char *path, char **ret, size_t max);
int write_file_atomic(const char *path, const char *data, size_t len, unsigned mode);

#endif
