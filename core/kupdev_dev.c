/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kupdev_dev.c - the device-wide kupdev_* calls, once for every kern-side
 * host, over kup_os.h: waiting for attaches (oldest first), handing an
 * attach to the thread that takes it, the session rule's "told" from
 * kupdev_attached, settings, counters, last errors; and the checks and
 * defaults of a device's creation.  Creating, shutting down and unloading
 * the device itself are the host's (device nodes, wait queues, the order
 * in which an OS lets go of them).
 */
#include "kup_os.h"

static uint32_t create_err; /* why the last kupdev_create failed (kupdev_last_error(NULL, _)) */

KUP_API struct kupdev_softc *kupdev_create_attr(const char *name, size_t size, size_t chan_cnt,
                                                const struct kupdev_attr *attr)
{
	struct kupdev_attr a = {.uid = 0, .gid = 0, .mode = 0600, .flags = 0};
	struct kupdev_softc *sc = NULL;
	int r = kup_create_check(name, size, chan_cnt);

	if (!r && attr) {
		a = *attr;
		if (a.mode & ~07777u)
			r = -EKU_INVAL; /* permission bits only */
		else if (!a.mode)
			a.mode = 0600;
	}
	if (!r) {
		sc = kup_os_dev_create(name, (uint32_t)size, (uint32_t)chan_cnt, &a, &r);
		r = sc ? 0 : -(r ? r : EKU_SYS);
	}
	if (r)
		kup_store_once(&create_err, (uint32_t)-r);
	return sc;
}

KUP_API struct kupdev_softc *kupdev_create(const char *name, size_t size, size_t chan_cnt)
{
	return kupdev_create_attr(name, size, chan_cnt, NULL);
}

KUP_API int kupdev_shutdown(struct kupdev_softc *sc)
{
	return sc ? kup_os_dev_shutdown(sc) : -EKU_INVAL;
}

KUP_API int kupdev_unload(struct kupdev_softc *sc)
{
	return sc ? kup_os_dev_unload(sc) : -EKU_INVAL;
}

void kup_dev_setup(struct kup_dev *d, uint32_t size, uint32_t chan_cnt, void *pend_mem,
                   int64_t spin_ns)
{
	d->size = size;
	d->cap = size * KUP_PAGE;
	d->chan_cnt = chan_cnt;
	d->dead = 0;
	d->spin_ns = (uint64_t)spin_ns;
	kup_pend_init(&d->pending, pend_mem, chan_cnt);
}

/*
 * Enter a device-wide call about channel chan_id: counted in, the id
 * bounded and clamped.  The clamped id (>= 0) and *chp, or -EKU_*.
 */
static int dev_enter_chan(struct kupdev_softc *sc, int chan_id, struct kup_chan **chp)
{
	uint32_t id;
	int r = kup_os_enter(sc);

	if (r < 0) /* 0 or -EKU_* (kup_os.h) */
		return r;
	if (chan_id < 0 || (uint32_t)chan_id >= KUP_DEV(sc)->chan_cnt) {
		kup_os_leave(sc);
		return -EKU_RANGE;
	}
	id = kup_index_nospec((uint32_t)chan_id, KUP_DEV(sc)->chan_cnt);
	*chp = kup_os_chan(sc, id);
	return (int)id;
}

/* kupdev_wait_channel's condition: an attach not yet reported, or shutdown. */
static int wait_check(void *arg)
{
	struct kupdev_softc *sc = arg;
	struct kup_dev *d = KUP_DEV(sc);
	struct kup_chan *ch;
	int r;

	/* Peek first: a spinning (KUP_POLL) wait takes no lock until there is news. */
	if (!kup_dev_dead(d) && !kup_pend_any(&d->pending))
		return -EKU_NOTREADY;
	kup_os_dev_lock(sc);
	if (d->dead) {
		r = -EKU_SHUTDOWN;
	} else {
		r = kup_pend_pop(&d->pending);
		if (r >= 0) {
			/* This thread holds the attach now (the session rule). */
			ch = kup_os_chan(sc, (uint32_t)r);
			ch->handed = ch->gen;
			ch->holder = kup_os_self();
		} else {
			r = -EKU_NOTREADY;
		}
	}
	kup_os_dev_unlock(sc);
	return r;
}

static int wait_sleep(void *arg, int64_t timeout_ns)
{
	return kup_os_attach_sleep(arg, timeout_ns);
}

static const struct kup_cond_ops wait_ops = {
    .check = wait_check,
    .sleep = wait_sleep,
};

KUP_API int kupdev_wait_channel_timed(struct kupdev_softc *sc, int flags, int64_t timeout_ns)
{
	int r = kup_os_enter(sc);

	if (r)
		return r;
	r = kup_cond_wait(&wait_ops, sc, flags, timeout_ns);
	kup_os_leave(sc);
	return r;
}

KUP_API int kupdev_wait_channel(struct kupdev_softc *sc)
{
	return kupdev_wait_channel_timed(sc, 0, KUP_FOREVER);
}

KUP_API int kupdev_claim_channel(struct kupdev_softc *sc, int chan_id)
{
	struct kup_chan *ch;
	int r = dev_enter_chan(sc, chan_id, &ch);

	if (r < 0)
		return r;
	kup_os_dev_lock(sc);
	ch->holder = kup_os_self();
	kup_os_dev_unlock(sc);
	kup_os_leave(sc);
	return 0;
}

KUP_API int kupdev_attached(struct kupdev_softc *sc, int chan_id)
{
	struct kup_chan *ch;
	int id = dev_enter_chan(sc, chan_id, &ch), r;

	if (id < 0)
		return id;
	kup_os_dev_lock(sc);
	r = kup_os_attached(sc, (uint32_t)id);
	/* Seeing 0, the module knows its process left (the session rule). */
	if (!r)
		kup_session_told(&ch->sess, kup_os_self());
	kup_os_dev_unlock(sc);
	kup_os_leave(sc);
	return r;
}

KUP_API void kupdev_notify(struct kupdev_softc *sc)
{
	if (kup_os_enter(sc))
		return;
	kup_os_notify(sc);
	kup_os_leave(sc);
}

KUP_API void kupdev_set_spin(struct kupdev_softc *sc, int64_t spin_ns)
{
	if (sc)
		kup_store_once64(&KUP_DEV(sc)->spin_ns, (uint64_t)(spin_ns < 0 ? -1 : spin_ns));
}

KUP_API size_t kupdev_capacity(struct kupdev_softc *sc)
{
	return sc ? KUP_DEV(sc)->cap : 0;
}

KUP_API size_t kupdev_channel_count(struct kupdev_softc *sc)
{
	return sc ? KUP_DEV(sc)->chan_cnt : 0;
}

KUP_API int kupdev_last_error(struct kupdev_softc *sc, int chan_id)
{
	struct kup_chan *ch;
	int r;

	if (!sc)
		return (int)kup_load_once(&create_err);
	r = dev_enter_chan(sc, chan_id, &ch);
	if (r < 0)
		return -r;
	r = (int)kup_load_once(&ch->last_err);
	kup_os_leave(sc);
	return r;
}

/* Counters over all attaches, as they stand: never waits for a blocked call. */
KUP_API int kupdev_stats(struct kupdev_softc *sc, int chan_id, struct kupdev_stats *st)
{
	struct kup_counters c;
	struct kup_chan *ch;
	int r;

	if (!st)
		return -EKU_INVAL;
	kup_memset(st, 0, sizeof(*st));
	r = dev_enter_chan(sc, chan_id, &ch);
	if (r < 0)
		return r;
	kup_counters_load(&c, &ch->e.cnt);
	kup_counters_to_stats(st, &c);
	kup_os_dev_lock(sc);
	st->attaches = ch->attaches;
	kup_os_dev_unlock(sc);
	kup_os_leave(sc);
	return 0;
}
