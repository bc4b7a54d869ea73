/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_stream.h - streaming channels: a ring of records in each direction,
 * many messages in flight, batch calls, a wake-up only for a peer that
 * announced it waits, and at most one per batch.  One implementation for
 * every host (kup_stream.c); docs/protocol.md, "Streaming", has the rules.
 *
 * An end is a stream end when its attach was made with KUP_ATTACH_STREAM
 * (e->stream, from the kern block's flags, which only the kern side writes).
 * The turn calls refuse a stream end and these calls refuse a turn end
 * (-EKU_INVAL).  Calls on one end are serialised by the host, as for turns.
 */
#ifndef KUP_STREAM_H
#define KUP_STREAM_H

#include "kup_core.h"

/* Most messages one batch call moves; a longer batch is cut there (the count says so). */
#define KUP_STREAM_BATCH_MAX 65536u

/* The largest payload a record can carry on an end (the whole ring but its header). */
static inline uint32_t kup_stream_max_msg(const struct kup_end *e)
{
	return e->ring - (uint32_t)sizeof(struct kup_rec);
}

/*
 * Queue msgs[0..n) as records, in order.  Blocking: until all are queued
 * (waiting for room as needed, the timeout counted over the whole call);
 * KUPC_NB: as many as fit now.  Returns the count queued when > 0 (an
 * error after some were queued is left for the next call), else -EKU_*:
 * -EKU_NOTREADY (KUPC_NB, no room), -EKU_TOOBIG (msgs[0] larger than
 * kup_stream_max_msg), -EKU_TIMEDOUT, -EKU_CLOSED, -EKU_SHUTDOWN,
 * -EKU_PROTO, -EKU_INVAL.  One wake-up per call at most per peer sleep.
 */
int kup_stream_send(struct kup_end *e, const struct kup_iovec *msgs, size_t n, int flags,
                    int64_t timeout_ns);
/*
 * Take up to n records into msgs[i].base (msgs[i].len bytes of room each);
 * each taken record's length replaces msgs[i].len.  Blocking: waits for
 * the first record only; KUPC_NB: -EKU_NOTREADY when there is none.  A
 * record larger than its buffer stops the batch there and stays queued
 * (-EKU_TOOBIG when it is the first).  Records the peer published before
 * it closed are delivered before -EKU_CLOSED.  The count (> 0) or -EKU_*.
 */
int kup_stream_recv(struct kup_end *e, struct kup_iovec *msgs, size_t n, int flags,
                    int64_t timeout_ns);
/*
 * Zero-copy receive, for the side that trusts its peer (libkup; a kernel
 * must copy: kup_stream_recv).  Waits as kup_stream_recv does, then points
 * msgs[i].base at up to n records in place in the peer's ring (read-only),
 * msgs[i].len their lengths, and consumes nothing: the same records come
 * again until kup_stream_release gives them back.  A record that wraps
 * the ring's end is copied into bounce (kup_stream_max_msg bytes; at most
 * one such record per call).  The count (> 0) or -EKU_*.
 */
int kup_stream_peek(struct kup_end *e, struct kup_iovec *msgs, size_t n, int flags,
                    int64_t timeout_ns, uint8_t *bounce);
/* Records to read?  0 yes, -EKU_NOTREADY none yet, else -EKU_* (the exchange ended, an error). */
int kup_stream_poll(struct kup_end *e);
/* Consume the first n records (each checked again); -EKU_INVAL when fewer are queued. */
int kup_stream_release(struct kup_end *e, size_t n);
/*
 * Readiness fd: announce (KUP_WAIT_FD) that we wait for records to read
 * (KUP_SW_RECV) and/or for room for a record of need payload bytes
 * (KUP_SW_SEND).  1 when that holds already or the channel ended (look
 * now), 0 armed, -EKU_INVAL on a turn end.  kup_end_disarm undoes it.
 */
int kup_stream_arm(struct kup_end *e, uint32_t want, uint32_t need);
void kup_stream_disarm(struct kup_end *e);

/* kup_user_ready for a stream attach: records for the process, or the room
 * its armed fd asked for; -1 when the exchange ended. */
int kup_stream_user_ready(const void *kblock, const void *ublock);

#endif /* KUP_STREAM_H */
