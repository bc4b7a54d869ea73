/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * integ_proto.c - the channel protocol seen from both ends: who moves
 * first, alternation, lengths, passes, nonblocking calls, sleeping and
 * waking, zero-copy send, counters, timeouts.
 */
#include <pthread.h>
#include <sys/resource.h>

#include "kit.h"

#define NAME(base) kit_name(base, namebuf, sizeof(namebuf))

/* A fresh channel belongs to the kern side: the user can neither send nor receive yet. */
KT_TEST(kern_moves_first)
{
	char namebuf[64];
	const char *n = NAME("first");
	struct kit_ctl *c = ctl_open();
	struct kt_reply rep;
	void *h, *ch, *p;
	size_t len;

	ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
	h = kit_open(n);
	ch = kit_attach(h, 0, 1);
	KT_EQ(ctl_waitchan(c, n, KIT_SOON_MS), 0);
	KIT_FAILS_WITH(kernproxy_send(ch, "x", 1, KP_NB) == -1, ch, EKU_NOTREADY);
	KIT_FAILS_WITH(kernproxy_receive(ch, KP_NB) == NULL, ch, EKU_NOTREADY);
	/* The kern side holds the turn: its receive returns at once with an empty turn. */
	KT_EQ(ctl_recv(c, n, 0, 0, KUP_NB, &rep), 0);
	KT_EQ(rep.len, 0);
	KT_EQ(ctl_send(c, n, 0, 10, 0x41, -1, 0), 0);
	p = kit_recv(ch, &len);
	KT_EQ(len, 10);
	KT_EQ(((uint8_t *)p)[0], 0x41);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/* An echo channel's first message is the kern side's hello, naming the channel. */
KT_TEST(kern_hello_names_channel)
{
	char namebuf[64];
	const char *n = NAME("hello");
	struct kit_ctl *c = ctl_open();
	void *h, *ch;

	ctl_mkdev(c, n, 1, 3, KTB_ECHO, 0, 0);
	h = kit_open(n);
	ch = kit_attach(h, 2, 1);
	kit_hello(ch, 2);
	kit_echo(ch, 5, 1);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/* Each side must wait for the other's message: no second send, no second receive. */
KT_TEST(strict_alternation)
{
	char namebuf[64];
	const char *n = NAME("alt");
	struct kit_ctl *c = ctl_open();
	struct kt_reply rep;
	uint8_t msg[3] = {7, 8, 9};
	void *h, *ch, *p;
	size_t len;
	int i;

	ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
	h = kit_open(n);
	ch = kit_attach(h, 0, 1);
	KT_EQ(ctl_waitchan(c, n, KIT_SOON_MS), 0);
	for (i = 0; i < 5; i++) {
		KT_EQ(ctl_send(c, n, 0, 16, (uint32_t)i, -1, 0), 0);
		/* The kern side has sent: it must not send again before the user answers. */
		KT_EQ(ctl_send(c, n, 0, 16, 99, 0, KUP_NB), -EKU_NOTREADY);
		KT_EQ(ctl_send(c, n, 0, 16, 99, 100, 0), -EKU_TIMEDOUT);
		p = kit_recv(ch, &len);
		KT_EQ(len, 16);
		KT_EQ(((uint8_t *)p)[0], (uint8_t)i);
		msg[0] = (uint8_t)i;
		KT_EQ(kernproxy_send(ch, msg, sizeof(msg), 0), 0);
		KIT_FAILS_WITH(kernproxy_send(ch, msg, 1, KP_NB) == -1, ch, EKU_NOTREADY);
		KIT_FAILS_WITH(kernproxy_receive(ch, KP_NB) == NULL, ch, EKU_NOTREADY);
		if (i == 4) { /* the seed's kupdev_receive: the turn is there, it does not block */
			KT_EQ(ctl_recv(c, n, 0, -1, KTF_SEED, &rep), 0);
			KT_EQ(rep.len, KT_LEN_UNKNOWN);
			KT_EQ(rep.byte0, msg[0]);
		}
		KT_EQ(ctl_recv(c, n, 0, -1, 0, &rep), 0);
		KT_EQ(rep.len, 3);
		KT_EQ(rep.sum, kt_sum(msg, 3));
	}
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/* kupdev_pass and kernproxy_pass: an empty message whose first byte reads 0. */
KT_TEST(pass_is_empty_token)
{
	char namebuf[64];
	const char *n = NAME("pass");
	struct kit_ctl *c = ctl_open();
	struct kt_reply rep;
	void *h, *ch, *p;
	size_t len = 99;

	ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
	h = kit_open(n);
	ch = kit_attach(h, 0, 1);
	KT_EQ(ctl_waitchan(c, n, KIT_SOON_MS), 0);
	/* First a real message, so the pages hold non-zero bytes. */
	KT_EQ(ctl_send(c, n, 0, 64, 0x55, -1, 0), 0);
	p = kit_recv(ch, &len);
	KT_EQ(((uint8_t *)p)[0], 0x55);
	KT_EQ(kernproxy_send(ch, "ABC", 3, 0), 0);
	KT_EQ(ctl_recv(c, n, 0, -1, 0, &rep), 0);
	KT_EQ(rep.byte0, 'A');
	/* Kern to user. */
	KT_EQ(ctl_pass(c, n, 0, -1, 0), 0);
	p = kit_recv(ch, &len);
	KT_EQ(len, 0);
	KT_EQ(((uint8_t *)p)[0], 0);
	/* User to kern: the kern side's private copy reads as a zero byte too. */
	KT_EQ(kernproxy_pass(ch, 0), 0);
	KT_EQ(ctl_recv(c, n, 0, -1, 0, &rep), 0);
	KT_EQ(rep.len, 0);
	KT_EQ(rep.byte0, 0);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);

	/* The pass behaviour: the kern side passes first and answers with passes. */
	ctl_mkdev(c, n, 1, 1, KTB_PASS, 0, 0);
	h = kit_open(n);
	ch = kit_attach(h, 0, 1);
	p = kit_recv(ch, &len);
	KT_EQ(len, 0);
	KT_EQ(((uint8_t *)p)[0], 0);
	KT_EQ(kernproxy_send(ch, "hello", 5, 0), 0);
	p = kit_recv(ch, &len);
	KT_EQ(len, 0);
	KT_EQ(((uint8_t *)p)[0], 0);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

static void lengths_on(struct kit_ctl *c, const char *n, uint32_t size, uint32_t flags)
{
	size_t cap = (size_t)size * KUP_PAGE;
	size_t lens[] = {0, 1, 2, 63, 64, 65, KUP_PAGE - 1, KUP_PAGE, KUP_PAGE + 1, cap - 1, cap};
	void *h, *ch;
	size_t i;

	ctl_mkdev(c, n, size, 1, KTB_ECHO, 0, flags);
	h = kit_open(n);
	ch = kit_attach(h, 0, size);
	KT_EQ(kernproxy_capacity(ch), cap);
	kit_hello(ch, 0);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		if (lens[i] <= cap)
			kit_echo(ch, lens[i], (uint32_t)i + 3);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
}

/* Lengths 0..capacity survive the round trip exactly, both directions. */
KT_TEST(lengths_round_trip)
{
	char namebuf[64];
	struct kit_ctl *c = ctl_open();

	lengths_on(c, NAME("len1"), 1, 0);
	lengths_on(c, NAME("len3"), 3, 0);
	lengths_on(c, NAME("len2zc"), 2, KTF_ZC); /* kern side answers by zero-copy send */
	lengths_on(c, NAME("len16"), KT_MAX_DEV_SIZE, 0);
	ctl_close(c);
}

/* capacity + 1 is refused with EKU_TOOBIG: nothing written, the turn stays ours. */
KT_TEST(too_big_refused_turn_kept)
{
	char namebuf[64];
	const char *n = NAME("toobig");
	struct kit_ctl *c = ctl_open();
	size_t cap = KUP_PAGE, bcap = 0, len;
	uint8_t *big = malloc(cap + 1), *buf, *p;
	void *h, *ch;

	KT_ASSERT(big);
	ctl_mkdev(c, n, 1, 1, KTB_ECHO, 0, 0);
	h = kit_open(n);
	ch = kit_attach(h, 0, 1);
	kit_hello(ch, 0);
	kit_echo(ch, 100, 1);
	memset(big, 0xee, cap + 1);
	KIT_FAILS_WITH(kernproxy_send(ch, big, cap + 1, 0) == -1, ch, EKU_TOOBIG);
	KIT_FAILS_WITH(kernproxy_send(ch, big, (size_t)1 << 40, KP_NB) == -1, ch, EKU_TOOBIG);
	/* Still our turn: the outgoing buffer is ours at once and holds the last message. */
	buf = kernproxy_send_buf(ch, &bcap, KP_NB);
	KT_ASSERT(buf);
	KT_EQ(bcap, cap);
	kt_fill(big, 100, 1);
	KT_ASSERT(memcmp(buf, big, 100) == 0);
	KT_EQ(kernproxy_send_commit(ch, 100), 0);
	p = kit_recv(ch, &len);
	KT_EQ(len, 100);
	KT_ASSERT(memcmp(p, big, 100) == 0);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);

	/* The kern side: kupdev_send of capacity + 1 fails and keeps the turn. */
	ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
	h = kit_open(n);
	ch = kit_attach(h, 0, 1);
	KT_EQ(ctl_waitchan(c, n, KIT_SOON_MS), 0);
	KT_EQ(ctl_send(c, n, 0, (uint32_t)cap + 1, 1, -1, 0), -EKU_TOOBIG);
	KIT_FAILS_WITH(kernproxy_receive(ch, KP_NB) == NULL, ch, EKU_NOTREADY);
	KT_EQ(ctl_send(c, n, 0, (uint32_t)cap, 2, 0, KUP_NB), 0);
	p = kit_recv(ch, &len);
	KT_EQ(len, cap);
	kt_fill(big, (uint32_t)cap, 2);
	KT_ASSERT(memcmp(p, big, cap) == 0);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	free(big);
	ctl_close(c);
}

/* KP_NB when it is not our turn: EKU_NOTREADY, and nothing moved. */
KT_TEST(nonblocking_no_side_effect)
{
	char namebuf[64];
	const char *n = NAME("nb");
	struct kit_ctl *c = ctl_open();
	struct kernproxy_stats st;
	struct kt_reply rep;
	size_t len, cap;
	void *h, *ch;
	int i;

	ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
	h = kit_open(n);
	ch = kit_attach(h, 0, 1);
	KT_EQ(ctl_waitchan(c, n, KIT_SOON_MS), 0);
	for (i = 0; i < 100; i++) {
		KIT_FAILS_WITH(kernproxy_receive(ch, KP_NB) == NULL, ch, EKU_NOTREADY);
		KIT_FAILS_WITH(kernproxy_receive_len(ch, &len, KP_NB) == NULL, ch, EKU_NOTREADY);
		KIT_FAILS_WITH(kernproxy_send(ch, "zz", 2, KP_NB) == -1, ch, EKU_NOTREADY);
		KIT_FAILS_WITH(kernproxy_pass(ch, KP_NB) == -1, ch, EKU_NOTREADY);
		KIT_FAILS_WITH(kernproxy_send_buf(ch, &cap, KP_NB) == NULL, ch, EKU_NOTREADY);
	}
	KT_EQ(kernproxy_stats(ch, &st), 0);
	KT_EQ(st.sent, 0);
	KT_EQ(st.received, 0);
	KT_EQ(st.bytes_sent, 0);
	/* The kern side still holds the first turn and has received nothing. */
	KT_EQ(ctl_stats(c, n, 0, &rep), 0);
	KT_EQ(rep.st.received, 0);
	KT_EQ(ctl_send(c, n, 0, 4, 9, -1, 0), 0);
	kit_recv(ch, &len);
	KT_EQ(len, 4);
	KT_EQ(kernproxy_send(ch, "x", 1, 0), 0);
	KIT_FAILS_WITH(kernproxy_send(ch, "yyyy", 4, KP_NB) == -1, ch, EKU_NOTREADY);
	KT_EQ(ctl_recv(c, n, 0, -1, 0, &rep), 0);
	KT_EQ(rep.len, 1);
	KT_EQ(rep.byte0, 'x');
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

static long long thread_cpu_us(void)
{
	struct rusage ru;

	KT_EQ(getrusage(RUSAGE_THREAD, &ru), 0);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec +
	       ru.ru_stime.tv_usec;
}

/* A blocking wait sleeps: about a second of waiting costs little CPU. */
KT_TEST(blocking_wait_sleeps)
{
	char namebuf[64];
	const char *n = NAME("sleep");
	struct kit_ctl *c = ctl_open();
	struct kernproxy_stats st;
	long long t0, cpu0, dt, dcpu;
	void *h, *ch;

	ctl_mkdev(c, n, 1, 1, KTB_HOLD, 0, 0);
	h = kit_open(n);
	ch = kit_attach(h, 0, 1);
	KT_EQ(kernproxy_set_timeout(ch, 1000000000LL), 0);
	t0 = kit_now_ms();
	cpu0 = thread_cpu_us();
	KIT_FAILS_WITH(kernproxy_receive(ch, 0) == NULL, ch, EKU_TIMEDOUT);
	dcpu = thread_cpu_us() - cpu0;
	dt = kit_now_ms() - t0;
	printf("# waited %lld ms, used %lld us of CPU\n", dt, dcpu);
	KT_ASSERT(dt >= 900);
	KT_ASSERT(dcpu < 250000); /* a busy wait would use about dt * 1000 */
	KT_EQ(kernproxy_stats(ch, &st), 0);
	KT_ASSERT(st.sleeps >= 1);
	KT_ASSERT(st.timeouts >= 1);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

struct waker {
	void *ch;
	long long t_back;
	size_t len;
	int ok;
	long tid; /* atomic: 0 until the receiver runs */
};

static void *blocked_receiver(void *arg)
{
	struct waker *w = arg;
	void *p;

	__atomic_store_n(&w->tid, kit_tid(), __ATOMIC_RELEASE);
	p = kernproxy_receive_len(w->ch, &w->len, 0);
	w->t_back = kt_now_us();
	w->ok = p != NULL;
	return NULL;
}

/*
 * One round on a KTB_MANUAL channel whose kern side holds the turn: a thread
 * receives while the kern side sends 8 bytes, either once the thread sleeps
 * (asleep) or 30 ms after it began; the turn goes back with one byte.
 * Returns how long after the send began the receiver was back, in us.
 */
static long long recv_round(struct kit_ctl *c, const char *n, struct waker *w,
                            const struct kup_uctl *u, int asleep)
{
	long long t0, end = kit_now_ms() + KIT_SOON_MS;
	pthread_t t;
	long tid;

	w->ok = 0;
	w->tid = 0;
	KT_EQ(pthread_create(&t, NULL, blocked_receiver, w), 0);
	if (asleep) {
		while ((tid = __atomic_load_n(&w->tid, __ATOMIC_ACQUIRE)) == 0 &&
		       kit_now_ms() < end)
			kit_sleep_ms(1);
		kit_wait_asleep(&u->u.wait, tid);
	} else {
		kit_sleep_ms(30); /* a long wait for a spinner; any length does */
	}
	t0 = kt_now_us();
	KT_EQ(ctl_send(c, n, 0, 8, 1, -1, 0), 0);
	KT_EQ(pthread_join(t, NULL), 0);
	KT_ASSERT(w->ok);
	KT_EQ(w->len, 8);
	KT_EQ(kernproxy_send(w->ch, "k", 1, 0), 0);
	KT_EQ(ctl_recv(c, n, 0, -1, 0, NULL), 0);
	return w->t_back - t0;
}

/* A first exchange on a fresh KTB_MANUAL channel: the user control page. */
static struct kup_uctl *first_round(struct kit_ctl *c, const char *n, void *ch)
{
	size_t len;
	void *p;

	KT_EQ(ctl_waitchan(c, n, KIT_SOON_MS), 0);
	KT_EQ(ctl_send(c, n, 0, 8, 1, -1, 0), 0);
	p = kit_recv(ch, &len);
	KT_EQ(kernproxy_send(ch, "k", 1, 0), 0);
	KT_EQ(ctl_recv(c, n, 0, -1, 0, NULL), 0);
	return kit_uctl(p, 1);
}

/* A sleeping receiver is woken by the kern side's send, not found by some polling. */
KT_TEST(sleeper_wakes_on_turn)
{
	char namebuf[64];
	const char *n = NAME("wake");
	struct kit_ctl *c = ctl_open();
	struct waker w = {0};
	struct kernproxy_stats st;
	struct kt_reply rep;
	struct kup_uctl *u;
	long long dt;
	void *h;
	int i;

	ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
	h = kit_open(n);
	w.ch = kit_attach(h, 0, 1);
	u = first_round(c, n, w.ch);
	for (i = 0; i < 3; i++) {
		dt = recv_round(c, n, &w, u, 1);
		printf("# woke %lld us after the kern side's send began\n", dt);
		KT_ASSERT(dt < KIT_SOON_MS * 1000LL); /* a hang guard, not a latency check */
	}
	KT_EQ(kernproxy_stats(w.ch, &st), 0);
	KT_ASSERT(st.sleeps >= 3);
	/* Each send found the sleeper's announcement and made the wake-up call. */
	KT_EQ(ctl_stats(c, n, 0, &rep), 0);
	KT_ASSERT(rep.st.wakeups >= 3);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/* Timeouts on both sides end with EKU_TIMEDOUT and leave the channel usable. */
KT_TEST(timeouts)
{
	char namebuf[64];
	const char *n = NAME("tmo");
	struct kit_ctl *c = ctl_open();
	struct kernproxy_stats st;
	size_t cap, len;
	long long t0;
	void *h, *ch;

	ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
	h = kit_open(n);
	ch = kit_attach(h, 0, 1);
	KT_EQ(ctl_waitchan(c, n, KIT_SOON_MS), 0);
	KT_EQ(kernproxy_set_timeout(ch, 200000000LL), 0);
	t0 = kit_now_ms();
	KIT_FAILS_WITH(kernproxy_receive(ch, 0) == NULL, ch, EKU_TIMEDOUT);
	KT_ASSERT(kit_now_ms() - t0 >= 150);
	KIT_FAILS_WITH(kernproxy_send(ch, "a", 1, 0) == -1, ch, EKU_TIMEDOUT);
	KIT_FAILS_WITH(kernproxy_send_buf(ch, &cap, 0) == NULL, ch, EKU_TIMEDOUT);
	KIT_FAILS_WITH(kernproxy_receive(ch, KP_POLL) == NULL, ch, EKU_TIMEDOUT);
	KT_EQ(kernproxy_stats(ch, &st), 0);
	KT_ASSERT(st.timeouts >= 4);
	KT_EQ(kernproxy_set_timeout(ch, KP_FOREVER), 0);
	KT_EQ(ctl_send(c, n, 0, 3, 1, -1, 0), 0);
	kit_recv(ch, &len);
	KT_EQ(len, 3);
	/* The kern side's timed receive while the user holds the turn. */
	t0 = kit_now_ms();
	KT_EQ(ctl_recv(c, n, 0, 200, 0, NULL), -EKU_TIMEDOUT);
	KT_ASSERT(kit_now_ms() - t0 >= 150);
	KT_EQ(ctl_pass(c, n, 0, 100, 0), -EKU_TIMEDOUT);
	KT_EQ(kernproxy_send(ch, "b", 1, 0), 0);
	KT_EQ(ctl_recv(c, n, 0, -1, 0, NULL), 0);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/* Zero-copy send: the buffer is the channel's, its length is committed after. */
KT_TEST(zero_copy_send)
{
	char namebuf[64];
	const char *n = NAME("zc");
	struct kit_ctl *c = ctl_open();
	uint8_t ref[2 * KUP_PAGE];
	size_t cap = 0, len;
	void *h, *ch, *p;
	uint8_t *buf;
	int i;

	ctl_mkdev(c, n, 2, 1, KTB_ECHO, 0, KTF_ZC);
	h = kit_open(n);
	ch = kit_attach(h, 0, 2);
	/* Before our turn a commit has nothing to commit. */
	KIT_FAILS_WITH(kernproxy_send_commit(ch, 1) == -1, ch, EKU_NOTURN);
	kit_hello(ch, 0);
	KIT_FAILS_WITH(kernproxy_send_commit(ch, 1) == -1, ch, EKU_NOTURN);
	for (i = 0; i < 50; i++) {
		len = (size_t)(i * 167) % (2 * KUP_PAGE + 1);
		buf = kernproxy_send_buf(ch, &cap, 0);
		KT_ASSERT(buf);
		KT_EQ(cap, 2 * KUP_PAGE);
		kt_fill(buf, (uint32_t)len, (uint32_t)i);
		kt_fill(ref, (uint32_t)len, (uint32_t)i);
		if (i == 3) /* too long: refused, buffer and turn stay ours */
			KIT_FAILS_WITH(kernproxy_send_commit(ch, cap + 1) == -1, ch, EKU_TOOBIG);
		KT_EQ(kernproxy_send_commit(ch, len), 0);
		KIT_FAILS_WITH(kernproxy_send_commit(ch, len) == -1, ch, EKU_NOTURN);
		p = kit_recv(ch, &cap);
		KT_EQ(cap, len);
		KT_ASSERT(memcmp(p, ref, len) == 0);
	}
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/* Counters on both sides add up to what was exchanged. */
KT_TEST(counters)
{
	char namebuf[64];
	const char *n = NAME("cnt");
	struct kit_ctl *c = ctl_open();
	struct kernproxy_stats st;
	struct kt_reply rep;
	long long end;
	void *h, *ch;
	int i;

	ctl_mkdev(c, n, 1, 2, KTB_ECHO, 0, 0);
	h = kit_open(n);
	ch = kit_attach(h, 1, 1);
	kit_hello(ch, 1);
	for (i = 0; i < 10; i++)
		kit_echo(ch, 100, (uint32_t)i);
	KT_EQ(kernproxy_stats(ch, &st), 0);
	KT_EQ(st.sent, 10);
	KT_EQ(st.received, 11);
	KT_EQ(st.bytes_sent, 1000);
	KT_EQ(st.bytes_received, 1000 + sizeof(struct kt_hello));
	KT_EQ(st.errors, 0);
	/* The kern side counts a send as its call returns, maybe after our receive saw it. */
	end = kit_now_ms() + KIT_SOON_MS;
	do
		KT_EQ(ctl_stats(c, n, 1, &rep), 0);
	while (rep.st.sent < 11 && kit_now_ms() < end);
	KT_EQ(rep.attached, 1);
	KT_EQ(rep.st.sent, 11);
	KT_EQ(rep.st.received, 10);
	KT_EQ(rep.st.bytes_received, 1000);
	KT_EQ(rep.st.bytes_sent, 1000 + sizeof(struct kt_hello));
	KT_ASSERT(rep.st.attaches >= 1);
	KT_EQ(rep.st.proto_errors, 0);
	KT_EQ(rep.msgs, 10);
	KT_EQ(rep.last_len, 100);
	KT_EQ(ctl_stats(c, n, 0, &rep), 0);
	KT_EQ(rep.attached, 0);
	KT_EQ(rep.st.sent, 0);
	KT_EQ(rep.cap, KUP_PAGE);
	KT_EQ(rep.chan_cnt, 2);
	KT_EQ(ctl_stats(c, n, 2, &rep), -EKU_RANGE);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/* The spin phase is tunable: spin only (never sleep), or sleep at once. */
KT_TEST(spin_tuning)
{
	char namebuf[64];
	const char *n = NAME("spin");
	struct kit_ctl *c = ctl_open();
	struct kernproxy_stats st0, st1;
	struct waker w = {0};
	struct kup_uctl *u;
	void *h;
	int i;

	ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
	h = kit_open(n);
	w.ch = kit_attach(h, 0, 1);
	u = first_round(c, n, w.ch);
	KT_EQ(kernproxy_set_spin(w.ch, KP_FOREVER), 0);
	KT_EQ(kernproxy_stats(w.ch, &st0), 0);
	for (i = 0; i < 3; i++)
		recv_round(c, n, &w, u, 0);
	KT_EQ(kernproxy_stats(w.ch, &st1), 0);
	KT_EQ(st1.sleeps, st0.sleeps); /* polled through 30 ms waits */
	KT_EQ(kernproxy_set_spin(w.ch, 0), 0);
	for (i = 0; i < 3; i++)
		recv_round(c, n, &w, u, 1);
	KT_EQ(kernproxy_stats(w.ch, &st0), 0);
	KT_ASSERT(st0.sleeps >= st1.sleeps + 3);
	KIT_FAILS_WITH(kernproxy_set_spin(NULL, 0) == -1, NULL, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_set_timeout(NULL, 0) == -1, NULL, EKU_INVAL);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/*
 * kernproxy_send_recv and kupdev_send_recv: a round trip in one call on
 * each side, every length from 0 to the capacity; the kern side's wait
 * timing out means its echo went (the client gets it), and the client's
 * nonblocking call that finds no reply yet has sent its message too.
 */
KT_TEST(send_recv_round_trips)
{
	char namebuf[64];
	const char *n = NAME("sendrecv");
	struct kit_ctl *c = ctl_open();
	size_t cap = 2 * KUP_PAGE, got, i, lens[] = {0, 1, 8, 48, 49, 64, KUP_PAGE, cap - 1, cap};
	uint8_t *buf = malloc(cap);
	struct kt_reply rep;
	void *h, *ch, *p;

	KT_ASSERT(buf);
	ctl_mkdev(c, n, 2, 1, KTB_ECHO, 0, KTF_SENDRECV);
	h = kit_open(n);
	ch = kit_attach(h, 0, 2);
	kit_hello(ch, 0);
	/* The first message goes with kernproxy_send; each send_recv after it holds the turn. */
	kt_fill(buf, 5, 1);
	KT_EQ(kernproxy_send(ch, buf, 5, 0), 0);
	p = kit_recv(ch, &got);
	KT_EQ(got, 5);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		kt_fill(buf, (uint32_t)lens[i], (uint32_t)i + 7);
		got = 12345;
		p = kernproxy_send_recv(ch, buf, lens[i], &got, 0);
		if (!p)
			KT_FAIL("kernproxy_send_recv(%zu): %s", lens[i],
			        kernproxy_strerror(kernproxy_errno));
		KT_EQ(got, lens[i]);
		KT_ASSERT(memcmp(p, buf, lens[i]) == 0);
	}
	/* An echo of the reply itself, in place. */
	p = kernproxy_send_recv(ch, p, got, &got, 0);
	KT_ASSERT(p && got == cap && memcmp(p, buf, cap) == 0);
	/* Longer than the service's wait: its send_recv timed out with the echo sent. */
	kit_sleep_ms(3 * 200);
	kit_echo(ch, 33, 99);
	CTL_WAIT(c, n, 0, msgs, 1 + (uint32_t)(sizeof(lens) / sizeof(lens[0])) + 2, &rep);
	KT_EQ(rep.last_err, 0);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);

	/* Nonblocking: the message goes; no reply yet is EKU_NOTREADY, the reply comes after. */
	ctl_mkdev(c, n, 1, 1, KTB_ECHO, 500, KTF_SENDRECV);
	h = kit_open(n);
	ch = kit_attach(h, 0, 1);
	kit_hello(ch, 0);
	kt_fill(buf, 20, 3);
	KT_EQ(kernproxy_send(ch, buf, 20, 0), 0);
	kit_recv(ch, &got);
	kt_fill(buf, 40, 4);
	KIT_FAILS_WITH(kernproxy_send_recv(ch, buf, 40, &got, KP_NB) == NULL, ch, EKU_NOTREADY);
	p = kit_recv(ch, &got);
	KT_ASSERT(got == 40 && memcmp(p, buf, 40) == 0);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);

	/* Without the turn (the kern side keeps it): EKU_NOTURN, nothing sent. */
	ctl_mkdev(c, n, 1, 1, KTB_HOLD, 0, 0);
	h = kit_open(n);
	ch = kit_attach(h, 0, 1);
	KIT_FAILS_WITH(kernproxy_send_recv(ch, buf, 8, &got, 0) == NULL, ch, EKU_NOTURN);
	KIT_FAILS_WITH(kernproxy_send_recv(ch, buf, 8, &got, KP_NB) == NULL, ch, EKU_NOTURN);
	KIT_FAILS_WITH(kernproxy_send_recv(ch, buf, 8, &got, 0x40) == NULL, ch, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_send_recv(NULL, buf, 8, &got, 0) == NULL, NULL, EKU_INVAL);
	{
		struct kernproxy_stats st;

		KT_EQ(kernproxy_stats(ch, &st), 0);
		KT_EQ(st.sent, 0);
	}
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	free(buf);
	ctl_close(c);
}
