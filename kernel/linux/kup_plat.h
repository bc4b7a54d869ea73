/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_plat.h for the Linux kernel module: what core/ needs from its host,
 * on the kernel's own memory model (smp_load_acquire / smp_store_release,
 * READ_ONCE / WRITE_ONCE, smp_mb).  core/ includes this file by name; the
 * Kbuild include path puts kernel/linux before core/.
 */
#ifndef KUP_PLAT_H
#define KUP_PLAT_H

#include <linux/types.h>
#include <linux/compiler.h>
#include <linux/string.h>
#include <linux/ktime.h>
#include <linux/timekeeping.h>
#include <linux/sched.h>
#include <linux/printk.h>
#include <asm/barrier.h>
#include <asm/processor.h>

static inline uint32_t kup_load_acquire(const uint32_t *p)
{
	return smp_load_acquire(p);
}

static inline uint32_t kup_load_once(const uint32_t *p)
{
	return READ_ONCE(*p);
}

static inline void kup_store_release(uint32_t *p, uint32_t v)
{
	smp_store_release(p, v);
}

static inline void kup_store_once(uint32_t *p, uint32_t v)
{
	WRITE_ONCE(*p, v);
}

/* 64-bit words with one writer (counters, settings): untorn on 64-bit CPUs. */
static inline uint64_t kup_load_once64(const uint64_t *p)
{
	return READ_ONCE(*p);
}

static inline void kup_store_once64(uint64_t *p, uint64_t v)
{
	WRITE_ONCE(*p, v);
}

static inline void kup_fence_full(void)
{
	smp_mb();
}

static inline void kup_cpu_relax(void)
{
	cpu_relax();
}

/*
 * Between spin rounds.  Core spins only in kup_end_wait and kup_cond_wait
 * (kupdev_wait_channel), which the kupdev_* API documents as sleeping
 * calls: offering the CPU here keeps a KUP_POLL (spin-forever) wait from
 * starving its CPU on a non-preemptible kernel.
 */
static inline void kup_resched(void)
{
	cond_resched();
}

static inline int64_t kup_now_ns(void)
{
	return (int64_t)ktime_get_ns();
}

#define kup_memcpy(d, s, n) memcpy((d), (s), (n))
#define kup_memset(d, c, n) memset((d), (c), (n))

/* A process that breaks the protocol must not be able to flood the log. */
#define KUP_LOG(fmt, ...) pr_warn_ratelimited("kup: " fmt, ##__VA_ARGS__)

/*
 * Tracing hooks at core's protocol points (kup_trace.h): the kernel
 * side's send and receive (kupdev_chan.c) and a process breaking the
 * protocol (kup_core.c).  Disabled tracepoints are patched-out jumps.
 */
#include "kup_trace.h"
#define KUP_TRACE_SEND(e, len)        trace_kup_send((e), (u32)(len))
#define KUP_TRACE_RECV(e, len)        trace_kup_recv((e), (u32)(len))
#define KUP_TRACE_PROTO(e, what, val) trace_kup_proto((e), (what), (val))

#endif /* KUP_PLAT_H */
