// SPDX-License-Identifier: GPL-2.0
/* Unit tests of the policy parser: what is accepted, what is refused and how it is reported. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy.h"

static struct policy *parse_ok(const char *text)
{
	struct policy *p = NULL;
	char *err = NULL;

	assert_int_equal(policy_parse(text, strlen(text), "t.json", &p, &err), 0);
	assert_null(err);
	assert_non_null(p);
	return p;
}

/* Parse must fail and the message must contain want. */
static void parse_fails(const char *text, const char *want)
{
	struct policy *p = NULL;
	char *err = NULL;

	assert_int_equal(policy_parse(text, strlen(text), "t.json", &p, &err), -EINVAL);
	assert_null(p);
	assert_non_null(err);
	if (!strstr(err, want))
		fail_msg("error '%s' does not contain '%s'", err, want);
	free(err);
}

static void test_shipped_policy(void **state)
{
	struct node_policy small, large;
	struct policy *p;
	char *err = NULL;

	(void)state;
	assert_int_equal(policy_load(TOP_DIR "/config/policy.json", &p, &err), 0);
	assert_int_equal(p->limits.max_connections, 256);
	/* Every size of a node is a share of it: right on a test guest and a large host. */
	assert_int_equal(p->defaults.shares, POLICY_SHARE_KEEP_FREE_HUGETLB |
			 POLICY_SHARE_HEADROOM_LOW | POLICY_SHARE_HEADROOM_HIGH |
			 POLICY_SHARE_MAX_POOL_CHUNKS);
	node_policy_resolve(&p->defaults, 4, &small);
	node_policy_resolve(&p->defaults, 3072, &large);
	assert_int_equal(small.max_pool_chunks, 4);
	assert_int_equal(large.max_pool_chunks, 3072);
	assert_true(small.headroom_low >= 1 && small.headroom_high >= small.headroom_low);
	assert_true(large.headroom_high > small.headroom_high);
	assert_true(large.keep_free_hugetlb > small.keep_free_hugetlb);
	policy_free(p);
}

/* A size of a node is a count or a share of its 1 GiB pages, rounded up. */
static void test_shares(void **state)
{
	static const char *const good[] = { "0%", "100%", "100.000%", "12.5%", "0.001%", "7.25%" };
	static const char *const bad[] = { "%", "101%", "100.001%", "1.2345%", "12.%", ".5%", "5",
					   "5 %", "-1%", "+1%", "1e1%", "5%%", "0x5%", "" };
	struct node_policy r;
	struct policy *p;
	char text[160];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "{\"defaults\": {\"keep_free_hugetlb\": \"%s\"}}", good[i]);
		policy_free(parse_ok(text));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "{\"defaults\": {\"keep_free_hugetlb\": \"%s\"}}", bad[i]);
		parse_fails(text, "$.defaults.keep_free_hugetlb: must be an integer from 0 to 1048576 "
			    "or a share from 0% to 100%");
	}
	/* Only sizes of a node take shares. */
	parse_fails("{\"defaults\": {\"max_moves\": \"10%\"}}", "$.defaults.max_moves: must be an integer");
	parse_fails("{\"interval_sec\": \"10%\"}", "$.interval_sec: must be an integer");

	p = parse_ok("{\"defaults\": {\"keep_free_hugetlb\": \"0.1%\", \"headroom_low\": \"0.1%\","
		     " \"headroom_high\": 3, \"max_pool_chunks\": \"50%\"},"
		     " \"nodes\": {\"1\": {\"keep_free_hugetlb\": 5, \"max_pool_chunks\": \"0.2%\"}}}");
	node_policy_resolve(&p->defaults, 1536, &r);
	assert_int_equal(r.keep_free_hugetlb, 2);	/* 1.536, rounded up */
	assert_int_equal(r.headroom_low, 2);
	assert_int_equal(r.headroom_high, 3);
	assert_int_equal(r.max_pool_chunks, 768);
	assert_int_equal(r.shares, 0);
	node_policy_resolve(&p->defaults, 0, &r);
	assert_int_equal(r.keep_free_hugetlb + r.headroom_low + r.max_pool_chunks, 0);
	assert_int_equal(r.headroom_high, 0);		/* clamped to the cap */
	/* An override's count replaces the default's share, and the other way round. */
	node_policy_resolve(policy_node(p, 1), 1536, &r);
	assert_int_equal(r.keep_free_hugetlb, 5);
	assert_int_equal(r.max_pool_chunks, 4);		/* 3.072, rounded up */
	assert_int_equal(r.headroom_high, 3);
	assert_int_equal(r.headroom_low, 2);
	node_policy_resolve(policy_node(p, 1), 1000, &r);
	assert_int_equal(r.max_pool_chunks, 2);
	assert_int_equal(r.headroom_high, 2);		/* clamped to the cap */
	assert_int_equal(r.headroom_low, 1);
	policy_free(p);

	/* The built-in cap is none: the whole node. */
	p = parse_ok("{}");
	node_policy_resolve(&p->defaults, 3072, &r);
	assert_int_equal(r.max_pool_chunks, 3072);
	policy_free(p);
}

static void test_empty_is_builtin_defaults(void **state)
{
	struct policy *p = parse_ok("{}");

	(void)state;
	assert_int_equal(p->defaults.headroom_low, 1);
	assert_int_equal(p->defaults.headroom_high, 2);
	assert_false(p->defaults.excluded);
	assert_null(p->textfile);
	assert_false(p->has_control_group);
	/* One chunk's worth of 4 KiB pages: enough to empty any one chunk. */
	assert_int_equal(p->max_compact_pages_per_cycle, 262144);
	policy_free(p);
}

/* 0 turns compaction off; up to 2^32 pages a cycle. */
static void test_compact_pages(void **state)
{
	struct policy *p;

	(void)state;
	p = parse_ok("{\"max_compact_pages_per_cycle\": 0}");
	assert_int_equal(p->max_compact_pages_per_cycle, 0);
	policy_free(p);
	p = parse_ok("{\"max_compact_pages_per_cycle\": 4294967296}");
	assert_int_equal(p->max_compact_pages_per_cycle, 4294967296ULL);
	policy_free(p);
	parse_fails("{\"max_compact_pages_per_cycle\": 4294967297}",
		    "$.max_compact_pages_per_cycle: must be an integer from 0 to 4294967296");
	parse_fails("{\"max_compact_pages_per_cycle\": -1}", "$.max_compact_pages_per_cycle");
}

/* Absent or null leaves the kernel alone; each word maps to its mode; nothing else passes. */
static void test_guest_memfd(void **state)
{
	static const struct {
		const char *text;
		enum gmem_mode mode;
	} ok[] = {
		{ "{}", GMEM_MODE_UNSET },
		{ "{\"guest_memfd\": null}", GMEM_MODE_UNSET },
		{ "{\"guest_memfd\": \"flag\"}", GMEM_MODE_FLAG },
		{ "{\"guest_memfd\": \"prefer\"}", GMEM_MODE_PREFER },
		{ "{\"guest_memfd\": \"require\"}", GMEM_MODE_REQUIRE },
	};
	static const char *const bad[] = { "\"Prefer\"", "\"prefer \"", "\"\"", "1", "true",
					   "[\"prefer\"]", "\"[prefer]\"" };
	char text[64];

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct policy *p = parse_ok(ok[i].text);

		assert_int_equal(p->guest_memfd, ok[i].mode);
		policy_free(p);
	}
	assert_string_equal(gmem_mode_name(GMEM_MODE_PREFER), "prefer");
	assert_null(gmem_mode_name(GMEM_MODE_UNSET));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "{\"guest_memfd\": %s}", bad[i]);
		parse_fails(text, "$.guest_memfd: must be null or flag, prefer or require");
	}
}

static void test_overrides_merge_defaults(void **state)
{
	struct policy *p = parse_ok("{\"nodes\": {\"1\": {\"excluded\": true}, \"3\": {\"headroom_high\": 5}},"
				    " \"defaults\": {\"headroom_low\": 2, \"headroom_high\": 4}}");

	(void)state;
	assert_int_equal(p->n_overrides, 2);
	assert_true(policy_node(p, 1)->excluded);
	assert_int_equal(policy_node(p, 1)->headroom_low, 2);
	assert_int_equal(policy_node(p, 3)->headroom_high, 5);
	assert_int_equal(policy_node(p, 3)->headroom_low, 2);
	assert_int_equal(policy_node(p, 0)->headroom_high, 4);
	assert_false(policy_node(p, 0)->excluded);
	policy_free(p);
}

static void test_unknown_keys(void **state)
{
	(void)state;
	parse_fails("{\"defaults\": {\"headroom\": 1}}", "t.json: $.defaults.headroom: unknown key");
	parse_fails("{\"intervall_sec\": 1}", "$.intervall_sec: unknown key");
	parse_fails("{\"nodes\": {\"0\": {\"bogus\": 1}}}", "$.nodes.0.bogus: unknown key");
	parse_fails("{\"limits\": {\"max_conn\": 1}}", "$.limits.max_conn: unknown key");
}

static void test_wrong_types(void **state)
{
	(void)state;
	parse_fails("{\"interval_sec\": \"60\"}", "$.interval_sec: must be an integer");
	parse_fails("{\"interval_sec\": 1.5}", "$.interval_sec: must be an integer");
	parse_fails("{\"defaults\": {\"excluded\": 1}}", "$.defaults.excluded: must be true or false");
	parse_fails("{\"defaults\": []}", "$.defaults: must be an object");
	parse_fails("[]", "$: must be an object");
	parse_fails("{\"textfile\": 3}", "$.textfile: must be null or a string");
	parse_fails("{\"nodes\": []}", "$.nodes: must be an object");
}

static void test_ranges(void **state)
{
	(void)state;
	parse_fails("{\"defaults\": {\"max_moves\": 0}}", "$.defaults.max_moves: must be an integer from 1 to");
	parse_fails("{\"defaults\": {\"headroom_low\": -1}}", "$.defaults.headroom_low");
	parse_fails("{\"limits\": {\"max_message_bytes\": 100}}", "$.limits.max_message_bytes");
	parse_fails("{\"defaults\": {\"headroom_low\": 3, \"headroom_high\": 2}}",
		    "$.defaults.headroom_low: must not exceed headroom_high (2)");
	parse_fails("{\"defaults\": {\"max_pool_chunks\": 64}, \"nodes\": {\"2\": {\"headroom_high\": 100}}}",
		    "$.nodes.2.headroom_high: must not exceed max_pool_chunks (64)");
	parse_fails("{\"defaults\": {\"headroom_low\": \"2%\", \"headroom_high\": \"1.5%\"}}",
		    "$.defaults.headroom_low: must not exceed headroom_high (1.500%)");
	parse_fails("{\"defaults\": {\"headroom_high\": \"100%\", \"max_pool_chunks\": \"50%\"}}",
		    "$.defaults.headroom_high: must not exceed max_pool_chunks (50%)");
	parse_fails("{\"retry\": {\"backoff_ms\": 500, \"backoff_max_ms\": 100}}", "$.retry.backoff_ms");
	parse_fails("{\"limits\": {\"max_connections\": 4, \"max_connections_per_uid\": 8}}",
		    "$.limits.max_connections_per_uid");
	parse_fails("{\"textfile\": \"relative.prom\"}", "$.textfile: must be an absolute path");
	parse_fails("{\"control_group\": \"no-such-group-gigapool\"}", "$.control_group: no such group");
}

static void test_node_keys(void **state)
{
	(void)state;
	parse_fails("{\"nodes\": {\"01\": {}}}", "$.nodes.01: node key must be");
	parse_fails("{\"nodes\": {\"-1\": {}}}", "$.nodes.-1: node key");
	parse_fails("{\"nodes\": {\"x\": {}}}", "$.nodes.x: node key");
	parse_fails("{\"nodes\": {\"1024\": {}}}", "$.nodes.1024: node key");
	parse_fails("{\"nodes\": {\"\": {}}}", "node key");
}

static void test_duplicates(void **state)
{
	(void)state;
	parse_fails("{\"interval_sec\": 1, \"interval_sec\": 2}", "$.interval_sec: duplicate key");
}

static void test_syntax_position(void **state)
{
	(void)state;
	parse_fails("{\n  \"interval_sec\": ,\n}", "t.json:2:19: JSON syntax error");
	parse_fails("{} trailing", "t.json:1:4: JSON syntax error");
	parse_fails("", "t.json:1:1");
}

static void test_nul_byte(void **state)
{
	static const char text[] = "{}\0{\"x\":1}";
	struct policy *p = NULL;
	char *err = NULL;

	(void)state;
	assert_int_equal(policy_parse(text, sizeof(text) - 1, "t.json", &p, &err), -EINVAL);
	assert_non_null(strstr(err, "NUL byte"));
	free(err);
}

static void test_missing_file(void **state)
{
	struct policy *p = NULL;
	char *err = NULL;

	(void)state;
	assert_int_equal(policy_load("/nonexistent/policy.json", &p, &err), -EINVAL);
	assert_non_null(strstr(err, "/nonexistent/policy.json: No such file"));
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_policy),
		cmocka_unit_test(test_shares),
		cmocka_unit_test(test_empty_is_builtin_defaults),
		cmocka_unit_test(test_compact_pages),
		cmocka_unit_test(test_overrides_merge_defaults),
		cmocka_unit_test(test_guest_memfd),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_node_keys),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_syntax_position),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_missing_file),
	};

	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
