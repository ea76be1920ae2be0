/* SPDX-License-Identifier: GPL-2.0 */
/*
 * User-space stand-in for <linux/spinlock.h>.  The simulator is single
 * threaded and the placement code takes no locks, so the lock is an empty
 * member.  In the kernel unmapped_pool.h gets struct mutex and
 * wait_queue_head_t through these headers too; it only declares objects of
 * those types, so incomplete types suffice here.
 */
#ifndef _SIM_LINUX_SPINLOCK_H
#define _SIM_LINUX_SPINLOCK_H

typedef struct {
	int unused;
} spinlock_t;

struct mutex;
typedef struct wait_queue_head wait_queue_head_t;

#endif
