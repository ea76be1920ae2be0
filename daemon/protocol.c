// SPDX-License-Identifier: GPL-2.0
/*
 * Varlink wire format, hand-rolled because systemd 252 has no sd-varlink:
 * every message is one JSON object followed by a NUL byte.  This file
 * frames messages, parses requests, answers org.varlink.service itself,
 * dispatches io.gigapool.Pool methods through a table and holds the
 * client side that gigapoolctl and gigapool-bench use.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "protocol.h"
#include "util.h"

#define SERVICE_INTERFACE "org.varlink.service"

static const char service_description[] =
	"interface org.varlink.service\n\n"
	"method GetInfo() -> (vendor: string, product: string, version: string,"
	" url: string, interfaces: []string)\n\n"
	"method GetInterfaceDescription(interface: string) -> (description: string)\n\n"
	"error InterfaceNotFound (interface: string)\n"
	"error MethodNotFound (method: string)\n"
	"error MethodNotImplemented (method: string)\n"
	"error InvalidParameter (parameter: string)\n";

void framer_init(struct framer *f, size_t max)
{
	memset(f, 0, sizeof(*f));
	f->max = max;
}

void framer_done(struct framer *f)
{
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

/*
 * Append bytes.  A peer that sends more than max bytes without a NUL gets
 * -EMSGSIZE, so the buffer never grows beyond about two messages.
 */
int framer_feed(struct framer *f, const void *data, size_t n)
{
	const char *nul;

	if (f->start > 0) {
		memmove(f->buf, f->buf + f->start, f->len - f->start);
		f->len -= f->start;
		f->start = 0;
	}
	if (n > f->max + 1 || f->len + n > 2 * (f->max + 1))
		return -EMSGSIZE;
	if (f->len + n > f->cap) {
		size_t cap = f->len + n > 4096 ? f->len + n : 4096;
		char *buf = realloc(f->buf, cap);

		if (!buf)
			return -ENOMEM;
		f->buf = buf;
		f->cap = cap;
	}
	memcpy(f->buf + f->len, data, n);
	f->len += n;
	nul = memchr(f->buf, '\0', f->len);
	if (!nul && f->len > f->max)
		return -EMSGSIZE;
	return 0;
}

/* Return 1 and the next complete message (valid until the next feed), or 0. */
int framer_next(struct framer *f, const char **ret_msg, size_t *ret_len)
{
	const char *msg = f->buf + f->start;
	const char *nul = f->len > f->start ? memchr(msg, '\0', f->len - f->start) : NULL;

	if (!nul)
		return 0;
	if ((size_t)(nul - msg) > f->max)
		return -EMSGSIZE;
	*ret_msg = msg;
	*ret_len = nul - msg;
	f->start += *ret_len + 1;
	return 1;
}

int protocol_parse_request(const char *msg, size_t len, struct request *ret)
{
	const cJSON *method, *params, *oneway;
	cJSON *root;

	memset(ret, 0, sizeof(*ret));
	root = cJSON_ParseWithLength(msg, len);
	if (!cJSON_IsObject(root))
		goto bad;
	for (const cJSON *c = root->child; c; c = c->next)
		/* "upgrade" would hand the connection to another protocol: not offered. */
		if (strcmp(c->string, "method") && strcmp(c->string, "parameters") &&
		    strcmp(c->string, "oneway") && strcmp(c->string, "more"))
			goto bad;
	method = cJSON_GetObjectItemCaseSensitive(root, "method");
	params = cJSON_GetObjectItemCaseSensitive(root, "parameters");
	oneway = cJSON_GetObjectItemCaseSensitive(root, "oneway");
	if (!cJSON_IsString(method) || (params && !cJSON_IsObject(params)) ||
	    (oneway && !cJSON_IsBool(oneway)))
		goto bad;
	ret->root = root;
	ret->method = method->valuestring;
	ret->params = params;
	ret->oneway = cJSON_IsTrue(oneway);
	return 0;
bad:
	cJSON_Delete(root);
	return -EBADMSG;
}

int reply_error(struct reply *ret, const char *error, const char *key, const char *value)
{
	ret->error = error;
	ret->params = cJSON_CreateObject();
	if (!ret->params)
		return -ENOMEM;
	if (key)
		cJSON_AddStringToObject(ret->params, key, value);
	return 0;
}

static int get_info(const struct service *svc, struct reply *ret)
{
	const char *const ifaces[] = { SERVICE_INTERFACE, POOL_INTERFACE };
	cJSON *p = cJSON_CreateObject();

	if (!p)
		return -ENOMEM;
	cJSON_AddStringToObject(p, "vendor", svc->vendor);
	cJSON_AddStringToObject(p, "product", svc->product);
	cJSON_AddStringToObject(p, "version", svc->version);
	cJSON_AddStringToObject(p, "url", svc->url);
	cJSON_AddItemToObject(p, "interfaces", cJSON_CreateStringArray(ifaces, 2));
	ret->params = p;
	return 0;
}

static int get_description(const struct service *svc, const cJSON *params, struct reply *ret)
{
	const cJSON *iface = cJSON_GetObjectItemCaseSensitive(params, "interface");
	const char *text;

	if (!cJSON_IsString(iface))
		return reply_error(ret, ERR_INVALID_PARAMETER, "parameter", "interface");
	if (strcmp(iface->valuestring, SERVICE_INTERFACE) == 0)
		text = service_description;
	else if (strcmp(iface->valuestring, POOL_INTERFACE) == 0)
		text = svc->description;
	else
		return reply_error(ret, ERR_INTERFACE_NOT_FOUND, "interface", iface->valuestring);
	ret->params = cJSON_CreateObject();
	if (!ret->params)
		return -ENOMEM;
	cJSON_AddStringToObject(ret->params, "description", text);
	return 0;
}

static int call_method(const struct service *svc, const struct peer *peer,
		       const struct request *req, struct reply *ret)
{
	size_t plen = strlen(POOL_INTERFACE);
	const char *dot = strrchr(req->method, '.');

	if (strcmp(req->method, SERVICE_INTERFACE ".GetInfo") == 0)
		return get_info(svc, ret);
	if (strcmp(req->method, SERVICE_INTERFACE ".GetInterfaceDescription") == 0)
		return get_description(svc, req->params, ret);
	if (strncmp(req->method, POOL_INTERFACE ".", plen + 1) != 0 ||
	    dot != req->method + plen) {
		if (dot && (size_t)(dot - req->method) == strlen(SERVICE_INTERFACE) &&
		    strncmp(req->method, SERVICE_INTERFACE, dot - req->method) == 0)
			return reply_error(ret, ERR_METHOD_NOT_FOUND, "method", req->method);
		return reply_error(ret, ERR_INTERFACE_NOT_FOUND, "interface", req->method);
	}
	for (const struct method *m = svc->methods; m->name; m++) {
		if (strcmp(m->name, dot + 1) != 0)
			continue;
		if (m->mutating && !peer->privileged)
			return reply_error(ret, ERR_PERMISSION_DENIED, NULL, NULL);
		return m->fn(svc->userdata, req->params, peer, ret);
	}
	return reply_error(ret, ERR_METHOD_NOT_FOUND, "method", req->method);
}

/*
 * Answer one message.  A message that is not a varlink call returns
 * -EBADMSG and the caller drops the connection; every call gets a reply
 * (unless oneway), errors included.  *ret_reply is NUL-terminated and the
 * NUL is part of the framing.
 */
int protocol_dispatch(const struct service *svc, const struct peer *peer,
		      const char *msg, size_t len, char **ret_reply)
{
	struct reply reply = { 0 };
	struct request req;
	cJSON *out;
	int r;

	*ret_reply = NULL;
	r = protocol_parse_request(msg, len, &req);
	if (r < 0)
		return r;
	r = call_method(svc, peer, &req, &reply);
	if (r < 0) {
		cJSON_Delete(reply.params);
		reply.params = NULL;
		r = reply_error(&reply, POOL_INTERFACE ".InternalError", "errno", strerror(-r));
	}
	out = cJSON_CreateObject();
	if (r >= 0 && out && !req.oneway) {
		if (reply.error)
			cJSON_AddStringToObject(out, "error", reply.error);
		cJSON_AddItemToObject(out, "parameters", reply.params);
		reply.params = NULL;
		*ret_reply = cJSON_PrintUnformatted(out);
		if (!*ret_reply)
			r = -ENOMEM;
	}
	cJSON_Delete(reply.params);
	cJSON_Delete(out);
	cJSON_Delete(req.root);
	return r < 0 ? r : 0;
}

int varlink_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

/*
 * Send one call and wait for its reply; params is consumed.  Callers
 * ignore SIGPIPE so that a vanished daemon is an error, not a signal.
 */
int varlink_call(int fd, const char *method, cJSON *params, size_t max_reply,
		 cJSON **ret_reply)
{
	cJSON *req = cJSON_CreateObject();
	struct framer f;
	char *text = NULL;
	const char *msg;
	size_t len;
	int r = -ENOMEM;

	if (!req) {
		cJSON_Delete(params);
		return -ENOMEM;
	}
	cJSON_AddStringToObject(req, "method", method);
	cJSON_AddItemToObject(req, "parameters", params ? params : cJSON_CreateObject());
	text = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	if (!text)
		return -ENOMEM;
	r = write_all(fd, text, strlen(text) + 1);
	free(text);
	if (r < 0)
		return r;
	framer_init(&f, max_reply);
	while ((r = framer_next(&f, &msg, &len)) == 0) {
		char buf[16384];
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -ECONNRESET;
			break;
		}
		r = framer_feed(&f, buf, n);
		if (r < 0)
			break;
	}
	if (r > 0) {
		*ret_reply = cJSON_ParseWithLength(msg, len);
		r = cJSON_IsObject(*ret_reply) ? 0 : -EBADMSG;
		if (r < 0)
			cJSON_Delete(*ret_reply);
	}
	framer_done(&f);
	return r;
}
