// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: a client's byte stream, cut into chunks at positions
 * taken from the input, through the framer and the request dispatcher.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

static int m_ok(void *userdata, const cJSON *params, const struct peer *peer, struct reply *ret)
{
	(void)userdata, (void)params, (void)peer;
	ret->params = cJSON_CreateObject();
	return ret->params ? 0 : -12;
}

static const struct method methods[] = {
	{ "Status", false, m_ok },
	{ "Reserve", true, m_ok, "owner bytes node" },
	{ NULL }
};

static const struct service svc = {
	.vendor = "v", .product = "p", .version = "1", .url = "u",
	.description = "interface io.gigapool.Pool\n", .methods = methods,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct peer peer = { .uid = 1000 };
	struct framer f;
	size_t off = 0;

	framer_init(&f, 1024);
	while (off < size) {
		/* The first byte of each step chooses how much the "network" delivers. */
		size_t n = 1 + data[off] % 64;
		const char *msg;
		size_t len;
		int r;

		if (n > size - off)
			n = size - off;
		if (framer_feed(&f, data + off, n) < 0)
			break;
		off += n;
		while ((r = framer_next(&f, &msg, &len)) > 0) {
			char *reply = NULL;

			if (len > 1024)
				abort();
			if (protocol_dispatch(&svc, &peer, msg, len, &reply) == 0 && reply &&
			    !strstr(reply, "\"parameters\""))
				abort();
			free(reply);
		}
		if (r < 0)
			break;
	}
	framer_done(&f);
	return 0;
}
