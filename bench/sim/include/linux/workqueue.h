/* SPDX-License-Identifier: GPL-2.0 */
/*
 * User-space stand-in for <linux/workqueue.h>.  The pool struct embeds the
 * work item of its wipe worker, which the placement code never touches.
 */
#ifndef _SIM_LINUX_WORKQUEUE_H
#define _SIM_LINUX_WORKQUEUE_H

struct work_struct {
	int unused;
};

#endif
