/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_stream.c - streaming channels in core alone (kup_stream.c): both
 * ends in one process over ordinary memory, a futex host for the threaded
 * cases; the kern end faces a user block the test corrupts at will.
 */
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>

#include "kt.h"
#include "kup_stream.h"
#include "futex_host.h"

#define SSIZE 3 /* pages per direction: a 8 KiB ring in 12 KiB */

struct spair {
	void *mem;
	void *kblock, *ublock;
	struct kup_end k, u;
	int wakes[2]; /* wake callbacks made by the kern [0] and user [1] end */
};

static int sx_sleep(struct kup_end *e, const uint32_t *tw, uint32_t seen, int64_t tmo)
{
	(void)e;
	return futex_host_sleep(tw, seen, tmo);
}

static void sx_wake(struct kup_end *e, uint32_t bits)
{
	struct spair *p = e->host;
	(void)bits;

	__atomic_fetch_add(&p->wakes[e->lead], 1, __ATOMIC_RELAXED);
	futex_host_wake(e);
}

static const struct kup_host_ops sx_ops = {.sleep = sx_sleep, .wake = sx_wake};

static struct spair *spair_mode(uint32_t attach_flags)
{
	struct spair *p = calloc(1, sizeof(*p));

	KT_ASSERT(p);
	KT_ASSERT(posix_memalign(&p->mem, KUP_PAGE, KUP_MAP_LEN(SSIZE)) == 0);
	memset(p->mem, 0, KUP_MAP_LEN(SSIZE));
	p->kblock = (char *)p->mem + KUP_OFF_KCTL(SSIZE);
	p->ublock = (char *)p->mem + KUP_OFF_UCTL(SSIZE);
	kup_chan_format(p->kblock, p->ublock, SSIZE, 0, 1);
	kup_chan_set_mode(p->kblock, attach_flags);
	kup_end_init(&p->k, KUP_SIDE_KERN, p->kblock, p->ublock, SSIZE, &sx_ops, p);
	kup_end_set_mode(&p->k, attach_flags);
	kup_end_init(&p->u, KUP_SIDE_USER, p->kblock, p->ublock, SSIZE, &sx_ops, p);
	return p;
}

static struct spair *spair(void)
{
	return spair_mode(KUP_ATTACH_STREAM);
}

static struct kup_uctl *suctl(struct spair *p)
{
	return p->ublock;
}

static uint8_t *u2k(struct spair *p)
{
	return (uint8_t *)p->ublock + KUP_PAGE;
}

/* Send one message of len bytes (byte i = seed + i) from e; returns the call's result. */
static int send1(struct kup_end *e, uint32_t len, uint8_t seed, int flags)
{
	static uint8_t buf[SSIZE * KUP_PAGE];
	struct kup_iovec v = {buf, len};
	uint32_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i);
	return kup_stream_send(e, &v, 1, flags, 0);
}

/* Receive one message that must be there, check length and pattern. */
static void recv1(struct kup_end *e, uint32_t len, uint8_t seed)
{
	static uint8_t buf[SSIZE * KUP_PAGE];
	struct kup_iovec v = {buf, sizeof(buf)};
	uint32_t i;

	KT_EQ(kup_stream_recv(e, &v, 1, KUPC_NB, 0), 1);
	KT_EQ(v.len, len);
	for (i = 0; i < len; i++)
		if (buf[i] != (uint8_t)(seed + i))
			KT_FAIL("byte %u: %u, want %u", i, buf[i], (uint8_t)(seed + i));
}

KT_TEST(stream_layout)
{
	KT_EQ(offsetof(struct kup_kctl, s.prod), 1024);
	KT_EQ(offsetof(struct kup_kctl, s.cons), 1152);
	KT_EQ(offsetof(struct kup_kctl, s.wait), 1280);
	KT_EQ(offsetof(struct kup_uctl, s.prod), 1024);
	KT_EQ(offsetof(struct kup_kctl, k), 128); /* the turn words did not move */
	KT_EQ(offsetof(struct kup_uctl, u), 0);
	KT_EQ(KUP_STREAM_RING(4096), 4096);
	KT_EQ(KUP_STREAM_RING(3 * 4096), 8192);
	KT_EQ(KUP_STREAM_RING(16384u * 4096), 16384u * 4096);
}

KT_TEST(stream_mode_agreement)
{
	struct spair *p = spair_mode(0), *q = spair();
	struct kup_iovec v = {NULL, 0};
	const void *d;
	uint32_t len;

	KT_EQ(p->k.stream, 0);
	KT_EQ(q->k.stream, KUP_HDR_STREAM);
	KT_EQ(q->u.stream, KUP_HDR_STREAM);
	KT_EQ(q->k.ring, 8192);
	/* Stream calls on a turn channel, turn calls on a stream channel: EKU_INVAL. */
	KT_EQ(kup_stream_send(&p->k, &v, 1, KUPC_NB, 0), -EKU_INVAL);
	KT_EQ(kup_stream_recv(&p->u, &v, 1, KUPC_NB, 0), -EKU_INVAL);
	KT_EQ(kup_end_send(&q->k, "x", 1, KUPC_NB, 0), -EKU_INVAL);
	KT_EQ(kup_end_recv(&q->u, KUPC_NB, 0, &d, &len, 0), -EKU_INVAL);
	KT_EQ(kup_end_pass(&q->u, KUPC_NB, 0), -EKU_INVAL);
	KT_EQ(kup_end_poll(&q->k), -EKU_INVAL);
	KT_EQ(kup_stream_send(&q->k, &v, 1, 0x80, 0), -EKU_INVAL); /* unknown flag */
}

/*
 * The process may write the kern control page (kup_abi.h): a mode it writes
 * there before the kern end is set up (Linux and FreeBSD set it up at the
 * module's first call, after the process mapped it) changes nothing.
 */
KT_TEST(kern_mode_is_the_hosts_not_the_page)
{
	struct spair *p = spair_mode(0), *q = spair();
	struct kup_kctl *kc = p->kblock, *qc = q->kblock;

	kc->hdr.flags = KUP_HDR_STREAM;
	qc->hdr.flags = 0;
	kup_end_init(&p->k, KUP_SIDE_KERN, p->kblock, p->ublock, SSIZE, &sx_ops, p);
	kup_end_set_mode(&p->k, 0);
	kup_end_init(&q->k, KUP_SIDE_KERN, q->kblock, q->ublock, SSIZE, &sx_ops, q);
	kup_end_set_mode(&q->k, KUP_ATTACH_STREAM);
	KT_EQ(p->k.stream, 0);
	KT_EQ(q->k.stream, KUP_HDR_STREAM);
	KT_EQ(kup_end_poll(&p->k), 0); /* a turn channel: the kern side's first turn */
}

KT_TEST(stream_both_directions_many_in_flight)
{
	struct spair *p = spair();
	uint32_t i;

	/* Both sides may send first, and many records wait at once. */
	for (i = 0; i < 20; i++) {
		KT_EQ(send1(&p->u, i * 13, (uint8_t)i, KUPC_NB), 1);
		KT_EQ(send1(&p->k, i * 5, (uint8_t)(i + 100), KUPC_NB), 1);
	}
	for (i = 0; i < 20; i++) {
		recv1(&p->k, i * 13, (uint8_t)i);
		recv1(&p->u, i * 5, (uint8_t)(i + 100));
	}
	KT_EQ(p->k.cnt.received, 20);
	KT_EQ(p->u.cnt.sent, 20);
	/* Empty now. */
	{
		struct kup_iovec v = {NULL, 0};

		KT_EQ(kup_stream_recv(&p->k, &v, 1, KUPC_NB, 0), -EKU_NOTREADY);
	}
}

KT_TEST(stream_batch_and_wrap)
{
	struct spair *p = spair();
	uint8_t out[64][40], in[64][40];
	struct kup_iovec tx[64], rx[64];
	uint32_t round, i, total = 0;
	int n, got;

	for (i = 0; i < 64; i++) {
		memset(out[i], (int)i, sizeof(out[i]));
		tx[i].base = out[i];
		tx[i].len = 1 + i % 40;
	}
	/* 300 rounds of 64 records of up to 40 bytes go round an 8 KiB ring many times. */
	for (round = 0; round < 300; round++) {
		n = kup_stream_send(&p->u, tx, 64, KUPC_NB, 0);
		KT_ASSERT(n > 0);
		for (i = 0; i < 64; i++) {
			rx[i].base = in[i];
			rx[i].len = sizeof(in[i]);
		}
		got = kup_stream_recv(&p->k, rx, 64, KUPC_NB, 0);
		KT_EQ(got, n); /* one batch takes what one batch put */
		for (i = 0; i < (uint32_t)got; i++) {
			KT_EQ(rx[i].len, 1 + i % 40);
			KT_EQ(in[i][0], (uint8_t)i);
			KT_EQ(in[i][rx[i].len - 1], (uint8_t)i);
		}
		total += (uint32_t)got;
	}
	KT_EQ(total, 300 * 64);
	KT_ASSERT(p->u.s_prod > 2 * p->u.ring); /* wrapped */
}

KT_TEST(stream_room_limits_and_toobig)
{
	struct spair *p = spair();
	static uint8_t big[8192];
	struct kup_iovec v[4] = {{big, 4000}, {big, 4000}, {big, 4000}, {big, 8}};
	struct kup_iovec small = {big, 10};
	int n;

	/* 8 KiB ring: two 4008-byte records fit, the third waits for room. */
	KT_EQ(kup_stream_send(&p->k, v, 4, KUPC_NB, 0), 2);
	KT_EQ(kup_stream_send(&p->k, &v[2], 2, KUPC_NB, 0), -EKU_NOTREADY);
	/* Blocking with a timeout: none queued, the timeout reported. */
	KT_EQ(kup_stream_send(&p->k, &v[2], 1, 0, 1000000), -EKU_TIMEDOUT);
	v[0].len = 8192 - 8 + 1;
	KT_EQ(kup_stream_send(&p->u, v, 1, KUPC_NB, 0), -EKU_TOOBIG);
	/* A record larger than the receive buffer stays queued. */
	KT_EQ(kup_stream_recv(&p->u, &small, 1, KUPC_NB, 0), -EKU_TOOBIG);
	small.len = 4000;
	KT_EQ(kup_stream_recv(&p->u, &small, 1, KUPC_NB, 0), 1);
	v[3].len = 200; /* 4008 + 208 > 8192 - 4008 */
	n = kup_stream_send(&p->k, &v[2], 2, KUPC_NB, 0);
	KT_EQ(n, 1); /* room for one again */
}

/* The kern end against a corrupt user block: EKU_PROTO, the channel closed, nothing read out of
 * bounds. */
static void expect_proto(struct spair *p)
{
	static uint8_t buf[16384];
	struct kup_iovec v = {buf, sizeof(buf)};

	KT_EQ(kup_stream_recv(&p->k, &v, 1, KUPC_NB, 0), -EKU_PROTO);
	KT_EQ(p->k.cnt.proto_errors, 1);
	/* Sticky, and the user sees its channel closed. */
	KT_EQ(kup_stream_recv(&p->k, &v, 1, KUPC_NB, 0), -EKU_PROTO);
	KT_EQ(kup_stream_recv(&p->u, &v, 1, KUPC_NB, 0), -EKU_CLOSED);
}

KT_TEST(stream_hostile_producer_position)
{
	struct spair *p = spair();

	KT_EQ(send1(&p->u, 16, 1, KUPC_NB), 1);
	suctl(p)->s.prod = 0x7ffffff0; /* far beyond the ring */
	expect_proto(p);
}

KT_TEST(stream_hostile_misaligned_position)
{
	struct spair *p = spair();

	KT_EQ(send1(&p->u, 16, 1, KUPC_NB), 1);
	suctl(p)->s.prod = 20;
	expect_proto(p);
}

KT_TEST(stream_hostile_record_length)
{
	struct spair *p = spair();

	KT_EQ(send1(&p->u, 16, 1, KUPC_NB), 1);
	((struct kup_rec *)(void *)u2k(p))->len = 0xfffffff0u;
	expect_proto(p);
}

KT_TEST(stream_hostile_length_past_published)
{
	struct spair *p = spair();

	KT_EQ(send1(&p->u, 16, 1, KUPC_NB), 1);
	((struct kup_rec *)(void *)u2k(p))->len = 100; /* within the ring, beyond prod */
	expect_proto(p);
}

KT_TEST(stream_hostile_record_position)
{
	struct spair *p = spair();

	KT_EQ(send1(&p->u, 16, 1, KUPC_NB), 1);
	((struct kup_rec *)(void *)u2k(p))->pos = 4096;
	expect_proto(p);
}

KT_TEST(stream_hostile_consumer_position)
{
	struct spair *p = spair();

	int i;

	KT_EQ(send1(&p->k, 16, 1, KUPC_NB), 1);
	suctl(p)->s.cons = 0x80000000u; /* far ahead of what the kern side produced */
	/* The kern side reads it again when the room it knew of runs out. */
	for (i = 0; i < 1000; i++)
		if (send1(&p->k, 16, 1, KUPC_NB) != 1)
			break;
	KT_EQ(i, 8192 / 24 - 1);
	KT_EQ(send1(&p->k, 16, 1, KUPC_NB), -EKU_PROTO);
	KT_EQ(p->k.cnt.proto_errors, 1);
}

KT_TEST(stream_hostile_bad_state)
{
	struct spair *p = spair();

	suctl(p)->u.tw = 3;
	expect_proto(p);
}

KT_TEST(stream_close_delivers_queued_first)
{
	struct spair *p = spair();
	struct kup_iovec v = {NULL, 0};

	KT_EQ(send1(&p->u, 8, 7, KUPC_NB), 1);
	KT_EQ(send1(&p->u, 9, 8, KUPC_NB), 1);
	kup_end_close(&p->u, KUP_ST_CLOSING);
	recv1(&p->k, 8, 7);
	recv1(&p->k, 9, 8);
	KT_EQ(kup_stream_recv(&p->k, &v, 1, KUPC_NB, 0), -EKU_CLOSED);
	KT_EQ(send1(&p->k, 1, 1, KUPC_NB), -EKU_CLOSED);
	/* Kern shutdown reads as EKU_SHUTDOWN on the user side. */
	kup_end_close(&p->k, KUP_ST_SHUTDOWN);
	KT_EQ(kup_stream_recv(&p->u, &v, 1, KUPC_NB, 0), -EKU_SHUTDOWN);
}

KT_TEST(stream_wake_only_announced_sleeper)
{
	struct spair *p = spair();
	int i;

	/* Nobody waits: no wake-up calls however much is sent. */
	for (i = 0; i < 50; i++)
		KT_EQ(send1(&p->k, 8, 0, KUPC_NB), 1);
	KT_EQ(p->wakes[0], 0);
	KT_EQ(p->k.cnt.wakeups, 0);
	/* An armed fd asks for records: one wake for many batches, until it re-arms. */
	KT_EQ(kup_stream_arm(&p->u, KUP_SW_RECV, 0), 1); /* records queued already */
	for (i = 0; i < 50; i++)
		recv1(&p->u, 8, 0);
	KT_EQ(kup_stream_arm(&p->u, KUP_SW_RECV, 0), 0);
	for (i = 0; i < 10; i++)
		KT_EQ(send1(&p->k, 8, 0, KUPC_NB), 1);
	KT_EQ(p->wakes[0], 1);
	KT_EQ(kup_stream_arm(&p->u, KUP_SW_RECV, 0), 1);
	kup_stream_disarm(&p->u);
	KT_EQ(send1(&p->k, 8, 0, KUPC_NB), 1);
	KT_EQ(p->wakes[0], 1);
}

KT_TEST(stream_user_ready)
{
	struct spair *p = spair();
	static uint8_t buf[8192];
	struct kup_iovec v = {buf, 8000};

	KT_EQ(kup_user_ready(p->kblock, p->ublock), 0);
	KT_EQ(send1(&p->k, 8, 0, KUPC_NB), 1);
	KT_EQ(kup_user_ready(p->kblock, p->ublock), 1);
	recv1(&p->u, 8, 0);
	KT_EQ(kup_user_ready(p->kblock, p->ublock), 0);
	/* Room: only when the armed fd asked for it. */
	KT_EQ(kup_stream_send(&p->u, &v, 1, KUPC_NB, 0), 1);
	KT_EQ(kup_stream_arm(&p->u, KUP_SW_SEND, 4000), 0);
	KT_EQ(kup_user_ready(p->kblock, p->ublock), 0);
	v.len = sizeof(buf);
	KT_EQ(kup_stream_recv(&p->k, &v, 1, KUPC_NB, 0), 1);
	KT_EQ(kup_user_ready(p->kblock, p->ublock), 1);
	KT_EQ(p->wakes[0], 1); /* the kern side rang for the room */
	kup_end_close(&p->k, KUP_ST_CLOSING);
	KT_EQ(kup_user_ready(p->kblock, p->ublock), -1);
}

/* Threaded: a producer and a consumer with small spins, so both sides sleep and wake. */
struct sflow {
	struct spair *p;
	uint32_t n;
	uint64_t sum;
};

static void *stream_producer(void *arg)
{
	struct sflow *f = arg;
	uint32_t vals[16 + 160], i = 0, k;
	struct kup_iovec v[16];
	int r;

	while (i < f->n) {
		for (k = 0; k < 16; k++) {
			vals[k] = i + k;
			v[k].base = &vals[k];
			v[k].len = 4 + (i + k) % 3 * 300; /* 4, 304 or 604 bytes: the value first */
		}
		if (f->n - i < 16)
			k = f->n - i;
		else
			k = 16;
		r = kup_stream_send(&f->p->u, v, k, 0, -1);
		if (r <= 0)
			return (void *)1;
		i += (uint32_t)r;
	}
	return NULL;
}

KT_TEST(stream_threads_sleep_and_wake)
{
	static uint8_t bufs[16][700];
	struct sflow f;
	struct kup_iovec v[16];
	pthread_t t;
	uint32_t next = 0, k;
	void *ret;
	int r;

	/* The values beyond 4 bytes are read from the stack array past vals[k]: pad it. */
	f.p = spair();
	f.n = 20000;
	f.p->k.spin_ns = 1000;
	f.p->u.spin_ns = 1000;
	KT_EQ(pthread_create(&t, NULL, stream_producer, &f), 0);
	while (next < f.n) {
		for (k = 0; k < 16; k++) {
			v[k].base = bufs[k];
			v[k].len = sizeof(bufs[k]);
		}
		r = kup_stream_recv(&f.p->k, v, 16, 0, 5000000000LL);
		KT_ASSERT(r > 0);
		for (k = 0; k < (uint32_t)r; k++) {
			uint32_t val;

			memcpy(&val, bufs[k], 4);
			KT_EQ(val, next);
			KT_EQ(v[k].len, 4 + next % 3 * 300);
			next++;
		}
	}
	KT_EQ(pthread_join(t, &ret), 0);
	KT_ASSERT(ret == NULL);
	KT_EQ(f.p->k.cnt.received, f.n);
}

/*
 * Zero-copy receive: records seen in place in the peer's ring (a record
 * that wraps the ring's end in the bounce buffer), the same ones again
 * until released, released in part or whole, never more than are queued;
 * the sender gets the room back only at the release.
 */
KT_TEST(stream_peek_in_place_and_release)
{
	static uint8_t bounce[SSIZE * KUP_PAGE];
	struct spair *p = spair(), *t = spair_mode(0);
	const uint8_t *ring = (const uint8_t *)p->kblock + KUP_PAGE;
	uint8_t out[64][200];
	struct kup_iovec tx[64], pk[64], again[64];
	uint32_t round, i, total = 0, wrapped = 0, used;
	int n, got;

	KT_EQ(kup_stream_peek(&p->u, pk, 1, KUPC_NB, 0, bounce), -EKU_NOTREADY);
	KT_EQ(kup_stream_peek(&p->u, pk, 1, KUPC_NB, 0, NULL), -EKU_INVAL);
	KT_EQ(kup_stream_peek(&t->u, pk, 1, KUPC_NB, 0, bounce), -EKU_INVAL); /* a turn channel */
	KT_EQ(kup_stream_release(&t->u, 1), -EKU_INVAL);
	KT_EQ(kup_stream_release(&p->u, 0), 0);
	KT_EQ(kup_stream_release(&p->u, 1), -EKU_INVAL); /* nothing queued */
	for (i = 0; i < 64; i++) {
		memset(out[i], (int)(i + 1), sizeof(out[i]));
		tx[i].base = out[i];
		tx[i].len = 1 + (i * 37) % 200;
	}
	for (round = 0; round < 200; round++) {
		n = kup_stream_send(&p->k, tx, 64, KUPC_NB, 0);
		KT_ASSERT(n > 0);
		got = kup_stream_peek(&p->u, pk, 64, KUPC_NB, 0, bounce);
		KT_EQ(got, n);
		for (i = 0; i < (uint32_t)got; i++) {
			const uint8_t *b = pk[i].base;

			KT_EQ(pk[i].len, tx[i].len);
			if (b == bounce)
				wrapped++;
			else
				KT_ASSERT(b >= ring && b + pk[i].len <= ring + p->k.ring);
			KT_EQ(b[0], (uint8_t)(i + 1));
			KT_EQ(b[pk[i].len - 1], (uint8_t)(i + 1));
		}
		/* Nothing consumed: the same records again, and the sender's room is still taken. */
		KT_EQ(kup_stream_peek(&p->u, again, 64, KUPC_NB, 0, bounce), got);
		KT_ASSERT(again[0].base == pk[0].base && again[got - 1].len == pk[got - 1].len);
		used = p->k.s_prod - __atomic_load_n(&suctl(p)->s.cons, __ATOMIC_ACQUIRE);
		KT_ASSERT(used > 0);
		KT_EQ(kup_stream_release(&p->u, (size_t)got + 1), -EKU_INVAL); /* more than queued */
		KT_EQ(kup_stream_release(&p->u, 1), 0);
		if (got > 1) {
			KT_EQ(kup_stream_peek(&p->u, again, 64, KUPC_NB, 0, bounce), got - 1);
			KT_EQ(again[0].len, pk[1].len);
			KT_EQ(kup_stream_release(&p->u, (size_t)got - 1), 0);
		}
		KT_EQ(p->k.s_prod, __atomic_load_n(&suctl(p)->s.cons, __ATOMIC_ACQUIRE));
		total += (uint32_t)got;
	}
	KT_EQ(p->u.cnt.received, total);
	KT_ASSERT(wrapped > 0);
	KT_ASSERT(p->k.s_prod > 2 * p->k.ring);
	/* Records published before the kernel side closed still come, then the end. */
	KT_EQ(send1(&p->k, 5, 3, KUPC_NB), 1);
	kup_end_close(&p->k, KUP_ST_SHUTDOWN);
	KT_EQ(kup_stream_peek(&p->u, pk, 4, KUPC_NB, 0, bounce), 1);
	KT_EQ(kup_stream_release(&p->u, 1), 0);
	KT_EQ(kup_stream_peek(&p->u, pk, 4, KUPC_NB, 0, bounce), -EKU_SHUTDOWN);
}
