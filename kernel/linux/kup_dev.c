// SPDX-License-Identifier: BSD-2-Clause
/*
 * kup_dev.c - devices: create, unload, the char device and its node, the
 * memory of one attach, and the kern side's sleep/wake host ops.
 */
#include <linux/ctype.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/version.h>
#include <linux/vmalloc.h>
#include <linux/wait_bit.h>

#include "kup_linux.h"

#if PAGE_SIZE != KUP_PAGE
#error "kup.ko needs 4 KiB pages: the shared layout is in KUP_PAGE units"
#endif

static LIST_HEAD(kup_devs); /* devices not yet unloaded */
static DEFINE_MUTEX(kup_devs_lock);
static DEFINE_IDA(kup_minors);
static dev_t kup_devt;
static struct class *kup_class;

/* --- memory of one attach ------------------------------------------------ */

/*
 * Charged to the attaching process's memory cgroup (it runs this), zeroed,
 * and given back as ENOMEM rather than by waking the OOM killer: a channel
 * can be 128 MiB.
 */
#define KUP_MEM_GFP (GFP_KERNEL_ACCOUNT | __GFP_ZERO | __GFP_NOWARN | __GFP_RETRY_MAYFAIL)

static void kup_mem_free_pages(struct page **pages, unsigned long n)
{
	/* Pages still mapped by a process keep the reference each mapping took. */
	while (n)
		__free_page(pages[--n]);
	kvfree(pages);
}

struct kup_mem *kup_mem_alloc(uint32_t size, uint32_t chan, uint32_t chan_cnt)
{
	unsigned long i, n = KUP_MAP_LEN(size) >> PAGE_SHIFT;
	struct kup_mem *m = kzalloc(sizeof(*m), GFP_KERNEL_ACCOUNT);

	if (!m)
		return NULL;
	m->pages = kvmalloc_array(n, sizeof(*m->pages), GFP_KERNEL_ACCOUNT);
	if (!m->pages)
		goto fail;
	for (i = 0; i < n; i++) {
		m->pages[i] = alloc_page(KUP_MEM_GFP);
		if (!m->pages[i] || fatal_signal_pending(current))
			goto fail_pages;
		cond_resched();
	}
	/* The kernel's view; mmap inserts the same pages (vm_insert_pages). */
	m->va = vmap(m->pages, n, VM_MAP, PAGE_KERNEL);
	if (!m->va)
		goto fail_pages;
	m->npages = n;
	kref_init(&m->ref);
	kref_init(&m->pref);
	m->size = size;
	m->chan = chan;
	init_waitqueue_head(&m->kwq);
	init_waitqueue_head(&m->uwq);
	kup_chan_format(m->va, (uint8_t *)m->va + KUP_BLOCK_LEN(size), size, chan, chan_cnt);
	return m;

fail_pages:
	if (i < n && m->pages[i])
		i++; /* allocated, then a fatal signal */
	kup_mem_free_pages(m->pages, i);
fail:
	kfree(m);
	return NULL;
}

static void kup_mem_release_pages(struct kref *pref)
{
	struct kup_mem *m = container_of(pref, struct kup_mem, pref);

	vunmap(m->va);
	kup_mem_free_pages(m->pages, m->npages);
	m->va = NULL;
	m->pages = NULL;
}

static void kup_mem_release(struct kref *ref)
{
	kfree(container_of(ref, struct kup_mem, ref));
}

void kup_mem_get(struct kup_mem *m)
{
	kref_get(&m->ref);
	kref_get(&m->pref);
}

void kup_mem_put(struct kup_mem *m)
{
	if (m) {
		kref_put(&m->pref, kup_mem_release_pages);
		kref_put(&m->ref, kup_mem_release);
	}
}

/* The file's own reference at release: the object only (its pref is gone). */
void kup_mem_put_obj(struct kup_mem *m)
{
	if (m)
		kref_put(&m->ref, kup_mem_release);
}

int kup_mem_get_pages(struct kup_mem *m)
{
	return kref_get_unless_zero(&m->pref);
}

void kup_mem_put_pages(struct kup_mem *m)
{
	kref_put(&m->pref, kup_mem_release_pages);
}

/* --- the kern side's host ops -------------------------------------------- */

static int kup_kern_sleep(struct kup_end *e, const uint32_t *peer_tw, uint32_t seen,
                          int64_t timeout_ns)
{
	struct kup_kchan *ch = e->host;
	struct kup_mem *m = ch->emem;
	long r;

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

	/* Sleepers in KUP_IOC_WAIT and pollers of the channel's file. */
	wake_up_interruptible_all(&ch->emem->uwq);
}

const struct kup_host_ops kup_kern_ops = {
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
	struct kup_mem *old = NULL, *m;
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
		                     force || ch->c.holder == current);
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

/* --- create ---------------------------------------------------------------- */

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

static const struct device_type kup_devtype = {
    .name = "kup",
    .devnode = kup_devnode,
};

/*
 * The last reference to the softc is gone: kupdev_unload (or a failed
 * create) dropped the device's own, every file of the device is released
 * and the cdev is gone (kup_linux.h).  Frees everything that is left.
 */
static void kup_dev_release(struct device *dev)
{
	struct kupdev_softc *sc = container_of(dev, struct kupdev_softc, dev);

	kvfree(sc->ch); /* NULL after unload; set when create failed */
	mutex_destroy(&sc->shut_lock);
	mutex_destroy(&sc->lock);
	kfree(sc);
}

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
			r = EKU_EXIST;
			goto fail_unlock;
		}
	}
	r = ida_alloc_max(&kup_minors, KUP_MAX_DEVS - 1, GFP_KERNEL);
	if (r < 0) {
		r = r == -ENOSPC ? EKU_BUSY : EKU_NOMEM;
		mutex_unlock(&kup_devs_lock);
		kvfree(sc->ch);
		kfree(sc);
		*err = r;
		return NULL;
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
		mutex_unlock(&kup_devs_lock);
		put_device(&sc->dev); /* frees sc (kup_dev_release) */
		*err = r == -EEXIST ? EKU_EXIST : EKU_NOMEM;
		return NULL;
	}
	list_add_tail(&sc->node, &kup_devs);
	mutex_unlock(&kup_devs_lock);
	return sc;

fail_unlock:
	mutex_unlock(&kup_devs_lock);
	kvfree(sc->ch);
	kfree(sc);
	*err = r;
	return NULL;
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
	kup_dev_shutdown(sc);

	for (i = 0; i < sc->d.chan_cnt; i++) {
		struct kup_kchan *ch = &sc->ch[i];
		struct kup_mem *m;

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

	cdev_device_del(&sc->cdev, &sc->dev);
	mutex_lock(&kup_devs_lock);
	ida_free(&kup_minors, sc->minor);
	list_del(&sc->node); /* the name can be created again */
	mutex_unlock(&kup_devs_lock);
	/* sc is freed now, or when the last file opened before unload is released. */
	put_device(&sc->dev);
	return 0;
}

/* --- module ---------------------------------------------------------------- */

int kup_dev_init(void)
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

void kup_dev_exit(void)
{
	struct kupdev_softc *sc;

	/*
	 * A client module that did not unload its devices is gone by now
	 * (it held a reference on kup.ko): unload them for it.  No file of
	 * a device is open (each holds a reference on kup.ko), so each softc
	 * is freed here.  Nothing else touches kup_devs now.
	 */
	while ((sc = list_first_entry_or_null(&kup_devs, struct kupdev_softc, node))) {
		pr_warn("kup: device %s was never unloaded; unloading it\n", sc->name);
		kupdev_unload(sc);
	}
	class_destroy(kup_class);
	unregister_chrdev_region(kup_devt, KUP_MAX_DEVS);
	ida_destroy(&kup_minors);
}
