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

#include "kup_core.h"
#include "kupdev.h"

/* The kupdev_* symbols a shared library exports (kernels export by list). */
#if !defined(__KERNEL__) && !defined(_KERNEL) && defined(__GNUC__)
#define KUP_API __attribute__((visibility("default")))
#else
#define KUP_API
#endif

/*
 * Core's part of one kern-side channel.  The host's channel object
 * embeds it; e and loans are used only under the channel's call lock,
 * last_err is read by kupdev_last_error at any time.
 */
struct kup_chan {
	struct kup_end e;
	struct kup_loans loans;
	uint32_t last_err; /* atomic: positive EKU_* of the channel's last call */
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
 * Leave a call that returned r (last_err is set already): tell the
 * session rule when r ends the attach, publish counters, drop the call
 * lock, count out.  The last touch of sc: unload may free it after.
 */
void kup_os_chan_leave(struct kup_chan *ch, int r);
/* Drop the reference a retired loan held on an attach's memory (call lock held). */
void kup_os_mem_put(struct kup_chan *ch, void *mem);
/* The calling thread, compared only (never dereferenced). */
const void *kup_os_self(void);

#endif /* KUP_OS_H */
