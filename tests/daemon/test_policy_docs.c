// SPDX-License-Identifier: GPL-2.0
/*
 * The policy's keys, types, ranges and defaults are stated by the parser's
 * tables and repeated by config/policy.schema.json and gigapool-policy(5)
 * for their readers.  These tests hold the two copies to the tables, in
 * both directions: every key of the tables is in the schema and the man
 * page with the same facts, and neither lists a key the parser refuses.
 */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <linux/unmapped_pool.h>

#include "policy.h"
#include "util.h"

#define SCHEMA_PATH	TOP_DIR "/config/policy.schema.json"
#define MAN_PATH	TOP_DIR "/man/gigapool-policy.5"
#define MAX_DOC_BYTES	(1U << 20)

/* Every disagreement is printed, then the test fails once at the end. */
static unsigned n_errors;

static void disagree(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint_error(fmt, ap);
	va_end(ap);
	print_error("\n");
	n_errors++;
}

static void no_disagreement(void)
{
	if (n_errors)
		fail_msg("%u disagreement(s) with daemon/policy.c's tables, listed above", n_errors);
}

static const struct policy_field *find_field(const struct policy_field *fields, const char *key)
{
	for (const struct policy_field *f = fields; f->key; f++)
		if (strcmp(f->key, key) == 0)
			return f;
	return NULL;
}

/* nodes is the one key outside the tables: its entries take the keys of defaults. */
static bool is_nodes(const struct policy_field *fields, const char *key)
{
	return fields == policy_fields() && strcmp(key, "nodes") == 0;
}

/* The man page's subsections of keys, and the object whose keys each one lists. */
static const struct {
	const char *key;	/* NULL: the top level */
	const char *section;
} man_sections[] = {
	{ NULL, "Top-level keys" },
	{ "defaults", "Node keys" },
	{ "retry", "Retry keys" },
	{ "limits", "Limit keys" },
};

/* The share a key takes: only the keys of a node (those of defaults) take one. */
static const struct policy_share *share_of(const struct policy_field *f)
{
	const struct policy_field *node = find_field(policy_fields(), "defaults")->sub;

	for (const struct policy_field *g = node; g->key; g++)
		if (g == f)
			return policy_share_of(f->key);
	return NULL;
}

/* A share as the policy writes it: thousandths of a percent to "12.5%". */
static void share_str(uint64_t v, char *buf, size_t size)
{
	int len = snprintf(buf, size, "%llu.%03llu", (unsigned long long)(v / 1000),
			   (unsigned long long)(v % 1000));

	while (buf[len - 1] == '0')
		buf[--len] = '\0';
	if (buf[len - 1] == '.')
		buf[--len] = '\0';
	snprintf(buf + len, size - len, "%%");
}

static const struct policy_field *section_fields(size_t i)
{
	const struct policy_field *f;

	if (!man_sections[i].key)
		return policy_fields();
	f = find_field(policy_fields(), man_sections[i].key);
	assert_non_null(f);
	assert_int_equal(f->type, POLICY_OBJECT);
	return f->sub;
}

/* ---- the schema ---- */

static cJSON *load_schema(void)
{
	cJSON *root;
	char *text;

	assert_true(read_file_str(SCHEMA_PATH, &text, MAX_DOC_BYTES) > 0);
	root = cJSON_Parse(text);
	free(text);
	if (!root)
		fail_msg("%s: not JSON", SCHEMA_PATH);
	return root;
}

/* A member of a schema object, or of the "#/$defs/..." it refers to. */
static const cJSON *schema_get(const cJSON *root, const cJSON *obj, const char *name)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
	const cJSON *ref = cJSON_GetObjectItemCaseSensitive(obj, "$ref");
	const char *prefix = "#/$defs/";

	if (item || !cJSON_IsString(ref))
		return item;
	if (strncmp(ref->valuestring, prefix, strlen(prefix)) != 0)
		return NULL;
	obj = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "$defs"),
					       ref->valuestring + strlen(prefix));
	return obj ? schema_get(root, obj, name) : NULL;
}

static void schema_number(const cJSON *root, const cJSON *prop, const char *path,
			  const char *name, uint64_t want)
{
	const cJSON *v = schema_get(root, prop, name);

	if (!cJSON_IsNumber(v))
		disagree("schema: %s: no %s; the parser's is %llu", path, name,
			 (unsigned long long)want);
	else if (v->valuedouble != (double)want)
		disagree("schema: %s: %s is %.0f; the parser's is %llu", path, name,
			 v->valuedouble, (unsigned long long)want);
}

static void schema_type(const cJSON *root, const cJSON *prop, const char *path, const char *want)
{
	char *have = cJSON_PrintUnformatted(schema_get(root, prop, "type"));

	if (!have || strcmp(have, want) != 0)
		disagree("schema: %s: type is %s; the parser takes %s", path,
			 have ? have : "missing", want);
	free(have);
}

static void schema_object(const cJSON *root, const cJSON *obj, const struct policy_field *fields,
			  const char *path);

/* An enum lists the parser's words, in its order, then null. */
static void schema_enum(const cJSON *root, const cJSON *prop, const struct policy_field *f,
			const char *path)
{
	const cJSON *e = schema_get(root, prop, "enum");
	cJSON *want = cJSON_CreateArray();
	char *have_text, *want_text;

	assert_non_null(want);
	for (size_t i = 0; f->sub[i].key; i++)
		cJSON_AddItemToArray(want, cJSON_CreateString(f->sub[i].key));
	cJSON_AddItemToArray(want, cJSON_CreateNull());
	have_text = e ? cJSON_PrintUnformatted(e) : NULL;
	want_text = cJSON_PrintUnformatted(want);
	if (!have_text || strcmp(have_text, want_text) != 0)
		disagree("schema: %s: enum is %s; the parser takes %s", path,
			 have_text ? have_text : "missing", want_text);
	free(have_text);
	free(want_text);
	cJSON_Delete(want);
}

static void schema_field(const cJSON *root, const cJSON *prop, const struct policy_field *f,
			 const char *path)
{
	const cJSON *def = schema_get(root, prop, "default");
	const cJSON *pattern = schema_get(root, prop, "pattern");
	const struct policy_share *share = share_of(f);
	char want[32];

	switch (f->type) {
	case POLICY_U64:
		schema_type(root, prop, path, share ? "[\"integer\",\"string\"]" : "\"integer\"");
		schema_number(root, prop, path, "minimum", f->min);
		schema_number(root, prop, path, "maximum", f->max);
		if (share && (!cJSON_IsString(pattern) ||
			      strcmp(pattern->valuestring, POLICY_SHARE_PATTERN) != 0))
			disagree("schema: %s: pattern is not the parser's %s", path,
				 POLICY_SHARE_PATTERN);
		if (!share || !share->def_share) {
			schema_number(root, prop, path, "default", f->def);
			break;
		}
		share_str(f->def, want, sizeof(want));
		if (!cJSON_IsString(def) || strcmp(def->valuestring, want) != 0)
			disagree("schema: %s: default is not \"%s\"", path, want);
		break;
	case POLICY_BOOL:
		schema_type(root, prop, path, "\"boolean\"");
		if (!cJSON_IsBool(def) || cJSON_IsTrue(def) != !!f->def)
			disagree("schema: %s: default is not %s", path, f->def ? "true" : "false");
		break;
	case POLICY_STRING:
		schema_type(root, prop, path, "[\"string\",\"null\"]");
		schema_number(root, prop, path, "minLength", f->min);
		schema_number(root, prop, path, "maxLength", f->max);
		if (!cJSON_IsNull(def))
			disagree("schema: %s: default is not null", path);
		break;
	case POLICY_OBJECT:
		schema_object(root, prop, f->sub, path);
		break;
	case POLICY_ENUM:
		schema_type(root, prop, path, "[\"string\",\"null\"]");
		schema_enum(root, prop, f, path);
		if (!cJSON_IsNull(def))
			disagree("schema: %s: default is not null", path);
		break;
	}
}

static void schema_object(const cJSON *root, const cJSON *obj, const struct policy_field *fields,
			  const char *path)
{
	const cJSON *props = schema_get(root, obj, "properties");
	const cJSON *more = schema_get(root, obj, "additionalProperties");
	const cJSON *c;
	char sub[256];

	schema_type(root, obj, path, "\"object\"");
	if (!cJSON_IsFalse(more))
		disagree("schema: %s: additionalProperties is not false; the parser refuses unknown keys",
			 path);
	for (const struct policy_field *f = fields; f->key; f++) {
		snprintf(sub, sizeof(sub), "%s.%s", path, f->key);
		c = cJSON_GetObjectItemCaseSensitive(props, f->key);
		if (!c)
			disagree("schema: %s: missing", sub);
		else
			schema_field(root, c, f, sub);
	}
	cJSON_ArrayForEach(c, props)
		if (!find_field(fields, c->string) && !is_nodes(fields, c->string))
			disagree("schema: %s.%s: the parser has no such key", path, c->string);
}

static void test_schema_matches_tables(void **state)
{
	cJSON *root = load_schema();

	(void)state;
	schema_object(root, root, policy_fields(), "$");
	cJSON_Delete(root);
	no_disagreement();
}

/* The schema's pattern for shares accepts what the parser accepts, no more. */
static void test_schema_share_pattern(void **state)
{
	static const char *const shares[] = {
		"0%", "5%", "12.5%", "99.999%", "100%", "100.0%", "100.000%", "0.001%", "007%",
		"%", "101%", "100.001%", "100.1%", "1.2345%", "12.%", ".5%", "5", "5 %", " 5%",
		"-1%", "+1%", "1e1%", "5%%", "0x5%", "1000%", "",
	};
	char text[128], *err;
	struct policy *p;
	regex_t re;

	(void)state;
	assert_int_equal(regcomp(&re, POLICY_SHARE_PATTERN, REG_EXTENDED | REG_NOSUB), 0);
	for (size_t i = 0; i < ARRAY_SIZE(shares); i++) {
		bool matches = regexec(&re, shares[i], 0, NULL, 0) == 0, parses;

		snprintf(text, sizeof(text), "{\"defaults\": {\"headroom_high\": \"%s\"}}", shares[i]);
		parses = policy_parse(text, strlen(text), "t.json", &p, &err) == 0;
		if (parses)
			policy_free(p);
		free(err);
		if (matches != parses)
			fail_msg("share \"%s\": the pattern %s it, the parser %s it", shares[i],
				 matches ? "accepts" : "refuses", parses ? "accepts" : "refuses");
	}
	regfree(&re);
}

/* nodes takes the keys of defaults, under the node ids the parser accepts. */
static void test_schema_nodes(void **state)
{
	static const char *const refused[] = { "", "00", "01", "-1", "+1", "1a", " 1" };
	const cJSON *props, *nodes, *entry, *defaults, *pattern;
	cJSON *root = load_schema();
	char id[32];
	regex_t re;

	(void)state;
	props = cJSON_GetObjectItemCaseSensitive(root, "properties");
	nodes = cJSON_GetObjectItemCaseSensitive(props, "nodes");
	assert_non_null(nodes);
	schema_type(root, nodes, "$.nodes", "\"object\"");
	no_disagreement();
	entry = cJSON_GetObjectItemCaseSensitive(nodes, "additionalProperties");
	defaults = cJSON_GetObjectItemCaseSensitive(props, "defaults");
	assert_ptr_equal(schema_get(root, entry, "properties"),
			 schema_get(root, defaults, "properties"));
	pattern = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(nodes, "propertyNames"), "pattern");
	assert_true(cJSON_IsString(pattern));
	/* The pattern is written in the subset that ECMA-262 and POSIX ERE share. */
	assert_int_equal(regcomp(&re, pattern->valuestring, REG_EXTENDED | REG_NOSUB), 0);
	for (int i = 0; i < 10 * UNMAPPED_POOL_MAX_NODES; i++) {
		bool valid = i < UNMAPPED_POOL_MAX_NODES;

		snprintf(id, sizeof(id), "%d", i);
		if ((regexec(&re, id, 0, NULL, 0) == 0) != valid)
			fail_msg("schema: $.nodes: pattern %s %s node id %s; the parser %s it",
				 pattern->valuestring, valid ? "refuses" : "accepts", id,
				 valid ? "accepts" : "refuses");
	}
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++)
		if (regexec(&re, refused[i], 0, NULL, 0) == 0)
			fail_msg("schema: $.nodes: pattern %s accepts node id \"%s\"; the parser refuses it",
				 pattern->valuestring, refused[i]);
	regfree(&re);
	cJSON_Delete(root);
}

/* ---- the man page ---- */

/*
 * A key of the man page: a tagged paragraph whose tag line is
 * ".B key \fR(what it takes, default ...)" in a subsection "... keys".
 */
struct man_key {
	const char *section;
	char key[64];
	char facts[160];
};

static size_t load_man_keys(struct man_key *keys, size_t max)
{
	char *text, *line, *save = NULL;
	const char *section = NULL;
	bool tagged = false;
	size_t n = 0;

	assert_true(read_file_str(MAN_PATH, &text, MAX_DOC_BYTES) > 0);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, ".SH ", 4) == 0) {
			section = NULL;
		} else if (strncmp(line, ".SS ", 4) == 0) {
			section = NULL;
			for (size_t i = 0; i < ARRAY_SIZE(man_sections); i++)
				if (strcmp(line + 4, man_sections[i].section) == 0)
					section = man_sections[i].section;
			if (!section && strstr(line, " keys"))
				disagree("man: subsection \"%s\": the test knows no such table", line + 4);
		} else if (section && tagged) {
			const char *facts = strstr(line, " \\fR(");

			assert_true(n < max);
			if (strncmp(line, ".B ", 3) != 0 || !facts || facts[strlen(facts) - 1] != ')') {
				disagree("man: %s: tag \"%s\" is not \".B key \\fR(...)\"", section, line);
			} else {
				keys[n].section = section;
				snprintf(keys[n].key, sizeof(keys[n].key), "%.*s",
					 (int)(facts - line - 3), line + 3);
				snprintf(keys[n].facts, sizeof(keys[n].facts), "%s", facts + 4);
				n++;
			}
		}
		tagged = strcmp(line, ".TP") == 0;
	}
	free(text);
	return n;
}

static void man_field(const struct man_key *k, const struct policy_field *f)
{
	const struct policy_share *share = share_of(f);
	char want[160], def[32];

	switch (f->type) {
	case POLICY_U64:
		if (share && share->def_share)
			share_str(f->def, def, sizeof(def));
		else
			snprintf(def, sizeof(def), "%llu", (unsigned long long)f->def);
		snprintf(want, sizeof(want), "(%llu..%llu%s, default %s)",
			 (unsigned long long)f->min, (unsigned long long)f->max,
			 share ? " or 0%..100%" : "", def);
		break;
	case POLICY_BOOL:
		snprintf(want, sizeof(want), "(boolean, default %s)", f->def ? "true" : "false");
		break;
	case POLICY_STRING: {
		/* The tag names the kind of string, then its length. */
		size_t len;

		len = snprintf(want, sizeof(want), " of %llu..%llu bytes or null, default null)",
			       (unsigned long long)f->min, (unsigned long long)f->max);
		if (strlen(k->facts) > len + 1 &&
		    strcmp(k->facts + strlen(k->facts) - len, want) == 0)
			return;
		disagree("man: %s: %s says %s; the parser's table says (string%s", k->section,
			 k->key, k->facts, want);
		return;
	}
	case POLICY_OBJECT:
		snprintf(want, sizeof(want), "(object)");
		break;
	case POLICY_ENUM: {
		char words[128];

		policy_choices(f, words, sizeof(words));
		snprintf(want, sizeof(want), "(%s, or null; default null)", words);
		break;
	}
	}
	if (strcmp(k->facts, want) != 0)
		disagree("man: %s: %s says %s; the parser's table says %s", k->section, k->key,
			 k->facts, want);
}

static void test_man_page_matches_tables(void **state)
{
	struct man_key keys[128];
	size_t n = load_man_keys(keys, ARRAY_SIZE(keys)), n_nodes = 0;
	char nodes[64];

	(void)state;
	snprintf(nodes, sizeof(nodes), "(object keyed by node id 0..%d)", UNMAPPED_POOL_MAX_NODES - 1);
	for (size_t i = 0; i < ARRAY_SIZE(man_sections); i++) {
		const char *section = man_sections[i].section;
		const struct policy_field *fields = section_fields(i);

		for (const struct policy_field *f = fields; f->key; f++) {
			size_t found = 0;

			for (size_t j = 0; j < n; j++)
				if (keys[j].section == section && strcmp(keys[j].key, f->key) == 0) {
					man_field(&keys[j], f);
					found++;
				}
			if (found != 1)
				disagree("man: %s: %s is documented %zu times, not once", section,
					 f->key, found);
		}
		for (size_t j = 0; j < n; j++) {
			if (keys[j].section != section || find_field(fields, keys[j].key))
				continue;
			if (is_nodes(fields, keys[j].key)) {
				n_nodes++;
				if (strcmp(keys[j].facts, nodes) != 0)
					disagree("man: %s: nodes says %s; the parser takes %s", section,
						 keys[j].facts, nodes);
			} else {
				disagree("man: %s: %s: the parser has no such key", section, keys[j].key);
			}
		}
	}
	if (n_nodes != 1)
		disagree("man: %s: nodes is documented %zu times, not once",
			 man_sections[0].section, n_nodes);
	/* Every object of the top level has its keys listed in a subsection. */
	for (const struct policy_field *f = policy_fields(); f->key; f++) {
		bool listed = false;

		for (size_t i = 0; i < ARRAY_SIZE(man_sections); i++)
			listed |= man_sections[i].key && strcmp(man_sections[i].key, f->key) == 0;
		if (f->type == POLICY_OBJECT && !listed)
			disagree("man: the keys of %s have no subsection", f->key);
	}
	no_disagreement();
}

static int reset_errors(void **state)
{
	(void)state;
	n_errors = 0;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_schema_matches_tables, reset_errors),
		cmocka_unit_test_setup(test_schema_nodes, reset_errors),
		cmocka_unit_test_setup(test_schema_share_pattern, reset_errors),
		cmocka_unit_test_setup(test_man_page_matches_tables, reset_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
