// SPDX-License-Identifier: GPL-2.0
/*
 * Prometheus text exposition of a Status reply.  Both `gigapoolctl
 * metrics` and the daemon's node_exporter textfile start from the same
 * Status object, so the two can never disagree.
 */
#include <stdio.h>
#include <stdlib.h>

#include "metrics.h"

struct metric {
	const char *name, *key, *type, *help;
};

static const struct metric node_metrics[] = {
	{ "gigapool_hugetlb_1g_pages", "hugetlb_total", "gauge", "1 GiB hugetlb pages of the node" },
	{ "gigapool_hugetlb_1g_free_pages", "hugetlb_free", "gauge", "Free 1 GiB hugetlb pages of the node" },
	{ "gigapool_pool_chunks", "pool_chunks", "gauge", "Chunks lent to the unmapped pool" },
	{ "gigapool_pool_free_pages", "pool_free_pages", "gauge", "Unmapped pool pages not in use" },
	{ "gigapool_pool_used_pages", "pool_used_pages", "gauge", "Unmapped pool pages in use" },
	{ "gigapool_pool_empty_chunks", "pool_empty_chunks", "gauge", "Pool chunks with no page in use (reclaimable)" },
	{ "gigapool_reserved_bytes", "reserved_bytes", "gauge", "Bytes of free pool chunks held by confidential-VM reservations" },
	{ "gigapool_ordinary_reserved_bytes", "ordinary_reserved_bytes", "gauge", "Bytes of free 1 GiB hugetlb pages held by ordinary-VM reservations" },
	{ "gigapool_lent_chunks_total", "lent_chunks", "counter", "Chunks this daemon lent to the pool" },
	{ "gigapool_reclaimed_chunks_total", "reclaimed_chunks", "counter", "Chunks this daemon reclaimed" },
	{ "gigapool_move_failures_total", "failures", "counter", "Moves that fell short of the request" },
	{ "gigapool_compactions_total", "compactions", "counter", "Compactions this daemon asked the kernel for" },
	{ "gigapool_compact_pages_moved_total", "compact_pages_moved", "counter", "Pool pages those compactions moved" },
	{ "gigapool_compact_chunks_emptied_total", "compact_chunks_emptied", "counter", "Pool chunks those compactions emptied" },
};

/*
 * Pages in use of the chunks a compaction left full, summed over the
 * compactions, by why: one metric with a reason label.
 */
static const struct {
	const char *reason, *key;
} compact_stuck[] = {
	{ "pinned", "compact_pages_pinned" },
	{ "no_room", "compact_pages_no_room" },
	{ "over_budget", "compact_pages_over_budget" },
	{ "busy", "compact_pages_busy" },
};

/* A field the reply lacks counts as 0: metrics never fail on a partial reply. */
static double number(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static int emit_header(FILE *f, const char *name, const char *type, const char *help)
{
	return fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *metrics_format(const cJSON *status)
{
	const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(status, "nodes");
	const cJSON *mode = cJSON_GetObjectItemCaseSensitive(status, "mode");
	const cJSON *hugetlb = cJSON_GetObjectItemCaseSensitive(status, "hugetlb");
	const cJSON *gmem = cJSON_GetObjectItemCaseSensitive(status, "guest_memfd");
	const cJSON *n;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	emit_header(f, "gigapool_pool_available", "gauge", "1 when the kernel has the unmapped pool");
	fprintf(f, "gigapool_pool_available %d\n",
		cJSON_IsString(mode) && mode->valuestring[0] == 'p');
	if (cJSON_IsString(gmem)) {
		emit_header(f, "gigapool_guest_memfd_mode", "gauge",
			    "The kernel's guest_memfd switch: 1 for the current mode");
		fprintf(f, "gigapool_guest_memfd_mode{mode=\"%s\"} 1\n", gmem->valuestring);
	}
	emit_header(f, "gigapool_compaction_supported", "gauge",
		    "1 when the kernel can compact the pool (UNMAPPED_POOL_FEAT_COMPACT)");
	fprintf(f, "gigapool_compaction_supported %d\n",
		cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(status, "compaction")));
	emit_header(f, "gigapool_reservations", "gauge", "Reservations held");
	fprintf(f, "gigapool_reservations %.0f\n", number(status, "reservations"));
	if (cJSON_IsObject(hugetlb)) {
		emit_header(f, "gigapool_hugetlb_1g_reserved_pages", "gauge",
			    "1 GiB hugetlb pages promised to mappings (not free to lend)");
		fprintf(f, "gigapool_hugetlb_1g_reserved_pages %.0f\n", number(hugetlb, "reserved"));
	}
	for (size_t i = 0; i < sizeof(node_metrics) / sizeof(node_metrics[0]); i++) {
		const struct metric *m = &node_metrics[i];

		emit_header(f, m->name, m->type, m->help);
		cJSON_ArrayForEach(n, nodes)
			fprintf(f, "%s{node=\"%.0f\"} %.0f\n", m->name, number(n, "node"),
				number(n, m->key));
	}
	emit_header(f, "gigapool_compact_stuck_pages_total", "counter",
		    "Pages in use of chunks compactions left full, by reason, summed over compactions");
	cJSON_ArrayForEach(n, nodes)
		for (size_t i = 0; i < sizeof(compact_stuck) / sizeof(compact_stuck[0]); i++)
			fprintf(f, "gigapool_compact_stuck_pages_total{node=\"%.0f\",reason=\"%s\"} "
				"%.0f\n", number(n, "node"), compact_stuck[i].reason,
				number(n, compact_stuck[i].key));
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
