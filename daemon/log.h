/* SPDX-License-Identifier: GPL-2.0 */
#ifndef GIGAPOOL_LOG_H
#define GIGAPOOL_LOG_H

#include <stdint.h>
#include <syslog.h>

#define LOG_NO_NODE (-1)

void log_setup(const char *ident);
void log_node(int prio, int node, uint64_t pages, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_msg(prio, ...) log_node(prio, LOG_NO_NODE, 0, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
