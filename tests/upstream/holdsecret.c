// SPDX-License-Identifier: GPL-2.0
/*
 * holdsecret - keep MIB MiB of memfd_secret faulted until killed, so that
 * the upstream selftests run while the unmapped pool is in use (on the
 * gigapool kernel secretmem draws from the lent chunks).  Prints one
 * "# holdsecret ..." line once the memory is faulted, then sleeps.
 *
 * It runs as uid 65534: secretmem charges faulted pages to the owner's
 * per-user locked_vm, so held by root they would eat the 8 MiB mlock
 * allowance that upstream's memfd_secret test gives itself (as root, that
 * test died of SIGBUS on its first fault).
 *
 *   holdsecret MIB
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "util.h"

int main(int argc, char **argv)
{
	struct region r;
	long mib = argc > 1 ? atol(argv[1]) : 0;

	if (mib <= 0) {
		fprintf(stderr, "usage: holdsecret MIB\n");
		return 2;
	}
	struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };

	/* Raised while root: an unprivileged user may not raise it. */
	if (setrlimit(RLIMIT_MEMLOCK, &unlimited) || setresgid(65534, 65534, 65534) ||
	    setresuid(65534, 65534, 65534)) {
		perror("holdsecret: rlimit or uid");
		return 1;
	}
	if (!region_map(&r, secret_create(), mib * MIB) || region_fault(&r) < 0) {
		printf("# holdsecret: could not fault %ld MiB of memfd_secret\n", mib);
		return 1;
	}
	printf("# holdsecret: %ld MiB of memfd_secret faulted\n", mib);
	fflush(stdout);
	for (;;)
		pause();
}
