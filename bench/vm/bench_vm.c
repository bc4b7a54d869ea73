/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench_vm.c - `make bench-vm`'s comparison, run inside the QEMU guest:
 * KUP's kernel path next to the channels people use today, each doing the
 * same echo job in a kernel module, measured in the same run.
 *
 *   kup           kupcmp_kup.ko on kup.ko, the default spin (20 us each side)
 *                 then sleep: KUP's default, adaptive mode (the baseline)
 *   kup-block     the same with spin 0 on both sides: every wait sleeps
 *   chardev       kupcmp.ko: write() to a kernel thread, read() sleeps on a
 *                 wait queue for its echo (two system calls, two wake-ups)
 *   ioctl         kupcmp.ko: one ioctl copies in and back out in the
 *                 caller's context (no other thread)
 *   ioctl-kthread kupcmp.ko: one ioctl through the kernel thread (one
 *                 system call, two wake-ups)
 *   genl          kupcmp.ko: generic netlink, send() of the echo command,
 *                 recv() of the unicast reply the handler sends from the
 *                 sender's context
 *   cacheline     two user threads on CPUs 0 and 1 bouncing one cache line
 *                 (the bare cross-CPU turn: what KUP's round trip is made of)
 *   syscall       getppid(): the price of entering the kernel once
 *
 * Round trips at 8 B, 64 B and 4 KiB, every round trip timed alone; one-way
 * messages per second (one-slot hand-off: the next message waits until the
 * kernel has taken the last one where the mechanism makes it wait).  Every
 * measurement runs in R rounds, and within a round every size and every
 * mechanism in turn (the order rotated each round), so the phases of a noisy
 * emulated machine hit all of them alike.  Ratios are taken per round
 * (KUP / the other, so < 1 means KUP is faster for round trips and > 1 means
 * KUP moves more messages one way) and the median over rounds is reported.
 *
 * Before every measurement one message with a fresh pattern goes through and
 * the echo is compared byte for byte.
 *
 * usage: bench_vm [-r ROUNDS] [-t MS_PER_MEASUREMENT] [-v] [--smoke]
 * --smoke: a few checked round trips and sends on every mechanism, as TAP,
 * ending in "N passed, N failed" (the VM suite runs it).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cmp_abi.h"
#include "kup.h"

#define MAXSAMP   (1 << 16)
#define MAXROUNDS 32

static const size_t sizes[] = {8, 64, 4096};
#define NSIZES ((int)(sizeof(sizes) / sizeof(sizes[0])))

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	if (sched_setaffinity(0, sizeof(s), &s))
		perror("sched_setaffinity");
}

/* --- mechanisms ------------------------------------------------------------ */

struct mech {
	const char *name;
	const char *what;
	int (*open)(struct mech *m);
	/* The outgoing message goes here before rtt/oneway (a netlink or ioctl
	 * buffer already has its header in front of it). */
	unsigned char *(*txbuf)(struct mech *m);
	/* One round trip of len bytes; the echo and its length, or NULL. */
	const void *(*rtt)(struct mech *m, size_t len, size_t *got);
	/* One message one way; 0 or -1.  NULL: not offered. */
	int (*oneway)(struct mech *m, size_t len);
	void (*close)(struct mech *m);
	int echo; /* rtt echoes the bytes (references do not) */
	/* state */
	void *h, *ch, *sink;
	int fd, fd2, family;
	uint32_t seq;
	unsigned char *tx, *rx;
	int failed;
};

static unsigned char plain_tx[CMP_MAX], plain_rx[CMP_MAX + 64];

static unsigned char *plain_txbuf(struct mech *m)
{
	(void)m;
	return plain_tx;
}

static void err(struct mech *m, const char *what)
{
	fprintf(stderr, "bench_vm: %s: %s: %s\n", m->name, what, strerror(errno));
}

/* KUP: kupcmp_kup.ko's device, channel 0 echoes, channel 1 sinks. */
static void *kup_chan(struct mech *m, int id, int64_t spin)
{
	void *c = kernproxy_attach(m->h, (size_t)id, 1, KP_EXACT);
	size_t len;

	if (!c) {
		fprintf(stderr, "bench_vm: %s: attach %d: %s\n", m->name, id,
		        kernproxy_strerror(kernproxy_errno));
		return NULL;
	}
	if (spin >= 0 && kernproxy_set_spin(c, spin)) {
		fprintf(stderr, "bench_vm: %s: set_spin: %s\n", m->name,
		        kernproxy_strerror(kernproxy_errno));
		return NULL;
	}
	/* The module passes the turn first, with an empty message. */
	if (!kernproxy_receive_len(c, &len, 0) || len != 0) {
		fprintf(stderr, "bench_vm: %s: first turn: %s\n", m->name,
		        kernproxy_strerror(kernproxy_errno));
		return NULL;
	}
	return c;
}

static int kup_open_dev(struct mech *m, const char *dev, int64_t spin)
{
	m->h = kernproxy_open(dev);
	if (!m->h) {
		fprintf(stderr, "bench_vm: %s: open %s: %s\n", m->name, dev,
		        kernproxy_strerror(kernproxy_errno));
		return -1;
	}
	m->ch = kup_chan(m, 0, spin);
	m->sink = m->ch ? kup_chan(m, 1, spin) : NULL;
	return m->sink ? 0 : -1;
}

static int kup_open(struct mech *m)
{
	return kup_open_dev(m, "kupcmp_kup", -1);
}

static int kup_blk_open(struct mech *m)
{
	return kup_open_dev(m, "kupcmp_kup_blk", 0);
}

static const void *kup_rtt(struct mech *m, size_t len, size_t *got)
{
	if (kernproxy_send(m->ch, plain_tx, len, 0))
		return NULL;
	return kernproxy_receive_len(m->ch, got, 0);
}

static int kup_oneway(struct mech *m, size_t len)
{
	return kernproxy_send(m->sink, plain_tx, len, 0) ? -1 : 0;
}

static void kup_close(struct mech *m)
{
	if (m->h)
		kernproxy_close(m->h);
	m->h = NULL;
}

/* kupcmp.ko's /dev/kupcmp: fd echoes, fd2 is in sink mode. */
static int chr_open(struct mech *m)
{
	m->fd = open("/dev/" CMP_DEV_NAME, O_RDWR | O_CLOEXEC);
	if (m->fd < 0) {
		err(m, "open /dev/" CMP_DEV_NAME);
		return -1;
	}
	m->fd2 = open("/dev/" CMP_DEV_NAME, O_RDWR | O_CLOEXEC);
	if (m->fd2 < 0 || ioctl(m->fd2, CMP_IOC_SET_SINK, 1)) {
		err(m, "second file in sink mode");
		return -1;
	}
	return 0;
}

static const void *chr_rtt(struct mech *m, size_t len, size_t *got)
{
	ssize_t n;

	if (write(m->fd, plain_tx, len) != (ssize_t)len)
		return NULL;
	n = read(m->fd, plain_rx, sizeof(plain_rx));
	if (n < 0)
		return NULL;
	*got = (size_t)n;
	return plain_rx;
}

static int chr_oneway(struct mech *m, size_t len)
{
	return write(m->fd2, plain_tx, len) == (ssize_t)len ? 0 : -1;
}

static void fd_close(struct mech *m)
{
	if (m->fd > 0)
		close(m->fd);
	if (m->fd2 > 0)
		close(m->fd2);
	m->fd = m->fd2 = -1;
}

/* ioctl: a struct cmp_msg with the message behind it. */
static struct cmp_msg *ioc_msg;

static int ioc_open(struct mech *m)
{
	if (!ioc_msg) {
		ioc_msg = aligned_alloc(64, sizeof(*ioc_msg) + CMP_MAX);
		if (!ioc_msg) {
			err(m, "aligned_alloc");
			return -1;
		}
		memset(ioc_msg, 0, sizeof(*ioc_msg) + CMP_MAX);
	}
	m->fd = open("/dev/" CMP_DEV_NAME, O_RDWR | O_CLOEXEC);
	if (m->fd < 0) {
		err(m, "open /dev/" CMP_DEV_NAME);
		return -1;
	}
	m->fd2 = -1;
	return 0;
}

static unsigned char *ioc_txbuf(struct mech *m)
{
	(void)m;
	return ioc_msg->data;
}

static const void *ioc_call(struct mech *m, unsigned long cmd, size_t len, size_t *got)
{
	ioc_msg->len = (uint32_t)len;
	if (ioctl(m->fd, cmd, ioc_msg))
		return NULL;
	*got = ioc_msg->len;
	return ioc_msg->data;
}

static const void *ioc_rtt(struct mech *m, size_t len, size_t *got)
{
	return ioc_call(m, CMP_IOC_ECHO, len, got);
}

static const void *ioc_thr_rtt(struct mech *m, size_t len, size_t *got)
{
	return ioc_call(m, CMP_IOC_ECHO_THR, len, got);
}

static int ioc_oneway(struct mech *m, size_t len)
{
	size_t got;

	return ioc_call(m, CMP_IOC_SINK, len, &got) ? 0 : -1;
}

/* Generic netlink: one request buffer, the payload at a fixed offset. */
#define GENL_OFF (NLMSG_HDRLEN + GENL_HDRLEN + NLA_HDRLEN)
static unsigned char genl_txb[GENL_OFF + CMP_MAX + 8] __attribute__((aligned(8)));
static unsigned char genl_rxb[2 * CMP_MAX] __attribute__((aligned(8)));

static unsigned char *genl_txbuf(struct mech *m)
{
	(void)m;
	return genl_txb + GENL_OFF;
}

/* Put the headers of a request with an attribute of alen bytes in front of
 * what is at data (which must be genl_txb + GENL_OFF); the message length. */
static size_t genl_req(struct mech *m, int type, int cmd, int flags, int atype, size_t alen)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)genl_txb;
	struct genlmsghdr *gh = (struct genlmsghdr *)(genl_txb + NLMSG_HDRLEN);
	struct nlattr *a = (struct nlattr *)(genl_txb + NLMSG_HDRLEN + GENL_HDRLEN);

	nh->nlmsg_len = (uint32_t)(NLMSG_HDRLEN + GENL_HDRLEN + NLA_ALIGN(NLA_HDRLEN + alen));
	nh->nlmsg_type = (uint16_t)type;
	nh->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	nh->nlmsg_seq = ++m->seq;
	nh->nlmsg_pid = 0;
	gh->cmd = (uint8_t)cmd;
	gh->version = CMP_GENL_VERSION;
	gh->reserved = 0;
	a->nla_len = (uint16_t)(NLA_HDRLEN + alen);
	a->nla_type = (uint16_t)atype;
	return nh->nlmsg_len;
}

/*
 * Receive one reply and find attribute atype in it: its bytes and length.
 * NULL on an error reply (errno set from it) or a malformed one.  An ack
 * (error 0) gives a pointer to the header and *got 0.
 */
static const void *genl_reply(struct mech *m, int atype, size_t *got)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)genl_rxb;
	ssize_t n = recv(m->fd, genl_rxb, sizeof(genl_rxb), 0);
	size_t off;

	if (n < (ssize_t)NLMSG_HDRLEN || !NLMSG_OK(nh, (size_t)n))
		return NULL;
	if (nh->nlmsg_type == NLMSG_ERROR) {
		struct nlmsgerr *e = NLMSG_DATA(nh);

		if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)) || e->error) {
			errno = nh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)) ? EPROTO : -e->error;
			return NULL;
		}
		*got = 0;
		return nh;
	}
	for (off = NLMSG_HDRLEN + GENL_HDRLEN; off + NLA_HDRLEN <= nh->nlmsg_len;) {
		struct nlattr *a = (struct nlattr *)(genl_rxb + off);

		if (a->nla_len < NLA_HDRLEN || off + a->nla_len > nh->nlmsg_len)
			break;
		if ((a->nla_type & NLA_TYPE_MASK) == atype) {
			*got = a->nla_len - NLA_HDRLEN;
			return (const unsigned char *)a + NLA_HDRLEN;
		}
		off += NLA_ALIGN(a->nla_len);
	}
	errno = EPROTO;
	return NULL;
}

static int genl_open(struct mech *m)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	static const char name[] = CMP_GENL_NAME;
	const void *id;
	size_t len, got;

	m->fd2 = -1;
	m->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (m->fd < 0 || bind(m->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err(m, "netlink socket");
		return -1;
	}
	/* The family's id from the controller. */
	memcpy(genl_txb + GENL_OFF, name, sizeof(name));
	len = genl_req(m, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 0, CTRL_ATTR_FAMILY_NAME, sizeof(name));
	if (send(m->fd, genl_txb, len, 0) != (ssize_t)len) {
		err(m, "send GETFAMILY");
		return -1;
	}
	id = genl_reply(m, CTRL_ATTR_FAMILY_ID, &got);
	if (!id || got != sizeof(uint16_t)) {
		err(m, "family " CMP_GENL_NAME);
		return -1;
	}
	m->family = *(const uint16_t *)id;
	return 0;
}

static const void *genl_rtt(struct mech *m, size_t len, size_t *got)
{
	size_t n = genl_req(m, m->family, CMP_C_ECHO, 0, CMP_A_DATA, len);

	if (send(m->fd, genl_txb, n, 0) != (ssize_t)n)
		return NULL;
	return genl_reply(m, CMP_A_DATA, got);
}

static int genl_oneway(struct mech *m, size_t len)
{
	size_t n = genl_req(m, m->family, CMP_C_SINK, 0, CMP_A_DATA, len);

	return send(m->fd, genl_txb, n, 0) == (ssize_t)n ? 0 : -1;
}

/* A sink command with an ack, to check it is accepted (no timing). */
static int genl_sink_acked(struct mech *m, size_t len)
{
	size_t n = genl_req(m, m->family, CMP_C_SINK, NLM_F_ACK, CMP_A_DATA, len), got = 1;

	if (send(m->fd, genl_txb, n, 0) != (ssize_t)n)
		return -1;
	return genl_reply(m, CMP_A_DATA, &got) && got == 0 ? 0 : -1;
}

/* References: the bare cross-CPU turn, and a null system call. */
static struct {
	_Alignas(128) uint32_t word;
	_Alignas(128) int stop;
	pthread_t t;
} cl;

static void *cl_peer(void *arg)
{
	uint32_t w;

	(void)arg;
	pin(1);
	for (;;) {
		while (!((w = __atomic_load_n(&cl.word, __ATOMIC_ACQUIRE)) & 1)) {
			if (__atomic_load_n(&cl.stop, __ATOMIC_ACQUIRE))
				return NULL;
			__builtin_ia32_pause();
		}
		__atomic_store_n(&cl.word, w + 1, __ATOMIC_RELEASE);
	}
}

static int cl_start(void)
{
	cl.word = 0;
	cl.stop = 0;
	return pthread_create(&cl.t, NULL, cl_peer, NULL) ? -1 : 0;
}

static void cl_stop(void)
{
	__atomic_store_n(&cl.stop, 1, __ATOMIC_RELEASE);
	pthread_join(cl.t, NULL);
}

static const void *cl_rtt(struct mech *m, size_t len, size_t *got)
{
	uint32_t w = cl.word + 1;

	(void)m;
	__atomic_store_n(&cl.word, w, __ATOMIC_RELEASE);
	while (__atomic_load_n(&cl.word, __ATOMIC_ACQUIRE) != w + 1)
		__builtin_ia32_pause();
	*got = len;
	return plain_tx;
}

static const void *sys_rtt(struct mech *m, size_t len, size_t *got)
{
	(void)m;
	if (syscall(SYS_getppid) < 0)
		return NULL;
	*got = len;
	return plain_tx;
}

static int none_open(struct mech *m)
{
	(void)m;
	return 0;
}

static void none_close(struct mech *m)
{
	(void)m;
}

#define M_KUP   0
#define M_CHR   2
#define M_IOCTL 3
#define M_GENL  5
#define M_CL    6
#define MAXMECH 8
#define MECH(n, w, o, t, r, ow, c, e)                                                              \
	{                                                                                          \
		.name = n, .what = w, .open = o, .txbuf = t, .rtt = r, .oneway = ow, .close = c,   \
		.echo = e                                                                          \
	}
static struct mech mechs[] = {
    MECH("kup", "KUP, kupcmp_kup.ko: default spin 20 us then sleep (adaptive)", kup_open,
         plain_txbuf, kup_rtt, kup_oneway, kup_close, 1),
    MECH("kup-block", "KUP, spin 0 both sides: every wait sleeps", kup_blk_open, plain_txbuf,
         kup_rtt, kup_oneway, kup_close, 1),
    MECH("chardev", "write() to a kthread, read() sleeps on a wait queue", chr_open, plain_txbuf,
         chr_rtt, chr_oneway, fd_close, 1),
    MECH("ioctl", "one ioctl, copy in + copy out in the caller's context", ioc_open, ioc_txbuf,
         ioc_rtt, ioc_oneway, fd_close, 1),
    MECH("ioctl-kthread", "one ioctl through the kthread (two wake-ups)", ioc_open, ioc_txbuf,
         ioc_thr_rtt, NULL, fd_close, 1),
    MECH("genl", "generic netlink send + recv of the unicast reply", genl_open, genl_txbuf,
         genl_rtt, genl_oneway, fd_close, 1),
    MECH("cacheline", "two user threads, CPUs 0/1, one cache line (no payload)", none_open,
         plain_txbuf, cl_rtt, NULL, none_close, 0),
    MECH("syscall", "getppid() (no payload)", none_open, plain_txbuf, sys_rtt, NULL, none_close, 0),
};
#define NMECH ((int)(sizeof(mechs) / sizeof(mechs[0])))
_Static_assert(NMECH <= MAXMECH, "MAXMECH");

/* --- checks ---------------------------------------------------------------- */

static void fill(unsigned char *p, size_t len, uint32_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 8));
}

/* One round trip with a fresh pattern, compared byte for byte.  0, or -1. */
static int check_echo(struct mech *m, size_t len, uint32_t seed)
{
	unsigned char want[CMP_MAX];
	const void *p;
	size_t got = 0;

	if (!m->echo)
		return 0;
	fill(m->txbuf(m), len, seed);
	memcpy(want, m->txbuf(m), len);
	p = m->rtt(m, len, &got);
	if (!p) {
		err(m, "round trip");
		return -1;
	}
	if (got != len || memcmp(p, want, len)) {
		fprintf(stderr, "bench_vm: %s: echo of %zu bytes came back wrong (%zu bytes)\n",
		        m->name, len, got);
		return -1;
	}
	return 0;
}

/* --- measuring ------------------------------------------------------------- */

static int64_t samp[MAXSAMP];

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

struct stat1 {
	double med, p90, p99;
	long n;
	int ok;
};

/* Round trips of len bytes for dur_ns, each timed alone. */
static struct stat1 measure_rtt(struct mech *m, size_t len, int64_t dur_ns, uint32_t seed)
{
	struct stat1 s = {0};
	int64_t t0, t1, end;
	size_t got;
	long n = 0;

	if (m->rtt == cl_rtt && cl_start())
		return s;
	if (check_echo(m, len, seed))
		goto out;
	end = now_ns() + dur_ns;
	do {
		t0 = now_ns();
		if (!m->rtt(m, len, &got)) {
			err(m, "round trip");
			goto out;
		}
		t1 = now_ns();
		samp[n++] = t1 - t0;
	} while (t1 < end && n < MAXSAMP);
	qsort(samp, (size_t)n, sizeof(samp[0]), cmp_i64);
	s.n = n;
	s.med = (double)samp[n / 2];
	s.p90 = (double)samp[n * 90 / 100];
	s.p99 = (double)samp[n * 99 / 100];
	s.ok = 1;
out:
	if (m->rtt == cl_rtt)
		cl_stop();
	return s;
}

/* Messages one way for dur_ns: messages per second. */
static struct stat1 measure_oneway(struct mech *m, size_t len, int64_t dur_ns, uint32_t seed)
{
	struct stat1 s = {0};
	int64_t t0, t, end;
	long n = 0;

	fill(m->txbuf(m), len, seed);
	if (m->oneway == genl_oneway && genl_sink_acked(m, len)) {
		err(m, "sink command");
		return s;
	}
	t0 = now_ns();
	end = t0 + dur_ns;
	do {
		if (m->oneway(m, len)) {
			err(m, "one-way send");
			return s;
		}
		n++;
		t = (n & 15) ? 0 : now_ns();
	} while (!t || t < end);
	s.n = n;
	s.med = (double)n * 1e9 / (double)(t - t0);
	s.ok = 1;
	return s;
}

static struct stat1 rt[MAXROUNDS][NSIZES][MAXMECH], ow[MAXROUNDS][NSIZES][MAXMECH];

/*
 * Every timed round trip of every round, pooled per mechanism and size in
 * a log histogram (32 buckets per power of two, 3%): the latency a message
 * sees, weighted by messages rather than by time.  On a starved emulator a
 * round of slow turns has few samples and a round of fast ones many.
 */
#define HSUB     32
#define HBUCKETS (64 * HSUB)
static uint32_t hist[NSIZES][MAXMECH][HBUCKETS];

static int hbucket(uint64_t v)
{
	int msb;

	if (v < HSUB)
		return (int)v;
	msb = 63 - __builtin_clzll(v);
	return msb * HSUB + (int)((v >> (msb - 5)) & (HSUB - 1));
}

static void hist_add(uint32_t *h, const int64_t *v, long n)
{
	long i;

	for (i = 0; i < n; i++)
		h[hbucket(v[i] > 0 ? (uint64_t)v[i] : 0)]++;
}

/* The q-quantile of a histogram: the middle of its bucket, in ns. */
static double hist_q(const uint32_t *h, double q)
{
	uint64_t total = 0, acc = 0;
	int i, msb;

	for (i = 0; i < HBUCKETS; i++)
		total += h[i];
	if (!total)
		return 0;
	for (i = 0; i < HBUCKETS; i++) {
		acc += h[i];
		if ((double)acc >= q * (double)total)
			break;
	}
	if (i < HSUB)
		return i;
	msb = i / HSUB;
	return (double)((uint64_t)(HSUB + i % HSUB) << (msb - 5)) +
	       (double)((uint64_t)1 << (msb - 5)) / 2;
}

static double median(double *v, int n)
{
	int i, j;
	double x;

	for (i = 1; i < n; i++) /* insertion sort: n is the round count */
		for (j = i; j > 0 && v[j] < v[j - 1]; j--) {
			x = v[j];
			v[j] = v[j - 1];
			v[j - 1] = x;
		}
	return n ? (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : 0;
}

struct summary {
	double med, lo, hi, p99, ratio, rlo, rhi, best_ratio;
	int n, nr;
};

/*
 * Over rounds: the median of the round medians, their range, the median
 * p99, the median per-round ratio ref / this (and its range), and the ratio
 * of the best rounds (ref's fastest round over this one's: what each does
 * when the emulator is not starved, paired or not).  tput: higher is better.
 */
static struct summary summarise(struct stat1 (*a)[NSIZES][MAXMECH], int rounds, int si, int mi,
                                int ref, int tput)
{
	double v[MAXROUNDS], p[MAXROUNDS], r[MAXROUNDS], best = 0, rbest = 0;
	struct summary s = {0};
	int k;

	for (k = 0; k < rounds; k++) {
		struct stat1 *x = &a[k][si][mi], *y = &a[k][si][ref];

		if (y->ok && y->med > 0 && (!rbest || (tput ? y->med > rbest : y->med < rbest)))
			rbest = y->med;
		if (!x->ok)
			continue;
		if (!best || (tput ? x->med > best : x->med < best))
			best = x->med;
		v[s.n] = x->med;
		p[s.n] = x->p99;
		s.n++;
		if (y->ok && x->med > 0)
			r[s.nr++] = y->med / x->med;
	}
	if (!s.n)
		return s;
	s.med = median(v, s.n);
	s.lo = v[0];
	s.hi = v[s.n - 1];
	s.p99 = tput ? 0 : median(p, s.n);
	if (s.nr) {
		s.ratio = median(r, s.nr);
		s.rlo = r[0];
		s.rhi = r[s.nr - 1];
	}
	s.best_ratio = best > 0 ? rbest / best : 0;
	return s;
}

static int smoke(void)
{
	int pass = 0, fail = 0, i, k, ok;
	size_t si;
	static const size_t lens[] = {1, 8, 64, 1000, 4095, 4096};

	for (i = 0; i < NMECH; i++) {
		struct mech *m = &mechs[i];

		if (!m->echo)
			continue;
		ok = m->open(m) == 0;
		printf("%s - %s: opened (%s)\n", ok ? "ok" : "not ok", m->name, m->what);
		ok ? pass++ : fail++;
		if (!ok) {
			m->close(m);
			continue;
		}
		ok = 1;
		for (si = 0; si < sizeof(lens) / sizeof(lens[0]) && ok; si++)
			for (k = 0; k < 20 && ok; k++)
				ok = check_echo(m, lens[si], (uint32_t)(k * 977 + si)) == 0;
		printf("%s - %s: 120 round trips of 1 B to 4 KiB echo the same bytes\n",
		       ok ? "ok" : "not ok", m->name);
		ok ? pass++ : fail++;
		if (m->oneway) {
			ok = 1;
			for (si = 0; si < NSIZES && ok; si++)
				for (k = 0; k < 20 && ok; k++)
					ok = m->oneway(m, sizes[si]) == 0;
			if (ok && m->oneway == genl_oneway)
				ok = genl_sink_acked(m, 8) == 0;
			/* The channel still echoes after the one-way traffic. */
			ok = ok && check_echo(m, 64, 12345) == 0;
			printf("%s - %s: 60 one-way messages taken, echo still right\n",
			       ok ? "ok" : "not ok", m->name);
			ok ? pass++ : fail++;
		}
		m->close(m);
	}
	/* Oversized messages are refused, not truncated. */
	{
		struct mech *c = &mechs[M_CHR], *g = &mechs[M_GENL];
		static unsigned char big[CMP_MAX + 1];
		size_t got;

		ok = c->open(c) == 0 && write(c->fd, big, sizeof(big)) < 0 && errno == EMSGSIZE;
		c->close(c);
		printf("%s - chardev: a message over %d bytes: EMSGSIZE\n", ok ? "ok" : "not ok",
		       CMP_MAX);
		ok ? pass++ : fail++;
		ok = g->open(g) == 0;
		if (ok) {
			/* An attribute of 4097 bytes breaks the family's policy. */
			size_t n = genl_req(g, g->family, CMP_C_ECHO, 0, CMP_A_DATA, CMP_MAX + 1);

			memset(genl_txb + GENL_OFF, 0, CMP_MAX + 1);
			ok = send(g->fd, genl_txb, n, 0) == (ssize_t)n &&
			     !genl_reply(g, CMP_A_DATA, &got) &&
			     (errno == ERANGE || errno == EINVAL);
			if (!ok)
				fprintf(stderr, "bench_vm: genl oversized: %s\n", strerror(errno));
		}
		g->close(g);
		printf("%s - genl: an attribute over %d bytes: an error reply\n",
		       ok ? "ok" : "not ok", CMP_MAX);
		ok ? pass++ : fail++;
	}
	printf("%d passed, %d failed\n", pass, fail);
	return fail ? 1 : 0;
}

static const char *fmt_ns(double ns, char *b, size_t n)
{
	if (ns >= 1e6)
		snprintf(b, n, "%.2f ms", ns / 1e6);
	else if (ns >= 1e4)
		snprintf(b, n, "%.1f us", ns / 1e3);
	else
		snprintf(b, n, "%.0f ns", ns);
	return b;
}

/* The tables and the targets. */
static void report(int rounds, int64_t dur_ns)
{
	char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32];
	int i, si;

	printf("# bench-vm: KUP's kernel path next to the channels people use today\n");
	printf(
	    "# TCG-EMULATED (QEMU without KVM): system calls, interrupts, wake-ups and memory\n"
	    "# ordering are emulated at costs unlike hardware, and a turn between the two vCPUs\n"
	    "# needs both emulator threads on a host CPU at once; ratios here are not hardware "
	    "ratios.\n");
	printf("# %d rounds, %lld ms per measurement, mechanisms interleaved round by round;\n",
	       rounds, (long long)(dur_ns / 1000000));
	printf(
	    "# median of rounds = median of the round medians [their range]; p99 = median of the\n"
	    "# rounds' p99; every message = quantiles over all timed round trips of all rounds;\n"
	    "# KUP/this: paired = median over rounds of (KUP's figure / this one's) in the same\n"
	    "# round; best round = KUP's fastest round / this one's; every message = p50 / p50.\n");
	for (i = 0; i < NMECH; i++)
		printf("#   %-13s %s%s\n", mechs[i].name, mechs[i].what,
		       mechs[i].failed ? " FAILED" : "");
	printf(
	    "\nround trip      size | median of rounds [their range]          p99 | every message:"
	    " p50       p90 | KUP/this: paired [range]        best round  every message\n");
	for (si = 0; si < NSIZES; si++)
		for (i = 0; i < NMECH; i++) {
			struct summary s = summarise(rt, rounds, si, i, M_KUP, 0);
			double p50 = hist_q(hist[si][i], 0.5), kp50 = hist_q(hist[si][M_KUP], 0.5);

			if (!s.n || (!mechs[i].echo && si > 0))
				continue;
			printf("%-13s %6zu | %9s [%s .. %s] %10s | %18s %9s | %7.3fx [%.3f .. "
			       "%.3f]  %7.3fx  "
			       "%7.3fx\n",
			       mechs[i].name, mechs[i].echo ? sizes[si] : (size_t)0,
			       fmt_ns(s.med, b1, sizeof(b1)), fmt_ns(s.lo, b2, sizeof(b2)),
			       fmt_ns(s.hi, b3, sizeof(b3)), fmt_ns(s.p99, b4, sizeof(b4)),
			       fmt_ns(p50, b5, sizeof(b5)),
			       fmt_ns(hist_q(hist[si][i], 0.9), b6, sizeof(b6)), s.ratio, s.rlo,
			       s.rhi, s.best_ratio, p50 > 0 ? kp50 / p50 : 0);
		}
	printf("\none way         size |     msg/s [range of rounds]     | KUP/this: paired [range]"
	       "        best round\n");
	for (si = 0; si < NSIZES; si++)
		for (i = 0; i < NMECH; i++) {
			struct summary s = summarise(ow, rounds, si, i, M_KUP, 1);

			if (!s.n)
				continue;
			printf(
			    "%-13s %6zu | %9.0f [%.0f .. %.0f] | %7.3fx [%.3f .. %.3f]  %7.3fx\n",
			    mechs[i].name, sizes[si], s.med, s.lo, s.hi, s.ratio, s.rlo, s.rhi,
			    s.best_ratio);
		}
	{
		struct summary io = summarise(rt, rounds, 0, M_IOCTL, M_KUP, 0),
		               gl = summarise(rt, rounds, 0, M_GENL, M_KUP, 0),
		               cio = summarise(rt, rounds, 0, M_IOCTL, M_CL, 0),
		               cgl = summarise(rt, rounds, 0, M_GENL, M_CL, 0);
		double kp = hist_q(hist[0][M_KUP], 0.5), cp = hist_q(hist[0][M_CL], 0.5),
		       ip = hist_q(hist[0][M_IOCTL], 0.5), gp = hist_q(hist[0][M_GENL], 0.5);

		printf("\n# targets at 8 B (TCG), KUP/this: paired / best round / every message\n");
		printf("# KUP rtt <= 0.2x ioctl rtt:  %.3fx / %.3fx / %.3fx  %s\n", io.ratio,
		       io.best_ratio, ip > 0 ? kp / ip : 0,
		       io.nr && io.ratio <= 0.2 && io.best_ratio <= 0.2 ? "met" : "MISSED");
		printf("# KUP rtt <= 0.1x genl rtt:   %.3fx / %.3fx / %.3fx  %s\n", gl.ratio,
		       gl.best_ratio, gp > 0 ? kp / gp : 0,
		       gl.nr && gl.ratio <= 0.1 && gl.best_ratio <= 0.1 ? "met" : "MISSED");
		printf("# floor of any cross-CPU turn, the bare cache line / this: %.3fx / %.3fx / "
		       "%.3fx"
		       " ioctl, %.3fx / %.3fx / %.3fx genl\n",
		       cio.ratio, cio.best_ratio, ip > 0 ? cp / ip : 0, cgl.ratio, cgl.best_ratio,
		       gp > 0 ? cp / gp : 0);
	}
}

int main(int argc, char **argv)
{
	int rounds = 7, verbose = 0, i, k, si, j, fails = 0;
	int64_t dur_ns = 100000000;
	char b1[32], b2[32], b3[32];

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--smoke"))
			return smoke();
		else if (!strcmp(argv[i], "-r") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-t") && i + 1 < argc)
			dur_ns = (int64_t)atoi(argv[++i]) * 1000000;
		else if (!strcmp(argv[i], "-v"))
			verbose = 1;
		else {
			fprintf(stderr, "usage: bench_vm [-r ROUNDS] [-t MS] [-v] [--smoke]\n");
			return 2;
		}
	}
	if (rounds < 1 || rounds > MAXROUNDS || dur_ns < 1000000) {
		fprintf(stderr, "bench_vm: -r 1..%d, -t >= 1\n", MAXROUNDS);
		return 2;
	}
	pin(0);
	for (i = 0; i < NMECH; i++)
		if (mechs[i].open(&mechs[i])) {
			fprintf(stderr, "bench_vm: %s: cannot open, left out\n", mechs[i].name);
			mechs[i].failed = 1;
			fails++;
		}
	if (mechs[M_KUP].failed)
		return 1;

	/* Warm-up: every mechanism, every size, briefly. */
	for (si = 0; si < NSIZES; si++)
		for (i = 0; i < NMECH; i++)
			if (!mechs[i].failed)
				measure_rtt(&mechs[i], sizes[si], dur_ns / 10, 1);

	for (k = 0; k < rounds; k++) {
		for (si = 0; si < NSIZES; si++)
			for (j = 0; j < NMECH; j++) {
				struct mech *m = &mechs[(j + k) % NMECH];

				i = (j + k) % NMECH;
				if (m->failed)
					continue;
				rt[k][si][i] =
				    measure_rtt(m, sizes[si], dur_ns, (uint32_t)(k * 31 + si));
				if (!rt[k][si][i].ok)
					m->failed = ++fails;
				else
					hist_add(hist[si][i], samp, rt[k][si][i].n);
				if (verbose)
					printf("# round %d rtt %-13s %4zu B: median %s p90 %s p99 "
					       "%s n %ld\n",
					       k, m->name, sizes[si],
					       fmt_ns(rt[k][si][i].med, b1, sizeof(b1)),
					       fmt_ns(rt[k][si][i].p90, b2, sizeof(b2)),
					       fmt_ns(rt[k][si][i].p99, b3, sizeof(b3)),
					       rt[k][si][i].n);
			}
		for (si = 0; si < NSIZES; si++)
			for (j = 0; j < NMECH; j++) {
				struct mech *m = &mechs[(j + k) % NMECH];

				i = (j + k) % NMECH;
				if (m->failed || !m->oneway)
					continue;
				ow[k][si][i] =
				    measure_oneway(m, sizes[si], dur_ns / 2, (uint32_t)k);
				if (!ow[k][si][i].ok)
					m->failed = ++fails;
				if (verbose)
					printf("# round %d one-way %-13s %4zu B: %.0f msg/s\n", k,
					       m->name, sizes[si], ow[k][si][i].med);
			}
		/* Every echo still right after the round. */
		for (i = 0; i < NMECH; i++)
			if (!mechs[i].failed && check_echo(&mechs[i], 64, (uint32_t)(7 * k + 3)))
				mechs[i].failed = ++fails;
	}

	report(rounds, dur_ns);
	for (i = 0; i < NMECH; i++)
		mechs[i].close(&mechs[i]);
	if (fails)
		printf("# bench_vm: %d measurement(s) failed; see above\n", fails);
	return fails ? 1 : 0;
}
