/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cmp.h - kupcmp.ko's parts: the per-file echo service behind /dev/kupcmp
 * (cmp_chardev.c: a kernel thread, read/write and wait queues), its ioctls
 * (cmp_ioctl.c), the generic netlink family (cmp_genl.c), and the module
 * around them (cmp_main.c).  The user-visible side is in cmp_abi.h.
 */
#ifndef KUPCMP_H
#define KUPCMP_H

#include <linux/fs.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/types.h>
#include <linux/wait.h>

#include "cmp_abi.h"

/*
 * One open file of /dev/kupcmp: a one-slot request and a one-slot reply
 * between the callers and the file's kernel thread.  req_full and rep_full
 * are published with release stores and read with acquire loads; the bytes
 * of a slot belong to whoever the flag says (0: the producer, 1: the
 * consumer).  wr_lock serialises the writers, rd_lock the readers
 * (CMP_IOC_ECHO_THR takes wr_lock, then rd_lock); ioc_lock guards ioc.
 */
struct cmp_file {
	struct task_struct *thr;
	wait_queue_head_t thr_wq; /* the thread: a request (and room for its reply), or stop */
	wait_queue_head_t wr_wq;  /* writers: the request slot is free */
	wait_queue_head_t rd_wq;  /* readers: a reply is ready */
	struct mutex wr_lock;
	struct mutex rd_lock;
	struct mutex ioc_lock;
	int req_full;
	int rep_full;
	int sink; /* the thread drops requests instead of echoing them */
	u32 req_len;
	u32 rep_len;
	u8 req[CMP_MAX];
	u8 rep[CMP_MAX];
	u8 ioc[CMP_MAX]; /* CMP_IOC_ECHO and CMP_IOC_SINK, in the caller's context */
};

/* cmp_chardev.c */
struct cmp_file *cmp_file_new(void);
void cmp_file_free(struct cmp_file *f);
int cmp_put_request(struct cmp_file *f, const void __user *buf, size_t len, bool nonblock);
ssize_t cmp_take_reply(struct cmp_file *f, void __user *buf, size_t cap, bool nonblock);
void cmp_set_sink(struct cmp_file *f, bool sink);
ssize_t cmp_chr_read(struct file *file, char __user *buf, size_t len, loff_t *pos);
ssize_t cmp_chr_write(struct file *file, const char __user *buf, size_t len, loff_t *pos);

/* cmp_ioctl.c */
long cmp_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

/* cmp_genl.c */
int cmp_genl_init(void);
void cmp_genl_exit(void);

#endif /* KUPCMP_H */
