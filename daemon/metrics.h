/* SPDX-License-Identifier: GPL-2.0 */
#ifndef GIGAPOOL_METRICS_H
#define GIGAPOOL_METRICS_H

#include <cjson/cJSON.h>

/* Prometheus text format of a Status reply; shared by gigapoolctl and the daemon's textfile. */
char *metrics_format(const cJSON *status);

#endif
