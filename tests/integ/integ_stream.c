/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * integ_stream.c - streaming channels (KP_STREAM) against the kern side:
 * batched echo both ways, large records, nonblocking and timed calls, the
 * readiness fd, mode agreement, ends, and a hostile process that corrupts
 * its positions and records on one channel while the kern side streams on
 * others (white-box: the test reaches its own user block through libkup's
 * channel struct, as a buggy library would).
 */
#include <poll.h>
#include <pthread.h>

#include "kit.h"
#include "kp_backend.h"

#define NAME(base) kit_name(base, namebuf, sizeof(namebuf))

static void *attach_stream(void *dev, size_t chan, size_t size)
{
	long long end = kit_now_ms() + KIT_SOON_MS;
	void *ch;

	for (;;) {
		ch = kernproxy_attach(dev, chan, size, KP_EXACT | KP_STREAM);
		if (ch)
			return ch;
		if (kernproxy_error(dev) != EKU_BUSY || kit_now_ms() > end)
			KT_FAIL("kernproxy_attach(%zu, KP_STREAM): %s", chan,
			        kernproxy_strerror(kernproxy_error(dev)));
		kit_sleep_ms(10);
	}
}

/* Send n records of len bytes, kt_fill(seed + i), in batches; all must go. */
static void send_all(void *ch, uint32_t n, uint32_t len, uint32_t seed)
{
	static __thread uint8_t bufs[16][256];
	struct kup_iovec v[16];
	uint32_t i = 0, k, m;
	int r;

	KT_ASSERT(len <= sizeof(bufs[0]));
	while (i < n) {
		m = n - i < 16 ? n - i : 16;
		for (k = 0; k < m; k++) {
			kt_fill(bufs[k], len, seed + i + k);
			v[k].base = bufs[k];
			v[k].len = len;
		}
		r = kernproxy_stream_send(ch, v, m, 0);
		if (r <= 0)
			KT_FAIL("kernproxy_stream_send: %d %s", r,
			        kernproxy_strerror(kernproxy_errno));
		i += (uint32_t)r;
	}
}

/* Receive n records of len bytes and check them against kt_fill(seed + i), in order. */
static void recv_all(void *ch, uint32_t n, uint32_t len, uint32_t seed)
{
	static __thread uint8_t bufs[16][256];
	struct kup_iovec v[16];
	uint32_t i = 0, k;
	int r;

	while (i < n) {
		for (k = 0; k < 16; k++) {
			v[k].base = bufs[k];
			v[k].len = sizeof(bufs[k]);
		}
		r = kernproxy_stream_recv(ch, v, 16, 0);
		if (r <= 0)
			KT_FAIL("kernproxy_stream_recv: %s", kernproxy_strerror(kernproxy_errno));
		for (k = 0; k < (uint32_t)r; k++, i++) {
			KT_EQ(v[k].len, len);
			KT_EQ(kt_sum(bufs[k], len), kt_fill_sum(len, seed + i));
		}
	}
	KT_EQ(i, n);
}

/*
 * Send n records of len bytes through an echo and check them all back,
 * never more in flight than fits: send what fits (KP_NB), and when nothing
 * does, wait for the echo of what went.  (Blocking sends of more than the
 * rings and the echo's buffers hold would wait on each other.)
 */
static void echo_pump(void *ch, uint32_t n, uint32_t len, uint32_t seed)
{
	static __thread uint8_t out[16][256], in[16][256];
	struct kup_iovec v[16], w[16];
	uint32_t sent = 0, got = 0, k, m;
	int r;

	KT_ASSERT(len <= sizeof(out[0]));
	while (got < n) {
		m = n - sent < 16 ? n - sent : 16;
		for (k = 0; k < m; k++) {
			kt_fill(out[k], len, seed + sent + k);
			v[k].base = out[k];
			v[k].len = len;
		}
		r = m ? kernproxy_stream_send(ch, v, m, KP_NB) : -1;
		if (r > 0) {
			sent += (uint32_t)r;
			continue;
		}
		if (m && kernproxy_errno != EKU_NOTREADY)
			KT_FAIL("kernproxy_stream_send: %s", kernproxy_strerror(kernproxy_errno));
		for (k = 0; k < 16; k++) {
			w[k].base = in[k];
			w[k].len = sizeof(in[k]);
		}
		r = kernproxy_stream_recv(ch, w, sent - got < 16 ? sent - got : 16, 0);
		if (r <= 0)
			KT_FAIL("kernproxy_stream_recv: %s", kernproxy_strerror(kernproxy_errno));
		for (k = 0; k < (uint32_t)r; k++, got++) {
			KT_EQ(w[k].len, len);
			KT_EQ(kt_sum(in[k], len), kt_fill_sum(len, seed + got));
		}
	}
}

KT_TEST(stream_echo_small_batches)
{
	char namebuf[64];
	const char *n = NAME("st_small");
	struct kit_ctl *c = ctl_open();
	struct kernproxy_stats st;
	struct kt_reply rep;
	void *h, *ch;

	ctl_mkdev(c, n, 1, 2, KTB_STREAM, 0, 0);
	h = kit_open(n);
	ch = attach_stream(h, 1, 1);
	kernproxy_set_timeout(ch, (int64_t)KIT_SOON_MS * 1000000);
	KT_EQ(kernproxy_stream_max(ch), 4096 - 8);
	/* 8-byte and 64-byte messages, 200 in flight at once (a 4 KiB ring holds 256 small ones).
	 */
	send_all(ch, 200, 8, 1);
	recv_all(ch, 200, 8, 1);
	send_all(ch, 50, 64, 7);
	recv_all(ch, 50, 64, 7);
	/* Zero-length records are records too. */
	send_all(ch, 3, 0, 0);
	recv_all(ch, 3, 0, 0);
	KT_EQ(kernproxy_stats(ch, &st), 0);
	KT_EQ(st.sent, 253);
	KT_EQ(st.received, 253);
	CTL_WAIT(c, n, 1, msgs, 253, &rep);
	KT_EQ(rep.st.received, 253);
	KT_EQ(rep.st.proto_errors, 0);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/* Many more records than the ring holds, both directions busy: the flow control. */
KT_TEST(stream_echo_flow_control)
{
	char namebuf[64];
	const char *n = NAME("st_flow");
	struct kit_ctl *c = ctl_open();
	uint32_t round;
	void *h, *ch;

	ctl_mkdev(c, n, 1, 1, KTB_STREAM, 0, 0);
	h = kit_open(n);
	ch = attach_stream(h, 0, 1);
	kernproxy_set_timeout(ch, (int64_t)KIT_SOON_MS * 1000000);
	for (round = 0; round < 5; round++) {
		/* 2000 x 72 bytes: dozens of rings' worth, echoed while we still send. */
		echo_pump(ch, 2000, 64, round * 10000);
	}
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

KT_TEST(stream_large_records)
{
	char namebuf[64];
	const char *n = NAME("st_large");
	struct kit_ctl *c = ctl_open();
	static uint8_t out[65536], in[65536];
	struct kup_iovec v;
	uint32_t lens[] = {30000, 65536 - 8, 1, 40000, 12345};
	uint32_t i;
	void *h, *ch;

	ctl_mkdev(c, n, 16, 1, KTB_STREAM, 0, 0);
	h = kit_open(n);
	ch = attach_stream(h, 0, 16);
	kernproxy_set_timeout(ch, (int64_t)KIT_SOON_MS * 1000000);
	KT_EQ(kernproxy_stream_max(ch), 65536 - 8);
	v.base = out;
	v.len = 65536 - 7;
	KIT_FAILS_WITH(kernproxy_stream_send(ch, &v, 1, 0) < 0, ch, EKU_TOOBIG);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		kt_fill(out, lens[i], i);
		v.base = out;
		v.len = lens[i];
		KT_EQ(kernproxy_stream_send(ch, &v, 1, 0), 1);
		/* Too small a buffer: EKU_TOOBIG, and the record waits for a larger one. */
		if (lens[i] > 1) {
			v.base = in;
			v.len = 1;
			while (kernproxy_stream_recv(ch, &v, 1, KP_NB) < 0 &&
			       kernproxy_errno == EKU_NOTREADY) {
				kit_sleep_ms(1);
				v.len = 1;
			}
			KT_EQ(kernproxy_errno, EKU_TOOBIG);
		}
		v.base = in;
		v.len = sizeof(in);
		KT_EQ(kernproxy_stream_recv(ch, &v, 1, 0), 1);
		KT_EQ(v.len, lens[i]);
		KT_EQ(kt_sum(in, lens[i]), kt_fill_sum(lens[i], i));
	}
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/*
 * kernproxy_stream_peek + release against the kern side's echo: records
 * read in place (large ones that wrap the ring's end in the channel's own
 * buffer), the same ones again until released, released in part; the
 * echo service gets room back only as we release.
 */
KT_TEST(stream_peek_zero_copy)
{
	char namebuf[64];
	const char *n = NAME("st_peek");
	struct kit_ctl *c = ctl_open();
	static uint8_t out[30000];
	uint32_t lens[] = {8, 64, 30000, 1, 25000, 0, 20000, 30000, 100};
	struct kup_iovec v, pk[4];
	struct kernproxy_stats st;
	uint32_t i, seen = 0;
	void *h, *ch, *t;
	int got;

	ctl_mkdev(c, n, 16, 2, KTB_STREAM, 0, 0);
	h = kit_open(n);
	ch = attach_stream(h, 0, 16);
	kernproxy_set_timeout(ch, (int64_t)KIT_SOON_MS * 1000000);
	KIT_FAILS_WITH(kernproxy_stream_peek(ch, pk, 1, KP_NB) < 0, ch, EKU_NOTREADY);
	KIT_FAILS_WITH(kernproxy_stream_peek(ch, pk, 1, 0x40) < 0, ch, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_stream_release(ch, 1) < 0, ch, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_stream_peek(NULL, pk, 1, 0) < 0, NULL, EKU_INVAL);
	/* 64 KiB ring: the 30000-byte records come back round its end now and then. */
	for (i = 0; i < 3 * sizeof(lens) / sizeof(lens[0]); i++) {
		uint32_t len = lens[i % (sizeof(lens) / sizeof(lens[0]))];

		kt_fill(out, len, i);
		v.base = out;
		v.len = len;
		KT_EQ(kernproxy_stream_send(ch, &v, 1, 0), 1);
		got = kernproxy_stream_peek(ch, pk, 4, 0);
		KT_EQ(got, 1);
		KT_EQ(pk[0].len, len);
		KT_EQ(kt_sum(pk[0].base, len), kt_fill_sum(len, i));
		/* Peeked, not taken: the same record again. */
		KT_EQ(kernproxy_stream_peek(ch, &v, 1, KP_NB), 1);
		KT_EQ(v.len, len);
		KT_EQ(kernproxy_stream_release(ch, 1), 0);
		seen++;
	}
	/* Several at once, released in two steps. */
	send_all(ch, 4, 100, 50);
	for (got = 0; got < 4;) {
		kit_sleep_ms(got ? 1 : 0);
		got = kernproxy_stream_peek(ch, pk, 4, 0);
		KT_ASSERT(got > 0);
	}
	for (i = 0; i < 4; i++)
		KT_EQ(kt_sum(pk[i].base, 100), kt_fill_sum(100, 50 + i));
	KIT_FAILS_WITH(kernproxy_stream_release(ch, 5) < 0, ch, EKU_INVAL);
	KT_EQ(kernproxy_stream_release(ch, 1), 0);
	KT_EQ(kernproxy_stream_peek(ch, pk, 4, KP_NB), 3);
	KT_EQ(kt_sum(pk[0].base, 100), kt_fill_sum(100, 51));
	KT_EQ(kernproxy_stream_release(ch, 3), 0);
	KT_EQ(kernproxy_stats(ch, &st), 0);
	KT_EQ(st.received, seen + 4);
	/* A turn channel has no ring to peek at. */
	t = kit_attach(h, 1, 16);
	KIT_FAILS_WITH(kernproxy_stream_peek(t, pk, 1, KP_NB) < 0, t, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_stream_release(t, 1) < 0, t, EKU_INVAL);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

struct sloop {
	uint32_t got, bad, calls; /* records taken, wrong ones, callbacks with records */
	int err;                  /* the error the last callback got */
};

/* Take what is queued, a batch at a time (leaving the rest for the next pass). */
static void sloop_cb(void *ch, void *data, size_t len, int err, void *arg)
{
	static uint8_t bufs[4][64];
	struct sloop *s = arg;
	struct kup_iovec v[4];
	int i, r;

	if (err) {
		s->err = err;
		return;
	}
	if (data || len)
		s->bad++;
	s->calls++;
	for (i = 0; i < 4; i++) {
		v[i].base = bufs[i];
		v[i].len = sizeof(bufs[i]);
	}
	r = kernproxy_stream_recv(ch, v, 4, KP_NB);
	for (i = 0; i < r; i++, s->got++)
		if (v[i].len != 16 || kt_sum(bufs[i], 16) != kt_fill_sum(16, s->got))
			s->bad++;
}

/* The asynchronous loop drives a stream channel: a callback per pass with records, then the end. */
KT_TEST(stream_in_the_loop)
{
	char namebuf[64];
	const char *n = NAME("st_loop");
	struct kit_ctl *c = ctl_open();
	struct sloop s = {0, 0, 0, 0};
	long long end;
	void *h, *ch, *loop;

	ctl_mkdev(c, n, 1, 1, KTB_STREAM, 0, 0);
	h = kit_open(n);
	ch = attach_stream(h, 0, 1);
	kernproxy_set_timeout(ch, (int64_t)KIT_SOON_MS * 1000000);
	loop = kernproxy_loop_new();
	KT_ASSERT(loop);
	KT_EQ(kernproxy_loop_add(loop, ch, sloop_cb, &s), 0);
	KT_EQ(kernproxy_loop_run(loop, 0), 0); /* nothing queued: no callback */
	/* 40 records echoed back; the callback takes 4 a pass, so it runs at least 10 times. */
	send_all(ch, 40, 16, 0);
	end = kit_now_ms() + KIT_SOON_MS;
	while (s.got < 40 && kit_now_ms() < end)
		KT_ASSERT(kernproxy_loop_run(loop, 1000) >= 0);
	KT_EQ(s.got, 40);
	KT_EQ(s.bad, 0);
	KT_ASSERT(s.calls >= 10);
	KT_EQ(kernproxy_loop_run(loop, 0), 0);
	/* Unload: the callback runs once with the end, and the channel leaves the loop. */
	KT_EQ(ctl_unload(c, n), 0);
	end = kit_now_ms() + KIT_SOON_MS;
	while (!s.err && kit_now_ms() < end)
		KT_ASSERT(kernproxy_loop_run(loop, 200) >= 0);
	KT_EQ(s.err, EKU_SHUTDOWN);
	KT_EQ(kernproxy_error(ch), EKU_SHUTDOWN);
	KT_ASSERT(kernproxy_loop_remove(loop, ch) == -1); /* gone already */
	kernproxy_loop_free(loop);
	kernproxy_close(h);
	ctl_close(c);
}

/* Both sides refuse to mix turn calls with stream calls; nonblocking and timed calls. */
KT_TEST(stream_mode_and_nonblocking)
{
	char namebuf[64];
	const char *n = NAME("st_mode");
	struct kit_ctl *c = ctl_open();
	struct kt_reply rep;
	struct kup_iovec v = {"12345678", 8};
	size_t len;
	void *h, *ch, *turn;
	int k, r;

	ctl_mkdev(c, n, 1, 2, KTB_MANUAL, 0, 0);
	h = kit_open(n);
	ch = attach_stream(h, 0, 1);
	turn = kit_attach(h, 1, 1);
	/* The process side. */
	KIT_FAILS_WITH(kernproxy_receive_len(ch, &len, KP_NB) == NULL, ch, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_send(ch, "x", 1, KP_NB) < 0, ch, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_pass(ch, KP_NB) < 0, ch, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_stream_send(turn, &v, 1, KP_NB) < 0, turn, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_stream_recv(turn, &v, 1, KP_NB) < 0, turn, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_stream_send(ch, &v, 1, 0x40) < 0, ch, EKU_INVAL);
	/* The kern side. */
	KT_EQ(ctl_send(c, n, 0, 4, 1, 0, KUP_NB), -EKU_INVAL);
	KT_EQ(ctl_pass(c, n, 0, 0, KUP_NB), -EKU_INVAL);
	KT_EQ(ctl_ssend(c, n, 1, 4, 1, 0, KUP_NB), -EKU_INVAL);
	/* Nothing queued: NB says so on both sides, a timed wait times out. */
	KT_EQ(ctl_srecv(c, n, 0, 4, 0, KUP_NB, &rep), -EKU_NOTREADY);
	KT_EQ(ctl_srecv(c, n, 0, 4, 30, 0, &rep), -EKU_TIMEDOUT);
	KIT_FAILS_WITH(kernproxy_stream_recv(ch, &v, 1, KP_NB) < 0, ch, EKU_NOTREADY);
	kernproxy_set_timeout(ch, 20 * 1000000);
	KIT_FAILS_WITH(kernproxy_stream_recv(ch, &v, 1, 0) < 0, ch, EKU_TIMEDOUT);
	/* Fill the 4 KiB ring with 16-byte records: 256 fit, then NOTREADY, then a timeout. */
	for (k = 0; k < 300; k++) {
		r = kernproxy_stream_send(ch, &v, 1, KP_NB);
		if (r < 0)
			break;
	}
	KT_EQ(k, 256);
	KT_EQ(kernproxy_errno, EKU_NOTREADY);
	KIT_FAILS_WITH(kernproxy_stream_send(ch, &v, 1, 0) < 0, ch, EKU_TIMEDOUT);
	/* The kern side takes a batch: room again. */
	KT_EQ(ctl_srecv(c, n, 0, 16, 0, KUP_NB, &rep), 16);
	KT_EQ(rep.len, 8);
	KT_EQ(rep.sum, kt_sum("12345678", 8));
	KT_EQ(kernproxy_stream_send(ch, &v, 1, KP_NB), 1);
	/* Kern to process. */
	KT_EQ(ctl_ssend(c, n, 0, 100, 9, 0, KUP_NB), 1);
	{
		uint8_t buf[128];
		struct kup_iovec w = {buf, sizeof(buf)};

		KT_EQ(kernproxy_stream_recv(ch, &w, 1, KP_NB), 1);
		KT_EQ(w.len, 100);
		KT_EQ(kt_sum(buf, 100), kt_fill_sum(100, 9));
	}
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

KT_TEST(stream_readiness_fd)
{
	char namebuf[64];
	const char *n = NAME("st_fd");
	struct kit_ctl *c = ctl_open();
	struct kt_reply rep;
	struct kup_iovec v = {"abcdefgh", 8};
	uint8_t buf[64];
	struct kup_iovec w = {buf, sizeof(buf)};
	void *h, *ch;
	int fd, k;

	ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
	h = kit_open(n);
	ch = attach_stream(h, 0, 1);
	fd = kernproxy_fd(ch);
	KT_ASSERT(fd >= 0);
	/* Records to read. */
	KT_EQ(kernproxy_arm(ch), 0);
	KT_EQ(kit_revents(fd, 50), 0);
	KT_EQ(ctl_ssend(c, n, 0, 8, 3, 0, KUP_NB), 1);
	KT_ASSERT(kit_revents(fd, KIT_SOON_MS) & POLLIN);
	KT_EQ(kernproxy_arm(ch), 1); /* ready: do not wait */
	KT_EQ(kernproxy_stream_recv(ch, &w, 1, KP_NB), 1);
	/* Room to send: fill the ring, arm for room, the kern side takes a batch. */
	for (k = 0; k < 256; k++)
		KT_EQ(kernproxy_stream_send(ch, &v, 1, KP_NB), 1);
	KT_EQ(kernproxy_stream_arm(ch, KP_STREAM_OUT, 8), 0);
	KT_EQ(kit_revents(fd, 50), 0);
	KT_EQ(ctl_srecv(c, n, 0, 4, 0, KUP_NB, &rep), 4);
	KT_ASSERT(kit_revents(fd, KIT_SOON_MS) & POLLIN);
	KT_EQ(kernproxy_stream_arm(ch, KP_STREAM_OUT, 8), 1);
	KT_EQ(kernproxy_stream_send(ch, &v, 1, KP_NB), 1);
	KIT_FAILS_WITH(kernproxy_stream_arm(ch, 0x10, 0) < 0, ch, EKU_INVAL);
	/* The kern side's end wakes an armed fd. */
	KT_EQ(kernproxy_arm(ch), 0);
	KT_EQ(ctl_unload(c, n), 0);
	KT_ASSERT(kit_revents(fd, KIT_SOON_MS) != 0);
	KT_EQ(kernproxy_arm(ch), 1);
	KIT_FAILS_WITH(kernproxy_stream_recv(ch, &w, 1, 0) < 0, ch, EKU_SHUTDOWN);
	kernproxy_close(h);
	ctl_close(c);
}

/* A process blocked in a stream call hears the unload; the kern side hears a detach. */
struct blocked {
	void *ch;
	int r, err;
};

static void *block_recv(void *arg)
{
	struct blocked *b = arg;
	uint8_t buf[16];
	struct kup_iovec v = {buf, sizeof(buf)};

	b->r = kernproxy_stream_recv(b->ch, &v, 1, 0);
	b->err = kernproxy_errno;
	return NULL;
}

KT_TEST(stream_ends)
{
	char namebuf[64];
	const char *n = NAME("st_end");
	struct kit_ctl *c = ctl_open();
	struct kt_reply rep;
	struct blocked b = {NULL, 0, 0};
	pthread_t t;
	void *h, *ch;

	ctl_mkdev(c, n, 1, 2, KTB_MANUAL, 0, 0);
	h = kit_open(n);
	/* Records queued before a close are still delivered; then the kern side hears the end. */
	ch = attach_stream(h, 0, 1);
	/* The module's calls work on this attach (a host may not look at an attach that
	 * ended before the module's first call on it). */
	KT_EQ(ctl_srecv(c, n, 0, 16, 0, KUP_NB, &rep), -EKU_NOTREADY);
	send_all(ch, 10, 32, 5);
	kernproxy_close(ch);
	KT_EQ(ctl_srecv(c, n, 0, 16, 0, KUP_NB, &rep), 10);
	KT_EQ(rep.len, 32);
	KT_EQ(rep.sum, kt_fill_sum(32, 5 + 9));
	KT_EQ(ctl_srecv(c, n, 0, 16, 0, KUP_NB, &rep), -EKU_CLOSED);
	/* Unload while the process sleeps in a stream receive. */
	b.ch = attach_stream(h, 1, 1);
	KT_EQ(pthread_create(&t, NULL, block_recv, &b), 0);
	kit_wait_asleep(&((struct kp_chan *)b.ch)->e.smine->wait, -1);
	KT_EQ(ctl_unload(c, n), 0);
	KT_EQ(pthread_join(t, NULL), 0);
	KT_EQ(b.r, -1);
	KT_EQ(b.err, EKU_SHUTDOWN);
	kernproxy_close(h);
	ctl_close(c);
}

/* The kern side blocked in a stream receive, from a control channel of its own. */
struct kblocked {
	const char *name;
	int r;
	struct kt_reply rep;
};

static void *kern_block_recv(void *arg)
{
	struct kblocked *b = arg;
	struct kit_ctl *c = ctl_open();

	b->r = ctl_srecv(c, b->name, 0, 4, KIT_SOON_MS, 0, &b->rep);
	ctl_close(c);
	return NULL;
}

KT_TEST(stream_kern_wait_ends_on_close)
{
	char namebuf[64];
	const char *n = NAME("st_kclose");
	struct kit_ctl *c = ctl_open();
	struct kblocked b = {n, 0, {0}};
	struct kt_reply rep;
	const struct kup_kctl *kc;
	pthread_t t;
	long long t0;
	void *h, *ch;

	ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
	h = kit_open(n);
	ch = attach_stream(h, 0, 1);
	KT_EQ(ctl_srecv(c, n, 0, 4, 0, KUP_NB, &rep), -EKU_NOTREADY);
	KT_EQ(pthread_create(&t, NULL, kern_block_recv, &b), 0);
	/* The kern side announces its sleep in its own (read-only to us) stream words. */
	kc = (const struct kup_kctl *)((struct kp_chan *)ch)->map;
	kit_wait_asleep(&kc->s.wait, -1);
	t0 = kit_now_ms();
	kernproxy_close(ch);
	KT_EQ(pthread_join(t, NULL), 0);
	KT_EQ(b.r, -EKU_CLOSED);
	KT_ASSERT(kit_now_ms() - t0 < KIT_SOON_MS / 2); /* woken, not timed out */
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/* --- a hostile process ----------------------------------------------------------- */

enum sgarbage { SG_PROD_FAR, SG_PROD_ODD, SG_REC_LEN, SG_REC_POS, SG_CONS, SG_STATE, SG_WAIT };

/* Our own words and ring, written behind libkup's back. */
static void sscribble(void *ch, enum sgarbage g)
{
	struct kp_chan *kc = ch;
	struct kup_uctl *u =
	    (struct kup_uctl *)(void *)((uint8_t *)kc->map + KUP_BLOCK_LEN(kc->size));
	uint8_t *ring = (uint8_t *)u + KUP_PAGE;
	uint32_t pos = kc->e.s_prod, mask = kc->e.ring - 1;
	struct kup_rec *h = (struct kup_rec *)(void *)(ring + (pos & mask));

	switch (g) {
	case SG_PROD_FAR: /* more than a ring ahead */
		__atomic_store_n(&u->s.prod, pos + 0x100000u, __ATOMIC_RELEASE);
		break;
	case SG_PROD_ODD: /* half a header */
		__atomic_store_n(&u->s.prod, pos + 4, __ATOMIC_RELEASE);
		break;
	case SG_REC_LEN: /* a record longer than the ring */
		h->len = 0xfffff000u;
		h->pos = pos;
		__atomic_store_n(&u->s.prod, pos + 16, __ATOMIC_RELEASE);
		break;
	case SG_REC_POS: /* a record that claims to be elsewhere */
		h->len = 8;
		h->pos = pos + 4096;
		__atomic_store_n(&u->s.prod, pos + 16, __ATOMIC_RELEASE);
		break;
	case SG_CONS: /* consumed far more than the kern side produced */
		__atomic_store_n(&u->s.cons, kc->e.s_cons + 0x80000000u, __ATOMIC_RELEASE);
		break;
	case SG_STATE:
		__atomic_store_n(&u->u.tw, 3u, __ATOMIC_RELEASE);
		break;
	case SG_WAIT: /* nonsense wait bits and need: at worst spurious wake-ups */
		__atomic_store_n(&u->s.need, 0xffffffffu, __ATOMIC_RELAXED);
		__atomic_store_n(&u->s.wait, 0xffffffffu, __ATOMIC_RELEASE);
		break;
	}
}

struct traffic {
	void *ch;
	uint32_t seed;
	int stop;        /* atomic */
	uint32_t rounds; /* atomic */
};

/* Steady echo traffic on a good channel while another one is attacked. */
static void *traffic_main(void *arg)
{
	struct traffic *t = arg;

	uint32_t r = 0;

	while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
		send_all(t->ch, 40, 48, t->seed + r * 40);
		recv_all(t->ch, 40, 48, t->seed + r * 40);
		__atomic_store_n(&t->rounds, ++r, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void hostile_case(enum sgarbage g, const char *base)
{
	char namebuf[64];
	const char *n = NAME(base);
	struct kit_ctl *c = ctl_open();
	struct traffic t0 = {NULL, 1000, 0, 0}, t2 = {NULL, 5000, 0, 0};
	struct kt_reply rep;
	pthread_t p0, p2;
	uint8_t buf[64];
	struct kup_iovec v = {buf, sizeof(buf)};
	void *h, *bad;
	uint32_t r0, r2;
	long long end;
	int k;

	ctl_mkdev(c, n, 1, 3, KTB_STREAM, 0, 0);
	h = kit_open(n);
	t0.ch = attach_stream(h, 0, 1);
	t2.ch = attach_stream(h, 2, 1);
	bad = attach_stream(h, 1, 1);
	kernproxy_set_timeout(t0.ch, (int64_t)KIT_SOON_MS * 1000000);
	kernproxy_set_timeout(t2.ch, (int64_t)KIT_SOON_MS * 1000000);
	kernproxy_set_timeout(bad, (int64_t)KIT_SOON_MS * 1000000);
	KT_EQ(pthread_create(&p0, NULL, traffic_main, &t0), 0);
	KT_EQ(pthread_create(&p2, NULL, traffic_main, &t2), 0);
	/* The bad channel works first. */
	send_all(bad, 5, 16, 77);
	recv_all(bad, 5, 16, 77);
	sscribble(bad, g);
	/*
	 * SG_CONS: the kern side reads our consumer position again when the room
	 * it knew of runs out: make it echo more than a ring's worth (the
	 * others: it finds them when it next looks).
	 */
	if (g == SG_CONS) {
		struct kup_iovec m = {buf, 16};
		int r;

		memset(buf, 0, sizeof(buf));
		for (k = 0; k < 400; k++) {
			r = kernproxy_stream_send(bad, &m, 1, KP_NB);
			if (r < 0 && kernproxy_errno != EKU_NOTREADY)
				break;
			if (r < 0)
				kit_sleep_ms(1);
		}
	}
	if (g == SG_WAIT) {
		/* Not a violation: the channel keeps working. */
		send_all(bad, 5, 16, 55);
		recv_all(bad, 5, 16, 55);
	} else {
		CTL_WAIT(c, n, 1, proto, 1, &rep);
		KT_EQ(rep.st.proto_errors, 1);
		/* The process lost the channel (after what the kern side queued before). */
		for (k = 0; k < 1000; k++) {
			v.len = sizeof(buf);
			if (kernproxy_stream_recv(bad, &v, 1, 0) < 0)
				break;
		}
		KT_ASSERT(k < 1000);
		KT_EQ(kernproxy_errno, EKU_CLOSED);
	}
	/* The good channels kept streaming through it, and still do. */
#define ROUNDS(t) __atomic_load_n(&(t).rounds, __ATOMIC_ACQUIRE)
	r0 = ROUNDS(t0);
	r2 = ROUNDS(t2);
	end = kit_now_ms() + KIT_SOON_MS;
	while ((ROUNDS(t0) < r0 + 3 || ROUNDS(t2) < r2 + 3) && kit_now_ms() < end)
		kit_sleep_ms(1);
	__atomic_store_n(&t0.stop, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&t2.stop, 1, __ATOMIC_RELEASE);
	KT_EQ(pthread_join(p0, NULL), 0);
	KT_EQ(pthread_join(p2, NULL), 0);
	KT_ASSERT(t0.rounds >= r0 + 3);
	KT_ASSERT(t2.rounds >= r2 + 3);
	KT_EQ(ctl_stats(c, n, 0, &rep), 0);
	KT_EQ(rep.st.proto_errors, 0);
	KT_EQ(ctl_stats(c, n, 2, &rep), 0);
	KT_EQ(rep.st.proto_errors, 0);
	/* A new attach of the broken channel starts clean. */
	if (g != SG_WAIT) {
		kernproxy_close(bad);
		bad = attach_stream(h, 1, 1);
		kernproxy_set_timeout(bad, (int64_t)KIT_SOON_MS * 1000000);
		send_all(bad, 5, 16, 99);
		recv_all(bad, 5, 16, 99);
	}
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

KT_TEST(stream_hostile_prod_far)
{
	hostile_case(SG_PROD_FAR, "sh_pfar");
}

KT_TEST(stream_hostile_prod_misaligned)
{
	hostile_case(SG_PROD_ODD, "sh_podd");
}

KT_TEST(stream_hostile_record_length)
{
	hostile_case(SG_REC_LEN, "sh_rlen");
}

KT_TEST(stream_hostile_record_position)
{
	hostile_case(SG_REC_POS, "sh_rpos");
}

KT_TEST(stream_hostile_consumer)
{
	hostile_case(SG_CONS, "sh_cons");
}

KT_TEST(stream_hostile_state)
{
	hostile_case(SG_STATE, "sh_state");
}

KT_TEST(stream_hostile_wait_bits)
{
	hostile_case(SG_WAIT, "sh_wait");
}
