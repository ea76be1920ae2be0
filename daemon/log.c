// SPDX-License-Identifier: GPL-2.0
/*
 * Logging.  Under systemd (JOURNAL_STREAM names our stderr) messages go to
 * the journal with structured fields NODE= and PAGES= so that an operator
 * can ask `journalctl NODE=1`; elsewhere, e.g. in tests, they go to
 * stderr as one line each with the same fields appended.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "log.h"

static bool use_journal;
static const char *log_ident = "gigapool";

/* JOURNAL_STREAM is "device:inode" of the stream systemd gave us. */
void log_setup(const char *ident)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	log_ident = ident;
	use_journal = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 &&
		      fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

void log_node(int prio, int node, uint64_t pages, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (use_journal && node != LOG_NO_NODE)
		sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", prio,
				"SYSLOG_IDENTIFIER=%s", log_ident, "NODE=%d", node,
				"PAGES=%llu", (unsigned long long)pages, NULL);
	else if (use_journal)
		sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", prio,
				"SYSLOG_IDENTIFIER=%s", log_ident, NULL);
	else if (node != LOG_NO_NODE)
		fprintf(stderr, "%s: %s [node=%d pages=%llu]\n", log_ident, msg, node,
			(unsigned long long)pages);
	else
		fprintf(stderr, "%s: %s\n", log_ident, msg);
}
