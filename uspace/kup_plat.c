/* SPDX-License-Identifier: BSD-2-Clause */
/* kup_plat.c - the out-of-line part of the userspace platform layer. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "kup_plat.h"

void kup_plat_log(const char *fmt, ...)
{
	static int quiet = -1;
	va_list ap;

	if (quiet < 0)
		quiet = getenv("KUP_QUIET") != NULL;
	if (quiet)
		return;
	va_start(ap, fmt);
	fputs("kup: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}
