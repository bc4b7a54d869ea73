/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_core.c - the protocol core alone: both ends in one process, the
 * shared blocks in ordinary memory, a futex host for the threaded cases.
 */
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "kt.h"
#include "kup_core.h"
#include "futex_host.h"

#define SIZE 2 /* pages per direction */

struct pair {
	void *mem;
	void *kblock, *ublock;
	struct kup_end k, u;
	uint8_t copy[SIZE * KUP_PAGE];
	int wakes; /* wake callbacks seen */
};

static int fx_sleep(struct kup_end *e, const uint32_t *tw, uint32_t seen, int64_t tmo)
{
	(void)e;
	return futex_host_sleep(tw, seen, tmo);
}

static void fx_wake(struct kup_end *e, uint32_t bits)
{
	struct pair *p = e->host;
	(void)bits;

	__atomic_fetch_add(&p->wakes, 1, __ATOMIC_RELAXED);
	futex_host_wake(e);
}

static const struct kup_host_ops fx_ops = {.sleep = fx_sleep, .wake = fx_wake};

static struct pair *pair_new(void)
{
	struct pair *p = calloc(1, sizeof(*p));

	KT_ASSERT(p);
	KT_ASSERT(posix_memalign(&p->mem, KUP_PAGE, KUP_MAP_LEN(SIZE)) == 0);
	memset(p->mem, 0, KUP_MAP_LEN(SIZE));
	p->kblock = (char *)p->mem + KUP_OFF_KCTL(SIZE);
	p->ublock = (char *)p->mem + KUP_OFF_UCTL(SIZE);
	kup_chan_format(p->kblock, p->ublock, SIZE, 3, 8);
	KT_EQ(kup_chan_check(p->kblock, SIZE, 3), 0);
	p->k.rx_copy = p->copy;
	kup_end_init(&p->k, KUP_SIDE_KERN, p->kblock, p->ublock, SIZE, &fx_ops, p);
	kup_end_init(&p->u, KUP_SIDE_USER, p->kblock, p->ublock, SIZE, &fx_ops, p);
	return p;
}

static struct kup_kctl *kctl(struct pair *p)
{
	return p->kblock;
}

static struct kup_uctl *uctl(struct pair *p)
{
	return p->ublock;
}

KT_TEST(layout_offsets)
{
	KT_EQ(KUP_OFF_K2U(1), 4096);
	KT_EQ(KUP_OFF_UCTL(1), 8192);
	KT_EQ(KUP_OFF_U2K(1), 12288);
	KT_EQ(KUP_MAP_LEN(1), 16384);
	KT_EQ(KUP_MAP_LEN(4), 40960);
}

KT_TEST(check_rejects_bad_geometry)
{
	struct pair *p = pair_new();

	KT_EQ(kup_chan_check(p->kblock, SIZE + 1, 3), -EKU_BADSIZE);
	KT_EQ(kup_chan_check(p->kblock, SIZE, 4), -EKU_PROTO);
	kctl(p)->hdr.abi = 99;
	KT_EQ(kup_chan_check(p->kblock, SIZE, 3), -EKU_ABI);
	kctl(p)->hdr.magic = 0;
	KT_EQ(kup_chan_check(p->kblock, SIZE, 3), -EKU_PROTO);
}

KT_TEST(kernel_moves_first)
{
	struct pair *p = pair_new();
	const void *d;
	uint32_t len = 99;

	KT_EQ(kup_end_poll(&p->k), 0);
	KT_EQ(kup_end_poll(&p->u), -EKU_NOTREADY);
	/* The kern side's initial turn carries an empty start token. */
	KT_EQ(kup_end_recv(&p->k, KUPC_NB, 0, &d, &len, 1), 0);
	KT_EQ(len, 0);
	KT_EQ(p->k.cnt.received, 0);
}

KT_TEST(strict_alternation_and_lengths)
{
	struct pair *p = pair_new();
	uint8_t buf[SIZE * KUP_PAGE];
	const void *d;
	uint32_t len, n;

	for (n = 0; n < 40; n++) {
		uint32_t l = (n * 977) % (SIZE * KUP_PAGE + 1);

		memset(buf, (int)n, sizeof(buf));
		KT_EQ(kup_end_send(&p->k, buf, l, KUPC_NB, 0), 0);
		KT_EQ(kup_end_send(&p->k, buf, 1, KUPC_NB, 0), -EKU_NOTREADY);
		KT_EQ(kup_end_recv(&p->u, KUPC_NB, 0, &d, &len, 0), 0);
		KT_EQ(len, l);
		KT_ASSERT(memcmp(d, buf, l) == 0);
		/* Receiving again returns the same message until we answer. */
		KT_EQ(kup_end_recv(&p->u, KUPC_NB, 0, &d, &len, 0), 0);
		KT_EQ(len, l);
		KT_EQ(kup_end_send(&p->u, buf, l, KUPC_NB, 0), 0);
		KT_EQ(kup_end_recv(&p->u, KUPC_NB, 0, &d, &len, 0), -EKU_NOTREADY);
		KT_EQ(kup_end_recv(&p->k, KUPC_NB, 0, &d, &len, 1), 0);
		KT_EQ(len, l);
		KT_ASSERT(d == p->copy);
		KT_ASSERT(memcmp(d, buf, l) == 0);
	}
	KT_EQ(p->k.cnt.sent, 40);
	KT_EQ(p->u.cnt.received, 40);
	KT_EQ(p->k.cnt.received, 40);
}

KT_TEST(too_big_is_refused_and_writes_nothing)
{
	struct pair *p = pair_new();
	static uint8_t buf[SIZE * KUP_PAGE + 1];
	uint32_t tw = kctl(p)->k.tw;

	memset(buf, 0xaa, sizeof(buf));
	KT_EQ(kup_end_send(&p->k, buf, SIZE * KUP_PAGE + 1, 0, -1), -EKU_TOOBIG);
	/* A length that a 32-bit cast would wrap to 0 is still too big. */
	KT_EQ(kup_end_send(&p->k, buf, (size_t)1 << 32, 0, -1), -EKU_TOOBIG);
	KT_EQ(kctl(p)->k.tw, tw);
	KT_EQ(((uint8_t *)p->kblock)[KUP_PAGE], 0);
	/* The turn is still ours: an exact-capacity message goes through. */
	KT_EQ(kup_end_send(&p->k, buf, SIZE * KUP_PAGE, KUPC_NB, 0), 0);
}

KT_TEST(pass_is_an_empty_token)
{
	struct pair *p = pair_new();
	const void *d;
	uint32_t len = 7;

	memset((char *)p->kblock + KUP_PAGE, 0x55, 16);
	memset(kctl(p)->k.inl, 0x55, KUP_INLINE);
	KT_EQ(kup_end_pass(&p->k, KUPC_NB, 0), 0);
	KT_EQ(kup_end_recv(&p->u, KUPC_NB, 0, &d, &len, 0), 0);
	KT_EQ(len, 0);
	KT_EQ(((const uint8_t *)d)[0], 0);
}

KT_TEST(nonblocking_has_no_side_effect)
{
	struct pair *p = pair_new();
	uint32_t utw = uctl(p)->u.tw, uwait = uctl(p)->u.wait;

	KT_EQ(kup_end_send(&p->u, "x", 1, KUPC_NB, 0), -EKU_NOTREADY);
	KT_EQ(kup_end_pass(&p->u, KUPC_NB, 0), -EKU_NOTREADY);
	KT_EQ(uctl(p)->u.tw, utw);
	KT_EQ(uctl(p)->u.wait, uwait);
	KT_EQ(p->u.cnt.sent, 0);
}

KT_TEST(zero_copy_send_commit)
{
	struct pair *p = pair_new();
	void *buf;
	const void *d;
	uint32_t cap, len;

	KT_EQ(kup_end_commit(&p->k, 1), -EKU_NOTURN);
	KT_EQ(kup_end_txbuf(&p->k, KUPC_NB, 0, &buf, &cap), 0);
	KT_EQ(cap, SIZE * KUP_PAGE);
	memcpy(buf, "hello", 5);
	KT_EQ(kup_end_commit(&p->k, cap + 1), -EKU_TOOBIG);
	KT_EQ(kup_end_commit(&p->k, 5), 0);
	KT_EQ(kup_end_commit(&p->k, 5), -EKU_NOTURN);
	KT_EQ(kup_end_recv(&p->u, KUPC_NB, 0, &d, &len, 0), 0);
	KT_EQ(len, 5);
	KT_ASSERT(memcmp(d, "hello", 5) == 0);
}

/* ABI 2: up to KUP_INLINE bytes travel in the turn's own line, more in the data pages. */
KT_TEST(small_messages_travel_inline)
{
	struct pair *p = pair_new();
	uint8_t big[KUP_INLINE + 1];
	const void *d;
	uint32_t len;

	KT_EQ(sizeof(struct kup_side), 64);
	KT_EQ(offsetof(struct kup_kctl, k.inl) / 64, offsetof(struct kup_kctl, k.tw) / 64);
	memset(big, 'b', sizeof(big));
	KT_EQ(kup_end_send(&p->k, big, KUP_INLINE, KUPC_NB, 0), 0);
	KT_EQ(kctl(p)->k.len, KUP_LEN_INLINE | KUP_INLINE);
	KT_EQ(((const uint8_t *)p->kblock)[KUP_PAGE], 0); /* the data page is untouched */
	KT_EQ(kup_end_recv(&p->u, KUPC_NB, 0, &d, &len, 0), 0);
	KT_EQ(len, KUP_INLINE);
	KT_ASSERT(d == kctl(p)->k.inl); /* zero-copy: the turn's own line */
	KT_ASSERT(memcmp(d, big, KUP_INLINE) == 0);
	/* One byte more goes to the data pages. */
	KT_EQ(kup_end_send(&p->u, big, sizeof(big), KUPC_NB, 0), 0);
	KT_EQ(uctl(p)->u.len, sizeof(big));
	KT_EQ(kup_end_recv(&p->k, KUPC_NB, 0, &d, &len, 0), 0);
	KT_ASSERT(d == (const uint8_t *)p->ublock + KUP_PAGE);
	KT_EQ(len, sizeof(big));
	/* The kern side's copy receive copies from wherever the message is. */
	KT_EQ(kup_end_send(&p->k, "ping", 4, KUPC_NB, 0), 0);
	KT_EQ(kup_end_send(&p->u, "pong", 4, KUPC_NB, 0), 0);
	KT_EQ(kup_end_recv(&p->k, KUPC_NB, 0, &d, &len, 1), 0);
	KT_ASSERT(d == p->copy);
	KT_EQ(len, 4);
	KT_ASSERT(memcmp(d, "pong", 4) == 0);
	/* A small commit stays where send_buf handed the buffer: the data pages. */
	void *buf;
	uint32_t cap;
	KT_EQ(kup_end_txbuf(&p->k, KUPC_NB, 0, &buf, &cap), 0);
	memcpy(buf, "zc", 2);
	KT_EQ(kup_end_commit(&p->k, 2), 0);
	KT_EQ(kctl(p)->k.len, 2);
	KT_EQ(kup_end_recv(&p->u, KUPC_NB, 0, &d, &len, 0), 0);
	KT_ASSERT(d == (const uint8_t *)p->kblock + KUP_PAGE);
	KT_ASSERT(memcmp(d, "zc", 2) == 0);
}

/* Every inline length, both ways, through the call-free small copy: exact bytes, nothing beyond. */
KT_TEST(every_inline_length_copies_exactly)
{
	struct pair *p = pair_new();
	uint8_t msg[KUP_INLINE + 8];
	const void *d;
	uint32_t n, len, i;

	for (n = 0; n <= KUP_INLINE; n++) {
		for (i = 0; i < sizeof(msg); i++)
			msg[i] = (uint8_t)(n * 7 + i * 13 + 1);
		KT_EQ(kup_end_send(&p->k, msg, n, KUPC_NB, 0), 0);
		KT_EQ(kup_end_recv(&p->u, KUPC_NB, 0, &d, &len, 0), 0);
		KT_EQ(len, n);
		KT_ASSERT(memcmp(d, msg, n) == 0);
		memset(p->copy, 0xee, sizeof(p->copy));
		KT_EQ(kup_end_send(&p->u, msg, n, KUPC_NB, 0), 0);
		KT_EQ(kup_end_recv(&p->k, KUPC_NB, 0, &d, &len, 1), 0);
		KT_ASSERT(d == p->copy);
		KT_EQ(len, n);
		KT_ASSERT(memcmp(d, msg, n) == 0);
		KT_EQ(p->copy[n + (n == 0)], 0xee); /* nothing written past the message */
	}
}

/* kup_copy_small at every length up to KUP_COPY_SMALL and every misalignment: exact, nothing outside. */
KT_TEST(small_copy_every_length_and_alignment)
{
	uint8_t src[KUP_COPY_SMALL + 16], dst[KUP_COPY_SMALL + 32];
	uint32_t n, so, doff, i;

	for (i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + 1);
	for (n = 0; n <= KUP_COPY_SMALL; n++)
		for (so = 0; so < 8; so++)
			for (doff = 1; doff < 9; doff++) {
				memset(dst, 0xee, sizeof(dst));
				kup_copy_small(dst + doff, src + so, n);
				KT_ASSERT(memcmp(dst + doff, src + so, n) == 0);
				for (i = 0; i < sizeof(dst); i++)
					if (i < doff || i >= doff + n)
						KT_EQ(dst[i], 0xee);
			}
}

KT_TEST(kern_rejects_inline_length_beyond_the_line)
{
	struct pair *p = pair_new();
	const void *d;
	uint32_t len;

	KT_EQ(kup_end_pass(&p->k, KUPC_NB, 0), 0);
	uctl(p)->u.len = KUP_LEN_INLINE | (KUP_INLINE + 1);
	uctl(p)->u.tw = KUP_TW(1, KUP_ST_OPEN);
	KT_EQ(kup_end_recv(&p->k, KUPC_NB, 0, &d, &len, 1), -EKU_PROTO);
	KT_EQ(p->k.cnt.proto_errors, 1);
	/* Exactly a line is fine. */
	p = pair_new();
	KT_EQ(kup_end_pass(&p->k, KUPC_NB, 0), 0);
	memset(uctl(p)->u.inl, 'i', KUP_INLINE);
	uctl(p)->u.len = KUP_LEN_INLINE | KUP_INLINE;
	uctl(p)->u.tw = KUP_TW(1, KUP_ST_OPEN);
	KT_EQ(kup_end_recv(&p->k, KUPC_NB, 0, &d, &len, 1), 0);
	KT_EQ(len, KUP_INLINE);
	KT_EQ(((const uint8_t *)d)[KUP_INLINE - 1], 'i');
}

KT_TEST(kern_rejects_length_beyond_capacity)
{
	struct pair *p = pair_new();
	const void *d;
	uint32_t len;

	KT_EQ(kup_end_pass(&p->k, KUPC_NB, 0), 0);
	/* A hostile user publishes a huge length. */
	uctl(p)->u.len = 0xffffffffu;
	uctl(p)->u.tw = KUP_TW(1, KUP_ST_OPEN);
	KT_EQ(kup_end_recv(&p->k, KUPC_NB, 0, &d, &len, 1), -EKU_PROTO);
	KT_EQ(p->k.cnt.proto_errors, 1);
	/* Sticky, and the user is told the channel is closed. */
	KT_EQ(kup_end_send(&p->k, "x", 1, KUPC_NB, 0), -EKU_PROTO);
	/* The pass it published before closing still reaches the user, then the close. */
	KT_EQ(kup_end_recv(&p->u, KUPC_NB, 0, &d, &len, 0), 0);
	KT_EQ(kup_end_poll(&p->u), -EKU_CLOSED);
}

KT_TEST(kern_rejects_unknown_state_and_bad_sequence)
{
	struct pair *p = pair_new();

	uctl(p)->u.tw = KUP_TW(0, 3);
	KT_EQ(kup_end_poll(&p->k), -EKU_PROTO);

	p = pair_new();
	uctl(p)->u.tw = KUP_TW(0, KUP_ST_SHUTDOWN); /* only the kern side may say that */
	KT_EQ(kup_end_poll(&p->k), -EKU_PROTO);

	p = pair_new();
	uctl(p)->u.tw = KUP_TW(5, KUP_ST_OPEN); /* flipped turn word */
	KT_EQ(kup_end_poll(&p->k), -EKU_PROTO);

	p = pair_new();
	KT_EQ(kup_end_pass(&p->k, KUPC_NB, 0), 0);
	uctl(p)->u.tw = KUP_TW(0x12345, KUP_ST_OPEN);
	KT_EQ(kup_end_wait(&p->k, 0, -1), -EKU_PROTO); /* no wait on garbage */
}

KT_TEST(length_read_once)
{
	struct pair *p = pair_new();
	const void *d;
	uint32_t len;

	KT_EQ(kup_end_pass(&p->k, KUPC_NB, 0), 0);
	memset((char *)p->ublock + KUP_PAGE, 'a', 100);
	uctl(p)->u.len = 10;
	uctl(p)->u.tw = KUP_TW(1, KUP_ST_OPEN);
	KT_EQ(kup_end_recv(&p->k, KUPC_NB, 0, &d, &len, 1), 0);
	KT_EQ(len, 10);
	/* The user changes len afterwards: the kern side keeps what it validated. */
	uctl(p)->u.len = 0x7fffffff;
	KT_EQ(kup_end_recv(&p->k, KUPC_NB, 0, &d, &len, 1), 0);
	KT_EQ(len, 10);
}

KT_TEST(closing_and_shutdown_states)
{
	struct pair *p = pair_new();
	const void *d;
	uint32_t len;

	kup_end_close(&p->u, KUP_ST_CLOSING);
	KT_EQ(kup_end_poll(&p->k), -EKU_CLOSED);
	KT_EQ(kup_end_send(&p->k, "x", 1, 0, -1), -EKU_CLOSED);

	p = pair_new();
	KT_EQ(kup_end_pass(&p->k, KUPC_NB, 0), 0);
	kup_end_close(&p->k, KUP_ST_SHUTDOWN);
	/*
	 * Orderly: the pass sent before the shutdown first, the shutdown on the
	 * call after the receive.  A look at the turn hands nothing out.
	 */
	KT_EQ(kup_end_poll(&p->u), 0);
	KT_EQ(kup_end_poll(&p->u), 0);
	KT_EQ(kup_end_recv(&p->u, KUPC_NB, 0, &d, &len, 0), 0);
	KT_EQ(kup_end_poll(&p->u), -EKU_SHUTDOWN);
	KT_EQ(kup_end_pass(&p->u, KUPC_NB, 0), -EKU_SHUTDOWN);

	p = pair_new();
	KT_EQ(kup_end_pass(&p->k, KUPC_NB, 0), 0);
	KT_EQ(kup_end_recv(&p->u, KUPC_NB, 0, &d, &len, 0), 0);
	kup_end_close(&p->k, KUP_ST_SHUTDOWN); /* nothing new: the shutdown at once */
	KT_EQ(kup_end_poll(&p->u), -EKU_SHUTDOWN);

	p = pair_new();
	kup_end_set_local(&p->k, EKU_SHUTDOWN);
	KT_EQ(kup_end_poll(&p->k), -EKU_SHUTDOWN);
}

/* A message sent before a close or a detach is delivered; the end comes after it. */
KT_TEST(orderly_close_delivers_last_message)
{
	struct pair *p = pair_new();
	const void *d;
	uint32_t len;

	/* The user answers, then closes: the kern side reads the answer, then EKU_CLOSED. */
	KT_EQ(kup_end_send(&p->k, "q", 1, KUPC_NB, 0), 0);
	KT_EQ(kup_end_send(&p->u, "answer", 6, KUPC_NB, 0), 0);
	kup_end_close(&p->u, KUP_ST_CLOSING);
	KT_EQ(kup_end_recv(&p->k, 0, -1, &d, &len, 1), 0);
	KT_EQ(len, 6);
	KT_ASSERT(memcmp(d, "answer", 6) == 0);
	KT_EQ(kup_end_recv(&p->k, KUPC_NB, 0, &d, &len, 1), -EKU_CLOSED);
	KT_EQ(kup_end_send(&p->k, "x", 1, 0, -1), -EKU_CLOSED);

	/* The process exits or dies after publishing: the host's detach event does not hide it. */
	p = pair_new();
	KT_EQ(kup_end_send(&p->k, "q", 1, KUPC_NB, 0), 0);
	KT_EQ(kup_end_send(&p->u, "last", 4, KUPC_NB, 0), 0);
	kup_end_set_local(&p->k, EKU_CLOSED);
	KT_EQ(kup_end_recv(&p->k, KUPC_NB, 0, &d, &len, 1), 0);
	KT_EQ(len, 4);
	KT_ASSERT(memcmp(d, "last", 4) == 0);
	KT_EQ(kup_end_poll(&p->k), -EKU_CLOSED);

	/* Nothing published before the detach: nothing to deliver (what kill -9 may lose). */
	p = pair_new();
	KT_EQ(kup_end_send(&p->k, "q", 1, KUPC_NB, 0), 0);
	kup_end_set_local(&p->k, EKU_CLOSED);
	KT_EQ(kup_end_poll(&p->k), -EKU_CLOSED);

	/* The kern side's first turn is no message: a user that attached and left is just gone. */
	p = pair_new();
	kup_end_close(&p->u, KUP_ST_CLOSING);
	KT_EQ(kup_end_send(&p->k, "x", 1, 0, -1), -EKU_CLOSED);
}

KT_TEST(sequence_wraps)
{
	struct pair *p = pair_new();
	const void *d;
	uint32_t len, i;

	/* Both sides agree on a sequence just below the wrap. */
	p->k.tx_seq = KUP_SEQ_MASK - 2;
	p->u.tx_seq = KUP_SEQ_MASK - 2;
	uctl(p)->u.tw = KUP_TW(KUP_SEQ_MASK - 2, KUP_ST_OPEN);
	kctl(p)->k.tw = KUP_TW(KUP_SEQ_MASK - 2, KUP_ST_OPEN);
	for (i = 0; i < 6; i++) {
		KT_EQ(kup_end_send(&p->k, &i, 4, KUPC_NB, 0), 0);
		KT_EQ(kup_end_recv(&p->u, KUPC_NB, 0, &d, &len, 0), 0);
		KT_EQ(*(const uint32_t *)d, i);
		KT_EQ(kup_end_pass(&p->u, KUPC_NB, 0), 0);
	}
	KT_EQ(p->k.tx_seq, 3);
}

KT_TEST(timeout_expires)
{
	struct pair *p = pair_new();
	long long t0 = kt_now_us();

	p->u.spin_ns = 1000;
	KT_EQ(kup_end_wait(&p->u, 0, 20 * 1000 * 1000), -EKU_TIMEDOUT);
	KT_ASSERT(kt_now_us() - t0 >= 19000);
	KT_EQ(p->u.cnt.timeouts, 1);
	KT_EQ(uctl(p)->u.wait, 0); /* the sleep announcement is withdrawn */
	KT_EQ(kup_end_wait(&p->u, KUPC_POLL, 1000 * 1000), -EKU_TIMEDOUT);
	/* Huge values mean "never", without overflowing: the turn still ends the wait. */
	p->u.spin_ns = INT64_MAX;
	KT_EQ(kup_end_pass(&p->k, KUPC_NB, 0), 0);
	KT_EQ(kup_end_wait(&p->u, 0, INT64_MAX), 0);
}

KT_TEST(no_wake_call_without_a_sleeper)
{
	struct pair *p = pair_new();
	int i;

	for (i = 0; i < 100; i++) {
		KT_EQ(kup_end_pass(&p->k, KUPC_NB, 0), 0);
		KT_EQ(kup_end_pass(&p->u, KUPC_NB, 0), 0);
	}
	KT_EQ(p->wakes, 0);
	KT_EQ(kup_end_arm(&p->k, 0), 1); /* ready: our turn */
	KT_EQ(kup_end_pass(&p->k, KUPC_NB, 0), 0);
	KT_EQ(kup_end_arm(&p->k, KUP_WAIT_SLEEP), 0);
	KT_EQ(kup_end_pass(&p->u, KUPC_NB, 0), 0);
	KT_EQ(p->wakes, 1);
}

struct pingarg {
	struct pair *p;
	int rounds;
	int64_t spin;
};

static void *user_echo(void *a)
{
	struct pingarg *pa = a;
	const void *d;
	uint32_t len;
	int i;

	pa->p->u.spin_ns = pa->spin;
	for (i = 0; i < pa->rounds; i++) {
		if (kup_end_recv(&pa->p->u, 0, -1, &d, &len, 0))
			return (void *)1;
		if (kup_end_send(&pa->p->u, d, len, 0, -1))
			return (void *)1;
	}
	return NULL;
}

static void threaded_pingpong(int64_t spin, int rounds)
{
	struct pair *p = pair_new();
	struct pingarg pa = {p, rounds, spin};
	pthread_t t;
	void *ret;
	const void *d;
	uint32_t len;
	int i;

	p->k.spin_ns = spin;
	KT_EQ(pthread_create(&t, NULL, user_echo, &pa), 0);
	for (i = 0; i < rounds; i++) {
		KT_EQ(kup_end_send(&p->k, &i, sizeof(i), 0, -1), 0);
		/* Timed, so a lost wake-up fails here rather than at the test's timeout. */
		KT_EQ(kup_end_recv(&p->k, 0, 20000000000LL, &d, &len, 1), 0);
		KT_EQ(len, sizeof(i));
		KT_EQ(*(const int *)d, i);
	}
	KT_EQ(pthread_join(t, &ret), 0);
	KT_ASSERT(ret == NULL);
}

KT_TEST(threads_sleeping_pingpong)
{
	threaded_pingpong(0, 2000);
}

KT_TEST(threads_adaptive_pingpong)
{
	threaded_pingpong(KUP_DEFAULT_SPIN_NS, 20000);
}

struct late {
	struct pair *p;
	pid_t tid; /* the waiter's thread */
};

/* 1 once thread tid sleeps in the kernel (state S in /proc), or without /proc. */
static int thread_sleeps(pid_t tid)
{
	char path[64], buf[512], *s;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return 1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	s = strrchr(buf, ')');
	return !s || s[1] != ' ' || s[2] == 'S';
}

/* Pass the turn once the waiter sleeps (announced and in the kernel), 0.3 s later. */
static void *late_sender(void *a)
{
	struct late *l = a;
	long long end = kt_now_us() + 10000000;

	while (!((__atomic_load_n(&uctl(l->p)->u.wait, __ATOMIC_ACQUIRE) & KUP_WAIT_SLEEP) &&
	         thread_sleeps(l->tid)) &&
	       kt_now_us() < end)
		usleep(1000);
	usleep(300000);
	kup_end_pass(&l->p->k, 0, -1);
	return NULL;
}

KT_TEST(blocked_wait_sleeps_without_cpu)
{
	struct pair *p = pair_new();
	struct late l = {p, (pid_t)syscall(SYS_gettid)};
	struct rusage r0, r1;
	pthread_t t;
	long long us;

	p->u.spin_ns = 10000;
	/* This thread's time only: the sender's polling is not the waiter's. */
	getrusage(RUSAGE_THREAD, &r0);
	KT_EQ(pthread_create(&t, NULL, late_sender, &l), 0);
	KT_EQ(kup_end_wait(&p->u, 0, -1), 0);
	getrusage(RUSAGE_THREAD, &r1);
	pthread_join(t, NULL);
	us = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1000000LL +
	     (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) +
	     (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1000000LL +
	     (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec);
	KT_ASSERT(us < 30000); /* over 0.3 s of waiting burnt under 10% of a core */
	KT_EQ(p->u.cnt.sleeps >= 1, 1);
}

KT_TEST(create_arguments_checked_alike_everywhere)
{
	char longname[KUP_NAME_MAX + 1];

	memset(longname, 'a', sizeof(longname));
	longname[KUP_NAME_MAX - 1] = 0; /* 63 characters: the longest allowed */
	KT_EQ(kup_name_ok(longname), 1);
	longname[KUP_NAME_MAX - 1] = 'a';
	longname[KUP_NAME_MAX] = 0;
	KT_EQ(kup_name_ok(longname), 0);
	KT_EQ(kup_name_ok("mydev"), 1);
	KT_EQ(kup_name_ok("my-dev_1.x"), 1);
	KT_EQ(kup_name_ok(NULL), 0);
	KT_EQ(kup_name_ok(""), 0);
	KT_EQ(kup_name_ok(".hidden"), 0);
	KT_EQ(kup_name_ok("a/b"), 0);
	KT_EQ(kup_name_ok("a b"), 0);
	KT_EQ(kup_create_check("mydev", 1, 1), 0);
	KT_EQ(kup_create_check("a/b", 1, 1), -EKU_INVAL);
	KT_EQ(kup_create_check("mydev", 0, 1), -EKU_BADSIZE);
	KT_EQ(kup_create_check("mydev", KUP_MAX_SIZE + 1, 1), -EKU_BADSIZE);
	KT_EQ(kup_create_check("mydev", 1, 0), -EKU_RANGE);
	KT_EQ(kup_create_check("mydev", 1, KUP_MAX_CHANNELS + 1), -EKU_RANGE);
}

/* A host condition that turns true at the ready-th check; the sleeps it was asked for. */
struct cond {
	int checks, ready, sleeps, sleep_ret;
};

static int cond_check(void *arg)
{
	struct cond *c = arg;

	return ++c->checks >= c->ready ? 7 : -EKU_NOTREADY;
}

static int cond_sleep(void *arg, int64_t tmo)
{
	struct cond *c = arg;
	(void)tmo;

	c->sleeps++;
	return c->sleep_ret;
}

static const struct kup_cond_ops cond_ops = {.check = cond_check, .sleep = cond_sleep};

KT_TEST(cond_wait_honours_flags)
{
	struct cond c = {.ready = 1000};

	/* KUPC_POLL spins on the condition and never sleeps, with or without a timeout. */
	KT_EQ(kup_cond_wait(&cond_ops, &c, KUPC_POLL, -1), 7);
	KT_EQ(c.checks, 1000);
	KT_EQ(c.sleeps, 0);
	c = (struct cond){.ready = 1000};
	KT_EQ(kup_cond_wait(&cond_ops, &c, KUPC_POLL, 60000000000LL), 7);
	KT_EQ(c.sleeps, 0);
	/* No flag: sleep between checks. */
	c = (struct cond){.ready = 3};
	KT_EQ(kup_cond_wait(&cond_ops, &c, 0, -1), 7);
	KT_EQ(c.sleeps, 2);
	/* KUPC_NB: one look, even with KUPC_POLL. */
	c = (struct cond){.ready = 2};
	KT_EQ(kup_cond_wait(&cond_ops, &c, KUPC_NB | KUPC_POLL, -1), -EKU_NOTREADY);
	KT_EQ(c.checks, 1);
	KT_EQ(c.sleeps, 0);
	/* Unknown flags are refused before anything is looked at. */
	c = (struct cond){.ready = 1};
	KT_EQ(kup_cond_wait(&cond_ops, &c, 0x4, -1), -EKU_INVAL);
	KT_EQ(c.checks, 0);
	/* A zero timeout: look, then time out, spinning or not. */
	c = (struct cond){.ready = 1000};
	KT_EQ(kup_cond_wait(&cond_ops, &c, KUPC_POLL, 0), -EKU_TIMEDOUT);
	KT_EQ(c.sleeps, 0);
	c = (struct cond){.ready = 1000};
	KT_EQ(kup_cond_wait(&cond_ops, &c, 0, 0), -EKU_TIMEDOUT);
	KT_EQ(c.sleeps, 0);
	/* A sleep that gives up ends the wait, unless the condition came with it. */
	c = (struct cond){.ready = 1000, .sleep_ret = -EKU_INTR};
	KT_EQ(kup_cond_wait(&cond_ops, &c, 0, -1), -EKU_INTR);
	KT_EQ(c.sleeps, 1);
	c = (struct cond){.ready = 2, .sleep_ret = -EKU_INTR};
	KT_EQ(kup_cond_wait(&cond_ops, &c, 0, -1), 7);
}

KT_TEST(session_rule)
{
	static const char self;
	const void *T = &self; /* one thread makes every call here */
	struct kup_session s = {0};

	/* The first attach: nothing to report, whoever calls. */
	KT_EQ(kup_session_next(&s, 1, 0, 0, T), KUP_SESS_MOVE);
	KT_EQ(kup_session_next(&s, 1, 0, 0, T), KUP_SESS_STAY);
	/* Attach 1 ended unreported, 2 came, not handed out: the end once, then 2. */
	KT_EQ(kup_session_next(&s, 2, 1, 1, T), -EKU_CLOSED);
	KT_EQ(kup_session_next(&s, 2, 1, 1, T), KUP_SESS_MOVE);
	KT_EQ(s.egen, 2);
	/* 3 came; the thread kupdev_wait_channel returned it to goes straight on. */
	KT_EQ(kup_session_next(&s, 3, 3, 1, T), KUP_SESS_MOVE);
	/* 4 came and was handed out, but not to this thread: 3's end first. */
	KT_EQ(kup_session_next(&s, 4, 4, 0, T), -EKU_CLOSED);
	KT_EQ(kup_session_next(&s, 4, 4, 0, T), KUP_SESS_MOVE);
	/* The module was told 4 ended (a call, kupdev_attached): any thread moves to 5. */
	KT_EQ(kup_session_ending(-EKU_CLOSED), 1);
	KT_EQ(kup_session_ending(-EKU_PROTO), 1);
	KT_EQ(kup_session_ending(-EKU_TIMEDOUT), 0);
	KT_EQ(kup_session_ending(0), 0);
	kup_session_told(&s, T);
	KT_EQ(kup_session_next(&s, 5, 4, 0, T), KUP_SESS_MOVE);
	KT_EQ(s.told, 0);
	/* 6 was handed to us but ended, and 7 came: 6's end is news to the module. */
	KT_EQ(kup_session_next(&s, 7, 6, 1, T), -EKU_CLOSED);
	KT_EQ(kup_session_next(&s, 7, 6, 1, T), KUP_SESS_MOVE);
	/* Generations wrap; 0 is an ordinary one. */
	s = (struct kup_session){.egen = 0xffffffffu, .on = 1};
	KT_EQ(kup_session_next(&s, 0, 0, 1, T), KUP_SESS_MOVE);
	KT_EQ(kup_session_next(&s, 0, 0, 0, T), KUP_SESS_STAY);
	/* Told before anything was attached means nothing. */
	s = (struct kup_session){0};
	kup_session_told(&s, T);
	KT_EQ(s.told, 0);
}

/*
 * The rule per thread: a pool thread busy with the old process's request
 * while the holder of the new attach moved the channel on hears the old end
 * (its reply would reach the new process), once; then it works on the new
 * attach.  A thread new to the channel was in no conversation.
 */
KT_TEST(session_rule_per_thread)
{
	static const char a, b, c, x[KUP_SESS_THREADS + 2];
	const void *A = &a, *B = &b, *C = &c;
	struct kup_session s = {0};
	int i;

	KT_EQ(kup_session_next(&s, 1, 1, 1, A), KUP_SESS_MOVE); /* A holds attach 1 */
	KT_ASSERT(kup_session_mine(&s, 1, A));
	KT_ASSERT(!kup_session_mine(&s, 1, B));
	/* Attach 2 is handed to B, which moves the channel on. */
	KT_EQ(kup_session_next(&s, 2, 2, 1, B), KUP_SESS_MOVE);
	KT_ASSERT(kup_session_mine(&s, 2, B));
	/* A answers its request of attach 1: the end of 1, not a word to 2's process. */
	KT_EQ(kup_session_next(&s, 2, 2, 0, A), -EKU_CLOSED);
	KT_EQ(kup_session_next(&s, 2, 2, 0, A), KUP_SESS_STAY); /* told: on 2 now */
	KT_ASSERT(kup_session_mine(&s, 2, A));
	/* C never called on the channel: nothing to hear. */
	KT_EQ(kup_session_next(&s, 2, 2, 0, C), KUP_SESS_STAY);
	/* A thread that learnt the end itself (a call, kupdev_attached) is not told again. */
	kup_session_told(&s, C);
	KT_EQ(kup_session_next(&s, 3, 3, 1, B), KUP_SESS_MOVE);
	KT_EQ(kup_session_next(&s, 3, 3, 0, C), KUP_SESS_STAY);
	KT_EQ(kup_session_next(&s, 3, 3, 0, A), -EKU_CLOSED); /* A was in 2's conversation */
	/* The holder is never held up, whatever its record says. */
	KT_EQ(kup_session_next(&s, 4, 4, 1, A), KUP_SESS_MOVE);
	KT_EQ(kup_session_next(&s, 5, 5, 1, B), KUP_SESS_MOVE);
	/* More threads than slots: the ones on the current attach give theirs up first. */
	for (i = 0; i < KUP_SESS_THREADS + 2; i++)
		KT_EQ(kup_session_next(&s, 5, 5, 0, &x[i]), KUP_SESS_STAY);
	KT_EQ(kup_session_next(&s, 5, 5, 0, A), -EKU_CLOSED); /* A's record (on 4) was kept */
}

KT_TEST(strerror_covers_every_code)
{
	int c;

	for (c = 0; c < EKU_MAX; c++)
		KT_ASSERT(strcmp(kup_core_strerror(c), "unknown KUP error") != 0);
	KT_ASSERT(strcmp(kup_core_strerror(-EKU_TOOBIG), kup_core_strerror(EKU_TOOBIG)) == 0);
	KT_ASSERT(strcmp(kup_core_strerror(1000), "unknown KUP error") == 0);
	KT_ASSERT(strcmp(kup_core_strerror(-2147483647 - 1), "unknown KUP error") == 0);
}

/* Loans: retire counts only loans on the current memory; end returns a retired one once. */
KT_TEST(loans_retire_end_and_drain)
{
	struct kup_loans l;
	static char a[KUP_LOANS], b, c, m1, m2;
	int i;

	memset(&l, 0, sizeof(l));
	KT_ASSERT(kup_loan_end(&l, &a[0]) == NULL);
	KT_EQ(kup_loan_room(&l), 0);
	kup_loan_take(&l, &a[0]);
	kup_loan_take(&l, &b);
	KT_EQ(kup_loan_retire(&l, &m1), 2); /* both on m1 now */
	kup_loan_take(&l, &c);              /* c on the new memory */
	KT_EQ(kup_loan_retire(&l, &m2), 1); /* only c moves to m2 */
	KT_ASSERT(kup_loan_end(&l, &a[0]) == &m1);
	KT_ASSERT(kup_loan_end(&l, &a[0]) == NULL); /* once */
	KT_EQ(l.n, 2);
	KT_ASSERT(kup_loan_drain(&l) != NULL);
	KT_ASSERT(kup_loan_drain(&l) != NULL);
	KT_ASSERT(kup_loan_drain(&l) == NULL);
	KT_EQ(l.n, 0);
	for (i = 0; i < KUP_LOANS; i++)
		kup_loan_take(&l, &a[i]);
	KT_EQ(kup_loan_room(&l), -EKU_BUSY);
	KT_ASSERT(kup_loan_end(&l, &a[3]) == NULL); /* not retired: nothing to put */
	KT_EQ(kup_loan_room(&l), 0);
	KT_ASSERT(kup_loan_drain(&l) == NULL); /* none retired */
	KT_EQ(l.n, 0);
}

/* Readiness for poll/kqueue, as both kernels judge it. */
KT_TEST(user_ready_from_both_turn_words)
{
	static uint8_t kb[KUP_PAGE], ub[KUP_PAGE];
	struct kup_kctl *kc = (struct kup_kctl *)kb;
	struct kup_uctl *uc = (struct kup_uctl *)ub;

	kc->k.tw = KUP_TW(0, KUP_ST_OPEN); /* a fresh channel: the kernel's turn */
	uc->u.tw = KUP_TW(0, KUP_ST_OPEN);
	KT_EQ(kup_user_ready(kb, ub), 0);
	kc->k.tw = KUP_TW(1, KUP_ST_OPEN); /* the kernel sent: the process's turn */
	KT_EQ(kup_user_ready(kb, ub), 1);
	uc->u.tw = KUP_TW(1, KUP_ST_OPEN); /* the process answered */
	KT_EQ(kup_user_ready(kb, ub), 0);
	kc->k.tw = KUP_TW(KUP_SEQ_MASK, KUP_ST_OPEN); /* wrapped: seq 0 follows the mask */
	uc->u.tw = KUP_TW(KUP_SEQ_MASK - 1, KUP_ST_OPEN);
	KT_EQ(kup_user_ready(kb, ub), 1);
	kc->k.tw = KUP_TW(1, KUP_ST_SHUTDOWN);
	KT_EQ(kup_user_ready(kb, ub), -1);
	kc->k.tw = KUP_TW(1, KUP_ST_OPEN);
	uc->u.tw = KUP_TW(0, 7); /* garbage in the process's own word */
	KT_EQ(kup_user_ready(kb, ub), -1);
}

/* The pending-attach FIFO: oldest first, queued once, a dropped id keeps the others' order. */
KT_TEST(pending_attaches_fifo)
{
	static uint8_t mem[KUP_PEND_BYTES(4)];
	struct kup_pend p;

	kup_pend_init(&p, mem, 4);
	KT_EQ(kup_pend_pop(&p), -1);
	kup_pend_push(&p, 2);
	kup_pend_push(&p, 0);
	kup_pend_push(&p, 2); /* queued already */
	kup_pend_push(&p, 3);
	kup_pend_push(&p, 1);
	kup_pend_push(&p, 9); /* out of range: ignored */
	KT_EQ(kup_pend_any(&p), 1);
	kup_pend_drop(&p, 0);
	kup_pend_drop(&p, 0);
	KT_EQ(kup_pend_pop(&p), 2);
	kup_pend_push(&p, 0); /* after the drop, queued again at the tail */
	KT_EQ(kup_pend_pop(&p), 3);
	KT_EQ(kup_pend_pop(&p), 1);
	KT_EQ(kup_pend_pop(&p), 0);
	KT_EQ(kup_pend_pop(&p), -1);
	KT_EQ(kup_pend_any(&p), 0);
	kup_pend_push(&p, 1); /* wraps around the ring */
	kup_pend_push(&p, 3);
	KT_EQ(kup_pend_pop(&p), 1);
	KT_EQ(kup_pend_pop(&p), 3);
}

/* The attach request checks every host makes, in core once. */
KT_TEST(attach_request_checks)
{
	KT_EQ(kup_attach_check(KUP_ABI_VERSION, 0, 3, 2, 2, 4), 0);
	KT_EQ(kup_attach_check(KUP_ABI_VERSION + 1, 0, 0, 2, 2, 4), -EKU_ABI);
	KT_EQ(kup_attach_check(KUP_ABI_VERSION, 0x1, 0, 2, 2, 4), -EKU_INVAL);
	KT_EQ(kup_attach_check(KUP_ABI_VERSION, KUP_ATTACH_WAIT, 0, 2, 2, 4), -EKU_INVAL);
	KT_EQ(kup_attach_check(KUP_ABI_VERSION, KUP_ATTACH_ANY | KUP_ATTACH_WAIT, 0, 2, 2, 4), 0);
	KT_EQ(kup_attach_check(KUP_ABI_VERSION, 0, 4, 2, 2, 4), -EKU_RANGE);
	KT_EQ(kup_attach_check(KUP_ABI_VERSION, 0, 0, 1, 2, 4), -EKU_BADSIZE);
}

KT_MAIN()
