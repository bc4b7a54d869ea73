/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_host.h - kup.ko internals on Linux: devices, channels, channel memory,
 * open files.  kernel/freebsd/kup_host.h is its FreeBSD twin.
 *
 * Objects and lifetimes
 *   kupdev_softc  one device (/dev/NAME).  Reference-counted by its
 *                 struct device: the device's own reference (dropped by
 *                 kupdev_unload), one per open file (kup_open to
 *                 kup_release; mappings hold their file), and the cdev's
 *                 (until cdev_device_del and the last chrdev user).
 *                 kupdev_unload frees the channels and leaves the softc as
 *                 a small dead shell for the files still open (their calls
 *                 fail with ESHUTDOWN); kup_dev_release frees it when the
 *                 last reference goes.  sc is invalid for the module after
 *                 kupdev_unload returns (kupdev.h).
 *   kup_kchan     one channel: the kern side's kup_end and its lock.  Freed
 *                 by kupdev_unload once no kupdev_* caller is inside.
 *   kup_kmem      one attach: its pages (zeroed, charged to the memory
 *                 cgroup of the process that attached, vmapped), its two
 *                 wait queues and its gone flag, with two counts.  ref
 *                 keeps the small object (wait queues, gone): held by the
 *                 channel (cur, emem) and by the file that attached it
 *                 until the file is released (epoll entries may sit on
 *                 uwq until then).  pref keeps the pages: held by cur and
 *                 emem (until a newer attach or unload), by the attached
 *                 file only until it detaches (munmap, close) or the
 *                 device shuts down, and briefly by a file's KUP_IOC_WAIT
 *                 or poll (kup_mem_get_pages, which fails once the pages
 *                 are gone, and then gone is set).  Every pref holder
 *                 holds a ref.  Pages mapped into a process are refcounted
 *                 by the mapping, so they outlive the module's release
 *                 (vunmap and a put of each page).
 *   kup_kfile     one open file of /dev/NAME: a device handle, or after
 *                 KUP_IOC_ATTACH one channel.
 *
 * Locks, in order: kup_kchan.lock (a kupdev_* call on the channel, held
 * across its sleep; interruptible) -> kupdev_softc.lock (attach state,
 * pending queue, states).  mmap_lock may be held when sc->lock is taken
 * (mmap, vm close), so nothing under sc->lock touches user memory.
 */
#ifndef KUP_HOST_H
#define KUP_HOST_H

#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/wait.h>

#include "kupdev.h"
#include "kup_os.h"

#define KUP_MAX_DEVS 256        /* minors of the kup char major */
#define KUP_DRAIN    0x40000000 /* in sc->inside: kupdev_unload waits for the count to empty */

struct kup_kmem {
	struct kref ref;  /* the object */
	struct kref pref; /* va */
	void *va;         /* KUP_MAP_LEN(size) bytes: vmap of pages */
	struct page **pages;
	unsigned long npages;
	uint32_t size, chan;
	uint32_t flags; /* the attach's KUP_ATTACH_*: the kern end's mode, never read from va */
	wait_queue_head_t kwq; /* the kern side sleeps here (sleep op) */
	wait_queue_head_t uwq; /* the process sleeps (KUP_IOC_WAIT) and polls here */
	int gone;              /* 0, EKU_CLOSED (user let go) or EKU_SHUTDOWN */
};

struct kup_kfile;

struct kup_kchan {
	struct kupdev_softc *sc;
	uint32_t id;
	struct mutex lock; /* one kupdev_* call at a time */
	/*
	 * core's part: c.e and c.loans (a retired mem: a ref each) under lock; c.sess, c.gen (cur's
	 * generation), c.handed, c.holder and c.attaches under sc->lock (c.sess.egen, emem's gen,
	 * under both).
	 */
	struct kup_chan c;
	/* Under lock (changed also under sc->lock). */
	struct kup_kmem *emem; /* the attach c.e works on, or NULL */
	uint8_t *rx_copy;      /* cap bytes, kupdev_receive's private copy */
	/* Under sc->lock. */
	struct kup_kmem *cur;    /* the latest attach, or NULL */
	struct kup_kfile *owner; /* the attached file, or NULL */
};

struct kupdev_softc {
	struct kup_dev d; /* core's part, first: d.dead (set under lock) and d.pending under lock */
	struct list_head node; /* kup_devs, until kupdev_unload */
	char name[KUP_NAME_MAX];
	struct kupdev_attr attr;

	struct mutex lock;
	int unloading;          /* kupdev_unload has begun: under lock */
	struct mutex shut_lock; /* serialises kup_dev_shutdown */
	atomic_t inside;        /* kupdev_* calls in progress, | KUP_DRAIN once unload waits */
	wait_queue_head_t attach_wq;
	uint32_t freed;            /* channel releases so far (under lock; read once by waiters) */
	wait_queue_head_t free_wq; /* KUP_ATTACH_WAIT: attaches waiting for a free channel */
	atomic_t notify_gen;       /* kupdev_notify bumps it: atomic, so IRQ-safe */
	wait_queue_head_t notify_wq;
	struct kup_kchan *ch; /* chan_cnt, NULL after unload (under lock) */

	int minor;
	struct cdev cdev;
	struct device dev;
};

struct kup_kfile {
	struct kupdev_softc *sc;
	/* Under sc->lock; mem is set once by attach and kept until release. */
	struct kup_kmem *mem;
	uint32_t chan;
	int attached; /* holds sc->ch[chan] */
	int pages;    /* holds a pref on mem (attached, or shut down not yet) */
	int maps;     /* live vmas of this file */
	/* The attaching process's address space: the only one that may map the
	 * channel (mmgrab'd: the pointer is never reused while we hold it). */
	struct mm_struct *mm;
	/* Atomic: the notify generation this file last saw (open, INFO, NOTIFY). */
	uint32_t nseen;
	pid_t pid; /* the attaching process (its tgid), set with attached */
};

/* kup_mem.c: both counts (cur, emem and an attached file hold one each). */
struct kup_kmem *kup_mem_alloc(uint32_t size, uint32_t chan, uint32_t chan_cnt);
void kup_mem_get(struct kup_kmem *m);
void kup_mem_put(struct kup_kmem *m);
void kup_mem_put_obj(struct kup_kmem *m);
/* Only the pages: 0 when they are gone already. */
int kup_mem_get_pages(struct kup_kmem *m);
void kup_mem_put_pages(struct kup_kmem *m);

/* kup_os.c */
extern unsigned int kup_spin_us; /* module parameter spin_us (kup_mod.c) */
/* Point the kern side's end at the channel's latest attach (lock held). */
int kup_chan_switch(struct kup_kchan *ch, int force);
void kup_dev_free(struct kupdev_softc *sc);
void kup_devs_unload_all(void);

/* kup_cdev.c */
extern const struct file_operations kup_fops;
int kup_cdev_add(struct kupdev_softc *sc);
void kup_cdev_del(struct kupdev_softc *sc);
int kup_cdev_init(void);
void kup_cdev_exit(void);
void kup_file_detach_locked(struct kup_kfile *f, int code);
void kup_file_drop_pages_locked(struct kup_kfile *f);

/* The errno an ioctl returns for -EKU_* code r (kup_abi.h's one table), negated. */
static inline int kup_ioc_errno(int r)
{
	switch (-r) {
#define KUP_X(code, err)                                                                           \
	case code:                                                                                 \
		return -err;
		KUP_IOC_ERRORS(KUP_X)
#undef KUP_X
	}
	return -EIO;
}

#endif /* KUP_HOST_H */
