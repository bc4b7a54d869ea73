/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_turn.c - the message calls' common case in line (kup_turn.h) against
 * the full path (kup_end_send, kup_end_recv), in every state an end and the
 * peer's words can be in: what the quick step does, followed by the full
 * path when it declines, must be exactly what the full path alone does.
 */
#include <stdint.h>

#include "kt.h"
#include "kup_turn.h"

#define TSIZE 1 /* pages per direction */

/* Two channels driven alike: one takes the quick step first, one only the full path. */
struct twin {
	uint8_t mem[KUP_MAP_LEN(TSIZE)] __attribute__((aligned(KUP_PAGE)));
	uint8_t copy[TSIZE * KUP_PAGE];
	struct kup_end k, u;
};

static int no_sleep(struct kup_end *e, const uint32_t *tw, uint32_t seen, int64_t ns)
{
	(void)e, (void)tw, (void)seen, (void)ns;
	return -EKU_INVAL;
}

static int wakes;

static void count_wake(struct kup_end *e, uint32_t bits)
{
	(void)e, (void)bits;
	wakes++;
}

static const struct kup_host_ops t_ops = {.sleep = no_sleep, .wake = count_wake};

/* One state of the grid. */
struct tcase {
	int side;        /* the end under test: KUP_SIDE_KERN or KUP_SIDE_USER */
	int trips;       /* round trips before */
	int held;        /* the end under test received already (holds the turn) */
	int dseq;        /* the peer's tw: seq off ours by this */
	uint32_t st;     /* the peer's tw: state */
	uint32_t len;    /* the peer's len word */
	uint32_t local;  /* host event */
	uint32_t broken; /* broken already */
	uint32_t stream; /* a stream end */
	uint32_t waits;  /* the peer's wait bits */
};

static uint8_t msg[TSIZE * KUP_PAGE];

/* Bring t to case c; returns the end under test. */
static struct kup_end *twin_prep(struct twin *t, const struct tcase *c)
{
	struct kup_kctl *kc = (struct kup_kctl *)(t->mem + KUP_OFF_KCTL(TSIZE));
	struct kup_uctl *uc = (struct kup_uctl *)(t->mem + KUP_OFF_UCTL(TSIZE));
	struct kup_end *e = c->side == KUP_SIDE_KERN ? &t->k : &t->u;
	struct kup_side *peer = c->side == KUP_SIDE_KERN ? &uc->u : &kc->k;
	const void *d;
	uint32_t n;
	int i;

	memset(t, 0, sizeof(*t));
	kup_chan_format(kc, uc, TSIZE, 0, 1);
	t->k.rx_copy = t->copy;
	kup_end_init(&t->k, KUP_SIDE_KERN, kc, uc, TSIZE, &t_ops, t);
	kup_end_init(&t->u, KUP_SIDE_USER, kc, uc, TSIZE, &t_ops, t);
	for (i = 0; i < c->trips; i++) {
		KT_EQ(kup_end_send(&t->k, msg, 8 + 60 * i, KUPC_NB, 0), 0);
		KT_EQ(kup_end_recv(&t->u, KUPC_NB, 0, &d, &n, 0), 0);
		KT_EQ(kup_end_send(&t->u, msg, 3 + 70 * i, KUPC_NB, 0), 0);
	}
	/* Now the kern side's turn: the user side is one message ahead. */
	if (c->side == KUP_SIDE_USER) {
		KT_EQ(kup_end_recv(&t->k, KUPC_NB, 0, &d, &n, 1), 0);
		KT_EQ(kup_end_send(&t->k, msg, 5, KUPC_NB, 0), 0);
	}
	if (c->held)
		KT_EQ(kup_end_recv(e, KUPC_NB, 0, &d, &n, 0), 0);
	peer->tw = KUP_TW((KUP_TW_SEQ(kup_turn_ours(e)) + (uint32_t)c->dseq) & KUP_SEQ_MASK, c->st);
	peer->len = c->len;
	peer->wait = c->waits;
	for (i = 0; i < (int)sizeof(peer->inl); i++)
		peer->inl[i] = (uint8_t)(i * 31 + c->len);
	e->local = c->local;
	e->broken = c->broken;
	e->stream = c->stream;
	wakes = 0;
	return e;
}

/* Everything of an end but its pointers (which differ between twins) and seen_tw. */
static void same_end(const struct twin *a, const struct kup_end *x, const struct twin *b,
                     const struct kup_end *y)
{
	KT_EQ(x->tx_seq, y->tx_seq);
	KT_EQ(x->rx_len, y->rx_len);
	KT_EQ(x->rx_at ? x->rx_at - a->mem : -1, y->rx_at ? y->rx_at - b->mem : -1);
	KT_EQ(x->state, y->state);
	KT_EQ(x->wait_bits, y->wait_bits);
	KT_EQ(x->have_turn, y->have_turn);
	KT_EQ(x->sent_any, y->sent_any);
	KT_EQ(x->tx_open, y->tx_open);
	KT_EQ(x->broken, y->broken);
	KT_EQ(x->local, y->local);
	KT_ASSERT(memcmp(&x->cnt, &y->cnt, sizeof(x->cnt)) == 0);
}

static void same_twins(const struct twin *a, const struct twin *b)
{
	same_end(a, &a->k, b, &b->k);
	same_end(a, &a->u, b, &b->u);
	KT_ASSERT(memcmp(a->mem, b->mem, sizeof(a->mem)) == 0);
	KT_ASSERT(memcmp(a->copy, b->copy, sizeof(a->copy)) == 0);
}

static void say(const char *what, const struct tcase *c)
{
	fprintf(stderr,
	        "# %s: side %d trips %d held %d dseq %d st %u len 0x%x local %u broken %u stream %u\n",
	        what, c->side, c->trips, c->held, c->dseq, c->st, c->len, c->local, c->broken,
	        c->stream);
}

/* The grid, walked by one function per operation; 0 when every case agreed. */
static int walk(int (*one)(const struct tcase *c))
{
	static const int dseqs[] = {0, -1, 1, 2};
	static const uint32_t lens[] = {KUP_LEN_INLINE | 0,
	                                KUP_LEN_INLINE | 8,
	                                KUP_LEN_INLINE | KUP_INLINE,
	                                KUP_LEN_INLINE | (KUP_INLINE + 1),
	                                KUP_LEN_INLINE | 0x7fffffffu,
	                                0,
	                                100,
	                                TSIZE * KUP_PAGE,
	                                TSIZE * KUP_PAGE + 1};
	static const uint32_t locals[] = {0, EKU_CLOSED, EKU_SHUTDOWN};
	struct tcase c;
	unsigned a, b, f, g, h;
	int bad = 0, cases = 0;

	for (c.side = 0; c.side < 2; c.side++)
		for (c.trips = 0; c.trips < 3; c.trips++)
			for (c.held = 0; c.held < 2; c.held++)
				for (a = 0; a < sizeof(dseqs) / sizeof(dseqs[0]); a++)
					for (c.st = 0; c.st < 4; c.st++)
						for (b = 0; b < sizeof(lens) / sizeof(lens[0]); b++)
							for (f = 0; f < 3; f++)
								for (g = 0; g < 4; g++)
									for (h = 0; h < 2; h++) {
										c.dseq = dseqs[a];
										c.len = lens[b];
										c.local = locals[f];
										c.broken = (g & 1) ? EKU_PROTO : 0;
										c.stream = (g & 2) ? KUP_HDR_STREAM : 0;
										c.waits = h ? KUP_WAIT_SLEEP : 0;
										bad += one(&c);
										cases++;
									}
	fprintf(stderr, "# %d cases, %d disagreed\n", cases, bad);
	return bad;
}

static struct twin ta, tb;

static int recv_case(const struct tcase *c, int copy)
{
	struct kup_end *x = twin_prep(&ta, c), *y;
	const void *dx = NULL, *dy = NULL;
	uint32_t lx = 0, ly = 0;
	int rx = 0, ry, quick;

	if (c->held && x->have_turn == 0)
		return 0; /* not a state this case reaches */
	quick = kup_end_recv_now(x, copy, &dx, &lx);
	if (!quick)
		rx = kup_end_recv(x, KUPC_NB, 0, &dx, &lx, copy);
	y = twin_prep(&tb, c);
	ry = kup_end_recv(y, KUPC_NB, 0, &dy, &ly, copy);
	same_twins(&ta, &tb);
	if (rx != ry || (quick && ry != 0)) {
		say(quick ? "quick received, the full path did not" : "results differ", c);
		return 1;
	}
	if (!ry) {
		KT_EQ(lx, ly);
		KT_EQ((const uint8_t *)dx - (const uint8_t *)&ta, (const uint8_t *)dy - (const uint8_t *)&tb);
		KT_ASSERT(memcmp(dx, dy, lx) == 0);
	}
	return 0;
}

static int recv_copy_case(const struct tcase *c)
{
	return recv_case(c, 1);
}

static int recv_shared_case(const struct tcase *c)
{
	return recv_case(c, 0);
}

static int send_case(const struct tcase *c, uint32_t len)
{
	struct kup_end *x = twin_prep(&ta, c), *y;
	int rx = 0, ry, quick, wx;
	struct kup_end before = *x;

	if (c->held && x->have_turn == 0)
		return 0;
	quick = kup_end_send_now(x, msg, len);
	if (!quick) {
		/* Declined: nothing changed, then the full path decides. */
		same_end(&ta, x, &ta, &before);
		rx = kup_end_send(x, msg, len, KUPC_NB, 0);
	}
	wx = wakes;
	y = twin_prep(&tb, c);
	ry = kup_end_send(y, msg, len, KUPC_NB, 0);
	same_twins(&ta, &tb);
	KT_EQ(wx, wakes);
	if (rx != ry || (quick && ry != 0)) {
		say(quick ? "quick sent, the full path did not" : "results differ", c);
		return 1;
	}
	return 0;
}

static int send_inline_case(const struct tcase *c)
{
	return send_case(c, 8);
}

static int send_line_case(const struct tcase *c)
{
	return send_case(c, KUP_INLINE);
}

static int send_data_case(const struct tcase *c)
{
	return send_case(c, KUP_INLINE + 1);
}

static void fill_msg(void)
{
	uint32_t i;

	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 3);
}

KT_TEST(quick_recv_copy_is_the_full_path)
{
	fill_msg();
	KT_EQ(walk(recv_copy_case), 0);
}

KT_TEST(quick_recv_in_place_is_the_full_path)
{
	fill_msg();
	KT_EQ(walk(recv_shared_case), 0);
}

KT_TEST(quick_send_is_the_full_path)
{
	fill_msg();
	KT_EQ(walk(send_inline_case), 0);
	KT_EQ(walk(send_line_case), 0);
	KT_EQ(walk(send_data_case), 0);
}

/* The quick steps do take the common case: a round trip with no full path at all. */
KT_TEST(quick_steps_carry_a_round_trip)
{
	struct tcase c = {.side = KUP_SIDE_KERN};
	struct kup_end *k = twin_prep(&ta, &c), *u = &ta.u;
	const void *d;
	uint32_t n;
	int i;

	fill_msg();
	KT_EQ(kup_end_recv_now(k, 1, &d, &n), 1); /* the kern side's first turn: an empty token */
	KT_EQ(n, 0);
	for (i = 0; i < 100; i++) {
		KT_EQ(kup_end_send_now(k, msg + i, 8), 1);
		KT_EQ(kup_end_send_now(k, msg, 8), 0); /* the turn went with it */
		KT_EQ(kup_end_recv_now(u, 0, &d, &n), 1);
		KT_EQ(n, 8);
		KT_ASSERT(memcmp(d, msg + i, 8) == 0);
		KT_EQ(kup_end_send_now(u, msg + i + 1, KUP_INLINE), 1);
		KT_EQ(kup_end_recv_now(k, 1, &d, &n), 1);
		KT_EQ(n, KUP_INLINE);
		KT_ASSERT(d == ta.copy && memcmp(d, msg + i + 1, KUP_INLINE) == 0);
	}
	KT_EQ(k->cnt.sent, 100);
	KT_EQ(k->cnt.received, 100);
	KT_EQ(u->cnt.bytes_sent, 100 * KUP_INLINE);
}

/*
 * The quick way's loan end (kup_core.h) against kup_loan_end, on every
 * table of three slots holding threads A and B on the current or a retired
 * memory: where kup_loan_quick_end takes it, kup_loan_end hands back no
 * memory to put and leaves the same, empty, table; where it declines, it
 * changed nothing.
 */
static int same_loans(const struct kup_loans *a, const struct kup_loans *b)
{
	int i, same = a->n == b->n;

	for (i = 0; i < KUP_LOANS; i++)
		same &= a->who[i] == b->who[i] && a->mem[i] == b->mem[i];
	return same;
}

KT_TEST(quick_loan_end_is_the_full_loan_end)
{
	static int ra, rb;
	const void *whos[] = {NULL, &ta, &ta, &tb, &tb};
	void *mems[] = {NULL, NULL, &ra, NULL, &rb};
	int s0, s1, s2, quick = 0, full = 0;

	for (s0 = 0; s0 < 5; s0++)
		for (s1 = 0; s1 < 5; s1++)
			for (s2 = 0; s2 < 5; s2++) {
				int s[3] = {s0, s1, s2}, i, a = 0, b = 0;
				struct kup_loans l, q;

				memset(&l, 0, sizeof(l));
				for (i = 0; i < 3; i++) {
					a += whos[s[i]] == &ta;
					b += whos[s[i]] == &tb;
					l.who[i] = whos[s[i]];
					l.mem[i] = mems[s[i]];
					l.n += whos[s[i]] != NULL;
				}
				if (a > 1 || b > 1) /* a thread holds at most one slot */
					continue;
				q = l;
				if (!kup_loan_quick_end(&q, &ta)) {
					full++;
					KT_ASSERT(same_loans(&q, &l));
					continue;
				}
				quick++;
				KT_ASSERT(kup_loan_end(&l, &ta) == NULL);
				KT_ASSERT(same_loans(&q, &l));
				KT_EQ(q.n, 0);
			}
	KT_EQ(quick, 2); /* no loan, or A's on the current memory in slot 0 */
	KT_ASSERT(full > quick);
}

/*
 * A call that takes the turn without handing the message out (a quick
 * receive that declines a copy too long for it, a readiness check) leaves
 * the message ahead of an orderly end: the next receive still gets it,
 * the call after that the end.  Before KUP_TURN_READ the end came first
 * and the message was lost.
 */
KT_TEST(a_message_taken_but_not_handed_out_comes_before_the_end)
{
	struct tcase c = {.side = KUP_SIDE_KERN};
	int how;

	fill_msg();
	for (how = 0; how < 4; how++) {
		struct kup_end *k = twin_prep(&ta, &c), *u = &ta.u;
		const void *d;
		uint32_t n;

		KT_EQ(kup_end_recv_now(k, 1, &d, &n), 1); /* the kern side's first turn */
		KT_EQ(kup_end_send_now(k, msg, 8), 1);
		KT_EQ(kup_end_recv_now(u, 0, &d, &n), 1);
		if (how < 2) { /* the kern side's quick copy declines 100 bytes, turn taken */
			KT_EQ(kup_end_send(u, msg + 1, 100, KUPC_NB, 0), 0);
			KT_EQ(kup_end_recv_now(k, 1, &d, &n), 0);
			KT_EQ(k->have_turn, KUP_TURN_NEW);
			if (how == 0)
				kup_end_close(u, KUP_ST_CLOSING); /* the process closed */
			else
				kup_end_set_local(k, EKU_CLOSED); /* the host saw it detach */
			KT_EQ(kup_end_recv(k, KUPC_NB, 0, &d, &n, 1), 0);
			KT_EQ(n, 100);
			KT_ASSERT(d == ta.copy && memcmp(d, msg + 1, 100) == 0);
			KT_EQ(kup_end_recv(k, KUPC_NB, 0, &d, &n, 1), -EKU_CLOSED);
		} else { /* the process armed its fd (ready), then the module unloaded */
			KT_EQ(kup_end_send_now(u, msg, 4), 1);
			KT_EQ(kup_end_recv(k, KUPC_NB, 0, &d, &n, 1), 0);
			KT_EQ(kup_end_send(k, msg + 2, how == 2 ? 8 : 200, KUPC_NB, 0), 0);
			KT_EQ(kup_end_arm(u, KUP_WAIT_FD), 1);
			kup_end_close(k, KUP_ST_SHUTDOWN);
			KT_EQ(kup_end_recv(u, KUPC_NB, 0, &d, &n, 0), 0);
			KT_EQ(n, how == 2 ? 8 : 200);
			KT_ASSERT(memcmp(d, msg + 2, n) == 0);
			KT_EQ(kup_end_recv(u, KUPC_NB, 0, &d, &n, 0), -EKU_SHUTDOWN);
		}
	}
}
