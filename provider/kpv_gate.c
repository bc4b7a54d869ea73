/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kpv_gate.c - the slow paths of the channel gate and caller counts
 * (kpv_gate.h): waiting for a hand-over, handing over, unload's drain.
 */
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kpv_gate.h"

static void futex_wait(uint32_t *w, uint32_t val)
{
	/* EAGAIN (the word moved) and EINTR both mean: look again. */
	syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(uint32_t *w, int cnt)
{
	syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, cnt, NULL, NULL, 0);
}

void kpv_gate_wait(struct kpv_gate *g)
{
	uint32_t v;

	for (;;) {
		v = __atomic_load_n(&g->grant, __ATOMIC_ACQUIRE);
		if (v == 0)
			futex_wait(&g->grant, 0);
		else if (__atomic_compare_exchange_n(&g->grant, &v, v - 1, 0, __ATOMIC_ACQUIRE,
		                                     __ATOMIC_RELAXED))
			return;
	}
}

void kpv_gate_hand_over(struct kpv_gate *g)
{
	/* Every waiter counted in n takes exactly one grant, so none is lost. */
	__atomic_fetch_add(&g->grant, 1, __ATOMIC_RELEASE);
	futex_wake(&g->grant, 1);
}

void kpv_count_wake_drain(uint32_t *n)
{
	futex_wake(n, INT_MAX);
}

void kpv_count_drain(uint32_t *n)
{
	uint32_t v = __atomic_or_fetch(n, KPV_DRAIN, __ATOMIC_SEQ_CST);

	while (v != KPV_DRAIN) {
		futex_wait(n, v);
		v = __atomic_load_n(n, __ATOMIC_SEQ_CST);
	}
}
