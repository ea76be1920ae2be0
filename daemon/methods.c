// SPDX-License-Identifier: GPL-2.0
/*
 * The io.gigapool.Pool varlink interface: its description, its methods and
 * the JSON they answer with.  The methods read and change the manager's
 * state; the control socket (server.c) and the varlink protocol
 * (protocol.c) that carry them know nothing of it.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/unmapped_pool.h>

#include "backend.h"
#include "log.h"
#include "manager.h"
#include "methods.h"
#include "util.h"

#ifndef GIGAPOOL_VERSION
#define GIGAPOOL_VERSION "0"
#endif

static cJSON *reservation_json(const struct manager *m, const struct reservation *r)
{
	cJSON *o = resv_to_json(r);
	uint64_t pending = manager_node_pending(m, r->node, r->kind);

	if (o) {
		cJSON_AddBoolToObject(o, "satisfied", pending == 0);
		cJSON_AddNumberToObject(o, "pending_bytes", (double)(pending * m->state.chunk_size));
	}
	return o;
}

static cJSON *hist_json(const char *text, uint64_t when)
{
	cJSON *o;

	if (!text[0])
		return cJSON_CreateNull();
	o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "time", (double)when);
	cJSON_AddStringToObject(o, "text", text);
	return o;
}

static cJSON *node_json(const struct manager *m, const struct node_state *n)
{
	const struct node_hist *h = &m->hist[n->node];
	cJSON *o = cJSON_CreateObject(), *f;
	uint64_t reserved = manager_reserved_bytes(m, n->node, RESV_CONFIDENTIAL);
	uint64_t ordinary = manager_reserved_bytes(m, n->node, RESV_ORDINARY);

	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "node", n->node);
	cJSON_AddBoolToObject(o, "managed", manager_node_managed(m, n->node));
	cJSON_AddNumberToObject(o, "hugetlb_total", (double)n->hugetlb_total);
	cJSON_AddNumberToObject(o, "hugetlb_free", (double)n->hugetlb_free);
	cJSON_AddNumberToObject(o, "pool_chunks", (double)n->pool_chunks);
	cJSON_AddNumberToObject(o, "pool_free_pages", (double)n->pool_free_pages);
	cJSON_AddNumberToObject(o, "pool_used_pages", (double)n->pool_used_pages);
	cJSON_AddNumberToObject(o, "pool_empty_chunks", (double)n->pool_empty_chunks);
	cJSON_AddNumberToObject(o, "reserved_bytes", (double)reserved);
	cJSON_AddNumberToObject(o, "reserved_chunks",
				(double)planner_reserved(&m->state, m->resv.items, m->resv.n, n->node,
							 RESV_CONFIDENTIAL));
	cJSON_AddNumberToObject(o, "ordinary_reserved_bytes", (double)ordinary);
	cJSON_AddNumberToObject(o, "ordinary_reserved_pages",
				(double)planner_reserved(&m->state, m->resv.items, m->resv.n, n->node,
							 RESV_ORDINARY));
	cJSON_AddNumberToObject(o, "lent_chunks", (double)h->lent);
	cJSON_AddNumberToObject(o, "reclaimed_chunks", (double)h->reclaimed);
	cJSON_AddNumberToObject(o, "failures", (double)h->failures);
	cJSON_AddNumberToObject(o, "compactions", (double)h->compactions);
	cJSON_AddNumberToObject(o, "compact_pages_moved", (double)h->compact_pages_moved);
	cJSON_AddNumberToObject(o, "compact_chunks_emptied", (double)h->compact_chunks_emptied);
	cJSON_AddNumberToObject(o, "compact_pages_pinned", (double)h->compact_pinned);
	cJSON_AddNumberToObject(o, "compact_pages_no_room", (double)h->compact_no_room);
	cJSON_AddNumberToObject(o, "compact_pages_over_budget", (double)h->compact_over_budget);
	cJSON_AddNumberToObject(o, "compact_pages_busy", (double)h->compact_busy);
	cJSON_AddItemToObject(o, "last_action", hist_json(h->action, h->action_time));
	f = hist_json(h->failure, h->failure_time);
	if (cJSON_IsObject(f)) {
		cJSON_AddNumberToObject(f, "requested", (double)h->fail_requested);
		cJSON_AddNumberToObject(f, "achieved", (double)h->fail_achieved);
		cJSON_AddStringToObject(f, "error", strerror(h->fail_error ? -h->fail_error : EIO));
	}
	cJSON_AddItemToObject(o, "last_failure", f);
	return o;
}

cJSON *methods_status_json(const struct manager *m)
{
	cJSON *o = cJSON_CreateObject(), *nodes, *hugetlb;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "mode", m->backend->ops->mode);
	if (!m->state.pool_available)
		cJSON_AddStringToObject(o, "mode_reason", m->backend->mode_reason);
	/* As the kernel says, not as the policy asks: someone may have changed it. */
	if (m->state.guest_memfd[0])
		cJSON_AddStringToObject(o, "guest_memfd", m->state.guest_memfd);
	/* The kernel's, not the policy's: max_compact_pages_per_cycle 0 is the operator's. */
	cJSON_AddBoolToObject(o, "compaction", backend_can_compact(m->backend));
	cJSON_AddBoolToObject(o, "dry_run", m->opt.dry_run);
	cJSON_AddStringToObject(o, "version", GIGAPOOL_VERSION);
	cJSON_AddNumberToObject(o, "chunk_size", (double)m->state.chunk_size);
	cJSON_AddNumberToObject(o, "page_size", (double)m->state.page_size);
	cJSON_AddNumberToObject(o, "cycles", (double)m->cycles);
	cJSON_AddStringToObject(o, "last_cycle", m->last_cycle);
	cJSON_AddNumberToObject(o, "reservations", (double)m->resv.n);
	hugetlb = m->state.hugetlb.known ? cJSON_AddObjectToObject(o, "hugetlb") : NULL;
	if (hugetlb) {
		cJSON_AddNumberToObject(hugetlb, "total", (double)m->state.hugetlb.total);
		cJSON_AddNumberToObject(hugetlb, "free", (double)m->state.hugetlb.free);
		cJSON_AddNumberToObject(hugetlb, "reserved", (double)m->state.hugetlb.resv);
		cJSON_AddNumberToObject(hugetlb, "surplus", (double)m->state.hugetlb.surplus);
	}
	nodes = cJSON_AddArrayToObject(o, "nodes");
	for (size_t i = 0; nodes && i < m->state.n_nodes; i++)
		cJSON_AddItemToArray(nodes, node_json(m, &m->state.nodes[i]));
	return o;
}

/*
 * Status answers from the last snapshot instead of taking a new one: a
 * STATS ioctl acknowledges the pool's events, and a client asking for
 * status must not swallow a wakeup meant for the planner.
 */
static int method_status(void *userdata, const cJSON *params, const struct peer *peer,
			 struct reply *ret)
{
	(void)params, (void)peer;
	ret->params = methods_status_json(userdata);
	return ret->params ? 0 : -ENOMEM;
}

static int method_plan(void *userdata, const cJSON *params, const struct peer *peer,
		       struct reply *ret)
{
	struct manager *m = userdata;
	struct plan plan;
	cJSON *nodes;
	int r;

	(void)params, (void)peer;
	m->state.now_usec = manager_now_usec(m);
	r = manager_plan(m, &m->state, &plan);
	if (r < 0)
		return r;
	ret->params = cJSON_CreateObject();
	nodes = cJSON_AddArrayToObject(ret->params, "nodes");
	for (size_t i = 0; nodes && i < plan.n_nodes; i++) {
		const struct node_plan *np = &plan.nodes[i];
		cJSON *o = cJSON_CreateObject();

		cJSON_AddItemToArray(nodes, o);
		cJSON_AddNumberToObject(o, "node", np->node);
		cJSON_AddStringToObject(o, "reason", plan_reason_name(np->reason));
		cJSON_AddNumberToObject(o, "lend", (double)np->lend);
		cJSON_AddNumberToObject(o, "lend_cma", (double)np->lend_cma);
		cJSON_AddNumberToObject(o, "reclaim", (double)np->reclaim);
		cJSON_AddNumberToObject(o, "compact", (double)np->compact);
		cJSON_AddNumberToObject(o, "shortfall", (double)np->shortfall);
		cJSON_AddNumberToObject(o, "deferred", (double)np->deferred);
		cJSON_AddNumberToObject(o, "reserved_chunks", (double)np->reserved_chunks);
		cJSON_AddNumberToObject(o, "ordinary_reserved_pages", (double)np->ordinary_pages);
		cJSON_AddNumberToObject(o, "ordinary_shortfall", (double)np->ordinary_shortfall);
	}
	plan_done(&plan);
	return ret->params ? 0 : -ENOMEM;
}

/*
 * Run a cycle for why and answer with fn once it is done: at once when it
 * moved nothing or peer waits for no reply, else when its moves are (or,
 * when a batch was under way, those of the cycle after it).
 */
static int answer_after_cycle(struct manager *m, const struct peer *peer, const char *why,
			      answer_fn fn, const char *arg, struct reply *ret)
{
	struct call *c;

	if (manager_run_cycle(m, why) || !peer->defer)
		return fn(m, arg, ret);
	c = peer->defer(peer, fn, m, arg);
	/* Out of memory: say what is done and pending now, as a oneway caller would get. */
	if (!c)
		return fn(m, arg, ret);
	manager_wait_cycle(m, c);
	return REPLY_LATER;
}

/* Reserve's reply: the reservation, satisfied or what it still lacks. */
static int answer_reserve(void *userdata, const char *owner, struct reply *ret)
{
	struct manager *m = userdata;
	const struct reservation *r = resv_find(&m->resv, owner);
	uint64_t pending;

	/* Released before its moves were done. */
	if (!r)
		return reply_error(ret, POOL_INTERFACE ".NoSuchReservation", "owner", owner);
	/* Held until released: what the cycle could not get, later cycles keep asking for. */
	pending = manager_node_pending(m, r->node, r->kind);
	if (pending > 0)
		log_node(LOG_NOTICE, r->node, pending * pages_per_chunk(&m->state),
			 "node %d: %" PRIu64 " %s still pending for %s reservations", r->node, pending,
			 r->kind == RESV_ORDINARY ? "free 1 GiB pages" : "free pool chunks",
			 resv_kind_name(r->kind));
	ret->params = reservation_json(m, r);
	return ret->params ? 0 : -ENOMEM;
}

static bool json_uint(const cJSON *v, uint64_t max)
{
	return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= (double)max &&
	       v->valuedouble == floor(v->valuedouble);
}

static int method_reserve(void *userdata, const cJSON *params, const struct peer *peer,
			  struct reply *ret)
{
	struct manager *m = userdata;
	const cJSON *owner = cJSON_GetObjectItemCaseSensitive(params, "owner");
	const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(params, "bytes");
	const cJSON *node = cJSON_GetObjectItemCaseSensitive(params, "node");
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(params, "kind");
	struct reservation r = { .any = !node || cJSON_IsNull(node), .kind = RESV_CONFIDENTIAL };
	int e;

	if (!m->state.pool_available)
		return reply_error(ret, POOL_INTERFACE ".PoolUnavailable", "reason",
				   m->backend->mode_reason);
	if (!cJSON_IsString(owner) ||
	    !resv_owner_valid(owner->valuestring, m->policy->limits.max_owner_length))
		return reply_error(ret, ERR_INVALID_PARAMETER, "parameter", "owner");
	if (!json_uint(bytes, RESV_MAX_BYTES) || bytes->valuedouble < 1)
		return reply_error(ret, ERR_INVALID_PARAMETER, "parameter", "bytes");
	if (!r.any && (!json_uint(node, UNMAPPED_POOL_MAX_NODES - 1) ||
		       !manager_node_managed(m, (unsigned)node->valuedouble)))
		return reply_error(ret, ERR_INVALID_PARAMETER, "parameter", "node");
	if (kind && !cJSON_IsNull(kind) &&
	    (!cJSON_IsString(kind) || resv_kind_from_name(kind->valuestring, &r.kind) < 0))
		return reply_error(ret, ERR_INVALID_PARAMETER, "parameter", "kind");
	if (resv_find(&m->resv, owner->valuestring))
		return reply_error(ret, POOL_INTERFACE ".ReservationExists", "owner", owner->valuestring);
	if (m->resv.n >= m->policy->limits.max_reservations)
		return reply_error(ret, POOL_INTERFACE ".TooManyReservations", NULL, NULL);
	r.node = r.any ? planner_place(&m->state, m->policy, m->resv.items, m->resv.n, r.kind)
		       : (int)node->valuedouble;
	if (r.node < 0)
		return reply_error(ret, POOL_INTERFACE ".NoCapacity", NULL, NULL);
	r.owner = owner->valuestring;
	r.bytes = (uint64_t)bytes->valuedouble;
	r.created = time(NULL);
	e = resv_add(&m->resv, &r);
	if (e < 0)
		return e;
	e = resv_save(m->opt.state_dir, &m->resv);
	if (e < 0) {
		resv_remove(&m->resv, r.owner);
		return e;
	}
	log_node(LOG_INFO, r.node, r.bytes / m->state.page_size, "uid %u reserved %" PRIu64
		 " bytes (%s) on node %d for %s", peer->uid, r.bytes, resv_kind_name(r.kind),
		 r.node, r.owner);
	return answer_after_cycle(m, peer, "reserve", answer_reserve, r.owner, ret);
}

static int answer_release(void *userdata, const char *arg, struct reply *ret)
{
	(void)userdata, (void)arg;
	ret->params = cJSON_CreateObject();
	return ret->params ? 0 : -ENOMEM;
}

static int method_release(void *userdata, const cJSON *params, const struct peer *peer,
			  struct reply *ret)
{
	struct manager *m = userdata;
	const cJSON *owner = cJSON_GetObjectItemCaseSensitive(params, "owner");
	struct reservation *r;
	struct reservation copy;
	int e;

	if (!cJSON_IsString(owner))
		return reply_error(ret, ERR_INVALID_PARAMETER, "parameter", "owner");
	r = resv_find(&m->resv, owner->valuestring);
	if (!r)
		return reply_error(ret, POOL_INTERFACE ".NoSuchReservation", "owner", owner->valuestring);
	copy = *r;
	copy.owner = strdup(r->owner);
	if (!copy.owner)
		return -ENOMEM;
	resv_remove(&m->resv, owner->valuestring);
	e = resv_save(m->opt.state_dir, &m->resv);
	if (e < 0) {
		/* Keep memory and disk in agreement: the release did not happen. */
		resv_add(&m->resv, &copy);
		free(copy.owner);
		return e;
	}
	log_node(LOG_INFO, copy.node, copy.bytes / m->state.page_size,
		 "uid %u released %" PRIu64 " bytes on node %d of %s", peer->uid, copy.bytes,
		 copy.node, copy.owner);
	free(copy.owner);
	return answer_after_cycle(m, peer, "release", answer_release, NULL, ret);
}

static int method_list(void *userdata, const cJSON *params, const struct peer *peer,
		       struct reply *ret)
{
	struct manager *m = userdata;
	cJSON *list;

	(void)params, (void)peer;
	ret->params = cJSON_CreateObject();
	list = cJSON_AddArrayToObject(ret->params, "reservations");
	for (size_t i = 0; list && i < m->resv.n; i++)
		cJSON_AddItemToArray(list, reservation_json(m, &m->resv.items[i]));
	return ret->params ? 0 : -ENOMEM;
}

/* Rebalance's reply: what the cycle asked for and did per node. */
static int answer_rebalance(void *userdata, const char *arg, struct reply *ret)
{
	struct manager *m = userdata;
	cJSON *nodes;

	(void)arg;
	ret->params = cJSON_CreateObject();
	cJSON_AddBoolToObject(ret->params, "dry_run", m->opt.dry_run);
	cJSON_AddStringToObject(ret->params, "result", m->last_cycle);
	nodes = cJSON_AddArrayToObject(ret->params, "nodes");
	for (size_t i = 0; nodes && i < m->state.n_nodes; i++) {
		const struct node_hist *h = &m->hist[m->state.nodes[i].node];
		cJSON *o = cJSON_CreateObject();

		cJSON_AddItemToArray(nodes, o);
		cJSON_AddNumberToObject(o, "node", m->state.nodes[i].node);
		cJSON_AddNumberToObject(o, "lend_requested", (double)h->lend_req);
		cJSON_AddNumberToObject(o, "lent", (double)h->lend_done);
		cJSON_AddNumberToObject(o, "reclaim_requested", (double)h->reclaim_req);
		cJSON_AddNumberToObject(o, "reclaimed", (double)h->reclaim_done);
		cJSON_AddNumberToObject(o, "compact_requested", (double)h->compact_req);
		cJSON_AddNumberToObject(o, "compacted", (double)h->compact_done);
	}
	return ret->params ? 0 : -ENOMEM;
}

static int method_rebalance(void *userdata, const cJSON *params, const struct peer *peer,
			    struct reply *ret)
{
	(void)params;
	log_info("rebalance requested by uid %u", peer->uid);
	return answer_after_cycle(userdata, peer, "rebalance", answer_rebalance, NULL, ret);
}

static const struct method pool_methods[] = {
	{ "Status", false, method_status, NULL },
	{ "Plan", false, method_plan, NULL },
	{ "ListReservations", false, method_list, NULL },
	{ "Reserve", true, method_reserve, "owner bytes node kind" },
	{ "Release", true, method_release, "owner" },
	{ "Rebalance", true, method_rebalance, NULL },
	{ NULL }
};

static const char pool_description[] =
	"# Sizes the unmapped pool of 1 GiB chunks against 1 GiB hugetlb pages per NUMA node.\n"
	"interface io.gigapool.Pool\n\n"
	"type Event (time: int, text: string)\n\n"
	"type Failure (time: int, text: string, requested: int, achieved: int, error: string)\n\n"
	"type Node (node: int, managed: bool, hugetlb_total: int, hugetlb_free: int,\n"
	"  pool_chunks: int, pool_free_pages: int, pool_used_pages: int,\n"
	"  pool_empty_chunks: int, reserved_bytes: int, reserved_chunks: int,\n"
	"  ordinary_reserved_bytes: int, ordinary_reserved_pages: int,\n"
	"  lent_chunks: int, reclaimed_chunks: int, failures: int, last_action: ?Event,\n"
	"  last_failure: ?Failure, compactions: int, compact_pages_moved: int,\n"
	"  compact_chunks_emptied: int, compact_pages_pinned: int, compact_pages_no_room: int,\n"
	"  compact_pages_over_budget: int, compact_pages_busy: int)\n\n"
	"# confidential: free pool chunks held; ordinary: free 1 GiB hugetlb pages held.\n"
	"type Kind (confidential, ordinary)\n\n"
	"type Reservation (owner: string, kind: Kind, bytes: int, node: int, any: bool,\n"
	"  created: int, satisfied: bool, pending_bytes: int)\n\n"
	"type Hugetlb (total: int, free: int, reserved: int, surplus: int)\n\n"
	"# compact: chunks to empty by moving their pages, then to reclaim.\n"
	"type NodePlan (node: int, reason: string, lend: int, lend_cma: int, reclaim: int,\n"
	"  compact: int, shortfall: int, deferred: int, reserved_chunks: int,\n"
	"  ordinary_reserved_pages: int, ordinary_shortfall: int)\n\n"
	"type NodeResult (node: int, lend_requested: int, lent: int, reclaim_requested: int,\n"
	"  reclaimed: int, compact_requested: int, compacted: int)\n\n"
	"# guest_memfd: the kernel's guest_memfd switch (flag, prefer, require),\n"
	"# absent when the kernel has none.  compaction: the kernel can compact the pool.\n"
	"method Status() -> (mode: string, mode_reason: ?string, guest_memfd: ?string,\n"
	"  compaction: bool, dry_run: bool, version: string, chunk_size: int, page_size: int,\n"
	"  cycles: int, last_cycle: string, reservations: int, hugetlb: ?Hugetlb,\n"
	"  nodes: []Node)\n\n"
	"method Plan() -> (nodes: []NodePlan)\n\n"
	"method ListReservations() -> (reservations: []Reservation)\n\n"
	"# node omitted or null: the daemon chooses; kind omitted or null: confidential.\n"
	"method Reserve(owner: string, bytes: int, node: ?int, kind: ?Kind) -> (owner: string,\n"
	"  kind: Kind, bytes: int, node: int, any: bool, created: int, satisfied: bool,\n"
	"  pending_bytes: int)\n\n"
	"method Release(owner: string) -> ()\n\n"
	"method Rebalance() -> (dry_run: bool, result: string, nodes: []NodeResult)\n\n"
	"error PermissionDenied ()\n"
	"error PoolUnavailable (reason: string)\n"
	"error ReservationExists (owner: string)\n"
	"error NoSuchReservation (owner: string)\n"
	"error TooManyReservations ()\n"
	"error NoCapacity ()\n"
	"error InternalError (errno: string)\n";

void methods_service_init(struct service *ret, struct manager *m)
{
	*ret = (struct service){
		.vendor = "gigapool",
		.product = "gigapoold",
		.version = GIGAPOOL_VERSION,
		.url = "https://github.com/gigapool/gigapool",
		.description = pool_description,
		.methods = pool_methods,
		.userdata = m,
	};
}
