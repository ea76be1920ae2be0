// SPDX-License-Identifier: GPL-2.0
/*
 * The control socket: bind (or the socket systemd passed), accept,
 * SO_PEERCRED, per-connection buffers and limits, framing through
 * protocol.c.  It serves whatever struct service it is handed and knows
 * nothing of the manager, as OpenBSD ntpd's control.c.  Everything runs
 * on the daemon's one sd-event loop.  Every resource a client controls
 * is bounded: a client that does not read its replies is not read from
 * (back-pressure) rather than queued for; the memory held for all
 * clients has a ceiling, part of it and some connections kept for root
 * and the control group; a message must be complete within the idle
 * timeout of its first byte; too large a message closes the connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "server.h"
#include "util.h"

/*
 * A client whose queued replies exceed this is not read from until it
 * reads them (back-pressure): its calls wait in the kernel's socket
 * buffer, not in the daemon.
 */
#define OUTPUT_PAUSE_BYTES (64U << 10)
/*
 * All memory held for clients (their partial messages and queued
 * replies) stays near CLIENT_MEMORY_BYTES; unprivileged clients get all
 * but PRIVILEGED_MEMORY_BYTES of it, so that however many of them there
 * are, root and the control group are still read from and answered.
 */
#define CLIENT_MEMORY_BYTES (32U << 20)
#define PRIVILEGED_MEMORY_BYTES (8U << 20)
/* Bytes read from a client at once; memory is granted in these steps. */
#define READ_BYTES (64U << 10)
/* Connections of root and the control group beyond max_connections. */
#define PRIVILEGED_SLOTS 16
/* Connections accepted per wakeup, so that a flood cannot starve cycles. */
#define ACCEPT_BATCH 64

struct client {
	struct server *s;
	int fd;
	struct ucred cred;
	struct peer peer;
	sd_event_source *io;
	sd_event_source *idle;
	struct framer in;
	char *out;
	size_t out_len, out_off, out_cap;
	size_t held;		/* in.cap + out_cap, counted in server.held */
	bool eof;		/* the client shut down its sending side */
	bool wait_mem;		/* not read from until client memory is freed */
	struct call *call;	/* a call answered later (a cycle's moves), or NULL */
	struct client *next, *prev;
};

struct server {
	sd_event *event;
	const struct service *svc;
	struct server_limits limits;
	int listen_fd;
	sd_event_source *listen_io;
	const char *path;	/* the socket file we bound (not socket-activated) */
	dev_t path_dev;		/* ... and its identity, to unlink only our own */
	ino_t path_ino;
	struct client *clients;
	size_t n_clients;
	size_t n_privileged;
	size_t held;		/* bytes held for all clients */
	size_t n_wait_mem;
};

static uint64_t now_usec(const struct server *s)
{
	uint64_t t = 0;

	sd_event_now(s->event, CLOCK_MONOTONIC, &t);
	return t;
}

static size_t output_pending(const struct client *c)
{
	return c->out_len - c->out_off;
}

static size_t input_pending(const struct client *c)
{
	return c->in.len - c->in.start;
}

static size_t memory_limit(const struct client *c)
{
	return c->peer.privileged ? CLIENT_MEMORY_BYTES
				  : CLIENT_MEMORY_BYTES - PRIVILEGED_MEMORY_BYTES;
}

/*
 * Clients that waited for memory are looked at again once some is freed:
 * a writable socket reports EPOLLOUT at once, and its handler decides
 * anew what the client may do.
 */
static void wake_waiters(struct server *s)
{
	for (struct client *c = s->clients; c && s->n_wait_mem; c = c->next)
		if (c->wait_mem) {
			c->wait_mem = false;
			s->n_wait_mem--;
			sd_event_source_set_io_events(c->io, EPOLLOUT);
		}
}

/* Count what c holds now; buffers it no longer needs are freed first. */
static void client_account(struct client *c)
{
	struct server *s = c->s;
	size_t held;

	if (input_pending(c) == 0 && c->in.buf) {
		size_t max = c->in.max;

		framer_done(&c->in);
		framer_init(&c->in, max);
	}
	if (output_pending(c) == 0 && c->out) {
		free(c->out);
		c->out = NULL;
		c->out_len = c->out_off = c->out_cap = 0;
	}
	held = c->in.cap + c->out_cap;
	s->held = s->held - c->held + held;
	if (held < c->held && s->n_wait_mem)
		wake_waiters(s);
	c->held = held;
}

static void set_wait_mem(struct client *c, bool wait)
{
	if (c->wait_mem != wait)
		c->s->n_wait_mem += wait ? 1 : -1;
	c->wait_mem = wait;
}

static void client_free(struct client *c)
{
	struct server *s = c->s;

	if (c->prev)
		c->prev->next = c->next;
	else
		s->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_clients--;
	s->n_privileged -= c->peer.privileged;
	set_wait_mem(c, false);
	/* Whoever holds the call must not answer a client that is gone. */
	if (c->call)
		call_free(c->call);
	sd_event_source_unref(c->io);
	sd_event_source_unref(c->idle);
	close(c->fd);
	framer_done(&c->in);
	free(c->out);
	s->held -= c->held;
	free(c);
	if (s->n_wait_mem)
		wake_waiters(s);
}

/* Whether c may be given another message to answer: replies go out in order. */
static bool may_process(const struct client *c)
{
	return !c->call && output_pending(c) <= OUTPUT_PAUSE_BYTES &&
	       c->s->held <= memory_limit(c);
}

/* Whether c may be read from now; *ret_mem is set when only memory is short. */
static bool may_read(const struct client *c, bool *ret_mem)
{
	bool want = !c->eof && output_pending(c) <= OUTPUT_PAUSE_BYTES &&
		    !framer_next_ready(&c->in);
	bool mem = c->s->held + READ_BYTES <= memory_limit(c);

	*ret_mem = want && !mem;
	return want && mem;
}

/*
 * Ask for the events c can act on.  A client is read from only when it
 * has no call waiting to be answered, reads its replies and its class has
 * memory left; the idle timer drops a client that stays stuck.
 */
static void client_update(struct client *c)
{
	bool short_mem, read = may_read(c, &short_mem);
	bool waiting = framer_next_ready(&c->in) && output_pending(c) <= OUTPUT_PAUSE_BYTES &&
		       !c->call;

	set_wait_mem(c, short_mem || (waiting && !may_process(c)));
	sd_event_source_set_io_events(c->io, (read ? EPOLLIN : 0) |
					     (output_pending(c) ? EPOLLOUT : 0));
}

/* Returns false when the client is gone. */
static bool client_flush(struct client *c)
{
	bool drained = false;

	while (output_pending(c)) {
		ssize_t n = send(c->fd, c->out + c->out_off, output_pending(c),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			client_free(c);
			return false;
		}
		c->out_off += n;
		drained = !output_pending(c);
	}
	/* A client that reads all its replies is active. */
	if (drained)
		sd_event_source_set_time(c->idle, now_usec(c->s) + c->s->limits.idle_timeout_usec);
	return true;
}

static int client_queue(struct client *c, const char *reply)
{
	size_t len = strlen(reply) + 1;
	char *out;

	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_len + len;

		out = realloc(c->out, cap);
		if (!out)
			return -ENOMEM;
		c->out = out;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, reply, len);
	c->out_len += len;
	return 0;
}

/*
 * Answer the complete messages c sent, as many as its output and memory
 * allow, send what is queued and decide what to wait for; false when the
 * client was dropped (a bad message, end of input with nothing left to
 * send, an error).
 */
static bool client_process(struct client *c)
{
	const char *msg;
	size_t len;
	int r = 0;

	do {
		while (may_process(c) && (r = framer_next(&c->in, &msg, &len)) > 0) {
			char *reply;

			r = protocol_dispatch(c->s->svc, &c->peer, msg, len, &reply);
			if (r < 0)
				break;
			/* A client waiting for a deferred reply is not idle. */
			sd_event_source_set_enabled(c->idle, c->call ? SD_EVENT_OFF : SD_EVENT_ONESHOT);
			sd_event_source_set_time(c->idle,
						 now_usec(c->s) + c->s->limits.idle_timeout_usec);
			if (reply) {
				r = client_queue(c, reply);
				free(reply);
				if (r < 0)
					break;
			}
			client_account(c);
		}
		if (r < 0) {
			client_free(c);
			return false;
		}
		if (!client_flush(c))
			return false;
		client_account(c);
		/* The socket took the replies: answer the calls still buffered. */
	} while (framer_next_ready(&c->in) && may_process(c));
	/* At end of input, whatever was asked is answered before the close. */
	if (c->eof && !framer_next_ready(&c->in) && !output_pending(c) && !c->call) {
		client_free(c);
		return false;
	}
	client_update(c);
	return true;
}

static int on_client_io(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct client *c = userdata;
	char buf[READ_BYTES];
	bool started;
	ssize_t n;

	(void)es;
	/* The client closed both ways: no reply can reach it. */
	if (revents & (EPOLLERR | EPOLLHUP)) {
		client_free(c);
		return 0;
	}
	if (!(revents & EPOLLIN) || !may_read(c, &(bool){ false })) {
		client_process(c);
		return 0;
	}
	/* Never more than one message at a time, so pipelined calls fit the framer. */
	n = recv(fd, buf, min_u64(sizeof(buf), c->in.max + 1), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n < 0) {
		client_free(c);
		return 0;
	}
	if (n == 0) {
		c->eof = true;
		client_process(c);
		return 0;
	}
	/*
	 * The idle timer is a deadline for a whole message from its first
	 * byte: bytes that only extend a message do not move it, so a client
	 * that trickles cannot hold its connection for ever.
	 */
	started = input_pending(c) == 0;
	if (framer_feed(&c->in, buf, n) < 0) {
		client_free(c);
		return 0;
	}
	if (started)
		sd_event_source_set_time(c->idle, now_usec(c->s) + c->s->limits.idle_timeout_usec);
	client_account(c);
	client_process(c);
	return 0;
}

/* struct call's deliver: queue the deferred reply and go on with c's calls. */
static void client_deliver(struct call *call, const char *reply)
{
	struct client *c = call->conn;

	c->call = NULL;
	sd_event_source_set_enabled(c->idle, SD_EVENT_ONESHOT);
	sd_event_source_set_time(c->idle, now_usec(c->s) + c->s->limits.idle_timeout_usec);
	if (!reply || client_queue(c, reply) < 0) {
		client_free(c);
		return;
	}
	client_account(c);
	client_process(c);
}

/* struct peer's defer: one call at a time, the one being answered. */
static struct call *client_defer(const struct peer *peer, answer_fn answer, void *userdata,
				 const char *arg)
{
	struct client *c = peer->conn;
	struct call *call = calloc(1, sizeof(*call));

	if (!call)
		return NULL;
	call->arg = strdup(arg ? arg : "");
	if (!call->arg) {
		free(call);
		return NULL;
	}
	call->answer = answer;
	call->userdata = userdata;
	call->conn = c;
	call->deliver = client_deliver;
	c->call = call;
	return call;
}

static int on_client_idle(sd_event_source *es, uint64_t usec, void *userdata)
{
	(void)es, (void)usec;
	client_free(userdata);
	return 0;
}

static bool peer_privileged(const struct server *s, int fd, const struct ucred *cred)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (cred->uid == 0)
		return true;
	if (!s->limits.has_control_group)
		return false;
	if (cred->gid == s->limits.control_gid)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == s->limits.control_gid)
			return true;
	return false;
}

static size_t clients_of_uid(const struct server *s, uid_t uid)
{
	size_t n = 0;

	for (const struct client *c = s->clients; c; c = c->next)
		n += c->peer.uid == uid;
	return n;
}

/*
 * max_connections are for everyone; root and the control group have
 * PRIVILEGED_SLOTS more that others cannot take, so that unprivileged
 * clients filling every slot never lock out the operator.
 */
static bool slot_free(const struct server *s, const struct ucred *cred, bool privileged)
{
	const struct server_limits *lim = &s->limits;
	size_t unprivileged = s->n_clients - s->n_privileged;

	if (clients_of_uid(s, cred->uid) >= lim->max_connections_per_uid)
		return false;
	if (privileged)
		return s->n_clients < lim->max_connections + PRIVILEGED_SLOTS;
	return unprivileged < lim->max_connections && s->n_clients < lim->max_connections;
}

static void accept_one(struct server *s, int fd)
{
	const struct server_limits *lim = &s->limits;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct client *c;
	bool privileged;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		close(fd);
		return;
	}
	privileged = peer_privileged(s, fd, &cred);
	if (!slot_free(s, &cred, privileged)) {
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->s = s;
	c->fd = fd;
	c->cred = cred;
	c->peer.uid = cred.uid;
	c->peer.privileged = privileged;
	c->peer.defer = client_defer;
	c->peer.conn = c;
	framer_init(&c->in, lim->max_message_bytes);
	c->next = s->clients;
	if (s->clients)
		s->clients->prev = c;
	s->clients = c;
	s->n_clients++;
	s->n_privileged += privileged;
	if (sd_event_add_io(s->event, &c->io, fd, EPOLLIN, on_client_io, c) < 0 ||
	    sd_event_add_time(s->event, &c->idle, CLOCK_MONOTONIC,
			      now_usec(s) + lim->idle_timeout_usec, 0, on_client_idle, c) < 0)
		client_free(c);
}

static int on_listen(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	(void)es, (void)revents;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0)
			break;
		accept_one(userdata, cfd);
	}
	return 0;
}

/*
 * A socket that accepts a connection belongs to a live daemon: never take
 * its path.  One that refuses is a dead daemon's and is replaced.
 */
int server_probe(const char *path)
{
	int fd;

	if (sd_listen_fds(0) > 0)
		return 0;
	fd = varlink_connect(path);
	if (fd < 0)
		return 0;
	close(fd);
	return -EADDRINUSE;
}

static int bind_socket(struct server *s, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)];
	struct stat st;
	char *slash;
	int fd;

	if (sd_listen_fds(1) == 1) {
		s->listen_fd = SD_LISTEN_FDS_START;
		return fcntl(s->listen_fd, F_SETFL, O_NONBLOCK) < 0 ? -errno : 0;
	}
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
	}
	/*
	 * Bind and listen under a temporary name, then rename it into place:
	 * the socket appears at its path only once connect() can succeed, so
	 * a client that starts right after the daemon is never refused.
	 */
	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s.%d", path, (int)getpid()) >=
	    (int)sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	fd = server_probe(path);
	if (fd < 0)
		return fd;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(sa.sun_path);
	/* Everyone may connect and read; SO_PEERCRED guards the mutations. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(sa.sun_path, 0666) < 0 ||
	    listen(fd, SOMAXCONN) < 0 || rename(sa.sun_path, path) < 0) {
		int r = -errno;

		unlink(sa.sun_path);
		close(fd);
		return r;
	}
	if (stat(path, &st) == 0) {
		s->path_dev = st.st_dev;
		s->path_ino = st.st_ino;
	}
	s->listen_fd = fd;
	s->path = path;
	return 0;
}

/* Remove the socket file only while it is still the one we bound. */
static void unlink_own_socket(const struct server *s)
{
	struct stat st;

	if (s->path && stat(s->path, &st) == 0 && st.st_dev == s->path_dev &&
	    st.st_ino == s->path_ino)
		unlink(s->path);
}

int server_listen(struct server *s, const char *path)
{
	int r = bind_socket(s, path);

	if (r < 0)
		return r;
	return sd_event_add_io(s->event, &s->listen_io, s->listen_fd, EPOLLIN, on_listen, s);
}

int server_new(sd_event *event, const struct service *svc, const struct server_limits *lim,
	       struct server **ret)
{
	struct server *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->event = sd_event_ref(event);
	s->svc = svc;
	s->limits = *lim;
	s->listen_fd = -1;
	*ret = s;
	return 0;
}

void server_set_limits(struct server *s, const struct server_limits *lim)
{
	s->limits = *lim;
	/* A reload that removes the control group takes effect on open connections too. */
	s->n_privileged = 0;
	for (struct client *c = s->clients; c; c = c->next) {
		c->peer.privileged = peer_privileged(s, c->fd, &c->cred);
		s->n_privileged += c->peer.privileged;
	}
}

void server_free(struct server *s)
{
	if (!s)
		return;
	while (s->clients)
		client_free(s->clients);
	sd_event_source_unref(s->listen_io);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	unlink_own_socket(s);
	sd_event_unref(s->event);
	free(s);
}
