/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * integ_stat.c - a device's live state (core/kup_stat.h's text, read as
 * kupctl reads it: kup.ko's sysfs file, or the provider's KW_STAT) agrees
 * with both endpoints' own counters, during traffic and after it, and
 * shows a protocol error.
 */
#include <pthread.h>

#include "kit.h"
#include "kup_stat_read.h"

#define NAME(base) kit_name(base, namebuf, sizeof(namebuf))

/* The state text of device n, which must be readable. */
static char *state_of(const char *n)
{
	const char *backend;
	char *text;
	int err;

	text = kst_fetch(n, &backend, &err);
	if (!text)
		KT_FAIL("no state for %s: %s", n, kernproxy_strerror(err));
	KT_EQ(strcmp(backend, kit_kernel() ? "kernel" : "provider"), 0);
	KT_ASSERT(kst_ok(text));
	return text;
}

/* 1 when channel line l holds exactly kupdev_stats st. */
static int line_is(const char *l, const struct kupdev_stats *st)
{
	return kst_u64(l, "sent") == st->sent && kst_u64(l, "received") == st->received &&
	       kst_u64(l, "bytes_sent") == st->bytes_sent &&
	       kst_u64(l, "bytes_received") == st->bytes_received &&
	       kst_u64(l, "sleeps") == st->sleeps && kst_u64(l, "wakeups") == st->wakeups &&
	       kst_u64(l, "timeouts") == st->timeouts && kst_u64(l, "errors") == st->errors &&
	       kst_u64(l, "proto_errors") == st->proto_errors &&
	       kst_u64(l, "attaches") == st->attaches;
}

/*
 * The text's line for chan and kupdev_stats taken around it agree (the kern
 * side may still be counting its way into a sleep: read again until two
 * readings agree, then check every field).
 */
static void agree(struct kit_ctl *c, const char *n, uint32_t chan, struct kt_reply *rep)
{
	long long end = kit_now_ms() + KIT_SOON_MS;
	const char *l;
	char *text;

	for (;;) {
		KT_EQ(ctl_stats(c, n, chan, rep), 0);
		text = state_of(n);
		l = kst_chan(text, chan);
		KT_ASSERT(l);
		if (line_is(l, &rep->st) || kit_now_ms() > end)
			break;
		free(text);
		kit_sleep_ms(10);
	}
	KT_EQ(kst_u64(l, "sent"), rep->st.sent);
	KT_EQ(kst_u64(l, "received"), rep->st.received);
	KT_EQ(kst_u64(l, "bytes_sent"), rep->st.bytes_sent);
	KT_EQ(kst_u64(l, "bytes_received"), rep->st.bytes_received);
	KT_EQ(kst_u64(l, "sleeps"), rep->st.sleeps);
	KT_EQ(kst_u64(l, "wakeups"), rep->st.wakeups);
	KT_EQ(kst_u64(l, "timeouts"), rep->st.timeouts);
	KT_EQ(kst_u64(l, "errors"), rep->st.errors);
	KT_EQ(kst_u64(l, "proto_errors"), rep->st.proto_errors);
	KT_EQ(kst_u64(l, "attaches"), rep->st.attaches);
	free(text);
}

struct traffic {
	void *ch;
	int rounds;
};

static void *echo_rounds(void *arg)
{
	struct traffic *t = arg;
	int i;

	for (i = 0; i < t->rounds; i++)
		kit_echo(t->ch, (size_t)(i % 300), (uint32_t)i);
	return NULL;
}

/* The header, every channel's line, and the counters of both ends. */
KT_TEST(stat_matches_counters)
{
	char namebuf[64], v[32];
	const char *n = NAME("stat");
	struct kit_ctl *c = ctl_open();
	unsigned long long prev_sent = 0, prev_recv = 0, s, r;
	struct kernproxy_stats us;
	struct traffic t;
	struct kt_reply rep;
	const char *l;
	pthread_t th;
	void *h, *ch, *p;
	size_t len;
	char *text;
	int reads = 0;

	ctl_mkdev(c, n, 2, 3, KTB_ECHO, 0, 0);
	text = state_of(n);
	KT_ASSERT(kst_kv(text, "name", v, sizeof(v)));
	KT_EQ(strcmp(v, n), 0);
	KT_EQ(kst_u64(text, "channels"), 3);
	KT_EQ(kst_u64(text, "size"), 2);
	KT_ASSERT(kst_kv(text, "state", v, sizeof(v)) && !strcmp(v, "open"));
	KT_ASSERT(kst_chan(text, 0) && kst_chan(text, 1) && kst_chan(text, 2));
	KT_ASSERT(!kst_chan(text, 3));
	l = kst_chan(text, 1);
	KT_EQ(kst_u64(l, "pid"), 0);
	KT_ASSERT(kst_kv(l, "turn", v, sizeof(v)) && !strcmp(v, "none"));
	KT_EQ(kst_u64(l, "attaches"), 0);
	free(text);

	h = kit_open(n);
	ch = kit_attach(h, 1, 2);
	kit_hello(ch, 1);
	/* During traffic: counters only grow, and the kern side answers each message once. */
	t.ch = ch;
	t.rounds = 3000;
	KT_EQ(pthread_create(&th, NULL, echo_rounds, &t), 0);
	do {
		text = state_of(n);
		l = kst_chan(text, 1);
		KT_ASSERT(l);
		s = kst_u64(l, "sent");
		r = kst_u64(l, "received");
		KT_ASSERT(s >= prev_sent && r >= prev_recv);
		KT_ASSERT(s == r || s == r + 1); /* the hello, then one echo per message */
		KT_EQ(kst_u64(l, "pid"), getpid());
		prev_sent = s;
		prev_recv = r;
		reads++;
		free(text);
	} while (r < (unsigned long long)t.rounds);
	KT_EQ(pthread_join(th, NULL), 0);
	KT_ASSERT(reads >= 1);

	/* After it: the user end's counters mirror the kern end's, exactly. */
	KT_EQ(kernproxy_stats(ch, &us), 0);
	agree(c, n, 1, &rep);
	KT_EQ(rep.st.sent, us.received);
	KT_EQ(rep.st.received, us.sent);
	KT_EQ(rep.st.bytes_sent, us.bytes_received);
	KT_EQ(rep.st.bytes_received, us.bytes_sent);
	KT_EQ(rep.st.sent, t.rounds + 1);
	text = state_of(n);
	l = kst_chan(text, 1);
	KT_EQ(kst_u64(l, "pid"), getpid());
	KT_ASSERT(kst_kv(l, "turn", v, sizeof(v)) && !strcmp(v, "user")); /* we hold the echo */
	KT_EQ(kst_u64(l, "last_err"), 0);
	KT_EQ(kst_u64(l, "proto_errors"), 0);
	/* The neighbours saw nothing. */
	KT_EQ(kst_u64(kst_chan(text, 0), "sent"), 0);
	KT_EQ(kst_u64(kst_chan(text, 2), "attaches"), 0);
	free(text);

	/* Our turn passed back: the kern side's now. */
	KT_EQ(kernproxy_send(ch, "x", 1, 0), 0);
	p = kit_recv(ch, &len);
	KT_EQ(len, 1);
	KT_ASSERT(p);

	/* Detached: no process, the counters stay. */
	kernproxy_close(h);
	{
		long long end = kit_now_ms() + KIT_SOON_MS;

		do {
			text = state_of(n);
			l = kst_chan(text, 1);
			if (kst_u64(l, "pid") == 0)
				break;
			free(text);
			text = NULL;
			kit_sleep_ms(10);
		} while (kit_now_ms() < end);
		KT_ASSERT(text);
		KT_EQ(kst_u64(l, "sent"), t.rounds + 2);
		KT_EQ(kst_u64(l, "attaches"), 1);
		free(text);
	}
	KT_EQ(ctl_unload(c, n), 0);
	/* Unloaded: no state any more. */
	{
		const char *backend;
		int err;

		text = kst_fetch(n, &backend, &err);
		KT_ASSERT(text == NULL);
	}
	ctl_close(c);
}

/* A protocol error shows in the channel's line: proto_errors and last_err. */
KT_TEST(stat_shows_protocol_error)
{
	char namebuf[64];
	const char *n = NAME("stat_pe");
	struct kit_ctl *c = ctl_open();
	struct kup_uctl *u;
	struct kt_reply rep;
	void *h, *ch, *p;
	const char *l;
	size_t len;
	char *text;

	ctl_mkdev(c, n, 1, 2, KTB_ECHO, 0, 0);
	h = kit_open(n);
	ch = kit_attach(h, 0, 1);
	kit_hello(ch, 0);
	KT_EQ(kernproxy_send(ch, "abcd", 4, 0), 0);
	p = kit_recv(ch, &len);
	KT_EQ(len, 4);
	u = kit_uctl(p, 1);
	/* A sequence jump in our own turn word: the kern side must refuse the channel. */
	__atomic_store_n(&u->u.tw, KUP_TW((KUP_TW_SEQ(u->u.tw) + 5) & KUP_SEQ_MASK, KUP_ST_OPEN),
	                 __ATOMIC_RELEASE);
	CTL_WAIT(c, n, 0, proto, 1, &rep);
	agree(c, n, 0, &rep);
	text = state_of(n);
	l = kst_chan(text, 0);
	KT_EQ(kst_u64(l, "proto_errors"), 1);
	KT_ASSERT(kst_u64(l, "errors") >= 1);
	KT_EQ(kst_u64(l, "last_err"), EKU_PROTO);
	KT_EQ(kst_u64(kst_chan(text, 1), "proto_errors"), 0);
	free(text);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/*
 * A device with many channels: a text longer than a page (kup.ko's sysfs
 * file is read a page at a time) still holds every channel once, in order,
 * each line whole.
 */
KT_TEST(stat_many_channels)
{
	char namebuf[64], v[32];
	const char *n = NAME("stat_many");
	struct kit_ctl *c = ctl_open();
	unsigned long long want = 0;
	const char *l;
	char *text;

	ctl_mkdev(c, n, 1, 100, KTB_MANUAL, 0, 0);
	text = state_of(n);
	KT_EQ(kst_u64(text, "channels"), 100);
	for (l = kst_next(text); l; l = kst_next(l)) {
		KT_ASSERT(kst_kv(l, "chan", v, sizeof(v)));
		KT_EQ(strtoull(v, NULL, 10), want);
		/* Whole lines: the last key of each is there. */
		KT_ASSERT(kst_kv(l, "attaches", v, sizeof(v)) && !strcmp(v, "0"));
		want++;
	}
	KT_EQ(want, 100);
	free(text);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}
