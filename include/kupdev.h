/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kupdev.h - the kernel side of KUP: the API a kernel module (or, through
 * libkupdev, an ordinary process: the user-mode provider) uses to create a
 * device and talk to the processes that attach its channels.
 *
 * The seed's eight calls keep their names, signatures and meaning.  The
 * rest adds lengths, zero-copy, timeouts, flags and counters.
 *
 * Return values: calls returning int give 0 (or a channel id) on success
 * and a negated EKU_* code (kup_abi.h) on failure, e.g. -EKU_TOOBIG.  Calls
 * returning a pointer give NULL on failure; kupdev_last_error() says why.
 *
 * Sessions: a process attaching a channel starts a session, which ends
 * when it detaches.  The module never carries on a conversation with a
 * process that did not start it: when a process leaves and another
 * attaches before the module was told (no call on the channel returned
 * -EKU_CLOSED or -EKU_PROTO since, and kupdev_attached did not answer 0),
 * the next call on the channel returns -EKU_CLOSED once, then works on the
 * new process.  The exception is the thread that holds the new attach:
 * the one kupdev_wait_channel returned it to, or, in a dispatcher, the
 * worker that took it over with kupdev_claim_channel.  Its calls go
 * straight to the new process, while any other thread whose last call was
 * in the old conversation hears the old end once, before or after the
 * holder moved on (kept per thread, for up to 8 threads per channel).
 * docs/protocol.md has the rule in full.
 *
 * Threads: every call may be made from any thread; calls on one channel are
 * serialised by the host.  Every blocking call ends with an error when the
 * process detaches (-EKU_CLOSED) or the device unloads (-EKU_SHUTDOWN), and
 * has a variant with a timeout.  Blocking calls may sleep: never call them
 * with a spin lock held or from interrupt context.
 */
#ifndef KUPDEV_H
#define KUPDEV_H

#include "kup_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

struct kupdev_softc;

/* Flags of the calls that take them; any other bit gives -EKU_INVAL on every host. */
#define KUP_NB      0x1 /* nonblocking: -EKU_NOTREADY when it is not our turn */
#define KUP_POLL    0x2 /* wait by spinning only, never sleep */
#define KUP_FOREVER ((int64_t)-1)

/* --- The seed's API --------------------------------------------------------- */

/* Create /dev/NAME with chan_cnt channels of `size` pages per direction,
 * owned by root with mode 0600. */
struct kupdev_softc *kupdev_create(const char *name, size_t size, size_t chan_cnt);
/* Wait until a process attaches a channel; returns its id, or -EKU_*. */
int kupdev_wait_channel(struct kupdev_softc *sc);
/* kupdev_shutdown() if not done yet, wait for callers still inside
 * kupdev_* calls on sc to return, and free the device.  sc is invalid
 * afterwards: stop your own threads before (see kupdev_shutdown).  0, or -EKU_*. */
int kupdev_unload(struct kupdev_softc *sc);
/* Tell processes waiting on the device (kernproxy_wait_notify) to look again.
 * Never sleeps: Linux allows it in any context, interrupts included;
 * FreeBSD wherever a default mutex may be taken (callouts, ithreads). */
void kupdev_notify(struct kupdev_softc *sc);
/* Wait for our turn, copy len bytes into the channel and pass the turn. */
int kupdev_send(struct kupdev_softc *sc, void *data, size_t len, int chan_id);
/* Wait for our turn; returns a kernel-private copy of the message that gave
 * it, valid until kupdev_unlock_channel(), the next receive on the channel,
 * or the first call on it after another process attached it. */
void *kupdev_receive(struct kupdev_softc *sc, int chan_id);
/* Done with the data kupdev_receive returned.  Takes no lock and ends
 * nothing (the copy stays until the next receive); no-op on every host. */
void kupdev_unlock_channel(struct kupdev_softc *sc, int chan_id);
/* Pass the turn with an empty message (length 0, first byte 0). */
void kupdev_pass(struct kupdev_softc *sc, int chan_id);

/* --- Additions ---------------------------------------------------------------- */

/*
 * Wake every waiter on both sides with EKU_SHUTDOWN, detach every process,
 * refuse new attaches; every later call on sc fails with -EKU_SHUTDOWN, but
 * sc stays valid until kupdev_unload.  The way to stop a module's threads:
 * kupdev_shutdown, join them, kupdev_unload.  0, or -EKU_*.
 */
int kupdev_shutdown(struct kupdev_softc *sc);

struct kupdev_attr {
	uint32_t uid;  /* owner of the device node / endpoint (default 0) */
	uint32_t gid;  /* group (default 0) */
	uint32_t mode; /* permission bits (default 0600) */
	uint32_t flags;
};
struct kupdev_softc *kupdev_create_attr(const char *name, size_t size, size_t chan_cnt,
                                        const struct kupdev_attr *attr);

/*
 * kupdev_wait_channel with flags and timeout: KUP_NB looks once
 * (-EKU_NOTREADY when nothing is pending), KUP_POLL waits by spinning and
 * never sleeps; other bits are refused (-EKU_INVAL), on every host.
 */
int kupdev_wait_channel_timed(struct kupdev_softc *sc, int flags, int64_t timeout_ns);
/*
 * Take over, in the calling thread, the attach kupdev_wait_channel last
 * returned for chan_id (to another thread: a dispatcher's).  A worker that
 * is handed a channel calls it before its first call on it; see Sessions
 * above.  0, or -EKU_*.
 */
int kupdev_claim_channel(struct kupdev_softc *sc, int chan_id);

/* Send with flags and timeout. */
int kupdev_send_timed(struct kupdev_softc *sc, int chan_id, const void *data, size_t len, int flags,
                      int64_t timeout_ns);
/* Receive a stable private copy: *data (valid as for kupdev_receive), *len.
 * data and len must not be NULL (-EKU_INVAL), nor buf and cap of kupdev_send_buf. */
int kupdev_recv(struct kupdev_softc *sc, int chan_id, void **data, size_t *len, int flags,
                int64_t timeout_ns);
/*
 * A round trip in one call: send len bytes of data, then receive the reply
 * as kupdev_recv does (*reply, *rlen; flags and timeout for that wait).
 * The send never waits: when the process holds the turn it returns
 * -EKU_NOTURN and nothing was sent (send the first message of an exchange
 * with kupdev_send_timed; after each receive the turn is ours).  So
 * -EKU_NOTREADY, -EKU_TIMEDOUT and -EKU_INTR mean the message went and the
 * reply has not come: take it with kupdev_recv.  data may be the last
 * reply (an echo).  The same as kupdev_send_timed then kupdev_recv, at the
 * price of one call.
 */
int kupdev_send_recv(struct kupdev_softc *sc, int chan_id, const void *data, size_t len,
                     void **reply, size_t *rlen, int flags, int64_t timeout_ns);
/*
 * Zero-copy pointers (this call and kupdev_send_buf) stay valid until the
 * calling thread's next send/recv/pass/commit/send_buf call on the same
 * channel returns (so they may be passed to that call: kupdev_send_timed
 * of a zero-copy receive is an echo), or kupdev_unload, whatever the process does (detach,
 * reattach, exit) and whichever other thread moves the channel on meanwhile:
 * the old attach's memory is kept for the threads still holding pointers.
 * At most KUP_LOANS (8) threads hold such pointers into one channel at a
 * time; a zero-copy call beyond that returns -EKU_BUSY.
 *
 * Zero-copy receive of the bytes in the shared pages (a message of at most
 * KUP_INLINE bytes sent by copy is in the process's control line, a longer
 * one in its data pages: the same lifetime either way).  UNTRUSTED: the
 * process can rewrite them while you read; copy and validate yourself.
 * *len was read once and is within the capacity.
 */
int kupdev_recv_shared_untrusted(struct kupdev_softc *sc, int chan_id, const void **data,
                                 size_t *len, int flags, int64_t timeout_ns);
/* Zero-copy send: wait for our turn and get the outgoing buffer (valid as
 * above); then commit. */
int kupdev_send_buf(struct kupdev_softc *sc, int chan_id, void **buf, size_t *cap, int flags,
                    int64_t timeout_ns);
int kupdev_send_commit(struct kupdev_softc *sc, int chan_id, size_t len);
/* Pass with flags and timeout. */
int kupdev_pass_timed(struct kupdev_softc *sc, int chan_id, int flags, int64_t timeout_ns);

/*
 * Streaming channels (docs/protocol.md, "Streaming"; kupdev_stream_send(3)).
 * A process that attaches with KP_STREAM gets a stream channel: a ring of
 * records each way, many messages in flight, no turn.  The turn calls
 * above fail on it with -EKU_INVAL, and these fail on a turn channel the
 * same way.  flags: KUP_NB, KUP_POLL; timeout_ns < 0 (KUP_FOREVER) waits
 * without end; every wait ends on detach (-EKU_CLOSED) and unload
 * (-EKU_SHUTDOWN).
 *
 * kupdev_stream_send queues msgs[0..n) in order, copying each.  Blocking,
 * it waits for room until all are queued (the timeout bounds the whole
 * call); KUP_NB queues what fits now.  The count queued (> 0), or -EKU_*
 * when none was: -EKU_NOTREADY (KUP_NB, no room), -EKU_TOOBIG (msgs[0]
 * longer than kupdev_stream_max(sc)), -EKU_TIMEDOUT, ...; an error after
 * some were queued is reported by the next call.
 *
 * kupdev_stream_recv copies up to n records into the caller's buffers
 * (msgs[i].base, msgs[i].len bytes) and sets msgs[i].len to each one's
 * length: stable private copies, read out of the shared pages once, every
 * position and length bounded first.  Blocking, it waits for the first
 * record only.  A record longer than its buffer ends the batch before it
 * and stays queued (-EKU_TOOBIG when it is the first).  Records the
 * process queued before it detached are still delivered, then -EKU_CLOSED.
 * A process that corrupts its positions or records gets -EKU_PROTO on
 * this channel (its channel is closed); other channels are not affected.
 *
 * At most KUP_STREAM_BATCH_MAX (65536) messages per call; a wake-up call
 * only when the process announced that it waits, one per batch at most.
 * Calls on one channel are serialised (see Threads above), stream calls
 * too: a thread blocked in kupdev_stream_recv holds up another thread's
 * kupdev_stream_send on the same channel until it returns.  To stream
 * both ways from two threads, give the receive a short timeout (or
 * KUP_NB), or send and receive from one thread.
 */
int kupdev_stream_send(struct kupdev_softc *sc, int chan_id, const struct kup_iovec *msgs, size_t n,
                       int flags, int64_t timeout_ns);
int kupdev_stream_recv(struct kupdev_softc *sc, int chan_id, struct kup_iovec *msgs, size_t n,
                       int flags, int64_t timeout_ns);
/* The longest message a stream channel of sc carries: its ring less a record header. */
size_t kupdev_stream_max(struct kupdev_softc *sc);

/* Spin time before sleeping, for all channels of sc (KUP_FOREVER: never sleep). */
void kupdev_set_spin(struct kupdev_softc *sc, int64_t spin_ns);

size_t kupdev_capacity(struct kupdev_softc *sc);
size_t kupdev_channel_count(struct kupdev_softc *sc);
/* 1 when a process holds the channel, 0 when not, -EKU_* on a bad id. */
int kupdev_attached(struct kupdev_softc *sc, int chan_id);
/* Last error (a positive EKU_* code) of a call on the channel that returned NULL or void. */
int kupdev_last_error(struct kupdev_softc *sc, int chan_id);

struct kupdev_stats {
	uint64_t sent, received, bytes_sent, bytes_received;
	uint64_t sleeps, wakeups, timeouts, errors;
	uint64_t proto_errors; /* garbage the process wrote into its control page */
	uint64_t attaches;
};
/* Counters of the channel over all its sessions, as they stand (a call in
 * progress may be counted in part); never waits for a blocked call. */
int kupdev_stats(struct kupdev_softc *sc, int chan_id, struct kupdev_stats *st);

const char *kup_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif /* KUPDEV_H */
