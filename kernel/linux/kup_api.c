// SPDX-License-Identifier: BSD-2-Clause
/*
 * kup_api.c - core's host contract (kup_os.h): entering and leaving calls,
 * the channel and device locks, sleeping for an attach, notify.  The
 * kupdev_* calls themselves are core's (kupdev_chan.c, kupdev_dev.c).
 */
#include <linux/nospec.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/wait_bit.h>

#include "kup_linux.h"

void kup_os_leave(struct kupdev_softc *sc)
{
	/*
	 * Fully ordered.  Unload's drain bit shares the word, so the last
	 * leaver learns from its own decrement that unload waits, and reads
	 * nothing of sc after it (sc may be freed by then; wake_up_var only
	 * hashes the address).
	 */
	if (atomic_dec_return(&sc->inside) == KUP_DRAIN)
		wake_up_var(&sc->inside);
}

/* Count the caller in, unless the device is unloading (kupdev_unload drains the count). */
int kup_os_enter(struct kupdev_softc *sc)
{
	if (!sc)
		return -EKU_INVAL;
	atomic_inc(&sc->inside);
	smp_mb__after_atomic(); /* pairs with smp_mb() in kupdev_unload */
	if (READ_ONCE(sc->d.dead)) {
		kup_os_leave(sc);
		return -EKU_SHUTDOWN;
	}
	return 0;
}

/* Enter a call about one channel: counted in, the id checked and clamped. */
static int kup_enter_chan(struct kupdev_softc *sc, int chan_id, struct kup_kchan **chp)
{
	int r = kup_os_enter(sc);

	if (r)
		return r;
	if (chan_id < 0 || (uint32_t)chan_id >= sc->d.chan_cnt) {
		kup_os_leave(sc);
		return -EKU_RANGE;
	}
	*chp = &sc->ch[array_index_nospec((uint32_t)chan_id, sc->d.chan_cnt)];
	return 0;
}

/* core's contract (kup_os.h): a call on one channel. */
int kup_os_chan_enter(struct kupdev_softc *sc, int chan_id, struct kup_chan **chp)
{
	struct kup_kchan *ch;
	int r = kup_enter_chan(sc, chan_id, &ch);

	if (r)
		return r;
	if (mutex_lock_interruptible(&ch->lock)) {
		r = -EKU_INTR;
		goto fail_unlocked;
	}
	r = -EKU_SHUTDOWN;
	if (READ_ONCE(sc->d.dead))
		goto fail;
	if (!kup_session_current(&ch->c.sess, READ_ONCE(ch->c.gen))) {
		r = kup_chan_switch(ch, 0);
		if (r)
			goto fail;
	}
	r = -EKU_CLOSED; /* never attached: no process on the channel */
	if (!ch->emem)
		goto fail;
	*chp = &ch->c;
	return 0;
fail:
	mutex_unlock(&ch->lock);
fail_unlocked:
	WRITE_ONCE(ch->c.last_err, -r);
	kup_os_leave(sc);
	return r;
}

void kup_os_chan_leave(struct kup_chan *c, int r)
{
	struct kup_kchan *ch = container_of(c, struct kup_kchan, c);
	struct kupdev_softc *sc = ch->sc;

	if (kup_session_ending(r)) {
		mutex_lock(&sc->lock);
		kup_session_told(&c->sess);
		mutex_unlock(&sc->lock);
	}
	mutex_unlock(&ch->lock);
	kup_os_leave(sc);
}

void kup_os_mem_put(struct kup_chan *c, void *mem)
{
	kup_mem_put(mem);
}

const void *kup_os_self(void)
{
	return current;
}

/* --- core's contract for device-wide calls (kup_os.h) --------------------- */

void kup_os_dev_lock(struct kupdev_softc *sc)
{
	mutex_lock(&sc->lock);
}

void kup_os_dev_unlock(struct kupdev_softc *sc)
{
	mutex_unlock(&sc->lock);
}

struct kup_chan *kup_os_chan(struct kupdev_softc *sc, uint32_t id)
{
	return &sc->ch[id].c;
}

int kup_os_attached(struct kupdev_softc *sc, uint32_t id)
{
	return sc->ch[id].owner != NULL;
}

int kup_os_attach_sleep(struct kupdev_softc *sc, int64_t timeout_ns)
{
	long w;

#define KUP_ATTACHED (kup_dev_dead(&sc->d) || kup_pend_any(&sc->d.pending))
	if (timeout_ns < 0)
		w = wait_event_interruptible(sc->attach_wq, KUP_ATTACHED);
	else
		w = wait_event_interruptible_hrtimeout(sc->attach_wq, KUP_ATTACHED,
		                                       ns_to_ktime(timeout_ns));
#undef KUP_ATTACHED
	if (w == -ERESTARTSYS)
		return -EKU_INTR;
	return w == -ETIME ? -EKU_TIMEDOUT : 0;
}

/* No mutex: a timer or an interrupt handler may notify. */
void kup_os_notify(struct kupdev_softc *sc)
{
	atomic_inc(&sc->notify_gen);
	wake_up_interruptible_all(&sc->notify_wq);
}
