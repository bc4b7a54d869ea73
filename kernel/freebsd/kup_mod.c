/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_mod.c - kup.ko's module glue, and the part of kupsvc.h that must
 * live in kup.ko rather than in a service module.
 *
 * Service threads run a trampoline in kup.ko: when a service's thread
 * function returns, the code that reports "done" and calls kthread_exit()
 * is kup.ko's, which stays loaded until every service module that depends
 * on it is gone.  A trampoline inside the service module could still be
 * executing its last instructions after the module's unload freed them.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/kthread.h>
#include <sys/lock.h>
#include <sys/malloc.h>
#include <sys/module.h>
#include <sys/mutex.h>
#include <sys/proc.h>

#include "kup_host.h"
#include "kupsvc_host.h"

static MALLOC_DEFINE(M_KUPSVC, "kupsvc", "KUP service modules");

struct kupsvc_thread {
	int (*fn)(void *);
	void *arg;
	int ret;
	int done;
	struct mtx mtx;
};

static void kupsvc_trampoline(void *arg)
{
	struct kupsvc_thread *t = arg;
	int r;

	r = t->fn(t->arg);
	mtx_lock(&t->mtx);
	t->ret = r;
	t->done = 1;
	wakeup(t);
	mtx_unlock(&t->mtx);
	kthread_exit();
}

struct kupsvc_thread *kupsvc_fbsd_thread_start(int (*fn)(void *), void *arg, const char *name)
{
	struct kupsvc_thread *t;

	if (fn == NULL)
		return (NULL);
	t = malloc(sizeof(*t), M_KUPSVC, M_WAITOK | M_ZERO);
	t->fn = fn;
	t->arg = arg;
	mtx_init(&t->mtx, "kupsvc thread", NULL, MTX_DEF);
	if (kthread_add(kupsvc_trampoline, t, NULL, NULL, 0, 0, "%s",
	                name != NULL ? name : "kupsvc") != 0) {
		mtx_destroy(&t->mtx);
		free(t, M_KUPSVC);
		return (NULL);
	}
	return (t);
}

int kupsvc_fbsd_thread_join(struct kupsvc_thread *t)
{
	int r;

	if (t == NULL)
		return (-EKU_INVAL);
	mtx_lock(&t->mtx);
	while (!t->done)
		msleep(t, &t->mtx, 0, "kupjoin", 0);
	r = t->ret;
	mtx_unlock(&t->mtx);
	mtx_destroy(&t->mtx);
	free(t, M_KUPSVC);
	return (r);
}

void *kupsvc_fbsd_alloc(size_t len)
{
	/* M_WAITOK never fails, but an absurd length must not panic. */
	if (len > 256 * 1024 * 1024)
		return (NULL);
	return (malloc(len != 0 ? len : 1, M_KUPSVC, M_WAITOK | M_ZERO));
}

void kupsvc_fbsd_free(void *p)
{
	free(p, M_KUPSVC);
}

static int kup_modevent(module_t mod, int type, void *data)
{
	switch (type) {
	case MOD_LOAD:
		return (0);
	case MOD_QUIESCE:
		return (kup_devs_busy() ? EBUSY : 0);
	case MOD_UNLOAD:
		/* Every softc is freed by its last user; none may be left. */
		return (kup_devs_busy() ? EBUSY : 0);
	case MOD_SHUTDOWN:
		return (0);
	default:
		return (EOPNOTSUPP);
	}
}

static moduledata_t kup_mod = {
    "kup",
    kup_modevent,
    NULL,
};

DECLARE_MODULE(kup, kup_mod, SI_SUB_DRIVERS, SI_ORDER_MIDDLE);
MODULE_VERSION(kup, 1);
