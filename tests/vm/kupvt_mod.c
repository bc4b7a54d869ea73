// SPDX-License-Identifier: BSD-2-Clause
/*
 * kupvt_mod.c - the VM suite's own test module (kupvt.ko), written against
 * kupdev.h/kupsvc.h.  Device "kupvt": KUPVT_CHANS channels of one page.
 * A dispatcher thread reports attaches; one worker per channel runs a
 * session per attach: send a hello, then answer each message by its
 * first byte:
 *   'E' echo it back           'P' pass the turn (empty message)
 *   'Z' echo it, zero-copy     'H' hold the turn until the process leaves
 *   'C' stable-copy check: sum the private copy, sleep 300 ms while the
 *       process rewrites the shared bytes, sum again; reply "C" sum1 sum2
 * A second device, kupvt_attr (2 pages, 1 channel, uid 1000, gid 100,
 * mode 0660), checks kupdev_create_attr; load fails if kupdev_create
 * accepts a duplicate or bad name or size.  Writing N to the parameter
 * cycles creates and unloads a device "kupvt_cyc" N times (vmtest checks
 * that no memory is left behind per cycle); writing N to notify calls
 * kupdev_notify(kupvt) N times.  kupvt_big (255 pages, one
 * channel, no module thread) is for tests that attach big memory.
 * kupvt_pool (1 channel; Linux, where the parameters are read) is served
 * by a pool of two threads, each taking whatever kupdev_wait_channel hands
 * it: after the hello, a message 'R' makes the thread keep a zero-copy
 * receive pointer ('W': a send buffer) across the next attach, which the
 * other thread serves; it then reads the bytes again ('W': fills the
 * buffer) and reports in the parameter pool_result (10: holding the
 * pointer, 1: same bytes, 2: changed, 3: written).
 * 'S' holds the zero-copy receive pointer the same way, then passes it to
 * kupdev_send_timed (an echo of a zero-copy receive, the pointer as the
 * argument of the thread's next call, which reports the old session's end,
 * and of the one after it; reports 11: sending, 4: sent,
 * 5: failed) once the serving thread took an 'X', which makes it keep the
 * turn without a call until that send is done.  'S' and 'X' wait up to
 * 60 s, so they act only while the parameter pool_arm is 1 (vmtest sets
 * it; the soak's random bytes would stall the pool).  'Q' ends a session
 * (a pass, and the thread makes no further call); anything else is echoed.
 * Unload (rmmod) shuts the devices down first, then joins the threads.
 * On FreeBSD (kupvt.ko for tests/freebsd/vm) the parameters are sysctls:
 * debug.kupvt.cycles and debug.kupvt.notify, and leak is the kenv tunable
 * debug.kupvt.leak, read at load.
 */
#include "kupsvc.h"
#ifdef __FreeBSD__
#include <sys/lock.h>
#include <sys/mutex.h>
#include <sys/sysctl.h>
#include <machine/atomic.h>
#else
#include <linux/wait.h>
#endif

#define KUPVT_CHANS 4

struct kupvt_hello {
	char magic[4]; /* "KVTH" */
	uint32_t chan;
};

static struct kupdev_softc *sc, *sc_attr, *sc_leak, *sc_big, *sc_pool;
static struct kupsvc_thread *disp, *workers[KUPVT_CHANS], *pool_thr[2];

#ifdef __FreeBSD__
/* The workers' go flags and the notify device, under kupvt_mtx. */
static struct mtx kupvt_mtx;
MTX_SYSINIT(kupvt_mtx, &kupvt_mtx, "kupvt", MTX_DEF);
static int go[KUPVT_CHANS];
static int stopping;
static struct kupdev_softc *notify_sc;
static unsigned int cycles_done;
static int leak;
TUNABLE_INT("debug.kupvt.leak", &leak);

static SYSCTL_NODE(_debug, OID_AUTO, kupvt, CTLFLAG_RW | CTLFLAG_MPSAFE, 0, "kupvt test module");

/* Write N: create and unload kupvt_cyc N times; reads back the cycles done. */
static int kupvt_cycles_sysctl(SYSCTL_HANDLER_ARGS)
{
	struct kupdev_softc *c;
	unsigned int n = cycles_done, i;
	int error = sysctl_handle_int(oidp, &n, 0, req);

	if (error != 0 || req->newptr == NULL)
		return (error);
	if (n > 100000)
		return (EINVAL);
	for (i = 0; i < n; i++) {
		c = kupdev_create("kupvt_cyc", 1, 2);
		if (c == NULL)
			return (kupdev_last_error(NULL, 0) == EKU_NOMEM ? ENOMEM : EIO);
		if (kupdev_unload(c) != 0)
			return (EIO);
		cycles_done++;
	}
	return (0);
}
SYSCTL_PROC(_debug_kupvt, OID_AUTO, cycles, CTLTYPE_UINT | CTLFLAG_RW | CTLFLAG_MPSAFE, NULL, 0,
            kupvt_cycles_sysctl, "IU", "create and unload a device N times");

/* Write N: kupdev_notify(kupvt) N times (it never sleeps: fine under a mutex). */
static int kupvt_notify_sysctl(SYSCTL_HANDLER_ARGS)
{
	unsigned int n = 0, i;
	int error = sysctl_handle_int(oidp, &n, 0, req);

	if (error != 0 || req->newptr == NULL)
		return (error);
	mtx_lock(&kupvt_mtx);
	if (notify_sc == NULL)
		error = ENODEV;
	for (i = 0; notify_sc != NULL && i < n && i < 1000; i++)
		kupdev_notify(notify_sc);
	mtx_unlock(&kupvt_mtx);
	return (error);
}
SYSCTL_PROC(_debug_kupvt, OID_AUTO, notify, CTLTYPE_UINT | CTLFLAG_RW | CTLFLAG_MPSAFE, NULL, 0,
            kupvt_notify_sysctl, "IU", "kupdev_notify(kupvt) N times");

static int kupvt_stopping(void)
{
	return (atomic_load_acq_int(&stopping));
}

/* Until the dispatcher hands channel ch over (1), or the module stops (0). */
static int kupvt_wait_go(int ch)
{
	int r;

	mtx_lock(&kupvt_mtx);
	while (!stopping && !go[ch])
		mtx_sleep(go, &kupvt_mtx, 0, "kupvtw", 0);
	r = !stopping;
	go[ch] = 0;
	mtx_unlock(&kupvt_mtx);
	return (r);
}

static void kupvt_go(int ch)
{
	mtx_lock(&kupvt_mtx);
	go[ch] = 1;
	wakeup(go);
	mtx_unlock(&kupvt_mtx);
}

static void kupvt_set_notify(struct kupdev_softc *s)
{
	mtx_lock(&kupvt_mtx);
	notify_sc = s;
	mtx_unlock(&kupvt_mtx);
}

static void kupvt_set_stopping(void)
{
	mtx_lock(&kupvt_mtx);
	atomic_store_rel_int(&stopping, 1);
	wakeup(go);
	mtx_unlock(&kupvt_mtx);
}

#define pr_err(...) printf(__VA_ARGS__)
#else
/* leak=1: also make kupvt_leak, and at unload only shut it down (as a module
 * that forgets kupdev_unload would): kup.ko's own exit must clean it up. */
static bool leak;
module_param(leak, bool, 0444);
/* Write N: create and unload kupvt_cyc N times; reads back the cycles done. */
static unsigned int cycles_done;

static int kupvt_cycles_set(const char *val, const struct kernel_param *kp)
{
	struct kupdev_softc *c;
	unsigned int n, i;
	int r = kstrtouint(val, 0, &n);

	if (r)
		return r;
	if (n > 100000)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		c = kupdev_create("kupvt_cyc", 1, 2);
		if (!c)
			return kupdev_last_error(NULL, 0) == EKU_NOMEM ? -ENOMEM : -EIO;
		r = kupdev_unload(c);
		if (r)
			return -EIO;
		cycles_done++;
	}
	return 0;
}

static const struct kernel_param_ops kupvt_cycles_ops = {
    .set = kupvt_cycles_set,
    .get = param_get_uint,
};
module_param_cb(cycles, &kupvt_cycles_ops, &cycles_done, 0644);

/* Write N: kupdev_notify(kupvt) N times (vmtest polls a device handle). */
static struct kupdev_softc *notify_sc; /* under kernel_param_lock */

static int kupvt_notify_set(const char *val, const struct kernel_param *kp)
{
	unsigned int n, i;
	int r = kstrtouint(val, 0, &n);

	if (r)
		return r;
	if (!notify_sc)
		return -ENODEV;
	for (i = 0; i < n && i < 1000; i++)
		kupdev_notify(notify_sc);
	return 0;
}

static const struct kernel_param_ops kupvt_notify_ops = {
    .set = kupvt_notify_set,
};
module_param_cb(notify, &kupvt_notify_ops, NULL, 0200);

/* --- kupvt_pool: zero-copy pointers in a thread pool --------------------- */

static atomic_t pool_hellos; /* sessions the pool has begun */
static DECLARE_WAIT_QUEUE_HEAD(pool_wq);
static int pool_result;
module_param(pool_result, int, 0644);
static atomic_t pool_x; /* 'X' taken: the 'S' thread may send */
static int pool_arm;    /* 1: 'S' and 'X' as below, else echoed like any byte */
module_param(pool_arm, int, 0644);

static uint32_t kupvt_sum(const uint8_t *p, size_t len);
static int stopping;

/* Hold a pointer into this attach until the pool begins the next session. */
static void kupvt_pool_hold(int hellos)
{
	WRITE_ONCE(pool_result, 10);
	wait_event_timeout(pool_wq, READ_ONCE(stopping) || atomic_read(&pool_hellos) != hellos,
	                   60 * HZ);
}

static void kupvt_pool_session(int ch)
{
	struct kupvt_hello h = {{'K', 'V', 'T', 'H'}, ch};
	const void *p;
	void *buf;
	size_t len, cap;
	uint32_t s1;
	int n, r;

	if (kupdev_send(sc_pool, &h, sizeof(h), ch))
		return;
	n = atomic_inc_return(&pool_hellos);
	wake_up_all(&pool_wq);
	while (!kupdev_recv_shared_untrusted(sc_pool, ch, &p, &len, 0, KUP_FOREVER)) {
		switch (len ? ((const uint8_t *)p)[0] : 0) {
		case 'R':
			s1 = kupvt_sum(p, len);
			kupvt_pool_hold(n);
			WRITE_ONCE(pool_result, kupvt_sum(p, len) == s1 ? 1 : 2);
			return; /* no call on the channel: the other thread has it */
		case 'W':
			if (kupdev_send_buf(sc_pool, ch, &buf, &cap, 0, KUP_FOREVER))
				return;
			kupvt_pool_hold(n);
			memset(buf, 0x5a, cap);
			WRITE_ONCE(pool_result, 3);
			return;
		case 'Q':
			/* The session's end: pass and leave before the process closes, so
			 * no call of this thread reaches the channel's next attach. */
			kupdev_pass(sc_pool, ch);
			return;
		case 'S':
			if (!READ_ONCE(pool_arm))
				goto echo; /* armed by vmtest only: the soak sends any byte */
			atomic_set(&pool_x, 0);
			kupvt_pool_hold(n);
			/* After the other thread took 'X' (it reads it in place: no earlier). */
			wait_event_timeout(pool_wq, READ_ONCE(stopping) || atomic_read(&pool_x),
			                   60 * HZ);
			WRITE_ONCE(pool_result, 11);
			/*
			 * This thread was in the old session's conversation: its first
			 * call hears that end (the session rule, per thread).  Told, it
			 * sends anyway, for the pointer's sake: the argument of the call.
			 */
			r = kupdev_send_timed(sc_pool, ch, p, len, 0, 30000000000LL);
			if (r == -EKU_CLOSED)
				r = kupdev_send_timed(sc_pool, ch, p, len, 0, 30000000000LL);
			WRITE_ONCE(pool_result, r ? 5 : 4);
			wake_up_all(&pool_wq);
			return;
		case 'X':
			if (!READ_ONCE(pool_arm))
				goto echo;
			atomic_set(&pool_x, 1);
			wake_up_all(&pool_wq);
			wait_event_timeout(pool_wq,
			                   READ_ONCE(stopping) || (READ_ONCE(pool_result) != 10 &&
			                                           READ_ONCE(pool_result) != 11),
			                   60 * HZ);
			break;
		default:
		echo:
			if (kupdev_send_timed(sc_pool, ch, p, len, 0, KUP_FOREVER))
				return;
		}
	}
}

static int kupvt_pool_thread(void *arg)
{
	int ch;

	while ((ch = kupdev_wait_channel(sc_pool)) >= 0)
		kupvt_pool_session(ch);
	return 0;
}
static DECLARE_WAIT_QUEUE_HEAD(kupvt_wq);
static atomic_t go[KUPVT_CHANS];

static int kupvt_stopping(void)
{
	return READ_ONCE(stopping);
}

/* Until the dispatcher hands channel ch over (1), or the module stops (0). */
static int kupvt_wait_go(int ch)
{
	wait_event_interruptible(kupvt_wq, READ_ONCE(stopping) || atomic_read(&go[ch]));
	if (READ_ONCE(stopping))
		return 0;
	atomic_set(&go[ch], 0);
	return 1;
}

static void kupvt_go(int ch)
{
	atomic_set(&go[ch], 1);
	wake_up_interruptible_all(&kupvt_wq);
}

static void kupvt_set_notify(struct kupdev_softc *s)
{
	kernel_param_lock(THIS_MODULE);
	notify_sc = s;
	kernel_param_unlock(THIS_MODULE);
}

static void kupvt_set_stopping(void)
{
	WRITE_ONCE(stopping, 1);
	wake_up_interruptible_all(&kupvt_wq);
}
#endif

static uint32_t kupvt_sum(const uint8_t *p, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static int kupvt_session(int ch)
{
	struct kupvt_hello h = {{'K', 'V', 'T', 'H'}, ch};
	uint32_t reply[3];
	void *data, *buf;
	size_t len, cap;
	int r;

	r = kupdev_send(sc, &h, sizeof(h), ch);
	while (!r) {
		r = kupdev_recv(sc, ch, &data, &len, 0, KUP_FOREVER);
		if (r)
			break;
		switch (len ? ((uint8_t *)data)[0] : 0) {
		case 'E':
			r = kupdev_send_timed(sc, ch, data, len, 0, KUP_FOREVER);
			break;
		case 'Z':
			r = kupdev_send_buf(sc, ch, &buf, &cap, 0, KUP_FOREVER);
			if (!r) {
				memcpy(buf, data, len);
				r = kupdev_send_commit(sc, ch, len);
			}
			break;
		case 'H':
			/*
			 * Keep the turn.  A nonblocking call, not kupdev_attached(),
			 * notices the end: it also tells apart a new process that
			 * attached the channel meanwhile (that call returns
			 * -EKU_CLOSED for this session first).
			 */
			while (!kupvt_stopping()) {
				r = kupdev_recv(sc, ch, &data, &len, KUP_NB, 0);
				if (r)
					break;
				kupsvc_sleep_ms(20);
			}
			if (!r)
				r = -EKU_SHUTDOWN;
			break;
		case 'C':
			reply[0] = 'C';
			reply[1] = kupvt_sum(data, len);
			kupsvc_sleep_ms(300);
			reply[2] = kupvt_sum(data, len);
			r = kupdev_send_timed(sc, ch, reply, sizeof(reply), 0, KUP_FOREVER);
			break;
		default:
			r = kupdev_pass_timed(sc, ch, 0, KUP_FOREVER);
			break;
		}
	}
	return r;
}

static int kupvt_worker(void *arg)
{
	int ch = (int)(long)arg;

	while (kupvt_wait_go(ch)) {
		/* The dispatcher got the attach: this thread takes it over. */
		if (kupdev_claim_channel(sc, ch) == 0)
			kupvt_session(ch);
	}
	return 0;
}

static int kupvt_dispatch(void *arg)
{
	int ch;

	while ((ch = kupdev_wait_channel(sc)) >= 0) {
		if (ch < KUPVT_CHANS)
			kupvt_go(ch);
	}
	return ch == -EKU_SHUTDOWN ? 0 : ch;
}

static void kupvt_stop(void)
{
	int i;

	kupvt_set_notify(NULL);
	kupvt_set_stopping();
#ifndef __FreeBSD__
	wake_up_all(&pool_wq);
#endif
	if (sc)
		kupdev_shutdown(sc); /* every blocked kupdev_* call returns */
	if (sc_pool)
		kupdev_shutdown(sc_pool);
	kupsvc_thread_join(disp);
	for (i = 0; i < KUPVT_CHANS; i++)
		if (workers[i])
			kupsvc_thread_join(workers[i]);
	for (i = 0; i < 2; i++)
		if (pool_thr[i])
			kupsvc_thread_join(pool_thr[i]);
	if (sc_pool)
		kupdev_unload(sc_pool); /* frees what a pool thread still holds */
	if (sc)
		kupdev_unload(sc);
	if (sc_attr)
		kupdev_unload(sc_attr);
	if (sc_big)
		kupdev_unload(sc_big);
	/* Shut down but never unloaded, like a buggy module: kup.ko's exit must cope. */
	if (sc_leak)
		kupdev_shutdown(sc_leak);
}

static int kupvt_start(void)
{
	struct kupdev_attr attr = {.uid = 1000, .gid = 100, .mode = 0660};
	int i;

	/* A second device, only to check owner and mode of its node. */
	sc_attr = kupdev_create_attr("kupvt_attr", 2, 1, &attr);
	if (!sc_attr)
		return -kupdev_last_error(NULL, 0);
	/* Names are unique; bad names and sizes are refused. */
	if (kupdev_create("kupvt_attr", 1, 1) || kupdev_last_error(NULL, 0) != EKU_EXIST ||
	    kupdev_create("../x", 1, 1) || kupdev_create(".hidden", 1, 1) ||
	    kupdev_create("ok", 0, 1) || kupdev_create("ok", 1, KUP_MAX_CHANNELS + 1) ||
	    kupdev_create("ok", KUP_MAX_SIZE + 1, 1) ||
	    kupdev_create_attr("ok", 1, 1, &(struct kupdev_attr){.mode = 010600}) ||
	    kupdev_last_error(NULL, 0) != EKU_INVAL) {
		pr_err("kupvt: kupdev_create accepted a bad name or size\n");
		kupdev_unload(sc_attr);
		return -EKU_INVAL;
	}

	sc_big = kupdev_create("kupvt_big", 255, 1);
	if (!sc_big) {
		i = kupdev_last_error(NULL, 0);
		kupdev_unload(sc_attr);
		return -i;
	}
	if (leak) {
		sc_leak = kupdev_create("kupvt_leak", 1, 1);
		if (!sc_leak) {
			i = kupdev_last_error(NULL, 0);
			kupdev_unload(sc_attr);
			kupdev_unload(sc_big);
			return -i;
		}
	}
	sc = kupdev_create("kupvt", 1, KUPVT_CHANS);
	if (!sc) {
		i = kupdev_last_error(NULL, 0);
		kupdev_unload(sc_attr);
		kupdev_unload(sc_big);
		if (sc_leak)
			kupdev_unload(sc_leak);
		return -i;
	}
	/* NULL out-pointers are refused before the channel is touched, on every host. */
	{
		const void *p;
		void *b;
		size_t n;

		if (kupdev_recv(sc_big, 0, &b, NULL, KUP_NB, 0) != -EKU_INVAL ||
		    kupdev_recv(sc_big, 0, NULL, &n, KUP_NB, 0) != -EKU_INVAL ||
		    kupdev_recv_shared_untrusted(sc_big, 0, &p, NULL, KUP_NB, 0) != -EKU_INVAL ||
		    kupdev_send_buf(sc_big, 0, &b, NULL, KUP_NB, 0) != -EKU_INVAL ||
		    kupdev_send_recv(sc_big, 0, "x", 1, &b, NULL, KUP_NB, 0) != -EKU_INVAL ||
		    kupdev_send_recv(sc_big, 0, "x", 1, NULL, &n, KUP_NB, 0) != -EKU_INVAL) {
			pr_err("kupvt: a NULL out-pointer was accepted\n");
			goto fail;
		}
	}
	for (i = 0; i < KUPVT_CHANS; i++) {
		workers[i] = kupsvc_thread_start(kupvt_worker, (void *)(long)i, "kupvt_w");
		if (!workers[i])
			goto fail;
	}
	disp = kupsvc_thread_start(kupvt_dispatch, NULL, "kupvt_d");
	if (!disp)
		goto fail;
#ifndef __FreeBSD__
	sc_pool = kupdev_create("kupvt_pool", 1, 1);
	if (!sc_pool)
		goto fail;
	for (i = 0; i < 2; i++) {
		pool_thr[i] = kupsvc_thread_start(kupvt_pool_thread, NULL, "kupvt_p");
		if (!pool_thr[i])
			goto fail;
	}
#endif
	kupvt_set_notify(sc);
	return 0;
fail:
	kupvt_stop();
	return -EKU_NOMEM;
}

KUPSVC_DEFINE(kupvt, kupvt_start, kupvt_stop);
