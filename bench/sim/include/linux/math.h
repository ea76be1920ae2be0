/* SPDX-License-Identifier: GPL-2.0 */
/* User-space stand-in for <linux/math.h>. */
#ifndef _SIM_LINUX_MATH_H
#define _SIM_LINUX_MATH_H

#define DIV_ROUND_UP(n, d)	(((n) + (d) - 1) / (d))

#endif
