/* SPDX-License-Identifier: GPL-2.0 */
#ifndef GIGAPOOL_POLICY_H
#define GIGAPOOL_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What the policy asks of one NUMA node; counts are 1 GiB pages/chunks. */
struct node_policy {
	bool excluded;
	uint64_t keep_free_hugetlb;	/* free 1 GiB hugetlb pages kept for ordinary VMs */
	uint64_t headroom_low;		/* lend when free pool chunks fall below this */
	uint64_t headroom_high;		/* ... up to this; reclaim above it */
	uint64_t max_pool_chunks;	/* cap on chunks lent to the pool */
	uint64_t max_moves;		/* chunks moved per cycle on this node */
	uint64_t cooldown_sec;		/* no chosen reclaim this soon after a lend */
};

struct node_override {
	unsigned node;
	struct node_policy p;		/* defaults merged with the override */
};

struct policy_limits {
	uint64_t max_message_bytes;
	uint64_t max_connections;
	uint64_t max_connections_per_uid;
	uint64_t idle_timeout_sec;
	uint64_t max_reservations;
	uint64_t max_owner_length;
};

/*
 * The kernel's guest_memfd switch (/sys/kernel/mm/unmapped_pool/guest_memfd):
 * which guest_memfds draw from the pool.  UNSET leaves the kernel's as it is.
 */
enum gmem_mode { GMEM_MODE_UNSET, GMEM_MODE_FLAG, GMEM_MODE_PREFER, GMEM_MODE_REQUIRE };

struct policy {
	struct node_policy defaults;
	struct node_override *overrides;
	size_t n_overrides;
	uint64_t interval_sec;		/* safety timer between cycles */
	uint64_t max_moves_per_cycle;	/* all nodes together */
	uint64_t retry_attempts;
	uint64_t retry_backoff_ms;
	uint64_t retry_backoff_max_ms;
	bool has_control_group;
	gid_t control_gid;
	char *control_group;
	char *textfile;			/* node_exporter textfile, or NULL */
	struct policy_limits limits;
	unsigned guest_memfd;		/* enum gmem_mode */
};

enum policy_type { POLICY_U64, POLICY_BOOL, POLICY_STRING, POLICY_OBJECT, POLICY_ENUM };

/* One key of the policy, as the parser accepts it. */
struct policy_field {
	const char *key;			/* NULL ends a table */
	enum policy_type type;
	size_t offset;
	uint64_t min, max;			/* U64: the value; STRING: its length in bytes */
	uint64_t def;				/* U64, BOOL: the built-in default */
	/*
	 * OBJECT: the keys of the sub-object.  ENUM: the words it takes, as
	 * keys; it holds an unsigned, 0 for null (the default) and i + 1
	 * for the word sub[i].key.
	 */
	const struct policy_field *sub;
};

/*
 * The parser's table of top-level keys.  It lacks only "nodes", whose
 * entries, keyed by node id, take the keys of "defaults".
 */
const struct policy_field *policy_fields(void);
/* An ENUM's words for people: "a, b or c". */
void policy_choices(const struct policy_field *f, char *buf, size_t size);
/* The word of a guest_memfd mode, as the kernel's file and the policy spell it. */
const char *gmem_mode_name(enum gmem_mode m);

/*
 * Resolve the policy of one node.  Inline and free of I/O so that the
 * planner does not depend on the parser.
 */
static inline const struct node_policy *policy_node(const struct policy *p, unsigned node)
{
	for (size_t i = 0; i < p->n_overrides; i++)
		if (p->overrides[i].node == node)
			return &p->overrides[i].p;
	return &p->defaults;
}

/*
 * Parse and validate a policy.  On failure *ret_error holds a malloc'ed
 * message naming the JSON path or the file:line:column of a syntax error.
 * text[len] must be the NUL that terminates text.
 */
int policy_parse(const char *text, size_t len, const char *filename,
		 struct policy **ret, char **ret_error);
int policy_load(const char *path, struct policy **ret, char **ret_error);
/* For --check-policy and check-policy: report on stdout or stderr. */
int policy_check_file(const char *path);
void policy_free(struct policy *p);

#endif
