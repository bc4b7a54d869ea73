/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup.h - libkup, the userspace side of KUP.
 *
 * The seed's kernproxy_* calls, unchanged, plus lengths, zero-copy send,
 * timeouts, readiness fds, counters and an asynchronous event loop.
 *
 * Handles: kernproxy_open() returns a device handle, kernproxy_channel() a
 * channel handle.  Calls that take "handle" accept either kind where that
 * makes sense (kernproxy_error, kernproxy_close).  A channel handle is used
 * by one thread at a time, like a socket; separate channels may be used by
 * separate threads in parallel.
 *
 * Errors: calls that fail return NULL or -1 and set kernproxy_errno (per
 * thread, like errno) and the handle's last error, read by kernproxy_error().
 * The codes (EKU_*) are in kup_abi.h; kernproxy_strerror() names them.
 *
 * Which side answers a name: see kernproxy_open(3).  A name containing '/'
 * is a path (a device node or a provider socket).  Otherwise KUP_BACKEND
 * (kernel|provider) forces a backend; without it /dev/NAME is used when it
 * exists, else the user-mode provider's socket NAME in KUP_RUNTIME_DIR
 * (default: /run/kup when root, else $XDG_RUNTIME_DIR/kup, else /tmp/kup-UID).
 */
#ifndef KUP_H
#define KUP_H

#include <stddef.h>
#include <stdint.h>
#include "kup_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Flags for receive and send. */
#define KP_EMPTY 0x0 /* no flags: the seed's name for a blocking call */
#define KP_NB    0x1 /* nonblocking: fail with EKU_NOTREADY when it is not our turn */
#define KP_POLL  0x2 /* wait by spinning only, never sleep (explicit polling mode) */
/* Flags for kernproxy_attach only. */
#define KP_EXACT  0x4 /* exactly this channel id, or EKU_BUSY: never another, never a wait */
#define KP_STREAM 0x8 /* a stream channel: kernproxy_stream_* (see below), no turn */

/*
 * The seed header's error names, for code written against it:
 * KPE_NOTREADY, not our turn yet (a KP_NB call; poll again), and
 * KPE_FINISH, the kernel side finished (its device is unloading or gone).
 */
#define KPE_NOTREADY EKU_NOTREADY
#define KPE_FINISH   EKU_SHUTDOWN

#define KP_FOREVER ((int64_t)-1)

/* Thread-safe errno pattern: `kernproxy_errno` reads and writes this thread's code. */
int *kernproxy_errno_location(void);
#define kernproxy_errno (*kernproxy_errno_location())

/* --- The seed's API --------------------------------------------------------- */

void *kernproxy_open(char const *name);
/*
 * Attach a channel of `size` pages each way: chan_id when it is free, else
 * the lowest free channel (kernproxy_channel_id() says which).  When every
 * channel is taken it waits until one is released, at most the device
 * handle's timeout (kernproxy_set_timeout(handle, ns); default: forever;
 * EKU_TIMEDOUT), and fails with EKU_SHUTDOWN when the device goes away.
 * For an immediate answer (EKU_BUSY), set the device handle's timeout to 0
 * or use kernproxy_attach(handle, chan_id, size, KP_NB).
 */
void *kernproxy_channel(void *handle, size_t chan_id, size_t size);
/* Waits for our turn; returns the peer's message in the shared pages (zero-copy). */
void *kernproxy_receive(void *channel, int flags);
/* Waits for our turn, copies len bytes out and passes the turn. 0, or -1. */
int kernproxy_send(void *channel, void *data, size_t len, int flags);
/* A device handle closes its channels too.  A second close is an EKU_INVAL no-op;
 * other calls on a closed channel fail with EKU_INVAL (like fds, a channel
 * handle's memory is reused by a later kernproxy_channel). */
void kernproxy_close(void *handle);
/*
 * Last error on a device or channel handle (EKU_INVAL for a bad handle).  A
 * device handle also records every failure of its channels' calls (as the
 * seed's tests check it), EKU_NOTREADY of a KP_NB call included; once its
 * device has shut down it reports EKU_SHUTDOWN for good.
 */
int kernproxy_error(void *handle);

/* --- Additions ---------------------------------------------------------------- */

const char *kernproxy_strerror(int code);

/*
 * kernproxy_channel with flags: 0 is kernproxy_channel; KP_NB: do not wait
 * when every channel is taken (EKU_BUSY); KP_EXACT: exactly chan_id, or
 * EKU_BUSY when another process holds it (for channels with roles).
 */
void *kernproxy_attach(void *handle, size_t chan_id, size_t size, int flags);
/* The id of the channel a channel handle attached (as kupdev_wait_channel
 * reports it to the kernel side), or -1 (EKU_INVAL) for a bad handle. */
int kernproxy_channel_id(void *channel);

/* Like kernproxy_receive, and stores the message length in *len. */
void *kernproxy_receive_len(void *channel, size_t *len, int flags);
/* Passes the turn with an empty message (length 0). 0, or -1. */
int kernproxy_pass(void *channel, int flags);
/*
 * A round trip in one call: send len bytes of data, then receive the reply
 * as kernproxy_receive_len does (flags for that wait; *rlen when rlen is
 * not NULL).  The send never waits: when the kernel holds the turn it fails
 * with EKU_NOTURN and nothing was sent (send the first message with
 * kernproxy_send; after each receive the turn is ours).  So EKU_NOTREADY,
 * EKU_TIMEDOUT and EKU_INTR mean the message went and the reply has not
 * come: take it with kernproxy_receive_len.  data may be the message just
 * received (an echo).
 */
void *kernproxy_send_recv(void *channel, const void *data, size_t len, size_t *rlen, int flags);

/*
 * Zero-copy send: wait for our turn and get the outgoing buffer (its
 * capacity in *cap); write the message in place, then commit its length,
 * which passes the turn.  The buffer is ours until the commit.
 */
void *kernproxy_send_buf(void *channel, size_t *cap, int flags);
int kernproxy_send_commit(void *channel, size_t len);

/* Bytes a message may hold in each direction. 0 on a bad handle. */
size_t kernproxy_capacity(void *channel);

/*
 * Blocking behaviour of a channel: give up after timeout_ns (KP_FOREVER:
 * never; the default), spin for spin_ns before sleeping (KP_FOREVER: never
 * sleep; 0: sleep at once).  0, or -1.  kernproxy_set_timeout on a device
 * handle bounds kernproxy_channel's wait for a free channel instead (0: no
 * wait); it does not change the channels' own timeouts.
 */
int kernproxy_set_timeout(void *handle, int64_t timeout_ns);
int kernproxy_set_spin(void *channel, int64_t spin_ns);

/*
 * Readiness fd of a channel for poll/epoll/kqueue: readable when it is our
 * turn; POLLHUP/POLLERR (EV_EOF) when the channel closes or the device
 * unloads.  Call kernproxy_arm() before each wait on it: it announces the
 * wait to the peer and returns 1 when the channel is ready already (then do
 * not wait), 0 when it is armed, -1 on error.  The fd belongs to the channel.
 * Given a device handle, kernproxy_fd() returns the device's fd: readable
 * when a kupdev_notify() came since kernproxy_wait_notify() last returned,
 * or when the device goes away (then call kernproxy_wait_notify(h, 0)).
 */
int kernproxy_fd(void *handle);
int kernproxy_arm(void *channel);

/* Device handle: wait until the kernel side calls kupdev_notify(). 0, or -1.
 * Notifies that came since the last return count as one. */
int kernproxy_wait_notify(void *handle, int64_t timeout_ns);

/*
 * Streaming channels (kernproxy_stream_send(3); docs/protocol.md,
 * "Streaming"): attach with KP_STREAM, and each direction is a ring of
 * records with many messages in flight.  The turn calls (receive, send,
 * pass, send_buf) fail with EKU_INVAL on a stream channel, and these on a
 * turn channel.  flags: KP_NB, KP_POLL; blocking calls wait at most the
 * channel's timeout (kernproxy_set_timeout) and spin first
 * (kernproxy_set_spin) like the turn calls.
 *
 * kernproxy_stream_send copies msgs[0..n) into the ring in order.
 * Blocking, it waits for room until all are queued; KP_NB queues what fits
 * now.  Returns the count queued (> 0), or -1 when none was (EKU_NOTREADY:
 * KP_NB and no room; EKU_TOOBIG: msgs[0] longer than
 * kernproxy_stream_max(); EKU_TIMEDOUT, EKU_CLOSED, EKU_SHUTDOWN ...).
 *
 * kernproxy_stream_recv copies up to n records into msgs[i].base (room:
 * msgs[i].len) and sets msgs[i].len to each record's length.  Blocking, it
 * waits for the first record only.  A record longer than its buffer ends
 * the batch before it and stays queued (EKU_TOOBIG when it is the first).
 * The count (> 0) or -1.
 *
 * Readiness fd: kernproxy_arm() on a stream channel arms for records to
 * read; kernproxy_stream_arm() chooses: KP_STREAM_IN (records to read)
 * and/or KP_STREAM_OUT (room for a message of room bytes).  1: ready now
 * (do not wait), 0: armed, -1: error.  A wake-up call is made only when
 * the other side announced that it waits, at most one per batch.
 */
#define KP_STREAM_IN  0x1
#define KP_STREAM_OUT 0x2
int kernproxy_stream_send(void *channel, const struct kup_iovec *msgs, size_t n, int flags);
int kernproxy_stream_recv(void *channel, struct kup_iovec *msgs, size_t n, int flags);
/*
 * Zero-copy receive: waits as kernproxy_stream_recv does, then points
 * msgs[i].base at up to n records in place in the kernel's ring
 * (read-only) and sets msgs[i].len; the count, or -1.  Nothing is
 * consumed: kernproxy_stream_release(ch, k) gives the first k back to the
 * kernel (-1, EKU_INVAL, when fewer are queued).  The pointers stay valid
 * until the records are released, the next peek or receive on the channel,
 * or close.  A record that wraps the ring's end comes in a buffer of the
 * channel's own instead (one per call at most; allocated at the first peek).
 */
int kernproxy_stream_peek(void *channel, struct kup_iovec *msgs, size_t n, int flags);
int kernproxy_stream_release(void *channel, size_t n);
int kernproxy_stream_arm(void *channel, int events, size_t room);
/* The longest message of a stream channel (its ring less a record header). 0: bad handle. */
size_t kernproxy_stream_max(void *channel);

struct kernproxy_stats {
	uint64_t sent;     /* messages sent (passes included) */
	uint64_t received; /* messages received */
	uint64_t bytes_sent;
	uint64_t bytes_received;
	uint64_t sleeps;  /* waits that went to sleep after spinning */
	uint64_t wakeups; /* wake-up calls made for a sleeping peer */
	uint64_t timeouts;
	uint64_t errors;
};
int kernproxy_stats(void *channel, struct kernproxy_stats *st);

/*
 * Asynchronous mode: a loop runs a callback per channel when the turn
 * arrives (err 0, data and len of the message) or the channel fails (err
 * set, data NULL).  The callback usually answers with kernproxy_send*; if it
 * does not, it runs again on the next loop pass.  On a stream channel it
 * runs when records are queued (err 0, data NULL, len 0) and takes them
 * with kernproxy_stream_recv or _peek; records it leaves bring it back on
 * the next pass.  A channel that failed is removed from the loop after its
 * callback.
 */
typedef void (*kernproxy_callback)(void *channel, void *data, size_t len, int err, void *arg);
void *kernproxy_loop_new(void);
int kernproxy_loop_add(void *loop, void *channel, kernproxy_callback cb, void *arg);
int kernproxy_loop_remove(void *loop, void *channel);
/* One pass: waits up to timeout_ms (-1 forever) and runs the due callbacks.
 * Returns the number of callbacks run, or -1 (EKU_INVAL for an empty loop:
 * nothing could ever end its wait; EKU_BUSY when called from one of the
 * loop's own callbacks).  Callbacks may add and remove channels, but not
 * free the loop.  A pass allocates nothing once the loop has grown. */
int kernproxy_loop_run(void *loop, int timeout_ms);
void kernproxy_loop_free(void *loop);

#ifdef __cplusplus
}
#endif
#endif /* KUP_H */
