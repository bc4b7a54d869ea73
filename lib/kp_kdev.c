/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kp_kdev.c - libkup's backend for kernel devices (/dev/NAME made by
 * kup.ko): open the node, attach a channel with KUP_IOC_ATTACH on a file
 * of its own, map it, and sleep/wake with KUP_IOC_WAIT / KUP_IOC_WAKE.
 * The channel's file is the readiness fd: kup.ko's poll reports POLLIN on
 * our turn and POLLHUP when the channel or the device goes away.
 *
 * kup.ko's ioctl errors (kernel/linux/kup_cdev.c) map back to EKU_* here.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kp_backend.h"

/* An ioctl's errno back to its -EKU_* code: kup_abi.h's table, as the kernels send them. */
static int kdev_err(int err)
{
	switch (err) {
#define KUP_X(code, e)                                                                             \
	case e:                                                                                    \
		return -code;
		KUP_IOC_ERRORS(KUP_X)
#undef KUP_X
	case EISCONN:
		return -EKU_INVAL;
	default:
		return kp_errno_to_eku(err);
	}
}

/*
 * An error of a call on a file that is open already.  Once kupdev_unload
 * destroyed the device, FreeBSD's devfs answers ENXIO itself, without
 * calling kup.ko (destroy_dev), where Linux kup.ko says ESHUTDOWN: both
 * are the unload, EKU_SHUTDOWN, not "no such device".
 */
static int kdev_herr(int err)
{
	return err == ENXIO ? -EKU_SHUTDOWN : kdev_err(err);
}

static int kdev_open_fd(const char *path, int *fd)
{
	*fd = open(path, O_RDWR | O_CLOEXEC);
	return *fd < 0 ? kdev_err(errno) : 0;
}

static int kdev_info(struct kp_dev *dev, struct kup_ioc_info *out)
{
	return ioctl(dev->fd, KUP_IOC_INFO, out) < 0 ? kdev_herr(errno) : 0;
}

static int kdev_open(struct kp_dev *dev)
{
	struct kup_ioc_info in;
	int r = kdev_open_fd(dev->path, &dev->fd);

	if (r)
		return r;
	r = kdev_info(dev, &in); /* a char device that is not KUP: ENOTTY */
	if (r) {
		close(dev->fd);
		dev->fd = -1;
	}
	return r;
}

static int kdev_attach(struct kp_dev *dev, struct kp_chan *chan)
{
	struct kup_ioc_attach a = {.abi = KUP_ABI_VERSION,
	                           .chan = chan->chan,
	                           .size = chan->size,
	                           .flags = chan->attach_flags,
	                           .timeout_ns =
	                               chan->attach_timeout < 0 ? -1 : chan->attach_timeout};
	size_t blk = KUP_BLOCK_LEN(chan->size), len = KUP_MAP_LEN(chan->size);
	uint8_t *map;
	int fd, r, ctl;

	r = kdev_open_fd(dev->path, &fd);
	if (r) /* it was there at kernproxy_open: gone now (FreeBSD: ENXIO once shut down) */
		return r == -EKU_NOENT ? -EKU_SHUTDOWN : r;
	if (ioctl(fd, KUP_IOC_ATTACH, &a) < 0) {
		r = kdev_herr(errno);
		close(fd);
		return r;
	}
	if (a.map_len != len || a.chan >= dev->info.chan_cnt) { /* another layout: do not map it */
		close(fd);
		return -EKU_ABI;
	}
	chan->chan = a.chan; /* KUP_ATTACH_ANY: the channel the module gave us */
	/*
	 * One contiguous region: reserve it, then the kern control page RW
	 * (read-only from a module that does not allow it: only slower,
	 * kup_abi.h), the kern data RO, the user block RW.
	 */
	map = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		r = kdev_err(errno);
		close(fd);
		return r;
	}
	ctl = PROT_READ | ((a.flags & KUP_ATTACH_CTL_RW) ? PROT_WRITE : 0);
	if (mmap(map, KUP_PAGE, ctl, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED ||
	    mmap(map + KUP_PAGE, blk - KUP_PAGE, PROT_READ, MAP_SHARED | MAP_FIXED, fd, KUP_PAGE) ==
	        MAP_FAILED ||
	    mmap(map + blk, blk, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, (off_t)blk) ==
	        MAP_FAILED) {
		r = kdev_err(errno);
		munmap(map, len);
		close(fd);
		return r;
	}
#ifdef __FreeBSD__
	/* A forked child does not share the channel (Linux kup.ko refuses to copy it). */
	if (minherit(map, len, INHERIT_NONE) < 0) {
		r = kdev_err(errno);
		munmap(map, len);
		close(fd);
		return r;
	}
#endif
	chan->fd = fd;
	chan->map = map;
	chan->map_len = len;
	return 0;
}

static void kdev_detach(struct kp_chan *chan)
{
	if (chan->map)
		munmap(chan->map, chan->map_len);
	if (chan->fd >= 0)
		close(chan->fd); /* with the mapping gone, kup.ko frees the channel */
	chan->map = NULL;
	chan->fd = -1;
}

static int kdev_sleep(struct kup_end *e, const uint32_t *peer_tw, uint32_t seen, int64_t timeout_ns)
{
	struct kp_chan *c = e->host;
	struct kup_ioc_wait w = {.seen = seen, .timeout_ns = timeout_ns < 0 ? -1 : timeout_ns};

	(void)peer_tw; /* kup.ko compares the kern tw itself, under its wait queue */
	if (ioctl(c->fd, KUP_IOC_WAIT, &w) == 0)
		return 0;
	return kdev_herr(errno);
}

static void kdev_wake(struct kup_end *e, uint32_t bits)
{
	struct kp_chan *c = e->host;

	(void)bits;
	(void)ioctl(c->fd, KUP_IOC_WAKE); /* the kern side's own wait ends on its checks */
}

static int kdev_wait_notify(struct kp_dev *dev, uint32_t *seen, int64_t timeout_ns)
{
	struct kup_ioc_wait w = {.seen = *seen, .timeout_ns = timeout_ns < 0 ? -1 : timeout_ns};
	struct kup_ioc_info in;
	int r;

	if (ioctl(dev->fd, KUP_IOC_NOTIFY, &w) < 0)
		return kdev_herr(errno);
	r = kdev_info(dev, &in);
	if (r)
		return r;
	if (in.state == KUP_ST_SHUTDOWN)
		return -EKU_SHUTDOWN;
	*seen = in.notify;
	return 0;
}

/* The device's fd hangs up once it shuts down (kup.ko: POLLHUP; provider: EOF). */
static int kdev_gone(struct kp_dev *dev)
{
	return kp_fd_hung_up(dev->fd);
}

static void kdev_close(struct kp_dev *dev)
{
	if (dev->fd >= 0)
		close(dev->fd);
	dev->fd = -1;
}

const struct kp_backend_ops kp_kdev_ops = {
    .name = "kernel",
    .open = kdev_open,
    .info = kdev_info,
    .attach = kdev_attach,
    .detach = kdev_detach,
    .host = {.sleep = kdev_sleep, .wake = kdev_wake},
    .drain = NULL, /* kup.ko's poll is level-triggered on the turn: nothing stale */
    .wait_notify = kdev_wait_notify,
    .gone = kdev_gone,
    .close = kdev_close,
};
