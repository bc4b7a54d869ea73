/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_fbsd.h - kup.ko internals on FreeBSD: devices, channels, channel
 * memory, open files.
 *
 * Objects and lifetimes
 *   kupdev_softc  one device (/dev/NAME).  kupdev_unload frees its channels
 *                 and leaves a small tombstone that answers -EKU_SHUTDOWN,
 *                 so a module thread that makes one more call after unload
 *                 never touches freed memory.  Tombstones are freed when
 *                 kup.ko itself is unloaded (after every client module).
 *   kup_fchan     one channel: the kern side's kup_end, its locks, cvs and
 *                 selinfo.  Freed by kupdev_unload once no caller is inside.
 *   kup_fmem      the pages of one attach: an OBJT_PHYS VM object, zeroed,
 *                 wired into kernel_map.  Allocated fresh by every attach.
 *                 Referenced by the file that attached it (until its last
 *                 close) and by the kern side's end (until the kern side's
 *                 next call after a newer attach, or unload), so pointers
 *                 the module got from kupdev_send_buf or the zero-copy
 *                 receive never dangle because the process died.  A
 *                 process mapping holds a VM object reference of its own,
 *                 so the pages outlive kup.ko's use of them.
 *   kup_fpriv     one open file (devfs cdevpriv): a device handle, or after
 *                 KUP_IOC_ATTACH one channel.  Its destructor (last close of
 *                 the file, or destroy_dev) detaches the channel.
 *
 * Locks, in order: kup_fchan.api (sx: one kupdev_* call at a time, held
 * across its sleeps) -> kupdev_softc.mtx -> kup_fchan.mtx (attach state,
 * sleeps and wake-ups of both sides, the knlist).  Neither mutex is held
 * while core runs, and core's wake op takes kup_fchan.mtx itself.
 */
#ifndef KUP_FBSD_H
#define KUP_FBSD_H

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
#include "kup_core.h"

/*
 * Written for the FreeBSD 14/15 KPIs; every KPI used here has the same
 * shape back to 12.0 (compile-checked against 12.1 and 13 headers), so no
 * __FreeBSD_version branches are needed yet.  Add them here when one is.
 */
#if __FreeBSD_version < 1200000
#error "kup.ko needs FreeBSD 12.0 or later"
#endif

MALLOC_DECLARE(M_KUP);

struct vm_object;

struct kup_fmem {
	struct vm_object *obj; /* OBJT_PHYS; this reference is kup.ko's */
	vm_offset_t kva;       /* wired kernel address of the whole mapping */
	size_t len;            /* KUP_MAP_LEN(size) */
	u_int ref;             /* refcount(9): the attaching file, the kern end */
	uint32_t gen;          /* the channel's attach number */
};

struct kup_fpriv;
struct kupdev_softc;

struct kup_fchan {
	struct kupdev_softc *sc;
	uint32_t id;
	struct sx api;      /* one kupdev_* call at a time */
	struct mtx mtx;     /* the fields marked (m), cvs, knlist */
	struct cv kcv;      /* the kern side sleeps here (core's sleep op) */
	struct cv ucv;      /* the process sleeps here (KUP_IOC_WAIT) */
	struct selinfo sel; /* poll and kqueue of the attached file */

	/* Under api; emem and sess are changed under api and mtx. */
	struct kup_end e;         /* KUP_SIDE_KERN, on emem */
	struct kup_fmem *emem;    /* the attach e works on (a reference), or NULL */
	struct kup_session sess;  /* (m) core's session rule; sess.egen is emem->gen */
	uint32_t spin_gen;        /* sc->spin_gen that e.spin_ns reflects */
	uint32_t handed_gen;      /* (m) the gen kupdev_wait_channel last returned */
	const void *holder;       /* (m) the thread holding it (compared only) */
	uint8_t *rx_copy;         /* (m) cap bytes, kupdev_receive's copy */
	struct kup_counters base; /* (m) counters of earlier attaches */

	struct kup_fmem *cur;    /* (m) the attached file's memory, or NULL */
	uint32_t gen;            /* (m) attaches so far */
	struct kup_fpriv *owner; /* (m) the attached (or attaching) file */
	int dying;               /* (m) the device is unloading */
	uint64_t attaches;       /* (m) */
	int last_err;            /* atomic: kupdev_last_error */
	int pending;             /* (sc->mtx) not yet told to kupdev_wait_channel */
};

struct kupdev_softc {
	LIST_ENTRY(kupdev_softc) link; /* kup_devs: devices and tombstones */
	char name[KUP_NAME_MAX];
	uint32_t size, cap, chan_cnt;
	struct cdev *cdev;

	struct mtx mtx;          /* everything below but inside */
	struct cv attach_cv;     /* kupdev_wait_channel */
	struct cv notify_cv;     /* KUP_IOC_NOTIFY */
	struct cv idle_cv;       /* kupdev_unload waits for inside and privs */
	struct selinfo sel;      /* poll of device handles: notify */
	int dead;                /* atomic: shut down (kupdev_shutdown or unload) */
	int unloading;           /* atomic, set under mtx: kupdev_unload has begun */
	int inside;              /* atomic: kupdev_* calls in progress */
	int privs;               /* open files whose destructor has not finished */
	uint32_t notify;         /* kupdev_notify generation */
	uint32_t npending;       /* channels with pending set */
	uint32_t scan;           /* where kupdev_wait_channel looks first */
	int64_t spin_ns;         /* kupdev_set_spin */
	uint32_t spin_gen;       /* atomic: bumped by kupdev_set_spin */
	struct kup_fchan *chans; /* chan_cnt of them; NULL once unloaded */
};

struct kup_fpriv {
	struct kupdev_softc *sc;
	struct kup_fchan *ch; /* atomic; set once by attach, after mem */
	struct kup_fmem *mem; /* this file's attach (a reference) */
	int attaching;        /* (sc->mtx) an attach is under way */
	uint32_t nseen;       /* (sc->mtx) notify generation INFO/NOTIFY returned */
};

/* kup_mem.c: channel pages. */
int kup_mem_alloc(uint32_t size, struct kup_fmem **memp);
void kup_mem_put(struct kup_fmem *mem);
int kup_mem_mmap(struct kup_fmem *mem, uint32_t size, vm_ooffset_t *offset, vm_size_t len,
    struct vm_object **objp, int nprot);

/* kup_dev.c: the device node and its files. */
int kup_dev_create(struct kupdev_softc *sc, const struct kupdev_attr *attr);
void kup_chan_wake_all(struct kup_fchan *ch);
int kup_chan_switch(struct kup_fchan *ch, int force);
void kup_chan_drain(struct kup_fchan *ch);
extern const struct kup_host_ops kup_kern_ops;

/* kup_api.c */
int kup_cv_wait(struct cv *cv, struct mtx *m, int64_t deadline);
int64_t kup_deadline(int64_t timeout_ns);
void kup_chan_shutdown(struct kup_fchan *ch);
void kup_devs_free(void);
int kup_devs_busy(void);

/* Channel words as the kernel reads them: its own block is trusted. */
static __inline struct kup_kctl *
kup_mem_kctl(const struct kup_fmem *mem)
{
	return ((struct kup_kctl *)mem->kva);
}

static __inline struct kup_uctl *
kup_mem_uctl(const struct kup_fmem *mem, uint32_t size)
{
	return ((struct kup_uctl *)(mem->kva + KUP_OFF_UCTL(size)));
}

#endif /* KUP_FBSD_H */
