/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kupbench - KUP against the physical limit and the channels a user would
 * otherwise use.  Every KUP figure is a ratio to a reference measured in the
 * same run, with the same two pinned CPUs.  See docs/bench.md.
 *
 * usage: kupbench [--quick] [--refs-only | --kup-only] [--only PARTS] [--modes MODES]
 *                 [--time MS] [--rounds N] [--sizes N,N,...] [--cpus A,B] [--out DIR]
 *                 [--remote NAME] [--json-stdout] [--tag TEXT]
 * --remote NAME: the kern side is an echo service already running (e.g.
 * kup_echo.ko: greets, then echoes every message); only round trips.
 * PARTS: comma-separated KUP parts: rtt, multi, tput, sendcost, idle, stream.
 * MODES: round-trip modes: poll, block, adaptive.
 * --rounds N: round trips take N interleaved rounds of MS / N each (default:
 * blocks of about 4 ms, at least 8 rounds).
 * Writes a table to stdout and DIR/kupbench.json, DIR/latency.dat,
 * DIR/throughput.dat and DIR/plots.gp (default DIR: build/bench).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

static const size_t sizes_full[] = {8, 64, 512, 4096, 32768, 65536, 262144, 1048576};
static const size_t sizes_quick[] = {8, 65536};
static const size_t tput_full[] = {4096, 16384, 65536, 262144, 1048576};
static const size_t tput_quick[] = {65536};
static const size_t sizes_remote[] = {8, 64, 512, 4096}; /* one-page echo service */
static size_t sizes_user[32];

const size_t *bench_sizes = sizes_full, *tput_sizes = tput_full;
size_t bench_nsizes = sizeof(sizes_full) / sizeof(sizes_full[0]);
size_t tput_nsizes = sizeof(tput_full) / sizeof(tput_full[0]);

static void usage(void)
{
	fprintf(stderr, "usage: kupbench [--quick] [--refs-only | --kup-only] [--only PARTS] "
	                "[--modes MODES] [--time MS] [--rounds N] [--sizes N,N,...] [--cpus A,B]\n"
	                "                [--out DIR] [--remote NAME] [--json-stdout] [--tag TEXT]\n"
	                "PARTS: rtt,multi,tput,sendcost,idle,stream (KUP parts to run)\n"
	                "MODES: poll,block,adaptive (round-trip modes)\n");
	exit(2);
}

/* The first two CPUs we may run on, unless --cpus chose. */
static void pick_cpus(int forced)
{
	cpu_set_t set;
	int i, n = 0;

	if (sched_getaffinity(0, sizeof(set), &set))
		bench_die("sched_getaffinity: %s", strerror(errno));
	cfg.ncpu = CPU_COUNT(&set);
	if (forced)
		return;
	for (i = 0; i < CPU_SETSIZE && n < 2; i++)
		if (CPU_ISSET(i, &set))
			cfg.cpu[n++] = i;
	if (n < 2) {
		fprintf(stderr, "kupbench: only one CPU: both sides share it, figures are not "
		                "comparable with the targets\n");
		cfg.cpu[1] = cfg.cpu[0];
	}
}

static void summary(void)
{
	size_t i, met = 0, missed = 0;

	printf("\ntargets:\n");
	for (i = 0; i < rec_count(); i++) {
		const struct record *r = rec_at(i);
		int ok;

		if (!r->has_target)
			continue;
		ok = r->target_ge ? r->ratio >= r->target : r->ratio <= r->target;
		ok ? met++ : missed++;
		printf("  %-7s %s %s size %zu: %.3g (%s %g)%s%s\n", ok ? "met" : "MISSED", r->name,
		       r->mode, r->size, r->ratio, r->target_ge ? ">=" : "<=", r->target,
		       r->note ? " - " : "", r->note ? r->note : "");
	}
	printf("%zu met, %zu missed\n", met, missed);
}

int main(int argc, char **argv)
{
	char path[600];
	int i, forced = 0, ms_set = 0, json_stdout = 0;
	size_t nuser = 0;
	long ms = 500, rounds = 0;
	int64_t t0;

	cfg.do_kup = cfg.do_refs = 1;
	cfg.outdir = "build/bench";
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			cfg.quick = 1;
		} else if (!strcmp(argv[i], "--refs-only")) {
			cfg.do_kup = 0;
		} else if (!strcmp(argv[i], "--kup-only")) {
			cfg.do_refs = 0;
		} else if (!strcmp(argv[i], "--time") && i + 1 < argc) {
			ms = strtol(argv[++i], NULL, 10);
			if (ms <= 0)
				usage();
			ms_set = 1;
		} else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			rounds = strtol(argv[++i], NULL, 10);
			if (rounds <= 0 || rounds > 100000)
				usage();
		} else if (!strcmp(argv[i], "--remote") && i + 1 < argc) {
			cfg.remote = argv[++i];
		} else if (!strcmp(argv[i], "--tag") && i + 1 < argc) {
			cfg.tag = argv[++i];
		} else if (!strcmp(argv[i], "--json-stdout")) {
			json_stdout = 1;
		} else if (!strcmp(argv[i], "--modes") && i + 1 < argc) {
			cfg.modes = argv[++i];
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
			cfg.only = argv[++i];
		} else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
			char *p = argv[++i], *end;
			size_t n = 0;

			while (*p && n < sizeof(sizes_user) / sizeof(sizes_user[0])) {
				sizes_user[n] = strtoul(p, &end, 10);
				if (end == p || !sizes_user[n])
					usage();
				n++;
				p = *end == ',' ? end + 1 : end;
			}
			nuser = n;
		} else if (!strcmp(argv[i], "--cpus") && i + 1 < argc) {
			if (sscanf(argv[++i], "%d,%d", &cfg.cpu[0], &cfg.cpu[1]) != 2)
				usage();
			forced = 1;
		} else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
			cfg.outdir = argv[++i];
		} else {
			usage();
		}
	}
	if (cfg.quick) {
		if (!ms_set)
			ms = 15;
		bench_sizes = sizes_quick;
		bench_nsizes = sizeof(sizes_quick) / sizeof(sizes_quick[0]);
		tput_sizes = tput_quick;
		tput_nsizes = sizeof(tput_quick) / sizeof(tput_quick[0]);
	}
	if (cfg.remote) {
		bench_sizes = sizes_remote;
		bench_nsizes = sizeof(sizes_remote) / sizeof(sizes_remote[0]);
		tput_nsizes = 0;
	}
	if (nuser) {
		bench_sizes = tput_sizes = sizes_user;
		bench_nsizes = tput_nsizes = nuser;
	}
	cfg.dur_ns = ms * 1000000LL;
	cfg.warm_ns = cfg.dur_ns / 6;
	cfg.idle_ns = cfg.quick ? 100000000LL : 2000000000LL;
	cfg.rounds = cfg.quick ? 1 : 5;
	/* Round trips: short blocks, many rounds, so a phase change spoils few pairs. */
	if (!rounds)
		rounds = ms / 4 > 8 ? ms / 4 : 8;
	cfg.il_rounds = (int)rounds;
	cfg.block_ns = cfg.dur_ns / rounds;
	cfg.paired_rtt = cfg.do_kup && kup_wants("rtt");
	cfg.paired_tput = cfg.do_kup && kup_wants("tput") && !cfg.remote;
	pick_cpus(forced);
	if (mkdir(cfg.outdir, 0755) && errno != EEXIST)
		bench_die("mkdir %s: %s", cfg.outdir, strerror(errno));
	/* A hung peer must not hang `make bench`: SIGALRM's default action ends us. */
	alarm(cfg.quick ? 60 : 1800); /* a full run took 7 minutes at a load of 10 on 2 CPUs */

	printf("kupbench: client CPU %d, server CPU %d (%d usable), %ld ms per measurement%s%s%s\n"
	       "kupbench: round trips in %d interleaved rounds of %.2f ms per figure\n",
	       cfg.cpu[0], cfg.cpu[1], cfg.ncpu, ms, cfg.quick ? " (quick)" : "",
	       cfg.tag ? ", " : "", cfg.tag ? cfg.tag : "", cfg.il_rounds,
	       (double)cfg.block_ns / 1e6);
	fflush(stdout);
	t0 = bench_now();
	if (cfg.do_refs)
		refs_run();
	if (cfg.do_kup)
		kup_run();
	refs_link();
	report_table();
	summary();
	snprintf(path, sizeof(path), "%s/kupbench.json", cfg.outdir);
	if (report_json(path))
		bench_die("cannot write %s", path);
	if (report_plot_data(cfg.outdir))
		bench_die("cannot write plot data in %s", cfg.outdir);
	printf("wrote %s (%zu records) in %.1f s\n", path, rec_count(),
	       (double)(bench_now() - t0) / 1e9);
	if (json_stdout) { /* for runs whose files stay behind, e.g. in a VM */
		FILE *f = fopen(path, "r");
		int ch;

		printf("KUPBENCH-JSON-BEGIN\n");
		while (f && (ch = fgetc(f)) != EOF)
			putchar(ch);
		printf("KUPBENCH-JSON-END\n");
		if (f)
			fclose(f);
	}
	return 0;
}
