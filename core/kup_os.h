/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_os.h - the host contract under core's kupdev_* calls (kupdev_chan.c).
 *
 * Core writes the kernel-side API once; each kern-side host (kup.ko for
 * Linux and FreeBSD, the user-mode provider) supplies the kup_os_*
 * functions below and keeps only its OS mechanisms behind them: locks,
 * the enter/leave count unload drains, memory of an attach, who is
 * calling.  libkup does not compile this part of core.
 */
#ifndef KUP_OS_H
#define KUP_OS_H

#include "kup_stream.h"
#include "kupdev.h"

/* The kupdev_* symbols a shared library exports (kernels export by list). */
#if !defined(__KERNEL__) && !defined(_KERNEL) && defined(__GNUC__)
#define KUP_API __attribute__((visibility("default")))
#else
#define KUP_API
#endif

/*
 * Core's part of a device.  The host's struct kupdev_softc starts with it
 * (its first member), so core reaches it from the API's opaque pointer.
 * size, cap and chan_cnt are fixed at create; spin_ns is set by
 * kupdev_set_spin and read by every channel call; dead and pending are
 * under the device lock (kup_os_dev_lock), dead is also read without it.
 */
struct kup_dev {
	uint32_t size, cap, chan_cnt;
	uint32_t dead;           /* shut down: every later call fails with EKU_SHUTDOWN */
	uint64_t spin_ns;        /* (int64_t) spin before sleeping, < 0 never sleep */
	struct kup_pend pending; /* attaches kupdev_wait_channel has not reported */
};
#define KUP_DEV(sc) ((struct kup_dev *)(void *)(sc))
/* At create, before anything can reach the device: pend_mem is KUP_PEND_BYTES(chan_cnt). */
void kup_dev_setup(struct kup_dev *d, uint32_t size, uint32_t chan_cnt, void *pend_mem,
                   int64_t spin_ns);
/* Whether a shutdown has begun (any thread). */
static inline int kup_dev_dead(const struct kup_dev *d)
{
	return kup_load_once(&d->dead) != 0;
}

/*
 * Core's part of one kern-side channel; the host's channel embeds it.
 * Under the channel's call lock: e, loans.  Under the device lock: sess
 * (sess.egen changes under both), gen, handed, holder, attaches.  Read at
 * any time: last_err, e.cnt (kup_counters_load).
 */
struct kup_chan {
	struct kup_end e;
	struct kup_loans loans;
	uint32_t last_err;       /* positive EKU_* of the channel's last call */
	struct kup_session sess; /* core's session rule */
	uint32_t gen;            /* attaches so far: the latest one's generation */
	uint32_t handed;         /* the gen kupdev_wait_channel last returned */
	const void *holder;      /* the thread holding it (kup_os_self; compared only) */
	uint64_t attaches;       /* for kupdev_stats */
};

/*
 * Enter a call on channel chan_id of sc: counted in (unload waits for the
 * count to drain), chan_id checked and clamped against speculation, the
 * channel's call lock taken (held across the call's sleep), and the end
 * moved to the channel's latest attach as core's session rule says.
 * 0 and *chp, or -EKU_*; a failure after chan_id was found valid is
 * recorded in the channel's last_err before the host lets go of it.
 */
int kup_os_chan_enter(struct kupdev_softc *sc, int chan_id, struct kup_chan **chp);
/*
 * kup_os_chan_enter in three steps, for the message calls' common case
 * (kupdev_chan.c), whose quick way has no wait and no call:
 * kup_os_chan_try takes chan_id's call lock, counted in, if nobody holds
 * it: the channel, or NULL with nothing done.  kup_os_chan_quick then
 * looks (and changes nothing): 1 when the call may go on as it is (device
 * live, channel attached, the session rule satisfied, nothing to catch up
 * on).  Else kup_os_chan_admit does all kup_os_chan_enter does after it
 * took the lock: 0, or -EKU_* with last_err recorded and the channel left.
 */
struct kup_chan *kup_os_chan_try(struct kupdev_softc *sc, int chan_id);
int kup_os_chan_quick(struct kupdev_softc *sc, struct kup_chan *ch);
int kup_os_chan_admit(struct kupdev_softc *sc, struct kup_chan *ch);
/*
 * Leave a call that returned r (last_err is set already): tell the
 * session rule when r ends the attach, drop the call lock, count out.
 * The last touch of sc: unload may free it after.
 */
void kup_os_chan_leave(struct kup_chan *ch, int r);
/* Drop the reference a retired loan held on an attach's memory (call lock held). */
void kup_os_mem_put(struct kup_chan *ch, void *mem);
/* The calling thread, compared only (never dereferenced). */
const void *kup_os_self(void);

/*
 * Device-wide calls.  kup_os_enter counts the caller in (unload waits for
 * the count to drain) unless the device is shut down: 0, -EKU_INVAL (no
 * device), -EKU_SHUTDOWN; kup_os_leave is the caller's last touch of sc.
 */
int kup_os_enter(struct kupdev_softc *sc);
void kup_os_leave(struct kupdev_softc *sc);
/* The device lock: a sleepable mutex, never held across a wait. */
void kup_os_dev_lock(struct kupdev_softc *sc);
void kup_os_dev_unlock(struct kupdev_softc *sc);
/* Channel id (< chan_cnt, clamped by core) of sc. */
struct kup_chan *kup_os_chan(struct kupdev_softc *sc, uint32_t id);
/* Device lock held: 1 when a process holds channel id now. */
int kup_os_attached(struct kupdev_softc *sc, uint32_t id);
/*
 * Sleep until the device is shut down or an attach is pending, at most
 * timeout_ns (< 0 forever), re-checking the two with the wake-up atomically
 * (kup_cond_wait's sleep): 0, -EKU_TIMEDOUT or -EKU_INTR.
 */
int kup_os_attach_sleep(struct kupdev_softc *sc, int64_t timeout_ns);
/* kupdev_notify's wake-up of device handles; must not sleep (any context). */
void kup_os_notify(struct kupdev_softc *sc);
/*
 * The device's life, which is OS mechanism through and through (a node or
 * an endpoint, wait queues to empty, the order an OS lets go of them).
 * kup_os_dev_create: name, size and chan_cnt are checked, attr complete
 * (mode 0600 unless set): sc, or NULL and *err (a positive EKU_* code).
 * kup_os_dev_shutdown and kup_os_dev_unload: kupdev.h's kupdev_shutdown
 * and kupdev_unload for a non-NULL sc (a second unload: -EKU_SHUTDOWN).
 */
struct kupdev_softc *kup_os_dev_create(const char *name, uint32_t size, uint32_t chan_cnt,
                                       const struct kupdev_attr *attr, int *err);
int kup_os_dev_shutdown(struct kupdev_softc *sc);
int kup_os_dev_unload(struct kupdev_softc *sc);

#endif /* KUP_OS_H */
