/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kupsvc_host.h - kupsvc.h for Linux kernel modules: a service written
 * against kupdev.h/kupsvc.h becomes a module that uses kup.ko.  Threads are
 * kthreads (joined through a completion, so the thread function may return
 * at any time and the handle stays valid until join), memory is kvzalloc,
 * logging is printk.  start runs at module load, stop at module unload.
 */
#ifndef KUPSVC_HOST_H
#define KUPSVC_HOST_H

#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/mm.h>

struct kupsvc_thread {
	int (*fn)(void *);
	void *arg;
	int ret;
	struct completion done;
};

static inline int kupsvc_thread_main(void *p)
{
	struct kupsvc_thread *t = p;

	t->ret = t->fn(t->arg);
	/* Signals join and exits: kthread_stop is never used on it. */
	kthread_complete_and_exit(&t->done, 0);
}

static inline struct kupsvc_thread *kupsvc_thread_start(int (*fn)(void *), void *arg,
                                                        const char *name)
{
	struct kupsvc_thread *t = kzalloc(sizeof(*t), GFP_KERNEL);
	struct task_struct *task;

	if (!t)
		return NULL;
	t->fn = fn;
	t->arg = arg;
	init_completion(&t->done);
	task = kthread_run(kupsvc_thread_main, t, "%s", name ? name : "kupsvc");
	if (IS_ERR(task)) {
		kfree(t);
		return NULL;
	}
	return t;
}

static inline int kupsvc_thread_join(struct kupsvc_thread *t)
{
	int ret;

	if (!t)
		return -EKU_INVAL;
	wait_for_completion(&t->done);
	ret = t->ret;
	kfree(t);
	return ret;
}

static inline void *kupsvc_alloc(size_t len)
{
	return kvzalloc(len ? len : 1, GFP_KERNEL);
}

static inline void kupsvc_free(void *p)
{
	kvfree(p);
}

static inline void kupsvc_sleep_ms(unsigned int ms)
{
	msleep(ms);
}

#define kupsvc_log(...) printk(KERN_INFO __VA_ARGS__)

/* start returns 0 or a negative EKU code; the module load fails with -EINVAL-ish errno then. */
#define KUPSVC_DEFINE(name, start, stop)                                                           \
	static int __init kupsvc_init_##name(void)                                                 \
	{                                                                                          \
		int r = (start)();                                                                 \
		if (r) {                                                                           \
			pr_err(#name ": start failed: %s (%d)\n", kup_strerror(r), r);             \
			return r == -EKU_NOMEM ? -ENOMEM : r == -EKU_EXIST ? -EEXIST : -EINVAL;    \
		}                                                                                  \
		return 0;                                                                          \
	}                                                                                          \
	static void __exit kupsvc_exit_##name(void)                                                \
	{                                                                                          \
		(stop)();                                                                          \
	}                                                                                          \
	module_init(kupsvc_init_##name);                                                           \
	module_exit(kupsvc_exit_##name);                                                           \
	MODULE_LICENSE("Dual BSD/GPL");                                                            \
	MODULE_SOFTDEP("pre: kup")

#endif /* KUPSVC_HOST_H */
