// SPDX-License-Identifier: BSD-2-Clause
/*
 * kup_cdev.c - the character device /dev/NAME, the process's side: its
 * node, open, attach, mmap, the sleep/wake ioctls, poll, and detach on
 * munmap, close or process death.
 *
 * ioctl errors: the errno of each EKU_* code is kup_abi.h's KUP_IOC_ERRORS
 * table (kup_ioc_errno; libkup maps back through the same table):
 *   EPROTO    ABI version mismatch		EKU_ABI
 *   ERANGE    channel id >= chan_cnt		EKU_RANGE
 *   EMSGSIZE  size differs from the device's	EKU_BADSIZE
 *   EBUSY     channel held by another file	EKU_BUSY
 *             (KUP_ATTACH_ANY: every channel)
 *   EISCONN   this file is attached already	EKU_INVAL
 *   EPERM     attach on a file opened read-only	EKU_PERM
 *             (mmap: by a process other than the attaching one)
 *   ENOTCONN  not attached / detached		EKU_CLOSED
 *   ESHUTDOWN the device is unloading		EKU_SHUTDOWN
 *   ETIMEDOUT, EINTR, ENOMEM, EFAULT, ENOTTY as usual.
 * KUP_IOC_WAIT, KUP_IOC_NOTIFY and a waiting KUP_IOC_ATTACH return EINTR on any signal (they are
 * never restarted, so a timeout is never extended); libkup reports
 * EKU_INTR.
 */
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/math64.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/poll.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/version.h>

#include "kup_host.h"
#include "kup_stat.h"

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
#define kup_vm_flags_set(vma, f)   vm_flags_set((vma), (f))
#define kup_vm_flags_clear(vma, f) vm_flags_clear((vma), (f))
#else
#define kup_vm_flags_set(vma, f)   ((vma)->vm_flags |= (f))
#define kup_vm_flags_clear(vma, f) ((vma)->vm_flags &= ~(f))
#endif

static int kup_open(struct inode *inode, struct file *file)
{
	struct kupdev_softc *sc = container_of(inode->i_cdev, struct kupdev_softc, cdev);
	struct kup_kfile *f;

	if (READ_ONCE(sc->d.dead))
		return -ESHUTDOWN;
	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	f->sc = sc;
	f->nseen = (uint32_t)atomic_read(&sc->notify_gen);
	get_device(&sc->dev); /* sc outlives kupdev_unload while the file is open */
	file->private_data = f;
	return nonseekable_open(inode, file);
}

/*
 * The file lets go of its attach's pages (sc->lock held), after gone is set
 * or the attach shut down: a file path reads the pages only under a
 * kup_mem_get_pages reference.
 */
void kup_file_drop_pages_locked(struct kup_kfile *f)
{
	if (f->pages) {
		f->pages = 0;
		kup_mem_put_pages(f->mem);
	}
}

/* The process let the channel go (sc->lock held). */
void kup_file_detach_locked(struct kup_kfile *f, int code)
{
	struct kupdev_softc *sc = f->sc;
	struct kup_kmem *m = f->mem;
	struct kup_kchan *ch;

	if (!f->attached)
		return;
	ch = &sc->ch[f->chan];
	trace_kup_detach(&ch->c.e, f->pid, code);
	f->attached = 0;
	ch->owner = NULL;
	kup_pend_drop(&sc->d.pending, ch->id);
	WRITE_ONCE(m->gone, code);
	/* The kern side's pending call returns -EKU_CLOSED. */
	if (ch->emem == m)
		kup_end_set_local(&ch->c.e, EKU_CLOSED);
	wake_up_all(&m->kwq);
	wake_up_all(&m->uwq);
	/* Attaches waiting for a free channel (KUP_ATTACH_WAIT) look again. */
	WRITE_ONCE(sc->freed, sc->freed + 1);
	wake_up_interruptible_all(&sc->free_wq);
	/* A detached file pins nothing big (never the last pref: cur holds one). */
	kup_file_drop_pages_locked(f);
}

static int kup_release(struct inode *inode, struct file *file)
{
	struct kup_kfile *f = file->private_data;
	struct kupdev_softc *sc = f->sc;

	mutex_lock(&sc->lock);
	kup_file_detach_locked(f, EKU_CLOSED);
	kup_file_drop_pages_locked(f); /* none left by now (detach, shutdown): belt and braces */
	mutex_unlock(&sc->lock);
	kup_mem_put_obj(f->mem);
	if (f->mm)
		mmdrop(f->mm);
	kfree(f);
	put_device(&sc->dev); /* may free sc */
	return 0;
}

/*
 * The channel an attach takes (sc->lock held, the device alive): want when
 * it is free; with KUP_ATTACH_ANY else the lowest free one.  -1: none.
 */
static int kup_pick_locked(struct kupdev_softc *sc, uint32_t want, uint32_t flags)
{
	uint32_t i;

	if (!sc->ch[want].owner)
		return (int)want;
	if (!(flags & KUP_ATTACH_ANY))
		return -1;
	for (i = 0; i < sc->d.chan_cnt; i++)
		if (!sc->ch[i].owner)
			return (int)i;
	return -1;
}

/*
 * Pick a channel for the attach (sc->lock held): its id, or -errno.
 * *freed gets the release count seen, for a wait that must not miss one.
 */
static int kup_attach_pick_locked(struct kup_kfile *f, uint32_t want, uint32_t flags,
                                  uint32_t *freed)
{
	struct kupdev_softc *sc = f->sc;
	int idx;

	/* sc->ch is gone once unload has begun: dead is set first, under this lock. */
	if (sc->d.dead)
		return -ESHUTDOWN;
	if (f->mem)
		return -EISCONN;
	*freed = sc->freed;
	idx = kup_pick_locked(sc, want, flags);
	return idx < 0 ? -EBUSY : idx;
}

/*
 * Every channel is taken and the caller waits (KUP_ATTACH_WAIT): sleep until
 * one is released (sc->freed moves past freed) or the device shuts down.
 * 0 (look again), -ETIMEDOUT, -EINTR.
 */
static int kup_attach_wait(struct kupdev_softc *sc, uint32_t freed, ktime_t end, int forever)
{
	long r;

#define KUP_FREED (READ_ONCE(sc->freed) != freed || READ_ONCE(sc->d.dead))
	if (forever) {
		r = wait_event_interruptible(sc->free_wq, KUP_FREED);
	} else {
		ktime_t left = ktime_sub(end, ktime_get());

		if (ktime_to_ns(left) <= 0)
			return KUP_FREED ? 0 : -ETIMEDOUT;
		r = wait_event_interruptible_hrtimeout(sc->free_wq, KUP_FREED, left);
	}
#undef KUP_FREED
	if (r == -ERESTARTSYS)
		return -EINTR;
	if (r == -ETIME)
		return READ_ONCE(sc->freed) != freed || READ_ONCE(sc->d.dead) ? 0 : -ETIMEDOUT;
	return 0;
}

static long kup_ioc_attach(struct kup_kfile *f, void __user *uarg)
{
	struct kupdev_softc *sc = f->sc;
	struct kup_ioc_attach a;
	struct kup_kmem *m = NULL, *old;
	struct kup_kchan *ch;
	ktime_t end = 0;
	uint32_t freed;
	int idx, r, forever;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	r = kup_attach_check(a.abi, a.flags, a.chan, a.size, sc->d.size, sc->d.chan_cnt);
	if (r)
		return kup_ioc_errno(r);
	if (READ_ONCE(sc->d.dead))
		return -ESHUTDOWN;
	/* Beyond a century is forever: now + timeout must not overflow ktime_t. */
	forever = a.timeout_ns < 0 || a.timeout_ns > (int64_t)100 * 365 * 86400 * NSEC_PER_SEC;
	if (!forever)
		end = ktime_add_ns(ktime_get(), a.timeout_ns);
	a.chan = array_index_nospec(a.chan, sc->d.chan_cnt);
	for (;;) {
		/* Refuse before allocating, so a refused attach cannot make us zero 128 MiB. */
		mutex_lock(&sc->lock);
		idx = kup_attach_pick_locked(f, a.chan, a.flags, &freed);
		mutex_unlock(&sc->lock);
		if (idx == -EBUSY && (a.flags & KUP_ATTACH_WAIT)) {
			r = kup_attach_wait(sc, freed, end, forever);
			if (r)
				goto fail;
			continue;
		}
		if (idx < 0) {
			r = idx;
			goto fail;
		}
		/* Allocate and format before taking the lock: it can be 128 MiB. */
		if (!m) {
			m = kup_mem_alloc(sc->d.size, (uint32_t)idx, sc->d.chan_cnt);
			if (!m)
				return -ENOMEM;
		}
		mutex_lock(&sc->lock);
		/* The pick may have been taken meanwhile: pick again, under the lock. */
		idx = kup_attach_pick_locked(f, a.chan, a.flags, &freed);
		if (idx >= 0)
			break;
		mutex_unlock(&sc->lock);
		if (idx != -EBUSY || !(a.flags & KUP_ATTACH_WAIT)) {
			r = idx;
			goto fail;
		}
	}
	/* Another channel than the one formatted: its header names the channel. */
	if (m->chan != (uint32_t)idx) {
		m->chan = (uint32_t)idx;
		kup_chan_format(m->va, (uint8_t *)m->va + KUP_BLOCK_LEN(sc->d.size), sc->d.size,
		                (uint32_t)idx, sc->d.chan_cnt);
	}
	/* A stream attach (KUP_ATTACH_STREAM): recorded before anyone can see the attach. */
	kup_chan_set_mode(m->va, a.flags);
	m->flags = a.flags;
	ch = &sc->ch[idx];
	old = ch->cur;
	ch->cur = m;    /* the alloc's references */
	kup_mem_get(m); /* the file's */
	f->chan = (uint32_t)idx;
	f->attached = 1;
	f->pages = 1;
	f->mm = current->mm;
	mmgrab(f->mm);
	f->pid = task_tgid_nr(current);
	/* Set once, before poll may look at it without the lock. */
	smp_store_release(&f->mem, m);
	ch->owner = f;
	ch->c.attaches++;
	WRITE_ONCE(ch->c.gen, ch->c.gen + 1);
	kup_pend_push(&sc->d.pending, ch->id);
	trace_kup_attach(&ch->c.e, f->pid);
	mutex_unlock(&sc->lock);
	kup_mem_put(old);
	wake_up_interruptible(&sc->attach_wq);

	a.chan = (uint32_t)idx;
	a.map_len = KUP_MAP_LEN(sc->d.size);
	a.flags |= KUP_ATTACH_CTL_RW;
	if (copy_to_user(uarg, &a, sizeof(a)))
		return -EFAULT; /* still attached: close detaches */
	return 0;
fail:
	kup_mem_put(m);
	return r;
}

/* Sleep until the kern tw differs from seen, the channel is lost, or timeout. */
static long kup_ioc_wait(struct kup_kfile *f, void __user *uarg)
{
	struct kup_kmem *m = smp_load_acquire(&f->mem);
	const uint32_t *ktw;
	struct kup_ioc_wait w;
	long r;
	int gone;

	if (copy_from_user(&w, uarg, sizeof(w)))
		return -EFAULT;
	if (w.spare)
		return -EINVAL; /* reserved */
	if (!m)
		return -ENOTCONN;
	/* The pages go at detach (gone is set first): hold them while we look. */
	if (!kup_mem_get_pages(m)) {
		gone = READ_ONCE(m->gone);
		return gone == EKU_SHUTDOWN ? -ESHUTDOWN : -ENOTCONN;
	}
	ktw = &((const struct kup_kctl *)m->va)->k.tw;
#define KUP_USER_WOKEN (READ_ONCE(*ktw) != w.seen || READ_ONCE(m->gone))
	if (w.timeout_ns < 0)
		r = wait_event_interruptible(m->uwq, KUP_USER_WOKEN);
	else
		r = wait_event_interruptible_hrtimeout(m->uwq, KUP_USER_WOKEN,
		                                       ns_to_ktime(w.timeout_ns));
#undef KUP_USER_WOKEN
	kup_mem_put_pages(m);
	gone = READ_ONCE(m->gone);
	if (gone)
		return gone == EKU_SHUTDOWN ? -ESHUTDOWN : -ENOTCONN;
	if (r == -ERESTARTSYS)
		return -EINTR;
	if (r == -ETIME)
		return -ETIMEDOUT;
	return 0;
}

static long kup_ioc_notify(struct kup_kfile *f, void __user *uarg)
{
	struct kupdev_softc *sc = f->sc;
	struct kup_ioc_wait w;
	long r;

	if (copy_from_user(&w, uarg, sizeof(w)))
		return -EFAULT;
	if (w.spare)
		return -EINVAL; /* reserved */
#define KUP_NOTIFIED ((uint32_t)atomic_read(&sc->notify_gen) != w.seen || READ_ONCE(sc->d.dead))
	if (w.timeout_ns < 0)
		r = wait_event_interruptible(sc->notify_wq, KUP_NOTIFIED);
	else
		r = wait_event_interruptible_hrtimeout(sc->notify_wq, KUP_NOTIFIED,
		                                       ns_to_ktime(w.timeout_ns));
#undef KUP_NOTIFIED
	if (READ_ONCE(sc->d.dead))
		return -ESHUTDOWN;
	if (r == -ERESTARTSYS)
		return -EINTR;
	if (r == -ETIME)
		return -ETIMEDOUT;
	/*
	 * The file has seen this generation: its poll is quiet until the next.
	 * Only on success: the caller keeps its old seen after a timeout, and a
	 * notify landing just after the wait must still make the file readable.
	 */
	WRITE_ONCE(f->nseen, (uint32_t)atomic_read(&sc->notify_gen));
	return 0;
}

static long kup_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct kup_kfile *f = file->private_data;
	struct kupdev_softc *sc = f->sc;
	void __user *uarg = (void __user *)arg;
	struct kup_ioc_info info;
	struct kup_kmem *m;

	switch (cmd) {
	case KUP_IOC_INFO:
		memset(&info, 0, sizeof(info));
		mutex_lock(&sc->lock);
		info.abi = KUP_ABI_VERSION;
		info.size = sc->d.size;
		info.chan_cnt = sc->d.chan_cnt;
		info.notify = (uint32_t)atomic_read(&sc->notify_gen);
		WRITE_ONCE(f->nseen, info.notify);
		info.state = sc->d.dead ? KUP_ST_SHUTDOWN : KUP_ST_OPEN;
		mutex_unlock(&sc->lock);
		return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
	case KUP_IOC_ATTACH:
		/* Holding a channel means writing its user block. */
		if (!(file->f_mode & FMODE_WRITE))
			return -EPERM;
		return kup_ioc_attach(f, uarg);
	case KUP_IOC_WAIT:
		return kup_ioc_wait(f, uarg);
	case KUP_IOC_WAKE:
		m = smp_load_acquire(&f->mem);
		if (!m)
			return -ENOTCONN;
		wake_up_interruptible(&m->kwq);
		return 0;
	case KUP_IOC_NOTIFY:
		return kup_ioc_notify(f, uarg);
	default:
		return -ENOTTY;
	}
}

static __poll_t kup_poll(struct file *file, poll_table *pt)
{
	struct kup_kfile *f = file->private_data;
	struct kupdev_softc *sc = f->sc;
	struct kup_kmem *m = smp_load_acquire(&f->mem);
	int ready;

	if (!m) {
		/* A device handle: kupdev_notify since this file last saw the generation. */
		__poll_t mask = 0;

		/* Queued before the load: kupdev_notify bumps, then wakes the queue. */
		poll_wait(file, &sc->notify_wq, pt);
		if ((uint32_t)atomic_read(&sc->notify_gen) != READ_ONCE(f->nseen))
			mask |= EPOLLIN | EPOLLRDNORM;
		if (READ_ONCE(sc->d.dead))
			mask |= EPOLLHUP | EPOLLERR;
		return mask;
	}
	poll_wait(file, &m->uwq, pt);
	/* The pages go at detach (gone is set first): hold them while we look. */
	if (!kup_mem_get_pages(m))
		return EPOLLIN | EPOLLRDNORM | EPOLLHUP | EPOLLERR;
	ready = kup_user_ready(m->va, (const uint8_t *)m->va + KUP_BLOCK_LEN(m->size));
	kup_mem_put_pages(m);
	if (READ_ONCE(m->gone) || ready < 0)
		return EPOLLIN | EPOLLRDNORM | EPOLLHUP | EPOLLERR;
	return ready ? EPOLLIN | EPOLLRDNORM : 0;
}

/* --- mappings -------------------------------------------------------------- */

static void kup_vm_open(struct vm_area_struct *vma)
{
	struct kup_kfile *f = vma->vm_private_data;

	mutex_lock(&f->sc->lock);
	f->maps++;
	mutex_unlock(&f->sc->lock);
}

/* The last mapping of an attached channel gone: the channel is free again. */
static void kup_vm_close(struct vm_area_struct *vma)
{
	struct kup_kfile *f = vma->vm_private_data;

	mutex_lock(&f->sc->lock);
	if (--f->maps == 0)
		kup_file_detach_locked(f, EKU_CLOSED);
	mutex_unlock(&f->sc->lock);
}

/*
 * ptrace and /proc/PID/mem: get_user_pages refuses VM_IO, so debuggers
 * come here and copy through the kernel's view of the same pages, within
 * this mapping and with its rights (the kern block is never written).
 */
static int kup_vm_access(struct vm_area_struct *vma, unsigned long addr, void *buf, int len,
                         int write)
{
	struct kup_kfile *f = vma->vm_private_data;
	struct kup_kmem *m = f->mem; /* set before any mapping, kept until release */
	unsigned long off, n;

	if (write && !(vma->vm_flags & VM_WRITE))
		return -EACCES;
	if (len <= 0 || addr < vma->vm_start || addr >= vma->vm_end)
		return -EINVAL;
	n = min_t(unsigned long, len, vma->vm_end - addr);
	off = (vma->vm_pgoff << PAGE_SHIFT) + (addr - vma->vm_start);
	/* The module lets go of the pages at detach or unload: hold them while we copy. */
	if (!kup_mem_get_pages(m))
		return -EIO;
	if (off >= m->npages << PAGE_SHIFT || n > (m->npages << PAGE_SHIFT) - off) {
		kup_mem_put_pages(m);
		return -EINVAL; /* cannot happen: mmap checked, VM_DONTEXPAND */
	}
	if (write)
		memcpy((uint8_t *)m->va + off, buf, n);
	else
		memcpy(buf, (const uint8_t *)m->va + off, n);
	kup_mem_put_pages(m);
	return (int)n;
}

static const struct vm_operations_struct kup_vm_ops = {
    .open = kup_vm_open,
    .close = kup_vm_close,
    .access = kup_vm_access,
};

/*
 * Offset 0, KUP_BLOCK_LEN: the kern block, its data pages never writable
 * (its control page may be: kup_abi.h).  Then the user block, read-write.
 * Shared only, never executable, never past the end.
 */
static int kup_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct kup_kfile *f = file->private_data;
	struct kupdev_softc *sc = f->sc;
	unsigned long off = vma->vm_pgoff, len = vma_pages(vma), blk, total, num;
	int r;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EACCES;
	mutex_lock(&sc->lock);
	if (sc->d.dead) {
		r = -ESHUTDOWN;
		goto out;
	}
	if (!f->attached) {
		r = -ENOTCONN;
		goto out;
	}
	/*
	 * The channel belongs to the process that attached it: a forked child,
	 * an exec'd image or a process the fd was passed to cannot map it (and
	 * so cannot talk on that session, or keep it alive past the owner's munmap).
	 */
	if (vma->vm_mm != f->mm) {
		r = -EPERM;
		goto out;
	}
	blk = KUP_BLOCK_LEN(sc->d.size) >> PAGE_SHIFT;
	total = 2 * blk;
	if (off >= total || len > total - off) {
		r = -EINVAL;
		goto out;
	}
	off = array_index_nospec(off, total); /* no page array read past it under speculation */
	/* The kern data pages are read-only; its control page is the process's to poll RW. */
	if (KUP_MAP_KERN_DATA(off << PAGE_SHIFT, len << PAGE_SHIFT, sc->d.size)) {
		if (vma->vm_flags & VM_WRITE) {
			r = -EACCES;
			goto out;
		}
		kup_vm_flags_clear(vma, VM_MAYWRITE);
	}
	kup_vm_flags_clear(vma, VM_MAYEXEC);
	/*
	 * A child process must not share the channel (it is not attached):
	 * VM_DONTCOPY, and VM_IO because madvise(MADV_DOFORK) refuses to
	 * clear VM_DONTCOPY there.  VM_IO makes the slow get_user_pages path
	 * refuse the channel; on 6.1 its fast path (vmsplice, for one) does
	 * not look at VM_IO and takes page references of its own (6.12 refuses
	 * it).  That is accepted:
	 * the pages are refcounted, so what holds them keeps them after the
	 * detach and they are freed when it lets go (vmtest checks it).
	 * Debuggers get kup_vm_access.
	 */
	kup_vm_flags_set(vma, VM_DONTCOPY | VM_DONTEXPAND | VM_DONTDUMP | VM_IO);
	/* A reference per page and mapping: they outlive the module's release. */
	num = len;
	r = vm_insert_pages(vma, vma->vm_start, f->mem->pages + off, &num);
	if (!r && num)
		r = -EFAULT; /* not documented to happen: all or an error */
	if (r)
		goto out; /* mmap_region unmaps what went in */
	vma->vm_ops = &kup_vm_ops;
	vma->vm_private_data = f;
	f->maps++;
out:
	mutex_unlock(&sc->lock);
	return r;
}

const struct file_operations kup_fops = {
    .owner = THIS_MODULE,
    .open = kup_open,
    .release = kup_release,
    .unlocked_ioctl = kup_ioctl,
    .compat_ioctl = compat_ptr_ioctl,
    .mmap = kup_mmap,
    .poll = kup_poll,
};

/* --- the node --------------------------------------------------------------- */

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
#define KUP_DEVNODE_CONST const
#else
#define KUP_DEVNODE_CONST
#endif

/* devtmpfs asks here for the node's owner and mode (root:root 0600 by default). */
static char *kup_devnode(KUP_DEVNODE_CONST struct device *dev, umode_t *mode, kuid_t *uid,
                         kgid_t *gid)
{
	const struct kupdev_softc *sc = container_of(dev, struct kupdev_softc, dev);

	if (mode)
		*mode = sc->attr.mode & 07777;
	if (uid)
		*uid = make_kuid(&init_user_ns, sc->attr.uid);
	if (gid)
		*gid = make_kgid(&init_user_ns, sc->attr.gid);
	return NULL;
}

/*
 * Line i of the text into line (KUP_STAT_LINE bytes), padded with spaces to
 * exactly KUP_STAT_LINE bytes, its newline last: line 0 is the header, line
 * i > 0 channel i - 1 (sc->lock held).  0 past the end.
 */
static uint32_t kup_stat_fixed(struct kupdev_softc *sc, uint32_t i, char *line)
{
	struct kup_kchan *ch;
	const uint8_t *kb;
	uint32_t n;

	if (i == 0) {
		n = kup_stat_head(line, sc->name, &sc->d);
	} else {
		/* Once unload has begun the channels go: the header alone (state=shutdown). */
		if (i > sc->d.chan_cnt || sc->unloading || !sc->ch)
			return 0;
		ch = &sc->ch[i - 1];
		kb = ch->cur ? READ_ONCE(ch->cur->va) : NULL;
		n = kup_stat_chan(line, &ch->c, i - 1, ch->owner ? ch->owner->pid : 0, kb,
		                  kb ? kb + KUP_BLOCK_LEN(sc->d.size) : NULL);
	}
	memset(line + n - 1, ' ', KUP_STAT_LINE - n);
	line[KUP_STAT_LINE - 1] = '\n';
	return KUP_STAT_LINE;
}

/*
 * /sys/class/kup/NAME/channels: core's state text (core/kup_stat.h), made
 * afresh for every read under sc->lock, which keeps each channel's latest
 * attach (cur) mapped and orders the read with attaches and detaches; no
 * channel call holds it while it waits.  sysfs reads a page at a time, so
 * a long text comes in several reads: every line has the same width
 * (padded with spaces), and each read returns whole lines only (but when
 * the reader's buffer is shorter than a line), so no line mixes two
 * moments.
 */
static ssize_t channels_read(struct file *file, struct kobject *kobj, struct bin_attribute *attr,
                             char *buf, loff_t pos, size_t count)
{
	struct kupdev_softc *sc = container_of(kobj_to_dev(kobj), struct kupdev_softc, dev);
	size_t done = 0, k;
	uint32_t off, n;
	u64 i;
	char *line;

	if (pos < 0)
		return -EINVAL;
	i = div_u64_rem((u64)pos, KUP_STAT_LINE, &off);
	if (i > KUP_MAX_CHANNELS)
		return 0;
	line = kmalloc(KUP_STAT_LINE, GFP_KERNEL);
	if (!line)
		return -ENOMEM;
	mutex_lock(&sc->lock);
	for (; done < count; i++, off = 0) {
		n = kup_stat_fixed(sc, (uint32_t)i, line);
		k = min_t(size_t, count - done, n - off);
		if (!n || (done && k < n))
			break; /* the end, or a line that would not fit whole */
		memcpy(buf + done, line + off, k);
		done += k;
	}
	mutex_unlock(&sc->lock);
	kfree(line);
	return (ssize_t)done;
}

/* Size 0: the length is not known in advance (sysfs reads until a short read). */
static struct bin_attribute kup_bin_channels = {
    .attr = {.name = "channels", .mode = 0444},
    .read = channels_read,
};

static struct bin_attribute *kup_bin_attrs[] = {&kup_bin_channels, NULL};

static const struct attribute_group kup_dev_group = {
    .bin_attrs = kup_bin_attrs,
};

static const struct attribute_group *kup_dev_groups[] = {&kup_dev_group, NULL};

static const struct device_type kup_devtype = {
    .name = "kup",
    .devnode = kup_devnode,
    .groups = kup_dev_groups,
};

/*
 * The last reference to the softc is gone: kupdev_unload (or a failed
 * create) dropped the device's own, every file of the device is released
 * and the cdev is gone (kup_host.h).  Frees everything that is left.
 */
static void kup_dev_release(struct device *dev)
{
	struct kupdev_softc *sc = container_of(dev, struct kupdev_softc, dev);

	kup_dev_free(sc);
}

static DEFINE_IDA(kup_minors);
static dev_t kup_devt;
static struct class *kup_class;

/*
 * Give sc its minor and node (kup_devs_lock held, so names are unique).
 * 0, or a positive EKU_* code with sc freed.
 */
int kup_cdev_add(struct kupdev_softc *sc)
{
	int r = ida_alloc_max(&kup_minors, KUP_MAX_DEVS - 1, GFP_KERNEL);

	if (r < 0) {
		kup_dev_free(sc);
		return r == -ENOSPC ? EKU_BUSY : EKU_NOMEM;
	}
	sc->minor = r;
	device_initialize(&sc->dev);
	sc->dev.class = kup_class;
	sc->dev.type = &kup_devtype;
	sc->dev.devt = MKDEV(MAJOR(kup_devt), sc->minor);
	/* From here on the device's reference owns sc: kup_dev_release frees it. */
	sc->dev.release = kup_dev_release;
	cdev_init(&sc->cdev, &kup_fops);
	sc->cdev.owner = THIS_MODULE;
	r = dev_set_name(&sc->dev, "%s", sc->name);
	if (!r)
		r = cdev_device_add(&sc->cdev, &sc->dev);
	if (r) {
		pr_warn("kup: cannot create /dev/%s: %d\n", sc->name, r);
		ida_free(&kup_minors, sc->minor);
		put_device(&sc->dev); /* frees sc (kup_dev_release) */
		return r == -EEXIST ? EKU_EXIST : EKU_NOMEM;
	}
	return 0;
}

/* The node goes (kup_devs_lock held); files still open keep sc. */
void kup_cdev_del(struct kupdev_softc *sc)
{
	cdev_device_del(&sc->cdev, &sc->dev);
	ida_free(&kup_minors, sc->minor);
}

int kup_cdev_init(void)
{
	int r = alloc_chrdev_region(&kup_devt, 0, KUP_MAX_DEVS, "kup");

	if (r)
		return r;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
	kup_class = class_create("kup");
#else
	kup_class = class_create(THIS_MODULE, "kup");
#endif
	if (IS_ERR(kup_class)) {
		unregister_chrdev_region(kup_devt, KUP_MAX_DEVS);
		return PTR_ERR(kup_class);
	}
	return 0;
}

void kup_cdev_exit(void)
{
	class_destroy(kup_class);
	unregister_chrdev_region(kup_devt, KUP_MAX_DEVS);
	ida_destroy(&kup_minors);
}
