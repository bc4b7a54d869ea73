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
#include <sys/mman.h>

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

/*
 * Map an attached channel file as libkup does: one reserved range, then
 * the kern control page read-write (kup_abi.h), the kern data read-only,
 * the user block read-write.  The mapping, or NULL with errno set.
 */
static inline uint8_t *vm_map_chan(int fd, uint32_t size)
{
	size_t blk = KUP_BLOCK_LEN(size);
	uint8_t *p = mmap(NULL, 2 * blk, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int e;

	if (p == MAP_FAILED)
		return NULL;
	if (mmap(p, KUP_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) != MAP_FAILED &&
	    mmap(p + KUP_PAGE, blk - KUP_PAGE, PROT_READ, MAP_SHARED | MAP_FIXED, fd, KUP_PAGE) !=
	        MAP_FAILED &&
	    mmap(p + blk, blk, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, (off_t)blk) !=
	        MAP_FAILED)
		return p;
	e = errno;
	munmap(p, 2 * blk);
	errno = e;
	return NULL;
}

#endif /* VM_CHAN_H */
