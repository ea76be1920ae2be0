// SPDX-License-Identifier: GPL-2.0
/* libFuzzer target: the policy parser must refuse or accept any input without crashing or leaking. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

static void check_node(const struct node_policy *pol)
{
	static const uint64_t node_pages[] = { 0, 1, 8, 1536, 1ULL << 20 };
	struct node_policy r;

	for (size_t i = 0; i < sizeof(node_pages) / sizeof(node_pages[0]); i++) {
		node_policy_resolve(pol, node_pages[i], &r);
		if (r.headroom_low > r.headroom_high || r.headroom_high > r.max_pool_chunks)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct policy *p = NULL;
	char *err = NULL;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (policy_parse(text, size, "fuzz.json", &p, &err) == 0) {
		/*
		 * An accepted policy must satisfy the invariants the planner
		 * relies on, on nodes of any size once its shares are resolved.
		 */
		check_node(&p->defaults);
		for (size_t i = 0; i < p->n_overrides; i++)
			check_node(&p->overrides[i].p);
		policy_free(p);
	} else if (!err) {
		abort();
	}
	free(err);
	free(text);
	return 0;
}
