/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * icount.c - instructions per 8-byte round trip, for callgrind.
 *
 *   icount N [single|block|fused]
 *
 * single (the default): one thread drives both sides through the public
 * APIs (libkup and the provider's libkupdev), nonblocking, so every
 * instruction counted is on the message path and none is spent waiting:
 * the count is the same on a quiet and on a loaded machine.
 *
 * block, fused: a kern-side thread and a user thread, each sleeping at
 * once when it waits (spin 0), as valgrind runs one thread at a time; the
 * count includes each side's announcing, sleeping and waking.  block uses
 * the four calls of `single`, fused one call a side (kupdev_send_recv,
 * kernproxy_send_recv): the same path with half the calls, measured the
 * only way it can be (a fused call needs its peer to act in the middle).
 *
 * bench/icount.sh runs it under valgrind --tool=callgrind, collecting only
 * inside the round-trip functions, at two lengths, and prints the
 * difference per round trip (start-up and first touches cancel out).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kup.h"
#include "kupdev.h"

static struct kupdev_softc *sc;
static void *ch;
static long rounds;
static const char msg[8] = "icount!";

static void die(const char *what)
{
	fprintf(stderr, "icount: %s failed\n", what);
	exit(1);
}

/* Kernel side sends 8 bytes, the process echoes them, the kernel side receives. */
__attribute__((noinline)) static void round_trips(long n)
{
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

/* Two threads: the kern side's n round trips, by two calls or by one. */
__attribute__((noinline)) static void kern_trips(long n, int fused)
{
	size_t len;
	void *d;
	long i;

	if (fused) {
		if (kupdev_send_timed(sc, 0, msg, sizeof(msg), 0, KUP_FOREVER) ||
		    kupdev_recv(sc, 0, &d, &len, 0, KUP_FOREVER))
			die("kupdev_send_timed + kupdev_recv");
		for (i = 1; i < n; i++)
			if (kupdev_send_recv(sc, 0, msg, sizeof(msg), &d, &len, 0, KUP_FOREVER) ||
			    len != sizeof(msg))
				die("kupdev_send_recv");
		return;
	}
	for (i = 0; i < n; i++)
		if (kupdev_send_timed(sc, 0, msg, sizeof(msg), 0, KUP_FOREVER) ||
		    kupdev_recv(sc, 0, &d, &len, 0, KUP_FOREVER) || len != sizeof(msg))
			die("kupdev_send_timed + kupdev_recv");
}

__attribute__((noinline)) static void user_trips(long n, int fused)
{
	size_t len;
	void *d;
	long i;

	d = kernproxy_receive_len(ch, &len, 0);
	for (i = 0; d && i < n - 1; i++) {
		if (fused) {
			d = kernproxy_send_recv(ch, d, len, &len, 0);
			continue;
		}
		if (kernproxy_send(ch, d, len, 0))
			die("kernproxy_send");
		d = kernproxy_receive_len(ch, &len, 0);
	}
	if (!d || kernproxy_send(ch, d, len, 0))
		die("kernproxy_send_recv");
}

static void *user_main(void *arg)
{
	user_trips(rounds, arg != NULL);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 2 ? argv[2] : "single";
	int fused = !strcmp(mode, "fused");
	char name[64];
	pthread_t t;
	void *h;

	rounds = argc > 1 ? atol(argv[1]) : 1000;
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
	if (!strcmp(mode, "single")) {
		round_trips(rounds);
	} else if (fused || !strcmp(mode, "block")) {
		/* The kernel side has the first turn: it sends first, in either form. */
		kupdev_set_spin(sc, 0);
		kernproxy_set_spin(ch, 0);
		if (pthread_create(&t, NULL, user_main, fused ? &t : NULL))
			die("pthread_create");
		kern_trips(rounds, fused);
		pthread_join(t, NULL);
	} else {
		die(mode);
	}
	kernproxy_close(h);
	kupdev_unload(sc);
	return 0;
}
