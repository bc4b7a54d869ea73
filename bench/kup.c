/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup.c - KUP's own figures: the kernel side is a kupdev_* provider in
 * this process (server threads on CPU B), the user side uses kernproxy_*
 * (client threads on CPU A), exactly as the references are pinned.
 *
 * Modes: poll (spin forever, KP_POLL/KUP_POLL), block (spin 0: sleep at
 * once) and adaptive (the default spin, then sleep).
 *
 * With --remote NAME the kernel side is an echo service that is already
 * running (kup_echo.ko in the VM of `make bench-vm`): only round trips, the
 * mode set on the user side only.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "kup.h"
#include "kupdev.h"

#define MAXCH  4

enum mode { M_POLL, M_BLOCK, M_ADAPT };
static const char *const mode_name[] = {"poll", "block", "adaptive"};

enum kind {
	K_ECHO,  /* user sends size bytes, kern answers with the same bytes */
	K_K2U,   /* kern streams size-byte messages, user passes back at once */
	K_U2K,   /* user streams, kern passes back at once */
	K_SENDC, /* echo of 8 bytes; the client times only its own send */
};

struct kctx {
	/* Read-only once set up. */
	struct kupdev_softc *sc;
	void *ch; /* client's channel handle */
	int id;   /* channel id */
	size_t size;
	enum kind kind;
	int zc;      /* zero-copy send (send_buf + commit) */
	int fused;   /* K_ECHO by send_recv: one call a side per round trip */
	int read;    /* the client reads every byte of every reply */
	int started; /* the server handed the first turn over (serve resumes) */
	int uflags, kflags;
	int64_t delay_ns; /* K_SENDC: let the peer fall asleep before sending */
	uint8_t *src;     /* client's message */
	uint8_t *ksrc;    /* server's message */
	/* Client-written. */
	struct samples sendc __attribute__((aligned(128)));
	struct kernproxy_stats ust;
	uint64_t sink; /* what the client read */
	int turn;      /* fused: the client holds the turn (it waited for the first one) */
	uint8_t fill;
	/* Server-written. */
	struct kupdev_stats kst __attribute__((aligned(128)));
	uint8_t kfill;
	int kerr;
};

static const char *devname_next(void)
{
	static char name[64];
	static int n;

	snprintf(name, sizeof(name), "kupbench-%d-%d", (int)getpid(), n++);
	return name;
}

/* --- client side (user, kernproxy_*) -------------------------------------- */

static int c_fail(const char *what)
{
	fprintf(stderr, "kupbench: %s: %s\n", what, kernproxy_strerror(kernproxy_errno));
	return -1;
}

static int c_send(struct kctx *c)
{
	size_t cap;
	void *buf;

	if (!c->zc)
		return kernproxy_send(c->ch, c->src, c->size, c->uflags) ? c_fail("send") : 0;
	buf = kernproxy_send_buf(c->ch, &cap, c->uflags);
	if (!buf || cap < c->size)
		return c_fail("send_buf");
	/* Zero-copy: the message is produced in place, every byte written once. */
	memset(buf, ++c->fill, c->size);
	return kernproxy_send_commit(c->ch, c->size) ? c_fail("send_commit") : 0;
}

static int c_recv(struct kctx *c, size_t want)
{
	const void *data;
	size_t len;

	data = kernproxy_receive_len(c->ch, &len, c->uflags);
	if (!data)
		return c_fail("receive");
	if (c->read) /* the reply's lines come over to the client, as they would in use */
		c->sink += bench_read(data, len);
	if (want != SIZE_MAX && len != want) {
		fprintf(stderr, "kupbench: received %zu bytes, expected %zu\n", len, want);
		return -1;
	}
	return 0;
}

/* The echo in one call; the first one waits for the server's opening pass. */
static int c_send_recv(struct kctx *c)
{
	const void *data;
	size_t len;

	if (!c->turn) {
		if (c_recv(c, SIZE_MAX))
			return -1;
		c->turn = 1;
	}
	data = kernproxy_send_recv(c->ch, c->src, c->size, &len, c->uflags);
	if (!data)
		return c_fail("send_recv");
	if (c->read)
		c->sink += bench_read(data, len);
	return len == c->size ? 0 : -1;
}

/* End of a run: tell the server with an empty message / 'q', take its last pass. */
static int c_stop(struct kctx *c)
{
	kernproxy_stats(c->ch, &c->ust);
	if (c->kind == K_ECHO || c->kind == K_SENDC) {
		if (kernproxy_pass(c->ch, c->uflags))
			return c_fail("pass");
	} else if (kernproxy_send(c->ch, "q", 1, c->uflags)) {
		return c_fail("send stop");
	}
	return c_recv(c, SIZE_MAX);
}

static int k_rt(void *arg, int stop)
{
	struct kctx *c = arg;
	int64_t t0, t1;

	if (stop) {
		if (c->kind == K_K2U && c_recv(c, c->size))
			return -1;
		if (c->kind == K_SENDC && c_recv(c, SIZE_MAX))
			return -1;
		return c_stop(c);
	}
	switch (c->kind) {
	case K_ECHO:
		if (c->fused)
			return c_send_recv(c);
		return c_send(c) || c_recv(c, c->size) ? -1 : 0;
	case K_K2U:
		if (c_recv(c, c->size))
			return -1;
		return kernproxy_pass(c->ch, c->uflags) ? c_fail("pass") : 0;
	case K_U2K:
		return c_send(c); /* the next send waits for the kern's pass */
	case K_SENDC:
		/* Our turn first (the reply to the previous send), then time one send. */
		if (c_recv(c, SIZE_MAX))
			return -1;
		if (c->delay_ns)
			bench_spin_ns(c->delay_ns);
		t0 = bench_now();
		if (kernproxy_send(c->ch, c->src, c->size, c->uflags))
			return c_fail("send");
		t1 = bench_now();
		return samples_add(&c->sendc, (double)(t1 - t0));
	}
	return -1;
}

/* --- server side (kern, kupdev_*) ----------------------------------------- */

static int s_fail(struct kctx *c, const char *what, int r)
{
	c->kerr = -r;
	fprintf(stderr, "kupbench: kupdev %s on channel %d: %s\n", what, c->id, kup_strerror(-r));
	return -1;
}

static int s_send(struct kctx *c, const void *data, size_t len)
{
	size_t cap;
	void *buf;
	int r;

	if (!c->zc) {
		r = kupdev_send_timed(c->sc, c->id, data, len, c->kflags, TMO_NS);
		return r < 0 ? s_fail(c, "send", r) : 0;
	}
	r = kupdev_send_buf(c->sc, c->id, &buf, &cap, c->kflags, TMO_NS);
	if (r < 0)
		return s_fail(c, "send_buf", r);
	memset(buf, ++c->kfill, len);
	r = kupdev_send_commit(c->sc, c->id, len);
	return r < 0 ? s_fail(c, "send_commit", r) : 0;
}

static int s_pass(struct kctx *c)
{
	int r = kupdev_pass_timed(c->sc, c->id, c->kflags, TMO_NS);

	return r < 0 ? s_fail(c, "pass", r) : 0;
}

static int k_serve(void *arg)
{
	struct kctx *c = arg;
	const void *sd;
	void *d;
	size_t len;
	int r;

	/* A new channel starts with the kern's turn: hand it over unless kern streams.
	 * A server called again (pp_interleave's next block) already did. */
	if (c->kind != K_K2U && !c->started && s_pass(c))
		return -1;
	c->started = 1;
	for (;;) {
		if (c->kind == K_ECHO || c->kind == K_SENDC) {
			/* The seed's pattern: a stable private copy, answered from it. */
			r = kupdev_recv(c->sc, c->id, &d, &len, c->kflags, TMO_NS);
			if (r < 0)
				return s_fail(c, "recv", r);
			/* Fused: each answer and the wait for the next message in one call. */
			while (c->fused && len != 0) {
				r = kupdev_send_recv(c->sc, c->id, d, len, &d, &len, c->kflags,
				                     TMO_NS);
				if (r < 0)
					return s_fail(c, "send_recv", r);
			}
			if (len == 0)
				break;
			if (s_send(c, d, len))
				return -1;
			continue;
		}
		/* Streams: look at the shared bytes only for the stop mark. */
		r = kupdev_recv_shared_untrusted(c->sc, c->id, &sd, &len, c->kflags, TMO_NS);
		if (r < 0)
			return s_fail(c, "recv_shared", r);
		if (len == 1 && *(const volatile uint8_t *)sd == 'q')
			break;
		if (c->kind == K_K2U ? s_send(c, c->ksrc, c->size) : s_pass(c))
			return -1;
	}
	kupdev_stats(c->sc, c->id, &c->kst);
	return s_pass(c);
}

static const struct pp_ops kup_ops = {.rt = k_rt, .serve = k_serve};

/* --- remote: an echo service elsewhere (kup_echo.ko in the VM) ------------ */

struct rctx {
	enum mode m;
	size_t size;
	void *h, *ch;
	uint8_t *src;
	int uflags;
	uint64_t sink;
};

/* Attach (retrying while the service notices the previous detach), take the greeting. */
static int r_setup(void *arg)
{
	struct rctx *c = arg;
	size_t len;
	int i;

	for (i = 0; i < 200; i++) {
		c->h = kernproxy_open(cfg.remote);
		/* A channel frees when the service notices the last run's detach: wait, bounded. */
		if (c->h)
			kernproxy_set_timeout(c->h, 2000000000LL);
		c->ch = c->h ? kernproxy_channel(c->h, 0, 1) : NULL;
		if (c->ch)
			break;
		if (c->h)
			kernproxy_close(c->h);
		c->h = NULL;
		if (kernproxy_errno != EKU_BUSY && kernproxy_errno != EKU_NOTREADY)
			break;
		usleep(10000);
	}
	if (!c->ch)
		return c_fail(cfg.remote);
	if (c->m != M_ADAPT)
		kernproxy_set_spin(c->ch, c->m == M_POLL ? KP_FOREVER : 0);
	kernproxy_set_timeout(c->ch, TMO_NS);
	c->uflags = c->m == M_POLL ? KP_POLL : 0;
	if (!kernproxy_receive_len(c->ch, &len, c->uflags)) /* the greeting */
		return c_fail("greeting");
	return 0;
}

static int r_rt(void *arg, int stop)
{
	struct rctx *c = arg;
	const void *data;
	size_t len;

	if (kernproxy_send(c->ch, c->src, c->size, c->uflags))
		return c_fail("send");
	data = kernproxy_receive_len(c->ch, &len, c->uflags);
	if (!data)
		return c_fail("receive");
	c->sink += bench_read(data, len); /* read every reply, as the local client does */
	return len == c->size ? 0 : -1;
}

static void r_done(void *arg)
{
	struct rctx *c = arg;

	if (c->h)
		kernproxy_close(c->h);
	c->h = c->ch = NULL;
}

static const struct pp_ops remote_ops = {
    .rt = r_rt, .client_setup = r_setup, .client_done = r_done};

/* --- one measurement: device, attach, run, detach ------------------------- */

struct kdev {
	struct kupdev_softc *sc;
	void *h;
	int n;
	int attached;
};

static void *waiter(void *arg)
{
	struct kdev *d = arg;
	int i, r;

	for (i = 0; i < d->n; i++) {
		r = kupdev_wait_channel_timed(d->sc, 0, TMO_NS);
		if (r < 0) {
			fprintf(stderr, "kupbench: wait_channel: %s\n", kup_strerror(-r));
			break;
		}
		d->attached++;
	}
	return NULL;
}

/* Create a device of n channels for size-byte messages, attach them all. */
static int kdev_open(struct kdev *d, struct kctx *c, int n, size_t size, enum mode m)
{
	size_t pages = (size + KUP_PAGE - 1) / KUP_PAGE;
	const char *name = devname_next();
	pthread_t th;
	int i;

	memset(d, 0, sizeof(*d));
	d->n = n;
	if (!pages)
		pages = 1;
	d->sc = kupdev_create(name, pages, (size_t)n);
	if (!d->sc) {
		fprintf(stderr, "kupbench: kupdev_create %s: %s\n", name,
		        kup_strerror(kupdev_last_error(NULL, -1)));
		return -1;
	}
	if (m != M_ADAPT) /* adaptive keeps the default spin */
		kupdev_set_spin(d->sc, m == M_POLL ? KUP_FOREVER : 0);
	if (pthread_create(&th, NULL, waiter, d))
		bench_die("pthread_create");
	d->h = kernproxy_open(name);
	for (i = 0; d->h && i < n; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].sc = d->sc;
		c[i].id = i;
		c[i].size = size;
		c[i].uflags = m == M_POLL ? KP_POLL : 0;
		c[i].kflags = m == M_POLL ? KUP_POLL : 0;
		c[i].ch = kernproxy_channel(d->h, (size_t)i, pages);
		if (!c[i].ch)
			break;
		if (m != M_ADAPT)
			kernproxy_set_spin(c[i].ch, m == M_POLL ? KP_FOREVER : 0);
		kernproxy_set_timeout(c[i].ch, TMO_NS);
		c[i].src = bench_alloc(size ? size : 1);
		c[i].ksrc = bench_alloc(size ? size : 1);
	}
	if (i < n)
		c_fail(d->h ? "kernproxy_channel" : "kernproxy_open");
	if (i < n && d->sc) {
		kupdev_unload(d->sc); /* ends the waiter */
		d->sc = NULL;
	}
	pthread_join(th, NULL);
	if (i < n || d->attached < n) {
		int j;

		for (j = 0; j < i && j < n; j++) {
			munmap(c[j].src, size ? size : 1);
			munmap(c[j].ksrc, size ? size : 1);
		}
		if (d->h)
			kernproxy_close(d->h);
		if (d->sc)
			kupdev_unload(d->sc);
		return -1;
	}
	return 0;
}

static void kdev_close(struct kdev *d, struct kctx *c)
{
	int i;

	for (i = 0; i < d->n; i++) {
		munmap(c[i].src, c[i].size ? c[i].size : 1);
		munmap(c[i].ksrc, c[i].size ? c[i].size : 1);
		samples_free(&c[i].sendc);
	}
	kernproxy_close(d->h);
	kupdev_unload(d->sc);
}

/* Run n pairs of `kind`; results in res[], contexts left in c[] (stats). */
static int kup_measure(enum kind kind, enum mode m, size_t size, int n, int zc, struct kctx *c,
                       struct pp_result *res, struct kdev *d)
{
	void *ctx[MAXCH];
	int i, rc;

	if (kdev_open(d, c, n, size, m))
		return -1;
	for (i = 0; i < n; i++) {
		c[i].kind = kind;
		c[i].zc = zc;
		memset(c[i].src, 0x11, size ? size : 1);
		memset(c[i].ksrc, 0x22, size ? size : 1);
		ctx[i] = &c[i];
	}
	rc = pp_run(&kup_ops, ctx, n, res);
	if (rc) {
		fprintf(stderr, "kupbench: KUP %s %s size %zu x%d failed\n",
		        kind == K_ECHO ? "rtt" : "stream", mode_name[m], size, n);
		kdev_close(d, c); /* on failure nothing is left open */
	}
	return rc;
}

/* --- the figures ---------------------------------------------------------- */

/*
 * Paired measurement: the machine is shared and its speed drifts (other
 * work, vCPU preemption), so a reference and the KUP figure it divides are
 * measured in alternating rounds, and each ratio is the median of the
 * per-round ratios.  A record's median and p99 are the medians over rounds.
 * Throughput uses these few long rounds (a device per measurement); round
 * trips use pp_interleave's many short ones (rtt_all).
 */
#define MAXROUNDS 8

struct acc {
	double med[MAXROUNDS], p99[MAXROUNDS]; /* 0: the round failed */
};

static void acc_put(struct acc *a, int round, int ok, double med, double p99)
{
	a->med[round] = ok ? med : 0;
	a->p99[round] = ok ? p99 : 0;
}

/* Throughput from ns per message: bytes/s; the p99 is the slow tail. */
static void acc_tput(struct acc *a, int round, int rc, const struct pp_result *r, size_t size)
{
	acc_put(a, round, !rc && r->ok && r->median > 0 && r->p99 > 0,
	        (double)size * 1e9 / r->median, (double)size * 1e9 / r->p99);
}

static struct record *acc_rec(const char *name, const char *mode, size_t size, const char *unit,
                              const struct acc *a)
{
	struct samples m = {0}, p = {0};
	struct record *x = NULL;
	int i;

	for (i = 0; i < cfg.rounds; i++)
		if (a->med[i] > 0 && (samples_add(&m, a->med[i]) || samples_add(&p, a->p99[i])))
			bench_die("out of memory");
	if (m.n)
		x = rec_add(name, mode, size, 1, samples_quantile(&m, 0.5),
		            samples_quantile(&p, 0.5), unit);
	samples_free(&m);
	samples_free(&p);
	return x;
}

/* x's reference is ref; its ratio the median of the per-round ratios a/b. */
static void acc_ratio(struct record *x, const struct record *ref, const struct acc *a,
                      const struct acc *b)
{
	struct samples q = {0};
	int i;

	if (!x || !ref)
		return;
	rec_ref(x, ref);
	for (i = 0; i < cfg.rounds; i++)
		if (a->med[i] > 0 && b->med[i] > 0 && samples_add(&q, a->med[i] / b->med[i]))
			bench_die("out of memory");
	if (q.n) {
		x->ratio = samples_quantile(&q, 0.5);
		x->ratio_min = samples_quantile(&q, 0);
		x->ratio_p25 = samples_quantile(&q, 0.25);
		x->ratio_p75 = samples_quantile(&q, 0.75);
		x->ratio_max = samples_quantile(&q, 1);
		x->rounds = (int)q.n;
	}
	samples_free(&q);
}

/* Syscalls per message: every sleep and every wake-up is one system call. */
static void syscalls_rec(enum mode m, size_t s, const struct kctx *c)
{
	double msgs = (double)(c->ust.sent + c->kst.sent);
	double sys = (double)(c->ust.sleeps + c->ust.wakeups + c->kst.sleeps + c->kst.wakeups);
	struct record *y = rec_add("kup syscalls per msg", mode_name[m], s, 1,
	                           msgs ? sys / msgs : 0, msgs ? sys / msgs : 0, "syscalls/msg");

	snprintf(y->reference, sizeof(y->reference), "messages");
	y->ref_value = 1;
	y->ratio = y->median;
	y->has_ratio = 1;
	if (m == M_ADAPT)
		rec_target(y, 0.01, 0);
	y->note = m == M_ADAPT ? "sleeps+wakeups, both sides, adaptive, all rounds"
	                       : "sleeps+wakeups, both sides, spin 0, all rounds";
}

static int mode_on(enum mode m)
{
	return !cfg.modes || bench_in_list(cfg.modes, mode_name[m]);
}

/* --- round trips: each KUP variant interleaved with its reference --------- */

/* What a variant of a round-trip group runs. */
enum rtt_kind {
	V_KUP,    /* KUP: its own device (or the remote service) */
	V_CORE,   /* the protocol alone (core.c) */
	V_LOCKED, /* the bare turn with a kern-side host's per-call lock (refs.c) */
	V_ROTURN, /* the bare turn, the client reading through a read-only mapping (refs.c) */
};

/* A variant of an interleaved group. */
struct rtt_op {
	struct kdev d;
	struct kctx c;
	struct rctx r;
	void *own; /* every kind but V_KUP: its context */
	enum rtt_kind kind;
};

static int rtt_op_open(struct rtt_op *o, enum mode m, size_t s, int read, int fused,
                       enum rtt_kind kind)
{
	memset(o, 0, sizeof(*o));
	o->kind = kind;
	if (kind != V_KUP) {
		o->own = kind == V_CORE     ? core_rt_new(m == M_POLL, m == M_BLOCK, s)
		         : kind == V_LOCKED ? ref_locked_new(0)
		                            : ref_roturn_new(0);
		return o->own ? 0 : -1;
	}
	if (cfg.remote) {
		o->r.m = m;
		o->r.size = s;
		o->r.src = bench_alloc(s);
		memset(o->r.src, 'E', s);
		return 0;
	}
	if (kdev_open(&o->d, &o->c, 1, s, m))
		return -1;
	o->c.kind = K_ECHO;
	o->c.read = read;
	o->c.fused = fused;
	memset(o->c.src, 0x11, s ? s : 1);
	return 0;
}

static const struct pp_ops *rtt_op_ops(const struct rtt_op *o)
{
	if (o->kind != V_KUP)
		return o->kind == V_CORE ? &core_rt_ops : &ref_word_ops;
	return cfg.remote ? &remote_ops : &kup_ops;
}

static void *rtt_op_ctx(struct rtt_op *o)
{
	if (o->kind != V_KUP)
		return o->own;
	return cfg.remote ? (void *)&o->r : (void *)&o->c;
}

static void rtt_op_close(struct rtt_op *o)
{
	if (o->kind == V_CORE)
		core_rt_free(o->own);
	else if (o->kind != V_KUP)
		ref_word_free(o->own);
	else if (cfg.remote)
		munmap(o->r.src, o->r.size);
	else
		kdev_close(&o->d, &o->c);
}

static double *rounds_alloc(size_t n)
{
	double *v = calloc(n ? n : 1, sizeof(*v));

	if (!v)
		bench_die("out of memory");
	return v;
}

/*
 * A round in which one of the two threads lost its CPU for most of a block
 * (the machine is shared; a spinning pair needs both CPUs at once) has a
 * median of milliseconds: thousands of times the op's best round, where
 * speed phases differ by < 10x.  Such rounds say nothing about KUP or the
 * reference; they are counted (rounds_preempted) and left out.  Only for
 * spinning groups (poll, adaptive): a futex turn that happens not to sleep
 * is rightly 50x faster than one that does.
 */
#define PREEMPTED 50.0

static double best_round(const double *v)
{
	double b = 0;
	int k;

	for (k = 0; v && k < cfg.il_rounds; k++)
		if (v[k] > 0 && (b == 0 || v[k] < b))
			b = v[k];
	return b;
}

static int preempted(const double *v, int k, double best)
{
	return v[k] > PREEMPTED * best;
}

/*
 * A reference from the rounds of one or two groups (v: per-round medians, 0
 * failed); spin: leave preempted rounds out.
 */
static struct record *ref_rounds(const char *name, size_t size, int spin, const double *v1,
                                 const double *p1, const double *v2, const double *p2)
{
	const double *v[2] = {v1, v2}, *p[2] = {p1, p2};
	struct samples m = {0}, q = {0};
	double *keep = rounds_alloc(2 * (size_t)cfg.il_rounds);
	struct record *x = NULL;
	int g, k, n = 0, lost = 0;

	for (g = 0; g < 2; g++)
		for (k = 0; v[g] && k < cfg.il_rounds; k++)
			if (v[g][k] > 0 && spin && preempted(v[g], k, best_round(v[g]))) {
				lost++;
			} else if (v[g][k] > 0) {
				if (samples_add(&m, v[g][k]) || samples_add(&q, p[g][k]))
					bench_die("out of memory");
				keep[n++] = v[g][k];
			}
	if (n) {
		x = rec_add(name, "ref", size, 1, samples_quantile(&m, 0.5),
		            samples_quantile(&q, 0.5), "ns");
		x->rounds = n;
		x->rounds_preempted = lost;
		x->round_val = keep;
		x->note = "interleaved with KUP's round trips; median and p99: medians over rounds";
	} else {
		free(keep);
	}
	samples_free(&m);
	samples_free(&q);
	return x;
}

/*
 * A KUP figure from its group: v and p its per-round medians and p99s, rv
 * its reference's medians in the same rounds.  ratio = the median of the
 * per-round ratios v / rv, ref_value = the reference's median over those
 * rounds.  diff: the figure is v - rv (what KUP adds, in ns); spin: leave
 * preempted rounds out.
 */
static struct record *paired_rec(const char *name, const char *mode, size_t size, int spin,
                                 const struct record *ref, const double *rv, const double *v,
                                 const double *p, int diff)
{
	struct samples mv = {0}, mp = {0}, mr = {0}, q = {0};
	double *kv = rounds_alloc((size_t)cfg.il_rounds), *kr = rounds_alloc((size_t)cfg.il_rounds);
	struct record *x = NULL;
	double bv = best_round(v), br = best_round(rv);
	int k, n = 0, lost = 0, all = !spin;

again:
	for (k = 0; ref && k < cfg.il_rounds; k++) {
		double y = diff ? v[k] - rv[k] : v[k];

		if (!(rv[k] > 0 && v[k] > 0))
			continue;
		if (!all && (preempted(v, k, bv) || preempted(rv, k, br))) {
			lost++;
			continue;
		}
		if (samples_add(&mv, y) || samples_add(&mp, diff ? y : p[k]) ||
		    samples_add(&mr, rv[k]) || samples_add(&q, y / rv[k]))
			bench_die("out of memory");
		kv[n] = y;
		kr[n++] = rv[k];
	}
	if (!n && lost && !all) { /* no round was clean: better all of them than no figure */
		all = 1;
		goto again;
	}
	if (n) {
		x = rec_add(name, mode, size, 1, samples_quantile(&mv, 0.5),
		            samples_quantile(&mp, 0.5), "ns");
		rec_ref(x, ref);
		x->ref_value = samples_quantile(&mr, 0.5);
		x->ratio = samples_quantile(&q, 0.5);
		x->ratio_min = samples_quantile(&q, 0);
		x->ratio_p25 = samples_quantile(&q, 0.25);
		x->ratio_p75 = samples_quantile(&q, 0.75);
		x->ratio_max = samples_quantile(&q, 1);
		x->rounds = n;
		x->rounds_preempted = all ? 0 : lost;
		x->round_val = kv;
		x->round_ref = kr;
		if (all && spin)
			x->note = "no round without a preempted thread: every round counted";
	} else {
		free(kv);
		free(kr);
	}
	samples_free(&mv);
	samples_free(&mp);
	samples_free(&mr);
	samples_free(&q);
	return x;
}

/*
 * The KUP variants of a round-trip group (after the reference): the client
 * that reads every reply; at 8 B in poll and adaptive also the old client
 * that never reads it; at 8 B the echo by send_recv, one call a side.
 */
struct rtt_var {
	const char *name;
	int read, fused;
	enum rtt_kind kind;
};

#define RTT_VARS 6

/* KUP's variants first ("kup rtt" at 0), the breakdown of the 8-byte ratio last. */
static int rtt_vars(enum mode m, size_t s, struct rtt_var *v)
{
	int n = 0;

	v[n++] = (struct rtt_var){"kup rtt", 1, 0, V_KUP};
	if (s != 8 || cfg.remote)
		return n;
	if (m != M_BLOCK)
		v[n++] = (struct rtt_var){"kup rtt unread", 0, 0, V_KUP};
	v[n++] = (struct rtt_var){"kup rtt send_recv", 1, 1, V_KUP};
	v[n++] = (struct rtt_var){"core rtt", 1, 0, V_CORE};
	if (m != M_BLOCK) {
		v[n++] = (struct rtt_var){"locked turn", 1, 0, V_LOCKED};
		v[n++] = (struct rtt_var){"read-only turn", 1, 0, V_ROTURN};
	}
	return n;
}

/*
 * Round trips.  Per size and mode one group on one pinned pair of threads:
 * the reference (the bare turn or futex turn, or the same turn carrying the
 * same copies from 64 B) and the KUP variants of rtt_vars; they take turns
 * in short blocks (pp_interleave), so every ratio comes from samples of the
 * same round.
 */
static void rtt_all(void)
{
	static const double target[] = {1.3, 1.1, 1.4};
	int R = cfg.il_rounds;
	size_t i;
	int m, j;

	for (i = 0; i < bench_nsizes; i++) {
		size_t s = bench_sizes[i];
		size_t rs = s <= 8 ? 0 : s; /* 8 B is judged against the bare turn */
		double *med[3] = {0}, *p99[3] = {0};
		int nops[3] = {0};
		struct record *ref[2], *x;

		for (m = M_POLL; m <= M_ADAPT; m++) {
			struct rtt_var v[RTT_VARS];
			int nv = rtt_vars((enum mode)m, s, v);
			struct rtt_op o[RTT_VARS];
			const struct pp_ops *ops[1 + RTT_VARS] = {&ref_word_ops};
			void *ctx[1 + RTT_VARS];
			int n = 1;

			if (!mode_on((enum mode)m))
				continue;
			ctx[0] = ref_word_new(m == M_BLOCK, rs);
			for (j = 0; j < nv; j++, n++) {
				if (rtt_op_open(&o[j], (enum mode)m, s, v[j].read, v[j].fused, v[j].kind))
					break;
				ops[n] = rtt_op_ops(&o[j]);
				ctx[n] = rtt_op_ctx(&o[j]);
			}
			if (n == 1 + nv) {
				med[m] = rounds_alloc((size_t)(n * R));
				p99[m] = rounds_alloc((size_t)(n * R));
				if (pp_interleave(ops, ctx, n, R, cfg.block_ns, med[m], p99[m]))
					fprintf(stderr, "kupbench: KUP rtt %s size %zu failed\n",
					        mode_name[m], s);
				else
					nops[m] = n;
				if (nops[m] && s == 8 && m != M_POLL && !cfg.remote)
					syscalls_rec((enum mode)m, s, &o[0].c);
			}
			for (j = 0; j < n - 1; j++)
				rtt_op_close(&o[j]);
			ref_word_free(ctx[0]);
		}
		ref[0] = ref_rounds("cacheline rtt", rs, 1, nops[M_POLL] ? med[M_POLL] : NULL,
		                    p99[M_POLL], nops[M_ADAPT] ? med[M_ADAPT] : NULL, p99[M_ADAPT]);
		ref[1] = ref_rounds("futex rtt", rs, 0, nops[M_BLOCK] ? med[M_BLOCK] : NULL,
		                    p99[M_BLOCK], NULL, NULL);
		for (m = M_POLL; m <= M_ADAPT; m++) {
			const struct record *r = ref[m == M_BLOCK];
			struct rtt_var v[RTT_VARS];
			int nv = rtt_vars((enum mode)m, s, v);

			if (!nops[m])
				continue;
			for (j = 0; j < nv; j++) {
				x = paired_rec(v[j].name, mode_name[m], s, m != M_BLOCK, r, med[m],
				               med[m] + (j + 1) * R, p99[m] + (j + 1) * R, 0);
				if (x && cfg.remote)
					x->note = "remote echo service; user-side mode only";
				if (x && s == 8 && v[j].read && v[j].kind == V_KUP)
					rec_target(x, target[m], 0);
				if (x && !x->note && !v[j].read)
					x->note = "the old client: never reads the reply (one line "
					          "never moves)";
				if (x && !x->note && v[j].fused)
					x->note = "kupdev_send_recv + kernproxy_send_recv: one call a "
					          "side per round trip";
				if (x && !x->note && v[j].kind == V_CORE)
					x->note = "the protocol alone: two core ends, no API, host or "
					          "checks above them (bench/core.c)";
				if (x && !x->note && v[j].kind == V_LOCKED)
					x->note = "the bare turn, the server taking and dropping an "
					          "uncontended lock per step as a kern-side host does";
				if (x && !x->note && v[j].kind == V_ROTURN)
					x->note = "the bare turn, the client reading the server's line "
					          "through a read-only mapping, as a process reads the "
					          "kern block";
			}
			if (s == 8 && m != M_BLOCK) {
				/* What KUP adds to the bare turn, in ns: the ratio's numerator. */
				x = paired_rec("kup turn overhead", mode_name[m], s, 1, r, med[m],
				               med[m] + R, NULL, 1);
				if (x && !x->note)
					x->note = "kup rtt minus cacheline rtt, median over rounds";
				/* And what the protocol alone adds: the rest is API and host. */
				for (j = 0; j < nv && v[j].kind != V_CORE; j++)
					;
				x = j < nv ? paired_rec("core turn overhead", mode_name[m], s, 1, r,
				                        med[m], med[m] + (j + 1) * R, NULL, 1)
				           : NULL;
				if (x && !x->note)
					x->note = "core rtt minus cacheline rtt, median over rounds";
			}
		}
		for (m = M_POLL; m <= M_ADAPT; m++) {
			free(med[m]);
			free(p99[m]);
		}
	}
}

static void multi_all(void)
{
	static const int ns[] = {2, 4};
	struct kctx c[MAXCH];
	struct pp_result r[MAXCH];
	struct kdev d;
	size_t k;
	int m, i;

	for (m = M_POLL; m <= M_ADAPT; m++) {
		const struct record *one = rec_find("kup rtt", mode_name[m], 8);

		for (k = 0; k < sizeof(ns) / sizeof(ns[0]) && mode_on((enum mode)m); k++) {
			int n = ns[k];
			double rate = 0;
			struct samples med = {0}, p99 = {0};
			struct record *x;

			/* Spinners beyond the CPU count only fight for it: one case shows it. */
			if (m == M_POLL && n > cfg.ncpu)
				continue;
			if (kup_measure(K_ECHO, (enum mode)m, 8, n, 0, c, r, &d))
				continue;
			for (i = 0; i < n; i++) {
				rate += r[i].mean > 0 ? 1e9 / r[i].mean : 0;
				samples_add(&med, r[i].median);
				samples_add(&p99, r[i].p99);
			}
			x = rec_add("kup rtt", mode_name[m], 8, n, samples_quantile(&med, 0.5),
			            samples_quantile(&p99, 1.0), "ns");
			x->note = "median of the channels' medians, worst p99";
			if (one)
				rec_ref(x, one);
			x = rec_add("kup aggregate rate", mode_name[m], 8, n, rate, rate, "rt/s");
			if (one && one->median > 0) {
				snprintf(x->reference, sizeof(x->reference), "1 channel");
				x->ref_value = 1e9 / one->median;
				x->ratio = rate / x->ref_value;
				x->has_ratio = 1;
			}
			samples_free(&med);
			samples_free(&p99);
			kdev_close(&d, c);
		}
	}
}

static int kup_tput1(enum kind kind, size_t s, int zc, struct pp_result *r, struct kctx *c)
{
	struct kdev d;
	int rc = kup_measure(kind, M_ADAPT, s, 1, zc, c, r, &d);

	if (!rc)
		kdev_close(&d, c);
	return rc;
}

static void tput_all(void)
{
	static const char *const dname[] = {"kup throughput k2u", "kup throughput u2k"};
	int64_t dur = cfg.dur_ns, warm = cfg.warm_ns;
	struct kctx c[MAXCH];
	struct pp_result r[MAXCH];
	size_t i;
	int dir, zc, k;

	cfg.dur_ns = dur / cfg.rounds;
	cfg.warm_ns = warm < 30000000 ? warm : 30000000; /* per round */
	for (i = 0; i < tput_nsizes; i++) {
		size_t s = tput_sizes[i];
		struct acc mc = {0}, t[2][2] = {0};
		struct record *ref, *x[2];

		for (k = 0; k < cfg.rounds; k++) {
			double med, p99;

			ref_memcpy(s, &med, &p99);
			acc_put(&mc, k, med > 0, (double)s * 1e9 / med, (double)s * 1e9 / p99);
			for (dir = 0; dir < 2; dir++)
				for (zc = 0; zc < 2; zc++)
					acc_tput(&t[dir][zc], k,
					         kup_tput1(dir ? K_U2K : K_K2U, s, zc, r, c), r, s);
		}
		ref = acc_rec("memcpy throughput", "ref", s, "B/s", &mc);
		for (dir = 0; dir < 2; dir++) {
			x[0] = acc_rec(dname[dir], "copy", s, "B/s", &t[dir][0]);
			x[1] = acc_rec(dname[dir], "zerocopy", s, "B/s", &t[dir][1]);
			acc_ratio(x[0], ref, &t[dir][0], &mc);
			acc_ratio(x[1], x[0], &t[dir][1], &t[dir][0]);
			for (zc = 0; zc < 2; zc++)
				if (x[zc] && s == 65536 && x[zc]->has_ratio)
					rec_target(x[zc], zc ? 1.5 : 0.8, 1);
		}
	}
	cfg.dur_ns = dur;
	cfg.warm_ns = warm;
}

/* Cost of the sender's own kernproxy_send with the peer polling vs asleep. */
static void sendcost_all(void)
{
	struct kctx c[MAXCH];
	struct pp_result r[MAXCH];
	struct kdev d;
	double med[2] = {0}, p99[2] = {0};
	int i, ok[2] = {0};
	struct record *x, *y;

	for (i = 0; i < 2; i++) {
		/* i 0: peer polls (spin forever); 1: peer sleeps at once (spin 0). */
		if (kdev_open(&d, c, 1, 8, i ? M_BLOCK : M_POLL))
			continue;
		c[0].kind = K_SENDC;
		c[0].delay_ns = 30000; /* well past the peer's fall into futex_wait */
		/* Our own receive only spins, so we never sleep and never get woken. */
		c[0].uflags = KP_POLL;
		kernproxy_set_spin(c[0].ch, KP_FOREVER);
		{
			void *ctx = &c[0];

			if (!pp_run(&kup_ops, &ctx, 1, r) && c[0].sendc.n) {
				med[i] = samples_quantile(&c[0].sendc, 0.5);
				p99[i] = samples_quantile(&c[0].sendc, 0.99);
				ok[i] = 1;
			}
		}
		kdev_close(&d, c);
	}
	if (!ok[0] || !ok[1])
		return;
	x = rec_add("kup send cost", "peer-polls", 8, 1, med[0], p99[0], "ns");
	x->note = "kernproxy_send of 8 B, the caller's own time";
	y = rec_add("kup send cost", "peer-sleeps", 8, 1, med[1], p99[1], "ns");
	rec_ref(y, x);
	y->note = "includes the FUTEX_WAKE the send makes";
	x = rec_add("kup wake-up price", "adaptive", 8, 1, med[1] - med[0], p99[1] - p99[0], "ns");
	y = rec_find("futex wake cost", "ref", 0);
	if (y)
		rec_ref(x, y);
	x->note = "send cost peer-sleeps minus peer-polls, against a bare FUTEX_WAKE";
}

/* --- idle CPU: what a blocked channel burns while nothing happens --------- */

struct idle {
	struct kdev *d;
	void *ch;
	int who;    /* 0: user waits (kern sends late), 1: kern waits */
	int waiter; /* this thread waits (else it sends after idle_ns) */
	double cpu_ns, wall_ns;
	int ok;
};

static double thread_cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru))
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}

static void *idle_main(void *arg)
{
	struct idle *t = arg;
	struct timespec ts = {(time_t)(cfg.idle_ns / 1000000000), cfg.idle_ns % 1000000000};
	const void *sd;
	size_t len;
	int64_t w0;
	double c0;
	int kern = t->waiter ? t->who : !t->who; /* which API this thread uses */
	int id = t->who;

	bench_pin(kern);
	if (kern && t->who == 1 && kupdev_pass_timed(t->d->sc, id, 0, TMO_NS) < 0)
		return NULL;
	if (!t->waiter) {
		nanosleep(&ts, NULL);
		t->ok = kern ? kupdev_send_timed(t->d->sc, id, "x", 1, 0, TMO_NS) >= 0
		             : kernproxy_send(t->ch, "x", 1, 0) == 0;
		return NULL;
	}
	w0 = bench_now();
	c0 = thread_cpu_ns();
	if (kern)
		t->ok = kupdev_recv_shared_untrusted(t->d->sc, id, &sd, &len, 0, TMO_NS) >= 0;
	else
		t->ok = kernproxy_receive(t->ch, 0) != NULL;
	t->cpu_ns = thread_cpu_ns() - c0;
	t->wall_ns = (double)(bench_now() - w0);
	return NULL;
}

static void idle_all(void)
{
	struct kctx c[MAXCH];
	struct kdev d;
	struct idle t[4];
	pthread_t th[4];
	int i;

	if (kdev_open(&d, c, 2, 8, M_ADAPT))
		return;
	/* Channel 0: the user waits for the kern; channel 1: the kern waits for the user. */
	for (i = 0; i < 4; i++) {
		t[i] = (struct idle){.d = &d, .ch = c[i / 2].ch, .who = i / 2, .waiter = i % 2};
		if (pthread_create(&th[i], NULL, idle_main, &t[i]))
			bench_die("pthread_create");
	}
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (i = 1; i < 4; i += 2) {
		struct record *x;
		double pct = t[i].wall_ns > 0 ? 100.0 * t[i].cpu_ns / t[i].wall_ns : 0;

		if (!t[i].ok || !t[i - 1].ok)
			continue;
		x = rec_add("kup idle cpu", t[i].who ? "kern-waits" : "user-waits", 8, 1, pct, pct,
		            "%core");
		snprintf(x->reference, sizeof(x->reference), "one core");
		x->ref_value = 100;
		x->ratio = pct / 100;
		x->has_ratio = 1;
		rec_target(x, 0.01, 0);
		x->note = "getrusage(RUSAGE_THREAD) of the waiting thread / wall time";
	}
	kdev_close(&d, c);
}

double kup_pingpong_rate(size_t size)
{
	struct kctx c[MAXCH];
	struct pp_result r[MAXCH];

	/* One message per round trip: the user sends, the kern side passes back. */
	if (kup_tput1(K_U2K, size, 0, r, c) || !r[0].ok || r[0].median <= 0)
		return 0;
	return 1e9 / r[0].median;
}

int kup_wants(const char *part)
{
	return !cfg.only || bench_in_list(cfg.only, part);
}

void kup_run(void)
{
	char dir[PATH_MAX];

	/* Our provider endpoints go in our own directory, not the shared one. */
	if (!getenv("KUP_RUNTIME_DIR")) {
		snprintf(dir, sizeof(dir), "%s/run", cfg.outdir);
		if (mkdir(dir, 0700) && errno != EEXIST)
			bench_die("mkdir %s: %s", dir, strerror(errno));
		setenv("KUP_RUNTIME_DIR", dir, 1);
	}
	if (!getenv("KUP_QUIET"))
		setenv("KUP_QUIET", "1", 1);
	if (cfg.remote) { /* only round trips: the other parts need our own kern side */
		rtt_all();
		return;
	}
	if (kup_wants("rtt"))
		rtt_all();
	if (kup_wants("multi"))
		multi_all();
	if (kup_wants("tput"))
		tput_all();
	if (kup_wants("sendcost"))
		sendcost_all();
	if (kup_wants("idle"))
		idle_all();
	if (kup_wants("stream"))
		stream_all();
}
