// SPDX-License-Identifier: GPL-2.0
/* Unit tests of the varlink framing, request parsing and dispatch. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol.h"

static void expect_msg(struct framer *f, const char *want)
{
	const char *msg;
	size_t len;

	assert_int_equal(framer_next(f, &msg, &len), 1);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(msg, want, len);
}

static void expect_none(struct framer *f)
{
	const char *msg;
	size_t len;

	assert_int_equal(framer_next(f, &msg, &len), 0);
}

static void test_two_messages_one_feed(void **state)
{
	struct framer f;

	(void)state;
	framer_init(&f, 64);
	assert_int_equal(framer_feed(&f, "{\"a\":1}\0{}\0{\"b", 14), 0);
	expect_msg(&f, "{\"a\":1}");
	expect_msg(&f, "{}");
	expect_none(&f);
	assert_int_equal(framer_feed(&f, "\":2}\0", 5), 0);
	expect_msg(&f, "{\"b\":2}");
	expect_none(&f);
	framer_done(&f);
}

static void test_byte_by_byte(void **state)
{
	static const char text[] = "{\"method\":\"x\"}";
	struct framer f;

	(void)state;
	framer_init(&f, 64);
	for (size_t i = 0; i < sizeof(text); i++) {
		expect_none(&f);
		assert_int_equal(framer_feed(&f, text + i, 1), 0);
	}
	expect_msg(&f, text);
	framer_done(&f);
}

static void test_size_limit(void **state)
{
	char big[200];
	struct framer f;

	(void)state;
	memset(big, 'x', sizeof(big));
	framer_init(&f, 64);
	assert_int_equal(framer_feed(&f, big, 64), 0);	/* exactly max: still fine */
	assert_int_equal(framer_feed(&f, "\0", 1), 0);
	assert_int_equal(framer_next(&f, &(const char *){ NULL }, &(size_t){ 0 }), 1);
	assert_int_equal(framer_feed(&f, big, 65), -EMSGSIZE);
	framer_done(&f);
	framer_init(&f, 64);
	assert_int_equal(framer_feed(&f, big, sizeof(big)), -EMSGSIZE);
	framer_done(&f);
	framer_init(&f, 64);
	for (int i = 0; i < 64; i++)
		assert_int_equal(framer_feed(&f, "y", 1), 0);
	assert_int_equal(framer_feed(&f, "y", 1), -EMSGSIZE);
	framer_done(&f);
}

static void test_parse_request(void **state)
{
	struct request r;

	(void)state;
	assert_int_equal(protocol_parse_request("{\"method\":\"a.b.C\",\"parameters\":{\"x\":1},\"oneway\":true}",
						53, &r), 0);
	assert_string_equal(r.method, "a.b.C");
	assert_true(r.oneway);
	assert_non_null(r.params);
	cJSON_Delete(r.root);
	assert_int_equal(protocol_parse_request("garbage", 7, &r), -EBADMSG);
	assert_int_equal(protocol_parse_request("[]", 2, &r), -EBADMSG);
	assert_int_equal(protocol_parse_request("{}", 2, &r), -EBADMSG);
	assert_int_equal(protocol_parse_request("{\"method\":1}", 12, &r), -EBADMSG);
	assert_int_equal(protocol_parse_request("{\"method\":\"x\",\"parameters\":[]}", 30, &r), -EBADMSG);
	assert_int_equal(protocol_parse_request("{\"method\":\"x\",\"oneway\":1}", 24, &r), -EBADMSG);
	assert_int_equal(protocol_parse_request("{\"method\":\"x\",\"extra\":1}", 23, &r), -EBADMSG);
}

static int calls;

static int m_echo(void *userdata, const cJSON *params, const struct peer *peer, struct reply *ret)
{
	(void)params, (void)peer;
	calls++;
	assert_ptr_equal(userdata, &calls);
	ret->params = cJSON_CreateObject();
	cJSON_AddStringToObject(ret->params, "echo", "yes");
	return 0;
}

static int m_fail(void *userdata, const cJSON *params, const struct peer *peer, struct reply *ret)
{
	(void)userdata, (void)params, (void)peer, (void)ret;
	return -EIO;
}

static const struct method methods[] = {
	{ "Echo", false, m_echo },
	{ "Mutate", true, m_echo },
	{ "Fail", false, m_fail },
	{ NULL }
};

static const struct service svc = {
	.vendor = "v", .product = "p", .version = "1", .url = "u",
	.description = "interface io.gigapool.Pool\n", .methods = methods, .userdata = &calls,
};

static char *call(const struct peer *peer, const char *msg)
{
	char *reply = NULL;

	assert_int_equal(protocol_dispatch(&svc, peer, msg, strlen(msg), &reply), 0);
	return reply;
}

static void expect_reply(const struct peer *peer, const char *msg, const char *want)
{
	char *reply = call(peer, msg);

	assert_non_null(reply);
	if (!strstr(reply, want))
		fail_msg("reply '%s' does not contain '%s'", reply, want);
	free(reply);
}

static void test_dispatch(void **state)
{
	const struct peer user = { .uid = 1000 }, root = { .uid = 0, .privileged = true };
	char *reply;

	(void)state;
	calls = 0;
	expect_reply(&user, "{\"method\":\"org.varlink.service.GetInfo\"}",
		     "\"interfaces\":[\"org.varlink.service\",\"io.gigapool.Pool\"]");
	expect_reply(&user, "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
		     "\"parameters\":{\"interface\":\"io.gigapool.Pool\"}}", "interface io.gigapool.Pool");
	expect_reply(&user, "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
		     "\"parameters\":{\"interface\":\"nope\"}}", "org.varlink.service.InterfaceNotFound");
	expect_reply(&user, "{\"method\":\"org.varlink.service.GetInterfaceDescription\"}",
		     "org.varlink.service.InvalidParameter");
	expect_reply(&user, "{\"method\":\"org.varlink.service.Nope\"}", "org.varlink.service.MethodNotFound");
	expect_reply(&user, "{\"method\":\"com.example.X\"}", "org.varlink.service.InterfaceNotFound");
	expect_reply(&user, "{\"method\":\"io.gigapool.Pool.Nope\"}", "org.varlink.service.MethodNotFound");
	expect_reply(&user, "{\"method\":\"io.gigapool.Pool.Echo\"}", "{\"parameters\":{\"echo\":\"yes\"}}");
	expect_reply(&user, "{\"method\":\"io.gigapool.Pool.Mutate\"}",
		     "{\"error\":\"io.gigapool.Pool.PermissionDenied\"");
	assert_int_equal(calls, 1);
	expect_reply(&root, "{\"method\":\"io.gigapool.Pool.Mutate\"}", "\"echo\":\"yes\"");
	assert_int_equal(calls, 2);
	expect_reply(&user, "{\"method\":\"io.gigapool.Pool.Fail\"}", "io.gigapool.Pool.InternalError");
	reply = call(&user, "{\"method\":\"io.gigapool.Pool.Echo\",\"oneway\":true}");
	assert_null(reply);
	assert_int_equal(calls, 3);
	assert_int_equal(protocol_dispatch(&svc, &user, "nope", 4, &reply), -EBADMSG);
	assert_null(reply);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_messages_one_feed),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_parse_request),
		cmocka_unit_test(test_dispatch),
	};

	return cmocka_run_group_tests_name("protocol", tests, NULL, NULL);
}
