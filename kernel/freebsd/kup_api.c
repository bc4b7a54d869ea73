/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_api.c - the kupdev_* API of kupdev.h on FreeBSD.
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
#include <sys/selinfo.h>
#include <sys/sx.h>

#include "kup_fbsd.h"

MALLOC_DEFINE(M_KUP, "kup", "KUP devices and channels");

static LIST_HEAD(, kupdev_softc) kup_devs = LIST_HEAD_INITIALIZER(kup_devs);
static struct mtx kup_devs_mtx;
MTX_SYSINIT(kup_devs, &kup_devs_mtx, "kup devices", MTX_DEF);
static int kup_create_err; /* atomic: why the last kupdev_create failed */

/* --- time ----------------------------------------------------------------- */

#define KUP_NS_MAX_SLEEP (3600 * (int64_t)1000000000) /* one cv wait at most */

/* Absolute deadline in kup_now_ns() time, or -1 for none. */
int64_t
kup_deadline(int64_t timeout_ns)
{
	int64_t now;

	if (timeout_ns < 0)
		return (-1);
	now = kup_now_ns();
	return (timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns);
}

static sbintime_t
kup_ns_to_sbt(int64_t ns)
{
	return (((sbintime_t)(ns / 1000000000) << 32) +
	    (sbintime_t)(((uint64_t)(ns % 1000000000) << 32) / 1000000000));
}

/*
 * One interruptible wait on cv (m held) until the deadline: 0 (woken, or a
 * long deadline not reached yet), EWOULDBLOCK, EINTR.  ERESTART becomes
 * EINTR: a restarted call would start its timeout over.
 */
int
kup_cv_wait(struct cv *cv, struct mtx *m, int64_t deadline)
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

/* --- entering and leaving --------------------------------------------------- */

static int
kup_enter(struct kupdev_softc *sc)
{
	if (sc == NULL)
		return (-EKU_INVAL);
	atomic_add_int(&sc->inside, 1);
	/* Pairs with kupdev_unload: it sets dead, fences, then reads inside. */
	atomic_thread_fence_seq_cst();
	if (atomic_load_acq_int(&sc->dead)) {
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
static void
kup_leave(struct kupdev_softc *sc)
{
	atomic_subtract_rel_int(&sc->inside, 1);
}

/* A call about one channel: sc entered, the id checked and clamped. */
static int
kup_enter_chan(struct kupdev_softc *sc, int chan_id, struct kup_fchan **chp)
{
	int r;

	r = kup_enter(sc);
	if (r != 0)
		return (r);
	if (chan_id < 0 || (uint32_t)chan_id >= sc->chan_cnt) {
		kup_leave(sc);
		return (-EKU_RANGE);
	}
	*chp = &sc->chans[kup_index_nospec((uint32_t)chan_id, sc->chan_cnt)];
	return (0);
}

/* A channel call: 0 with ch->api held (and sc entered), or -EKU_*. */
static int
kup_chan_enter(struct kupdev_softc *sc, int chan_id, struct kup_fchan **chp)
{
	struct kup_fchan *ch;
	uint32_t gen;
	int r;

	r = kup_enter_chan(sc, chan_id, &ch);
	if (r != 0)
		return (r);
	if (sx_xlock_sig(&ch->api) != 0) {
		kup_leave(sc);
		return (-EKU_INTR);
	}
	r = kup_chan_switch(ch, 0);
	if (r != 0) {
		atomic_store_rel_int(&ch->last_err, -r);
		sx_xunlock(&ch->api);
		kup_leave(sc);
		return (r);
	}
	if (ch->emem == NULL) {
		/* No process ever attached the channel. */
		mtx_lock(&ch->mtx);
		r = ch->dying ? EKU_SHUTDOWN : (int)kup_load_once(&ch->e.local);
		mtx_unlock(&ch->mtx);
		sx_xunlock(&ch->api);
		kup_leave(sc);
		return (-(r != 0 ? r : EKU_CLOSED));
	}
	gen = atomic_load_acq_32(&sc->spin_gen);
	if (gen != ch->spin_gen) {
		mtx_lock(&sc->mtx);
		ch->e.spin_ns = sc->spin_ns;
		mtx_unlock(&sc->mtx);
		ch->spin_gen = gen;
	}
	*chp = ch;
	return (0);
}

static int
kup_chan_leave(struct kup_fchan *ch, int r)
{
	struct kupdev_softc *sc = ch->sc;

	atomic_store_rel_int(&ch->last_err, r < 0 ? -r : 0);
	if (kup_session_ending(r)) {
		mtx_lock(&ch->mtx);
		kup_session_told(&ch->sess);
		mtx_unlock(&ch->mtx);
	}
	sx_xunlock(&ch->api);
	kup_leave(sc);
	return (r);
}

/* Remember why a call that returns NULL or nothing failed (0: it did not). */
static void
kup_set_last(struct kupdev_softc *sc, int chan_id, int r)
{
	if (kup_enter(sc) != 0)
		return; /* kupdev_last_error answers EKU_SHUTDOWN by itself */
	if (chan_id >= 0 && (uint32_t)chan_id < sc->chan_cnt)
		atomic_store_rel_int(
		    &sc->chans[kup_index_nospec((uint32_t)chan_id, sc->chan_cnt)].last_err, -r);
	kup_leave(sc);
}

/* --- devices ---------------------------------------------------------------- */

static void
kup_chan_init(struct kupdev_softc *sc, struct kup_fchan *ch, uint32_t id)
{
	ch->sc = sc;
	ch->id = id;
	sx_init(&ch->api, "kup chan api");
	mtx_init(&ch->mtx, "kup chan", NULL, MTX_DEF);
	cv_init(&ch->kcv, "kupk");
	cv_init(&ch->ucv, "kupu");
	knlist_init_mtx(&ch->sel.si_note, &ch->mtx);
	ch->e.local = EKU_CLOSED; /* nobody attached yet */
}

/* Free a channel with its softc: nobody can reach it any more. */
static void
kup_chan_fini(struct kup_fchan *ch)
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
static void
kup_sc_free(struct kupdev_softc *sc)
{
	uint32_t i;

	for (i = 0; i < sc->chan_cnt; i++)
		kup_chan_fini(&sc->chans[i]);
	free(sc->chans, M_KUP);
	knlist_destroy(&sc->sel.si_note);
	cv_destroy(&sc->attach_cv);
	cv_destroy(&sc->notify_cv);
	mtx_destroy(&sc->mtx);
	free(sc, M_KUP);
}

/* An open file or a mapping takes a reference while sc is reachable. */
void
kup_sc_hold(struct kupdev_softc *sc)
{
	refcount_acquire(&sc->refs);
}

/*
 * Drop a reference; the last frees sc.  Never the caller of a kupdev_*
 * call (unload holds the device's reference until they left), so the
 * last one is dropped by kupdev_unload, a cdevpriv destructor or a pager
 * destructor: all may sleep, though freeing does not.
 */
void
kup_sc_release(struct kupdev_softc *sc)
{
	if (!refcount_release(&sc->refs))
		return;
	mtx_lock(&kup_devs_mtx);
	LIST_REMOVE(sc, link);
	mtx_unlock(&kup_devs_mtx);
	kup_sc_free(sc);
}

struct kupdev_softc *
kupdev_create_attr(const char *name, size_t size, size_t chan_cnt, const struct kupdev_attr *attr)
{
	struct kupdev_softc *sc;
	uint32_t i;
	int error;

	error = -kup_create_check(name, size, chan_cnt);
	if (error == 0 && (PAGE_SIZE != KUP_PAGE || (attr != NULL && (attr->mode & ~07777u) != 0)))
		error = EKU_INVAL;
	if (error != 0) {
		atomic_store_rel_int(&kup_create_err, error);
		return (NULL);
	}
	sc = malloc(sizeof(*sc), M_KUP, M_WAITOK | M_ZERO);
	strlcpy(sc->name, name, sizeof(sc->name));
	sc->size = (uint32_t)size;
	sc->cap = (uint32_t)size * KUP_PAGE;
	sc->chan_cnt = (uint32_t)chan_cnt;
	sc->spin_ns = KUP_DEFAULT_SPIN_NS;
	mtx_init(&sc->mtx, "kup dev", NULL, MTX_DEF);
	refcount_init(&sc->refs, 1); /* the device's, until kupdev_unload */
	cv_init(&sc->attach_cv, "kupattach");
	cv_init(&sc->notify_cv, "kupnotify");
	knlist_init_mtx(&sc->sel.si_note, &sc->mtx);
	sc->chans = malloc(sizeof(*sc->chans) * sc->chan_cnt, M_KUP, M_WAITOK | M_ZERO);
	for (i = 0; i < sc->chan_cnt; i++)
		kup_chan_init(sc, &sc->chans[i], i);

	error = kup_dev_create(sc, attr);
	if (error != 0) {
		if (error != EEXIST)
			printf("kup: cannot create /dev/%s: error %d\n", name, error);
		atomic_store_rel_int(&kup_create_err, error == EEXIST ? EKU_EXIST : EKU_SYS);
		kup_sc_free(sc);
		return (NULL);
	}
	mtx_lock(&kup_devs_mtx);
	LIST_INSERT_HEAD(&kup_devs, sc, link);
	mtx_unlock(&kup_devs_mtx);
	return (sc);
}

struct kupdev_softc *
kupdev_create(const char *name, size_t size, size_t chan_cnt)
{
	return (kupdev_create_attr(name, size, chan_cnt, NULL));
}

/* Unload, for one channel: fail every call with EKU_SHUTDOWN and tell the process. */
void
kup_chan_shutdown(struct kup_fchan *ch)
{
	mtx_lock(&ch->mtx);
	ch->dying = 1;
	kup_end_set_local(&ch->e, EKU_SHUTDOWN);
	mtx_unlock(&ch->mtx);
	kup_chan_wake_all(ch);

	/* The sx holder, if any, returns now that local is set. */
	sx_xlock(&ch->api);
	(void)kup_chan_switch(ch, 1); /* an attach the kern side has not seen yet hears it too */
	if (ch->emem != NULL && ch->e.state == KUP_ST_OPEN)
		kup_end_close(&ch->e, KUP_ST_SHUTDOWN);
	kup_end_set_local(&ch->e, EKU_SHUTDOWN);
	sx_xunlock(&ch->api);
	kup_chan_wake_all(ch);
}

/* Wake everyone with EKU_SHUTDOWN; sc stays valid.  Runs once. */
static void
kup_dev_shutdown(struct kupdev_softc *sc)
{
	uint32_t i;

	mtx_lock(&sc->mtx);
	if (atomic_load_acq_int(&sc->dead)) {
		mtx_unlock(&sc->mtx);
		return;
	}
	atomic_store_rel_int(&sc->dead, 1);
	cv_broadcast(&sc->attach_cv);
	cv_broadcast(&sc->notify_cv);
	KNOTE_LOCKED(&sc->sel.si_note, 0); /* device handles' knotes: EV_EOF */
	mtx_unlock(&sc->mtx);
	selwakeup(&sc->sel);

	for (i = 0; i < sc->chan_cnt; i++)
		kup_chan_shutdown(&sc->chans[i]);
}

int
kupdev_shutdown(struct kupdev_softc *sc)
{

	if (sc == NULL)
		return (-EKU_INVAL);
	/*
	 * Counted like any caller, but not refused once dead: a racing
	 * kupdev_unload finds the device dead already and must still wait
	 * until we are done with the channels.
	 */
	atomic_add_int(&sc->inside, 1);
	atomic_thread_fence_seq_cst();
	kup_dev_shutdown(sc);
	kup_leave(sc);
	return (0);
}

int
kupdev_unload(struct kupdev_softc *sc)
{
	struct kup_fchan *ch;
	uint32_t i;

	if (sc == NULL)
		return (-EKU_INVAL);
	mtx_lock(&sc->mtx);
	if (sc->unloading) {
		mtx_unlock(&sc->mtx);
		return (-EKU_SHUTDOWN); /* a racing second unload: the first frees */
	}
	atomic_store_rel_int(&sc->unloading, 1);
	mtx_unlock(&sc->mtx);
	kup_dev_shutdown(sc);
	/*
	 * Device handles' knotes (fired: EV_EOF) hook their file's cdevpriv,
	 * which destroy_dev frees below: drop them first.  None is added once
	 * the device is dead (kup_d_kqfilter).
	 */
	knlist_delete(&sc->sel.si_note, curthread, 0);

	/*
	 * Waits for threads inside our d_* methods (all woken above), then runs
	 * the destructor of every file still open: each detaches its channel
	 * and drops its reference.  Files stay open in their processes but see
	 * a dead device (ENXIO); mappings keep the pages and a reference.
	 */
	destroy_dev(sc->cdev);
	sc->cdev = NULL;

	/*
	 * API callers leave (all woken above).  kup_leave's release store is
	 * their last touch of sc, so they cannot wake us: poll.
	 */
	atomic_thread_fence_seq_cst();
	while (atomic_load_acq_int(&sc->inside) > 0)
		pause_sbt("kupidle", SBT_1MS, 0, 0);

	/* The kern side's pages and readiness; the rest goes with sc. */
	for (i = 0; i < sc->chan_cnt; i++) {
		ch = &sc->chans[i];
		sx_xlock(&ch->api);
		kup_mem_put(ch->emem);
		ch->emem = NULL;
		sx_xunlock(&ch->api);
		kup_chan_drain(ch);
	}
	seldrain(&sc->sel);
	knlist_delete(&sc->sel.si_note, curthread, 0);
	kup_sc_release(sc); /* the device's: freed now, or by the last mapping */
	return (0);
}

/* kupdev_wait_channel's condition: an attach not yet reported, or shutdown. */
static int
kup_wait_check(void *arg)
{
	struct kupdev_softc *sc = arg;
	uint32_t i, n;
	int r = -EKU_NOTREADY;

	mtx_lock(&sc->mtx);
	if (atomic_load_acq_int(&sc->dead)) {
		r = -EKU_SHUTDOWN;
	} else if (sc->npending > 0) {
		/* Round robin, so one busy channel cannot hide the others. */
		for (n = 0, i = sc->scan % sc->chan_cnt; n < sc->chan_cnt; n++) {
			if (sc->chans[i].pending)
				break;
			i = (i + 1) % sc->chan_cnt;
		}
		KASSERT(n < sc->chan_cnt, ("kup: npending without a pending channel"));
		sc->chans[i].pending = 0;
		/* This thread holds the attach now (core's session rule). */
		mtx_lock(&sc->chans[i].mtx);
		sc->chans[i].handed_gen = sc->chans[i].gen;
		sc->chans[i].holder = curthread;
		mtx_unlock(&sc->chans[i].mtx);
		sc->npending--;
		sc->scan = i + 1;
		r = (int)i;
	}
	mtx_unlock(&sc->mtx);
	return (r);
}

static int
kup_wait_sleep(void *arg, int64_t timeout_ns)
{
	struct kupdev_softc *sc = arg;
	int error = 0;

	mtx_lock(&sc->mtx);
	if (!atomic_load_acq_int(&sc->dead) && sc->npending == 0)
		error = kup_cv_wait(&sc->attach_cv, &sc->mtx, kup_deadline(timeout_ns));
	mtx_unlock(&sc->mtx);
	if (error == EWOULDBLOCK)
		return (-EKU_TIMEDOUT);
	return (error != 0 ? -EKU_INTR : 0);
}

static const struct kup_cond_ops kup_wait_ops = {
    .check = kup_wait_check,
    .sleep = kup_wait_sleep,
};

int
kupdev_wait_channel_timed(struct kupdev_softc *sc, int flags, int64_t timeout_ns)
{
	int r;

	r = kup_enter(sc);
	if (r != 0)
		return (r);
	r = kup_cond_wait(&kup_wait_ops, sc, flags, timeout_ns);
	kup_leave(sc);
	return (r);
}

int
kupdev_wait_channel(struct kupdev_softc *sc)
{
	return (kupdev_wait_channel_timed(sc, 0, KUP_FOREVER));
}

int
kupdev_claim_channel(struct kupdev_softc *sc, int chan_id)
{
	struct kup_fchan *ch;
	int r;

	r = kup_enter_chan(sc, chan_id, &ch);
	if (r != 0)
		return (r);
	mtx_lock(&ch->mtx);
	ch->holder = curthread;
	mtx_unlock(&ch->mtx);
	kup_leave(sc);
	return (0);
}

void
kupdev_notify(struct kupdev_softc *sc)
{
	if (kup_enter(sc) != 0)
		return;
	mtx_lock(&sc->mtx);
	sc->notify++;
	cv_broadcast(&sc->notify_cv);
	KNOTE_LOCKED(&sc->sel.si_note, 0); /* device handles' knotes */
	mtx_unlock(&sc->mtx);
	selwakeup(&sc->sel);
	kup_leave(sc);
}

/* --- channel calls ------------------------------------------------------------ */

int
kupdev_send_timed(struct kupdev_softc *sc, int chan_id, const void *data, size_t len, int flags,
    int64_t timeout_ns)
{
	struct kup_fchan *ch;
	int r;

	if (!kup_flags_ok(flags))
		return (-EKU_INVAL);
	r = kup_chan_enter(sc, chan_id, &ch);
	if (r != 0)
		return (r);
	r = kup_end_send(&ch->e, data, len, flags, timeout_ns);
	return (kup_chan_leave(ch, r));
}

int
kupdev_send(struct kupdev_softc *sc, void *data, size_t len, int chan_id)
{
	return (kupdev_send_timed(sc, chan_id, data, len, 0, KUP_FOREVER));
}

static int
kup_recv(struct kupdev_softc *sc, int chan_id, const void **data, size_t *len, int flags,
    int64_t timeout_ns, int copy)
{
	struct kup_fchan *ch;
	const void *d;
	uint32_t l;
	int r;

	if (!kup_flags_ok(flags))
		return (-EKU_INVAL);
	r = kup_chan_enter(sc, chan_id, &ch);
	if (r != 0)
		return (r);
	r = kup_end_recv(&ch->e, flags, timeout_ns, &d, &l, copy);
	if (r == 0) {
		*data = d;
		*len = l;
	}
	return (kup_chan_leave(ch, r));
}

int
kupdev_recv(
    struct kupdev_softc *sc, int chan_id, void **data, size_t *len, int flags, int64_t timeout_ns)
{
	const void *d = NULL;
	int r;

	if (data == NULL || len == NULL)
		return (-EKU_INVAL);
	r = kup_recv(sc, chan_id, &d, len, flags, timeout_ns, 1);
	/* The copy is kup.ko's own buffer, handed to the module to read. */
	*data = __DECONST(void *, d);
	return (r);
}

int
kupdev_recv_shared_untrusted(struct kupdev_softc *sc, int chan_id, const void **data, size_t *len,
    int flags, int64_t timeout_ns)
{
	if (data == NULL || len == NULL)
		return (-EKU_INVAL);
	return (kup_recv(sc, chan_id, data, len, flags, timeout_ns, 0));
}

void *
kupdev_receive(struct kupdev_softc *sc, int chan_id)
{
	void *data = NULL;
	size_t len;
	int r;

	r = kupdev_recv(sc, chan_id, &data, &len, 0, KUP_FOREVER);
	kup_set_last(sc, chan_id, r);
	return (r == 0 ? data : NULL);
}

void
kupdev_unlock_channel(struct kupdev_softc *sc, int chan_id)
{
	/* The copy stays ours until the next receive or send: nothing to free. */
	(void)sc;
	(void)chan_id;
}

int
kupdev_send_buf(
    struct kupdev_softc *sc, int chan_id, void **buf, size_t *cap, int flags, int64_t timeout_ns)
{
	struct kup_fchan *ch;
	uint32_t c;
	int r;

	if (buf == NULL || cap == NULL || !kup_flags_ok(flags))
		return (-EKU_INVAL);
	r = kup_chan_enter(sc, chan_id, &ch);
	if (r != 0)
		return (r);
	r = kup_end_txbuf(&ch->e, flags, timeout_ns, buf, &c);
	if (r == 0)
		*cap = c;
	return (kup_chan_leave(ch, r));
}

int
kupdev_send_commit(struct kupdev_softc *sc, int chan_id, size_t len)
{
	struct kup_fchan *ch;
	int r;

	r = kup_chan_enter(sc, chan_id, &ch);
	if (r != 0)
		return (r);
	r = kup_end_commit(&ch->e, len);
	return (kup_chan_leave(ch, r));
}

int
kupdev_pass_timed(struct kupdev_softc *sc, int chan_id, int flags, int64_t timeout_ns)
{
	struct kup_fchan *ch;
	int r;

	if (!kup_flags_ok(flags))
		return (-EKU_INVAL);
	r = kup_chan_enter(sc, chan_id, &ch);
	if (r != 0)
		return (r);
	r = kup_end_pass(&ch->e, flags, timeout_ns);
	return (kup_chan_leave(ch, r));
}

void
kupdev_pass(struct kupdev_softc *sc, int chan_id)
{
	kup_set_last(sc, chan_id, kupdev_pass_timed(sc, chan_id, 0, KUP_FOREVER));
}

/* --- settings and queries ------------------------------------------------------ */

void
kupdev_set_spin(struct kupdev_softc *sc, int64_t spin_ns)
{
	if (kup_enter(sc) != 0)
		return;
	mtx_lock(&sc->mtx);
	sc->spin_ns = spin_ns;
	atomic_add_rel_32(&sc->spin_gen, 1);
	mtx_unlock(&sc->mtx);
	kup_leave(sc);
}

size_t
kupdev_capacity(struct kupdev_softc *sc)
{
	return (sc != NULL ? sc->cap : 0);
}

size_t
kupdev_channel_count(struct kupdev_softc *sc)
{
	return (sc != NULL ? sc->chan_cnt : 0);
}

int
kupdev_attached(struct kupdev_softc *sc, int chan_id)
{
	struct kup_fchan *ch;
	int r;

	r = kup_enter_chan(sc, chan_id, &ch);
	if (r != 0)
		return (r);
	mtx_lock(&ch->mtx);
	r = ch->cur != NULL && !ch->dying;
	/* Seeing nothing attached, the module knows its process left. */
	if (ch->cur == NULL)
		kup_session_told(&ch->sess);
	mtx_unlock(&ch->mtx);
	kup_leave(sc);
	return (r);
}

int
kupdev_last_error(struct kupdev_softc *sc, int chan_id)
{
	int r;

	if (sc == NULL) /* kupdev_create failed: why */
		return (atomic_load_acq_int(&kup_create_err));
	r = kup_enter(sc);
	if (r != 0)
		return (-r);
	if (chan_id < 0 || (uint32_t)chan_id >= sc->chan_cnt)
		r = EKU_RANGE;
	else
		r = atomic_load_acq_int(
		    &sc->chans[kup_index_nospec((uint32_t)chan_id, sc->chan_cnt)].last_err);
	kup_leave(sc);
	return (r);
}

/*
 * Counters of the channel over all its attaches.  Taken under the channel
 * mutex, not the sx (a call may hold that for as long as it waits), so a
 * call in progress may be half counted.
 */
int
kupdev_stats(struct kupdev_softc *sc, int chan_id, struct kupdev_stats *st)
{
	struct kup_fchan *ch;
	struct kup_counters c;
	int r;

	if (st == NULL)
		return (-EKU_INVAL);
	r = kup_enter_chan(sc, chan_id, &ch);
	if (r != 0)
		return (r);
	mtx_lock(&ch->mtx);
	c = ch->base;
	if (ch->emem != NULL)
		kup_counters_add(&c, &ch->e.cnt);
	memset(st, 0, sizeof(*st));
	kup_counters_to_stats(st, &c);
	st->attaches = ch->attaches;
	mtx_unlock(&ch->mtx);
	kup_leave(sc);
	return (0);
}

const char *
kup_strerror(int code)
{
	return (kup_core_strerror(code));
}

/* --- kup.ko load and unload ------------------------------------------------- */

/*
 * A softc still exists: a device its module never unloaded, or one kept by
 * a process mapping (whose pager ops are kup.ko's): kup.ko must stay.
 */
int
kup_devs_busy(void)
{
	int busy;

	mtx_lock(&kup_devs_mtx);
	busy = !LIST_EMPTY(&kup_devs);
	mtx_unlock(&kup_devs_mtx);
	return (busy);
}
