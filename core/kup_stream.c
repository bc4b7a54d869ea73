/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_stream.c - streaming channels: record rings, batches, waits and
 * wake-ups, once for every host (kup_stream.h; docs/protocol.md,
 * "Streaming").
 *
 * Each side produces into the ring in its own data pages and publishes
 * its producer position (prod) in its own control page; it consumes the
 * peer's ring and publishes how far it got (cons), also in its own page.
 * So each side writes only its own block, as with turns.
 *
 * Trust: the kern side reads the peer's prod and cons once per batch,
 * bounds them against the ring and its own positions, reads each record
 * header once (length and position), bounds the length against the ring
 * and the bytes published, and copies the payload out with that length.
 * Nothing it reads from the user block sizes or indexes anything before
 * it was bounded; a bad value breaks the channel (-EKU_PROTO), nothing else.
 *
 * Ordering points, one helper each (docs/protocol.md pairs them up):
 *   S1 publish_prod   store-release of prod after the records
 *   S2 observe_prod   load-acquire of the peer's prod before its records
 *   S3 publish_cons   store-release of cons after the records were copied out
 *   S4 observe_cons   load-acquire of the peer's cons before reusing that room
 *   S5 announce       the peer's tw read first (to sleep on), our wait word, then a
 *                     full fence, then re-check (pairs with S6)
 *   S6 peer_wait      after S1 or S3, a full fence, then the peer's wait word
 *   S7 ring_bell      store-release of our tw with one more seq: what a sleeper waits on
 */
#include "kup_stream.h"

#define KUP_INT64_MAX        ((int64_t)(~(uint64_t)0 >> 1))

/* The ring bytes one record of len payload bytes takes (len <= the ring: no overflow). */
static inline uint32_t rec_bytes(uint32_t len)
{
	return (uint32_t)sizeof(struct kup_rec) +
	       ((len + KUP_REC_ALIGN - 1) & ~(KUP_REC_ALIGN - 1));
}

/* S1: the records (headers and payload) before the position that publishes them. */
static void publish_prod(struct kup_end *e)
{
	kup_store_release(&e->smine->prod, e->s_prod);
}

/* S2: pairs with the peer's S1: the records below prod are the published ones. */
static uint32_t observe_prod(const struct kup_end *e)
{
	return kup_load_acquire(&e->speer->prod);
}

/* S3: our copies out of the records before the room goes back to the peer. */
static void publish_cons(struct kup_end *e)
{
	kup_store_release(&e->smine->cons, e->s_cons);
}

/* S4: pairs with the peer's S3: it is done with the room below cons before we write it. */
static uint32_t observe_cons(const struct kup_end *e)
{
	return kup_load_acquire(&e->speer->cons);
}

/* S5: announce (a new generation each time), then re-check: pairs with the peer's S6. */
static void announce(struct kup_end *e, uint32_t bits, uint32_t need)
{
	e->s_gen++;
	kup_store_once(&e->smine->need, need);
	kup_store_release(&e->smine->wait, (e->s_gen << KUP_SW_GEN_SHIFT) | bits);
	kup_fence_full();
}

/* S6: our position must be visible before we read whether the peer sleeps (pairs with S5). */
static uint32_t peer_wait(const struct kup_end *e)
{
	kup_fence_full();
	return kup_load_acquire(&e->speer->wait);
}

/*
 * S7: ring the peer's doorbell.  A sleeper waits for our tw to change (the
 * hosts' sleep ops), so a stream side bumps the seq of its tw: on a stream
 * channel seq counts doorbells, not messages.  Once per announcement (the
 * peer's word w changes with every announcement): per-batch elision.
 */
static void ring_bell(struct kup_end *e, uint32_t w)
{
	if (e->s_rang_ok && e->s_rang == w)
		return; /* rung for this announcement already */
	e->s_rang = w;
	e->s_rang_ok = 1;
	e->tx_seq = (e->tx_seq + 1) & KUP_SEQ_MASK;
	kup_store_release(&e->mine->tw, KUP_TW(e->tx_seq, e->state));
	KUP_CNT_ADD(e, wakeups, 1);
	e->ops->wake(e, w & KUP_WAIT_MASK);
}

/* After publishing records: ring when the peer waits for records. */
static void wake_reader(struct kup_end *e)
{
	uint32_t w = peer_wait(e);

	if ((w & KUP_SW_RECV) && (w & KUP_WAIT_MASK))
		ring_bell(e, w);
}

/* After consuming: ring when the peer waits for room and has it now (left: bytes still queued). */
static void wake_writer(struct kup_end *e, uint32_t left)
{
	uint32_t w = peer_wait(e), need;

	if (!(w & KUP_SW_SEND) || !(w & KUP_WAIT_MASK))
		return;
	need = kup_load_once(&e->speer->need);
	if (need > e->ring)
		need = e->ring; /* garbage: then any room will do */
	if (e->ring - left >= need)
		ring_bell(e, w);
}

/*
 * The peer's state, read once (acquire, after which its positions are
 * read): 0 open; a positive EKU_CLOSED / EKU_SHUTDOWN when the exchange
 * ended (what was published before still counts); a negative -EKU_* to
 * fail now.
 */
static int peer_state(struct kup_end *e)
{
	uint32_t local = kup_load_once(&e->local), tw, st;

	if (local == EKU_SHUTDOWN)
		return -EKU_SHUTDOWN;
	if (e->broken)
		return -(int)(local ? local : e->broken);
	tw = kup_load_acquire(&e->peer->tw);
	st = KUP_TW_STATE(tw);
	if (st == KUP_ST_CLOSING)
		return EKU_CLOSED;
	if (st == KUP_ST_SHUTDOWN && e->lead == 1)
		return EKU_SHUTDOWN;
	if (st != KUP_ST_OPEN)
		return kup_end_violation(e, "stream state", tw);
	return local ? (int)local : 0;
}

/* Bytes of ours the peer has not consumed: its cons read once and bounded. */
static int tx_used(struct kup_end *e, uint32_t *used)
{
	uint32_t cons = observe_cons(e);
	uint32_t u = e->s_prod - cons;

	if (u > e->ring || (u & (KUP_REC_ALIGN - 1)))
		return kup_end_violation(e, "stream consumer position", cons);
	e->s_peer_cons = cons;
	*used = u;
	return 0;
}

/* Bytes the peer published that we have not consumed: its prod read once and bounded. */
static int rx_avail(struct kup_end *e, uint32_t *avail)
{
	uint32_t prod = observe_prod(e);
	uint32_t a = prod - e->s_cons;

	if (a > e->ring || (a & (KUP_REC_ALIGN - 1)))
		return kup_end_violation(e, "stream producer position", prod);
	*avail = a;
	return 0;
}

/* Copy n bytes: a small record without a call. */
static KUP_ALWAYS_INLINE void copy_bytes(void *dst, const void *src, uint32_t n)
{
	if (n > KUP_COPY_SMALL)
		kup_memcpy(dst, src, n);
	else
		kup_copy_small(dst, src, n);
}

/* Copy n bytes into our ring at position pos, wrapping at its end. */
static void ring_put(struct kup_end *e, uint32_t pos, const void *src, uint32_t n)
{
	uint32_t off = pos & (e->ring - 1), first = e->ring - off;

	if (n <= first) {
		copy_bytes(e->tx + off, src, n);
		return;
	}
	kup_memcpy(e->tx + off, src, first);
	kup_memcpy(e->tx, (const uint8_t *)src + first, n - first);
}

/* Copy n bytes out of the peer's ring at position pos (n <= the ring: bounded by the caller). */
static void ring_get(const struct kup_end *e, uint32_t pos, void *dst, uint32_t n)
{
	uint32_t off = pos & (e->ring - 1), first = e->ring - off;

	if (n <= first) {
		copy_bytes(dst, e->rx + off, n);
		return;
	}
	kup_memcpy(dst, e->rx + off, first);
	kup_memcpy((uint8_t *)dst + first, e->rx, n - first);
}

/* now + ns, or -1 (never) for a negative ns or one too large to add. */
static int64_t deadline_after(int64_t now, int64_t ns)
{
	if (ns < 0 || ns > KUP_INT64_MAX - now)
		return -1;
	return now + ns;
}

/* Whether what we wait for holds: 0, -EKU_NOTREADY, or -EKU_* (the end, an error). */
static int stream_ready(struct kup_end *e, uint32_t want, uint32_t need)
{
	uint32_t n = 0;
	int st = peer_state(e), r;

	if (st < 0)
		return st;
	if (want == KUP_SW_RECV) {
		r = rx_avail(e, &n);
		if (r)
			return r;
		if (n)
			return 0;
	} else {
		if (st)
			return -st;
		r = tx_used(e, &n);
		if (r)
			return r;
		if (e->ring - n >= need)
			return 0;
	}
	return st ? -st : -EKU_NOTREADY;
}

/* Wait (spin, then sleep announced) until stream_ready says other than NOTREADY. */
static int stream_wait(struct kup_end *e, uint32_t want, uint32_t need, int flags, int64_t deadline)
{
	int64_t now, spin_end, left;
	int r, i, s;

	r = stream_ready(e, want, need);
	if (r != -EKU_NOTREADY || (flags & KUPC_NB))
		return r;
	now = kup_now_ns();
	spin_end = (flags & KUPC_POLL) ? -1 : deadline_after(now, e->spin_ns);
	while (spin_end < 0 || now < spin_end) {
		for (i = 0; i < 64; i++) {
			r = stream_ready(e, want, need);
			if (r != -EKU_NOTREADY)
				return r;
			kup_cpu_relax();
		}
		kup_resched();
		now = kup_now_ns();
		if (deadline >= 0 && now >= deadline)
			goto timedout;
	}
	for (;;) {
		/*
		 * The bell count before announcing, to sleep on: a bell the peer
		 * rings for this announcement changes it, even one rung before our
		 * look below (the peer saw the announcement, but what it had
		 * published we took before announcing).  Read after the look, that
		 * bell would be absorbed, we would sleep under an announcement the
		 * peer counts as rung, and it rings once per announcement: a lost
		 * wake-up (tests/model/kup_stream.pml, MUT_SEEN_AFTER).
		 */
		uint32_t seen = kup_load_acquire(&e->peer->tw);

		announce(e, e->s_arm | KUP_WAIT_SLEEP | want,
		         want == KUP_SW_SEND ? need : e->s_need);
		r = stream_ready(e, want, need);
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
		s = e->ops->sleep(e, &e->peer->tw, seen, left);
		if (s != 0 && s != -EKU_TIMEDOUT) {
			r = stream_ready(e, want, need);
			if (r == -EKU_NOTREADY)
				r = s;
			break;
		}
	}
	announce(e, e->s_arm, e->s_need);
	if (r != -EKU_TIMEDOUT)
		return r;
timedout:
	KUP_CNT_ADD(e, timeouts, 1);
	return -EKU_TIMEDOUT;
}

int kup_stream_send(struct kup_end *e, const struct kup_iovec *msgs, size_t n, int flags,
                    int64_t timeout_ns)
{
	uint32_t room = 0, used = 0, fresh, pos, len, rec = 0, q, max = kup_stream_max_msg(e);
	struct kup_rec h;
	uint64_t bytes;
	int64_t deadline = -2; /* computed at the first wait */
	size_t done = 0;
	int r = 0, st;

	if (!e->stream || !kup_flags_ok(flags) || (n && !msgs))
		return -EKU_INVAL;
	if (n > KUP_STREAM_BATCH_MAX)
		n = KUP_STREAM_BATCH_MAX;
	for (;;) {
		st = peer_state(e);
		if (st) {
			r = st < 0 ? st : -st;
			break;
		}
		/*
		 * The room as of the consumer position we last read and checked (it
		 * only grows behind our back); read the position again, once per
		 * batch, only when a record does not fit.  That saves a transfer of
		 * the consumer's line per batch while it keeps up.
		 */
		room = e->ring - (e->s_prod - e->s_peer_cons);
		fresh = 0;
		pos = e->s_prod;
		q = 0;
		bytes = 0;
		while (done < n) {
			if (msgs[done].len > max) {
				r = -EKU_TOOBIG;
				break;
			}
			len = (uint32_t)msgs[done].len;
			if (len && !msgs[done].base) {
				r = -EKU_INVAL;
				break;
			}
			rec = rec_bytes(len);
			if (rec > room && !fresh) {
				fresh = 1;
				r = tx_used(e, &used);
				if (r)
					break;
				room = e->ring - used - (pos - e->s_prod);
			}
			if (rec > room)
				break;
			h.len = len;
			h.pos = pos;
			/* Aligned: a header never wraps; one 8-byte store. */
			__builtin_memcpy(e->tx + (pos & (e->ring - 1)), &h, sizeof(h));
			ring_put(e, pos + (uint32_t)sizeof(h), msgs[done].base, len);
			pos += rec;
			room -= rec;
			bytes += len;
			done++;
			q++;
		}
		if (q) {
			e->s_prod = pos;
			publish_prod(e);
			KUP_CNT_ADD(e, sent, q);
			KUP_CNT_ADD(e, bytes_sent, bytes);
			wake_reader(e);
		}
		if (r || done == n)
			break;
		if (flags & KUPC_NB) {
			r = -EKU_NOTREADY;
			break;
		}
		if (deadline == -2)
			deadline = deadline_after(kup_now_ns(), timeout_ns);
		r = stream_wait(e, KUP_SW_SEND, rec_bytes((uint32_t)msgs[done].len), flags,
		                deadline);
		if (r)
			break;
	}
	if (r && r != -EKU_NOTREADY && r != -EKU_TIMEDOUT && r != -EKU_PROTO)
		KUP_CNT_ADD(e, errors, 1);
	return done ? (int)done : r;
}

/* What walk does with each record it passes. */
enum walk_how {
	W_COPY, /* into msgs[i].base (msgs[i].len bytes of room) */
	W_PEEK, /* msgs[i].base points at it in the ring (or in bounce when it wraps) */
	W_SKIP, /* nothing: release records peeked before */
};

/* What a walk passed. */
struct walked {
	size_t got;     /* records walked */
	uint32_t end;   /* the consumer position after them */
	uint32_t left;  /* bytes still published behind them */
	uint64_t bytes; /* their payload */
};

/*
 * Walk up to n records the peer published, from our consumer position:
 * each header read once (one 8-byte load) and checked (its position tag,
 * its length against the ring and the bytes published), then its payload
 * handled as how says; msgs[i].len becomes the record's length (W_SKIP:
 * msgs is NULL).  0 or -EKU_*: a record larger than its buffer stops a
 * copy there (-EKU_TOOBIG when it is the first).  *w holds what was walked
 * either way.
 */
static int walk(struct kup_end *e, struct kup_iovec *msgs, size_t n, enum walk_how how,
                uint8_t *bounce, struct walked *w)
{
	struct kup_rec h;
	uint64_t hw;
	uint32_t avail = 0, pos, len, tag, rec, off, max = kup_stream_max_msg(e);
	size_t k = 0;
	int r;

	w->got = 0;
	w->bytes = 0;
	w->end = e->s_cons;
	w->left = 0;
	r = rx_avail(e, &avail);
	if (r)
		return r;
	pos = e->s_cons;
	while (k < n && avail) {
		/* avail is a multiple of the alignment, so a whole header is published. */
		/* The header in one 8-byte load, once; from here on only the copies count. */
		hw = kup_load_once64(
		    (const uint64_t *)(const void *)(e->rx + (pos & (e->ring - 1))));
		__builtin_memcpy(&h, &hw, sizeof(h));
		len = h.len;
		tag = h.pos;
		if (tag != pos) {
			r = kup_end_violation(e, "stream record position", tag);
			break;
		}
		if (len > max || (rec = rec_bytes(len)) > avail) {
			r = kup_end_violation(e, "stream record length", len);
			break;
		}
		if (how == W_COPY) {
			if (len > msgs[k].len) {
				if (!k)
					r = -EKU_TOOBIG; /* stays queued: a larger buffer can take it */
				break;
			}
			if (len && !msgs[k].base) {
				r = -EKU_INVAL;
				break;
			}
			ring_get(e, pos + (uint32_t)sizeof(h), msgs[k].base, len);
		} else if (how == W_PEEK) {
			off = (pos + (uint32_t)sizeof(h)) & (e->ring - 1);
			if (len <= e->ring - off) {
				msgs[k].base = (void *)(uintptr_t)(e->rx + off); /* read-only */
			} else { /* wraps: one such record per walk at most (n records fit the ring) */
				ring_get(e, pos + (uint32_t)sizeof(h), bounce, len);
				msgs[k].base = bounce;
			}
		}
		if (msgs)
			msgs[k].len = len;
		pos += rec;
		avail -= rec;
		w->bytes += len;
		k++;
	}
	w->got = k;
	w->end = pos;
	w->left = avail;
	return r;
}

/* Give the room of the walked records back to the peer, count them, ring if it waits. */
static void consume(struct kup_end *e, const struct walked *w)
{
	e->s_peek_got = 0; /* whatever was peeked is behind us now */
	e->s_cons = w->end;
	publish_cons(e);
	KUP_CNT_ADD(e, received, w->got);
	KUP_CNT_ADD(e, bytes_received, w->bytes);
	wake_writer(e, w->left);
}

/* kup_stream_recv and kup_stream_peek: wait for records, then copy (and consume) or point. */
static int take(struct kup_end *e, struct kup_iovec *msgs, size_t n, int flags,
                int64_t timeout_ns, uint8_t *bounce)
{
	int64_t deadline = -2;
	struct walked w;
	int r, st;

	if (!e->stream || !kup_flags_ok(flags) || (n && !msgs))
		return -EKU_INVAL;
	if (!n)
		return 0;
	if (n > KUP_STREAM_BATCH_MAX)
		n = KUP_STREAM_BATCH_MAX;
	for (;;) {
		/* The state before the positions: records published before an end count. */
		st = peer_state(e);
		if (st < 0)
			return st;
		r = walk(e, msgs, n, bounce ? W_PEEK : W_COPY, bounce, &w);
		if (w.got) {
			if (!bounce) {
				consume(e, &w);
			} else {
				/* Kept for the release: the records stay put until then. */
				e->s_peek_got = (uint32_t)w.got;
				e->s_peek_end = w.end;
				e->s_peek_left = w.left;
				e->s_peek_bytes = w.bytes;
			}
			return (int)w.got;
		}
		if (r)
			break;
		if (st) {
			r = -st;
			break;
		}
		if (flags & KUPC_NB)
			return -EKU_NOTREADY;
		if (deadline == -2)
			deadline = deadline_after(kup_now_ns(), timeout_ns);
		r = stream_wait(e, KUP_SW_RECV, 0, flags, deadline);
		if (r)
			break;
	}
	if (r != -EKU_TIMEDOUT && r != -EKU_PROTO) /* a violation counted itself */
		KUP_CNT_ADD(e, errors, 1);
	return r;
}

int kup_stream_recv(struct kup_end *e, struct kup_iovec *msgs, size_t n, int flags,
                    int64_t timeout_ns)
{
	return take(e, msgs, n, flags, timeout_ns, NULL);
}

int kup_stream_peek(struct kup_end *e, struct kup_iovec *msgs, size_t n, int flags,
                    int64_t timeout_ns, uint8_t *bounce)
{
	return bounce ? take(e, msgs, n, flags, timeout_ns, bounce) : -EKU_INVAL;
}

int kup_stream_poll(struct kup_end *e)
{
	return e->stream ? stream_ready(e, KUP_SW_RECV, 0) : -EKU_INVAL;
}

int kup_stream_release(struct kup_end *e, size_t n)
{
	struct walked w;
	int r;

	if (!e->stream)
		return -EKU_INVAL;
	if (!n)
		return 0;
	if (n == e->s_peek_got) {
		/* All the last peek handed out, walked and checked then: no second walk,
		 * and no second read of the peer's position (a line it keeps writing). */
		w.got = n;
		w.end = e->s_peek_end;
		w.left = e->s_peek_left; /* as it was: at worst a wake-up the writer did not need */
		w.bytes = e->s_peek_bytes;
	} else {
		r = walk(e, NULL, n, W_SKIP, NULL, &w);
		if (r)
			return r;
		if (w.got < n)
			return -EKU_INVAL; /* more than are queued: nothing released */
	}
	consume(e, &w);
	return 0;
}

int kup_stream_arm(struct kup_end *e, uint32_t want, uint32_t need)
{
	if (!e->stream)
		return -EKU_INVAL;
	want &= KUP_SW_RECV | KUP_SW_SEND;
	if (need > kup_stream_max_msg(e))
		need = kup_stream_max_msg(e);
	e->s_arm = KUP_WAIT_FD | want;
	e->s_need = (want & KUP_SW_SEND) ? rec_bytes(need) : 0;
	announce(e, e->s_arm, e->s_need);
	if ((want & KUP_SW_RECV) && stream_ready(e, KUP_SW_RECV, 0) != -EKU_NOTREADY)
		return 1;
	if ((want & KUP_SW_SEND) && stream_ready(e, KUP_SW_SEND, e->s_need) != -EKU_NOTREADY)
		return 1;
	return 0;
}

void kup_stream_disarm(struct kup_end *e)
{
	e->s_arm = 0;
	e->s_need = 0;
	announce(e, 0, 0);
}

int kup_stream_user_ready(const void *kblock, const void *ublock)
{
	const struct kup_kctl *kc = kblock;
	const struct kup_uctl *uc = ublock;
	uint32_t ktw = kup_load_acquire(&kc->k.tw), utw = kup_load_once(&uc->u.tw);
	uint32_t ring = KUP_STREAM_RING(kc->hdr.cap), w, need, used;

	if (KUP_TW_STATE(ktw) != KUP_ST_OPEN || KUP_TW_STATE(utw) != KUP_ST_OPEN)
		return -1;
	/* Records for the process: the kern prod (ours) ahead of the user's cons. */
	if (kup_load_acquire(&kc->s.prod) != kup_load_once(&uc->s.cons))
		return 1;
	w = kup_load_once(&uc->s.wait);
	if (!(w & KUP_SW_SEND))
		return 0;
	/* Room in the process's ring, as its armed fd asked (each word read once, bounded). */
	need = kup_load_once(&uc->s.need);
	used = kup_load_once(&uc->s.prod) - kup_load_once(&kc->s.cons);
	if (need > ring)
		need = ring;
	return used <= ring && ring - used >= need;
}
