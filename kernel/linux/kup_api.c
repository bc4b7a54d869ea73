// SPDX-License-Identifier: BSD-2-Clause
/*
 * kup_api.c - core's host contract for channel calls (kup_os.h) and the
 * device-level kupdev_* calls not in core yet.  No protocol decision is
 * made here.
 */
#include <linux/nospec.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/wait_bit.h>

#include "kup_linux.h"

static void kup_leave(struct kupdev_softc *sc)
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
static int kup_enter(struct kupdev_softc *sc)
{
	if (!sc)
		return -EKU_INVAL;
	atomic_inc(&sc->inside);
	smp_mb__after_atomic(); /* pairs with smp_mb() in kupdev_unload */
	if (READ_ONCE(sc->dead)) {
		kup_leave(sc);
		return -EKU_SHUTDOWN;
	}
	return 0;
}

/* Enter a call about one channel: counted in, the id checked and clamped. */
static int kup_enter_chan(struct kupdev_softc *sc, int chan_id, struct kup_kchan **chp)
{
	int r = kup_enter(sc);

	if (r)
		return r;
	if (chan_id < 0 || (uint32_t)chan_id >= sc->chan_cnt) {
		kup_leave(sc);
		return -EKU_RANGE;
	}
	*chp = &sc->ch[array_index_nospec((uint32_t)chan_id, sc->chan_cnt)];
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
	if (READ_ONCE(sc->dead))
		goto fail;
	if (!kup_session_current(&ch->sess, READ_ONCE(ch->gen))) {
		r = kup_chan_switch(ch, 0);
		if (r)
			goto fail;
	}
	r = -EKU_CLOSED; /* never attached: no process on the channel */
	if (!ch->emem)
		goto fail;
	ch->c.e.spin_ns = READ_ONCE(sc->spin_ns);
	*chp = &ch->c;
	return 0;
fail:
	mutex_unlock(&ch->lock);
fail_unlocked:
	WRITE_ONCE(ch->c.last_err, -r);
	kup_leave(sc);
	return r;
}

void kup_os_chan_leave(struct kup_chan *c, int r)
{
	struct kup_kchan *ch = container_of(c, struct kup_kchan, c);
	struct kupdev_softc *sc = ch->sc;
	const uint64_t *b = (const uint64_t *)&ch->base, *n = (const uint64_t *)&c->e.cnt;
	uint64_t *o = (uint64_t *)&ch->snap;
	size_t i;

	if (kup_session_ending(r)) {
		mutex_lock(&sc->lock);
		kup_session_told(&ch->sess);
		mutex_unlock(&sc->lock);
	}
	/* Publish the counters for kupdev_stats, which must not wait for ch->lock. */
	spin_lock(&ch->snap_lock);
	for (i = 0; i < sizeof(ch->snap) / sizeof(uint64_t); i++)
		o[i] = b[i] + n[i];
	spin_unlock(&ch->snap_lock);
	mutex_unlock(&ch->lock);
	kup_leave(sc);
}

void kup_os_mem_put(struct kup_chan *c, void *mem)
{
	kup_mem_put(mem);
}

const void *kup_os_self(void)
{
	return current;
}

/* kupdev_wait_channel's condition: an attach not yet reported, or shutdown. */
static int kup_wait_check(void *arg)
{
	struct kupdev_softc *sc = arg;
	struct kup_kchan *ch;
	int r = -EKU_NOTREADY;

	/* Peek first: a spinning (KUP_POLL) wait takes no lock until there is news. */
	if (!READ_ONCE(sc->dead) && !kup_pend_any(&sc->pending))
		return r;
	mutex_lock(&sc->lock);
	if (sc->dead) {
		r = -EKU_SHUTDOWN;
	} else if ((r = kup_pend_pop(&sc->pending)) >= 0) {
		ch = &sc->ch[r];
		/* This thread holds the attach now (core's session rule). */
		ch->handed = ch->gen;
		ch->holder = current;
		r = ch->id;
	}
	mutex_unlock(&sc->lock);
	return r;
}

static int kup_wait_sleep(void *arg, int64_t timeout_ns)
{
	struct kupdev_softc *sc = arg;
	long w;

#define KUP_ATTACHED (READ_ONCE(sc->dead) || kup_pend_any(&sc->pending))
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

static const struct kup_cond_ops kup_wait_ops = {
    .check = kup_wait_check,
    .sleep = kup_wait_sleep,
};

int kupdev_wait_channel_timed(struct kupdev_softc *sc, int flags, int64_t timeout_ns)
{
	int r = kup_enter(sc);

	if (r)
		return r;
	r = kup_cond_wait(&kup_wait_ops, sc, flags, timeout_ns);
	kup_leave(sc);
	return r;
}

int kupdev_wait_channel(struct kupdev_softc *sc)
{
	return kupdev_wait_channel_timed(sc, 0, KUP_FOREVER);
}

int kupdev_claim_channel(struct kupdev_softc *sc, int chan_id)
{
	struct kup_kchan *ch;
	int r = kup_enter_chan(sc, chan_id, &ch);

	if (r)
		return r;
	mutex_lock(&sc->lock);
	ch->holder = current;
	mutex_unlock(&sc->lock);
	kup_leave(sc);
	return 0;
}

void kupdev_notify(struct kupdev_softc *sc)
{
	/* No mutex: a timer or an interrupt handler may notify. */
	if (kup_enter(sc))
		return;
	atomic_inc(&sc->notify_gen);
	wake_up_interruptible_all(&sc->notify_wq);
	kup_leave(sc);
}

void kupdev_set_spin(struct kupdev_softc *sc, int64_t spin_ns)
{
	if (sc)
		WRITE_ONCE(sc->spin_ns, spin_ns);
}

size_t kupdev_capacity(struct kupdev_softc *sc)
{
	return sc ? sc->cap : 0;
}

size_t kupdev_channel_count(struct kupdev_softc *sc)
{
	return sc ? sc->chan_cnt : 0;
}

int kupdev_attached(struct kupdev_softc *sc, int chan_id)
{
	struct kup_kchan *ch;
	int r = kup_enter_chan(sc, chan_id, &ch);

	if (r)
		return r;
	mutex_lock(&sc->lock);
	r = ch->owner != NULL;
	/* Seeing 0, the module knows its process left (core's session rule). */
	if (!r)
		kup_session_told(&ch->sess);
	mutex_unlock(&sc->lock);
	kup_leave(sc);
	return r;
}

int kupdev_last_error(struct kupdev_softc *sc, int chan_id)
{
	int r;

	if (!sc)
		return kup_last_create_error();
	if (kup_enter(sc))
		return EKU_SHUTDOWN;
	if (chan_id < 0 || (uint32_t)chan_id >= sc->chan_cnt)
		r = EKU_RANGE;
	else
		r = READ_ONCE(
		    sc->ch[array_index_nospec((uint32_t)chan_id, sc->chan_cnt)].c.last_err);
	kup_leave(sc);
	return r;
}

/* Counters as of the channel's last completed call: never waits for a blocked one. */
int kupdev_stats(struct kupdev_softc *sc, int chan_id, struct kupdev_stats *st)
{
	struct kup_counters c;
	struct kup_kchan *ch;
	int r;

	if (!st)
		return -EKU_INVAL;
	memset(st, 0, sizeof(*st));
	r = kup_enter_chan(sc, chan_id, &ch);
	if (r)
		return r;
	spin_lock(&ch->snap_lock);
	c = ch->snap;
	spin_unlock(&ch->snap_lock);
	kup_counters_to_stats(st, &c);
	mutex_lock(&sc->lock);
	st->attaches = ch->attaches;
	mutex_unlock(&sc->lock);
	kup_leave(sc);
	return 0;
}
