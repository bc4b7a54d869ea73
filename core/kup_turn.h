/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_turn.h - the turn protocol's steps on the message path, in line.
 *
 * Almost every message is the same case: a turn channel, open, no host
 * event, the turn ours (just given by the peer, or still held) and a
 * message that fits the control line.  The API calls (kernproxy_* in
 * libkup, kupdev_* in core) try that case first with kup_end_send_now
 * and kup_end_recv_now, in line: no call, no frame.  Whatever they
 * decline goes through kup_end_send and kup_end_recv (kup_core.c), which
 * take and publish turns with the same steps, so the protocol and its
 * checks are written once.
 *
 * Ordering points (docs/protocol.md pairs them up):
 *   O1 kup_publish_tw  store-release of our tw after payload and len
 *   O2 kup_observe_tw  load-acquire of the peer's tw before len and payload
 *   O3 announce_wait   our wait bits, a full fence, then re-check tw (kup_core.c)
 *   O4 kup_peer_wait   after O1, a full fence, then read the peer's wait bits
 */
#ifndef KUP_TURN_H
#define KUP_TURN_H

#include "kup_core.h"

/* O1: payload and len (and our reads of the peer's payload) before the turn. */
static KUP_ALWAYS_INLINE void kup_publish_tw(struct kup_end *e)
{
	kup_store_release(&e->mine->tw, KUP_TW(e->tx_seq, e->state));
}

/* O2: pairs with the peer's O1, so len and payload after it are the published ones. */
static KUP_ALWAYS_INLINE uint32_t kup_observe_tw(const struct kup_end *e)
{
	return kup_load_acquire(&e->peer->tw);
}

/* O4: our tw must be visible before we read the peer's wait bits (pairs with O3). */
static KUP_ALWAYS_INLINE uint32_t kup_peer_wait(const struct kup_end *e)
{
	kup_fence_full();
	return kup_load_once(&e->peer->wait) & KUP_WAIT_MASK;
}

/* The peer's tw that gives us the turn: one seq after ours (the user side's is one more), open. */
static KUP_ALWAYS_INLINE uint32_t kup_turn_ours(const struct kup_end *e)
{
	return KUP_TW((e->tx_seq + e->lead) & KUP_SEQ_MASK, KUP_ST_OPEN);
}

/*
 * Take the new turn tw with the peer's len word, read once: its bounds
 * checked and our own copy of it kept.  -1, with nothing kept, when it is
 * out of bounds (the caller decides what that means).
 */
static KUP_ALWAYS_INLINE int kup_turn_take(struct kup_end *e, uint32_t tw, uint32_t len)
{
	if (len & KUP_LEN_INLINE) {
		len &= ~KUP_LEN_INLINE;
		if (len > KUP_INLINE)
			return -1;
		e->rx_at = e->peer->inl;
	} else {
		if (len > e->cap)
			return -1;
		e->rx_at = e->rx;
	}
	e->rx_len = len;
	e->have_turn = KUP_TURN_NEW;
	if (KUP_TW_SEQ(tw) != 0) { /* seq 0 is the kern side's initial turn, not a message */
		KUP_CNT_ADD(e, received, 1);
		KUP_CNT_ADD(e, bytes_received, len);
	}
	return 0;
}

/*
 * Hand the turn over with message len (KUP_LEN_INLINE | n: in our inl[],
 * else n bytes in e->tx) written already, and wake a peer that sleeps.
 */
static KUP_ALWAYS_INLINE void kup_turn_publish(struct kup_end *e, uint32_t len)
{
	uint32_t bits;

	kup_store_once(&e->mine->len, len);
	e->tx_seq = (e->tx_seq + 1) & KUP_SEQ_MASK;
	e->have_turn = 0;
	e->tx_open = 0;
	e->sent_any = 1;
	KUP_CNT_ADD(e, sent, 1);
	KUP_CNT_ADD(e, bytes_sent, len & ~KUP_LEN_INLINE);
	kup_publish_tw(e);
	bits = kup_peer_wait(e);
	if (bits)
		kup_end_wake(e, bits);
}

/*
 * Whether we hold the turn, in the common case only: 1 when the end is
 * open (no host event, not broken, a turn channel) and the peer's tw gives
 * us the turn, taken now if it is new.  0, with nothing changed, for
 * every other case (not yet, closed, a broken word): kup_end_poll sorts
 * those out.
 */
static KUP_ALWAYS_INLINE int kup_turn_now(struct kup_end *e)
{
	uint32_t tw;

	if (kup_load_once(&e->local) | e->broken | e->stream)
		return 0;
	tw = kup_observe_tw(e);
	if (tw != kup_turn_ours(e))
		return 0;
	return e->have_turn || kup_turn_take(e, tw, kup_load_once(&e->peer->len)) == 0;
}

/*
 * kup_end_send's common case: a message of at most KUP_INLINE bytes on
 * a turn we hold now.  1: sent; 0: nothing sent and nothing changed:
 * kup_end_send decides.
 */
static KUP_ALWAYS_INLINE int kup_end_send_now(struct kup_end *e, const void *data, size_t len)
{
	if (len > KUP_INLINE || (!data && len) || !kup_turn_now(e))
		return 0;
	kup_copy_small(e->mine->inl, data, (uint32_t)len);
	kup_turn_publish(e, KUP_LEN_INLINE | (uint32_t)len);
	return 1;
}

/*
 * Hand the message of the turn we hold to a receive: in place, or copied
 * into rx_copy (rx_len was read once and bounded when the turn was taken:
 * one bounded copy).  From here an orderly end may come after it.
 */
static KUP_ALWAYS_INLINE void kup_turn_hand_out(struct kup_end *e, int copy, const void **data,
                                                uint32_t *len)
{
	if (copy) {
		if (e->rx_len <= KUP_INLINE)
			kup_copy_small(e->rx_copy, e->rx_at, e->rx_len);
		else
			kup_memcpy(e->rx_copy, e->rx_at, e->rx_len);
		if (!e->rx_len)
			e->rx_copy[0] = 0; /* an empty token reads as a zero byte */
		*data = e->rx_copy;
	} else {
		*data = e->rx_at;
	}
	*len = e->rx_len;
	e->have_turn = KUP_TURN_READ;
}

/*
 * kup_end_recv's common case: the turn ours now and, for a copy, a message
 * of at most KUP_INLINE bytes.  1: received (*data, *len as kup_end_recv
 * gives them); 0: kup_end_recv decides (the turn may have been taken).
 */
static KUP_ALWAYS_INLINE int kup_end_recv_now(struct kup_end *e, int copy, const void **data,
                                              uint32_t *len)
{
	if ((copy && !e->rx_copy) || !kup_turn_now(e) || (copy && e->rx_len > KUP_INLINE))
		return 0;
	kup_turn_hand_out(e, copy, data, len);
	return 1;
}

#endif /* KUP_TURN_H */
