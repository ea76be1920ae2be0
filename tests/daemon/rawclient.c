// SPDX-License-Identifier: GPL-2.0
/*
 * rawclient SOCKET: send stdin to a unix socket as is, then print what
 * comes back (NUL bytes as newlines) until the peer closes or 2 s pass.
 * The integration test uses it to send malformed and oversized input.
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[65536];
	ssize_t n;
	int fd;

	if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path))
		return 2;
	strcpy(sa.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return 3;
	while ((n = read(0, buf, sizeof(buf))) > 0)
		if (send(fd, buf, n, MSG_NOSIGNAL) != n)
			break;
	shutdown(fd, SHUT_WR);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 2000) <= 0)
			break;
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			putchar(buf[i] ? buf[i] : '\n');
	}
	printf("[closed]\n");
	return 0;
}
