/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * refs.c - the references every KUP figure is divided by, measured in the
 * same run with the same pinning: the physical limit (a bare cache-line
 * ping-pong) and the channels a user would otherwise reach for.
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"

#define STOPV 0xffffffffu

/* --- shared-word ping-pong: spinning (the limit) or futex ----------------- */

struct word_ctx {
	uint32_t *ping, *pong; /* client writes ping, server pong: separate lines */
	uint8_t *a, *b;        /* client-to-server and server-to-client payload */
	const uint32_t *pong_rd; /* pong and b as the client reads them: the same, */
	const uint8_t *b_rd;     /* or (read-only turn) through a read-only mapping */
	uint8_t *shm_rd;
	uint8_t *src, *priv;   /* client's message, server's private copy */
	size_t size;
	int futex;
	uint8_t *shm;
	/* Each side's own counters on its own lines: no false sharing. */
	uint32_t seq __attribute__((aligned(128))), seen; /* client */
	uint64_t sink;                                    /* what the client read */
	uint32_t last __attribute__((aligned(128)));      /* server */
	uint32_t lock; /* locked: the server's uncontended lock, as a kern-side host's per call */
	int locked;
};

static void fwait(const uint32_t *w, uint32_t val)
{
	/* Shared (not PRIVATE) futex on a MAP_SHARED page, as the provider uses. */
	syscall(SYS_futex, w, FUTEX_WAIT, val, NULL, NULL, 0);
}

static void fwake(uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Wait until *w != old; returns the new value (acquire). */
static uint32_t word_wait(const struct word_ctx *c, const uint32_t *w, uint32_t old)
{
	uint32_t v;

	while ((v = __atomic_load_n(w, __ATOMIC_ACQUIRE)) == old) {
		if (c->futex)
			fwait(w, old);
		else
			__builtin_ia32_pause();
	}
	return v;
}

static void word_post(const struct word_ctx *c, uint32_t *w, uint32_t v)
{
	__atomic_store_n(w, v, __ATOMIC_RELEASE);
	if (c->futex)
		fwake(w);
}

static int word_rt(void *arg, int stop)
{
	struct word_ctx *c = arg;
	uint32_t v = stop ? STOPV : ++c->seq;

	if (c->size)
		memcpy(c->a, c->src, c->size);
	word_post(c, c->ping, v);
	c->seen = word_wait(c, c->pong_rd, c->seen); /* the server posts each ping back once */
	/* Read the reply, as KUP's client does. */
	if (c->size)
		c->sink += bench_read(c->b_rd, c->size);
	return c->seen == v ? 0 : -1;
}

/* The locked turn's lock: one locked add each way, as the provider's channel gate. */
static void lock_take(struct word_ctx *c)
{
	if (c->locked && __atomic_fetch_add(&c->lock, 1, __ATOMIC_SEQ_CST))
		bench_die("locked turn: the lock is held");
}

static void lock_drop(struct word_ctx *c)
{
	if (c->locked && __atomic_sub_fetch(&c->lock, 1, __ATOMIC_SEQ_CST))
		bench_die("locked turn: the lock is contended");
}

/*
 * The server's loop; locked: as two kern-side calls, a receive and a send,
 * each inside the lock, so a lock release and a take lie between seeing
 * the ping and posting the pong.
 */
static int word_serve(void *arg)
{
	struct word_ctx *c = arg;

	for (;;) {
		uint32_t v;

		lock_take(c);
		v = word_wait(c, c->ping, c->last);
		lock_drop(c);
		lock_take(c);
		c->last = v;
		if (v != STOPV && c->size) {
			memcpy(c->priv, c->a, c->size);
			memcpy(c->b, c->priv, c->size);
		}
		word_post(c, c->pong, v);
		lock_drop(c);
		if (v == STOPV)
			return 0;
	}
}

const struct pp_ops ref_word_ops = {.rt = word_rt, .serve = word_serve};

/*
 * The bare price of waking a sleeper: the client waits (spinning) for the
 * server's answer, lets the server fall asleep in FUTEX_WAIT, then times
 * its own store + FUTEX_WAKE.  The server answers by a plain store.
 */
struct wake_ctx {
	uint32_t *ping, *pong;
	struct samples t;
	uint32_t seq __attribute__((aligned(128)));
	uint32_t last __attribute__((aligned(128)));
};

static int wake_rt(void *arg, int stop)
{
	struct wake_ctx *c = arg;
	uint32_t v = stop ? STOPV : ++c->seq;
	int64_t t0, t1;

	bench_spin_ns(30000); /* the server is in FUTEX_WAIT by now */
	t0 = bench_now();
	__atomic_store_n(c->ping, v, __ATOMIC_RELEASE);
	fwake(c->ping);
	t1 = bench_now();
	while (__atomic_load_n(c->pong, __ATOMIC_ACQUIRE) != v)
		__builtin_ia32_pause();
	return stop ? 0 : samples_add(&c->t, (double)(t1 - t0));
}

static int wake_serve(void *arg)
{
	struct wake_ctx *c = arg;
	uint32_t v;

	for (;;) {
		while ((v = __atomic_load_n(c->ping, __ATOMIC_ACQUIRE)) == c->last)
			fwait(c->ping, c->last);
		c->last = v;
		__atomic_store_n(c->pong, v, __ATOMIC_RELEASE);
		if (v == STOPV)
			return 0;
	}
}

static const struct pp_ops wake_ops = {.rt = wake_rt, .serve = wake_serve};

static void ref_wake(void)
{
	uint8_t *shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct wake_ctx c = {0};
	struct pp_result r;
	void *ctx = &c;

	if (shm == MAP_FAILED)
		bench_die("mmap: %s", strerror(errno));
	c.ping = (uint32_t *)shm;
	c.pong = (uint32_t *)(shm + 128);
	if (!pp_run(&wake_ops, &ctx, 1, &r) && c.t.n) {
		struct record *x =
		    rec_add("futex wake cost", "ref", 0, 1, samples_quantile(&c.t, 0.5),
		            samples_quantile(&c.t, 0.99), "ns");

		x->note = "store + FUTEX_WAKE of a sleeper on the other CPU, the waker's own time";
	}
	samples_free(&c.t);
	munmap(shm, 4096);
}

/*
 * The turn's memory: a memfd mapped once, as the provider's blocks are; ro:
 * mapped a second time read-only for the client's reads (as a process maps
 * the kern block), so only the page protection differs.
 */
static struct word_ctx *word_new(int futex, size_t size, int ro)
{
	size_t buf = size ? size : 1, len = 4096 + 2 * buf;
	struct word_ctx *c = bench_alloc(sizeof(*c));
	int fd = memfd_create("kupbench-turn", MFD_CLOEXEC);
	uint8_t *shm = MAP_FAILED, *rd = MAP_FAILED;

	if (fd >= 0 && ftruncate(fd, (off_t)len) == 0) {
		shm = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		rd = ro ? mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0) : shm;
	}
	if (shm == MAP_FAILED || rd == MAP_FAILED)
		bench_die("turn memory: %s", strerror(errno));
	close(fd);
	memset(c, 0, sizeof(*c));
	c->shm = shm;
	c->shm_rd = rd;
	c->ping = (uint32_t *)shm;
	c->pong = (uint32_t *)(shm + 128); /* own 128-byte pair of lines, as KUP's tw */
	c->a = shm + 4096;
	c->b = c->a + buf;
	c->pong_rd = (const uint32_t *)(rd + 128);
	c->b_rd = rd + 4096 + buf;
	memset(c->a, 0, 2 * buf);
	c->src = bench_alloc(buf);
	c->priv = bench_alloc(buf);
	c->size = size;
	c->futex = futex;
	return c;
}

void *ref_word_new(int futex, size_t size)
{
	return word_new(futex, size, 0);
}

void *ref_roturn_new(size_t size)
{
	return word_new(0, size, 1);
}

void *ref_locked_new(size_t size)
{
	struct word_ctx *c = word_new(0, size, 0);

	c->locked = 1;
	return c;
}

void ref_word_free(void *ctx)
{
	struct word_ctx *c = ctx;
	size_t buf = c->size ? c->size : 1;

	if (c->shm_rd != c->shm)
		munmap(c->shm_rd, 4096 + 2 * buf);
	munmap(c->shm, 4096 + 2 * buf);
	munmap(c->src, buf);
	munmap(c->priv, buf);
	munmap(c, sizeof(*c));
}

int ref_word(int futex, size_t size, struct pp_result *r)
{
	void *ctx = ref_word_new(futex, size);
	int rc = pp_run(&ref_word_ops, &ctx, 1, r);

	ref_word_free(ctx);
	return rc;
}

/* --- fd ping-pongs: eventfd, pipe, Unix stream socket -------------------- */

struct fd_ctx {
	int c_out, c_in; /* client writes c_out, reads c_in */
	int s_in, s_out;
	size_t size; /* bytes each way (socket); 1-way + 1-byte back when oneway */
	int oneway;
	int eventfd;
	uint8_t *src, *dst, *sbuf;
};

static int full_io(int fd, void *p, size_t n, int wr)
{
	uint8_t *b = p;

	while (n) {
		ssize_t k = wr ? write(fd, b, n) : read(fd, b, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static int fd_rt(void *arg, int stop)
{
	struct fd_ctx *c = arg;
	uint64_t one = stop ? 2 : 1, got;

	if (c->eventfd)
		return write(c->c_out, &one, 8) == 8 && read(c->c_in, &got, 8) == 8 ? 0 : -1;
	c->src[0] = stop ? 'q' : 'x';
	if (full_io(c->c_out, c->src, c->size, 1))
		return -1;
	return full_io(c->c_in, c->dst, c->oneway ? 1 : c->size, 0);
}

static int fd_serve(void *arg)
{
	struct fd_ctx *c = arg;
	uint64_t v, one = 1;

	for (;;) {
		if (c->eventfd) {
			if (read(c->s_in, &v, 8) != 8 || write(c->s_out, &one, 8) != 8)
				return -1;
			if (v == 2)
				return 0;
			continue;
		}
		if (full_io(c->s_in, c->sbuf, c->size, 0) ||
		    full_io(c->s_out, c->sbuf, c->oneway ? 1 : c->size, 1))
			return -1;
		if (c->sbuf[0] == 'q')
			return 0;
	}
}

static const struct pp_ops fd_ops = {.rt = fd_rt, .serve = fd_serve};

enum fd_kind { FD_EVENTFD, FD_PIPE, FD_UNIX };

static int fd_measure(enum fd_kind kind, size_t size, int oneway, struct pp_result *r)
{
	struct fd_ctx c = {0};
	void *ctx = &c;
	int p1[2], p2[2], rc;

	if (kind == FD_EVENTFD) {
		c.c_out = c.s_in = eventfd(0, 0);
		c.s_out = c.c_in = eventfd(0, 0);
		if (c.c_out < 0 || c.c_in < 0)
			bench_die("eventfd: %s", strerror(errno));
		c.eventfd = 1;
	} else if (kind == FD_PIPE) {
		if (pipe(p1) || pipe(p2))
			bench_die("pipe: %s", strerror(errno));
		c.c_out = p1[1];
		c.s_in = p1[0];
		c.s_out = p2[1];
		c.c_in = p2[0];
	} else {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, p1))
			bench_die("socketpair: %s", strerror(errno));
		c.c_out = c.c_in = p1[0];
		c.s_in = c.s_out = p1[1];
	}
	c.size = size ? size : 1;
	c.oneway = oneway;
	c.src = bench_alloc(c.size);
	c.dst = bench_alloc(c.size);
	c.sbuf = bench_alloc(c.size);
	rc = pp_run(&fd_ops, &ctx, 1, r);
	close(c.c_out);
	if (c.c_in != c.c_out)
		close(c.c_in);
	if (kind != FD_UNIX) {
		close(c.s_in);
		close(c.s_out);
	} else {
		close(c.s_in);
	}
	munmap(c.src, c.size);
	munmap(c.dst, c.size);
	munmap(c.sbuf, c.size);
	return rc;
}

/* --- single-thread references: memcpy bandwidth, null system call -------- */

/* Time op() in batches of ~5 us on the client CPU; ns per op. */
static void solo_measure(void (*op)(void *), void *arg, double *med, double *p99)
{
	struct samples s = {0};
	int64_t t0, t1, end;
	int i, batch, n = 0;

	bench_pin(0);
	t0 = bench_now();
	end = t0 + cfg.warm_ns;
	do {
		op(arg);
		n++;
		t1 = bench_now();
	} while (t1 < end || n < 16);
	batch = (int)(5000.0 / ((double)(t1 - t0) / n)) + 1;
	if (batch > 4096)
		batch = 4096;
	end = bench_now() + cfg.dur_ns;
	do {
		t0 = bench_now();
		for (i = 0; i < batch; i++)
			op(arg);
		t1 = bench_now();
		if (samples_add(&s, (double)(t1 - t0) / batch))
			bench_die("out of memory");
	} while (t1 < end);
	*med = samples_quantile(&s, 0.5);
	*p99 = samples_quantile(&s, 0.99);
	samples_free(&s);
}

struct copy_arg {
	uint8_t *dst, *src;
	size_t n;
};

static void op_memcpy(void *a)
{
	struct copy_arg *c = a;

	memcpy(c->dst, c->src, c->n);
	__asm__ __volatile__("" ::: "memory"); /* the copy must happen every time */
}

static void op_syscall(void *a)
{
	syscall(SYS_getppid);
}

/* Throughput in bytes/s from ns per message; the "p99" is the slow tail. */
static struct record *tput_rec(const char *name, const char *mode, size_t size, int ch,
                               double med_ns, double p99_ns)
{
	return rec_add(name, mode, size, ch, (double)size * 1e9 / med_ns,
	               (double)size * 1e9 / p99_ns, "B/s");
}

void ref_memcpy(size_t size, double *med, double *p99)
{
	struct copy_arg c = {bench_alloc(size), bench_alloc(size), size};

	solo_measure(op_memcpy, &c, med, p99);
	munmap(c.dst, size);
	munmap(c.src, size);
}

static void refs_memcpy(size_t size)
{
	double med, p99;

	if (rec_find("memcpy throughput", "ref", size))
		return;
	ref_memcpy(size, &med, &p99);
	tput_rec("memcpy throughput", "ref", size, 1, med, p99);
}

static void rtt_rec(const char *name, size_t size, struct pp_result *r, int rc)
{
	if (rc)
		fprintf(stderr, "kupbench: %s size %zu failed\n", name, size);
	else
		rec_add(name, "ref", size, 1, r->median, r->p99, "ns");
}

static int in_tput_sizes(size_t s)
{
	size_t i;

	for (i = 0; i < tput_nsizes; i++)
		if (tput_sizes[i] == s)
			return 1;
	return 0;
}

/* After every part ran: relate the references to the limit they sit above. */
void refs_link(void)
{
	size_t i;

	for (i = 0; i < rec_count(); i++) {
		struct record *x = rec_at(i);
		const struct record *ref = NULL;

		if (strcmp(x->mode, "ref") || x->reference[0])
			continue;
		if (strstr(x->name, "rtt") && strcmp(x->name, "cacheline rtt")) {
			ref = rec_find("cacheline rtt", "ref", x->size);
			if (!ref)
				ref = rec_find("cacheline rtt", "ref", 0);
		} else if (!strcmp(x->name, "unix throughput")) {
			ref = rec_find("memcpy throughput", "ref", x->size);
		}
		if (ref)
			rec_ref(x, ref);
	}
}

void refs_run(void)
{
	struct pp_result r;
	double med, p99;
	size_t i, s;

	/* The limit first: a bare turn with no payload, then with payloads.
	 * When KUP's round trips run, they measure these two themselves, in
	 * rounds interleaved with KUP's (see kup.c), so drift cancels. */
	if (!cfg.paired_rtt) {
		rtt_rec("cacheline rtt", 0, &r, ref_word(0, 0, &r));
		rtt_rec("futex rtt", 0, &r, ref_word(1, 0, &r));
	}
	rtt_rec("eventfd rtt", 8, &r, fd_measure(FD_EVENTFD, 8, 0, &r));
	rtt_rec("pipe rtt", 1, &r, fd_measure(FD_PIPE, 1, 0, &r));
	rtt_rec("unix rtt", 1, &r, fd_measure(FD_UNIX, 1, 0, &r));
	solo_measure(op_syscall, NULL, &med, &p99);
	rec_add("null syscall", "ref", 0, 1, med, p99, "ns");
	ref_wake();
	for (i = 0; i < bench_nsizes; i++) {
		s = bench_sizes[i];
		if (!cfg.paired_rtt && s > 8) {
			rtt_rec("cacheline rtt", s, &r, ref_word(0, s, &r));
			rtt_rec("futex rtt", s, &r, ref_word(1, s, &r));
		}
		rtt_rec("unix rtt", s, &r, fd_measure(FD_UNIX, s, 0, &r));
		if (!cfg.paired_tput || !in_tput_sizes(s))
			refs_memcpy(s);
	}
	for (i = 0; i < tput_nsizes; i++) {
		s = tput_sizes[i];
		if (!cfg.paired_tput)
			refs_memcpy(s);
		if (!fd_measure(FD_UNIX, s, 1, &r))
			tput_rec("unix throughput", "ref", s, 1, r.median, r.p99);
	}
}
