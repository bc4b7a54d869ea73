/* SPDX-License-Identifier: BSD-2-Clause */
/* report.c - result records, the stdout table, JSON and gnuplot input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static struct record *recs;
static size_t nrecs, caprecs;

struct record *rec_add(const char *name, const char *mode, size_t size, int channels, double median,
                       double p99, const char *unit)
{
	struct record *r;

	if (nrecs == caprecs) {
		size_t cap = caprecs ? 2 * caprecs : 128;
		struct record *n = realloc(recs, cap * sizeof(*n));

		if (!n)
			bench_die("out of memory");
		recs = n;
		caprecs = cap;
	}
	r = &recs[nrecs++];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->mode, sizeof(r->mode), "%s", mode);
	r->size = size;
	r->channels = channels;
	r->median = median;
	r->p99 = p99;
	r->unit = unit;
	return r;
}

struct record *rec_find(const char *name, const char *mode, size_t size)
{
	size_t i;

	for (i = 0; i < nrecs; i++)
		if (!strcmp(recs[i].name, name) && !strcmp(recs[i].mode, mode) &&
		    recs[i].size == size && recs[i].channels == 1)
			return &recs[i];
	return NULL;
}

void rec_ref(struct record *r, const struct record *ref)
{
	snprintf(r->reference, sizeof(r->reference), "%s%s%s", ref->name,
	         strcmp(ref->mode, "ref") ? " " : "", strcmp(ref->mode, "ref") ? ref->mode : "");
	r->ref_value = ref->median;
	r->ref_unit = ref->unit;
	r->ratio = ref->median ? r->median / ref->median : 0;
	r->has_ratio = 1;
}

void rec_target(struct record *r, double target, int ge)
{
	r->target = target;
	r->has_target = 1;
	r->target_ge = ge;
}

size_t rec_count(void)
{
	return nrecs;
}

struct record *rec_at(size_t i)
{
	return i < nrecs ? &recs[i] : NULL;
}

static int rec_met(const struct record *r)
{
	return r->target_ge ? r->ratio >= r->target : r->ratio <= r->target;
}

/* --- table ---------------------------------------------------------------- */

static void fmt_val(char *b, size_t n, double v, const char *unit)
{
	if (!strcmp(unit, "ns")) {
		if (v < 1e3)
			snprintf(b, n, "%.0f ns", v);
		else if (v < 1e6)
			snprintf(b, n, "%.2f us", v / 1e3);
		else
			snprintf(b, n, "%.2f ms", v / 1e6);
	} else if (!strcmp(unit, "B/s")) {
		snprintf(b, n, "%.2f GB/s", v / 1e9);
	} else {
		snprintf(b, n, "%.3g %s", v, unit);
	}
}

static void fmt_size(char *b, size_t n, size_t s)
{
	if (s >= 1048576 && s % 1048576 == 0)
		snprintf(b, n, "%zuM", s / 1048576);
	else if (s >= 1024 && s % 1024 == 0)
		snprintf(b, n, "%zuK", s / 1024);
	else
		snprintf(b, n, "%zu", s);
}

/* The per-round spread: p25-p75 of the ratios, or of a paired reference's own medians. */
static void fmt_spread(char *b, size_t n, const struct record *r)
{
	struct samples s = {0};
	char lo[24], hi[24];
	int k;

	b[0] = 0;
	if (r->rounds > 1 && r->has_ratio && r->ratio_max > 0) {
		snprintf(b, n, "%.3g-%.3gx", r->ratio_p25, r->ratio_p75);
		return;
	}
	if (r->rounds < 2 || !r->round_val)
		return;
	for (k = 0; k < r->rounds; k++)
		if (samples_add(&s, r->round_val[k]))
			bench_die("out of memory");
	fmt_val(lo, sizeof(lo), samples_quantile(&s, 0.25), r->unit);
	fmt_val(hi, sizeof(hi), samples_quantile(&s, 0.75), r->unit);
	snprintf(b, n, "%s-%s", lo, hi);
	samples_free(&s);
}

void report_table(void)
{
	char med[32], p99[32], sz[24], refv[32], ratio[24], spread[48], lost[24], tgt[48],
	    line[320];
	size_t i;
	int n;

	if (cfg.tag)
		printf("\nEvery figure below: %s\n", cfg.tag);
	printf("\n%-26s %-9s %5s %2s %12s %12s  %-24s %12s %8s %-19s %6s  %s\n", "measurement",
	       "mode", "size", "ch", "median", "p99", "reference", "ref median", "ratio",
	       "rounds p25-p75", "lost", "target");
	for (i = 0; i < nrecs; i++) {
		const struct record *r = &recs[i];

		fmt_val(med, sizeof(med), r->median, r->unit);
		fmt_val(p99, sizeof(p99), r->p99, r->unit);
		fmt_size(sz, sizeof(sz), r->size);
		ratio[0] = tgt[0] = refv[0] = 0;
		if (r->has_ratio) {
			snprintf(ratio, sizeof(ratio), "%.3gx", r->ratio);
			if (r->ref_unit)
				fmt_val(refv, sizeof(refv), r->ref_value, r->ref_unit);
			else
				snprintf(refv, sizeof(refv), "%.3g", r->ref_value);
		}
		fmt_spread(spread, sizeof(spread), r);
		lost[0] = 0;
		if (r->round_val)
			snprintf(lost, sizeof(lost), "%d/%d", r->rounds_preempted,
			         r->rounds + r->rounds_preempted);
		if (r->has_target)
			snprintf(tgt, sizeof(tgt), "%s%.3g %s",
			         r->target_ge ? ">=" : "<=", r->target,
			         rec_met(r) ? "met" : "MISSED");
		n = snprintf(line, sizeof(line),
		             "%-26s %-9s %5s %2d %12s %12s  %-24s %12s %8s %-19s %6s  %s", r->name,
		             r->mode, sz, r->channels, med, p99,
		             r->reference[0] ? r->reference : "-", refv, ratio, spread, lost, tgt);
		while (n > 0 && (size_t)n < sizeof(line) && line[n - 1] == ' ')
			line[--n] = 0; /* no trailing blanks when there is no target */
		puts(line);
	}
	printf("\nratio = median / ref median, both measured in this run.  Round trips: reference "
	       "and KUP take\n"
	       "turns on one pinned pair, %d rounds of %.2f ms each; ratio = the median of the "
	       "per-round\n"
	       "ratios, ref median = the reference's median over the same rounds, "
	       "rounds p25-p75 = the\n"
	       "spread of the per-round ratios (of a reference: of its per-round medians), lost = "
	       "rounds left\n"
	       "out because a thread lost its CPU for most of a block (a median > 50x the best "
	       "round's).\n"
	       "Throughput: %d alternating rounds, same ratio rule; its p99 = the slowest 1%% of "
	       "samples.\n",
	       cfg.il_rounds, (double)cfg.block_ns / 1e6, cfg.rounds);
}

/* --- JSON ----------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
	fputc('"', f);
}

static void json_num(FILE *f, double v)
{
	if (v != v || v > 1e300 || v < -1e300)
		fputs("null", f); /* JSON has no NaN or infinity */
	else
		fprintf(f, "%.6g", v);
}

static void json_arr(FILE *f, const char *key, const double *v, int n)
{
	int k;

	fprintf(f, ", \"%s\": [", key);
	for (k = 0; k < n; k++) {
		if (k)
			fputs(", ", f);
		json_num(f, v[k]);
	}
	fputc(']', f);
}

int report_json(const char *path)
{
	FILE *f = fopen(path, "w");
	size_t i;

	if (!f)
		return -1;
	fputs("[\n", f);
	for (i = 0; i < nrecs; i++) {
		const struct record *r = &recs[i];

		fputs("  {\"name\": ", f);
		json_str(f, r->name);
		fputs(", \"mode\": ", f);
		json_str(f, r->mode);
		fprintf(f, ", \"size\": %zu, \"channels\": %d, \"median\": ", r->size, r->channels);
		json_num(f, r->median);
		fputs(", \"p99\": ", f);
		json_num(f, r->p99);
		fputs(", \"unit\": ", f);
		json_str(f, r->unit);
		fputs(", \"reference\": ", f);
		if (r->reference[0])
			json_str(f, r->reference);
		else
			fputs("null", f);
		fputs(", \"ratio\": ", f);
		if (r->has_ratio)
			json_num(f, r->ratio);
		else
			fputs("null", f);
		if (r->has_ratio) {
			fputs(", \"ref_median\": ", f);
			json_num(f, r->ref_value);
		}
		if (r->rounds)
			fprintf(f, ", \"rounds\": %d", r->rounds);
		if (r->round_val)
			fprintf(f, ", \"rounds_preempted\": %d", r->rounds_preempted);
		if (r->rounds && r->has_ratio && r->ratio_max > 0) {
			fputs(", \"ratio_min\": ", f);
			json_num(f, r->ratio_min);
			fputs(", \"ratio_p25\": ", f);
			json_num(f, r->ratio_p25);
			fputs(", \"ratio_p75\": ", f);
			json_num(f, r->ratio_p75);
			fputs(", \"ratio_max\": ", f);
			json_num(f, r->ratio_max);
		}
		if (r->round_val)
			json_arr(f, "round_median", r->round_val, r->rounds);
		if (r->round_ref)
			json_arr(f, "round_ref_median", r->round_ref, r->rounds);
		if (r->has_target) {
			fprintf(f, ", \"target\": \"%s%g\", \"met\": %s",
			        r->target_ge ? ">=" : "<=", r->target,
			        rec_met(r) ? "true" : "false");
		}
		if (r->note) {
			fputs(", \"note\": ", f);
			json_str(f, r->note);
		}
		if (cfg.tag) {
			fputs(", \"platform\": ", f);
			json_str(f, cfg.tag);
		}
		fprintf(f, "}%s\n", i + 1 < nrecs ? "," : "");
	}
	fputs("]\n", f);
	return fclose(f) ? -1 : 0;
}

/* --- gnuplot -------------------------------------------------------------- */

static int plottable(const struct record *r, const char *kind)
{
	if (!strstr(r->name, kind) || r->channels != 1)
		return 0;
	if (strstr(kind, "rtt")) /* single-size references would only be dots */
		return strcmp(r->unit, "ns") == 0 && (r->size || strcmp(r->mode, "ref") == 0) &&
		       strcmp(r->name, "eventfd rtt") && strcmp(r->name, "pipe rtt") &&
		       !strstr(r->name, "unread") && /* 8 B only: a dot */
		       (r->size || !rec_find(r->name, r->mode, 8));
	return strcmp(r->unit, "B/s") == 0 && r->size >= 4096; /* the throughput sizes */
}

/* A bare turn (size 0) is drawn at the smallest message, 8 B. */
static size_t plot_x(const struct record *r)
{
	return r->size ? r->size : 8;
}

static int same_series(const struct record *a, const struct record *b)
{
	return !strcmp(a->name, b->name) && !strcmp(a->mode, b->mode);
}

/*
 * One data block per (name, mode) series of single-channel records whose
 * name contains `kind`, sizes > 0; returns the number of blocks and writes
 * their titles to the plot script.
 */
static int plot_series(FILE *dat, FILE *gp, const char *kind, const char *datname)
{
	size_t last = 0;
	int nb = 0;
	size_t i, j;

	for (i = 0; i < nrecs; i++) {
		const struct record *r = &recs[i];
		int first = 1;

		if (!plottable(r, kind))
			continue;
		for (j = 0; j < i; j++) /* series already written */
			if (plottable(&recs[j], kind) && same_series(&recs[j], r))
				first = 0;
		if (!first)
			continue;
		fprintf(dat, "# %s %s\n", r->name, r->mode);
		for (;;) { /* the series' points by size, smallest first */
			const struct record *best = NULL;

			for (j = i; j < nrecs; j++)
				if (plottable(&recs[j], kind) && same_series(&recs[j], r) &&
				    plot_x(&recs[j]) > last &&
				    (!best || plot_x(&recs[j]) < plot_x(best)))
					best = &recs[j];
			if (!best)
				break;
			last = plot_x(best);
			fprintf(dat, "%zu %g %g\n", last, best->median, best->p99);
		}
		last = 0;
		fputs("\n\n", dat);
		fprintf(gp, "%s'%s' index %d using 1:%s with linespoints title '%s%s%s'",
		        nb ? ", \\\n  " : "plot ", datname, nb,
		        strstr(kind, "rtt") ? "($2/1000)" : "($2/1e9)", r->name,
		        strcmp(r->mode, "ref") ? " " : "", strcmp(r->mode, "ref") ? r->mode : "");
		nb++;
	}
	fputs("\n", gp);
	return nb;
}

int report_plot_data(const char *dir)
{
	char p[512], lp[512], tpp[512];
	FILE *lat, *tp, *gp;

	snprintf(lp, sizeof(lp), "%s/latency.dat", dir);
	lat = fopen(lp, "w");
	snprintf(tpp, sizeof(tpp), "%s/throughput.dat", dir);
	tp = fopen(tpp, "w");
	snprintf(p, sizeof(p), "%s/plots.gp", dir);
	gp = fopen(p, "w");
	if (!lat || !tp || !gp)
		return -1;
	fprintf(gp,
	        "# Generated by kupbench: gnuplot %s/plots.gp\n"
	        "set terminal svg size 900,560 dynamic font 'sans,11'\n"
	        "set logscale xy\nset grid\nset key outside right\n"
	        "set xlabel 'message size (bytes)'\n"
	        "set output '%s/latency.svg'\n"
	        "set title 'Round trip, median (pinned threads, 2 CPUs)'\n"
	        "set ylabel 'round trip (us)'\nset xrange [4:2e6]\n",
	        dir, dir);
	plot_series(lat, gp, "rtt", lp);
	fprintf(gp,
	        "set output '%s/throughput.svg'\n"
	        "set title 'One-way throughput, peer passes back at once (median)'\n"
	        "set ylabel 'GB/s'\nset xrange [2048:2e6]\n",
	        dir);
	plot_series(tp, gp, "throughput", tpp);
	fclose(lat);
	fclose(tp);
	return fclose(gp) ? -1 : 0;
}
