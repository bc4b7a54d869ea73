/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_gate.c - the provider's channel gate (provider/kpv_gate.h): mutual
 * exclusion, hand-over, unload's drain, and kupdev_unload with callers
 * blocked on a channel and queued behind them; and the lifetime of the
 * zero-copy pointers a pool thread holds while others move the channel on.  Built twice: against
 * the libraries, and with ASan from their sources (use after free is caught).
 */
#include <dlfcn.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include "kt.h"
#include "kpv.h"
#include "kup_wire.h"
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

/*
 * A hook on the futex calls of one thread (syscall() is interposed; the
 * libraries call it through the PLT, or are built into the ASan binary):
 * the caller queued on the gate stays asleep until unload drains the
 * channel, and its drain wake returns only after kupdev_unload returned,
 * which has freed the device: anything the caller reads of it after
 * leaving the gate is a use after free (ASan build).
 */
static struct {
	pid_t tid;         /* the hooked thread */
	const uint32_t *n; /* its channel's gate */
	const uint32_t *grant;
	int woke;     /* atomic: the thread left its gate wait */
	int unloaded; /* atomic: kupdev_unload returned */
	/* Device-wide calls: unload's drain of sc->inside went to sleep. */
	const uint32_t *inside;
	int drain_waits; /* atomic */
	/* pthread_mutex_lock of lock by lock_tid waits for unload to wait or end. */
	pid_t lock_tid;
	const pthread_mutex_t *lock;
	int in_lock; /* atomic: lock_tid is held in the hook */
	/* pthread_join by join_tid (kupdev_shutdown's) waits the same way. */
	pid_t join_tid;
	int in_join; /* atomic */
} hk;

long syscall(long nr, ...)
{
	static long (*real)(long, ...);
	long a[6], r;
	va_list ap;
	int i, op;

	va_start(ap, nr);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (!real)
		real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	op = (int)a[1] & FUTEX_CMD_MASK;
	if (nr == SYS_futex && op == FUTEX_WAIT && hk.inside && (const uint32_t *)a[0] == hk.inside)
		__atomic_store_n(&hk.drain_waits, 1, __ATOMIC_SEQ_CST);
	r = real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (nr != SYS_futex || !hk.tid || gettid() != hk.tid)
		return r;
	if (op == FUTEX_WAIT && (const uint32_t *)a[0] == hk.grant &&
	    !__atomic_exchange_n(&hk.woke, 1, __ATOMIC_SEQ_CST)) {
		/* Counted in n, so unload cannot free yet; kick the other waiters,
		 * one of them unload, which may sleep on a grant left for us. */
		while (!(__atomic_load_n(hk.n, __ATOMIC_SEQ_CST) & KPV_DRAIN)) {
			real(SYS_futex, hk.grant, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
			usleep(1000);
		}
	} else if (op == FUTEX_WAKE && (const uint32_t *)a[0] == hk.n) {
		while (!__atomic_load_n(&hk.unloaded, __ATOMIC_SEQ_CST))
			usleep(1000);
	}
	return r;
}

int pthread_mutex_lock(pthread_mutex_t *m)
{
	static int (*real)(pthread_mutex_t *);

	if (!real)
		real = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_lock");
	if (hk.lock_tid && m == hk.lock && gettid() == hk.lock_tid) {
		/* Inside the call: unload must wait for us, not free the device. */
		__atomic_store_n(&hk.in_lock, 1, __ATOMIC_SEQ_CST);
		while (!__atomic_load_n(&hk.unloaded, __ATOMIC_SEQ_CST) &&
		       !__atomic_load_n(&hk.drain_waits, __ATOMIC_SEQ_CST))
			usleep(1000);
	}
	return real(m);
}

int pthread_join(pthread_t t, void **ret)
{
	static int (*real)(pthread_t, void **);

	if (!real)
		real = (int (*)(pthread_t, void **))dlsym(RTLD_NEXT, "pthread_join");
	if (hk.join_tid && gettid() == hk.join_tid) {
		/* kupdev_shutdown is about to stop the monitor: unload must wait for it. */
		__atomic_store_n(&hk.in_join, 1, __ATOMIC_SEQ_CST);
		while (!__atomic_load_n(&hk.unloaded, __ATOMIC_SEQ_CST) &&
		       !__atomic_load_n(&hk.drain_waits, __ATOMIC_SEQ_CST))
			usleep(1000);
	}
	return real(t, ret);
}

/* 1 once thread tid of this process is asleep. */
static int tid_sleeping(pid_t tid)
{
	char path[64], buf[256], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'S';
}

struct late {
	struct kupdev_softc *sc;
	pid_t tid; /* atomic */
	int r;
};

static void *late_run(void *arg)
{
	struct late *l = arg;

	__atomic_store_n(&l->tid, gettid(), __ATOMIC_SEQ_CST);
	l->r = kupdev_send_timed(l->sc, 0, "x", 1, 0, -1);
	return NULL;
}

/*
 * A caller queued behind a blocked receive enters the channel only once
 * unload drains it, sees the shutdown and leaves last.  It must not touch
 * the device after leaving the gate: unload frees it then (kpv_gate.h).
 */
KT_TEST(last_caller_leaves_without_touching_the_device)
{
	char name[64];
	struct caller rc;
	struct late lc;
	pthread_t tr, tl;
	struct kupdev_softc *sc;
	void *h, *ch, *msg;
	size_t len;

	snprintf(name, sizeof(name), "kt_gate_last_%d", (int)getpid());
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
	/* A receive that only the unload ends holds the gate. */
	rc = (struct caller){sc, 1};
	KT_EQ(pthread_create(&tr, NULL, recv_run, &rc), 0);
	while (__atomic_load_n(&sc->chans[0].gate.n, __ATOMIC_SEQ_CST) != 1)
		usleep(1000);
	hk.n = &sc->chans[0].gate.n;
	hk.grant = &sc->chans[0].gate.grant;
	lc = (struct late){sc, 0, 1};
	KT_EQ(pthread_create(&tl, NULL, late_run, &lc), 0);
	while (!__atomic_load_n(&lc.tid, __ATOMIC_SEQ_CST))
		usleep(1000);
	hk.tid = lc.tid;
	/* Queued and asleep on the gate. */
	while (__atomic_load_n(hk.n, __ATOMIC_SEQ_CST) != 2 || !tid_sleeping(lc.tid))
		usleep(1000);
	KT_EQ(kupdev_unload(sc), 0);
	__atomic_store_n(&hk.unloaded, 1, __ATOMIC_SEQ_CST);
	pthread_join(tr, NULL);
	pthread_join(tl, NULL);
	KT_EQ(rc.r, -EKU_SHUTDOWN);
	KT_EQ(lc.r, -EKU_SHUTDOWN);
	KT_EQ(__atomic_load_n(&hk.woke, __ATOMIC_SEQ_CST), 1); /* it did wait on the gate */
	kernproxy_close(h);
}

/* A thread that makes one call on sc once told to go, its tid known first. */
struct caller_at {
	struct kupdev_softc *sc;
	int (*call)(struct kupdev_softc *sc);
	pid_t tid; /* atomic */
	int go;    /* atomic */
	int r;
};

static void *caller_at_run(void *arg)
{
	struct caller_at *a = arg;

	__atomic_store_n(&a->tid, gettid(), __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&a->go, __ATOMIC_SEQ_CST))
		usleep(1000);
	a->r = a->call(a->sc);
	return NULL;
}

static int attached_0(struct kupdev_softc *sc)
{
	return kupdev_attached(sc, 0);
}

/*
 * kupdev_unload waits for a thread inside kupdev_attached (which takes the
 * device lock): it is a kupdev_* call like the others.  The hook holds the
 * thread inside the call, before the lock, until unload waits for it or
 * has returned (then the thread uses a freed device: the ASan build fails).
 */
KT_TEST(unload_waits_for_a_thread_inside_attached)
{
	char name[64];
	struct kupdev_softc *sc;
	struct caller_at a;
	pthread_t t;

	snprintf(name, sizeof(name), "kt_gate_att_%d", (int)getpid());
	sc = kupdev_create(name, 1, 1);
	KT_ASSERT(sc);
	a = (struct caller_at){sc, attached_0, 0, 0, -100};
	KT_EQ(pthread_create(&t, NULL, caller_at_run, &a), 0);
	while (!__atomic_load_n(&a.tid, __ATOMIC_SEQ_CST))
		usleep(1000);
	hk.inside = &sc->inside;
	hk.lock = &sc->lock;
	hk.lock_tid = a.tid;
	__atomic_store_n(&a.go, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&hk.in_lock, __ATOMIC_SEQ_CST)) /* inside the call */
		usleep(1000);
	KT_EQ(kupdev_unload(sc), 0);
	__atomic_store_n(&hk.unloaded, 1, __ATOMIC_SEQ_CST);
	pthread_join(t, NULL);
	KT_EQ(a.r, 0);
	KT_EQ(__atomic_load_n(&hk.drain_waits, __ATOMIC_SEQ_CST), 1);
}

/*
 * kupdev_unload while another thread is inside kupdev_shutdown (it has
 * shut the device and is stopping the monitor): unload finds the device
 * down already, and must still wait for that call before freeing.
 */
KT_TEST(unload_waits_for_a_thread_inside_shutdown)
{
	char name[64];
	struct kupdev_softc *sc;
	struct caller_at s;
	pthread_t t;

	snprintf(name, sizeof(name), "kt_gate_shut_%d", (int)getpid());
	sc = kupdev_create(name, 1, 1);
	KT_ASSERT(sc);
	s = (struct caller_at){sc, kupdev_shutdown, 0, 0, -100};
	KT_EQ(pthread_create(&t, NULL, caller_at_run, &s), 0);
	while (!__atomic_load_n(&s.tid, __ATOMIC_SEQ_CST))
		usleep(1000);
	hk.inside = &sc->inside;
	hk.join_tid = s.tid;
	__atomic_store_n(&s.go, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&hk.in_join, __ATOMIC_SEQ_CST))
		usleep(1000);
	KT_EQ(kupdev_unload(sc), 0);
	__atomic_store_n(&hk.unloaded, 1, __ATOMIC_SEQ_CST);
	pthread_join(t, NULL);
	KT_EQ(s.r, 0);
	KT_EQ(__atomic_load_n(&hk.drain_waits, __ATOMIC_SEQ_CST), 1);
}

/* Device NAME (tag_PID) of one one-page channel, its handle *h and the channel attached. */
static struct kupdev_softc *gate_dev(char *name, size_t n, const char *tag, void **h, void **ch)
{
	struct kupdev_softc *sc;

	snprintf(name, n, "%s_%d", tag, (int)getpid());
	sc = kupdev_create(name, 1, 1);
	KT_ASSERT(sc);
	*h = kernproxy_open(name);
	KT_ASSERT(*h);
	*ch = kernproxy_channel(*h, 0, 1);
	KT_ASSERT(*ch);
	return sc;
}

/* Close *h and attach channel 0 again from a new handle (once the provider saw the close). */
static void *gate_reattach(const char *name, void **h)
{
	void *ch;

	kernproxy_close(*h);
	*h = kernproxy_open(name);
	KT_ASSERT(*h);
	while (!(ch = kernproxy_channel(*h, 0, 1)))
		KT_EQ(kernproxy_error(*h), EKU_BUSY);
	return ch;
}

/*
 * Zero-copy pointers in a pool (core's loans): thread A serves the first
 * attach and keeps a pointer from kupdev_recv_shared_untrusted (or
 * kupdev_send_buf); the process detaches and attaches again, twice, and
 * the main thread, handed each new attach, moves the channel on.  A's
 * pointer must still reach the first attach's memory: it reads the same
 * bytes (or writes) there without a fault, until its next call.
 */
struct lender {
	struct kupdev_softc *sc;
	int zc_send;     /* 0: hold a receive pointer; 1: a send buffer; 2: echo the receive */
	int lent, moved; /* atomic: A holds its pointer; the channel moved on */
	int r, same;     /* A's results */
	int late;        /* zc_send 2: what A's echo got first (the old session's end) */
	int busy;        /* A's call while every loan slot is taken */
};

static unsigned sum_bytes(const volatile uint8_t *p, size_t n)
{
	unsigned s = 0;

	while (n--)
		s = s * 31 + *p++;
	return s;
}

static void *lender_run(void *arg)
{
	struct lender *l = arg;
	const void *p = NULL;
	void *b;
	size_t len = 0, cap;
	unsigned s1;

	l->r = kupdev_wait_channel(l->sc);
	if (l->r == 0)
		l->r = kupdev_send(l->sc, "hello", 5, 0);
	if (l->r == 0)
		l->r = kupdev_recv_shared_untrusted(l->sc, 0, &p, &len, 0, -1);
	if (l->r == 0 && l->zc_send == 1) {
		l->r = kupdev_send_buf(l->sc, 0, &b, &cap, 0, -1);
		p = b;
		len = cap;
	}
	if (l->r)
		goto out;
	s1 = sum_bytes(p, len);
	__atomic_store_n(&l->lent, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&l->moved, __ATOMIC_SEQ_CST))
		usleep(1000);
	if (l->zc_send == 1)
		memset(b, 0x5a, cap); /* into the first attach's pages, which nobody reads */
	else if (l->zc_send == 2) { /* the pointer as the argument of the next call */
		/* A was in the first session's conversation: it hears that end first. */
		l->late = kupdev_send_timed(l->sc, 0, p, len, 0, 10 * 1000000000LL);
		l->r = kupdev_send_timed(l->sc, 0, p, len, 0, 10 * 1000000000LL);
	}
	else
		l->same = sum_bytes(p, len) == s1 && len == 7 && !memcmp(p, "payload", 7);
out:
	__atomic_store_n(&l->lent, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void loan_outlives_reattach(int zc_send)
{
	struct lender l = {.zc_send = zc_send};
	char name[64];
	void *h, *ch, *msg;
	const void *p;
	size_t len;
	pthread_t t;
	int i;

	l.sc = gate_dev(name, sizeof(name), "kt_loan", &h, &ch);
	KT_EQ(pthread_create(&t, NULL, lender_run, &l), 0);
	msg = kernproxy_receive_len(ch, &len, 0);
	KT_ASSERT(msg && len == 5);
	KT_EQ(kernproxy_send(ch, "payload", 7, 0), 0);
	while (!__atomic_load_n(&l.lent, __ATOMIC_SEQ_CST))
		usleep(1000);
	KT_EQ(l.r, 0);
	/* Twice: the provider once kept one earlier attach's memory. */
	for (i = 0; i < 2; i++) {
		ch = gate_reattach(name, &h);
		KT_EQ(kupdev_wait_channel(l.sc), 0);
		KT_EQ(kupdev_send(l.sc, "again", 5, 0), 0); /* moves the channel on */
		msg = kernproxy_receive_len(ch, &len, 0);
		KT_ASSERT(msg && len == 5 && !memcmp(msg, "again", 5));
		KT_EQ(kernproxy_send(ch, "x", 1, 0), 0);
		KT_EQ(kupdev_recv(l.sc, 0, &msg, &len, 0, -1), 0);
		KT_EQ(len, 1);
	}
	__atomic_store_n(&l.moved, 1, __ATOMIC_SEQ_CST);
	pthread_join(t, NULL);
	KT_EQ(l.r, 0);
	if (!zc_send)
		KT_EQ(l.same, 1);
	if (zc_send == 2) {
		/* Told, A sent anyway: its reply reaches the new process, from the old pages. */
		KT_EQ(l.late, -EKU_CLOSED);
		msg = kernproxy_receive_len(ch, &len, 0);
		KT_ASSERT(msg && len == 7 && !memcmp(msg, "payload", 7));
		KT_EQ(kernproxy_send(ch, "y", 1, 0), 0);
		KT_EQ(kupdev_recv(l.sc, 0, &msg, &len, 0, -1), 0);
		KT_EQ(len, 1);
	}
	/*
	 * The new process never sees A's bytes: past "again" (past the echo's
	 * "payload", which A sent it) its data page is as fresh.
	 */
	KT_EQ(kupdev_send(l.sc, "done", 4, 0), 0);
	msg = kernproxy_receive_len(ch, &len, 0);
	KT_ASSERT(msg && len == 4 && !memcmp(msg, "done", 4));
	for (i = zc_send == 2 ? 7 : 5; i < 4096; i++)
		KT_EQ(((const uint8_t *)msg)[i], 0);
	KT_EQ(kernproxy_send(ch, "tail", 4, 0), 0);
	KT_EQ(kupdev_recv_shared_untrusted(l.sc, 0, &p, &len, 0, -1), 0);
	KT_ASSERT(len == 4 && !memcmp(p, "tail", 4));
	for (i = 4; i < 4096; i++)
		KT_EQ(((const uint8_t *)p)[i], 0);
	kernproxy_close(h);
	KT_EQ(kupdev_unload(l.sc), 0); /* frees what A still holds */
}

KT_TEST(recv_pointer_outlives_reattach_in_a_pool)
{
	loan_outlives_reattach(0);
}

KT_TEST(send_buffer_outlives_reattach_in_a_pool)
{
	loan_outlives_reattach(1);
}

/*
 * The soak's finding: A echoes its receive pointer with kupdev_send_timed
 * after the moves.  That call once ended A's loan and freed the first
 * attach's memory before copying from it.
 */
KT_TEST(recv_pointer_valid_as_argument_of_next_call_in_a_pool)
{
	loan_outlives_reattach(2);
}

struct loaner {
	struct kupdev_softc *sc;
	int go, done, quit, r; /* atomic */
};

/* Stays alive until quit: a dead thread's identity may be reused by the next one. */
static void *loaner_run(void *arg)
{
	struct loaner *o = arg;
	const void *p;
	size_t len;

	while (!__atomic_load_n(&o->go, __ATOMIC_SEQ_CST))
		usleep(1000);
	o->r = kupdev_recv_shared_untrusted(o->sc, 0, &p, &len, KUP_NB, 0);
	__atomic_store_n(&o->done, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&o->quit, __ATOMIC_SEQ_CST))
		usleep(1000);
	return NULL;
}

/* Loan slots are bounded: a thread beyond KUP_LOANS gets -EKU_BUSY; a call of its own frees a
 * holder's slot. */
KT_TEST(zero_copy_loans_are_bounded)
{
	static struct loaner o[KUP_LOANS + 1];
	pthread_t t[KUP_LOANS + 1];
	struct kupdev_softc *sc;
	char name[64];
	void *h, *ch, *msg;
	const void *p;
	size_t len;
	int i;

	sc = gate_dev(name, sizeof(name), "kt_loans", &h, &ch);
	KT_EQ(kupdev_wait_channel(sc), 0);
	KT_EQ(kupdev_send(sc, "hi", 2, 0), 0);
	msg = kernproxy_receive_len(ch, &len, 0);
	KT_ASSERT(msg);
	KT_EQ(kernproxy_send(ch, "m", 1, 0), 0);
	for (i = 0; i <= KUP_LOANS; i++) {
		o[i].sc = sc;
		KT_EQ(pthread_create(&t[i], NULL, loaner_run, &o[i]), 0);
	}
	for (i = 0; i <= KUP_LOANS; i++) {
		__atomic_store_n(&o[i].go, 1, __ATOMIC_SEQ_CST);
		while (!__atomic_load_n(&o[i].done, __ATOMIC_SEQ_CST))
			usleep(1000);
		KT_EQ(o[i].r, i < KUP_LOANS ? 0 : -EKU_BUSY);
	}
	KT_EQ(kupdev_last_error(sc, 0), EKU_BUSY);
	KT_EQ(kupdev_recv_shared_untrusted(sc, 0, &p, &len, KUP_NB, 0), -EKU_BUSY);
	/* A plain call ends nobody else's loan; still busy. */
	KT_EQ(kupdev_recv(sc, 0, &msg, &len, KUP_NB, 0), 0);
	KT_EQ(kupdev_recv_shared_untrusted(sc, 0, &p, &len, KUP_NB, 0), -EKU_BUSY);
	for (i = 0; i <= KUP_LOANS; i++) {
		__atomic_store_n(&o[i].quit, 1, __ATOMIC_SEQ_CST);
		pthread_join(t[i], NULL);
	}
	kernproxy_close(h);
	KT_EQ(kupdev_unload(sc), 0);
}

/*
 * Issue 11: what the hosts once did differently.  NULL out-pointers are
 * refused on every host (the provider accepted len == NULL), and
 * kupdev_unlock_channel is a no-op that takes no lock (the provider's
 * went through the session rule and used up the one -EKU_CLOSED that
 * tells the module its process left).
 */
KT_TEST(null_outputs_refused_and_unlock_keeps_the_old_end)
{
	struct kupdev_softc *sc;
	char name[64];
	void *h, *ch, *d, *b;
	const void *p;
	size_t len, cap;

	sc = gate_dev(name, sizeof(name), "kt_api", &h, &ch);
	KT_EQ(kupdev_wait_channel(sc), 0);
	KT_EQ(kupdev_recv(sc, 0, &d, NULL, KUP_NB, 0), -EKU_INVAL);
	KT_EQ(kupdev_recv(sc, 0, NULL, &len, KUP_NB, 0), -EKU_INVAL);
	KT_EQ(kupdev_recv_shared_untrusted(sc, 0, &p, NULL, KUP_NB, 0), -EKU_INVAL);
	KT_EQ(kupdev_send_buf(sc, 0, &b, NULL, KUP_NB, 0), -EKU_INVAL);
	KT_EQ(kupdev_send_buf(sc, 0, NULL, &cap, KUP_NB, 0), -EKU_INVAL);
	KT_EQ(kupdev_send(sc, "old", 3, 0), 0);
	ch = gate_reattach(name, &h);
	kupdev_unlock_channel(sc, 0);
	KT_EQ(kupdev_send(sc, "mid", 3, 0), -EKU_CLOSED); /* the old end, still */
	KT_EQ(kupdev_wait_channel(sc), 0);
	KT_EQ(kupdev_send(sc, "new", 3, 0), 0);
	d = kernproxy_receive_len(ch, &len, 0);
	KT_ASSERT(d && len == 3 && !memcmp(d, "new", 3));
	kernproxy_close(h);
	KT_EQ(kupdev_unload(sc), 0);
}

/* Issue 11: pending attaches are reported oldest first on every host (FreeBSD went round robin). */
KT_TEST(wait_channel_reports_attaches_in_order)
{
	static const int order[] = {2, 0, 3, 1};
	struct kupdev_softc *sc;
	char name[64];
	void *h;
	int i;

	snprintf(name, sizeof(name), "kt_fifo_%d", (int)getpid());
	sc = kupdev_create(name, 1, 4);
	KT_ASSERT(sc);
	h = kernproxy_open(name);
	KT_ASSERT(h);
	for (i = 0; i < 4; i++)
		KT_ASSERT(kernproxy_channel(h, order[i], 1));
	for (i = 0; i < 4; i++)
		KT_EQ(kupdev_wait_channel(sc), order[i]);
	KT_EQ(kupdev_wait_channel_timed(sc, KUP_NB, 0), -EKU_NOTREADY);
	kernproxy_close(h);
	KT_EQ(kupdev_unload(sc), 0);
}

/* Issue 11: kupdev_create_attr's checks are core's: bits beyond the permissions are refused
 * everywhere. */
KT_TEST(create_attr_refuses_more_than_permission_bits)
{
	struct kupdev_attr a = {.mode = 010600};
	char name[64];

	snprintf(name, sizeof(name), "kt_attr_%d", (int)getpid());
	KT_ASSERT(kupdev_create_attr(name, 1, 1, &a) == NULL);
	KT_EQ(kupdev_last_error(NULL, 0), EKU_INVAL);
	KT_ASSERT(kupdev_create_attr(name, 0, 1, NULL) == NULL);
	KT_EQ(kupdev_last_error(NULL, 0), EKU_BADSIZE);
}

/*
 * A request longer than struct kw_msg reaches the provider truncated
 * (SOCK_SEQPACKET keeps only what fits): it must be dropped as malformed,
 * not answered as if its first bytes were the whole request.
 */
KT_TEST(oversized_request_is_refused_not_truncated)
{
	char dir[] = "/tmp/kt_wire_XXXXXX", name[64];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct kupdev_softc *sc;
	struct kw_msg req[2], rep;
	struct pollfd pf;
	const char *old = getenv("KUP_RUNTIME_DIR");
	char *saved = old ? strdup(old) : NULL;
	int fd;

	KT_ASSERT(mkdtemp(dir));
	KT_EQ(setenv("KUP_RUNTIME_DIR", dir, 1), 0);
	snprintf(name, sizeof(name), "kt_wire_%d", (int)getpid());
	sc = kupdev_create(name, 1, 1);
	KT_ASSERT(sc);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, name);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	KT_ASSERT(fd >= 0);
	KT_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* A well-formed KW_INFO request, followed by as many bytes again. */
	memset(req, 0, sizeof(req));
	req[0].magic = KW_MAGIC;
	req[0].type = KW_INFO;
	req[0].abi = KUP_ABI_VERSION;
	KT_EQ(send(fd, req, sizeof(req), MSG_NOSIGNAL), (ssize_t)sizeof(req));
	pf.fd = fd;
	pf.events = POLLIN;
	KT_EQ(poll(&pf, 1, 5000), 1);
	/* Dropped: end of file (or a reset), never an INFO reply. */
	KT_ASSERT(recv(fd, &rep, sizeof(rep), 0) <= 0);
	close(fd);
	KT_EQ(kupdev_unload(sc), 0);
	if (saved) {
		setenv("KUP_RUNTIME_DIR", saved, 1);
		free(saved);
	} else {
		unsetenv("KUP_RUNTIME_DIR");
	}
	rmdir(dir);
}

KT_MAIN()

/*
 * kupdev_send_recv: NULL outputs refused; -EKU_NOTURN while the process
 * holds the turn, nothing sent; a round trip each way by one call a side;
 * nonblocking, -EKU_NOTREADY after the message went, the reply by
 * kupdev_recv; an echo of the reply's own copy.
 */
KT_TEST(send_recv_one_call_a_round_trip)
{
	struct kernproxy_stats st;
	struct kupdev_softc *sc;
	char name[64];
	void *h, *ch, *d, *u;
	size_t len, ulen;

	sc = gate_dev(name, sizeof(name), "kt_sr", &h, &ch);
	KT_EQ(kupdev_wait_channel(sc), 0);
	KT_EQ(kupdev_send_recv(sc, 0, "a", 1, NULL, &len, 0, 0), -EKU_INVAL);
	KT_EQ(kupdev_send_recv(sc, 0, "a", 1, &d, NULL, 0, 0), -EKU_INVAL);
	KT_EQ(kupdev_send_recv(sc, 0, "a", 1, &d, &len, 0x40, 0), -EKU_INVAL);
	KT_EQ(kupdev_send_recv(sc, 7, "a", 1, &d, &len, 0, 0), -EKU_RANGE);
	/* The kern side's first turn: its send_recv sends, the reply is not there yet. */
	KT_EQ(kupdev_send_recv(sc, 0, "ping", 4, &d, &len, KUP_NB, 0), -EKU_NOTREADY);
	/* The process holds the turn now: the kern side cannot send. */
	KT_EQ(kupdev_send_recv(sc, 0, "x", 1, &d, &len, 0, KUP_FOREVER), -EKU_NOTURN);
	KT_EQ(kupdev_last_error(sc, 0), EKU_NOTURN);
	u = kernproxy_receive_len(ch, &ulen, KP_NB);
	KT_ASSERT(u && ulen == 4 && !memcmp(u, "ping", 4)); /* "x" never went */
	KT_ASSERT(kernproxy_send_recv(ch, "pong", 4, &ulen, KP_NB) == NULL);
	KT_EQ(kernproxy_error(ch), EKU_NOTREADY);
	KT_EQ(kupdev_recv(sc, 0, &d, &len, KUP_NB, 0), 0);
	KT_ASSERT(len == 4 && !memcmp(d, "pong", 4));
	KT_EQ(kupdev_send_recv(sc, 0, d, len, &d, &len, KUP_NB, 0), -EKU_NOTREADY); /* echo */
	u = kernproxy_receive_len(ch, &ulen, KP_NB);
	KT_ASSERT(u && ulen == 4 && !memcmp(u, "pong", 4));
	KT_EQ(kernproxy_send(ch, "12345678", 8, KP_NB), 0);
	KT_EQ(kupdev_recv(sc, 0, &d, &len, KUP_NB, 0), 0);
	KT_ASSERT(len == 8 && !memcmp(d, "12345678", 8));
	KT_EQ(kernproxy_stats(ch, &st), 0);
	KT_EQ(st.sent, 2);
	KT_EQ(st.received, 2);
	kernproxy_close(h);
	KT_EQ(kupdev_unload(sc), 0);
}
