/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kpv_gate.h - a channel's lock, which is also unload's count of the
 * callers on that channel; and the plain caller count of device-wide calls.
 *
 * n counts the threads holding or waiting for the channel: the one that
 * moves the count from 0 holds it; an owner that leaves others behind
 * hands over through grant.  Entering and leaving cost one locked
 * instruction each (a mutex plus a separate caller count cost two each),
 * on the path every message takes.
 *
 * Unload sets KPV_DRAIN in n and waits for n to hold nothing else.  The
 * bit and the count share one word, so a leaver learns from its own
 * decrement whether to wake unload, and reads nothing of the device after
 * it: once the count is 0 the memory may be freed (the futex wake that
 * may follow touches no memory, as with any mutex unlocked then destroyed).
 */
#ifndef KPV_GATE_H
#define KPV_GATE_H

#include <stdint.h>

#define KPV_DRAIN 0x80000000u /* in a count: unload waits for it to empty */

struct kpv_gate {
	uint32_t n;     /* futex: holders and waiters, | KPV_DRAIN */
	uint32_t grant; /* futex: hand-overs not yet taken by a waiter */
};

/* The slow halves, out of line: the inline halves stay free of calls' frames. */
__attribute__((__noinline__)) void kpv_gate_wait(struct kpv_gate *g);
__attribute__((__noinline__)) void kpv_gate_hand_over(struct kpv_gate *g);
__attribute__((__noinline__)) void kpv_count_wake_drain(uint32_t *n);
/* Unload: wait until nobody is counted in n; later callers still get in. */
void kpv_count_drain(uint32_t *n);

static inline void kpv_count_enter(uint32_t *n)
{
	__atomic_fetch_add(n, 1, __ATOMIC_SEQ_CST);
}

static inline void kpv_count_leave(uint32_t *n)
{
	if (__atomic_sub_fetch(n, 1, __ATOMIC_SEQ_CST) == KPV_DRAIN)
		kpv_count_wake_drain(n);
}

static inline void kpv_gate_lock(struct kpv_gate *g)
{
	if (__atomic_fetch_add(&g->n, 1, __ATOMIC_SEQ_CST) & ~KPV_DRAIN)
		kpv_gate_wait(g);
}

/* The gate when nobody holds it, waits for it or drains it: 1; else 0 and nothing done. */
static inline int kpv_gate_trylock(struct kpv_gate *g)
{
	uint32_t idle = 0;

	return __atomic_compare_exchange_n(&g->n, &idle, 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
}

static inline void kpv_gate_unlock(struct kpv_gate *g)
{
	uint32_t v = __atomic_sub_fetch(&g->n, 1, __ATOMIC_SEQ_CST);

	if (v & ~KPV_DRAIN)
		kpv_gate_hand_over(g); /* a waiter is still counted: g is alive */
	else if (v)
		kpv_count_wake_drain(&g->n);
}

#endif /* KPV_GATE_H */
