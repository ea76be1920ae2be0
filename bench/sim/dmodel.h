/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gigapoold as the simulator runs it: the daemon's own policy parser and
 * pure planner (daemon/policy.c, daemon/planner.c, linked unchanged),
 * driven the way its manager drives them: a cycle on every pool event,
 * on the safety timer, on retries after a shortfall, and on Reserve and
 * Release.  The daemon is taken to answer an event before the next GiB a
 * VM faults; the kernel side is struct host.
 */
#ifndef SIM_DMODEL_H
#define SIM_DMODEL_H

#include <stdint.h>

#include "host.h"

struct dmodel_stats {
	uint64_t cycles;
	uint64_t lend_requested, lent;
	uint64_t reclaim_requested, reclaimed;
	uint64_t reclaim_short_cycles;	/* cycles whose reclaims found too few empty chunks */
	uint64_t event_storms;		/* polls cut off after too many cycles */
};

struct dmodel;

/* The policy file is parsed with policy_parse(); errors come back in ret_error. */
int dmodel_new(const char *policy_path, struct host *h, struct dmodel **ret, char **ret_error);
void dmodel_free(struct dmodel *d);

/* Run the timer and retry cycles due up to now_us, in order. */
int dmodel_advance(struct dmodel *d, uint64_t now_us);
/* Run cycles while the kernel reports an event, as poll() would wake the daemon. */
int dmodel_poll(struct dmodel *d, uint64_t now_us);

/* gigapoolctl reserve / release: the reservation changes, then a cycle runs. */
int dmodel_reserve(struct dmodel *d, const char *owner, uint64_t bytes, uint64_t now_us);
int dmodel_release(struct dmodel *d, const char *owner, uint64_t now_us);

/* The chunks the policy keeps free at most with no reservation. */
uint64_t dmodel_headroom_high(const struct dmodel *d);
/* The time after which the policy would have given back any surplus. */
uint64_t dmodel_settle_us(const struct dmodel *d);
void dmodel_stats(const struct dmodel *d, struct dmodel_stats *ret);

#endif
