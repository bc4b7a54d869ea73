/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kp_prov.c - libkup's backend for user-mode provider devices: a Unix
 * socket per handle (uspace/kup_wire.h), memfds for the channel blocks,
 * futexes on the shared turn words.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "kp_backend.h"
#include "kup_wire.h"

/* A control reply that takes longer than this means the provider is stuck. */
#define PROV_REPLY_MS 10000
/* Sleep slice: between slices we look for a provider that died. */
#define PROV_SLICE_NS 250000000LL

static int connect_to(const char *path, int *out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -EKU_INVAL;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kp_errno_to_eku(errno);
	do
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		r = kp_errno_to_eku(errno); /* ECONNREFUSED: a stale socket: EKU_NOENT */
		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

/* Wait up to ms for fd to become readable.  0, or -EKU_*. */
static int wait_readable(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int n;

	do
		n = poll(&p, 1, ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return kp_errno_to_eku(errno);
	if (n == 0)
		return -EKU_TIMEDOUT;
	return 0;
}

static int prov_open(struct kp_dev *d)
{
	return connect_to(d->path, &d->fd);
}

/*
 * Wait until fd is readable, at most until end (a kup_now_ns() time; < 0:
 * forever).  A signal does not extend the wait.  0, or -EKU_*.
 */
static int wait_readable_until(int fd, int64_t end)
{
	int64_t left;
	int r;

	for (;;) {
		if (end < 0)
			return wait_readable(fd, -1);
		left = end - kup_now_ns();
		if (left <= 0)
			return -EKU_TIMEDOUT;
		r = wait_readable(fd, (int)(left > 86400000000000LL ? 86400000 : (left + 999999) / 1000000));
		if (r != -EKU_TIMEDOUT)
			return r;
	}
}

/*
 * A reply's message, or a notify generation seen on the way.  end: see
 * wait_readable_until; 0 means the usual PROV_REPLY_MS.  0 or -EKU_*.
 */
static int recv_reply_until(int fd, uint32_t type, struct kw_msg *m, int *fds, int *nfd,
                            uint32_t *notify, int64_t end)
{
	ssize_t n;
	int r;

	for (;;) {
		r = end ? wait_readable_until(fd, end) : wait_readable(fd, PROV_REPLY_MS);
		if (r)
			return r;
		n = kw_recv(fd, m, fds, fds ? KW_MAX_FDS : 0, nfd, 1);
		if (n == -EAGAIN)
			continue;
		if (n == 0 || n == -ECONNRESET)
			return -EKU_SHUTDOWN; /* the provider closed the device */
		if (n < 0) {
			errno = (int)-n; /* EKU_SYS: see errno (EMFILE: no descriptor for the blocks) */
			return kp_errno_to_eku((int)-n);
		}
		if ((size_t)n != sizeof(*m) || m->magic != KW_MAGIC)
			goto bad;
		if (m->type == KW_NOTIFY && notify) {
			*notify = m->notify;
			continue;
		}
		if (m->type != type)
			goto bad;
		return 0;
	bad:
		if (nfd)
			while (*nfd > 0)
				close(fds[--*nfd]);
		return -EKU_PROTO;
	}
}

static int recv_reply(int fd, uint32_t type, struct kw_msg *m, int *fds, int *nfd, uint32_t *notify)
{
	return recv_reply_until(fd, type, m, fds, nfd, notify, 0);
}

static int prov_info(struct kp_dev *d, struct kup_ioc_info *out)
{
	struct kw_msg m = {.magic = KW_MAGIC, .type = KW_INFO, .abi = KUP_ABI_VERSION};
	uint32_t gen;
	int r;

	r = kw_send(d->fd, &m, NULL, 0, 0);
	if (r)
		return r == -EPIPE ? -EKU_SHUTDOWN : kp_errno_to_eku(-r);
	r = recv_reply(d->fd, KW_INFO_REPLY, &m, NULL, NULL, &gen);
	if (r)
		return r;
	if (m.status)
		return -(int)m.status;
	memset(out, 0, sizeof(*out));
	out->abi = m.abi;
	out->size = m.size;
	out->chan_cnt = m.chan_cnt;
	out->notify = m.notify;
	out->state = m.state;
	return 0;
}

/* 1 when fd is a file of len bytes. */
static int sized(int fd, size_t len)
{
	struct stat st;

	return fstat(fd, &st) == 0 && (size_t)st.st_size == len;
}

/*
 * The channel from the attach reply's memfds, in one contiguous range: the
 * kern control page (read-write: kup_abi.h), the kern data pages (sealed
 * read-only) and the user block; from a provider from before that (2 fds),
 * the kern block as one memfd, read-only.
 */
static int map_blocks(struct kp_chan *c, const int *fds, int nfd)
{
	size_t blk = KUP_BLOCK_LEN(c->size), ctl = nfd == 3 ? KUP_PAGE : 0;
	int ufd = fds[nfd - 1], r;
	void *base, *p;

	if ((ctl && !sized(fds[0], ctl)) || !sized(fds[nfd - 2], blk - ctl) || !sized(ufd, blk))
		return -EKU_PROTO;
	base = mmap(NULL, 2 * blk, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return kp_errno_to_eku(errno);
	p = ctl ? mmap(base, ctl, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fds[0], 0) : base;
	if (p == MAP_FAILED)
		goto fail;
	p = mmap((uint8_t *)base + ctl, blk - ctl, PROT_READ, MAP_SHARED | MAP_FIXED, fds[nfd - 2],
	         0);
	if (p == MAP_FAILED)
		goto fail;
	p = mmap((uint8_t *)base + blk, blk, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, ufd,
	         0);
	if (p == MAP_FAILED)
		goto fail;
	/* A forked child does not share the channel (kup.ko: VM_DONTCOPY). */
	if (madvise(base, 2 * blk, MADV_DONTFORK) < 0)
		goto fail;
	c->map = base;
	c->map_len = 2 * blk;
	return 0;
fail:
	r = kp_errno_to_eku(errno);
	munmap(base, 2 * blk);
	return r;
}

static int prov_attach(struct kp_dev *d, struct kp_chan *c)
{
	struct kw_msg m = {.magic = KW_MAGIC,
	                   .type = KW_ATTACH,
	                   .abi = KUP_ABI_VERSION,
	                   .chan = c->chan,
	                   .size = c->size,
	                   .flags = c->attach_flags,
	                   .caps = KW_CAP_CTL_RW};
	int fds[KW_MAX_FDS], nfd = 0, fd, r;
	int64_t end = 0;

	r = connect_to(d->path, &fd);
	if (r)
		return r == -EKU_NOENT ? -EKU_SHUTDOWN : r; /* it was there at open */
	r = kw_send(fd, &m, NULL, 0, 0);
	if (r) {
		r = r == -EPIPE ? -EKU_SHUTDOWN : kp_errno_to_eku(-r);
		goto out;
	}
	/*
	 * A waiting attach (every channel taken) is answered when one is
	 * released; giving up closes the connection, which withdraws it.
	 */
	if (c->attach_flags & KUP_ATTACH_WAIT) {
		int64_t now = kup_now_ns();

		end = c->attach_timeout < 0 || c->attach_timeout > INT64_MAX - now
		          ? -1
		          : now + c->attach_timeout;
	}
	r = recv_reply_until(fd, KW_ATTACH_REPLY, &m, fds, &nfd, NULL, end);
	if (r)
		goto out;
	if (m.status) {
		r = -(int)m.status;
	} else if (nfd < 2 || m.chan >= d->info.chan_cnt) {
		r = -EKU_PROTO;
	} else {
		c->chan = m.chan; /* KUP_ATTACH_ANY: the channel the provider gave us */
		r = map_blocks(c, fds, nfd);
	}
	while (nfd > 0)
		close(fds[--nfd]); /* the mapping keeps the memory */
out:
	if (r)
		close(fd);
	else
		c->fd = fd;
	return r;
}

static void prov_detach(struct kp_chan *c)
{
	if (c->map)
		munmap(c->map, c->map_len);
	c->map = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* 1 when the provider hung up the channel connection. */
static int hung_up(int fd)
{
	struct pollfd p = {.fd = fd, .events = 0};

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

/*
 * Sleep on the kern side's tw.  Slices of PROV_SLICE_NS let us notice a
 * provider that died without publishing it; a live one wakes us at once.
 */
static int prov_sleep(struct kup_end *e, const uint32_t *peer_tw, uint32_t seen, int64_t timeout_ns)
{
	struct kp_chan *c = e->host;
	int64_t end = timeout_ns < 0 ? -1 : kup_now_ns() + timeout_ns;
	struct timespec ts;
	int64_t slice;
	long r;

	for (;;) {
		slice = PROV_SLICE_NS;
		if (end >= 0) {
			int64_t left = end - kup_now_ns();

			if (left <= 0)
				return -EKU_TIMEDOUT;
			if (left < slice)
				slice = left;
		}
		kp_ns_to_ts(slice, &ts);
		r = syscall(SYS_futex, peer_tw, FUTEX_WAIT, seen, &ts, NULL, 0);
		if (r == 0)
			return 0;
		switch (errno) {
		case EAGAIN:
			return 0; /* the word changed before we slept */
		case EINTR:
			return -EKU_INTR;
		case ETIMEDOUT:
			break;
		default:
			return -EKU_SYS;
		}
		if (hung_up(c->fd)) {
			if (kup_load_acquire(peer_tw) != seen)
				return 0; /* it published its state: core reads it */
			kup_end_set_local(e, EKU_CLOSED);
			return -EKU_CLOSED;
		}
	}
}

static void prov_wake(struct kup_end *e, uint32_t bits)
{
	(void)bits;
	/* Shared futex on the user tw: the provider waits on the same memfd page. */
	syscall(SYS_futex, &e->mine->tw, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static int prov_drain(struct kp_chan *c)
{
	char buf[64];
	ssize_t n;

	for (;;) {
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0)
			continue;
		if (n == 0)
			return -EKU_CLOSED;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return kp_errno_to_eku(errno) == -EKU_SYS ? -EKU_SYS : -EKU_CLOSED;
	}
}

static int prov_wait_notify(struct kp_dev *d, uint32_t *seen, int64_t timeout_ns)
{
	int64_t end = timeout_ns < 0 ? -1 : kup_now_ns() + timeout_ns;
	struct kw_msg m;
	ssize_t n;
	int ms, r;

	for (;;) {
		/* Take all that is queued: notifies coalesce, and the device fd
		 * (kernproxy_fd) stays readable only for news. */
		while ((n = kw_recv(d->fd, &m, NULL, 0, NULL, 1)) != -EAGAIN) {
			if (n == 0 || n == -ECONNRESET)
				return -EKU_SHUTDOWN;
			if (n < 0)
				return kp_errno_to_eku((int)-n);
			if ((size_t)n == sizeof(m) && m.magic == KW_MAGIC && m.type == KW_NOTIFY)
				d->info.notify = m.notify;
		}
		if (d->info.notify != *seen) {
			*seen = d->info.notify;
			return 0;
		}
		ms = -1;
		if (end >= 0) {
			int64_t left = end - kup_now_ns();

			if (left <= 0)
				return -EKU_TIMEDOUT;
			ms = (int)((left + 999999) / 1000000);
		}
		r = wait_readable(d->fd, ms);
		if (r && r != -EKU_TIMEDOUT) /* a timeout: re-check the deadline in ns */
			return r;
	}
}

/* The device's fd hangs up once it shuts down (kup.ko: POLLHUP; provider: EOF). */
static int prov_gone(struct kp_dev *dev)
{
	return kp_fd_hung_up(dev->fd);
}

static void prov_close(struct kp_dev *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

const struct kp_backend_ops kp_prov_ops = {
    .name = "provider",
    .open = prov_open,
    .info = prov_info,
    .attach = prov_attach,
    .detach = prov_detach,
    .host = {.sleep = prov_sleep, .wake = prov_wake},
    .drain = prov_drain,
    .wait_notify = prov_wait_notify,
    .gone = prov_gone,
    .close = prov_close,
};
