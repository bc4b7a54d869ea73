/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * integ_attach.c - which channel kernproxy_channel attaches (the named one
 * when free, else the lowest free one), the strict attach (KP_EXACT), the
 * attach that waits for a free channel, errors seen on the device handle,
 * and the seed header's names.
 */
#include <pthread.h>

#include "kit.h"

#define NAME(base) kit_name(base, namebuf, sizeof(namebuf))

/* The seed header's names compile and mean what the seed's code expects. */
_Static_assert(KP_EMPTY == 0, "KP_EMPTY is no flags");
_Static_assert(KPE_NOTREADY == EKU_NOTREADY, "KPE_NOTREADY");
_Static_assert(KPE_FINISH == EKU_SHUTDOWN, "KPE_FINISH");

/* Attach with the seed's call; the channel must greet us with its own id. */
static void *seed_attach(void *h, size_t want, int expect)
{
	void *ch = kernproxy_channel(h, want, 1);

	if (!ch)
		KT_FAIL("kernproxy_channel(%zu): %s", want, kernproxy_strerror(kernproxy_error(h)));
	KT_EQ(kernproxy_channel_id(ch), expect);
	kit_hello(ch, (uint32_t)expect);
	return ch;
}

KT_TEST(attach_named_channel_else_lowest_free)
{
	char namebuf[64];
	const char *n = NAME("at_pick");
	struct kit_ctl *c = ctl_open();
	void *h, *a, *b, *d, *e;

	ctl_mkdev(c, n, 1, 4, KTB_ECHO, 0, 0);
	h = kit_open(n);
	a = seed_attach(h, 2, 2); /* free: the named one */
	b = seed_attach(h, 2, 0); /* taken: the lowest free one */
	d = seed_attach(h, 0, 1);
	KIT_FAILS_WITH(kernproxy_attach(h, 2, 1, KP_EXACT) == NULL, h, EKU_BUSY);
	e = kernproxy_attach(h, 3, 1, KP_EXACT);
	KT_ASSERT(e);
	KT_EQ(kernproxy_channel_id(e), 3);
	kit_hello(e, 3);
	/* Every channel exchanges with its own service thread. */
	kit_echo(a, 100, 1);
	kit_echo(b, 200, 2);
	kit_echo(d, 300, 3);
	kit_echo(e, 400, 4);
	/* All taken: an immediate answer, two ways. */
	KIT_FAILS_WITH(kernproxy_attach(h, 0, 1, KP_NB) == NULL, h, EKU_BUSY);
	KT_EQ(kernproxy_set_timeout(h, 0), 0);
	KIT_FAILS_WITH(kernproxy_channel(h, 1, 1) == NULL, h, EKU_BUSY);
	KIT_FAILS_WITH(kernproxy_attach(h, 0, 1, 0x100) == NULL, h, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_channel_id(h) == -1, h, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_channel_id(NULL) == -1, NULL, EKU_INVAL);
	/* A released channel is the next one handed out. */
	kernproxy_close(d);
	d = kit_attach(h, 1, 1); /* retries while the service notices the detach */
	kit_hello(d, 1);
	kit_echo(d, 10, 5);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

struct waiter {
	void *h;
	size_t want;
	void *ch;
	int err;
	long tid;
	long long t_end;
	volatile int started;
};

static void *wait_attach(void *arg)
{
	struct waiter *w = arg;

	w->tid = kit_tid();
	__atomic_store_n(&w->started, 1, __ATOMIC_RELEASE);
	w->ch = kernproxy_channel(w->h, w->want, 1);
	w->err = w->ch ? 0 : kernproxy_errno;
	w->t_end = kit_now_ms();
	return NULL;
}

static void start_waiter(struct waiter *w, pthread_t *t)
{
	KT_EQ(pthread_create(t, NULL, wait_attach, w), 0);
	while (!__atomic_load_n(&w->started, __ATOMIC_ACQUIRE))
		kit_sleep_ms(1);
	kit_wait_thread_sleeps(w->tid); /* inside its attach, asleep */
}

/* All channels taken: the attach sleeps until one is released, then takes it. */
KT_TEST(attach_waits_until_a_channel_is_released)
{
	char namebuf[64];
	const char *n = NAME("at_wait");
	struct kit_ctl *c = ctl_open();
	struct waiter w = {0};
	long long t_release;
	pthread_t t;
	void *h, *a, *b;

	ctl_mkdev(c, n, 1, 2, KTB_ECHO, 0, 0);
	h = kit_open(n);
	a = seed_attach(h, 0, 0);
	b = seed_attach(h, 0, 1);
	w.h = kit_open(n); /* another handle, default timeout: forever */
	w.want = 0;
	start_waiter(&w, &t);
	KT_ASSERT(w.ch == NULL && w.t_end == 0); /* still waiting */
	kit_echo(a, 64, 1);                      /* the holders go on meanwhile */
	t_release = kit_now_ms();
	kernproxy_close(b);
	KT_EQ(pthread_join(t, NULL), 0);
	KT_ASSERT(w.ch);
	KT_EQ(w.err, 0);
	KT_EQ(kernproxy_channel_id(w.ch), 1);         /* the released one */
	KT_ASSERT(w.t_end - t_release < KIT_SOON_MS); /* woken by the release */
	kit_hello(w.ch, 1);
	kit_echo(w.ch, 128, 9);
	kit_echo(a, 64, 2);
	kernproxy_close(w.h);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/* The wait is bounded by the device handle's timeout. */
KT_TEST(attach_wait_bounded_by_device_timeout)
{
	char namebuf[64];
	const char *n = NAME("at_tmo");
	struct kit_ctl *c = ctl_open();
	long long t0, took;
	void *h, *a;

	ctl_mkdev(c, n, 1, 1, KTB_ECHO, 0, 0);
	h = kit_open(n);
	a = seed_attach(h, 0, 0);
	KIT_FAILS_WITH(kernproxy_set_timeout(NULL, 0) == -1, NULL, EKU_INVAL);
	KT_EQ(kernproxy_set_timeout(h, 200 * 1000000LL), 0);
	t0 = kit_now_ms();
	KIT_FAILS_WITH(kernproxy_channel(h, 0, 1) == NULL, h, EKU_TIMEDOUT);
	took = kit_now_ms() - t0;
	KT_ASSERT(took >= 190);
	KT_ASSERT(took < KIT_SOON_MS);
	/* The holder was never disturbed. */
	kit_echo(a, 32, 3);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/* A waiting attach ends with EKU_SHUTDOWN when the device goes away. */
KT_TEST(attach_wait_ends_with_shutdown)
{
	char namebuf[64];
	const char *n = NAME("at_shut");
	struct kit_ctl *c = ctl_open();
	struct waiter w = {0};
	pthread_t t;
	void *h, *a;

	ctl_mkdev(c, n, 1, 1, KTB_ECHO, 0, 0);
	h = kit_open(n);
	a = seed_attach(h, 0, 0);
	kit_echo(a, 16, 1);
	w.h = kit_open(n);
	start_waiter(&w, &t);
	KT_EQ(ctl_unload(c, n), 0);
	KT_EQ(pthread_join(t, NULL), 0);
	KT_ASSERT(w.ch == NULL);
	KT_EQ(w.err, EKU_SHUTDOWN);
	KT_EQ(kernproxy_error(w.h), EKU_SHUTDOWN);
	kernproxy_close(w.h);
	kernproxy_close(h);
	ctl_close(c);
}

/* Errors of a channel's calls are seen on its device handle too. */
KT_TEST(device_handle_sees_channel_errors)
{
	char namebuf[64];
	const char *n = NAME("at_err");
	struct kit_ctl *c = ctl_open();
	uint8_t big[KUP_PAGE + 1];
	void *h, *ch;

	ctl_mkdev(c, n, 1, 1, KTB_HOLD, 0, 0);
	h = kit_open(n);
	ch = kit_attach(h, 0, 1);
	KT_EQ(kernproxy_error(h), EKU_OK);
	/* The kernel side keeps the turn: the seed's polling loop sees EKU_NOTREADY. */
	KIT_FAILS_WITH(kernproxy_receive(ch, KP_NB) == NULL, ch, EKU_NOTREADY);
	KT_EQ(kernproxy_error(h), EKU_NOTREADY);
	KT_EQ(kernproxy_error(h), KPE_NOTREADY);
	memset(big, 1, sizeof(big));
	KIT_FAILS_WITH(kernproxy_send(ch, big, sizeof(big), KP_EMPTY) == -1, ch, EKU_TOOBIG);
	KT_EQ(kernproxy_error(h), EKU_TOOBIG);
	KIT_FAILS_WITH(kernproxy_receive(ch, 0x80) == NULL, ch, EKU_INVAL);
	KT_EQ(kernproxy_error(h), EKU_INVAL);
	/* The device goes: the device handle says so, and keeps saying so. */
	KT_EQ(ctl_unload(c, n), 0);
	KIT_FAILS_WITH(kernproxy_receive(ch, 0) == NULL, ch, EKU_SHUTDOWN);
	KT_EQ(kernproxy_error(h), EKU_SHUTDOWN);
	KT_EQ(kernproxy_error(h), KPE_FINISH);
	kernproxy_errno = 0;
	KT_ASSERT(kernproxy_receive(ch, KP_NB) == NULL);
	KT_EQ(kernproxy_errno, EKU_SHUTDOWN);
	KT_ASSERT(kernproxy_channel(h, 7, 1) == NULL);
	KT_EQ(kernproxy_errno, EKU_RANGE);
	KT_EQ(kernproxy_error(h), EKU_SHUTDOWN);
	kernproxy_close(h);
	ctl_close(c);
}

/* A provider killed under its client: EKU_CLOSED on the channel, EKU_SHUTDOWN on the device. */
KT_TEST(killed_provider_shows_on_device_handle)
{
	const char *echo = kit_prog("KUPTEST_ECHO");
	int st = 0;
	size_t len;
	void *h, *ch;
	char *p;
	pid_t pid;

	KIT_PROVIDER_ONLY("a kernel module cannot be killed");
	if (!echo)
		KT_SKIP("KUPTEST_ECHO does not name the kup_echo provider program");
	if (kit_spawn(echo, &pid, &st) != 0)
		KT_FAIL("kup_echo did not start (status %d)", st);
	h = kit_open("kup_echo");
	ch = kernproxy_channel(h, 0, 1);
	KT_ASSERT(ch);
	p = kit_recv(ch, &len);
	KT_ASSERT(len > 10 && memcmp(p, "hello from", 10) == 0);
	KT_EQ(kernproxy_send(ch, "ping", 4, 0), 0);
	p = kit_recv(ch, &len);
	KT_ASSERT(len == 4 && memcmp(p, "ping", 4) == 0);
	KT_EQ(kill(pid, SIGKILL), 0);
	KT_EQ(waitpid(pid, &st, 0), pid);
	KT_EQ(kernproxy_send(ch, "gone", 4, 0), 0); /* our turn: nobody reads it */
	KIT_FAILS_WITH(kernproxy_receive(ch, 0) == NULL, ch, EKU_CLOSED);
	KT_EQ(kernproxy_error(h), EKU_SHUTDOWN);
	kernproxy_close(h);
}
