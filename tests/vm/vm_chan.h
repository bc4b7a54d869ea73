/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * vm_chan.h - the user side's sleep and wake through kup.ko's ioctls, for
 * the guest programs that drive a channel through the raw ABI with core's
 * kup_end (vmtest.c, soak.c).  Included once per program.
 */
#ifndef VM_CHAN_H
#define VM_CHAN_H

#include <errno.h>
#include <sys/ioctl.h>

#include "kup_core.h"

/* KUP_IOC_WAIT while the kern tw is seen, as core's sleep op: 0 or -EKU_*. */
static inline int vm_ioc_sleep(int fd, uint32_t seen, int64_t timeout_ns)
{
	struct kup_ioc_wait w = {.seen = seen, .timeout_ns = timeout_ns};

	if (ioctl(fd, KUP_IOC_WAIT, &w) == 0)
		return 0;
	switch (errno) {
	case ETIMEDOUT:
		return -EKU_TIMEDOUT;
	case EINTR:
		return -EKU_INTR;
	case ESHUTDOWN:
#ifdef __FreeBSD__
	case ENXIO: /* devfs, for a device destroy_dev removed */
#endif
		return -EKU_SHUTDOWN;
	case ENOTCONN:
		return -EKU_CLOSED;
	default:
		return -EKU_SYS;
	}
}

/* KUP_IOC_WAKE: the module announced a sleep. */
static inline void vm_ioc_wake(int fd)
{
	(void)ioctl(fd, KUP_IOC_WAKE);
}

#endif /* VM_CHAN_H */
