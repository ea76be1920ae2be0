/* SPDX-License-Identifier: GPL-2.0 */
#ifndef GIGAPOOL_POLICY_H
#define GIGAPOOL_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * A share of a node ("12.5%" in the policy) is kept in thousandths of a
 * percent: POLICY_SHARE_WHOLE is the whole node.
 */
#define POLICY_SHARE_WHOLE 100000ULL
/* The shares the parser takes: 0% to 100%, at most three decimals. */
#define POLICY_SHARE_PATTERN "^(100(\\.0{1,3})?|[0-9]{1,2}(\\.[0-9]{1,3})?)%$"

/* The keys of a node that may be a share of the node's 1 GiB pages. */
enum {
	POLICY_SHARE_KEEP_FREE_HUGETLB = 1U << 0,
	POLICY_SHARE_HEADROOM_LOW = 1U << 1,
	POLICY_SHARE_HEADROOM_HIGH = 1U << 2,
	POLICY_SHARE_MAX_POOL_CHUNKS = 1U << 3,
};

/*
 * What the policy asks of one NUMA node; counts are 1 GiB pages/chunks.
 * A key whose bit is set in shares holds a share of the node instead
 * (thousandths of a percent), which node_policy_resolve() turns into a
 * count for the node at hand.
 */
struct node_policy {
	bool excluded;
	uint64_t keep_free_hugetlb;	/* free 1 GiB hugetlb pages kept for ordinary VMs */
	uint64_t headroom_low;		/* lend when free pool chunks fall below this */
	uint64_t headroom_high;		/* ... up to this; reclaim above it */
	uint64_t max_pool_chunks;	/* cap on chunks lent to the pool */
	uint64_t max_moves;		/* chunks moved per cycle on this node */
	uint64_t cooldown_sec;		/* no chosen reclaim this soon after a lend */
	unsigned shares;		/* POLICY_SHARE_* of the keys given as shares */
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
	uint64_t max_compact_pages_per_cycle;	/* pages compaction moves, all nodes; 0: none */
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

/* A key of a node that takes a share of the node ("P%") besides a count. */
struct policy_share {
	const char *key;
	unsigned bit;				/* POLICY_SHARE_* */
	bool def_share;				/* the field's def is a share */
};

/* The share a key of node_fields takes, or NULL when it takes counts only. */
const struct policy_share *policy_share_of(const char *key);

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
 * pol with its shares turned into counts for a node of node_pages 1 GiB
 * pages (hugetlb's and those lent to the pool), each rounded up so that a
 * share above 0 is at least one page on a node that has any.  A share
 * and a count cannot be ordered before the node is known, so
 * headroom_high is then clamped to max_pool_chunks, and headroom_low to
 * headroom_high.  Inline and free of I/O for the planner, as above.
 */
static inline void node_policy_resolve(const struct node_policy *pol, uint64_t node_pages,
				       struct node_policy *ret)
{
	uint64_t *const keys[] = { &ret->keep_free_hugetlb, &ret->headroom_low,
				   &ret->headroom_high, &ret->max_pool_chunks };

	*ret = *pol;
	for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (pol->shares & (1U << i))
			*keys[i] = (node_pages * *keys[i] + POLICY_SHARE_WHOLE - 1) /
				   POLICY_SHARE_WHOLE;
	ret->shares = 0;
	if (ret->headroom_high > ret->max_pool_chunks)
		ret->headroom_high = ret->max_pool_chunks;
	if (ret->headroom_low > ret->headroom_high)
		ret->headroom_low = ret->headroom_high;
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
