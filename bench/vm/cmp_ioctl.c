// SPDX-License-Identifier: BSD-2-Clause
/*
 * cmp_ioctl.c - /dev/kupcmp's ioctls.  The argument is a struct cmp_msg
 * header (length) followed by the message.
 *
 * CMP_IOC_ECHO is the round trip drivers offer today: the caller's own
 * context copies the message in and the same bytes back out, one system
 * call, no other thread.  CMP_IOC_ECHO_THR takes the message through the
 * file's kernel thread (cmp_chardev.c) instead, as a KUP module answers
 * from its own thread: write() and read() in one call.
 */
#include <linux/uaccess.h>

#include "cmp.h"

/* The header at arg: the message length, checked.  0, or -errno. */
static int cmp_get_len(struct cmp_msg __user *m, u32 *len)
{
	struct cmp_msg h;

	if (copy_from_user(&h, m, sizeof(h)))
		return -EFAULT;
	if (h.pad || h.len > CMP_MAX)
		return -EINVAL;
	*len = h.len;
	return 0;
}

/* Copy in, and (echo) the same bytes back out, in the caller's context. */
static long cmp_ioc_local(struct cmp_file *f, struct cmp_msg __user *m, bool echo)
{
	long r;
	u32 len;

	r = cmp_get_len(m, &len);
	if (r)
		return r;
	if (mutex_lock_interruptible(&f->ioc_lock))
		return -ERESTARTSYS;
	if (copy_from_user(f->ioc, m->data, len))
		r = -EFAULT;
	else if (echo && copy_to_user(m->data, f->ioc, len))
		r = -EFAULT;
	mutex_unlock(&f->ioc_lock);
	return r;
}

/* Through the kernel thread: hand the message over, sleep until the echo is back. */
static long cmp_ioc_thread(struct cmp_file *f, struct cmp_msg __user *m)
{
	ssize_t n;
	long r;
	u32 len;

	r = cmp_get_len(m, &len);
	if (r)
		return r;
	if (READ_ONCE(f->sink))
		return -EINVAL; /* no echo would ever come */
	if (mutex_lock_interruptible(&f->wr_lock))
		return -ERESTARTSYS;
	if (mutex_lock_interruptible(&f->rd_lock)) {
		mutex_unlock(&f->wr_lock);
		return -ERESTARTSYS;
	}
	r = cmp_put_request(f, m->data, len, false);
	if (!r) {
		n = cmp_take_reply(f, m->data, CMP_MAX, false);
		r = n < 0 ? n : 0;
	}
	mutex_unlock(&f->rd_lock);
	mutex_unlock(&f->wr_lock);
	return r;
}

long cmp_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct cmp_file *f = file->private_data;
	struct cmp_msg __user *m = (struct cmp_msg __user *)arg;

	switch (cmd) {
	case CMP_IOC_ECHO:
		return cmp_ioc_local(f, m, true);
	case CMP_IOC_SINK:
		return cmp_ioc_local(f, m, false);
	case CMP_IOC_ECHO_THR:
		return cmp_ioc_thread(f, m);
	case CMP_IOC_SET_SINK:
		if (arg > 1)
			return -EINVAL;
		cmp_set_sink(f, arg);
		return 0;
	default:
		return -ENOTTY;
	}
}
