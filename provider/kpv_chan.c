/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kpv_chan.c - the per-channel kupdev_* calls of the provider, and its
 * sleep/wake: futex_waitv on the process's turn word (shared memfd page)
 * and a private event word that detach and unload bump.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kpv.h"
#include "kup_wire.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

/* Fallback slice when the kernel has no futex_waitv: how late an unload is seen. */
#define KPV_SLICE_NS 50000000LL

struct kpv_waitv { /* = struct futex_waitv (Linux 5.16) */
	uint64_t val;
	uint64_t uaddr;
	uint32_t flags;
	uint32_t reserved;
};

static int no_waitv; /* atomic: futex_waitv returned ENOSYS once */

void kpv_kick(struct kpv_chan *ch)
{
	/* The store of e->local (kup_end_set_local) comes first; the bump publishes it. */
	__atomic_fetch_add(&ch->ev, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &ch->ev, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static int sleep_waitv(struct kpv_chan *ch, const uint32_t *peer_tw, uint32_t seen, uint32_t ev,
                       int64_t timeout_ns)
{
	struct kpv_waitv w[2] = {
	    {.val = seen, .uaddr = (uintptr_t)peer_tw, .flags = FUTEX_32},
	    {.val = ev, .uaddr = (uintptr_t)&ch->ev, .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG},
	};
	struct timespec ts, *tp = NULL;
	long r;

	if (timeout_ns >= 0) {
		int64_t end = kup_now_ns() + timeout_ns;

		ts.tv_sec = end / 1000000000;
		ts.tv_nsec = end % 1000000000;
		tp = &ts;
	}
	r = syscall(SYS_futex_waitv, w, 2, 0, tp, CLOCK_MONOTONIC);
	if (r >= 0)
		return 0;
	switch (errno) {
	case EAGAIN:
	case EINTR:
		return 0; /* a word changed, or a signal: core re-polls */
	case ETIMEDOUT:
		return -EKU_TIMEDOUT;
	case ENOSYS:
		__atomic_store_n(&no_waitv, 1, __ATOMIC_RELAXED);
		return 1;
	default:
		return -EKU_SYS;
	}
}

static int sleep_slice(struct kpv_chan *ch, const uint32_t *peer_tw, uint32_t seen,
                       int64_t timeout_ns)
{
	int64_t slice = KPV_SLICE_NS;
	struct timespec ts;

	if (timeout_ns >= 0 && timeout_ns < slice)
		slice = timeout_ns;
	ts.tv_sec = slice / 1000000000;
	ts.tv_nsec = slice % 1000000000;
	if (syscall(SYS_futex, peer_tw, FUTEX_WAIT, seen, &ts, NULL, 0) == 0)
		return 0;
	if (errno == ETIMEDOUT)
		return slice == timeout_ns ? -EKU_TIMEDOUT : 0; /* 0: core re-polls local */
	return errno == EAGAIN || errno == EINTR ? 0 : -EKU_SYS;
}

static int kpv_sleep(struct kup_end *e, const uint32_t *peer_tw, uint32_t seen, int64_t timeout_ns)
{
	struct kpv_chan *ch = e->host;
	uint32_t ev = __atomic_load_n(&ch->ev, __ATOMIC_ACQUIRE);
	int r;

	/* After reading ev: a host event set before that bump is visible here. */
	if (kup_load_once(&e->local))
		return 0;
	if (!__atomic_load_n(&no_waitv, __ATOMIC_RELAXED)) {
		r = sleep_waitv(ch, peer_tw, seen, ev, timeout_ns);
		if (r <= 0)
			return r;
	}
	return sleep_slice(ch, peer_tw, seen, timeout_ns);
}

/* The process announced a wait: futex wake, plus a wake byte for an armed fd. */
static void kpv_wake(struct kup_end *e, uint32_t bits)
{
	struct kpv_chan *ch = e->host;
	static const char b = KW_WAKE_BYTE;

	syscall(SYS_futex, &e->mine->tw, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	if (bits & KUP_WAIT_FD) {
		pthread_mutex_lock(&ch->conn_lock);
		if (ch->conn_fd >= 0) /* a full buffer holds a wake already */
			(void)send(ch->conn_fd, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		pthread_mutex_unlock(&ch->conn_lock);
	}
}

const struct kup_host_ops kpv_host_ops = {.sleep = kpv_sleep, .wake = kpv_wake};

/* --- Per-channel calls ------------------------------------------------------------ */

const void *kup_os_self(void)
{
	/* The thread's control block (what pthread_self() returns), one load of %fs:0:
	 * an address of a __thread variable costs a __tls_get_addr call in a shared library. */
	return __builtin_thread_pointer();
}

/* core's contract (kup_os.h): the gate if nobody holds it, waits for it or drains it. */
struct kup_chan *kup_os_chan_try(struct kupdev_softc *sc, int chan_id)
{
	struct kpv_chan *ch;

	if (kpv_chan_of(sc, chan_id, &ch) || !kpv_gate_trylock(&ch->gate))
		return NULL;
	return &ch->c;
}

static struct kpv_chan *kpv_chan_from(struct kup_chan *c)
{
	return (struct kpv_chan *)((char *)c - offsetof(struct kpv_chan, c));
}

/* After the gate's locked instruction: unload either sees us or we see dead. */
static int kpv_dead(const struct kupdev_softc *sc)
{
	return __atomic_load_n(&sc->d.dead, __ATOMIC_SEQ_CST) != 0;
}

/* core's contract (kup_os.h): nothing for kup_os_chan_admit to do. */
int kup_os_chan_quick(struct kupdev_softc *sc, struct kup_chan *c)
{
	struct kpv_chan *ch = kpv_chan_from(c);

	return !kpv_dead(sc) && ch->live && !ch->wipe_copy &&
	       kup_session_mine(&c->sess, c->gen, kup_os_self());
}

/* core's contract (kup_os.h): the checks and catching up of a call that holds the gate. */
int kup_os_chan_admit(struct kupdev_softc *sc, struct kup_chan *c)
{
	struct kpv_chan *ch = kpv_chan_from(c);
	int r = -EKU_SHUTDOWN;

	if (kpv_dead(sc))
		goto fail;
	r = -EKU_CLOSED;
	if (!ch->live)
		goto fail; /* never attached */
	/* The hot path only compares: gen and sess.egen change under the gate too. */
	if (!kup_session_mine(&c->sess, c->gen, kup_os_self())) {
		/* c.e is on the newest attach already (swapped at attach); the rule decides. */
		pthread_mutex_lock(&sc->lock);
		r = kup_session_next(&c->sess, c->gen, c->handed, c->holder == kup_os_self(),
		                     kup_os_self());
		pthread_mutex_unlock(&sc->lock);
		if (r < 0)
			goto fail;
	}
	if (ch->wipe_copy) {
		/* No byte of an earlier process's messages for the next one. */
		memset(ch->rx_copy, 0, sc->d.cap);
		ch->wipe_copy = 0;
	}
	return 0;

fail:
	/* Recorded while counted in the gate: after the unlock sc may be freed. */
	__atomic_store_n(&c->last_err, -r, __ATOMIC_RELAXED);
	kpv_gate_unlock(&ch->gate);
	return r;
}

/* core's contract (kup_os.h): a call on one channel, its gate held across it. */
int kup_os_chan_enter(struct kupdev_softc *sc, int chan_id, struct kup_chan **chp)
{
	struct kpv_chan *ch;
	int r = kpv_chan_of(sc, chan_id, &ch);

	if (r)
		return r;
	kpv_gate_lock(&ch->gate);
	r = kup_os_chan_admit(sc, &ch->c);
	if (!r)
		*chp = &ch->c;
	return r;
}

/* Tell the session rule, leave the gate. */
void kup_os_chan_leave(struct kup_chan *c, int r)
{
	struct kpv_chan *ch = kpv_chan_from(c);

	if (kup_session_ending(r)) {
		pthread_mutex_lock(&ch->sc->lock);
		kup_session_told(&c->sess, kup_os_self());
		pthread_mutex_unlock(&ch->sc->lock);
	}
	kpv_gate_unlock(&ch->gate);
}

void kup_os_mem_put(struct kup_chan *c, void *mem)
{
	kpv_mem_put(mem);
}
