/* SPDX-License-Identifier: GPL-2.0 */
#ifndef SIM_ARRAY_H
#define SIM_ARRAY_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * Make room for item n of an array that doubles as it grows (first
 * allocation: first items).  items_ptr is the address of the array's
 * pointer, whatever its type; it is read and written with memcpy() so that
 * no pointer is accessed through another pointer type.  0 or -ENOMEM, the
 * array unchanged then.
 */
static inline int array_room(void *items_ptr, size_t *cap, size_t n, size_t item_size,
			     size_t first)
{
	size_t want = *cap ? 2 * *cap : first;
	void *items, *p;

	if (n < *cap)
		return 0;
	memcpy(&items, items_ptr, sizeof(items));
	p = realloc(items, want * item_size);
	if (!p)
		return -ENOMEM;
	memcpy(items_ptr, &p, sizeof(p));
	*cap = want;
	return 0;
}

#endif
