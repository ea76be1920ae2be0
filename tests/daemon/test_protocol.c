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

/* Echoes its parameter "n" back, so that a test sees what the method got. */
static int m_number(void *userdata, const cJSON *params, const struct peer *peer,
		    struct reply *ret)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(params, "n");

	(void)userdata, (void)peer;
	ret->params = cJSON_CreateObject();
	cJSON_AddNumberToObject(ret->params, "n", n ? n->valuedouble : 0);
	return 0;
}

/* Later's answer, whenever it comes: the argument it was deferred with. */
static int answer_later(void *userdata, const char *arg, struct reply *ret)
{
	(void)userdata;
	ret->params = cJSON_CreateObject();
	cJSON_AddStringToObject(ret->params, "later", arg);
	return 0;
}

static struct call *waiting;	/* Later's deferred calls, as the manager holds them */

/* Deferred when the peer can be answered later, as Reserve is during moves. */
static int m_later(void *userdata, const cJSON *params, const struct peer *peer,
		   struct reply *ret)
{
	struct call *c;

	(void)params;
	if (!peer->defer)
		return answer_later(userdata, "now", ret);
	c = peer->defer(peer, answer_later, userdata, "then");
	assert_non_null(c);
	call_link(&waiting, c);
	return REPLY_LATER;
}

static const struct method methods[] = {
	{ "Echo", false, m_echo, NULL },
	{ "Mutate", true, m_echo, NULL },
	{ "Fail", false, m_fail, NULL },
	{ "Named", false, m_echo, "owner node" },
	{ "Number", false, m_number, "n" },
	{ "Later", false, m_later, NULL },
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

static char *delivered;	/* what the last deferred call delivered */

static void deliver(struct call *c, const char *reply)
{
	(void)c;
	free(delivered);
	delivered = reply ? strdup(reply) : NULL;
}

/* What the server does: a call of its own, answered on the connection later. */
static struct call *defer(const struct peer *peer, answer_fn answer, void *userdata,
			  const char *arg)
{
	struct call *c = calloc(1, sizeof(*c));

	c->answer = answer;
	c->userdata = userdata;
	c->arg = strdup(arg);
	c->conn = peer->conn;
	c->deliver = deliver;
	return c;
}

static void test_deferred_reply(void **state)
{
	const struct peer later = { .uid = 1000, .defer = defer }, now = { .uid = 1000 };
	struct call *a, *b;
	char *reply;

	(void)state;
	/* A peer that cannot wait gets the answer at once. */
	expect_reply(&now, "{\"method\":\"io.gigapool.Pool.Later\"}", "{\"parameters\":{\"later\":\"now\"}}");
	/* Nor is a oneway call deferred: nobody waits for its reply. */
	assert_null(call(&later, "{\"method\":\"io.gigapool.Pool.Later\",\"oneway\":true}"));
	assert_null(waiting);
	/* Deferred: no reply now, the same reply later, once. */
	reply = call(&later, "{\"method\":\"io.gigapool.Pool.Later\"}");
	assert_null(reply);
	assert_non_null(waiting);
	a = waiting;
	assert_null(call(&later, "{\"method\":\"io.gigapool.Pool.Later\"}"));
	b = waiting;
	assert_ptr_equal(b->next, a);
	/* A client that goes away takes its call off the list, wherever it is. */
	call_free(a);
	assert_ptr_equal(waiting, b);
	assert_null(b->next);
	call_answer(b);
	assert_null(waiting);
	assert_string_equal(delivered, "{\"parameters\":{\"later\":\"then\"}}");
	free(delivered);
	delivered = NULL;
}

static void expect_bad(const char *msg)
{
	char *reply = NULL;

	if (protocol_dispatch(&svc, &(struct peer){ 0 }, msg, strlen(msg), &reply) != -EBADMSG)
		fail_msg("accepted as a call: %s", msg);
	assert_null(reply);
}

/* "parameters": null (varlink/go's GetInfo()) and absent parameters are the same. */
static void test_null_parameters(void **state)
{
	const struct peer user = { .uid = 1000 };

	(void)state;
	expect_reply(&user, "{\"method\":\"org.varlink.service.GetInfo\",\"parameters\":null}",
		     "\"product\":\"p\"");
	expect_reply(&user, "{\"method\":\"io.gigapool.Pool.Echo\",\"parameters\":null}",
		     "\"echo\":\"yes\"");
	expect_reply(&user, "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
		     "\"parameters\":null}", "InvalidParameter");
}

/* Names cut at a NUL or strings that are not UTF-8 never reach a method. */
static void test_nul_and_utf8_refused(void **state)
{
	static const char nul[] = "{\"method\":\"io.gigapool.Pool.Named\",\"parameters\":"
				  "{\"owner\":\"vm1\\u0000other\"}}";
	static const char bad_utf8[] = "{\"method\":\"io.gigapool.Pool.Named\",\"parameters\":"
				       "{\"owner\":\"vm1\xc3\x28\"}}";
	static const char surrogate[] = "{\"method\":\"io.gigapool.Pool.Named\",\"parameters\":"
					"{\"owner\":\"\xed\xa0\x80\"}}";
	const struct peer user = { .uid = 1000 };
	char *reply;

	(void)state;
	calls = 0;
	expect_reply(&user, nul, "{\"error\":\"org.varlink.service.InvalidParameter\","
		     "\"parameters\":{\"parameter\":\"owner\"}}");
	expect_reply(&user, bad_utf8, "\"parameter\":\"owner\"");
	expect_reply(&user, surrogate, "\"parameter\":\"owner\"");
	assert_int_equal(calls, 0);
	/* An escaped backslash followed by u0000 is text, not a NUL. */
	expect_reply(&user, "{\"method\":\"io.gigapool.Pool.Named\",\"parameters\":"
		     "{\"owner\":\"a\\\\u0000\"}}", "\"echo\":\"yes\"");
	/* Valid multi-byte UTF-8 is fine. */
	expect_reply(&user, "{\"method\":\"io.gigapool.Pool.Named\",\"parameters\":"
		     "{\"owner\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}}", "\"echo\":\"yes\"");
	assert_int_equal(calls, 2);
	/* In a method name or a key they make the message malformed; never echoed. */
	expect_bad("{\"method\":\"io.gigapool.Pool.Echo\\u0000x\"}");
	expect_bad("{\"method\":\"io.gigapool.Pool.E\xff" "cho\"}");
	expect_bad("{\"method\":\"io.gigapool.Pool.Named\",\"parameters\":{\"ow\xc3ner\":\"a\"}}");
	reply = call(&user, "{\"method\":\"io.gigapool.Pool.Nope\xc3\xa9\"}");
	assert_non_null(strstr(reply, "MethodNotFound"));
	free(reply);
}

/* Integers up to 2^53 come back as they went in, not as 9.00719925474099e+15. */
static void test_exact_integers(void **state)
{
	const struct peer user = { .uid = 1000 };
	cJSON *o = cJSON_CreateObject();
	char *text;

	(void)state;
	expect_reply(&user, "{\"method\":\"io.gigapool.Pool.Number\",\"parameters\":"
		     "{\"n\":9007199254740991}}", "{\"n\":9007199254740991}");
	expect_reply(&user, "{\"method\":\"io.gigapool.Pool.Number\",\"parameters\":"
		     "{\"n\":1000000000000001}}", "{\"n\":1000000000000001}");
	expect_reply(&user, "{\"method\":\"io.gigapool.Pool.Number\",\"parameters\":"
		     "{\"n\":0.5}}", "{\"n\":0.5}");
	cJSON_AddNumberToObject(o, "big", 9007199254740991.0);
	text = json_print_exact(o, false);
	assert_string_equal(text, "{\"big\":9007199254740991}");
	free(text);
	cJSON_Delete(o);
}

/* What the method does not take is refused by name. */
static void test_unknown_parameters(void **state)
{
	const struct peer user = { .uid = 1000 };

	(void)state;
	calls = 0;
	expect_reply(&user, "{\"method\":\"io.gigapool.Pool.Named\",\"parameters\":"
		     "{\"owner\":\"a\",\"node\":1}}", "\"echo\":\"yes\"");
	expect_reply(&user, "{\"method\":\"io.gigapool.Pool.Named\",\"parameters\":"
		     "{\"owner\":\"a\",\"nodes\":1}}", "\"parameter\":\"nodes\"");
	expect_reply(&user, "{\"method\":\"io.gigapool.Pool.Named\",\"parameters\":"
		     "{\"own\":\"a\"}}", "\"parameter\":\"own\"");
	expect_reply(&user, "{\"method\":\"io.gigapool.Pool.Echo\",\"parameters\":{\"x\":1}}",
		     "\"parameter\":\"x\"");
	expect_reply(&user, "{\"method\":\"org.varlink.service.GetInfo\",\"parameters\":{\"x\":1}}",
		     "\"parameter\":\"x\"");
	assert_int_equal(calls, 1);
}

/* One object per message, nothing after it but blanks. */
static void test_one_object_per_message(void **state)
{
	const struct peer user = { .uid = 1000 };

	(void)state;
	expect_bad("{\"method\":\"io.gigapool.Pool.Echo\"}{\"method\":\"io.gigapool.Pool.Echo\"}");
	expect_bad("{\"method\":\"io.gigapool.Pool.Echo\"} garbage");
	expect_bad("{\"method\":\"io.gigapool.Pool.Echo\"}}");
	expect_reply(&user, " {\"method\":\"io.gigapool.Pool.Echo\"}\n\t ", "\"echo\":\"yes\"");
}

/*
 * varlink's "upgrade" hands the connection to another protocol after the
 * reply: no method here offers that, so true is refused and false is a
 * plain call.
 */
static void test_upgrade(void **state)
{
	const struct peer user = { .uid = 1000 };

	(void)state;
	calls = 0;
	expect_reply(&user, "{\"method\":\"io.gigapool.Pool.Echo\",\"upgrade\":false}",
		     "\"echo\":\"yes\"");
	expect_reply(&user, "{\"method\":\"io.gigapool.Pool.Echo\",\"upgrade\":true}",
		     "{\"error\":\"org.varlink.service.InvalidParameter\","
		     "\"parameters\":{\"parameter\":\"upgrade\"}}");
	assert_int_equal(calls, 1);
	expect_reply(&user, "{\"method\":\"io.gigapool.Pool.Echo\",\"more\":false}",
		     "\"echo\":\"yes\"");
	expect_bad("{\"method\":\"io.gigapool.Pool.Echo\",\"upgrade\":1}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_messages_one_feed),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_parse_request),
		cmocka_unit_test(test_dispatch),
		cmocka_unit_test(test_deferred_reply),
		cmocka_unit_test(test_null_parameters),
		cmocka_unit_test(test_nul_and_utf8_refused),
		cmocka_unit_test(test_exact_integers),
		cmocka_unit_test(test_unknown_parameters),
		cmocka_unit_test(test_one_object_per_message),
		cmocka_unit_test(test_upgrade),
	};

	return cmocka_run_group_tests_name("protocol", tests, NULL, NULL);
}
