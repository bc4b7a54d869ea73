/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kupdev_chan.c - the kupdev_* calls on a channel, once for every kern-side
 * host, over the host contract of kup_os.h.
 *
 * Every call checks its arguments, enters the channel (kup_os_chan_enter,
 * or its quick way: kup_os_chan_try, kup_os_chan_quick), ends the caller's
 * earlier zero-copy loan, runs one core operation and records its result
 * as the channel's last error on the way out, so that kupdev_receive and
 * kupdev_pass, which return no code, leave one.  The message calls run
 * their common case first, in line (kup_turn.h).
 */
#include "kup_os.h"
#include "kup_turn.h"

/*
 * The rest of the way in, on channel ch of sc entered already; zc: the
 * call hands out zero-copy pointers (needs a loan slot).  *keep: the
 * retired memory of the caller's earlier loan, put by chan_end only: the
 * call may read it (a zero-copy receive passed to kupdev_send_timed is the
 * plain echo), so it stays until the call is done.  A failure leaves ch.
 */
static KUP_ALWAYS_INLINE int chan_ready(struct kupdev_softc *sc, struct kup_chan *ch, int zc,
                                        void **keep)
{
	int r;

	*keep = NULL;
	/* The caller's earlier pointers end with this call (kupdev.h); no loans, no lookup. */
	if (ch->loans.n)
		*keep = kup_loan_end(&ch->loans, kup_os_self());
	ch->e.spin_ns = (int64_t)kup_load_once64(&KUP_DEV(sc)->spin_ns);
	r = zc ? kup_loan_room(&ch->loans) : 0;
	if (r) {
		if (*keep)
			kup_os_mem_put(ch, *keep);
		kup_store_once(&ch->last_err, (uint32_t)-r);
		kup_os_chan_leave(ch, r);
	}
	return r;
}

/* Enter chan_id for a call (kup_os_chan_enter), ready for it: *chp, or -EKU_*. */
static KUP_ALWAYS_INLINE int chan_begin(struct kupdev_softc *sc, int chan_id, int zc,
                                        struct kup_chan **chp, void **keep)
{
	int r = kup_os_chan_enter(sc, chan_id, chp);

	*keep = NULL;
	return r ? r : chan_ready(sc, *chp, zc, keep);
}

/* Leave: the caller's old loan, now that the call is done with it; the result for
 * kupdev_last_error. */
static KUP_ALWAYS_INLINE int chan_end(struct kup_chan *ch, void *keep, int r)
{
	if (keep)
		kup_os_mem_put(ch, keep);
	kup_store_once(&ch->last_err, r < 0 ? (uint32_t)-r : 0);
	kup_os_chan_leave(ch, r);
	return r;
}

/* The caller's earlier loan ended with nothing to look up or put, or 0 (kup_loan_quick_end). */
static KUP_ALWAYS_INLINE int loans_quick(struct kup_chan *ch)
{
	return !ch->loans.n || kup_loan_quick_end(&ch->loans, kup_os_self());
}

/*
 * The message calls' common case runs first, in line: the channel entered
 * the quick way (kup_os_chan_try, kup_os_chan_quick), no loan to end (or
 * the caller's own, ended in place: loans_quick), and
 * the turn ours now (kup_turn.h).  The full path takes every other case
 * from where the quick one stopped: *_in on the channel it locked,
 * *_full from the start.
 */
static KUP_ALWAYS_INLINE int send_on(struct kupdev_softc *sc, struct kup_chan *ch,
                                     const void *data, size_t len, int flags, int64_t timeout_ns)
{
	void *keep;
	int r = chan_ready(sc, ch, 0, &keep);

	if (r)
		return r;
	r = kup_end_send(&ch->e, data, len, flags, timeout_ns);
	if (!r)
		KUP_TRACE_SEND(&ch->e, len);
	return chan_end(ch, keep, r);
}

KUP_HOT KUP_NOINLINE static int send_in(struct kupdev_softc *sc, struct kup_chan *ch,
                                        const void *data, size_t len, int flags,
                                        int64_t timeout_ns)
{
	int r = kup_os_chan_admit(sc, ch);

	return r ? r : send_on(sc, ch, data, len, flags, timeout_ns);
}

KUP_HOT KUP_NOINLINE static int send_full(struct kupdev_softc *sc, int chan_id, const void *data,
                                          size_t len, int flags, int64_t timeout_ns)
{
	struct kup_chan *ch;
	int r = kup_os_chan_enter(sc, chan_id, &ch);

	return r ? r : send_on(sc, ch, data, len, flags, timeout_ns);
}

KUP_HOT KUP_API int kupdev_send_timed(struct kupdev_softc *sc, int chan_id, const void *data,
                                      size_t len, int flags, int64_t timeout_ns)
{
	struct kup_chan *ch;

	if (!kup_flags_ok(flags))
		return -EKU_INVAL;
	ch = kup_os_chan_try(sc, chan_id);
	if (!ch)
		return send_full(sc, chan_id, data, len, flags, timeout_ns);
	if (!kup_os_chan_quick(sc, ch) || !loans_quick(ch) ||
	    !kup_end_send_now(&ch->e, data, len))
		return send_in(sc, ch, data, len, flags, timeout_ns);
	KUP_TRACE_SEND(&ch->e, len);
	return chan_end(ch, NULL, 0);
}

KUP_API int kupdev_send(struct kupdev_softc *sc, void *data, size_t len, int chan_id)
{
	return kupdev_send_timed(sc, chan_id, data, len, 0, KUP_FOREVER);
}

/* A receive on channel ch of sc, entered already. */
static KUP_ALWAYS_INLINE int recv_on(struct kupdev_softc *sc, struct kup_chan *ch,
                                     const void **data, size_t *len, int flags,
                                     int64_t timeout_ns, int copy)
{
	void *keep;
	uint32_t n;
	int r = chan_ready(sc, ch, !copy, &keep);

	if (r)
		return r;
	r = kup_end_recv(&ch->e, flags, timeout_ns, data, &n, copy);
	if (!r) {
		KUP_TRACE_RECV(&ch->e, n);
		*len = n;
		if (!copy)
			kup_loan_take(&ch->loans, kup_os_self());
	}
	return chan_end(ch, keep, r);
}

/* A receive into the host's private copy (the module's to read) on ch, admitted. */
static KUP_ALWAYS_INLINE int recv_copy_on(struct kupdev_softc *sc, struct kup_chan *ch,
                                          void **data, size_t *len, int flags,
                                          int64_t timeout_ns)
{
	const void *d = NULL;
	int r = recv_on(sc, ch, &d, len, flags, timeout_ns, 1);

	if (!r)
		*data = (void *)(uintptr_t)d;
	return r;
}

/* kupdev_recv's full path on the channel the quick way locked. */
KUP_HOT KUP_NOINLINE static int recv_copy_in(struct kupdev_softc *sc, struct kup_chan *ch,
                                             void **data, size_t *len, int flags,
                                             int64_t timeout_ns)
{
	int r = kup_os_chan_admit(sc, ch);

	return r ? r : recv_copy_on(sc, ch, data, len, flags, timeout_ns);
}

KUP_HOT KUP_NOINLINE static int recv_copy_full(struct kupdev_softc *sc, int chan_id, void **data,
                                               size_t *len, int flags, int64_t timeout_ns)
{
	struct kup_chan *ch;
	int r = kup_os_chan_enter(sc, chan_id, &ch);

	return r ? r : recv_copy_on(sc, ch, data, len, flags, timeout_ns);
}

KUP_HOT KUP_API int kupdev_recv(struct kupdev_softc *sc, int chan_id, void **data, size_t *len,
                                int flags, int64_t timeout_ns)
{
	struct kup_chan *ch;
	const void *d;
	uint32_t n;

	if (!data || !len || !kup_flags_ok(flags))
		return -EKU_INVAL;
	ch = kup_os_chan_try(sc, chan_id);
	if (!ch)
		return recv_copy_full(sc, chan_id, data, len, flags, timeout_ns);
	if (!kup_os_chan_quick(sc, ch) || !loans_quick(ch) ||
	    !kup_end_recv_now(&ch->e, 1, &d, &n))
		return recv_copy_in(sc, ch, data, len, flags, timeout_ns);
	KUP_TRACE_RECV(&ch->e, n);
	*data = (void *)(uintptr_t)d;
	*len = n;
	return chan_end(ch, NULL, 0);
}

KUP_HOT KUP_NOINLINE static int recv_shared_in(struct kupdev_softc *sc, struct kup_chan *ch,
                                               const void **data, size_t *len, int flags,
                                               int64_t timeout_ns)
{
	int r = kup_os_chan_admit(sc, ch);

	return r ? r : recv_on(sc, ch, data, len, flags, timeout_ns, 0);
}

KUP_HOT KUP_NOINLINE static int recv_shared_full(struct kupdev_softc *sc, int chan_id,
                                                 const void **data, size_t *len, int flags,
                                                 int64_t timeout_ns)
{
	struct kup_chan *ch;
	int r = kup_os_chan_enter(sc, chan_id, &ch);

	return r ? r : recv_on(sc, ch, data, len, flags, timeout_ns, 0);
}

KUP_HOT KUP_API int kupdev_recv_shared_untrusted(struct kupdev_softc *sc, int chan_id,
                                                 const void **data, size_t *len, int flags,
                                                 int64_t timeout_ns)
{
	struct kup_chan *ch;
	uint32_t n;

	if (!data || !len || !kup_flags_ok(flags))
		return -EKU_INVAL;
	ch = kup_os_chan_try(sc, chan_id);
	if (!ch)
		return recv_shared_full(sc, chan_id, data, len, flags, timeout_ns);
	if (!kup_os_chan_quick(sc, ch) || !loans_quick(ch) ||
	    !kup_end_recv_now(&ch->e, 0, data, &n))
		return recv_shared_in(sc, ch, data, len, flags, timeout_ns);
	KUP_TRACE_RECV(&ch->e, n);
	*len = n;
	kup_loan_take(&ch->loans, kup_os_self());
	return chan_end(ch, NULL, 0);
}

/* Send, then receive the reply, in one call (kupdev.h): one entry, one
 * channel lookup and one loan check for the round trip. */
static KUP_ALWAYS_INLINE int send_recv_on(struct kupdev_softc *sc, struct kup_chan *ch,
                                          const void *data, size_t len, void **reply,
                                          size_t *rlen, int flags, int64_t timeout_ns)
{
	const void *d;
	void *keep;
	uint32_t n;
	int r = chan_ready(sc, ch, 0, &keep);

	if (r)
		return r;
	r = kup_end_send_recv(&ch->e, data, len, flags, timeout_ns, &d, &n, 1);
	if (!r) {
		*reply = (void *)(uintptr_t)d;
		*rlen = n;
	}
	return chan_end(ch, keep, r);
}

KUP_HOT KUP_NOINLINE static int send_recv_in(struct kupdev_softc *sc, struct kup_chan *ch,
                                             const void *data, size_t len, void **reply,
                                             size_t *rlen, int flags, int64_t timeout_ns)
{
	int r = kup_os_chan_admit(sc, ch);

	return r ? r : send_recv_on(sc, ch, data, len, reply, rlen, flags, timeout_ns);
}

KUP_HOT KUP_NOINLINE static int send_recv_full(struct kupdev_softc *sc, int chan_id,
                                               const void *data, size_t len, void **reply,
                                               size_t *rlen, int flags, int64_t timeout_ns)
{
	struct kup_chan *ch;
	int r = kup_os_chan_enter(sc, chan_id, &ch);

	return r ? r : send_recv_on(sc, ch, data, len, reply, rlen, flags, timeout_ns);
}

/*
 * The reply after a quick send half, on the channel the quick check
 * admitted and the call still holds: admitting it again could meet an
 * attach made since and drop a reply that the process sent before it left,
 * which the full path (admitted once, before the send) delivers.
 */
KUP_HOT KUP_NOINLINE static int send_recv_reply(struct kupdev_softc *sc, struct kup_chan *ch,
                                                void **reply, size_t *rlen, int flags,
                                                int64_t timeout_ns)
{
	return recv_copy_on(sc, ch, reply, rlen, flags, timeout_ns);
}

/* The send half the quick way when it can be; the reply (which has to come) the full way. */
KUP_HOT KUP_API int kupdev_send_recv(struct kupdev_softc *sc, int chan_id, const void *data,
                                     size_t len, void **reply, size_t *rlen, int flags,
                                     int64_t timeout_ns)
{
	struct kup_chan *ch;

	if (!reply || !rlen || !kup_flags_ok(flags))
		return -EKU_INVAL;
	ch = kup_os_chan_try(sc, chan_id);
	if (!ch)
		return send_recv_full(sc, chan_id, data, len, reply, rlen, flags, timeout_ns);
	if (!kup_os_chan_quick(sc, ch) || !loans_quick(ch) ||
	    !kup_end_send_now(&ch->e, data, len))
		return send_recv_in(sc, ch, data, len, reply, rlen, flags, timeout_ns);
	KUP_TRACE_SEND(&ch->e, len);
	return send_recv_reply(sc, ch, reply, rlen, flags, timeout_ns);
}

KUP_API void *kupdev_receive(struct kupdev_softc *sc, int chan_id)
{
	void *data = NULL;
	size_t len;

	return kupdev_recv(sc, chan_id, &data, &len, 0, KUP_FOREVER) ? NULL : data;
}

/*
 * The private copy stays until the channel's next receive: nothing to
 * release.  No lock either, so it never waits for a blocked call, and it
 * ends no zero-copy pointer.
 */
KUP_API void kupdev_unlock_channel(struct kupdev_softc *sc, int chan_id)
{
	(void)sc;
	(void)chan_id;
}

KUP_HOT KUP_API int kupdev_pass_timed(struct kupdev_softc *sc, int chan_id, int flags,
                                      int64_t timeout_ns)
{
	struct kup_chan *ch;
	void *keep;
	int r;

	if (!kup_flags_ok(flags))
		return -EKU_INVAL;
	r = chan_begin(sc, chan_id, 0, &ch, &keep);
	if (r)
		return r;
	r = kup_end_pass(&ch->e, flags, timeout_ns);
	if (!r)
		KUP_TRACE_SEND(&ch->e, 0);
	return chan_end(ch, keep, r);
}

KUP_API void kupdev_pass(struct kupdev_softc *sc, int chan_id)
{
	(void)kupdev_pass_timed(sc, chan_id, 0, KUP_FOREVER);
}

KUP_HOT KUP_API int kupdev_send_buf(struct kupdev_softc *sc, int chan_id, void **buf, size_t *cap,
                                    int flags, int64_t timeout_ns)
{
	struct kup_chan *ch;
	void *keep;
	uint32_t c;
	int r;

	if (!buf || !cap || !kup_flags_ok(flags))
		return -EKU_INVAL;
	r = chan_begin(sc, chan_id, 1, &ch, &keep);
	if (r)
		return r;
	r = kup_end_txbuf(&ch->e, flags, timeout_ns, buf, &c);
	if (!r) {
		*cap = c;
		kup_loan_take(&ch->loans, kup_os_self());
	}
	return chan_end(ch, keep, r);
}

KUP_HOT KUP_API int kupdev_send_commit(struct kupdev_softc *sc, int chan_id, size_t len)
{
	struct kup_chan *ch;
	void *keep;
	int r = chan_begin(sc, chan_id, 0, &ch, &keep);

	if (r)
		return r;
	r = kup_end_commit(&ch->e, len);
	if (!r)
		KUP_TRACE_SEND(&ch->e, len);
	return chan_end(ch, keep, r);
}

KUP_API int kupdev_stream_send(struct kupdev_softc *sc, int chan_id, const struct kup_iovec *msgs,
                               size_t n, int flags, int64_t timeout_ns)
{
	struct kup_chan *ch;
	void *keep;
	int r;

	if ((n && !msgs) || !kup_flags_ok(flags))
		return -EKU_INVAL;
	r = chan_begin(sc, chan_id, 0, &ch, &keep);
	if (r)
		return r;
	return chan_end(ch, keep, kup_stream_send(&ch->e, msgs, n, flags, timeout_ns));
}

KUP_API int kupdev_stream_recv(struct kupdev_softc *sc, int chan_id, struct kup_iovec *msgs,
                               size_t n, int flags, int64_t timeout_ns)
{
	struct kup_chan *ch;
	void *keep;
	int r;

	if ((n && !msgs) || !kup_flags_ok(flags))
		return -EKU_INVAL;
	r = chan_begin(sc, chan_id, 0, &ch, &keep);
	if (r)
		return r;
	return chan_end(ch, keep, kup_stream_recv(&ch->e, msgs, n, flags, timeout_ns));
}

KUP_API size_t kupdev_stream_max(struct kupdev_softc *sc)
{
	return sc ? KUP_STREAM_RING(KUP_DEV(sc)->cap) - sizeof(struct kup_rec) : 0;
}

KUP_API const char *kup_strerror(int code)
{
	return kup_core_strerror(code);
}
