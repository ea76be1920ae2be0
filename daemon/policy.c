// SPDX-License-Identifier: GPL-2.0
/*
 * Policy parsing and validation.  The policy is strict on purpose: a typo
 * in a key would otherwise silently fall back to a default and move
 * gigabytes of memory the operator did not mean to move, so unknown keys,
 * wrong types and out-of-range values are refused with their JSON path.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <linux/unmapped_pool.h>

#include "policy.h"
#include "util.h"

/* Bounds that keep every count far below anything that could overflow. */
#define MAX_CHUNKS	(1ULL << 20)
/* 16 TiB of 4 KiB pages: more than a cycle could ever copy. */
#define MAX_COMPACT_PAGES (1ULL << 32)
/* 1 GiB of 4 KiB pages: a chunk's worth, the most a stranded chunk holds. */
#define DEF_COMPACT_PAGES (1ULL << 18)
#define MAX_POLICY_BYTES (1U << 20)

/*
 * The tables are the single source of keys, ranges and defaults: the
 * schema and gigapool-policy(5) repeat them for their readers, and
 * tests/daemon/test_policy_docs.c checks that they agree with these.
 */
#define U64(s, k, lo, hi, d) { #k, POLICY_U64, offsetof(s, k), lo, hi, d, NULL }
/*
 * Sizes of a node may be shares of it (node_shares below), so that one
 * policy fits a test guest and a host of terabytes alike.  The cap is the
 * operator's to choose: by default there is none (the whole node).
 */
static const struct policy_field node_fields[] = {
	{ "excluded", POLICY_BOOL, offsetof(struct node_policy, excluded), 0, 0, false, NULL },
	U64(struct node_policy, keep_free_hugetlb, 0, MAX_CHUNKS, 0),
	U64(struct node_policy, headroom_low, 0, MAX_CHUNKS, 1),
	U64(struct node_policy, headroom_high, 0, MAX_CHUNKS, 2),
	U64(struct node_policy, max_pool_chunks, 0, MAX_CHUNKS, POLICY_SHARE_WHOLE),
	U64(struct node_policy, max_moves, 1, MAX_CHUNKS, 4),
	U64(struct node_policy, cooldown_sec, 0, 86400, 30),
	{ NULL }
};

static const struct policy_share node_shares[] = {
	{ "keep_free_hugetlb", POLICY_SHARE_KEEP_FREE_HUGETLB, false },
	{ "headroom_low", POLICY_SHARE_HEADROOM_LOW, false },
	{ "headroom_high", POLICY_SHARE_HEADROOM_HIGH, false },
	{ "max_pool_chunks", POLICY_SHARE_MAX_POOL_CHUNKS, true },
};

const struct policy_share *policy_share_of(const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(node_shares); i++)
		if (strcmp(node_shares[i].key, key) == 0)
			return &node_shares[i];
	return NULL;
}

/* The share field f of a table takes, if it is a key of a node. */
static const struct policy_share *field_share(const struct policy_field *f)
{
	if (f < node_fields || f >= node_fields + ARRAY_SIZE(node_fields))
		return NULL;
	return policy_share_of(f->key);
}

static const struct policy_field limit_fields[] = {
	U64(struct policy_limits, max_message_bytes, 1024, 16 << 20, 65536),
	U64(struct policy_limits, max_connections, 1, 65536, 256),
	U64(struct policy_limits, max_connections_per_uid, 1, 65536, 128),
	U64(struct policy_limits, idle_timeout_sec, 1, 86400, 60),
	U64(struct policy_limits, max_reservations, 1, 1 << 20, 1024),
	U64(struct policy_limits, max_owner_length, 1, 1024, 64),
	{ NULL }
};

static const struct policy_field retry_fields[] = {
	{ "attempts", POLICY_U64, offsetof(struct policy, retry_attempts), 0, 100, 5, NULL },
	{ "backoff_ms", POLICY_U64, offsetof(struct policy, retry_backoff_ms), 1, 3600000, 200, NULL },
	{ "backoff_max_ms", POLICY_U64, offsetof(struct policy, retry_backoff_max_ms), 1, 3600000, 10000, NULL },
	{ NULL }
};

/* The words of guest_memfd, indexed by enum gmem_mode - 1. */
static const struct policy_field gmem_modes[] = {
	{ .key = "flag" }, { .key = "prefer" }, { .key = "require" }, { NULL }
};

const char *gmem_mode_name(enum gmem_mode m)
{
	return m > GMEM_MODE_UNSET && m <= GMEM_MODE_REQUIRE ? gmem_modes[m - 1].key : NULL;
}

/* Offsets in retry_fields are relative to struct policy, so base is 0. */
static const struct policy_field top_fields[] = {
	{ "defaults", POLICY_OBJECT, offsetof(struct policy, defaults), 0, 0, 0, node_fields },
	U64(struct policy, interval_sec, 1, 86400, 60),
	U64(struct policy, max_moves_per_cycle, 1, MAX_CHUNKS, 16),
	U64(struct policy, max_compact_pages_per_cycle, 0, MAX_COMPACT_PAGES, DEF_COMPACT_PAGES),
	{ "retry", POLICY_OBJECT, 0, 0, 0, 0, retry_fields },
	{ "limits", POLICY_OBJECT, offsetof(struct policy, limits), 0, 0, 0, limit_fields },
	{ "control_group", POLICY_STRING, offsetof(struct policy, control_group), 1, 64, 0, NULL },
	{ "textfile", POLICY_STRING, offsetof(struct policy, textfile), 1, PATH_MAX - 8, 0, NULL },
	{ "guest_memfd", POLICY_ENUM, offsetof(struct policy, guest_memfd), 0, 0, 0, gmem_modes },
	{ NULL }
};

const struct policy_field *policy_fields(void)
{
	return top_fields;
}

/* Strings default to NULL, which calloc already gave. */
static void apply_defaults(const struct policy_field *fields, void *base)
{
	for (const struct policy_field *f = fields; f->key; f++) {
		const struct policy_share *share = field_share(f);
		void *dst = (char *)base + f->offset;

		if (share && share->def_share)
			((struct node_policy *)base)->shares |= share->bit;
		if (f->type == POLICY_U64)
			*(uint64_t *)dst = f->def;
		else if (f->type == POLICY_BOOL)
			*(bool *)dst = f->def;
		else if (f->type == POLICY_OBJECT)
			apply_defaults(f->sub, dst);
	}
}

static int fail(char **ret_error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(ret_error, fmt, ap) < 0)
		*ret_error = NULL;
	va_end(ap);
	return -EINVAL;
}

static int parse_object(const cJSON *obj, const struct policy_field *fields, void *base,
			const char *path, char **ret_error);

/* "P%" with P from 0 to 100 and at most three decimals, in thousandths of a percent. */
static int parse_share(const char *s, uint64_t *ret)
{
	uint64_t v = 0;
	unsigned digits = 0, decimals = 0;

	/* As POLICY_SHARE_PATTERN: "100" or one or two digits, then decimals. */
	if (strncmp(s, "100", 3) == 0) {
		v = 100;
		s += 3;
		digits = 3;
	}
	for (; *s >= '0' && *s <= '9' && digits < 2; s++, digits++)
		v = v * 10 + (uint64_t)(*s - '0');
	if (digits == 0)
		return -EINVAL;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9' && decimals < 3; s++, decimals++)
			v = v * 10 + (uint64_t)(*s - '0');
	if (s[-1] == '.' || strcmp(s, "%") != 0)
		return -EINVAL;
	for (; decimals < 3; decimals++)
		v *= 10;
	if (v > POLICY_SHARE_WHOLE)
		return -ERANGE;
	*ret = v;
	return 0;
}

void policy_choices(const struct policy_field *f, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; f->sub[i].key && len < size; i++)
		len += snprintf(buf + len, size - len, "%s%s",
				i == 0 ? "" : f->sub[i + 1].key ? ", " : " or ", f->sub[i].key);
}

static int parse_field(const cJSON *item, const struct policy_field *f, void *base,
		       const char *path, char **ret_error)
{
	const struct policy_share *share = field_share(f);
	void *dst = (char *)base + f->offset;
	char words[128];
	double d;

	switch (f->type) {
	case POLICY_BOOL:
		if (!cJSON_IsBool(item))
			return fail(ret_error, "%s: must be true or false", path);
		*(bool *)dst = cJSON_IsTrue(item);
		return 0;
	case POLICY_U64:
		/* A node's key: the share bit says which of the two dst holds. */
		if (share && cJSON_IsString(item)) {
			if (parse_share(item->valuestring, dst) < 0)
				return fail(ret_error, "%s: must be an integer from %llu to %llu or "
					    "a share from 0%% to 100%% (like \"12.5%%\")", path,
					    (unsigned long long)f->min, (unsigned long long)f->max);
			((struct node_policy *)base)->shares |= share->bit;
			return 0;
		}
		if (share)
			((struct node_policy *)base)->shares &= ~share->bit;
		d = cJSON_IsNumber(item) ? item->valuedouble : -1;
		if (!cJSON_IsNumber(item) || d != floor(d) || d < (double)f->min || d > (double)f->max)
			return fail(ret_error, "%s: must be an integer from %llu to %llu", path,
				    (unsigned long long)f->min, (unsigned long long)f->max);
		*(uint64_t *)dst = (uint64_t)d;
		return 0;
	case POLICY_STRING:
		if (cJSON_IsNull(item)) {
			free(*(char **)dst);
			*(char **)dst = NULL;
			return 0;
		}
		if (!cJSON_IsString(item) || strlen(item->valuestring) < f->min ||
		    strlen(item->valuestring) > f->max)
			return fail(ret_error, "%s: must be null or a string of %llu to %llu bytes",
				    path, (unsigned long long)f->min, (unsigned long long)f->max);
		free(*(char **)dst);
		*(char **)dst = strdup(item->valuestring);
		return *(char **)dst ? 0 : -ENOMEM;
	case POLICY_OBJECT:
		return parse_object(item, f->sub, dst, path, ret_error);
	case POLICY_ENUM:
		if (cJSON_IsNull(item)) {
			*(unsigned *)dst = 0;
			return 0;
		}
		for (unsigned i = 0; cJSON_IsString(item) && f->sub[i].key; i++)
			if (strcmp(item->valuestring, f->sub[i].key) == 0) {
				*(unsigned *)dst = i + 1;
				return 0;
			}
		policy_choices(f, words, sizeof(words));
		return fail(ret_error, "%s: must be null or %s", path, words);
	}
	return -EINVAL;
}

static int check_object(const cJSON *obj, const char *path, char **ret_error)
{
	if (!cJSON_IsObject(obj))
		return fail(ret_error, "%s: must be an object", path);
	for (const cJSON *c = obj->child; c; c = c->next)
		if (cJSON_GetObjectItemCaseSensitive(obj, c->string) != c)
			return fail(ret_error, "%s.%s: duplicate key", path, c->string);
	return 0;
}

/* Fill base from obj through a field table; every key must be known. */
static int parse_object(const cJSON *obj, const struct policy_field *fields, void *base,
			const char *path, char **ret_error)
{
	int r = check_object(obj, path, ret_error);

	if (r < 0)
		return r;
	for (const cJSON *c = obj->child; c; c = c->next) {
		const struct policy_field *f;
		char sub[512];

		snprintf(sub, sizeof(sub), "%s.%s", path, c->string);
		for (f = fields; f->key; f++)
			if (strcmp(f->key, c->string) == 0)
				break;
		if (!f->key)
			return fail(ret_error, "%s: unknown key", sub);
		r = parse_field(c, f, base, sub, ret_error);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Whether the keys of bits a and b are both counts or both shares. */
static bool same_unit(const struct node_policy *n, unsigned a, unsigned b)
{
	return !(n->shares & a) == !(n->shares & b);
}

/* A key's value as the policy gives it: a count, or a share like 12.5%. */
static const char *value_str(const struct node_policy *n, unsigned bit, uint64_t v,
			     char *buf, size_t size)
{
	if (!(n->shares & bit))
		snprintf(buf, size, "%llu", (unsigned long long)v);
	else if (v % 1000)
		snprintf(buf, size, "%llu.%03llu%%", (unsigned long long)(v / 1000),
			 (unsigned long long)(v % 1000));
	else
		snprintf(buf, size, "%llu%%", (unsigned long long)(v / 1000));
	return buf;
}

/*
 * A share and a count are ordered only once the node is known;
 * node_policy_resolve() clamps them then.
 */
static int check_node_policy(const struct node_policy *n, const char *path, char **ret_error)
{
	char buf[32];

	if (same_unit(n, POLICY_SHARE_HEADROOM_LOW, POLICY_SHARE_HEADROOM_HIGH) &&
	    n->headroom_low > n->headroom_high)
		return fail(ret_error, "%s.headroom_low: must not exceed headroom_high (%s)", path,
			    value_str(n, POLICY_SHARE_HEADROOM_HIGH, n->headroom_high, buf,
				      sizeof(buf)));
	if (same_unit(n, POLICY_SHARE_HEADROOM_HIGH, POLICY_SHARE_MAX_POOL_CHUNKS) &&
	    n->headroom_high > n->max_pool_chunks)
		return fail(ret_error, "%s.headroom_high: must not exceed max_pool_chunks (%s)", path,
			    value_str(n, POLICY_SHARE_MAX_POOL_CHUNKS, n->max_pool_chunks, buf,
				      sizeof(buf)));
	return 0;
}

/* Node overrides start from the (already parsed) defaults. */
static int parse_nodes(const cJSON *nodes, struct policy *p, char **ret_error)
{
	size_t n = 0;
	int r = check_object(nodes, "$.nodes", ret_error);

	if (r < 0)
		return r;
	p->overrides = calloc(cJSON_GetArraySize(nodes) + 1, sizeof(*p->overrides));
	if (!p->overrides)
		return -ENOMEM;
	for (const cJSON *c = nodes->child; c; c = c->next, n++) {
		struct node_override *o = &p->overrides[n];
		char path[512], *end;
		unsigned long id;

		snprintf(path, sizeof(path), "$.nodes.%s", c->string);
		errno = 0;
		id = strtoul(c->string, &end, 10);
		if (!c->string[0] || *end || errno || id >= UNMAPPED_POOL_MAX_NODES ||
		    (c->string[0] == '0' && c->string[1]) || c->string[0] == '-' || c->string[0] == '+')
			return fail(ret_error, "%s: node key must be a decimal node id below %d",
				    path, UNMAPPED_POOL_MAX_NODES);
		o->node = id;
		o->p = p->defaults;
		r = parse_object(c, node_fields, &o->p, path, ret_error);
		if (r < 0)
			return r;
		r = check_node_policy(&o->p, path, ret_error);
		if (r < 0)
			return r;
		p->n_overrides = n + 1;
	}
	return 0;
}

static int check_policy(struct policy *p, char **ret_error)
{
	int r = check_node_policy(&p->defaults, "$.defaults", ret_error);

	if (r < 0)
		return r;
	if (p->retry_backoff_ms > p->retry_backoff_max_ms)
		return fail(ret_error, "$.retry.backoff_ms: must not exceed backoff_max_ms (%llu)",
			    (unsigned long long)p->retry_backoff_max_ms);
	if (p->limits.max_connections_per_uid > p->limits.max_connections)
		return fail(ret_error, "$.limits.max_connections_per_uid: must not exceed max_connections (%llu)",
			    (unsigned long long)p->limits.max_connections);
	if (p->textfile && p->textfile[0] != '/')
		return fail(ret_error, "$.textfile: must be an absolute path");
	if (p->control_group) {
		struct group *g = getgrnam(p->control_group);

		if (!g)
			return fail(ret_error, "$.control_group: no such group \"%s\"", p->control_group);
		p->has_control_group = true;
		p->control_gid = g->gr_gid;
	}
	return 0;
}

static void position_of(const char *text, const char *at, unsigned *ret_line, unsigned *ret_col)
{
	unsigned line = 1, col = 1;

	for (const char *s = text; s < at; s++) {
		if (*s == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	*ret_line = line;
	*ret_col = col;
}

int policy_parse(const char *text, size_t len, const char *filename,
		 struct policy **ret, char **ret_error)
{
	const char *end = NULL;
	const cJSON *nodes;
	struct policy *p;
	cJSON *root;
	int r;

	*ret_error = NULL;
	if (text[len] != '\0' || memchr(text, '\0', len))
		return fail(ret_error, "%s: policy contains a NUL byte", filename);
	/* cJSON counts the terminating NUL in the length when asked to require it. */
	root = cJSON_ParseWithLengthOpts(text, len + 1, &end, true);
	if (!root) {
		unsigned line, col;

		if (!end || end < text || end > text + len)
			end = text + len;
		position_of(text, end, &line, &col);
		return fail(ret_error, "%s:%u:%u: JSON syntax error", filename, line, col);
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		cJSON_Delete(root);
		return -ENOMEM;
	}
	apply_defaults(top_fields, p);
	r = check_object(root, "$", ret_error);
	/* nodes is parsed last so that overrides start from the final defaults. */
	for (const cJSON *c = r < 0 ? NULL : root->child; c && r >= 0; c = c->next) {
		const struct policy_field *f;
		char path[512];

		if (strcmp(c->string, "nodes") == 0)
			continue;
		snprintf(path, sizeof(path), "$.%s", c->string);
		for (f = top_fields; f->key; f++)
			if (strcmp(f->key, c->string) == 0)
				break;
		r = f->key ? parse_field(c, f, p, path, ret_error) :
			     fail(ret_error, "%s: unknown key", path);
	}
	nodes = r < 0 ? NULL : cJSON_GetObjectItemCaseSensitive(root, "nodes");
	if (nodes)
		r = parse_nodes(nodes, p, ret_error);
	if (r >= 0)
		r = check_policy(p, ret_error);
	cJSON_Delete(root);
	if (r < 0) {
		char *msg = *ret_error;

		/* Name the file in path errors too; syntax errors already do. */
		if (msg && msg[0] == '$' && asprintf(ret_error, "%s: %s", filename, msg) < 0)
			*ret_error = NULL;
		if (msg != *ret_error)
			free(msg);
		policy_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

int policy_load(const char *path, struct policy **ret, char **ret_error)
{
	char *text;
	int r;

	*ret_error = NULL;
	r = read_file_str(path, &text, MAX_POLICY_BYTES);
	if (r < 0)
		return fail(ret_error, "%s: %s", path, strerror(-r));
	r = policy_parse(text, r, path, ret, ret_error);
	free(text);
	return r;
}

int policy_check_file(const char *path)
{
	struct policy *p;
	char *err;

	if (policy_load(path, &p, &err) < 0) {
		fprintf(stderr, "%s\n", err ? err : "out of memory");
		free(err);
		return -EINVAL;
	}
	policy_free(p);
	printf("%s: valid\n", path);
	return 0;
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	free(p->overrides);
	free(p->control_group);
	free(p->textfile);
	free(p);
}
