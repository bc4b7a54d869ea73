/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kpv.h - libkupdev internals: the user-mode provider's device and channel
 * objects.  kpv_dev.c owns the socket, the monitor thread, attach/detach
 * and unload; kpv_chan.c the per-channel kupdev_* calls and sleep/wake.
 *
 * Locks, in order: kpv_chan.gate (one kupdev_* call at a time on a
 * channel, held across its sleep; kpv_gate.h) -> kupdev_softc.lock (attach state,
 * queue, connections, callers count) -> kpv_chan.conn_lock (the channel
 * connection fd, used by wake).  Nothing that can block for long is done
 * under sc->lock or conn_lock.
 */
#ifndef KPV_H
#define KPV_H

#include <pthread.h>
#include <stdint.h>

#include "kpv_gate.h"
#include "kup_wire.h"
#include "kupdev.h"
#include "kup_os.h"

#define KPV_MAGIC 0x4b505644u /* "KPVD" */

/* A connection the monitor thread watches. */
struct kpv_conn {
	int fd;
	int kind;            /* KPV_CONN_* */
	struct kpv_chan *ch; /* KPV_CONN_CHAN */
	struct kpv_conn *next;
	/* KPV_CONN_WAIT (monitor thread only): the parked request, in line. */
	struct kw_msg req;
	struct kpv_conn *wnext;
};
#define KPV_CONN_LISTEN 0
#define KPV_CONN_NEW    1 /* accepted, no request yet */
#define KPV_CONN_DEV    2
#define KPV_CONN_CHAN   3
#define KPV_CONN_STOP   4 /* the eventfd that stops the monitor */
#define KPV_CONN_WAIT   5 /* an attach waiting for a free channel (KUP_ATTACH_WAIT) */

/* One attach's two blocks, as the provider maps them. */
struct kpv_mem {
	void *kmap, *umap; /* RW in the provider, KUP_BLOCK_LEN(size) each */
	size_t len;
	uint32_t refs; /* under the channel's gate: the channel's, one per retired loan */
};
void kpv_mem_put(struct kpv_mem *m);

struct kpv_chan {
	struct kupdev_softc *sc;
	uint32_t id;
	struct kpv_gate gate; /* serialises kupdev_* calls on the channel */

	/* Memory of the current (or last) attach; swapped under gate by the monitor. */
	int live;            /* e is set up on mapped blocks */
	struct kpv_mem *mem; /* the attach c.e works on */
	struct kup_chan c;   /* core's: the end, loans (a retired kpv_mem: a ref each),
	                      * session, counters; its device-lock fields under sc->lock */
	uint8_t *rx_copy;    /* cap bytes: kupdev_receive's private copy */

	/* Under sc->lock. */
	int attached;
	struct kpv_conn *conn;
	int64_t pid; /* the attached process (SO_PEERCRED), 0: none */

	/* Under conn_lock: the fd wake sends the one-byte message on. */
	pthread_mutex_t conn_lock;
	int conn_fd;

	uint32_t ev;   /* private futex word: bumped on host events */
	int wipe_copy; /* under gate: a new session began; clear rx_copy at the next call */
};
/*
 * c.gen counts attaches and is written under the gate and sc->lock, so
 * either reads it: a call takes sc->lock only when gen moved past
 * c.sess.egen (core's session rule).
 */

struct kupdev_softc {
	struct kup_dev d; /* core's part, first; d.dead and d.pending under lock */
	uint32_t magic;
	char name[KUP_NAME_MAX];
	char path[256];

	int lsock;    /* listening socket */
	int epfd;     /* the monitor's epoll */
	int stopfd;   /* eventfd: stop the monitor */
	int spare_fd; /* /dev/null, given up to refuse a client when out of fds */
	pthread_t mon;
	int mon_started;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* attach queue */
	int unloading;       /* kupdev_unload has begun: under lock */
	uint32_t inside;     /* device-wide kupdev_* calls in progress (kpv_gate.h) */
	uint32_t notify_gen;
	struct kpv_conn *conns;                   /* every connection but the listener and stopfd */
	struct kpv_conn *waiters, **waiters_tail; /* parked attaches, FIFO (monitor only) */
	void *pend_mem;                           /* d.pending's */

	struct kpv_conn lconn, sconn; /* epoll tags of lsock and stopfd */
	struct kpv_chan *chans;       /* chan_cnt of them */
};

/* kpv_chan.c */
extern const struct kup_host_ops kpv_host_ops;
/* Wake whatever a kupdev_* call on ch sleeps on, after kup_end_set_local. */
void kpv_kick(struct kpv_chan *ch);
/* Channel chan_id of a live device: 0, or -EKU_INVAL / -EKU_RANGE. */
static inline int kpv_chan_of(struct kupdev_softc *sc, int chan_id, struct kpv_chan **chp)
{
	if (!sc || sc->magic != KPV_MAGIC)
		return -EKU_INVAL;
	if (chan_id < 0 || (uint32_t)chan_id >= sc->d.chan_cnt)
		return -EKU_RANGE;
	*chp = &sc->chans[kup_index_nospec((uint32_t)chan_id, sc->d.chan_cnt)];
	return 0;
}
/* Count kupdev_shutdown in, which still works after a shutdown; kup_os_leave. */
static inline void kpv_hold(struct kupdev_softc *sc)
{
	kpv_count_enter(&sc->inside);
}

#endif /* KPV_H */
