/* SPDX-License-Identifier: GPL-2.0 */
#ifndef GIGAPOOL_RESERVATIONS_H
#define GIGAPOOL_RESERVATIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "planner.h"

#define RESV_FILE "reservations.json"
#define RESV_LOCK_FILE "lock"
/* Largest reservation: every integer up to 2^53-1 is exact as a JSON number (a double). */
#define RESV_MAX_BYTES ((1ULL << 53) - 1)

struct resv_set {
	struct reservation *items;
	size_t n;
};

bool resv_owner_valid(const char *owner, size_t max_len);
const char *resv_kind_name(enum resv_kind kind);
int resv_kind_from_name(const char *name, enum resv_kind *ret);
struct reservation *resv_find(const struct resv_set *set, const char *owner);
int resv_add(struct resv_set *set, const struct reservation *r);
int resv_remove(struct resv_set *set, const char *owner);
void resv_set_done(struct resv_set *set);

int resv_parse(const char *text, size_t len, struct resv_set *ret, char **ret_error);
cJSON *resv_to_json(const struct reservation *r);
char *resv_format(const struct resv_set *set);
int resv_load(const char *dir, struct resv_set *ret, char **ret_error);
int resv_lock(const char *dir, int *ret_fd, pid_t *ret_pid);
int resv_save(const char *dir, const struct resv_set *set);

#endif
