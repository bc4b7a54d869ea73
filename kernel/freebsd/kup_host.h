/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_host.h - kup.ko internals on FreeBSD: devices, channels, channel
 * memory, open files.  kernel/linux/kup_host.h is its Linux twin.
 *
 * Objects and lifetimes
 *   kupdev_softc  one device (/dev/NAME).  Reference counted (refcount(9),
 *                 sc->refs): one for the device itself until kupdev_unload
 *                 returns, one per open file until its cdevpriv destructor
 *                 ends, one per process mapping until its pager object's
 *                 destructor ends.  kupdev_* callers are counted apart
 *                 (sc->inside) and kupdev_unload waits for them before it
 *                 drops the device's reference.  The last reference frees
 *                 the softc and its channels; kup.ko refuses MOD_UNLOAD
 *                 while any softc exists (its pager ops live in kup.ko).
 *   kup_kchan     one channel: the kern side's kup_end, its locks, cvs and
 *                 selinfo.  Lives as long as its softc.
 *   kup_kmem      the pages of one attach: an OBJT_PHYS VM object, zeroed,
 *                 wired into kernel_map.  Allocated fresh by every attach.
 *                 Referenced by the attach (ch->cur, until detach), by the
 *                 kern side's end (until the kern side's next call after a
 *                 newer attach, or unload) and by every process mapping
 *                 (until the mapping's pager object dies), so pointers the
 *                 module got from kupdev_send_buf or the zero-copy receive
 *                 never dangle because the process died, and a process
 *                 never maps freed pages.
 *   kup_kmap      one d_mmap_single: the handle of an OBJT_DEVICE pager
 *                 object whose fault handler hands out the attach's pages
 *                 (fictitious pages at their physical addresses).  The
 *                 object dies when its last mapping goes (munmap, exit,
 *                 exec); its destructor drops the references above and,
 *                 when it was the attach's last mapping, detaches.
 *   kup_kfile     one open file (devfs cdevpriv): a device handle, or after
 *                 KUP_IOC_ATTACH one channel.  Its destructor (last close of
 *                 the file, or destroy_dev) detaches the channel; a device
 *                 handle's knotes, which hook it, may outlive it (the last
 *                 frees it).
 *
 * Detach (close, the last munmap, process exit, unload) ends the attach
 * whose number (gen) the file or mapping holds, once: ch->cur is the live
 * attach's memory, NULL after detach.  Files and mappings compare attach
 * numbers, never pointers, since a freed kup_kmem's address can return.
 *
 * Locks, in order: kup_kchan.api (sx: one kupdev_* call at a time, held
 * across its sleeps) -> kupdev_softc.mtx -> kup_kchan.mtx (attach state,
 * sleeps and wake-ups of both sides, the knlist).  Neither mutex is held
 * while core runs, and core's wake op takes kup_kchan.mtx itself.
 */
#ifndef KUP_HOST_H
#define KUP_HOST_H

#include <sys/param.h>
#include <sys/systm.h>
#include <sys/condvar.h>
#include <sys/conf.h>
#include <sys/lock.h>
#include <sys/malloc.h>
#include <sys/mutex.h>
#include <sys/queue.h>
#include <sys/selinfo.h>
#include <sys/sx.h>

#include "kupdev.h"
#include "kup_os.h"

/*
 * Written for the FreeBSD 14/15 KPIs and compile-checked against 12.1 and
 * 13-CURRENT (1300010) headers.  The one difference met so far is in the
 * device pager's fault handler (kup_mem.c): how a replaced page is freed
 * and marked valid.
 */
#if __FreeBSD_version < 1200000
#error "kup.ko needs FreeBSD 12.0 or later"
#endif

MALLOC_DECLARE(M_KUP);

struct vm_object;

struct kup_kmem {
	struct vm_object *obj; /* OBJT_PHYS; this reference is kup.ko's */
	vm_offset_t kva;       /* wired kernel address of the whole mapping */
	size_t len;            /* KUP_MAP_LEN(size) */
	u_int ref;             /* refcount(9): the attach, the kern end, mappings */
	uint32_t gen;          /* the channel's attach number */
	uint32_t flags;        /* the attach's KUP_ATTACH_*: the kern end's mode, never read from kva */
	uint32_t maps;         /* (ch->mtx) pager objects of this attach alive */
	int mapped;            /* (ch->mtx) one was ever made: the last going detaches */
};

struct kup_kchan;

/* The handle of one pager object (one d_mmap_single). */
struct kup_kmap {
	struct kupdev_softc *sc; /* a reference */
	struct kup_kchan *ch;
	struct kup_kmem *mem; /* a reference */
};

struct kup_kfile;
struct kupdev_softc;

struct kup_kchan {
	struct kupdev_softc *sc;
	uint32_t id;
	struct sx api;      /* one kupdev_* call at a time */
	struct mtx mtx;     /* the fields marked (m), cvs, knlist */
	struct cv kcv;      /* the kern side sleeps here (core's sleep op) */
	struct cv ucv;      /* the process sleeps here (KUP_IOC_WAIT) */
	struct selinfo sel; /* poll and kqueue of the attached file */

	/*
	 * core's part: c.e and c.loans (a retired mem: a reference each) under api; c.sess, c.gen
	 * (cur's generation), c.handed, c.holder and c.attaches under sc->mtx (c.gen under mtx too,
	 * c.sess.egen, emem's gen, under api as well).
	 */
	struct kup_chan c;
	struct kup_kmem
	    *emem;        /* (api, m to change) the attach c.e works on (a reference), or NULL */
	uint8_t *rx_copy; /* (m) cap bytes, kupdev_receive's copy */

	struct kup_kmem *cur;    /* (m) the attached file's memory, or NULL */
	struct kup_kfile *owner; /* (m) the attached (or attaching) file */
	int dying;               /* (m) the device is unloading */
};

struct kupdev_softc {
	struct kup_dev d; /* core's part, first: d.dead (set under mtx) and d.pending under mtx */
	LIST_ENTRY(kupdev_softc) link; /* kup_devs: every softc not yet freed */
	char name[KUP_NAME_MAX];
	struct cdev *cdev;

	u_int refs;              /* refcount(9): the device, open files, mappings, knotes */
	struct mtx mtx;          /* everything below but inside */
	struct cv attach_cv;     /* kupdev_wait_channel */
	struct cv notify_cv;     /* KUP_IOC_NOTIFY; waiting attaches (a channel released) */
	struct selinfo sel;      /* poll of device handles: notify */
	int unloading;           /* atomic, set under mtx: kupdev_unload has begun */
	int inside;              /* atomic: kupdev_* calls in progress */
	uint32_t notify;         /* kupdev_notify generation */
	struct kup_kchan *chans; /* chan_cnt of them, freed with the softc */
};

struct kup_kfile {
	struct kupdev_softc *sc;
	struct vmspace *vm;   /* the attaching process's address space (a reference) */
	struct kup_kchan *ch; /* atomic; set once by attach, after gen */
	uint32_t gen;         /* this file's attach: live while ch->cur->gen == gen */
	int attaching;        /* (sc->mtx) an attach is under way */
	uint32_t nseen;       /* (sc->mtx) notify generation INFO/NOTIFY returned */
	int knotes;           /* (sc->mtx) device-handle knotes hooking us */
	int gone;             /* (sc->mtx) destructor ran: the last knote frees us */
	pid_t pid;            /* the attaching process, set before the channel is reserved */
};

/* The errno an ioctl returns for -EKU_* code r (kup_abi.h's one table). */
static __inline int kup_ioc_errno(int r)
{
	switch (-r) {
#define KUP_X(code, err)                                                                           \
	case code:                                                                                 \
		return (err);
		KUP_IOC_ERRORS(KUP_X)
#undef KUP_X
	}
	return (EIO);
}

/* kup_trace.c: the SDT probes the host fires (core's are in kup_plat.h). */
SDT_PROBE_DECLARE(kup, , chan, attach);
SDT_PROBE_DECLARE(kup, , chan, detach);
SDT_PROBE_DECLARE(kup, , chan, sleep);
SDT_PROBE_DECLARE(kup, , chan, wakeup);
SDT_PROBE_DECLARE(kup, , dev, unload);

/* kup_mem.c: channel pages and process mappings. */
int kup_mem_alloc(uint32_t size, struct kup_kmem **memp);
void kup_mem_put(struct kup_kmem *mem);
int kup_mem_mmap(struct kup_kchan *ch, uint32_t gen, vm_ooffset_t *offset, vm_size_t len,
                 struct vm_object **objp, int nprot);

/* kup_os.c */
int kup_cv_wait(struct cv *cv, struct mtx *m, int64_t deadline);
int64_t kup_deadline(int64_t timeout_ns);
int kup_chan_switch(struct kup_kchan *ch, int force);
void kup_chan_shutdown(struct kup_kchan *ch);
void kup_sc_hold(struct kupdev_softc *sc);
void kup_sc_release(struct kupdev_softc *sc);
int kup_devs_busy(void);

/* kup_cdev.c: the device node and its files. */
int kup_cdev_add(struct kupdev_softc *sc, const struct kupdev_attr *attr);
void kup_cdev_del(struct kupdev_softc *sc);
void kup_chan_wake_all(struct kup_kchan *ch);
void kup_chan_drain(struct kup_kchan *ch);
struct kup_kmem *kup_chan_attached(struct kup_kchan *ch, uint32_t gen);
void kup_detach(struct kup_kchan *ch, uint32_t gen);

/* Channel words as the kernel reads them: its own block is trusted. */
static __inline struct kup_kctl *kup_mem_kctl(const struct kup_kmem *mem)
{
	return ((struct kup_kctl *)mem->kva);
}

static __inline struct kup_uctl *kup_mem_uctl(const struct kup_kmem *mem, uint32_t size)
{
	return ((struct kup_uctl *)(mem->kva + KUP_OFF_UCTL(size)));
}

#endif /* KUP_HOST_H */
