// SPDX-License-Identifier: GPL-2.0
/*
 * Reservations and their persistence.  The file is replaced atomically
 * (write, fsync, rename, fsync the directory) before a Reserve or Release
 * is answered, so a reservation a client was told about survives kill -9.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <linux/unmapped_pool.h>

#include "protocol.h"
#include "reservations.h"
#include "util.h"

#define RESV_FILE_VERSION 1
#define RESV_FILE_MAX_BYTES (64U << 20)

/* Owners end up in logs and tables: keep them to a safe alphabet. */
bool resv_owner_valid(const char *owner, size_t max_len)
{
	size_t len = strlen(owner);

	if (len == 0 || len > max_len)
		return false;
	return strspn(owner, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			     "0123456789._:@-") == len;
}

static const char *const kind_names[] = {
	[RESV_CONFIDENTIAL] = "confidential",
	[RESV_ORDINARY] = "ordinary",
};

const char *resv_kind_name(enum resv_kind kind)
{
	return (size_t)kind < ARRAY_SIZE(kind_names) ? kind_names[kind] : "unknown";
}

int resv_kind_from_name(const char *name, enum resv_kind *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(kind_names); i++)
		if (strcmp(name, kind_names[i]) == 0) {
			*ret = (enum resv_kind)i;
			return 0;
		}
	return -EINVAL;
}

struct reservation *resv_find(const struct resv_set *set, const char *owner)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->items[i].owner, owner) == 0)
			return &set->items[i];
	return NULL;
}

int resv_add(struct resv_set *set, const struct reservation *r)
{
	struct reservation *items;

	if (resv_find(set, r->owner))
		return -EEXIST;
	items = reallocarray(set->items, set->n + 1, sizeof(*items));
	if (!items)
		return -ENOMEM;
	set->items = items;
	items[set->n] = *r;
	items[set->n].owner = strdup(r->owner);
	if (!items[set->n].owner)
		return -ENOMEM;
	set->n++;
	return 0;
}

int resv_remove(struct resv_set *set, const char *owner)
{
	struct reservation *r = resv_find(set, owner);

	if (!r)
		return -ENOENT;
	free(r->owner);
	*r = set->items[--set->n];
	return 0;
}

void resv_set_done(struct resv_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		free(set->items[i].owner);
	free(set->items);
	set->items = NULL;
	set->n = 0;
}

static bool get_uint(const cJSON *obj, const char *key, double max, double *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > max ||
	    v->valuedouble != floor(v->valuedouble))
		return false;
	*ret = v->valuedouble;
	return true;
}

/* Why entry i is refused, or NULL when it is added. */
static const char *parse_one(const cJSON *e, struct resv_set *set)
{
	const cJSON *owner = cJSON_GetObjectItemCaseSensitive(e, "owner");
	const cJSON *any = cJSON_GetObjectItemCaseSensitive(e, "any");
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(e, "kind");
	struct reservation r = { .kind = RESV_CONFIDENTIAL };
	double bytes, node, created;

	if (!cJSON_IsString(owner) || !resv_owner_valid(owner->valuestring, 1024))
		return "owner: must be a string of letters, digits and ._:@-";
	if (!get_uint(e, "bytes", (double)RESV_MAX_BYTES, &bytes) || bytes == 0)
		return "bytes: must be an integer from 1 to 2^53-1";
	if (!get_uint(e, "node", UNMAPPED_POOL_MAX_NODES - 1, &node))
		return "node: must be a node number";
	if (!get_uint(e, "created", 1e15, &created))
		return "created: must be a time in seconds";
	if (!cJSON_IsBool(any))
		return "any: must be true or false";
	/* Files written before ordinary reservations existed have no kind. */
	if (kind && (!cJSON_IsString(kind) || resv_kind_from_name(kind->valuestring, &r.kind) < 0))
		return "kind: must be \"confidential\" or \"ordinary\"";
	r.owner = owner->valuestring;
	r.bytes = (uint64_t)bytes;
	r.node = (int)node;
	r.any = cJSON_IsTrue(any);
	r.created = (uint64_t)created;
	switch (resv_add(set, &r)) {
	case 0:
		return NULL;
	case -EEXIST:
		return "owner: appears twice";
	default:
		return "out of memory";
	}
}

static int fail(char **ret_error, const char *fmt, ...)
{
	va_list ap;

	if (ret_error) {
		va_start(ap, fmt);
		if (vasprintf(ret_error, fmt, ap) < 0)
			*ret_error = NULL;
		va_end(ap);
	}
	return -EINVAL;
}

/* On -EINVAL, *ret_error (when not NULL) says why, for the caller to free. */
int resv_parse(const char *text, size_t len, struct resv_set *ret, char **ret_error)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
	const cJSON *list, *e;
	double version;
	size_t i = 0;
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	if (ret_error)
		*ret_error = NULL;
	if (!root)
		return fail(ret_error, "not JSON (byte %td)", (end ? end : cJSON_GetErrorPtr()) - text);
	list = cJSON_GetObjectItemCaseSensitive(root, "reservations");
	if (!get_uint(root, "version", 1e6, &version) || version != RESV_FILE_VERSION)
		r = fail(ret_error, "version: must be %d", RESV_FILE_VERSION);
	else if (!cJSON_IsArray(list))
		r = fail(ret_error, "reservations: must be an array");
	else
		cJSON_ArrayForEach(e, list) {
			const char *why = parse_one(e, ret);

			if (why) {
				r = fail(ret_error, "reservations[%zu].%s", i, why);
				break;
			}
			i++;
		}
	cJSON_Delete(root);
	if (r < 0)
		resv_set_done(ret);
	return r;
}

/* The same object is stored on disk and sent to clients. */
cJSON *resv_to_json(const struct reservation *r)
{
	cJSON *e = cJSON_CreateObject();

	if (!e)
		return NULL;
	cJSON_AddStringToObject(e, "owner", r->owner);
	cJSON_AddStringToObject(e, "kind", resv_kind_name(r->kind));
	cJSON_AddNumberToObject(e, "bytes", (double)r->bytes);
	cJSON_AddNumberToObject(e, "node", r->node);
	cJSON_AddBoolToObject(e, "any", r->any);
	cJSON_AddNumberToObject(e, "created", (double)r->created);
	return e;
}

char *resv_format(const struct resv_set *set)
{
	cJSON *root = cJSON_CreateObject(), *list;
	char *text = NULL;

	if (!root)
		return NULL;
	cJSON_AddNumberToObject(root, "version", RESV_FILE_VERSION);
	list = cJSON_AddArrayToObject(root, "reservations");
	for (size_t i = 0; list && i < set->n; i++) {
		cJSON *e = resv_to_json(&set->items[i]);

		if (!e || !cJSON_AddItemToArray(list, e))
			goto out;
	}
	if (list)
		text = json_print_exact(root, true);
out:
	cJSON_Delete(root);
	return text;
}

static void resv_path(const char *dir, char *buf, size_t size)
{
	snprintf(buf, size, "%s/" RESV_FILE, dir);
}

/*
 * A missing file is an empty set: the first start of the daemon.  Any
 * other failure sets *ret_error (when not NULL) to the file's name and
 * the reason, for the caller to free.
 */
int resv_load(const char *dir, struct resv_set *ret, char **ret_error)
{
	char path[4096], *text, *why;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (ret_error)
		*ret_error = NULL;
	resv_path(dir, path, sizeof(path));
	r = read_file_str(path, &text, RESV_FILE_MAX_BYTES);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		fail(ret_error, "cannot read %s: %s", path, strerror(-r));
		return r;
	}
	r = resv_parse(text, r, ret, ret_error ? &why : NULL);
	free(text);
	if (r < 0 && ret_error) {
		fail(ret_error, "%s: %s (fix or move the file away; its reservations are lost then)",
		     path, why ? why : "out of memory");
		free(why);
	}
	return r;
}

/*
 * Lock the state directory for this process's lifetime: one daemon per
 * state.  On -EBUSY, *ret_pid is the pid of the daemon holding it (0 if
 * unknown).
 */
int resv_lock(const char *dir, int *ret_fd, pid_t *ret_pid)
{
	char path[4096], buf[32];
	int fd, n;

	*ret_pid = 0;
	snprintf(path, sizeof(path), "%s/" RESV_LOCK_FILE, dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int r = errno == EWOULDBLOCK ? -EBUSY : -errno;

		n = pread(fd, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			buf[n] = '\0';
			*ret_pid = (pid_t)strtol(buf, NULL, 10);
		}
		close(fd);
		return r;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, n, 0) != n) {
		int r = -errno;

		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

int resv_save(const char *dir, const struct resv_set *set)
{
	char path[4096], *text = resv_format(set);
	int r;

	if (!text)
		return -ENOMEM;
	resv_path(dir, path, sizeof(path));
	r = write_file_atomic(path, text, strlen(text), 0644);
	free(text);
	return r;
}
