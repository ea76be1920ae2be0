/* SPDX-License-Identifier: GPL-2.0 */
#ifndef GIGAPOOL_MANAGER_H
#define GIGAPOOL_MANAGER_H

#include <stdbool.h>

#include "policy.h"

struct manager_options {
	const char *policy_path;
	const char *socket_path;
	const char *state_dir;
	const char *sysfs_root;
	bool dry_run;
};

struct manager;

/* Takes ownership of policy. */
int manager_new(const struct manager_options *o, struct policy *policy, struct manager **ret);
int manager_run(struct manager *m);
void manager_free(struct manager *m);

#endif
