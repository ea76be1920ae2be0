// SPDX-License-Identifier: GPL-2.0
/*
 * gigapoold: keeps 1 GiB pages per NUMA node balanced between hugetlb (for
 * ordinary VMs) and the kernel's unmapped pool (for confidential VMs).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "manager.h"
#include "policy.h"
#include "protocol.h"

#define DEFAULT_POLICY "/etc/gigapool/policy.json"
#define DEFAULT_STATE_DIR "/var/lib/gigapool"
/* Exit status when another daemon holds the state directory or the socket. */
#define EXIT_ANOTHER 3

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: gigapoold [OPTIONS]\n"
		"  --policy FILE        policy (default " DEFAULT_POLICY ")\n"
		"  --socket PATH        control socket when not socket-activated\n"
		"                       (default " POOL_SOCKET ")\n"
		"  --state-dir DIR      reservations (default " DEFAULT_STATE_DIR ")\n"
		"  --sysfs-root DIR     prefix of /sys and /dev, for tests (default /)\n"
		"  --dry-run            plan and log, change nothing\n"
		"  --check-policy FILE  validate a policy and exit\n"
		"  --help\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "socket", required_argument, NULL, 's' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "sysfs-root", required_argument, NULL, 'r' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "check-policy", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL }
	};
	struct manager_options o = {
		.policy_path = DEFAULT_POLICY,
		.socket_path = POOL_SOCKET,
		.state_dir = DEFAULT_STATE_DIR,
		.sysfs_root = "/",
	};
	struct manager *m;
	struct policy *p;
	char *err;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': o.policy_path = optarg; break;
		case 's': o.socket_path = optarg; break;
		case 'd': o.state_dir = optarg; break;
		case 'r': o.sysfs_root = optarg; break;
		case 'n': o.dry_run = true; break;
		case 'c': return policy_check_file(optarg) < 0 ? 1 : 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	log_setup("gigapoold");
	if (policy_load(o.policy_path, &p, &err) < 0) {
		log_error("%s", err ? err : "out of memory");
		free(err);
		return 1;
	}
	r = manager_new(&o, p, &m, &err);
	if (r < 0) {
		if (err)
			log_error("cannot start: %s", err);
		else
			log_error("cannot start (state in %s): %s", o.state_dir, strerror(-r));
		free(err);
		return r == -EBUSY ? EXIT_ANOTHER : 1;
	}
	r = manager_run(m);
	manager_free(m);
	if (r == -EADDRINUSE) {
		log_error("cannot start: another gigapoold answers on %s", o.socket_path);
		return EXIT_ANOTHER;
	}
	if (r < 0) {
		log_error("%s", strerror(-r));
		return 1;
	}
	return 0;
}
