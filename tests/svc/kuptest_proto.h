/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kuptest_proto.h - the control protocol of the test service kuptest_svc,
 * shared by the service (tests/svc, built as a provider program or as the
 * kup_test kernel module) and the client suites (tests/integ).
 *
 * The service creates the control device KT_CTL_NAME with KT_CTL_CHANS
 * channels of one page, each served by a thread of its own.  A client
 * attaches any free control channel; the service moves first with a struct
 * kt_hello (chan = the control channel).
 * Then each exchange is: the client sends one struct kt_cmd, the service
 * answers with one struct kt_reply.  Commands:
 *
 *   KTO_PING                         status 0
 *   KTO_CREATE name size chan_cnt beh delay_ms flags [mode uid gid]
 *                                    kupdev_create (kupdev_create_attr when mode
 *                                    is set) + one thread per channel
 *                                    running the behaviour; status 0 or the
 *                                    -EKU_* of kupdev_create
 *   KTO_UNLOAD name [flags]          stop the threads, kupdev_unload; -EKU_NOENT
 *                                    when no such test device
 *   KTO_STATS name chan              kupdev_stats + kupdev_attached + what the
 *                                    behaviour thread saw (struct kt_reply)
 *   KTO_NOTIFY name                  kupdev_notify
 *   KTO_WAITCHAN name timeout_ms flags
 *                                    kupdev_wait_channel_timed: status = channel
 *   KTO_CLAIM name chan              kupdev_claim_channel in this control thread
 *   KTO_RECV name chan timeout_ms flags
 *                                    kupdev_recv on a KTB_MANUAL device: status,
 *                                    len, sum (kt_sum) and byte0 of the message;
 *                                    with KTF_SEED: kupdev_receive + unlock, byte0
 *   KTO_SEND name chan len seed timeout_ms flags
 *                                    kupdev_send_timed of len bytes kt_fill(seed);
 *                                    with KTF_ZC: kupdev_send_buf + commit
 *   KTO_PASS name chan timeout_ms flags
 *                                    kupdev_pass_timed
 *   KTO_SSEND name chan len seed timeout_ms flags
 *                                    kupdev_stream_send of one record of len bytes
 *                                    kt_fill(seed): status = count or -EKU_*
 *   KTO_SRECV name chan len timeout_ms flags
 *                                    kupdev_stream_recv of up to len (<= KT_STREAM_BATCH)
 *                                    records: status = count; len and sum of the last
 *
 * A timeout_ms < 0 means KT_CTL_MAX_WAIT_MS: a control thread never blocks
 * forever, so an unload can always complete.
 *
 * Behaviours (each channel of a test device, per attach, "session").  Each
 * channel has a thread of its own that finds the channel's next attach by
 * kupdev_attached and the attach count (not kupdev_wait_channel: see
 * kt_next_session in kuptest_svc.c), but KTB_BLOCK's:
 *   KTB_MANUAL  no thread: the client drives the kern side with KTO_* ops.
 *   KTB_ECHO    send a struct kt_hello (kupdev_send), then echo every message
 *               back (kupdev_recv + kupdev_send_timed; KTF_ZC: kupdev_send_buf
 *               + commit; KTF_SENDRECV: kupdev_send_recv, then kupdev_recv
 *               while its wait for the next message timed out), after
 *               delay_ms each.
 *   KTB_PASS    kupdev_pass first, then answer every message with a pass.
 *   KTB_HOLD    never send: keep the turn until the process detaches.
 *   KTB_CHECK   send a hello, then for every message: sum its private copy
 *               (kupdev_recv), count it in msgs, wait (up to KT_CHECK_WAIT_MS)
 *               until the shared bytes hold kt_fill(len, KT_REWRITE_SEED) (the
 *               client rewrites them when it sees msgs), sum the private copy
 *               again and answer with a struct kt_check.
 *   KTB_BLOCK   the seed's pattern, with waits that only an event ends: each
 *               thread waits in kupdev_wait_channel, sends a hello, then
 *               waits in kupdev_recv without timeout; one session per thread.
 *               KTO_UNLOAD unloads such a device first and joins its threads
 *               after: every kern-side wait must end with -EKU_SHUTDOWN, and
 *               the reply's `sessions` counts the threads that saw it.  Only
 *               safe once every thread is inside its kupdev_recv (the client
 *               sees the kern side's KUP_WAIT_SLEEP bit on every channel): a
 *               thread not yet in its call would use the freed device.  With
 *               KTF_SHUTDOWN, KTO_UNLOAD calls kupdev_shutdown, joins, then
 *               unloads: safe at any time (threads in kupdev_wait_channel).
 *   KTB_DISPATCH a dispatcher thread waits in kupdev_wait_channel and hands
 *               each attach to the channel's worker thread, which claims it
 *               (kupdev_claim_channel), sends a struct kt_hello and echoes
 *               every message (after delay_ms) until an empty one: that ends
 *               the session by protocol, and the worker makes no more calls
 *               until the next hand-off.
 *   KTB_STREAM  for stream channels (KP_STREAM): echo every record back, in
 *               batches (kupdev_stream_recv of up to KT_STREAM_BATCH records,
 *               then kupdev_stream_send of the same ones); msgs counts
 *               records, last_len is the last one's length.
 * A session ends on any error but a timeout; the thread records it
 * (last_err, closed, proto) and waits for the next attach.
 */
#ifndef KUPTEST_PROTO_H
#define KUPTEST_PROTO_H

#include "kupdev.h"

#define KT_CTL_NAME        "kuptest_ctl"
#define KT_CTL_CHANS       4
#define KT_CTL_MAX_WAIT_MS 30000
#define KT_CHECK_WAIT_MS   10000 /* KTB_CHECK: longest wait for the client's rewrite */
#define KT_MAX_DEVS        32
#define KT_MAX_DEV_CHANS   256
#define KT_MAX_DEV_SIZE    16 /* pages per direction of a test device */
#define KT_STREAM_BATCH    16 /* KTB_STREAM: records per batch */

#define KT_CMD_MAGIC   0x444d434bu /* "KCMD" */
#define KT_REPLY_MAGIC 0x5052434bu /* "KCRP" */
#define KT_HELLO_MAGIC 0x4c45484bu /* "KHEL" */
#define KT_CHECK_MAGIC 0x4b48434bu /* "KCHK" */

enum kt_op {
	KTO_PING = 1,
	KTO_CREATE,
	KTO_UNLOAD,
	KTO_STATS,
	KTO_NOTIFY,
	KTO_WAITCHAN,
	KTO_RECV,
	KTO_SEND,
	KTO_PASS,
	KTO_CLAIM,
	KTO_SSEND,
	KTO_SRECV,
};

enum kt_beh {
	KTB_MANUAL = 0,
	KTB_ECHO,
	KTB_PASS,
	KTB_HOLD,
	KTB_CHECK,
	KTB_BLOCK,
	KTB_DISPATCH,
	KTB_STREAM,
};

#define KTF_ZC          0x100 /* KTO_SEND: zero-copy kern send (kupdev_send_buf + commit) */
#define KTF_SEED        0x200 /* KTO_RECV: the seed's kupdev_receive (blocks without timeout) */
#define KTF_WHOLE       0x400 /* KTO_RECV: sum the whole private copy buffer (capacity bytes) */
#define KTF_SHUTDOWN    0x800 /* KTO_UNLOAD: kupdev_shutdown, join, then unload */
#define KTF_SENDRECV    0x1000 /* KTB_ECHO: answer and wait in one kupdev_send_recv */
#define KT_LEN_UNKNOWN  0xffffffffu /* KTO_RECV with KTF_SEED: the seed's call has no length */
#define KT_REWRITE_SEED 0xc3u       /* KTB_CHECK: what the client rewrites a message with */
/* The low byte of flags goes to the kupdev_* call as is (KUP_NB, KUP_POLL, unknown bits). */
#define KTF_KUP_MASK 0xffu

struct kt_cmd {
	uint32_t magic; /* KT_CMD_MAGIC */
	uint32_t op;    /* KTO_* */
	uint32_t size;
	uint32_t chan_cnt;
	uint32_t beh;
	uint32_t delay_ms;
	uint32_t flags;
	uint32_t chan;
	uint32_t len;
	uint32_t seed;
	int32_t timeout_ms;
	uint32_t mode; /* KTO_CREATE: non-zero: kupdev_create_attr with mode, uid, gid */
	uint32_t uid;
	uint32_t gid;
	char name[KUP_NAME_MAX];
};

struct kt_reply {
	uint32_t magic;         /* KT_REPLY_MAGIC */
	int32_t status;         /* 0, a channel id, or -EKU_* */
	uint32_t len;           /* KTO_RECV: message length */
	uint32_t sum;           /* KTO_RECV: kt_sum of the message */
	uint32_t byte0;         /* KTO_RECV: first byte of the buffer */
	int32_t attached;       /* KTO_STATS: kupdev_attached */
	int32_t last_err;       /* what ended the last session (-EKU_*), 0 if none */
	uint32_t sessions;      /* attaches served by behaviour threads */
	uint32_t closed;        /* sessions ended by -EKU_CLOSED */
	uint32_t proto;         /* sessions ended by -EKU_PROTO */
	uint32_t msgs;          /* messages the behaviour received */
	uint32_t last_len;      /* length of the last of them */
	uint32_t cap;           /* KTO_STATS: kupdev_capacity */
	uint32_t chan_cnt;      /* KTO_STATS: kupdev_channel_count */
	struct kupdev_stats st; /* KTO_STATS: kupdev_stats (status = its result) */
};

/* The kern side's first message on KTB_ECHO / KTB_CHECK channels and on control channels. */
struct kt_hello {
	uint32_t magic; /* KT_HELLO_MAGIC */
	uint32_t chan;  /* the channel id kupdev_wait_channel returned */
	uint32_t size;
	uint32_t beh;
};

/* KTB_CHECK's answer. */
struct kt_check {
	uint32_t magic; /* KT_CHECK_MAGIC */
	uint32_t len;
	uint32_t sum_before; /* private copy, right after kupdev_recv */
	uint32_t sum_after;  /* private copy, after the shared bytes changed */
	uint32_t sum_shared; /* shared bytes at that point */
	uint32_t changed;    /* 1 when the shared bytes were seen to change */
};

/* FNV-1a over a buffer: both sides compare messages by it. */
static inline uint32_t kt_sum(const void *p, uint32_t len)
{
	const uint8_t *b = (const uint8_t *)p;
	uint32_t h = 2166136261u, i;

	for (i = 0; i < len; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

/* The test pattern: byte i of a message made from seed. */
static inline void kt_fill(void *p, uint32_t len, uint32_t seed)
{
	uint8_t *b = (uint8_t *)p;
	uint32_t i;

	for (i = 0; i < len; i++)
		b[i] = (uint8_t)(seed + i * 7u + (i >> 8));
}

/* kt_sum of len bytes kt_fill(seed), without a buffer. */
static inline uint32_t kt_fill_sum(uint32_t len, uint32_t seed)
{
	uint32_t h = 2166136261u, i;

	for (i = 0; i < len; i++)
		h = (h ^ (uint8_t)(seed + i * 7u + (i >> 8))) * 16777619u;
	return h;
}

#endif /* KUPTEST_PROTO_H */
