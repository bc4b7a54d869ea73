/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_echo.c - the echo service, written once against kupdev.h and
 * kupsvc.h: a provider program (build/examples/kup_echo), a Linux module and
 * a FreeBSD module from this same file.
 *
 * Device "kup_echo": ECHO_CHANS channels of one page per direction.  One
 * thread per channel waits for a process to attach a channel, greets it
 * (the kernel side moves first), then sends every message straight back,
 * until the process detaches (-EKU_CLOSED: wait for the next one) or the
 * service stops.
 *
 * Stopping: kupdev_shutdown wakes every thread with -EKU_SHUTDOWN (and
 * every process still attached with EKU_SHUTDOWN); the threads return, are
 * joined, and only then is the device unloaded and sc freed.
 */
#include "kupsvc.h"

#define ECHO_NAME  "kup_echo"
#define ECHO_PAGES 1
#define ECHO_CHANS 4

static struct kupdev_softc *echo_sc;
static struct kupsvc_thread *echo_thr[ECHO_CHANS];

/* "hello from kup_echo, channel N" without libc. */
static size_t greeting(char *buf, size_t cap, int chan)
{
	static const char text[] = "hello from " ECHO_NAME ", channel ";
	char digits[12];
	size_t n = 0, d = 0;
	unsigned int v = (unsigned int)chan;

	while (text[n] && n < cap) {
		buf[n] = text[n];
		n++;
	}
	do
		digits[d++] = (char)('0' + v % 10);
	while ((v /= 10) && d < sizeof(digits));
	while (d && n < cap)
		buf[n++] = digits[--d];
	return n;
}

/* One attached channel: greet, then echo until the process goes away. */
static int echo_session(int chan)
{
	char hello[48];
	void *msg;
	size_t len;
	int r;

	/* At attach the kernel side holds the turn: the seed's kupdev_send does not wait. */
	r = kupdev_send(echo_sc, hello, greeting(hello, sizeof(hello), chan), chan);
	while (r == 0) {
		/* A private copy of the message: the process cannot change it under us. */
		r = kupdev_recv(echo_sc, chan, &msg, &len, 0, KUP_FOREVER);
		if (r)
			break;
		r = kupdev_send_timed(echo_sc, chan, msg, len, 0, KUP_FOREVER);
	}
	return r;
}

static int echo_thread(void *arg)
{
	int chan, r;

	(void)arg;
	for (;;) {
		chan = kupdev_wait_channel(echo_sc);
		if (chan < 0) {
			if (chan == -EKU_SHUTDOWN)
				break;
			kupsvc_log(ECHO_NAME ": waiting for a channel: %s\n", kup_strerror(chan));
			kupsvc_sleep_ms(100);
			continue;
		}
		r = echo_session(chan);
		if (r != -EKU_CLOSED && r != -EKU_SHUTDOWN)
			kupsvc_log(ECHO_NAME ": channel %d: %s\n", chan, kup_strerror(r));
	}
	return 0;
}

static void echo_stop_all(void)
{
	int i;

	if (echo_sc)
		kupdev_shutdown(echo_sc);
	for (i = 0; i < ECHO_CHANS; i++) {
		if (echo_thr[i])
			kupsvc_thread_join(echo_thr[i]);
		echo_thr[i] = NULL;
	}
	if (echo_sc)
		kupdev_unload(echo_sc);
	echo_sc = NULL;
}

static int echo_start(void)
{
	int i;

	echo_sc = kupdev_create(ECHO_NAME, ECHO_PAGES, ECHO_CHANS);
	if (!echo_sc) {
		int r = kupdev_last_error(NULL, 0);

		return r ? -r : -EKU_INVAL;
	}
	for (i = 0; i < ECHO_CHANS; i++) {
		echo_thr[i] = kupsvc_thread_start(echo_thread, NULL, "kup_echo");
		if (!echo_thr[i]) {
			echo_stop_all();
			return -EKU_NOMEM;
		}
	}
	return 0;
}

KUPSVC_DEFINE(kup_echo, echo_start, echo_stop_all);
