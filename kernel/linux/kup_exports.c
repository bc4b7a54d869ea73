// SPDX-License-Identifier: BSD-2-Clause
/*
 * kup_exports.c - kup.ko's entry points and, in one place, the symbols it
 * exports: the kupdev_* API of include/kupdev.h and kup_strerror.
 */
#include <linux/module.h>

#include "kup_linux.h"

EXPORT_SYMBOL_GPL(kupdev_create);
EXPORT_SYMBOL_GPL(kupdev_create_attr);
EXPORT_SYMBOL_GPL(kupdev_wait_channel);
EXPORT_SYMBOL_GPL(kupdev_wait_channel_timed);
EXPORT_SYMBOL_GPL(kupdev_claim_channel);
EXPORT_SYMBOL_GPL(kupdev_shutdown);
EXPORT_SYMBOL_GPL(kupdev_unload);
EXPORT_SYMBOL_GPL(kupdev_notify);
EXPORT_SYMBOL_GPL(kupdev_send);
EXPORT_SYMBOL_GPL(kupdev_send_timed);
EXPORT_SYMBOL_GPL(kupdev_receive);
EXPORT_SYMBOL_GPL(kupdev_recv);
EXPORT_SYMBOL_GPL(kupdev_recv_shared_untrusted);
EXPORT_SYMBOL_GPL(kupdev_unlock_channel);
EXPORT_SYMBOL_GPL(kupdev_pass);
EXPORT_SYMBOL_GPL(kupdev_pass_timed);
EXPORT_SYMBOL_GPL(kupdev_send_buf);
EXPORT_SYMBOL_GPL(kupdev_send_commit);
EXPORT_SYMBOL_GPL(kupdev_set_spin);
EXPORT_SYMBOL_GPL(kupdev_capacity);
EXPORT_SYMBOL_GPL(kupdev_channel_count);
EXPORT_SYMBOL_GPL(kupdev_attached);
EXPORT_SYMBOL_GPL(kupdev_last_error);
EXPORT_SYMBOL_GPL(kupdev_stats);
EXPORT_SYMBOL_GPL(kup_strerror);

/* The kern side's spin before sleeping, for devices created from now on. */
unsigned int kup_spin_us = KUP_DEFAULT_SPIN_NS / 1000;
module_param_named(spin_us, kup_spin_us, uint, 0644);
MODULE_PARM_DESC(spin_us, "microseconds a kernel-side wait spins before it sleeps (default 20)");

static int __init kup_init(void)
{
	int r = kup_dev_init();

	if (r)
		pr_err("kup: cannot register the char device region: %d\n", r);
	return r;
}

static void __exit kup_exit(void)
{
	kup_dev_exit();
}

module_init(kup_init);
module_exit(kup_exit);

MODULE_LICENSE("Dual BSD/GPL");
MODULE_DESCRIPTION("KUP: zero-copy ping-pong channels between a kernel module and a process");
MODULE_VERSION("1");
