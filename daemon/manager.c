// SPDX-License-Identifier: GPL-2.0
/*
 * The event loop of gigapoold.  A cycle takes a snapshot of the kernel,
 * asks the planner for moves, carries them out through the backend, reads
 * the result back and reports requested against achieved per node.  The
 * moves, each a kernel ioctl that may take a second per chunk, run on a
 * worker thread (a batch): the loop goes on answering the socket and
 * pinging the watchdog meanwhile, and a cycle asked for while a batch runs
 * starts once it is done.  The worker gets the batch's moves and the
 * backend's descriptor and nothing else; all state stays on the loop.
 * Cycles run when the pool device signals (free pages below the low
 * watermark, a failed allocation), on a safety timer, after a retry
 * backoff, shortly after a cycle that the move budget cut short, on SIGHUP
 * and on mutating calls; between them the daemon sleeps in sd-event.  The
 * same loop serves the control socket (server.c) with the io.gigapool.Pool
 * methods (methods.c); what follows a cycle is decided in cycle.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/unmapped_pool.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "backend.h"
#include "log.h"
#include "manager.h"
#include "methods.h"
#include "metrics.h"
#include "server.h"
#include "util.h"

/* How long systemd should wait for each slow step of the initial apply. */
#define EXTEND_TIMEOUT_USEC (30 * USEC_PER_SEC)

static int64_t node_index(const struct system_state *s, unsigned node)
{
	for (size_t i = 0; i < s->n_nodes; i++)
		if (s->nodes[i].node == node)
			return i;
	return -1;
}

bool manager_node_managed(const struct manager *m, unsigned node)
{
	int64_t i = node_index(&m->state, node);

	return i >= 0 && m->state.pool_available && m->state.nodes[i].online &&
	       !policy_node(m->policy, node)->excluded;
}

uint64_t manager_now_usec(const struct manager *m)
{
	uint64_t t = 0;

	sd_event_now(m->event, CLOCK_MONOTONIC, &t);
	return t;
}

uint64_t manager_reserved_bytes(const struct manager *m, unsigned node, enum resv_kind kind)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < m->resv.n; i++)
		if (m->resv.items[i].node == (int)node && m->resv.items[i].kind == kind)
			sum += m->resv.items[i].bytes;
	return sum;
}

uint64_t manager_node_pending(const struct manager *m, unsigned node, enum resv_kind kind)
{
	uint64_t want = planner_reserved(&m->state, m->resv.items, m->resv.n, node, kind);
	int64_t i = node_index(&m->state, node);
	const struct node_state *n;

	if (i < 0)
		return want;
	n = &m->state.nodes[i];
	return sub_sat(want, kind == RESV_ORDINARY ? n->hugetlb_free :
			     n->pool_free_pages / pages_per_chunk(&m->state));
}

/* Take a snapshot and fold in the move history the planner needs. */
static int take_snapshot(struct manager *m, struct system_state *ret)
{
	int r = m->backend->ops->snapshot(m->backend, ret);

	if (r < 0)
		return r;
	ret->now_usec = manager_now_usec(m);
	for (size_t i = 0; i < ret->n_nodes; i++) {
		struct node_state *n = &ret->nodes[i];

		n->last_lend_usec = m->hist[n->node].last_lend_usec;
	}
	return 0;
}

static void replace_state(struct manager *m, struct system_state *s)
{
	system_state_done(&m->state);
	m->state = *s;
	memset(s, 0, sizeof(*s));
}

bool manager_can_compact(const struct manager *m)
{
	return cycle_can_compact(backend_can_compact(m->backend), m->policy);
}

int manager_plan(const struct manager *m, const struct system_state *s, struct plan *ret)
{
	int r = planner_plan(s, m->policy, m->resv.items, m->resv.n, ret);

	/* Without a kernel that compacts, the plan's free pages in chunks in use just wait. */
	if (r >= 0 && manager_can_compact(m))
		planner_compact(s, m->policy, ret);
	return r;
}

/*
 * Carried out in this order, one ioctl each for all nodes (compaction: one
 * per node); KIND_RECLAIM after KIND_COMPACT gives back the chunks it emptied.
 */
enum move_kind { KIND_LEND, KIND_LEND_CMA, KIND_COMPACT, KIND_RECLAIM, KIND_MAX };

/* The moves of one kind in a batch, and what the kernel said of them. */
struct kind_moves {
	struct move *moves;
	size_t n;
	int r;
};

/*
 * A cycle's moves under way.  The worker reads backend and writes kinds[]
 * between pthread_create() and its eventfd write; the loop thread keeps
 * off both until it has joined the worker.  The rest is the loop's.
 */
struct batch {
	struct backend *backend;
	int done_fd;
	pthread_t thread;
	struct kind_moves kinds[KIND_MAX];
	struct system_state before;
	struct plan plan;
	const char *why;
};

static uint64_t plan_count(const struct node_plan *np, enum move_kind k)
{
	return k == KIND_LEND ? np->lend : k == KIND_LEND_CMA ? np->lend_cma :
	       k == KIND_COMPACT ? np->compact : np->reclaim;
}

static enum move_dir move_dir_of(enum move_kind k)
{
	return k == KIND_RECLAIM ? MOVE_RECLAIM : k == KIND_COMPACT ? MOVE_COMPACT : MOVE_LEND;
}

/*
 * The request of a node's compaction: as many empty chunks as the snapshot
 * saw (the plan's reclaim takes those) and mv->count more, within the
 * cycle's page budget.  False when the budget is spent: the chunks wait
 * for the next cycle.
 */
static bool compact_request(const struct manager *m, const struct system_state *s, size_t i,
			    struct node_plan *np, uint64_t *budget, struct move *mv)
{
	mv->compact.target = s->nodes[i].pool_empty_chunks + mv->count;
	mv->compact.max_pages = cycle_compact_pages(budget, mv->count, pages_per_chunk(s));
	if (mv->compact.max_pages)
		return true;
	np->deferred += mv->count;
	log_node(LOG_DEBUG, np->node, mv->count,
		 "node %u: the compaction budget (%" PRIu64 " pages) is spent; %" PRIu64
		 " chunks to empty wait for the next cycle", np->node,
		 m->policy->max_compact_pages_per_cycle, mv->count);
	return false;
}

/*
 * Count what a compaction did (reclaim_emptied() handed the chunks it
 * emptied to the batch's reclaim); one line says what stuck and why.
 * Returns whether it fell short for a reason other than the page budget.
 */
static bool record_compact(struct manager *m, const struct move *mv, struct node_plan *np)
{
	const struct unmapped_pool_compact_req *c = &mv->compact;
	struct node_hist *h = &m->hist[mv->node];
	struct cycle_compacted out;
	char why[160];

	cycle_compacted(mv->count, mv->done, mv->error, c, &out);
	np->deferred += out.deferred;
	h->compact_req += mv->count;
	h->compact_done += mv->done;
	if (mv->error == 0 || mv->error == -EAGAIN) {
		h->compactions++;
		counter_add(&h->compact_pages_moved, c->pages_moved);
		counter_add(&h->compact_chunks_emptied, c->chunks_emptied);
		counter_add(&h->compact_pinned, c->pages_pinned);
		counter_add(&h->compact_no_room, c->pages_no_room);
		counter_add(&h->compact_over_budget, c->pages_over_budget);
		counter_add(&h->compact_busy, c->pages_busy);
	}
	h->action_time = time(NULL);
	snprintf(h->action, sizeof(h->action), "compact %" PRIu64 " of %" PRIu64 " chunks, %"
		 PRIu64 " pages moved (%s)", mv->done, mv->count, (uint64_t)c->pages_moved,
		 plan_reason_name(np->reason));
	if (mv->done == mv->count) {
		log_node(LOG_INFO, mv->node, c->pages_moved, "node %u: %s", mv->node, h->action);
		return false;
	}
	cycle_compact_why(mv->error, c, why, sizeof(why));
	log_node(out.shortfall ? LOG_WARNING : LOG_NOTICE, mv->node, c->pages_moved,
		 "node %u: %s; %" PRIu64 " chunks not emptied: %s", mv->node, h->action,
		 mv->count - mv->done, why);
	return out.shortfall;
}

static bool record_move(struct manager *m, const struct move *mv, enum move_kind k,
			enum plan_reason reason)
{
	struct node_hist *h = &m->hist[mv->node];
	const char *verb = k == KIND_RECLAIM ? "reclaim" : k == KIND_LEND ? "lend" : "lend from CMA";
	uint64_t pages = mv->done * pages_per_chunk(&m->state);

	if (k == KIND_RECLAIM) {
		h->reclaim_req += mv->count;
		h->reclaim_done += mv->done;
		h->reclaimed += mv->done;
	} else {
		h->lend_req += mv->count;
		h->lend_done += mv->done;
		h->lent += mv->done;
		if (mv->done)
			h->last_lend_usec = manager_now_usec(m);
	}
	h->action_time = time(NULL);
	snprintf(h->action, sizeof(h->action), "%s %" PRIu64 " of %" PRIu64 " chunks (%s)",
		 verb, mv->done, mv->count, plan_reason_name(reason));
	if (mv->done == mv->count) {
		log_node(LOG_INFO, mv->node, pages, "node %u: %s", mv->node, h->action);
		return false;
	}
	h->failures++;
	h->failure_time = h->action_time;
	h->fail_requested = mv->count;
	h->fail_achieved = mv->done;
	h->fail_error = mv->error;
	snprintf(h->failure, sizeof(h->failure), "%s: requested %" PRIu64 ", achieved %" PRIu64 ": %s",
		 verb, mv->count, mv->done, strerror(mv->error ? -mv->error : EIO));
	log_node(LOG_WARNING, mv->node, pages, "node %u: %s", mv->node, h->failure);
	return true;
}

/*
 * The moves of kind k that plan, made from snapshot s, asks for, one per
 * node; *ret is empty when none.  Room is made for one per node whatever
 * the kind, so that reclaim_emptied() can add to the reclaims.
 */
static int plan_moves(const struct manager *m, const struct system_state *s, struct plan *plan,
		      enum move_kind k, struct kind_moves *ret)
{
	uint64_t budget = m->policy->max_compact_pages_per_cycle;

	ret->n = 0;
	ret->r = 0;
	ret->moves = calloc(plan->n_nodes ? plan->n_nodes : 1, sizeof(*ret->moves));
	if (!ret->moves)
		return -ENOMEM;
	for (size_t i = 0; i < plan->n_nodes; i++)
		if (plan_count(&plan->nodes[i], k) > 0) {
			struct move *mv = &ret->moves[ret->n];

			mv->node = plan->nodes[i].node;
			mv->count = plan_count(&plan->nodes[i], k);
			if (k != KIND_COMPACT ||
			    compact_request(m, s, i, &plan->nodes[i], &budget, mv))
				ret->n++;
		}
	return 0;
}

/* Carry out one kind of move for every node of the plan in one ioctl; on the worker. */
static int execute_kind(struct backend *b, enum move_kind k, struct move *moves, size_t n)
{
	return b->ops->move(b, move_dir_of(k), k == KIND_LEND_CMA, moves, n);
}

/*
 * The chunks the batch's compactions emptied go back to hugetlb with its
 * reclaims, in the same batch; on the worker, between the two kinds.
 */
static void reclaim_emptied(struct kind_moves *reclaim, const struct kind_moves *compact)
{
	for (size_t i = 0; i < compact->n; i++) {
		const struct move *c = &compact->moves[i];
		struct cycle_compacted out;
		size_t j = 0;

		cycle_compacted(c->count, c->done, c->error, &c->compact, &out);
		if (out.reclaim == 0)
			continue;
		while (j < reclaim->n && reclaim->moves[j].node != c->node)
			j++;
		if (j == reclaim->n)
			reclaim->moves[reclaim->n++] = (struct move){ .node = c->node };
		reclaim->moves[j].count += out.reclaim;
	}
}

/* What the kernel did of one kind of move, recorded per node; true when it fell short. */
static bool record_kind(struct manager *m, const struct plan *plan, enum move_kind k,
			struct kind_moves *km)
{
	bool shortfall = false;

	for (size_t i = 0; i < km->n; i++) {
		int64_t pi = -1;

		if (km->r < 0 && km->r != -EAGAIN) {
			km->moves[i].done = 0;
			km->moves[i].error = km->r;
		}
		for (size_t j = 0; j < plan->n_nodes && pi < 0; j++)
			if (plan->nodes[j].node == km->moves[i].node)
				pi = j;
		shortfall |= k == KIND_COMPACT ?
			     record_compact(m, &km->moves[i], &plan->nodes[pi]) :
			     record_move(m, &km->moves[i], k, plan->nodes[pi].reason);
	}
	return shortfall;
}

/*
 * Every move is read back against cycle_read_back_chunks().  A difference
 * means someone else moved chunks too, which is worth a warning but not a
 * failure.
 */
static void read_back(struct manager *m, const struct system_state *before,
		      const struct system_state *after)
{
	for (size_t i = 0; i < before->n_nodes; i++) {
		const struct node_state *b = &before->nodes[i];
		const struct node_hist *h = &m->hist[b->node];
		int64_t j = node_index(after, b->node);
		uint64_t expect = cycle_read_back_chunks(b->pool_chunks, h->lend_done,
							 h->reclaim_done);

		/* Someone else's resize in progress on either side explains a difference. */
		if (b->resizing || (j >= 0 && after->nodes[j].resizing))
			continue;
		if (j >= 0 && after->nodes[j].pool_chunks != expect)
			log_node(LOG_WARNING, b->node, after->nodes[j].pool_chunks,
				 "node %u: read back %" PRIu64 " chunks, expected %" PRIu64,
				 b->node, after->nodes[j].pool_chunks, expect);
	}
}

static void update_watermarks(struct manager *m, const struct plan *plan)
{
	for (size_t i = 0; i < plan->n_nodes; i++) {
		const struct node_plan *np = &plan->nodes[i];
		struct node_hist *h = &m->hist[np->node];
		int64_t si = node_index(&m->state, np->node);
		uint64_t kernel = si >= 0 ? m->state.nodes[si].low_watermark : 0;
		int r;

		if (!m->state.pool_available || m->opt.dry_run)
			continue;
		switch (cycle_watermark(h->watermark_set, h->watermark, kernel,
					np->low_watermark_pages)) {
		case CYCLE_WATERMARK_KEEP:
			continue;
		case CYCLE_WATERMARK_RESET:
			log_node(LOG_WARNING, np->node, kernel,
				 "node %u: read back low watermark %" PRIu64 ", set %" PRIu64,
				 np->node, kernel, h->watermark);
			break;
		case CYCLE_WATERMARK_SET:
			break;
		}
		r = m->backend->ops->set_watermark(m->backend, np->node, np->low_watermark_pages);
		if (r < 0) {
			log_node(LOG_WARNING, np->node, np->low_watermark_pages,
				 "node %u: cannot set low watermark: %s", np->node, strerror(-r));
			continue;
		}
		h->watermark = np->low_watermark_pages;
		h->watermark_set = true;
	}
}

static void publish(struct manager *m)
{
	uint64_t chunks = 0, free_pages = 0, hfree = 0;
	cJSON *status;
	char *text;
	int r;

	for (size_t i = 0; i < m->state.n_nodes; i++) {
		chunks += m->state.nodes[i].pool_chunks;
		free_pages += m->state.nodes[i].pool_free_pages;
		hfree += m->state.nodes[i].hugetlb_free;
	}
	if (m->state.pool_available)
		sd_notifyf(0, "STATUS=%s%zu nodes, %" PRIu64 " chunks lent (%" PRIu64 " GiB free), "
			   "%" PRIu64 " free 1 GiB pages, %zu reservations; %s",
			   m->opt.dry_run ? "dry run: " : "", m->state.n_nodes, chunks,
			   free_pages / pages_per_chunk(&m->state), hfree, m->resv.n, m->last_cycle);
	else
		sd_notifyf(0, "STATUS=hugetlb-only mode (%s): %zu nodes, "
			   "%" PRIu64 " free 1 GiB pages", m->backend->mode_reason,
			   m->state.n_nodes, hfree);
	if (!m->policy->textfile)
		return;
	status = methods_status_json(m);
	text = status ? metrics_format(status) : NULL;
	cJSON_Delete(status);
	r = text ? write_file_atomic(m->policy->textfile, text, strlen(text), 0644) : -ENOMEM;
	if (r < 0)
		log_warning("cannot write textfile %s: %s", m->policy->textfile, strerror(-r));
	free(text);
}

static void log_plan(const struct plan *plan)
{
	for (size_t i = 0; i < plan->n_nodes; i++) {
		const struct node_plan *np = &plan->nodes[i];

		if (np->lend + np->lend_cma + np->reclaim + np->compact == 0)
			continue;
		log_node(LOG_INFO, np->node, np->lend + np->lend_cma + np->reclaim + np->compact,
			 "node %u: dry run: would lend %" PRIu64 " (+%" PRIu64 " from CMA), "
			 "reclaim %" PRIu64 " (+%" PRIu64 " emptied by compaction) chunks (%s)",
			 np->node, np->lend, np->lend_cma, np->reclaim, np->compact,
			 plan_reason_name(np->reason));
	}
}

static void schedule_retry(struct manager *m, bool shortfall)
{
	unsigned retries = m->sched.retries;
	uint64_t delay;

	switch (cycle_retry(&m->sched, m->policy, shortfall, &delay)) {
	case CYCLE_NEXT_NONE:
		break;
	case CYCLE_NEXT_GIVE_UP:
		log_warning("moves still short after %u retries; waiting for the next event",
			    retries);
		break;
	case CYCLE_NEXT_AFTER:
		sd_event_source_set_time(m->retry, manager_now_usec(m) + delay);
		sd_event_source_set_enabled(m->retry, SD_EVENT_ONESHOT);
		break;
	}
}

static void schedule_more(struct manager *m, uint64_t deferred, uint64_t moved, bool shortfall)
{
	unsigned more = m->sched.more;
	uint64_t delay;

	switch (cycle_more(&m->sched, deferred, moved, shortfall, &delay)) {
	case CYCLE_NEXT_AFTER:
		log_debug("the move budget leaves %" PRIu64 " chunks; next cycle in %" PRIu64 " ms",
			  deferred, (uint64_t)(delay / USEC_PER_MSEC));
		sd_event_source_set_time(m->more, manager_now_usec(m) + delay);
		sd_event_source_set_enabled(m->more, SD_EVENT_ONESHOT);
		return;
	case CYCLE_NEXT_GIVE_UP:
		log_info("the move budget still leaves %" PRIu64 " chunks after %u cycles in a row; "
			 "waiting for the next event", deferred, more);
		break;
	case CYCLE_NEXT_NONE:
		break;
	}
	sd_event_source_set_enabled(m->more, SD_EVENT_OFF);
}

static void batch_free(struct batch *b)
{
	if (!b)
		return;
	for (size_t k = 0; k < KIND_MAX; k++)
		free(b->kinds[k].moves);
	system_state_done(&b->before);
	plan_done(&b->plan);
	free(b);
}

static void batch_run(struct batch *b)
{
	for (size_t k = 0; k < KIND_MAX; k++) {
		if (k == KIND_RECLAIM)
			reclaim_emptied(&b->kinds[KIND_RECLAIM], &b->kinds[KIND_COMPACT]);
		if (b->kinds[k].n > 0)
			b->kinds[k].r = execute_kind(b->backend, k, b->kinds[k].moves,
						     b->kinds[k].n);
	}
}

/* The worker: the batch's ioctls, then a word on the eventfd for the loop. */
static void *batch_thread(void *userdata)
{
	struct batch *b = userdata;

	batch_run(b);
	while (eventfd_write(b->done_fd, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

/*
 * Start the worker with every signal blocked, so that SIGTERM and SIGHUP
 * reach the loop's signalfd and nothing interrupts an ioctl.
 */
static int batch_start(struct batch *b)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&b->thread, NULL, batch_thread, b);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

/* The socket is served once the initial policy has been applied. */
static void start_serving(struct manager *m)
{
	int r = server_listen(m->server, m->opt.socket_path);

	if (r < 0) {
		sd_event_exit(m->event, r);
		return;
	}
	m->ready = true;
	sd_notify(0, "READY=1");
}

/*
 * Answer the calls that waited for the cycle just done, or all of them
 * when the daemon stops.  They are taken off the list first: an answer
 * may start the next cycle, whose end walks the list again.
 */
static void answer_waiting(struct manager *m)
{
	struct call *due = NULL, *c, *next;

	for (c = m->waiting; c; c = next) {
		next = c->next;
		if (c->tag <= m->cycles || m->stopping) {
			call_unlink(c);
			call_link(&due, c);
		}
	}
	while (due)
		call_answer(due);
}

/* What follows every cycle, however it ended: its callers are answered, the socket served. */
static void cycle_finished(struct manager *m)
{
	answer_waiting(m);
	if (!m->ready && !m->stopping)
		start_serving(m);
}

/* After the moves, or at once without any: record, read back, publish, what next. */
static void cycle_end(struct manager *m, struct batch *b, bool shortfall)
{
	struct system_state after = { 0 };
	uint64_t deferred = 0, moved = 0;
	const char *wanted;
	int r;

	for (size_t k = 0; k < KIND_MAX; k++)
		shortfall |= record_kind(m, &b->plan, k, &b->kinds[k]);
	for (size_t i = 0; i < b->plan.n_nodes; i++) {
		struct node_hist *h = &m->hist[b->plan.nodes[i].node];

		/* A node left unplanned while resizing is planned again on retry. */
		if (b->plan.nodes[i].resizing) {
			h->alloc_failed_pending |= b->before.nodes[i].alloc_failed;
			log_node(LOG_INFO, b->plan.nodes[i].node, 0,
				 "node %u: a chunk was on its way; planning it again shortly",
				 b->plan.nodes[i].node);
			shortfall = true;
		} else {
			/* A resizing node's fallbacks are acted on when it is planned. */
			h->fallbacks_seen = b->before.nodes[i].fallbacks;
		}
		deferred += b->plan.nodes[i].deferred;
		moved += h->lend_done + h->reclaim_done;
	}
	r = take_snapshot(m, &after);
	if (r >= 0) {
		read_back(m, &b->before, &after);
		replace_state(m, &after);
	} else {
		replace_state(m, &b->before);
	}
	update_watermarks(m, &b->plan);
	snprintf(m->last_cycle, sizeof(m->last_cycle), "last cycle (%s) %s", b->why,
		 shortfall ? "fell short" : "ok");
	batch_free(b);
	schedule_retry(m, shortfall);
	schedule_more(m, deferred, moved, shortfall);
	publish(m);
	cycle_finished(m);
	if (m->stopping) {
		sd_event_exit(m->event, 0);
		return;
	}
	wanted = m->cycle_wanted;
	m->cycle_wanted = NULL;
	if (wanted)
		manager_run_cycle(m, wanted);
}

/* The worker said it is done: take its batch back and finish the cycle. */
static int on_batch_done(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;
	struct batch *b = m->batch;
	eventfd_t n;

	(void)s, (void)revents;
	if (eventfd_read(fd, &n) < 0 || !b)
		return 0;
	pthread_join(b->thread, NULL);
	m->batch = NULL;
	if (m->pool_io)
		sd_event_source_set_enabled(m->pool_io, SD_EVENT_ON);
	cycle_end(m, b, false);
	return 0;
}

/*
 * Hand the batch's moves to the worker.  While they run, pool events
 * wait (a cycle would only be put off until they are done) and the
 * snapshot after the moves acknowledges them, as it always did.
 */
static void cycle_moves(struct manager *m, struct batch *b, size_t kinds)
{
	int r;

	if (!m->ready)
		sd_notifyf(0, "EXTEND_TIMEOUT_USEC=%llu",
			   (unsigned long long)(kinds * EXTEND_TIMEOUT_USEC));
	b->backend = m->backend;
	b->done_fd = m->batch_fd;
	r = batch_start(b);
	if (r < 0) {
		/* No thread: the moves run here, as they did before workers. */
		log_warning("cannot start the move worker: %s; moving on the event loop",
			    strerror(-r));
		batch_run(b);
		cycle_end(m, b, false);
		return;
	}
	m->batch = b;
	if (m->pool_io)
		sd_event_source_set_enabled(m->pool_io, SD_EVENT_OFF);
}

bool manager_run_cycle(struct manager *m, const char *why)
{
	struct batch *b;
	size_t kinds = 0;
	int r;

	if (m->batch) {
		if (!m->cycle_wanted)
			log_info("cycle (%s) after the moves under way", why);
		m->cycle_wanted = m->cycle_wanted ? m->cycle_wanted : why;
		return false;
	}
	m->cycles++;
	b = calloc(1, sizeof(*b));
	if (!b) {
		log_error("cycle (%s): %s", why, strerror(ENOMEM));
		schedule_retry(m, true);
		cycle_finished(m);
		return true;
	}
	b->why = why;
	r = take_snapshot(m, &b->before);
	if (r < 0) {
		snprintf(m->last_cycle, sizeof(m->last_cycle), "snapshot failed: %s", strerror(-r));
		log_error("cycle (%s): %s", why, m->last_cycle);
		batch_free(b);
		schedule_retry(m, true);
		publish(m);
		cycle_finished(m);
		return true;
	}
	for (size_t i = 0; i < b->before.n_nodes; i++) {
		struct node_hist *h = &m->hist[b->before.nodes[i].node];

		b->before.nodes[i].alloc_failed |= h->alloc_failed_pending;
		h->alloc_failed_pending = false;
		b->before.nodes[i].fell_back = b->before.nodes[i].fallbacks > h->fallbacks_seen;
	}
	r = manager_plan(m, &b->before, &b->plan);
	if (r < 0) {
		log_error("cycle (%s): planner: %s", why, strerror(-r));
		batch_free(b);
		cycle_finished(m);
		return true;
	}
	for (size_t i = 0; i < b->before.n_nodes; i++) {
		const struct node_state *n = &b->before.nodes[i];
		struct node_hist *h = &m->hist[n->node];

		h->lend_req = h->lend_done = h->reclaim_req = h->reclaim_done = 0;
		h->compact_req = h->compact_done = 0;
		if (n->alloc_failed)
			log_node(LOG_WARNING, n->node, n->pool_free_pages,
				 "node %u: the pool failed an allocation; refilling headroom",
				 n->node);
		if (n->fell_back)
			log_node(LOG_WARNING, n->node, n->fallbacks - h->fallbacks_seen,
				 "node %u: %" PRIu64 " allocations fell back to ordinary memory; "
				 "refilling headroom", n->node, n->fallbacks - h->fallbacks_seen);
	}
	if (m->opt.dry_run) {
		log_plan(&b->plan);
		cycle_end(m, b, false);
		return true;
	}
	for (size_t k = 0; k < KIND_MAX; k++) {
		if (plan_moves(m, &b->before, &b->plan, k, &b->kinds[k]) < 0) {
			log_error("cannot plan moves: %s", strerror(ENOMEM));
			for (size_t j = 0; j <= k; j++)
				b->kinds[j].n = 0;
			cycle_end(m, b, true);
			return true;
		}
		kinds += b->kinds[k].n > 0;
	}
	if (kinds == 0) {
		cycle_end(m, b, false);
		return true;
	}
	cycle_moves(m, b, kinds);
	return !m->batch;
}

void manager_wait_cycle(struct manager *m, struct call *c)
{
	/* A cycle asked for while a batch runs is the one after it. */
	c->tag = m->cycles + (m->cycle_wanted ? 1 : 0);
	call_link(&m->waiting, c);
}

/* ---- reservations ---- */

/*
 * After a restart the reservations are checked against the nodes the
 * kernel reports: one that may go anywhere moves off a node that is gone
 * or excluded; one pinned to such a node is kept (the operator asked for
 * that node) but reported.
 */
static int reconcile(struct manager *m)
{
	bool changed = false;

	for (size_t i = 0; i < m->resv.n; i++) {
		struct reservation *r = &m->resv.items[i];
		int node;

		if (!m->state.pool_available || manager_node_managed(m, r->node))
			continue;
		if (!r->any) {
			log_node(LOG_WARNING, r->node, r->bytes / m->state.page_size,
				 "reservation %s: node %d is not managed; kept", r->owner, r->node);
			continue;
		}
		node = planner_place(&m->state, m->policy, m->resv.items, m->resv.n, r->kind);
		if (node < 0)
			continue;
		log_node(LOG_NOTICE, node, r->bytes / m->state.page_size,
			 "reservation %s: moved from node %d to node %d", r->owner, r->node, node);
		r->node = node;
		changed = true;
	}
	for (size_t i = 0; i < m->state.n_nodes; i++) {
		const struct node_state *n = &m->state.nodes[i];
		uint64_t bytes = manager_reserved_bytes(m, n->node, RESV_CONFIDENTIAL);
		uint64_t ordinary = manager_reserved_bytes(m, n->node, RESV_ORDINARY);

		if (bytes)
			log_node(LOG_INFO, n->node, bytes / m->state.page_size,
				 "node %u: %" PRIu64 " bytes reserved, kernel reports %" PRIu64
				 " free pool pages", n->node, bytes, n->pool_free_pages);
		if (ordinary)
			log_node(LOG_INFO, n->node, ordinary / m->state.page_size,
				 "node %u: %" PRIu64 " bytes reserved for ordinary VMs, kernel "
				 "reports %" PRIu64 " free 1 GiB pages", n->node, ordinary,
				 n->hugetlb_free);
	}
	return changed ? resv_save(m->opt.state_dir, &m->resv) : 0;
}

/* A policy entry for a node the host does not have is likely a typo: say so. */
static void warn_absent_nodes(const struct manager *m)
{
	for (size_t i = 0; i < m->policy->n_overrides; i++) {
		unsigned node = m->policy->overrides[i].node;

		if (node_index(&m->state, node) < 0)
			log_warning("policy %s: node %u does not exist on this host (nodes: %zu); "
				    "its settings apply to nothing", m->opt.policy_path, node,
				    m->state.n_nodes);
	}
}

/* ---- events ---- */

static int on_pool_event(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	(void)s, (void)fd, (void)revents;
	manager_run_cycle(userdata, "pool event");
	return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;

	manager_run_cycle(m, "timer");
	sd_event_source_set_time(s, usec + m->policy->interval_sec * USEC_PER_SEC);
	return sd_event_source_set_enabled(s, SD_EVENT_ON);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	(void)s, (void)usec;
	manager_run_cycle(userdata, "retry");
	return 0;
}

static int on_more(sd_event_source *s, uint64_t usec, void *userdata)
{
	(void)s, (void)usec;
	manager_run_cycle(userdata, "more moves");
	return 0;
}

/*
 * A batch under way is finished, not abandoned: the kernel completes its
 * ioctl anyway, and the daemon reads the result back and publishes it
 * before it exits (cycle_end()).
 */
static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct manager *m = userdata;
	char path[64], *comm = NULL;

	(void)s;
	/* Who stopped the daemon, for an operator or a test that did not expect it. */
	snprintf(path, sizeof(path), "/proc/%u/comm", si->ssi_pid);
	if (read_file_str(path, &comm, 64) >= 0)
		comm[strcspn(comm, "\n")] = '\0';
	log_info("SIG%s from pid %u (%s), uid %u", sigabbrev_np(si->ssi_signo) ?: "?",
		 si->ssi_pid, comm ? comm : "gone", si->ssi_uid);
	free(comm);
	if (!m->stopping)
		sd_notify(0, "STOPPING=1");
	if (!m->batch)
		return sd_event_exit(m->event, 0);
	if (!m->stopping)
		log_info("stopping once the moves under way are done");
	m->stopping = true;
	return 0;
}

/* The policy's limits section and control group, for the control socket. */
static void server_limits_of(const struct policy *p, struct server_limits *ret)
{
	*ret = (struct server_limits){
		.max_connections = p->limits.max_connections,
		.max_connections_per_uid = p->limits.max_connections_per_uid,
		.max_message_bytes = p->limits.max_message_bytes,
		.idle_timeout_usec = p->limits.idle_timeout_sec * USEC_PER_SEC,
		.has_control_group = p->has_control_group,
		.control_gid = p->control_gid,
	};
}

/*
 * Set the kernel's guest_memfd switch as p asks, if it asks.  On failure
 * *ret_error, when set, says what the operator can do about it.
 */
static int apply_guest_memfd(struct manager *m, const struct policy *p, char **ret_error)
{
	const char *mode = gmem_mode_name(p->guest_memfd);
	int r;

	*ret_error = NULL;
	if (!mode)
		return 0;
	if (m->opt.dry_run) {
		log_info("dry run: would set guest_memfd to %s", mode);
		return 0;
	}
	r = m->backend->ops->set_guest_memfd(m->backend, mode);
	if (r == -EOPNOTSUPP) {
		if (asprintf(ret_error, "policy %s: guest_memfd: this kernel has no guest_memfd "
			     "switch (%s); remove the key or boot a kernel that has it",
			     m->opt.policy_path, m->backend->mode_reason[0] ?
			     m->backend->mode_reason :
			     "no UNMAPPED_POOL_FEAT_GUEST_MEMFD_MODE from " UNMAPPED_POOL_DEVICE) < 0)
			*ret_error = NULL;
	} else if (r < 0) {
		if (asprintf(ret_error, "policy %s: guest_memfd: cannot set "
			     "/sys/kernel/mm/unmapped_pool/guest_memfd to %s: %s",
			     m->opt.policy_path, mode, strerror(-r)) < 0)
			*ret_error = NULL;
	} else {
		log_info("guest_memfd set to %s", mode);
	}
	return r;
}

/*
 * A broken policy on reload keeps the old one: better stale than none.  So
 * does one the kernel cannot take (a guest_memfd mode without the switch).
 */
static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct manager *m = userdata;
	struct server_limits lim;
	struct policy *p;
	char *err;
	int r;

	(void)s, (void)si;
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		   (unsigned long long)manager_now_usec(m));
	r = policy_load(m->opt.policy_path, &p, &err);
	if (r >= 0) {
		r = apply_guest_memfd(m, p, &err);
		if (r < 0)
			policy_free(p);
	}
	if (r < 0) {
		log_error("reload: keeping the old policy: %s", err ? err : "out of memory");
		free(err);
	} else {
		policy_free(m->policy);
		m->policy = p;
		server_limits_of(p, &lim);
		server_set_limits(m->server, &lim);
		log_info("reload: policy %s applied", m->opt.policy_path);
		warn_absent_nodes(m);
		sd_event_source_set_time(m->timer,
					 manager_now_usec(m) + p->interval_sec * USEC_PER_SEC);
		manager_run_cycle(m, "reload");
	}
	sd_notify(0, "READY=1");
	return 0;
}

/* Why the state directory cannot be used, for the operator. */
static void state_error(char **ret_error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(ret_error, fmt, ap) < 0)
		*ret_error = NULL;
	va_end(ap);
}

static int open_state(struct manager *m, char **ret_error)
{
	const char *dir = m->opt.state_dir;
	pid_t holder;
	int r;

	/* systemd's StateDirectory= makes it; a hand-started daemon makes its own. */
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		r = -errno;
		state_error(ret_error, "cannot make state directory %s: %s", dir, strerror(-r));
		return r;
	}
	r = resv_lock(dir, &m->lock_fd, &holder);
	if (r == -EBUSY)
		state_error(ret_error, "another gigapoold (pid %d) is running with state directory %s",
			    (int)holder, dir);
	else if (r < 0)
		state_error(ret_error, "cannot lock %s/" RESV_LOCK_FILE ": %s", dir, strerror(-r));
	if (r < 0)
		return r;
	return resv_load(dir, &m->resv, ret_error);
}

int manager_new(const struct manager_options *o, struct policy *policy, struct manager **ret,
		char **ret_error)
{
	struct manager *m = calloc(1, sizeof(*m));
	struct server_limits lim;
	int r;

	*ret_error = NULL;
	if (!m) {
		policy_free(policy);
		return -ENOMEM;
	}
	m->lock_fd = -1;
	m->batch_fd = -1;
	m->opt = *o;
	m->policy = policy;
	methods_service_init(&m->service, m);
	server_limits_of(policy, &lim);
	m->hist = calloc(UNMAPPED_POOL_MAX_NODES, sizeof(*m->hist));
	r = m->hist ? 0 : -ENOMEM;
	if (r >= 0)
		r = sd_event_default(&m->event);
	if (r >= 0)
		r = server_new(m->event, &m->service, &lim, &m->server);
	/* The lock comes first: a second daemon must not touch the pool. */
	if (r >= 0)
		r = open_state(m, ret_error);
	if (r >= 0)
		r = backend_open(o->sysfs_root, &m->backend);
	/* Before anything is served or moved: a policy the kernel cannot take stops here. */
	if (r >= 0)
		r = apply_guest_memfd(m, policy, ret_error);
	if (r < 0) {
		manager_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

static int setup_events(struct manager *m)
{
	sigset_t ss;
	int r;

	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	r = sd_event_add_signal(m->event, NULL, SIGTERM, on_sigterm, m);
	if (r >= 0)
		r = sd_event_add_signal(m->event, NULL, SIGINT, on_sigterm, m);
	if (r >= 0)
		r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m);
	if (r >= 0)
		r = sd_event_set_watchdog(m->event, true);
	if (r >= 0)
		r = sd_event_add_time(m->event, &m->timer, CLOCK_MONOTONIC,
				      manager_now_usec(m) + m->policy->interval_sec * USEC_PER_SEC,
				      0, on_timer, m);
	if (r >= 0)
		r = sd_event_add_time(m->event, &m->retry, CLOCK_MONOTONIC, 0, 0, on_retry, m);
	if (r >= 0)
		r = sd_event_source_set_enabled(m->retry, SD_EVENT_OFF);
	if (r >= 0)
		r = sd_event_add_time(m->event, &m->more, CLOCK_MONOTONIC, 0, 0, on_more, m);
	if (r >= 0)
		r = sd_event_source_set_enabled(m->more, SD_EVENT_OFF);
	if (r >= 0 && m->backend->fd >= 0)
		r = sd_event_add_io(m->event, &m->pool_io, m->backend->fd, EPOLLIN,
				    on_pool_event, m);
	if (r >= 0) {
		m->batch_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		r = m->batch_fd < 0 ? -errno : 0;
	}
	if (r >= 0)
		r = sd_event_add_io(m->event, &m->batch_io, m->batch_fd, EPOLLIN, on_batch_done, m);
	return r;
}

int manager_run(struct manager *m)
{
	struct system_state s;
	int r;

	/* Checked again when binding; here so that a second daemon moves nothing. */
	r = server_probe(m->opt.socket_path);
	if (r < 0)
		return r;
	r = setup_events(m);
	if (r < 0)
		return r;
	log_info("starting in %s mode%s%s%s, policy %s, state %s", m->backend->ops->mode,
		 m->opt.dry_run ? " (dry run)" : "", m->backend->mode_reason[0] ? ": " : "",
		 m->backend->mode_reason, m->opt.policy_path, m->opt.state_dir);
	r = take_snapshot(m, &s);
	if (r < 0)
		return r;
	replace_state(m, &s);
	/*
	 * Fallbacks count from boot; only those from now on are demand this
	 * daemon has not seen, as the kernel's allocation failures are.
	 */
	for (size_t i = 0; i < m->state.n_nodes; i++)
		m->hist[m->state.nodes[i].node].fallbacks_seen = m->state.nodes[i].fallbacks;
	warn_absent_nodes(m);
	r = reconcile(m);
	if (r < 0)
		return r;
	/* The socket is served once this cycle is done (cycle_finished()). */
	manager_run_cycle(m, "start");
	return sd_event_loop(m->event);
}

void manager_free(struct manager *m)
{
	if (!m)
		return;
	server_free(m->server);
	if (m->batch) {
		pthread_join(m->batch->thread, NULL);
		batch_free(m->batch);
	}
	sd_event_source_unref(m->batch_io);
	if (m->batch_fd >= 0)
		close(m->batch_fd);
	sd_event_source_unref(m->pool_io);
	sd_event_source_unref(m->timer);
	sd_event_source_unref(m->retry);
	sd_event_source_unref(m->more);
	sd_event_unref(m->event);
	backend_close(m->backend);
	system_state_done(&m->state);
	resv_set_done(&m->resv);
	policy_free(m->policy);
	free(m->hist);
	if (m->lock_fd >= 0)
		close(m->lock_fd);
	free(m);
}
