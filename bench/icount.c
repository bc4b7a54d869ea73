/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * icount.c - instructions per 8-byte round trip, for callgrind.
 *
 * One thread drives both sides through the public APIs (libkup and the
 * provider's libkupdev), nonblocking, so every instruction counted is on
 * the message path and none is spent waiting: the count is the same on a
 * quiet and on a loaded machine.  bench/icount.sh runs it under
 * valgrind --tool=callgrind, collecting only inside round_trips(), at two
 * lengths, and prints the difference per round trip (start-up and first
 * touches cancel out).  "icount N core" runs the same round trips over two
 * core ends in this process (kup_end_*, compiled in): the protocol's share
 * of the count, without the APIs and the provider above it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kup.h"
#include "kupdev.h"
#include "kup_core.h"

static struct kupdev_softc *sc;
static void *ch;

static void die(const char *what)
{
	fprintf(stderr, "icount: %s failed\n", what);
	exit(1);
}

/* Kernel side sends 8 bytes, the process echoes them, the kernel side receives. */
__attribute__((noinline)) static void round_trips(long n)
{
	static const char msg[8] = "icount!";
	size_t len;
	void *d;
	long i;

	for (i = 0; i < n; i++) {
		if (kupdev_send_timed(sc, 0, msg, sizeof(msg), KUP_NB, 0))
			die("kupdev_send_timed");
		d = kernproxy_receive_len(ch, &len, KP_NB);
		if (!d || len != sizeof(msg))
			die("kernproxy_receive_len");
		if (kernproxy_send(ch, d, len, KP_NB))
			die("kernproxy_send");
		if (kupdev_recv(sc, 0, &d, &len, KUP_NB, 0) || len != sizeof(msg))
			die("kupdev_recv");
	}
}

/* The same round trip over core ends: the protocol alone. */
__attribute__((noipa)) static void round_trips_core(struct kup_end *k, struct kup_end *u, long n)
{
	static const char msg[8] = "icount!";
	const void *d;
	uint32_t len;
	long i;

	for (i = 0; i < n; i++) {
		if (kup_end_send(k, msg, sizeof(msg), KUPC_NB, 0))
			die("kup_end_send kern");
		if (kup_end_recv(u, KUPC_NB, 0, &d, &len, 0) || len != sizeof(msg))
			die("kup_end_recv user");
		if (kup_end_send(u, d, len, KUPC_NB, 0))
			die("kup_end_send user");
		if (kup_end_recv(k, KUPC_NB, 0, &d, &len, 1) || len != sizeof(msg))
			die("kup_end_recv kern");
	}
}

/* Nonblocking throughout: nobody sleeps, so no op is ever called but wake's check. */
static int no_sleep(struct kup_end *e, const uint32_t *tw, uint32_t seen, int64_t ns)
{
	(void)e, (void)tw, (void)seen, (void)ns;
	return -EKU_INVAL;
}

static void no_wake(struct kup_end *e, uint32_t bits)
{
	(void)e, (void)bits;
}

static void core_only(long n)
{
	static const struct kup_host_ops ops = {.sleep = no_sleep, .wake = no_wake};
	static struct kup_end k __attribute__((aligned(128))), u __attribute__((aligned(128)));
	static uint8_t mem[4 * KUP_PAGE] __attribute__((aligned(KUP_PAGE))), copy[KUP_PAGE];

	kup_chan_format(mem, mem + 2 * KUP_PAGE, 1, 0, 1);
	kup_end_init(&k, KUP_SIDE_KERN, mem, mem + 2 * KUP_PAGE, 1, &ops, NULL);
	kup_end_init(&u, KUP_SIDE_USER, mem, mem + 2 * KUP_PAGE, 1, &ops, NULL);
	k.rx_copy = copy;
	round_trips_core(&k, &u, n);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000;
	char name[64];
	void *h;

	if (argc > 2 && !strcmp(argv[2], "core")) {
		core_only(n);
		return 0;
	}

	snprintf(name, sizeof(name), "kup_icount_%d", (int)getpid());
	sc = kupdev_create(name, 1, 1);
	if (!sc)
		die("kupdev_create");
	h = kernproxy_open(name);
	if (!h)
		die("kernproxy_open");
	ch = kernproxy_channel(h, 0, 1);
	if (!ch)
		die("kernproxy_channel");
	if (kupdev_wait_channel(sc) != 0)
		die("kupdev_wait_channel");
	round_trips(n);
	kernproxy_close(h);
	kupdev_unload(sc);
	return 0;
}
