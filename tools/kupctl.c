/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kupctl - look at KUP devices from the shell.
 *
 *   kupctl info NAME             backend, path, geometry, notify generation
 *   kupctl ping NAME CHAN [N]    attach CHAN, take the first turn, then N
 *                                round trips with an echo service
 *   kupctl wait-notify NAME [MS] wait for kupdev_notify()
 *
 * It links libkup's objects statically to show what the public API does
 * not (the device's geometry); it uses kernproxy_* for everything else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kp_backend.h"

static int usage(void)
{
	fprintf(stderr, "usage: kupctl info NAME\n"
	                "       kupctl ping NAME CHAN [COUNT]\n"
	                "       kupctl wait-notify NAME [TIMEOUT_MS]\n");
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

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "info") && argc == 3)
		return cmd_info(argv[2]);
	if (argc >= 4 && !strcmp(argv[1], "ping") && argc <= 5)
		return cmd_ping(argv[2], num(argv[3], KUP_MAX_CHANNELS),
		                argc == 5 ? num(argv[4], 1L << 30) : 10);
	if (argc >= 3 && !strcmp(argv[1], "wait-notify") && argc <= 4)
		return cmd_wait_notify(argv[2], argc == 4 ? num(argv[3], 1L << 30) : -1);
	return usage();
}
