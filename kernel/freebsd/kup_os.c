/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_os.c - core's host contract (kup_os.h) on FreeBSD: entering and
 * leaving calls, the channel and device locks, the kern side's sleep and
 * wake, moving a channel to its latest attach, sleeping for an attach,
 * notify, and the life of a device.  The kupdev_* calls are core's.
 *
 * Every call counts itself in sc->inside while it runs, so kupdev_unload
 * can wait for callers to leave before it drops the device's reference
 * (sc is invalid once kupdev_unload returned); a call racing unload fails
 * with -EKU_SHUTDOWN.
 * Calls on one channel are serialised by the channel's sx, held across
 * core's spin and sleep; detach and unload set core's local event and wake
 * the holder first, so no call keeps the sx for long once the process or
 * the device is gone.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/condvar.h>
#include <sys/conf.h>
#include <sys/event.h>
#include <sys/kernel.h>
#include <sys/lock.h>
#include <sys/malloc.h>
#include <sys/mutex.h>
#include <sys/proc.h>
#include <sys/refcount.h>
#include <sys/sbuf.h>
#include <sys/selinfo.h>
#include <sys/sx.h>
#include <sys/sysctl.h>

#include "kup_host.h"
#include "kup_stat.h"

MALLOC_DEFINE(M_KUP, "kup", "KUP devices and channels");

static LIST_HEAD(, kupdev_softc) kup_devs = LIST_HEAD_INITIALIZER(kup_devs);
static struct mtx kup_devs_mtx;
MTX_SYSINIT(kup_devs, &kup_devs_mtx, "kup devices", MTX_DEF);

/* --- time ----------------------------------------------------------------- */

#define KUP_NS_MAX_SLEEP (3600 * (int64_t)1000000000) /* one cv wait at most */

/* Absolute deadline in kup_now_ns() time, or -1 for none. */
int64_t kup_deadline(int64_t timeout_ns)
{
	int64_t now;

	if (timeout_ns < 0)
		return (-1);
	now = kup_now_ns();
	return (timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns);
}

static sbintime_t kup_ns_to_sbt(int64_t ns)
{
	return (((sbintime_t)(ns / 1000000000) << 32) +
	        (sbintime_t)(((uint64_t)(ns % 1000000000) << 32) / 1000000000));
}

/*
 * One interruptible wait on cv (m held) until the deadline: 0 (woken, or a
 * long deadline not reached yet), EWOULDBLOCK, EINTR.  ERESTART becomes
 * EINTR: a restarted call would start its timeout over.
 */
int kup_cv_wait(struct cv *cv, struct mtx *m, int64_t deadline)
{
	int64_t left;
	int error;

	if (deadline < 0) {
		error = cv_wait_sig(cv, m);
	} else {
		left = deadline - kup_now_ns();
		if (left <= 0)
			return (EWOULDBLOCK);
		if (left > KUP_NS_MAX_SLEEP)
			left = KUP_NS_MAX_SLEEP;
		error = cv_timedwait_sig_sbt(cv, m, kup_ns_to_sbt(left), 0, 0);
		if (error == EWOULDBLOCK && kup_now_ns() < deadline)
			error = 0;
	}
	return (error == ERESTART ? EINTR : error);
}

/* --- the kern side's sleep and wake ------------------------------------------- */

/* A cv wait's error as an EKU code: 0, EKU_TIMEDOUT or EKU_INTR. */
static int kup_wait_eku(int error)
{
	if (error == 0)
		return (0);
	if (error == EWOULDBLOCK)
		return (EKU_TIMEDOUT);
	return (EKU_INTR);
}

/*
 * Core's sleep op, kern side: sleep while the process has not moved its
 * turn word and no detach or unload is pending.  KUP_IOC_WAKE broadcasts
 * under the same mutex, after the process published its turn word, so the
 * check below and the sleep are atomic with respect to the wake.
 */
static int kup_kern_sleep(struct kup_end *e, const uint32_t *peer_tw, uint32_t seen,
                          int64_t timeout_ns)
{
	struct kup_kchan *ch = e->host;
	int64_t deadline = kup_deadline(timeout_ns);
	int error = 0;

	SDT_PROBE3(kup, , chan, sleep, ch->sc->name, ch->id, timeout_ns);
	mtx_lock(&ch->mtx);
	while (kup_load_acquire(peer_tw) == seen && kup_load_once(&e->local) == 0) {
		error = kup_cv_wait(&ch->kcv, &ch->mtx, deadline);
		if (error != 0)
			break;
	}
	mtx_unlock(&ch->mtx);
	return (-kup_wait_eku(error));
}

/* Core's wake op, kern side: the process announced a sleep or an armed fd. */
static void kup_kern_wake(struct kup_end *e, uint32_t bits)
{
	struct kup_kchan *ch = e->host;

	SDT_PROBE3(kup, , chan, wakeup, ch->sc->name, ch->id, bits);
	mtx_lock(&ch->mtx);
	if (bits & KUP_WAIT_SLEEP)
		cv_broadcast(&ch->ucv);
	if (bits & KUP_WAIT_FD)
		KNOTE_LOCKED(&ch->sel.si_note, 0);
	mtx_unlock(&ch->mtx);
	if (bits & KUP_WAIT_FD)
		selwakeup(&ch->sel);
}

static const struct kup_host_ops kup_kern_ops = {
    .sleep = kup_kern_sleep,
    .wake = kup_kern_wake,
};

/* --- entering and leaving --------------------------------------------------- */

int kup_os_enter(struct kupdev_softc *sc)
{
	if (sc == NULL)
		return (-EKU_INVAL);
	atomic_add_int(&sc->inside, 1);
	/* Pairs with kupdev_unload: it sets dead, fences, then reads inside. */
	atomic_thread_fence_seq_cst();
	if (atomic_load_acq_32(&sc->d.dead)) {
		atomic_subtract_rel_int(&sc->inside, 1);
		return (-EKU_SHUTDOWN);
	}
	return (0);
}

/*
 * The caller's last touch of sc: kupdev_unload may free it once inside is
 * 0, so nothing (no wake-up) follows.  unload polls instead, as
 * destroy_dev polls si_threadcount.  Never frees, never sleeps: fine for
 * kupdev_notify in a callout or an interrupt thread.
 */
void kup_os_leave(struct kupdev_softc *sc)
{
	atomic_subtract_rel_int(&sc->inside, 1);
}

/* A call about one channel: sc entered, the id checked and clamped. */
static int kup_enter_chan(struct kupdev_softc *sc, int chan_id, struct kup_kchan **chp)
{
	int r;

	r = kup_os_enter(sc);
	if (r != 0)
		return (r);
	if (chan_id < 0 || (uint32_t)chan_id >= sc->d.chan_cnt) {
		kup_os_leave(sc);
		return (-EKU_RANGE);
	}
	*chp = &sc->chans[kup_index_nospec((uint32_t)chan_id, sc->d.chan_cnt)];
	return (0);
}

/* core's contract (kup_os.h): ch->api if it is free, counted in. */
struct kup_chan *kup_os_chan_try(struct kupdev_softc *sc, int chan_id)
{
	struct kup_kchan *ch;

	if (kup_enter_chan(sc, chan_id, &ch) != 0)
		return (NULL);
	if (sx_try_xlock(&ch->api))
		return (&ch->c);
	kup_os_leave(sc);
	return (NULL);
}

/*
 * core's contract (kup_os.h): nothing for kup_os_chan_admit to do.  The
 * hot path only compares (as on Linux): the module's calls are on the
 * latest attach and this thread passed the rule last.  c.gen is read
 * without sc->mtx: an attach that bumps it after the read is the next
 * call's news.
 */
int kup_os_chan_quick(struct kupdev_softc *sc, struct kup_chan *c)
{
	struct kup_kchan *ch = __containerof(c, struct kup_kchan, c);

	return (!atomic_load_acq_32(&sc->d.dead) &&
	    kup_session_mine(&c->sess, atomic_load_acq_32(&c->gen), curthread) &&
	    ch->emem != NULL);
}

/* core's contract (kup_os.h): the checks and catching up of a call that holds ch->api. */
int kup_os_chan_admit(struct kupdev_softc *sc, struct kup_chan *c)
{
	struct kup_kchan *ch = __containerof(c, struct kup_kchan, c);
	int r;

	r = 0;
	if (atomic_load_acq_32(&sc->d.dead))
		r = -EKU_SHUTDOWN;
	else if (!kup_session_mine(&c->sess, atomic_load_acq_32(&c->gen), curthread))
		r = kup_chan_switch(ch, 0);
	if (r == 0 && ch->emem == NULL) {
		/* No process ever attached the channel. */
		mtx_lock(&ch->mtx);
		r = ch->dying ? EKU_SHUTDOWN : (int)kup_load_once(&c->e.local);
		mtx_unlock(&ch->mtx);
		r = -(r != 0 ? r : EKU_CLOSED);
	}
	if (r != 0) {
		sx_xunlock(&ch->api);
		atomic_store_rel_32(&c->last_err, -r);
		kup_os_leave(sc);
	}
	return (r);
}

/* core's contract (kup_os.h): a call on one channel, ch->api held across it. */
int kup_os_chan_enter(struct kupdev_softc *sc, int chan_id, struct kup_chan **chp)
{
	struct kup_kchan *ch;
	int r;

	r = kup_enter_chan(sc, chan_id, &ch);
	if (r != 0)
		return (r);
	if (sx_xlock_sig(&ch->api) != 0) {
		atomic_store_rel_32(&ch->c.last_err, EKU_INTR);
		kup_os_leave(sc);
		return (-EKU_INTR);
	}
	r = kup_os_chan_admit(sc, &ch->c);
	if (r == 0)
		*chp = &ch->c;
	return (r);
}

void kup_os_chan_leave(struct kup_chan *c, int r)
{
	struct kup_kchan *ch = __containerof(c, struct kup_kchan, c);
	struct kupdev_softc *sc = ch->sc;

	if (kup_session_ending(r)) {
		mtx_lock(&sc->mtx);
		kup_session_told(&c->sess, curthread);
		mtx_unlock(&sc->mtx);
	}
	sx_xunlock(&ch->api);
	kup_os_leave(sc);
}

void kup_os_mem_put(struct kup_chan *c, void *mem)
{
	kup_mem_put(mem);
}

const void *kup_os_self(void)
{
	return (curthread);
}

/*
 * Point the kern side's end at the latest attach (ch->api held).  Only the
 * kern side's own calls (and unload) move it; the zero-copy pointers other
 * threads got from earlier calls keep the old memory (core's loans).  Whether the
 * call may move on, or must first report the end of the attach it worked
 * on, is core's session rule (kup_session_next).  force (unload) always
 * moves on.
 */
int kup_chan_switch(struct kup_kchan *ch, int force)
{
	struct kupdev_softc *sc = ch->sc;
	struct kup_kmem *old, *mem;
	void *kblock;
	uint32_t n;
	int r;

	sx_assert(&ch->api, SA_XLOCKED);
	/* The session fields are under sc->mtx, cur and emem under ch->mtx. */
	mtx_lock(&sc->mtx);
	mtx_lock(&ch->mtx);
	mem = ch->cur;
	r = 0;
	/* Forced, it moves on as if the attach had been handed to this thread. */
	if (mem != NULL)
		r = kup_session_next(&ch->c.sess, mem->gen, force ? mem->gen : ch->c.handed,
		                     force || ch->c.holder == curthread, curthread);
	mtx_unlock(&sc->mtx);
	if (mem == NULL || r != KUP_SESS_MOVE) {
		mtx_unlock(&ch->mtx);
		return (r < 0 ? r : 0);
	}
	refcount_acquire(&mem->ref);
	old = ch->emem;
	kblock = (void *)mem->kva;
	ch->c.e.rx_copy = ch->rx_copy;
	kup_end_init(&ch->c.e, KUP_SIDE_KERN, kblock, (uint8_t *)kblock + KUP_OFF_UCTL(sc->d.size),
	             sc->d.size, &kup_kern_ops, ch);
	kup_end_set_mode(&ch->c.e, mem->flags);
	if (ch->dying)
		kup_end_set_local(&ch->c.e, EKU_SHUTDOWN);
	ch->emem = mem;
	mtx_unlock(&ch->mtx);
	/*
	 * No byte of an earlier process's messages for the next one.  Only
	 * the module's calls use the copy, under ch->api: clear it without
	 * holding the mutex that attach, poll and the pager take.
	 */
	memset(ch->c.e.rx_copy, 0, sc->d.cap);
	if (old != NULL) {
		/* Threads still holding pointers into old keep it (core's loans). */
		for (n = kup_loan_retire(&ch->c.loans, old); n > 0; n--)
			refcount_acquire(&old->ref);
		kup_mem_put(old);
	}
	return (0);
}

/* --- devices ---------------------------------------------------------------- */

static void kup_chan_init(struct kupdev_softc *sc, struct kup_kchan *ch, uint32_t id)
{
	ch->sc = sc;
	ch->id = id;
	sx_init(&ch->api, "kup chan api");
	mtx_init(&ch->mtx, "kup chan", NULL, MTX_DEF);
	cv_init(&ch->kcv, "kupk");
	cv_init(&ch->ucv, "kupu");
	knlist_init_mtx(&ch->sel.si_note, &ch->mtx);
	ch->c.e.local = EKU_CLOSED; /* nobody attached yet */
}

/* Free a channel with its softc: nobody can reach it any more. */
static void kup_chan_fini(struct kup_kchan *ch)
{
	KASSERT(ch->cur == NULL, ("kup: channel %u still attached", ch->id));
	KASSERT(ch->emem == NULL, ("kup: channel %u still mapped", ch->id));
	knlist_destroy(&ch->sel.si_note);
	cv_destroy(&ch->kcv);
	cv_destroy(&ch->ucv);
	mtx_destroy(&ch->mtx);
	sx_destroy(&ch->api);
	free(ch->rx_copy, M_KUP);
	ch->rx_copy = NULL;
}

/* The last reference is gone, or create failed: nothing can reach sc. */
static void kup_sc_free(struct kupdev_softc *sc)
{
	uint32_t i;

	for (i = 0; i < sc->d.chan_cnt; i++)
		kup_chan_fini(&sc->chans[i]);
	free(sc->chans, M_KUP);
	knlist_destroy(&sc->sel.si_note);
	cv_destroy(&sc->attach_cv);
	cv_destroy(&sc->notify_cv);
	mtx_destroy(&sc->mtx);
	free(sc, M_KUP);
}

/* An open file or a mapping takes a reference while sc is reachable. */
void kup_sc_hold(struct kupdev_softc *sc)
{
	refcount_acquire(&sc->refs);
}

/*
 * Drop a reference; the last frees sc.  Never the caller of a kupdev_*
 * call (unload holds the device's reference until they left), so the
 * last one is dropped by kupdev_unload, a cdevpriv destructor or a pager
 * destructor: all may sleep, though freeing does not.
 */
void kup_sc_release(struct kupdev_softc *sc)
{
	if (!refcount_release(&sc->refs))
		return;
	mtx_lock(&kup_devs_mtx);
	LIST_REMOVE(sc, link);
	mtx_unlock(&kup_devs_mtx);
	kup_sc_free(sc);
}

/* core's contract (kup_os.h): the device and its node, for checked arguments. */
struct kupdev_softc *kup_os_dev_create(const char *name, uint32_t size, uint32_t chan_cnt,
                                       const struct kupdev_attr *attr, int *err)
{
	struct kupdev_softc *sc;
	uint32_t i;
	int error;

	if (PAGE_SIZE != KUP_PAGE) {
		*err = EKU_INVAL; /* the shared layout is in 4 KiB pages */
		return (NULL);
	}
	sc = malloc(sizeof(*sc), M_KUP, M_WAITOK | M_ZERO);
	strlcpy(sc->name, name, sizeof(sc->name));
	mtx_init(&sc->mtx, "kup dev", NULL, MTX_DEF);
	refcount_init(&sc->refs, 1); /* the device's, until kupdev_unload */
	cv_init(&sc->attach_cv, "kupattach");
	cv_init(&sc->notify_cv, "kupnotify");
	knlist_init_mtx(&sc->sel.si_note, &sc->mtx);
	/* The channels, then the pending queue's memory (chan_cnt <= KUP_MAX_CHANNELS). */
	sc->chans = malloc(sizeof(*sc->chans) * chan_cnt + KUP_PEND_BYTES(chan_cnt), M_KUP,
	                   M_WAITOK | M_ZERO);
	kup_dev_setup(&sc->d, (uint32_t)size, (uint32_t)chan_cnt, sc->chans + chan_cnt,
	              KUP_DEFAULT_SPIN_NS);
	for (i = 0; i < sc->d.chan_cnt; i++)
		kup_chan_init(sc, &sc->chans[i], i);

	error = kup_cdev_add(sc, attr);
	if (error != 0) {
		if (error != EEXIST)
			printf("kup: cannot create /dev/%s: error %d\n", name, error);
		*err = error == EEXIST ? EKU_EXIST : EKU_SYS;
		kup_sc_free(sc);
		return (NULL);
	}
	mtx_lock(&kup_devs_mtx);
	LIST_INSERT_HEAD(&kup_devs, sc, link);
	mtx_unlock(&kup_devs_mtx);
	return (sc);
}

/* Unload, for one channel: fail every call with EKU_SHUTDOWN and tell the process. */
void kup_chan_shutdown(struct kup_kchan *ch)
{
	mtx_lock(&ch->mtx);
	ch->dying = 1;
	kup_end_set_local(&ch->c.e, EKU_SHUTDOWN);
	mtx_unlock(&ch->mtx);
	kup_chan_wake_all(ch);

	/* The sx holder, if any, returns now that local is set. */
	sx_xlock(&ch->api);
	(void)kup_chan_switch(ch, 1); /* an attach the kern side has not seen yet hears it too */
	if (ch->emem != NULL && ch->c.e.state == KUP_ST_OPEN)
		kup_end_close(&ch->c.e, KUP_ST_SHUTDOWN);
	kup_end_set_local(&ch->c.e, EKU_SHUTDOWN);
	sx_xunlock(&ch->api);
	kup_chan_wake_all(ch);
}

/* Wake everyone with EKU_SHUTDOWN; sc stays valid.  Runs once. */
static void kup_dev_shutdown(struct kupdev_softc *sc)
{
	uint32_t i;

	mtx_lock(&sc->mtx);
	if (atomic_load_acq_32(&sc->d.dead)) {
		mtx_unlock(&sc->mtx);
		return;
	}
	atomic_store_rel_32(&sc->d.dead, 1);
	cv_broadcast(&sc->attach_cv);
	cv_broadcast(&sc->notify_cv);
	KNOTE_LOCKED(&sc->sel.si_note, 0); /* device handles' knotes: EV_EOF */
	mtx_unlock(&sc->mtx);
	selwakeup(&sc->sel);

	for (i = 0; i < sc->d.chan_cnt; i++)
		kup_chan_shutdown(&sc->chans[i]);
}

int kup_os_dev_shutdown(struct kupdev_softc *sc)
{
	/*
	 * Counted like any caller, but not refused once dead: a racing
	 * kupdev_unload finds the device dead already and must still wait
	 * until we are done with the channels.
	 */
	atomic_add_int(&sc->inside, 1);
	atomic_thread_fence_seq_cst();
	kup_dev_shutdown(sc);
	kup_os_leave(sc);
	return (0);
}

int kup_os_dev_unload(struct kupdev_softc *sc)
{
	struct kup_kchan *ch;
	struct kup_kmem *lent;
	uint32_t i;

	mtx_lock(&sc->mtx);
	if (sc->unloading) {
		mtx_unlock(&sc->mtx);
		return (-EKU_SHUTDOWN); /* a racing second unload: the first frees */
	}
	atomic_store_rel_int(&sc->unloading, 1);
	mtx_unlock(&sc->mtx);
	SDT_PROBE2(kup, , dev, unload, sc->name, sc->d.chan_cnt);
	/*
	 * Fires every knote (EV_EOF); they stay on their knlists, each with a
	 * reference on sc, until kqueue drops them (kup_cdev.c, kqueue).
	 */
	kup_dev_shutdown(sc);

	/* Every d_* method has returned after this (all woken above). */
	kup_cdev_del(sc);

	/*
	 * API callers leave (all woken above).  kup_os_leave's release store is
	 * their last touch of sc, so they cannot wake us: poll.
	 */
	atomic_thread_fence_seq_cst();
	while (atomic_load_acq_int(&sc->inside) > 0)
		pause_sbt("kupidle", SBT_1MS, 0, 0);

	/* The kern side's pages and readiness; the rest goes with sc. */
	for (i = 0; i < sc->d.chan_cnt; i++) {
		ch = &sc->chans[i];
		sx_xlock(&ch->api);
		while ((lent = kup_loan_drain(&ch->c.loans)) != NULL)
			kup_mem_put(lent);
		kup_mem_put(ch->emem);
		ch->emem = NULL;
		sx_xunlock(&ch->api);
		kup_chan_drain(ch);
	}
	seldrain(&sc->sel);
	kup_sc_release(sc); /* the device's: freed now, or by the last mapping or knote */
	return (0);
}

/* --- core's contract for device-wide calls (kup_os.h) ----------------------- */

void kup_os_dev_lock(struct kupdev_softc *sc)
{
	mtx_lock(&sc->mtx);
}

void kup_os_dev_unlock(struct kupdev_softc *sc)
{
	mtx_unlock(&sc->mtx);
}

struct kup_chan *kup_os_chan(struct kupdev_softc *sc, uint32_t id)
{
	return (&sc->chans[id].c);
}

/* sc->mtx held (core's device lock); the attach itself is under ch->mtx. */
int kup_os_attached(struct kupdev_softc *sc, uint32_t id)
{
	struct kup_kchan *ch = &sc->chans[id];
	int r;

	mtx_lock(&ch->mtx);
	r = ch->cur != NULL && !ch->dying;
	mtx_unlock(&ch->mtx);
	return (r);
}

int kup_os_attach_sleep(struct kupdev_softc *sc, int64_t timeout_ns)
{
	int error = 0;

	mtx_lock(&sc->mtx);
	if (!sc->d.dead && !kup_pend_any(&sc->d.pending))
		error = kup_cv_wait(&sc->attach_cv, &sc->mtx, kup_deadline(timeout_ns));
	mtx_unlock(&sc->mtx);
	if (error == EWOULDBLOCK)
		return (-EKU_TIMEDOUT);
	return (error != 0 ? -EKU_INTR : 0);
}

/* A default mutex: fine in callouts and interrupt threads, as kupdev.h allows. */
void kup_os_notify(struct kupdev_softc *sc)
{
	mtx_lock(&sc->mtx);
	sc->notify++;
	cv_broadcast(&sc->notify_cv);
	KNOTE_LOCKED(&sc->sel.si_note, 0); /* device handles' knotes */
	mtx_unlock(&sc->mtx);
	selwakeup(&sc->sel);
}

/* --- kup.ko load and unload ------------------------------------------------- */

/*
 * A softc still exists: a device its module never unloaded, or one kept by
 * a process mapping (whose pager ops are kup.ko's): kup.ko must stay.
 */
int kup_devs_busy(void)
{
	int busy;

	mtx_lock(&kup_devs_mtx);
	busy = !LIST_EMPTY(&kup_devs);
	mtx_unlock(&kup_devs_mtx);
	return (busy);
}

/* --- live state: sysctl dev.kup.stat --------------------------------------- */

SYSCTL_NODE(_dev, OID_AUTO, kup, CTLFLAG_RD | CTLFLAG_MPSAFE, 0, "KUP devices");

/*
 * One channel's line (core/kup_stat.h) under ch->mtx, which keeps the
 * attach's pages (cur holds a reference on them) and orders the read with
 * attach and detach; no channel call holds it while it waits.
 */
static uint32_t kup_stat_line(struct kupdev_softc *sc, uint32_t id, char *line)
{
	struct kup_kchan *ch = &sc->chans[id];
	const uint8_t *kb;
	uint32_t n;

	mtx_lock(&ch->mtx);
	kb = ch->cur != NULL ? (const uint8_t *)ch->cur->kva : NULL;
	n = kup_stat_chan(line, &ch->c, id,
	                  ch->cur != NULL && ch->owner != NULL ? ch->owner->pid : 0, kb,
	                  kb != NULL ? kb + KUP_OFF_UCTL(sc->d.size) : NULL);
	mtx_unlock(&ch->mtx);
	return (n);
}

/*
 * Every device's state, one block each (its header line, then a line per
 * channel).  Each device is held by a reference while its lines are made
 * and copied out, so no lock is held across the copy.
 */
static int kup_sysctl_stat(SYSCTL_HANDLER_ARGS)
{
	struct kupdev_softc *sc, **held;
	struct sbuf sb;
	u_int n = 0, max, i;
	uint32_t j;
	char *line;
	int error;

	mtx_lock(&kup_devs_mtx);
	LIST_FOREACH(sc, &kup_devs, link)
	n++;
	mtx_unlock(&kup_devs_mtx);
	max = n + 16; /* devices created meanwhile wait for the next read */
	held = malloc(sizeof(*held) * max, M_KUP, M_WAITOK);
	line = malloc(KUP_STAT_LINE, M_KUP, M_WAITOK);
	n = 0;
	mtx_lock(&kup_devs_mtx);
	LIST_FOREACH(sc, &kup_devs, link)
	if (n < max && refcount_acquire_if_not_zero(&sc->refs))
		held[n++] = sc;
	mtx_unlock(&kup_devs_mtx);

	sbuf_new_for_sysctl(&sb, NULL, 4096, req);
	for (i = 0; i < n; i++) {
		sc = held[i];
		sbuf_bcat(&sb, line, kup_stat_head(line, sc->name, &sc->d));
		for (j = 0; j < sc->d.chan_cnt; j++)
			sbuf_bcat(&sb, line, kup_stat_line(sc, j, line));
		kup_sc_release(sc);
	}
	error = sbuf_finish(&sb);
	sbuf_delete(&sb);
	free(line, M_KUP);
	free(held, M_KUP);
	return (error);
}
SYSCTL_PROC(_dev_kup, OID_AUTO, stat, CTLTYPE_STRING | CTLFLAG_RD | CTLFLAG_MPSAFE, NULL, 0,
            kup_sysctl_stat, "A", "every KUP device's channels (kup-stat text, kupctl(1))");
