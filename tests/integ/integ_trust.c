/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * integ_trust.c - a hostile process: garbage in its own control page or in
 * the kern control page (mapped read-write), a payload rewritten while the
 * kern side reads it.  The kern side refuses the channel on garbage in the
 * process's words (-EKU_PROTO, the process sees EKU_CLOSED) and ignores its
 * own page, other channels keep serving, and what the kern side received
 * never changes under it.
 */
#include "kit.h"

#define NAME(base) kit_name(base, namebuf, sizeof(namebuf))

enum garbage { G_LEN, G_STATE, G_SEQ, G_TW, G_WAIT, G_KPAGE, G_KTW };

/* The user words are ours to write; these stores imitate a buggy or hostile library. */
static void scribble(struct kup_uctl *u, enum garbage g)
{
	uint32_t tw = __atomic_load_n(&u->u.tw, __ATOMIC_RELAXED);
	uint32_t seq = KUP_TW_SEQ(tw);

	switch (g) {
	case G_LEN: /* a "message" longer than the channel */
		__atomic_store_n(&u->u.len, KUP_PAGE + 1, __ATOMIC_RELAXED);
		__atomic_store_n(&u->u.tw, KUP_TW((seq + 1) & KUP_SEQ_MASK, KUP_ST_OPEN),
		                 __ATOMIC_RELEASE);
		break;
	case G_STATE: /* state 3 does not exist */
		__atomic_store_n(&u->u.tw, KUP_TW(seq, 3u), __ATOMIC_RELEASE);
		break;
	case G_SEQ: /* a sequence jump: neither "waiting" nor "one more" */
		__atomic_store_n(&u->u.tw, KUP_TW((seq + 5) & KUP_SEQ_MASK, KUP_ST_OPEN),
		                 __ATOMIC_RELEASE);
		break;
	case G_TW: /* flipped bits all over the word */
		__atomic_store_n(&u->u.tw, tw ^ 0xa5a5a5a4u, __ATOMIC_RELEASE);
		break;
	case G_WAIT: /* nonsense waiter bits: at worst spurious wake-ups */
		__atomic_store_n(&u->u.wait, 0xfffffff0u | KUP_WAIT_MASK, __ATOMIC_RELEASE);
		break;
	case G_KPAGE:
	case G_KTW:
		break; /* the kern's page, not ours: kscribble */
	}
}

/*
 * The kern control page is mapped read-write (kup_abi.h): the process may
 * write the kern side's own words, which the kern side never reads back.
 * G_KPAGE: every word but the kern turn word (which the process polls) gets
 * garbage; G_KTW: that word too.
 */
static void kscribble(struct kup_kctl *kc, enum garbage g)
{
	uint32_t *w = (uint32_t *)(void *)kc, seed = 12345;
	size_t i;

	KT_EQ(kc->hdr.magic, KUP_MAGIC); /* found the right page */
	for (i = 0; i < KUP_PAGE / 4; i++) {
		seed = seed * 1103515245u + 12345u;
		if (g == G_KPAGE && &w[i] == &kc->k.tw)
			continue;
		/* A plain store: the mapping is writable (a read-only one would kill us). */
		__atomic_store_n(&w[i], seed | 1u, __ATOMIC_RELAXED);
	}
}

static void garbage_case(const char *n, enum garbage g)
{
	struct kit_ctl *c = ctl_open();
	struct kup_uctl *u;
	struct kt_reply rep;
	void *h, *c0, *c1, *p;
	size_t len;
	int i;

	ctl_mkdev(c, n, 1, 2, KTB_ECHO, 0, 0);
	h = kit_open(n);
	c0 = kit_attach(h, 0, 1);
	c1 = kit_attach(h, 1, 1);
	kit_hello(c0, 0);
	kit_hello(c1, 1);
	KT_EQ(kernproxy_send(c0, "abcd", 4, 0), 0);
	p = kit_recv(c0, &len); /* our turn; the service waits in its receive */
	KT_EQ(len, 4);
	u = kit_uctl(p, 1);
	KT_EQ(KUP_TW_SEQ(u->u.tw), 1); /* found the right page: we sent one message */
	if (g == G_KPAGE || g == G_KTW)
		kscribble((struct kup_kctl *)(uintptr_t)kit_kctl(p, 1), g);
	else
		scribble(u, g);

	if (g == G_KTW) {
		/* The process's library sees a turn word of nonsense: its channel, not the kernel's. */
		KIT_FAILS_WITH(kernproxy_send(c0, "x", 1, 0) == -1, c0, EKU_PROTO);
		KT_EQ(ctl_stats(c, n, 0, &rep), 0);
		KT_EQ(rep.proto, 0);
		KT_EQ(rep.st.proto_errors, 0);
	} else if (g == G_WAIT || g == G_KPAGE) {
		/* Not a violation: the bits are masked, the kern side never reads its own page
		 * back (it rewrites what it publishes), the channel goes on. */
		for (i = 0; i < 20; i++)
			kit_echo(c0, (size_t)i * 10, (uint32_t)i);
		KT_EQ(ctl_stats(c, n, 0, &rep), 0);
		KT_EQ(rep.proto, 0);
		KT_EQ(rep.st.proto_errors, 0);
	} else {
		CTL_WAIT(c, n, 0, proto, 1, &rep);
		KT_EQ(rep.last_err, -EKU_PROTO);
		KT_ASSERT(rep.st.proto_errors >= 1);
		/* The service closed the channel on us. */
		KIT_FAILS_WITH(kernproxy_receive(c0, 0) == NULL, c0, EKU_CLOSED);
		KIT_FAILS_WITH(kernproxy_send(c0, "x", 1, 0) == -1, c0, EKU_CLOSED);
	}
	/* The neighbour channel never noticed. */
	for (i = 0; i < 50; i++)
		kit_echo(c1, (size_t)i * 13, (uint32_t)i);
	KT_EQ(ctl_stats(c, n, 1, &rep), 0);
	KT_EQ(rep.proto, 0);
	KT_EQ(rep.st.proto_errors, 0);
	/* The broken channel can be attached afresh. */
	kernproxy_close(c0);
	c0 = kit_attach(h, 0, 1);
	kit_hello(c0, 0);
	kit_echo(c0, 77, 3);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

KT_TEST(garbage_len_beyond_capacity)
{
	char namebuf[64];

	garbage_case(NAME("g_len"), G_LEN);
}

KT_TEST(garbage_state_value)
{
	char namebuf[64];

	garbage_case(NAME("g_state"), G_STATE);
}

KT_TEST(garbage_sequence_jump)
{
	char namebuf[64];

	garbage_case(NAME("g_seq"), G_SEQ);
}

KT_TEST(garbage_flipped_tw)
{
	char namebuf[64];

	garbage_case(NAME("g_tw"), G_TW);
}

KT_TEST(garbage_wait_bits_harmless)
{
	char namebuf[64];

	garbage_case(NAME("g_wait"), G_WAIT);
}

KT_TEST(kern_control_page_garbage_is_never_read_back)
{
	char namebuf[64];

	garbage_case(NAME("k_page"), G_KPAGE);
}

KT_TEST(kern_turn_word_garbage_breaks_only_the_process)
{
	char namebuf[64];

	garbage_case(NAME("k_tw"), G_KTW);
}

/* What kupdev_recv gave the kern side stays as sent while the process rewrites the pages. */
KT_TEST(payload_rewrite_does_not_reach_kern_copy)
{
	char namebuf[64];
	const char *n = NAME("stable");
	struct kit_ctl *c = ctl_open();
	uint32_t lens[] = {1, 100, KUP_PAGE};
	uint8_t *ref = malloc(KUP_PAGE), *rw = malloc(KUP_PAGE);
	struct kt_check *k;
	struct kt_reply rep;
	size_t cap, len;
	uint8_t *buf;
	void *h, *ch;
	uint32_t i;

	KT_ASSERT(ref && rw);
	ctl_mkdev(c, n, 1, 1, KTB_CHECK, 0, 0);
	h = kit_open(n);
	ch = kit_attach(h, 0, 1);
	kit_hello(ch, 0);
	for (i = 0; i < 3; i++) {
		buf = kernproxy_send_buf(ch, &cap, 0);
		KT_ASSERT(buf);
		kt_fill(buf, lens[i], 10 + i);
		kt_fill(ref, lens[i], 10 + i);
		KT_EQ(kernproxy_send_commit(ch, lens[i]), 0);
		/*
		 * Once the service holds its copy, rewrite the shared bytes under it,
		 * in two halves with a pause between, as a preempted writer would.
		 */
		CTL_WAIT(c, n, 0, msgs, i + 1, &rep);
		kt_fill(rw, lens[i], KT_REWRITE_SEED);
		memcpy(buf, rw, lens[i] / 2);
		kit_sleep_ms(100);
		memcpy(buf + lens[i] / 2, rw + lens[i] / 2, lens[i] - lens[i] / 2);
		k = kit_recv(ch, &len);
		KT_EQ(len, sizeof(*k));
		KT_EQ(k->magic, KT_CHECK_MAGIC);
		KT_EQ(k->len, lens[i]);
		KT_EQ(k->sum_before, kt_sum(ref, lens[i]));
		KT_EQ(k->sum_after, kt_sum(ref, lens[i]));
		KT_EQ(k->changed, 1); /* the rewrite did reach the shared pages */
		KT_EQ(k->sum_shared, kt_sum(rw, lens[i]));
	}
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	free(ref);
	free(rw);
	ctl_close(c);
}

/* A malformed control command (wrong length) gets an error answer, and the service goes on. */
KT_TEST(service_refuses_malformed_command)
{
	struct kit_ctl *c = ctl_open();
	struct kt_reply *r;
	struct kt_cmd cmd;
	size_t len;

	KT_EQ(kernproxy_send(c->ch, "junk", 4, 0), 0);
	r = kit_recv(c->ch, &len);
	KT_EQ(len, sizeof(*r));
	KT_EQ(r->status, -EKU_INVAL);
	memset(&cmd, 0, sizeof(cmd));
	cmd.magic = KT_CMD_MAGIC;
	cmd.op = KTO_PING;
	KT_EQ(ctl_do(c, &cmd, NULL), 0);
	ctl_close(c);
}
