/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_plat.h for userspace hosts (libkup, the provider, unit tests):
 * what core/ needs from its host, on C11-model compiler atomics.
 * Each host has a file of this name; core/ includes it and nothing else.
 */
#ifndef KUP_PLAT_H
#define KUP_PLAT_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

static inline uint32_t kup_load_acquire(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline uint32_t kup_load_once(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void kup_store_release(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline void kup_store_once(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* 64-bit words with one writer (counters, settings). */
static inline uint64_t kup_load_once64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void kup_store_once64(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static inline void kup_fence_full(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static inline void kup_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/* Called between spin rounds: kernels reschedule here (cond_resched); userspace need not. */
static inline void kup_resched(void)
{
}

static inline int64_t kup_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#define kup_memcpy(d, s, n) memcpy((d), (s), (n))
#define kup_memset(d, c, n) memset((d), (c), (n))

/* Protocol violations are the peer's fault: report (unless KUP_QUIET), never abort. */
__attribute__((format(printf, 1, 2))) void kup_plat_log(const char *fmt, ...);
#define KUP_LOG(...) kup_plat_log(__VA_ARGS__)

#endif /* KUP_PLAT_H */
