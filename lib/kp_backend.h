/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kp_backend.h - libkup's internal objects and the interface of its two
 * backends: the kernel device /dev/NAME (kp_kdev.c) and the user-mode
 * provider's socket (kp_prov.c).
 *
 * libkup (kp_api.c) owns the handles, the registry of live handles, error
 * reporting and every protocol decision (it calls kup_end_* in core/).  A
 * backend only moves bytes between this process and the side that created
 * the device: it opens the device, asks for its geometry, maps a channel,
 * sleeps, wakes, and tells libkup when the other side went away.
 *
 * Conventions for every op:
 *  - Return 0 on success or a negated EKU_* code (-EKU_NOENT ...), never a
 *    raw errno.  Map errno as: ENOENT/ENODEV/ENXIO -> EKU_NOENT, EACCES/EPERM
 *    -> EKU_PERM, ENOMEM -> EKU_NOMEM, EINTR -> EKU_INTR, ETIMEDOUT ->
 *    EKU_TIMEDOUT, anything unexpected -> EKU_SYS (errno left as is, so the
 *    caller can still print it).  kp_errno_to_eku() does this mapping.
 *  - Set fds with O_CLOEXEC / SOCK_CLOEXEC / MFD_CLOEXEC: a fork+exec must
 *    not inherit a channel.
 *  - No op allocates the kp_dev / kp_chan structs; libkup does, zeroed,
 *    with every fd field set to -1.  An op may use dev->priv / chan->priv.
 *  - Ops are called with no libkup lock held, except where noted.
 */
#ifndef KP_BACKEND_H
#define KP_BACKEND_H

#include <pthread.h>
#include <stdint.h>
#include <stddef.h>
#include <time.h>

#include "kup.h"
#include "kup_core.h"

#define KP_DEV_MAGIC  0x4b504456u /* "KPDV" */
#define KP_CHAN_MAGIC 0x4b50434eu /* "KPCN" */
#define KP_DEAD_MAGIC 0xdeadbeefu /* stored into a handle as it is freed */

#define KP_PATH_MAX 256

struct kp_backend_ops;

/* A device handle (kernproxy_open). */
struct kp_dev {
	uint32_t magic; /* KP_DEV_MAGIC while live */
	int err;        /* last error, positive EKU_* (kernproxy_error) */
	const struct kp_backend_ops *ops;
	char path[KP_PATH_MAX];      /* device node or provider socket */
	int64_t timeout_ns;          /* attach waits (kernproxy_set_timeout on the device) */
	int fd;                      /* backend: the device-handle fd, or -1 */
	void *priv;                  /* backend: private state */
	struct kup_ioc_info info;    /* from ops->info at open */
	uint32_t notify_seen;        /* last notify generation this handle saw */
	pthread_mutex_t lock;        /* chans, refs */
	pthread_mutex_t notify_lock; /* serialises wait_notify (and notify_seen) */
	struct kp_chan *chans;       /* channels attached through this handle */
	int refs;                    /* the handle + one per channel; freed at 0 */
};

/* A channel handle (kernproxy_channel). */
struct kp_chan {
	uint32_t magic; /* KP_CHAN_MAGIC while live */
	int err;        /* last error, positive EKU_* */
	struct kp_dev *dev;
	const struct kp_backend_ops *ops;
	uint32_t chan;          /* channel id: asked for, then (attach) the one attached */
	uint32_t size;          /* pages per direction */
	uint32_t attach_flags;  /* for attach: KUP_ATTACH_* (kup_abi.h) */
	int64_t attach_timeout; /* for attach with KUP_ATTACH_WAIT: ns, < 0 forever */

	/* Set by ops->attach, undone by ops->detach. */
	int fd;    /* the channel's fd (also the readiness fd), or -1 */
	void *map; /* KUP_MAP_LEN(size) bytes: kern block RO, then user block RW */
	size_t map_len;
	void *priv;

	struct kup_end e;     /* libkup's side of the protocol, e.host == this chan */
	int64_t timeout_ns;   /* KP_FOREVER or ns (kernproxy_set_timeout) */
	int32_t armed;        /* kernproxy_arm announced KUP_WAIT_FD */
	uint8_t *bounce;      /* kernproxy_stream_peek: a record that wraps the ring, or NULL */
	struct kp_chan *next; /* on dev->chans */
};

/*
 * What a backend implements.  "dev" and "chan" are always live objects.
 *
 * open(dev)
 *	dev->path names the device (a device node for kdev, a socket for the
 *	provider).  Open it as a device handle: set dev->fd (and dev->priv).
 *	Missing -> -EKU_NOENT, not allowed -> -EKU_PERM, not a KUP device ->
 *	-EKU_NOENT.  On failure leave nothing open.
 *
 * info(dev, out)
 *	Fill *out (struct kup_ioc_info) with the device's current abi, size,
 *	chan_cnt, notify generation and state (KUP_ST_OPEN / KUP_ST_SHUTDOWN).
 *	Device gone -> -EKU_SHUTDOWN.  libkup calls it once right after open
 *	(and rejects abi != KUP_ABI_VERSION with EKU_ABI) and again when it
 *	wants fresh values.
 *
 * attach(dev, chan)
 *	chan->chan and chan->size are set (libkup checked them against
 *	dev->info; the backend's peer checks again, since the device may have
 *	changed, and reports -EKU_RANGE for a channel id >= chan_cnt,
 *	-EKU_BADSIZE for a size that does not match,
 *	-EKU_BUSY when another handle holds the channel, -EKU_ABI,
 *	-EKU_SHUTDOWN when the device is unloading).  chan->attach_flags
 *	(KUP_ATTACH_ANY, KUP_ATTACH_WAIT) and chan->attach_timeout go to the
 *	peer as kup_abi.h describes them: with ANY the peer may attach another
 *	channel than chan->chan (store the one it attached in chan->chan);
 *	with WAIT, when every channel is taken, wait up to attach_timeout
 *	(-EKU_TIMEDOUT, -EKU_INTR, -EKU_SHUTDOWN).  On success set chan->fd
 *	to a new fd that represents this one channel, and chan->map /
 *	chan->map_len to ONE contiguous mapping of KUP_MAP_LEN(size) bytes:
 *	the kern block (KUP_BLOCK_LEN(size)) at offset 0 mapped PROT_READ, and
 *	the user block right after it mapped PROT_READ|PROT_WRITE, both
 *	MAP_SHARED.  libkup then runs kup_chan_check() on the kern block and
 *	kup_end_init(KUP_SIDE_USER); if the check fails it calls detach.  On
 *	failure leave nothing mapped or open.
 *
 * detach(chan)
 *	Undo attach: munmap chan->map, close chan->fd (which tells the other
 *	side the process let the channel go), free chan->priv; set chan->fd to
 *	-1 and chan->map to NULL.  Never fails.  libkup has already called
 *	kup_end_close(KUP_ST_CLOSING) when the channel was still usable.
 *
 * host
 *	The kup_host_ops core calls on chan->e (e->host is the kp_chan):
 *	sleep(e, peer_tw, seen, timeout_ns): sleep while *peer_tw == seen,
 *	  atomically w.r.t. the other side's wake (FUTEX_WAIT on the word, or
 *	  KUP_IOC_WAIT{seen, timeout_ns} on chan->fd), at most timeout_ns (< 0
 *	  forever).  Return 0 when woken or when the value already differs,
 *	  -EKU_TIMEDOUT on timeout, -EKU_INTR on a signal, -EKU_CLOSED /
 *	  -EKU_SHUTDOWN when the backend learns the other side is gone (the
 *	  kernel-side ioctl may report this; the provider backend notices a
 *	  hung-up socket).  Never sleep past a dead peer forever.
 *	wake(e, bits): the other side announced a wait; wake it (FUTEX_WAKE on
 *	  e->mine->tw, or KUP_IOC_WAKE on chan->fd).  Errors are ignored:
 *	  the other side's own wait ends on its side's checks.
 *
 * drain(chan)  [may be NULL]
 *	Called by kernproxy_arm() BEFORE it announces KUP_WAIT_FD with
 *	kup_end_arm(): consume stale readiness on chan->fd (wake bytes) so
 *	that the next poll() sleeps until a new wake.  Must not block and must
 *	not consume a hang-up.  0 or -EKU_CLOSED when the peer is gone.
 *	Readiness contract of chan->fd (kernproxy_fd returns it): POLLIN once
 *	the other side passes the turn after kup_end_arm() returned 0; POLLHUP
 *	(or POLLERR) when the channel is closed by the other side or the
 *	device unloads.  Spurious POLLIN is allowed (libkup re-polls the turn).
 *
 * wait_notify(dev, seen, timeout_ns)
 *	Wait until the device's notify generation differs from *seen (or
 *	return at once when it does already), then store the new generation
 *	in *seen.  timeout_ns < 0: forever.  0, -EKU_TIMEDOUT, -EKU_INTR,
 *	-EKU_SHUTDOWN (device unloading or gone).  Called with dev->lock NOT
 *	held; libkup serialises wait_notify calls per device itself.
 *
 * gone(dev)  [may be NULL]
 *	1 when the device has shut down or its side went away (the device
 *	handle's fd hung up), else 0.  Must not block.  libkup asks when a
 *	channel found its peer gone (EKU_CLOSED), to tell the device handle.
 *
 * close(dev)
 *	Close dev->fd and free dev->priv.  Channels are detached before.
 */
struct kp_backend_ops {
	const char *name; /* "kernel" or "provider" */
	int (*open)(struct kp_dev *dev);
	int (*info)(struct kp_dev *dev, struct kup_ioc_info *out);
	int (*attach)(struct kp_dev *dev, struct kp_chan *chan);
	void (*detach)(struct kp_chan *chan);
	struct kup_host_ops host;
	int (*drain)(struct kp_chan *chan);
	int (*wait_notify)(struct kp_dev *dev, uint32_t *seen, int64_t timeout_ns);
	int (*gone)(struct kp_dev *dev);
	void (*close)(struct kp_dev *dev);
};

#ifdef KP_HAVE_KDEV
extern const struct kp_backend_ops kp_kdev_ops; /* kp_kdev.c */
#endif
#ifndef KP_NO_PROVIDER
extern const struct kp_backend_ops kp_prov_ops; /* kp_prov.c; Linux only (futexes) */
#endif

/* errno -> negated EKU_* as described above (kp_api.c). */
int kp_errno_to_eku(int err);
/* The loop's look at a stream channel: 1 records queued, 0 none, -1 it failed
 * (the error recorded on the channel and in kernproxy_errno) (kp_api.c). */
int kp_stream_ready(struct kp_chan *c);
/* 1 when fd reports a hang-up (POLLHUP/POLLERR) right now (kp_api.c). */
int kp_fd_hung_up(int fd);

/* ns -> struct timespec (relative), for futex and ppoll timeouts. */
static inline void kp_ns_to_ts(int64_t ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ns / 1000000000);
	ts->tv_nsec = (long)(ns % 1000000000);
}

#endif /* KP_BACKEND_H */
