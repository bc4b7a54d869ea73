// SPDX-License-Identifier: BSD-2-Clause
/*
 * kup_mod.c - kup.ko's entry points, its parameter, and the symbols it
 * exports (core/kup_syms.h, the one list every host takes them from).
 */
#include <linux/module.h>

#include "kup_host.h"

#define KUP_SYM(name) EXPORT_SYMBOL_GPL(name);
#include "kup_syms.h"
#undef KUP_SYM

/* The kern side's spin before sleeping, for devices created from now on. */
unsigned int kup_spin_us = KUP_DEFAULT_SPIN_NS / 1000;
module_param_named(spin_us, kup_spin_us, uint, 0644);
MODULE_PARM_DESC(spin_us, "microseconds a kernel-side wait spins before it sleeps (default 20)");

static int __init kup_init(void)
{
	int r = kup_cdev_init();

	if (r)
		pr_err("kup: cannot register the char device region: %d\n", r);
	return r;
}

static void __exit kup_exit(void)
{
	kup_devs_unload_all();
	kup_cdev_exit();
}

module_init(kup_init);
module_exit(kup_exit);

MODULE_LICENSE("Dual BSD/GPL");
MODULE_DESCRIPTION("KUP: zero-copy ping-pong channels between a kernel module and a process");
MODULE_VERSION("1");
