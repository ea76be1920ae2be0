// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>

#include "array.h"
#include "heap.h"

static bool before(const struct heap_item *a, const struct heap_item *b)
{
	return a->key < b->key || (a->key == b->key && a->seq < b->seq);
}

static void swap(struct heap_item *a, struct heap_item *b)
{
	struct heap_item t = *a;

	*a = *b;
	*b = t;
}

int heap_push(struct heap *h, uint64_t key, uint64_t value)
{
	size_t i;

	if (array_room(&h->items, &h->cap, h->n, sizeof(*h->items), 256) < 0)
		return -ENOMEM;
	i = h->n++;
	h->items[i] = (struct heap_item){ .key = key, .seq = h->next_seq++, .value = value };
	while (i > 0 && before(&h->items[i], &h->items[(i - 1) / 2])) {
		swap(&h->items[i], &h->items[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	return 0;
}

bool heap_pop(struct heap *h, struct heap_item *ret)
{
	size_t i = 0;

	if (h->n == 0)
		return false;
	*ret = h->items[0];
	h->items[0] = h->items[--h->n];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < h->n && before(&h->items[l], &h->items[m]))
			m = l;
		if (r < h->n && before(&h->items[r], &h->items[m]))
			m = r;
		if (m == i)
			return true;
		swap(&h->items[i], &h->items[m]);
		i = m;
	}
}

void heap_done(struct heap *h)
{
	free(h->items);
	*h = (struct heap){ 0 };
}
