/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_gate.c - the provider's channel gate (provider/kpv_gate.h): mutual
 * exclusion, hand-over, unload's drain, and kupdev_unload with callers
 * blocked on a channel and queued behind them.
 */
#include <pthread.h>
#include <stdint.h>

#include "kt.h"
#include "kpv.h"
#include "kup.h"
#include "kupdev.h"

#define THREADS 4
#define ROUNDS  100000

struct excl {
	struct kpv_gate g;
	long count;  /* plain: only the holder touches it */
	int inside;  /* plain: 1 while someone holds g */
	int overlap; /* atomic: a holder found another inside */
};

static void *excl_run(void *arg)
{
	struct excl *x = arg;
	int i;

	for (i = 0; i < ROUNDS; i++) {
		kpv_gate_lock(&x->g);
		if (x->inside)
			__atomic_fetch_add(&x->overlap, 1, __ATOMIC_RELAXED);
		x->inside = 1;
		x->count++;
		x->inside = 0;
		kpv_gate_unlock(&x->g);
	}
	return NULL;
}

KT_TEST(gate_mutual_exclusion)
{
	static struct excl x;
	pthread_t t[THREADS];
	int i;

	for (i = 0; i < THREADS; i++)
		KT_EQ(pthread_create(&t[i], NULL, excl_run, &x), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	KT_EQ(x.overlap, 0);
	KT_EQ(x.count, (long)THREADS * ROUNDS);
	KT_EQ(x.g.n, 0);
	KT_EQ(x.g.grant, 0); /* every hand-over was taken */
}

struct hold {
	struct kpv_gate *g;
	int release; /* atomic: the holder may leave */
	int got;     /* atomic: it holds the gate */
};

static void *hold_run(void *arg)
{
	struct hold *h = arg;

	kpv_gate_lock(h->g);
	__atomic_store_n(&h->got, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&h->release, __ATOMIC_SEQ_CST))
		usleep(1000);
	kpv_gate_unlock(h->g);
	return NULL;
}

struct drain {
	struct kpv_gate *g;
	int done; /* atomic */
};

static void *drain_run(void *arg)
{
	struct drain *d = arg;

	kpv_count_drain(&d->g->n);
	__atomic_store_n(&d->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Unload's drain returns only when the holder and the waiter behind it left. */
KT_TEST(gate_drain_waits_for_holder_and_waiters)
{
	static struct kpv_gate g;
	struct hold h[2] = {{&g, 0, 0}, {&g, 0, 0}};
	struct drain d = {&g, 0};
	pthread_t th[2], td;

	KT_EQ(pthread_create(&th[0], NULL, hold_run, &h[0]), 0);
	while (!__atomic_load_n(&h[0].got, __ATOMIC_SEQ_CST))
		usleep(1000);
	KT_EQ(pthread_create(&th[1], NULL, hold_run, &h[1]), 0);
	while (__atomic_load_n(&g.n, __ATOMIC_SEQ_CST) != 2) /* queued behind h[0] */
		usleep(1000);
	KT_EQ(pthread_create(&td, NULL, drain_run, &d), 0);
	usleep(50000);
	KT_EQ(__atomic_load_n(&d.done, __ATOMIC_SEQ_CST), 0);
	KT_EQ(__atomic_load_n(&h[1].got, __ATOMIC_SEQ_CST), 0);
	__atomic_store_n(&h[0].release, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&h[1].got, __ATOMIC_SEQ_CST)) /* handed over */
		usleep(1000);
	usleep(20000);
	KT_EQ(__atomic_load_n(&d.done, __ATOMIC_SEQ_CST), 0);
	__atomic_store_n(&h[1].release, 1, __ATOMIC_SEQ_CST);
	pthread_join(td, NULL); /* the last leaver woke the drain */
	KT_EQ(d.done, 1);
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	KT_EQ(g.n, KPV_DRAIN);
	/* A caller after the drain still gets in and out (it then sees shutdown). */
	kpv_gate_lock(&g);
	kpv_gate_unlock(&g);
	KT_EQ(g.n, KPV_DRAIN);
}

struct caller {
	struct kupdev_softc *sc;
	int r;
};

static void *recv_run(void *arg)
{
	struct caller *c = arg;
	void *data;
	size_t len;

	c->r = kupdev_recv(c->sc, 0, &data, &len, 0, -1);
	return NULL;
}

/*
 * kupdev_unload with one module thread asleep in a receive on a channel
 * and two more queued behind it on the same channel: all three return
 * EKU_SHUTDOWN and unload frees the device only after they left.
 */
KT_TEST(unload_with_callers_queued_on_a_channel)
{
	char name[64];
	struct caller c[3];
	pthread_t t[3];
	struct kupdev_softc *sc;
	void *h, *ch, *msg;
	size_t len;
	int i;

	snprintf(name, sizeof(name), "kt_gate_%d", (int)getpid());
	sc = kupdev_create(name, 1, 1);
	KT_ASSERT(sc);
	h = kernproxy_open(name);
	KT_ASSERT(h);
	ch = kernproxy_channel(h, 0, 1);
	KT_ASSERT(ch);
	KT_EQ(kupdev_wait_channel(sc), 0);
	KT_EQ(kupdev_send_timed(sc, 0, "hi", 2, 0, -1), 0);
	msg = kernproxy_receive_len(ch, &len, 0);
	KT_ASSERT(msg && len == 2);
	/* The process holds the turn and never answers: receives block. */
	for (i = 0; i < 3; i++) {
		c[i] = (struct caller){sc, 1};
		KT_EQ(pthread_create(&t[i], NULL, recv_run, &c[i]), 0);
	}
	while (__atomic_load_n(&sc->chans[0].gate.n, __ATOMIC_SEQ_CST) != 3)
		usleep(1000);
	KT_EQ(kupdev_unload(sc), 0);
	for (i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		KT_EQ(c[i].r, -EKU_SHUTDOWN);
	}
	KT_ASSERT(kernproxy_receive(ch, KP_NB) == NULL);
	KT_EQ(kernproxy_errno, EKU_SHUTDOWN);
	kernproxy_close(h);
}

KT_MAIN()
