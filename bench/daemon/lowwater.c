// SPDX-License-Identifier: GPL-2.0
/*
 * lowwater - time from a pool low-watermark event to the lend that answers
 * it, in the guest of bench/daemon.sh.
 *
 *   lowwater --runs N --socket PATH
 *
 * gigapoold runs with bench/daemon/policy.json: a headroom band of exactly
 * one free chunk, no cooldown and no timer cycle within the run, so node 0
 * holds one free chunk, its low watermark is one chunk of pages, and only a
 * pool event makes the daemon lend.  Each run measures four lends on node 0:
 *
 *   via=daemon  memfd_secret pages are faulted until one more page takes
 *               the pool below its watermark; CLOCK_MONOTONIC is read just
 *               before that page is faulted and again once node 0's lend
 *               counter has risen: gigapoold woke, took a snapshot, planned
 *               and lent a chunk;
 *   via=sysfs   the same lend without the daemon, a timed write of
 *               nr_chunks: the kernel's share of the above;
 *
 * each with a free 1 GiB hugetlb page on the node (source=hugetlb, which
 * the lend takes) and without one (source=cma: the chunk comes straight
 * from the CMA area).  Between lends the extra chunk goes back through
 * sysfs, which raises no event.  Every lend prints
 * "# lend source=S via=V run=N ms=X"; a lend that could not be measured
 * prints why on stderr and makes the exit status non-zero.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/unmapped_pool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define NODE		0
/*
 * The lend counter is read this often while waiting: reads block on the
 * pool's resize lock while a lend is under way, so they return as soon as
 * it ends, and the interval only bounds the error before the lend starts.
 */
#define POLL_NS		200000L
#define TIMEOUT_MS	120000.0

enum source { SOURCE_HUGETLB, SOURCE_CMA };
static const char *const source_names[] = { "hugetlb", "cma" };

static int pool_fd;
static unsigned int nr_node_ids;
static const char *daemon_socket;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Node NODE's low watermark in pages, as gigapoold set it (0: none). */
static int read_watermark(long long *ret_pages)
{
	struct unmapped_pool_node_stats *nodes = calloc(nr_node_ids, sizeof(*nodes));
	struct unmapped_pool_stats s = {
		.nr_nodes = nr_node_ids,
		.nodes_ptr = (uintptr_t)nodes,
	};
	int err = 0;

	if (!nodes)
		return -ENOMEM;
	/* A snapshot acknowledges the events of this file only, not the daemon's. */
	if (ioctl(pool_fd, UNMAPPED_POOL_IOC_STATS, &s))
		err = -errno;
	else
		*ret_pages = nodes[NODE].low_watermark;
	free(nodes);
	return err;
}

/* Waits until node NODE's lend counter exceeds lends; ret_ms: when it did. */
static int wait_lend(long long lends, double t0, double *ret_ms)
{
	const struct timespec pause = { 0, POLL_NS };
	long long now;

	while ((now = pool_read(NODE, "lends")) == lends) {
		if (now_ms() - t0 > TIMEOUT_MS)
			return -ETIMEDOUT;
		nanosleep(&pause, NULL);
	}
	*ret_ms = now_ms();
	return now == lends + 1 ? 0 : -EPROTO;
}

/*
 * gigapoold answers its clients on the thread that runs its cycles, so a
 * reply to any call means that the cycle which lent has ended; the next
 * lend must not overlap that cycle's final snapshot.
 */
static int wait_cycle_end(void)
{
	static const char call[] = "{\"method\":\"org.varlink.service.GetInfo\"}";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err = 0;
	ssize_t n = 0;
	char c = 1;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strncpy(sa.sun_path, daemon_socket, sizeof(sa.sun_path) - 1);
	/* sizeof(call) counts the NUL that ends a varlink message. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    write(fd, call, sizeof(call)) != sizeof(call))
		err = -errno;
	while (!err && c && (n = read(fd, &c, 1)) == 1)
		;
	if (!err && c)
		err = n < 0 ? -errno : -ECONNRESET;
	close(fd);
	return err;
}

/*
 * Node NODE back to one lent chunk, all of it free, with one free 1 GiB
 * hugetlb page (source hugetlb) or none (source cma).
 */
static int prepare(enum source source)
{
	if (!pool_set_chunks(NODE, 1))
		return -EBUSY;
	if (source == SOURCE_HUGETLB ? !hugetlb_reserve(NODE, 1) :
	    !node_write(NODE, HUGETLB_DIR, "nr_hugepages", 0))
		return -ENOMEM;
	if (hugetlb_read(NODE, "free_hugepages") != (source == SOURCE_HUGETLB))
		return -EEXIST;
	return pool_read(NODE, "free_pages") == CHUNK_PAGES ? 0 : -EBUSY;
}

/* The lend took a free hugetlb page if and only if it should have. */
static int check_source(enum source source, long long hugetlb_free)
{
	long long want = source == SOURCE_HUGETLB ? hugetlb_free - 1 : hugetlb_free;

	return hugetlb_read(NODE, "free_hugepages") == want ? 0 : -EXDEV;
}

static int lend_by_daemon(enum source source, double *ret_ms)
{
	long long wm, free_pages = pool_read(NODE, "free_pages");
	long long lends = pool_read(NODE, "lends"), fallbacks = pool_read(NODE, "fallbacks");
	long long hugetlb_free = hugetlb_read(NODE, "free_hugepages");
	long long need;
	struct region r;
	double t0, t1;
	int err;

	err = read_watermark(&wm);
	if (err)
		return err;
	/* Faulting need pages takes the pool from free_pages to just below wm. */
	need = free_pages - wm + 1;
	if (wm <= 0 || need < 1)
		return -ENODATA;
	if (!region_map(&r, secret_create(), need * PAGE_SIZE_4K))
		return -errno;
	for (long long i = 0; i < need - 1; i++)
		r.addr[i * PAGE_SIZE_4K] = 1;
	t0 = now_ms();
	r.addr[(need - 1) * PAGE_SIZE_4K] = 1;
	err = wait_lend(lends, t0, &t1);
	if (!err)
		err = wait_cycle_end();
	/* Pages served outside the pool would not have lowered it. */
	if (!err && pool_read(NODE, "fallbacks") != fallbacks)
		err = -EXDEV;
	if (!err)
		err = check_source(source, hugetlb_free);
	region_unmap(&r);
	if (!err)
		*ret_ms = t1 - t0;
	return err;
}

static int lend_by_sysfs(enum source source, double *ret_ms)
{
	long long hugetlb_free = hugetlb_read(NODE, "free_hugepages");
	double t0 = now_ms();

	if (!pool_set_chunks(NODE, 2))
		return -ENOMEM;
	*ret_ms = now_ms() - t0;
	return check_source(source, hugetlb_free);
}

/* gigapoold's first cycle: a chunk lent on node NODE and its watermark set. */
static int wait_daemon(void)
{
	double t0 = now_ms();
	long long wm = 0;
	int err;

	while (!(err = read_watermark(&wm)) && (wm == 0 || pool_read(NODE, "nr_chunks") < 1)) {
		if (now_ms() - t0 > TIMEOUT_MS)
			return -ETIMEDOUT;
		sleep(1);
	}
	return err;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "runs", required_argument, NULL, 'r' },
		{ "socket", required_argument, NULL, 's' },
		{ NULL }
	};
	static int (*const lend[])(enum source, double *) = { lend_by_daemon, lend_by_sysfs };
	static const char *const via_names[] = { "daemon", "sysfs" };
	struct unmapped_pool_info info;
	int runs = 0, failed = 0, c, err;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'r')
			runs = atoi(optarg);
		else if (c == 's')
			daemon_socket = optarg;
		else
			runs = 0;
	}
	if (runs < 1 || !daemon_socket) {
		fprintf(stderr, "usage: lowwater --runs N --socket PATH\n");
		return 2;
	}
	pool_fd = open(UNMAPPED_POOL_DEVICE, O_RDONLY);
	if (pool_fd < 0 || ioctl(pool_fd, UNMAPPED_POOL_IOC_INFO, &info)) {
		fprintf(stderr, "lowwater: %s: %s\n", UNMAPPED_POOL_DEVICE, strerror(errno));
		return 1;
	}
	nr_node_ids = info.nr_node_ids;
	/* memfd_secret takes pages from the pool of the node the policy picks. */
	if (!bind_memory(NODE)) {
		fprintf(stderr, "lowwater: cannot bind to node %d: %s\n", NODE, strerror(errno));
		return 1;
	}
	err = wait_daemon();
	if (err) {
		fprintf(stderr, "lowwater: gigapoold set no watermark: %s\n", strerror(-err));
		return 1;
	}
	for (int run = 1; run <= runs; run++) {
		for (enum source s = SOURCE_HUGETLB; s <= SOURCE_CMA; s++) {
			for (size_t v = 0; v < 2; v++) {
				double ms = 0;

				err = prepare(s);
				if (!err)
					err = lend[v](s, &ms);
				if (err) {
					fprintf(stderr, "lowwater: run %d source %s via %s: %s\n",
						run, source_names[s], via_names[v], strerror(-err));
					failed++;
					continue;
				}
				printf("# lend source=%s via=%s run=%d ms=%.3f\n",
				       source_names[s], via_names[v], run, ms);
				fflush(stdout);
			}
		}
	}
	return failed ? 1 : 0;
}
