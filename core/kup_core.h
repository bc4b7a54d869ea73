/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_core.h - the KUP channel protocol, once, for every host.
 *
 * One struct kup_end is one side's private view of one channel.  Everything
 * the protocol relies on (geometry, own sequence, the validated length of
 * the inbound message, states) lives here, never re-read from the shared
 * pages.  The peer's words are read once per observation and validated.
 *
 * The host (kernel/linux, kernel/freebsd, provider/, lib/) supplies
 * kup_plat.h (atomics, clock, memcpy, log) and two callbacks: sleep and
 * wake.  Core makes no OS call and allocates nothing.  Calls on one end must
 * be serialised by the host; kup_end_set_local() may come from any thread.
 */
#ifndef KUP_CORE_H
#define KUP_CORE_H

#include "kup_plat.h"
#include "kup_abi.h"

/*
 * Tracing hooks at the kern side's protocol points, for a host's
 * kup_plat.h to define (tracepoints, SDT probes): e is the kern side's
 * end.  Nothing where the host does not trace (the provider, libkup).
 */
#ifndef KUP_TRACE_SEND
#define KUP_TRACE_SEND(e, len)        ((void)0) /* the module sent len bytes (a pass: 0) */
#define KUP_TRACE_RECV(e, len)        ((void)0) /* the module received a message */
#define KUP_TRACE_PROTO(e, what, val) ((void)0) /* the peer broke the protocol */
#endif

/* For the few helpers of the hot path that must not cost a call (gcc and clang on every host). */
#define KUP_ALWAYS_INLINE inline __attribute__((always_inline))
/*
 * On an API call of the message path: everything it calls is inlined into
 * it where the compiler can see the callee (the libraries are built with
 * LTO, so the host's enter and core's operation too), one function per call.
 */
#define KUP_HOT __attribute__((flatten))
/* The full path of a call whose common case is in line (kup_turn.h): its frame stays out of it. */
#define KUP_NOINLINE __attribute__((__noinline__)) /* the kernels define noinline */

#define KUPC_NB   0x1 /* = KP_NB = KUP_NB */
#define KUPC_POLL 0x2 /* = KP_POLL = KUP_POLL */

#define KUP_SIDE_KERN 0
#define KUP_SIDE_USER 1

#define KUP_DEFAULT_SPIN_NS 20000 /* spin 20 us before sleeping */

struct kup_end;

struct kup_host_ops {
	/*
	 * Sleep while *peer_tw == seen and no host event (kup_end_set_local)
	 * is pending, at most timeout_ns (< 0: forever).  Must check *peer_tw
	 * and go to sleep atomically with respect to the peer's wake (futex
	 * compare, wait-queue condition).  Returns 0 (woken, perhaps
	 * spuriously), -EKU_TIMEDOUT, -EKU_INTR, or another -EKU_* to give up.
	 */
	int (*sleep)(struct kup_end *e, const uint32_t *peer_tw, uint32_t seen, int64_t timeout_ns);
	/* The peer announced a wait (its KUP_WAIT_* bits): wake it. */
	void (*wake)(struct kup_end *e, uint32_t peer_bits);
};

struct kup_counters {
	uint64_t sent, received, bytes_sent, bytes_received;
	uint64_t sleeps, wakeups, timeouts, errors, proto_errors;
};
/* Each has one writer (the end's caller) and readers anywhere (kupdev_stats): untorn stores. */
#define KUP_CNT_ADD(e, f, n) kup_store_once64(&(e)->cnt.f, (e)->cnt.f + (n))

/*
 * The turn we hold (kup_end.have_turn): taken with the message that
 * brought it not handed to the caller yet (by a send's wait, a readiness
 * check, a quick step that declined), or handed out (a receive, or a
 * txbuf that answers without reading it).  An orderly end waits behind a
 * message until it is handed out (message_pending).
 */
#define KUP_TURN_NEW  1u
#define KUP_TURN_READ 2u

struct kup_end {
	/* Fixed by kup_end_init. */
	struct kup_side *mine;       /* shared: our words */
	const struct kup_side *peer; /* shared: the peer's words, untrusted on the kern side */
	uint8_t *tx;                 /* shared: our outgoing data */
	const uint8_t *rx;           /* shared: the peer's outgoing data */
	uint8_t *rx_copy;            /* private: cap bytes for stable receives, or NULL */
	uint32_t cap;                /* bytes per direction */
	uint32_t lead;               /* 0 for the kern side (it moves first), 1 for the user */
	const struct kup_host_ops *ops;
	void *host;      /* the host's per-channel object */
	int64_t spin_ns; /* spin before sleeping; < 0: never sleep */

	/* Protocol state, private to this side. */
	uint32_t tx_seq;    /* messages we published */
	uint32_t rx_len;    /* validated length of the message that gave us the turn */
	const uint8_t *rx_at; /* where it is: the peer's inl[] or rx (set with rx_len) */
	uint32_t state;     /* our published KUP_ST_* */
	uint32_t wait_bits; /* our published wait word */
	uint32_t have_turn; /* turn observed and not yet passed back: 0 or a KUP_TURN_* */
	uint32_t sent_any;  /* we published a message on this attach */
	uint32_t tx_open;   /* kup_end_txbuf handed out the buffer */
	uint32_t seen_tw;   /* the peer's tw as the last poll read it */
	uint32_t broken;    /* sticky EKU_PROTO once the peer broke the protocol */
	uint32_t local;     /* host event: 0, EKU_CLOSED or EKU_SHUTDOWN (any thread) */

	/* Streaming (kup_stream.c): stream set by kup_end_init from the kern block's flags on
	 * the user side, by kup_end_set_mode on the kern side. */
	uint32_t stream;                     /* KUP_HDR_STREAM: a stream attach */
	uint32_t ring;                       /* ring bytes per direction (a power of two) */
	struct kup_stream_side *smine;       /* shared: our stream words */
	const struct kup_stream_side *speer; /* shared: the peer's, untrusted on the kern side */
	uint32_t s_prod;                     /* bytes we produced into our ring */
	uint32_t s_cons;                     /* bytes we consumed from the peer's ring */
	uint32_t s_peer_cons;                /* the peer's cons as we last read and checked it */
	uint32_t s_gen;                      /* our wait announcements so far */
	uint32_t s_arm;                      /* readiness-fd bits kept in our wait word */
	uint32_t s_need;                     /* with KUP_SW_SEND in s_arm: room wanted */
	uint32_t s_rang;                     /* the peer's wait word we last rang for */
	uint32_t s_rang_ok;                  /* s_rang is valid */
	/* The last peek's walk, for a release of all it handed out (0 records: none). */
	uint32_t s_peek_got, s_peek_end, s_peek_left;
	uint64_t s_peek_bytes;
	struct kup_counters cnt;             /* last: kup_end_init keeps it (see there) */
};

/*
 * Copy n <= KUP_COPY_SMALL bytes without a call: two moves of the largest
 * size that fits (8 or 16 bytes; pairs of 16 above 32), overlapping in the
 * middle, so that a small message costs a few loads and stores on each
 * side whatever its length.  Reads and writes only [0, n); src and dst apart.
 */
#define KUP_COPY_SMALL 64u
static KUP_ALWAYS_INLINE void kup_copy_small(void *dst, const void *src, uint32_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;

	if (n >= 8) {
		if (n <= 16) {
			__builtin_memcpy(d, s, 8);
			__builtin_memcpy(d + n - 8, s + n - 8, 8);
		} else if (n <= 32) {
			__builtin_memcpy(d, s, 16);
			__builtin_memcpy(d + n - 16, s + n - 16, 16);
		} else {
			__builtin_memcpy(d, s, 16);
			__builtin_memcpy(d + 16, s + 16, 16);
			__builtin_memcpy(d + n - 32, s + n - 32, 16);
			__builtin_memcpy(d + n - 16, s + n - 16, 16);
		}
	} else if (n >= 4) {
		__builtin_memcpy(d, s, 4);
		__builtin_memcpy(d + n - 4, s + n - 4, 4);
	} else if (n) {
		d[0] = s[0];
		d[n / 2] = s[n / 2];
		d[n - 1] = s[n - 1];
	}
}

/* Kern side: write a fresh channel's control pages (data pages must be zero). */
void kup_chan_format(void *kblock, void *ublock, uint32_t size, uint32_t chan, uint32_t chan_cnt);
/* User side: check the geometry the kern side published.  0 or -EKU_*. */
int kup_chan_check(const void *kblock, uint32_t size, uint32_t chan);

/*
 * Set up one side of a channel whose blocks are mapped at kblock/ublock.
 * rx_copy and cnt are kept (zero them for a new end): the counters are
 * the channel's over every attach, each field written untorn by the end's
 * caller, read anywhere with kup_counters_load.
 */
void kup_end_init(struct kup_end *e, int side, void *kblock, void *ublock, uint32_t size,
                  const struct kup_host_ops *ops, void *host);

/* Kern side's host, at attach: record the attach's mode (KUP_ATTACH_* flags) in the kern block. */
void kup_chan_set_mode(void *kblock, uint32_t attach_flags);
/* Kern side's host, after kup_end_init: the same mode from its own record of the attach
 * (never read back from the kern block, which the process may write). */
void kup_end_set_mode(struct kup_end *e, uint32_t attach_flags);
/* The peer broke the protocol: mark the end broken, count it, close a kern end.  -EKU_PROTO. */
int kup_end_violation(struct kup_end *e, const char *what, uint32_t val);
/* The peer announced a wait (its KUP_WAIT_* bits): count it and have the host wake it. */
void kup_end_wake(struct kup_end *e, uint32_t bits);

/* 0 when we hold the turn, -EKU_NOTREADY when the peer does, else -EKU_*.
 * On a stream end every turn call gives -EKU_INVAL. */
int kup_end_poll(struct kup_end *e);
/* kup_end_poll, waiting per flags (KUPC_NB, KUPC_POLL) and timeout (< 0 forever). */
int kup_end_wait(struct kup_end *e, int flags, int64_t timeout_ns);

/* len is a size_t so that no host truncates it before the capacity check. */
int kup_end_send(struct kup_end *e, const void *data, size_t len, int flags, int64_t timeout_ns);
int kup_end_pass(struct kup_end *e, int flags, int64_t timeout_ns);
/* Wait for the turn; *data is the message (in rx_copy when copy, else shared). */
int kup_end_recv(struct kup_end *e, int flags, int64_t timeout_ns, const void **data, uint32_t *len,
                 int copy);
/*
 * kup_end_send without waiting (-EKU_NOTURN when the peer holds the turn:
 * nothing sent), then kup_end_recv: a waiting error (-EKU_NOTREADY,
 * -EKU_TIMEDOUT, -EKU_INTR) means the message went and the reply has not
 * come.  Traces both halves on the kern side.
 */
int kup_end_send_recv(struct kup_end *e, const void *data, size_t len, int flags,
                      int64_t timeout_ns, const void **reply, uint32_t *rlen, int copy);
int kup_end_txbuf(struct kup_end *e, int flags, int64_t timeout_ns, void **buf, uint32_t *cap);
int kup_end_commit(struct kup_end *e, size_t len);

/* Publish our closing (KUP_ST_CLOSING) or shutdown state and wake the peer. */
void kup_end_close(struct kup_end *e, uint32_t state);
/* Host event (detach, unload) seen by our own calls; the host wakes its sleepers. */
void kup_end_set_local(struct kup_end *e, uint32_t code);

/*
 * Poll/kqueue readiness of a process's channel, as the kern side's host
 * judges it from the two blocks (each turn word read once): 1 the
 * process's turn, 0 the kernel's, -1 the exchange ended (either side left
 * the open state, garbage included): wake with POLLHUP / EV_EOF.  Every
 * word it reads, the kern control page's too, the process may have
 * written: unsigned arithmetic only, and the answer goes to that process.
 */
int kup_user_ready(const void *kblock, const void *ublock);

/* Announce a readiness-fd wait: 1 when ready or failed already (look now), 0 armed.
 * On a stream end: kup_stream_arm for records to read. */
int kup_end_arm(struct kup_end *e, uint32_t bits);
void kup_end_disarm(struct kup_end *e, uint32_t bits);

/*
 * Waiting for a host condition (kupdev_wait_channel): the flags and timeout
 * of the channel calls mean the same here.  check: >= 0 or -EKU_* (done),
 * -EKU_NOTREADY (not yet).  sleep: wait until check may answer otherwise,
 * at most timeout_ns (< 0: forever); re-check the condition and go to sleep
 * atomically with respect to the wake-up; 0 (woken, perhaps spuriously),
 * -EKU_TIMEDOUT, -EKU_INTR or another -EKU_* to give up.
 */
struct kup_cond_ops {
	int (*check)(void *arg);
	int (*sleep)(void *arg, int64_t timeout_ns);
};
/* KUPC_NB: check once; KUPC_POLL: spin on check, never sleep; else sleep at once. */
int kup_cond_wait(const struct kup_cond_ops *ops, void *arg, int flags, int64_t timeout_ns);
/*
 * idx when idx < n, else 0, without a branch, so a mispredicted bounds
 * check cannot index past an array under speculation (for ids that come
 * from a process or a module; not every kernel has array_index_nospec).
 * The empty asm keeps the compiler from turning the mask into a branch.
 */
static inline uint32_t kup_index_nospec(uint32_t idx, uint32_t n)
{
	uint64_t mask = (uint64_t)((int64_t)((uint64_t)idx - (uint64_t)n) >> 63);

	__asm__ __volatile__("" : "+r"(mask));
	return idx & (uint32_t)mask;
}

/* 1 when flags hold only KUPC_NB and KUPC_POLL. */
static inline int kup_flags_ok(int flags)
{
	return (flags & ~(KUPC_NB | KUPC_POLL)) == 0;
}

/*
 * The session rule (docs/protocol.md, "Sessions"), kept per channel by the
 * kern side's host, under the lock that orders its calls with the
 * attaches, kupdev_wait_channel, kupdev_claim_channel and kupdev_attached,
 * and per thread within the channel: a thread whose last call worked on an
 * older attach is still in that conversation, whichever thread moved the
 * channel on since.  Threads are named by an address the host only
 * compares (kup_os_self).
 */
#define KUP_SESS_THREADS 8 /* threads a channel remembers; the ninth takes a slot */
struct kup_sess_thread {
	const void *who; /* NULL: slot free */
	uint32_t gen;    /* the attach its last call worked on */
	uint8_t told;    /* it was told that attach ended */
};
struct kup_session {
	uint32_t egen;    /* generation of the attach the module's calls work on */
	uint8_t on;       /* egen is set: the module's calls have worked on an attach */
	uint8_t told;     /* the module was told that egen's attach ended */
	const void *last; /* the thread whose call last passed the rule on egen */
	struct kup_sess_thread t[KUP_SESS_THREADS];
};
#define KUP_SESS_STAY 0 /* carry on with egen's attach */
#define KUP_SESS_MOVE 1 /* the host moves its end to attach cur (egen = cur now) */
/*
 * Before a kern side's call by thread self: cur is the generation of the
 * channel's latest attach (call only when there is one), handed the one
 * kupdev_wait_channel last returned, holder 1 when self is the thread it
 * was returned to (or that claimed it since).  STAY, MOVE, or -EKU_CLOSED:
 * the call reports the end of the attach self (or the module) worked on
 * instead, once.
 */
int kup_session_next(struct kup_session *s, uint32_t cur, uint32_t handed, int holder,
                     const void *self);
/* 1 when the module's calls are on attach cur already (the channel's end is there). */
static inline int kup_session_current(const struct kup_session *s, uint32_t cur)
{
	return s->on && s->egen == cur;
}
/* The hot path's test: on attach cur, and self made the last call that passed the rule. */
static inline int kup_session_mine(const struct kup_session *s, uint32_t cur, const void *self)
{
	return kup_session_current(s, cur) && s->last == self;
}
/* A kern side's call returned r: 1 when r tells the module its process is gone. */
static inline int kup_session_ending(int r)
{
	return r == -EKU_CLOSED || r == -EKU_PROTO;
}
/* Thread self learnt that egen's attach ended (a call ending so, kupdev_attached() == 0). */
void kup_session_told(struct kup_session *s, const void *self);

/*
 * Loans: the zero-copy pointers a kern side's call handed a thread
 * (kupdev_recv_shared_untrusted, kupdev_send_buf) point into one attach's
 * memory, and stay valid until that thread's next call on the channel returns,
 * even when another thread moves the channel on to a newer attach in
 * between.  The host keeps one table per channel, under the lock that
 * orders the channel's calls, and names threads by an address it only
 * compares.  A loan on the memory the channel works on costs no
 * reference; when the channel moves on, the host takes one reference on
 * the old memory for every loan kup_loan_retire counts, and drops it for
 * each memory kup_loan_end or kup_loan_drain hands back.
 */
#define KUP_LOANS 8 /* threads with pointers into one channel at a time */
struct kup_loans {
	uint32_t n;                 /* slots in use */
	const void *who[KUP_LOANS]; /* the thread, or NULL: slot free */
	void *mem[KUP_LOANS];       /* NULL: the current memory; else a retired one */
};
/*
 * First thing in who's call: its earlier pointers end.  The retired memory
 * to put when the call returns (it may be the call's argument), or NULL.
 * (Callers skip it while n is 0: no loan, no lookup.)
 */
void *kup_loan_end(struct kup_loans *l, const void *who);
/* Before a zero-copy call (after kup_loan_end): 0, or -EKU_BUSY when every slot is taken. */
static inline int kup_loan_room(const struct kup_loans *l)
{
	return l->n < KUP_LOANS ? 0 : -EKU_BUSY;
}
/* A zero-copy call succeeded: who holds pointers into the current memory. */
void kup_loan_take(struct kup_loans *l, const void *who);
/*
 * The quick way in (kupdev_chan.c): 1, with who's earlier loan ended as
 * kup_loan_end would, when that leaves no memory to put and no loan at all
 * (no loan, or only who's own on the current memory); 0, changing
 * nothing, otherwise.
 */
static inline int kup_loan_quick_end(struct kup_loans *l, const void *who)
{
	if (l->n != 1 || l->who[0] != who || l->mem[0])
		return l->n == 0;
	l->n = 0;
	l->who[0] = NULL;
	return 1;
}
/* The channel leaves memory old: loans on it keep it.  How many references to take. */
uint32_t kup_loan_retire(struct kup_loans *l, void *old);
/* Unload, nobody inside: the next retired memory to put (one per reference), or NULL. */
void *kup_loan_drain(struct kup_loans *l);

/*
 * The attaches kupdev_wait_channel has not reported yet, in the order they
 * came (one documented order on every host: oldest first).  A channel is
 * queued once; one that is detached before it was reported leaves the
 * queue.  Kept by the kern side's host under its device lock; the host
 * gives it KUP_PEND_BYTES(n) of zeroed memory.
 */
struct kup_pend {
	uint32_t *ring;  /* channel ids, oldest at head */
	uint8_t *queued; /* per channel: in the ring */
	uint32_t head, cnt, n;
};
#define KUP_PEND_BYTES(n) ((size_t)(n) * (sizeof(uint32_t) + 1))
void kup_pend_init(struct kup_pend *p, void *mem, uint32_t n);
/* A process attached channel id (id < n). */
void kup_pend_push(struct kup_pend *p, uint32_t id);
/* Channel id was detached: no longer to be reported. */
void kup_pend_drop(struct kup_pend *p, uint32_t id);
/* The oldest unreported attach, taken off the queue, or -1. */
int kup_pend_pop(struct kup_pend *p);
/* Lock-free peek for a spinning wait: 1 when something may be queued. */
static inline int kup_pend_any(const struct kup_pend *p)
{
	return kup_load_once(&p->cnt) != 0;
}

const char *kup_core_strerror(int code);

/* Counters: the public view. */
struct kupdev_stats;
/* A copy of counters another thread writes (kup_end's cnt), each field read untorn. */
void kup_counters_load(struct kup_counters *dst, const struct kup_counters *src);
void kup_counters_to_stats(struct kupdev_stats *st, const struct kup_counters *c);

/*
 * An attach request (KUP_IOC_ATTACH, the provider's ATTACH message)
 * against a device of size pages and chan_cnt channels: 0, -EKU_ABI,
 * -EKU_INVAL (flags: unknown bits, or WAIT without ANY), -EKU_RANGE,
 * -EKU_BADSIZE.
 */
int kup_attach_check(uint32_t abi, uint32_t flags, uint32_t chan, uint32_t size, uint32_t dev_size,
                     uint32_t chan_cnt);

/* Device names: [A-Za-z0-9_.-], shorter than KUP_NAME_MAX, no leading dot. 1 or 0. */
int kup_name_ok(const char *name);
/* kupdev_create's arguments: 0, -EKU_INVAL (name), -EKU_BADSIZE, -EKU_RANGE. */
int kup_create_check(const char *name, size_t size, size_t chan_cnt);

#endif /* KUP_CORE_H */
