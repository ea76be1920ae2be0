/* SPDX-License-Identifier: GPL-2.0 */
/* User-space stand-in for <linux/string.h>: the C library has memset(). */
#ifndef _SIM_LINUX_STRING_H
#define _SIM_LINUX_STRING_H

#include <string.h>

#endif
