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
#include <sys/stat.h>
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
	snprintf(path, sizeof(path), "%s/" RESV_LOCK_FILE, dir);
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
	struct reservation r2 = { .owner = "vm2", .bytes = 1, .node = 3, .any = true, .created = 5,
				  .kind = RESV_ORDINARY };
	struct resv_set set = { 0 }, back;
	char path[128];

	(void)state;
	assert_int_equal(resv_load(dir, &back, NULL), 0);	/* no file yet: empty */
	assert_int_equal(back.n, 0);
	assert_int_equal(resv_add(&set, &r1), 0);
	assert_int_equal(resv_add(&set, &r2), 0);
	assert_int_equal(resv_save(dir, &set), 0);
	snprintf(path, sizeof(path), "%s/" RESV_FILE ".tmp", dir);
	assert_int_equal(access(path, F_OK), -1);	/* renamed, not left behind */
	assert_int_equal(resv_load(dir, &back, NULL), 0);
	assert_int_equal(back.n, 2);
	assert_int_equal(resv_find(&back, "vm1")->bytes, 3 * GIB + 7);
	assert_int_equal(resv_find(&back, "vm1")->created, 1700000000);
	assert_false(resv_find(&back, "vm1")->any);
	assert_int_equal(resv_find(&back, "vm2")->node, 3);
	assert_true(resv_find(&back, "vm2")->any);
	assert_int_equal(resv_find(&back, "vm1")->kind, RESV_CONFIDENTIAL);
	assert_int_equal(resv_find(&back, "vm2")->kind, RESV_ORDINARY);
	resv_set_done(&back);
	resv_set_done(&set);
}

/* A state file written before reservations had a kind holds confidential ones. */
static void test_parse_without_kind(void **state)
{
	static const char text[] =
		"{\"version\":1,\"reservations\":[{\"owner\":\"a\",\"bytes\":1,\"node\":0,"
		"\"any\":false,\"created\":0},{\"owner\":\"b\",\"kind\":\"ordinary\",\"bytes\":1,"
		"\"node\":0,\"any\":false,\"created\":0}]}";
	struct resv_set set;
	char *out;

	(void)state;
	assert_int_equal(resv_parse(text, strlen(text), &set, NULL), 0);
	assert_int_equal(resv_find(&set, "a")->kind, RESV_CONFIDENTIAL);
	assert_int_equal(resv_find(&set, "b")->kind, RESV_ORDINARY);
	/* Written back, every entry names its kind. */
	out = resv_format(&set);
	assert_non_null(strstr(out, "\"kind\":\t\"confidential\""));
	assert_non_null(strstr(out, "\"kind\":\t\"ordinary\""));
	free(out);
	resv_set_done(&set);
}

static void test_kind_names(void **state)
{
	enum resv_kind k = RESV_CONFIDENTIAL;

	(void)state;
	assert_int_equal(resv_kind_from_name("ordinary", &k), 0);
	assert_int_equal(k, RESV_ORDINARY);
	assert_string_equal(resv_kind_name(k), "ordinary");
	assert_int_equal(resv_kind_from_name("confidential", &k), 0);
	assert_int_equal(k, RESV_CONFIDENTIAL);
	assert_string_equal(resv_kind_name(k), "confidential");
	assert_int_equal(resv_kind_from_name("Ordinary", &k), -EINVAL);
	assert_int_equal(resv_kind_from_name("", &k), -EINVAL);
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
		"{\"version\":1,\"reservations\":[{\"owner\":\"a\",\"kind\":\"secret\",\"bytes\":1,\"node\":0,\"any\":false,\"created\":0}]}",
		"{\"version\":1,\"reservations\":[{\"owner\":\"a\",\"kind\":1,\"bytes\":1,\"node\":0,\"any\":false,\"created\":0}]}",
		"{\"version\":1,\"reservations\":[{\"owner\":\"a\",\"kind\":null,\"bytes\":1,\"node\":0,\"any\":false,\"created\":0}]}",
	};
	struct resv_set set;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = resv_parse(bad[i], strlen(bad[i]), &set, NULL);

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
	assert_int_equal(resv_load(dir, &set, NULL), -EINVAL);
}

/* The operator is told which file is wrong, and why. */
static void test_load_error_names_file_and_reason(void **state)
{
	static const char entry[] = "{\"version\":1,\"reservations\":[{\"owner\":\"a\","
				    "\"bytes\":-5,\"node\":0,\"any\":false,\"created\":0}]}";
	struct resv_set set;
	char path[128], *err;

	(void)state;
	snprintf(path, sizeof(path), "%s/" RESV_FILE, dir);
	assert_int_equal(write_file_atomic(path, "{\"version\":", 11, 0644), 0);
	assert_int_equal(resv_load(dir, &set, &err), -EINVAL);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "not JSON"));
	free(err);
	assert_int_equal(write_file_atomic(path, entry, strlen(entry), 0644), 0);
	assert_int_equal(resv_load(dir, &set, &err), -EINVAL);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "reservations[0].bytes"));
	free(err);
	assert_int_equal(chmod(path, 0), 0);
	if (geteuid() != 0) {	/* root reads a file of mode 0 all the same */
		assert_int_equal(resv_load(dir, &set, &err), -EACCES);
		assert_non_null(strstr(err, path));
		assert_non_null(strstr(err, strerror(EACCES)));
		free(err);
	}
	unlink(path);
	assert_int_equal(mkdir(path, 0755), 0);	/* a directory where the file should be */
	assert_int_equal(resv_load(dir, &set, &err), -EISDIR);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, strerror(EISDIR)));
	free(err);
	rmdir(path);
}

/* 2^53-1 bytes, the largest reservation, come back from disk unchanged. */
static void test_exact_on_disk(void **state)
{
	struct reservation r = { .owner = "big", .bytes = RESV_MAX_BYTES, .node = 0, .created = 1 };
	struct resv_set set = { 0 }, back;
	char *text;

	(void)state;
	assert_int_equal(resv_add(&set, &r), 0);
	text = resv_format(&set);
	assert_non_null(strstr(text, "9007199254740991"));
	free(text);
	assert_int_equal(resv_save(dir, &set), 0);
	assert_int_equal(resv_load(dir, &back, NULL), 0);
	assert_int_equal(resv_find(&back, "big")->bytes, RESV_MAX_BYTES);
	resv_set_done(&back);
	resv_set_done(&set);
}

/* One daemon per state directory: a second lock is refused with the holder's pid. */
static void test_lock(void **state)
{
	int fd, fd2;
	pid_t pid;

	(void)state;
	assert_int_equal(resv_lock(dir, &fd, &pid), 0);
	assert_int_equal(resv_lock(dir, &fd2, &pid), -EBUSY);
	assert_int_equal(pid, getpid());
	close(fd);
	assert_int_equal(resv_lock(dir, &fd2, &pid), 0);
	close(fd2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owner_valid),
		cmocka_unit_test(test_add_find_remove),
		cmocka_unit_test_setup_teardown(test_save_load_roundtrip, make_dir, remove_dir),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_parse_without_kind),
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test_setup_teardown(test_load_corrupt_file, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_load_error_names_file_and_reason, make_dir,
						remove_dir),
		cmocka_unit_test_setup_teardown(test_exact_on_disk, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_lock, make_dir, remove_dir),
	};

	return cmocka_run_group_tests_name("reservations", tests, NULL, NULL);
}
