/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kemu.h - a userspace emulation of the few FreeBSD kernel KPIs kup.ko
 * uses, so that the sources of kernel/freebsd and core/ run unchanged, on Linux, in a
 * test program (tests/freebsd/emu/test_emu.c).  Locks are pthread mutexes,
 * condition variables pthread conds, VM objects malloc'd memory with a
 * reference count, devfs a table of named devices and open files.
 *
 * It checks kup.ko's logic (attach, detach, sleeping and waking, unload,
 * lifetimes), not FreeBSD's: it is no substitute for tests/freebsd/run.sh
 * on a FreeBSD machine.  Every inc/<sys|machine|vm>/NAME.h includes this.
 */
#ifndef KEMU_H
#define KEMU_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <time.h>
#include <poll.h>

#define __FreeBSD_version 1400000
#define __inline inline
#define __unused               __attribute__((unused))
#define __DECONST(type, var)   ((type)(uintptr_t)(const void *)(var))
#define __containerof(x, s, m) ((s *)(void *)((char *)(x)-offsetof(s, m)))
#ifndef ERESTART
#define ERESTART (-1)
#endif
/* A file's open mode, as d_ioctl's fflag gets it (the emulated files are read-write). */
#define FREAD  0x0001
#define FWRITE 0x0002
typedef char *caddr_t;
typedef int64_t sbintime_t;
typedef uintptr_t vm_offset_t;
typedef int64_t vm_ooffset_t;
typedef size_t vm_size_t;
typedef int vm_prot_t;
typedef uint64_t vm_paddr_t;
typedef uint64_t vm_pindex_t;
typedef int vm_memattr_t;
struct ucred;
#define PAGE_SIZE 4096

void kemu_panic(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
#define KASSERT(c, msg)                                                                            \
	do {                                                                                       \
		if (!(c))                                                                          \
			kemu_panic("KASSERT %s at %s:%d", #c, __FILE__, __LINE__);                 \
	} while (0)

/* --- memory: malloc(9) on top of libc, counted for leak checks ------------ */
struct malloc_type {
	const char *name;
};
#define MALLOC_DEFINE(t, s, l) struct malloc_type t[1] __attribute__((unused)) = {{s}}
#define MALLOC_DECLARE(t)      extern struct malloc_type t[1]
#define M_WAITOK               0x2
#define M_ZERO                 0x100
void *kemu_malloc(size_t len, int flags);
void kemu_free(void *p);
#define malloc(len, type, flags) kemu_malloc((len), (flags))
#define free(p, type)            kemu_free(p)
extern long kemu_allocs; /* live kemu_malloc blocks */
size_t strlcpy(char *dst, const char *src, size_t size);

/* --- atomics (machine/atomic.h) -------------------------------------------- */
#define atomic_load_acq_32(p)         __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define atomic_store_rel_32(p, v)     __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define atomic_load_acq_int(p)        __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define atomic_store_rel_int(p, v)    __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define atomic_load_acq_ptr(p)        __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define atomic_store_rel_ptr(p, v)    __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define atomic_add_int(p, v)          ((void)__atomic_fetch_add((p), (v), __ATOMIC_RELAXED))
#define atomic_subtract_int(p, v)     ((void)__atomic_fetch_sub((p), (v), __ATOMIC_RELAXED))
#define atomic_subtract_rel_int(p, v) ((void)__atomic_fetch_sub((p), (v), __ATOMIC_RELEASE))
#define atomic_add_rel_32(p, v)       ((void)__atomic_fetch_add((p), (v), __ATOMIC_RELEASE))
#define atomic_fetchadd_int(p, v)     __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#define atomic_thread_fence_seq_cst() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define cpu_spinwait()                __builtin_ia32_pause()

/* --- time ---------------------------------------------------------------- */
#define SBT_1S  ((sbintime_t)1 << 32)
#define SBT_1MS (SBT_1S / 1000)
sbintime_t sbinuptime(void);
struct timeval;
int ppsratecheck(struct timeval *last, int *cur, int max);
#define LOG_WARNING 4
void kemu_log(int pri, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log(pri, ...) kemu_log((pri), __VA_ARGS__)

/* --- threads and sleeping ------------------------------------------------- */
struct thread;
struct proc;
/* One address per live pthread: kup.ko compares curthread (the session rule). */
struct thread *kemu_curthread(void);
#define curthread kemu_curthread()
/*
 * Processes: one address space for the whole emulation, unless a thread
 * plays another process (kemu_other_process: a forked child, or a process
 * an fd was passed to).  vmspace references are counted, so a test sees
 * one left behind.
 */
struct vmspace {
	int refs;
};
struct proc {
	struct vmspace *p_vmspace;
	pid_t p_pid;
};
struct proc *kemu_curproc(void);
#define curproc kemu_curproc()
void kemu_other_process(int on); /* this thread: 1 another process, 0 back */
extern int kemu_vmspace_refs;    /* references taken on the emulation's own vmspace */
struct vmspace *vmspace_acquire_ref(struct proc *p);
void vmspace_free(struct vmspace *vm);
/*
 * Where sleeping is forbidden (callouts run so; an interrupt thread must
 * not sleep either), as THREAD_NO_SLEEPING() marks it: every emulated KPI
 * that may sleep (cv and sx waits, M_WAITOK, pause, the VM) panics there.
 * Taking a default mutex is allowed, as in FreeBSD.
 */
extern __thread int kemu_no_sleeping;
#define THREAD_NO_SLEEPING() (kemu_no_sleeping++)
#define THREAD_SLEEPING_OK() (kemu_no_sleeping--)
void kemu_may_sleep(const char *what);
void maybe_yield(void);
int kthread_add(void (*fn)(void *), void *arg, struct proc *p, struct thread **tdp, int flags,
                int pages, const char *fmt, ...);
void kthread_exit(void) __attribute__((noreturn));
struct mtx;
int msleep(void *ident, struct mtx *m, int pri, const char *wmesg, int timo);
void wakeup(void *ident);
int pause_sbt(const char *wmesg, sbintime_t sbt, sbintime_t pr, int flags);

/* --- locks ----------------------------------------------------------------- */
struct mtx {
	pthread_mutex_t m;
	pthread_t owner;
	int held;
};
#define MTX_DEF    0
#define MA_OWNED   1
#define SA_XLOCKED 1
void mtx_init(struct mtx *m, const char *name, const char *type, int opts);
void mtx_destroy(struct mtx *m);
void mtx_lock(struct mtx *m);
int mtx_trylock(struct mtx *m);
void mtx_unlock(struct mtx *m);
#define mtx_assert(m, what) KASSERT((m)->held &&pthread_equal((m)->owner, pthread_self()), ("mtx"))
#define MTX_SYSINIT(name, m, desc, opts)                                                           \
	static void __attribute__((constructor)) kemu_mtx_sysinit_##name(void)                     \
	{                                                                                          \
		mtx_init((m), (desc), NULL, (opts));                                               \
	}
struct sx {
	struct mtx m;
};
#define sx_init(s, name)   mtx_init(&(s)->m, (name), NULL, 0)
#define sx_destroy(s)      mtx_destroy(&(s)->m)
#define sx_xlock(s)        (kemu_may_sleep("sx_xlock"), mtx_lock(&(s)->m))
#define sx_xlock_sig(s)    (kemu_may_sleep("sx_xlock_sig"), mtx_lock(&(s)->m), 0)
#define sx_try_xlock(s)    mtx_trylock(&(s)->m)
#define sx_xunlock(s)      mtx_unlock(&(s)->m)
#define sx_assert(s, what) mtx_assert(&(s)->m, MA_OWNED)
struct cv {
	pthread_cond_t c;
};
void cv_init(struct cv *cv, const char *desc);
void cv_destroy(struct cv *cv);
void cv_broadcast(struct cv *cv);
void cv_wait(struct cv *cv, struct mtx *m);
int cv_wait_sig(struct cv *cv, struct mtx *m);
int cv_timedwait_sig_sbt(struct cv *cv, struct mtx *m, sbintime_t sbt, sbintime_t pr, int flags);

/* --- refcount(9) -------------------------------------------------------------- */
static inline void refcount_init(u_int *c, u_int v)
{
	__atomic_store_n(c, v, __ATOMIC_RELEASE);
}
static inline void refcount_acquire(u_int *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}
static inline int refcount_acquire_if_not_zero(u_int *c)
{
	u_int old = __atomic_load_n(c, __ATOMIC_RELAXED);

	while (old != 0)
		if (__atomic_compare_exchange_n(c, &old, old + 1, 0, __ATOMIC_ACQUIRE,
		                                __ATOMIC_RELAXED))
			return 1;
	return 0;
}
static inline int refcount_release(u_int *c)
{
	u_int old = __atomic_fetch_sub(c, 1, __ATOMIC_ACQ_REL);

	KASSERT(old > 0, ("refcount"));
	return old == 1;
}

/*
 * --- SDT probes: as a kernel without KDTRACE_HOOKS builds them (their
 * arguments never evaluated; the compile check builds them with it), except
 * that a test may set kemu_probe_hook to run at a three-argument probe:
 * a point inside a kupdev_* call where it can make the world change. ---
 */
extern void (*kemu_probe_hook)(const char *func, const char *name);
void kemu_probe(const char *func, const char *name);
#define SDT_PROVIDER_DEFINE(prov)
#define SDT_PROVIDER_DECLARE(prov)
#define SDT_PROBE_DECLARE(prov, mod, func, name)
#define SDT_PROBE_DEFINE2(prov, mod, func, name, a0, a1)
#define SDT_PROBE_DEFINE3(prov, mod, func, name, a0, a1, a2)
#define SDT_PROBE_DEFINE4(prov, mod, func, name, a0, a1, a2, a3)
#define SDT_PROBE2(prov, mod, func, name, a0, a1)
#define SDT_PROBE3(prov, mod, func, name, a0, a1, a2) kemu_probe(#func, #name)
#define SDT_PROBE4(prov, mod, func, name, a0, a1, a2, a3)

/*
 * --- sysctl(9) and sbuf(9): string handlers only.  SYSCTL_PROC registers
 * the handler under "parent.name" (_dev_kup.stat); kemu_sysctl_string
 * runs it as a sysctl(3) read would. ---
 */
struct sysctl_oid;
struct sysctl_req {
	char *buf;
	size_t len;
};
#define SYSCTL_HANDLER_ARGS                                                                        \
	struct sysctl_oid *oidp, void *arg1, intmax_t arg2, struct sysctl_req *req
#define OID_AUTO       (-1)
#define CTLFLAG_RD     0x80000000
#define CTLFLAG_MPSAFE 0x00040000
#define CTLTYPE_STRING 3
typedef int kemu_sysctl_fn(SYSCTL_HANDLER_ARGS);
void kemu_sysctl_register(const char *name, kemu_sysctl_fn *fn);
/* The string a handler produces (NUL-terminated, malloc'd), or NULL on its error. */
char *kemu_sysctl_string(const char *name);
#define SYSCTL_NODE(parent, nbr, name, access, handler, descr)
#define SYSCTL_PROC(parent, nbr, name, kind, a1, a2, handler, fmt, descr)                          \
	static void __attribute__((constructor)) kemu_sysctl_reg_##name(void)                      \
	{                                                                                          \
		kemu_sysctl_register(#parent "." #name, (handler));                                \
	}
struct sbuf {
	char *buf;
	size_t len;
	struct sysctl_req *req;
};
struct sbuf *sbuf_new_for_sysctl(struct sbuf *s, char *buf, int length, struct sysctl_req *req);
int sbuf_bcat(struct sbuf *s, const void *buf, size_t len);
int sbuf_finish(struct sbuf *s);
void sbuf_delete(struct sbuf *s);

/* --- kqueue and select ---------------------------------------------------- */
struct knote;
struct filterops {
	int f_isfd;
	int (*f_attach)(struct knote *kn);
	void (*f_detach)(struct knote *kn);
	int (*f_event)(struct knote *kn, long hint);
};
struct knote {
	struct filterops *kn_fop;
	void *kn_hook;
	int kn_hookid;
	short kn_filter;
	unsigned short kn_flags;
	int64_t kn_data;
	int kn_detached;          /* emulation: taken off its knlist by the driver's list */
	int kn_fired;             /* emulation: f_event returned true from a KNOTE */
	struct knlist *kn_knlist; /* emulation: the list knlist_add put it on */
	SLIST_ENTRY(knote) kn_selnext;
};
struct knlist {
	struct mtx *kl_lock;
	SLIST_HEAD(, knote) kl_list;
};
#define EVFILT_READ (-1)
#define EV_EOF      0x8000
void knlist_init_mtx(struct knlist *knl, struct mtx *m);
void knlist_add(struct knlist *knl, struct knote *kn, int islocked);
void knlist_remove(struct knlist *knl, struct knote *kn, int islocked);
/* Emulation: kqueue asks f_event again, under the knote's knlist lock (as a scan does). */
int kemu_knote_event(struct knote *kn);
void knlist_destroy(struct knlist *knl);
void kemu_knote(struct knlist *knl, long hint);
#define KNOTE_LOCKED(knl, hint) kemu_knote((knl), (hint))
struct selinfo {
	struct knlist si_note;
	int si_recorded;
	int si_wakeups;
};
void selrecord(struct thread *td, struct selinfo *sip);
void selwakeup(struct selinfo *sip);
void seldrain(struct selinfo *sip);

/* --- devices and devfs --------------------------------------------------------- */
struct cdev;
typedef int d_open_t(struct cdev *dev, int oflags, int devtype, struct thread *td);
typedef int d_ioctl_t(struct cdev *dev, u_long cmd, caddr_t data, int fflag, struct thread *td);
typedef int d_poll_t(struct cdev *dev, int events, struct thread *td);
typedef int d_kqfilter_t(struct cdev *dev, struct knote *kn);
struct vm_object;
typedef int d_mmap_single_t(struct cdev *cdev, vm_ooffset_t *offset, vm_size_t size,
                            struct vm_object **object, int nprot);
#define D_VERSION 0x17032005
struct cdevsw {
	int d_version;
	const char *d_name;
	d_open_t *d_open;
	d_ioctl_t *d_ioctl;
	d_poll_t *d_poll;
	d_kqfilter_t *d_kqfilter;
	d_mmap_single_t *d_mmap_single;
};
struct cdev {
	void *si_drv1;
	struct cdevsw *si_devsw;
	char si_name[64];
	int si_threadcount; /* under kemu's devfs lock */
	int si_dead;
	uid_t uid;
	gid_t gid;
	int mode;
};
struct make_dev_args {
	size_t mda_size;
	int mda_flags;
	struct cdevsw *mda_devsw;
	uid_t mda_uid;
	gid_t mda_gid;
	int mda_mode;
	void *mda_si_drv1;
};
#define MAKEDEV_WAITOK    0x04
#define MAKEDEV_CHECKNAME 0x10
#define UID_ROOT          0
#define GID_WHEEL         0
void make_dev_args_init(struct make_dev_args *a);
int make_dev_s(struct make_dev_args *a, struct cdev **cdev, const char *fmt, ...);
void destroy_dev(struct cdev *dev);
typedef void d_priv_dtor_t(void *data);
int devfs_set_cdevpriv(void *priv, d_priv_dtor_t *dtor);
int devfs_get_cdevpriv(void **datap);

/* --- VM -------------------------------------------------------------------------- */
/*
 * Objects: OBJT_PHYS is memory of its own (a memfd, mapped once as the
 * "kernel" view); OBJT_DEVICE is a device pager object (cdev_pager_allocate)
 * whose pages are fictitious pages the driver's fault handler returns.  A
 * "physical address" (pmap_kextract) names a page of an OBJT_PHYS object
 * wired into kernel_map; a fictitious page holds its object, and the
 * object panics if it dies while one exists (pages freed under a process).
 */
typedef struct vm_object *vm_object_t;
typedef struct vm_page *vm_page_t;
struct cdev_pager_ops;
struct vm_page {
	vm_paddr_t phys_addr;
	vm_pindex_t pindex;
	int flags;
	int valid;
	vm_object_t object; /* the object it is in */
	vm_object_t phys;   /* emulation: a fictitious page's backing object */
	size_t physoff;     /* emulation: and the offset in it */
	vm_page_t next;
};
#define PG_FICTITIOUS      0x04
#define VM_PAGE_BITS_ALL   0xff
#define VM_MEMATTR_DEFAULT 6
struct vm_object {
	u_int ref;
	int type;
	void *handle;
	/* OBJT_PHYS */
	void *mem; /* the "kernel" view: a shared mapping of memfd */
	size_t len;
	int memfd;
	int fakes; /* fictitious pages pointing here */
	/* OBJT_DEVICE */
	struct cdev_pager_ops *ops;
	vm_page_t pages;
	struct mtx lock;
	vm_object_t next; /* the device pager list */
};
typedef struct kemu_map *vm_map_t;
extern vm_map_t kernel_map;
#define OBJT_DEVICE          4
#define OBJT_PHYS            5
#define VM_PROT_READ         1
#define VM_PROT_WRITE        2
#define VM_PROT_EXECUTE      4
#define VM_PROT_DEFAULT      (VM_PROT_READ | VM_PROT_WRITE | VM_PROT_EXECUTE)
#define KERN_SUCCESS         0
#define VMFS_OPTIMAL_SPACE   4
#define VM_MAP_WIRE_SYSTEM   0
#define VM_MAP_WIRE_NOHOLES  0
#define VM_PAGER_OK          0
#define VM_PAGER_FAIL        2
#define VM_OBJECT_WLOCK(o)   mtx_lock(&(o)->lock)
#define VM_OBJECT_WUNLOCK(o) mtx_unlock(&(o)->lock)
vm_object_t vm_pager_allocate(int type, void *handle, vm_ooffset_t size, vm_prot_t prot,
                              vm_ooffset_t off, void *cred);
void vm_object_reference(vm_object_t obj);
void vm_object_deallocate(vm_object_t obj);
vm_offset_t vm_map_min(vm_map_t map);
int vm_map_find(vm_map_t map, vm_object_t obj, vm_ooffset_t off, vm_offset_t *addr, vm_size_t len,
                vm_offset_t max, int find, vm_prot_t prot, vm_prot_t maxprot, int cow);
int vm_map_wire(vm_map_t map, vm_offset_t start, vm_offset_t end, int flags);
int vm_map_remove(vm_map_t map, vm_offset_t start, vm_offset_t end);
vm_paddr_t pmap_kextract(vm_offset_t va);
vm_page_t vm_page_getfake(vm_paddr_t paddr, vm_memattr_t memattr);
void vm_page_updatefake(vm_page_t m, vm_paddr_t paddr, vm_memattr_t memattr);
void vm_page_replace(vm_page_t mnew, vm_object_t object, vm_pindex_t pindex, vm_page_t mold);
void vm_page_free(vm_page_t m);
#define vm_page_valid(m) ((m)->valid = VM_PAGE_BITS_ALL)
struct cdev_pager_ops {
	int (*cdev_pg_fault)(vm_object_t vm_obj, vm_ooffset_t offset, int prot, vm_page_t *mres);
	int (*cdev_pg_populate)(vm_object_t vm_obj, vm_pindex_t pidx, int fault_type,
	                        vm_prot_t max_prot, vm_pindex_t *first, vm_pindex_t *last);
	int (*cdev_pg_ctor)(void *handle, vm_ooffset_t size, vm_prot_t prot, vm_ooffset_t foff,
	                    struct ucred *cred, u_short *color);
	void (*cdev_pg_dtor)(void *handle);
};
vm_object_t cdev_pager_allocate(void *handle, int type, struct cdev_pager_ops *ops,
                                vm_ooffset_t size, vm_prot_t prot, vm_ooffset_t foff,
                                struct ucred *cred);
extern long kemu_objects; /* live VM objects */

/* --- modules ------------------------------------------------------------------- */
typedef struct module *module_t;
typedef int (*modeventhand_t)(module_t mod, int what, void *arg);
typedef struct moduledata {
	const char *name;
	modeventhand_t evhand;
	void *priv;
} moduledata_t;
#define MOD_LOAD                               0
#define MOD_UNLOAD                             1
#define MOD_SHUTDOWN                           2
#define MOD_QUIESCE                            3
#define SI_SUB_DRIVERS                         0
#define SI_ORDER_MIDDLE                        0
#define SI_ORDER_ANY                           0
#define DECLARE_MODULE(name, data, sub, order) moduledata_t *kemu_module_##name = &(data)
#define MODULE_VERSION(name, v)                extern int kemu_version_##name
#define MODULE_DEPEND(name, dep, a, b, c)      extern int kemu_depend_##name##_##dep

/* --- the process side: what syscalls would do -------------------------------- */
struct kemu_file;
struct kemu_file *kemu_open(const char *name, int *err);
int kemu_ioctl(struct kemu_file *f, u_long cmd, void *data);
int kemu_poll(struct kemu_file *f, int events);
/*
 * mmap: d_mmap_single's object mapped with the protection asked for, at
 * `at` (MAP_FIXED) or anywhere.  A device pager object is faulted in
 * whole at once (FreeBSD faults a page at first touch): each page is what
 * the driver's fault handler returned.  munmap drops the mapping's object
 * reference, as vm_map_delete does.
 */
struct kemu_vmap;
int kemu_mmap_at(struct kemu_file *f, void *at, vm_ooffset_t off, size_t len, int prot,
                 struct kemu_vmap **vp, void **addr);
int kemu_mmap(struct kemu_file *f, vm_ooffset_t off, size_t len, int prot, struct kemu_vmap **vp,
              void **addr);
void kemu_munmap(struct kemu_vmap *v);
/* The mapping's object reference and record only: the caller unmapped the range already. */
void kemu_vmap_drop(struct kemu_vmap *v);
/* fork: the child's mapping shares the object (MAP_SHARED), as vmspace_fork does. */
struct kemu_vmap *kemu_vmap_fork(struct kemu_vmap *v);
int kemu_kqfilter(struct kemu_file *f, struct knote *kn);
void kemu_close(struct kemu_file *f);

#endif /* KEMU_H */
