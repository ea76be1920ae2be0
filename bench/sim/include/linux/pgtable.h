/* SPDX-License-Identifier: GPL-2.0 */
/*
 * User-space stand-in for <linux/pgtable.h>: the x86-64 page-table shifts
 * the pool's chunk and block sizes are derived from (4 KiB pages, 2 MiB
 * PMDs, 1 GiB PUDs).
 */
#ifndef _SIM_LINUX_PGTABLE_H
#define _SIM_LINUX_PGTABLE_H

#define PAGE_SHIFT	12
#define PMD_SHIFT	21
#define PUD_SHIFT	30

#endif
