/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_emu.c - kup.ko for FreeBSD (the sources of kernel/freebsd and core/) run
 * unchanged on Linux over emulated KPIs (kemu.h): device creation, attach,
 * the exchange with both sides sleeping, detach, unload, poll and kqueue,
 * lifetimes.  The process side is core's user end driving the emulated
 * ioctls, as libkup's kp_kdev.c drives the real ones.
 */
#include "kt.h"
#include "kemu.h"
#include "kupsvc.h"
#include "kup_core.h"
#include "kup.h"
#include "kemu_sys.h" /* the test's own poll() reaches the emulated files too */
#include "kup_host.h"
#include <limits.h>
#include <sched.h>
#include <sys/syscall.h>

extern moduledata_t *kemu_module_kup;
extern moduledata_t *kemu_module_kup_echo; /* examples/echo/kup_echo.c */
extern int kemu_quiet;

#define SIZE 2
#define CAP  (SIZE * KUP_PAGE)
#define MS   1000000LL
/* Bound of a wait for the other side: a hang guard, generous for a loaded machine. */
#define SOON (20000 * MS)

/* --- the process side ------------------------------------------------------ */
struct user {
	struct kemu_file *f;
	struct kemu_vmap *kobj, *uobj;
	uint8_t *kblk, *ublk;
	struct kup_end e;
};

static int u_sleep(struct kup_end *e, const uint32_t *tw, uint32_t seen, int64_t tmo)
{
	struct user *u = e->host;
	struct kup_ioc_wait w = {.seen = seen, .timeout_ns = tmo < 0 ? -1 : tmo};
	int r = kemu_ioctl(u->f, KUP_IOC_WAIT, &w);

	(void)tw;
	switch (r) {
	case 0:
		return 0;
	case ETIMEDOUT:
		return -EKU_TIMEDOUT;
	case EINTR:
		return -EKU_INTR;
	case ESHUTDOWN:
	case ENXIO:
		return -EKU_SHUTDOWN;
	default:
		return -EKU_CLOSED;
	}
}

static void u_wake(struct kup_end *e, uint32_t bits)
{
	struct user *u = e->host;

	(void)bits;
	kemu_ioctl(u->f, KUP_IOC_WAKE, NULL);
}

static const struct kup_host_ops u_ops = {.sleep = u_sleep, .wake = u_wake};

/* Open /dev/name, attach chan, map both blocks: 0 or the errno of the failing step. */
static int u_attach_sz(struct user *u, const char *name, uint32_t chan, uint32_t size)
{
	struct kup_ioc_attach a = {.abi = KUP_ABI_VERSION, .chan = chan, .size = size};
	void *k, *w;
	int err = 0, r;

	memset(u, 0, sizeof(*u));
	u->f = kemu_open(name, &err);
	if (!u->f)
		return err;
	r = kemu_ioctl(u->f, KUP_IOC_ATTACH, &a);
	if (r) {
		kemu_close(u->f);
		return r;
	}
	KT_EQ(a.map_len, KUP_MAP_LEN(size));
	KT_EQ(kemu_mmap(u->f, 0, KUP_BLOCK_LEN(size), VM_PROT_READ, &u->kobj, &k), 0);
	KT_EQ(kemu_mmap(u->f, KUP_BLOCK_LEN(size), KUP_BLOCK_LEN(size),
	                VM_PROT_READ | VM_PROT_WRITE, &u->uobj, &w),
	      0);
	u->kblk = k;
	u->ublk = w;
	KT_EQ(kup_chan_check(k, size, chan), 0);
	kup_end_init(&u->e, KUP_SIDE_USER, k, w, size, &u_ops, u);
	u->e.spin_ns = 0; /* sleep at once: exercise KUP_IOC_WAIT / WAKE */
	return 0;
}

static int u_attach(struct user *u, const char *name, uint32_t chan)
{
	return u_attach_sz(u, name, chan, SIZE);
}

/* A stream attach (KUP_ATTACH_STREAM): 0 or the errno of the failing step. */
static int u_attach_stream(struct user *u, const char *name, uint32_t chan)
{
	struct kup_ioc_attach a = {
	    .abi = KUP_ABI_VERSION, .chan = chan, .size = SIZE, .flags = KUP_ATTACH_STREAM};
	void *k, *w;
	int err = 0, r;

	memset(u, 0, sizeof(*u));
	u->f = kemu_open(name, &err);
	if (!u->f)
		return err;
	r = kemu_ioctl(u->f, KUP_IOC_ATTACH, &a);
	if (r) {
		kemu_close(u->f);
		return r;
	}
	KT_EQ(kemu_mmap(u->f, 0, KUP_BLOCK_LEN(SIZE), VM_PROT_READ, &u->kobj, &k), 0);
	KT_EQ(kemu_mmap(u->f, KUP_BLOCK_LEN(SIZE), KUP_BLOCK_LEN(SIZE),
	                VM_PROT_READ | VM_PROT_WRITE, &u->uobj, &w),
	      0);
	u->kblk = k;
	u->ublk = w;
	KT_EQ(kup_chan_check(k, SIZE, chan), 0);
	kup_end_init(&u->e, KUP_SIDE_USER, k, w, SIZE, &u_ops, u);
	KT_EQ(u->e.stream, KUP_HDR_STREAM); /* the module's host recorded the mode */
	u->e.spin_ns = 0;
	return 0;
}

static void u_unmap(struct user *u)
{
	if (u->kobj)
		kemu_munmap(u->kobj);
	if (u->uobj)
		kemu_munmap(u->uobj);
	u->kobj = u->uobj = NULL;
}

static void u_close(struct user *u)
{
	if (u->f)
		kemu_close(u->f);
	u->f = NULL;
	u_unmap(u);
}

static void load_kup(void)
{
	kemu_quiet = 1;
	KT_EQ(kemu_module_kup->evhand(NULL, MOD_LOAD, NULL), 0);
}

/* Unload kup.ko: nothing it allocated may be left. */
static void unload_kup(void)
{
	KT_EQ(kemu_module_kup->evhand(NULL, MOD_UNLOAD, NULL), 0);
	KT_EQ(kemu_allocs, 0);
	KT_EQ(kemu_objects, 0);
}

/* --- kernel-side threads ------------------------------------------------------- */
struct kjob {
	struct kupdev_softc *sc;
	int chan;
	int rounds;
	int result;
	void *data;
};

/* Echo every message back until an error; returns that error. */
static int k_echo(void *arg)
{
	struct kjob *j = arg;
	void *d;
	size_t len;
	int r;

	j->chan = kupdev_wait_channel(j->sc);
	if (j->chan < 0)
		return j->chan;
	r = kupdev_send(j->sc, "hi", 2, j->chan);
	while (r == 0) {
		r = kupdev_recv(j->sc, j->chan, &d, &len, 0, KUP_FOREVER);
		if (r == 0)
			r = kupdev_send_timed(j->sc, j->chan, d, len, 0, KUP_FOREVER);
		j->rounds++;
	}
	return r;
}

static int k_receive(void *arg)
{
	struct kjob *j = arg;

	j->data = kupdev_receive(j->sc, j->chan);
	return j->data ? 0 : -kupdev_last_error(j->sc, j->chan);
}

static int k_wait_channel(void *arg)
{
	struct kjob *j = arg;

	return kupdev_wait_channel(j->sc);
}

/* --- tests ------------------------------------------------------------------------ */
KT_TEST(create_validates_and_unload_frees_the_device)
{
	struct kupdev_softc *sc, *sc2;
	struct kupdev_attr at = {.uid = 5, .gid = 6, .mode = 0660};

	load_kup();
	KT_ASSERT(kupdev_create(".hidden", 1, 1) == NULL);
	KT_EQ(kupdev_last_error(NULL, 0), EKU_INVAL);
	KT_ASSERT(kupdev_create("a/b", 1, 1) == NULL);
	KT_ASSERT(kupdev_create("", 1, 1) == NULL);
	KT_ASSERT(kupdev_create("x", 0, 1) == NULL);
	KT_ASSERT(kupdev_create("x", 1, 0) == NULL);
	KT_ASSERT(kupdev_create("x", KUP_MAX_SIZE + 1, 1) == NULL);
	KT_ASSERT(kupdev_create("0123456789012345678901234567890123456789012345678901234567890123",
	                        1, 1) == NULL);
	KT_ASSERT(kupdev_create_attr("x", 1, 1, &(struct kupdev_attr){.mode = 010600}) == NULL);
	KT_EQ(kupdev_last_error(NULL, 0), EKU_INVAL);
	sc = kupdev_create_attr("emu_a", SIZE, 3, &at);
	KT_ASSERT(sc);
	KT_ASSERT(kupdev_create("emu_a", 1, 1) == NULL);
	KT_EQ(kupdev_last_error(NULL, 0), EKU_EXIST);
	KT_EQ(kupdev_capacity(sc), CAP);
	KT_EQ(kupdev_channel_count(sc), 3);
	KT_EQ(kupdev_attached(sc, 0), 0);
	KT_EQ(kupdev_attached(sc, 3), -EKU_RANGE);
	KT_EQ(kupdev_send(sc, "x", 1, 0), -EKU_CLOSED); /* nobody attached */
	KT_EQ(kupdev_wait_channel_timed(sc, KUP_NB, 0), -EKU_NOTREADY);
	KT_EQ(kupdev_wait_channel_timed(sc, 0, 2 * MS), -EKU_TIMEDOUT);
	/* kup.ko refuses to go while a device lives. */
	KT_EQ(kemu_module_kup->evhand(NULL, MOD_UNLOAD, NULL), EBUSY);
	sc2 = kupdev_create("emu_b", 1, 1);
	KT_ASSERT(sc2);
	KT_EQ(kupdev_unload(sc), 0);
	KT_EQ(kupdev_unload(sc2), 0);
	/* No user left: both softcs are gone at once, no tombstone stays. */
	KT_EQ(kemu_allocs, 0);
	/* Shut down is not unloaded: kup.ko must refuse to go (its node still exists). */
	sc2 = kupdev_create("emu_shut", 1, 1);
	KT_ASSERT(sc2);
	KT_EQ(kupdev_shutdown(sc2), 0);
	KT_EQ(kupdev_send(sc2, "x", 1, 0), -EKU_SHUTDOWN); /* sc stays valid */
	KT_EQ(kemu_module_kup->evhand(NULL, MOD_QUIESCE, NULL), EBUSY);
	KT_EQ(kupdev_unload(sc2), 0);
	unload_kup();
}

KT_TEST(echo_both_sides_sleeping)
{
	struct kjob j = {0};
	struct kupsvc_thread *t;
	struct user u;
	struct kupdev_stats st;
	uint8_t msg[CAP];
	const void *d;
	uint32_t len;
	int i, k;

	load_kup();
	j.sc = kupdev_create("emu_echo", SIZE, 4);
	KT_ASSERT(j.sc);
	kupdev_set_spin(j.sc, 0); /* the kernel sleeps at once too */
	t = kupsvc_thread_start(k_echo, &j, "echo");
	KT_ASSERT(t);
	KT_EQ(u_attach(&u, "emu_echo", 2), 0);
	KT_EQ(kup_end_recv(&u.e, 0, SOON, &d, &len, 0), 0);
	KT_EQ(len, 2);
	KT_ASSERT(!memcmp(d, "hi", 2));
	for (i = 0; i < 300; i++) {
		uint32_t n = (uint32_t)(i * 97) % CAP + 1;

		for (k = 0; k < (int)n; k++)
			msg[k] = (uint8_t)(i + k);
		KT_EQ(kup_end_send(&u.e, msg, n, 0, SOON), 0);
		KT_EQ(kup_end_recv(&u.e, 0, SOON, &d, &len, 0), 0);
		KT_EQ(len, n);
		KT_ASSERT(!memcmp(d, msg, n));
	}
	KT_EQ(j.chan, 2);
	KT_EQ(kupdev_attached(j.sc, 2), 1);
	KT_EQ(kupdev_stats(j.sc, 2, &st), 0);
	KT_EQ(st.received, 300);
	KT_EQ(st.sent, 301);
	KT_EQ(st.attaches, 1);
	KT_EQ(kemu_poll(u.f, POLLIN), POLLIN); /* the echo is ours to read */
	/* The process goes away: the kernel's blocked receive ends with EKU_CLOSED. */
	u_close(&u);
	KT_EQ(kupsvc_thread_join(t), -EKU_CLOSED);
	KT_EQ(j.rounds, 301);
	KT_EQ(kupdev_unload(j.sc), 0);
	unload_kup();
}

/* The value of key in a kup-stat line (core/kup_stat.h), or -1. */
static long long stat_val(const char *line, const char *key)
{
	char pat[40];
	const char *p;

	snprintf(pat, sizeof(pat), " %s=", key);
	p = strstr(line, pat);
	return p && p < strchr(line, '\n') ? atoll(p + strlen(pat)) : -1;
}

/* sysctl dev.kup.stat: the device's block, its channels' counters and the process id. */
KT_TEST(sysctl_stat_matches_counters)
{
	struct kjob j = {0};
	struct kupsvc_thread *t;
	struct kupdev_stats st;
	struct user u_stat;
	const void *d;
	const char *l;
	uint32_t len;
	char *text;
	int i;

	load_kup();
	j.sc = kupdev_create("emu_stat", SIZE, 3);
	KT_ASSERT(j.sc);
	text = kemu_sysctl_string("_dev_kup.stat");
	KT_ASSERT(text);
	KT_ASSERT(strstr(text, "kup-stat 1 name=emu_stat size=2 channels=3 state=open\n"));
	l = strstr(text, "chan=1 ");
	KT_ASSERT(l);
	KT_ASSERT(!strncmp(l, "chan=1 pid=0 turn=none sent=0 ",
	                   strlen("chan=1 pid=0 turn=none sent=0 ")));
	(free)(text); /* libc's: kemu_sysctl_string's buffer */
	kupdev_set_spin(j.sc, 0);
	t = kupsvc_thread_start(k_echo, &j, "echo");
	KT_ASSERT(t);
	KT_EQ(u_attach(&u_stat, "emu_stat", 1), 0);
	KT_EQ(kup_end_recv(&u_stat.e, 0, SOON, &d, &len, 0), 0);
	for (i = 0; i < 50; i++) {
		KT_EQ(kup_end_send(&u_stat.e, "abcdefgh", (size_t)(i % 8), 0, SOON), 0);
		KT_EQ(kup_end_recv(&u_stat.e, 0, SOON, &d, &len, 0), 0);
	}
	/* The kern side's last send is counted before our receive saw it. */
	KT_EQ(kupdev_stats(j.sc, 1, &st), 0);
	text = kemu_sysctl_string("_dev_kup.stat");
	KT_ASSERT(text);
	l = strstr(text, "chan=1 ");
	KT_ASSERT(l);
	KT_EQ(stat_val(l, "pid"), 4242);
	KT_ASSERT(strstr(l, " turn=user ") && strstr(l, " turn=user ") < strchr(l, '\n'));
	KT_EQ(stat_val(l, "sent"), 51);
	KT_EQ(stat_val(l, "received"), 50);
	KT_EQ(stat_val(l, "sent"), st.sent);
	KT_EQ(stat_val(l, "received"), st.received);
	KT_EQ(stat_val(l, "bytes_sent"), st.bytes_sent);
	KT_EQ(stat_val(l, "bytes_received"), st.bytes_received);
	KT_EQ(stat_val(l, "bytes_received"), u_stat.e.cnt.bytes_sent);
	KT_EQ(stat_val(l, "attaches"), 1);
	KT_EQ(stat_val(l, "proto_errors"), 0);
	(free)(text);
	u_close(&u_stat);
	KT_EQ(kupsvc_thread_join(t), -EKU_CLOSED);
	text = kemu_sysctl_string("_dev_kup.stat");
	KT_ASSERT(text);
	l = strstr(text, "chan=1 ");
	KT_EQ(stat_val(l, "pid"), 0);
	KT_EQ(stat_val(l, "sent"), 51);
	KT_EQ(stat_val(l, "last_err"), EKU_CLOSED);
	(free)(text);
	KT_EQ(kupdev_unload(j.sc), 0);
	text = kemu_sysctl_string("_dev_kup.stat");
	KT_ASSERT(text && !strstr(text, "emu_stat"));
	(free)(text);
	unload_kup();
}

KT_TEST(attach_errors_and_mmap_rules)
{
	struct kupdev_softc *sc;
	struct kup_ioc_attach a = {.abi = KUP_ABI_VERSION, .chan = 0, .size = SIZE};
	struct kup_ioc_wait w = {.seen = 0, .timeout_ns = 0};
	struct kemu_file *f;
	struct user u, u2;
	struct kemu_vmap *o, *o2;
	void *p;
	int err;

	load_kup();
	sc = kupdev_create("emu_err", SIZE, 2);
	KT_ASSERT(sc);
	KT_ASSERT(kemu_open("emu_nope", &err) == NULL);
	KT_EQ(err, ENOENT);
	f = kemu_open("emu_err", &err);
	KT_ASSERT(f);
	KT_EQ(kemu_ioctl(f, KUP_IOC_WAIT, &w), ENOTCONN);
	KT_EQ(kemu_ioctl(f, KUP_IOC_WAKE, NULL), ENOTCONN);
	KT_EQ(kemu_mmap(f, 0, 4096, VM_PROT_READ, &o, &p), ENOTCONN);
	a.abi = 99;
	KT_EQ(kemu_ioctl(f, KUP_IOC_ATTACH, &a), EPROTO);
	a.abi = KUP_ABI_VERSION;
	a.chan = 2;
	KT_EQ(kemu_ioctl(f, KUP_IOC_ATTACH, &a), ERANGE);
	a.chan = 0;
	a.size = SIZE + 1;
	KT_EQ(kemu_ioctl(f, KUP_IOC_ATTACH, &a), EMSGSIZE);
	a.size = SIZE;
	KT_EQ(kemu_ioctl(f, KUP_IOC_ATTACH, &a), 0);
	KT_ASSERT(a.flags & KUP_ATTACH_CTL_RW); /* out: the control page may be mapped RW */
	KT_EQ(kemu_ioctl(f, KUP_IOC_ATTACH, &a), EISCONN);
	/* Another file: the channel is taken, never taken over. */
	KT_EQ(u_attach(&u2, "emu_err", 0), EBUSY);
	/* The kern data is never writable, nothing is executable or out of range. */
	KT_EQ(kemu_mmap(f, 0, KUP_MAP_LEN(SIZE), VM_PROT_READ | VM_PROT_WRITE, &o, &p), EACCES);
	KT_EQ(kemu_mmap(f, KUP_BLOCK_LEN(SIZE) - 4096, 8192, VM_PROT_WRITE, &o, &p), EACCES);
	KT_EQ(kemu_mmap(f, 0, 8192, VM_PROT_READ | VM_PROT_WRITE, &o, &p), EACCES);
	KT_EQ(kemu_mmap(f, 4096, 4096, VM_PROT_READ | VM_PROT_WRITE, &o, &p), EACCES);
	/* The kern control page may be mapped read-write (kup_abi.h). */
	KT_EQ(kemu_mmap(f, 0, 4096, VM_PROT_READ | VM_PROT_WRITE, &o2, &p), 0);
	KT_EQ(kemu_mmap(f, KUP_BLOCK_LEN(SIZE), 4096, VM_PROT_READ | VM_PROT_EXECUTE, &o, &p),
	      EACCES);
	KT_EQ(kemu_mmap(f, KUP_BLOCK_LEN(SIZE), KUP_BLOCK_LEN(SIZE) + 4096, VM_PROT_READ, &o, &p),
	      EINVAL);
	KT_EQ(kemu_mmap(f, KUP_MAP_LEN(SIZE), 4096, VM_PROT_READ, &o, &p), EINVAL);
	KT_EQ(kemu_mmap(f, 0, KUP_MAP_LEN(SIZE), VM_PROT_READ, &o, &p), 0);
	kemu_munmap(o);
	kemu_munmap(o2);
	/* Channel 1 is free; after the first file closes, channel 0 is too. */
	KT_EQ(u_attach(&u, "emu_err", 1), 0);
	kemu_close(f);
	KT_EQ(kupdev_wait_channel_timed(sc, KUP_NB, 0), 1); /* 0 came and went */
	KT_EQ(u_attach(&u2, "emu_err", 0), 0);
	KT_EQ(kupdev_wait_channel_timed(sc, KUP_NB, 0), 0);
	u_close(&u);
	u_close(&u2);
	KT_EQ(kupdev_unload(sc), 0);
	unload_kup();
}

KT_TEST(reattach_gets_fresh_pages_and_stale_pointers_stay_mapped)
{
	struct kupdev_softc *sc;
	struct user u;
	const void *d;
	void *buf;
	size_t cap;
	uint32_t len;
	int i;

	load_kup();
	sc = kupdev_create("emu_re", SIZE, 1);
	KT_ASSERT(sc);
	KT_EQ(u_attach(&u, "emu_re", 0), 0);
	KT_EQ(kupdev_send(sc, "abc", 3, 0), 0);
	KT_EQ(kup_end_recv(&u.e, 0, SOON, &d, &len, 0), 0);
	memset(u.ublk + KUP_PAGE, 0x77, CAP); /* leave data behind in the user block */
	KT_EQ(kup_end_pass(&u.e, 0, 0), 0);
	/* The kernel takes the zero-copy buffer; the process dies meanwhile. */
	KT_EQ(kupdev_send_buf(sc, 0, &buf, &cap, 0, SOON), 0);
	KT_EQ(cap, CAP);
	u_close(&u);
	memset(buf, 0x55, cap); /* still the kernel's mapping: no fault, no ASan report */
	KT_EQ(kupdev_send_commit(sc, 0, 10), -EKU_CLOSED);
	KT_EQ(kupdev_attached(sc, 0), 0);
	/* A new process gets zeroed pages, and the kernel its first turn again. */
	KT_EQ(u_attach(&u, "emu_re", 0), 0);
	for (i = 0; i < CAP; i++)
		KT_EQ(u.ublk[KUP_PAGE + i] | u.kblk[KUP_PAGE + i], 0);
	KT_EQ(kupdev_wait_channel(sc), 0);
	KT_EQ(kupdev_send(sc, "new", 3, 0), 0);
	KT_EQ(kup_end_recv(&u.e, 0, SOON, &d, &len, 0), 0);
	KT_EQ(len, 3);
	u_close(&u);
	KT_EQ(kupdev_unload(sc), 0);
	unload_kup();
}

/* A process leaves and another attaches before the module looked: -EKU_CLOSED once. */
KT_TEST(reattach_before_the_module_notices_reports_the_old_end)
{
	struct kupdev_softc *sc;
	struct user u;
	const void *d;
	uint32_t len;

	load_kup();
	sc = kupdev_create("emu_sess", SIZE, 1);
	KT_ASSERT(sc);
	KT_EQ(u_attach(&u, "emu_sess", 0), 0);
	KT_EQ(kupdev_wait_channel(sc), 0);
	KT_EQ(kupdev_send(sc, "old", 3, 0), 0);
	u_close(&u);
	KT_EQ(u_attach(&u, "emu_sess", 0), 0);
	KT_EQ(kupdev_send(sc, "mid", 3, 0), -EKU_CLOSED);
	KT_EQ(kupdev_last_error(sc, 0), EKU_CLOSED);
	KT_EQ(kupdev_wait_channel(sc), 0);
	KT_EQ(kupdev_send(sc, "new", 3, 0), 0);
	KT_EQ(kup_end_recv(&u.e, 0, SOON, &d, &len, 0), 0);
	KT_EQ(len, 3);
	KT_ASSERT(memcmp(d, "new", 3) == 0);
	u_close(&u);
	KT_EQ(kupdev_unload(sc), 0);
	unload_kup();
}

static void *send_mid(void *arg)
{
	return (void *)(intptr_t)kupdev_send(arg, "mid", 3, 0);
}

static void *claim_and_send(void *arg)
{
	int r = kupdev_claim_channel(arg, 0);

	return (void *)(intptr_t)(r ? r : kupdev_send(arg, "new", 3, 0));
}

/* A thread-keyed rule: another thread hears the old end, unless it claimed the attach. */
KT_TEST(session_belongs_to_the_thread_holding_the_attach)
{
	struct kupdev_softc *sc;
	struct user u;
	const void *d;
	uint32_t len;
	pthread_t t;
	void *r;

	load_kup();
	sc = kupdev_create("emu_hold", SIZE, 1);
	KT_ASSERT(sc);
	KT_EQ(u_attach(&u, "emu_hold", 0), 0);
	KT_EQ(kupdev_wait_channel(sc), 0);
	KT_EQ(kupdev_send(sc, "old", 3, 0), 0);
	u_close(&u);
	KT_EQ(u_attach(&u, "emu_hold", 0), 0);
	KT_EQ(kupdev_wait_channel(sc), 0);
	KT_EQ(pthread_create(&t, NULL, send_mid, sc), 0);
	KT_EQ(pthread_join(t, &r), 0);
	KT_EQ((intptr_t)r, -EKU_CLOSED);
	u_close(&u);
	KT_EQ(u_attach(&u, "emu_hold", 0), 0);
	KT_EQ(kupdev_wait_channel(sc), 0);
	KT_EQ(kupdev_send(sc, "one", 3, 0), 0); /* we hold it: no old end to hear */
	u_close(&u);
	KT_EQ(u_attach(&u, "emu_hold", 0), 0);
	KT_EQ(kupdev_wait_channel(sc), 0);
	KT_EQ(pthread_create(&t, NULL, claim_and_send, sc), 0);
	KT_EQ(pthread_join(t, &r), 0);
	KT_EQ((intptr_t)r, 0);
	KT_EQ(kup_end_recv(&u.e, 0, 5000 * MS, &d, &len, 0), 0);
	KT_EQ(len, 3);
	KT_ASSERT(memcmp(d, "new", 3) == 0);
	KT_EQ(kupdev_claim_channel(sc, 1), -EKU_RANGE);
	u_close(&u);
	KT_EQ(kupdev_unload(sc), 0);
	unload_kup();
}

struct lent {
	struct kupdev_softc *sc;
	const void *p;
	void *buf;
	size_t len, cap;
	int r;
};

/* A pool thread: takes a receive pointer and a send buffer, then leaves them held. */
static void *take_pointers(void *arg)
{
	struct lent *l = arg;

	l->r = kupdev_recv_shared_untrusted(l->sc, 0, &l->p, &l->len, 0, SOON);
	if (l->r == 0)
		l->r = kupdev_send_buf(l->sc, 0, &l->buf, &l->cap, 0, SOON);
	return NULL;
}

/*
 * Issue 14 F1: another thread's zero-copy pointers outlive the switch to a
 * newer attach (the memory stays until unload here: the holder never calls
 * again).  Before, the switch freed the pages under them (ASan: use after free).
 */
KT_TEST(zero_copy_pointers_of_a_pool_thread_outlive_reattach)
{
	struct lent l = {0};
	struct user u;
	const void *d;
	uint32_t len;
	pthread_t t;
	int i;

	load_kup();
	l.sc = kupdev_create("emu_loan", SIZE, 1);
	KT_ASSERT(l.sc);
	KT_EQ(u_attach(&u, "emu_loan", 0), 0);
	KT_EQ(kupdev_wait_channel(l.sc), 0);
	KT_EQ(kupdev_send(l.sc, "hi", 2, 0), 0);
	KT_EQ(kup_end_recv(&u.e, 0, SOON, &d, &len, 0), 0);
	KT_EQ(kup_end_send(&u.e, "payload", 7, 0, SOON), 0);
	KT_EQ(pthread_create(&t, NULL, take_pointers, &l), 0);
	KT_EQ(pthread_join(t, NULL), 0);
	KT_EQ(l.r, 0);
	u_close(&u);
	KT_EQ(u_attach(&u, "emu_loan", 0), 0);
	KT_EQ(kupdev_wait_channel(l.sc), 0);
	KT_EQ(kupdev_send(l.sc, "new", 3, 0), 0); /* moves the channel on */
	KT_ASSERT(l.len == 7 && memcmp(l.p, "payload", 7) == 0);
	memset(l.buf, 0x5a, l.cap);
	KT_EQ(kup_end_recv(&u.e, 0, SOON, &d, &len, 0), 0);
	KT_ASSERT(len == 3 && memcmp(d, "new", 3) == 0);
	for (i = 3; i < CAP; i++)
		KT_EQ(((const uint8_t *)d)[i], 0);
	u_close(&u);
	KT_EQ(kupdev_unload(l.sc), 0); /* and frees the old attach */
	unload_kup();
}

struct echoer {
	struct kupdev_softc *sc;
	const void *p;
	size_t len;
	int r, stage; /* stage: atomic */
	int late;     /* what the echo got first: the old session's end */
};

/*
 * A pool thread: takes a receive pointer, then (stage 2) echoes it with
 * kupdev_send_timed.  The channel moved on meanwhile, so that call reports
 * the old session's end; told, the thread sends again, the pointer still
 * the argument.
 */
static void *take_then_echo(void *arg)
{
	struct echoer *l = arg;

	l->r = kupdev_recv_shared_untrusted(l->sc, 0, &l->p, &l->len, 0, SOON);
	__atomic_store_n(&l->stage, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&l->stage, __ATOMIC_SEQ_CST) != 2)
		usleep(1000);
	if (l->r == 0) {
		l->late = kupdev_send_timed(l->sc, 0, l->p, l->len, 0, SOON);
		l->r = kupdev_send_timed(l->sc, 0, l->p, l->len, 0, SOON);
	}
	return NULL;
}

/*
 * The soak's finding (tests/vm/soak.c): the pointer is valid as the
 * argument of its thread's next call.  That call once ended the loan and
 * freed the old attach's memory before copying from it.  And the thread,
 * in the old session's conversation, first hears that session's end
 * (session rule per thread): its reply does not reach the new process
 * unasked.
 */
KT_TEST(zero_copy_receive_echoed_after_reattach)
{
	struct echoer l = {0};
	struct user u;
	const void *d;
	uint32_t len;
	void *m;
	size_t n;
	pthread_t t;

	load_kup();
	l.sc = kupdev_create("emu_echo", SIZE, 1);
	KT_ASSERT(l.sc);
	KT_EQ(u_attach(&u, "emu_echo", 0), 0);
	KT_EQ(kupdev_wait_channel(l.sc), 0);
	KT_EQ(kupdev_send(l.sc, "hi", 2, 0), 0);
	KT_EQ(kup_end_recv(&u.e, 0, SOON, &d, &len, 0), 0);
	KT_EQ(kup_end_send(&u.e, "payload", 7, 0, SOON), 0);
	KT_EQ(pthread_create(&t, NULL, take_then_echo, &l), 0);
	while (__atomic_load_n(&l.stage, __ATOMIC_SEQ_CST) != 1)
		usleep(1000);
	KT_EQ(l.r, 0);
	u_close(&u);
	KT_EQ(u_attach(&u, "emu_echo", 0), 0);
	KT_EQ(kupdev_wait_channel(l.sc), 0);
	KT_EQ(kupdev_send(l.sc, "new", 3, 0), 0); /* moves the channel on */
	KT_EQ(kup_end_recv(&u.e, 0, SOON, &d, &len, 0), 0);
	KT_EQ(kup_end_send(&u.e, "x", 1, 0, SOON), 0);
	KT_EQ(kupdev_recv(l.sc, 0, &m, &n, 0, SOON), 0);
	KT_EQ(n, 1);
	__atomic_store_n(&l.stage, 2, __ATOMIC_SEQ_CST); /* the kern side's turn: the echo copies */
	KT_EQ(pthread_join(t, NULL), 0);
	KT_EQ(l.late, -EKU_CLOSED);
	KT_EQ(l.r, 0);
	KT_EQ(kup_end_recv(&u.e, 0, SOON, &d, &len, 0), 0);
	KT_ASSERT(len == 7 && memcmp(d, "payload", 7) == 0);
	u_close(&u);
	KT_EQ(kupdev_unload(l.sc), 0);
	unload_kup();
}

/* Issue 11: NULL out-pointers refused, and kupdev_unlock_channel keeps the old end (as everywhere).
 */
KT_TEST(null_outputs_refused_and_unlock_keeps_the_old_end)
{
	struct kupdev_softc *sc;
	struct user u;
	const void *d, *p;
	void *b;
	size_t n;
	uint32_t len;

	load_kup();
	sc = kupdev_create("emu_api", SIZE, 1);
	KT_ASSERT(sc);
	KT_EQ(u_attach(&u, "emu_api", 0), 0);
	KT_EQ(kupdev_wait_channel(sc), 0);
	KT_EQ(kupdev_recv(sc, 0, &b, NULL, KUP_NB, 0), -EKU_INVAL);
	KT_EQ(kupdev_recv(sc, 0, NULL, &n, KUP_NB, 0), -EKU_INVAL);
	KT_EQ(kupdev_recv_shared_untrusted(sc, 0, &p, NULL, KUP_NB, 0), -EKU_INVAL);
	KT_EQ(kupdev_send_buf(sc, 0, &b, NULL, KUP_NB, 0), -EKU_INVAL);
	KT_EQ(kupdev_send_recv(sc, 0, "x", 1, &b, NULL, KUP_NB, 0), -EKU_INVAL);
	KT_EQ(kupdev_send_recv(sc, 0, "x", 1, NULL, &n, KUP_NB, 0), -EKU_INVAL);
	KT_EQ(kupdev_send(sc, "old", 3, 0), 0);
	u_close(&u);
	KT_EQ(u_attach(&u, "emu_api", 0), 0);
	kupdev_unlock_channel(sc, 0);
	KT_EQ(kupdev_send(sc, "mid", 3, 0), -EKU_CLOSED);
	KT_EQ(kupdev_wait_channel(sc), 0);
	KT_EQ(kupdev_send(sc, "new", 3, 0), 0);
	KT_EQ(kup_end_recv(&u.e, 0, SOON, &d, &len, 0), 0);
	KT_ASSERT(len == 3 && memcmp(d, "new", 3) == 0);
	u_close(&u);
	KT_EQ(kupdev_unload(sc), 0);
	unload_kup();
}

/*
 * kupdev_send_recv's reply after its quick send half: the process answers
 * and leaves, and a new one attaches, between the send and the wait for
 * the reply (kemu_probe_hook at the send's probe).  The reply was sent
 * before the process left, so the call gets it, as the full path does.
 * Before the fix the reply half admitted the channel again, met the new
 * attach and answered -EKU_CLOSED: the reply was lost.
 */
struct reattach {
	struct user old, new;
	pthread_t leaver;
	int armed, r;
};
static struct reattach ra;

/* The old process: take the module's message, answer it, close (the detach waits for the call). */
static void *ra_leave(void *arg)
{
	const void *d;
	uint32_t len;

	(void)arg;
	ra.r = kup_end_recv(&ra.old.e, 0, SOON, &d, &len, 0);
	if (!ra.r)
		ra.r = kup_end_send(&ra.old.e, "reply", 5, KUPC_NB, 0);
	u_close(&ra.old);
	return NULL;
}

static void ra_at_send(const char *func, const char *name)
{
	int i;

	if (!ra.armed || strcmp(name, "send") != 0)
		return;
	(void)func;
	ra.armed = 0;
	KT_EQ(pthread_create(&ra.leaver, NULL, ra_leave, NULL), 0);
	/* The channel is free once the old process's detach began: attach the new one. */
	for (i = 0; i < 2000 && u_attach(&ra.new, "emu_sr", 0) != 0; i++)
		usleep(1000);
	KT_ASSERT(ra.new.f != NULL);
}

KT_TEST(send_recv_reply_survives_a_reattach_meanwhile)
{
	struct kupdev_softc *sc;
	const void *d;
	uint32_t len;
	void *b;
	size_t n;

	load_kup();
	sc = kupdev_create("emu_sr", SIZE, 1);
	KT_ASSERT(sc);
	KT_EQ(u_attach(&ra.old, "emu_sr", 0), 0);
	KT_EQ(kupdev_wait_channel(sc), 0);
	KT_EQ(kupdev_send(sc, "hi", 2, 0), 0);
	KT_EQ(kup_end_recv(&ra.old.e, 0, SOON, &d, &len, 0), 0);
	KT_EQ(kup_end_send(&ra.old.e, "ok", 2, KUPC_NB, 0), 0);
	KT_EQ(kupdev_recv(sc, 0, &b, &n, 0, SOON), 0);
	kemu_probe_hook = ra_at_send;
	ra.armed = 1;
	KT_EQ(kupdev_send_recv(sc, 0, "q", 1, &b, &n, 0, SOON), 0);
	kemu_probe_hook = NULL;
	KT_EQ(ra.armed, 0); /* the hook ran: the world changed inside the call */
	KT_ASSERT(n == 5 && memcmp(b, "reply", 5) == 0);
	KT_EQ(pthread_join(ra.leaver, NULL), 0);
	KT_EQ(ra.r, 0);
	/* The old conversation's end, once; then the new process. */
	KT_EQ(kupdev_send(sc, "x", 1, 0), -EKU_CLOSED);
	KT_EQ(kupdev_wait_channel(sc), 0);
	KT_EQ(kupdev_send(sc, "new", 3, 0), 0);
	KT_EQ(kup_end_recv(&ra.new.e, 0, SOON, &d, &len, 0), 0);
	KT_ASSERT(len == 3 && memcmp(d, "new", 3) == 0);
	u_close(&ra.new);
	KT_EQ(kupdev_unload(sc), 0);
	unload_kup();
}

/* Issue 11: pending attaches are reported oldest first (this module went round robin). */
KT_TEST(wait_channel_reports_attaches_in_order)
{
	static const int order[] = {2, 0, 3, 1};
	struct kupdev_softc *sc;
	struct user u[4];
	int i;

	load_kup();
	sc = kupdev_create("emu_fifo", SIZE, 4);
	KT_ASSERT(sc);
	for (i = 0; i < 4; i++)
		KT_EQ(u_attach(&u[i], "emu_fifo", order[i]), 0);
	u_close(&u[1]); /* channel 0 leaves before it was reported: not reported */
	for (i = 0; i < 4; i++)
		if (i != 1)
			KT_EQ(kupdev_wait_channel(sc), order[i]);
	KT_EQ(kupdev_wait_channel_timed(sc, KUP_NB, 0), -EKU_NOTREADY);
	for (i = 0; i < 4; i++)
		if (i != 1)
			u_close(&u[i]);
	KT_EQ(kupdev_unload(sc), 0);
	unload_kup();
}

struct other_map {
	struct kemu_file *f;
	int r;
};

/* Another process with the channel's fd (a forked child, a passed fd) tries to map it. */
static void *map_as_other_process(void *arg)
{
	struct other_map *o = arg;
	struct kemu_vmap *v;
	void *p;

	kemu_other_process(1);
	o->r = kemu_mmap(o->f, KUP_BLOCK_LEN(SIZE), KUP_BLOCK_LEN(SIZE),
	                 VM_PROT_READ | VM_PROT_WRITE, &v, &p);
	if (o->r == 0)
		kemu_munmap(v);
	return NULL;
}

/* Issue 14 F3: only the attaching process may map the channel; the reference it keeps goes at
 * close. */
KT_TEST(only_the_attaching_process_maps_the_channel)
{
	struct other_map o = {0};
	struct kupdev_softc *sc;
	struct user u;
	const void *d;
	uint32_t len;
	pthread_t t;
	int refs = kemu_vmspace_refs;

	load_kup();
	sc = kupdev_create("emu_own", SIZE, 1);
	KT_ASSERT(sc);
	KT_EQ(u_attach(&u, "emu_own", 0), 0);
	KT_EQ(kemu_vmspace_refs, refs + 1);
	o.f = u.f;
	KT_EQ(pthread_create(&t, NULL, map_as_other_process, &o), 0);
	KT_EQ(pthread_join(t, NULL), 0);
	KT_EQ(o.r, EPERM);
	/* The owner's channel is untouched. */
	KT_EQ(kupdev_wait_channel(sc), 0);
	KT_EQ(kupdev_send(sc, "own", 3, 0), 0);
	KT_EQ(kup_end_recv(&u.e, 0, SOON, &d, &len, 0), 0);
	KT_ASSERT(len == 3 && memcmp(d, "own", 3) == 0);
	u_close(&u);
	KT_EQ(kemu_vmspace_refs, refs);
	KT_EQ(kupdev_unload(sc), 0);
	unload_kup();
}

/* kupdev_wait_channel_timed's flags: as on every host (tests/integ/integ_session.c). */
KT_TEST(wait_channel_flags)
{
	struct kupdev_softc *sc;
	struct user u;

	load_kup();
	sc = kupdev_create("emu_wflags", SIZE, 1);
	KT_ASSERT(sc);
	KT_EQ(kupdev_wait_channel_timed(sc, 0x4, 0), -EKU_INVAL);
	KT_EQ(kupdev_wait_channel_timed(sc, KUP_NB | KUP_POLL, -1), -EKU_NOTREADY);
	KT_EQ(kupdev_wait_channel_timed(sc, KUP_POLL, 10 * MS), -EKU_TIMEDOUT);
	KT_EQ(u_attach(&u, "emu_wflags", 0), 0);
	KT_EQ(kupdev_wait_channel_timed(sc, KUP_POLL, -1), 0);
	u_close(&u);
	KT_EQ(kupdev_unload(sc), 0);
	unload_kup();
}

KT_TEST(pass_reads_as_zero_byte_and_receive_is_a_private_copy)
{
	struct kupdev_softc *sc;
	struct user u;
	const void *d;
	uint32_t len;
	uint8_t *p;

	load_kup();
	sc = kupdev_create("emu_pass", SIZE, 1);
	KT_ASSERT(sc);
	KT_EQ(u_attach(&u, "emu_pass", 0), 0);
	KT_EQ(kupdev_send(sc, "q", 1, 0), 0);
	KT_EQ(kup_end_send(&u.e, "xyz", 3, 0, SOON), 0);
	p = kupdev_receive(sc, 0);
	KT_ASSERT(p);
	KT_ASSERT(p != u.ublk + KUP_PAGE);
	KT_ASSERT(!memcmp(p, "xyz", 3));
	u.ublk[KUP_PAGE] = 'Z'; /* the process rewrites its buffer: the copy stays */
	KT_EQ(p[0], 'x');
	kupdev_unlock_channel(sc, 0);
	kupdev_pass(sc, 0);
	KT_EQ(kupdev_last_error(sc, 0), 0);
	KT_EQ(kup_end_recv(&u.e, 0, SOON, &d, &len, 0), 0);
	KT_EQ(len, 0);
	KT_EQ(((const uint8_t *)d)[0], 0);
	KT_EQ(kup_end_pass(&u.e, 0, SOON), 0);
	p = kupdev_receive(sc, 0);
	KT_ASSERT(p);
	KT_EQ(p[0], 0); /* an empty message, after "xyz" */
	u_close(&u);
	KT_EQ(kupdev_unload(sc), 0);
	unload_kup();
}

KT_TEST(hostile_length_breaks_only_that_channel)
{
	struct kupdev_softc *sc;
	struct user u, v;
	struct kup_uctl *uc;
	struct kupdev_stats st;
	const void *d;
	uint32_t len;

	load_kup();
	sc = kupdev_create("emu_bad", SIZE, 2);
	KT_ASSERT(sc);
	KT_EQ(u_attach(&u, "emu_bad", 0), 0);
	KT_EQ(u_attach(&v, "emu_bad", 1), 0);
	kupdev_pass(sc, 0);
	KT_EQ(kupdev_send(sc, "ok", 2, 1), 0);
	KT_EQ(kup_end_recv(&u.e, 0, SOON, &d, &len, 0), 0);
	uc = (struct kup_uctl *)u.ublk;
	uc->u.len = CAP + 1; /* a lie */
	__atomic_store_n(&uc->u.tw, KUP_TW(1, KUP_ST_OPEN), __ATOMIC_RELEASE);
	KT_ASSERT(kupdev_receive(sc, 0) == NULL);
	KT_EQ(kupdev_last_error(sc, 0), EKU_PROTO);
	KT_EQ(kupdev_send(sc, "x", 1, 0), -EKU_PROTO); /* sticky */
	KT_EQ(kupdev_stats(sc, 0, &st), 0);
	KT_EQ(st.proto_errors, 1);
	KT_EQ(kup_end_poll(&u.e), -EKU_CLOSED); /* the process lost the channel */
	KT_EQ(kemu_poll(u.f, POLLIN) & POLLHUP, POLLHUP);
	/* Channel 1 is untouched. */
	KT_EQ(kup_end_recv(&v.e, 0, SOON, &d, &len, 0), 0);
	KT_EQ(len, 2);
	u_close(&u);
	u_close(&v);
	KT_EQ(kupdev_unload(sc), 0);
	unload_kup();
}

struct uwait {
	struct user *u;
	int r;
};

static void *u_blocked_recv(void *arg)
{
	struct uwait *w = arg;
	const void *d;
	uint32_t len;

	w->r = kup_end_recv(&w->u->e, 0, -1, &d, &len, 0);
	return NULL;
}

KT_TEST(unload_wakes_every_waiter_and_mappings_outlive_it)
{
	struct kjob jr = {0}, jw = {0};
	struct kupsvc_thread *tr, *tw;
	struct user u, v;
	struct uwait w = {.u = &u, .r = 1};
	struct kup_ioc_wait nw = {0};
	struct kup_ioc_info info;
	struct knote kn;
	struct kemu_file *dh;
	pthread_t pt;
	const struct kup_kctl *kc;
	const void *d;
	uint32_t len;
	int err;

	load_kup();
	jr.sc = jw.sc = kupdev_create("emu_unl", SIZE, 3);
	KT_ASSERT(jr.sc);
	dh = kemu_open("emu_unl", &err);
	KT_ASSERT(dh);
	KT_EQ(u_attach(&u, "emu_unl", 0), 0);
	KT_EQ(u_attach(&v, "emu_unl", 1), 0);
	KT_EQ(kupdev_wait_channel(jr.sc), 0);
	KT_EQ(kupdev_wait_channel(jr.sc), 1);
	/* A kernel thread waits in receive on 1 (the kernel's first turn is "no message": pass). */
	kupdev_pass(jr.sc, 1);
	jr.chan = 1;
	tr = kupsvc_thread_start(k_receive, &jr, "recv");
	KT_ASSERT(tr);
	/* Another waits for a channel; the process waits on channel 0 with a knote armed. */
	tw = kupsvc_thread_start(k_wait_channel, &jw, "wait");
	KT_ASSERT(tw);
	KT_EQ(kemu_kqfilter(u.f, &kn), 0);
	KT_EQ(kup_end_arm(&u.e, KUP_WAIT_FD), 0);
	KT_EQ(pthread_create(&pt, NULL, u_blocked_recv, &w), 0);
	/* Notify, then a notify wait that unload ends. */
	KT_EQ(kemu_ioctl(dh, KUP_IOC_INFO, &info), 0);
	kupdev_notify(jr.sc);
	nw.seen = info.notify;
	nw.timeout_ns = -1;
	KT_EQ(kemu_ioctl(dh, KUP_IOC_NOTIFY, &nw), 0);
	KT_EQ(kemu_poll(dh, POLLIN), 0); /* NOTIFY updated what this handle has seen */
	/* One that times out reads nothing, whatever seen it was given. */
	kupdev_notify(jr.sc);
	nw.seen = info.notify + 2; /* the generation now */
	nw.timeout_ns = 0;
	KT_EQ(kemu_ioctl(dh, KUP_IOC_NOTIFY, &nw), ETIMEDOUT);
	KT_EQ(kemu_poll(dh, POLLIN), POLLIN);
	KT_EQ(kemu_ioctl(dh, KUP_IOC_INFO, &info), 0);
	KT_EQ(kemu_poll(dh, POLLIN), 0);
	usleep(20000); /* let everyone go to sleep (not required for correctness) */

	KT_EQ(kupdev_unload(jr.sc), 0);
	KT_EQ(kupsvc_thread_join(tr), -EKU_SHUTDOWN);
	KT_EQ(kupsvc_thread_join(tw), -EKU_SHUTDOWN);
	pthread_join(pt, NULL);
	KT_EQ(w.r, -EKU_SHUTDOWN);
	KT_ASSERT(kn.kn_fired && (kn.kn_flags & EV_EOF));
	/* Kept, not dropped, until kqueue drops it: still EOF, whenever asked. */
	KT_ASSERT(!kn.kn_detached);
	kn.kn_flags = 0;
	KT_EQ(kemu_knote_event(&kn), 1);
	KT_EQ(kn.kn_flags & EV_EOF, EV_EOF);
	/* The device is gone for every file... */
	KT_EQ(kemu_ioctl(dh, KUP_IOC_INFO, &info), ENXIO);
	KT_EQ(kemu_poll(u.f, POLLIN), POLLHUP);
	/* ...but the pages stay mapped and say why. */
	kc = (const struct kup_kctl *)u.kblk;
	KT_EQ(KUP_TW_STATE(kc->k.tw), KUP_ST_SHUTDOWN);
	/* Orderly end: the pass sent to channel 1 before the unload first, then the shutdown. */
	KT_EQ(kup_end_recv(&v.e, KUPC_NB, 0, &d, &len, 0), 0);
	KT_EQ(kup_end_poll(&v.e), -EKU_SHUTDOWN);
	kemu_close(dh);
	u_close(&v);
	/* A mapping keeps the softc and its pages, so kup.ko (its pager ops) stays. */
	kemu_close(u.f);
	u.f = NULL;
	KT_ASSERT(kemu_allocs > 0);
	KT_EQ(kemu_module_kup->evhand(NULL, MOD_UNLOAD, NULL), EBUSY);
	KT_EQ(kc->hdr.magic, KUP_MAGIC);
	u_unmap(&u);
	/* So does a knote (its filterops are kup.ko's) until kqueue drops it. */
	KT_EQ(kemu_module_kup->evhand(NULL, MOD_UNLOAD, NULL), EBUSY);
	kn.kn_fop->f_detach(&kn); /* the last user: the softc goes with the knote */
	unload_kup();
}

/*
 * A device handle's knote across the unload: fired (EV_EOF) and kept, and
 * destroy_dev's cdevpriv destructor leaves the cdevpriv it hooks alive.
 */
KT_TEST(device_handle_knote_outlives_its_cdevpriv)
{
	struct kupdev_softc *sc;
	struct kemu_file *dh;
	struct knote kn, kn2;
	int err;

	load_kup();
	sc = kupdev_create("emu_dkn", SIZE, 1);
	KT_ASSERT(sc);
	dh = kemu_open("emu_dkn", &err);
	KT_ASSERT(dh);
	KT_EQ(kemu_kqfilter(dh, &kn), 0);
	KT_EQ(kemu_kqfilter(dh, &kn2), 0); /* a second kqueue on the same file */
	kupdev_notify(sc);
	KT_ASSERT(kn.kn_fired && kn2.kn_fired);
	kn.kn_fired = kn2.kn_fired = 0;
	KT_EQ(kupdev_unload(sc), 0); /* destroy_dev: the cdevpriv's destructor ran */
	KT_ASSERT(kn.kn_fired && (kn.kn_flags & EV_EOF));
	KT_ASSERT(kn2.kn_fired && (kn2.kn_flags & EV_EOF));
	KT_ASSERT(!kn.kn_detached && !kn2.kn_detached);
	kn.kn_flags = 0;
	KT_EQ(kemu_knote_event(&kn), 1); /* asked again */
	KT_EQ(kn.kn_flags & EV_EOF, EV_EOF);
	kn.kn_fop->f_detach(&kn);
	KT_EQ(kemu_module_kup->evhand(NULL, MOD_UNLOAD, NULL), EBUSY);
	kn2.kn_fop->f_detach(&kn2); /* the last: frees the cdevpriv, then the softc */
	kemu_close(dh);
	unload_kup();
}

KT_TEST(poll_follows_the_turn)
{
	struct kupdev_softc *sc;
	struct user u;
	struct knote kn;

	load_kup();
	sc = kupdev_create("emu_poll", SIZE, 1);
	KT_ASSERT(sc);
	KT_EQ(u_attach(&u, "emu_poll", 0), 0);
	KT_EQ(kemu_poll(u.f, POLLIN), 0);
	KT_EQ(kemu_kqfilter(u.f, &kn), 0);
	KT_EQ(kup_end_arm(&u.e, KUP_WAIT_FD), 0);
	KT_EQ(kupdev_send(sc, "x", 1, 0), 0);
	KT_EQ(kn.kn_fired, 1); /* the kernel saw KUP_WAIT_FD and fired the knote */
	KT_EQ(kemu_poll(u.f, POLLIN), POLLIN);
	KT_EQ(kup_end_send(&u.e, "y", 1, 0, 0), 0);
	KT_EQ(kemu_poll(u.f, POLLIN), 0);
	kn.kn_fop->f_detach(&kn); /* as kqueue does before close */
	u_close(&u);
	KT_EQ(kupdev_unload(sc), 0);
	unload_kup();
}

/* The echo example as a module: KUPSVC_DEFINE, service threads, stop() at unload. */
KT_TEST(echo_example_module_loads_serves_and_unloads)
{
	struct user u;
	const void *d;
	uint32_t len;
	int r;

	load_kup();
	KT_EQ(kemu_module_kup_echo->evhand(NULL, MOD_LOAD, NULL), 0);
	KT_EQ(kemu_module_kup->evhand(NULL, MOD_QUIESCE, NULL), EBUSY);
	KT_EQ(u_attach_sz(&u, "kup_echo", 1, 1), 0);
	KT_EQ(kup_end_recv(&u.e, 0, SOON, &d, &len, 0), 0);
	KT_EQ(len, strlen("hello from kup_echo, channel 1"));
	KT_ASSERT(!memcmp(d, "hello from kup_echo, channel 1", len));
	KT_EQ(kup_end_send(&u.e, "ping", 4, 0, SOON), 0);
	KT_EQ(kup_end_recv(&u.e, 0, SOON, &d, &len, 0), 0);
	KT_EQ(len, 4);
	KT_ASSERT(!memcmp(d, "ping", 4));
	/*
	 * Unload with the process attached: it sees the shutdown, after the
	 * echo of "x" when the service sent it before the unload (orderly
	 * end: a message sent before the end is delivered first).
	 */
	KT_EQ(kup_end_send(&u.e, "x", 1, 0, SOON), 0);
	KT_EQ(kemu_module_kup_echo->evhand(NULL, MOD_UNLOAD, NULL), 0);
	/* One receive decides (a poll first would take the turn, and the end comes next). */
	r = kup_end_recv(&u.e, 0, SOON, &d, &len, 0);
	if (r == 0) {
		KT_ASSERT(len == 1 && !memcmp(d, "x", 1));
		KT_EQ(kup_end_send(&u.e, "y", 1, KUPC_NB, 0), -EKU_SHUTDOWN);
	} else {
		KT_EQ(r, -EKU_SHUTDOWN);
	}
	KT_EQ(kup_end_poll(&u.e), -EKU_SHUTDOWN);
	KT_EQ(kup_end_recv(&u.e, 0, SOON, &d, &len, 0), -EKU_SHUTDOWN);
	u_close(&u);
	unload_kup();
}

/* The last munmap of an attach detaches it, as close does; a forked mapping counts. */
KT_TEST(munmap_detaches_and_fork_keeps_the_channel)
{
	struct kupdev_softc *sc;
	struct kup_ioc_attach a = {.abi = KUP_ABI_VERSION, .chan = 0, .size = SIZE};
	struct kup_ioc_wait w = {.seen = 0, .timeout_ns = 0};
	struct kjob j = {0};
	struct kupsvc_thread *t;
	struct kemu_vmap *child, *o;
	struct user u, v;
	void *p;

	load_kup();
	j.sc = sc = kupdev_create("emu_unmap", SIZE, 1);
	KT_ASSERT(sc);
	KT_EQ(u_attach(&u, "emu_unmap", 0), 0);
	KT_EQ(kupdev_wait_channel(sc), 0);
	kupdev_pass(sc, 0);
	/* One mapping of two going changes nothing. */
	kemu_munmap(u.kobj);
	u.kobj = NULL;
	KT_EQ(kupdev_attached(sc, 0), 1);
	/* A forked child's mapping keeps the attach when the parent unmaps. */
	child = kemu_vmap_fork(u.uobj);
	kemu_munmap(u.uobj);
	u.uobj = NULL;
	KT_EQ(kupdev_attached(sc, 0), 1);
	/* The kernel waits for the process; the child's munmap ends the attach. */
	j.chan = 0;
	t = kupsvc_thread_start(k_receive, &j, "recv");
	KT_ASSERT(t);
	kemu_munmap(child);
	KT_EQ(kupsvc_thread_join(t), -EKU_CLOSED);
	KT_EQ(kupdev_attached(sc, 0), 0);
	/* The file stays open but is no channel any more, and cannot be one again. */
	KT_EQ(kemu_ioctl(u.f, KUP_IOC_WAIT, &w), ENOTCONN);
	KT_EQ(kemu_poll(u.f, POLLIN) & POLLHUP, POLLHUP);
	KT_EQ(kemu_mmap(u.f, 0, KUP_BLOCK_LEN(SIZE), VM_PROT_READ, &o, &p), ENOTCONN);
	KT_EQ(kemu_ioctl(u.f, KUP_IOC_ATTACH, &a), EISCONN);
	/* Another process attaches the channel meanwhile. */
	KT_EQ(u_attach(&v, "emu_unmap", 0), 0);
	KT_EQ(kupdev_wait_channel(sc), 0);
	KT_EQ(kupdev_send(sc, "v", 1, 0), 0);
	u_close(&u); /* the old file's close touches the new attach in nothing */
	KT_EQ(kupdev_attached(sc, 0), 1);
	u_close(&v);
	KT_EQ(kupdev_unload(sc), 0);
	unload_kup();
}

/* A knote of a detached file reports EOF, not the state of the next attach. */
KT_TEST(knote_follows_its_own_attach)
{
	struct kupdev_softc *sc;
	struct user u, v;
	struct knote kn;

	load_kup();
	sc = kupdev_create("emu_kn", SIZE, 1);
	KT_ASSERT(sc);
	KT_EQ(u_attach(&u, "emu_kn", 0), 0);
	KT_EQ(kemu_kqfilter(u.f, &kn), 0);
	u_unmap(&u); /* detached, the file (and its knote) stay */
	KT_EQ(u_attach(&v, "emu_kn", 0), 0);
	KT_EQ(kupdev_wait_channel(sc), 0);
	KT_EQ(kup_end_arm(&v.e, KUP_WAIT_FD), 0);
	kn.kn_fired = 0;
	kn.kn_flags = 0;
	KT_EQ(kupdev_send(sc, "x", 1, 0), 0); /* fires the channel's knotes */
	KT_ASSERT(kn.kn_fired);
	KT_EQ(kn.kn_flags & EV_EOF, EV_EOF);
	kn.kn_fop->f_detach(&kn);
	u_close(&u);
	u_close(&v);
	KT_EQ(kupdev_unload(sc), 0);
	unload_kup();
}

/* The softc goes with its last user, not at kup.ko's unload: no tombstones pile up. */
KT_TEST(create_unload_cycles_leave_nothing)
{
	struct kupdev_softc *sc;
	struct user u;
	int i;

	load_kup();
	for (i = 0; i < 300; i++) {
		sc = kupdev_create("emu_cycle", 1, 2);
		KT_ASSERT(sc);
		if (i % 3 == 0)
			KT_EQ(u_attach_sz(&u, "emu_cycle", 1, 1), 0);
		KT_EQ(kupdev_unload(sc), 0);
		if (i % 3 == 0)
			u_close(&u);
		KT_EQ(kemu_allocs, 0);
		KT_EQ(kemu_objects, 0);
	}
	unload_kup();
}

struct racer {
	const char *name;
	int stop;
	int rounds;
};

/* A process that opens, attaches, maps, unmaps and closes as fast as it can. */
static void *r_churn(void *arg)
{
	struct racer *r = arg;
	struct kup_ioc_attach a = {.abi = KUP_ABI_VERSION, .size = 1};
	struct kemu_vmap *m1, *m2;
	struct kemu_file *f;
	void *p;
	int err, ok1, ok2;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		f = kemu_open(r->name, &err);
		if (!f)
			continue;
		a.chan = (uint32_t)(r->rounds % 2);
		if (kemu_ioctl(f, KUP_IOC_ATTACH, &a) == 0) {
			ok1 = kemu_mmap(f, 0, KUP_BLOCK_LEN(1), VM_PROT_READ, &m1, &p) == 0;
			ok2 = kemu_mmap(f, KUP_BLOCK_LEN(1), KUP_BLOCK_LEN(1),
			                VM_PROT_READ | VM_PROT_WRITE, &m2, &p) == 0;
			if (r->rounds % 3 == 0)
				kemu_close(f); /* close first, unmap after */
			if (ok1)
				kemu_munmap(m1);
			if (ok2)
				kemu_munmap(m2);
			if (r->rounds % 3 != 0)
				kemu_close(f);
		} else {
			kemu_close(f);
		}
		r->rounds++;
	}
	return NULL;
}

/* kupdev_unload racing open, attach, mmap, munmap and close: nothing leaks or crashes. */
KT_TEST(unload_races_open_close_and_mmap)
{
	struct racer r[3] = {{.name = "emu_race"}, {.name = "emu_race"}, {.name = "emu_race"}};
	struct kupdev_softc *sc;
	pthread_t pt[3];
	int i, k;

	load_kup();
	for (k = 0; k < 20; k++) {
		sc = kupdev_create("emu_race", 1, 2);
		KT_ASSERT(sc);
		for (i = 0; i < 3; i++) {
			r[i].stop = 0;
			r[i].rounds = 0;
			KT_EQ(pthread_create(&pt[i], NULL, r_churn, &r[i]), 0);
		}
		while (r[0].rounds + r[1].rounds + r[2].rounds < 20)
			usleep(100);
		KT_EQ(kupdev_unload(sc), 0);
		for (i = 0; i < 3; i++) {
			__atomic_store_n(&r[i].stop, 1, __ATOMIC_RELEASE);
			pthread_join(pt[i], NULL);
		}
		KT_EQ(kemu_allocs, 0);
		KT_EQ(kemu_objects, 0);
	}
	unload_kup();
}

/* Review items that apply to every host: reserved fields, refused attaches, limits. */
KT_TEST(reserved_fields_refusals_and_limits)
{
	struct kupdev_softc *sc;
	struct kup_ioc_attach a = {.abi = KUP_ABI_VERSION, .chan = 0, .size = SIZE, .flags = 1};
	struct kup_ioc_wait w = {.seen = 0, .spare = 1, .timeout_ns = 0};
	struct kemu_file *f, *g;
	struct user u;
	long allocs, objects;
	int err;

	load_kup();
	KT_ASSERT(kup_strerror(INT_MIN) != NULL);
	KT_EQ(kup_index_nospec(2, 3), 2);
	KT_EQ(kup_index_nospec(3, 3), 0);
	KT_EQ(kup_index_nospec(0xffffffffu, 3), 0);
	KT_EQ(kup_index_nospec(0xfffffffeu, 0xffffffffu), 0xfffffffeu);
	sc = kupdev_create("emu_resv", SIZE, 1);
	KT_ASSERT(sc);
	f = kemu_open("emu_resv", &err);
	KT_ASSERT(f);
	KT_EQ(kemu_ioctl(f, KUP_IOC_ATTACH, &a), EINVAL);
	KT_EQ(kemu_ioctl(f, KUP_IOC_NOTIFY, &w), EINVAL);
	a.flags = 0;
	KT_EQ(kemu_ioctl(f, KUP_IOC_ATTACH, &a), 0);
	KT_EQ(kemu_ioctl(f, KUP_IOC_WAIT, &w), EINVAL);
	/* Refused attaches allocate nothing. */
	g = kemu_open("emu_resv", &err);
	KT_ASSERT(g);
	allocs = kemu_allocs;
	objects = kemu_objects;
	KT_EQ(kemu_ioctl(g, KUP_IOC_ATTACH, &a), EBUSY);
	KT_EQ(kemu_ioctl(f, KUP_IOC_ATTACH, &a), EISCONN);
	KT_EQ(kemu_allocs, allocs);
	KT_EQ(kemu_objects, objects);
	kemu_close(g);
	kemu_close(f);
	/* A deadline past INT64_MAX is no deadline: the wait ends by the turn. */
	KT_EQ(u_attach(&u, "emu_resv", 0), 0);
	KT_EQ(kupdev_wait_channel_timed(sc, 0, INT64_MAX), 0);
	w.spare = 0;
	w.seen = __atomic_load_n(&((struct kup_kctl *)u.kblk)->k.tw, __ATOMIC_ACQUIRE);
	w.timeout_ns = INT64_MAX;
	kupdev_pass(sc, 0);
	KT_EQ(kemu_ioctl(u.f, KUP_IOC_WAIT, &w), 0);
	u_close(&u);
	KT_EQ(kupdev_unload(sc), 0);
	unload_kup();
}

static struct kup_ioc_info notify_info; /* the generation before the notify */

static void *u_notify_wait(void *arg)
{
	struct kemu_file *f = arg;
	struct kup_ioc_wait w = {.timeout_ns = -1};

	/* Seen before the thread started: a notify that comes first still ends the wait. */
	w.seen = notify_info.notify;
	return (void *)(intptr_t)kemu_ioctl(f, KUP_IOC_NOTIFY, &w);
}

/* kupdev_notify never sleeps: from a callout (no sleeping allowed), live or shut down. */
KT_TEST(notify_from_a_context_that_cannot_sleep)
{
	struct kupdev_softc *sc;
	struct kemu_file *f;
	pthread_t pt;
	void *res = (void *)1;
	int err;

	load_kup();
	sc = kupdev_create("emu_ntf", 1, 1);
	KT_ASSERT(sc);
	f = kemu_open("emu_ntf", &err);
	KT_ASSERT(f);
	KT_EQ(kemu_ioctl(f, KUP_IOC_INFO, &notify_info), 0);
	KT_EQ(pthread_create(&pt, NULL, u_notify_wait, f), 0);
	usleep(20000); /* let it sleep (not required: the generation decides) */
	THREAD_NO_SLEEPING();
	kupdev_notify(sc);
	THREAD_SLEEPING_OK();
	pthread_join(pt, &res);
	KT_ASSERT(res == NULL);
	KT_EQ(kupdev_shutdown(sc), 0);
	THREAD_NO_SLEEPING();
	kupdev_notify(sc); /* a shut-down device: still no sleep */
	THREAD_SLEEPING_OK();
	kemu_close(f);
	KT_EQ(kupdev_unload(sc), 0);
	unload_kup();
}

/*
 * libkup's own kernel backend (lib/kp_kdev.c, its system calls routed to
 * the emulated kup.ko) against the FreeBSD module: the ioctl and mmap
 * contract the two were written to separately.
 */
static void *l_blocked_receive(void *arg)
{
	return kernproxy_receive(arg, 0);
}

KT_TEST(libkup_kernel_backend_against_the_module)
{
	struct kjob j = {0};
	struct kupsvc_thread *t;
	struct pollfd pfd;
	void *h, *c, *c2, *d, *res = (void *)1;
	size_t len;
	pthread_t pt;

	setenv("KUP_BACKEND", "kernel", 1);
	load_kup();
	j.sc = kupdev_create("emu_lib", 1, 2);
	KT_ASSERT(j.sc);
	t = kupsvc_thread_start(k_echo, &j, "echo");
	KT_ASSERT(t);
	KT_ASSERT(kernproxy_open("emu_nodev") == NULL);
	KT_EQ(kernproxy_errno, EKU_NOENT);
	h = kernproxy_open("emu_lib");
	KT_ASSERT(h);
	KT_ASSERT(kernproxy_channel(h, 2, 1) == NULL);
	KT_EQ(kernproxy_error(h), EKU_RANGE);
	KT_ASSERT(kernproxy_channel(h, 0, 3) == NULL);
	KT_EQ(kernproxy_error(h), EKU_BADSIZE);
	c = kernproxy_channel(h, 0, 1);
	KT_ASSERT(c);
	KT_ASSERT(kernproxy_attach(h, 0, 1, KP_EXACT) == NULL);
	KT_EQ(kernproxy_error(h), EKU_BUSY);
	d = kernproxy_receive_len(c, &len, 0);
	KT_ASSERT(d);
	KT_EQ(len, 2);
	KT_ASSERT(!memcmp(d, "hi", 2));
	KT_EQ(kernproxy_send(c, "ping", 4, 0), 0);
	d = kernproxy_receive_len(c, &len, 0);
	KT_ASSERT(d && len == 4 && !memcmp(d, "ping", 4));
	/* The readiness fd: readable on our turn. */
	pfd.fd = kernproxy_fd(c);
	pfd.events = POLLIN;
	KT_ASSERT(pfd.fd >= 0);
	KT_EQ(poll(&pfd, 1, 1000), 1);
	KT_EQ(kernproxy_send(c, "x", 1, 0), 0);
	d = kernproxy_receive_len(c, &len, 0);
	KT_ASSERT(d && len == 1);
	/* A second channel blocks in receive until the module unloads. */
	c2 = kernproxy_channel(h, 1, 1);
	KT_ASSERT(c2);
	KT_EQ(kernproxy_pass(c, 0), 0);
	KT_EQ(pthread_create(&pt, NULL, l_blocked_receive, c2), 0);
	usleep(20000);
	KT_EQ(kupdev_unload(j.sc), 0);
	pthread_join(pt, &res);
	KT_ASSERT(res == NULL);
	KT_EQ(kernproxy_error(c2), EKU_SHUTDOWN);
	KT_EQ(kupsvc_thread_join(t), -EKU_SHUTDOWN);
	/* The echo of the pass, if the module sent it before it unloaded, comes first. */
	d = kernproxy_receive_len(c, &len, KP_NB);
	if (d) {
		KT_EQ(len, 0);
		KT_ASSERT(kernproxy_receive(c, KP_NB) == NULL);
	}
	KT_EQ(kernproxy_error(c), EKU_SHUTDOWN);
	/*
	 * The device handle: devfs answers ENXIO itself once destroy_dev ran,
	 * without calling kup.ko (seen on a 14.2 kernel); libkup reports
	 * that as the unload it is, not as "no such device".
	 */
	KT_ASSERT(kernproxy_wait_notify(h, 1000000) == -1);
	KT_EQ(kernproxy_error(h), EKU_SHUTDOWN);
	kernproxy_close(h);
	unload_kup();
}

/*
 * The first-free attach (KUP_ATTACH_ANY) and the attach that waits for a
 * released channel (KUP_ATTACH_WAIT), through libkup as kernproxy_channel
 * uses them: kup_cdev.c picks and sleeps on notify_cv, which detach and the
 * unload broadcast.
 */
struct l_waiter {
	void *h;
	void *ch;
	int err;
	long tid;
};

static void *l_wait_attach(void *arg)
{
	struct l_waiter *w = arg;

	__atomic_store_n(&w->tid, (long)syscall(SYS_gettid), __ATOMIC_RELEASE);
	w->ch = kernproxy_channel(w->h, 0, 1);
	w->err = w->ch ? 0 : kernproxy_errno;
	return NULL;
}

/* Start a waiter and wait until its thread sleeps (/proc, read with stdio: not emulated). */
static void l_start_waiter(struct l_waiter *w, pthread_t *pt)
{
	char path[64], buf[256], *p;
	int64_t end = kup_now_ns() + SOON;
	long tid;
	FILE *fp;

	KT_EQ(pthread_create(pt, NULL, l_wait_attach, w), 0);
	while ((tid = __atomic_load_n(&w->tid, __ATOMIC_ACQUIRE)) == 0)
		sched_yield();
	snprintf(path, sizeof(path), "/proc/self/task/%ld/stat", tid);
	for (;;) {
		fp = fopen(path, "r");
		KT_ASSERT(fp);
		p = fgets(buf, sizeof(buf), fp) ? strrchr(buf, ')') : NULL;
		fclose(fp);
		if (p && p[1] == ' ' && p[2] == 'S')
			return;
		KT_ASSERT(kup_now_ns() < end);
		sched_yield();
	}
}

KT_TEST(libkup_first_free_and_waiting_attach)
{
	struct kupdev_softc *sc;
	struct l_waiter w = {0};
	pthread_t pt;
	int64_t t0;
	void *h, *a, *b;

	setenv("KUP_BACKEND", "kernel", 1);
	load_kup();
	sc = kupdev_create("emu_any", 1, 2);
	KT_ASSERT(sc);
	h = kernproxy_open("emu_any");
	KT_ASSERT(h);
	a = kernproxy_channel(h, 1, 1); /* free: the one named */
	KT_ASSERT(a);
	KT_EQ(kernproxy_channel_id(a), 1);
	b = kernproxy_channel(h, 1, 1); /* taken: the lowest free one */
	KT_ASSERT(b);
	KT_EQ(kernproxy_channel_id(b), 0);
	KT_ASSERT(kernproxy_attach(h, 0, 1, KP_EXACT) == NULL);
	KT_EQ(kernproxy_error(h), EKU_BUSY);
	KT_ASSERT(kernproxy_attach(h, 0, 1, KP_NB) == NULL);
	KT_EQ(kernproxy_error(h), EKU_BUSY);
	KT_EQ(kernproxy_set_timeout(h, 30 * MS), 0);
	t0 = kup_now_ns();
	KT_ASSERT(kernproxy_channel(h, 0, 1) == NULL);
	KT_EQ(kernproxy_error(h), EKU_TIMEDOUT);
	KT_ASSERT(kup_now_ns() - t0 >= 30 * MS);
	KT_EQ(kernproxy_set_timeout(h, KP_FOREVER), 0);
	/* A sleeping attach takes the channel released. */
	w.h = h;
	l_start_waiter(&w, &pt);
	kernproxy_close(a);
	KT_EQ(pthread_join(pt, NULL), 0);
	KT_ASSERT(w.ch);
	KT_EQ(kernproxy_channel_id(w.ch), 1);
	/* A sleeping attach ends with EKU_SHUTDOWN when the module unloads. */
	memset(&w, 0, sizeof(w));
	w.h = h;
	l_start_waiter(&w, &pt);
	KT_EQ(kupdev_unload(sc), 0);
	KT_EQ(pthread_join(pt, NULL), 0);
	KT_ASSERT(w.ch == NULL);
	KT_EQ(w.err, EKU_SHUTDOWN);
	KT_EQ(kernproxy_error(h), EKU_SHUTDOWN);
	kernproxy_close(h);
	unload_kup();
}

/* --- streaming channels ------------------------------------------------------------ */

/* Echo stream records back in batches until an error; returns that error. */
static int k_stream_echo(void *arg)
{
	struct kjob *j = arg;
	static uint8_t buf[16][CAP];
	struct kup_iovec v[16];
	int r, i, done;

	j->chan = kupdev_wait_channel(j->sc);
	if (j->chan < 0)
		return j->chan;
	for (;;) {
		for (i = 0; i < 16; i++) {
			v[i].base = buf[i];
			v[i].len = CAP;
		}
		r = kupdev_stream_recv(j->sc, j->chan, v, 16, 0, KUP_FOREVER);
		if (r < 0)
			return r;
		for (done = 0; done < r;) {
			i = kupdev_stream_send(j->sc, j->chan, v + done, (size_t)(r - done), 0,
			                       KUP_FOREVER);
			if (i < 0)
				return i;
			done += i;
		}
		j->rounds += r;
	}
}

KT_TEST(stream_echo_both_sides_sleeping)
{
	struct kjob j = {0};
	struct kupsvc_thread *t;
	struct user u;
	struct kupdev_stats st;
	static uint8_t out[8][CAP], in[8][CAP];
	struct kup_iovec v[8], w[8];
	uint32_t i, k, got, sent;
	int r;

	load_kup();
	j.sc = kupdev_create("emu_st", SIZE, 2);
	KT_ASSERT(j.sc);
	kupdev_set_spin(j.sc, 0); /* the kernel sleeps at once too */
	t = kupsvc_thread_start(k_stream_echo, &j, "stecho");
	KT_ASSERT(t);
	KT_EQ(u_attach_stream(&u, "emu_st", 1), 0);
	/* Turn calls on a stream channel: EKU_INVAL on both sides. */
	KT_EQ(kup_end_send(&u.e, "x", 1, KUPC_NB, 0), -EKU_INVAL);
	for (i = 0; i < 200; i++) {
		for (k = 0; k < 8; k++) {
			uint32_t n = (i * 8 + k) * 37 % 3000;

			memset(out[k], (int)(i + k), n);
			v[k].base = out[k];
			v[k].len = n;
		}
		/* Send what fits; when nothing does, wait (asleep) for the echo of what went. */
		for (sent = got = 0; got < 8;) {
			r = sent < 8 ? kup_stream_send(&u.e, v + sent, 8 - sent, KUPC_NB, 0)
			             : -EKU_NOTREADY;
			if (r > 0) {
				sent += (uint32_t)r;
				continue;
			}
			KT_EQ(r, -EKU_NOTREADY);
			for (k = got; k < 8; k++) {
				w[k].base = in[k];
				w[k].len = CAP;
			}
			r = kup_stream_recv(&u.e, w + got, sent - got, 0, SOON);
			KT_ASSERT(r > 0);
			got += (uint32_t)r;
		}
		for (k = 0; k < 8; k++) {
			KT_EQ(w[k].len, v[k].len);
			KT_ASSERT(!memcmp(in[k], out[k], v[k].len));
		}
	}
	KT_EQ(j.chan, 1);
	KT_EQ(kupdev_stats(j.sc, 1, &st), 0);
	KT_EQ(st.received, 1600);
	KT_EQ(st.sent, 1600);
	KT_ASSERT(st.sleeps > 0 && st.wakeups > 0);
	KT_ASSERT(u.e.cnt.sleeps > 0 && u.e.cnt.wakeups > 0);
	/* Detach: the module's wait ends with EKU_CLOSED. */
	u_close(&u);
	KT_EQ(kupsvc_thread_join(t), -EKU_CLOSED);
	KT_EQ(kupdev_unload(j.sc), 0);
	unload_kup();
}

KT_TEST(stream_poll_and_hostile_positions)
{
	struct kupdev_softc *sc;
	struct user u, v;
	struct kup_uctl *uc;
	struct kupdev_stats st;
	uint8_t buf[64];
	struct kup_iovec m = {buf, 8}, r = {buf, sizeof(buf)};

	load_kup();
	sc = kupdev_create("emu_sth", SIZE, 2);
	KT_ASSERT(sc);
	KT_EQ(u_attach_stream(&u, "emu_sth", 0), 0);
	KT_EQ(u_attach_stream(&v, "emu_sth", 1), 0);
	/* Turn calls from the module on a stream channel: EKU_INVAL. */
	KT_EQ(kupdev_send_timed(sc, 0, "x", 1, KUP_NB, 0), -EKU_INVAL);
	KT_EQ(kupdev_pass_timed(sc, 0, KUP_NB, 0), -EKU_INVAL);
	/* Poll: readable when records wait for the process. */
	KT_EQ(kemu_poll(u.f, POLLIN), 0);
	memcpy(buf, "12345678", 8);
	KT_EQ(kupdev_stream_send(sc, 0, &m, 1, KUP_NB, 0), 1);
	KT_EQ(kemu_poll(u.f, POLLIN), POLLIN);
	KT_EQ(kup_stream_recv(&u.e, &r, 1, KUPC_NB, 0), 1);
	KT_EQ(r.len, 8);
	KT_EQ(kemu_poll(u.f, POLLIN), 0);
	/* A producer position far beyond the ring: that channel only breaks. */
	KT_EQ(kup_stream_send(&u.e, &m, 1, KUPC_NB, 0), 1);
	KT_EQ(kup_stream_send(&v.e, &m, 1, KUPC_NB, 0), 1);
	uc = (struct kup_uctl *)u.ublk;
	__atomic_store_n(&uc->s.prod, 0x40000000u, __ATOMIC_RELEASE);
	r.len = sizeof(buf);
	KT_EQ(kupdev_stream_recv(sc, 0, &r, 1, KUP_NB, 0), -EKU_PROTO);
	KT_EQ(kupdev_stream_recv(sc, 0, &r, 1, KUP_NB, 0), -EKU_PROTO); /* sticky */
	KT_EQ(kupdev_stats(sc, 0, &st), 0);
	KT_EQ(st.proto_errors, 1);
	KT_EQ(kemu_poll(u.f, POLLIN) & POLLHUP, POLLHUP);
	r.len = sizeof(buf);
	KT_EQ(kup_stream_recv(&u.e, &r, 1, KUPC_NB, 0), -EKU_CLOSED);
	/* A record length beyond the ring on channel 1, after a good record. */
	r.len = sizeof(buf);
	KT_EQ(kupdev_stream_recv(sc, 1, &r, 1, KUP_NB, 0), 1);
	KT_EQ(r.len, 8);
	KT_EQ(kup_stream_send(&v.e, &m, 1, KUPC_NB, 0), 1);
	((struct kup_rec *)(void *)(v.ublk + KUP_PAGE + 16))->len = 0x7fffffffu;
	r.len = sizeof(buf);
	KT_EQ(kupdev_stream_recv(sc, 1, &r, 1, KUP_NB, 0), -EKU_PROTO);
	u_close(&u);
	u_close(&v);
	KT_EQ(kupdev_unload(sc), 0);
	unload_kup();
}

KT_MAIN()
