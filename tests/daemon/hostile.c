// SPDX-License-Identifier: GPL-2.0
/*
 * hostile SOCKET CONNECTIONS SECONDS MODE...: open CONNECTIONS connections
 * to a varlink socket at once, the i-th behaving as the i-th MODE (cycling
 * through the list), for SECONDS, then print one line:
 *
 *   connections N, closed by the daemon C
 *
 * Modes, each what a client that wants to hurt the daemon could do:
 *   noread   pipelines Status calls as fast as the socket takes them and
 *            never reads a reply;
 *   trickle  sends a blank (which a JSON text may start with) every 100 ms
 *            and never completes a message;
 *   big      sends all but the last byte of a message of BIG_BYTES (the
 *            environment, default 65536) and holds it;
 *   idle     connects and sends nothing.
 *
 * The integration test runs it as unprivileged users against the daemon
 * and checks the daemon's memory and that root is still served; the
 * daemon benchmark runs it under root's Status latency.
 */
#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum mode { NOREAD, TRICKLE, BIG, IDLE };

struct conn {
	int fd;
	enum mode mode;
	size_t sent;		/* bytes of the big message sent */
	bool closed;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_mode(const char *s)
{
	static const char *const names[] = { "noread", "trickle", "big", "idle" };

	for (int i = 0; i < 4; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

/* Whether the daemon closed the connection: a read sees its end. */
static bool peer_closed(int fd)
{
	char buf[4096];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_PEEK);

	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* Send what the mode sends now; false once the daemon closed the connection. */
static bool act(struct conn *c, const char *calls, size_t calls_len, char *big, size_t big_len,
		bool tick)
{
	ssize_t n = 0;

	switch (c->mode) {
	case NOREAD:
		n = send(c->fd, calls, calls_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		break;
	case TRICKLE:
		if (tick)
			n = send(c->fd, " ", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		break;
	case BIG:
		if (c->sent < big_len) {
			n = send(c->fd, big + c->sent, big_len - c->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0)
				c->sent += n;
		}
		break;
	case IDLE:
		break;
	}
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		return false;
	/* A noread client never reads: a failed send is how it sees the close. */
	return c->mode == NOREAD || !peer_closed(c->fd);
}

int main(int argc, char **argv)
{
	static const char call[] = "{\"method\":\"io.gigapool.Pool.Status\"}";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *env = getenv("BIG_BYTES");
	size_t big_len = env ? strtoul(env, NULL, 10) : 65536;
	char calls[64 * sizeof(call)], *big;
	size_t calls_len = 0;
	int n, seconds, closed = 0;
	double end, next_tick = 0;
	struct conn *conns;

	if (argc < 5 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: hostile SOCKET CONNECTIONS SECONDS MODE...\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	n = atoi(argv[2]);
	seconds = atoi(argv[3]);
	for (int i = 4; i < argc; i++)
		if (parse_mode(argv[i]) < 0) {
			fprintf(stderr, "hostile: unknown mode %s\n", argv[i]);
			return 2;
		}
	for (size_t i = 0; i < 64; i++) {
		memcpy(calls + calls_len, call, sizeof(call));	/* with its NUL */
		calls_len += sizeof(call);
	}
	big = malloc(big_len ? big_len : 1);
	conns = calloc(n, sizeof(*conns));
	if (!big || !conns)
		return 1;
	memset(big, 'x', big_len);
	if (big_len)
		big_len--;	/* the message never ends */
	for (int i = 0; i < n; i++) {
		conns[i].mode = parse_mode(argv[4 + i % (argc - 4)]);
		conns[i].fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (conns[i].fd < 0 || connect(conns[i].fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			perror("hostile: connect");
			return 1;
		}
	}
	end = now_s() + seconds;
	while (now_s() < end) {
		bool tick = now_s() >= next_tick;

		if (tick)
			next_tick = now_s() + 0.1;
		for (int i = 0; i < n; i++) {
			if (conns[i].closed)
				continue;
			if (!act(&conns[i], calls, calls_len, big, big_len, tick)) {
				conns[i].closed = true;
				closed++;
			}
		}
		poll(NULL, 0, 10);
	}
	printf("connections %d, closed by the daemon %d\n", n, closed);
	return 0;
}
