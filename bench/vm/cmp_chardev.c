// SPDX-License-Identifier: BSD-2-Clause
/*
 * cmp_chardev.c - the echo service behind /dev/kupcmp's read() and write():
 * every open file gets a kernel thread.  write() copies the message into the
 * file's request slot and wakes the thread; the thread copies it into the
 * reply slot (or drops it, in sink mode) and wakes the reader; read() sleeps
 * on a wait queue until the reply is there and copies it out.  The same
 * service shape as a KUP module's: a kernel thread answers, the process
 * sleeps until it has.
 */
#include <linux/err.h>
#include <linux/kthread.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "cmp.h"

/* A request is waiting and, unless it is dropped, the reply slot is free. */
static bool cmp_thr_ready(struct cmp_file *f, bool sink)
{
	if (!smp_load_acquire(&f->req_full))
		return false;
	return sink || !smp_load_acquire(&f->rep_full);
}

static int cmp_thread(void *arg)
{
	struct cmp_file *f = arg;
	bool sink;

	while (!kthread_should_stop()) {
		/* A kernel thread gets no signals: this returns 0 once woken with the condition. */
		if (wait_event_interruptible(f->thr_wq, cmp_thr_ready(f, READ_ONCE(f->sink)) ||
		                                            kthread_should_stop()))
			continue;
		sink = READ_ONCE(f->sink);
		if (!cmp_thr_ready(f, sink))
			continue;
		if (!sink) {
			memcpy(f->rep, f->req, f->req_len);
			f->rep_len = f->req_len;
		}
		smp_store_release(&f->req_full, 0);
		wake_up(&f->wr_wq);
		if (!sink) {
			smp_store_release(&f->rep_full, 1);
			wake_up(&f->rd_wq);
		}
	}
	return 0;
}

struct cmp_file *cmp_file_new(void)
{
	struct cmp_file *f = kvzalloc(sizeof(*f), GFP_KERNEL);
	struct task_struct *t;

	if (!f)
		return ERR_PTR(-ENOMEM);
	init_waitqueue_head(&f->thr_wq);
	init_waitqueue_head(&f->wr_wq);
	init_waitqueue_head(&f->rd_wq);
	mutex_init(&f->wr_lock);
	mutex_init(&f->rd_lock);
	mutex_init(&f->ioc_lock);
	t = kthread_run(cmp_thread, f, "kupcmp");
	if (IS_ERR(t)) {
		kvfree(f);
		return ERR_CAST(t);
	}
	f->thr = t;
	return f;
}

void cmp_file_free(struct cmp_file *f)
{
	/* The thread only ever ends here: kthread_stop wakes it and waits. */
	kthread_stop(f->thr);
	kvfree(f);
}

/* Hand len bytes to the thread; the caller holds wr_lock.  0, or -errno. */
int cmp_put_request(struct cmp_file *f, const void __user *buf, size_t len, bool nonblock)
{
	if (len > CMP_MAX)
		return -EMSGSIZE;
	if (smp_load_acquire(&f->req_full)) {
		if (nonblock)
			return -EAGAIN;
		if (wait_event_interruptible(f->wr_wq, !smp_load_acquire(&f->req_full)))
			return -ERESTARTSYS;
	}
	if (copy_from_user(f->req, buf, len))
		return -EFAULT;
	f->req_len = len;
	smp_store_release(&f->req_full, 1);
	wake_up(&f->thr_wq);
	return 0;
}

/* Wait for the thread's reply and copy it out; the caller holds rd_lock.
 * The message's length, or -errno (-EINVAL: cap is too small, the reply stays). */
ssize_t cmp_take_reply(struct cmp_file *f, void __user *buf, size_t cap, bool nonblock)
{
	u32 n;

	if (!smp_load_acquire(&f->rep_full)) {
		if (nonblock)
			return -EAGAIN;
		if (wait_event_interruptible(f->rd_wq, smp_load_acquire(&f->rep_full)))
			return -ERESTARTSYS;
	}
	n = f->rep_len;
	if (n > cap)
		return -EINVAL;
	if (copy_to_user(buf, f->rep, n))
		return -EFAULT;
	smp_store_release(&f->rep_full, 0);
	wake_up(&f->thr_wq);
	return n;
}

void cmp_set_sink(struct cmp_file *f, bool sink)
{
	WRITE_ONCE(f->sink, sink);
	wake_up(&f->thr_wq);
}

ssize_t cmp_chr_write(struct file *file, const char __user *buf, size_t len, loff_t *pos)
{
	struct cmp_file *f = file->private_data;
	int r;

	if (mutex_lock_interruptible(&f->wr_lock))
		return -ERESTARTSYS;
	r = cmp_put_request(f, buf, len, file->f_flags & O_NONBLOCK);
	mutex_unlock(&f->wr_lock);
	return r ? r : (ssize_t)len;
}

ssize_t cmp_chr_read(struct file *file, char __user *buf, size_t len, loff_t *pos)
{
	struct cmp_file *f = file->private_data;
	ssize_t r;

	if (mutex_lock_interruptible(&f->rd_lock))
		return -ERESTARTSYS;
	r = cmp_take_reply(f, buf, len, file->f_flags & O_NONBLOCK);
	mutex_unlock(&f->rd_lock);
	return r;
}
