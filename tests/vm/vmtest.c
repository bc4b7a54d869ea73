// SPDX-License-Identifier: BSD-2-Clause
/*
 * vmtest.c - kup.ko's own tests, run inside the VM against kupvt.ko
 * (tests/vm/kupvt_mod.c).  They talk to /dev/kupvt through the raw device
 * ABI (ioctl + mmap) and core/, not libkup, so they can also do what libkup
 * never does: map wrongly, write garbage into the control page, rewrite a
 * message the kernel is reading, die while attached.
 * Built static (the initramfs has no libc).  Needs kup.ko and kupvt.ko
 * loaded; the unload test reloads kupvt from /mod/kupvt.ko.
 * The same file is the FreeBSD VM suite's (tests/freebsd/vm): there the
 * memory checks read kup.ko's malloc type and the wired page count instead
 * of memory cgroups and /proc/meminfo, kqueue stands in for epoll,
 * kupvt's parameters are sysctls, and the few Linux-only mechanisms
 * (mremap, MADV_DOFORK, /proc/PID/mem, memory cgroups) are left out.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <pthread.h>
#ifdef __FreeBSD__
#include <sys/param.h>
#include <sys/event.h>
#include <sys/linker.h>
#include <sys/malloc.h>
#include <sys/sysctl.h>
#else
#include <sys/epoll.h>
#include <sys/mount.h>
#endif

#include "kt.h"
#include "kup_core.h"
#include "vm_chan.h"

#define DEV    "/dev/kupvt"
#define SECOND 1000000000LL
/* Bound of a wait for the module: a hang guard, generous for TCG on a loaded host. */
#define SOON (30 * SECOND)

struct vt {
	int fd;
	uint8_t *map;
	size_t len, blk;
	uint32_t chan;
	struct kup_end e;
};

static int vt_sleep(struct kup_end *e, const uint32_t *peer_tw, uint32_t seen, int64_t tmo)
{
	return vm_ioc_sleep(((struct vt *)e->host)->fd, seen, tmo);
}

static void vt_wake(struct kup_end *e, uint32_t bits)
{
	vm_ioc_wake(((struct vt *)e->host)->fd);
}

static const struct kup_host_ops vt_ops = {.sleep = vt_sleep, .wake = vt_wake};

/* Attach channel chan: 0, or -errno of the step that failed. */
static int vt_open_dev(struct vt *v, const char *dev, uint32_t chan)
{
	struct kup_ioc_attach a = {.abi = KUP_ABI_VERSION, .chan = chan, .size = 1};

	memset(v, 0, sizeof(*v));
	v->chan = chan;
	v->blk = KUP_BLOCK_LEN(1);
	v->len = KUP_MAP_LEN(1);
	v->fd = open(dev, O_RDWR | O_CLOEXEC);
	if (v->fd < 0)
		return -errno;
	if (ioctl(v->fd, KUP_IOC_ATTACH, &a) < 0)
		goto fail;
	KT_EQ(a.map_len, v->len);
	KT_ASSERT(a.flags & KUP_ATTACH_CTL_RW);
	v->map = vm_map_chan(v->fd, 1);
	if (!v->map)
		goto fail;
#ifdef __FreeBSD__
	/* As libkup does: FreeBSD's driver cannot keep a forked child from the mapping. */
	KT_EQ(minherit(v->map, v->len, INHERIT_NONE), 0);
#endif
	KT_EQ(kup_chan_check(v->map, 1, chan), 0);
	kup_end_init(&v->e, KUP_SIDE_USER, v->map, v->map + v->blk, 1, &vt_ops, v);
	return 0;
fail:
	a.abi = -errno;
	close(v->fd);
	v->fd = -1;
	return (int)a.abi;
}

static int vt_open(struct vt *v, uint32_t chan)
{
	return vt_open_dev(v, DEV, chan);
}

static void vt_close(struct vt *v)
{
	if (v->map)
		munmap(v->map, v->len);
	if (v->fd >= 0)
		close(v->fd);
	v->map = NULL;
	v->fd = -1;
}

/* Receive the module's hello for this attach. */
static void vt_hello(struct vt *v)
{
	const void *d;
	uint32_t len;

	KT_EQ(kup_end_recv(&v->e, 0, SOON, &d, &len, 0), 0);
	KT_EQ(len, 8);
	KT_ASSERT(!memcmp(d, "KVTH", 4));
	KT_EQ(((const uint32_t *)d)[1], v->chan);
}

/* Sleep in KUP_IOC_WAIT until the kern tw shows state st (10 s at most). */
static uint32_t vt_wait_kern_state(struct vt *v, uint32_t st)
{
	const struct kup_kctl *kc = (const struct kup_kctl *)v->map;
	struct kup_ioc_wait w = {.timeout_ns = SOON};
	struct kup_uctl *uc = (struct kup_uctl *)(v->map + v->blk);
	uint32_t tw;

	/* Announce the sleep (as core does), or nobody wakes us. */
	__atomic_store_n(&uc->u.wait, KUP_WAIT_SLEEP, __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (;;) {
		tw = __atomic_load_n(&kc->k.tw, __ATOMIC_ACQUIRE);
		if (KUP_TW_STATE(tw) == st)
			return st;
		w.seen = tw;
		if (ioctl(v->fd, KUP_IOC_WAIT, &w) < 0 && errno != EINTR)
			return 100 + errno;
	}
}

/* Until the module announced that it sleeps for our message (it is inside kupdev_recv). */
static void vt_wait_module_asleep(struct vt *v)
{
	const struct kup_kctl *kc = (const struct kup_kctl *)v->map;
	int i;

	for (i = 0; i < 10000; i++) {
		if (__atomic_load_n(&kc->k.wait, __ATOMIC_ACQUIRE) & KUP_WAIT_SLEEP)
			return;
		usleep(1000);
	}
	KT_FAIL("the module never went to sleep in kupdev_recv");
}

static uint32_t sum(const uint8_t *p, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

#ifdef __FreeBSD__
/* Bytes of kup.ko's malloc type ("kup") in use, from kern.malloc_stats (vmstat -m). */
static long kup_malloc_bytes(void)
{
	const struct malloc_type_stream_header *h;
	const struct malloc_type_header *t;
	const struct malloc_type_stats *st;
	size_t len = 0, off;
	long v = -1;
	char *buf;
	uint32_t i, c;

	KT_EQ(sysctlbyname("kern.malloc_stats", NULL, &len, NULL, 0), 0);
	len += len / 4;
	buf = malloc(len);
	KT_ASSERT(buf);
	KT_EQ(sysctlbyname("kern.malloc_stats", buf, &len, NULL, 0), 0);
	h = (const void *)buf;
	off = sizeof(*h);
	for (i = 0; i < h->mtsh_count && off < len; i++) {
		t = (const void *)(buf + off);
		off += sizeof(*t);
		st = (const void *)(buf + off);
		off += sizeof(*st) * h->mtsh_maxcpus;
		if (strcmp(t->mth_name, "kup"))
			continue;
		for (v = 0, c = 0; c < h->mtsh_maxcpus; c++)
			v += (long)(st[c].mts_memalloced - st[c].mts_memfreed);
	}
	free(buf);
	KT_ASSERT(v >= 0);
	return v;
}

/* Wired memory in KiB (vm.stats.vm.v_wire_count): the channels' pages are wired. */
static long wired_kb(void)
{
	u_int n = 0;
	size_t len = sizeof(n);

	KT_EQ(sysctlbyname("vm.stats.vm.v_wire_count", &n, &len, NULL, 0), 0);
	return (long)n * (getpagesize() / 1024);
}

/* A reading once it is below limit, polled for 10 s at most: memory freed late is no leak. */
static long below(long (*get)(void), long limit)
{
	long v = get();
	int i;

	for (i = 0; i < 100 && v >= limit; i++) {
		usleep(100000);
		v = get();
	}
	return v;
}

/* Slack of the wired page count: other kernel memory comes and goes meanwhile. */
#define CG_SLACK_KB 1024

static void put_uint(const char *name, unsigned int n)
{
	if (sysctlbyname(name, NULL, NULL, &n, sizeof(n)) != 0)
		KT_FAIL("sysctl %s=%u: %s", name, n, strerror(errno));
}
#else
#include "vm_proc.h"

/*
 * memcg charges go through a per-CPU stock of up to 64 pages: a reading
 * may be off by that much per CPU (2 here) either way.
 */
#define CG_SLACK_KB 1024

/*
 * A /proc/meminfo value once it is below limit, polled for 10 s at most:
 * memory freed late (RCU, workqueues, a slow emulated CPU) is no leak.
 * A real leak stays above the limit and fails the caller's check.
 */
static long meminfo_below(const char *key, long limit)
{
	long long end = kt_now_us() + 10 * 1000000LL;
	long v = meminfo(key);

	while (v >= limit && kt_now_us() < end) { /* by time: reading Slab shrinks the caches */
		usleep(100000);
		v = meminfo(key);
	}
	return v;
}

/* memory.current of cgroup NAME once it is below limit, polled for 10 s at most (as meminfo_below).
 */
static long cg_kb_below(const char *name, long limit)
{
	long v = cg_kb(name);
	int i;

	for (i = 0; i < 100 && v >= limit; i++) {
		usleep(100000);
		v = cg_kb(name);
	}
	return v;
}

#endif

KT_TEST(device_node_is_root_0600)
{
	struct stat st;

	KT_EQ(stat(DEV, &st), 0);
	KT_ASSERT(S_ISCHR(st.st_mode));
	KT_EQ(st.st_mode & 07777, 0600);
	KT_EQ(st.st_uid, 0);
	KT_EQ(st.st_gid, 0);
}

KT_TEST(device_node_owner_and_mode_from_attr)
{
	struct kup_ioc_attach a = {.abi = KUP_ABI_VERSION, .chan = 0, .size = 2};
	struct stat st;
	int fd;

	KT_EQ(stat("/dev/kupvt_attr", &st), 0);
	KT_EQ(st.st_mode & 07777, 0660);
	KT_EQ(st.st_uid, 1000);
	KT_EQ(st.st_gid, 100);
	/* A read-only file cannot hold a channel. */
	fd = open("/dev/kupvt_attr", O_RDONLY | O_CLOEXEC);
	KT_ASSERT(fd >= 0);
	KT_EQ(ioctl(fd, KUP_IOC_ATTACH, &a), -1);
	KT_EQ(errno, EPERM);
	close(fd);
}

KT_TEST(info)
{
	struct kup_ioc_info in;
	int fd = open(DEV, O_RDWR | O_CLOEXEC);

	KT_ASSERT(fd >= 0);
	KT_EQ(ioctl(fd, KUP_IOC_INFO, &in), 0);
	KT_EQ(in.abi, KUP_ABI_VERSION);
	KT_EQ(in.size, 1);
	KT_EQ(in.chan_cnt, 4);
	KT_EQ(in.state, KUP_ST_OPEN);
	KT_EQ(ioctl(fd, _IO('K', 99)), -1);
	KT_EQ(errno, ENOTTY);
	close(fd);
}

KT_TEST(echo_spin_and_sleep)
{
	struct vt v;
	uint8_t msg[1000];
	const void *d;
	uint32_t len;
	int i;

	KT_EQ(vt_open(&v, 0), 0);
	vt_hello(&v);
	for (i = 0; i < 400; i++) {
		/* Half the round trips sleep in KUP_IOC_WAIT, half spin. */
		v.e.spin_ns = i & 1 ? 0 : 50 * 1000000LL;
		memset(msg, i, sizeof(msg));
		msg[0] = 'E';
		KT_EQ(kup_end_send(&v.e, msg, sizeof(msg) - i, 0, SOON), 0);
		KT_EQ(kup_end_recv(&v.e, 0, SOON, &d, &len, 0), 0);
		KT_EQ(len, sizeof(msg) - i);
		KT_ASSERT(!memcmp(d, msg, len));
	}
	KT_ASSERT(v.e.cnt.sleeps > 0);
	vt_close(&v);
}

KT_TEST(zero_copy_full_page_and_pass)
{
	struct vt v;
	uint8_t msg[KUP_PAGE];
	const void *d;
	uint32_t len;
	size_t i;

	KT_EQ(vt_open(&v, 1), 0);
	vt_hello(&v);
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	msg[0] = 'Z';
	KT_EQ(kup_end_send(&v.e, msg, sizeof(msg), 0, SOON), 0);
	KT_EQ(kup_end_recv(&v.e, 0, SOON, &d, &len, 0), 0);
	KT_EQ(len, sizeof(msg));
	KT_ASSERT(!memcmp(d, msg, len));
	/* One byte more than the page: refused on our side, the turn stays ours. */
	KT_EQ(kup_end_send(&v.e, msg, sizeof(msg) + 1, 0, SECOND), -EKU_TOOBIG);
	KT_EQ(kup_end_send(&v.e, "P", 1, 0, SOON), 0);
	KT_EQ(kup_end_recv(&v.e, 0, SOON, &d, &len, 0), 0);
	KT_EQ(len, 0);
	KT_EQ(((const uint8_t *)d)[0], 0);
	vt_close(&v);
}

KT_TEST(attach_errors)
{
	struct kup_ioc_attach a = {.abi = KUP_ABI_VERSION, .chan = 4, .size = 1};
	struct vt v, w;
	int fd = open(DEV, O_RDWR | O_CLOEXEC);

	KT_ASSERT(fd >= 0);
	KT_EQ(ioctl(fd, KUP_IOC_ATTACH, &a), -1);
	KT_EQ(errno, ERANGE);
	a.chan = 0xffffffffu;
	KT_EQ(ioctl(fd, KUP_IOC_ATTACH, &a), -1);
	KT_EQ(errno, ERANGE);
	a.chan = 2;
	a.size = 2;
	KT_EQ(ioctl(fd, KUP_IOC_ATTACH, &a), -1);
	KT_EQ(errno, EMSGSIZE);
	a.size = 1;
	a.abi = 99;
	KT_EQ(ioctl(fd, KUP_IOC_ATTACH, &a), -1);
	KT_EQ(errno, EPROTO);
	close(fd);

	/* A held channel is never taken over; a second attach on a file neither. */
	KT_EQ(vt_open(&v, 2), 0);
	KT_EQ(vt_open(&w, 2), -EBUSY);
	a.abi = KUP_ABI_VERSION;
	a.chan = 3;
	KT_EQ(ioctl(v.fd, KUP_IOC_ATTACH, &a), -1);
	KT_EQ(errno, EISCONN);
	/* munmap alone lets the channel go, even with the file still open. */
	munmap(v.map, v.len);
	v.map = NULL;
	KT_EQ(vt_open(&w, 2), 0);
	vt_hello(&w);
	vt_close(&w);
	vt_close(&v);
}

KT_TEST(mmap_rules)
{
	struct kup_ioc_attach a = {.abi = KUP_ABI_VERSION, .chan = 3, .size = 1};
	size_t blk = KUP_BLOCK_LEN(1);
	int fd = open(DEV, O_RDWR | O_CLOEXEC);
	struct kup_kctl *ctl;
	void *p;

	KT_ASSERT(fd >= 0);
	/* Not attached yet: nothing to map. */
	KT_ASSERT(mmap(NULL, blk, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED);
	KT_EQ(ioctl(fd, KUP_IOC_ATTACH, &a), 0);
	KT_ASSERT(a.flags & KUP_ATTACH_CTL_RW); /* the answer: the control page may be RW */
	/* The kern data is never writable, nothing is executable. */
	KT_ASSERT(mmap(NULL, blk, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
	KT_EQ(errno, EACCES);
	KT_ASSERT(mmap(NULL, 2 * blk, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
	KT_EQ(errno, EACCES);
	KT_ASSERT(mmap(NULL, KUP_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, KUP_PAGE) ==
	          MAP_FAILED);
	KT_EQ(errno, EACCES);
	/* The kern control page may be mapped read-write (kup_abi.h), and written. */
	ctl = mmap(NULL, KUP_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	KT_ASSERT(ctl != MAP_FAILED);
	KT_EQ(ctl->hdr.magic, KUP_MAGIC);
	ctl->hdr.flags = ~0u; /* the process's to scribble on; the kern side never reads it */
#ifndef __FreeBSD__
	KT_EQ(mprotect(ctl, KUP_PAGE, PROT_READ | PROT_EXEC), -1); /* FreeBSD: see below */
#endif
	KT_ASSERT(mmap(NULL, blk, PROT_READ | PROT_EXEC, MAP_SHARED, fd, blk) == MAP_FAILED);
	KT_EQ(errno, EACCES);
	/* Nothing beyond the end, nothing private. */
	KT_ASSERT(mmap(NULL, blk + KUP_PAGE, PROT_READ, MAP_SHARED, fd, blk) == MAP_FAILED);
	KT_EQ(errno, EINVAL);
	KT_ASSERT(mmap(NULL, KUP_PAGE, PROT_READ, MAP_SHARED, fd, 2 * blk) == MAP_FAILED);
	KT_ASSERT(mmap(NULL, blk, PROT_READ, MAP_PRIVATE, fd, blk) == MAP_FAILED);
	p = mmap(NULL, blk, PROT_READ, MAP_SHARED, fd, 0);
	KT_ASSERT(p != MAP_FAILED);
#ifndef __FreeBSD__
	/*
	 * A read-only kern block cannot be made writable or executable later.
	 * (FreeBSD takes the maximum protection from the file's open mode, not
	 * from the driver: docs/freebsd.md, "Differences from Linux".)
	 */
	KT_EQ(mprotect(p, blk, PROT_READ | PROT_WRITE), -1);
	KT_EQ(mprotect(p, blk, PROT_READ | PROT_EXEC), -1);
#endif
	KT_EQ(((const struct kup_kctl *)p)->hdr.magic, KUP_MAGIC);
	munmap(p, blk);
	munmap(ctl, KUP_PAGE);
	close(fd);
}

KT_TEST(poll_readiness)
{
	struct vt v;
	struct pollfd pfd;

	KT_EQ(vt_open(&v, 0), 0);
	pfd.fd = v.fd;
	pfd.events = POLLIN;
	/* The hello arrives: POLLIN, whether armed before or after it. */
	if (kup_end_arm(&v.e, KUP_WAIT_FD) == 0)
		KT_EQ(poll(&pfd, 1, (int)(SOON / 1000000)), 1);
	KT_EQ(poll(&pfd, 1, 0), 1);
	KT_ASSERT(pfd.revents & POLLIN);
	kup_end_disarm(&v.e, KUP_WAIT_FD);
	vt_hello(&v);
	/* Our turn passed with a message: not readable until the echo. */
	KT_EQ(kup_end_send(&v.e, "E12345", 6, 0, SECOND), 0);
	if (kup_end_arm(&v.e, KUP_WAIT_FD) == 0)
		KT_EQ(poll(&pfd, 1, (int)(SOON / 1000000)), 1);
	KT_ASSERT(pfd.revents & POLLIN);
	/* Garbage in our own state word ends the exchange for poll (core's kup_user_ready). */
	__atomic_store_n(&((struct kup_uctl *)(v.map + v.blk))->u.tw, KUP_TW(0, 7),
	                 __ATOMIC_SEQ_CST);
	KT_EQ(poll(&pfd, 1, 0), 1);
	KT_ASSERT(pfd.revents & POLLHUP);
	vt_close(&v);
}

/* kupdev_notify(kupvt) n times (kupvt's parameter notify). */
static void vt_notify(int n)
{
#ifdef __FreeBSD__
	put_uint("debug.kupvt.notify", (unsigned int)n);
#else
	char buf[16];

	snprintf(buf, sizeof(buf), "%d", n);
	put_str("/sys/module/kupvt/parameters/notify", buf);
#endif
}

static short poll_now(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	KT_ASSERT(poll(&pfd, 1, 0) >= 0);
	return pfd.revents;
}

static void *notify_later(void *arg)
{
	(void)arg;
	usleep(100000);
	vt_notify(1);
	return NULL;
}

/*
 * A device handle (a file not attached) polls readable once kupdev_notify
 * moved the generation past the one this file last read (KUP_IOC_INFO) or
 * waited past (KUP_IOC_NOTIFY); the generation at open counts as read.
 */
KT_TEST(poll_device_handle_reports_notify)
{
	struct kup_ioc_wait w = {.timeout_ns = 0};
#ifdef __FreeBSD__
	struct timespec zero = {0, 0}, ten = {10, 0};
	struct kevent ev;
#else
	struct epoll_event ev = {.events = EPOLLIN};
#endif
	struct kup_ioc_info in;
	struct pollfd pfd;
	int fd, late, ep;
	pthread_t t;

	fd = open(DEV, O_RDWR | O_CLOEXEC);
	KT_ASSERT(fd >= 0);
	KT_EQ(poll_now(fd), 0);
	vt_notify(1);
	late = open(DEV, O_RDWR | O_CLOEXEC); /* opened after that notify */
	KT_ASSERT(late >= 0);
	KT_EQ(poll_now(fd), POLLIN);
	KT_EQ(poll_now(fd), POLLIN); /* level-triggered: until the file reads it */
	KT_EQ(poll_now(late), 0);
	KT_EQ(ioctl(fd, KUP_IOC_INFO, &in), 0);
	KT_EQ(poll_now(fd), 0);

	/* KUP_IOC_NOTIFY that returns past a generation counts as reading it. */
	vt_notify(2);
	KT_EQ(poll_now(late), POLLIN);
	w.seen = in.notify;
	w.spare = 1; /* reserved: must be 0 */
	KT_EQ(ioctl(late, KUP_IOC_NOTIFY, &w), -1);
	KT_EQ(errno, EINVAL);
	KT_EQ(poll_now(late), POLLIN); /* a refused call reads nothing */
	w.spare = 0;
	KT_EQ(ioctl(late, KUP_IOC_NOTIFY, &w), 0);
	KT_EQ(poll_now(late), 0);
	KT_EQ(poll_now(fd), POLLIN);
	KT_EQ(ioctl(fd, KUP_IOC_INFO, &in), 0);

	/*
	 * One that times out reads nothing, whatever seen it was given: its
	 * caller keeps its old seen, so a notify landing just after the wait
	 * must leave the file readable.
	 */
	vt_notify(1);
	KT_EQ(poll_now(fd), POLLIN);
	w.seen = in.notify + 1; /* the generation now */
	KT_EQ(ioctl(fd, KUP_IOC_NOTIFY, &w), -1);
	KT_EQ(errno, ETIMEDOUT);
	KT_EQ(poll_now(fd), POLLIN);
	KT_EQ(ioctl(fd, KUP_IOC_INFO, &in), 0);
	KT_EQ(poll_now(fd), 0);

	/* A poll and an epoll asleep on the handle wake for the notify. */
	pfd.fd = fd;
	pfd.events = POLLIN;
	KT_EQ(pthread_create(&t, NULL, notify_later, NULL), 0);
	KT_EQ(poll(&pfd, 1, 10000), 1);
	KT_EQ(pfd.revents, POLLIN);
	KT_EQ(pthread_join(t, NULL), 0);
	KT_EQ(ioctl(fd, KUP_IOC_INFO, &in), 0);
#ifdef __FreeBSD__
	/* kqueue: EVFILT_READ on the device handle. */
	ep = kqueue();
	KT_ASSERT(ep >= 0);
	EV_SET(&ev, fd, EVFILT_READ, EV_ADD, 0, 0, NULL);
	KT_EQ(kevent(ep, &ev, 1, NULL, 0, NULL), 0);
	KT_EQ(kevent(ep, NULL, 0, &ev, 1, &zero), 0);
	KT_EQ(pthread_create(&t, NULL, notify_later, NULL), 0);
	KT_EQ(kevent(ep, NULL, 0, &ev, 1, &ten), 1);
	KT_EQ((int)ev.ident, fd);
	KT_EQ(ev.filter, EVFILT_READ);
	KT_ASSERT(!(ev.flags & EV_EOF));
#else
	ep = epoll_create1(EPOLL_CLOEXEC);
	KT_ASSERT(ep >= 0);
	KT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
	KT_EQ(epoll_wait(ep, &ev, 1, 0), 0);
	KT_EQ(pthread_create(&t, NULL, notify_later, NULL), 0);
	KT_EQ(epoll_wait(ep, &ev, 1, 10000), 1);
	KT_EQ(ev.events, EPOLLIN);
#endif
	KT_EQ(pthread_join(t, NULL), 0);
	close(ep);
	close(late);
	close(fd);
}

KT_TEST(stable_copy_while_process_rewrites)
{
	struct vt v;
	uint8_t msg[3000];
	const uint32_t *rep;
	const void *d;
	uint32_t len, want;
	int64_t end;
	size_t i;

	KT_EQ(vt_open(&v, 1), 0);
	vt_hello(&v);
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 13);
	msg[0] = 'C';
	want = sum(msg, sizeof(msg));
	KT_EQ(kup_end_send(&v.e, msg, sizeof(msg), 0, SECOND), 0);
	/* A hostile process rewrites the message while the module holds it. */
	usleep(50000); /* usually after the module's copy: then it is the original */
	end = kup_now_ns() + 600 * 1000000LL;
	for (i = 0; kup_now_ns() < end; i++)
		memset(v.e.tx + 1, (int)i, sizeof(msg) - 1); /* byte 0 picks the module's op */
	KT_EQ(kup_end_recv(&v.e, 0, SOON, &d, &len, 0), 0);
	KT_EQ(len, 12);
	rep = d;
	KT_EQ(rep[0], 'C');
	/*
	 * The module's private copy did not change over 300 ms of rewriting.
	 * (It holds the bytes as they were when it copied them: the original
	 * message, unless our rewriting had begun by then.)
	 */
	KT_EQ(rep[1], rep[2]);
	if (rep[1] != want)
		printf("# the module copied after the rewriting began\n");
	vt_close(&v);
}

KT_TEST(garbage_in_control_page_while_kernel_blocked)
{
	static const uint32_t bad[][2] = {
	    {KUP_TW(7, 0), 4},        /* a sequence jump */
	    {KUP_TW(1, 3), 4},        /* an invalid state */
	    {KUP_TW(1, 0), 1u << 30}, /* a length beyond the capacity */
	};
	struct kup_uctl *uc;
	struct vt v;
	size_t i;
	int r;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		KT_EQ(vt_open(&v, 2), 0);
		vt_hello(&v);
		vt_wait_module_asleep(&v);
		uc = (struct kup_uctl *)(v.map + v.blk);
		uc->u.len = bad[i][1];
		__atomic_store_n(&uc->u.tw, bad[i][0], __ATOMIC_RELEASE);
		KT_EQ(ioctl(v.fd, KUP_IOC_WAKE), 0);
		/* The module drops the channel: its tw says closing. */
		r = vt_wait_kern_state(&v, KUP_ST_CLOSING);
		KT_EQ(r, KUP_ST_CLOSING);
		vt_close(&v);
	}
	/* The channel works again for the next process. */
	KT_EQ(vt_open(&v, 2), 0);
	vt_hello(&v);
	KT_EQ(kup_end_send(&v.e, "Eok", 3, 0, SECOND), 0);
	KT_EQ(kup_end_wait(&v.e, 0, SOON), 0);
	vt_close(&v);
}

KT_TEST(kill_9_while_attached)
{
	struct vt v;
	int p[2], st;
	char c;
	pid_t pid;

	KT_EQ(pipe(p), 0);
	pid = fork();
	KT_ASSERT(pid >= 0);
	if (pid == 0) {
		KT_EQ(vt_open(&v, 3), 0);
		vt_hello(&v);
		/* The module is blocked in kupdev_recv; we hold the turn and die. */
		KT_EQ(write(p[1], "x", 1), 1);
		pause();
		_exit(3);
	}
	KT_EQ(read(p[0], &c, 1), 1);
	KT_EQ(kill(pid, SIGKILL), 0);
	KT_EQ(waitpid(pid, &st, 0), pid);
	KT_ASSERT(WIFSIGNALED(st));
	/* Freed: the next process attaches and gets a new session. */
	KT_EQ(vt_open(&v, 3), 0);
	vt_hello(&v);
	vt_close(&v);
}

KT_TEST(split_and_moved_mappings_counted)
{
	struct vt v, w;
	uint8_t *u, *moved;

	KT_EQ(vt_open(&v, 3), 0);
	vt_hello(&v);
	u = v.map + v.blk;
	/* Unmapping part of the user block splits it: still attached. */
	KT_EQ(munmap(u + KUP_PAGE, KUP_PAGE), 0);
	KT_EQ(vt_open(&w, 3), -EBUSY);
#ifdef __FreeBSD__
	moved = v.map; /* no mremap */
#else
	/* Moving the kern control page keeps it attached too. */
	moved = mremap(v.map, KUP_PAGE, KUP_PAGE, MREMAP_MAYMOVE | MREMAP_FIXED,
	               v.map + v.len + 8 * KUP_PAGE);
	KT_ASSERT(moved != MAP_FAILED);
#endif
	KT_EQ(((const struct kup_kctl *)moved)->hdr.magic, KUP_MAGIC);
	KT_EQ(vt_open(&w, 3), -EBUSY);
	/* The last piece gone: free. */
	KT_EQ(munmap(u, KUP_PAGE), 0);
	KT_EQ(vt_open(&w, 3), -EBUSY);
	KT_EQ(munmap(v.map + KUP_PAGE, v.blk - KUP_PAGE), 0); /* the kern data */
	KT_EQ(vt_open(&w, 3), -EBUSY);
	KT_EQ(munmap(moved, KUP_PAGE), 0);
	KT_EQ(vt_open(&w, 3), 0);
	vt_hello(&w);
	vt_close(&w);
	v.map = NULL;
	vt_close(&v);
}

/*
 * A forked child never shares the channel: the mapping is not inherited
 * (VM_DONTCOPY), and MADV_DOFORK cannot make it so.  The child touches
 * where the channel is mapped in its parent and must die of it.
 */
static void fork_and_touch(struct vt *v, int dofork)
{
	volatile const uint32_t *magic = &((const struct kup_kctl *)v->map)->hdr.magic;
	volatile uint8_t *u = v->map + v->blk;
	int st, r;
	pid_t pid;

#ifdef __FreeBSD__
	(void)r;
	if (dofork)
		return; /* no MADV_DOFORK; minherit(INHERIT_SHARE) is the process's own choice */
#else
	if (dofork) {
		r = madvise(v->map, v->len, MADV_DOFORK);
		printf("# madvise(MADV_DOFORK) on the channel: %d (%s)\n", r,
		       r ? strerror(errno) : "accepted");
		KT_EQ(r, -1);
		KT_EQ(errno, EINVAL);
	}
#endif
	pid = fork();
	KT_ASSERT(pid >= 0);
	if (pid == 0) {
		st = *magic == KUP_MAGIC;
		u[64] = 0x5a;
		_exit(st ? 10 : 11); /* 10: the child shares the channel */
	}
	KT_EQ(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st))
		printf("# the child exited %d: it %s the channel\n", WEXITSTATUS(st),
		       WEXITSTATUS(st) == 10 ? "shares" : "sees other memory at");
	else
		printf("# the child died of signal %d\n", WTERMSIG(st));
	KT_ASSERT(WIFSIGNALED(st));
	KT_ASSERT(WTERMSIG(st) == SIGSEGV || WTERMSIG(st) == SIGBUS);
	KT_EQ(u[64], 0);
}

#ifndef __FreeBSD__ /* kupvt_pool and vmsplice: Linux (FreeBSD's F1 test is the emulation's) */
#define POOL_PARAM "/sys/module/kupvt/parameters/pool_result"

static int param_int(const char *path)
{
	char buf[32];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	KT_ASSERT(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	KT_ASSERT(n > 0);
	buf[n] = 0;
	return atoi(buf);
}

/* The pool's report once it is no longer `not`, polled for SOON at most. */
static int pool_result_not(int not )
{
	int i, r = param_int(POOL_PARAM);

	for (i = 0; i < 3000 && r == not ; i++) {
		usleep(10000);
		r = param_int(POOL_PARAM);
	}
	return r;
}

/*
 * Issue 14 F1: a pool thread keeps a zero-copy pointer (receive: 'R',
 * send buffer: 'W') while the process detaches and attaches again and the
 * other pool thread moves the channel on.  The pointer must still reach
 * the old attach's pages (kup.ko once freed them at the switch: an Oops
 * in the module thread's memcpy, or stores into freed pages), and the new
 * process's pages must not see the writes.
 */
static void pool_loan(char op)
{
	uint8_t msg[200];
	struct vt v;
	const void *d;
	uint32_t len;
	int i;

	put_str(POOL_PARAM, "0");
	KT_EQ(vt_open_dev(&v, "/dev/kupvt_pool", 0), 0);
	vt_hello(&v);
	memset(msg, 0x33, sizeof(msg));
	msg[0] = op;
	KT_EQ(kup_end_send(&v.e, msg, sizeof(msg), 0, SOON), 0);
	KT_EQ(pool_result_not(0), 10); /* the thread holds its pointer */
	vt_close(&v);
	KT_EQ(vt_open_dev(&v, "/dev/kupvt_pool", 0), 0);
	vt_hello(&v); /* the other thread moved the channel on */
	KT_EQ(pool_result_not(10), op == 'R' ? 1 : 3);
	/* The new session works, and none of the old thread's bytes are in it. */
	KT_EQ(kup_end_send(&v.e, "echo", 4, 0, SOON), 0);
	KT_EQ(kup_end_recv(&v.e, 0, SOON, &d, &len, 0), 0);
	KT_ASSERT(len == 4 && !memcmp(d, "echo", 4));
	for (i = 8; i < (int)KUP_PAGE; i++)
		KT_EQ(((const uint8_t *)d)[i], 0);
	/* End the session before closing: its thread must not call on into the next test's attach.
	 */
	KT_EQ(kup_end_send(&v.e, "Q", 1, 0, SOON), 0);
	KT_EQ(kup_end_recv(&v.e, 0, SOON, &d, &len, 0), 0);
	KT_EQ(len, 0);
	vt_close(&v);
}

KT_TEST(pool_recv_pointer_outlives_reattach)
{
	pool_loan('R');
}

KT_TEST(pool_send_buffer_outlives_reattach)
{
	pool_loan('W');
}

/*
 * The soak's finding: a pool thread passes its zero-copy receive pointer
 * to kupdev_send_timed (an echo) after the process reattached and the
 * other thread moved the channel on.  The call ended the thread's loan
 * first, freeing the old attach's pages, then copied from them: an Oops
 * in __memcpy from kup_end_send.  The pointer must stay valid for the
 * whole of the call it is passed to; the bytes sent are the old message.
 */
KT_TEST(pool_recv_pointer_valid_as_argument_of_next_call)
{
	uint8_t msg[200];
	struct vt v;
	const void *d;
	uint32_t len;
	int r;

	put_str(POOL_PARAM, "0");
	put_str("/sys/module/kupvt/parameters/pool_arm", "1");
	KT_EQ(vt_open_dev(&v, "/dev/kupvt_pool", 0), 0);
	vt_hello(&v);
	memset(msg, 0x33, sizeof(msg));
	msg[0] = 'S';
	KT_EQ(kup_end_send(&v.e, msg, sizeof(msg), 0, SOON), 0);
	KT_EQ(pool_result_not(0), 10); /* the thread holds its pointer */
	vt_close(&v);
	KT_EQ(vt_open_dev(&v, "/dev/kupvt_pool", 0), 0);
	vt_hello(&v); /* the other thread moved the channel on: the old pages are the loan's */
	/* The serving thread keeps the turn without a call: the holder sends. */
	KT_EQ(kup_end_send(&v.e, "X", 1, 0, SOON), 0);
	KT_EQ(kup_end_recv(&v.e, 0, SOON, &d, &len, 0), 0);
	KT_EQ(len, sizeof(msg));
	KT_ASSERT(!memcmp(d, msg, sizeof(msg)));
	r = pool_result_not(11);
	KT_EQ(r, 4);
	KT_EQ(kup_end_send(&v.e, "echo", 4, 0, SOON), 0);
	KT_EQ(kup_end_recv(&v.e, 0, SOON, &d, &len, 0), 0);
	if (len != 4 || memcmp(d, "echo", 4))
		printf("# got %u bytes: %02x %02x %02x %02x, pool_result %d\n", len,
		       ((const uint8_t *)d)[0], ((const uint8_t *)d)[1], ((const uint8_t *)d)[2],
		       ((const uint8_t *)d)[3], param_int(POOL_PARAM));
	KT_ASSERT(len == 4 && !memcmp(d, "echo", 4));
	vt_close(&v);
	put_str("/sys/module/kupvt/parameters/pool_arm", "0");
}

/*
 * Issue 14 F2: vmsplice of the channel works on 6.1 (get_user_pages' fast
 * path does not look at VM_IO) and is refused on 6.12.  Either is fine;
 * where it works, the pipe holds page references of its own, so the bytes
 * stay readable after the detach, and the pages go back to the allocator
 * only when the pipe lets go (no use after free).
 */
KT_TEST(vmsplice_of_channel_pages_outlives_detach)
{
	char buf[KUP_PAGE];
	struct iovec iov[2];
	struct vt v;
	ssize_t n;
	int p[2];

	KT_EQ(vt_open(&v, 3), 0);
	vt_hello(&v);
	memcpy(v.map + v.blk + KUP_PAGE, "SPLICE", 6);       /* the user's data page */
	iov[0] = (struct iovec){v.map, KUP_PAGE}; /* the kern's control page */
	iov[1] = (struct iovec){v.map + v.blk + KUP_PAGE, KUP_PAGE};
	KT_EQ(pipe(p), 0);
	KT_EQ(fcntl(p[1], F_SETPIPE_SZ, 4 * KUP_PAGE) >= 2 * (int)KUP_PAGE, 1);
	n = vmsplice(p[1], iov, 2, 0);
	printf("# vmsplice from the channel: %s\n", n < 0 ? strerror(errno) : "accepted");
	vt_close(&v); /* detach: kup.ko drops its page references */
	if (n >= 0) {
		KT_EQ(n, 2 * (ssize_t)KUP_PAGE);
		KT_EQ(read(p[0], buf, sizeof(buf)), (ssize_t)sizeof(buf));
		/* kupvt's hello, a small message: inline, on the kern's turn line. */
		KT_ASSERT(!memcmp(buf + offsetof(struct kup_kctl, k.inl), "KVTH", 4));
		KT_EQ(read(p[0], buf, sizeof(buf)), (ssize_t)sizeof(buf));
		KT_ASSERT(!memcmp(buf, "SPLICE", 6));
	}
	close(p[0]);
	close(p[1]);
	/* The channel is free again and the next process gets fresh pages. */
	KT_EQ(vt_open(&v, 3), 0);
	vt_hello(&v);
	KT_EQ(((const uint8_t *)v.map + v.blk + KUP_PAGE)[0], 0);
	vt_close(&v);
}

#endif /* !__FreeBSD__ */

/* Issue 14 F3: the fd is inherited, but only the attaching process may map it. */
static void fork_and_map(struct vt *v)
{
	int st;
	pid_t pid = fork();

	KT_ASSERT(pid >= 0);
	if (pid == 0) {
		void *p = mmap(NULL, v->blk, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, v->blk);

		_exit(p == MAP_FAILED && errno == EPERM ? 0 : 1);
	}
	KT_EQ(waitpid(pid, &st, 0), pid);
	KT_ASSERT(WIFEXITED(st));
	KT_EQ(WEXITSTATUS(st), 0);
}

KT_TEST(fork_child_never_shares_channel)
{
	struct vt v;

	KT_EQ(vt_open(&v, 2), 0);
	vt_hello(&v);
	fork_and_touch(&v, 0);
	fork_and_touch(&v, 1);
	fork_and_map(&v);
	/* Still ours alone, still working. */
	KT_EQ(kup_end_send(&v.e, "Eok", 3, 0, SECOND), 0);
	KT_EQ(kup_end_wait(&v.e, 0, 10 * SECOND), 0);
	vt_close(&v);
}

/*
 * The mapping is VM_IO (so MADV_DOFORK is refused), which get_user_pages
 * refuses: /proc/PID/mem, as debuggers use it, still reads the channel and
 * writes what the process may write (the user block, the kern control
 * page), never the kern data.
 */
#ifndef __FreeBSD__
KT_TEST(proc_mem_reads_channel)
{
	uint32_t magic = 0;
	uint8_t b = 0x77;
	struct vt v;
	int fd;

	KT_EQ(vt_open(&v, 2), 0);
	vt_hello(&v);
	fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	KT_ASSERT(fd >= 0);
	/* hdr.magic is the kern block's first word. */
	KT_EQ(pread(fd, &magic, sizeof(magic), (off_t)(uintptr_t)v.map), sizeof(magic));
	KT_EQ(magic, KUP_MAGIC);
	/* Across the end of the kern block's mapping: cut short, not past it. */
	KT_ASSERT(pread(fd, &magic, sizeof(magic), (off_t)(uintptr_t)(v.map + v.blk - 2)) > 0);
	KT_EQ(pwrite(fd, &b, 1, (off_t)(uintptr_t)(v.map + v.blk + v.blk - 1)), 1);
	KT_EQ(v.map[v.blk + v.blk - 1], 0x77);
	KT_EQ(pwrite(fd, &b, 1, (off_t)(uintptr_t)(v.map + KUP_PAGE + 100)), -1);
	KT_EQ(v.map[KUP_PAGE + 100], 0);
	KT_EQ(pwrite(fd, &b, 1, (off_t)(uintptr_t)(v.map + 100)), 1);
	KT_EQ(v.map[100], 0x77);
	close(fd);
	vt_close(&v);
}
#endif

static void *unmap_later(void *arg)
{
	struct vt *v = arg;

	usleep(200000);
	munmap(v->map, v->len);
	return NULL;
}

KT_TEST(munmap_while_another_thread_sleeps)
{
	struct kup_ioc_wait w = {.timeout_ns = 20 * SECOND};
	struct vt v;
	pthread_t t;

	KT_EQ(vt_open(&v, 0), 0);
	vt_hello(&v);
	KT_EQ(kup_end_send(&v.e, "H", 1, 0, SECOND), 0); /* the module keeps the turn */
	w.seen = ((const struct kup_kctl *)v.map)->k.tw;
	KT_EQ(pthread_create(&t, NULL, unmap_later, &v), 0);
	/* Our own munmap detaches the channel: the sleeper hears of it. */
	KT_EQ(ioctl(v.fd, KUP_IOC_WAIT, &w), -1);
	KT_EQ(errno, ENOTCONN);
	KT_EQ(pthread_join(t, NULL), 0);
	v.map = NULL;
	vt_close(&v);
}

KT_TEST_T(random_garbage_survives, 120)
{
	struct kup_ioc_wait w;
	struct kup_uctl *uc;
	struct vt v;
	uint32_t x = 12345;
	int i, j;

	for (i = 0; i < 60; i++) {
		KT_EQ(vt_open(&v, i & 3), 0);
		vt_hello(&v);
		if (i & 1) /* half the time the module is asleep in kupdev_recv */
			usleep(20000);
		uc = (struct kup_uctl *)(v.map + v.blk);
		for (j = 0; j < 8; j++) {
			x = x * 1103515245u + 12345u;
			uc->u.len = x;
			uc->u.wait = x >> 3;
			__atomic_store_n(&uc->u.tw, x >> 7, __ATOMIC_RELEASE);
			(void)ioctl(v.fd, KUP_IOC_WAKE);
			w.seen = x;
			w.timeout_ns = (int64_t)(x & 0xffff);
			(void)ioctl(v.fd, KUP_IOC_WAIT, &w);
		}
		vt_close(&v);
	}
	/* Every channel still works. */
	for (i = 0; i < 4; i++) {
		KT_EQ(vt_open(&v, i), 0);
		vt_hello(&v);
		KT_EQ(kup_end_send(&v.e, "Eok", 3, 0, SECOND), 0);
		KT_EQ(kup_end_wait(&v.e, 0, SOON), 0);
		vt_close(&v);
	}
}

#ifdef __FreeBSD__
KT_TEST_T(no_leak_over_attach_cycles, 120)
{
	long kb0, kb1, w0, w1;
	struct vt v;
	int i;

	for (i = 0; i < 20; i++) { /* warm the caches first */
		KT_EQ(vt_open(&v, 0), 0);
		vt_hello(&v);
		vt_close(&v);
	}
	kb0 = kup_malloc_bytes();
	w0 = wired_kb();
	for (i = 0; i < 400; i++) {
		KT_EQ(vt_open(&v, i & 3), 0);
		vt_hello(&v);
		KT_EQ(kup_end_send(&v.e, "Ex", 2, 0, SECOND), 0);
		KT_EQ(kup_end_wait(&v.e, 0, SOON), 0);
		vt_close(&v);
	}
	kb1 = below(kup_malloc_bytes, kb0 + 4096);
	w1 = below(wired_kb, w0 + 1024);
	printf("# malloc type kup %ld -> %ld bytes, wired %ld -> %ld kB over 400 attaches\n", kb0,
	       kb1, w0, w1);
	/* One attach's pages (12 KiB, wired) left each time would be 4.8 MB. */
	KT_ASSERT(kb1 - kb0 < 4096);
	KT_ASSERT(w1 - w0 < 1024);
}
#else
KT_TEST_T(no_leak_over_attach_cycles, 120)
{
	long vm0, sl0, cg0, vm1, sl1, cg1;
	struct vt v;
	int i;

	/* The pages are charged here: a leaked one stays. */
	cg_enter("vt_cycles");
	for (i = 0; i < 20; i++) { /* warm the caches first */
		KT_EQ(vt_open(&v, 0), 0);
		vt_hello(&v);
		vt_close(&v);
	}
	vm0 = meminfo("VmallocUsed");
	sl0 = meminfo("Slab");
	cg0 = cg_kb("vt_cycles");
	for (i = 0; i < 400; i++) {
		KT_EQ(vt_open(&v, i & 3), 0);
		vt_hello(&v);
		KT_EQ(kup_end_send(&v.e, "Ex", 2, 0, SECOND), 0);
		KT_EQ(kup_end_wait(&v.e, 0, SOON), 0);
		vt_close(&v);
	}
	vm1 = meminfo_below("VmallocUsed", vm0 + 200);
	sl1 = meminfo_below("Slab", sl0 + 200);
	cg1 = cg_kb_below("vt_cycles", cg0 + CG_SLACK_KB);
	cg_leave("vt_cycles");
	printf("# memory.current %ld -> %ld kB, VmallocUsed %ld -> %ld kB, Slab %ld -> %ld kB "
	       "over 400 attaches\n",
	       cg0, cg1, vm0, vm1, sl0, sl1);
	/* A leak of one attach's pages (12 KiB) each time would be 4.8 MB. */
	KT_ASSERT(cg1 - cg0 < CG_SLACK_KB);
	KT_ASSERT(vm1 - vm0 < 200);
	KT_ASSERT(sl1 - sl0 < 200);
}
#endif

/* Create and unload a device n times in kupvt (its parameter cycles). */
static void vt_cycles(int n)
{
#ifdef __FreeBSD__
	put_uint("debug.kupvt.cycles", (unsigned int)n);
#else
	char buf[16];
	int fd = open("/sys/module/kupvt/parameters/cycles", O_WRONLY | O_CLOEXEC);
	int len = snprintf(buf, sizeof(buf), "%d", n);

	KT_ASSERT(fd >= 0);
	KT_EQ(write(fd, buf, len), len);
	close(fd);
#endif
}

/* An unloaded device leaves nothing behind: its softc is freed (no tombstone). */
#ifdef __FreeBSD__
KT_TEST_T(no_leak_over_create_unload_cycles, 120)
{
	long kb0, kb1;

	vt_cycles(50); /* warm the caches first */
	usleep(200000);
	kb0 = kup_malloc_bytes();
	vt_cycles(1000);
	kb1 = below(kup_malloc_bytes, kb0 + 1024);
	printf("# malloc type kup %ld -> %ld bytes over 1000 create+unload\n", kb0, kb1);
	/* A softc left per cycle would be far more than 1 KiB in all. */
	KT_ASSERT(kb1 - kb0 < 1024);
	KT_ASSERT(access("/dev/kupvt_cyc", F_OK) != 0);
}
#else
KT_TEST_T(no_leak_over_create_unload_cycles, 120)
{
	long vm0, sl0, vm1, sl1;

	vt_cycles(50); /* warm the caches first */
	usleep(200000);
	vm0 = meminfo("VmallocUsed");
	sl0 = meminfo("Slab");
	vt_cycles(1000);
	vm1 = meminfo_below("VmallocUsed", vm0 + 200);
	sl1 = meminfo_below("Slab", sl0 + 400);
	printf("# VmallocUsed %ld -> %ld kB, Slab %ld -> %ld kB over 1000 create+unload\n", vm0,
	       vm1, sl0, sl1);
	/* A softc left per cycle (struct device + cdev, 2 KiB here) would be 2000 kB. */
	KT_ASSERT(vm1 - vm0 < 200);
	KT_ASSERT(sl1 - sl0 < 400);
	KT_ASSERT(access("/dev/kupvt_cyc", F_OK) != 0);
}
#endif

#ifndef __FreeBSD__ /* no memory cgroups */
/* Attach kupvt_big's channel on a new file and map all of it; returns the fd. */
static int big_attach(uint8_t **map)
{
	struct kup_ioc_attach a = {.abi = KUP_ABI_VERSION, .chan = 0, .size = 255};
	size_t blk = KUP_BLOCK_LEN(255);
	int fd = open("/dev/kupvt_big", O_RDWR | O_CLOEXEC);
	uint8_t *p;

	KT_ASSERT(fd >= 0);
	KT_EQ(ioctl(fd, KUP_IOC_ATTACH, &a), 0);
	p = mmap(NULL, 2 * blk, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	KT_ASSERT(p != MAP_FAILED);
	KT_ASSERT(mmap(p, blk, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0) != MAP_FAILED);
	KT_ASSERT(mmap(p + blk, blk, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, blk) !=
	          MAP_FAILED);
	KT_EQ(((const struct kup_kctl *)p)->hdr.magic, KUP_MAGIC);
	p[blk + blk - 1] = 1;
	*map = p;
	return fd;
}

/*
 * An attach's pages are charged to the memory cgroup of the process that
 * attached: memory.current grows by the channel's size, and falls back
 * once the pages are freed.  (A detached channel's latest attach stays
 * allocated until the next attach replaces it: attach again, from another
 * cgroup, to free it.)
 */
KT_TEST_T(attach_charged_to_attaching_cgroup, 60)
{
	long len_kb = (long)(KUP_MAP_LEN(255) / 1024), a0, a1, a2, b0, b1;
	uint8_t *p;
	int fd;

	cg_enter("vt_a");
	a0 = cg_kb("vt_a");
	fd = big_attach(&p);
	a1 = cg_kb("vt_a");
	munmap(p, KUP_MAP_LEN(255));
	close(fd);

	cg_enter("vt_b");
	b0 = cg_kb("vt_b");
	fd = big_attach(&p);
	b1 = cg_kb("vt_b");
	a2 = cg_kb("vt_a");
	munmap(p, KUP_MAP_LEN(255));
	close(fd);
	cg_leave("vt_a");
	cg_leave("vt_b");
	printf("# attach of %ld kB: cgroup a %ld -> %ld -> %ld kB (b attached), b %ld -> %ld kB\n",
	       len_kb, a0, a1, a2, b0, b1);
	KT_ASSERT(a1 - a0 > len_kb - CG_SLACK_KB / 2);
	KT_ASSERT(a1 - a0 < len_kb + CG_SLACK_KB);
	KT_ASSERT(b1 - b0 > len_kb - CG_SLACK_KB / 2);
	KT_ASSERT(b1 - b0 < len_kb + CG_SLACK_KB);
	KT_ASSERT(a1 - a2 > len_kb - CG_SLACK_KB / 2);
}
#endif

/*
 * A file detached by munmap pins no pages: attach, map and unmap the
 * 2 MiB channel of kupvt_big on many files kept open.  Only the channel's
 * latest attach may stay allocated (until the next one).
 */
#define BIG_FDS 16
KT_TEST_T(munmap_detach_frees_pages_of_open_files, 120)
{
	struct kup_ioc_attach a = {.abi = KUP_ABI_VERSION, .chan = 0, .size = 255};
	struct kup_ioc_wait w = {.seen = 0, .timeout_ns = SECOND};
	size_t len = KUP_MAP_LEN(255), blk = KUP_BLOCK_LEN(255);
	int fd[BIG_FDS], i;
	struct pollfd pfd;
	long cg0, cg1;
	uint8_t *p;

#ifdef __FreeBSD__
	cg0 = wired_kb(); /* the pages are wired: a pinned one stays wired */
#else
	cg_enter("vt_big");
	cg0 = cg_kb("vt_big");
#endif
	for (i = 0; i < BIG_FDS; i++) {
		fd[i] = open("/dev/kupvt_big", O_RDWR | O_CLOEXEC);
		KT_ASSERT(fd[i] >= 0);
		KT_EQ(ioctl(fd[i], KUP_IOC_ATTACH, &a), 0);
		KT_EQ(a.map_len, len);
		p = mmap(NULL, blk, PROT_READ | PROT_WRITE, MAP_SHARED, fd[i], blk);
		KT_ASSERT(p != MAP_FAILED);
		p[0] = 1; /* touch the user block */
		KT_EQ(munmap(p, blk), 0);
		/* Detached: the file's paths that read the pages say so. */
		KT_EQ(ioctl(fd[i], KUP_IOC_WAIT, &w), -1);
		KT_EQ(errno, ENOTCONN);
		pfd.fd = fd[i];
		pfd.events = POLLIN;
		KT_EQ(poll(&pfd, 1, 0), 1);
		KT_ASSERT(pfd.revents & POLLHUP);
	}
#ifdef __FreeBSD__
	cg1 = below(wired_kb, cg0 + (long)(2 * len / 1024) + CG_SLACK_KB);
	printf("# wired %ld -> %ld kB with %d detached files open (%zu kB each)\n", cg0, cg1,
	       BIG_FDS, len / 1024);
#else
	cg1 = cg_kb_below("vt_big", cg0 + (long)(2 * len / 1024) + CG_SLACK_KB);
	printf("# memory.current %ld -> %ld kB with %d detached files open (%zu kB each)\n", cg0,
	       cg1, BIG_FDS, len / 1024);
#endif
	/* Pinned by every file, it would be BIG_FDS * 2 MiB = 32 MiB. */
	KT_ASSERT(cg1 - cg0 < (long)(2 * len / 1024) + CG_SLACK_KB);
	/* Files whose pages are gone answer the same. */
	for (i = 0; i < BIG_FDS; i++) {
		KT_EQ(ioctl(fd[i], KUP_IOC_WAIT, &w), -1);
		KT_EQ(errno, ENOTCONN);
		pfd.fd = fd[i];
		pfd.events = POLLIN;
		KT_EQ(poll(&pfd, 1, 0), 1);
		KT_ASSERT(pfd.revents & POLLHUP);
		close(fd[i]);
	}
#ifndef __FreeBSD__
	cg_leave("vt_big");
#endif
}

#ifdef __FreeBSD__
/*
 * A thread asleep in kevent on a device handle or channel: the unload must
 * give it EV_EOF (kup.ko keeps the fired knotes until kqueue drops them);
 * nothing within 5 s is a failure.
 */
struct kq_waiter {
	int kq;
	int n;
	struct kevent ev;
};

static void *kq_wait(void *arg)
{
	struct kq_waiter *k = arg;
	struct timespec t = {5, 0};

	k->n = kevent(k->kq, NULL, 0, &k->ev, 1, &t);
	return NULL;
}
#endif

/* Last: unloads kupvt under a blocked process, then loads it again. */
KT_TEST_T(unload_with_blocked_process, 60)
{
	struct kup_ioc_attach a = {.abi = KUP_ABI_VERSION, .chan = 1, .size = 1};
	struct kup_ioc_info in;
	struct kup_ioc_wait w = {.seen = 0, .timeout_ns = -1};
	const struct kup_kctl *kc;
	struct pollfd pfd;
	struct vt v;
	int p[2], st, spare;
	char c;
	pid_t pid;

	KT_EQ(pipe(p), 0);
	spare = open(DEV, O_RDWR | O_CLOEXEC); /* a file opened before unload */
	KT_ASSERT(spare >= 0);
	pid = fork();
	KT_ASSERT(pid >= 0);
	if (pid == 0) {
		KT_EQ(vt_open(&v, 0), 0);
		vt_hello(&v);
		KT_EQ(kup_end_send(&v.e, "H", 1, 0, SECOND), 0); /* the module keeps the turn */
		v.e.spin_ns = 0;
#ifdef __FreeBSD__
		/* The channel's file in kqueue too: a thread asleep in kevent across the unload. */
		struct kq_waiter kc_w = {.kq = kqueue()};
		pthread_t kc_t;

		KT_ASSERT(kc_w.kq >= 0);
		EV_SET(&kc_w.ev, v.fd, EVFILT_READ, EV_ADD, 0, 0, NULL);
		KT_EQ(kevent(kc_w.kq, &kc_w.ev, 1, NULL, 0, NULL), 0);
		KT_EQ(pthread_create(&kc_t, NULL, kq_wait, &kc_w), 0);
#endif
		KT_EQ(write(p[1], "x", 1), 1);
		KT_EQ(kup_end_wait(&v.e, 0, -1), -EKU_SHUTDOWN);
#ifdef __FreeBSD__
		KT_EQ(pthread_join(kc_t, NULL), 0);
		printf("# kevent asleep on a channel across the unload: %d event(s), flags %#x\n",
		       kc_w.n, kc_w.n > 0 ? (unsigned)kc_w.ev.flags : 0);
		KT_EQ(kc_w.n, 1);
		KT_ASSERT(kc_w.ev.flags & EV_EOF);
		KT_EQ(kc_w.ev.ident, (uintptr_t)v.fd);
		close(kc_w.kq);
#endif
		/*
		 * The pages stay mapped and readable after the module is gone;
		 * unload publishes the shutdown state in the kern tw too (for
		 * spinners) once no kupdev_* call is left: wait for it.
		 */
		kc = (const struct kup_kctl *)v.map;
		for (spare = 0; spare < 10000; spare++) {
			if (KUP_TW_STATE(__atomic_load_n(&kc->k.tw, __ATOMIC_ACQUIRE)) !=
			    KUP_ST_OPEN)
				break;
			usleep(1000);
		}
		KT_EQ(KUP_TW_STATE(kc->k.tw), KUP_ST_SHUTDOWN);
		w.seen = kc->k.tw;
		KT_EQ(ioctl(v.fd, KUP_IOC_WAIT, &w), -1);
#ifdef __FreeBSD__
		/* kup.ko's ESHUTDOWN, or devfs's ENXIO once destroy_dev has run. */
		KT_ASSERT(errno == ESHUTDOWN || errno == ENXIO);
#else
		KT_EQ(errno, ESHUTDOWN);
#endif
		pfd.fd = v.fd;
		pfd.events = POLLIN;
		KT_EQ(poll(&pfd, 1, 0), 1);
		KT_ASSERT(pfd.revents & POLLHUP);
		vt_close(&v);
		_exit(0);
	}
	KT_EQ(read(p[0], &c, 1), 1);
#ifdef __FreeBSD__
	/* The device handle, in kqueue: a thread sleeps in kevent across the unload. */
	struct kq_waiter kw = {.kq = kqueue()};
	pthread_t kt;

	KT_ASSERT(kw.kq >= 0);
	EV_SET(&kw.ev, spare, EVFILT_READ, EV_ADD, 0, 0, NULL);
	KT_EQ(kevent(kw.kq, &kw.ev, 1, NULL, 0, NULL), 0);
	KT_EQ(pthread_create(&kt, NULL, kq_wait, &kw), 0);
#endif
	usleep(200000);
#ifdef __FreeBSD__
	KT_EQ(kldunload(kldfind("kupvt.ko")), 0);
	KT_EQ(pthread_join(kt, NULL), 0);
	printf("# kevent asleep on a device handle across the unload: %d event(s), flags %#x\n",
	       kw.n, kw.n > 0 ? (unsigned)kw.ev.flags : 0);
	KT_EQ(kw.n, 1);
	KT_ASSERT(kw.ev.flags & EV_EOF);
	KT_EQ(kw.ev.ident, (uintptr_t)spare);
	/* Asked again, the knote (kept until this close) still says EOF. */
	{
		struct timespec zero = {0, 0};

		KT_EQ(kevent(kw.kq, NULL, 0, &kw.ev, 1, &zero), 1);
		KT_ASSERT(kw.ev.flags & EV_EOF);
	}
	close(kw.kq);
#else
	KT_EQ(system("rmmod kupvt"), 0);
#endif
	KT_EQ(waitpid(pid, &st, 0), pid);
	KT_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* A device handle polls POLLHUP once its device is gone. */
	KT_ASSERT(poll_now(spare) & POLLHUP);
#ifdef __FreeBSD__
	/* destroy_dev ran: devfs answers for the device (libkup: EKU_SHUTDOWN). */
	(void)in;
	KT_EQ(ioctl(spare, KUP_IOC_ATTACH, &a), -1);
	KT_EQ(errno, ENXIO);
#else
	KT_EQ(ioctl(spare, KUP_IOC_INFO, &in), 0);
	KT_EQ(in.state, KUP_ST_SHUTDOWN);
	KT_EQ(ioctl(spare, KUP_IOC_ATTACH, &a), -1);
	KT_EQ(errno, ESHUTDOWN);
#endif
	close(spare);
	KT_ASSERT(access(DEV, F_OK) != 0);
#ifdef __FreeBSD__
	/*
	 * Loaded again, without leak: on FreeBSD kup.ko refuses to unload
	 * while a device exists, so a leaked one would keep it loaded.
	 */
	KT_EQ(kldload("/mod/kupvt.ko") >= 0, 1);
#else
	KT_EQ(system("insmod /mod/kupvt.ko leak=1"), 0); /* guest-suite.sh checks the leak */
#endif
	KT_EQ(vt_open(&v, 0), 0);
	vt_hello(&v);
	vt_close(&v);
}

KT_MAIN()
