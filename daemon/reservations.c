// SPDX-License-Identifier: GPL-2.0
/*
 * Reservations and their persistence.  The file is replaced atomically
 * (write, fsync, rename, fsync the directory) before a Reserve or Release
 * is answered, so a reservation a client was told about survives kill -9.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <linux/unmapped_pool.h>

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

static int parse_one(const cJSON *e, struct resv_set *set)
{
	const cJSON *owner = cJSON_GetObjectItemCaseSensitive(e, "owner");
	const cJSON *any = cJSON_GetObjectItemCaseSensitive(e, "any");
	struct reservation r = { 0 };
	double bytes, node, created;

	if (!cJSON_IsString(owner) || !resv_owner_valid(owner->valuestring, 1024) ||
	    !get_uint(e, "bytes", (double)RESV_MAX_BYTES, &bytes) || bytes == 0 ||
	    !get_uint(e, "node", UNMAPPED_POOL_MAX_NODES - 1, &node) ||
	    !get_uint(e, "created", 1e15, &created) || !cJSON_IsBool(any))
		return -EINVAL;
	r.owner = owner->valuestring;
	r.bytes = (uint64_t)bytes;
	r.node = (int)node;
	r.any = cJSON_IsTrue(any);
	r.created = (uint64_t)created;
	return resv_add(set, &r);
}

int resv_parse(const char *text, size_t len, struct resv_set *ret)
{
	cJSON *root = cJSON_ParseWithLength(text, len);
	const cJSON *list, *e;
	double version;
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	if (!root)
		return -EINVAL;
	list = cJSON_GetObjectItemCaseSensitive(root, "reservations");
	if (!get_uint(root, "version", 1e6, &version) || version != RESV_FILE_VERSION ||
	    !cJSON_IsArray(list)) {
		r = -EINVAL;
		list = NULL;
	}
	cJSON_ArrayForEach(e, list) {
		r = parse_one(e, ret);
		if (r < 0)
			break;
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
		text = cJSON_Print(root);
out:
	cJSON_Delete(root);
	return text;
}

static void resv_path(const char *dir, char *buf, size_t size)
{
	snprintf(buf, size, "%s/" RESV_FILE, dir);
}

/* A missing file is an empty set: the first start of the daemon. */
int resv_load(const char *dir, struct resv_set *ret)
{
	char path[4096], *text;
	int r;

	memset(ret, 0, sizeof(*ret));
	resv_path(dir, path, sizeof(path));
	r = read_file_str(path, &text, RESV_FILE_MAX_BYTES);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = resv_parse(text, r, ret);
	free(text);
	return r;
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
