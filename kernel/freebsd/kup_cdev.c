/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_cdev.c - the character device /dev/NAME, the process's side: its
 * node, open files, attach and detach, the ioctls the process sleeps and
 * wakes with, poll, kqueue and mmap.
 *
 * No protocol decision is made here: the kernel reads its own block's turn
 * word (trusted) to decide whether a sleeping process must go on sleeping,
 * and compares two turn words for readiness; everything else is core's.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/condvar.h>
#include <sys/conf.h>
#include <sys/event.h>
#include <sys/fcntl.h>
#include <sys/kernel.h>
#include <sys/lock.h>
#include <sys/malloc.h>
#include <sys/mutex.h>
#include <sys/poll.h>
#include <sys/proc.h>
#include <sys/refcount.h>
#include <sys/selinfo.h>
#include <sys/sx.h>

#include <vm/vm.h>
#include <vm/vm_extern.h>

#include "kup_host.h"

static d_open_t kup_d_open;
static d_ioctl_t kup_d_ioctl;
static d_poll_t kup_d_poll;
static d_kqfilter_t kup_d_kqfilter;
static d_mmap_single_t kup_d_mmap_single;

static struct cdevsw kup_cdevsw = {
    .d_version = D_VERSION,
    .d_name = "kup",
    .d_open = kup_d_open,
    .d_ioctl = kup_d_ioctl,
    .d_poll = kup_d_poll,
    .d_kqfilter = kup_d_kqfilter,
    .d_mmap_single = kup_d_mmap_single,
};

/* A cv wait's error for an ioctl: 0, ETIMEDOUT or EINTR (never restarted). */
static int kup_wait_errno(int error)
{
	if (error == 0)
		return (0);
	return (error == EWOULDBLOCK ? ETIMEDOUT : EINTR);
}

static struct kup_kchan *kup_priv_chan(struct kup_kfile *priv)
{
	return ((struct kup_kchan *)atomic_load_acq_ptr((volatile uintptr_t *)&priv->ch));
}

/* Wake both sides' sleepers and readiness waiters (ch->mtx held). */
static void kup_chan_wake_locked(struct kup_kchan *ch)
{
	mtx_assert(&ch->mtx, MA_OWNED);
	cv_broadcast(&ch->kcv);
	cv_broadcast(&ch->ucv);
	KNOTE_LOCKED(&ch->sel.si_note, 0);
}

void kup_chan_wake_all(struct kup_kchan *ch)
{
	mtx_lock(&ch->mtx);
	kup_chan_wake_locked(ch);
	mtx_unlock(&ch->mtx);
	selwakeup(&ch->sel);
}

/*
 * The memory of attach number gen while it lasts, else NULL (ch->mtx held).
 * ch->cur holds a reference until detach, which clears it under ch->mtx.
 */
struct kup_kmem *kup_chan_attached(struct kup_kchan *ch, uint32_t gen)
{
	struct kup_kmem *mem = ch->cur;

	mtx_assert(&ch->mtx, MA_OWNED);
	return (mem != NULL && mem->gen == gen ? mem : NULL);
}

/*
 * The process's readiness for attach gen (ch->mtx held): -1 when the
 * channel is gone or closing, 1 when the process holds the turn, 0 when
 * the kernel does.  Each word is read once; the user's word only decides
 * a wake-up.
 */
static int kup_chan_ready(struct kup_kchan *ch, uint32_t gen)
{
	struct kup_kmem *mem;

	mtx_assert(&ch->mtx, MA_OWNED);
	mem = kup_chan_attached(ch, gen);
	if (ch->dying || mem == NULL)
		return (-1);
	return (kup_user_ready(kup_mem_kctl(mem), kup_mem_uctl(mem, ch->sc->d.size)));
}

/* --- attach and detach ---------------------------------------------------- */

/*
 * Reserve a channel for priv (sc->mtx held, the device alive): want when
 * it is free; with KUP_ATTACH_ANY else the lowest free one.  Its index, or
 * -EBUSY (none free), -ESHUTDOWN.
 */
static int kup_reserve_locked(struct kupdev_softc *sc, struct kup_kfile *priv, uint32_t want,
                              uint32_t flags)
{
	uint32_t i, n = (flags & KUP_ATTACH_ANY) ? sc->d.chan_cnt + 1 : 1, idx;
	struct kup_kchan *ch;
	int dying;

	mtx_assert(&sc->mtx, MA_OWNED);
	for (i = 0; i < n; i++) {
		idx = i == 0 ? want : i - 1;
		ch = &sc->chans[idx];
		mtx_lock(&ch->mtx);
		dying = ch->dying;
		if (!dying && ch->owner == NULL) {
			ch->owner = priv; /* never a takeover */
			mtx_unlock(&ch->mtx);
			return ((int)idx);
		}
		mtx_unlock(&ch->mtx);
		if (dying)
			return (-ESHUTDOWN);
	}
	return (-EBUSY);
}

/*
 * KUP_IOC_ATTACH.  errno from kup_abi.h's KUP_IOC_ERRORS table, as on
 * Linux (libkup maps them back through it): EPROTO ABI, ERANGE channel id, EMSGSIZE size, EBUSY
 * held by another file (KUP_ATTACH_ANY: every channel), EISCONN this file is attached already,
 * ESHUTDOWN unloading; a waiting attach (KUP_ATTACH_WAIT) also ETIMEDOUT and EINTR.  It waits on
 * notify_cv, which kup_detach and the unload broadcast under sc->mtx, so no release slips by.
 */
static int kup_attach(struct kup_kfile *priv, struct kup_ioc_attach *a)
{
	struct kupdev_softc *sc = priv->sc;
	struct kup_kchan *ch;
	struct kup_kmem *mem;
	uint8_t *rx = NULL;
	int64_t deadline;
	int error = 0, idx = -1, mine = 0;

	error = kup_attach_check(a->abi, a->flags, a->chan, a->size, sc->d.size, sc->d.chan_cnt);
	if (error != 0)
		return (kup_ioc_errno(error));
	deadline = kup_deadline(a->timeout_ns);

	/* Refused below before anything is allocated. */
	mtx_lock(&sc->mtx);
	priv->pid = curproc->p_pid;
	if (atomic_load_acq_32(&sc->d.dead))
		error = ESHUTDOWN;
	else if (priv->attaching || kup_priv_chan(priv) != NULL)
		error = EISCONN; /* this file is a channel already */
	else
		priv->attaching = mine = 1;
	while (error == 0) {
		idx = kup_reserve_locked(sc, priv, kup_index_nospec(a->chan, sc->d.chan_cnt),
		                         a->flags);
		if (idx >= 0)
			break;
		if (idx != -EBUSY || !(a->flags & KUP_ATTACH_WAIT)) {
			error = -idx;
			break;
		}
		/* Every channel is taken: sleep until one is released or the device goes. */
		error = kup_wait_errno(kup_cv_wait(&sc->notify_cv, &sc->mtx, deadline));
		if (error == 0 && atomic_load_acq_32(&sc->d.dead))
			error = ESHUTDOWN;
	}
	if (error != 0 && mine)
		priv->attaching = 0;
	mtx_unlock(&sc->mtx);
	if (error)
		return (error);

	ch = &sc->chans[idx];
	mtx_lock(&ch->mtx);
	if (ch->rx_copy == NULL) {
		mtx_unlock(&ch->mtx);
		rx = malloc(sc->d.cap, M_KUP, M_WAITOK | M_ZERO);
		mtx_lock(&ch->mtx);
		if (ch->rx_copy == NULL) { /* only the owner gets here: set once */
			ch->rx_copy = rx;
			rx = NULL;
		}
	}
	mtx_unlock(&ch->mtx);
	free(rx, M_KUP);

	/* Fresh zeroed pages for every attach: nothing leaks between processes. */
	if (kup_mem_alloc(sc->d.size, &mem) != 0) {
		error = ENOMEM;
		goto release;
	}
	kup_chan_format((void *)mem->kva, (uint8_t *)mem->kva + KUP_OFF_UCTL(sc->d.size),
	                sc->d.size, (uint32_t)idx, sc->d.chan_cnt);
	kup_chan_set_mode((void *)mem->kva, a->flags); /* a stream attach: KUP_ATTACH_STREAM */
	mem->flags = a->flags;

	mtx_lock(&sc->mtx); /* c.gen and c.attaches are the session's: under sc->mtx too */
	mtx_lock(&ch->mtx);
	if (ch->dying) {
		mtx_unlock(&ch->mtx);
		mtx_unlock(&sc->mtx);
		kup_mem_put(mem);
		error = ESHUTDOWN;
		goto release;
	}
	mem->gen = ++ch->c.gen;
	ch->cur = mem; /* the allocation's reference, until detach */
	ch->c.attaches++;
	mtx_unlock(&ch->mtx);
	mtx_unlock(&sc->mtx);

	/*
	 * The channel is the attaching process's: only its address space may
	 * map it (not a forked child, an exec'd image or a process the fd was
	 * passed to).  The reference keeps the pointer from being reused.
	 */
	priv->vm = vmspace_acquire_ref(curproc);
	mtx_lock(&sc->mtx);
	priv->gen = mem->gen;
	atomic_store_rel_ptr((volatile uintptr_t *)&priv->ch, (uintptr_t)ch);
	priv->attaching = 0;
	kup_pend_push(&sc->d.pending, ch->id);
	cv_broadcast(&sc->attach_cv);
	mtx_unlock(&sc->mtx);
	SDT_PROBE3(kup, , chan, attach, sc->name, ch->id, priv->pid);
	a->chan = (uint32_t)idx;
	a->map_len = KUP_MAP_LEN(sc->d.size);
	a->flags |= KUP_ATTACH_CTL_RW;
	return (0);

release:
	mtx_lock(&sc->mtx);
	mtx_lock(&ch->mtx);
	ch->owner = NULL;
	mtx_unlock(&ch->mtx);
	priv->attaching = 0;
	cv_broadcast(&sc->notify_cv); /* the channel is free again: waiting attaches look */
	mtx_unlock(&sc->mtx);
	return (error);
}

/*
 * Attach gen ends (last close, the last munmap, process exit, destroy_dev),
 * once: whoever finds it still current clears ch->cur.  Tell the kern
 * side's end if it works on this attach and wake it, so a call holding
 * ch->api returns; publish CLOSING for a mapping left behind.  The
 * kernel's mapping stays until the kern side moves on (kup_chan_switch),
 * process mappings until their pager objects die.
 */
void kup_detach(struct kup_kchan *ch, uint32_t gen)
{
	struct kupdev_softc *sc = ch->sc;
	struct kup_kmem *mem;

	mtx_lock(&sc->mtx);
	mtx_lock(&ch->mtx);
	mem = kup_chan_attached(ch, gen);
	if (mem == NULL) {
		mtx_unlock(&ch->mtx);
		mtx_unlock(&sc->mtx);
		return;
	}
	kup_pend_drop(&sc->d.pending, ch->id); /* gone before kupdev_wait_channel saw it */
	SDT_PROBE4(kup, , chan, detach, sc->name, ch->id, (ch->owner != NULL ? ch->owner->pid : 0),
	           (ch->dying ? EKU_SHUTDOWN : EKU_CLOSED));
	if (ch->emem == mem)
		kup_end_set_local(&ch->c.e, ch->dying ? EKU_SHUTDOWN : EKU_CLOSED);
	ch->cur = NULL;
	ch->owner = NULL;
	kup_chan_wake_locked(ch);
	mtx_unlock(&ch->mtx);
	/* Attaches waiting for a free channel (KUP_ATTACH_WAIT) look again. */
	cv_broadcast(&sc->notify_cv);
	mtx_unlock(&sc->mtx);
	selwakeup(&ch->sel);

	sx_xlock(&ch->api);
	if (ch->emem == mem && ch->c.e.state == KUP_ST_OPEN)
		kup_end_close(&ch->c.e, KUP_ST_CLOSING);
	sx_xunlock(&ch->api);
	kup_mem_put(mem); /* the attach's reference */
}

/* cdevpriv destructor: runs once per open file, never inside a d_* method of it. */
static void kup_priv_dtor(void *arg)
{
	struct kup_kfile *priv = arg;
	struct kupdev_softc *sc = priv->sc;
	struct kup_kchan *ch = kup_priv_chan(priv);

	int knotes;

	if (ch != NULL)
		kup_detach(ch, priv->gen);
	if (priv->vm != NULL)
		vmspace_free(priv->vm);
	priv->vm = NULL;
	/*
	 * destroy_dev runs us while the file stays open: a device handle's
	 * knotes (kn_hook is priv) outlive us, and the last one frees priv.
	 */
	mtx_lock(&sc->mtx);
	priv->gone = 1;
	knotes = priv->knotes;
	mtx_unlock(&sc->mtx);
	if (knotes == 0)
		free(priv, M_KUP);
	kup_sc_release(sc); /* the file's reference: may free sc */
}

/* --- d_* methods ---------------------------------------------------------- */

static int kup_d_open(struct cdev *dev, int oflags, int devtype, struct thread *td)
{
	struct kupdev_softc *sc = dev->si_drv1;
	struct kup_kfile *priv;
	int error;

	priv = malloc(sizeof(*priv), M_KUP, M_WAITOK | M_ZERO);
	priv->sc = sc;
	/*
	 * destroy_dev waits for us to return, then runs the destructor of the
	 * cdevpriv set here, so an open racing kupdev_unload either fails
	 * here or is detached by it; sc lives meanwhile (the device's
	 * reference is dropped only after destroy_dev).
	 */
	mtx_lock(&sc->mtx);
	if (atomic_load_acq_32(&sc->d.dead)) {
		mtx_unlock(&sc->mtx);
		free(priv, M_KUP);
		return (ENXIO);
	}
	priv->nseen = sc->notify;
	kup_sc_hold(sc);
	mtx_unlock(&sc->mtx);
	error = devfs_set_cdevpriv(priv, kup_priv_dtor);
	if (error != 0) {
		free(priv, M_KUP);
		kup_sc_release(sc);
	}
	return (error);
}

/*
 * KUP_IOC_WAIT: the process sleeps while the kernel's turn word is `seen`.
 * 0 (woken or already different), ETIMEDOUT, EINTR, ESHUTDOWN, ENOTCONN
 * (detached: closed by munmap).  The pages are read only while the attach
 * lasts, under ch->mtx, which detach takes to end it.
 */
static int kup_ioc_wait(struct kup_kchan *ch, uint32_t gen, const struct kup_ioc_wait *w)
{
	int64_t deadline;
	struct kup_kmem *mem;
	int error = 0;

	if (w->spare != 0)
		return (EINVAL); /* reserved */
	deadline = kup_deadline(w->timeout_ns);
	mtx_lock(&ch->mtx);
	while (!ch->dying && (mem = kup_chan_attached(ch, gen)) != NULL &&
	       kup_load_acquire(&kup_mem_kctl(mem)->k.tw) == w->seen) {
		error = kup_cv_wait(&ch->ucv, &ch->mtx, deadline);
		if (error != 0)
			break;
	}
	if (ch->dying)
		error = ESHUTDOWN;
	else if (kup_chan_attached(ch, gen) == NULL)
		error = ENOTCONN;
	else
		error = kup_wait_errno(error);
	mtx_unlock(&ch->mtx);
	return (error);
}

/* KUP_IOC_NOTIFY: sleep until kupdev_notify moves the generation on; ESHUTDOWN at unload. */
static int kup_ioc_notify(struct kup_kfile *priv, const struct kup_ioc_wait *w)
{
	struct kupdev_softc *sc = priv->sc;
	int64_t deadline;
	int error = 0;

	if (w->spare != 0)
		return (EINVAL); /* reserved */
	deadline = kup_deadline(w->timeout_ns);
	mtx_lock(&sc->mtx);
	while (!atomic_load_acq_32(&sc->d.dead) && sc->notify == w->seen) {
		error = kup_cv_wait(&sc->notify_cv, &sc->mtx, deadline);
		if (error != 0)
			break;
	}
	if (error == 0 && atomic_load_acq_32(&sc->d.dead))
		error = -1;
	/* Seen only on success: after a timeout the caller keeps its old seen. */
	if (error == 0)
		priv->nseen = sc->notify;
	mtx_unlock(&sc->mtx);
	return (error < 0 ? ESHUTDOWN : kup_wait_errno(error));
}

static int kup_d_ioctl(struct cdev *dev, u_long cmd, caddr_t data, int fflag, struct thread *td)
{
	struct kupdev_softc *sc = dev->si_drv1;
	struct kup_kfile *priv;
	struct kup_kchan *ch;
	struct kup_ioc_info *info;
	int error;

	error = devfs_get_cdevpriv((void **)&priv);
	if (error != 0)
		return (error);
	ch = kup_priv_chan(priv);
	switch (cmd) {
	case KUP_IOC_INFO:
		info = (struct kup_ioc_info *)data;
		memset(info, 0, sizeof(*info));
		info->abi = KUP_ABI_VERSION;
		info->size = sc->d.size;
		info->chan_cnt = sc->d.chan_cnt;
		mtx_lock(&sc->mtx);
		info->notify = sc->notify;
		priv->nseen = sc->notify;
		info->state = atomic_load_acq_32(&sc->d.dead) ? KUP_ST_SHUTDOWN : KUP_ST_OPEN;
		mtx_unlock(&sc->mtx);
		return (0);
	case KUP_IOC_ATTACH:
		/* A read-only file holds no channel (its user block is writable), as on Linux. */
		if ((fflag & FWRITE) == 0)
			return (EPERM);
		return (kup_attach(priv, (struct kup_ioc_attach *)data));
	case KUP_IOC_WAIT:
		if (ch == NULL)
			return (ENOTCONN);
		return (kup_ioc_wait(ch, priv->gen, (struct kup_ioc_wait *)data));
	case KUP_IOC_WAKE:
		if (ch == NULL)
			return (ENOTCONN);
		mtx_lock(&ch->mtx);
		cv_broadcast(&ch->kcv);
		mtx_unlock(&ch->mtx);
		return (0);
	case KUP_IOC_NOTIFY:
		return (kup_ioc_notify(priv, (struct kup_ioc_wait *)data));
	default:
		return (ENOTTY);
	}
}

static int kup_d_poll(struct cdev *dev, int events, struct thread *td)
{
	struct kupdev_softc *sc = dev->si_drv1;
	struct kup_kfile *priv;
	struct kup_kchan *ch;
	int revents = 0, ready;

	if (devfs_get_cdevpriv((void **)&priv) != 0)
		return (POLLNVAL);
	ch = kup_priv_chan(priv);
	if (ch == NULL) {
		/* A device handle: readable when kupdev_notify moved on. */
		mtx_lock(&sc->mtx);
		if (atomic_load_acq_32(&sc->d.dead))
			revents = POLLHUP;
		else if (sc->notify != priv->nseen)
			revents = events & (POLLIN | POLLRDNORM);
		else if (events & (POLLIN | POLLRDNORM))
			selrecord(td, &sc->sel);
		mtx_unlock(&sc->mtx);
		return (revents);
	}
	mtx_lock(&ch->mtx);
	ready = kup_chan_ready(ch, priv->gen);
	if (ready < 0)
		revents = POLLHUP | (events & (POLLIN | POLLRDNORM));
	else if (ready)
		revents = events & (POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM);
	else if (events & (POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM))
		selrecord(td, &ch->sel);
	mtx_unlock(&ch->mtx);
	return (revents);
}

/*
 * kqueue.  A knote holds a reference on the softc from kup_d_kqfilter until
 * its f_detach, which kqueue calls when it drops the knote (close of the
 * fd, EV_DELETE, the kqueue's close, delivery of a oneshot event).  Unload
 * fires the knotes (EV_EOF) but leaves them on their knlists: a waiter
 * always collects the EV_EOF (a later f_event still answers EOF), and the
 * softc (so kn_hook) and kup.ko (so kn_fop) stay until the last knote
 * went, since kup.ko refuses to unload while a softc exists.  Neither
 * knlist_delete (the queued EV_EOF is lost) nor knlist_clear (the detached
 * knote keeps kn_fop, with no callback telling when it goes) would do.
 */

/* A channel: EVFILT_READ fires when the process holds the turn, EV_EOF when gone. */
static void kup_kn_detach(struct knote *kn)
{
	struct kup_kchan *ch = kn->kn_hook;
	struct kupdev_softc *sc = ch->sc;

	knlist_remove(&ch->sel.si_note, kn, 0);
	kup_sc_release(sc); /* the knote's reference: may free sc, ch with it */
}

static int kup_kn_event(struct knote *kn, long hint)
{
	struct kup_kchan *ch = kn->kn_hook;
	int ready;

	ready = kup_chan_ready(ch, (uint32_t)kn->kn_hookid); /* this file's attach */
	if (ready < 0) {
		kn->kn_flags |= EV_EOF;
		return (1);
	}
	kn->kn_data = ready;
	return (ready);
}

/* Not const: 12.x's knote holds a non-const filterops pointer. */
static struct filterops kup_read_filtops = {
    .f_isfd = 1,
    .f_detach = kup_kn_detach,
    .f_event = kup_kn_event,
};

/*
 * A device handle: EVFILT_READ once kupdev_notify moved past the generation
 * the file last read (as poll), EV_EOF at unload.  kn_hook is the file's
 * cdevpriv, which destroy_dev's destructor leaves to the file's last knote
 * to free (priv->knotes: a kevent on a device handle across the unload
 * panicked in this filter on 14.2 when the knote outlived its cdevpriv).
 */
static void kup_kn_dev_detach(struct knote *kn)
{
	struct kup_kfile *priv = kn->kn_hook;
	struct kupdev_softc *sc = priv->sc;
	int last;

	mtx_lock(&sc->mtx);
	knlist_remove(&sc->sel.si_note, kn, 1);
	last = --priv->knotes == 0 && priv->gone;
	mtx_unlock(&sc->mtx);
	if (last)
		free(priv, M_KUP);
	kup_sc_release(sc); /* the knote's reference: may free sc */
}

static int kup_kn_dev_event(struct knote *kn, long hint)
{
	struct kup_kfile *priv = kn->kn_hook;
	struct kupdev_softc *sc = priv->sc;

	mtx_assert(&sc->mtx, MA_OWNED);
	if (atomic_load_acq_32(&sc->d.dead)) {
		kn->kn_flags |= EV_EOF;
		return (1);
	}
	kn->kn_data = sc->notify != priv->nseen;
	return (kn->kn_data != 0);
}

static struct filterops kup_dev_read_filtops = {
    .f_isfd = 1,
    .f_detach = kup_kn_dev_detach,
    .f_event = kup_kn_dev_event,
};

static int kup_d_kqfilter(struct cdev *dev, struct knote *kn)
{
	struct kup_kfile *priv;
	struct kup_kchan *ch;
	int error;

	error = devfs_get_cdevpriv((void **)&priv);
	if (error != 0)
		return (error);
	if (kn->kn_filter != EVFILT_READ)
		return (EINVAL);
	/* sc lives: the file holds it while we run (destroy_dev waits for us). */
	kup_sc_hold(priv->sc); /* the knote's, until its f_detach */
	ch = kup_priv_chan(priv);
	if (ch == NULL) {
		mtx_lock(&priv->sc->mtx);
		priv->knotes++;
		kn->kn_fop = &kup_dev_read_filtops;
		kn->kn_hook = priv;
		knlist_add(&priv->sc->sel.si_note, kn, 1);
		mtx_unlock(&priv->sc->mtx);
		return (0);
	}
	/* kn_hook is the channel: it lives with sc. */
	kn->kn_fop = &kup_read_filtops;
	kn->kn_hook = ch;
	kn->kn_hookid = (int)priv->gen;
	knlist_add(&ch->sel.si_note, kn, 0);
	return (0);
}

static int kup_d_mmap_single(struct cdev *dev, vm_ooffset_t *offset, vm_size_t size,
                             struct vm_object **objp, int nprot)
{
	struct kup_kfile *priv;
	struct kup_kchan *ch;
	int error;

	error = devfs_get_cdevpriv((void **)&priv);
	if (error != 0)
		return (error);
	ch = kup_priv_chan(priv);
	if (ch == NULL)
		return (ENOTCONN);
	if (priv->vm == NULL || curproc->p_vmspace != priv->vm)
		return (EPERM); /* not the attaching process */
	return (kup_mem_mmap(ch, priv->gen, offset, size, objp, nprot));
}

/*
 * Unload: end a channel's select state (no d_* method can run any more).
 * Its knotes stay until kqueue drops them, each holding sc (see kqueue).
 */
void kup_chan_drain(struct kup_kchan *ch)
{
	seldrain(&ch->sel);
}

/* Give sc its node: 0 or an errno (EEXIST: the name is taken). */
int kup_cdev_add(struct kupdev_softc *sc, const struct kupdev_attr *attr)
{
	struct make_dev_args args;

	make_dev_args_init(&args);
	args.mda_flags = MAKEDEV_WAITOK | MAKEDEV_CHECKNAME;
	args.mda_devsw = &kup_cdevsw;
	args.mda_uid = attr->uid; /* complete: core filled in the defaults */
	args.mda_gid = attr->gid;
	args.mda_mode = (int)attr->mode;
	args.mda_si_drv1 = sc;
	return (make_dev_s(&args, &sc->cdev, "%s", sc->name));
}

/*
 * The node goes.  Waits for threads inside our d_* methods, then runs the
 * destructor of every file still open: each detaches its channel and drops
 * its reference.  Files stay open in their processes but see a dead device
 * (ENXIO); mappings keep the pages and a reference.
 */
void kup_cdev_del(struct kupdev_softc *sc)
{
	destroy_dev(sc->cdev);
	sc->cdev = NULL;
}
