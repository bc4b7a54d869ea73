/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kpv_dev.c - a provider device: the socket RUNDIR/NAME, a monitor thread
 * that answers requests and notices detaches, the attach queue, notify
 * and unload.  See uspace/kup_wire.h for the socket protocol.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "kpv.h"
#include "kup_stat.h"
#include "kup_wire.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x10
#endif

#define KPV_REPLY_MS 1000 /* a client that does not read its reply is dropped */

static int eku_of(int err)
{
	switch (err) {
	case ENOENT:
		return EKU_NOENT;
	case EACCES:
	case EPERM:
		return EKU_PERM;
	case ENOMEM:
	case ENOBUFS:
	case EMFILE:
	case ENFILE:
		return EKU_NOMEM;
	default:
		return EKU_SYS;
	}
}

/* --- Socket setup -------------------------------------------------------------- */

/* mkdir -p, new directories 0700.  0 or errno. */
static int make_dir(const char *dir)
{
	char buf[256];
	size_t i, n = strlen(dir);

	if (n == 0 || n >= sizeof(buf))
		return ENAMETOOLONG;
	memcpy(buf, dir, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return errno;
		buf[i] = dir[i];
	}
	return 0;
}

/* 1 when a live provider answers on path. */
static int socket_alive(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, r;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 1; /* cannot tell: never steal */
	strcpy(sa.sun_path, path);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	r = r == 0 || (errno != ECONNREFUSED && errno != ENOENT);
	close(fd);
	return r;
}

static int open_socket(struct kupdev_softc *sc, const struct kupdev_attr *attr)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char dir[256], *slash;
	mode_t mode = attr && attr->mode ? (attr->mode & 07777) : 0600;
	int fd, r, tries;

	if (kw_socket_path(sc->path, sizeof(sc->path), sc->name) ||
	    strlen(sc->path) >= sizeof(sa.sun_path))
		return -EKU_INVAL;
	strcpy(dir, sc->path);
	slash = strrchr(dir, '/');
	*slash = '\0';
	r = make_dir(dir);
	if (r)
		return -eku_of(r);
	strcpy(sa.sun_path, sc->path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -eku_of(errno);
	for (tries = 0;; tries++) {
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		r = errno;
		/* A socket left by a provider that died is replaced; a live one is not. */
		if (r != EADDRINUSE || tries > 0 || socket_alive(sc->path)) {
			close(fd);
			return r == EADDRINUSE ? -EKU_EXIST : -eku_of(r);
		}
		if (unlink(sc->path) < 0 && errno != ENOENT) {
			r = errno;
			close(fd);
			return -eku_of(r);
		}
	}
	if (chmod(sc->path, mode) < 0)
		goto fail;
	/* Root can give the endpoint away; others keep it unless asked otherwise. */
	if (attr && (geteuid() == 0 || attr->uid || attr->gid) &&
	    (attr->uid != geteuid() || attr->gid != getegid())) {
		if (chown(sc->path, attr->uid, attr->gid) < 0)
			goto fail;
	}
	if (listen(fd, 128) < 0)
		goto fail;
	sc->lsock = fd;
	return 0;
fail:
	r = errno;
	unlink(sc->path);
	close(fd);
	return -eku_of(r);
}

/* --- Connections --------------------------------------------------------------- */

static int watch(struct kupdev_softc *sc, struct kpv_conn *c)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};

	return epoll_ctl(sc->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0 ? -errno : 0;
}

/* Monitor thread only.  Removes c from sc->conns and closes it. */
static void conn_drop(struct kupdev_softc *sc, struct kpv_conn *c)
{
	struct kpv_conn **pp;

	epoll_ctl(sc->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	pthread_mutex_lock(&sc->lock);
	for (pp = &sc->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	close(c->fd); /* under sc->lock: kupdev_notify never sends to a reused fd */
	pthread_mutex_unlock(&sc->lock);
	free(c);
}

static void reply(int fd, struct kw_msg *m, uint32_t type, int status, const int *fds, int nfd)
{
	m->magic = KW_MAGIC;
	m->type = type;
	m->status = (uint32_t)(status < 0 ? -status : status);
	m->abi = KUP_ABI_VERSION;
	/* Best effort: a client that went away is noticed by its hang-up. */
	(void)kw_send(fd, m, fds, nfd, 1);
}

static void fill_info(struct kupdev_softc *sc, struct kw_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->size = sc->d.size;
	m->chan_cnt = sc->d.chan_cnt;
	pthread_mutex_lock(&sc->lock);
	m->notify = sc->notify_gen;
	m->state = sc->d.dead ? KUP_ST_SHUTDOWN : KUP_ST_OPEN;
	pthread_mutex_unlock(&sc->lock);
}

/* The process at the other end of connection fd, or 0 when the kernel does not say. */
static int64_t peer_pid(int fd)
{
	struct ucred cr;
	socklen_t n = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &n) < 0 || n != sizeof(cr))
		return 0;
	return cr.pid;
}

/* A fresh zeroed memfd of len bytes, mapped RW at at (NULL: anywhere, *map).  fd or -errno. */
static int new_block(const char *name, size_t len, void *at, void **map)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING), r;
	void *p;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)len) < 0)
		goto fail;
	p = mmap(at, len, PROT_READ | PROT_WRITE, MAP_SHARED | (at ? MAP_FIXED : 0), fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	if (map)
		*map = p;
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}

/*
 * The kern block, mapped RW at *map (blk bytes).  split: as two memfds, so
 * that the process can map the control page read-write and the data pages
 * read-only only (kup_abi.h): fds[0] the control page, fds[1] the data;
 * else one memfd, fds[0], for a client from before that.  0 or -errno,
 * fds[] set as far as it got.
 */
static int new_kern_block(size_t blk, int split, int fds[2], void **map)
{
	void *base;

	if (!split) {
		fds[0] = new_block("kup-kern", blk, NULL, map);
		return fds[0] < 0 ? fds[0] : 0;
	}
	base = mmap(NULL, blk, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return -errno;
	*map = base;
	fds[0] = new_block("kup-kctl", KUP_PAGE, base, NULL);
	if (fds[0] < 0)
		return fds[0];
	fds[1] = new_block("kup-k2u", blk - KUP_PAGE, (uint8_t *)base + KUP_PAGE, NULL);
	return fds[1] < 0 ? fds[1] : 0;
}

/* Drop a reference to one attach's blocks (under the channel's gate, or at free). */
void kpv_mem_put(struct kpv_mem *m)
{
	if (!m || --m->refs)
		return;
	munmap(m->kmap, m->len);
	munmap(m->umap, m->len);
	free(m);
}

/*
 * The channel an attach takes (sc->lock held): want when it is free; with
 * KUP_ATTACH_ANY else the lowest free one.  NULL: none.
 */
static struct kpv_chan *pick_locked(struct kupdev_softc *sc, uint32_t want, uint32_t flags)
{
	uint32_t i;

	if (!sc->chans[want].attached)
		return &sc->chans[want];
	if (!(flags & KUP_ATTACH_ANY))
		return NULL;
	for (i = 0; i < sc->d.chan_cnt; i++)
		if (!sc->chans[i].attached)
			return &sc->chans[i];
	return NULL;
}

/* Every channel is taken: c waits in line (KUP_ATTACH_WAIT) for one to be released. */
static void park(struct kupdev_softc *sc, struct kpv_conn *c, const struct kw_msg *req)
{
	c->kind = KPV_CONN_WAIT;
	c->req = *req;
	c->wnext = NULL;
	if (!sc->waiters_tail)
		sc->waiters_tail = &sc->waiters;
	*sc->waiters_tail = c;
	sc->waiters_tail = &c->wnext;
}

/* A parked attach withdrawn (its client gave up) before it got a channel. */
static void unpark(struct kupdev_softc *sc, struct kpv_conn *c)
{
	struct kpv_conn **pp;

	for (pp = &sc->waiters; *pp; pp = &(*pp)->wnext) {
		if (*pp == c) {
			*pp = c->wnext;
			break;
		}
	}
	sc->waiters_tail = &sc->waiters;
	while (*sc->waiters_tail)
		sc->waiters_tail = &(*sc->waiters_tail)->wnext;
}

static int do_attach(struct kupdev_softc *sc, struct kpv_conn *c, const struct kw_msg *req);

/* A channel was released: attaches in line take free channels, first come first served. */
static void serve_waiters(struct kupdev_softc *sc)
{
	struct kpv_conn *w;
	struct kw_msg req;
	int free_chan;

	while ((w = sc->waiters)) {
		pthread_mutex_lock(&sc->lock);
		free_chan = pick_locked(sc, 0, KUP_ATTACH_ANY) != NULL || sc->d.dead;
		pthread_mutex_unlock(&sc->lock);
		if (!free_chan)
			return;
		unpark(sc, w);
		w->kind = KPV_CONN_NEW;
		req = w->req;
		if (do_attach(sc, w, &req))
			conn_drop(sc, w);
	}
}

/*
 * ATTACH on connection c: fresh memory for every attach, so a process that
 * kept an old mapping never sees a new client's channel.
 */
static int do_attach(struct kupdev_softc *sc, struct kpv_conn *c, const struct kw_msg *req)
{
	size_t blk = KUP_BLOCK_LEN(sc->d.size);
	struct kpv_chan *ch = NULL;
	struct kpv_mem *mem = NULL, *old;
	void *kmap = NULL, *umap = NULL;
	int fds[3] = {-1, -1, -1}, r = 0, i;
	/* The client maps the kern control page on its own (read-write): 3 memfds, else 2. */
	int nk = (req->caps & KW_CAP_CTL_RW) ? 2 : 1;
	struct kw_msg m;

	memset(&m, 0, sizeof(m));
	m.chan = req->chan;
	m.size = sc->d.size;
	m.chan_cnt = sc->d.chan_cnt;
	r = kup_attach_check(req->abi, req->flags, req->chan, req->size, sc->d.size,
	                     sc->d.chan_cnt);
	if (r)
		goto refuse;
	pthread_mutex_lock(&sc->lock);
	if (sc->d.dead) {
		r = -EKU_SHUTDOWN;
	} else {
		ch = pick_locked(sc, req->chan, req->flags);
		if (ch)
			ch->attached = 1; /* reserved; the monitor is the only attacher */
		else
			r = -EKU_BUSY; /* never a takeover */
	}
	pthread_mutex_unlock(&sc->lock);
	if (r == -EKU_BUSY && (req->flags & KUP_ATTACH_WAIT)) {
		park(sc, c, req);
		return 0;
	}
	if (r)
		goto refuse;
	m.chan = ch->id;

	mem = calloc(1, sizeof(*mem));
	if (!mem) {
		r = -EKU_NOMEM;
		goto unreserve;
	}
	r = new_kern_block(blk, nk == 2, fds, &kmap);
	if (r < 0) {
		r = -eku_of(-r);
		goto unreserve;
	}
	fds[nk] = new_block("kup-user", blk, NULL, &umap);
	if (fds[nk] < 0) {
		r = -eku_of(-fds[nk]);
		goto unreserve;
	}
	kup_chan_format(kmap, umap, sc->d.size, ch->id, sc->d.chan_cnt);
	kup_chan_set_mode(kmap, req->flags); /* a stream attach (KUP_ATTACH_STREAM) */
	/* The client may map the kern data read-only only, and resize nothing. */
	for (i = 0; i <= nk; i++)
		if (fcntl(fds[i], F_ADD_SEALS,
		          F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL |
		              (i == nk - 1 ? F_SEAL_FUTURE_WRITE : 0)) < 0) {
			r = -eku_of(errno);
			goto unreserve;
		}

	/* Swap the channel's memory; callers of a detached channel leave promptly. */
	mem->kmap = kmap;
	mem->umap = umap;
	mem->len = blk;
	mem->refs = 1;
	kpv_gate_lock(&ch->gate);
	old = ch->mem;
	ch->mem = mem;
	if (old) {
		/* Threads still holding pointers into old keep it (core's loans). */
		old->refs += kup_loan_retire(&ch->c.loans, old);
		kpv_mem_put(old);
	}
	/* The module's next call wipes the private copy (it may be reading it now). */
	ch->wipe_copy = 1;
	kup_end_init(&ch->c.e, KUP_SIDE_KERN, kmap, umap, sc->d.size, &kpv_host_ops, ch);
	kup_end_set_mode(&ch->c.e, req->flags);
	ch->live = 1;
	/* An unload that began after our check must still see this channel shut. */
	pthread_mutex_lock(&sc->lock);
	ch->c.gen++;
	if (sc->d.dead) {
		kup_end_set_local(&ch->c.e, EKU_SHUTDOWN);
		kup_end_close(&ch->c.e, KUP_ST_SHUTDOWN);
	}
	pthread_mutex_unlock(&sc->lock);
	kpv_gate_unlock(&ch->gate);
	kmap = umap = NULL;
	mem = NULL;

	pthread_mutex_lock(&ch->conn_lock);
	ch->conn_fd = c->fd;
	pthread_mutex_unlock(&ch->conn_lock);
	c->kind = KPV_CONN_CHAN;
	c->ch = ch;

	reply(c->fd, &m, KW_ATTACH_REPLY, 0, fds, nk + 1);
	for (i = 0; i <= nk; i++)
		close(fds[i]);
	__atomic_fetch_add(&ch->c.attaches, 1, __ATOMIC_RELAXED);

	pthread_mutex_lock(&sc->lock);
	ch->conn = c;
	ch->pid = peer_pid(c->fd);
	kup_pend_push(&sc->d.pending, ch->id);
	pthread_cond_broadcast(&sc->cond);
	pthread_mutex_unlock(&sc->lock);
	return 0;

unreserve:
	free(mem);
	if (kmap)
		munmap(kmap, blk);
	if (umap)
		munmap(umap, blk);
	for (i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	pthread_mutex_lock(&sc->lock);
	ch->attached = 0;
	pthread_mutex_unlock(&sc->lock);
refuse:
	reply(c->fd, &m, KW_ATTACH_REPLY, r, NULL, 0);
	return r;
}

/* The process let channel ch go (closed, exited or died): fail pending calls. */
static void do_detach(struct kupdev_softc *sc, struct kpv_chan *ch)
{
	pthread_mutex_lock(&ch->conn_lock);
	ch->conn_fd = -1;
	pthread_mutex_unlock(&ch->conn_lock);
	kup_end_set_local(&ch->c.e, EKU_CLOSED);
	kpv_kick(ch);
	pthread_mutex_lock(&sc->lock);
	ch->attached = 0;
	ch->conn = NULL;
	ch->pid = 0;
	kup_pend_drop(&sc->d.pending, ch->id); /* gone before kupdev_wait_channel saw it */
	pthread_mutex_unlock(&sc->lock);
}

/*
 * KW_STAT (monitor thread): the device's state as core/kup_stat.h's text,
 * in a memfd.  Only the monitor swaps a channel's memory, so ch->mem is
 * stable here; sc->lock orders the rest with attaches and detaches.
 */
static void do_stat(struct kupdev_softc *sc, struct kpv_conn *c)
{
	char line[KUP_STAT_LINE];
	struct kw_msg m;
	uint32_t i, n;
	int fd, r = 0;

	memset(&m, 0, sizeof(m));
	m.size = sc->d.size;
	m.chan_cnt = sc->d.chan_cnt;
	fd = memfd_create("kup-stat", MFD_CLOEXEC);
	if (fd < 0) {
		reply(c->fd, &m, KW_STAT_REPLY, eku_of(errno), NULL, 0);
		return;
	}
	pthread_mutex_lock(&sc->lock);
	n = kup_stat_head(line, sc->name, &sc->d);
	for (i = 0; !r && i <= sc->d.chan_cnt; i++) {
		if (write(fd, line, n) != (ssize_t)n)
			r = eku_of(errno);
		if (i < sc->d.chan_cnt) {
			struct kpv_chan *ch = &sc->chans[i];
			struct kpv_mem *mem = ch->live ? ch->mem : NULL;

			n = kup_stat_chan(line, &ch->c, i, ch->pid, mem ? mem->kmap : NULL,
			                  mem ? mem->umap : NULL);
		}
	}
	pthread_mutex_unlock(&sc->lock);
	m.size = sc->d.size; /* geometry, as every reply; the text is the memfd's whole size */
	m.chan_cnt = sc->d.chan_cnt;
	if (r)
		reply(c->fd, &m, KW_STAT_REPLY, r, NULL, 0);
	else
		reply(c->fd, &m, KW_STAT_REPLY, 0, &fd, 1);
	close(fd);
}

static void on_conn(struct kupdev_softc *sc, struct kpv_conn *c, uint32_t events)
{
	struct kw_msg m;
	ssize_t n;

	if (c->kind == KPV_CONN_CHAN) {
		char buf[64];

		/* Nothing is expected from the client: EOF or error is the detach. */
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
			if (!(events & (EPOLLHUP | EPOLLERR)))
				return;
		do_detach(sc, c->ch);
		conn_drop(sc, c);
		serve_waiters(sc);
		return;
	}
	if (c->kind == KPV_CONN_WAIT) {
		char buf[64];

		/* A parked attach says nothing more: anything but silence withdraws it. */
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR) &&
		    !(events & (EPOLLHUP | EPOLLERR)))
			return;
		unpark(sc, c);
		conn_drop(sc, c);
		return;
	}
	n = kw_recv(c->fd, &m, NULL, 0, NULL, 1);
	if (n == -EAGAIN || n == -EINTR)
		return;
	if (n <= 0 || (size_t)n != sizeof(m) || m.magic != KW_MAGIC) {
		conn_drop(sc, c);
		return;
	}
	if (m.type == KW_INFO) {
		if (c->kind == KPV_CONN_NEW) {
			pthread_mutex_lock(&sc->lock);
			c->kind = KPV_CONN_DEV; /* kupdev_notify sends on it from now on */
			pthread_mutex_unlock(&sc->lock);
		}
		fill_info(sc, &m);
		reply(c->fd, &m, KW_INFO_REPLY, 0, NULL, 0);
		return;
	}
	if (m.type == KW_STAT && c->kind == KPV_CONN_NEW) {
		do_stat(sc, c);
		conn_drop(sc, c); /* one answer per connection */
		return;
	}
	if (m.type == KW_ATTACH && c->kind == KPV_CONN_NEW) {
		if (do_attach(sc, c, &m))
			conn_drop(sc, c);
		return;
	}
	conn_drop(sc, c); /* protocol error: drop the client */
}

static void on_accept(struct kupdev_softc *sc)
{
	struct kpv_conn *c;
	int fd;

	fd = accept4(sc->lsock, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0 && (errno == EMFILE || errno == ENFILE) && sc->spare_fd >= 0) {
		/*
		 * Out of fds: the listener stays readable and epoll would spin.
		 * Use the spare fd to accept the client and hang up on it.
		 */
		close(sc->spare_fd);
		fd = accept4(sc->lsock, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			close(fd);
		sc->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		return;
	}
	if (fd < 0)
		return; /* EAGAIN, ECONNABORTED: the client retries or fails */
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->kind = KPV_CONN_NEW;
	if (watch(sc, c)) {
		close(fd);
		free(c);
		return;
	}
	pthread_mutex_lock(&sc->lock);
	c->next = sc->conns;
	sc->conns = c;
	pthread_mutex_unlock(&sc->lock);
}

static void *monitor(void *arg)
{
	struct kupdev_softc *sc = arg;
	struct epoll_event evs[32];
	int i, n;

	for (;;) {
		n = epoll_wait(sc->epfd, evs, 32, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			KUP_LOG("provider %s: epoll_wait: %s\n", sc->name, strerror(errno));
			return NULL;
		}
		for (i = 0; i < n; i++) {
			struct kpv_conn *c = evs[i].data.ptr;

			if (c->kind == KPV_CONN_STOP)
				return NULL;
			if (c->kind == KPV_CONN_LISTEN)
				on_accept(sc);
			else
				on_conn(sc, c, evs[i].events);
		}
	}
}

/* --- Create and unload ------------------------------------------------------------ */

static void sc_free(struct kupdev_softc *sc)
{
	uint32_t i;

	for (i = 0; sc->chans && i < sc->d.chan_cnt; i++) {
		struct kpv_chan *ch = &sc->chans[i];
		struct kpv_mem *m;

		while ((m = kup_loan_drain(&ch->c.loans)))
			kpv_mem_put(m);
		kpv_mem_put(ch->mem);
		free(ch->rx_copy);
		pthread_mutex_destroy(&ch->conn_lock);
	}
	free(sc->chans);
	free(sc->pend_mem);
	if (sc->epfd >= 0)
		close(sc->epfd);
	if (sc->stopfd >= 0)
		close(sc->stopfd);
	if (sc->spare_fd >= 0)
		close(sc->spare_fd);
	pthread_cond_destroy(&sc->cond);
	pthread_mutex_destroy(&sc->lock);
	sc->magic = 0;
	free(sc);
}

static int sc_init_locks(struct kupdev_softc *sc)
{
	pthread_condattr_t ca;
	int r;

	if (pthread_mutex_init(&sc->lock, NULL))
		return -EKU_NOMEM;
	if (pthread_condattr_init(&ca)) {
		pthread_mutex_destroy(&sc->lock);
		return -EKU_NOMEM;
	}
	r = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) || pthread_cond_init(&sc->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (r) {
		pthread_mutex_destroy(&sc->lock);
		return -EKU_NOMEM;
	}
	return 0;
}

/* core's contract (kup_os.h): the device and its endpoint, for checked arguments. */
struct kupdev_softc *kup_os_dev_create(const char *name, uint32_t size, uint32_t chan_cnt,
                                       const struct kupdev_attr *attr, int *err)
{
	struct kupdev_softc *sc;
	sigset_t all, old;
	uint32_t i;
	int r;

	sc = calloc(1, sizeof(*sc));
	if (!sc) {
		*err = EKU_NOMEM;
		return NULL;
	}
	sc->lsock = sc->epfd = sc->stopfd = sc->spare_fd = -1;
	if (sc_init_locks(sc)) {
		free(sc);
		*err = EKU_NOMEM;
		return NULL;
	}
	strcpy(sc->name, name);
	sc->chans = calloc(chan_cnt, sizeof(*sc->chans));
	sc->pend_mem = calloc(1, KUP_PEND_BYTES(chan_cnt));
	if (!sc->chans || !sc->pend_mem) {
		r = -EKU_NOMEM;
		goto fail;
	}
	kup_dev_setup(&sc->d, size, chan_cnt, sc->pend_mem, KUP_DEFAULT_SPIN_NS);
	for (i = 0; i < chan_cnt; i++) {
		struct kpv_chan *ch = &sc->chans[i];

		ch->sc = sc;
		ch->id = i;
		ch->conn_fd = -1;
		ch->rx_copy = malloc((size_t)size * KUP_PAGE);
		if (!ch->rx_copy || pthread_mutex_init(&ch->conn_lock, NULL)) {
			/* sc_free destroys every channel's lock: init the rest first */
			for (; i < chan_cnt; i++)
				pthread_mutex_init(&sc->chans[i].conn_lock, NULL);
			r = -EKU_NOMEM;
			goto fail;
		}
		ch->c.e.rx_copy = ch->rx_copy;
	}
	sc->epfd = epoll_create1(EPOLL_CLOEXEC);
	sc->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	sc->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (sc->epfd < 0 || sc->stopfd < 0 || sc->spare_fd < 0) {
		r = -eku_of(errno);
		goto fail;
	}
	r = open_socket(sc, attr);
	if (r)
		goto fail;
	sc->lconn = (struct kpv_conn){.fd = sc->lsock, .kind = KPV_CONN_LISTEN};
	sc->sconn = (struct kpv_conn){.fd = sc->stopfd, .kind = KPV_CONN_STOP};
	if (watch(sc, &sc->lconn) || watch(sc, &sc->sconn)) {
		r = -eku_of(errno);
		goto fail_sock;
	}
	/* The monitor takes no signals: they belong to the service's own threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&sc->mon, NULL, monitor, sc);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		r = -EKU_NOMEM;
		goto fail_sock;
	}
	sc->mon_started = 1;
	sc->magic = KPV_MAGIC;
	return sc;

fail_sock:
	unlink(sc->path);
	close(sc->lsock);
fail:
	sc_free(sc);
	*err = -r;
	return NULL;
}

/*
 * Shut the device down: every waiter on both sides wakes with
 * EKU_SHUTDOWN, processes are detached, new calls fail.  sc stays valid.
 * Returns 0 the first time, 1 when it was down already.
 */
static int sc_shutdown(struct kupdev_softc *sc)
{
	struct kpv_conn *c, *next;
	uint64_t one = 1;
	uint32_t i;

	pthread_mutex_lock(&sc->lock);
	if (sc->d.dead) {
		pthread_mutex_unlock(&sc->lock);
		return 1;
	}
	__atomic_store_n(&sc->d.dead, 1, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&sc->cond); /* wait_channel callers */
	pthread_mutex_unlock(&sc->lock);

	/* New connections are refused from here; existing ones are closed below. */
	unlink(sc->path);

	/* 1: every call blocked on a channel returns -EKU_SHUTDOWN. */
	for (i = 0; i < sc->d.chan_cnt; i++) {
		kup_end_set_local(&sc->chans[i].c.e, EKU_SHUTDOWN);
		kpv_kick(&sc->chans[i]);
	}
	/* 2: publish the shutdown to every process, under the channel lock (core
	 *    calls on one end are serialised), and wake it. */
	for (i = 0; i < sc->d.chan_cnt; i++) {
		struct kpv_chan *ch = &sc->chans[i];

		kpv_gate_lock(&ch->gate);
		if (ch->live)
			kup_end_close(&ch->c.e, KUP_ST_SHUTDOWN);
		kpv_gate_unlock(&ch->gate);
	}
	/* 3: stop the monitor, then close every connection: POLLHUP for readiness fds. */
	if (write(sc->stopfd, &one, sizeof(one)) != sizeof(one))
		KUP_LOG("provider %s: cannot stop the monitor: %s\n", sc->name, strerror(errno));
	else
		pthread_join(sc->mon, NULL);
	pthread_mutex_lock(&sc->lock);
	for (c = sc->conns; c; c = next) {
		next = c->next;
		if (c->kind == KPV_CONN_CHAN) {
			pthread_mutex_lock(&c->ch->conn_lock);
			c->ch->conn_fd = -1;
			pthread_mutex_unlock(&c->ch->conn_lock);
		}
		close(c->fd);
		free(c);
	}
	sc->conns = NULL;
	close(sc->lsock);
	sc->lsock = -1;
	pthread_mutex_unlock(&sc->lock);
	return 0;
}

int kup_os_dev_shutdown(struct kupdev_softc *sc)
{
	if (!sc || sc->magic != KPV_MAGIC)
		return -EKU_INVAL;
	kpv_hold(sc); /* an unload that finds the device down waits for us to finish */
	sc_shutdown(sc);
	kup_os_leave(sc);
	return 0;
}

int kup_os_dev_unload(struct kupdev_softc *sc)
{
	uint32_t i;

	if (!sc || sc->magic != KPV_MAGIC)
		return -EKU_INVAL;
	pthread_mutex_lock(&sc->lock);
	if (sc->unloading) {
		pthread_mutex_unlock(&sc->lock);
		return -EKU_SHUTDOWN; /* another thread is unloading it */
	}
	sc->unloading = 1;
	pthread_mutex_unlock(&sc->lock);
	sc_shutdown(sc);
	/* Wait until no caller is inside a kupdev_* call on sc, then free it. */
	kpv_count_drain(&sc->inside);
	for (i = 0; i < sc->d.chan_cnt; i++)
		kpv_count_drain(&sc->chans[i].gate.n);
	sc_free(sc);
	return 0;
}

/* --- core's contract for device-wide calls (kup_os.h) --------------------------------- */

/*
 * Device-wide calls are counted in sc->inside (channel calls by their
 * channel's gate).  enter: count, then look at the shutdown; unload: set
 * it, then drain the count (kpv_gate.h).  Both full-fenced, so either the
 * caller sees the shutdown or unload sees the caller and waits for it.
 */
int kup_os_enter(struct kupdev_softc *sc)
{
	if (!sc || sc->magic != KPV_MAGIC)
		return -EKU_INVAL;
	kpv_count_enter(&sc->inside);
	if (__atomic_load_n(&sc->d.dead, __ATOMIC_SEQ_CST)) {
		kup_os_leave(sc);
		return -EKU_SHUTDOWN;
	}
	return 0;
}

void kup_os_leave(struct kupdev_softc *sc)
{
	kpv_count_leave(&sc->inside); /* sc may be freed from here */
}

void kup_os_dev_lock(struct kupdev_softc *sc)
{
	pthread_mutex_lock(&sc->lock);
}

void kup_os_dev_unlock(struct kupdev_softc *sc)
{
	pthread_mutex_unlock(&sc->lock);
}

struct kup_chan *kup_os_chan(struct kupdev_softc *sc, uint32_t id)
{
	return &sc->chans[id].c;
}

int kup_os_attached(struct kupdev_softc *sc, uint32_t id)
{
	return sc->chans[id].attached && sc->chans[id].conn != NULL;
}

int kup_os_attach_sleep(struct kupdev_softc *sc, int64_t timeout_ns)
{
	struct timespec ts;
	int r = 0;

	pthread_mutex_lock(&sc->lock);
	if (!sc->d.pending.cnt && !sc->d.dead) { /* under the lock: no attach slips by */
		if (timeout_ns < 0) {
			r = pthread_cond_wait(&sc->cond, &sc->lock);
		} else {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += timeout_ns / 1000000000;
			ts.tv_nsec += timeout_ns % 1000000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			r = pthread_cond_timedwait(&sc->cond, &sc->lock, &ts);
		}
	}
	pthread_mutex_unlock(&sc->lock);
	return r == ETIMEDOUT ? -EKU_TIMEDOUT : 0;
}

/* Every device handle (a connection of kind DEV) gets the new generation. */
void kup_os_notify(struct kupdev_softc *sc)
{
	struct kpv_conn *c;
	struct kw_msg m;

	pthread_mutex_lock(&sc->lock);
	sc->notify_gen++;
	memset(&m, 0, sizeof(m));
	m.magic = KW_MAGIC;
	m.type = KW_NOTIFY;
	m.abi = KUP_ABI_VERSION;
	m.size = sc->d.size;
	m.chan_cnt = sc->d.chan_cnt;
	m.notify = sc->notify_gen;
	for (c = sc->conns; c; c = c->next)
		if (c->kind == KPV_CONN_DEV)
			(void)kw_send(c->fd, &m, NULL, 0, 1); /* full: it has notifies pending */
	pthread_mutex_unlock(&sc->lock);
}
