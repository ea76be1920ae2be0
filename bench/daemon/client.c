// SPDX-License-Identifier: GPL-2.0
/*
 * gigapool-bench: query latency of gigapoold.  N clients connect at once,
 * each sends M calls one after another on its own connection (or as many
 * as fit in --seconds S, if that ends first), and the latencies of all
 * calls are reported as percentiles.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"

struct worker {
	pthread_t thread;
	const char *socket, *method;
	unsigned requests;
	double deadline_us;	/* no call starts after it; 0: none */
	double *lat_us;		/* requests entries */
	int error;
};

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	int fd = varlink_connect(w->socket);

	if (fd < 0) {
		w->error = fd;
		return NULL;
	}
	for (unsigned i = 0; i < w->requests; i++) {
		double t0 = now_us();
		cJSON *reply;
		int r;

		if (w->deadline_us && t0 >= w->deadline_us)
			break;
		r = varlink_call(fd, w->method, NULL, 64 << 20, &reply);

		if (r < 0 || cJSON_GetObjectItemCaseSensitive(reply, "error")) {
			w->error = r < 0 ? r : -EPROTO;
			if (r >= 0)
				cJSON_Delete(reply);
			break;
		}
		w->lat_us[i] = now_us() - t0;
		cJSON_Delete(reply);
	}
	close(fd);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "clients", required_argument, NULL, 'c' },
		{ "requests", required_argument, NULL, 'n' },
		{ "method", required_argument, NULL, 'm' },
		{ "seconds", required_argument, NULL, 't' },
		{ NULL }
	};
	const char *socket = POOL_SOCKET, *method = POOL_INTERFACE ".Status";
	unsigned clients = 1, requests = 1000;
	struct worker *w;
	double *all, t0, elapsed, seconds = 0;
	size_t n = 0;
	int c, failed = 0;

	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': socket = optarg; break;
		case 'c': clients = strtoul(optarg, NULL, 10); break;
		case 'n': requests = strtoul(optarg, NULL, 10); break;
		case 'm': method = optarg; break;
		case 't': seconds = strtod(optarg, NULL); break;
		default:
			fprintf(stderr, "usage: gigapool-bench [--socket S] [--clients N] "
				"[--requests M] [--seconds S] [--method NAME]\n");
			return 2;
		}
	}
	if (clients == 0 || requests == 0 || clients > 10000 || !(seconds >= 0))
		return 2;
	w = calloc(clients, sizeof(*w));
	all = calloc((size_t)clients * requests, sizeof(*all));
	if (!w || !all)
		return 1;
	t0 = now_us();
	for (unsigned i = 0; i < clients; i++) {
		w[i] = (struct worker){ .socket = socket, .method = method, .requests = requests,
					.deadline_us = seconds ? t0 + seconds * 1e6 : 0,
					.lat_us = all + (size_t)i * requests };
		if (pthread_create(&w[i].thread, NULL, work, &w[i]) != 0)
			return 1;
	}
	for (unsigned i = 0; i < clients; i++) {
		pthread_join(w[i].thread, NULL);
		if (w[i].error) {
			fprintf(stderr, "client %u: %s\n", i, strerror(-w[i].error));
			failed++;
		}
	}
	elapsed = now_us() - t0;
	for (size_t i = 0; i < (size_t)clients * requests; i++)
		if (all[i] > 0)
			all[n++] = all[i];
	if (n == 0)
		return 1;
	qsort(all, n, sizeof(*all), cmp_double);
	printf("method=%s clients=%u requests/client=%u calls=%zu failed_clients=%d\n",
	       method, clients, requests, n, failed);
	printf("p50=%.1fus p99=%.1fus max=%.1fus throughput=%.0f calls/s\n",
	       all[n / 2], all[(size_t)(n * 0.99)], all[n - 1], n / (elapsed / 1e6));
	return failed ? 1 : 0;
}
