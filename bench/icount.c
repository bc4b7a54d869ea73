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
 * touches cancel out).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kup.h"
#include "kupdev.h"

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

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000;
	char name[64];
	void *h;

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
