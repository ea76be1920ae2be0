/* SPDX-License-Identifier: GPL-2.0 */
#ifndef GIGAPOOL_RESERVATIONS_H
#define GIGAPOOL_RESERVATIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "planner.h"

#define RESV_FILE "reservations.json"
/* Largest reservation: 2^53 bytes keep JSON numbers exact. */
#define RESV_MAX_BYTES (1ULL << 53)

struct resv_set {
	struct reservation *items;
	size_t n;
};

bool resv_owner_valid(const char *owner, size_t max_len);
struct reservation *resv_find(const struct resv_set *set, const char *owner);
int resv_add(struct resv_set *set, const struct reservation *r);
int resv_remove(struct resv_set *set, const char *owner);
void resv_set_done(struct resv_set *set);

int resv_parse(const char *text, size_t len, struct resv_set *ret);
cJSON *resv_to_json(const struct reservation *r);
char *resv_format(const struct resv_set *set);
int resv_load(const char *dir, struct resv_set *ret);
int resv_save(const char *dir, const struct resv_set *set);

#endif
