/* SPDX-License-Identifier: BSD-2-Clause */
/* harness.c - clock, samples, CPU pinning and the ping-pong runner. */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

struct bench_cfg cfg;

int64_t bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void bench_spin_ns(int64_t ns)
{
	int64_t end = bench_now() + ns;

	while (bench_now() < end)
		__builtin_ia32_pause();
}

void bench_die(const char *fmt, ...)
{
	va_list ap;

	fputs("kupbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

void *bench_alloc(size_t n)
{
	void *p = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		bench_die("mmap %zu bytes: %s", n, strerror(errno));
	memset(p, 0x5a, n); /* fault every page in now, not inside a timed loop */
	return p;
}

uint64_t bench_read(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t sum = 0, w;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		memcpy(&w, b + i, 8);
		sum += w;
	}
	for (; i < n; i++)
		sum += b[i];
	return sum;
}

int samples_add(struct samples *s, double x)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 4096;
		double *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -1;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = x;
	return 0;
}

void samples_free(struct samples *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double samples_quantile(struct samples *s, double q)
{
	size_t i;

	if (!s->n)
		return 0;
	qsort(s->v, s->n, sizeof(*s->v), cmp_double);
	i = (size_t)(q * (double)(s->n - 1) + 0.5);
	return s->v[i < s->n ? i : s->n - 1];
}

int bench_in_list(const char *list, const char *item)
{
	size_t n = strlen(item);
	const char *p;

	for (p = list; (p = strstr(p, item)); p += n)
		if ((p == list || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
			return 1;
	return 0;
}

int bench_pin(int which)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cfg.cpu[which], &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) ? -1 : 0;
}

/* --- ping-pong runner ----------------------------------------------------- */

struct pp_pair {
	const struct pp_ops *ops;
	void *ctx;
	struct pp_result *res;
	pthread_barrier_t *bar;
	int server_rc;
};

static void *server_main(void *arg)
{
	struct pp_pair *p = arg;

	if (bench_pin(1))
		fprintf(stderr, "kupbench: cannot pin server to CPU %d\n", cfg.cpu[1]);
	p->server_rc = -1;
	if (p->ops->server_setup && p->ops->server_setup(p->ctx))
		return NULL;
	p->server_rc = p->ops->serve(p->ctx);
	return NULL;
}

/* Warm up, pick a batch, meet the other clients, sample, then stop the server. */
static void *client_main(void *arg)
{
	struct pp_pair *p = arg;
	const struct pp_ops *o = p->ops;
	struct samples s = {0};
	struct pp_result *res = p->res;
	int64_t t0, t1, end, warm_end;
	uint64_t n = 0;
	double sum = 0;
	int b, batch, failed = 0;

	memset(res, 0, sizeof(*res));
	if (bench_pin(0))
		fprintf(stderr, "kupbench: cannot pin client to CPU %d\n", cfg.cpu[0]);
	if (o->client_setup && o->client_setup(p->ctx)) {
		pthread_barrier_wait(p->bar);
		return NULL;
	}
	t0 = bench_now();
	warm_end = t0 + cfg.warm_ns;
	do {
		if (o->rt(p->ctx, 0)) {
			failed = 1;
			break;
		}
		n++;
		t1 = bench_now();
	} while (t1 < warm_end || n < 16);
	batch = 1;
	if (!failed && n) {
		double per = (double)(t1 - t0) / (double)n;

		if (per < 2000)
			batch = (int)(5000 / (per > 1 ? per : 1)) + 1;
		if (batch > 4096)
			batch = 4096;
	}
	pthread_barrier_wait(p->bar);
	n = 0;
	end = bench_now() + cfg.dur_ns;
	while (!failed) {
		t0 = bench_now();
		for (b = 0; b < batch; b++)
			if (o->rt(p->ctx, 0)) {
				failed = 1;
				break;
			}
		t1 = bench_now();
		if (failed)
			break;
		n += (uint64_t)batch;
		sum += (double)(t1 - t0);
		if (samples_add(&s, (double)(t1 - t0) / batch)) {
			failed = 1;
			break;
		}
		if (t1 >= end)
			break;
	}
	if (!failed && o->rt(p->ctx, 1))
		failed = 1;
	res->ok = !failed && s.n > 0;
	res->rts = n;
	res->batch = batch;
	res->mean = n ? sum / (double)n : 0;
	res->median = samples_quantile(&s, 0.5);
	res->p99 = samples_quantile(&s, 0.99);
	samples_free(&s);
	if (o->client_done)
		o->client_done(p->ctx);
	return NULL;
}

int pp_run(const struct pp_ops *ops, void **ctx, int n, struct pp_result *res)
{
	struct pp_pair *pairs = calloc((size_t)n, sizeof(*pairs));
	pthread_t *th = calloc(2 * (size_t)n, sizeof(*th));
	pthread_barrier_t bar;
	int i, ok = 1;

	if (!pairs || !th || pthread_barrier_init(&bar, NULL, (unsigned)n))
		bench_die("out of memory");
	for (i = 0; i < n; i++) {
		pairs[i] = (struct pp_pair){ops, ctx[i], &res[i], &bar, 0};
		/* No serve: the responder is elsewhere (a kernel module, --remote). */
		if ((ops->serve && pthread_create(&th[2 * i], NULL, server_main, &pairs[i])) ||
		    pthread_create(&th[2 * i + 1], NULL, client_main, &pairs[i]))
			bench_die("pthread_create failed");
	}
	for (i = 0; i < n; i++) {
		pthread_join(th[2 * i + 1], NULL);
		if (ops->serve)
			pthread_join(th[2 * i], NULL);
		if (!res[i].ok || pairs[i].server_rc)
			ok = res[i].ok = 0;
	}
	pthread_barrier_destroy(&bar);
	free(pairs);
	free(th);
	return ok ? 0 : -1;
}

/* --- interleaved runner ----------------------------------------------------- */

#define IL_MAXOPS 8
#define IL_END    0xffffffffu

struct il {
	const struct pp_ops *const *ops;
	void **ctx;
	int nops, rounds;
	int64_t block_ns;
	double *med, *p99;
	int server_rc, client_rc;
	/* Written by the client: (block number << 8) | op, or IL_END. */
	uint32_t ctl __attribute__((aligned(128)));
};

static void *il_server(void *arg)
{
	struct il *p = arg;
	uint32_t v, seen = 0;
	int i, op;

	if (bench_pin(1))
		fprintf(stderr, "kupbench: cannot pin server to CPU %d\n", cfg.cpu[1]);
	for (;;) {
		/* Between blocks, and through an op whose responder is elsewhere
		 * (--remote), this thread must not hold CPU B: spin briefly, then sleep. */
		for (i = 0; (v = __atomic_load_n(&p->ctl, __ATOMIC_ACQUIRE)) == seen; i++)
			if (i < 2000)
				__builtin_ia32_pause();
			else
				syscall(SYS_futex, &p->ctl, FUTEX_WAIT_PRIVATE, seen, NULL, NULL,
				        0);
		seen = v;
		if (v == IL_END)
			return NULL;
		op = (int)(v & 0xff);
		if (p->ops[op]->serve && p->ops[op]->serve(p->ctx[op])) {
			p->server_rc = -1;
			return NULL;
		}
	}
}

/* Tell the server which op comes next; it starts serving it at once. */
static void il_post(struct il *p, uint32_t v)
{
	__atomic_store_n(&p->ctl, v, __ATOMIC_RELEASE);
	syscall(SYS_futex, &p->ctl, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void il_switch(struct il *p, uint32_t *blk, int op)
{
	il_post(p, (++*blk << 8) | (uint32_t)op);
}

/*
 * Round trips of op for ns (at least min_n); the batch that keeps a sample
 * near 5 us, and in *per the time of one round trip.
 */
static int il_warm(struct il *p, int op, int64_t ns, uint64_t min_n, double *per_rt)
{
	int64_t t0 = bench_now(), t1;
	uint64_t n = 0;
	double per;

	do {
		if (p->ops[op]->rt(p->ctx[op], 0))
			return -1;
		n++;
		t1 = bench_now();
	} while (t1 - t0 < ns || n < min_n);
	per = (double)(t1 - t0) / (double)n;
	if (per_rt)
		*per_rt = per;
	if (per >= 2000)
		return 1;
	per = 5000 / (per > 1 ? per : 1) + 1;
	return per > 4096 ? 4096 : (int)per;
}

/* One block: settle briefly (the other op's lines are elsewhere), then sample. */
static int il_block(struct il *p, int op, int batch, int64_t ns, struct samples *s, double *med,
                    double *p99)
{
	const struct pp_ops *o = p->ops[op];
	void *ctx = p->ctx[op];
	int64_t t0, t1, end;
	int b;

	s->n = 0;
	if (il_warm(p, op, ns / 16 < 100000 ? ns / 16 : 100000, 1, NULL) < 0)
		return -1;
	end = bench_now() + ns;
	do {
		t0 = bench_now();
		for (b = 0; b < batch; b++)
			if (o->rt(ctx, 0))
				return -1;
		t1 = bench_now();
		if (samples_add(s, (double)(t1 - t0) / batch))
			return -1;
	} while (t1 < end);
	if (o->rt(ctx, 1))
		return -1;
	*med = samples_quantile(s, 0.5);
	*p99 = samples_quantile(s, 0.99);
	return 0;
}

static void *il_client(void *arg)
{
	struct il *p = arg;
	struct samples s = {0};
	int batch[IL_MAXOPS];
	int64_t warm = cfg.warm_ns / p->nops, ns[IL_MAXOPS];
	double per;
	uint32_t blk = 0;
	int i, j, k, op, set = 0;

	p->client_rc = -1;
	if (bench_pin(0))
		fprintf(stderr, "kupbench: cannot pin client to CPU %d\n", cfg.cpu[0]);
	for (; set < p->nops; set++)
		if (p->ops[set]->client_setup && p->ops[set]->client_setup(p->ctx[set]))
			goto out;
	if (warm > 30000000)
		warm = 30000000;
	for (i = 0; i < p->nops; i++) {
		il_switch(p, &blk, i);
		batch[i] = il_warm(p, i, warm, 16, &per);
		if (batch[i] < 0 || p->ops[i]->rt(p->ctx[i], 1))
			goto out;
		/* A block holds at least 16 round trips, however slow they are. */
		ns[i] = p->block_ns > (int64_t)(16 * per) ? p->block_ns : (int64_t)(16 * per);
	}
	for (k = 0; k < p->rounds; k++)
		for (j = 0; j < p->nops; j++) {
			op = k & 1 ? p->nops - 1 - j : j;
			i = op * p->rounds + k;
			il_switch(p, &blk, op);
			if (il_block(p, op, batch[op], ns[op], &s, &p->med[i], &p->p99[i]))
				goto out;
		}
	p->client_rc = 0;
out:
	/* A failed op's server may still be waiting for it: its own timeout ends it. */
	il_post(p, IL_END);
	for (i = 0; i < set; i++)
		if (p->ops[i]->client_done)
			p->ops[i]->client_done(p->ctx[i]);
	samples_free(&s);
	return NULL;
}

int pp_interleave(const struct pp_ops *const *ops, void **ctx, int nops, int rounds,
                  int64_t block_ns, double *med, double *p99)
{
	struct il p = {.ops = ops,
	               .ctx = ctx,
	               .nops = nops,
	               .rounds = rounds,
	               .block_ns = block_ns,
	               .med = med,
	               .p99 = p99};
	pthread_t cl, sv;

	if (nops < 1 || nops > IL_MAXOPS || rounds < 1)
		bench_die("pp_interleave: %d ops, %d rounds", nops, rounds);
	memset(med, 0, sizeof(*med) * (size_t)(nops * rounds));
	memset(p99, 0, sizeof(*p99) * (size_t)(nops * rounds));
	if (pthread_create(&sv, NULL, il_server, &p) || pthread_create(&cl, NULL, il_client, &p))
		bench_die("pthread_create failed");
	pthread_join(cl, NULL);
	pthread_join(sv, NULL);
	return p.client_rc || p.server_rc ? -1 : 0;
}
