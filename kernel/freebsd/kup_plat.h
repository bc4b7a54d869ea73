/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_plat.h for the FreeBSD kernel module: what core/ needs from its host,
 * on the kernel's own atomics (machine/atomic.h).  core/ includes this file
 * by name; the module's include path puts kernel/freebsd before core/.
 */
#ifndef KUP_PLAT_H
#define KUP_PLAT_H

#include <sys/param.h>
#include <sys/systm.h>
#include <sys/lock.h>
#include <sys/mutex.h>
#include <sys/proc.h>
#include <sys/syslog.h>
#include <sys/time.h>
#include <machine/atomic.h>
#include <machine/cpu.h>

/*
 * The FreeBSD atomics take non-const volatile pointers; the cast goes
 * through uintptr_t because a load never writes (and -Wcast-qual is on).
 */
static __inline uint32_t kup_load_acquire(const uint32_t *p)
{
	return (atomic_load_acq_32((volatile uint32_t *)(uintptr_t)p));
}

/* One untorn read, never merged or repeated by the compiler. */
static __inline uint32_t kup_load_once(const uint32_t *p)
{
	return (*(const volatile uint32_t *)p);
}

static __inline void kup_store_release(uint32_t *p, uint32_t v)
{
	atomic_store_rel_32(p, v);
}

static __inline void kup_store_once(uint32_t *p, uint32_t v)
{
	*(volatile uint32_t *)p = v;
}

/* 64-bit words with one writer (counters, settings): untorn on 64-bit CPUs. */
static __inline uint64_t kup_load_once64(const uint64_t *p)
{
	return (*(const volatile uint64_t *)p);
}

static __inline void kup_store_once64(uint64_t *p, uint64_t v)
{
	*(volatile uint64_t *)p = v;
}

static __inline void kup_fence_full(void)
{
	atomic_thread_fence_seq_cst();
}

static __inline void kup_cpu_relax(void)
{
	cpu_spinwait();
}

/*
 * Between spin rounds: core spins only inside kupdev_* calls, which may
 * sleep (no mutex is held, only the channel's sx), so offering the CPU is
 * allowed and keeps a KUP_POLL wait from starving its CPU.
 */
static __inline void kup_resched(void)
{
	maybe_yield();
}

/*
 * Monotonic ns.  Whole seconds and the fraction are converted apart:
 * 12.x's sbttons() multiplies the whole value and overflows after 2 s.
 */
static __inline int64_t kup_sbt_to_ns(sbintime_t sbt)
{
	return ((sbt >> 32) * 1000000000 +
	        (int64_t)(((uint64_t)(sbt & 0xffffffff) * 1000000000) >> 32));
}

static __inline int64_t kup_now_ns(void)
{
	return (kup_sbt_to_ns(sbinuptime()));
}

#define kup_memcpy(d, s, n) memcpy((d), (s), (n))
#define kup_memset(d, c, n) memset((d), (c), (n))

/*
 * A process that breaks the protocol must not be able to flood the log:
 * at most 5 lines a second per call site.
 */
#define KUP_LOG(fmt, ...)                                                                          \
	do {                                                                                       \
		static struct timeval kup_log_last;                                                \
		static int kup_log_pps;                                                            \
                                                                                                   \
		if (ppsratecheck(&kup_log_last, &kup_log_pps, 5))                                  \
			log(LOG_WARNING, "kup: " fmt, ##__VA_ARGS__);                              \
	} while (0)

/*
 * Tracing hooks at core's protocol points: SDT probes of provider kup
 * (kup_trace.c; dtrace -l -P kup lists them).  Their arguments are only
 * evaluated while a probe is enabled; without KDTRACE_HOOKS they are
 * nothing.
 */
#include <sys/sdt.h>
SDT_PROVIDER_DECLARE(kup);
SDT_PROBE_DECLARE(kup, , chan, send);
SDT_PROBE_DECLARE(kup, , chan, receive);
SDT_PROBE_DECLARE(kup, , chan, proto__error);
struct kup_end;
/* The device name and channel id of a kern side's end, for a probe's arguments. */
const char *kup_sdt_name(const struct kup_end *e);
uint32_t kup_sdt_chan(const struct kup_end *e);
#define KUP_TRACE_SEND(e, len)                                                                     \
	do {                                                                                       \
		SDT_PROBE3(kup, , chan, send, kup_sdt_name(e), kup_sdt_chan(e), (len));            \
	} while (0)
#define KUP_TRACE_RECV(e, len)                                                                     \
	do {                                                                                       \
		SDT_PROBE3(kup, , chan, receive, kup_sdt_name(e), kup_sdt_chan(e), (len));         \
	} while (0)
#define KUP_TRACE_PROTO(e, what, val)                                                              \
	do {                                                                                       \
		SDT_PROBE4(kup, , chan, proto__error, kup_sdt_name(e), kup_sdt_chan(e), (what),    \
		           (val));                                                                 \
	} while (0)

#endif /* KUP_PLAT_H */
