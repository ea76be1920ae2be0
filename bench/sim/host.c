// SPDX-License-Identifier: GPL-2.0
/*
 * The host model.  Pool bookkeeping and its decisions are the kernel's own:
 * struct unmapped_pool_chunk and struct unmapped_pool from
 * kernel/tree/mm/unmapped_pool.h, and from unmapped_pool_place.c the
 * placement (unmapped_pool_place()), the accounting of a request, a failure
 * and a lend (unmapped_pool_account(), unmapped_pool_add_chunk()), the
 * chunk a reclaim gives back (unmapped_pool_remove_empty()) and when an
 * event is due (unmapped_pool_note_level(), unmapped_pool_watermark_reset()).
 * What stays here is what the kernel does with memory: lending and freeing
 * 1 GiB pages, the placement state (struct unmapped_pool_owner) that a
 * consumer keeps per file, and the first-fit baseline placement.
 *
 * Chunks are placed at host addresses: a lend takes the lowest free 1 GiB
 * page slot, as cma_alloc() takes the lowest free range.  Ordinary VMs
 * only count hugetlb pages; which of them they use does not matter here.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/bitmap.h>

#include "unmapped_pool.h"
#include "unmapped_pool_compact.h"
#include "host.h"

#define PPC		UNMAPPED_POOL_CHUNK_PAGES
#define BLOCKS		UNMAPPED_POOL_CHUNK_BLOCKS
#define ORDERS		(UNMAPPED_POOL_MAX_ORDER + 1)

/* The independent model of check mode: pages per block, from the records alone. */
struct model {
	uint16_t *blocks;		/* [slot * BLOCKS + block] */
	uint64_t *used;			/* [slot] */
	uint64_t total;
	uint16_t *touched;		/* slots changed since the last verify */
	bool *is_touched;
	size_t n_touched;
	char *error;			/* the first discrepancy seen */
};

struct host {
	struct unmapped_pool pool;
	enum placement placement;
	unsigned n_slots;
	struct unmapped_pool_chunk **slots;	/* chunk lent from each 1 GiB page, or NULL */
	uint64_t hugetlb_used;		/* by ordinary VMs */
	uint64_t used_chunks;
	bool event;			/* poll() would report readiness */
	uint64_t seen_failures;		/* alloc_failures at the last snapshot */
	unsigned ff_from[ORDERS];	/* first-fit: no slot below fits the order */
	/* Per owner cookie, as a consumer embeds one per file; id is the cookie. */
	struct unmapped_pool_owner *owners;
	unsigned long n_owners;
	uint32_t *pinned;		/* per slot: pages that may not move */
	struct unmapped_pool_compact_move *moves;	/* a compaction plan, one chunk's blocks per source */
	struct host_move *moved;		/* the same, by slot, for moved() */
	unsigned max_moves;
	host_moved_fn moved_fn;
	void *moved_data;
	struct model *model;
};

static const char *const placement_names[] = {
	[PLACE_FIRST_FIT] = "first-fit",
	[PLACE_FULLEST_FIRST] = "fullest-first",
	[PLACE_OWNER_AFFINE] = "owner-affine",
};

const char *placement_name(enum placement p)
{
	return placement_names[p];
}

int placement_parse(const char *name, enum placement *ret)
{
	for (unsigned i = 0; i < sizeof(placement_names) / sizeof(placement_names[0]); i++)
		if (strcmp(name, placement_names[i]) == 0) {
			*ret = i;
			return 0;
		}
	return -EINVAL;
}

static void model_free(struct model *m)
{
	if (!m)
		return;
	free(m->blocks);
	free(m->used);
	free(m->touched);
	free(m->is_touched);
	free(m->error);
	free(m);
}

static struct model *model_new(unsigned n_slots)
{
	struct model *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->blocks = calloc((size_t)n_slots * BLOCKS, sizeof(*m->blocks));
	m->used = calloc(n_slots, sizeof(*m->used));
	m->touched = calloc(n_slots, sizeof(*m->touched));
	m->is_touched = calloc(n_slots, sizeof(*m->is_touched));
	if (!m->blocks || !m->used || !m->touched || !m->is_touched) {
		model_free(m);
		return NULL;
	}
	return m;
}

int host_new(unsigned host_gib, enum placement placement, bool check, struct host **ret)
{
	struct host *h = calloc(1, sizeof(*h));

	if (!h || host_gib == 0 || host_gib > UINT16_MAX) {
		free(h);
		return h ? -EINVAL : -ENOMEM;
	}
	INIT_LIST_HEAD(&h->pool.chunks);
	h->placement = placement;
	h->n_slots = host_gib;
	h->slots = calloc(host_gib, sizeof(*h->slots));
	h->pinned = calloc(host_gib, sizeof(*h->pinned));
	h->model = check ? model_new(host_gib) : NULL;
	if (!h->slots || !h->pinned || (check && !h->model)) {
		host_free(h);
		return -ENOMEM;
	}
	*ret = h;
	return 0;
}

static void chunk_free(struct unmapped_pool_chunk *c)
{
	if (c)
		free(c->used_map);
	free(c);
}

void host_free(struct host *h)
{
	if (!h)
		return;
	for (unsigned s = 0; s < h->n_slots; s++)
		chunk_free(h->slots[s]);
	free(h->slots);
	free(h->pinned);
	free(h->moves);
	free(h->moved);
	free(h->owners);
	model_free(h->model);
	free(h);
}

static unsigned slot_of(const struct unmapped_pool_chunk *c)
{
	return c->pfn >> UNMAPPED_POOL_CHUNK_ORDER;
}

/* Set bits of map in [start, start + nr). */
static unsigned long weight(const unsigned long *map, unsigned long start, unsigned long nr)
{
	unsigned long count = 0;

	for (unsigned long i = start; i < start + nr; i += BITS_PER_LONG) {
		unsigned long word = map[BIT_WORD(i)];
		unsigned long bits = start + nr - i < BITS_PER_LONG ? start + nr - i : BITS_PER_LONG;

		/* Callers pass word-aligned ranges or ones inside one word. */
		word >>= i % BITS_PER_LONG;
		if (bits < BITS_PER_LONG)
			word &= (1UL << bits) - 1;
		count += __builtin_popcountl(word);
	}
	return count;
}

static void __attribute__((format(printf, 2, 3)))
model_fail(struct model *m, const char *fmt, ...)
{
	va_list ap;

	if (m->error)
		return;
	va_start(ap, fmt);
	if (vasprintf(&m->error, fmt, ap) < 0)
		m->error = NULL;
	va_end(ap);
}

static void model_touch(struct model *m, unsigned slot)
{
	if (!m->is_touched[slot]) {
		m->is_touched[slot] = true;
		m->touched[m->n_touched++] = slot;
	}
}

/*
 * Check an allocation against the bitmap before it is accounted, and
 * account it in the model: a page handed out twice, a misaligned range or
 * one crossing a block is a placement bug, whatever the counters say.
 */
static void model_take(struct model *m, const struct unmapped_pool_chunk *c, unsigned long index,
		       unsigned order)
{
	unsigned slot = slot_of(c);
	unsigned long nr = 1UL << order;

	if (index % nr || index + nr > PPC ||
	    index / UNMAPPED_POOL_BLOCK_PAGES != (index + nr - 1) / UNMAPPED_POOL_BLOCK_PAGES) {
		/* Not accounted: outside the chunk it would write outside the model. */
		model_fail(m, "chunk %u: bad range at page %lu (order %u)", slot, index, order);
		return;
	}
	if (weight(c->used_map, index, nr))
		model_fail(m, "chunk %u: page %lu handed out again (%lu of %lu in use)", slot,
			   index, weight(c->used_map, index, nr), nr);
	m->blocks[(size_t)slot * BLOCKS + index / UNMAPPED_POOL_BLOCK_PAGES] += nr;
	m->used[slot] += nr;
	m->total += nr;
	model_touch(m, slot);
}

static void model_put(struct model *m, const struct unmapped_pool_chunk *c, unsigned long index,
		      unsigned order)
{
	unsigned slot = slot_of(c);
	unsigned long nr = 1UL << order;

	if (weight(c->used_map, index, nr) != nr)
		model_fail(m, "chunk %u: page %lu freed while free (%lu of %lu in use)", slot,
			   index, weight(c->used_map, index, nr), nr);
	m->blocks[(size_t)slot * BLOCKS + index / UNMAPPED_POOL_BLOCK_PAGES] -= nr;
	m->used[slot] -= nr;
	m->total -= nr;
	model_touch(m, slot);
}

/* Lowest free naturally aligned range of a chunk, or -1. */
static long chunk_first_fit(struct unmapped_pool_chunk *c, unsigned order)
{
	unsigned long nr = 1UL << order;

	if (c->used + nr > PPC)
		return -1;
	for (unsigned b = 0; b < BLOCKS; b++) {
		unsigned long start = (unsigned long)b * UNMAPPED_POOL_BLOCK_PAGES;
		unsigned long end = start + UNMAPPED_POOL_BLOCK_PAGES, index;

		if (c->block_used[b] + nr > UNMAPPED_POOL_BLOCK_PAGES)
			continue;
		index = bitmap_find_next_zero_area(c->used_map, end, start, nr, nr - 1);
		if (index < end)
			return index;
	}
	return -1;
}

/*
 * The 2023 RFC's placement: the lowest-address free range of the pool,
 * with no notion of owners.  ff_from[order] skips the slots known to have
 * no room for the order; frees and lends below it move it down.
 */
static struct unmapped_pool_chunk *first_fit(struct host *h, unsigned order,
					     unsigned long *ret_index)
{
	unsigned s;

	for (s = h->ff_from[order]; s < h->n_slots; s++) {
		long index = h->slots[s] ? chunk_first_fit(h->slots[s], order) : -1;

		if (index >= 0) {
			*ret_index = index;
			break;
		}
	}
	h->ff_from[order] = s;
	return s < h->n_slots ? h->slots[s] : NULL;
}

static void first_fit_room(struct host *h, unsigned slot)
{
	for (unsigned o = 0; o < ORDERS; o++)
		if (h->ff_from[o] > slot)
			h->ff_from[o] = slot;
}

/*
 * The placement state of an owner cookie, zeroed with the id set as
 * unmapped_pool_owner_init() leaves it when first asked for; NULL when
 * out of memory, which host_alloc() reports as -ENOBUFS, not as a full pool.
 */
static struct unmapped_pool_owner *host_owner(struct host *h, unsigned long cookie)
{
	if (cookie >= h->n_owners) {
		unsigned long n = cookie + 1 > 2 * h->n_owners ? cookie + 1 : 2 * h->n_owners;
		struct unmapped_pool_owner *o = realloc(h->owners, n * sizeof(*o));

		if (!o)
			return NULL;
		for (unsigned long i = h->n_owners; i < n; i++)
			o[i] = (struct unmapped_pool_owner){ .id = i };
		h->owners = o;
		h->n_owners = n;
	}
	return &h->owners[cookie];
}

int host_alloc(struct host *h, unsigned long cookie, unsigned order, bool pinned,
	       struct alloc_rec *ret)
{
	struct unmapped_pool *pool = &h->pool;
	struct unmapped_pool_owner *owner = NULL;
	struct unmapped_pool_chunk *chunk;
	unsigned long index = 0;

	/* With no chunk lent the kernel's static key is off: no placement, no event. */
	if (!pool->nr_chunks)
		return -ENOMEM;
	/* Without owner affinity every request is the kernel's ownerless one. */
	if (h->placement == PLACE_OWNER_AFFINE) {
		owner = host_owner(h, cookie);
		if (!owner)
			return -ENOBUFS;
	}
	if (h->placement == PLACE_FIRST_FIT)
		chunk = first_fit(h, order, &index);
	else
		chunk = unmapped_pool_place(pool, owner, order, &index);
	if (chunk) {
		if (h->model)
			model_take(h->model, chunk, index, order);
		h->used_chunks += !chunk->used;
	}
	h->event |= unmapped_pool_account(pool, chunk, index, order, owner);
	if (!chunk)
		return -ENOMEM;
	*ret = (struct alloc_rec){
		.index = index, .slot = slot_of(chunk), .order = order, .pinned = pinned,
	};
	h->pinned[ret->slot] += pinned << order;
	return 0;
}

void host_put(struct host *h, const struct alloc_rec *rec)
{
	struct unmapped_pool_chunk *chunk = h->slots[rec->slot];

	if (h->model)
		model_put(h->model, chunk, rec->index, rec->order);
	unmapped_pool_chunk_put(&h->pool, chunk, rec->index, rec->order);
	h->used_chunks -= !chunk->used;
	h->pinned[rec->slot] -= rec->pinned << rec->order;
	if (h->placement == PLACE_FIRST_FIT)
		first_fit_room(h, rec->slot);
}

static uint64_t hugetlb_free(const struct host *h)
{
	return h->n_slots - h->hugetlb_used - h->pool.nr_chunks;
}

int host_lend(struct host *h)
{
	struct unmapped_pool_chunk *chunk;
	unsigned s = 0;

	if (!hugetlb_free(h))
		return -ENOMEM;
	while (h->slots[s])
		s++;
	chunk = calloc(1, sizeof(*chunk));
	if (chunk)
		chunk->used_map = calloc(BITS_TO_LONGS(PPC), sizeof(unsigned long));
	if (!chunk || !chunk->used_map) {
		chunk_free(chunk);
		return -ENOMEM;
	}
	chunk->pfn = (unsigned long)s << UNMAPPED_POOL_CHUNK_ORDER;
	unmapped_pool_chunk_init(chunk);
	h->slots[s] = chunk;
	unmapped_pool_add_chunk(&h->pool, chunk);
	first_fit_room(h, s);
	h->event |= unmapped_pool_note_level(&h->pool, false);
	return 0;
}

int host_reclaim(struct host *h)
{
	struct unmapped_pool_chunk *chunk;

	/* The same answer as the kernel's walk, without it: the daemon retries often. */
	if (h->used_chunks == h->pool.nr_chunks)
		return -EBUSY;
	chunk = unmapped_pool_remove_empty(&h->pool);
	if (!chunk)
		return -EBUSY;
	if (h->model && h->model->used[slot_of(chunk)])
		model_fail(h->model, "chunk %u: given back with %lu pages in use",
			   slot_of(chunk), h->model->used[slot_of(chunk)]);
	h->pool.reclaims++;
	h->slots[slot_of(chunk)] = NULL;
	chunk_free(chunk);
	h->event |= unmapped_pool_note_level(&h->pool, false);
	return 0;
}

void host_on_move(struct host *h, host_moved_fn fn, void *data)
{
	h->moved_fn = fn;
	h->moved_data = data;
}

static bool chunk_pinned(const struct unmapped_pool_chunk *chunk, void *data)
{
	const struct host *h = data;

	return h->pinned[slot_of(chunk)] != 0;
}

/*
 * The pages of a planned move have arrived: the plan took the destination
 * pages, the source pages are freed as their last user's free would.
 * The model follows page by page.
 */
static void move_done(struct host *h, const struct unmapped_pool_compact_move *mv)
{
	unsigned long base = (unsigned long)mv->src_block * UNMAPPED_POOL_BLOCK_PAGES;
	unsigned long dst = (unsigned long)mv->dst_block * UNMAPPED_POOL_BLOCK_PAGES;
	struct model *m = h->model;

	for (unsigned long i = 0; i < UNMAPPED_POOL_BLOCK_PAGES; i++) {
		if (!test_bit(base + i, mv->src->used_map))
			continue;
		if (m) {
			model_put(m, mv->src, base + i, 0);
			/* The plan took the page already: account it, nothing to check. */
			m->blocks[(size_t)slot_of(mv->dst) * BLOCKS + mv->dst_block]++;
			m->used[slot_of(mv->dst)]++;
			m->total++;
			model_touch(m, slot_of(mv->dst));
			if (!test_bit(dst + i, mv->dst->used_map))
				model_fail(m, "chunk %u: page %lu moved to a page not taken",
					   slot_of(mv->dst), dst + i);
		}
		unmapped_pool_chunk_put(&h->pool, mv->src, base + i, 0);
	}
	h->used_chunks -= !mv->src->used;
}

int host_compact(struct host *h, uint64_t target, uint64_t max_pages, struct host_compact *ret)
{
	struct unmapped_pool_compact cc = {
		.target = target, .max_pages = max_pages,
		.pinned = chunk_pinned, .data = h,
	};
	unsigned want = (unsigned)(target < h->pool.nr_chunks ? target : h->pool.nr_chunks) * BLOCKS;

	if (want > h->max_moves) {
		struct unmapped_pool_compact_move *m = realloc(h->moves, want * sizeof(*m));
		struct host_move *hm = m ? realloc(h->moved, want * sizeof(*hm)) : NULL;

		if (m)
			h->moves = m;
		if (!hm)
			return -ENOMEM;
		h->moved = hm;
		h->max_moves = want;
	}
	cc.moves = h->moves;
	cc.max_moves = h->max_moves;
	unmapped_pool_compact_plan(&h->pool, &cc);
	for (unsigned i = 0; i < cc.nr_moves; i++) {
		move_done(h, &cc.moves[i]);
		h->moved[i] = (struct host_move){
			.src_slot = slot_of(cc.moves[i].src), .src_block = cc.moves[i].src_block,
			.dst_slot = slot_of(cc.moves[i].dst), .dst_block = cc.moves[i].dst_block,
		};
	}
	if (cc.nr_moves && h->moved_fn)
		h->moved_fn(h->moved_data, h->moved, cc.nr_moves);
	*ret = (struct host_compact){
		.moves = cc.nr_moves, .pages_moved = cc.pages_moved, .emptied = cc.emptied,
		.stuck_pinned = cc.stuck_pinned, .stuck_no_room = cc.stuck_no_room,
		.stuck_budget = cc.stuck_budget,
	};
	return 0;
}

int host_hugetlb_take(struct host *h, unsigned pages)
{
	if (hugetlb_free(h) < pages)
		return -ENOMEM;
	h->hugetlb_used += pages;
	return 0;
}

void host_hugetlb_put(struct host *h, unsigned pages)
{
	h->hugetlb_used -= pages;
}

void host_stats(const struct host *h, struct host_stats *ret)
{
	const struct unmapped_pool *pool = &h->pool;

	*ret = (struct host_stats){
		.chunks = pool->nr_chunks,
		.used_pages = pool->used_pages,
		.free_pages = unmapped_pool_nr_free(pool),
		.used_chunks = h->used_chunks,
		.empty_chunks = pool->nr_chunks - h->used_chunks,
		.stranded = h->used_chunks - (pool->used_pages + PPC - 1) / PPC,
		.hugetlb_free = hugetlb_free(h),
		.hugetlb_total = h->n_slots - pool->nr_chunks,
		.low_watermark = pool->low_watermark,
		.lends = pool->lends,
		.reclaims = pool->reclaims,
	};
}

/* As unmapped_pool_set_watermark(): a pool already below it raises an event. */
void host_set_watermark(struct host *h, uint64_t pages)
{
	unmapped_pool_watermark_reset(&h->pool, pages);
	h->event |= unmapped_pool_note_level(&h->pool, false);
}

bool host_event_pending(const struct host *h)
{
	return h->event;
}

bool host_snapshot_ack(struct host *h)
{
	bool failed = h->pool.alloc_failures != h->seen_failures;

	h->seen_failures = h->pool.alloc_failures;
	h->event = false;
	return failed;
}

static void verify_chunk(struct model *m, unsigned slot, struct unmapped_pool_chunk *c)
{
	unsigned free_blocks = 0;

	if (!c) {
		if (m->used[slot])
			model_fail(m, "chunk %u: gone with %lu pages in use", slot, m->used[slot]);
		return;
	}
	if (c->used != m->used[slot] || weight(c->used_map, 0, PPC) != c->used)
		model_fail(m, "chunk %u: %lu pages used, model %lu, bitmap %lu", slot, c->used,
			   m->used[slot], weight(c->used_map, 0, PPC));
	for (unsigned b = 0; b < BLOCKS; b++) {
		unsigned long bits = weight(c->used_map, (unsigned long)b * UNMAPPED_POOL_BLOCK_PAGES,
					    UNMAPPED_POOL_BLOCK_PAGES);

		free_blocks += !bits;
		if (bits != c->block_used[b] || bits != m->blocks[(size_t)slot * BLOCKS + b])
			model_fail(m, "chunk %u: block %u has %u pages used, model %u, bitmap %lu",
				   slot, b, c->block_used[b], m->blocks[(size_t)slot * BLOCKS + b], bits);
		if (test_bit(b, c->free_block_map) != !bits ||
		    test_bit(b, c->full_map) != (bits == UNMAPPED_POOL_BLOCK_PAGES) ||
		    test_bit(b, c->shared_map) !=
			    (c->block_owner[b] == UNMAPPED_POOL_OWNER_SHARED) ||
		    !bits != !c->block_owner[b])
			model_fail(m, "chunk %u: block %u with %lu pages used and owner %#lx is "
				   "free %d, full %d, shared %d in the block maps", slot, b, bits,
				   c->block_owner[b], test_bit(b, c->free_block_map),
				   test_bit(b, c->full_map), test_bit(b, c->shared_map));
	}
	if (free_blocks != c->free_blocks)
		model_fail(m, "chunk %u: %u free blocks, counted %u", slot, c->free_blocks,
			   free_blocks);
}

int host_verify(struct host *h, char **ret_error)
{
	struct model *m = h->model;
	struct unmapped_pool_chunk *iter;
	uint64_t listed = 0, lent = 0;

	for (size_t i = 0; i < m->n_touched; i++) {
		verify_chunk(m, m->touched[i], h->slots[m->touched[i]]);
		m->is_touched[m->touched[i]] = false;
	}
	m->n_touched = 0;
	list_for_each_entry(iter, &h->pool.chunks, list)
		listed++;
	for (unsigned s = 0; s < h->n_slots; s++)
		lent += !!h->slots[s];
	if (h->pool.used_pages != m->total || listed != h->pool.nr_chunks || lent != listed)
		model_fail(m, "pool: %lu pages used (model %lu), %lu chunks (listed %lu, lent %lu)",
			   h->pool.used_pages, m->total, h->pool.nr_chunks, listed, lent);
	if (!m->error)
		return 0;
	*ret_error = m->error;
	m->error = NULL;
	return -EBADMSG;
}

/* Plant one fault through plant(), expect host_verify() to report it. */
static int expect_caught(struct host *h, void (*plant)(struct host *, struct alloc_rec *),
			 struct alloc_rec *rec, const char *what, char **ret_error)
{
	char *error = NULL;
	int r;

	plant(h, rec);
	r = host_verify(h, &error);
	free(error);
	if (r == 0 && asprintf(ret_error, "the model missed %s", what) < 0)
		*ret_error = NULL;
	return r == 0 ? -EBADMSG : 0;
}

static void plant_counter(struct host *h, struct alloc_rec *rec)
{
	h->slots[rec->slot]->block_used[rec->index / UNMAPPED_POOL_BLOCK_PAGES]--;
	model_touch(h->model, rec->slot);
}

/* The kernel's accounting of a second take of the same pages, placement bypassed. */
static void plant_double_take(struct host *h, struct alloc_rec *rec)
{
	struct unmapped_pool_chunk *c = h->slots[rec->slot];

	model_take(h->model, c, rec->index, rec->order);
	unmapped_pool_chunk_take(&h->pool, c, rec->index, rec->order, NULL);
}

int host_selftest(char **ret_error)
{
	struct alloc_rec rec;
	struct host *h;
	int r = host_new(1, PLACE_OWNER_AFFINE, true, &h);

	*ret_error = NULL;
	if (r < 0)
		return r;
	r = host_lend(h);
	if (r == 0)
		r = host_alloc(h, 1, UNMAPPED_POOL_BLOCK_ORDER, false, &rec);
	if (r == 0)
		r = host_verify(h, ret_error);
	if (r == 0)
		r = expect_caught(h, plant_counter, &rec, "a wrong block counter", ret_error);
	if (r == 0) {
		h->slots[rec.slot]->block_used[rec.index / UNMAPPED_POOL_BLOCK_PAGES]++;
		r = host_verify(h, ret_error);
	}
	if (r == 0)
		r = expect_caught(h, plant_double_take, &rec, "a page handed out twice", ret_error);
	host_free(h);
	return r;
}
