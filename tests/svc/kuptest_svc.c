/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kuptest_svc.c - the kern side of the integration suites, written once
 * against kupdev.h/kupsvc.h: a provider program here, the kup_test module
 * under a kernel.  The client drives it through the control device (see
 * kuptest_proto.h for the commands and behaviours).
 *
 * Kernel code rules apply: no libc, no floating point, small stacks
 * (buffers come from kupsvc_alloc), every wait bounded.
 *
 * Lifetimes: behaviour threads and control threads use timed waits and
 * check a stop flag, so a device is torn down as: stop flag, join its
 * threads, wait until no control command uses it, kupdev_unload.  No
 * thread ever calls into a device after kupdev_unload.
 */
#include "kupsvc.h"
#include "kuptest_proto.h"

#define KT_IDLE_MS 200 /* how often idle threads look at their stop flag */
#define KT_POLL_MS 50  /* longest nap of a thread waiting for its channel's next attach */

/* Small atomics for flags and counters shared between service threads. */
static inline uint32_t kt_ld(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void kt_st(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline void kt_inc(uint32_t *p)
{
	__atomic_fetch_add(p, 1, __ATOMIC_ACQ_REL);
}

static inline void kt_dec(uint32_t *p)
{
	__atomic_fetch_sub(p, 1, __ATOMIC_ACQ_REL);
}

/* A lock that sleeps: the table lock is held across nothing that blocks long. */
static uint32_t tbl_lock_word;

static void tbl_lock(void)
{
	while (__atomic_exchange_n(&tbl_lock_word, 1, __ATOMIC_ACQUIRE))
		kupsvc_sleep_ms(1);
}

static void tbl_unlock(void)
{
	__atomic_store_n(&tbl_lock_word, 0, __ATOMIC_RELEASE);
}

static int kt_streq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

static void kt_copy(void *d, const void *s, uint32_t n)
{
	uint8_t *dp = d;
	const uint8_t *sp = s;

	while (n--)
		*dp++ = *sp++;
}

/*
 * What the behaviour thread saw on one channel (read by KTO_STATS).
 * Written data first, counter after: last_err before closed/proto,
 * last_len before msgs; KTO_STATS reads in the reverse order, so a count
 * it reports always comes with the data written before it.
 */
struct kt_chan {
	uint32_t last_err; /* stored as the negative int's bits */
	uint32_t sessions, closed, proto, msgs, last_len;
	uint32_t handoffs;  /* KTB_DISPATCH: attaches the dispatcher handed to the worker */
	struct kt_dev *dev; /* the thread's argument: its device and channel */
	uint32_t id;
};

struct kt_dev {
	char name[KUP_NAME_MAX];
	struct kupdev_softc *sc;
	uint32_t size, chan_cnt, beh, delay_ms, flags;
	uint32_t shutdowns; /* KTB_BLOCK: threads whose wait ended with -EKU_SHUTDOWN */
	uint32_t stop;      /* behaviour threads: leave */
	uint32_t users;     /* control commands in progress on the device */
	uint32_t nthr;
	struct kupsvc_thread **thr; /* chan_cnt + 1 (KTB_DISPATCH: the dispatcher too) */
	struct kt_chan *ch;
};

static struct kt_dev *devs[KT_MAX_DEVS];
static struct kupdev_softc *ctl_sc;
static struct kupsvc_thread *ctl_thr[KT_CTL_CHANS];
static uint32_t ctl_stop;

/* Sleep ms in short steps; 1 when *stop was raised meanwhile. */
static int kt_nap(uint32_t ms, const uint32_t *stop)
{
	while (ms) {
		uint32_t step = ms < 10 ? ms : 10;

		if (kt_ld(stop))
			return 1;
		kupsvc_sleep_ms(step);
		ms -= step;
	}
	return kt_ld(stop) != 0;
}

/* Wait for a message, looking at the stop flag every KT_IDLE_MS. */
static int kt_recv(struct kt_dev *d, int chan, void **data, size_t *len)
{
	int r;

	for (;;) {
		r = kupdev_recv(d->sc, chan, data, len, 0, (int64_t)KT_IDLE_MS * 1000000);
		if (r != -EKU_TIMEDOUT)
			return r;
		if (kt_ld(&d->stop))
			return -EKU_SHUTDOWN;
	}
}

/*
 * One thread per channel, for the life of the device, finds the channel's
 * sessions itself instead of taking them from kupdev_wait_channel.  With a
 * pool of threads taking whichever channel kupdev_wait_channel hands out, a
 * thread that had not yet noticed its process leave (it was between two
 * calls) went on with the channel's next process beside the thread that was
 * handed it: two threads answered each command, and replies came late or
 * twice.  kupdev_* calls cannot tell threads apart, so only the module can
 * prevent that.
 *
 * Wait until a process attaches chan in a session newer than *att (the
 * attach count of the last one served), napping up to KT_POLL_MS.
 */
static int kt_next_session(struct kupdev_softc *sc, int chan, uint64_t *att, const uint32_t *stop)
{
	struct kupdev_stats st;
	uint32_t nap = 1;
	int a, r;

	for (;;) {
		if (kt_ld(stop))
			return -EKU_SHUTDOWN;
		a = kupdev_attached(sc, chan);
		if (a < 0)
			return a;
		if (a) {
			r = kupdev_stats(sc, chan, &st);
			if (r)
				return r;
			/* Attached, but maybe still the session we served, closing. */
			if (st.attaches != *att) {
				*att = st.attaches;
				return 0;
			}
		}
		kupsvc_sleep_ms(nap);
		nap = nap * 2 > KT_POLL_MS ? KT_POLL_MS : nap * 2;
	}
}

/* 1 while chan is still attached in the session counted *att. */
static int kt_same_session(struct kupdev_softc *sc, int chan, uint64_t att)
{
	struct kupdev_stats st;

	return kupdev_attached(sc, chan) == 1 && kupdev_stats(sc, chan, &st) == 0 &&
	       st.attaches == att;
}

static int kt_reply_msg(struct kt_dev *d, int chan, const void *msg, size_t len)
{
	void *buf;
	size_t cap;
	int r;

	if (d->delay_ms && kt_nap(d->delay_ms, &d->stop))
		return -EKU_SHUTDOWN;
	if (!(d->flags & KTF_ZC))
		return kupdev_send_timed(d->sc, chan, msg, len, 0, KUP_FOREVER);
	r = kupdev_send_buf(d->sc, chan, &buf, &cap, 0, KUP_FOREVER);
	if (r)
		return r;
	if (len > cap)
		return -EKU_TOOBIG;
	kt_copy(buf, msg, (uint32_t)len);
	return kupdev_send_commit(d->sc, chan, len);
}

static int kt_hello_msg(struct kt_dev *d, int chan)
{
	struct kt_hello h = {KT_HELLO_MAGIC, (uint32_t)chan, d->size, d->beh};
	int r;

	/* The seed's call: at attach the kern side holds the turn, so this does not wait. */
	r = kupdev_send(d->sc, &h, sizeof(h), chan);
	/* Once: the end of the previous session, if its process left unnoticed. */
	if (r == -EKU_CLOSED)
		r = kupdev_send(d->sc, &h, sizeof(h), chan);
	return r;
}

static int beh_echo(struct kt_dev *d, int chan, struct kt_chan *c)
{
	void *data;
	size_t len;
	int r = kt_hello_msg(d, chan);

	if (r == 0)
		r = kt_recv(d, chan, &data, &len);
	while (r == 0) {
		kt_st(&c->last_len, (uint32_t)len);
		kt_inc(&c->msgs);
		if (!(d->flags & KTF_SENDRECV)) {
			r = kt_reply_msg(d, chan, data, len);
			if (r == 0)
				r = kt_recv(d, chan, &data, &len);
			continue;
		}
		if (d->delay_ms && kt_nap(d->delay_ms, &d->stop))
			return -EKU_SHUTDOWN;
		/* Timed out: the echo went, the next message has not come (kupdev.h). */
		r = kupdev_send_recv(d->sc, chan, data, len, &data, &len, 0,
		                     (int64_t)KT_IDLE_MS * 1000000);
		if (r == -EKU_TIMEDOUT)
			r = kt_recv(d, chan, &data, &len);
	}
	return r;
}

static int beh_pass(struct kt_dev *d, int chan, struct kt_chan *c)
{
	void *data;
	size_t len;
	int r;

	kupdev_pass(d->sc, chan); /* the seed's call; it reports through last_error */
	r = -kupdev_last_error(d->sc, chan);
	if (r == -EKU_CLOSED) { /* once: see kt_hello_msg */
		kupdev_pass(d->sc, chan);
		r = -kupdev_last_error(d->sc, chan);
	}
	while (r == 0) {
		r = kt_recv(d, chan, &data, &len);
		if (r)
			break;
		kt_st(&c->last_len, (uint32_t)len);
		kt_inc(&c->msgs);
		kupdev_unlock_channel(d->sc, chan);
		if (d->delay_ms && kt_nap(d->delay_ms, &d->stop))
			return -EKU_SHUTDOWN;
		r = kupdev_pass_timed(d->sc, chan, 0, KUP_FOREVER);
	}
	return r;
}

/* Until the process detaches (or another one has attached meanwhile). */
static int beh_hold(struct kt_dev *d, int chan, uint64_t att)
{
	for (;;) {
		if (!kt_same_session(d->sc, chan, att))
			return -EKU_CLOSED;
		if (kt_nap(20, &d->stop))
			return -EKU_SHUTDOWN;
	}
}

static int beh_check(struct kt_dev *d, int chan, struct kt_chan *c)
{
	struct kt_check k;
	const void *shared;
	void *data;
	size_t len, slen;
	uint32_t waited, want;
	int r = kt_hello_msg(d, chan);

	while (r == 0) {
		r = kt_recv(d, chan, &data, &len);
		if (r)
			break;
		k.magic = KT_CHECK_MAGIC;
		k.len = (uint32_t)len;
		k.sum_before = kt_sum(data, (uint32_t)len);
		k.changed = 0;
		k.sum_shared = k.sum_before;
		want = kt_fill_sum((uint32_t)len, KT_REWRITE_SEED);
		kt_st(&c->last_len, (uint32_t)len);
		kt_inc(&c->msgs); /* the client starts rewriting when it sees this */
		/* Until the shared bytes hold the whole rewrite (not a part of it). */
		for (waited = 0; waited < KT_CHECK_WAIT_MS; waited += 10) {
			r = kupdev_recv_shared_untrusted(d->sc, chan, &shared, &slen, KUP_NB, 0);
			if (r)
				return r;
			k.sum_shared = kt_sum(shared, (uint32_t)slen);
			if (k.sum_shared == want) {
				k.changed = 1;
				break;
			}
			if (kt_nap(10, &d->stop))
				return -EKU_SHUTDOWN;
		}
		k.sum_after = kt_sum(data, (uint32_t)len);
		r = kt_reply_msg(d, chan, &k, sizeof(k));
	}
	return r;
}

/* KTB_STREAM: queue got records back, waiting for room in KT_IDLE_MS steps. */
static int kt_stream_echo(struct kt_dev *d, int chan, struct kup_iovec *v, int got)
{
	int done = 0, r;

	while (done < got) {
		r = kupdev_stream_send(d->sc, chan, v + done, (size_t)(got - done), 0,
		                       (int64_t)KT_IDLE_MS * 1000000);
		if (r == -EKU_TIMEDOUT) {
			if (kt_ld(&d->stop))
				return -EKU_SHUTDOWN;
			continue;
		}
		if (r < 0)
			return r;
		done += r;
	}
	return 0;
}

/*
 * KTB_STREAM: echo records in batches.  Buffers: 2 ring-sizes, cut in
 * KT_STREAM_BATCH slots for small records; a record larger than a slot
 * (-EKU_TOOBIG) is taken alone into the whole buffer.
 */
static int beh_stream(struct kt_dev *d, int chan, struct kt_chan *c)
{
	struct kup_iovec v[KT_STREAM_BATCH];
	uint32_t total = 2 * (uint32_t)(kupdev_stream_max(d->sc) + sizeof(struct kup_rec));
	uint32_t slot = total / KT_STREAM_BATCH, i;
	uint8_t *buf = kupsvc_alloc(total);
	int r, got;

	if (!buf)
		return -EKU_NOMEM;
	for (;;) {
		for (i = 0; i < KT_STREAM_BATCH; i++) {
			v[i].base = buf + i * slot;
			v[i].len = slot;
		}
		got = kupdev_stream_recv(d->sc, chan, v, KT_STREAM_BATCH, 0,
		                         (int64_t)KT_IDLE_MS * 1000000);
		if (got == -EKU_TOOBIG) {
			v[0].base = buf;
			v[0].len = total;
			got = kupdev_stream_recv(d->sc, chan, v, 1, KUP_NB, 0);
		}
		if (got == -EKU_TIMEDOUT) {
			if (kt_ld(&d->stop)) {
				r = -EKU_SHUTDOWN;
				break;
			}
			continue;
		}
		if (got < 0) {
			r = got;
			break;
		}
		kt_st(&c->last_len, (uint32_t)v[got - 1].len);
		for (i = 0; i < (uint32_t)got; i++)
			kt_inc(&c->msgs);
		if (d->delay_ms && kt_nap(d->delay_ms, &d->stop)) {
			r = -EKU_SHUTDOWN;
			break;
		}
		r = kt_stream_echo(d, chan, v, got);
		if (r)
			break;
	}
	kupsvc_free(buf);
	return r;
}

/*
 * KTB_BLOCK: calls that only an attach, a detach or the unload end.  After
 * its one session the thread touches the device no more: the unload may
 * have freed it.
 */
static int kt_block(struct kt_dev *d)
{
	void *data;
	size_t len;
	int chan, r;

	chan = kupdev_wait_channel(d->sc);
	if (chan >= 0 && (uint32_t)chan < d->chan_cnt) {
		kt_inc(&d->ch[chan].sessions);
		r = kt_hello_msg(d, chan);
		if (r == 0)
			r = kupdev_recv(d->sc, chan, &data, &len, 0, KUP_FOREVER);
		kt_st(&d->ch[chan].last_err, (uint32_t)r);
	} else {
		r = chan;
	}
	if (r == -EKU_SHUTDOWN)
		kt_inc(&d->shutdowns);
	return 0;
}

/* End a session: what ended it, for KTO_STATS (data first, counters after). */
static void kt_session_end(struct kt_chan *c, int r)
{
	kt_st(&c->last_err, (uint32_t)r);
	if (r == -EKU_CLOSED)
		kt_inc(&c->closed);
	else if (r == -EKU_PROTO)
		kt_inc(&c->proto);
}

/* KTB_DISPATCH: hand every attach to its channel's worker. */
static int kt_dispatch(void *arg)
{
	struct kt_dev *d = arg;
	int chan;

	while (!kt_ld(&d->stop)) {
		chan = kupdev_wait_channel_timed(d->sc, 0, (int64_t)KT_IDLE_MS * 1000000);
		if (chan == -EKU_SHUTDOWN)
			break;
		if (chan >= 0 && (uint32_t)chan < d->chan_cnt)
			kt_inc(&d->ch[chan].handoffs);
		else if (chan != -EKU_TIMEDOUT)
			kt_nap(KT_IDLE_MS, &d->stop);
	}
	return 0;
}

/* KTB_DISPATCH: one session per hand-off; an empty message ends it by protocol. */
static int kt_work(void *arg)
{
	struct kt_chan *c = arg;
	struct kt_dev *d = c->dev;
	int chan = (int)c->id, r;
	uint32_t done = 0;
	void *data;
	size_t len;

	for (;;) {
		/* A test service may poll: 1 ms steps, the stop flag every step. */
		while (kt_ld(&c->handoffs) == done)
			if (kt_nap(1, &d->stop))
				return 0;
		done++;
		kt_inc(&c->sessions);
		r = kupdev_claim_channel(d->sc, chan);
		if (r == 0)
			r = kt_hello_msg(d, chan);
		while (r == 0) {
			r = kt_recv(d, chan, &data, &len);
			if (r)
				break;
			kt_st(&c->last_len, (uint32_t)len);
			kt_inc(&c->msgs);
			if (len == 0)
				break; /* r == 0: the session ended by protocol */
			r = kt_reply_msg(d, chan, data, len);
		}
		kt_session_end(c, r);
	}
}

/* The behaviour thread of one channel: serve its sessions one after the other. */
static int kt_behave(void *arg)
{
	struct kt_chan *c = arg;
	struct kt_dev *d = c->dev;
	int chan = (int)c->id, r;
	uint64_t att = 0;

	if (d->beh == KTB_BLOCK)
		return kt_block(d);
	for (;;) {
		r = kt_next_session(d->sc, chan, &att, &d->stop);
		if (r == -EKU_SHUTDOWN)
			break;
		if (r) {
			kupsvc_log("kuptest: %s: channel %d: %d\n", d->name, chan, r);
			if (kt_nap(KT_IDLE_MS, &d->stop))
				break;
			continue;
		}
		kt_inc(&c->sessions);
		switch (d->beh) {
		case KTB_ECHO:
			r = beh_echo(d, chan, c);
			break;
		case KTB_PASS:
			r = beh_pass(d, chan, c);
			break;
		case KTB_HOLD:
			r = beh_hold(d, chan, att);
			break;
		case KTB_CHECK:
			r = beh_check(d, chan, c);
			break;
		case KTB_STREAM:
			r = beh_stream(d, chan, c);
			break;
		default:
			r = -EKU_INVAL;
		}
		kt_session_end(c, r);
	}
	return 0;
}

static void dev_free(struct kt_dev *d)
{
	kupsvc_free(d->thr);
	kupsvc_free(d->ch);
	kupsvc_free(d);
}

/*
 * Stop the threads, wait for control commands to leave, unload, free.
 * KTB_BLOCK threads are blocked in kupdev_* calls: with shut (KTF_SHUTDOWN)
 * kupdev_shutdown, join, unload; without, unload first, then join (the
 * seed's way: the client made sure every thread is inside its call, where
 * unload waits for it; a thread about to make the call would touch a freed
 * device).  *shutdowns (if set) gets the KTB_BLOCK threads that saw
 * -EKU_SHUTDOWN.
 */
static int dev_destroy(struct kt_dev *d, int shut, uint32_t *shutdowns)
{
	uint32_t i;
	int r = 0, unloaded = 0;

	kt_st(&d->stop, 1);
	if (d->beh == KTB_BLOCK) {
		while (kt_ld(&d->users))
			kupsvc_sleep_ms(5);
		if (shut) {
			r = kupdev_shutdown(d->sc);
		} else {
			r = kupdev_unload(d->sc);
			unloaded = 1;
		}
	}
	for (i = 0; i < d->nthr; i++)
		kupsvc_thread_join(d->thr[i]);
	while (kt_ld(&d->users))
		kupsvc_sleep_ms(5);
	if (!unloaded) {
		int u = kupdev_unload(d->sc);

		r = r ? r : u;
	}
	if (shutdowns)
		*shutdowns = kt_ld(&d->shutdowns);
	dev_free(d);
	return r;
}

static int cmd_create(const struct kt_cmd *cmd)
{
	struct kt_dev *d;
	uint32_t i, slot = KT_MAX_DEVS;
	int r = 0;

	if (cmd->beh > KTB_STREAM)
		return -EKU_INVAL;
	d = kupsvc_alloc(sizeof(*d));
	if (!d)
		return -EKU_NOMEM;
	kt_copy(d->name, cmd->name, KUP_NAME_MAX);
	d->name[KUP_NAME_MAX - 1] = 0;
	d->size = cmd->size;
	d->chan_cnt = cmd->chan_cnt;
	d->beh = cmd->beh;
	d->delay_ms = cmd->delay_ms;
	d->flags = cmd->flags;

	/* Bad geometry goes to kupdev_create as is: its errors are under test. */
	if (cmd->mode) {
		struct kupdev_attr attr = {cmd->uid, cmd->gid, cmd->mode, 0};

		d->sc = kupdev_create_attr(d->name, cmd->size, cmd->chan_cnt, &attr);
	} else {
		d->sc = kupdev_create(d->name, cmd->size, cmd->chan_cnt);
	}
	if (!d->sc) {
		r = -kupdev_last_error(NULL, 0);
		kupsvc_free(d);
		return r ? r : -EKU_INVAL;
	}
	if (cmd->chan_cnt > KT_MAX_DEV_CHANS || cmd->size > KT_MAX_DEV_SIZE) {
		r = -EKU_RANGE; /* the service's own limit, not KUP's */
		goto fail;
	}
	d->ch = kupsvc_alloc(sizeof(*d->ch) * d->chan_cnt);
	d->thr = kupsvc_alloc(sizeof(*d->thr) * (d->chan_cnt + 1));
	if (!d->ch || !d->thr) {
		r = -EKU_NOMEM;
		goto fail;
	}
	for (i = 0; i < d->chan_cnt; i++) {
		d->ch[i].dev = d;
		d->ch[i].id = i;
	}
	if (d->beh == KTB_DISPATCH) {
		/* Thread 0 dispatches; one worker per channel after it. */
		d->thr[0] = kupsvc_thread_start(kt_dispatch, d, "kuptest_disp");
		d->nthr = d->thr[0] != NULL;
		for (i = 0; d->nthr == i + 1 && i < d->chan_cnt; i++) {
			d->thr[i + 1] = kupsvc_thread_start(kt_work, &d->ch[i], "kuptest_work");
			d->nthr += d->thr[i + 1] != NULL;
		}
	} else if (d->beh != KTB_MANUAL) {
		for (i = 0; i < d->chan_cnt; i++) {
			d->thr[i] = kupsvc_thread_start(kt_behave, &d->ch[i], "kuptest_beh");
			if (!d->thr[i])
				break;
			d->nthr++;
		}
	}
	if (d->beh != KTB_MANUAL && d->nthr < d->chan_cnt + (d->beh == KTB_DISPATCH)) {
		dev_destroy(d, 1, NULL);
		return -EKU_NOMEM;
	}
	/*
	 * Published last, complete: a command on another control thread (an
	 * unload from another process) may find it at once, with no other
	 * ordering than the table lock.
	 */
	tbl_lock();
	for (i = 0; i < KT_MAX_DEVS; i++)
		if (!devs[i] && slot == KT_MAX_DEVS)
			slot = i;
	if (slot < KT_MAX_DEVS)
		devs[slot] = d;
	tbl_unlock();
	if (slot == KT_MAX_DEVS) {
		dev_destroy(d, 1, NULL);
		return -EKU_NOMEM;
	}
	return 0;
fail:
	kupdev_unload(d->sc);
	dev_free(d);
	return r;
}

/* Find a device and mark it in use; NULL when there is none of that name. */
static struct kt_dev *dev_get(const char *name)
{
	struct kt_dev *d = NULL;
	uint32_t i;

	tbl_lock();
	for (i = 0; i < KT_MAX_DEVS; i++)
		if (devs[i] && kt_streq(devs[i]->name, name)) {
			d = devs[i];
			kt_inc(&d->users);
			break;
		}
	tbl_unlock();
	return d;
}

static void dev_put(struct kt_dev *d)
{
	kt_dec(&d->users);
}

static int cmd_unload(const char *name, int shut, uint32_t *shutdowns)
{
	struct kt_dev *d = NULL;
	uint32_t i;

	tbl_lock();
	for (i = 0; i < KT_MAX_DEVS; i++)
		if (devs[i] && kt_streq(devs[i]->name, name)) {
			d = devs[i];
			devs[i] = NULL;
			break;
		}
	tbl_unlock();
	if (!d)
		return -EKU_NOENT;
	return dev_destroy(d, shut, shutdowns);
}

static int64_t kt_tmo(int32_t ms)
{
	if (ms < 0 || ms > KT_CTL_MAX_WAIT_MS)
		ms = KT_CTL_MAX_WAIT_MS;
	return (int64_t)ms * 1000000;
}

/* One command on a device that exists; rep->status is set by the caller. */
static int cmd_on_dev(struct kt_dev *d, const struct kt_cmd *cmd, struct kt_reply *rep,
                      uint8_t *scratch, uint32_t scratch_len)
{
	int flags = (int)(cmd->flags & KTF_KUP_MASK), r;
	struct kt_chan *c;
	void *data, *buf;
	size_t len, cap;

	switch (cmd->op) {
	case KTO_NOTIFY:
		kupdev_notify(d->sc);
		return 0;
	case KTO_WAITCHAN:
		return kupdev_wait_channel_timed(d->sc, flags, kt_tmo(cmd->timeout_ms));
	case KTO_CLAIM:
		return kupdev_claim_channel(d->sc, (int)cmd->chan);
	case KTO_STATS:
		rep->cap = (uint32_t)kupdev_capacity(d->sc);
		rep->chan_cnt = (uint32_t)kupdev_channel_count(d->sc);
		rep->attached = kupdev_attached(d->sc, (int)cmd->chan);
		/*
		 * Our counters first, then what was written before them (see struct
		 * kt_chan), kupdev_stats last: a count seen here was bumped after the
		 * kupdev_* call that caused it, so its stats are in the snapshot.
		 */
		if (cmd->chan < d->chan_cnt) {
			c = &d->ch[cmd->chan];
			rep->sessions = kt_ld(&c->sessions);
			rep->closed = kt_ld(&c->closed);
			rep->proto = kt_ld(&c->proto);
			rep->msgs = kt_ld(&c->msgs);
			rep->last_err = (int32_t)kt_ld(&c->last_err);
			rep->last_len = kt_ld(&c->last_len);
		}
		return kupdev_stats(d->sc, (int)cmd->chan, &rep->st);
	case KTO_RECV:
		if (cmd->flags & KTF_SEED) {
			/* The seed's call: no length, no timeout; the client made sure of the turn.
			 */
			data = kupdev_receive(d->sc, (int)cmd->chan);
			if (!data)
				return -kupdev_last_error(d->sc, (int)cmd->chan);
			rep->len = KT_LEN_UNKNOWN;
			rep->byte0 = ((uint8_t *)data)[0];
			kupdev_unlock_channel(d->sc, (int)cmd->chan);
			return 0;
		}
		r = kupdev_recv(d->sc, (int)cmd->chan, &data, &len, flags, kt_tmo(cmd->timeout_ms));
		if (r == 0) {
			rep->len = (uint32_t)len;
			/* KTF_WHOLE: what a module reading past len would see. */
			if (cmd->flags & KTF_WHOLE)
				len = kupdev_capacity(d->sc);
			rep->sum = kt_sum(data, (uint32_t)len);
			/* Also for len 0: an empty token must read as a zero byte. */
			rep->byte0 = data ? ((uint8_t *)data)[0] : 0xffu;
		}
		return r;
	case KTO_SEND:
		if (cmd->flags & KTF_ZC) {
			r = kupdev_send_buf(d->sc, (int)cmd->chan, &buf, &cap, flags,
			                    kt_tmo(cmd->timeout_ms));
			if (r)
				return r;
			kt_fill(buf, cmd->len < cap ? cmd->len : (uint32_t)cap, cmd->seed);
			return kupdev_send_commit(d->sc, (int)cmd->chan, cmd->len);
		}
		if (cmd->len > scratch_len)
			return -EKU_TOOBIG;
		kt_fill(scratch, cmd->len, cmd->seed);
		return kupdev_send_timed(d->sc, (int)cmd->chan, scratch, cmd->len, flags,
		                         kt_tmo(cmd->timeout_ms));
	case KTO_PASS:
		return kupdev_pass_timed(d->sc, (int)cmd->chan, flags, kt_tmo(cmd->timeout_ms));
	case KTO_SSEND:
		if (cmd->len > scratch_len)
			return -EKU_TOOBIG;
		kt_fill(scratch, cmd->len, cmd->seed);
		{
			struct kup_iovec v = {scratch, cmd->len};

			return kupdev_stream_send(d->sc, (int)cmd->chan, &v, 1, flags,
			                          kt_tmo(cmd->timeout_ms));
		}
	case KTO_SRECV: {
		struct kup_iovec v[KT_STREAM_BATCH];
		uint32_t n = cmd->len, i, slot;

		if (n == 0 || n > KT_STREAM_BATCH)
			return -EKU_INVAL;
		slot = scratch_len / n;
		for (i = 0; i < n; i++) {
			v[i].base = scratch + i * slot;
			v[i].len = slot;
		}
		r = kupdev_stream_recv(d->sc, (int)cmd->chan, v, n, flags, kt_tmo(cmd->timeout_ms));
		if (r > 0) {
			rep->len = (uint32_t)v[r - 1].len;
			rep->sum = kt_sum(v[r - 1].base, (uint32_t)v[r - 1].len);
		}
		return r;
	}
	}
	return -EKU_INVAL;
}

static void ctl_handle(const struct kt_cmd *cmd, size_t len, struct kt_reply *rep, uint8_t *scratch,
                       uint32_t scratch_len)
{
	char name[KUP_NAME_MAX];
	struct kt_dev *d;

	kt_copy(rep, &(struct kt_reply){.magic = KT_REPLY_MAGIC}, sizeof(*rep));
	if (len != sizeof(*cmd) || cmd->magic != KT_CMD_MAGIC) {
		rep->status = -EKU_INVAL;
		return;
	}
	kt_copy(name, cmd->name, KUP_NAME_MAX);
	name[KUP_NAME_MAX - 1] = 0;
	switch (cmd->op) {
	case KTO_PING:
		rep->status = 0;
		return;
	case KTO_CREATE:
		rep->status = cmd_create(cmd);
		return;
	case KTO_UNLOAD:
		rep->status = cmd_unload(name, (cmd->flags & KTF_SHUTDOWN) != 0, &rep->sessions);
		return;
	}
	d = dev_get(name);
	if (!d) {
		rep->status = -EKU_NOENT;
		return;
	}
	rep->status = cmd_on_dev(d, cmd, rep, scratch, scratch_len);
	dev_put(d);
}

struct kt_ctl_buf {
	uint32_t chan; /* the control channel this thread serves */
	struct kt_cmd cmd;
	struct kt_reply rep;
	uint8_t scratch[KT_MAX_DEV_SIZE * KUP_PAGE + 1];
};

/* The thread of one control channel: serve its sessions, one command at a time. */
static int kt_ctl(void *arg)
{
	struct kt_ctl_buf *b = arg;
	int chan = (int)b->chan;
	struct kt_hello h = {KT_HELLO_MAGIC, (uint32_t)chan, 1, 0};
	uint64_t att = 0;
	void *data;
	size_t len;
	int r;

	for (;;) {
		r = kt_next_session(ctl_sc, chan, &att, &ctl_stop);
		if (r == -EKU_SHUTDOWN)
			break;
		if (r) {
			kt_nap(KT_IDLE_MS, &ctl_stop);
			continue;
		}
		r = kupdev_send_timed(ctl_sc, chan, &h, sizeof(h), 0, KUP_FOREVER);
		if (r == -EKU_CLOSED) /* once: the previous session, if it ended unnoticed */
			r = kupdev_send_timed(ctl_sc, chan, &h, sizeof(h), 0, KUP_FOREVER);
		while (r == 0) {
			r = kupdev_recv(ctl_sc, chan, &data, &len, 0,
			                (int64_t)KT_IDLE_MS * 1000000);
			if (r == -EKU_TIMEDOUT) {
				r = kt_ld(&ctl_stop) ? -EKU_SHUTDOWN : 0;
				continue;
			}
			if (r)
				break;
			/* One bounded copy; a short or long command is refused by ctl_handle. */
			if (len == sizeof(b->cmd))
				kt_copy(&b->cmd, data, (uint32_t)len);
			ctl_handle(&b->cmd, len, &b->rep, b->scratch, sizeof(b->scratch));
			r = kupdev_send_timed(ctl_sc, chan, &b->rep, sizeof(b->rep), 0,
			                      KUP_FOREVER);
		}
	}
	return 0;
}

static struct kt_ctl_buf *ctl_bufs[KT_CTL_CHANS];

static void kuptest_stop(void)
{
	uint32_t i;

	kt_st(&ctl_stop, 1);
	for (i = 0; i < KT_CTL_CHANS; i++)
		if (ctl_thr[i])
			kupsvc_thread_join(ctl_thr[i]);
	for (i = 0; i < KT_MAX_DEVS; i++)
		if (devs[i]) {
			dev_destroy(devs[i], 1, NULL);
			devs[i] = NULL;
		}
	if (ctl_sc)
		kupdev_unload(ctl_sc);
	ctl_sc = NULL;
	for (i = 0; i < KT_CTL_CHANS; i++) {
		kupsvc_free(ctl_bufs[i]);
		ctl_bufs[i] = NULL;
		ctl_thr[i] = NULL;
	}
}

static int kuptest_start(void)
{
	uint32_t i;

	ctl_sc = kupdev_create(KT_CTL_NAME, 1, KT_CTL_CHANS);
	if (!ctl_sc) {
		int r = kupdev_last_error(NULL, 0);

		return r ? -r : -EKU_INVAL;
	}
	for (i = 0; i < KT_CTL_CHANS; i++) {
		ctl_bufs[i] = kupsvc_alloc(sizeof(*ctl_bufs[i]));
		if (!ctl_bufs[i])
			goto fail;
		ctl_bufs[i]->chan = i;
		ctl_thr[i] = kupsvc_thread_start(kt_ctl, ctl_bufs[i], "kuptest_ctl");
		if (!ctl_thr[i])
			goto fail;
	}
	return 0;
fail:
	kuptest_stop();
	return -EKU_NOMEM;
}

KUPSVC_DEFINE(kuptest, kuptest_start, kuptest_stop);
