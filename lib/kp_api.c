/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kp_api.c - libkup's public calls: handles, name resolution, errors and
 * the channel operations.  Every protocol step is a kup_end_* call in
 * core/; the backends (kp_backend.h) only open, map, sleep and wake.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kp_backend.h"
#include "kup_stream.h"
#include "kup_turn.h"
#include "kup_wire.h"

#define KP_API __attribute__((visibility("default")))

static __thread int kp_tls_errno;

KP_API int *kernproxy_errno_location(void)
{
	return &kp_tls_errno;
}

int kp_errno_to_eku(int err)
{
	switch (err) {
	case 0:
		return 0;
	case ENOENT:
	case ENODEV:
	case ENXIO:
	case ECONNREFUSED:
		return -EKU_NOENT;
	case EACCES:
	case EPERM:
		return -EKU_PERM;
	case ENOMEM:
	case ENOBUFS:
		return -EKU_NOMEM;
	case EINTR:
		return -EKU_INTR;
	case ETIMEDOUT:
		return -EKU_TIMEDOUT;
	case EPIPE:
	case ECONNRESET:
		return -EKU_CLOSED;
	default:
		return -EKU_SYS;
	}
}

int kp_fd_hung_up(int fd)
{
	struct pollfd p = {.fd = fd, .events = 0};

	return fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)) != 0;
}

/* --- Registry of live handles ----------------------------------------------
 * Non-hot calls look a handle up here before touching it, so a closed,
 * garbage or NULL pointer is EKU_INVAL rather than a use-after-free.
 */
static void dev_note(struct kp_dev *d, int code);

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static void **reg_tab;
static size_t reg_cnt, reg_cap;

static int reg_add(void *p)
{
	pthread_mutex_lock(&reg_lock);
	if (reg_cnt == reg_cap) {
		size_t ncap = reg_cap ? reg_cap * 2 : 16;
		void **n = realloc(reg_tab, ncap * sizeof(*n));

		if (!n) {
			pthread_mutex_unlock(&reg_lock);
			return -EKU_NOMEM;
		}
		reg_tab = n;
		reg_cap = ncap;
	}
	reg_tab[reg_cnt++] = p;
	pthread_mutex_unlock(&reg_lock);
	return 0;
}

/* Called with reg_lock held. */
static int reg_find_locked(const void *p)
{
	size_t i;

	if (!p)
		return -1;
	for (i = 0; i < reg_cnt; i++)
		if (reg_tab[i] == p)
			return (int)i;
	return -1;
}

/* Called with reg_lock held.  1 when p was live (and is now removed). */
static int reg_del_locked(const void *p)
{
	int i = reg_find_locked(p);

	if (i < 0)
		return 0;
	reg_tab[i] = reg_tab[--reg_cnt];
	return 1;
}

/* The live object's magic, or 0 when p is no live handle. */
static uint32_t reg_kind(const void *p)
{
	uint32_t m = 0;

	pthread_mutex_lock(&reg_lock);
	if (reg_find_locked(p) >= 0)
		m = *(const uint32_t *)p;
	pthread_mutex_unlock(&reg_lock);
	return m;
}

/*
 * 1 when h is a live handle of this kind.  Otherwise 0 with kernproxy_errno
 * EKU_INVAL, also recorded as kernproxy_error() of h when h is a live handle
 * of the other kind (a device passed where a channel belongs, or back).
 */
static int reg_is(void *h, uint32_t kind)
{
	int i;

	pthread_mutex_lock(&reg_lock);
	i = reg_find_locked(h);
	if (i >= 0 && *(uint32_t *)h == kind) {
		pthread_mutex_unlock(&reg_lock);
		return 1;
	}
	if (i >= 0 && *(uint32_t *)h == KP_DEV_MAGIC)
		dev_note(h, EKU_INVAL);
	else if (i >= 0 && *(uint32_t *)h == KP_CHAN_MAGIC)
		__atomic_store_n(&((struct kp_chan *)h)->err, EKU_INVAL, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&reg_lock);
	kp_tls_errno = EKU_INVAL;
	return 0;
}

/* --- Errors ------------------------------------------------------------------ */

static void *fail_ptr(int *herr, int code)
{
	if (code < 0)
		code = -code;
	kp_tls_errno = code;
	if (herr) /* a device handle's error may be set by several threads */
		__atomic_store_n(herr, code, __ATOMIC_RELAXED);
	return NULL;
}

static int fail_int(int *herr, int code)
{
	fail_ptr(herr, code);
	return -1;
}

/*
 * A device handle's error: the last error of a call on it or on one of its
 * channels (the seed checks kernproxy_error(device) after a channel call
 * failed).  EKU_SHUTDOWN stays once seen: the device does not come back.
 */
static void dev_note(struct kp_dev *d, int code)
{
	int old = __atomic_load_n(&d->err, __ATOMIC_RELAXED);

	while (old != EKU_SHUTDOWN &&
	       !__atomic_compare_exchange_n(&d->err, &old, code, 0, __ATOMIC_RELAXED,
	                                    __ATOMIC_RELAXED))
		;
}

static void *dev_fail_ptr(struct kp_dev *d, int code)
{
	if (code < 0)
		code = -code;
	kp_tls_errno = code;
	dev_note(d, code);
	return NULL;
}

/*
 * A channel's call failed with a core code: report it on the channel, the
 * thread and the channel's device handle.  A channel whose peer vanished
 * (EKU_CLOSED) on a device that is gone tells its device handle so.
 */
static void *chan_fail_ptr(struct kp_chan *c, int code)
{
	if (code < 0)
		code = -code;
	kp_tls_errno = code;
	__atomic_store_n(&c->err, code, __ATOMIC_RELAXED);
	if (code == EKU_CLOSED && c->dev->ops->gone && c->dev->ops->gone(c->dev))
		dev_note(c->dev, EKU_SHUTDOWN);
	else
		dev_note(c->dev, code);
	return NULL;
}

static int chan_fail(struct kp_chan *c, int r)
{
	chan_fail_ptr(c, r);
	return -1;
}

KP_API const char *kernproxy_strerror(int code)
{
	return kup_core_strerror(code);
}

KP_API int kernproxy_error(void *handle)
{
	int err = EKU_INVAL;

	pthread_mutex_lock(&reg_lock);
	if (reg_find_locked(handle) >= 0) {
		uint32_t m = *(uint32_t *)handle;

		if (m == KP_DEV_MAGIC)
			err = __atomic_load_n(&((struct kp_dev *)handle)->err, __ATOMIC_RELAXED);
		else if (m == KP_CHAN_MAGIC)
			err = __atomic_load_n(&((struct kp_chan *)handle)->err, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&reg_lock);
	return err;
}

/* --- Devices ------------------------------------------------------------------ */

enum kp_kind { KP_KERNEL, KP_PROVIDER };

static const struct kp_backend_ops *backend(enum kp_kind k, int *code)
{
	if (k == KP_PROVIDER) {
#ifdef KP_NO_PROVIDER
		/* Built without the provider backend (FreeBSD: lib/kp_prov.c is
		 * Linux-only): a provider device is one that does not exist. */
		*code = -EKU_NOENT;
		return NULL;
#else
		return &kp_prov_ops;
#endif
	}
#ifdef KP_HAVE_KDEV
	return &kp_kdev_ops;
#else
	KUP_LOG("kernel devices are not supported by this build of libkup "
	        "(built without lib/kp_kdev.c); use a provider device\n");
	*code = -EKU_NOENT;
	return NULL;
#endif
}

/*
 * Name -> backend and path, as kup.h documents it.  0 or -EKU_*.
 */
static int resolve(const char *name, char *path, size_t len, const struct kp_backend_ops **ops)
{
	const char *force = getenv("KUP_BACKEND");
	struct stat st;
	int code = 0, n;

	if (!name || !name[0])
		return -EKU_INVAL;
	if (strchr(name, '/')) {
		if (strlen(name) >= len)
			return -EKU_INVAL;
		if (stat(name, &st) < 0)
			return kp_errno_to_eku(errno);
		strcpy(path, name);
		if (S_ISCHR(st.st_mode))
			*ops = backend(KP_KERNEL, &code);
		else if (S_ISSOCK(st.st_mode))
			*ops = backend(KP_PROVIDER, &code);
		else
			return -EKU_NOENT; /* neither a device node nor a provider socket */
		return code;
	}
	if (!kup_name_ok(name))
		return -EKU_INVAL;
	if (force && *force && strcmp(force, "kernel") && strcmp(force, "provider")) {
		KUP_LOG("KUP_BACKEND=%s: expected kernel or provider\n", force);
		return -EKU_INVAL;
	}
	if (!(force && !strcmp(force, "provider"))) {
		n = snprintf(path, len, "/dev/%s", name);
		if (n < 0 || (size_t)n >= len)
			return -EKU_INVAL;
		if ((force && !strcmp(force, "kernel")) ||
		    (stat(path, &st) == 0 && S_ISCHR(st.st_mode))) {
			*ops = backend(KP_KERNEL, &code);
			return code;
		}
	}
	if (kw_socket_path(path, len, name))
		return -EKU_INVAL;
	*ops = backend(KP_PROVIDER, &code);
	return code;
}

static void dev_free(struct kp_dev *d)
{
	d->ops->close(d);
	pthread_mutex_destroy(&d->lock);
	pthread_mutex_destroy(&d->notify_lock);
	d->magic = KP_DEAD_MAGIC;
	free(d);
}

static void dev_put(struct kp_dev *d)
{
	int last;

	pthread_mutex_lock(&d->lock);
	last = --d->refs == 0;
	pthread_mutex_unlock(&d->lock);
	if (last)
		dev_free(d);
}

KP_API void *kernproxy_open(char const *name)
{
	const struct kp_backend_ops *ops = NULL;
	struct kp_dev *d;
	int r;

	d = calloc(1, sizeof(*d));
	if (!d)
		return fail_ptr(NULL, EKU_NOMEM);
	d->fd = -1;
	r = resolve(name, d->path, sizeof(d->path), &ops);
	if (r) {
		free(d);
		return fail_ptr(NULL, r);
	}
	d->ops = ops;
	d->refs = 1;
	d->timeout_ns = KP_FOREVER;
	if (pthread_mutex_init(&d->lock, NULL)) {
		free(d);
		return fail_ptr(NULL, EKU_NOMEM);
	}
	if (pthread_mutex_init(&d->notify_lock, NULL)) {
		pthread_mutex_destroy(&d->lock);
		free(d);
		return fail_ptr(NULL, EKU_NOMEM);
	}
	r = ops->open(d);
	if (r) {
		pthread_mutex_destroy(&d->lock);
		pthread_mutex_destroy(&d->notify_lock);
		free(d);
		return fail_ptr(NULL, r);
	}
	r = ops->info(d, &d->info);
	if (!r && d->info.abi != KUP_ABI_VERSION)
		r = -EKU_ABI;
	if (!r && d->info.state == KUP_ST_SHUTDOWN)
		r = -EKU_SHUTDOWN;
	d->notify_seen = d->info.notify;
	d->magic = KP_DEV_MAGIC;
	if (!r)
		r = reg_add(d);
	if (r) {
		dev_free(d);
		return fail_ptr(NULL, r);
	}
	return d;
}

/* --- Channels ----------------------------------------------------------------- */

/*
 * Closed channel structs are kept for reuse, never freed: a call made with
 * a handle after kernproxy_close (a bug, like using a closed fd) then finds
 * a dead magic, or a channel opened since, instead of freed memory.
 */
static struct kp_chan *chan_pool;

static struct kp_chan *chan_alloc(void)
{
	struct kp_chan *c;

	pthread_mutex_lock(&reg_lock);
	c = chan_pool;
	if (c)
		chan_pool = c->next;
	pthread_mutex_unlock(&reg_lock);
	if (!c)
		return calloc(1, sizeof(*c));
	memset(c, 0, sizeof(*c));
	return c;
}

static void chan_recycle(struct kp_chan *c)
{
	__atomic_store_n(&c->magic, KP_DEAD_MAGIC, __ATOMIC_RELAXED);
	free(c->bounce);
	c->bounce = NULL;
	pthread_mutex_lock(&reg_lock);
	c->next = chan_pool;
	chan_pool = c;
	pthread_mutex_unlock(&reg_lock);
}

#define KP_ATTACH_FLAGS (KP_NB | KP_EXACT | KP_STREAM)

KP_API void *kernproxy_attach(void *handle, size_t chan_id, size_t size, int flags)
{
	struct kp_dev *d = handle;
	struct kp_chan *c;
	int64_t tmo;
	int r;

	if (!reg_is(handle, KP_DEV_MAGIC))
		return NULL;
	if (flags & ~KP_ATTACH_FLAGS)
		return dev_fail_ptr(d, EKU_INVAL);
	if (chan_id >= d->info.chan_cnt)
		return dev_fail_ptr(d, EKU_RANGE);
	if (size == 0 || size != d->info.size)
		return dev_fail_ptr(d, EKU_BADSIZE);
	c = chan_alloc();
	if (!c)
		return dev_fail_ptr(d, EKU_NOMEM);
	c->fd = -1;
	c->dev = d;
	c->ops = d->ops;
	c->chan = (uint32_t)chan_id;
	c->size = (uint32_t)size;
	c->timeout_ns = KP_FOREVER;
	/*
	 * The seed's attach: chan_id when it is free, else the lowest free
	 * channel, else wait for one (bounded by the device handle's timeout;
	 * 0 or KP_NB: EKU_BUSY at once).  KP_EXACT: chan_id or EKU_BUSY.
	 */
	tmo = __atomic_load_n(&d->timeout_ns, __ATOMIC_RELAXED);
	if (!(flags & KP_EXACT)) {
		c->attach_flags = KUP_ATTACH_ANY;
		if (!(flags & KP_NB) && tmo != 0)
			c->attach_flags |= KUP_ATTACH_WAIT;
	}
	c->attach_timeout = tmo < 0 ? KP_FOREVER : tmo;
	if (flags & KP_STREAM)
		c->attach_flags |= KUP_ATTACH_STREAM;
	r = d->ops->attach(d, c);
	if (r) {
		free(c);
		return dev_fail_ptr(d, r);
	}
	r = kup_chan_check(c->map, c->size, c->chan);
	if (r) {
		d->ops->detach(c);
		free(c);
		return dev_fail_ptr(d, r);
	}
	kup_end_init(&c->e, KUP_SIDE_USER, c->map, (uint8_t *)c->map + KUP_BLOCK_LEN(c->size),
	             c->size, &d->ops->host, c);
	/* Both sides agree on the mode: a side that made a turn channel of a stream request is no
	 * peer. */
	if (!(flags & KP_STREAM) != !c->e.stream) {
		kup_end_close(&c->e, KUP_ST_CLOSING);
		d->ops->detach(c);
		free(c);
		return dev_fail_ptr(d, EKU_ABI);
	}
	c->magic = KP_CHAN_MAGIC;
	r = reg_add(c);
	if (r) {
		kup_end_close(&c->e, KUP_ST_CLOSING);
		d->ops->detach(c);
		free(c);
		return dev_fail_ptr(d, r);
	}
	pthread_mutex_lock(&d->lock);
	d->refs++;
	c->next = d->chans;
	d->chans = c;
	pthread_mutex_unlock(&d->lock);
	return c;
}

KP_API void *kernproxy_channel(void *handle, size_t chan_id, size_t size)
{
	return kernproxy_attach(handle, chan_id, size, 0);
}

KP_API int kernproxy_channel_id(void *channel)
{
	if (!reg_is(channel, KP_CHAN_MAGIC))
		return -1;
	return (int)((struct kp_chan *)channel)->chan;
}

/* Tear down a channel that was removed from the registry by the caller. */
static void chan_destroy(struct kp_chan *c)
{
	struct kp_dev *d = c->dev;
	struct kp_chan **pp;

	pthread_mutex_lock(&d->lock);
	for (pp = &d->chans; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	pthread_mutex_unlock(&d->lock);
	/* Publish our leaving unless the channel is dead already. */
	if (c->e.state == KUP_ST_OPEN)
		kup_end_close(&c->e, KUP_ST_CLOSING);
	c->ops->detach(c);
	chan_recycle(c);
	dev_put(d);
}

KP_API void kernproxy_close(void *handle)
{
	struct kp_chan *list = NULL, *c, **pp;
	struct kp_dev *d;
	uint32_t m = 0;

	pthread_mutex_lock(&reg_lock);
	if (reg_find_locked(handle) >= 0)
		m = *(uint32_t *)handle;
	if (m == KP_CHAN_MAGIC) {
		reg_del_locked(handle);
		pthread_mutex_unlock(&reg_lock);
		chan_destroy(handle);
		return;
	}
	if (m != KP_DEV_MAGIC) {
		pthread_mutex_unlock(&reg_lock);
		fail_ptr(NULL, EKU_INVAL);
		return;
	}
	/*
	 * A device: claim it and every channel nobody else is closing (those
	 * others unlink themselves from d->chans under d->lock).
	 */
	d = handle;
	reg_del_locked(d);
	pthread_mutex_lock(&d->lock);
	for (pp = &d->chans; *pp;) {
		c = *pp;
		if (reg_del_locked(c)) {
			*pp = c->next;
			c->next = list;
			list = c;
		} else {
			pp = &c->next;
		}
	}
	pthread_mutex_unlock(&d->lock);
	pthread_mutex_unlock(&reg_lock);
	while (list) {
		c = list;
		list = c->next;
		c->next = NULL;
		chan_destroy(c);
	}
	dev_put(d);
}

/* Hot-path handle check: the magic only (kup.h: one thread per channel). */
static struct kp_chan *chan_get(void *h)
{
	struct kp_chan *c = h;

	if (!c || c->magic != KP_CHAN_MAGIC) {
		reg_is(h, KP_CHAN_MAGIC); /* the slow path: records a misused device handle */
		kp_tls_errno = EKU_INVAL;
		return NULL;
	}
	if (c->armed > 0) {
		kup_end_disarm(&c->e, KUP_WAIT_FD);
		c->armed = 0;
	}
	return c;
}

#define KP_FLAGS (KP_NB | KP_POLL)

/* A message call's handle and flags: the channel, or NULL with the error recorded. */
static struct kp_chan *chan_call(void *h, int flags)
{
	struct kp_chan *c = chan_get(h);

	if (c && (flags & ~KP_FLAGS)) {
		chan_fail_ptr(c, EKU_INVAL);
		return NULL;
	}
	return c;
}

/*
 * The message calls' common case runs first, in line (kup_turn.h): a live
 * channel handle, not armed, good flags, and the turn ours now.  Anything
 * else goes the full way (*_full), which records errors.
 */
static KUP_ALWAYS_INLINE int chan_quick(const struct kp_chan *c, int flags)
{
	return c && c->magic == KP_CHAN_MAGIC && c->armed <= 0 && !(flags & ~KP_FLAGS);
}

KUP_HOT KUP_NOINLINE static void *receive_full(void *channel, size_t *len, int flags)
{
	struct kp_chan *c = chan_call(channel, flags);
	const void *data;
	uint32_t l;
	int r;

	if (!c)
		return NULL;
	r = kup_end_recv(&c->e, flags, c->timeout_ns, &data, &l, 0);
	if (r)
		return chan_fail_ptr(c, r);
	if (len)
		*len = l;
	return (void *)data;
}

KUP_HOT KP_API void *kernproxy_receive_len(void *channel, size_t *len, int flags)
{
	struct kp_chan *c = channel;
	const void *data;
	uint32_t l;

	if (!chan_quick(c, flags) || !kup_end_recv_now(&c->e, 0, &data, &l))
		return receive_full(channel, len, flags);
	if (len)
		*len = l;
	return (void *)data;
}

KP_API void *kernproxy_receive(void *channel, int flags)
{
	return kernproxy_receive_len(channel, NULL, flags);
}

KUP_HOT KUP_NOINLINE static int send_full(void *channel, void *data, size_t len, int flags)
{
	struct kp_chan *c = chan_call(channel, flags);
	int r;

	if (!c)
		return -1;
	r = kup_end_send(&c->e, data, len, flags, c->timeout_ns);
	return r ? chan_fail(c, r) : 0;
}

KUP_HOT KP_API int kernproxy_send(void *channel, void *data, size_t len, int flags)
{
	struct kp_chan *c = channel;

	if (!chan_quick(c, flags) || !kup_end_send_now(&c->e, data, len))
		return send_full(channel, data, len, flags);
	return 0;
}

KUP_HOT KUP_NOINLINE static void *send_recv_full(void *channel, const void *data, size_t len,
                                                 size_t *rlen, int flags)
{
	struct kp_chan *c = chan_call(channel, flags);
	const void *reply;
	uint32_t l;
	int r;

	if (!c)
		return NULL;
	r = kup_end_send_recv(&c->e, data, len, flags, c->timeout_ns, &reply, &l, 0);
	if (r)
		return chan_fail_ptr(c, r);
	if (rlen)
		*rlen = l;
	return (void *)reply;
}

/* The send half the quick way when it can be; the reply (which has to come) the full way. */
KUP_HOT KP_API void *kernproxy_send_recv(void *channel, const void *data, size_t len, size_t *rlen,
                                         int flags)
{
	struct kp_chan *c = channel;

	if (!chan_quick(c, flags) || !kup_end_send_now(&c->e, data, len))
		return send_recv_full(channel, data, len, rlen, flags);
	return receive_full(channel, rlen, flags);
}

KUP_HOT KP_API int kernproxy_pass(void *channel, int flags)
{
	struct kp_chan *c = chan_call(channel, flags);
	int r;

	if (!c)
		return -1;
	r = kup_end_pass(&c->e, flags, c->timeout_ns);
	return r ? chan_fail(c, r) : 0;
}

KUP_HOT KP_API void *kernproxy_send_buf(void *channel, size_t *cap, int flags)
{
	struct kp_chan *c = chan_call(channel, flags);
	void *buf;
	uint32_t l;
	int r;

	if (!c)
		return NULL;
	r = kup_end_txbuf(&c->e, flags, c->timeout_ns, &buf, &l);
	if (r)
		return chan_fail_ptr(c, r);
	if (cap)
		*cap = l;
	return buf;
}

KUP_HOT KP_API int kernproxy_send_commit(void *channel, size_t len)
{
	struct kp_chan *c = chan_get(channel);
	int r;

	if (!c)
		return -1;
	r = kup_end_commit(&c->e, len);
	return r ? chan_fail(c, r) : 0;
}

KP_API size_t kernproxy_capacity(void *channel)
{
	if (!reg_is(channel, KP_CHAN_MAGIC))
		return 0;
	return ((struct kp_chan *)channel)->e.cap;
}

KP_API int kernproxy_set_timeout(void *handle, int64_t timeout_ns)
{
	uint32_t m = reg_kind(handle);

	if (timeout_ns < 0)
		timeout_ns = KP_FOREVER;
	if (m == KP_CHAN_MAGIC) {
		((struct kp_chan *)handle)->timeout_ns = timeout_ns;
		return 0;
	}
	if (m == KP_DEV_MAGIC) { /* bounds kernproxy_channel's wait for a free channel */
		__atomic_store_n(&((struct kp_dev *)handle)->timeout_ns, timeout_ns,
		                 __ATOMIC_RELAXED);
		return 0;
	}
	return fail_int(NULL, EKU_INVAL);
}

KP_API int kernproxy_set_spin(void *channel, int64_t spin_ns)
{
	struct kp_chan *c = channel;

	if (!reg_is(channel, KP_CHAN_MAGIC))
		return -1;
	c->e.spin_ns = spin_ns < 0 ? -1 : spin_ns;
	return 0;
}

KP_API int kernproxy_fd(void *handle)
{
	uint32_t m = reg_kind(handle);

	if (m == KP_CHAN_MAGIC)
		return ((struct kp_chan *)handle)->fd;
	if (m == KP_DEV_MAGIC) /* readable: a notify came, or the device went away */
		return ((struct kp_dev *)handle)->fd;
	return fail_int(NULL, EKU_INVAL);
}

KP_API int kernproxy_arm(void *channel)
{
	struct kp_chan *c = channel;
	int gone = 0, r;

	if (!c || c->magic != KP_CHAN_MAGIC) {
		reg_is(c, KP_CHAN_MAGIC);
		return fail_int(NULL, EKU_INVAL);
	}
	/* Drain first: a wake sent after kup_end_arm() must stay readable. */
	if (c->ops->drain) {
		r = c->ops->drain(c);
		if (r == -EKU_CLOSED || r == -EKU_SHUTDOWN)
			gone = 1;
		else if (r)
			return chan_fail(c, r);
	}
	r = kup_end_arm(&c->e, KUP_WAIT_FD);
	c->armed = 1;
	if (r == 0 && gone) {
		/* The other side vanished without publishing it (it died). */
		kup_end_set_local(&c->e, EKU_CLOSED);
		r = 1;
	}
	return r;
}

KP_API int kernproxy_wait_notify(void *handle, int64_t timeout_ns)
{
	struct kp_dev *d;
	uint32_t m = reg_kind(handle);
	int r;

	if (m == KP_CHAN_MAGIC)
		d = ((struct kp_chan *)handle)->dev;
	else if (m == KP_DEV_MAGIC)
		d = handle;
	else
		return fail_int(NULL, EKU_INVAL);
	pthread_mutex_lock(&d->notify_lock);
	r = d->ops->wait_notify(d, &d->notify_seen, timeout_ns < 0 ? -1 : timeout_ns);
	pthread_mutex_unlock(&d->notify_lock);
	if (r) {
		if (m == KP_DEV_MAGIC) {
			dev_fail_ptr(d, r);
			return -1;
		}
		return chan_fail(handle, r);
	}
	return 0;
}

KP_API int kernproxy_stats(void *channel, struct kernproxy_stats *st)
{
	struct kp_chan *c = channel;

	if (!reg_is(channel, KP_CHAN_MAGIC))
		return -1;
	if (!st)
		return chan_fail(c, EKU_INVAL);
	st->sent = c->e.cnt.sent;
	st->received = c->e.cnt.received;
	st->bytes_sent = c->e.cnt.bytes_sent;
	st->bytes_received = c->e.cnt.bytes_received;
	st->sleeps = c->e.cnt.sleeps;
	st->wakeups = c->e.cnt.wakeups;
	st->timeouts = c->e.cnt.timeouts;
	st->errors = c->e.cnt.errors + c->e.cnt.proto_errors;
	return 0;
}

/* --- Streaming ------------------------------------------------------------------ */

KP_API int kernproxy_stream_send(void *channel, const struct kup_iovec *msgs, size_t n, int flags)
{
	struct kp_chan *c = chan_call(channel, flags);
	int r;

	if (!c)
		return -1;
	r = kup_stream_send(&c->e, msgs, n, flags, c->timeout_ns);
	return r < 0 ? chan_fail(c, r) : r;
}

KP_API int kernproxy_stream_recv(void *channel, struct kup_iovec *msgs, size_t n, int flags)
{
	struct kp_chan *c = chan_call(channel, flags);
	int r;

	if (!c)
		return -1;
	r = kup_stream_recv(&c->e, msgs, n, flags, c->timeout_ns);
	return r < 0 ? chan_fail(c, r) : r;
}

KP_API int kernproxy_stream_peek(void *channel, struct kup_iovec *msgs, size_t n, int flags)
{
	struct kp_chan *c = chan_call(channel, flags);
	int r;

	if (!c)
		return -1;
	if (!c->e.stream)
		return chan_fail(c, EKU_INVAL);
	/* Room for the one record a peek may find wrapping the ring's end. */
	if (!c->bounce && !(c->bounce = malloc(kup_stream_max_msg(&c->e))))
		return chan_fail(c, EKU_NOMEM);
	r = kup_stream_peek(&c->e, msgs, n, flags, c->timeout_ns, c->bounce);
	return r < 0 ? chan_fail(c, r) : r;
}

KP_API int kernproxy_stream_release(void *channel, size_t n)
{
	struct kp_chan *c = chan_get(channel);
	int r;

	if (!c)
		return -1;
	r = kup_stream_release(&c->e, n);
	return r ? chan_fail(c, r) : 0;
}

int kp_stream_ready(struct kp_chan *c)
{
	int r;

	if (!chan_get(c))
		return -1;
	r = kup_stream_poll(&c->e);
	if (r == -EKU_NOTREADY)
		return 0;
	return r ? chan_fail(c, r) : 1;
}

KP_API int kernproxy_stream_arm(void *channel, int events, size_t room)
{
	struct kp_chan *c = channel;
	uint32_t want = 0;
	int gone = 0, r;

	if (!c || c->magic != KP_CHAN_MAGIC) {
		reg_is(c, KP_CHAN_MAGIC);
		return fail_int(NULL, EKU_INVAL);
	}
	if (!c->e.stream || !events || (events & ~(KP_STREAM_IN | KP_STREAM_OUT)))
		return chan_fail(c, EKU_INVAL);
	if (events & KP_STREAM_IN)
		want |= KUP_SW_RECV;
	if (events & KP_STREAM_OUT)
		want |= KUP_SW_SEND;
	/* As kernproxy_arm: drain first, so a wake sent after the announcement stays readable. */
	if (c->ops->drain) {
		r = c->ops->drain(c);
		if (r == -EKU_CLOSED || r == -EKU_SHUTDOWN)
			gone = 1;
		else if (r)
			return chan_fail(c, r);
	}
	r = kup_stream_arm(&c->e, want, room > UINT32_MAX ? UINT32_MAX : (uint32_t)room);
	c->armed = 1;
	if (r == 0 && gone) {
		kup_end_set_local(&c->e, EKU_CLOSED);
		r = 1;
	}
	return r;
}

KP_API size_t kernproxy_stream_max(void *channel)
{
	if (!reg_is(channel, KP_CHAN_MAGIC))
		return 0;
	return kup_stream_max_msg(&((struct kp_chan *)channel)->e);
}
