/* SPDX-License-Identifier: GPL-2.0 */
#ifndef GIGAPOOL_PROTOCOL_H
#define GIGAPOOL_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define POOL_INTERFACE "io.gigapool.Pool"
#define POOL_SOCKET "/run/gigapool/" POOL_INTERFACE

#define ERR_PERMISSION_DENIED	POOL_INTERFACE ".PermissionDenied"
#define ERR_INVALID_PARAMETER	"org.varlink.service.InvalidParameter"
#define ERR_METHOD_NOT_FOUND	"org.varlink.service.MethodNotFound"
#define ERR_INTERFACE_NOT_FOUND	"org.varlink.service.InterfaceNotFound"

/* Accumulates a byte stream and cuts it into NUL-terminated messages. */
struct framer {
	char *buf;
	size_t start;		/* first byte not yet returned */
	size_t len;		/* bytes in buf */
	size_t cap;
	size_t max;		/* largest message, without its NUL */
};

void framer_init(struct framer *f, size_t max);
void framer_done(struct framer *f);
int framer_feed(struct framer *f, const void *data, size_t n);
int framer_next(struct framer *f, const char **ret_msg, size_t *ret_len);
bool framer_next_ready(const struct framer *f);

/* A method's answer: parameters on success, or an error name and its parameters. */
struct reply {
	const char *error;
	cJSON *params;
};

/* Builds a reply as a method does, with the userdata and argument it was given. */
typedef int (*answer_fn)(void *userdata, const char *arg, struct reply *ret);

/*
 * A call answered after its method returned, once slow work (the moves of
 * a cycle) is done.  A method takes one from peer->defer(), hands it to
 * whoever finishes the work and returns REPLY_LATER; that one calls
 * call_answer() when it is done.  The server owns the call: while it waits,
 * the client is given no other call to answer (replies keep their order),
 * and a client that goes away takes its call off the list it waits on.
 */
struct call {
	answer_fn answer;
	void *userdata;
	char *arg;		/* copied, freed with the call */
	uint64_t tag;		/* the holder's: what the call waits for */
	struct call *next, **pprev;	/* the holder's list */
	void *conn;		/* the server's: the connection to answer on */
	void (*deliver)(struct call *c, const char *reply);
};

#define REPLY_LATER 1	/* a method's return: its call was deferred */

struct peer {
	uint32_t uid;
	bool privileged;	/* may call mutating methods */
	/*
	 * A call of this peer answered later with answer, or NULL (out of
	 * memory).  NULL itself where nothing waits for a reply: a oneway
	 * call, the tests and the fuzzer.
	 */
	struct call *(*defer)(const struct peer *peer, answer_fn answer, void *userdata,
			      const char *arg);
	void *conn;		/* the server's, for defer */
};

void call_link(struct call **head, struct call *c);
void call_unlink(struct call *c);
/* Build c's reply, deliver it to its connection and free c. */
void call_answer(struct call *c);
/* Free c unanswered, off its list: its connection is gone. */
void call_free(struct call *c);

struct method {
	const char *name;	/* without the interface prefix */
	bool mutating;
	int (*fn)(void *userdata, const cJSON *params, const struct peer *peer,
		  struct reply *ret);
	const char *params;	/* its parameters' names, space-separated; others are refused */
};

struct service {
	const char *vendor, *product, *version, *url;
	const char *description;	/* varlink IDL of POOL_INTERFACE */
	const struct method *methods;
	void *userdata;
};

struct request {
	cJSON *root;
	const char *method;
	const cJSON *params;
	bool oneway;
	bool upgrade;	/* asks for another protocol after the reply: refused */
};

int protocol_parse_request(const char *msg, size_t len, struct request *ret);
int protocol_dispatch(const struct service *svc, const struct peer *peer,
		      const char *msg, size_t len, char **ret_reply);
int reply_error(struct reply *ret, const char *error, const char *key, const char *value);
char *json_print_exact(cJSON *item, bool formatted);

int varlink_connect(const char *path);
int varlink_call(int fd, const char *method, cJSON *params, size_t max_reply,
		 cJSON **ret_reply);

#endif
