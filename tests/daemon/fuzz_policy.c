// SPDX-License-Identifier: GPL-2.0
/* libFuzzer target: the policy parser must refuse or accept any input without crashing or leaking. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

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
		/* An accepted policy must satisfy the invariants the planner relies on. */
		if (p->defaults.headroom_low > p->defaults.headroom_high ||
		    p->defaults.headroom_high > p->defaults.max_pool_chunks)
			abort();
		for (size_t i = 0; i < p->n_overrides; i++)
			if (p->overrides[i].p.headroom_low > p->overrides[i].p.headroom_high)
				abort();
		policy_free(p);
	} else if (!err) {
		abort();
	}
	free(err);
	free(text);
	return 0;
}
