// SPDX-License-Identifier: BSD-2-Clause
/*
 * vmtest.c - kup.ko's own tests, run inside the VM against kupvt.ko
 * (tests/vm/kupvt_mod.c).  They talk to /dev/kupvt through the raw device
 * ABI (ioctl + mmap) and core/, not libkup, so they can also do what libkup
 * never does: map wrongly, write garbage into the control page, rewrite a
 * message the kernel is reading, die while attached.
 * Built static (the initramfs has no libc).  Needs kup.ko and kupvt.ko
 * loaded; the unload test reloads kupvt from /mod/kupvt.ko.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <pthread.h>

#include "kt.h"
#include "kup_core.h"

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
	struct vt *v = e->host;
	struct kup_ioc_wait w = {.seen = seen, .timeout_ns = tmo};

	if (ioctl(v->fd, KUP_IOC_WAIT, &w) == 0)
		return 0;
	switch (errno) {
	case ETIMEDOUT:
		return -EKU_TIMEDOUT;
	case EINTR:
		return -EKU_INTR;
	case ESHUTDOWN:
		return -EKU_SHUTDOWN;
	case ENOTCONN:
		return -EKU_CLOSED;
	default:
		return -EKU_SYS;
	}
}

static void vt_wake(struct kup_end *e, uint32_t bits)
{
	struct vt *v = e->host;

	(void)ioctl(v->fd, KUP_IOC_WAKE);
}

static const struct kup_host_ops vt_ops = {.sleep = vt_sleep, .wake = vt_wake};

/* Attach channel chan: 0, or -errno of the step that failed. */
static int vt_open(struct vt *v, uint32_t chan)
{
	struct kup_ioc_attach a = {.abi = KUP_ABI_VERSION, .chan = chan, .size = 1};
	void *p;

	memset(v, 0, sizeof(*v));
	v->chan = chan;
	v->blk = KUP_BLOCK_LEN(1);
	v->len = KUP_MAP_LEN(1);
	v->fd = open(DEV, O_RDWR | O_CLOEXEC);
	if (v->fd < 0)
		return -errno;
	if (ioctl(v->fd, KUP_IOC_ATTACH, &a) < 0)
		goto fail;
	KT_EQ(a.map_len, v->len);
	/* One contiguous region: reserve, then the kern block RO and the user block RW. */
	p = mmap(NULL, v->len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	KT_ASSERT(p != MAP_FAILED);
	v->map = p;
	if (mmap(v->map, v->blk, PROT_READ, MAP_SHARED | MAP_FIXED, v->fd, 0) == MAP_FAILED ||
	    mmap(v->map + v->blk, v->blk, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, v->fd,
	         v->blk) == MAP_FAILED) {
		munmap(v->map, v->len);
		goto fail;
	}
	KT_EQ(kup_chan_check(v->map, 1, chan), 0);
	kup_end_init(&v->e, KUP_SIDE_USER, v->map, v->map + v->blk, 1, &vt_ops, v);
	return 0;
fail:
	a.abi = -errno;
	close(v->fd);
	v->fd = -1;
	return (int)a.abi;
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

static long meminfo(const char *key)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	KT_ASSERT(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':')
			v = atol(line + strlen(key) + 1);
	fclose(f);
	KT_ASSERT(v >= 0);
	return v;
}

/*
 * A /proc/meminfo value once it is below limit, polled for 10 s at most:
 * memory freed late (RCU, workqueues, a slow emulated CPU) is no leak.
 * A real leak stays above the limit and fails the caller's check.
 */
static long meminfo_below(const char *key, long limit)
{
	long v = meminfo(key);
	int i;

	for (i = 0; i < 100 && v >= limit; i++) {
		usleep(100000);
		v = meminfo(key);
	}
	return v;
}

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
	void *p;

	KT_ASSERT(fd >= 0);
	/* Not attached yet: nothing to map. */
	KT_ASSERT(mmap(NULL, blk, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED);
	KT_EQ(ioctl(fd, KUP_IOC_ATTACH, &a), 0);
	/* The kern block is never writable, nothing is executable. */
	KT_ASSERT(mmap(NULL, blk, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
	KT_EQ(errno, EACCES);
	KT_ASSERT(mmap(NULL, 2 * blk, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
	KT_EQ(errno, EACCES);
	KT_ASSERT(mmap(NULL, blk, PROT_READ | PROT_EXEC, MAP_SHARED, fd, blk) == MAP_FAILED);
	KT_EQ(errno, EACCES);
	/* Nothing beyond the end, nothing private. */
	KT_ASSERT(mmap(NULL, blk + KUP_PAGE, PROT_READ, MAP_SHARED, fd, blk) == MAP_FAILED);
	KT_EQ(errno, EINVAL);
	KT_ASSERT(mmap(NULL, KUP_PAGE, PROT_READ, MAP_SHARED, fd, 2 * blk) == MAP_FAILED);
	KT_ASSERT(mmap(NULL, blk, PROT_READ, MAP_PRIVATE, fd, blk) == MAP_FAILED);
	/* A read-only kern block cannot be made writable or executable later. */
	p = mmap(NULL, blk, PROT_READ, MAP_SHARED, fd, 0);
	KT_ASSERT(p != MAP_FAILED);
	KT_EQ(mprotect(p, blk, PROT_READ | PROT_WRITE), -1);
	KT_EQ(mprotect(p, blk, PROT_READ | PROT_EXEC), -1);
	KT_EQ(((const struct kup_kctl *)p)->hdr.magic, KUP_MAGIC);
	munmap(p, blk);
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
	vt_close(&v);
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
	/* Moving the kern block keeps it attached too. */
	moved = mremap(v.map, v.blk, v.blk, MREMAP_MAYMOVE | MREMAP_FIXED,
	               v.map + v.len + 8 * KUP_PAGE);
	KT_ASSERT(moved != MAP_FAILED);
	KT_EQ(((const struct kup_kctl *)moved)->hdr.magic, KUP_MAGIC);
	KT_EQ(vt_open(&w, 3), -EBUSY);
	/* The last piece gone: free. */
	KT_EQ(munmap(u, KUP_PAGE), 0);
	KT_EQ(vt_open(&w, 3), -EBUSY);
	KT_EQ(munmap(moved, v.blk), 0);
	KT_EQ(vt_open(&w, 3), 0);
	vt_hello(&w);
	vt_close(&w);
	v.map = NULL;
	vt_close(&v);
}

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

KT_TEST_T(no_leak_over_attach_cycles, 120)
{
	long vm0, sl0, vm1, sl1;
	struct vt v;
	int i;

	for (i = 0; i < 20; i++) { /* warm the caches first */
		KT_EQ(vt_open(&v, 0), 0);
		vt_hello(&v);
		vt_close(&v);
	}
	vm0 = meminfo("VmallocUsed");
	sl0 = meminfo("Slab");
	for (i = 0; i < 400; i++) {
		KT_EQ(vt_open(&v, i & 3), 0);
		vt_hello(&v);
		KT_EQ(kup_end_send(&v.e, "Ex", 2, 0, SECOND), 0);
		KT_EQ(kup_end_wait(&v.e, 0, SOON), 0);
		vt_close(&v);
	}
	vm1 = meminfo_below("VmallocUsed", vm0 + 200);
	sl1 = meminfo_below("Slab", sl0 + 200);
	printf("# VmallocUsed %ld -> %ld kB, Slab %ld -> %ld kB over 400 attaches\n", vm0, vm1, sl0,
	       sl1);
	/* A leak of one attach's memory (12 KiB vmalloc) each time would be 4.8 MB. */
	KT_ASSERT(vm1 - vm0 < 200);
	KT_ASSERT(sl1 - sl0 < 200);
}

/* Create and unload a device n times in kupvt (its parameter cycles). */
static void vt_cycles(int n)
{
	char buf[16];
	int fd = open("/sys/module/kupvt/parameters/cycles", O_WRONLY | O_CLOEXEC);
	int len = snprintf(buf, sizeof(buf), "%d", n);

	KT_ASSERT(fd >= 0);
	KT_EQ(write(fd, buf, len), len);
	close(fd);
}

/* An unloaded device leaves nothing behind: its softc is freed (no tombstone). */
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
	long vm0, vm1;
	uint8_t *p;

	vm0 = meminfo("VmallocUsed");
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
	vm1 = meminfo_below("VmallocUsed", vm0 + (long)(2 * len / 1024) + 200);
	printf("# VmallocUsed %ld -> %ld kB with %d detached files open (%zu kB each)\n", vm0, vm1,
	       BIG_FDS, len / 1024);
	/* Pinned by every file, it would be BIG_FDS * 2 MiB = 32 MiB. */
	KT_ASSERT(vm1 - vm0 < (long)(2 * len / 1024) + 200);
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
}

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
		KT_EQ(write(p[1], "x", 1), 1);
		KT_EQ(kup_end_wait(&v.e, 0, -1), -EKU_SHUTDOWN);
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
		KT_EQ(errno, ESHUTDOWN);
		pfd.fd = v.fd;
		pfd.events = POLLIN;
		KT_EQ(poll(&pfd, 1, 0), 1);
		KT_ASSERT(pfd.revents & POLLHUP);
		vt_close(&v);
		_exit(0);
	}
	KT_EQ(read(p[0], &c, 1), 1);
	usleep(200000);
	KT_EQ(system("rmmod kupvt"), 0);
	KT_EQ(waitpid(pid, &st, 0), pid);
	KT_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	KT_EQ(ioctl(spare, KUP_IOC_INFO, &in), 0);
	KT_EQ(in.state, KUP_ST_SHUTDOWN);
	KT_EQ(ioctl(spare, KUP_IOC_ATTACH, &a), -1);
	KT_EQ(errno, ESHUTDOWN);
	close(spare);
	KT_ASSERT(access(DEV, F_OK) != 0);
	KT_EQ(system("insmod /mod/kupvt.ko leak=1"), 0); /* guest-suite.sh checks the leak */
	KT_EQ(vt_open(&v, 0), 0);
	vt_hello(&v);
	vt_close(&v);
}

KT_MAIN()
