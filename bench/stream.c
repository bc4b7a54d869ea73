/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * stream.c - streaming channels (kupdev_stream_* / kernproxy_stream_*)
 * against a bare ring between the same two pinned threads, the ping-pong
 * rate and memcpy bandwidth, measured in alternating rounds (part
 * "stream"; docs/bench.md).
 *
 * One measurement: a producer thread sends messages of `size` bytes in
 * batches as fast as it can, a consumer thread receives them in batches
 * (copying each into its own buffer) and counts them; after a warm-up the
 * consumer times how many it took in the sampling time.  The user side
 * runs on CPU A and the kern side (the provider, in this process) on CPU
 * B, whichever way the messages go; the bare ring puts its producer on A
 * and its consumer on B.
 *
 * The bare ring is what a careful programmer would write for two threads
 * that trust each other: the same record format (8-byte header, payload,
 * padding to 8 bytes), the same ring size, the same batches, positions
 * published once per batch with release/acquire, spinning on empty and
 * full; no checks, no sleeping, no library calls.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "kup.h"
#include "kupdev.h"
#include "kup_core.h"

#define ST_BATCH  64
#define ST_ROUNDS 8

enum st_kind { ST_BARE, ST_U2K, ST_K2U, ST_K2U_PEEK };
static const char *const kind_mode[] = {"bare ring", "u2k", "k2u", "k2u peek"};

/* The bare ring: positions on lines of their own, the data after them. */
struct bare {
	uint32_t prod __attribute__((aligned(128)));
	uint32_t cons __attribute__((aligned(128)));
	uint8_t *data __attribute__((aligned(128)));
	uint32_t ring;
	uint32_t cons_seen __attribute__((aligned(128))); /* producer's: cons when it last looked */
	uint32_t prod_seen __attribute__((aligned(128))); /* consumer's: prod when it last looked */
};

struct sctx {
	enum st_kind kind;
	size_t size;
	int batch;
	struct bare *br;
	struct kupdev_softc *sc;
	void *h; /* the device handle (the stream channel is closed with it) */
	void *ch;
	uint8_t *src, *dst; /* producer's messages, consumer's buffers */
	pthread_barrier_t bar;
	int stop __attribute__((aligned(128))); /* main -> consumer: take the figure */
	int cdone;                              /* consumer -> producer: stop sending */
	int pdone;                              /* producer -> consumer: nothing more comes */
	int err;
	double rate;  /* messages per second */
	uint64_t sink; /* k2u peek: what the consumer read in place */
};

static int ld(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void st(int *p, int v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static uint32_t rec_len(size_t size)
{
	return 8 + (((uint32_t)size + 7) & ~7u);
}

/* --- the bare ring -------------------------------------------------------- */

/* The copies KUP's core makes (its own small copy, memcpy above it): like for like. */
static inline void bare_copy(void *dst, const void *src, uint32_t n)
{
	if (n > KUP_COPY_SMALL)
		memcpy(dst, src, n);
	else
		kup_copy_small(dst, src, n);
}

static void bare_put(struct bare *b, uint32_t pos, const void *src, uint32_t n)
{
	uint32_t off = pos & (b->ring - 1), first = b->ring - off;

	if (n <= first) {
		bare_copy(b->data + off, src, n);
		return;
	}
	memcpy(b->data + off, src, first);
	memcpy(b->data, (const uint8_t *)src + first, n - first);
}

static void bare_get(struct bare *b, uint32_t pos, void *dst, uint32_t n)
{
	uint32_t off = pos & (b->ring - 1), first = b->ring - off;

	if (n <= first) {
		bare_copy(dst, b->data + off, n);
		return;
	}
	memcpy(dst, b->data + off, first);
	memcpy((uint8_t *)dst + first, b->data, n - first);
}

/* Queue up to n messages of c->size bytes; the count (spins while full). */
static int bare_send(struct sctx *c, int n)
{
	struct bare *b = c->br;
	uint32_t prod = b->prod, rec = rec_len(c->size), hdr[2];
	int k = 0;

	while (!k) {
		uint32_t room = b->ring - (prod - b->cons_seen);

		/* Look at the consumer's position only when the room we knew of is used up. */
		if (room < rec * (uint32_t)n) {
			b->cons_seen = __atomic_load_n(&b->cons, __ATOMIC_ACQUIRE);
			room = b->ring - (prod - b->cons_seen);
		}

		for (; k < n && room >= rec; k++, room -= rec, prod += rec) {
			hdr[0] = (uint32_t)c->size;
			hdr[1] = prod;
			memcpy(b->data + (prod & (b->ring - 1)), hdr, 8);
			bare_put(b, prod + 8, c->src + (size_t)k * c->size, (uint32_t)c->size);
		}
		if (!k) {
			if (ld(&c->cdone))
				return 0;
			__builtin_ia32_pause();
		}
	}
	__atomic_store_n(&b->prod, prod, __ATOMIC_RELEASE);
	return k;
}

/* Take up to n messages into c->dst; the count, 0 when empty. */
static int bare_recv(struct sctx *c, int n)
{
	struct bare *b = c->br;
	uint32_t cons = b->cons, avail = b->prod_seen - cons, hdr[2];
	int k = 0;

	if (avail < rec_len(c->size) * (uint32_t)n) {
		b->prod_seen = __atomic_load_n(&b->prod, __ATOMIC_ACQUIRE);
		avail = b->prod_seen - cons;
	}
	if (!avail)
		__builtin_ia32_pause();

	for (; k < n && avail; k++) {
		memcpy(hdr, b->data + (cons & (b->ring - 1)), 8);
		bare_get(b, cons + 8, c->dst + (size_t)k * c->size, hdr[0]);
		cons += rec_len(hdr[0]);
		avail -= rec_len(hdr[0]);
	}
	if (k)
		__atomic_store_n(&b->cons, cons, __ATOMIC_RELEASE);
	return k;
}

/* --- one side each ---------------------------------------------------------- */

static struct kup_iovec *iov_for(uint8_t *base, size_t size, int n)
{
	static __thread struct kup_iovec v[ST_BATCH];
	int i;

	for (i = 0; i < n; i++) {
		v[i].base = base + (size_t)i * size;
		v[i].len = size;
	}
	return v;
}

/* Send one batch: the count (> 0), 0 when told to stop, < 0 on failure. */
static int send_batch(struct sctx *c, int user)
{
	struct kup_iovec *v = iov_for(c->src, c->size, c->batch);
	int r;

	if (c->kind == ST_BARE)
		return bare_send(c, c->batch);
	for (;;) {
		/* Nonblocking when the consumer is done, so the end never waits for room. */
		int fl = ld(&c->cdone) ? KP_NB : 0;

		r = user ? kernproxy_stream_send(c->ch, v, (size_t)c->batch, fl)
		         : kupdev_stream_send(c->sc, 0, v, (size_t)c->batch, fl, TMO_NS);
		if (r > 0)
			return r;
		if (fl)
			return 0;
		return -1;
	}
}

/* Receive one batch: the count, 0 when there was nothing (nonblocking), < 0 on failure. */
static int recv_batch(struct sctx *c, int user, int nb)
{
	struct kup_iovec *v = iov_for(c->dst, c->size, c->batch);
	int r, e, i;

	if (c->kind == ST_BARE)
		return bare_recv(c, c->batch);
	if (user && c->kind == ST_K2U_PEEK) {
		/* Zero-copy: every record read where it lies (as the copy writes every byte), then released. */
		r = kernproxy_stream_peek(c->ch, v, (size_t)c->batch, nb ? KP_NB : 0);
		e = r < 0 ? kernproxy_errno : 0;
		for (i = 0; i < r; i++)
			c->sink += bench_read(v[i].base, v[i].len);
		if (r > 0 && kernproxy_stream_release(c->ch, (size_t)r))
			return -1;
	} else if (user) {
		r = kernproxy_stream_recv(c->ch, v, (size_t)c->batch, nb ? KP_NB : 0);
		e = r < 0 ? kernproxy_errno : 0;
	} else {
		r = kupdev_stream_recv(c->sc, 0, v, (size_t)c->batch, nb ? KUP_NB : 0,
		                       nb ? 0 : 2000000);
		e = r < 0 ? -r : 0;
	}
	if (r > 0)
		return r;
	return e == EKU_NOTREADY || e == EKU_TIMEDOUT ? 0 : -1;
}

/* The producer: user side for u2k, kern side for k2u, CPU A for the bare ring. */
static void *producer(void *arg)
{
	struct sctx *c = arg;
	int user = c->kind == ST_U2K, r;

	bench_pin(c->kind == ST_K2U || c->kind == ST_K2U_PEEK ? 1 : 0);
	pthread_barrier_wait(&c->bar);
	while (!ld(&c->cdone)) {
		r = send_batch(c, user);
		if (r < 0) {
			st(&c->err, 1);
			break;
		}
	}
	st(&c->pdone, 1);
	return NULL;
}

static void *consumer(void *arg)
{
	struct sctx *c = arg;
	int user = c->kind == ST_K2U || c->kind == ST_K2U_PEEK, r, warm = 1;
	int64_t t0 = 0, start, now;
	uint64_t n = 0;

	bench_pin(user ? 0 : 1);
	pthread_barrier_wait(&c->bar);
	start = bench_now();
	for (;;) {
		r = recv_batch(c, user, c->kind == ST_BARE);
		if (r < 0) {
			st(&c->err, 1);
			break;
		}
		n += (uint64_t)r;
		if (warm && bench_now() - start >= cfg.warm_ns) {
			warm = 0;
			n = 0;
			t0 = bench_now();
		}
		if (!warm && ld(&c->stop)) {
			now = bench_now();
			c->rate = (double)n * 1e9 / (double)(now - t0);
			break;
		}
		if (ld(&c->pdone) && !r)
			break; /* the producer failed */
	}
	st(&c->cdone, 1);
	/* Drain until the producer left (it may be inside a send waiting for room). */
	while (!ld(&c->pdone))
		if (recv_batch(c, user, 1) < 0)
			break;
	return NULL;
}

/*
 * A measurement's buffers and its bare ring or stream channel (c->br or
 * c->ch; neither when the channel could not be set up, said on stderr).
 */
static struct sctx *st_open(enum st_kind kind, size_t size, int batch)
{
	size_t pages = size < 4096 ? 16 : (4 * rec_len(size) + KUP_PAGE - 1) / KUP_PAGE;
	struct sctx *c = calloc(1, sizeof(*c));
	char name[48];
	static int seq;

	if (!c)
		bench_die("out of memory");
	c->kind = kind;
	c->size = size;
	c->batch = batch;
	c->src = bench_alloc(size * ST_BATCH);
	c->dst = bench_alloc(size * ST_BATCH);
	if (kind == ST_BARE) {
		c->br = calloc(1, sizeof(*c->br));
		if (!c->br)
			bench_die("out of memory");
		c->br->ring = 1u << (31 - __builtin_clz((uint32_t)(pages * KUP_PAGE)));
		c->br->data = bench_alloc(c->br->ring);
		return c;
	}
	snprintf(name, sizeof(name), "kupbench_st%d_%d", (int)getpid(), seq++);
	c->sc = kupdev_create(name, pages, 1);
	c->h = c->sc ? kernproxy_open(name) : NULL;
	c->ch = c->h ? kernproxy_attach(c->h, 0, pages, KP_EXACT | KP_STREAM) : NULL;
	if (!c->ch || kupdev_wait_channel_timed(c->sc, 0, TMO_NS) != 0) {
		fprintf(stderr, "kupbench: stream channel: %s\n",
		        kernproxy_strerror(kernproxy_errno));
		c->ch = NULL; /* closed with its handle by st_close */
	}
	return c;
}

static void st_close(struct sctx *c)
{
	if (c->h)
		kernproxy_close(c->h);
	if (c->sc)
		kupdev_unload(c->sc);
	if (c->br) {
		munmap(c->br->data, c->br->ring);
		free(c->br);
	}
	munmap(c->src, c->size * ST_BATCH);
	munmap(c->dst, c->size * ST_BATCH);
	free(c);
}

/* Run one measurement; the rate in msg/s, 0 on failure. */
static double st_run(enum st_kind kind, size_t size, int batch)
{
	struct sctx *c = st_open(kind, size, batch);
	pthread_t tp, tc;
	double rate = 0;

	if (!c->br && !c->ch)
		goto out;
	if (c->ch)
		kernproxy_set_timeout(c->ch, TMO_NS);
	if (pthread_barrier_init(&c->bar, NULL, 3))
		bench_die("pthread_barrier_init");
	if (pthread_create(&tp, NULL, producer, c) || pthread_create(&tc, NULL, consumer, c))
		bench_die("pthread_create");
	pthread_barrier_wait(&c->bar);
	{
		struct timespec ts = {0, 0};
		int64_t t = cfg.warm_ns + cfg.dur_ns;

		ts.tv_sec = t / 1000000000;
		ts.tv_nsec = t % 1000000000;
		nanosleep(&ts, NULL);
	}
	st(&c->stop, 1);
	pthread_join(tc, NULL);
	pthread_join(tp, NULL);
	pthread_barrier_destroy(&c->bar);
	rate = c->err ? 0 : c->rate;
	if (getenv("KUPBENCH_STREAM_DEBUG") && c->ch) {
		struct kernproxy_stats us;
		struct kupdev_stats ks;

		kernproxy_stats(c->ch, &us);
		kupdev_stats(c->sc, 0, &ks);
		fprintf(
		    stderr,
		    "stream %s %zu: %.3g msg/s; user sent %llu recv %llu sleeps %llu wakeups %llu; "
		    "kern sent %llu recv %llu sleeps %llu wakeups %llu\n",
		    kind_mode[kind], size, rate, (unsigned long long)us.sent,
		    (unsigned long long)us.received, (unsigned long long)us.sleeps,
		    (unsigned long long)us.wakeups, (unsigned long long)ks.sent,
		    (unsigned long long)ks.received, (unsigned long long)ks.sleeps,
		    (unsigned long long)ks.wakeups);
	}
out:
	st_close(c);
	return rate;
}

/*
 * The same traffic in one thread on CPU A: a batch in, the batch out, for
 * the sampling time.  No cache line crosses CPUs and nothing waits, so this
 * is the software cost per message, and preemption by other work on the
 * machine touches both figures alike.  Messages per second, 0 on failure.
 */
static double st_solo(enum st_kind kind, size_t size, int batch)
{
	struct sctx *c = st_open(kind, size, batch);
	int64_t t0, end;
	uint64_t n = 0;
	double rate = 0;
	int r, k;

	if (!c->br && !c->ch)
		goto out;
	bench_pin(0);
	/* u2k: the user side sends, the kern side receives (the bare ring: A to A). */
	for (k = 0; k < 200; k++) /* warm-up */
		if (send_batch(c, 1) != batch || recv_batch(c, 0, 1) != batch)
			goto out;
	t0 = bench_now();
	end = t0 + cfg.dur_ns;
	for (k = 1;; k++) {
		r = send_batch(c, 1);
		if (r <= 0 || recv_batch(c, 0, 1) != r)
			goto out;
		n += (uint64_t)r;
		if (!(k & 15) && bench_now() >= end)
			break;
	}
	rate = (double)n * 1e9 / (double)(bench_now() - t0);
out:
	st_close(c);
	return rate;
}

/* --- rounds and records ----------------------------------------------------- */

/* The median of v[0..n) where > 0; 0 when none. */
static double med_of(const double *v, int n)
{
	struct samples s = {0};
	double m;
	int i;

	for (i = 0; i < n; i++)
		if (v[i] > 0 && samples_add(&s, v[i]))
			bench_die("out of memory");
	m = samples_quantile(&s, 0.5);
	samples_free(&s);
	return m;
}

/* The median of the per-round ratios a/b. */
static double ratio_of(const double *a, const double *b, int n)
{
	double q[ST_ROUNDS];
	int i;

	for (i = 0; i < n; i++)
		q[i] = a[i] > 0 && b[i] > 0 ? a[i] / b[i] : 0;
	return med_of(q, n);
}

/* A figure against a reference record: its ratio the median of per-round ratios. */
static struct record *st_rec(const char *name, const char *mode, size_t size, const char *unit,
                             const double *v, int n, const struct record *ref, const double *rv,
                             double target)
{
	double m = med_of(v, n);
	struct record *x;

	if (m <= 0)
		return NULL;
	x = rec_add(name, mode, size, 1, m, m, unit);
	if (ref) {
		rec_ref(x, ref);
		x->ratio = ratio_of(v, rv, n);
		if (target > 0)
			rec_target(x, target, 1);
	}
	return x;
}

void stream_all(void)
{
	static const size_t small[] = {8, 64};
	int64_t dur = cfg.dur_ns, warm = cfg.warm_ns;
	int rounds = cfg.rounds < ST_ROUNDS ? cfg.rounds : ST_ROUNDS, k, d;
	size_t i;

	cfg.dur_ns = dur / 2 > 20000000 ? dur / 2 : 20000000;
	cfg.warm_ns = cfg.quick ? 2000000 : 20000000;
	for (i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		size_t s = small[i];
		double bare[ST_ROUNDS] = {0}, kup[3][ST_ROUNDS] = {{0}}, pp[ST_ROUNDS] = {0};
		double sb[ST_ROUNDS] = {0}, sk[ST_ROUNDS] = {0};
		struct record *rb, *rp;

		for (k = 0; k < rounds; k++) {
			bare[k] = st_run(ST_BARE, s, ST_BATCH);
			kup[0][k] = st_run(ST_U2K, s, ST_BATCH);
			kup[1][k] = st_run(ST_K2U, s, ST_BATCH);
			kup[2][k] = st_run(ST_K2U_PEEK, s, ST_BATCH);
			pp[k] = kup_pingpong_rate(s);
			sb[k] = st_solo(ST_BARE, s, ST_BATCH);
			sk[k] = st_solo(ST_U2K, s, ST_BATCH);
		}
		rb = st_rec("stream msg rate 1 cpu", "bare ring", s, "msg/s", sb, rounds, NULL,
		            NULL, 0);
		st_rec("kup stream msg rate 1 cpu", "u2k", s, "msg/s", sk, rounds, rb, sb, 0);
		rb =
		    st_rec("stream msg rate", "bare ring", s, "msg/s", bare, rounds, NULL, NULL, 0);
		rp = st_rec("kup pingpong msg rate", "adaptive", s, "msg/s", pp, rounds, NULL, NULL,
		            0);
		/* The floor of "vs pingpong": what a bare ring reaches against the same turns. */
		st_rec("stream vs pingpong", "bare ring", s, "msg/s", bare, rounds, rp, pp, 0);
		for (d = 0; d < 3; d++) {
			st_rec("kup stream msg rate", kind_mode[d + 1], s, "msg/s", kup[d], rounds,
			       rb, bare, 0.5);
			st_rec("kup stream vs pingpong", kind_mode[d + 1], s, "msg/s", kup[d],
			       rounds, rp, pp, 10);
		}
	}
	{
		size_t s = 65536;
		double mc[ST_ROUNDS] = {0}, bare[ST_ROUNDS] = {0}, kup[3][ST_ROUNDS] = {{0}};
		struct record *rm;

		for (k = 0; k < rounds; k++) {
			double med, p99;

			ref_memcpy(s, &med, &p99);
			mc[k] = med > 0 ? (double)s * 1e9 / med : 0;
			bare[k] = st_run(ST_BARE, s, 1) * (double)s;
			kup[0][k] = st_run(ST_U2K, s, 1) * (double)s;
			kup[1][k] = st_run(ST_K2U, s, 1) * (double)s;
			kup[2][k] = st_run(ST_K2U_PEEK, s, 1) * (double)s;
		}
		rm = st_rec("memcpy bandwidth", "ref", s, "B/s", mc, rounds, NULL, NULL, 0);
		st_rec("stream bandwidth", "bare ring", s, "B/s", bare, rounds, rm, mc, 0);
		for (d = 0; d < 3; d++)
			st_rec("kup stream bandwidth", kind_mode[d + 1], s, "B/s", kup[d], rounds,
			       rm, mc, 0.8);
	}
	cfg.dur_ns = dur;
	cfg.warm_ns = warm;
}
