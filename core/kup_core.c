/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_core.c - turn passing, lengths, states and waiting.
 *
 * Ordering points (docs/protocol.md pairs them up): O1, O2 and O4 are
 * kup_turn.h's, shared with the API calls' common case; O3 is here.
 */
#include "kup_stream.h"
#include "kup_turn.h"

/* O3: a sleeper's bits must be visible before it re-reads the peer's tw (pairs with O4). */
static void announce_wait(struct kup_end *e, uint32_t bits)
{
	e->wait_bits = bits;
	kup_store_once(&e->mine->wait, bits);
	kup_fence_full();
}

/* A stream peer announces its waits in its stream words (closing must find them too). */
static uint32_t peer_stream_bits(const struct kup_end *e)
{
	return e->stream ? kup_load_once(&e->speer->wait) & KUP_WAIT_MASK : 0;
}

void kup_end_wake(struct kup_end *e, uint32_t bits)
{
	KUP_CNT_ADD(e, wakeups, 1);
	e->ops->wake(e, bits);
}

static void wake_peer(struct kup_end *e)
{
	uint32_t bits = kup_peer_wait(e) | peer_stream_bits(e);

	if (bits)
		kup_end_wake(e, bits);
}

int kup_end_violation(struct kup_end *e, const char *what, uint32_t val)
{
	e->broken = EKU_PROTO;
	KUP_CNT_ADD(e, proto_errors, 1);
	KUP_CNT_ADD(e, errors, 1);
	KUP_TRACE_PROTO(e, what, val);
	KUP_LOG("channel broken by peer: %s (0x%x)\n", what, (unsigned)val);
	/* Tell a user peer it lost the channel; it can only reattach. */
	if (e->lead == 0 && e->state == KUP_ST_OPEN)
		kup_end_close(e, KUP_ST_CLOSING);
	return -EKU_PROTO;
}

void kup_chan_set_mode(void *kblock, uint32_t attach_flags)
{
	struct kup_kctl *kc = kblock;

	kc->hdr.flags = (attach_flags & KUP_ATTACH_STREAM) ? KUP_HDR_STREAM : 0;
}

void kup_end_set_mode(struct kup_end *e, uint32_t attach_flags)
{
	e->stream = (attach_flags & KUP_ATTACH_STREAM) ? KUP_HDR_STREAM : 0;
}

void kup_chan_format(void *kblock, void *ublock, uint32_t size, uint32_t chan, uint32_t chan_cnt)
{
	struct kup_kctl *kc = kblock;
	struct kup_uctl *uc = ublock;

	kup_memset(kc, 0, sizeof(*kc));
	kup_memset(uc, 0, sizeof(*uc));
	kc->hdr.abi = KUP_ABI_VERSION;
	kc->hdr.page = KUP_PAGE;
	kc->hdr.size = size;
	kc->hdr.cap = size * KUP_PAGE;
	kc->hdr.chan = chan;
	kc->hdr.chan_cnt = chan_cnt;
	/* Geometry before magic: a reader that sees the magic sees the rest. */
	kup_store_release(&kc->hdr.magic, KUP_MAGIC);
}

int kup_chan_check(const void *kblock, uint32_t size, uint32_t chan)
{
	const struct kup_kctl *kc = kblock;

	if (kup_load_acquire(&kc->hdr.magic) != KUP_MAGIC)
		return -EKU_PROTO;
	if (kc->hdr.abi != KUP_ABI_VERSION)
		return -EKU_ABI;
	if (kc->hdr.page != KUP_PAGE || kc->hdr.size != size || kc->hdr.cap != size * KUP_PAGE)
		return -EKU_BADSIZE;
	if (kc->hdr.chan != chan)
		return -EKU_PROTO;
	return 0;
}

void kup_end_init(struct kup_end *e, int side, void *kblock, void *ublock, uint32_t size,
                  const struct kup_host_ops *ops, void *host)
{
	struct kup_kctl *kc = kblock;
	struct kup_uctl *uc = ublock;
	uint8_t *k2u = (uint8_t *)kblock + KUP_PAGE;
	uint8_t *u2k = (uint8_t *)ublock + KUP_PAGE;
	/* The host's copy buffer and the counters survive re-init: a kern-side
	 * host re-inits one end per channel at each attach, and the channel's
	 * counters count over all of them.  cnt is the last member and never
	 * written here: kupdev_stats may be reading it right now. */
	uint8_t *rx_copy = e->rx_copy;

	kup_memset(e, 0, offsetof(struct kup_end, cnt));
	e->rx_copy = rx_copy;
	e->cap = size * KUP_PAGE;
	e->ops = ops;
	e->host = host;
	e->spin_ns = KUP_DEFAULT_SPIN_NS;
	e->state = KUP_ST_OPEN;
	/* The process trusts the kern block's flags; the kern side has its own record
	 * (kup_end_set_mode): the process may write the kern control page. */
	e->stream = side == KUP_SIDE_USER ? kup_load_once(&kc->hdr.flags) & KUP_HDR_STREAM : 0;
	e->ring = KUP_STREAM_RING(e->cap);
	if (side == KUP_SIDE_KERN) {
		e->lead = 0;
		e->mine = &kc->k;
		e->peer = &uc->u;
		e->smine = &kc->s;
		e->speer = &uc->s;
		e->tx = k2u;
		e->rx = u2k;
	} else {
		e->lead = 1;
		e->mine = &uc->u;
		e->peer = &kc->k;
		e->smine = &uc->s;
		e->speer = &kc->s;
		e->tx = u2k;
		e->rx = k2u;
	}
}

/*
 * Orderly end: the peer closed, exited or unloaded (or the host saw it
 * detach) after publishing a message no receive has handed out yet (not
 * taken, or taken by a call that does not deliver: KUP_TURN_NEW).  That message
 * is still delivered, like the data before a socket's FIN; the end is
 * reported by the call after it.  The kern side's first turn (seq 0, before
 * it sent anything) is no message.
 */
static int message_pending(const struct kup_end *e, uint32_t seq, uint32_t ready)
{
	return e->have_turn != KUP_TURN_READ && seq == ready && (e->lead == 1 || e->sent_any);
}

/* New turn (tw is the turn we were waiting for): its length bounded, or the peer broke it. */
static int take_turn(struct kup_end *e, uint32_t tw)
{
	uint32_t len = kup_load_once(&e->peer->len);

	if (kup_turn_take(e, tw, len))
		return kup_end_violation(e, (len & KUP_LEN_INLINE) ? "inline length" : "length", len);
	return 0;
}

/* Every case but "open, no host event, our turn or the peer's": tw as observed. */
static int poll_slow(struct kup_end *e, uint32_t local, uint32_t tw)
{
	uint32_t seq = KUP_TW_SEQ(tw), st = KUP_TW_STATE(tw), ready, waiting;
	int end = 0;

	if (st == KUP_ST_CLOSING)
		end = EKU_CLOSED;
	else if (st == KUP_ST_SHUTDOWN && e->lead == 1)
		end = EKU_SHUTDOWN;
	else if (st != KUP_ST_OPEN)
		return kup_end_violation(e, "state", tw);
	else if (local)
		end = (int)local; /* detached without publishing it: exit, kill -9 */

	ready = (e->tx_seq + e->lead) & KUP_SEQ_MASK;
	waiting = (e->tx_seq + e->lead - 1) & KUP_SEQ_MASK;
	if (end && !message_pending(e, seq, ready))
		return -end;
	if (seq == waiting)
		return -EKU_NOTREADY;
	if (seq != ready)
		return kup_end_violation(e, "sequence", tw);
	return e->have_turn ? 0 : take_turn(e, tw);
}

int kup_end_poll(struct kup_end *e)
{
	uint32_t local = kup_load_once(&e->local);
	uint32_t tw;

	/* Our own side shutting down ends every call at once. */
	if (local == EKU_SHUTDOWN)
		return -EKU_SHUTDOWN;
	/* One test for the two rare cases: a stream channel has no turn (kup_stream_*). */
	if (e->broken | e->stream)
		return e->stream ? -EKU_INVAL : -(int)(local ? local : e->broken);
	tw = kup_observe_tw(e);
	e->seen_tw = tw;
	/* The hot path: the whole word compared with the two open turns it may be. */
	if (!local) {
		uint32_t ours = kup_turn_ours(e);

		if (tw == ours)
			return e->have_turn ? 0 : take_turn(e, tw);
		if (tw == ((ours - KUP_TW(1, 0)) & KUP_TW(KUP_SEQ_MASK, 0)))
			return -EKU_NOTREADY; /* the peer's: one seq before ours, open */
	}
	return poll_slow(e, local, tw);
}

#define KUP_INT64_MAX ((int64_t)(~(uint64_t)0 >> 1)) /* no INT64_MAX in every kernel */

/* now + ns, or -1 (never) for a negative ns or one too large to add. */
static int64_t deadline_after(int64_t now, int64_t ns)
{
	if (ns < 0 || ns > KUP_INT64_MAX - now)
		return -1;
	return now + ns;
}

int kup_end_wait(struct kup_end *e, int flags, int64_t timeout_ns)
{
	int64_t now, deadline, spin_end, left;
	int r, i, s;

	r = kup_end_poll(e);
	if (r != -EKU_NOTREADY || (flags & KUPC_NB))
		return r;
	/* The turn usually comes back within a round trip: look again before reading the clock. */
	if (timeout_ns != 0 && (e->spin_ns != 0 || (flags & KUPC_POLL))) {
		for (i = 0; i < 64; i++) {
			kup_cpu_relax();
			r = kup_end_poll(e);
			if (r != -EKU_NOTREADY)
				return r;
		}
	}
	now = kup_now_ns();
	deadline = deadline_after(now, timeout_ns);
	spin_end = (flags & KUPC_POLL) ? -1 : deadline_after(now, e->spin_ns);

	/* Spin: the turn usually comes back within a round trip. */
	while (spin_end < 0 || now < spin_end) {
		for (i = 0; i < 64; i++) {
			r = kup_end_poll(e);
			if (r != -EKU_NOTREADY)
				return r;
			kup_cpu_relax();
		}
		kup_resched(); /* a kernel spinning "forever" must not starve its CPU */
		now = kup_now_ns();
		if (deadline >= 0 && now >= deadline)
			goto timedout;
	}

	/* Sleep: announce it, re-check, and let the peer's O4 decide to wake us. */
	for (;;) {
		announce_wait(e, e->wait_bits | KUP_WAIT_SLEEP);
		r = kup_end_poll(e);
		if (r != -EKU_NOTREADY)
			break;
		left = -1;
		if (deadline >= 0) {
			left = deadline - kup_now_ns();
			if (left <= 0) {
				r = -EKU_TIMEDOUT;
				break;
			}
		}
		KUP_CNT_ADD(e, sleeps, 1);
		/* Sleep on the very value poll judged "not ready", never a re-read. */
		s = e->ops->sleep(e, &e->peer->tw, e->seen_tw, left);
		if (s != 0 && s != -EKU_TIMEDOUT) {
			/* The peer's last message before it left still counts. */
			r = kup_end_poll(e);
			if (r == -EKU_NOTREADY)
				r = s;
			break;
		}
	}
	announce_wait(e, e->wait_bits & ~KUP_WAIT_SLEEP);
	if (r != -EKU_TIMEDOUT)
		return r;
timedout:
	KUP_CNT_ADD(e, timeouts, 1);
	return -EKU_TIMEDOUT;
}

int kup_cond_wait(const struct kup_cond_ops *ops, void *arg, int flags, int64_t timeout_ns)
{
	int64_t deadline, left;
	int r, s, i;

	if (!kup_flags_ok(flags))
		return -EKU_INVAL;
	r = ops->check(arg);
	if (r != -EKU_NOTREADY || (flags & KUPC_NB))
		return r;
	deadline = deadline_after(kup_now_ns(), timeout_ns);
	for (;;) {
		s = 0;
		if (flags & KUPC_POLL) {
			for (i = 0; i < 64; i++)
				kup_cpu_relax();
			kup_resched();
		}
		left = deadline < 0 ? -1 : deadline - kup_now_ns();
		if (deadline >= 0 && left <= 0)
			s = -EKU_TIMEDOUT;
		else if (!(flags & KUPC_POLL))
			s = ops->sleep(arg, left);
		/* Ready wins over a timeout or a signal that came with it. */
		r = ops->check(arg);
		if (r != -EKU_NOTREADY)
			return r;
		if (s)
			return s;
	}
}

_Static_assert(KUP_INLINE <= KUP_COPY_SMALL, "inline payloads take the call-free copy");

int kup_end_send(struct kup_end *e, const void *data, size_t len, int flags, int64_t timeout_ns)
{
	int r;

	if (len > e->cap) {
		KUP_CNT_ADD(e, errors, 1);
		return -EKU_TOOBIG;
	}
	if (len && !data)
		return -EKU_INVAL;
	r = kup_end_wait(e, flags, timeout_ns);
	if (r)
		return r;
	if (len <= KUP_INLINE) {
		kup_copy_small(e->mine->inl, data, (uint32_t)len);
		kup_turn_publish(e, KUP_LEN_INLINE | (uint32_t)len);
	} else {
		kup_memcpy(e->tx, data, len);
		kup_turn_publish(e, (uint32_t)len);
	}
	return 0;
}

int kup_end_pass(struct kup_end *e, int flags, int64_t timeout_ns)
{
	int r = kup_end_wait(e, flags, timeout_ns);

	if (r)
		return r;
	e->mine->inl[0] = 0; /* the empty token reads as a zero byte too */
	kup_turn_publish(e, KUP_LEN_INLINE);
	return 0;
}

int kup_end_recv(struct kup_end *e, int flags, int64_t timeout_ns, const void **data, uint32_t *len,
                 int copy)
{
	int r;

	if (copy && !e->rx_copy)
		return -EKU_NOMEM; /* never the shared bytes where a stable copy was asked for */
	r = kup_end_wait(e, flags, timeout_ns);
	if (r)
		return r;
	kup_turn_hand_out(e, copy, data, len);
	return 0;
}

int kup_end_send_recv(struct kup_end *e, const void *data, size_t len, int flags,
                      int64_t timeout_ns, const void **reply, uint32_t *rlen, int copy)
{
	int r = kup_end_send(e, data, len, KUPC_NB, 0);

	if (r)
		return r == -EKU_NOTREADY ? -EKU_NOTURN : r;
	KUP_TRACE_SEND(e, len);
	r = kup_end_recv(e, flags, timeout_ns, reply, rlen, copy);
	if (!r)
		KUP_TRACE_RECV(e, *rlen);
	return r;
}

int kup_end_txbuf(struct kup_end *e, int flags, int64_t timeout_ns, void **buf, uint32_t *cap)
{
	int r = kup_end_wait(e, flags, timeout_ns);

	if (r)
		return r;
	/* Answering without reading: the message that brought the turn counts as
	 * handed out, so an end after it is the commit's to report. */
	e->have_turn = KUP_TURN_READ;
	e->tx_open = 1;
	*buf = e->tx;
	*cap = e->cap;
	return 0;
}

int kup_end_commit(struct kup_end *e, size_t len)
{
	int r;

	if (!e->tx_open || !e->have_turn)
		return -EKU_NOTURN;
	if (len > e->cap) {
		KUP_CNT_ADD(e, errors, 1);
		return -EKU_TOOBIG; /* the buffer and the turn stay ours */
	}
	r = kup_end_poll(e);
	if (r)
		return r;
	kup_turn_publish(e, (uint32_t)len);
	return 0;
}

void kup_end_close(struct kup_end *e, uint32_t state)
{
	e->state = state;
	kup_publish_tw(e);
	/* Closing is rare: wake whatever the peer announced, even a stale bit. */
	wake_peer(e);
}

void kup_end_set_local(struct kup_end *e, uint32_t code)
{
	kup_store_once(&e->local, code);
}

int kup_user_ready(const void *kblock, const void *ublock)
{
	uint32_t ktw = kup_load_acquire(&((const struct kup_kctl *)kblock)->k.tw);
	uint32_t utw = kup_load_once(&((const struct kup_uctl *)ublock)->u.tw);

	if (kup_load_once(&((const struct kup_kctl *)kblock)->hdr.flags) & KUP_HDR_STREAM)
		return kup_stream_user_ready(kblock, ublock);
	if (KUP_TW_STATE(ktw) != KUP_ST_OPEN || KUP_TW_STATE(utw) != KUP_ST_OPEN)
		return -1;
	/* The user's turn, as kup_end_poll decides it: kern seq == user seq + 1. */
	return KUP_TW_SEQ(ktw) == ((KUP_TW_SEQ(utw) + 1) & KUP_SEQ_MASK);
}

int kup_end_arm(struct kup_end *e, uint32_t bits)
{
	if (e->stream)
		return kup_stream_arm(e, KUP_SW_RECV, 0);
	announce_wait(e, e->wait_bits | bits);
	return kup_end_poll(e) == -EKU_NOTREADY ? 0 : 1;
}

void kup_end_disarm(struct kup_end *e, uint32_t bits)
{
	if (e->stream) {
		kup_stream_disarm(e);
		return;
	}
	announce_wait(e, e->wait_bits & ~bits);
}
