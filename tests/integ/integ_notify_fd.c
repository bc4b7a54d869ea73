/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * integ_notify_fd.c - a device handle's fd: readable while a notify is
 * pending for kernproxy_wait_notify, and when the device goes away.
 */
#include <poll.h>

#include "kit.h"

#define NAME(base) kit_name(base, namebuf, sizeof(namebuf))

KT_TEST(device_fd_reports_notify)
{
	char namebuf[64];
	const char *n = NAME("notify_fd");
	struct kit_ctl *c = ctl_open();
	void *h;
	int fd;

	ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
	h = kit_open(n);
	fd = kernproxy_fd(h);
	KT_ASSERT(fd >= 0);
	KT_EQ(kit_revents(fd, 0), 0); /* nothing yet */

	KT_EQ(ctl_notify(c, n), 0);
	KT_ASSERT(kit_revents(fd, KIT_SOON_MS) & POLLIN);
	KT_EQ(kernproxy_wait_notify(h, 0), 0);
	KT_EQ(kit_revents(fd, 0), 0); /* taken */

	/* Two notifies before the process looks: one wake, one return. */
	KT_EQ(ctl_notify(c, n), 0);
	KT_EQ(ctl_notify(c, n), 0);
	KT_ASSERT(kit_revents(fd, KIT_SOON_MS) & POLLIN);
	KT_EQ(kernproxy_wait_notify(h, 0), 0);
	KIT_FAILS_WITH(kernproxy_wait_notify(h, 0) == -1, h, EKU_TIMEDOUT);
	KT_EQ(kit_revents(fd, 0), 0);

	/* The device goes away: the fd says so, wait_notify tells what. */
	KT_EQ(ctl_unload(c, n), 0);
	KT_ASSERT(kit_revents(fd, KIT_SOON_MS) & (POLLIN | POLLHUP | POLLERR));
	KIT_FAILS_WITH(kernproxy_wait_notify(h, 0) == -1, h, EKU_SHUTDOWN);
	kernproxy_close(h);
	ctl_close(c);
}
