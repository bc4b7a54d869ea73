/* SPDX-License-Identifier: BSD-2-Clause */
/* kemu.c - the emulated FreeBSD KPIs of kemu.h. */
#define _GNU_SOURCE 1 /* memfd_create */
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kemu.h"

#undef malloc
#undef free

long kemu_allocs;
long kemu_objects;

void kemu_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("kemu panic: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

__thread int kemu_no_sleeping;

void kemu_may_sleep(const char *what)
{
	if (kemu_no_sleeping)
		kemu_panic("%s: may sleep where sleeping is forbidden", what);
}

void *kemu_malloc(size_t len, int flags)
{
	void *p;

	if (flags & M_WAITOK)
		kemu_may_sleep("malloc(M_WAITOK)");
	p = (flags & M_ZERO) ? calloc(1, len) : malloc(len);

	if (!p)
		kemu_panic("out of memory");
	__atomic_fetch_add(&kemu_allocs, 1, __ATOMIC_RELAXED);
	return p;
}

void kemu_free(void *p)
{
	if (!p)
		return;
	__atomic_fetch_sub(&kemu_allocs, 1, __ATOMIC_RELAXED);
	free(p);
}

size_t strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size) {
		size_t c = n < size - 1 ? n : size - 1;

		memcpy(dst, src, c);
		dst[c] = 0;
	}
	return n;
}

sbintime_t sbinuptime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((sbintime_t)ts.tv_sec << 32) + (((uint64_t)ts.tv_nsec << 32) / 1000000000);
}

int ppsratecheck(struct timeval *last, int *cur, int max)
{
	(void)last;
	(void)cur;
	(void)max;
	return 1;
}

int kemu_quiet;

void (*kemu_probe_hook)(const char *func, const char *name);

void kemu_probe(const char *func, const char *name)
{
	if (kemu_probe_hook)
		kemu_probe_hook(func, name);
}

void kemu_log(int pri, const char *fmt, ...)
{
	va_list ap;

	(void)pri;
	if (kemu_quiet)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

void maybe_yield(void)
{
	sched_yield();
}

struct kemu_kthread {
	void (*fn)(void *);
	void *arg;
};

static void *kemu_kthread_main(void *p)
{
	struct kemu_kthread k = *(struct kemu_kthread *)p;

	free(p);
	k.fn(k.arg);
	return NULL;
}

struct thread *kemu_curthread(void)
{
	static __thread char self;

	return (struct thread *)(void *)&self;
}

static struct vmspace kemu_vm_main, kemu_vm_other;
static struct proc kemu_proc_main = {&kemu_vm_main, 4242}, kemu_proc_other = {&kemu_vm_other, 4343};
static __thread int kemu_is_other;
int kemu_vmspace_refs;

struct proc *kemu_curproc(void)
{
	return kemu_is_other ? &kemu_proc_other : &kemu_proc_main;
}

void kemu_other_process(int on)
{
	kemu_is_other = on;
}

struct vmspace *vmspace_acquire_ref(struct proc *p)
{
	__atomic_fetch_add(&p->p_vmspace->refs, 1, __ATOMIC_SEQ_CST);
	if (p->p_vmspace == &kemu_vm_main)
		__atomic_fetch_add(&kemu_vmspace_refs, 1, __ATOMIC_SEQ_CST);
	return p->p_vmspace;
}

void vmspace_free(struct vmspace *vm)
{
	kemu_may_sleep("vmspace_free");
	KASSERT(vm->refs > 0, ("vmspace_free: no reference"));
	__atomic_fetch_sub(&vm->refs, 1, __ATOMIC_SEQ_CST);
	if (vm == &kemu_vm_main)
		__atomic_fetch_sub(&kemu_vmspace_refs, 1, __ATOMIC_SEQ_CST);
}

int kthread_add(void (*fn)(void *), void *arg, struct proc *p, struct thread **tdp, int flags,
                int pages, const char *fmt, ...)
{
	struct kemu_kthread *k = malloc(sizeof(*k));
	pthread_t t;

	(void)p, (void)tdp, (void)flags, (void)pages, (void)fmt;
	if (!k)
		return ENOMEM;
	k->fn = fn;
	k->arg = arg;
	if (pthread_create(&t, NULL, kemu_kthread_main, k)) {
		free(k);
		return EAGAIN;
	}
	pthread_detach(t);
	return 0;
}

void kthread_exit(void)
{
	pthread_exit(NULL);
}

/* Sleep/wakeup by identity: a short nap, since every caller loops on its condition. */
int msleep(void *ident, struct mtx *m, int pri, const char *wmesg, int timo)
{
	(void)ident, (void)pri, (void)wmesg, (void)timo;
	kemu_may_sleep("msleep");
	mtx_unlock(m);
	usleep(200);
	mtx_lock(m);
	return 0;
}

void wakeup(void *ident)
{
	(void)ident;
}

int pause_sbt(const char *wmesg, sbintime_t sbt, sbintime_t pr, int flags)
{
	struct timespec ts = {(time_t)(sbt >> 32), (long)(((sbt & 0xffffffff) * 1000000000) >> 32)};

	(void)wmesg, (void)pr, (void)flags;
	kemu_may_sleep("pause_sbt");
	nanosleep(&ts, NULL);
	return 0;
}

/* --- locks ------------------------------------------------------------------ */
void mtx_init(struct mtx *m, const char *name, const char *type, int opts)
{
	(void)name, (void)type, (void)opts;
	pthread_mutex_init(&m->m, NULL);
	m->held = 0;
}

void mtx_destroy(struct mtx *m)
{
	KASSERT(!m->held, ("destroying a held mutex"));
	if (pthread_mutex_destroy(&m->m))
		kemu_panic("mtx_destroy: busy");
}

void mtx_lock(struct mtx *m)
{
	KASSERT(!(m->held && pthread_equal(m->owner, pthread_self())), ("recursion"));
	pthread_mutex_lock(&m->m);
	m->owner = pthread_self();
	m->held = 1;
}

int mtx_trylock(struct mtx *m)
{
	if (pthread_mutex_trylock(&m->m))
		return 0;
	m->owner = pthread_self();
	m->held = 1;
	return 1;
}

void mtx_unlock(struct mtx *m)
{
	mtx_assert(m, MA_OWNED);
	m->held = 0;
	pthread_mutex_unlock(&m->m);
}

void cv_init(struct cv *cv, const char *desc)
{
	pthread_condattr_t a;

	(void)desc;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&cv->c, &a);
	pthread_condattr_destroy(&a);
}

void cv_destroy(struct cv *cv)
{
	pthread_cond_destroy(&cv->c);
}

void cv_broadcast(struct cv *cv)
{
	pthread_cond_broadcast(&cv->c);
}

void cv_wait(struct cv *cv, struct mtx *m)
{
	kemu_may_sleep("cv_wait");
	mtx_assert(m, MA_OWNED);
	m->held = 0;
	pthread_cond_wait(&cv->c, &m->m);
	m->owner = pthread_self();
	m->held = 1;
}

int cv_wait_sig(struct cv *cv, struct mtx *m)
{
	cv_wait(cv, m);
	return 0;
}

int cv_timedwait_sig_sbt(struct cv *cv, struct mtx *m, sbintime_t sbt, sbintime_t pr, int flags)
{
	struct timespec ts;
	int r;

	(void)pr, (void)flags;
	kemu_may_sleep("cv_timedwait_sig_sbt");
	mtx_assert(m, MA_OWNED);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(sbt >> 32);
	ts.tv_nsec += (long)(((sbt & 0xffffffff) * 1000000000) >> 32);
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	m->held = 0;
	r = pthread_cond_timedwait(&cv->c, &m->m, &ts);
	m->owner = pthread_self();
	m->held = 1;
	return r == ETIMEDOUT ? EWOULDBLOCK : 0;
}

/* --- kqueue and select -------------------------------------------------------- */
void knlist_init_mtx(struct knlist *knl, struct mtx *m)
{
	knl->kl_lock = m;
	SLIST_INIT(&knl->kl_list);
}

void knlist_add(struct knlist *knl, struct knote *kn, int islocked)
{
	if (!islocked)
		mtx_lock(knl->kl_lock);
	SLIST_INSERT_HEAD(&knl->kl_list, kn, kn_selnext);
	kn->kn_knlist = knl;
	if (!islocked)
		mtx_unlock(knl->kl_lock);
}

void knlist_remove(struct knlist *knl, struct knote *kn, int islocked)
{
	if (!islocked)
		mtx_lock(knl->kl_lock);
	SLIST_REMOVE(&knl->kl_list, kn, knote, kn_selnext);
	kn->kn_detached = 1;
	if (!islocked)
		mtx_unlock(knl->kl_lock);
}

void knlist_destroy(struct knlist *knl)
{
	KASSERT(SLIST_EMPTY(&knl->kl_list), ("knlist_destroy: knotes left"));
	knl->kl_lock = NULL;
}

int kemu_knote_event(struct knote *kn)
{
	struct mtx *m = kn->kn_knlist->kl_lock;
	int r;

	mtx_lock(m);
	r = kn->kn_fop->f_event(kn, 0);
	mtx_unlock(m);
	return r;
}

void kemu_knote(struct knlist *knl, long hint)
{
	struct knote *kn;

	mtx_assert(knl->kl_lock, MA_OWNED);
	SLIST_FOREACH(kn, &knl->kl_list, kn_selnext)
	if (kn->kn_fop->f_event(kn, hint))
		kn->kn_fired = 1;
}

void selrecord(struct thread *td, struct selinfo *sip)
{
	(void)td;
	__atomic_store_n(&sip->si_recorded, 1, __ATOMIC_RELAXED);
}

void selwakeup(struct selinfo *sip)
{
	__atomic_fetch_add(&sip->si_wakeups, 1, __ATOMIC_RELAXED);
}

void seldrain(struct selinfo *sip)
{
	selwakeup(sip);
}

/* --- devfs ---------------------------------------------------------------------- */
struct kemu_file {
	struct cdev *dev;
	void *priv;
	d_priv_dtor_t *dtor;
	int priv_live; /* set and not yet destroyed */
	int closed;
	struct kemu_file *next;
};

static pthread_mutex_t devfs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cdev *devs[64];
static struct kemu_file *files;
static __thread struct kemu_file *curfile;

void make_dev_args_init(struct make_dev_args *a)
{
	memset(a, 0, sizeof(*a));
	a->mda_size = sizeof(*a);
}

int make_dev_s(struct make_dev_args *a, struct cdev **cdev, const char *fmt, ...)
{
	struct cdev *d;
	va_list ap;
	int i, slot = -1;

	d = calloc(1, sizeof(*d));
	if (!d)
		return ENOMEM;
	va_start(ap, fmt);
	vsnprintf(d->si_name, sizeof(d->si_name), fmt, ap);
	va_end(ap);
	d->si_devsw = a->mda_devsw;
	d->si_drv1 = a->mda_si_drv1;
	d->uid = a->mda_uid;
	d->gid = a->mda_gid;
	d->mode = a->mda_mode;
	pthread_mutex_lock(&devfs_lock);
	for (i = 0; i < 64; i++) {
		if (devs[i] && !strcmp(devs[i]->si_name, d->si_name)) {
			pthread_mutex_unlock(&devfs_lock);
			free(d);
			return EEXIST;
		}
		if (!devs[i] && slot < 0)
			slot = i;
	}
	if (slot < 0) {
		pthread_mutex_unlock(&devfs_lock);
		free(d);
		return ENOSPC;
	}
	devs[slot] = d;
	pthread_mutex_unlock(&devfs_lock);
	*cdev = d;
	return 0;
}

/* Wait for threads in the methods, then run every open file's destructor. */
void destroy_dev(struct cdev *dev)
{
	struct kemu_file *f;
	d_priv_dtor_t *dtor;
	void *priv;
	int i;

	pthread_mutex_lock(&devfs_lock);
	dev->si_dead = 1;
	for (i = 0; i < 64; i++)
		if (devs[i] == dev)
			devs[i] = NULL;
	while (dev->si_threadcount) {
		pthread_mutex_unlock(&devfs_lock);
		usleep(100);
		pthread_mutex_lock(&devfs_lock);
	}
again:
	for (f = files; f; f = f->next) {
		if (f->dev == dev && f->priv_live) {
			/* Taken over: a racing close may free f, never run the dtor. */
			f->priv_live = 0;
			dtor = f->dtor;
			priv = f->priv;
			pthread_mutex_unlock(&devfs_lock);
			dtor(priv);
			pthread_mutex_lock(&devfs_lock);
			goto again;
		}
	}
	pthread_mutex_unlock(&devfs_lock);
	/* struct cdev stays: files keep pointing at it (dead), as in FreeBSD. */
}

int devfs_set_cdevpriv(void *priv, d_priv_dtor_t *dtor)
{
	struct kemu_file *f = curfile;

	if (!f || f->priv_live)
		return EBUSY;
	pthread_mutex_lock(&devfs_lock);
	f->priv = priv;
	f->dtor = dtor;
	f->priv_live = 1;
	pthread_mutex_unlock(&devfs_lock);
	return 0;
}

int devfs_get_cdevpriv(void **datap)
{
	struct kemu_file *f = curfile;
	int live;

	pthread_mutex_lock(&devfs_lock);
	live = f && f->priv_live;
	pthread_mutex_unlock(&devfs_lock);
	if (!live)
		return EBADF;
	*datap = f->priv;
	return 0;
}

/* Enter a method of f's device: 0, or ENXIO when the device is gone. */
static int enter(struct kemu_file *f)
{
	pthread_mutex_lock(&devfs_lock);
	if (f->dev->si_dead) {
		pthread_mutex_unlock(&devfs_lock);
		return ENXIO;
	}
	f->dev->si_threadcount++;
	pthread_mutex_unlock(&devfs_lock);
	curfile = f;
	return 0;
}

static void leave(struct kemu_file *f)
{
	curfile = NULL;
	pthread_mutex_lock(&devfs_lock);
	f->dev->si_threadcount--;
	pthread_mutex_unlock(&devfs_lock);
}

struct kemu_file *kemu_open(const char *name, int *err)
{
	struct kemu_file *f = calloc(1, sizeof(*f));
	struct cdev *d = NULL;
	int i, r;

	if (!f) {
		*err = ENOMEM;
		return NULL;
	}
	pthread_mutex_lock(&devfs_lock);
	for (i = 0; i < 64; i++)
		if (devs[i] && !strcmp(devs[i]->si_name, name))
			d = devs[i];
	if (!d) {
		pthread_mutex_unlock(&devfs_lock);
		free(f);
		*err = ENOENT;
		return NULL;
	}
	f->dev = d;
	f->next = files;
	files = f;
	pthread_mutex_unlock(&devfs_lock);
	r = enter(f);
	if (!r) {
		r = d->si_devsw->d_open(d, 3, 0, NULL);
		leave(f);
	}
	if (r) {
		kemu_close(f);
		*err = r;
		return NULL;
	}
	return f;
}

int kemu_ioctl(struct kemu_file *f, u_long cmd, void *data)
{
	int r = enter(f);

	if (r)
		return r;
	r = f->dev->si_devsw->d_ioctl(f->dev, cmd, data, 3, NULL);
	leave(f);
	return r;
}

int kemu_poll(struct kemu_file *f, int events)
{
	int r = enter(f);

	if (r)
		return POLLHUP;
	r = f->dev->si_devsw->d_poll(f->dev, events, NULL);
	leave(f);
	return r;
}

int kemu_kqfilter(struct kemu_file *f, struct knote *kn)
{
	int r = enter(f);

	if (r)
		return r;
	memset(kn, 0, sizeof(*kn));
	kn->kn_filter = EVFILT_READ;
	r = f->dev->si_devsw->d_kqfilter(f->dev, kn);
	leave(f);
	return r;
}

struct kemu_vmap {
	vm_object_t obj;
	char *addr;
	size_t len;
	int prot;
	vm_ooffset_t off;
};

/* Map len bytes of obj from off at addr (fixed), page by page for a device object. */
static int map_pages(vm_object_t obj, char *addr, vm_ooffset_t off, size_t len, int prot)
{
	int mprot = ((prot & VM_PROT_READ) ? PROT_READ : 0) |
	            ((prot & VM_PROT_WRITE) ? PROT_WRITE : 0) |
	            ((prot & VM_PROT_EXECUTE) ? PROT_EXEC : 0);
	size_t i;

	if (obj->type == OBJT_PHYS)
		return mmap(addr, len, mprot, MAP_SHARED | MAP_FIXED, obj->memfd, off) == MAP_FAILED
		           ? errno
		           : 0;
	for (i = 0; i < len; i += PAGE_SIZE) {
		vm_pindex_t pidx = (vm_pindex_t)(off + (vm_ooffset_t)i) / PAGE_SIZE;
		vm_page_t m;
		int r;

		mtx_lock(&obj->lock);
		for (m = obj->pages; m && m->pindex != pidx; m = m->next)
			;
		if (!m) {
			/* vm_fault: a fresh page for the pager to fill or replace. */
			m = calloc(1, sizeof(*m));
			if (!m)
				kemu_panic("out of memory");
			m->pindex = pidx;
			m->object = obj;
			m->next = obj->pages;
			obj->pages = m;
			r = obj->ops->cdev_pg_fault(obj, (vm_ooffset_t)pidx * PAGE_SIZE, prot, &m);
			KASSERT(obj->lock.held, ("fault handler returned the object unlocked"));
			if (r != VM_PAGER_OK) {
				mtx_unlock(&obj->lock);
				return EFAULT;
			}
			KASSERT((m->flags & PG_FICTITIOUS) && m->valid == VM_PAGE_BITS_ALL &&
			            m->object == obj && m->pindex == pidx,
			        ("device pager fault: not a valid fictitious page of the object"));
		}
		mtx_unlock(&obj->lock);
		if (mmap(addr + i, PAGE_SIZE, mprot, MAP_SHARED | MAP_FIXED, m->phys->memfd,
		         (off_t)m->physoff) == MAP_FAILED)
			return errno;
	}
	return 0;
}

int kemu_mmap_at(struct kemu_file *f, void *at, vm_ooffset_t off, size_t len, int prot,
                 struct kemu_vmap **vp, void **addr)
{
	struct kemu_vmap *v;
	vm_object_t obj;
	vm_ooffset_t o = off;
	void *p;
	int r = enter(f);

	if (r)
		return r;
	r = f->dev->si_devsw->d_mmap_single(f->dev, &o, len, &obj, prot);
	leave(f);
	if (r)
		return r;
	v = calloc(1, sizeof(*v));
	p = at ? at : mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!v || p == MAP_FAILED)
		kemu_panic("out of memory");
	v->obj = obj;
	v->addr = p;
	v->len = len;
	v->prot = prot;
	v->off = o;
	r = map_pages(obj, p, o, len, prot);
	if (r) {
		kemu_munmap(v); /* vm_mmap_object failed: the object reference goes */
		return r;
	}
	*vp = v;
	*addr = p;
	return 0;
}

int kemu_mmap(struct kemu_file *f, vm_ooffset_t off, size_t len, int prot, struct kemu_vmap **vp,
              void **addr)
{
	return kemu_mmap_at(f, NULL, off, len, prot, vp, addr);
}

void kemu_vmap_drop(struct kemu_vmap *v)
{
	vm_object_deallocate(v->obj);
	free(v);
}

void kemu_munmap(struct kemu_vmap *v)
{
	munmap(v->addr, v->len);
	kemu_vmap_drop(v);
}

struct kemu_vmap *kemu_vmap_fork(struct kemu_vmap *v)
{
	struct kemu_vmap *c = calloc(1, sizeof(*c));
	void *p = mmap(NULL, v->len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (!c || p == MAP_FAILED)
		kemu_panic("out of memory");
	*c = *v;
	c->addr = p;
	vm_object_reference(v->obj);
	if (map_pages(c->obj, c->addr, c->off, c->len, c->prot))
		kemu_panic("kemu_vmap_fork: cannot map");
	return c;
}

/* Last close: FreeBSD drops the file's knotes first, then the cdevpriv. */
void kemu_close(struct kemu_file *f)
{
	struct kemu_file **pp;
	int live;

	pthread_mutex_lock(&devfs_lock);
	live = f->priv_live;
	f->priv_live = 0;
	for (pp = &files; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	pthread_mutex_unlock(&devfs_lock);
	if (live)
		f->dtor(f->priv);
	free(f);
}

/* --- VM -------------------------------------------------------------------------- */
vm_map_t kernel_map;

struct kmapping {
	vm_offset_t kva;
	size_t len;
	vm_object_t obj;
};
static struct kmapping kmaps[4096];
static pthread_mutex_t kmap_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t devpager_lock = PTHREAD_MUTEX_INITIALIZER;
static vm_object_t devpager_list;

static vm_object_t object_new(int type, void *handle)
{
	vm_object_t o = calloc(1, sizeof(*o));

	if (!o)
		kemu_panic("out of memory");
	o->type = type;
	o->handle = handle;
	o->ref = 1;
	o->memfd = -1;
	mtx_init(&o->lock, "vm object", NULL, MTX_DEF);
	__atomic_fetch_add(&kemu_objects, 1, __ATOMIC_RELAXED);
	return o;
}

vm_object_t vm_pager_allocate(int type, void *handle, vm_ooffset_t size, vm_prot_t prot,
                              vm_ooffset_t off, void *cred)
{
	vm_object_t o;

	(void)handle, (void)prot, (void)off, (void)cred;
	KASSERT(type == OBJT_PHYS, ("vm_pager_allocate: only OBJT_PHYS is emulated"));
	kemu_may_sleep("vm_pager_allocate");
	o = object_new(type, NULL);
	/* Zero-filled pages that a process mapping (kemu_sys.c) can share. */
	o->memfd = memfd_create("kemu-vm-object", MFD_CLOEXEC);
	if (o->memfd < 0 || ftruncate(o->memfd, (off_t)size) < 0)
		kemu_panic("memfd: %s", strerror(errno));
	o->mem = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, o->memfd, 0);
	if (o->mem == MAP_FAILED)
		kemu_panic("mmap: %s", strerror(errno));
	o->len = (size_t)size;
	return o;
}

/*
 * As device_pager.c: the ctor runs on every call, an object is made only
 * for a handle no live object has, and the dtor runs once per object.
 */
vm_object_t cdev_pager_allocate(void *handle, int type, struct cdev_pager_ops *ops,
                                vm_ooffset_t size, vm_prot_t prot, vm_ooffset_t foff,
                                struct ucred *cred)
{
	vm_object_t o;
	u_short color;

	KASSERT(type == OBJT_DEVICE, ("cdev_pager_allocate: only OBJT_DEVICE is emulated"));
	kemu_may_sleep("cdev_pager_allocate");
	if ((foff & (PAGE_SIZE - 1)) || size <= 0)
		return NULL;
	if (ops->cdev_pg_ctor(handle, size, prot, foff, cred, &color))
		return NULL;
	pthread_mutex_lock(&devpager_lock);
	for (o = devpager_list; o; o = o->next)
		if (o->handle == handle && o->ref > 0) {
			vm_object_reference(o);
			pthread_mutex_unlock(&devpager_lock);
			return o;
		}
	o = object_new(OBJT_DEVICE, handle);
	o->ops = ops;
	o->len = (size_t)size;
	o->next = devpager_list;
	devpager_list = o;
	pthread_mutex_unlock(&devpager_lock);
	return o;
}

void vm_object_reference(vm_object_t obj)
{
	__atomic_fetch_add(&obj->ref, 1, __ATOMIC_RELAXED);
}

static void devpager_dealloc(vm_object_t obj)
{
	vm_object_t *pp;
	vm_page_t m;

	/* Nothing maps the object's pages any more: they may go now. */
	for (m = obj->pages; m; m = m->next) {
		KASSERT(m->flags & PG_FICTITIOUS, ("a real page in a device object"));
		__atomic_fetch_sub(&m->phys->fakes, 1, __ATOMIC_RELAXED);
	}
	/* dev_pager_dealloc: the dtor first, the object unlocked. */
	obj->ops->cdev_pg_dtor(obj->handle);
	pthread_mutex_lock(&devpager_lock);
	for (pp = &devpager_list; *pp; pp = &(*pp)->next)
		if (*pp == obj) {
			*pp = obj->next;
			break;
		}
	pthread_mutex_unlock(&devpager_lock);
	while ((m = obj->pages) != NULL) {
		obj->pages = m->next;
		free(m);
	}
}

/*
 * The last reference destroys the object.  For OBJT_PHYS that frees the
 * pages: a fictitious page of a live device object still pointing at them
 * means a process maps freed memory, which FreeBSD would not notice.
 */
void vm_object_deallocate(vm_object_t obj)
{
	if (__atomic_fetch_sub(&obj->ref, 1, __ATOMIC_ACQ_REL) != 1)
		return;
	kemu_may_sleep("vm_object_deallocate");
	if (obj->type == OBJT_DEVICE)
		devpager_dealloc(obj);
	if (obj->type == OBJT_PHYS) {
		KASSERT(__atomic_load_n(&obj->fakes, __ATOMIC_RELAXED) == 0,
		        ("pages freed while a process maps them"));
		munmap(obj->mem, obj->len);
		close(obj->memfd);
	}
	mtx_destroy(&obj->lock);
	free(obj);
	__atomic_fetch_sub(&kemu_objects, 1, __ATOMIC_RELAXED);
}

vm_offset_t vm_map_min(vm_map_t map)
{
	(void)map;
	return 0;
}

int vm_map_find(vm_map_t map, vm_object_t obj, vm_ooffset_t off, vm_offset_t *addr, vm_size_t len,
                vm_offset_t max, int find, vm_prot_t prot, vm_prot_t maxprot, int cow)
{
	int i;

	(void)map, (void)off, (void)max, (void)find, (void)prot, (void)maxprot, (void)cow;
	kemu_may_sleep("vm_map_find");
	pthread_mutex_lock(&kmap_lock);
	for (i = 0; i < 4096; i++)
		if (!kmaps[i].obj) {
			kmaps[i].obj = obj; /* the map entry takes the caller's reference */
			kmaps[i].kva = (vm_offset_t)obj->mem;
			kmaps[i].len = len;
			*addr = kmaps[i].kva;
			pthread_mutex_unlock(&kmap_lock);
			return KERN_SUCCESS;
		}
	pthread_mutex_unlock(&kmap_lock);
	return 1;
}

int vm_map_wire(vm_map_t map, vm_offset_t start, vm_offset_t end, int flags)
{
	(void)map, (void)start, (void)end, (void)flags;
	kemu_may_sleep("vm_map_wire");
	return KERN_SUCCESS;
}

int vm_map_remove(vm_map_t map, vm_offset_t start, vm_offset_t end)
{
	vm_object_t obj = NULL;
	int i;

	(void)map, (void)end;
	kemu_may_sleep("vm_map_remove");
	pthread_mutex_lock(&kmap_lock);
	for (i = 0; i < 4096; i++)
		if (kmaps[i].obj && kmaps[i].kva == start) {
			obj = kmaps[i].obj;
			kmaps[i].obj = NULL;
			break;
		}
	pthread_mutex_unlock(&kmap_lock);
	KASSERT(obj, ("vm_map_remove: no such mapping"));
	vm_object_deallocate(obj);
	return KERN_SUCCESS;
}

/* A "physical address": the kernel_map slot (+1) above bit 40, the offset below. */
vm_paddr_t pmap_kextract(vm_offset_t va)
{
	vm_paddr_t pa = 0;
	int i;

	pthread_mutex_lock(&kmap_lock);
	for (i = 0; i < 4096; i++)
		if (kmaps[i].obj && va >= kmaps[i].kva && va < kmaps[i].kva + kmaps[i].len) {
			pa = ((vm_paddr_t)(i + 1) << 40) | (va - kmaps[i].kva);
			break;
		}
	pthread_mutex_unlock(&kmap_lock);
	KASSERT(pa, ("pmap_kextract: not a wired kernel address"));
	return pa;
}

static void fake_set(vm_page_t m, vm_paddr_t paddr)
{
	size_t slot = (size_t)(paddr >> 40) - 1;

	KASSERT((paddr & (PAGE_SIZE - 1)) == 0, ("fictitious page not page aligned"));
	pthread_mutex_lock(&kmap_lock);
	KASSERT(slot < 4096 && kmaps[slot].obj, ("fictitious page of no kernel mapping"));
	m->phys = kmaps[slot].obj;
	m->physoff = (size_t)(paddr & (((vm_paddr_t)1 << 40) - 1));
	__atomic_fetch_add(&m->phys->fakes, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&kmap_lock);
	m->phys_addr = paddr;
}

vm_page_t vm_page_getfake(vm_paddr_t paddr, vm_memattr_t memattr)
{
	vm_page_t m = calloc(1, sizeof(*m));

	(void)memattr;
	kemu_may_sleep("vm_page_getfake");
	if (!m)
		kemu_panic("out of memory");
	m->flags = PG_FICTITIOUS;
	fake_set(m, paddr);
	return m;
}

void vm_page_updatefake(vm_page_t m, vm_paddr_t paddr, vm_memattr_t memattr)
{
	(void)memattr;
	__atomic_fetch_sub(&m->phys->fakes, 1, __ATOMIC_RELAXED);
	fake_set(m, paddr);
}

/*
 * As from FreeBSD 13 on: the replaced page leaves the object and is freed
 * here (vm_page_replace_hold + vm_page_free); 12's vm_page_replace_checked,
 * which left the free to the caller, is gone (14.2 has no such call), so
 * a caller that frees it again is a use after free ASan reports.
 */
void vm_page_replace(vm_page_t mnew, vm_object_t object, vm_pindex_t pindex, vm_page_t mold)
{
	vm_page_t *pp;

	mtx_assert(&object->lock, MA_OWNED);
	KASSERT(mnew->object == NULL, ("vm_page_replace: new page already in an object"));
	KASSERT(mold->object == object && mold->pindex == pindex, ("replacing a stranger"));
	for (pp = &object->pages; *pp != mold; pp = &(*pp)->next)
		KASSERT(*pp, ("vm_page_replace: page not in object"));
	*pp = mnew;
	mnew->next = mold->next;
	mnew->object = object;
	mnew->pindex = pindex;
	mold->object = NULL;
	vm_page_free(mold);
}

void vm_page_free(vm_page_t m)
{
	KASSERT(!(m->flags & PG_FICTITIOUS) && m->object == NULL,
	        ("vm_page_free: fictitious or still in an object"));
	free(m);
}

/* --- sysctl(9), sbuf(9) ------------------------------------------------------ */

static struct {
	const char *name;
	kemu_sysctl_fn *fn;
} kemu_sysctls[8];

void kemu_sysctl_register(const char *name, kemu_sysctl_fn *fn)
{
	size_t i;

	for (i = 0; i < sizeof(kemu_sysctls) / sizeof(kemu_sysctls[0]); i++) {
		if (!kemu_sysctls[i].name) {
			kemu_sysctls[i].name = name;
			kemu_sysctls[i].fn = fn;
			return;
		}
	}
	abort();
}

char *kemu_sysctl_string(const char *name)
{
	struct sysctl_req req = {NULL, 0};
	size_t i;

	for (i = 0; i < sizeof(kemu_sysctls) / sizeof(kemu_sysctls[0]); i++) {
		if (kemu_sysctls[i].name && !strcmp(kemu_sysctls[i].name, name)) {
			if (kemu_sysctls[i].fn(NULL, NULL, 0, &req)) {
				free(req.buf);
				return NULL;
			}
			return req.buf ? req.buf : strdup("");
		}
	}
	return NULL;
}

struct sbuf *sbuf_new_for_sysctl(struct sbuf *s, char *buf, int length, struct sysctl_req *req)
{
	(void)buf;
	(void)length;
	kemu_may_sleep("sbuf_new_for_sysctl"); /* it drains to the process: copyout */
	s->buf = NULL;
	s->len = 0;
	s->req = req;
	return s;
}

int sbuf_bcat(struct sbuf *s, const void *buf, size_t len)
{
	char *nb = realloc(s->buf, s->len + len + 1);

	if (!nb)
		abort();
	memcpy(nb + s->len, buf, len);
	s->len += len;
	nb[s->len] = '\0';
	s->buf = nb;
	return 0;
}

int sbuf_finish(struct sbuf *s)
{
	kemu_may_sleep("sbuf_finish");
	s->req->buf = s->buf ? s->buf : strdup("");
	s->req->len = s->len;
	s->buf = NULL;
	return 0;
}

void sbuf_delete(struct sbuf *s)
{
	free(s->buf);
	s->buf = NULL;
}
