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

void *kemu_malloc(size_t len, int flags)
{
	void *p = (flags & M_ZERO) ? calloc(1, len) : malloc(len);

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

void knlist_delete(struct knlist *knl, struct thread *td, int islocked)
{
	struct knote *kn;

	(void)td;
	if (!islocked)
		mtx_lock(knl->kl_lock);
	while ((kn = SLIST_FIRST(&knl->kl_list)) != NULL) {
		SLIST_REMOVE_HEAD(&knl->kl_list, kn_selnext);
		kn->kn_detached = 1;
	}
	if (!islocked)
		mtx_unlock(knl->kl_lock);
}

void knlist_destroy(struct knlist *knl)
{
	KASSERT(SLIST_EMPTY(&knl->kl_list), ("knlist_destroy: knotes left"));
	knl->kl_lock = NULL;
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
			f->priv_live = 0;
			pthread_mutex_unlock(&devfs_lock);
			f->dtor(f->priv);
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

int kemu_mmap(struct kemu_file *f, vm_ooffset_t off, size_t len, int prot, vm_object_t *objp,
              void **addr)
{
	vm_ooffset_t o = off;
	int r = enter(f);

	if (r)
		return r;
	r = f->dev->si_devsw->d_mmap_single(f->dev, &o, len, objp, prot);
	leave(f);
	if (!r)
		*addr = (char *)(*objp)->mem + o;
	return r;
}

void kemu_munmap(vm_object_t obj)
{
	vm_object_deallocate(obj);
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
	vm_object_t obj;
};
static struct kmapping kmaps[4096];
static pthread_mutex_t kmap_lock = PTHREAD_MUTEX_INITIALIZER;

vm_object_t vm_pager_allocate(int type, void *handle, vm_ooffset_t size, vm_prot_t prot,
                              vm_ooffset_t off, void *cred)
{
	vm_object_t o = calloc(1, sizeof(*o));

	(void)type, (void)handle, (void)prot, (void)off, (void)cred;
	if (!o)
		return NULL;
	/* Zero-filled pages that a process mapping (kemu_sys.c) can share. */
	o->memfd = memfd_create("kemu-vm-object", MFD_CLOEXEC);
	if (o->memfd < 0 || ftruncate(o->memfd, (off_t)size) < 0)
		kemu_panic("memfd: %s", strerror(errno));
	o->mem = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, o->memfd, 0);
	if (o->mem == MAP_FAILED)
		kemu_panic("mmap: %s", strerror(errno));
	o->len = (size_t)size;
	o->ref = 1;
	__atomic_fetch_add(&kemu_objects, 1, __ATOMIC_RELAXED);
	return o;
}

void vm_object_reference(vm_object_t obj)
{
	__atomic_fetch_add(&obj->ref, 1, __ATOMIC_RELAXED);
}

/* The last reference unmaps the pages: a stale kernel pointer then faults. */
void vm_object_deallocate(vm_object_t obj)
{
	if (__atomic_fetch_sub(&obj->ref, 1, __ATOMIC_ACQ_REL) == 1) {
		munmap(obj->mem, obj->len);
		close(obj->memfd);
		free(obj);
		__atomic_fetch_sub(&kemu_objects, 1, __ATOMIC_RELAXED);
	}
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

	(void)map, (void)off, (void)len, (void)max, (void)find, (void)prot, (void)maxprot,
	    (void)cow;
	pthread_mutex_lock(&kmap_lock);
	for (i = 0; i < 4096; i++)
		if (!kmaps[i].obj) {
			kmaps[i].obj = obj; /* the map entry takes the caller's reference */
			kmaps[i].kva = (vm_offset_t)obj->mem;
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
	return KERN_SUCCESS;
}

int vm_map_remove(vm_map_t map, vm_offset_t start, vm_offset_t end)
{
	vm_object_t obj = NULL;
	int i;

	(void)map, (void)end;
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
