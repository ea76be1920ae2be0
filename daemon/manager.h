/* SPDX-License-Identifier: GPL-2.0 */
#ifndef GIGAPOOL_MANAGER_H
#define GIGAPOOL_MANAGER_H

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "cycle.h"
#include "planner.h"
#include "policy.h"
#include "protocol.h"
#include "reservations.h"

struct manager_options {
	const char *policy_path;
	const char *socket_path;
	const char *state_dir;
	const char *sysfs_root;
	bool dry_run;
};

/* What the daemon remembers about a node between cycles. */
struct node_hist {
	uint64_t last_lend_usec;
	uint64_t watermark;
	bool watermark_set;
	uint64_t lent, reclaimed, failures;
	char action[160];
	uint64_t action_time;
	char failure[160];
	uint64_t failure_time;
	uint64_t fail_requested, fail_achieved;
	int fail_error;
	/* The last cycle: requested and achieved per direction. */
	uint64_t lend_req, lend_done, reclaim_req, reclaim_done;
	/* The last cycle's compaction: chunks asked to empty, chunks emptied. */
	uint64_t compact_req, compact_done;
	/*
	 * Compactions since start (ioctls that ran), what they moved and
	 * emptied, and the pages in use of the chunks they left full, by why.
	 */
	uint64_t compactions, compact_pages_moved, compact_chunks_emptied;
	uint64_t compact_pinned, compact_no_room, compact_over_budget, compact_busy;
	/*
	 * The snapshot acknowledged a failed allocation on a node the cycle
	 * left unplanned while it was resizing: the next cycle still acts on it.
	 */
	bool alloc_failed_pending;
	/* The node's fallbacks counter when a cycle last planned the node. */
	uint64_t fallbacks_seen;
};

/* Public so that methods.c can answer from it, as systemd's oomd-manager-bus.c does. */
struct manager {
	struct manager_options opt;
	struct policy *policy;
	struct backend *backend;
	sd_event *event;
	sd_event_source *pool_io, *timer, *retry, *more;
	sd_event_source *batch_io;	/* batch_fd: the worker is done */
	int batch_fd;
	struct batch *batch;		/* the moves under way on the worker, or NULL */
	const char *cycle_wanted;	/* why a cycle was asked for during the batch */
	struct call *waiting;		/* calls answered once a cycle is done */
	bool stopping;			/* SIGTERM came during a batch */
	struct server *server;
	int lock_fd;			/* flock()ed lock file of the state directory */
	bool ready;
	struct resv_set resv;
	struct system_state state;	/* the last snapshot */
	struct node_hist *hist;		/* indexed by node id */
	struct cycle_sched sched;
	uint64_t cycles;
	char last_cycle[160];
	struct service service;		/* io.gigapool.Pool, served by server */
};

/*
 * Takes ownership of policy.  On failure *ret_error, when set, says what
 * the operator must fix (the caller frees it); -EBUSY means another
 * daemon holds the state directory.
 */
int manager_new(const struct manager_options *o, struct policy *policy, struct manager **ret,
		char **ret_error);
int manager_run(struct manager *m);
void manager_free(struct manager *m);

/*
 * A cycle: snapshot, plan, moves, read-back; why (a string literal) is
 * logged.  True when it is done on return; false when its moves run on
 * the worker, or a batch under way puts it off until that is done.
 */
bool manager_run_cycle(struct manager *m, const char *why);
/* Answer c (struct call) once the cycle last asked for is done. */
void manager_wait_cycle(struct manager *m, struct call *c);
/*
 * What a cycle on snapshot s would do: planner_plan(), then
 * planner_compact() when manager_can_compact().
 */
int manager_plan(const struct manager *m, const struct system_state *s, struct plan *ret);
/* The kernel can compact the pool and the policy lets the daemon ask it to. */
bool manager_can_compact(const struct manager *m);
uint64_t manager_now_usec(const struct manager *m);
/* Whether the daemon moves chunks on node: online, pool present, not excluded. */
bool manager_node_managed(const struct manager *m, unsigned node);
uint64_t manager_reserved_bytes(const struct manager *m, unsigned node, enum resv_kind kind);
/*
 * What node still lacks for its reservations of one kind, in chunks (free
 * pool chunks for confidential ones, free 1 GiB pages for ordinary ones);
 * 0 when they are satisfied.
 */
uint64_t manager_node_pending(const struct manager *m, unsigned node, enum resv_kind kind);

#endif
