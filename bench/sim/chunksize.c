// SPDX-License-Identifier: GPL-2.0
/*
 * chunk-size - the bookkeeping the pool keeps per 1 GiB chunk, in bytes:
 * struct unmapped_pool_chunk as the kernel's own header lays it out, plus its
 * UNMAPPED_POOL_CHUNK_PAGE_MAPS bitmaps (one bit per 4 KiB page each), which
 * unmapped_pool.c allocates separately.  bench/kernel.sh quotes it next
 * to the memory a lend was measured to cost.
 */
#include <stdio.h>

#include <linux/bitmap.h>

#include "unmapped_pool.h"

int main(void)
{
	size_t bitmap = BITS_TO_LONGS(UNMAPPED_POOL_CHUNK_PAGES) * sizeof(long);

	printf("%zu\n", sizeof(struct unmapped_pool_chunk) +
	       UNMAPPED_POOL_CHUNK_PAGE_MAPS * bitmap);
	return 0;
}
