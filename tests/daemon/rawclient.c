// SPDX-License-Identifier: GPL-2.0
/*
 * rawclient [--hold] SOCKET: send stdin to a unix socket as is, then print
 * what comes back (NUL bytes as newlines) and how the connection ended:
 * "[closed]" when the peer closed it, "[timeout]" when 2 s passed without
 * a byte.  The integration test uses it to send malformed and oversized
 * input, and asks that the daemon close the connection, not merely stay
 * silent.
 *
 * Without --hold, stdin is read to its end and sent in one piece, as a
 * client that pipelines its calls would, then our end is shut down for
 * writing and the daemon closes the connection once it has answered what
 * it was sent; with --hold, stdin is sent as it comes and our end stays
 * open, so that only the daemon's own decision can close the connection.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* How the connection ended, as the last line printed. */
static const char *wait_replies(int fd)
{
	char buf[65536];
	ssize_t n;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, 2000);

		if (r == 0)
			return "[timeout]";
		if (r < 0)
			return "[error: poll]";
		n = read(fd, buf, sizeof(buf));
		/*
		 * A peer that closes with our input unread resets the
		 * connection (unix(7)): it closed it all the same.
		 */
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return "[closed]";
		if (n < 0)
			return "[error: read]";
		for (ssize_t i = 0; i < n; i++)
			putchar(buf[i] ? buf[i] : '\n');
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[65536];
	const char *path;
	int hold = 0;
	ssize_t n;
	int fd;

	if (argc == 3 && !strcmp(argv[1], "--hold"))
		hold = 1;
	else if (argc != 2)
		return 2;
	path = argv[argc - 1];
	if (strlen(path) >= sizeof(sa.sun_path))
		return 2;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return 3;
	if (hold) {
		while ((n = read(0, buf, sizeof(buf))) > 0)
			if (send(fd, buf, n, MSG_NOSIGNAL) != n)
				break;
	} else {
		/*
		 * One send: the daemon stops reading from a client that
		 * does not read its replies, and a reply-sized piece per
		 * call would fill the socket before we start reading.
		 */
		char *all = NULL;
		size_t len = 0;

		while ((n = read(0, buf, sizeof(buf))) > 0) {
			char *more = realloc(all, len + n);

			if (!more)
				return 1;
			all = more;
			memcpy(all + len, buf, n);
			len += n;
		}
		if (len && send(fd, all, len, MSG_NOSIGNAL) != (ssize_t)len)
			return 3;
		free(all);
		shutdown(fd, SHUT_WR);
	}
	printf("%s\n", wait_replies(fd));
	return 0;
}
