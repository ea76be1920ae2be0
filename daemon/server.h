/* SPDX-License-Identifier: GPL-2.0 */
#ifndef GIGAPOOL_SERVER_H
#define GIGAPOOL_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "protocol.h"

/* What the control socket grants its clients. */
struct server_limits {
	uint64_t max_connections;	/* clients at once, root and control group have more */
	uint64_t max_connections_per_uid;
	uint64_t max_message_bytes;	/* largest request, without its NUL */
	uint64_t idle_timeout_usec;	/* to complete a message from its first byte */
	bool has_control_group;		/* besides root, members of control_gid */
	gid_t control_gid;		/* ... may call mutating methods */
};

struct server;

/* Serves svc (which must outlive the server) on event once server_listen() succeeded. */
int server_new(sd_event *event, const struct service *svc, const struct server_limits *lim,
	       struct server **ret);
/*
 * Listen on the socket systemd passed, or else bind path (its directory
 * made if missing): -EADDRINUSE when a live daemon answers there, while
 * a dead one's socket is replaced.  server_free() removes the socket file
 * it bound, unless another has replaced it since, so path must outlive
 * the server.
 */
int server_listen(struct server *s, const char *path);
/* -EADDRINUSE when a live daemon answers on path (and no socket was passed), else 0. */
int server_probe(const char *path);
/*
 * Limits for the connections accepted from now on.  A connected client
 * keeps its message size; its privilege is decided anew (a reload may
 * have changed the control group); its idle timeout changes when it next
 * completes a message.
 */
void server_set_limits(struct server *s, const struct server_limits *lim);
void server_free(struct server *s);

#endif
