// SPDX-License-Identifier: GPL-2.0
/*
 * The control socket: bind (or the socket systemd passed), accept,
 * SO_PEERCRED, per-connection buffers and limits, framing through
 * protocol.c.  It serves whatever struct service it is handed and knows
 * nothing of the manager, as OpenBSD ntpd's control.c.  Everything runs
 * on the daemon's one sd-event loop: a client that does not read its
 * replies, sends too large a message or stays silent too long is dropped
 * rather than waited for.
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

/* A client that does not read its replies is dropped beyond this. */
#define MAX_OUTPUT_BYTES (16U << 20)
/* Connections accepted per wakeup, so that a flood cannot starve cycles. */
#define ACCEPT_BATCH 64

struct client {
	struct server *s;
	int fd;
	struct peer peer;
	sd_event_source *io;
	sd_event_source *idle;
	struct framer in;
	char *out;
	size_t out_len, out_off;
	struct client *next, *prev;
};

struct server {
	sd_event *event;
	const struct service *svc;
	struct server_limits limits;
	int listen_fd;
	sd_event_source *listen_io;
	const char *path;	/* the socket file we bound (not socket-activated) */
	struct client *clients;
	size_t n_clients;
};

static uint64_t now_usec(const struct server *s)
{
	uint64_t t = 0;

	sd_event_now(s->event, CLOCK_MONOTONIC, &t);
	return t;
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
	sd_event_source_unref(c->io);
	sd_event_source_unref(c->idle);
	close(c->fd);
	framer_done(&c->in);
	free(c->out);
	free(c);
}

/* Returns false when the client is gone. */
static bool client_flush(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
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
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	sd_event_source_set_io_events(c->io, c->out_len ? EPOLLIN | EPOLLOUT : EPOLLIN);
	return true;
}

static int client_queue(struct client *c, const char *reply)
{
	size_t len = strlen(reply) + 1;
	char *out;

	if (c->out_len + len > MAX_OUTPUT_BYTES)
		return -ENOBUFS;
	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	out = realloc(c->out, c->out_len + len);
	if (!out)
		return -ENOMEM;
	memcpy(out + c->out_len, reply, len);
	c->out = out;
	c->out_len += len;
	return 0;
}

/* Handle all complete messages; false when the client was dropped. */
static bool client_process(struct client *c)
{
	const char *msg;
	size_t len;
	int r;

	while ((r = framer_next(&c->in, &msg, &len)) > 0) {
		char *reply;

		r = protocol_dispatch(c->s->svc, &c->peer, msg, len, &reply);
		if (r < 0)
			break;
		if (reply) {
			r = client_queue(c, reply);
			free(reply);
			if (r < 0)
				break;
		}
	}
	if (r < 0) {
		client_free(c);
		return false;
	}
	return client_flush(c);
}

static int on_client_io(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct client *c = userdata;
	char buf[65536];
	ssize_t n;

	(void)es;
	if ((revents & EPOLLOUT) && !client_flush(c))
		return 0;
	if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return 0;
	/* Never more than one message at a time, so pipelined calls fit the framer. */
	n = recv(fd, buf, min_u64(sizeof(buf), c->in.max + 1), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0 || framer_feed(&c->in, buf, n) < 0) {
		client_free(c);
		return 0;
	}
	sd_event_source_set_time(c->idle, now_usec(c->s) + c->s->limits.idle_timeout_usec);
	client_process(c);
	return 0;
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

static void accept_one(struct server *s, int fd)
{
	const struct server_limits *lim = &s->limits;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct client *c;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    s->n_clients >= lim->max_connections ||
	    clients_of_uid(s, cred.uid) >= lim->max_connections_per_uid) {
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
	c->peer.uid = cred.uid;
	c->peer.privileged = peer_privileged(s, fd, &cred);
	framer_init(&c->in, lim->max_message_bytes);
	c->next = s->clients;
	if (s->clients)
		s->clients->prev = c;
	s->clients = c;
	s->n_clients++;
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

static int bind_socket(struct server *s, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)];
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
	s->listen_fd = fd;
	s->path = path;
	return 0;
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
	if (s->path)
		unlink(s->path);
	sd_event_unref(s->event);
	free(s);
}
