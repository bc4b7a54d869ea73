// SPDX-License-Identifier: BSD-2-Clause
/*
 * kup_os.c - core's host contract (kup_os.h): entering and leaving calls,
 * the channel and device locks, the kern side's sleep and wake, moving a
 * channel to its latest attach, sleeping for an attach, notify, and the
 * life of a device.  The kupdev_* calls themselves are core's
 * (kupdev_chan.c, kupdev_dev.c).
 */
#include <linux/mutex.h>
#include <linux/nospec.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/wait_bit.h>

#include "kup_host.h"

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

/* core's contract (kup_os.h): the call lock if it is free, counted in. */
struct kup_chan *kup_os_chan_try(struct kupdev_softc *sc, int chan_id)
{
	struct kup_kchan *ch;

	if (kup_enter_chan(sc, chan_id, &ch))
		return NULL;
	if (mutex_trylock(&ch->lock))
		return &ch->c;
	kup_os_leave(sc);
	return NULL;
}

/* core's contract (kup_os.h): nothing for kup_os_chan_admit to do. */
int kup_os_chan_quick(struct kupdev_softc *sc, struct kup_chan *c)
{
	struct kup_kchan *ch = container_of(c, struct kup_kchan, c);

	return !READ_ONCE(sc->d.dead) && kup_session_mine(&c->sess, READ_ONCE(c->gen), current) &&
	       ch->emem;
}

/* core's contract (kup_os.h): the checks and catching up of a call that holds the lock. */
int kup_os_chan_admit(struct kupdev_softc *sc, struct kup_chan *c)
{
	struct kup_kchan *ch = container_of(c, struct kup_kchan, c);
	int r = -EKU_SHUTDOWN;

	if (READ_ONCE(sc->d.dead))
		goto fail;
	if (!kup_session_mine(&c->sess, READ_ONCE(c->gen), current)) {
		r = kup_chan_switch(ch, 0);
		if (r)
			goto fail;
	}
	r = -EKU_CLOSED; /* never attached: no process on the channel */
	if (!ch->emem)
		goto fail;
	return 0;
fail:
	mutex_unlock(&ch->lock);
	WRITE_ONCE(c->last_err, -r);
	kup_os_leave(sc);
	return r;
}

/* core's contract (kup_os.h): a call on one channel. */
int kup_os_chan_enter(struct kupdev_softc *sc, int chan_id, struct kup_chan **chp)
{
	struct kup_kchan *ch;
	int r = kup_enter_chan(sc, chan_id, &ch);

	if (r)
		return r;
	if (mutex_lock_interruptible(&ch->lock)) {
		WRITE_ONCE(ch->c.last_err, EKU_INTR);
		kup_os_leave(sc);
		return -EKU_INTR;
	}
	r = kup_os_chan_admit(sc, &ch->c);
	if (!r)
		*chp = &ch->c;
	return r;
}

void kup_os_chan_leave(struct kup_chan *c, int r)
{
	struct kup_kchan *ch = container_of(c, struct kup_kchan, c);
	struct kupdev_softc *sc = ch->sc;

	if (kup_session_ending(r)) {
		mutex_lock(&sc->lock);
		kup_session_told(&c->sess, current);
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

/* --- the kern side's host ops -------------------------------------------- */

static int kup_kern_sleep(struct kup_end *e, const uint32_t *peer_tw, uint32_t seen,
                          int64_t timeout_ns)
{
	struct kup_kchan *ch = e->host;
	struct kup_kmem *m = ch->emem;
	long r;

	trace_kup_sleep(e, timeout_ns);
	/* The process's tw moved, or a detach / unload (kup_end_set_local). */
#define KUP_KERN_WOKEN (READ_ONCE(*peer_tw) != seen || READ_ONCE(e->local))
	if (timeout_ns < 0)
		r = wait_event_interruptible(m->kwq, KUP_KERN_WOKEN);
	else
		r = wait_event_interruptible_hrtimeout(m->kwq, KUP_KERN_WOKEN,
		                                       ns_to_ktime(timeout_ns));
#undef KUP_KERN_WOKEN
	if (r == -ERESTARTSYS)
		return -EKU_INTR;
	if (r == -ETIME)
		return -EKU_TIMEDOUT;
	return 0;
}

static void kup_kern_wake(struct kup_end *e, uint32_t bits)
{
	struct kup_kchan *ch = e->host;

	trace_kup_wake(e, bits);
	/* Sleepers in KUP_IOC_WAIT and pollers of the channel's file. */
	wake_up_interruptible_all(&ch->emem->uwq);
}

static const struct kup_host_ops kup_kern_ops = {
    .sleep = kup_kern_sleep,
    .wake = kup_kern_wake,
};

/*
 * Move the kern side's end to the channel's latest attach.  Done only
 * inside a kupdev_* call (ch->lock held); the zero-copy pointers other
 * threads got from earlier calls keep the old memory (core's loans).
 * Whether the call may move on, or must first report the end of the
 * attach it worked on, is core's session rule (kup_session_next).  force
 * (unload) always moves on.
 */
int kup_chan_switch(struct kup_kchan *ch, int force)
{
	struct kupdev_softc *sc = ch->sc;
	struct kup_kmem *old = NULL, *m;
	int r = KUP_SESS_STAY;

	/* Unload only needs the switch to publish its state: no copy buffer then. */
	if (!ch->rx_copy && !force) {
		ch->rx_copy = kvmalloc(sc->d.cap, GFP_KERNEL);
		if (!ch->rx_copy)
			return -EKU_NOMEM;
	}
	mutex_lock(&sc->lock);
	m = ch->cur;
	/* Forced, it moves on as if the attach had been handed to this thread. */
	if (m)
		r = kup_session_next(&ch->c.sess, ch->c.gen, force ? ch->c.gen : ch->c.handed,
		                     force || ch->c.holder == current, current);
	if (r < 0) {
		mutex_unlock(&sc->lock);
		return r;
	}
	if (r == KUP_SESS_MOVE) {
		old = ch->emem;
		kup_mem_get(m);
		ch->emem = m;
		ch->c.e.rx_copy = ch->rx_copy;
		kup_end_init(&ch->c.e, KUP_SIDE_KERN, m->va,
		             (uint8_t *)m->va + KUP_BLOCK_LEN(sc->d.size), sc->d.size,
		             &kup_kern_ops, ch);
		kup_end_set_mode(&ch->c.e, m->flags);
		if (m->gone)
			kup_end_set_local(&ch->c.e, m->gone);
	}
	mutex_unlock(&sc->lock);
	/*
	 * No byte of an earlier process's messages (or of the heap) for the
	 * next one.  Only the module's calls use the copy, and they hold
	 * ch->lock: clear it (up to the capacity) without stalling the device.
	 */
	if (r == KUP_SESS_MOVE && ch->rx_copy)
		memset(ch->rx_copy, 0, sc->d.cap);
	if (old) {
		/* Threads still holding pointers into old keep it (core's loans). */
		uint32_t k = kup_loan_retire(&ch->c.loans, old);

		while (k--)
			kup_mem_get(old);
		kup_mem_put(old);
	}
	return 0;
}

/* --- devices ---------------------------------------------------------------- */

static LIST_HEAD(kup_devs); /* devices not yet unloaded */
static DEFINE_MUTEX(kup_devs_lock);

/* core's contract (kup_os.h): the device and its node, for checked arguments. */
struct kupdev_softc *kup_os_dev_create(const char *name, uint32_t size, uint32_t chan_cnt,
                                       const struct kupdev_attr *attr, int *err)
{
	struct kupdev_softc *sc, *o;
	uint32_t i;
	int r;

	sc = kzalloc(sizeof(*sc), GFP_KERNEL);
	if (!sc) {
		*err = EKU_NOMEM;
		return NULL;
	}
	/* The channels, then the pending queue's memory (chan_cnt <= KUP_MAX_CHANNELS). */
	sc->ch = kvzalloc(chan_cnt * sizeof(*sc->ch) + KUP_PEND_BYTES(chan_cnt), GFP_KERNEL);
	if (!sc->ch) {
		kfree(sc);
		*err = EKU_NOMEM;
		return NULL;
	}
	strscpy(sc->name, name, sizeof(sc->name));
	kup_dev_setup(&sc->d, size, chan_cnt, sc->ch + chan_cnt,
	              (int64_t)READ_ONCE(kup_spin_us) * 1000);
	sc->attr = *attr;
	mutex_init(&sc->lock);
	mutex_init(&sc->shut_lock);
	atomic_set(&sc->inside, 0);
	init_waitqueue_head(&sc->attach_wq);
	init_waitqueue_head(&sc->free_wq);
	init_waitqueue_head(&sc->notify_wq);
	for (i = 0; i < chan_cnt; i++) {
		struct kup_kchan *ch = &sc->ch[i];

		ch->sc = sc;
		ch->id = i;
		mutex_init(&ch->lock);
	}

	mutex_lock(&kup_devs_lock);
	list_for_each_entry(o, &kup_devs, node)
	{
		if (!strcmp(o->name, sc->name)) {
			mutex_unlock(&kup_devs_lock);
			kup_dev_free(sc);
			*err = EKU_EXIST;
			return NULL;
		}
	}
	r = kup_cdev_add(sc); /* frees sc when it fails */
	if (!r)
		list_add_tail(&sc->node, &kup_devs);
	mutex_unlock(&kup_devs_lock);
	if (r) {
		*err = r;
		return NULL;
	}
	return sc;
}

/* Frees what create set up, for a softc no device reference owns yet. */
void kup_dev_free(struct kupdev_softc *sc)
{
	kvfree(sc->ch); /* NULL after unload */
	mutex_destroy(&sc->shut_lock);
	mutex_destroy(&sc->lock);
	kfree(sc);
}

/* --- unload ---------------------------------------------------------------- */

/*
 * Wake every waiter on both sides with EKU_SHUTDOWN, let kupdev_* callers
 * leave, and publish the shutdown to every process.  sc stays valid.
 */
static void kup_dev_shutdown(struct kupdev_softc *sc)
{
	uint32_t i;

	mutex_lock(&sc->shut_lock);
	mutex_lock(&sc->lock);
	if (sc->d.dead) {
		mutex_unlock(&sc->lock);
		mutex_unlock(&sc->shut_lock);
		return;
	}
	WRITE_ONCE(sc->d.dead, 1);
	/* Every waiter on either side ends now, with EKU_SHUTDOWN. */
	for (i = 0; i < sc->d.chan_cnt; i++) {
		struct kup_kchan *ch = &sc->ch[i];

		if (ch->emem) {
			kup_end_set_local(&ch->c.e, EKU_SHUTDOWN);
			wake_up_all(&ch->emem->kwq);
		}
		if (ch->cur) {
			WRITE_ONCE(ch->cur->gone, EKU_SHUTDOWN);
			wake_up_all(&ch->cur->kwq);
			wake_up_all(&ch->cur->uwq);
		}
		if (ch->owner) {
			ch->owner->attached = 0;
			/* Never the last pref: cur holds one until unload. */
			kup_file_drop_pages_locked(ch->owner);
			ch->owner = NULL;
		}
		kup_pend_drop(&sc->d.pending, ch->id);
	}
	mutex_unlock(&sc->lock);
	wake_up_all(&sc->attach_wq);
	wake_up_all(&sc->notify_wq);
	wake_up_all(&sc->free_wq); /* waiting attaches: ESHUTDOWN */

	/*
	 * Pairs with the barrier in kup_os_enter: either it sees dead or we see it
	 * inside.  Later callers still get in and out (they see dead).
	 */
	smp_mb();
	atomic_fetch_or(KUP_DRAIN, &sc->inside);
	wait_var_event(&sc->inside, atomic_read(&sc->inside) == KUP_DRAIN);

	/* No kupdev_* caller is left: tell the processes. */
	for (i = 0; i < sc->d.chan_cnt; i++) {
		struct kup_kchan *ch = &sc->ch[i];

		mutex_lock(&ch->lock);
		if (!kup_session_current(&ch->c.sess, ch->c.gen))
			kup_chan_switch(ch, 1); /* forced: cannot fail */
		if (ch->emem && kup_session_current(&ch->c.sess, ch->c.gen)) {
			/* The process sees KUP_ST_SHUTDOWN in the kern tw, even when it spins. */
			kup_end_close(&ch->c.e, KUP_ST_SHUTDOWN);
			wake_up_all(&ch->emem->uwq);
		}
		mutex_unlock(&ch->lock);
	}
	mutex_unlock(&sc->shut_lock);
}

int kup_os_dev_shutdown(struct kupdev_softc *sc)
{
	/*
	 * A racing kupdev_unload waits for our shut_lock, then may free sc;
	 * mutex_unlock may still touch the mutex after handing it over
	 * (mutex-design.rst), so hold sc until we are out.
	 */
	get_device(&sc->dev);
	kup_dev_shutdown(sc);
	put_device(&sc->dev);
	return 0;
}

int kup_os_dev_unload(struct kupdev_softc *sc)
{
	struct kup_kchan *chans;
	uint32_t i;

	mutex_lock(&sc->lock);
	if (sc->unloading) {
		mutex_unlock(&sc->lock);
		return -EKU_SHUTDOWN;
	}
	sc->unloading = 1;
	mutex_unlock(&sc->lock);
	trace_kup_unload(sc->name, sc->d.chan_cnt);
	kup_dev_shutdown(sc);

	for (i = 0; i < sc->d.chan_cnt; i++) {
		struct kup_kchan *ch = &sc->ch[i];
		struct kup_kmem *m;

		while ((m = kup_loan_drain(&ch->c.loans)))
			kup_mem_put(m);
		kup_mem_put(ch->emem);
		kup_mem_put(ch->cur);
		kvfree(ch->rx_copy);
		mutex_destroy(&ch->lock);
	}
	mutex_lock(&sc->lock);
	chans = sc->ch;
	sc->ch = NULL;
	mutex_unlock(&sc->lock);
	kvfree(chans);

	mutex_lock(&kup_devs_lock);
	kup_cdev_del(sc);
	list_del(&sc->node); /* the name can be created again */
	mutex_unlock(&kup_devs_lock);
	/* sc is freed now, or when the last file opened before unload is released. */
	put_device(&sc->dev);
	return 0;
}

/*
 * kup.ko is going: a client module that did not unload its devices is gone
 * by now (it held a reference on kup.ko), so unload them for it.  No file
 * of a device is open (each holds a reference on kup.ko), so each softc is
 * freed here.  Nothing else touches kup_devs now.
 */
void kup_devs_unload_all(void)
{
	struct kupdev_softc *sc;

	while ((sc = list_first_entry_or_null(&kup_devs, struct kupdev_softc, node))) {
		pr_warn("kup: device %s was never unloaded; unloading it\n", sc->name);
		kupdev_unload(sc);
	}
}
