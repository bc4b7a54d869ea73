/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cmp_kup.c - KUP's side of `make bench-vm`'s comparison (kupcmp_kup.ko,
 * built on kup.ko through kupsvc.h like examples/echo/kup_echo.c).
 *
 * Two devices of two one-page channels each, one kernel thread per channel:
 *   kupcmp_kup      the default spin (kup.ko's spin_us, 20 us), then sleep
 *   kupcmp_kup_blk  spin 0: every wait sleeps at once (blocking mode)
 * Channel 0 echoes every message as kup_echo does (kupdev_recv, a private
 * copy, then kupdev_send_timed of that copy); channel 1 is a sink: it takes
 * the message's private copy (kupdev_recv) and passes the turn back empty.
 * On attach the kernel side holds the turn and passes it with an empty
 * message, which the process receives first.
 */
#include "kupsvc.h"

#define CK_CHANS   2
#define CK_CH_ECHO 0
#define CK_CH_SINK 1

struct ck_dev {
	const char *name;
	int64_t spin_ns; /* < 0: leave the default */
	struct kupdev_softc *sc;
	struct kupsvc_thread *thr[CK_CHANS];
};

static struct ck_dev ck_devs[] = {
    {.name = "kupcmp_kup", .spin_ns = -1},
    {.name = "kupcmp_kup_blk", .spin_ns = 0},
};
#define CK_NDEVS ((int)(sizeof(ck_devs) / sizeof(ck_devs[0])))

/* One attached channel until the process leaves: -EKU_CLOSED, -EKU_SHUTDOWN, ... */
static int ck_session(struct kupdev_softc *sc, int chan)
{
	void *msg;
	size_t len;
	int r;

	r = kupdev_pass_timed(sc, chan, 0, KUP_FOREVER);
	while (r == 0) {
		r = kupdev_recv(sc, chan, &msg, &len, 0, KUP_FOREVER);
		if (r)
			break;
		if (chan == CK_CH_ECHO)
			r = kupdev_send_timed(sc, chan, msg, len, 0, KUP_FOREVER);
		else
			r = kupdev_pass_timed(sc, chan, 0, KUP_FOREVER);
	}
	return r;
}

static int ck_thread(void *arg)
{
	struct ck_dev *d = arg;
	int chan, r;

	for (;;) {
		chan = kupdev_wait_channel(d->sc);
		if (chan < 0) {
			if (chan == -EKU_SHUTDOWN)
				break;
			kupsvc_log("%s: waiting for a channel: %s\n", d->name, kup_strerror(chan));
			kupsvc_sleep_ms(100);
			continue;
		}
		r = ck_session(d->sc, chan);
		if (r != -EKU_CLOSED && r != -EKU_SHUTDOWN)
			kupsvc_log("%s: channel %d: %s\n", d->name, chan, kup_strerror(r));
	}
	return 0;
}

static void ck_stop(void)
{
	struct ck_dev *d;
	int i, c;

	for (i = 0; i < CK_NDEVS; i++)
		if (ck_devs[i].sc)
			kupdev_shutdown(ck_devs[i].sc);
	for (i = 0; i < CK_NDEVS; i++) {
		d = &ck_devs[i];
		for (c = 0; c < CK_CHANS; c++) {
			if (d->thr[c])
				kupsvc_thread_join(d->thr[c]);
			d->thr[c] = NULL;
		}
		if (d->sc)
			kupdev_unload(d->sc);
		d->sc = NULL;
	}
}

static int ck_start(void)
{
	struct ck_dev *d;
	int i, c, r;

	for (i = 0; i < CK_NDEVS; i++) {
		d = &ck_devs[i];
		d->sc = kupdev_create(d->name, 1, CK_CHANS);
		if (!d->sc) {
			r = kupdev_last_error(NULL, 0);
			ck_stop();
			return r ? -r : -EKU_INVAL;
		}
		if (d->spin_ns >= 0)
			kupdev_set_spin(d->sc, d->spin_ns);
		for (c = 0; c < CK_CHANS; c++) {
			d->thr[c] = kupsvc_thread_start(ck_thread, d, "kupcmp_kup");
			if (!d->thr[c]) {
				ck_stop();
				return -EKU_NOMEM;
			}
		}
	}
	return 0;
}

KUPSVC_DEFINE(kupcmp_kup, ck_start, ck_stop);
