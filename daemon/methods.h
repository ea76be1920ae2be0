/* SPDX-License-Identifier: GPL-2.0 */
#ifndef GIGAPOOL_METHODS_H
#define GIGAPOOL_METHODS_H

#include <cjson/cJSON.h>

#include "manager.h"
#include "protocol.h"

/* The io.gigapool.Pool service: its description and its methods, called on m. */
void methods_service_init(struct service *ret, struct manager *m);
/* The Status reply, also the source of the metrics textfile. */
cJSON *methods_status_json(const struct manager *m);

#endif
