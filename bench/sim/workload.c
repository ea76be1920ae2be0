// SPDX-License-Identifier: GPL-2.0
/*
 * VM sizes and lifetimes from a published public-cloud distribution.
 *
 * Source: the Azure Public Dataset V2 (Microsoft Azure VM workload, 2019,
 * github.com/Azure/AzurePublicDataset, AzurePublicDatasetV2.md), whose
 * analysis notebook "analysis/Azure 2019 Public Dataset V2 - Trace
 * Analysis.ipynb" plots the trace against the whole Azure 2019 workload
 * read from azure2019_data/memory.txt and azure2019_data/lifetime.txt.
 * Those two series are transcribed below from the copies in
 * github.com/apavlen/AzurePublicDataset (data/memory.txt and
 * data/lifetime.txt, commit a538c767), a fork that carries them.  The
 * dataset asks users to cite E. Cortez, A. Bonde, A. Muzio, M. Russinovich,
 * M. Fontoura, R. Bianchini, "Resource Central: Understanding and
 * Predicting Workloads for Improved Resource Management in Large Cloud
 * Platforms", SOSP 2017.
 *
 * This is a transcribed summary (bucket shares and a CDF sampled at a
 * subset of its points), not the raw trace; what lies between the
 * published points is an assumption and says so below.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "heap.h"
#include "workload.h"

const char workload_citation[] =
	"Azure Public Dataset V2 (Azure VM workload 2019; github.com/Azure/AzurePublicDataset), "
	"memory buckets and lifetime CDF of the whole Azure 2019 workload as plotted by its "
	"V2 trace-analysis notebook; cite: Cortez et al., \"Resource Central\", SOSP 2017";

/*
 * Share of VMs per memory bucket (GB), Azure 2019.  The buckets are
 * published as ranges; sizes inside one are drawn log-uniformly (an
 * assumption).  The lowest bucket starts at 0.5 GB, the smallest common VM
 * size, and the open top bucket ">64" is taken to end at 256 GB: both
 * bounds are ours, not the dataset's.
 */
static const struct {
	double lo, hi, percent;
} memory_buckets[] = {
	{ 0.5, 2, 12.1 },
	{ 2, 4, 16.5 },
	{ 4, 8, 32.8 },
	{ 8, 32, 28.7 },
	{ 32, 64, 6.4 },
	{ 64, 256, 3.6 },
};

/*
 * CDF of VM lifetime in hours, Azure 2019, at a subset of the published
 * points (the series has one every 0.1 h up to 100 h).  The trace measures
 * lifetimes in 5-minute steps with 5 minutes as the least, hence the first
 * point; it covers 30 days, and the 8.2 % of VMs living beyond 100 h are
 * spread up to 720 h (our assumption).  Between points the CDF is linear.
 */
static const struct {
	double hours, percent;
} lifetime_cdf[] = {
	{ 5.0 / 60, 0 },
	{ 0.1, 20.9 },
	{ 0.2, 31.1 },
	{ 0.3, 44.1 },
	{ 0.5, 51.8 },
	{ 1, 63.6 },
	{ 2, 71.7 },
	{ 3, 75.5 },
	{ 5, 79.1 },
	{ 10, 83.3 },
	{ 24, 89.1 },
	{ 48, 90.7 },
	{ 72, 91.3 },
	{ 100, 91.8 },
	{ 720, 100 },
};

#define N_BUCKETS (sizeof(memory_buckets) / sizeof(memory_buckets[0]))
#define N_LIFETIME (sizeof(lifetime_cdf) / sizeof(lifetime_cdf[0]))

/*
 * When a pool owner touches its memory: a guest touches a quarter while it
 * boots and the rest as it runs.  The times are a modelling assumption
 * (no public trace has them); they make owners fault memory interleaved,
 * which is what owner affinity is about.
 */
const uint64_t touch_offset_us[TOUCH_STEPS] = {
	0, 5 * 60000000ULL, 30 * 60000000ULL, 2 * USEC_PER_HOUR,
};

/* Small owners: 16 KiB to 16 MiB, log-uniform (an assumption). */
#define SECRET_MIN_PAGES	4.0
#define SECRET_MAX_PAGES	4096.0

/* xoshiro256** seeded through splitmix64: fast, and the same everywhere. */
struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* Uniform in [0, 1). */
static double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static double log_uniform(struct rng *r, double lo, double hi)
{
	return lo * pow(hi / lo, rng_unit(r));
}

static uint32_t draw_vm_pages(struct rng *r)
{
	double u = rng_unit(r) * 100;
	uint64_t blocks;
	size_t i = 0;

	while (i < N_BUCKETS - 1 && u >= memory_buckets[i].percent)
		u -= memory_buckets[i++].percent;
	blocks = (uint64_t)ceil(log_uniform(r, memory_buckets[i].lo, memory_buckets[i].hi) *
				PAGES_PER_GIB / PAGES_PER_BLOCK);
	return (uint32_t)(blocks * PAGES_PER_BLOCK);
}

/* Inverse of the piecewise linear lifetime CDF. */
static uint64_t draw_lifetime_us(struct rng *r)
{
	double p = rng_unit(r) * 100, p0, p1, h0, h1;
	size_t i = 1;

	while (i < N_LIFETIME - 1 && p > lifetime_cdf[i].percent)
		i++;
	p0 = lifetime_cdf[i - 1].percent;
	p1 = lifetime_cdf[i].percent;
	h0 = lifetime_cdf[i - 1].hours;
	h1 = lifetime_cdf[i].hours;
	return (uint64_t)((h0 + (h1 - h0) * (p - p0) / (p1 - p0)) * USEC_PER_HOUR);
}

static double mean_vm_gib(void)
{
	double sum = 0;

	for (size_t i = 0; i < N_BUCKETS; i++) {
		double lo = memory_buckets[i].lo, hi = memory_buckets[i].hi;

		sum += memory_buckets[i].percent / 100 * (hi - lo) / log(hi / lo);
	}
	return sum;
}

static double mean_life_hours(void)
{
	double sum = 0;

	for (size_t i = 1; i < N_LIFETIME; i++)
		sum += (lifetime_cdf[i].percent - lifetime_cdf[i - 1].percent) / 100 *
		       (lifetime_cdf[i].hours + lifetime_cdf[i - 1].hours) / 2;
	return sum;
}

static int append(struct workload *w, size_t *cap, const struct entity *e)
{
	if (array_room(&w->ents, cap, w->n, sizeof(*w->ents), 4096) < 0)
		return -ENOMEM;
	w->ents[w->n++] = *e;
	return 0;
}

/*
 * The scheduler admits a VM when the whole GiB it may use, added to those
 * of the VMs it admitted earlier and that are still alive, fit the host:
 * it sees memory, not how the host splits it between hugetlb and the pool.
 */
static bool admit(struct heap *live, uint64_t now, uint64_t *committed, unsigned host_gib,
		  uint32_t gib)
{
	struct heap_item it;

	while (live->n && live->items[0].key <= now) {
		heap_pop(live, &it);
		*committed -= it.value;
	}
	return *committed + gib <= host_gib;
}

int workload_generate(const struct workload_params *p, struct workload *ret)
{
	struct heap live = { 0 };
	struct rng rng;
	uint64_t now = 0, committed = 0;
	size_t cap = 0;
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	rng_seed(&rng, p->seed);
	ret->mean_vm_gib = mean_vm_gib();
	ret->mean_life_h = mean_life_hours();
	ret->arrivals_per_hour = p->load * p->host_gib / (ret->mean_vm_gib * ret->mean_life_h);
	while (r == 0 && 2 * ret->vms < p->vm_events) {
		struct entity e = { 0 };

		now += (uint64_t)(-log(1 - rng_unit(&rng)) / ret->arrivals_per_hour * USEC_PER_HOUR);
		e.arrive_us = now;
		e.kind = rng_unit(&rng) < p->confidential_share ? ENT_CONFIDENTIAL : ENT_ORDINARY;
		e.pages = draw_vm_pages(&rng);
		e.depart_us = now + draw_lifetime_us(&rng);
		if (!admit(&live, now, &committed, p->host_gib, entity_gib(&e))) {
			ret->rejected++;
			continue;
		}
		committed += entity_gib(&e);
		r = heap_push(&live, e.depart_us, entity_gib(&e));
		if (r == 0)
			r = append(ret, &cap, &e);
		ret->vms++;
		ret->confidential += e.kind == ENT_CONFIDENTIAL;
		if (r == 0 && rng_unit(&rng) < p->secrets_per_vm) {
			struct entity s = {
				.arrive_us = now, .kind = ENT_SECRET,
				.pages = (uint32_t)log_uniform(&rng, SECRET_MIN_PAGES, SECRET_MAX_PAGES),
			};

			s.depart_us = now + draw_lifetime_us(&rng);
			r = append(ret, &cap, &s);
			ret->secrets++;
		}
	}
	heap_done(&live);
	if (r < 0)
		workload_done(ret);
	return r;
}

void workload_done(struct workload *w)
{
	free(w->ents);
	memset(w, 0, sizeof(*w));
}
