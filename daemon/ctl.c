// SPDX-License-Identifier: GPL-2.0
/*
 * gigapoolctl: the command line client of gigapoold's varlink socket.
 * Tables for people, --json for scripts, and exit codes a provisioning
 * script can branch on (see gigapoolctl(1)).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/unmapped_pool.h>

#include "metrics.h"
#include "policy.h"
#include "protocol.h"
#include "reservations.h"
#include "util.h"

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,
	EXIT_DENIED = 4,
	EXIT_BAD_POLICY = 5,
	EXIT_NO_POOL = 6,
	EXIT_REFUSED = 7,
};

#define MAX_REPLY (64U << 20)

static const char *socket_path = POOL_SOCKET;
static bool json_output;

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "-";
}

static int exit_code_of(const char *error)
{
	static const struct { const char *suffix; int code; } map[] = {
		{ ".PermissionDenied", EXIT_DENIED },
		{ ".PoolUnavailable", EXIT_NO_POOL },
		{ ".InvalidParameter", EXIT_REFUSED },
		{ ".ReservationExists", EXIT_REFUSED },
		{ ".NoSuchReservation", EXIT_REFUSED },
		{ ".TooManyReservations", EXIT_REFUSED },
		{ ".NoCapacity", EXIT_REFUSED },
	};
	const char *dot = strrchr(error, '.');

	for (size_t i = 0; dot && i < ARRAY_SIZE(map); i++)
		if (strcmp(dot, map[i].suffix) == 0)
			return map[i].code;
	return EXIT_FAIL;
}

/* Call a method; on success *ret_params holds the reply parameters. */
static int call(const char *method, cJSON *params, cJSON **ret_reply, const cJSON **ret_params)
{
	const cJSON *err;
	char *text;
	int fd, r;

	fd = varlink_connect(socket_path);
	if (fd < 0) {
		cJSON_Delete(params);
		fprintf(stderr, "gigapoolctl: cannot connect to %s: %s\n", socket_path, strerror(-fd));
		return EXIT_UNREACHABLE;
	}
	r = varlink_call(fd, method, params, MAX_REPLY, ret_reply);
	close(fd);
	if (r < 0) {
		fprintf(stderr, "gigapoolctl: %s: %s\n", method, strerror(-r));
		return EXIT_UNREACHABLE;
	}
	*ret_params = cJSON_GetObjectItemCaseSensitive(*ret_reply, "parameters");
	err = cJSON_GetObjectItemCaseSensitive(*ret_reply, "error");
	if (!cJSON_IsString(err))
		return EXIT_OK;
	text = *ret_params ? cJSON_PrintUnformatted(*ret_params) : NULL;
	fprintf(stderr, "gigapoolctl: %s: %s %s\n", method, err->valuestring, text ? text : "");
	free(text);
	r = exit_code_of(err->valuestring);
	cJSON_Delete(*ret_reply);
	*ret_reply = NULL;
	return r;
}

static void print_json(const cJSON *params)
{
	/* The reply is printed last: its numbers may be made exact in place. */
	char *text = json_print_exact((cJSON *)params, true);

	if (text)
		puts(text);
	free(text);
}

/*
 * bytes in the largest binary unit it reaches, so that a small size is
 * not shown as 0.00G: 1.50G, 4.00M, 512.00K, 100B.
 */
static const char *size_str(double bytes, char *buf, size_t size)
{
	static const char units[] = "KMGTP";
	int u = -1;

	while (u + 1 < (int)sizeof(units) - 1 && bytes >= 1024) {
		bytes /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, size, "%.0fB", bytes);
	else
		snprintf(buf, size, "%.2f%c", bytes, units[u]);
	return buf;
}

static void print_status(const cJSON *p)
{
	const cJSON *n, *h = cJSON_GetObjectItemCaseSensitive(p, "hugetlb");
	double ps = num(p, "page_size");

	printf("mode: %s%s%s%s\n", str(p, "mode"), cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "dry_run")) ?
	       " (dry run)" : "", cJSON_GetObjectItemCaseSensitive(p, "mode_reason") ? ": " : "",
	       cJSON_GetObjectItemCaseSensitive(p, "mode_reason") ? str(p, "mode_reason") : "");
	if (cJSON_GetObjectItemCaseSensitive(p, "guest_memfd"))
		printf("guest_memfd: %s\n", str(p, "guest_memfd"));
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "compaction")))
		printf("compaction: supported\n");
	else
		printf("compaction: not supported by the kernel\n");
	if (cJSON_IsObject(h))
		printf("1 GiB hugetlb: %.0f pages, %.0f free, %.0f reserved, %.0f surplus\n",
		       num(h, "total"), num(h, "free"), num(h, "reserved"), num(h, "surplus"));
	printf("reservations: %.0f   cycles: %.0f   %s\n\n", num(p, "reservations"), num(p, "cycles"),
	       str(p, "last_cycle"));
	printf("%-4s %-7s %8s %8s %7s %6s %9s %9s %9s %9s  %s\n", "NODE", "MANAGED", "HUGE_1G",
	       "FREE_1G", "CHUNKS", "EMPTY", "POOL_FREE", "POOL_USED", "RESERVED", "RESV_1G",
	       "LAST ACTION / FAILURE");
	cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(p, "nodes")) {
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(n, "last_action");
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(n, "last_failure");

		char sfree[16], sused[16], sresv[16], sord[16];

		printf("%-4.0f %-7s %8.0f %8.0f %7.0f %6.0f %9s %9s %9s %9s  %s%s%s\n",
		       num(n, "node"), cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(n, "managed")) ? "yes" : "no",
		       num(n, "hugetlb_total"), num(n, "hugetlb_free"), num(n, "pool_chunks"),
		       num(n, "pool_empty_chunks"),
		       size_str(num(n, "pool_free_pages") * ps, sfree, sizeof(sfree)),
		       size_str(num(n, "pool_used_pages") * ps, sused, sizeof(sused)),
		       size_str(num(n, "reserved_bytes"), sresv, sizeof(sresv)),
		       size_str(num(n, "ordinary_reserved_bytes"), sord, sizeof(sord)),
		       cJSON_IsObject(a) ? str(a, "text") : "-",
		       cJSON_IsObject(f) ? " / FAILED " : "", cJSON_IsObject(f) ? str(f, "text") : "");
	}
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "compaction")))
		return;
	/* Pages of the chunks compactions left full, by why, summed over them. */
	printf("\n%-4s %11s %11s %8s %10s %10s %10s %10s\n", "NODE", "COMPACTIONS", "PAGES_MOVED",
	       "EMPTIED", "PINNED", "NO_ROOM", "BUDGET", "BUSY");
	cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(p, "nodes"))
		printf("%-4.0f %11.0f %11.0f %8.0f %10.0f %10.0f %10.0f %10.0f\n", num(n, "node"),
		       num(n, "compactions"), num(n, "compact_pages_moved"),
		       num(n, "compact_chunks_emptied"), num(n, "compact_pages_pinned"),
		       num(n, "compact_pages_no_room"), num(n, "compact_pages_over_budget"),
		       num(n, "compact_pages_busy"));
}

static void print_plan(const cJSON *p)
{
	const cJSON *n;

	printf("%-4s %-12s %6s %9s %8s %8s %10s %9s %9s %8s %8s\n", "NODE", "REASON", "LEND",
	       "LEND_CMA", "RECLAIM", "COMPACT", "SHORTFALL", "RESERVED", "DEFERRED", "RESV_1G",
	       "PENDING");
	cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(p, "nodes"))
		printf("%-4.0f %-12s %6.0f %9.0f %8.0f %8.0f %10.0f %9.0f %9.0f %8.0f %8.0f\n",
		       num(n, "node"), str(n, "reason"), num(n, "lend"), num(n, "lend_cma"),
		       num(n, "reclaim"), num(n, "compact"), num(n, "shortfall"),
		       num(n, "reserved_chunks"), num(n, "deferred"),
		       num(n, "ordinary_reserved_pages"), num(n, "ordinary_shortfall"));
}

static void print_reservation_row(const cJSON *r)
{
	char when[32] = "-", size[16], pending[16];
	time_t t = (time_t)num(r, "created");
	struct tm tm;

	if (localtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%-24s %-12s %4.0f %11s %-4s %-9s %9s %s\n", str(r, "owner"), str(r, "kind"),
	       num(r, "node"), size_str(num(r, "bytes"), size, sizeof(size)),
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "any")) ? "yes" : "no",
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "satisfied")) ? "yes" : "no",
	       size_str(num(r, "pending_bytes"), pending, sizeof(pending)), when);
}

static void print_reservations(const cJSON *p)
{
	const cJSON *r, *list = cJSON_GetObjectItemCaseSensitive(p, "reservations");

	printf("%-24s %-12s %4s %11s %-4s %-9s %9s %s\n", "OWNER", "KIND", "NODE", "SIZE", "ANY",
	       "SATISFIED", "PENDING", "CREATED");
	if (cJSON_IsObject(p) && !list) {
		print_reservation_row(p);
		return;
	}
	cJSON_ArrayForEach(r, list)
		print_reservation_row(r);
}

static void print_rebalance(const cJSON *p)
{
	const cJSON *n;

	printf("%s%s\n", str(p, "result"),
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "dry_run")) ? " (dry run)" : "");
	printf("%-4s %12s %6s %15s %10s\n", "NODE", "LEND_WANTED", "LENT", "RECLAIM_WANTED",
	       "RECLAIMED");
	cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(p, "nodes"))
		printf("%-4.0f %12.0f %6.0f %15.0f %10.0f\n", num(n, "node"),
		       num(n, "lend_requested"), num(n, "lent"), num(n, "reclaim_requested"),
		       num(n, "reclaimed"));
}

static void print_metrics(const cJSON *p)
{
	char *text = metrics_format(p);

	if (text)
		fputs(text, stdout);
	free(text);
}

static void print_nothing(const cJSON *p)
{
	(void)p;
}

/*
 * Sizes accept binary suffixes: 4G is 4 GiB.  Only digits may start one:
 * strtoull() would skip blanks and wrap " -1" to 2^64-1.  The daemon
 * takes up to 2^53-1 bytes, which a JSON number holds exactly.
 */
static int parse_size(const char *s, uint64_t *ret)
{
	static const char suffixes[] = "KMGT";
	unsigned long long v;
	const char *sfx;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -errno;
	if (*end) {
		sfx = strchr(suffixes, *end);
		if (!sfx || !*sfx || (end[1] && strcmp(end + 1, "iB") && strcmp(end + 1, "B")))
			return -EINVAL;
		for (int i = 0; i <= sfx - suffixes; i++) {
			if (v > UINT64_MAX / 1024)
				return -ERANGE;
			v *= 1024;
		}
	}
	if (v > RESV_MAX_BYTES)
		return -ERANGE;
	*ret = v;
	return 0;
}

static int run(const char *method, cJSON *params, void (*print)(const cJSON *))
{
	const cJSON *p;
	cJSON *reply;
	int r = call(method, params, &reply, &p);

	if (r != EXIT_OK)
		return r;
	if (json_output && print != print_metrics)
		print_json(p);
	else
		print(p);
	cJSON_Delete(reply);
	return EXIT_OK;
}

static int cmd_reserve(int argc, char **argv, long node, const char *kind)
{
	enum resv_kind k;
	cJSON *params;
	uint64_t bytes = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: gigapoolctl reserve OWNER SIZE [--node N] "
			"[--kind confidential|ordinary]\n");
		return EXIT_USAGE;
	}
	if (kind && resv_kind_from_name(kind, &k) < 0) {
		fprintf(stderr, "gigapoolctl: bad kind '%s': confidential or ordinary\n", kind);
		return EXIT_USAGE;
	}
	if (parse_size(argv[2], &bytes) < 0 || bytes == 0) {
		fprintf(stderr, "gigapoolctl: bad size '%s': a whole number of bytes from 1 to "
			"2^53-1, with an optional K, M, G or T suffix (binary)\n", argv[2]);
		return EXIT_USAGE;
	}
	params = cJSON_CreateObject();
	cJSON_AddStringToObject(params, "owner", argv[1]);
	cJSON_AddNumberToObject(params, "bytes", (double)bytes);
	if (node >= 0)
		cJSON_AddNumberToObject(params, "node", node);
	if (kind)
		cJSON_AddStringToObject(params, "kind", kind);
	return run(POOL_INTERFACE ".Reserve", params, print_reservations);
}

static int cmd_call(int argc, char **argv)
{
	cJSON *params = argc > 2 ? cJSON_Parse(argv[2]) : NULL;

	if (argc < 2 || argc > 3 || (argc == 3 && !cJSON_IsObject(params))) {
		cJSON_Delete(params);
		fprintf(stderr, "usage: gigapoolctl call METHOD [JSON-PARAMETERS]\n");
		return EXIT_USAGE;
	}
	json_output = true;
	return run(argv[1], params, print_nothing);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: gigapoolctl [--socket PATH] [--json] COMMAND\n"
		"  status                     nodes, pool and reservations\n"
		"  plan                       moves the planner would make now\n"
		"  reserve OWNER SIZE [--node N] [--kind confidential|ordinary]\n"
		"                             hold free pool chunks (confidential, the default)\n"
		"                             or free 1 GiB pages (ordinary); SIZE like 4G\n"
		"  release OWNER              drop a reservation\n"
		"  list                       reservations\n"
		"  rebalance                  run a planning cycle now\n"
		"  metrics                    Prometheus text format\n"
		"  check-policy FILE          validate a policy file\n"
		"  call METHOD [JSON]         raw varlink call\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "node", required_argument, NULL, 'n' },
		{ "kind", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL }
	};
	static const struct { const char *name, *method; void (*print)(const cJSON *); } simple[] = {
		{ "status", POOL_INTERFACE ".Status", print_status },
		{ "plan", POOL_INTERFACE ".Plan", print_plan },
		{ "list", POOL_INTERFACE ".ListReservations", print_reservations },
		{ "rebalance", POOL_INTERFACE ".Rebalance", print_rebalance },
		{ "metrics", POOL_INTERFACE ".Status", print_metrics },
	};
	const char *kind = NULL;
	long node = -1;
	char *end;
	int c;

	signal(SIGPIPE, SIG_IGN);
	/* GNU getopt permutes, so options may follow the command too. */
	while ((c = getopt_long(argc, argv, "hj", opts, NULL)) != -1) {
		switch (c) {
		case 's': socket_path = optarg; break;
		case 'j': json_output = true; break;
		case 'n':
			errno = 0;
			node = strtol(optarg, &end, 10);
			if (!isdigit((unsigned char)optarg[0]) || *end || errno ||
			    node >= UNMAPPED_POOL_MAX_NODES) {
				fprintf(stderr, "gigapoolctl: bad node '%s': a number from 0 to %d\n",
					optarg, UNMAPPED_POOL_MAX_NODES - 1);
				return EXIT_USAGE;
			}
			break;
		case 'k': kind = optarg; break;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < ARRAY_SIZE(simple); i++)
		if (strcmp(argv[0], simple[i].name) == 0 && argc == 1)
			return run(simple[i].method, NULL, simple[i].print);
	if (strcmp(argv[0], "reserve") == 0)
		return cmd_reserve(argc, argv, node, kind);
	if (strcmp(argv[0], "release") == 0 && argc == 2) {
		cJSON *params = cJSON_CreateObject();

		cJSON_AddStringToObject(params, "owner", argv[1]);
		return run(POOL_INTERFACE ".Release", params, print_nothing);
	}
	if (strcmp(argv[0], "check-policy") == 0 && argc == 2)
		return policy_check_file(argv[1]) < 0 ? EXIT_BAD_POLICY : EXIT_OK;
	if (strcmp(argv[0], "call") == 0)
		return cmd_call(argc, argv);
	usage(stderr);
	return EXIT_USAGE;
}
