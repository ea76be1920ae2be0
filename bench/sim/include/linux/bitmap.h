/* SPDX-License-Identifier: GPL-2.0 */
/*
 * User-space stand-in for <linux/bitmap.h> and <linux/find.h>: the bitmap
 * operations placement uses, with the kernel's semantics (in particular
 * bitmap_find_next_zero_area() returns an index whose range ends beyond
 * @size when there is no room), and word at a time, because the
 * simulator calls them hundreds of millions of times.
 */
#ifndef _SIM_LINUX_BITMAP_H
#define _SIM_LINUX_BITMAP_H

#include <linux/bits.h>
#include <linux/string.h>
#include <linux/types.h>

#define BITS_TO_LONGS(nr)	(((nr) + BITS_PER_LONG - 1) / BITS_PER_LONG)
#define BIT_WORD(nr)		((nr) / BITS_PER_LONG)
#define BITMAP_FIRST_WORD_MASK(start) (~0UL << ((start) & (BITS_PER_LONG - 1)))

/*
 * First set bit of map (inverted: first zero bit) at or after start, or
 * size.  One loop serves both searches so that they cannot disagree.
 */
static inline unsigned long __find_next(const unsigned long *map, unsigned long size,
					unsigned long start, unsigned long invert)
{
	unsigned long word;

	if (start >= size)
		return size;
	word = (map[BIT_WORD(start)] ^ invert) & BITMAP_FIRST_WORD_MASK(start);
	start -= start % BITS_PER_LONG;
	while (!word) {
		start += BITS_PER_LONG;
		if (start >= size)
			return size;
		word = map[BIT_WORD(start)] ^ invert;
	}
	start += __builtin_ctzl(word);
	return start < size ? start : size;
}

static inline unsigned long find_next_bit(const unsigned long *map, unsigned long size,
					  unsigned long start)
{
	return __find_next(map, size, start, 0);
}

static inline unsigned long find_next_zero_bit(const unsigned long *map, unsigned long size,
					       unsigned long start)
{
	return __find_next(map, size, start, ~0UL);
}

static inline unsigned long find_first_bit(const unsigned long *map, unsigned long size)
{
	return find_next_bit(map, size, 0);
}

#define for_each_set_bit(bit, map, size)				\
	for ((bit) = find_first_bit((map), (size)); (bit) < (size);	\
	     (bit) = find_next_bit((map), (size), (bit) + 1))

static inline bool test_bit(unsigned long nr, const unsigned long *map)
{
	return map[BIT_WORD(nr)] >> (nr % BITS_PER_LONG) & 1;
}

static inline void __set_bit(unsigned long nr, unsigned long *map)
{
	map[BIT_WORD(nr)] |= 1UL << (nr % BITS_PER_LONG);
}

static inline void __clear_bit(unsigned long nr, unsigned long *map)
{
	map[BIT_WORD(nr)] &= ~(1UL << (nr % BITS_PER_LONG));
}

static inline void bitmap_zero(unsigned long *map, unsigned int nbits)
{
	memset(map, 0, BITS_TO_LONGS(nbits) * sizeof(unsigned long));
}

/*
 * The whole-map operations below are for maps of a whole number of
 * words, the only ones placement uses them on (blocks of a chunk).
 */
static inline void bitmap_fill(unsigned long *map, unsigned int nbits)
{
	memset(map, 0xff, BITS_TO_LONGS(nbits) * sizeof(unsigned long));
}

static inline void bitmap_or(unsigned long *dst, const unsigned long *a,
			     const unsigned long *b, unsigned int nbits)
{
	for (unsigned int i = 0; i < BITS_TO_LONGS(nbits); i++)
		dst[i] = a[i] | b[i];
}

static inline bool bitmap_and(unsigned long *dst, const unsigned long *a,
			      const unsigned long *b, unsigned int nbits)
{
	unsigned long any = 0;

	for (unsigned int i = 0; i < BITS_TO_LONGS(nbits); i++)
		any |= dst[i] = a[i] & b[i];
	return any != 0;
}

/* Multiples of a word only, which is all the pool's callers pass. */
static inline bool bitmap_intersects(const unsigned long *a, const unsigned long *b,
				     unsigned int nbits)
{
	for (unsigned int i = 0; i < BITS_TO_LONGS(nbits); i++)
		if (a[i] & b[i])
			return true;
	return false;
}

static inline void bitmap_complement(unsigned long *dst, const unsigned long *src,
				     unsigned int nbits)
{
	for (unsigned int i = 0; i < BITS_TO_LONGS(nbits); i++)
		dst[i] = ~src[i];
}

/* Set (or clear) bits [start, start + nr) a word at a time. */
static inline void __bitmap_update(unsigned long *map, unsigned long start,
				   unsigned long nr, bool set)
{
	unsigned long end = start + nr;

	while (start < end) {
		unsigned long bit = start % BITS_PER_LONG;
		unsigned long n = BITS_PER_LONG - bit < end - start ?
				  BITS_PER_LONG - bit : end - start;
		unsigned long mask = (n == BITS_PER_LONG ? ~0UL : (1UL << n) - 1) << bit;

		if (set)
			map[BIT_WORD(start)] |= mask;
		else
			map[BIT_WORD(start)] &= ~mask;
		start += n;
	}
}

static inline void bitmap_set(unsigned long *map, unsigned int start, unsigned int nr)
{
	__bitmap_update(map, start, nr, true);
}

static inline void bitmap_clear(unsigned long *map, unsigned int start, unsigned int nr)
{
	__bitmap_update(map, start, nr, false);
}

/* As the kernel's: aligned per align_mask, and index + nr > size for none. */
static inline unsigned long bitmap_find_next_zero_area(unsigned long *map,
						       unsigned long size,
						       unsigned long start,
						       unsigned int nr,
						       unsigned long align_mask)
{
	unsigned long index, end, i;

	for (;;) {
		index = find_next_zero_bit(map, size, start);
		index = (index + align_mask) & ~align_mask;
		end = index + nr;
		if (end > size)
			return end;
		i = find_next_bit(map, end, index);
		if (i >= end)
			return index;
		start = i + 1;
	}
}

#endif
