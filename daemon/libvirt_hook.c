// SPDX-License-Identifier: GPL-2.0
/*
 * gigapool's libvirt hook, installed as /etc/libvirt/hooks/qemu.d/gigapool.
 * libvirt runs it as HOOK DOMAIN OPERATION SUB-OPERATION EXTRA with the
 * domain XML on stdin.  On "prepare begin" it reserves the domain's memory
 * with gigapoolctl, on "release end" it releases it; every other call, and
 * every domain that needs no 1 GiB page, is left alone.
 *
 * Which kind: a domain with <launchSecurity> (SEV, SEV-SNP, TDX) is
 * confidential, its memory comes from the unmapped pool; one whose
 * <memoryBacking><hugepages> are all 1 GiB pages is ordinary.  A
 * <hugepages/> without <page> elements uses the host's default huge page
 * size (Hugepagesize in /proc/meminfo), so it is ordinary only on a host
 * booted with default_hugepagesz=1G.  Mixed page sizes are left alone: the
 * hook cannot tell how much of the memory is in 1 GiB pages.
 *
 * Why C with libxml2 and not a shell script: libvirt itself links
 * libxml2, so it is on every host that runs this hook, and its XPath reads
 * the domain XML as XML (attributes in any order or quoting, comments,
 * elements split over lines).  A script would need xmllint or xmlstarlet,
 * which no libvirt host is guaranteed to have, or grep and sed, which do
 * not parse XML.
 *
 * A hook that fails makes libvirt refuse to start the domain, so this one
 * exits 0 whatever happens (a daemon that is down, a refused reservation,
 * XML it does not understand) and says what went wrong in syslog and on
 * stderr, which libvirt records in its debug log.
 *
 * For tests only: GIGAPOOLCTL names the gigapoolctl to run,
 * GIGAPOOL_MEMINFO the file read for Hugepagesize, and
 * GIGAPOOL_HOOK_TIMEOUT_SEC the seconds gigapoolctl is given.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>

#include <linux/unmapped_pool.h>

#include "policy.h"
#include "reservations.h"
#include "util.h"

#ifndef GIGAPOOLCTL_PATH
#define GIGAPOOLCTL_PATH "/usr/bin/gigapoolctl"
#endif

#define OWNER_PREFIX "libvirt-"
/* libvirt's domain XML is some KiB; anything far larger is not one. */
#define MAX_XML_BYTES (16U << 20)
/* A Reserve runs a cycle of up to max_moves_per_cycle 1 GiB lends. */
#define CTL_TIMEOUT_SEC 60

struct domain {
	bool reserve;		/* a domain gigapool holds memory for */
	enum resv_kind kind;
	uint64_t bytes;
	int node;		/* host NUMA node, -1 when not exactly one */
	char owner[256];	/* beyond the default max_owner_length */
};

static const char *domain_name = "-";

static void hook_log(int prio, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "gigapool-libvirt-hook: %s: %s\n", domain_name, msg);
	syslog(prio, "%s: %s", domain_name, msg);
}

static int read_all(FILE *f, char **ret, size_t *ret_len)
{
	size_t len = 0, cap = 0;
	char *buf = NULL, *p;

	for (;;) {
		size_t n;

		if (cap - len < 4096) {
			cap = cap ? 2 * cap : 65536;
			if (cap > MAX_XML_BYTES + 1) {
				free(buf);
				return -EFBIG;
			}
			p = realloc(buf, cap);
			if (!p) {
				free(buf);
				return -ENOMEM;
			}
			buf = p;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		return -EIO;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* The string value of an XPath expression; "" when it selects nothing. */
static char *xpath_string(xmlXPathContext *ctx, const char *expr)
{
	xmlXPathObject *o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
	xmlChar *s = o ? xmlXPathCastToString(o) : NULL;
	char *r = s ? strdup((const char *)s) : NULL;

	xmlFree(s);
	xmlXPathFreeObject(o);
	return r;
}

static double xpath_number(xmlXPathContext *ctx, const char *expr)
{
	xmlXPathObject *o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
	double v = o ? xmlXPathCastToNumber(o) : 0;

	xmlXPathFreeObject(o);
	return v;
}

/*
 * value in unit as bytes, with libvirt's scaled integers: b or bytes;
 * K, KiB (1024) or KB (1000), and likewise M, G, T, P, E, letters in
 * either case; no unit means default_scale.
 */
static int scaled_bytes(const char *value, const char *unit, uint64_t default_scale,
			uint64_t *ret)
{
	static const char prefixes[] = "kmgtpe";
	uint64_t scale = default_scale;
	unsigned long long v;
	char *end;

	while (isspace((unsigned char)*value))
		value++;
	if (!isdigit((unsigned char)*value))
		return -EINVAL;
	errno = 0;
	v = strtoull(value, &end, 10);
	while (isspace((unsigned char)*end))
		end++;
	if (errno || *end)
		return -EINVAL;
	if (unit[0] && (strcasecmp(unit, "b") == 0 || strcasecmp(unit, "bytes") == 0)) {
		scale = 1;
	} else if (unit[0]) {
		const char *p = strchr(prefixes, tolower((unsigned char)unit[0]));
		uint64_t base;

		if (!p || !*p)
			return -EINVAL;
		if (!unit[1] || strcasecmp(unit + 1, "iB") == 0)
			base = 1024;
		else if (strcasecmp(unit + 1, "B") == 0)
			base = 1000;
		else
			return -EINVAL;
		scale = 1;
		for (const char *q = prefixes; q <= p; q++)
			scale *= base;
	}
	if (v > UINT64_MAX / scale)
		return -ERANGE;
	*ret = v * scale;
	return 0;
}

/*
 * A libvirt nodeset ("1", "0-3", "0,2-3,^2") that names exactly one node:
 * its number in *ret_node.  -ENOENT for a valid set of another size.
 */
static int nodeset_single(const char *s, int *ret_node)
{
	static bool set[UNMAPPED_POOL_MAX_NODES];
	int n = 0, node = -1;

	memset(set, 0, sizeof(set));
	for (const char *p = s;;) {
		bool exclude = false;
		unsigned long a, b;
		char *end;

		while (isspace((unsigned char)*p))
			p++;
		if (*p == '^') {
			exclude = true;
			p++;
		}
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		a = b = strtoul(p, &end, 10);
		p = end;
		if (*p == '-' && !exclude) {
			if (!isdigit((unsigned char)p[1]))
				return -EINVAL;
			b = strtoul(p + 1, &end, 10);
			p = end;
		}
		if (a > b || b >= UNMAPPED_POOL_MAX_NODES)
			return -EINVAL;
		for (unsigned long i = a; i <= b; i++)
			set[i] = !exclude;
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		if (*p++ != ',')
			return -EINVAL;
	}
	for (int i = 0; i < UNMAPPED_POOL_MAX_NODES; i++)
		if (set[i]) {
			n++;
			node = i;
		}
	if (n != 1)
		return -ENOENT;
	*ret_node = node;
	return 0;
}

/* The host's default huge page size, which a bare <hugepages/> gets. */
static uint64_t default_hugepage_bytes(void)
{
	const char *path = getenv("GIGAPOOL_MEMINFO") ?: "/proc/meminfo";
	unsigned long long kib = 0;
	char line[256];
	FILE *f = fopen(path, "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Hugepagesize: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return kib * 1024;
}

/*
 * Whether <memoryBacking><hugepages> makes the domain an ordinary VM of
 * gigapool's: every page size it names, or the default one when it names
 * none, is 1 GiB.
 */
static bool hugepages_1g(xmlXPathContext *ctx)
{
	const char *pages = "/domain/memoryBacking/hugepages/page";
	int n = (int)xpath_number(ctx, "count(/domain/memoryBacking/hugepages/page)");
	char expr[128];

	if (xpath_number(ctx, "count(/domain/memoryBacking/hugepages)") < 1)
		return false;
	if (n == 0) {
		if (default_hugepage_bytes() == GIB)
			return true;
		hook_log(LOG_INFO, "default huge pages are not 1 GiB here: left alone");
		return false;
	}
	for (int i = 1; i <= n; i++) {
		char *size, *unit;
		uint64_t bytes = 0;
		int r;

		snprintf(expr, sizeof(expr), "string(%s[%d]/@size)", pages, i);
		size = xpath_string(ctx, expr);
		snprintf(expr, sizeof(expr), "string(%s[%d]/@unit)", pages, i);
		unit = xpath_string(ctx, expr);
		r = size && unit ? scaled_bytes(size, unit, 1024, &bytes) : -ENOMEM;
		free(size);
		free(unit);
		if (r < 0 || bytes != GIB) {
			hook_log(LOG_INFO, "huge pages other than 1 GiB: left alone");
			return false;
		}
	}
	return true;
}

/*
 * The reservation's name: libvirt-DOMAIN when the domain's name is one
 * gigapoold takes (letters, digits and ._:@-, short enough for the
 * default max_owner_length), otherwise libvirt-UUID, which always is.
 * Both are derived again from the same XML on release.
 */
static int owner_of(const char *name, const char *uuid, char *buf, size_t size)
{
	struct policy *defaults;
	char *error;
	size_t max;
	int r;

	r = policy_parse("{}", 2, "defaults", &defaults, &error);
	if (r < 0) {
		free(error);
		return r;
	}
	max = min_u64(defaults->limits.max_owner_length, size - 1);
	policy_free(defaults);
	snprintf(buf, size, OWNER_PREFIX "%s", name);
	if (strlen(name) < size - strlen(OWNER_PREFIX) && resv_owner_valid(buf, max))
		return 0;
	snprintf(buf, size, OWNER_PREFIX "%s", uuid);
	return uuid[0] && strlen(uuid) < size - strlen(OWNER_PREFIX) && resv_owner_valid(buf, max) ?
	       0 : -EINVAL;
}

/*
 * What the domain XML asks of gigapool.  Kind NONE: nothing, and why has
 * been logged unless the domain simply needs no 1 GiB page.  bytes 0: its
 * size is not one gigapool takes (logged); it can be released, not
 * reserved.
 */
static void read_domain(const char *xml, size_t len, struct domain *ret)
{
	char *memory = NULL, *unit = NULL, *nodeset = NULL, *uuid = NULL;
	xmlXPathContext *ctx = NULL;
	xmlDoc *doc;

	*ret = (struct domain){ .node = -1 };
	doc = xmlReadMemory(xml, (int)len, "domain.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		hook_log(LOG_ERR, "stdin is not XML: left alone");
		return;
	}
	ctx = xmlXPathNewContext(doc);
	if (ctx && xpath_number(ctx, "count(/domain)") != 1) {
		hook_log(LOG_ERR, "stdin is not a domain XML: left alone");
		goto out;
	}
	if (!ctx)
		goto oom;
	if (xpath_number(ctx, "count(/domain/launchSecurity)") > 0) {
		ret->reserve = true;
		ret->kind = RESV_CONFIDENTIAL;
	} else if (hugepages_1g(ctx)) {
		ret->reserve = true;
		ret->kind = RESV_ORDINARY;
	} else {
		goto out;
	}
	memory = xpath_string(ctx, "string(/domain/memory)");
	unit = xpath_string(ctx, "string(/domain/memory/@unit)");
	nodeset = xpath_string(ctx, "string(/domain/numatune/memory/@nodeset)");
	uuid = xpath_string(ctx, "normalize-space(/domain/uuid)");
	if (!memory || !unit || !nodeset || !uuid)
		goto oom;
	if (owner_of(domain_name, uuid, ret->owner, sizeof(ret->owner)) < 0) {
		hook_log(LOG_ERR, "neither the name nor the uuid '%s' makes a reservation name: "
			 "left alone", uuid);
		ret->reserve = false;
		goto out;
	}
	/* <memory> is what the guest's RAM is backed with; <currentMemory>
	 * only what a balloon leaves it, which a confidential VM has not. */
	if (scaled_bytes(memory, unit, 1024, &ret->bytes) < 0 || ret->bytes > RESV_MAX_BYTES) {
		hook_log(LOG_ERR, "memory '%s' unit '%s' is not a size gigapool takes", memory, unit);
		ret->bytes = 0;
	}
	if (nodeset[0] && nodeset_single(nodeset, &ret->node) == -EINVAL)
		hook_log(LOG_WARNING, "numatune nodeset '%s' not understood: no node asked for",
			 nodeset);
	goto out;
oom:
	hook_log(LOG_ERR, "out of memory reading the domain XML: left alone");
	ret->reserve = false;
out:
	free(memory);
	free(unit);
	free(nodeset);
	free(uuid);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* Run gigapoolctl, its output on the hook's stderr. */
static int run_ctl(char **argv)
{
	const char *t = getenv("GIGAPOOL_HOOK_TIMEOUT_SEC");
	struct sigaction sa = { .sa_handler = on_alarm };
	unsigned timeout = t ? (unsigned)atoi(t) : CTL_TIMEOUT_SEC;
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(STDERR_FILENO, STDOUT_FILENO);
		execv(argv[0], argv);
		fprintf(stderr, "gigapool-libvirt-hook: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	/* No SA_RESTART: the alarm interrupts waitpid(). */
	sigaction(SIGALRM, &sa, NULL);
	alarm(timeout);
	if (waitpid(pid, &status, 0) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return -ETIMEDOUT;
	}
	alarm(0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void call_ctl(char **argv, const char *what)
{
	char cmd[512] = "";
	int r;

	for (char **a = argv; *a; a++)
		snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), "%s%s", a == argv ? "" : " ", *a);
	r = run_ctl(argv);
	if (r == 0)
		hook_log(LOG_INFO, "%s", cmd);
	else if (r == -ETIMEDOUT)
		hook_log(LOG_ERR, "%s: no answer within the timeout, killed; %s", cmd, what);
	else if (r < 0)
		hook_log(LOG_ERR, "%s: %s; %s", cmd, strerror(-r), what);
	else
		hook_log(LOG_ERR, "%s: exit status %d; %s", cmd, r, what);
}

int main(int argc, char **argv)
{
	const char *ctl = getenv("GIGAPOOLCTL") ?: GIGAPOOLCTL_PATH;
	char size[32], node[16], *args[9];
	struct domain d;
	size_t n = 0;
	bool prepare, release;
	size_t len;
	char *xml;
	int r;

	openlog("gigapool-libvirt-hook", LOG_PID, LOG_DAEMON);
	if (argc < 4) {
		hook_log(LOG_ERR, "usage: HOOK DOMAIN OPERATION SUB-OPERATION [EXTRA], as libvirt "
			 "calls it from /etc/libvirt/hooks/qemu.d/");
		return 0;
	}
	domain_name = argv[1];
	prepare = strcmp(argv[2], "prepare") == 0 && strcmp(argv[3], "begin") == 0;
	release = strcmp(argv[2], "release") == 0 && strcmp(argv[3], "end") == 0;
	if (!prepare && !release)
		return 0;
	r = read_all(stdin, &xml, &len);
	if (r < 0) {
		hook_log(LOG_ERR, "cannot read the domain XML: %s: left alone", strerror(-r));
		return 0;
	}
	read_domain(xml, len, &d);
	free(xml);
	if (!d.reserve)
		return 0;
	if (release) {
		char *release_args[] = { (char *)ctl, "release", d.owner, NULL };

		call_ctl(release_args, "the reservation may be left behind");
		return 0;
	}
	if (d.bytes == 0)
		return 0;
	snprintf(size, sizeof(size), "%" PRIu64, d.bytes);
	snprintf(node, sizeof(node), "%d", d.node);
	args[n++] = (char *)ctl;
	args[n++] = "reserve";
	args[n++] = d.owner;
	args[n++] = size;
	if (d.node >= 0) {
		args[n++] = "--node";
		args[n++] = node;
	}
	args[n++] = "--kind";
	args[n++] = (char *)resv_kind_name(d.kind);
	args[n] = NULL;
	call_ctl(args, "the domain starts without a reservation");
	return 0;
}
