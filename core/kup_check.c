/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_check.c - the rules for a device's name and geometry, once for every
 * host, so that kupdev_create refuses the same things everywhere.
 */
#include "kup_core.h"

int kup_name_ok(const char *name)
{
	size_t i;
	char c;

	if (!name || !name[0] || name[0] == '.')
		return 0;
	for (i = 0; name[i]; i++) {
		if (i + 1 >= KUP_NAME_MAX)
			return 0;
		c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

int kup_create_check(const char *name, size_t size, size_t chan_cnt)
{
	if (!kup_name_ok(name))
		return -EKU_INVAL;
	if (size == 0 || size > KUP_MAX_SIZE)
		return -EKU_BADSIZE;
	if (chan_cnt == 0 || chan_cnt > KUP_MAX_CHANNELS)
		return -EKU_RANGE;
	return 0;
}
