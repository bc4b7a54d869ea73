// SPDX-License-Identifier: BSD-2-Clause
/*
 * cmp_main.c - kupcmp.ko: the channels people use today between a process
 * and a kernel module, each doing the echo job of KUP's kup_echo, for `make
 * bench-vm` (bench/vm/bench_vm.c measures them next to KUP in the same
 * guest).  /dev/kupcmp (a misc device: read/write through a kernel thread,
 * ioctls) and the generic netlink family "kupcmp".  It does not use kup.ko.
 */
#include <linux/err.h>
#include <linux/miscdevice.h>
#include <linux/module.h>

#include "cmp.h"

static int cmp_open(struct inode *inode, struct file *file)
{
	struct cmp_file *f = cmp_file_new();

	if (IS_ERR(f))
		return PTR_ERR(f);
	file->private_data = f;
	/* A stream: no file position (lseek gives ESPIPE), on every kernel line. */
	return stream_open(inode, file);
}

static int cmp_release(struct inode *inode, struct file *file)
{
	cmp_file_free(file->private_data);
	return 0;
}

static const struct file_operations cmp_fops = {
    .owner = THIS_MODULE,
    .open = cmp_open,
    .release = cmp_release,
    .read = cmp_chr_read,
    .write = cmp_chr_write,
    .unlocked_ioctl = cmp_ioctl,
    .compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice cmp_misc = {
    .minor = MISC_DYNAMIC_MINOR,
    .name = CMP_DEV_NAME,
    .fops = &cmp_fops,
    .mode = 0600,
};

static int __init cmp_init(void)
{
	int r = misc_register(&cmp_misc);

	if (r)
		return r;
	r = cmp_genl_init();
	if (r) {
		misc_deregister(&cmp_misc);
		return r;
	}
	return 0;
}

static void __exit cmp_exit(void)
{
	cmp_genl_exit();
	misc_deregister(&cmp_misc);
}

module_init(cmp_init);
module_exit(cmp_exit);
MODULE_DESCRIPTION("KUP benchmark: echo over read/write, ioctl and generic netlink");
MODULE_LICENSE("Dual BSD/GPL");
