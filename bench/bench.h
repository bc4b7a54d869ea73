/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench.h - kupbench's shared pieces: clock, samples, the pinned
 * two-thread ping-pong harness, and the result records.
 *
 * Every measurement runs its initiator ("client") on CPU A and its
 * responder ("server") on CPU B (the first two CPUs the process may use),
 * the same pinning for references and for KUP, so ratios compare like
 * with like.
 */
#ifndef KUPBENCH_H
#define KUPBENCH_H

#include <stddef.h>
#include <stdint.h>

#define TMO_NS (30LL * 1000000000) /* no call waits longer: a dead peer ends the run */

/* --- clock and samples ---------------------------------------------------- */

int64_t bench_now(void);        /* CLOCK_MONOTONIC ns (vDSO) */
void bench_spin_ns(int64_t ns); /* busy-wait ns without sleeping */

struct samples {
	double *v;
	size_t n, cap;
};
int samples_add(struct samples *s, double x);
void samples_free(struct samples *s);
/* Sorts in place; q in [0, 1].  0 when empty. */
double samples_quantile(struct samples *s, double q);

/* --- run settings --------------------------------------------------------- */

struct bench_cfg {
	int quick;       /* --quick: tiny durations, fewer sizes (smoke runs) */
	int64_t dur_ns;  /* sampling time per measurement */
	int64_t warm_ns; /* warm-up time per measurement */
	int64_t idle_ns; /* idle-channel CPU measurement time */
	int cpu[2];      /* client CPU, server CPU */
	int ncpu;        /* usable CPUs */
	int do_kup;      /* run the KUP part */
	int do_refs;     /* run the references */
	const char *outdir;
	const char *only;   /* --only: KUP parts to run, NULL for all */
	const char *modes;  /* --modes: poll,block,adaptive (round trips), NULL for all */
	int rounds;         /* paired measurements: alternate reference and KUP this often */
	int il_rounds;      /* round trips: rounds of pp_interleave (--rounds) */
	int64_t block_ns;   /* round trips: each op's time per round */
	int paired_rtt;     /* kup.c measures cacheline/futex round trips, interleaved */
	int paired_tput;    /* kup.c measures memcpy, interleaved with KUP throughput */
	const char *remote; /* --remote NAME: the kernel side is an echo service elsewhere */
	const char *tag;    /* --tag TEXT: where the figures come from (e.g. TCG-emulated) */
};
extern struct bench_cfg cfg;

/* Pin the calling thread to cfg.cpu[which]; 0 or -1. */
int bench_pin(int which);
/* 1 when item is one of the comma-separated words of list. */
int bench_in_list(const char *list, const char *item);
void bench_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void *bench_alloc(size_t n); /* page-aligned, every page touched; dies on failure */
/* Read every byte of p[0..n) (a sum, so nothing is skipped): the reply's lines move. */
uint64_t bench_read(const void *p, size_t n);

/* --- the ping-pong harness ------------------------------------------------ */

/*
 * One pair: the client does round trips (rt), the server answers in a loop
 * (serve) until a round trip with stop != 0 tells it to end.  Either
 * returns -1 on a failure (then the measurement is reported as failed).
 * setup/teardown, when set, run in the client's and server's own threads
 * before the first and after the last round trip.
 */
struct pp_ops {
	int (*rt)(void *ctx, int stop);
	int (*serve)(void *ctx);
	int (*client_setup)(void *ctx);
	void (*client_done)(void *ctx);
	int (*server_setup)(void *ctx);
};

struct pp_result {
	double median, p99; /* ns per round trip */
	double mean;
	uint64_t rts; /* round trips timed */
	int batch;    /* round trips per sample */
	int ok;
};

/*
 * Run n pairs at once (client i on CPU A, server i on CPU B) for the
 * configured time.  Samples are per-round-trip times, timed one by one when
 * a round trip takes >= 2 us and in batches (averaged) below that, so the
 * clock's own cost stays under ~1%.  res[i] per pair.
 */
int pp_run(const struct pp_ops *ops, void **ctx, int n, struct pp_result *res);

/*
 * Interleaved run: one client/server pair (CPU A, CPU B) takes nops
 * measurements in turns, so a reference and the KUP figure divided by it
 * see the same machine.  After a warm-up of each, every round runs each op
 * for block_ns (in the order 0..nops-1, reversed every other round); a
 * block ends with rt(ctx, stop = 1), after which the op's serve returns and
 * is called again for its next block (so serve must be resumable).  An op
 * without serve has its responder elsewhere.  med[op * rounds + k] and
 * p99[...] get op's per-round-trip median and p99 in round k.  0 or -1 (a
 * failure anywhere fails the whole run).
 */
int pp_interleave(const struct pp_ops *const *ops, void **ctx, int nops, int rounds,
                  int64_t block_ns, double *med, double *p99);

/* --- records -------------------------------------------------------------- */

struct record {
	char name[48];
	char mode[16];
	size_t size;
	int channels;
	double median, p99;
	const char *unit;
	char reference[80]; /* name of the reference record, "" when none */
	double ref_value;   /* its median */
	double ratio;       /* median / ref_value (or as documented per record) */
	int has_ratio;
	/* Target, when one applies: ratio <= target (or >= when target_ge). */
	double target;
	int has_target, target_ge;
	const char *note;
	const char *ref_unit; /* the reference's unit (NULL: a plain number) */
	/*
	 * Paired figures (pp_interleave): rounds that counted, this record's and
	 * its reference's median in each of them, and the spread of the
	 * per-round ratios (ratio itself is their median).
	 */
	int rounds, rounds_preempted; /* the latter left out (kup.c: PREEMPTED) */
	double *round_val, *round_ref;
	double ratio_min, ratio_p25, ratio_p75, ratio_max;
};

struct record *rec_add(const char *name, const char *mode, size_t size, int channels, double median,
                       double p99, const char *unit);
/* Find a record by name, mode and size (NULL when absent). */
struct record *rec_find(const char *name, const char *mode, size_t size);
/* Set r's reference to ref (ratio = r->median / ref->median). */
void rec_ref(struct record *r, const struct record *ref);
void rec_target(struct record *r, double target, int ge);
size_t rec_count(void);
struct record *rec_at(size_t i);

void report_table(void);
int report_json(const char *path);
int report_plot_data(const char *dir);

/* --- the measurements ----------------------------------------------------- */

/* Message sizes for round trips, and for throughput (set from --quick). */
extern const size_t *bench_sizes, *tput_sizes;
extern size_t bench_nsizes, tput_nsizes;

void refs_run(void);
void refs_link(void); /* after all parts: reference the references */
void kup_run(void);
/* Part "stream" (stream.c): stream channels against a bare ring, ping-pong and memcpy. */
void stream_all(void);
/* Messages per second one way over a ping-pong channel (adaptive; 0 on failure). */
double kup_pingpong_rate(size_t size);
int kup_wants(const char *part); /* --only selects part */

/* Single references, for interleaved (paired) measurement. */
int ref_word(int futex, size_t size, struct pp_result *r); /* spin or futex turn */
/* The same turn as an op for pp_interleave: its context, and freeing it. */
extern const struct pp_ops ref_word_ops;
void *ref_word_new(int futex, size_t size);
void ref_word_free(void *ctx);
/* The bare turn with an uncontended lock taken and dropped around each server step
 * ("locked turn"): the floor of a host that serialises the calls on a channel. */
void *ref_locked_new(size_t size);
/* The bare turn whose client reads the server's line through a read-only mapping
 * ("read-only turn"), as a process reads the kern block. */
void *ref_roturn_new(size_t size);
void ref_memcpy(size_t size, double *med_ns, double *p99_ns);

/* core.c: the protocol alone (two core ends in this process) as a pp_interleave op. */
extern const struct pp_ops core_rt_ops;
void *core_rt_new(int poll, int block, size_t size); /* NULL: size over one page, or no memory */
void core_rt_free(void *ctx);

#endif /* KUPBENCH_H */
