/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_wire.c - the provider's socket protocol, from the hostile client's
 * side.
 *
 * The harness builds in the provider's device code (kpv_dev.c) and drives
 * its request handler, on_conn(), the way the monitor thread does, but
 * synchronously: each connection is a socketpair whose far end is linked
 * into the device's connection list (not into its epoll, so the monitor
 * never sees it), and after every message the harness calls on_conn() and
 * reads what came back.  One input is a script of up to four client
 * connections sending raw or lightly structured messages (any length, with
 * up to eight passed descriptors), hanging up, a module-side
 * kupdev_wait_channel(KUP_NB), and kupdev_shutdown (the next input gets a
 * fresh device).  Both ends' parsing is kw_recv().
 *
 * What must hold, checked after every step:
 *   - a request of the wrong length, with a bad magic, of an unknown type,
 *     out of order, or with more descriptors than a request can carry is
 *     dropped without a reply (a longer datagram is read as its first
 *     sizeof(struct kw_msg) bytes: SOCK_SEQPACKET truncates);
 *   - INFO gets one INFO_REPLY with the device's geometry and state;
 *   - ATTACH gets one ATTACH_REPLY whose status is exactly what the request
 *     deserves (ABI, RANGE, BADSIZE, SHUTDOWN, BUSY for a channel another
 *     connection holds, else 0), with two fds of KUP_BLOCK_LEN(size) bytes on success
 *     and none otherwise; the kern block cannot be mapped writable and holds
 *     a valid header; a refused connection is dropped;
 *   - hang-up detaches; kupdev_wait_channel hands out only attached channels
 *     (and -EKU_SHUTDOWN after a shutdown); a shutdown hangs up every client;
 *   - after the input, no connection and no attach is left, and the process
 *     holds exactly the descriptors it held before (nothing leaked).
 */
#include <dirent.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "kpv_dev.c" /* on_conn() and the device internals are static */

#define FW_SIZE  1
#define FW_CHANS 3
#define FW_CONNS 4
#define FW_MSG   ((size_t)sizeof(struct kw_msg))

enum { FK_NONE, FK_NEW, FK_DEV, FK_CHAN };
enum { EX_NONE, EX_DROP, EX_INFO, EX_ATTACH, EX_STAT };

struct fw_conn {
	int a;              /* the client's end */
	struct kpv_conn *c; /* the provider's end, in sc->conns */
	int kind;           /* FK_*: what the provider should think it is */
	uint32_t chan;      /* FK_CHAN: the channel */
};

static struct kupdev_softc *fw_sc;
static char fw_dir[64];
static int fw_null = -1;
static struct fw_conn fw_c[FW_CONNS];
static int fw_down; /* kupdev_shutdown was called: a new device for the next input */

static void fw_cleanup(void)
{
	if (fw_sc)
		kupdev_unload(fw_sc);
	fw_sc = NULL;
}

/*
 * A device in a fresh runtime directory.  The harness never connects by
 * name, so the socket and the directory go at once: nothing is left behind,
 * even when a finding kills the process.
 */
static void fw_make(void)
{
	strcpy(fw_dir, "/tmp/kup-fuzz-XXXXXX");
	if (!mkdtemp(fw_dir)) {
		perror("mkdtemp");
		exit(2);
	}
	setenv("KUP_RUNTIME_DIR", fw_dir, 1);
	fw_sc = kupdev_create("fz", FW_SIZE, FW_CHANS);
	if (!fw_sc) {
		fprintf(stderr, "fuzz_wire: cannot create the device\n");
		exit(2);
	}
	unlink(fw_sc->path);
	rmdir(fw_dir);
	fw_down = 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("KUP_QUIET", "1", 0);
	fw_make();
	fw_null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fw_null < 0)
		exit(2);
	atexit(fw_cleanup);
	return 0;
}

static int fw_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own fd */
}

/* c is still one of the device's connections. */
static int fw_alive(const struct kpv_conn *c)
{
	const struct kpv_conn *p;
	int r = 0;

	pthread_mutex_lock(&fw_sc->lock);
	for (p = fw_sc->conns; p; p = p->next)
		r |= p == c;
	pthread_mutex_unlock(&fw_sc->lock);
	return r;
}

static void fw_open(struct fw_conn *f)
{
	struct kpv_conn *c;
	int sv[2];

	FZ_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0, "%s",
	         strerror(errno));
	c = calloc(1, sizeof(*c));
	FZ_CHECK(c != NULL, "calloc");
	c->fd = sv[1];
	c->kind = KPV_CONN_NEW;
	pthread_mutex_lock(&fw_sc->lock);
	c->next = fw_sc->conns;
	fw_sc->conns = c;
	pthread_mutex_unlock(&fw_sc->lock);
	f->a = sv[0];
	f->c = c;
	f->kind = FK_NEW;
}

static void fw_forget(struct fw_conn *f)
{
	close(f->a);
	memset(f, 0, sizeof(*f));
	f->a = -1;
}

static int fw_holder(uint32_t chan)
{
	int i;

	for (i = 0; i < FW_CONNS; i++)
		if (fw_c[i].kind == FK_CHAN && fw_c[i].chan == chan)
			return 1;
	return 0;
}

/*
 * Map the memfds of a successful attach and check what the client gets:
 * with 3 (KW_CAP_CTL_RW) the kern control page read-write, the kern data
 * read-only only, the user block; with 2 the kern block read-only only and
 * the user block.
 */
static void fw_check_blocks(const int *fds, int nfd, uint32_t chan)
{
	size_t blk = KUP_BLOCK_LEN(FW_SIZE), ctl = nfd == 3 ? KUP_PAGE : 0;
	int kd = nfd - 2, ku = nfd - 1; /* the kern data (or whole block), the user block */
	const struct kup_uctl *uc;
	struct stat st;
	void *p;

	FZ_CHECK(!ctl || (fstat(fds[0], &st) == 0 && (size_t)st.st_size == ctl),
	         "kern control page memfd");
	FZ_CHECK(fstat(fds[kd], &st) == 0 && (size_t)st.st_size == blk - ctl, "kern data memfd");
	FZ_CHECK(fstat(fds[ku], &st) == 0 && (size_t)st.st_size == blk, "user block memfd");
	p = mmap(NULL, blk - ctl, PROT_READ | PROT_WRITE, MAP_SHARED, fds[kd], 0);
	FZ_CHECK(p == MAP_FAILED, "the kern data could be mapped writable");
	p = mmap(NULL, ctl ? ctl : blk, PROT_READ | (ctl ? PROT_WRITE : 0), MAP_SHARED, fds[0], 0);
	FZ_CHECK(p != MAP_FAILED, "kern control page: %s", strerror(errno));
	FZ_CHECK(kup_chan_check(p, FW_SIZE, chan) == 0, "kern block header");
	munmap(p, ctl ? ctl : blk);
	p = mmap(NULL, blk, PROT_READ | PROT_WRITE, MAP_SHARED, fds[ku], 0);
	FZ_CHECK(p != MAP_FAILED, "user block: %s", strerror(errno));
	uc = p;
	FZ_CHECK(uc->u.tw == 0 && uc->u.len == 0 && uc->u.wait == 0, "user block not fresh");
	munmap(p, blk);
}

/* A STAT reply's memfd: the device's header, then one line per channel. */
static void fw_check_stat(int fd)
{
	char text[8192];
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
	int lines = 0;
	char *p;

	FZ_CHECK(n > 0, "STAT text: %zd bytes", n);
	text[n] = '\0';
	FZ_CHECK(!strncmp(text, "kup-stat 1 name=", 16), "STAT header");
	for (p = text; (p = strchr(p, '\n')); p++)
		lines++;
	FZ_CHECK(lines == FW_CHANS + 1, "STAT text: %d lines", lines);
}

/*
 * The provider handles an event on f (as its monitor would); then read
 * every reply and hold them to the expectation.
 */
static void fw_event(struct fw_conn *f, uint32_t events, int expect, const struct kw_msg *req)
{
	int fds[KW_MAX_FDS], nfd, replies = 0, status = -1, alive, i;
	struct kw_msg m;
	ssize_t n;

	on_conn(fw_sc, f->c, events);
	alive = fw_alive(f->c);
	for (;;) {
		n = kw_recv(f->a, &m, fds, KW_MAX_FDS, &nfd, 1);
		if (n == -EAGAIN || n == 0 || n == -ECONNRESET)
			break;
		FZ_CHECK(n == (ssize_t)FW_MSG, "reply of %zd bytes", n);
		FZ_CHECK(m.magic == KW_MAGIC && m.abi == KUP_ABI_VERSION, "reply header");
		replies++;
		FZ_CHECK(expect == EX_INFO || expect == EX_ATTACH || expect == EX_STAT,
		         "unexpected reply type %u", (unsigned)m.type);
		FZ_CHECK(m.size == FW_SIZE && m.chan_cnt == FW_CHANS, "reply geometry");
		if (expect == EX_STAT) {
			FZ_CHECK(m.type == KW_STAT_REPLY && m.status == 0 && nfd == 1,
			         "STAT reply type %u status %u nfd %d", (unsigned)m.type,
			         (unsigned)m.status, nfd);
			fw_check_stat(fds[0]);
			close(fds[0]);
			continue;
		}
		if (expect == EX_INFO) {
			FZ_CHECK(m.type == KW_INFO_REPLY && m.status == 0 && nfd == 0 &&
			             m.state == (fw_down ? KUP_ST_SHUTDOWN : KUP_ST_OPEN),
			         "INFO reply type %u status %u nfd %d", (unsigned)m.type,
			         (unsigned)m.status, nfd);
			continue;
		}
		FZ_CHECK(m.type == KW_ATTACH_REPLY && m.chan == req->chan, "ATTACH reply type %u",
		         (unsigned)m.type);
		status = (int)m.status;
		FZ_CHECK(nfd == (status ? 0 : req->caps & KW_CAP_CTL_RW ? 3 : 2),
		         "status %d with %d fds", status, nfd);
		if (nfd)
			fw_check_blocks(fds, nfd, req->chan);
		for (i = 0; i < nfd; i++)
			close(fds[i]);
	}
	switch (expect) {
	case EX_NONE:
		FZ_CHECK(replies == 0 && alive, "ignored message: %d replies, alive %d", replies,
		         alive);
		break;
	case EX_DROP:
		FZ_CHECK(replies == 0 && !alive, "bad request: %d replies, alive %d", replies,
		         alive);
		break;
	case EX_STAT: /* one answer, then the provider hangs up */
		FZ_CHECK(replies == 1 && !alive, "STAT: %d replies, alive %d", replies, alive);
		break;
	case EX_INFO:
		FZ_CHECK(replies == 1 && alive, "INFO: %d replies, alive %d", replies, alive);
		f->kind = FK_DEV;
		break;
	case EX_ATTACH: {
		int want = req->abi != KUP_ABI_VERSION ? EKU_ABI
		           : req->chan >= FW_CHANS     ? EKU_RANGE
		           : req->size != FW_SIZE      ? EKU_BADSIZE
		           : fw_down                   ? EKU_SHUTDOWN
		           : fw_holder(req->chan)      ? EKU_BUSY
		                                       : 0;

		FZ_CHECK(replies == 1 && status == want,
		         "ATTACH chan %u size %u abi %u: status %d, want %d", (unsigned)req->chan,
		         (unsigned)req->size, (unsigned)req->abi, status, want);
		FZ_CHECK(alive == (want == 0), "ATTACH status %d, alive %d", status, alive);
		if (want == 0) {
			f->kind = FK_CHAN;
			f->chan = req->chan;
			FZ_CHECK(kupdev_attached(fw_sc, (int)req->chan) == 1, "not attached");
		}
		break;
	}
	}
	if (!alive) {
		if (f->kind == FK_CHAN)
			FZ_CHECK(kupdev_attached(fw_sc, (int)f->chan) == 0, "still attached");
		fw_forget(f);
	}
}

/* Send len bytes as one datagram, with nfd copies of a descriptor.  0 or -1. */
static int fw_send(int sock, const void *buf, size_t len, int nfd)
{
	union {
		char b[CMSG_SPACE(8 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;
	int i;

	if (nfd > 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.b;
		mh.msg_controllen = CMSG_SPACE((size_t)nfd * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN((size_t)nfd * sizeof(int));
		for (i = 0; i < nfd; i++)
			memcpy(CMSG_DATA(cm) + i * sizeof(int), &fw_null, sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* What the provider must do with this datagram (and nfd descriptors) on f. */
static int fw_expect(const struct fw_conn *f, const uint8_t *buf, size_t len, int nfd,
                     struct kw_msg *m)
{
	if (f->kind == FK_CHAN)
		return len == 0 ? EX_DROP : EX_NONE; /* an empty datagram reads as EOF */
	/* Not exactly one message (a longer one arrives truncated: malformed), or
	 * more descriptors than kw_recv takes (-EMFILE). */
	if (len != FW_MSG || nfd > 4)
		return EX_DROP;
	memcpy(m, buf, FW_MSG);
	if (m->magic != KW_MAGIC)
		return EX_DROP;
	if (m->type == KW_INFO)
		return EX_INFO;
	if (m->type == KW_ATTACH && f->kind == FK_NEW)
		return EX_ATTACH;
	if (m->type == KW_STAT && f->kind == FK_NEW)
		return EX_STAT;
	return EX_DROP;
}

/* A module thread asks for an attach without waiting. */
static void fw_module_wait(void)
{
	int r = kupdev_wait_channel_timed(fw_sc, KUP_NB, 0);

	if (fw_down)
		FZ_CHECK(r == -EKU_SHUTDOWN, "kupdev_wait_channel after shutdown: %d", r);
	else
		FZ_CHECK(r == -EKU_NOTREADY || (r >= 0 && r < FW_CHANS && fw_holder((uint32_t)r)),
		         "kupdev_wait_channel: %d", r);
}

/*
 * The module shuts the device down: every client is hung up.  (Clients the
 * harness connects after that stand for requests that were in flight; a
 * second shutdown has nothing left to do.)
 */
static void fw_shutdown(void)
{
	char b;
	int i;

	FZ_CHECK(kupdev_shutdown(fw_sc) == 0, "kupdev_shutdown");
	if (fw_down)
		return;
	fw_down = 1;
	FZ_CHECK(fw_sc->conns == NULL, "connections left after shutdown");
	for (i = 0; i < FW_CONNS; i++) {
		if (fw_c[i].kind == FK_NONE)
			continue;
		FZ_CHECK(recv(fw_c[i].a, &b, 1, MSG_DONTWAIT) == 0, "client %d not hung up", i);
		fw_forget(&fw_c[i]);
	}
}

/*
 * One step: a control byte, then its operands.
 *   bits 0-1  connection
 *   bits 2-3  0: a full-size message (raw bytes); 1: a structured message
 *             (flags, type, chan, size, abi: one byte each); 2: a raw
 *             datagram of any length (a length byte, then the bytes);
 *             3: no message: bit 4 set hangs up, else the module waits
 *             (bit 5 clear) or shuts the device down (bit 5 set)
 *   bit 4     (messages) pass descriptors along: 1 + bits 5-7 of them
 */
static void fw_step(struct fz_in *in)
{
	uint8_t ctl = fz_u8(in), buf[128];
	struct fw_conn *f = &fw_c[ctl & 3];
	struct kw_msg m;
	size_t len = FW_MSG;
	int op = (ctl >> 2) & 3, expect, nfd = ctl & 0x10 ? 1 + (ctl >> 5) : 0;

	if (op == 3 && !(ctl & 0x10)) {
		if (ctl & 0x20)
			fw_shutdown();
		else
			fw_module_wait();
		return;
	}
	if (f->kind == FK_NONE)
		fw_open(f);
	if (op == 3) {
		close(f->a);
		f->a = -1;
		on_conn(fw_sc, f->c, EPOLLIN | EPOLLHUP | EPOLLRDHUP);
		FZ_CHECK(!fw_alive(f->c), "a hung-up connection lives on");
		if (f->kind == FK_CHAN)
			FZ_CHECK(kupdev_attached(fw_sc, (int)f->chan) == 0, "still attached");
		memset(f, 0, sizeof(*f));
		f->a = -1;
		return;
	}
	if (op == 0) {
		fz_bytes(in, buf, FW_MSG);
	} else if (op == 1) {
		uint8_t fl = fz_u8(in);

		memset(&m, 0, sizeof(m));
		m.magic = fl & 1 ? fz_u32(in) : KW_MAGIC;
		m.type = fz_u8(in);
		m.chan = fz_u8(in);
		m.size = fz_u8(in);
		m.abi = fz_u8(in);
		if (fl & 2)
			m.status = fz_u32(in);
		if (fl & 4)
			m.caps = KW_CAP_CTL_RW;
		memcpy(buf, &m, FW_MSG);
	} else {
		len = fz_u8(in) % (sizeof(buf) + 1);
		fz_bytes(in, buf, len);
	}
	expect = fw_expect(f, buf, len, nfd, &m);
	if (fw_send(f->a, buf, len, nfd) < 0)
		return; /* nothing was sent: nothing to handle */
	fw_event(f, EPOLLIN, expect, &m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = {data, size};
	int i, steps = 0, fds0 = fw_fd_count();
	uint32_t ch;

	for (i = 0; i < FW_CONNS; i++)
		fw_c[i].a = -1;
	while (fz_more(&in) && steps++ < 64)
		fw_step(&in);
	/* Every client goes away. */
	for (i = 0; i < FW_CONNS; i++) {
		struct fw_conn *f = &fw_c[i];

		if (f->kind == FK_NONE)
			continue;
		close(f->a);
		on_conn(fw_sc, f->c, EPOLLIN | EPOLLHUP | EPOLLRDHUP);
		memset(f, 0, sizeof(*f));
	}
	FZ_CHECK(fw_sc->conns == NULL, "connections left");
	if (fw_down) { /* a fresh device for the next input */
		FZ_CHECK(kupdev_unload(fw_sc) == 0, "kupdev_unload");
		fw_make();
	}
	for (ch = 0; ch < FW_CHANS; ch++)
		FZ_CHECK(kupdev_attached(fw_sc, (int)ch) == 0, "channel %u still attached", ch);
	while (kupdev_wait_channel_timed(fw_sc, KUP_NB, 0) >= 0)
		FZ_CHECK(0, "an attach is handed out after its detach");
	FZ_CHECK(fw_fd_count() == fds0, "descriptors: %d before, %d after", fds0, fw_fd_count());
	return 0;
}
