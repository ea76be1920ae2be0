// SPDX-License-Identifier: GPL-2.0
/*
 * Varlink wire format, hand-rolled because systemd 252 has no sd-varlink:
 * every message is one JSON object followed by a NUL byte.  This file
 * frames messages, parses requests, answers org.varlink.service itself,
 * dispatches io.gigapool.Pool methods through a table and holds the
 * client side that gigapoolctl and gigapool-bench use.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
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

/* Whether a complete message is buffered, without taking it. */
bool framer_next_ready(const struct framer *f)
{
	return f->len > f->start && memchr(f->buf + f->start, '\0', f->len - f->start);
}

/*
 * Bytes that stand in for a string's NUL escape or invalid UTF-8 in the
 * copy that is parsed: 0xff is never part of valid UTF-8, so a string
 * holding it after parsing held one of them in the message.
 */
#define BAD_BYTE '\xff'

/* Length of the valid UTF-8 sequence at p (RFC 3629), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len = p[0] < 0x80 ? 1 : p[0] >= 0xc2 && p[0] <= 0xdf ? 2 :
		     p[0] >= 0xe0 && p[0] <= 0xef ? 3 : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0;
	unsigned cp;

	if (len == 0 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if (len == 3) {
		cp = (p[0] & 0x0f) << 12 | (p[1] & 0x3f) << 6 | (p[2] & 0x3f);
		if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
	} else if (len == 4) {
		cp = (p[0] & 0x07) << 18 | (p[1] & 0x3f) << 12 | (p[2] & 0x3f) << 6 | (p[3] & 0x3f);
		if (cp < 0x10000 || cp > 0x10ffff)
			return 0;
	}
	return len;
}

/*
 * cJSON keeps C strings: a \u0000 escape would cut a name short, and it
 * copies bytes that are not UTF-8 as they are.  Return a copy of msg with
 * both replaced by BAD_BYTE, or NULL (and 0) when msg has neither.
 */
static int mark_bad_bytes(const char *msg, size_t len, char **ret)
{
	const unsigned char *p = (const unsigned char *)msg;
	char *copy = NULL;

	*ret = NULL;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_len(p + i, len - i);
		bool nul = p[i] == '\\' && i + 5 < len && p[i + 1] == 'u' &&
			   !memcmp(msg + i + 2, "0000", 4);

		if (n && !nul) {
			/* An escape's second byte is never taken for the start of one. */
			i += p[i] == '\\' && i + 1 < len ? 2 : n;
			continue;
		}
		if (!copy) {
			copy = malloc(len);
			if (!copy)
				return -ENOMEM;
			memcpy(copy, msg, len);
		}
		n = nul ? 6 : 1;
		memset(copy + i, BAD_BYTE, n);
		i += n;
	}
	*ret = copy;
	return 0;
}

/* Whether a name of item, its siblings or anything within holds a BAD_BYTE. */
static bool bad_names(const cJSON *item)
{
	for (; item; item = item->next)
		if ((item->string && strchr(item->string, BAD_BYTE)) || bad_names(item->child))
			return true;
	return false;
}

/* Whether a string value of item or within it holds a BAD_BYTE. */
static bool bad_strings(const cJSON *item)
{
	const cJSON *c;

	if (cJSON_IsString(item))
		return strchr(item->valuestring, BAD_BYTE);
	cJSON_ArrayForEach(c, item)
		if (bad_strings(c))
			return true;
	return false;
}

static bool is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Parse one call: exactly one JSON object (whitespace around it allowed),
 * with only the keys of the varlink spec.  Strings of its parameters that
 * held NUL or invalid UTF-8 are refused later, with InvalidParameter; in
 * the method name or any key they make the message malformed.
 */
int protocol_parse_request(const char *msg, size_t len, struct request *ret)
{
	const cJSON *method, *params, *oneway, *more, *upgrade;
	const char *end = NULL;
	cJSON *root = NULL;
	char *copy;

	memset(ret, 0, sizeof(*ret));
	if (mark_bad_bytes(msg, len, &copy) < 0)
		return -ENOMEM;
	if (copy)
		msg = copy;
	root = cJSON_ParseWithLengthOpts(msg, len, &end, false);
	if (!cJSON_IsObject(root))
		goto bad;
	/* One object per message: what follows it is not ignored. */
	for (; end < msg + len; end++)
		if (!is_json_space(*end))
			goto bad;
	for (const cJSON *c = root->child; c; c = c->next)
		if (strcmp(c->string, "method") && strcmp(c->string, "parameters") &&
		    strcmp(c->string, "oneway") && strcmp(c->string, "more") &&
		    strcmp(c->string, "upgrade"))
			goto bad;
	method = cJSON_GetObjectItemCaseSensitive(root, "method");
	params = cJSON_GetObjectItemCaseSensitive(root, "parameters");
	oneway = cJSON_GetObjectItemCaseSensitive(root, "oneway");
	more = cJSON_GetObjectItemCaseSensitive(root, "more");
	upgrade = cJSON_GetObjectItemCaseSensitive(root, "upgrade");
	/* varlink/go sends "parameters": null for a call without any. */
	if (!cJSON_IsString(method) || strchr(method->valuestring, BAD_BYTE) ||
	    (params && !cJSON_IsObject(params) && !cJSON_IsNull(params)) ||
	    (oneway && !cJSON_IsBool(oneway)) || (more && !cJSON_IsBool(more)) ||
	    (upgrade && !cJSON_IsBool(upgrade)) || bad_names(root->child))
		goto bad;
	ret->root = root;
	ret->method = method->valuestring;
	ret->params = cJSON_IsObject(params) ? params : NULL;
	ret->oneway = cJSON_IsTrue(oneway);
	ret->upgrade = cJSON_IsTrue(upgrade);
	free(copy);
	return 0;
bad:
	cJSON_Delete(root);
	free(copy);
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

/*
 * Refuse, with InvalidParameter naming it, a parameter the method does
 * not take or one whose strings held NUL or invalid UTF-8; true when ret
 * was filled in.
 */
static bool bad_params(const cJSON *params, const char *allowed, struct reply *ret, int *ret_r)
{
	const cJSON *p;

	cJSON_ArrayForEach(p, params) {
		size_t len = strlen(p->string);
		const char *w = allowed;
		bool known = false;

		while (w && *w && !known) {
			size_t wlen = strcspn(w, " ");

			known = wlen == len && !strncmp(w, p->string, len);
			w += wlen + (w[wlen] == ' ');
		}
		if (!known || bad_strings(p)) {
			*ret_r = reply_error(ret, ERR_INVALID_PARAMETER, "parameter", p->string);
			return true;
		}
	}
	return false;
}

static int call_method(const struct service *svc, const struct peer *peer,
		       const struct request *req, struct reply *ret)
{
	size_t plen = strlen(POOL_INTERFACE);
	const char *dot = strrchr(req->method, '.');
	int r;

	/* No method offers another protocol (varlink's "upgrade"). */
	if (req->upgrade)
		return reply_error(ret, ERR_INVALID_PARAMETER, "parameter", "upgrade");
	if (strcmp(req->method, SERVICE_INTERFACE ".GetInfo") == 0)
		return bad_params(req->params, NULL, ret, &r) ? r : get_info(svc, ret);
	if (strcmp(req->method, SERVICE_INTERFACE ".GetInterfaceDescription") == 0)
		return bad_params(req->params, "interface", ret, &r) ? r :
		       get_description(svc, req->params, ret);
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
		if (bad_params(req->params, m->params, ret, &r))
			return r;
		return m->fn(svc->userdata, req->params, peer, ret);
	}
	return reply_error(ret, ERR_METHOD_NOT_FOUND, "method", req->method);
}

/*
 * cJSON prints a number with 15 significant digits when that reads back
 * within its tolerance, which rounds integers from 10^15 on.  Integers
 * that large are turned into their exact decimal text before printing,
 * so that every integer up to 2^53 reaches the peer or disk unchanged.
 */
static int exact_integers(cJSON *item)
{
	for (; item; item = item->next) {
		double v = item->valuedouble;
		char buf[32], *text;

		if (exact_integers(item->child) < 0)
			return -ENOMEM;
		if (!cJSON_IsNumber(item) || fabs(v) < 1e15 || fabs(v) >= 1e19 || v != floor(v))
			continue;
		snprintf(buf, sizeof(buf), "%.0f", v);
		text = strdup(buf);
		if (!text)
			return -ENOMEM;
		item->type = cJSON_Raw;
		item->valuestring = text;
	}
	return 0;
}

/* cJSON_Print(), or cJSON_PrintUnformatted(), with exact integers; item may be changed. */
char *json_print_exact(cJSON *item, bool formatted)
{
	if (exact_integers(item) < 0)
		return NULL;
	return formatted ? cJSON_Print(item) : cJSON_PrintUnformatted(item);
}

/*
 * The text of a reply to send, NUL-terminated (the NUL is part of the
 * framing), from what the method returned (r) and filled in; reply is
 * consumed.  A method that failed gets InternalError.
 */
static int reply_text(int r, struct reply *reply, char **ret_text)
{
	cJSON *out;

	*ret_text = NULL;
	if (r < 0) {
		cJSON_Delete(reply->params);
		reply->params = NULL;
		r = reply_error(reply, POOL_INTERFACE ".InternalError", "errno", strerror(-r));
	}
	out = cJSON_CreateObject();
	if (r >= 0 && out) {
		if (reply->error)
			cJSON_AddStringToObject(out, "error", reply->error);
		cJSON_AddItemToObject(out, "parameters", reply->params);
		reply->params = NULL;
		*ret_text = json_print_exact(out, false);
	}
	cJSON_Delete(reply->params);
	cJSON_Delete(out);
	return *ret_text ? 0 : -ENOMEM;
}

/*
 * Answer one message.  A message that is not a varlink call returns
 * -EBADMSG and the caller drops the connection; every call gets a reply
 * (unless oneway, or deferred: see struct call), errors included.
 * *ret_reply is NUL-terminated and the NUL is part of the framing.
 */
int protocol_dispatch(const struct service *svc, const struct peer *peer,
		      const char *msg, size_t len, char **ret_reply)
{
	struct reply reply = { 0 };
	struct peer p = *peer;
	struct request req;
	int r;

	*ret_reply = NULL;
	r = protocol_parse_request(msg, len, &req);
	if (r < 0)
		return r;
	/* Nobody waits for the reply to a oneway call: it is never deferred. */
	if (req.oneway)
		p.defer = NULL;
	r = call_method(svc, &p, &req, &reply);
	if (r == REPLY_LATER || req.oneway) {
		cJSON_Delete(reply.params);
		r = 0;
	} else {
		r = reply_text(r, &reply, ret_reply);
	}
	cJSON_Delete(req.root);
	return r;
}

void call_link(struct call **head, struct call *c)
{
	c->next = *head;
	if (c->next)
		c->next->pprev = &c->next;
	c->pprev = head;
	*head = c;
}

void call_unlink(struct call *c)
{
	if (!c->pprev)
		return;
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	c->next = NULL;
	c->pprev = NULL;
}

void call_free(struct call *c)
{
	call_unlink(c);
	free(c->arg);
	free(c);
}

void call_answer(struct call *c)
{
	struct reply reply = { 0 };
	char *text;

	call_unlink(c);
	/* Out of memory leaves text NULL: the server drops the connection. */
	reply_text(c->answer(c->userdata, c->arg, &reply), &reply, &text);
	c->deliver(c, text);
	free(text);
	call_free(c);
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
	text = json_print_exact(req, false);
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
