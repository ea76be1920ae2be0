// SPDX-License-Identifier: GPL-2.0
/* Unit tests of reservations and their persistence. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "reservations.h"
#include "util.h"

static char dir[64];

static int make_dir(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/gigapool-state.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/" RESV_FILE, dir);
	unlink(path);
	return rmdir(dir);
}

static void test_owner_valid(void **state)
{
	(void)state;
	assert_true(resv_owner_valid("vm-42.example:a@b_c", 64));
	assert_false(resv_owner_valid("", 64));
	assert_false(resv_owner_valid("has space", 64));
	assert_false(resv_owner_valid("quote\"", 64));
	assert_false(resv_owner_valid("abcdef", 5));
	assert_true(resv_owner_valid("abcde", 5));
}

static void test_add_find_remove(void **state)
{
	struct reservation r = { .owner = "a", .bytes = GIB, .node = 1 };
	struct resv_set set = { 0 };

	(void)state;
	assert_int_equal(resv_add(&set, &r), 0);
	assert_int_equal(resv_add(&set, &r), -EEXIST);
	r.owner = "b";
	assert_int_equal(resv_add(&set, &r), 0);
	assert_int_equal(set.n, 2);
	assert_non_null(resv_find(&set, "a"));
	assert_int_equal(resv_remove(&set, "a"), 0);
	assert_int_equal(resv_remove(&set, "a"), -ENOENT);
	assert_null(resv_find(&set, "a"));
	assert_string_equal(resv_find(&set, "b")->owner, "b");
	resv_set_done(&set);
	assert_int_equal(set.n, 0);
}

static void test_save_load_roundtrip(void **state)
{
	struct reservation r1 = { .owner = "vm1", .bytes = 3 * GIB + 7, .node = 0, .created = 1700000000 };
	struct reservation r2 = { .owner = "vm2", .bytes = 1, .node = 3, .any = true, .created = 5 };
	struct resv_set set = { 0 }, back;
	char path[128];

	(void)state;
	assert_int_equal(resv_load(dir, &back), 0);	/* no file yet: empty */
	assert_int_equal(back.n, 0);
	assert_int_equal(resv_add(&set, &r1), 0);
	assert_int_equal(resv_add(&set, &r2), 0);
	assert_int_equal(resv_save(dir, &set), 0);
	snprintf(path, sizeof(path), "%s/" RESV_FILE ".tmp", dir);
	assert_int_equal(access(path, F_OK), -1);	/* renamed, not left behind */
	assert_int_equal(resv_load(dir, &back), 0);
	assert_int_equal(back.n, 2);
	assert_int_equal(resv_find(&back, "vm1")->bytes, 3 * GIB + 7);
	assert_int_equal(resv_find(&back, "vm1")->created, 1700000000);
	assert_false(resv_find(&back, "vm1")->any);
	assert_int_equal(resv_find(&back, "vm2")->node, 3);
	assert_true(resv_find(&back, "vm2")->any);
	resv_set_done(&back);
	resv_set_done(&set);
}

static void test_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{\"version\":2,\"reservations\":[]}",
		"{\"version\":1}",
		"{\"version\":1,\"reservations\":[{\"owner\":\"a\",\"bytes\":0,\"node\":0,\"any\":false,\"created\":0}]}",
		"{\"version\":1,\"reservations\":[{\"owner\":\"a b\",\"bytes\":1,\"node\":0,\"any\":false,\"created\":0}]}",
		"{\"version\":1,\"reservations\":[{\"owner\":\"a\",\"bytes\":1,\"node\":-1,\"any\":false,\"created\":0}]}",
		"{\"version\":1,\"reservations\":[{\"owner\":\"a\",\"bytes\":1,\"node\":0,\"created\":0}]}",
		"{\"version\":1,\"reservations\":[{\"owner\":\"a\",\"bytes\":1,\"node\":0,\"any\":false,\"created\":0},"
		"{\"owner\":\"a\",\"bytes\":1,\"node\":0,\"any\":false,\"created\":0}]}",
	};
	struct resv_set set;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = resv_parse(bad[i], strlen(bad[i]), &set);

		if (r >= 0)
			fail_msg("accepted: %s", bad[i]);
		assert_int_equal(set.n, 0);
	}
}

static void test_load_corrupt_file(void **state)
{
	struct resv_set set;
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/" RESV_FILE, dir);
	assert_int_equal(write_file_atomic(path, "{\"version\":", 11, 0644), 0);
	assert_int_equal(resv_load(dir, &set), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owner_valid),
		cmocka_unit_test(test_add_find_remove),
		cmocka_unit_test_setup_teardown(test_save_load_roundtrip, make_dir, remove_dir),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test_setup_teardown(test_load_corrupt_file, make_dir, remove_dir),
	};

	return cmocka_run_group_tests_name("reservations", tests, NULL, NULL);
}
