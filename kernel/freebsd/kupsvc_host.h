/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kupsvc_host.h - kupsvc.h for FreeBSD kernel modules.
 *
 * KUPSVC_DEFINE(name, start, stop) makes the file a module `name` that
 * depends on kup: start() runs at MOD_LOAD, stop() at MOD_UNLOAD.  Threads
 * are kernel threads (kthread_add) whose trampoline lives in kup.ko;
 * memory is malloc(9) with kup.ko's M_KUPSVC type; sleeps are pause(9);
 * logging is printf(9).
 */
#ifndef KUPSVC_HOST_H
#define KUPSVC_HOST_H

#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/module.h>
#include <sys/proc.h>
#include <sys/time.h>

#include "kupdev.h"

struct kupsvc_thread;

/* Exported by kup.ko (kup_mod.c). */
struct kupsvc_thread *kupsvc_fbsd_thread_start(int (*fn)(void *), void *arg, const char *name);
int kupsvc_fbsd_thread_join(struct kupsvc_thread *t);
void *kupsvc_fbsd_alloc(size_t len);
void kupsvc_fbsd_free(void *p);

static __inline struct kupsvc_thread *kupsvc_thread_start(int (*fn)(void *), void *arg,
                                                          const char *name)
{
	return (kupsvc_fbsd_thread_start(fn, arg, name));
}

static __inline int kupsvc_thread_join(struct kupsvc_thread *t)
{
	return (kupsvc_fbsd_thread_join(t));
}

static __inline void *kupsvc_alloc(size_t len)
{
	return (kupsvc_fbsd_alloc(len));
}

static __inline void kupsvc_free(void *p)
{
	kupsvc_fbsd_free(p);
}

static __inline void kupsvc_sleep_ms(unsigned int ms)
{
	if (ms == 0)
		maybe_yield();
	else
		pause_sbt("kupsvc", SBT_1MS * ms, 0, 0);
}

#define kupsvc_log(...) printf(__VA_ARGS__)

/* A start() error (-EKU_*) as the errno kldload reports. */
static __inline int kupsvc_load_errno(int r)
{
	switch (r) {
	case 0:
		return (0);
	case -EKU_EXIST:
		return (EEXIST);
	case -EKU_NOMEM:
		return (ENOMEM);
	case -EKU_PERM:
		return (EPERM);
	default:
		return (EINVAL);
	}
}

/*
 * The kernel calls MOD_UNLOAD after a failed MOD_LOAD too: stop() runs
 * only after a start() that succeeded.
 */
#define KUPSVC_DEFINE(name, start, stop)                                                           \
	static int name##_started;                                                                 \
	static int name##_modevent(module_t mod __unused, int type, void *data __unused)           \
	{                                                                                          \
		int r;                                                                             \
                                                                                                   \
		switch (type) {                                                                    \
		case MOD_LOAD:                                                                     \
			r = start();                                                               \
			if (r != 0)                                                                \
				printf(#name ": start failed: %s (%d)\n", kup_strerror(r), r);     \
			name##_started = r == 0;                                                   \
			return (kupsvc_load_errno(r));                                             \
		case MOD_UNLOAD:                                                                   \
			if (name##_started)                                                        \
				stop();                                                            \
			name##_started = 0;                                                        \
			return (0);                                                                \
		case MOD_SHUTDOWN:                                                                 \
			return (0);                                                                \
		default:                                                                           \
			return (EOPNOTSUPP);                                                       \
		}                                                                                  \
	}                                                                                          \
	static moduledata_t name##_moddata = {#name, name##_modevent, NULL};                       \
	DECLARE_MODULE(name, name##_moddata, SI_SUB_DRIVERS, SI_ORDER_ANY);                        \
	MODULE_VERSION(name, 1);                                                                   \
	MODULE_DEPEND(name, kup, 1, 1, 1)

#endif /* KUPSVC_HOST_H */
