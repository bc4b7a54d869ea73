/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_ctl.c - core's kern side against a hostile process's control words.
 *
 * One channel of FC_SIZE pages is mapped between PROT_NONE guard pages, as
 * a host would map it; the kern side's private receive copy is a heap
 * buffer of exactly the capacity (ASan bounds it).  The input is a script:
 * the fuzzer writes the process's words (u.tw, u.len, u.wait, any byte of
 * the user control page, the user-to-kern data), plays an honest process
 * now and then, raises host events, and makes the kern side's calls
 * (poll, receive with or without the copy, send, pass, txbuf, commit,
 * close, and waits whose sleeps hand control back to the fuzzer).
 *
 * What must hold:
 *   - the kern side never reads or writes outside the channel (guard pages,
 *     ASan), never writes the user block (compared with a shadow copy), and
 *     never changes the header;
 *   - a nonblocking call returns exactly what the rules of docs/trust.md
 *     say (a reference of kup_end_poll below): EKU_PROTO for state 3, for
 *     SHUTDOWN from the process, for a sequence that is neither "mine" nor
 *     "still yours", for a length over the capacity; sticky after that,
 *     with CLOSING published to the process; the length is read once per
 *     turn;
 *   - a received length is never over the capacity, the data pointer is
 *     the private copy (holding the message) or the start of the
 *     user-to-kern data; a sent message lands with its length and sequence;
 *   - a sleep is announced (KUP_WAIT_SLEEP) first, on the exact turn word
 *     the last poll saw, and the announcement is withdrawn after the wait.
 */
#include <errno.h>
#include <sys/mman.h>

#include "fuzz.h"
#include "kup_core.h"

#define FC_SIZE 1
#define FC_CAP  (FC_SIZE * KUP_PAGE)
#define FC_BLK  KUP_BLOCK_LEN(FC_SIZE)
#define FC_MAP  KUP_MAP_LEN(FC_SIZE)

static uint8_t *fc_map; /* the channel: kern block, then user block */
static uint8_t *fc_kblock, *fc_ublock;
static uint8_t fc_shadow[FC_BLK]; /* what the process wrote into its block */
static struct kup_hdr fc_hdr;     /* the header as formatted */
static uint8_t *fc_copy;          /* the kern side's private receive copy */
static uint8_t fc_src[FC_CAP + 64];
static struct kup_end fc_e;

/* The reference: what the kern side should believe. */
static struct {
	uint32_t seq, state, local, broken, have_turn, rx_len, rx_inline, tx_open, sent_any;
} ref;

static struct fz_in *fc_in; /* the script, for the sleep callback */
static int fc_sleeps;       /* sleeps in the current call */
static int fc_waiting;      /* inside a blocking kern call */
static int fc_trace;        /* FUZZ_TRACE set: print each step and each call's result */

#define FC_K ((struct kup_kctl *)fc_kblock)
#define FC_U ((struct kup_uctl *)fc_ublock)

static void fc_store_u(size_t off, const void *p, size_t n)
{
	memcpy(fc_ublock + off, p, n);
	memcpy(fc_shadow + off, p, n);
}

static void fc_store_u32(uint32_t *field, uint32_t v)
{
	fc_store_u((size_t)((uint8_t *)field - fc_ublock), &v, sizeof(v));
}

static void fc_peer_step(struct fz_in *in, uint8_t op);

/* The host's sleep: the process (the fuzzer) acts, then we wake somehow. */
static int fc_sleep(struct kup_end *e, const uint32_t *peer_tw, uint32_t seen, int64_t tmo)
{
	uint8_t how;

	(void)tmo;
	FZ_CHECK(e == &fc_e && fc_waiting, "sleep outside a blocking call");
	FZ_CHECK(peer_tw == &FC_U->u.tw, "sleep on another word");
	FZ_CHECK(seen == FC_U->u.tw, "sleep on 0x%x, the word is 0x%x", seen, FC_U->u.tw);
	FZ_CHECK(FC_K->k.wait & KUP_WAIT_SLEEP, "sleep not announced");
	if (++fc_sleeps > 8 || !fz_more(fc_in))
		return -EKU_INTR;
	how = fz_u8(fc_in);
	fc_peer_step(fc_in, how >> 2);
	return (how & 3) == 0 ? 0 : (how & 3) == 1 ? -EKU_TIMEDOUT : -EKU_INTR;
}

static void fc_wake(struct kup_end *e, uint32_t bits)
{
	FZ_CHECK(e == &fc_e && bits && !(bits & ~KUP_WAIT_MASK), "wake with bits 0x%x", bits);
}

static const struct kup_host_ops fc_ops = {.sleep = fc_sleep, .wake = fc_wake};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("KUP_QUIET", "1", 0);
	fc_map = mmap(NULL, FC_MAP + 2 * KUP_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fc_map == MAP_FAILED || mprotect(fc_map + KUP_PAGE, FC_MAP, PROT_READ | PROT_WRITE)) {
		perror("fuzz_ctl: mmap");
		exit(2);
	}
	fc_kblock = fc_map + KUP_PAGE;
	fc_ublock = fc_kblock + FC_BLK;
	fc_trace = getenv("FUZZ_TRACE") != NULL;
	fc_copy = malloc(FC_CAP);
	if (!fc_copy)
		exit(2);
	return 0;
}

/* A reference kup_end_poll for the kern side: the rules of docs/trust.md. */
static int ref_poll(void)
{
	uint32_t tw = FC_U->u.tw, seq = KUP_TW_SEQ(tw), st = KUP_TW_STATE(tw), len, end;

	if (ref.local == EKU_SHUTDOWN)
		return -EKU_SHUTDOWN;
	if (ref.broken)
		return ref.local ? -(int)ref.local : -EKU_PROTO;
	if (st == KUP_ST_CLOSING)
		end = EKU_CLOSED;
	else if (st != KUP_ST_OPEN)
		goto bad;
	else
		end = ref.local;
	/* An orderly end waits behind a message published before it and not received yet. */
	if (end && !(ref.have_turn != KUP_TURN_READ && seq == ref.seq && ref.sent_any))
		return -(int)end;
	if (seq == ((ref.seq - 1) & KUP_SEQ_MASK))
		return -EKU_NOTREADY;
	if (seq != ref.seq)
		goto bad;
	if (ref.have_turn)
		return 0;
	len = FC_U->u.len;
	ref.rx_inline = !!(len & KUP_LEN_INLINE);
	len &= ~KUP_LEN_INLINE;
	if (len > (ref.rx_inline ? KUP_INLINE : FC_CAP))
		goto bad;
	ref.rx_len = len;
	ref.have_turn = KUP_TURN_NEW;
	return 0;
bad:
	ref.broken = 1;
	if (ref.state == KUP_ST_OPEN)
		ref.state = KUP_ST_CLOSING;
	return -EKU_PROTO;
}

static void ref_publish(uint32_t len)
{
	ref.seq = (ref.seq + 1) & KUP_SEQ_MASK;
	ref.have_turn = 0;
	ref.tx_open = 0;
	ref.sent_any = 1;
	FZ_CHECK(FC_K->k.len == len, "published len 0x%x, want 0x%x", FC_K->k.len, len);
}

/* After every kern call: what the kern side may and may not have touched. */
static void fc_invariants(void)
{
	uint32_t tw = FC_K->k.tw;

	FZ_CHECK(memcmp(fc_ublock, fc_shadow, FC_BLK) == 0, "the kern side wrote the user block");
	FZ_CHECK(memcmp(&FC_K->hdr, &fc_hdr, sizeof(fc_hdr)) == 0, "the header changed");
	FZ_CHECK(KUP_TW_SEQ(tw) == ref.seq && KUP_TW_STATE(tw) == ref.state,
	         "k.tw 0x%x, want seq %u state %u", tw, ref.seq, ref.state);
	FZ_CHECK((FC_K->k.len & KUP_LEN_INLINE) ? (FC_K->k.len & ~KUP_LEN_INLINE) <= KUP_INLINE
	                                         : FC_K->k.len <= FC_CAP,
	         "k.len 0x%x", FC_K->k.len);
	FZ_CHECK(!(FC_K->k.wait & ~KUP_WAIT_MASK), "k.wait 0x%x", FC_K->k.wait);
	FZ_CHECK(!fc_e.broken == !ref.broken, "broken %u, want %u", fc_e.broken, ref.broken);
}

/* A received message: bounded, where it should be, and the copy is the message. */
static void fc_check_rx(const void *data, uint32_t len, int copy)
{
	const uint8_t *rx = ref.rx_inline ? FC_U->u.inl : fc_ublock + KUP_PAGE;

	FZ_CHECK(len <= FC_CAP && len == ref.rx_len, "received %u bytes, want %u", len, ref.rx_len);
	if (copy) {
		FZ_CHECK(data == fc_copy, "copy receive not in the private copy");
		FZ_CHECK(memcmp(fc_copy, rx, len) == 0, "the copy differs from the message");
		FZ_CHECK(len || fc_copy[0] == 0, "empty message: first byte %u", fc_copy[0]);
	} else {
		FZ_CHECK(data == rx, "zero-copy receive elsewhere than the data area");
	}
}

/* The process's moves: raw words, bytes, or an honest message. */
static void fc_peer_step(struct fz_in *in, uint8_t op)
{
	uint8_t b[8];
	uint32_t v;

	switch (op & 7) {
	case 0:
		fc_store_u32(&FC_U->u.tw, fz_u32(in));
		break;
	case 1:
		fc_store_u32(&FC_U->u.len, fz_u32(in));
		break;
	case 2:
		fc_store_u32(&FC_U->u.wait, fz_u32(in));
		break;
	case 3: { /* payload bytes */
		size_t off = (fz_u8(in) | (size_t)fz_u8(in) << 8) % FC_CAP, n = fz_u8(in) % 8;

		if (off + n > FC_CAP)
			n = FC_CAP - off;
		fz_bytes(in, b, n);
		fc_store_u(KUP_PAGE + off, b, n);
		break;
	}
	case 4: /* any 4 bytes of the control page */
		v = fz_u32(in);
		fc_store_u((fz_u8(in) | (size_t)fz_u8(in) << 8) % (KUP_PAGE - 3), &v, 4);
		break;
	case 5: /* an honest process: reply when it is its turn */
		v = KUP_TW_SEQ(FC_K->k.tw);
		if (KUP_TW_STATE(FC_K->k.tw) == KUP_ST_OPEN &&
		    v == ((KUP_TW_SEQ(FC_U->u.tw) + 1) & KUP_SEQ_MASK)) {
			fc_store_u32(&FC_U->u.len,
			             (fz_u8(in) | (uint32_t)fz_u8(in) << 8) % (FC_CAP + 1));
			fc_store_u32(&FC_U->u.tw, KUP_TW(v, KUP_ST_OPEN));
		}
		break;
	case 6: /* the process closes */
		fc_store_u32(&FC_U->u.tw, (FC_U->u.tw & ~KUP_TW_STATE_MASK) | KUP_ST_CLOSING);
		break;
	default: /* a flipped bit in the turn word */
		fc_store_u32(&FC_U->u.tw, FC_U->u.tw ^ (1u << (fz_u8(in) % 32)));
		break;
	}
}

/* A blocking call's result: any outcome the call may have, then resync. */
static void fc_after_wait(int r, uint32_t local_before)
{
	FZ_CHECK(r == 0 || r == -EKU_TIMEDOUT || r == -EKU_INTR || r == -EKU_CLOSED ||
	             r == -EKU_SHUTDOWN || r == -EKU_PROTO,
	         "blocking call: %d", r);
	FZ_CHECK(!(FC_K->k.wait & KUP_WAIT_SLEEP), "sleep still announced after the call");
	FZ_CHECK(r != -EKU_SHUTDOWN || local_before == EKU_SHUTDOWN, "SHUTDOWN from the process");
	if (r == -EKU_PROTO && !ref.broken) {
		ref.broken = 1;
		if (ref.state == KUP_ST_OPEN)
			ref.state = KUP_ST_CLOSING;
	}
	/* The turn was observed inside the call: take the kern side's word for the length. */
	if (r == 0 && !ref.have_turn) {
		ref.have_turn = KUP_TURN_NEW;
		ref.rx_len = fc_e.rx_len;
		ref.rx_inline = fc_e.rx_at != fc_e.rx;
	}
}

static void fc_kern_step(struct fz_in *in, uint8_t op)
{
	const void *data;
	uint32_t len, cap;
	void *buf;
	size_t n;
	int r, want, copy = op & 0x10;

	switch (op & 15) {
	case 8: /* poll */
		want = ref_poll();
		r = kup_end_poll(&fc_e);
		FZ_CHECK(r == want, "poll %d, want %d", r, want);
		break;
	case 9: /* receive, nonblocking */
		want = ref_poll();
		r = kup_end_recv(&fc_e, KUPC_NB, 0, &data, &len, copy);
		FZ_CHECK(r == want, "recv %d, want %d", r, want);
		if (!r) {
			fc_check_rx(data, len, copy);
			ref.have_turn = KUP_TURN_READ;
		}
		break;
	case 10: /* send, nonblocking; sometimes too big */
		n = (fz_u8(in) | (size_t)fz_u8(in) << 8) % (FC_CAP + 64);
		memset(fc_src, fz_u8(in), n);
		want = n > FC_CAP ? -EKU_TOOBIG : ref_poll();
		r = kup_end_send(&fc_e, fc_src, n, KUPC_NB, 0);
		FZ_CHECK(r == want, "send %zu: %d, want %d", n, r, want);
		if (!r) {
			ref_publish(n <= KUP_INLINE ? KUP_LEN_INLINE | (uint32_t)n : (uint32_t)n);
			FZ_CHECK(memcmp(n <= KUP_INLINE ? FC_K->k.inl : fc_kblock + KUP_PAGE, fc_src, n) == 0,
			         "sent bytes differ");
		}
		break;
	case 11: /* pass */
		want = ref_poll();
		r = kup_end_pass(&fc_e, KUPC_NB, 0);
		FZ_CHECK(r == want, "pass %d, want %d", r, want);
		if (!r) {
			ref_publish(KUP_LEN_INLINE);
			FZ_CHECK(FC_K->k.inl[0] == 0, "empty token's byte");
		}
		break;
	case 12: /* txbuf */
		want = ref_poll();
		r = kup_end_txbuf(&fc_e, KUPC_NB, 0, &buf, &cap);
		FZ_CHECK(r == want, "txbuf %d, want %d", r, want);
		if (!r) {
			FZ_CHECK(buf == fc_kblock + KUP_PAGE && cap == FC_CAP, "txbuf %p cap %u",
			         buf, cap);
			ref.tx_open = 1;
			ref.have_turn = KUP_TURN_READ; /* answered without reading */
			memset(buf, 0xa5, cap);
		}
		break;
	case 13: /* commit */
		n = (fz_u8(in) | (size_t)fz_u8(in) << 8) % (FC_CAP + 64);
		want = !ref.tx_open || !ref.have_turn ? -EKU_NOTURN
		       : n > FC_CAP                   ? -EKU_TOOBIG
		                                      : ref_poll();
		r = kup_end_commit(&fc_e, n);
		FZ_CHECK(r == want, "commit %zu: %d, want %d", n, r, want);
		if (!r)
			ref_publish((uint32_t)n);
		break;
	case 14:   /* receive, blocking: spin none, sleep (the fuzzer acts), short timeout */
	case 15: { /* receive polling (never sleeps), timeout 0 */
		uint32_t local_before = ref.local;

		fc_e.spin_ns = 0;
		fc_sleeps = 0;
		fc_waiting = 1;
		r = kup_end_recv(&fc_e, (op & 15) == 15 ? KUPC_POLL : 0,
		                 (op & 15) == 15 ? 0 : 1000000, &data, &len, copy);
		fc_waiting = 0;
		fc_after_wait(r, local_before);
		if (!r) {
			fc_check_rx(data, len, copy);
			ref.have_turn = KUP_TURN_READ;
		}
		break;
	}
	default:
		return;
	}
	if (fc_trace)
		fprintf(stderr, "  kern call %d: %d\n", op & 15, r);
}

/*
 * Start the channel as if 2^30 - 1 - (0..3) messages had gone each way, so
 * that the sequence wraps within a few exchanges.  The host's doing (it owns
 * the kern block), before any call.
 */
static void fc_jump(uint8_t op)
{
	uint32_t seq = (KUP_SEQ_MASK - (op >> 6)) & KUP_SEQ_MASK;

	fc_e.tx_seq = seq;
	FC_K->k.tw = KUP_TW(seq, KUP_ST_OPEN);
	fc_store_u32(&FC_U->u.tw, KUP_TW(seq, KUP_ST_OPEN)); /* the process answered */
	ref.seq = seq;
}

/*
 * One step: a control byte.  0-7: the process moves (fc_peer_step);
 * 8-15: a kern call (bit 4: receive through the private copy); with bit 5
 * set, 0-2 instead close the kern side (kup_end_close), raise a host event
 * (kup_end_set_local: detach, or unload with bit 6), or, as the first step,
 * start near the sequence wrap (fc_jump).
 */
static void fc_step(struct fz_in *in, int first)
{
	uint8_t op = fz_u8(in);

	if (fc_trace)
		fprintf(stderr, "step 0x%02x: k.tw 0x%x u.tw 0x%x u.len %u\n", op, FC_K->k.tw,
		        FC_U->u.tw, FC_U->u.len);
	if ((op & 0x2f) == 0x22) {
		if (first)
			fc_jump(op);
	} else if ((op & 0x2f) == 0x20) {
		kup_end_close(&fc_e, KUP_ST_CLOSING);
		ref.state = KUP_ST_CLOSING;
	} else if ((op & 0x2f) == 0x21) {
		ref.local = op & 0x40 ? EKU_SHUTDOWN : EKU_CLOSED;
		kup_end_set_local(&fc_e, ref.local);
	} else if ((op & 15) < 8) {
		fc_peer_step(in, op);
		return;
	} else {
		fc_kern_step(in, op);
	}
	fc_invariants();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = {data, size};
	int steps = 0;

	memset(fc_kblock, 0, FC_MAP);
	memset(fc_shadow, 0, sizeof(fc_shadow));
	memset(&ref, 0, sizeof(ref));
	kup_chan_format(fc_kblock, fc_ublock, FC_SIZE, 0, 1);
	memcpy(&fc_hdr, &FC_K->hdr, sizeof(fc_hdr));
	fc_e.rx_copy = fc_copy;
	kup_end_init(&fc_e, KUP_SIDE_KERN, fc_kblock, fc_ublock, FC_SIZE, &fc_ops, NULL);
	fc_in = &in;
	while (fz_more(&in) && steps++ < 256)
		fc_step(&in, steps == 1);
	return 0;
}
