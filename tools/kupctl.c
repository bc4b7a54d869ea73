/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kupctl - look at KUP devices from the shell.
 *
 *   kupctl info NAME             backend, path, geometry, notify generation
 *   kupctl ping NAME CHAN [N]    attach CHAN, take the first turn, then N
 *                                round trips with an echo service
 *   kupctl wait-notify NAME [MS] wait for kupdev_notify()
 *   kupctl list                  every KUP device: kernel and provider
 *   kupctl stat [-r] NAME        a device's channels (-r: the raw text)
 *   kupctl top [-n N] [-d S] [NAME]  a refreshing view with rates
 *
 * list, stat and top read each device's live state (core/kup_stat.h's
 * text): /sys/class/kup/NAME/channels for kup.ko on Linux, the sysctl
 * dev.kup.stat on FreeBSD (every device), the KW_STAT request for a provider.
 *
 * It links libkup's objects statically to show what the public API does
 * not (the device's geometry); it uses kernproxy_* for everything else.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#ifdef __FreeBSD__
#include <sys/sysctl.h>
#endif

#include "kp_backend.h"
#include "kup_stat_read.h"
#include "kup_wire.h"

static int usage(void)
{
	fprintf(stderr, "usage: kupctl info NAME\n"
	                "       kupctl ping NAME CHAN [COUNT]\n"
	                "       kupctl wait-notify NAME [TIMEOUT_MS]\n"
	                "       kupctl list\n"
	                "       kupctl stat [-r] NAME\n"
	                "       kupctl top [-n COUNT] [-d SECONDS] [NAME]\n");
	return 2;
}

static int fail(const char *what, int code)
{
	fprintf(stderr, "kupctl: %s: %s (%d)\n", what, kernproxy_strerror(code), code);
	return 1;
}

static long num(const char *s, long max)
{
	char *end;
	long v = strtol(s, &end, 0);

	if (*s == '\0' || *end != '\0' || v < 0 || v > max) {
		fprintf(stderr, "kupctl: bad number: %s\n", s);
		exit(2);
	}
	return v;
}

static int cmd_info(const char *name)
{
	struct kp_dev *d = kernproxy_open(name);

	if (!d)
		return fail(name, kernproxy_errno);
	printf("name:      %s\n", name);
	printf("backend:   %s\n", d->ops->name);
	printf("path:      %s\n", d->path);
	printf("abi:       %u\n", d->info.abi);
	printf("size:      %u pages (%u bytes per direction)\n", d->info.size,
	       d->info.size * KUP_PAGE);
	printf("channels:  %u\n", d->info.chan_cnt);
	printf("notify:    %u\n", d->info.notify);
	printf("state:     %s\n", d->info.state == KUP_ST_OPEN ? "open" : "shutdown");
	kernproxy_close(d);
	return 0;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmd_ping(const char *name, long chan, long count)
{
	struct kernproxy_stats st;
	struct kp_dev *d;
	void *c, *r;
	char msg[64];
	int64_t t0, t1;
	size_t len;
	long i;

	d = kernproxy_open(name);
	if (!d)
		return fail(name, kernproxy_errno);
	c = kernproxy_attach(d, (size_t)chan, d->info.size, KP_EXACT); /* this channel, no other */
	if (!c) {
		int e = kernproxy_error(d);

		kernproxy_close(d);
		return fail("attach", e);
	}
	kernproxy_set_timeout(c, 5000000000LL);
	r = kernproxy_receive_len(c, &len, 0);
	if (!r) {
		int e = kernproxy_errno;

		kernproxy_close(d);
		return fail("first turn", e);
	}
	printf("attached %s channel %ld; first message %zu bytes\n", name, chan, len);
	t0 = now_ns();
	for (i = 0; i < count; i++) {
		int n = snprintf(msg, sizeof(msg), "kupctl ping %ld", i);

		if (kernproxy_send(c, msg, (size_t)n, 0) ||
		    !(r = kernproxy_receive_len(c, &len, 0))) {
			int e = kernproxy_errno;

			kernproxy_close(d);
			return fail("ping", e);
		}
		if (len != (size_t)n || memcmp(r, msg, len)) {
			fprintf(stderr, "kupctl: reply %ld differs (not an echo service?)\n", i);
			kernproxy_close(d);
			return 1;
		}
	}
	t1 = now_ns();
	if (count)
		printf("%ld round trips, %.0f ns each\n", count, (double)(t1 - t0) / (double)count);
	if (kernproxy_stats(c, &st) == 0)
		printf("sent %llu received %llu sleeps %llu wakeups %llu errors %llu\n",
		       (unsigned long long)st.sent, (unsigned long long)st.received,
		       (unsigned long long)st.sleeps, (unsigned long long)st.wakeups,
		       (unsigned long long)st.errors);
	kernproxy_close(d);
	return 0;
}

static int cmd_wait_notify(const char *name, long ms)
{
	void *d = kernproxy_open(name);

	if (!d)
		return fail(name, kernproxy_errno);
	if (kernproxy_wait_notify(d, ms < 0 ? KP_FOREVER : (int64_t)ms * 1000000)) {
		int e = kernproxy_errno;

		kernproxy_close(d);
		return fail("wait-notify", e);
	}
	printf("notified\n");
	kernproxy_close(d);
	return 0;
}

/* --- Live state: list, stat, top ------------------------------------------------ */

/* One device of a list: name, backend, channels, attached, size, state. */
static void list_one(const char *name, const char *backend, const char *text, int err)
{
	const char *l;
	char state[16] = "?";
	unsigned long long att = 0;

	if (!text || !kst_ok(text)) {
		printf("%-24s %-8s %8s %8s %6s  %s\n", name, backend, "-", "-", "-",
		       err == EKU_ABI ? "(no state: older provider)" : kernproxy_strerror(err));
		return;
	}
	kst_kv(text, "state", state, sizeof(state));
	for (l = kst_next(text); l; l = kst_next(l))
		att += kst_u64(l, "pid") != 0;
	printf("%-24s %-8s %8llu %8llu %6llu  %s\n", name, backend, kst_u64(text, "channels"), att,
	       kst_u64(text, "size"), state);
}

static int cmd_list(void)
{
	char dir[256];
	struct dirent *de;
	DIR *d;
	int err;

	printf("%-24s %-8s %8s %8s %6s  %s\n", "NAME", "BACKEND", "CHANNELS", "ATTACHED", "PAGES",
	       "STATE");
#ifdef __FreeBSD__
	{
		char *all = kst_kernel_all(), *p, *next, name[KUP_NAME_MAX];

		/* Each device's block starts with its header line. */
		for (p = all; p && *p; p = next) {
			next = strstr(p + 1, "\nkup-stat ");
			next = next ? next + 1 : p + strlen(p);
			if (kst_kv(p, "name", name, sizeof(name))) {
				char *t = strndup(p, (size_t)(next - p));

				list_one(name, "kernel", t, EKU_NOENT);
				free(t);
			}
		}
		free(all);
	}
#else
	d = opendir(KST_SYSFS);
	while (d && (de = readdir(d))) {
		char *t;

		if (de->d_name[0] == '.')
			continue;
		t = kst_kernel(de->d_name);
		list_one(de->d_name, "kernel", t, EKU_NOENT);
		free(t);
	}
	if (d)
		closedir(d);
#endif
	if (kw_runtime_dir(dir, sizeof(dir)))
		return 0;
	d = opendir(dir);
	while (d && (de = readdir(d))) {
		struct stat st;
		char path[512];
		char *t;

		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (de->d_name[0] == '.' || stat(path, &st) || !S_ISSOCK(st.st_mode))
			continue;
		t = kst_provider(de->d_name, &err);
		/* A socket nobody answers on is left from a provider that died. */
		if (t || err != EKU_NOENT)
			list_one(de->d_name, "provider", t, err);
		free(t);
	}
	if (d)
		closedir(d);
	return 0;
}

static const char *err_name(unsigned long long code)
{
	return code ? kernproxy_strerror((int)code) : "-";
}

static int cmd_stat(const char *name, int raw)
{
	const char *backend = "?", *l;
	char turn[16];
	int err;
	char *text = kst_fetch(name, &backend, &err);

	if (!text && err == EKU_ABI) {
		fprintf(
		    stderr,
		    "kupctl: %s: this provider does not publish its state (older than KW_STAT)\n",
		    name);
		return 1;
	}
	if (!text)
		return fail(name, err);
	if (raw) {
		fputs(text, stdout);
		free(text);
		return 0;
	}
	if (!kst_ok(text)) {
		free(text);
		return fail(name, EKU_ABI);
	}
	printf("%s (%s): %llu channels of %llu pages, %s\n", name, backend,
	       kst_u64(text, "channels"), kst_u64(text, "size"),
	       strstr(text, "state=shutdown") ? "shut down" : "open");
	printf("%5s %7s %5s %10s %10s %12s %12s %8s %8s %6s %6s  %s\n", "CHAN", "PID", "TURN",
	       "SENT", "RECEIVED", "BYTES_SENT", "BYTES_RECV", "SLEEPS", "WAKEUPS", "ERRORS",
	       "PROTO", "LAST_ERR");
	for (l = kst_next(text); l; l = kst_next(l)) {
		if (!kst_kv(l, "turn", turn, sizeof(turn)))
			continue;
		printf("%5llu %7llu %5s %10llu %10llu %12llu %12llu %8llu %8llu %6llu %6llu  %s\n",
		       kst_u64(l, "chan"), kst_u64(l, "pid"), turn, kst_u64(l, "sent"),
		       kst_u64(l, "received"), kst_u64(l, "bytes_sent"),
		       kst_u64(l, "bytes_received"), kst_u64(l, "sleeps"), kst_u64(l, "wakeups"),
		       kst_u64(l, "errors"), kst_u64(l, "proto_errors"),
		       err_name(kst_u64(l, "last_err")));
	}
	free(text);
	return 0;
}

/* top: the previous sample of every channel shown, to turn counts into rates. */
struct sample {
	char dev[KUP_NAME_MAX];
	unsigned long long chan, sent, received, bytes_sent, bytes_received, sleeps, wakeups;
};

struct samples {
	struct sample *s;
	size_t n, cap;
};

static struct sample *sample_find(struct samples *ss, const char *dev, unsigned long long chan)
{
	size_t i;

	for (i = 0; i < ss->n; i++)
		if (ss->s[i].chan == chan && !strcmp(ss->s[i].dev, dev))
			return &ss->s[i];
	return NULL;
}

static int sample_add(struct samples *ss, const struct sample *x)
{
	struct sample *ns;

	if (ss->n == ss->cap) {
		size_t cap = ss->cap ? ss->cap * 2 : 64;

		ns = realloc(ss->s, cap * sizeof(*ns));
		if (!ns)
			return -1;
		ss->s = ns;
		ss->cap = cap;
	}
	ss->s[ss->n++] = *x;
	return 0;
}

/* The devices top shows: NAME, or every device list finds. */
static size_t top_names(const char *only, char (*names)[KUP_NAME_MAX], size_t max)
{
	char dir[256];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if (only) {
		snprintf(names[0], KUP_NAME_MAX, "%.63s", only);
		return 1;
	}
#ifndef __FreeBSD__
	d = opendir(KST_SYSFS);
	while (d && n < max && (de = readdir(d)))
		if (de->d_name[0] != '.' && kup_name_ok(de->d_name))
			memcpy(names[n++], de->d_name,
			       strlen(de->d_name) + 1); /* kup_name_ok: it fits */
	if (d)
		closedir(d);
#else
	{
		char *all = kst_kernel_all(), *p;

		for (p = all; p && n < max; p = strstr(p + 1, "\nkup-stat "), p = p ? p + 1 : NULL)
			if (kst_kv(p, "name", names[n], KUP_NAME_MAX) && kup_name_ok(names[n]))
				n++;
		free(all);
	}
#endif
	if (kw_runtime_dir(dir, sizeof(dir)))
		return n;
	d = opendir(dir);
	while (d && n < max && (de = readdir(d))) {
		size_t i;

		if (de->d_name[0] == '.' || !kup_name_ok(de->d_name))
			continue;
		for (i = 0; i < n && strcmp(names[i], de->d_name); i++)
			;
		if (i == n)
			memcpy(names[n++], de->d_name,
			       strlen(de->d_name) + 1); /* kup_name_ok: it fits */
	}
	if (d)
		closedir(d);
	return n;
}

static double rate(unsigned long long now, unsigned long long was, double dt)
{
	return now >= was && dt > 0 ? (double)(now - was) / dt : 0;
}

static int cmd_top(const char *only, long count, double delay)
{
	static char names[256][KUP_NAME_MAX];
	struct samples prev = {0}, cur = {0};
	int tty = isatty(STDOUT_FILENO), err;
	int64_t t_prev = 0, t;
	long frame;

	for (frame = 0; count <= 0 || frame < count; frame++) {
		size_t nd = top_names(only, names, 256), i;
		double dt;
		struct timespec ts;

		if (frame) {
			ts.tv_sec = (time_t)delay;
			ts.tv_nsec = (long)((delay - (double)ts.tv_sec) * 1e9);
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
		}
		t = now_ns();
		dt = frame ? (double)(t - t_prev) / 1e9 : 0;
		t_prev = t;
		if (tty)
			printf("\033[H\033[2J");
		printf("kupctl top: %zu device%s, every %.1f s%s\n", nd, nd == 1 ? "" : "s", delay,
		       frame ? "" : " (rates from the next frame)");
		printf("%-16s %-8s %5s %7s %5s %10s %10s %12s %12s %8s %8s %6s %s\n", "DEVICE",
		       "BACKEND", "CHAN", "PID", "TURN", "SENT/s", "RECV/s", "BYTES_OUT/s",
		       "BYTES_IN/s", "SLEEP/s", "WAKE/s", "PROTO", "LAST_ERR");
		cur.n = 0;
		for (i = 0; i < nd; i++) {
			const char *backend = "?", *l;
			char *text = kst_fetch(names[i], &backend, &err);

			if (!text || !kst_ok(text)) {
				if (only)
					printf("%-16s %s\n", names[i],
					       kernproxy_strerror(text ? EKU_ABI : err));
				free(text);
				continue;
			}
			for (l = kst_next(text); l; l = kst_next(l)) {
				struct sample x, *p;
				char turn[16];

				if (!kst_kv(l, "turn", turn, sizeof(turn)))
					continue;
				memset(&x, 0, sizeof(x));
				snprintf(x.dev, sizeof(x.dev), "%s", names[i]);
				x.chan = kst_u64(l, "chan");
				x.sent = kst_u64(l, "sent");
				x.received = kst_u64(l, "received");
				x.bytes_sent = kst_u64(l, "bytes_sent");
				x.bytes_received = kst_u64(l, "bytes_received");
				x.sleeps = kst_u64(l, "sleeps");
				x.wakeups = kst_u64(l, "wakeups");
				/* Channels nobody ever attached stay out of the view. */
				if (!kst_u64(l, "attaches"))
					continue;
				if (sample_add(&cur, &x)) {
					free(text);
					return fail("top", EKU_NOMEM);
				}
				p = sample_find(&prev, x.dev, x.chan);
				if (!p)
					p = &x; /* first sight: no rate yet */
				printf(
				    "%-16s %-8s %5llu %7llu %5s %10.0f %10.0f %12.0f %12.0f %8.0f "
				    "%8.0f %6llu %s\n",
				    names[i], backend, x.chan, kst_u64(l, "pid"), turn,
				    rate(x.sent, p->sent, dt), rate(x.received, p->received, dt),
				    rate(x.bytes_sent, p->bytes_sent, dt),
				    rate(x.bytes_received, p->bytes_received, dt),
				    rate(x.sleeps, p->sleeps, dt), rate(x.wakeups, p->wakeups, dt),
				    kst_u64(l, "proto_errors"), err_name(kst_u64(l, "last_err")));
			}
			free(text);
		}
		if (!tty)
			printf("\n");
		fflush(stdout);
		{
			struct samples tmp = prev;

			prev = cur;
			cur = tmp;
		}
	}
	free(prev.s);
	free(cur.s);
	return 0;
}

static double seconds(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (*s == '\0' || *end != '\0' || !(v >= 0.01 && v <= 3600)) {
		fprintf(stderr, "kupctl: bad interval: %s\n", s);
		exit(2);
	}
	return v;
}

static int top_main(int argc, char **argv)
{
	long count = 0;
	double delay = 1;
	int i;

	for (i = 2; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-n") && i + 1 < argc)
			count = num(argv[++i], 1L << 30);
		else if (!strcmp(argv[i], "-d") && i + 1 < argc)
			delay = seconds(argv[++i]);
		else
			return usage();
	}
	if (argc - i > 1)
		return usage();
	return cmd_top(i < argc ? argv[i] : NULL, count, delay);
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "list"))
		return cmd_list();
	if (argc == 3 && !strcmp(argv[1], "stat"))
		return cmd_stat(argv[2], 0);
	if (argc == 4 && !strcmp(argv[1], "stat") && !strcmp(argv[2], "-r"))
		return cmd_stat(argv[3], 1);
	if (argc >= 2 && !strcmp(argv[1], "top"))
		return top_main(argc, argv);
	if (argc >= 3 && !strcmp(argv[1], "info") && argc == 3)
		return cmd_info(argv[2]);
	if (argc >= 4 && !strcmp(argv[1], "ping") && argc <= 5)
		return cmd_ping(argv[2], num(argv[3], KUP_MAX_CHANNELS),
		                argc == 5 ? num(argv[4], 1L << 30) : 10);
	if (argc >= 3 && !strcmp(argv[1], "wait-notify") && argc <= 4)
		return cmd_wait_notify(argv[2], argc == 4 ? num(argv[3], 1L << 30) : -1);
	return usage();
}
