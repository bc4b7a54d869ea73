// SPDX-License-Identifier: BSD-2-Clause
/*
 * soak.c - a hostile process against kup.ko, inside the VM (issue 14,
 * item 2).  Like vmtest it talks the raw device ABI (ioctl + mmap) with
 * core/'s user end, to kupvt.ko's devices (tests/vm/kupvt_mod.c) and to
 * kup_echo.ko, and does what no well-behaved process does:
 *
 *   scribble   random values into every word of the user block (control
 *              page and data) and of the kern control page of kupvt,
 *              kupvt_pool and kupvt_attr
 *              channels, now and then a forged turn pass with a random
 *              length, while echo traffic runs on the other channels;
 *   ioctl      random ioctl numbers and arguments on device and channel
 *              files (and random mmap geometry);
 *   kill9      kill -9 of a child in the middle of an exchange;
 *   rmmod      rmmod + insmod of kupvt.ko (kup.ko stays) while children
 *              are blocked on its devices: each must wake with
 *              EKU_SHUTDOWN;
 *   race       attach, map, close and ioctl on shared fds from 8 threads;
 *   fork       fork with the mapping and the fd: the child cannot map
 *              (EPERM) and dies touching the parent's address.
 *
 * Throughout, "verifier" threads run echo traffic with sequence-numbered
 * messages on channels nobody attacks (kup_echo's, and kupvt's spare
 * channels where kupvt stays loaded): every reply is checked byte for
 * byte.  The first test warms up and records Slab, VmallocUsed and the
 * soak cgroup's memory.current; the last reattaches every channel and
 * checks memory came back.  Figures go to stdout as "# soak: ..." lines.
 *
 * Counts of the long run (`make soak`): 10,000,000 stores, 300,000
 * ioctls, 2,000 kill -9, 200 rmmod+insmod, 200,000 race operations, 1,000
 * forks: twice to ten times issue 14's minimums, a few minutes under TCG.
 * SOAK_DIV=N divides every count (1: `make soak`, 20: the short run in
 * `make test`).  Needs kup.ko, kupvt.ko (from /mod/kupvt.ko) and
 * kup_echo.ko loaded.  Built static.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/fs.h>

#include "kt.h"
#include "kup_core.h"
#include "vm_chan.h"

#define SECOND   1000000000LL
#define MS       1000000LL
#define SOON     (30 * SECOND) /* a hang guard, generous for TCG on a loaded host */
#define STATS    "/tmp/soak.stats"
#define BASE     "/tmp/soak.base"
#define KUPVT_KO "/mod/kupvt.ko"

/* --- counts ------------------------------------------------------------- */

static long soak_div(void)
{
	const char *s = getenv("SOAK_DIV");
	long d = s ? atol(s) : 20;

	return d > 0 ? d : 1;
}

/* n of the long run, divided (at least 1). */
static long cnt(long n)
{
	long v = n / soak_div();

	return v > 0 ? v : 1;
}

/* A test's timeout: base seconds for the short run, more for the long one. */
static int tmo(int short_s, int long_s)
{
	return soak_div() >= 10 ? short_s : long_s;
}

/* Add a figure to the run's totals (summed by the last test). */
static void stat_add(const char *key, long long v)
{
	FILE *f = fopen(STATS, "a");

	KT_ASSERT(f);
	fprintf(f, "%s %lld\n", key, v);
	fclose(f);
}

static __thread uint64_t rng;

static uint64_t rnd(void)
{
	if (!rng)
		rng = (uint64_t)kt_now_us() * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid() << 20 ^
		      (uint64_t)(uintptr_t)&rng;
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* --- a channel through the raw ABI (as vmtest) --------------------------- */

struct target {
	const char *dev;
	uint32_t size, chans;
	int hello; /* 0: no module thread, 1: kupvt's "KVTH" hello, 2: kup_echo's text */
};

static const struct target T_VT = {"/dev/kupvt", 1, 4, 1};
static const struct target T_POOL = {"/dev/kupvt_pool", 1, 1, 1};
static const struct target T_ATTR = {"/dev/kupvt_attr", 2, 1, 0};
static const struct target T_BIG = {"/dev/kupvt_big", 255, 1, 0};
static const struct target T_ECHO = {"/dev/kup_echo", 1, 4, 2};

struct vt {
	int fd;
	uint8_t *map;
	size_t len, blk;
	uint32_t chan;
	const struct target *t;
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

/* Map an attached file as one region: kern block RO, user block RW.  0 or -errno. */
static int vt_map(struct vt *v)
{
	v->map = vm_map_chan(v->fd, v->t->size);
	if (!v->map)
		return -errno;
	kup_end_init(&v->e, KUP_SIDE_USER, v->map, v->map + v->blk, v->t->size, &vt_ops, v);
	return 0;
}

/* Attach channel chan of t: 0, or -errno of the step that failed. */
static int vt_open(struct vt *v, const struct target *t, uint32_t chan)
{
	struct kup_ioc_attach a = {.abi = KUP_ABI_VERSION, .chan = chan, .size = t->size};
	int r;

	memset(v, 0, sizeof(*v));
	v->t = t;
	v->chan = chan;
	v->blk = KUP_BLOCK_LEN(t->size);
	v->len = KUP_MAP_LEN(t->size);
	v->fd = open(t->dev, O_RDWR | O_CLOEXEC);
	if (v->fd < 0)
		return -errno;
	if (ioctl(v->fd, KUP_IOC_ATTACH, &a) < 0) {
		r = -errno;
		goto fail;
	}
	r = vt_map(v);
	if (r)
		goto fail;
	if (kup_chan_check(v->map, t->size, chan) != 0) {
		r = -EPROTO;
		goto fail;
	}
	return 0;
fail:
	if (v->map)
		munmap(v->map, v->len);
	v->map = NULL;
	close(v->fd);
	v->fd = -1;
	return r;
}

/* vt_open, waiting out EBUSY (a channel another part of the soak just let go). */
static int vt_open_retry(struct vt *v, const struct target *t, uint32_t chan)
{
	int r, i;

	for (i = 0; i < 3000; i++) {
		r = vt_open(v, t, chan);
		if (r != -EBUSY)
			return r;
		usleep(2000);
	}
	return r;
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

/* The module's hello for this attach: 0 or -EKU_* (-EKU_PROTO: wrong bytes). */
static int vt_hello(struct vt *v)
{
	const void *d;
	uint32_t len;
	int r;

	if (!v->t->hello)
		return 0;
	r = kup_end_recv(&v->e, 0, SOON, &d, &len, 0);
	if (r) {
		printf("# hello on %s channel %u: %s (kern tw 0x%x len 0x%x)\n", v->t->dev, v->chan,
		       kup_core_strerror(-r), ((const struct kup_kctl *)v->map)->k.tw,
		       ((const struct kup_kctl *)v->map)->k.len);
		return r;
	}
	if (v->t->hello == 1)
		r = len == 8 && !memcmp(d, "KVTH", 4) && ((const uint32_t *)d)[1] == v->chan
		        ? 0
		        : -EKU_PROTO;
	else
		r = len > 10 && !memcmp(d, "hello from", 10) ? 0 : -EKU_PROTO;
	if (r)
		printf("# hello on %s channel %u: %u bytes, first %02x %02x %02x %02x\n", v->t->dev,
		       v->chan, len, len > 0 ? ((const uint8_t *)d)[0] : 0,
		       len > 1 ? ((const uint8_t *)d)[1] : 0, len > 2 ? ((const uint8_t *)d)[2] : 0,
		       len > 3 ? ((const uint8_t *)d)[3] : 0);
	return r;
}

/* --- echo messages, sequence-numbered, checked end to end ---------------- */

struct msg_hdr {
	uint8_t op; /* 'E': every module here echoes it */
	uint8_t pad[3];
	uint32_t len;
	uint64_t seq;
};

static uint32_t msg_build(uint8_t *buf, uint64_t seq, uint64_t salt)
{
	struct msg_hdr h = {.op = 'E', .seq = seq};
	uint32_t len = sizeof(h) + (uint32_t)((seq * 37 + salt) % 480), i;

	h.len = len;
	memcpy(buf, &h, sizeof(h));
	for (i = sizeof(h); i < len; i++)
		buf[i] = (uint8_t)(seq * 31 + salt + i);
	return len;
}

/* One round trip: 0, -EKU_* from the channel, or 1 when the reply is wrong. */
static int echo_once(struct vt *v, uint64_t seq, uint64_t salt)
{
	uint8_t buf[512];
	const void *d;
	uint32_t len = msg_build(buf, seq, salt), got;
	int r = kup_end_send(&v->e, buf, len, 0, SOON);

	if (r)
		return r;
	r = kup_end_recv(&v->e, 0, SOON, &d, &got, 0);
	if (r)
		return r;
	return got == len && !memcmp(d, buf, len) ? 0 : 1;
}

/* --- verifiers: echo traffic on the channels nobody attacks --------------- */

struct verifier {
	const struct target *t;
	uint32_t chan;
	pthread_t th;
	volatile int stop;
	long ok, bad;
	int err; /* the channel error that stopped it early, or 0 */
};

#define MAX_VER 4
static struct verifier ver[MAX_VER];
static int nver;

static void *verifier_run(void *arg)
{
	struct verifier *w = arg;
	uint64_t seq = 0, salt = w->chan * 7 + (w->t == &T_ECHO ? 100 : 0);
	struct vt v;
	int r;

	r = vt_open_retry(&v, w->t, w->chan);
	if (r) {
		w->err = r;
		return NULL;
	}
	r = vt_hello(&v);
	while (!r && !w->stop) {
		r = echo_once(&v, seq++, salt);
		if (r == 1) {
			w->bad++;
			r = 0;
		} else if (!r) {
			w->ok++;
		}
		if (seq % 8 == 0)
			usleep(500); /* leave the emulated CPUs to the attack */
	}
	w->err = r;
	vt_close(&v);
	return NULL;
}

/* Start verifiers on kup_echo 0 and 1, and on kupvt 2 and 3 when with_vt. */
static void verifiers_start(int with_vt)
{
	static const struct {
		const struct target *t;
		uint32_t chan;
	} set[] = {{&T_ECHO, 0}, {&T_ECHO, 1}, {&T_VT, 2}, {&T_VT, 3}};
	int i;

	nver = with_vt ? 4 : 2;
	for (i = 0; i < nver; i++) {
		memset(&ver[i], 0, sizeof(ver[i]));
		ver[i].t = set[i].t;
		ver[i].chan = set[i].chan;
		KT_EQ(pthread_create(&ver[i].th, NULL, verifier_run, &ver[i]), 0);
	}
}

/* Stop them and check every message came back right. */
static void verifiers_check(const char *phase)
{
	long ok = 0, bad = 0;
	int i, err = 0;

	for (i = 0; i < nver; i++) {
		ver[i].stop = 1;
		KT_EQ(pthread_join(ver[i].th, NULL), 0);
		ok += ver[i].ok;
		bad += ver[i].bad;
		if (ver[i].err) {
			printf("# %s: verifier on %s channel %u stopped: %s\n", phase,
			       ver[i].t->dev, ver[i].chan, kup_core_strerror(-ver[i].err));
			err++;
		}
	}
	printf("# soak: %s: %ld echo messages on untouched channels, %ld wrong, %d verifiers "
	       "stopped early\n",
	       phase, ok, bad, err);
	stat_add("echo_ok", ok);
	stat_add("echo_bad", bad + err);
	KT_EQ(bad, 0);
	KT_EQ(err, 0);
	KT_ASSERT(ok > 0);
}

/* --- memory figures (as vmtest) ------------------------------------------- */

#include "vm_proc.h"

/* Slack: memcg's per-CPU charge stock (64 pages x 2 CPUs) and slab caches' partial pages. */
#define CG_SLACK_KB      1024
#define SLAB_SLACK_KB    1024
#define VMALLOC_SLACK_KB 512

struct mem {
	long slab, vmalloc, cg;
};

static void drop_caches(void)
{
	sync();
	put_str("/proc/sys/vm/drop_caches", "3");
}

static struct mem mem_now(void)
{
	struct mem m;

	drop_caches();
	m.slab = meminfo("Slab");
	m.vmalloc = meminfo("VmallocUsed");
	m.cg = cg_kb("soak");
	return m;
}

/* The figures once each is within its slack of base, polled for 20 s at most (late frees). */
static struct mem mem_settled(const struct mem *b)
{
	struct mem m = mem_now();
	int i;

	for (i = 0; i < 40; i++) {
		if (m.slab - b->slab < SLAB_SLACK_KB && m.vmalloc - b->vmalloc < VMALLOC_SLACK_KB &&
		    m.cg - b->cg < CG_SLACK_KB)
			break;
		usleep(500000);
		m = mem_now();
	}
	return m;
}

/* Keep /proc/slabinfo at the baseline, to name the caches that grew by the end. */
#define SLABINFO_BASE "/tmp/soak.slabinfo"

static void slabinfo_save(void)
{
	char buf[4096];
	size_t n;
	FILE *in = fopen("/proc/slabinfo", "r"), *out;

	if (!in)
		return;
	out = fopen(SLABINFO_BASE, "w");
	KT_ASSERT(out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, out);
	fclose(in);
	fclose(out);
}

struct slab_row {
	char name[64];
	long kb;
};

/* Up to max caches of a slabinfo file: name and active objects x object size, in kB. */
static int slabinfo_read(const char *path, struct slab_row *rows, int max)
{
	char line[512];
	long act, tot, size;
	int n = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %ld %ld %ld", rows[n].name, &act, &tot, &size) != 4)
			continue;
		rows[n].kb = act * size / 1024;
		n++;
	}
	fclose(f);
	return n;
}

/* Print the caches that grew most since the baseline (a leak would name its cache). */
static void slabinfo_growth(void)
{
	static struct slab_row b[512], e[512];
	int nb = slabinfo_read(SLABINFO_BASE, b, 512), ne = slabinfo_read("/proc/slabinfo", e, 512);
	int i, j, k, best;
	long d[512];

	for (i = 0; i < ne; i++) {
		d[i] = e[i].kb;
		for (j = 0; j < nb; j++)
			if (!strcmp(b[j].name, e[i].name)) {
				d[i] = e[i].kb - b[j].kb;
				break;
			}
	}
	printf("# soak: slab caches grown most since the warm-up:");
	for (k = 0; k < 5; k++) {
		best = -1;
		for (i = 0; i < ne; i++)
			if (d[i] > 0 && (best < 0 || d[i] > d[best]))
				best = i;
		if (best < 0)
			break;
		printf(" %s +%ld kB", e[best].name, d[best]);
		d[best] = 0;
	}
	printf("%s\n", k ? "" : " none");
}

/* --- scribble: random words into the user block and the kern control page -- */

/*
 * One attach of t's channel chan: every word of the user block and of the
 * kern control page (which the process may write too: kup_abi.h) gets a
 * random value (from a random start, wrapping), one word at a time; every
 * 256 stores one of: a forged turn pass (the kern seq, a random length,
 * a random or meaningful first data byte) and a wake, a wake alone, a
 * short KUP_IOC_WAIT with a random seen.  Returns the stores done.
 */
static long scribble_session(const struct target *t, uint32_t chan)
{
	static const char ops[] = "EZPHRW"; /* kupvt ops ('C' sleeps 300 ms: left to chance) */
	const struct kup_kctl *kc;
	struct kup_ioc_wait w;
	uint32_t *u, *kw, kseq, cap, bcap;
	size_t words, start, i, k;
	void *buf;
	long stores = 0;
	struct vt v;

	KT_EQ(vt_open_retry(&v, t, chan), 0);
	KT_EQ(vt_hello(&v), 0);
	kc = (const struct kup_kctl *)v.map;
	u = (uint32_t *)(v.map + v.blk);
	kw = (uint32_t *)v.map;
	cap = t->size * KUP_PAGE;
	words = v.blk / 4 + KUP_PAGE / 4;
	start = rnd() % words;
	/* Half the time a real message first: the module reads it while we scribble on it. */
	if ((rnd() & 1) && kup_end_txbuf(&v.e, KUPC_NB, 0, &buf, &bcap) == 0) {
		memset(buf, (int)rnd(), bcap);
		((uint8_t *)buf)[0] = (uint8_t)ops[rnd() % (sizeof(ops) - 1)];
		(void)kup_end_commit(&v.e, (size_t)(rnd() % (bcap + 1)));
	}
	for (i = 0; i < words; i++) {
		k = (start + i) % words;
		if (k < v.blk / 4)
			__atomic_store_n(&u[k], (uint32_t)rnd(), __ATOMIC_RELAXED);
		else
			__atomic_store_n(&kw[k - v.blk / 4], (uint32_t)rnd(), __ATOMIC_RELAXED);
		stores++;
		if ((i & 255) != 255)
			continue;
		switch (rnd() % 4) {
		case 0:
			kseq = KUP_TW_SEQ(__atomic_load_n(&kc->k.tw, __ATOMIC_ACQUIRE));
			u[KUP_PAGE / 4] =
			    (rnd() & 1) ? (uint32_t)rnd() : (uint8_t)ops[rnd() % (sizeof(ops) - 1)];
			u[1] = (rnd() & 1) ? (uint32_t)(rnd() % (cap + 1)) : (uint32_t)rnd();
			__atomic_store_n(&u[0], KUP_TW(kseq, 0), __ATOMIC_RELEASE);
			stores += 3;
			(void)ioctl(v.fd, KUP_IOC_WAKE);
			break;
		case 1:
			(void)ioctl(v.fd, KUP_IOC_WAKE);
			break;
		case 2:
			w.seen = (rnd() & 1) ? kc->k.tw : (uint32_t)rnd();
			w.spare = 0;
			w.timeout_ns = (int64_t)(rnd() % 200000);
			(void)ioctl(v.fd, KUP_IOC_WAIT, &w);
			break;
		default:
			break;
		}
	}
	vt_close(&v);
	return stores;
}

struct scribbler {
	const struct target *t[2];
	uint32_t chan[2];
	long want, stores, sessions;
	pthread_t th;
};

static void *scribbler_run(void *arg)
{
	struct scribbler *s = arg;

	while (s->stores < s->want) {
		int j = (int)(s->sessions & 1);

		s->stores += scribble_session(s->t[j], s->chan[j]);
		s->sessions++;
	}
	return NULL;
}

static long scribble(long want, long *sessions)
{
	struct scribbler s[2] = {
	    {{&T_VT, &T_POOL}, {0, 0}, want / 2, 0, 0, 0},
	    {{&T_VT, &T_ATTR}, {1, 0}, want - want / 2, 0, 0, 0},
	};
	int i;

	for (i = 0; i < 2; i++)
		KT_EQ(pthread_create(&s[i].th, NULL, scribbler_run, &s[i]), 0);
	for (i = 0; i < 2; i++)
		KT_EQ(pthread_join(s[i].th, NULL), 0);
	*sessions = s[0].sessions + s[1].sessions;
	return s[0].stores + s[1].stores;
}

/* --- ioctl: random numbers and arguments ---------------------------------- */

static void on_usr1(int sig)
{
	(void)sig;
}

/* Interrupt the fuzzing thread every 20 ms: a call that blocks (a random wait) ends. */
struct ticker {
	pthread_t target, th;
	volatile int stop;
};

static void *ticker_run(void *arg)
{
	struct ticker *t = arg;

	while (!t->stop) {
		usleep(20000);
		pthread_kill(t->target, SIGUSR1);
	}
	return NULL;
}

/* A random ioctl argument: NULL, a wild or kernel address, read-only memory, or a buffer. */
static unsigned long wild_arg(void *buf, const void *ro)
{
	switch (rnd() % 8) {
	case 0:
		return 0;
	case 1:
		return (unsigned long)rnd();
	case 2:
		return 0xffff800000000000ul | (rnd() & 0xffffffffffful);
	case 3:
		return (unsigned long)ro; /* copy_to_user into a read-only page */
	case 4:
		return (unsigned long)buf + KUP_PAGE - 8; /* runs into the guard page */
	default:
		return (unsigned long)buf;
	}
}

static const unsigned int real_cmds[] = {KUP_IOC_INFO, KUP_IOC_ATTACH, KUP_IOC_WAIT, KUP_IOC_WAKE,
                                         KUP_IOC_NOTIFY};

/* VFS ioctls that act on the file system under /dev whatever the driver: left out. */
static int vfs_danger(unsigned int cmd)
{
	return cmd == FIFREEZE || cmd == FITHAW;
}

/* Fill buf with random words; for a real command, make the fields plausible now and then. */
static void fill_arg(uint8_t *buf, unsigned int cmd, const struct target *t)
{
	size_t i;

	for (i = 0; i < 64; i += 8) {
		uint64_t x = rnd();

		memcpy(buf + i, &x, 8);
	}
	if (rnd() & 1)
		return;
	if (cmd == KUP_IOC_ATTACH) {
		struct kup_ioc_attach *a = (void *)buf;

		a->abi = rnd() % 4 ? KUP_ABI_VERSION : a->abi;
		a->size = rnd() % 4 ? t->size : a->size % 300;
		a->chan = (uint32_t)(rnd() % (t->chans + 2));
		a->flags = (uint32_t)(rnd() % 8);
		a->timeout_ns = (int64_t)(rnd() % (2 * MS)) - (rnd() % 16 == 0 ? 2 * MS : 0);
	} else if (cmd == KUP_IOC_WAIT || cmd == KUP_IOC_NOTIFY) {
		struct kup_ioc_wait *w = (void *)buf;

		w->spare = rnd() % 4 ? 0 : w->spare;
		w->seen = (uint32_t)(rnd() % 64);
		w->timeout_ns = (int64_t)(rnd() % (2 * MS)) - (rnd() % 16 == 0 ? 2 * MS : 0);
	}
}

#define FUZZ_FDS 10

struct fuzz_fd {
	const struct target *t;
	int fd;
	int chan; /* >= 0: attached */
};

static const struct target *const fuzz_targets[] = {&T_VT, &T_ATTR, &T_BIG, &T_POOL, &T_ECHO};

static void fuzz_reopen(struct fuzz_fd *f)
{
	struct kup_ioc_attach a = {.abi = KUP_ABI_VERSION, .flags = KUP_ATTACH_ANY};
	struct vt v;

	if (f->fd >= 0)
		close(f->fd);
	f->t = fuzz_targets[rnd() % 5];
	f->chan = -1;
	f->fd = open(f->t->dev, O_RDWR | O_CLOEXEC);
	KT_ASSERT(f->fd >= 0);
	/* Half the files hold a channel (kup_echo's only those the verifiers leave). */
	if (rnd() & 1) {
		a.size = f->t->size;
		a.chan = (uint32_t)(rnd() % f->t->chans);
		if (ioctl(f->fd, KUP_IOC_ATTACH, &a) == 0)
			f->chan = (int)a.chan;
	}
	(void)v;
}

static long fuzz_mmap(struct fuzz_fd *f)
{
	static const int prots[] = {PROT_READ, PROT_READ | PROT_WRITE, PROT_EXEC, PROT_NONE,
	                            PROT_READ | PROT_WRITE | PROT_EXEC};
	size_t blk = KUP_BLOCK_LEN(f->t->size);
	size_t len = (size_t)(rnd() % 4 + 1) * (rnd() & 1 ? blk : KUP_PAGE);
	off_t off = (off_t)(rnd() % 5) * (off_t)(rnd() & 1 ? blk : KUP_PAGE);
	int flags = rnd() % 4 ? MAP_SHARED : MAP_PRIVATE;
	void *p = mmap(NULL, len, prots[rnd() % 5], flags, f->fd, off);

	if (p == MAP_FAILED)
		return 0;
	/* Games with what was granted. */
	(void)mprotect(p, KUP_PAGE, prots[rnd() % 5]);
	if (rnd() & 1) {
		void *q = mremap(p, KUP_PAGE, 2 * KUP_PAGE, MREMAP_MAYMOVE);

		if (q != MAP_FAILED) {
			munmap(q, 2 * KUP_PAGE);
			if (len > KUP_PAGE)
				munmap((uint8_t *)p + KUP_PAGE, len - KUP_PAGE);
			if (q != p)
				munmap(p, KUP_PAGE);
			return 1;
		}
	}
	munmap(p, len);
	return 1;
}

static void ioctl_fuzz(long n, long *calls_out, long *ok_out, long *maps_out)
{
	struct sigaction sa = {.sa_handler = on_usr1}; /* no SA_RESTART: blocked calls end */
	struct fuzz_fd f[FUZZ_FDS];
	struct ticker tk = {.target = pthread_self()};
	uint8_t *buf, *ro;
	long calls = 0, ok = 0, maps = 0;
	unsigned int cmd;
	int i;

	KT_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
	/* An argument page with an inaccessible page after it, and a read-only one. */
	buf = mmap(NULL, 3 * KUP_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	KT_ASSERT(buf != MAP_FAILED);
	KT_EQ(mprotect(buf + KUP_PAGE, KUP_PAGE, PROT_NONE), 0);
	ro = buf + 2 * KUP_PAGE;
	KT_EQ(mprotect(ro, KUP_PAGE, PROT_READ), 0);
	for (i = 0; i < FUZZ_FDS; i++) {
		f[i].fd = -1;
		fuzz_reopen(&f[i]);
	}
	KT_EQ(pthread_create(&tk.th, NULL, ticker_run, &tk), 0);
	while (calls < n) {
		struct fuzz_fd *x = &f[rnd() % FUZZ_FDS];
		unsigned long arg;

		switch (rnd() % 4) {
		case 0: /* a real command, a random or plausible argument */
			cmd = real_cmds[rnd() % 5];
			fill_arg(buf, cmd, x->t);
			arg = rnd() % 4 ? (unsigned long)buf : wild_arg(buf, ro);
			break;
		case 1: /* KUP's type, any number, direction and size */
			cmd = _IOC(rnd() % 4, 'K', rnd() % 256, rnd() % 128);
			fill_arg(buf, cmd, x->t);
			arg = wild_arg(buf, ro);
			break;
		default: /* any number at all */
			cmd = (unsigned int)rnd();
			fill_arg(buf, cmd, x->t);
			arg = wild_arg(buf, ro);
			break;
		}
		if (vfs_danger(cmd))
			continue;
		if (ioctl(x->fd, cmd, arg) == 0) {
			ok++;
			if (cmd == KUP_IOC_ATTACH && x->chan < 0)
				x->chan = 0; /* attached by a plausible argument */
		}
		calls++;
		if (rnd() % 64 == 0)
			maps += fuzz_mmap(x);
		if (rnd() % 256 == 0)
			fuzz_reopen(x);
	}
	tk.stop = 1;
	KT_EQ(pthread_join(tk.th, NULL), 0);
	for (i = 0; i < FUZZ_FDS; i++)
		close(f[i].fd);
	munmap(buf, 3 * KUP_PAGE);
	*calls_out = calls;
	*ok_out = ok;
	*maps_out = maps;
}

/* --- kill -9 mid-exchange --------------------------------------------------- */

/* The child: attach, hello, tell the parent, then exchange until killed (mode picks how). */
static void kill_child(const struct target *t, uint32_t chan, int mode, int ready)
{
	uint8_t buf[KUP_PAGE];
	struct vt v;
	uint64_t seq = 0;
	void *tx;
	uint32_t cap;

	if (vt_open_retry(&v, t, chan) || vt_hello(&v))
		_exit(2);
	if (write(ready, "r", 1) != 1)
		_exit(3);
	v.e.spin_ns = (mode & 4) ? 0 : 20000;
	switch (mode & 3) {
	case 0: /* echo, checked */
		for (;;)
			if (echo_once(&v, seq++, 5))
				_exit(4);
	case 1: /* zero-copy send of a full page, then the echo */
		for (;;) {
			const void *d;
			uint32_t len;

			if (kup_end_txbuf(&v.e, 0, SOON, &tx, &cap))
				_exit(5);
			memset(tx, (int)seq, cap);
			((uint8_t *)tx)[0] = 'E';
			if (kup_end_commit(&v.e, cap) || kup_end_recv(&v.e, 0, SOON, &d, &len, 0) ||
			    len != cap)
				_exit(6);
			seq++;
		}
	case 2: /* kupvt holds the turn and we sleep for it (kupvt_pool echoes the 'H') */
		for (;;) {
			const void *d;
			uint32_t len;

			if (kup_end_send(&v.e, "H", 1, 0, SOON))
				_exit(7);
			if (kup_end_recv(&v.e, 0, -1, &d, &len, 0))
				_exit(8);
		}
	default: /* a message rewritten while the module reads it, forever */
		memset(buf, 0x11, sizeof(buf));
		buf[0] = 'E';
		if (kup_end_send(&v.e, buf, sizeof(buf), 0, SOON))
			_exit(9);
		for (;;)
			memset(v.e.tx + 1, (int)seq++, KUP_PAGE - 1);
	}
}

/* n kills; returns how many found the child mid-exchange (all, unless it failed first). */
static long kill9(long n)
{
	static const struct {
		const struct target *t;
		uint32_t chan;
	} tg[] = {{&T_VT, 0}, {&T_VT, 1}, {&T_POOL, 0}};
	long i, done = 0;
	int p[2], st;
	pid_t pid;
	char c;

	for (i = 0; i < n; i++) {
		struct pollfd pfd;

		KT_EQ(pipe(p), 0);
		pid = fork();
		KT_ASSERT(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			kill_child(tg[i % 3].t, tg[i % 3].chan, (int)(rnd() % 8), p[1]);
			_exit(1);
		}
		close(p[1]);
		pfd.fd = p[0];
		pfd.events = POLLIN;
		KT_EQ(poll(&pfd, 1, 30000), 1);
		KT_EQ(read(p[0], &c, 1), 1);
		close(p[0]);
		usleep((useconds_t)(rnd() % 3000)); /* somewhere in the exchange */
		KT_EQ(kill(pid, SIGKILL), 0);
		KT_EQ(waitpid(pid, &st, 0), pid);
		if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
			KT_FAIL(
			    "kill child %ld (mode on %s) ended with status 0x%x before the kill", i,
			    tg[i % 3].t->dev, st);
		done++;
	}
	return done;
}

/* --- rmmod/insmod of kupvt under blocked processes ------------------------- */

static int kupvt_rmmod(void)
{
	int i;

	for (i = 0; i < 1000; i++) {
		if (syscall(SYS_delete_module, "kupvt", O_NONBLOCK) == 0)
			return 0;
		if (errno != EAGAIN && errno != EBUSY)
			return -errno;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

static int kupvt_insmod(void)
{
	int fd = open(KUPVT_KO, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	r = (int)syscall(SYS_finit_module, fd, "", 0);
	if (r)
		r = -errno;
	close(fd);
	return r;
}

/*
 * The children of one cycle, each blocked (or busy) on kupvt's devices
 * when the module goes; each exits 0 when it saw EKU_SHUTDOWN.
 */
static void rm_child(int kind, int ready)
{
	struct kup_ioc_attach a = {.abi = KUP_ABI_VERSION, .size = 1};
	struct kup_ioc_wait w = {.timeout_ns = -1};
	struct kup_ioc_info in;
	struct vt v, v2;
	uint64_t seq = 0;
	int r, fd;

	switch (kind) {
	case 0: /* the module holds the turn; asleep in KUP_IOC_WAIT */
		if (vt_open_retry(&v, &T_VT, 0) || vt_hello(&v) ||
		    kup_end_send(&v.e, "H", 1, 0, SOON))
			_exit(10);
		v.e.spin_ns = 0;
		if (write(ready, "r", 1) != 1)
			_exit(11);
		r = kup_end_wait(&v.e, 0, -1);
		if (r != -EKU_SHUTDOWN)
			_exit(12);
		/* The pages stay mapped after the module is gone: read and write them. */
		if (((const struct kup_kctl *)v.map)->hdr.magic != KUP_MAGIC)
			_exit(13);
		memset(v.map + v.blk, 0x5a, v.blk);
		_exit(0);
	case 1: /* echo traffic on kupvt channel 1 */
	case 2: /* and on kupvt_pool */
		if (vt_open_retry(&v, kind == 1 ? &T_VT : &T_POOL, kind == 1 ? 1 : 0) ||
		    vt_hello(&v))
			_exit(20);
		r = echo_once(&v, seq++, 9);
		if (r)
			_exit(21);
		if (write(ready, "r", 1) != 1)
			_exit(22);
		while (!(r = echo_once(&v, seq++, 9)))
			;
		_exit(r == -EKU_SHUTDOWN ? 0 : r == 1 ? 23 : 24);
	case 3: /* a device handle asleep in KUP_IOC_NOTIFY */
		fd = open(T_VT.dev, O_RDWR | O_CLOEXEC);
		if (fd < 0 || ioctl(fd, KUP_IOC_INFO, &in))
			_exit(30);
		w.seen = in.notify;
		if (write(ready, "r", 1) != 1)
			_exit(31);
		r = ioctl(fd, KUP_IOC_NOTIFY, &w);
		_exit(r < 0 && errno == ESHUTDOWN ? 0 : 32);
	default: /* channels 2 and 3 held, a third file waits for any channel */
		if (vt_open_retry(&v, &T_VT, 2) || vt_open_retry(&v2, &T_VT, 3) || vt_hello(&v) ||
		    vt_hello(&v2))
			_exit(40);
		fd = open(T_VT.dev, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			_exit(41);
		a.flags = KUP_ATTACH_ANY | KUP_ATTACH_WAIT;
		a.timeout_ns = -1;
		if (write(ready, "r", 1) != 1)
			_exit(42);
		r = ioctl(fd, KUP_IOC_ATTACH, &a);
		if (!(r < 0 && errno == ESHUTDOWN))
			_exit(43);
		/* The held channels hear it too. */
		r = kup_end_send(&v.e, "E", 1, 0, SOON);
		if (r == 0)
			r = kup_end_wait(&v.e, 0, SOON);
		_exit(r == -EKU_SHUTDOWN ? 0 : 44);
	}
}

#define RM_KINDS 5

static long rmmod_cycles(long n)
{
	pid_t pid[RM_KINDS];
	long i;
	int k, st, p[2], ready;
	char c;

	for (i = 0; i < n; i++) {
		ready = 0;
		KT_EQ(pipe(p), 0);
		/* The last kind waits for a free channel: it starts once the others hold theirs. */
		for (k = 0; k < RM_KINDS; k++) {
			struct pollfd pfd = {.fd = p[0], .events = POLLIN};

			pid[k] = fork();
			KT_ASSERT(pid[k] >= 0);
			if (pid[k] == 0) {
				close(p[0]);
				rm_child(k, p[1]);
				_exit(1);
			}
			if (k < RM_KINDS - 2)
				continue;
			while (k == RM_KINDS - 2 ? ready < RM_KINDS - 1 : ready < RM_KINDS) {
				if (poll(&pfd, 1, 30000) != 1 || read(p[0], &c, 1) != 1)
					KT_FAIL("cycle %ld: only %d of %d children got ready", i,
					        ready, RM_KINDS);
				ready++;
			}
		}
		close(p[1]);
		close(p[0]);
		usleep((useconds_t)(rnd() % 20000)); /* let them go to sleep, or not */
		KT_EQ(kupvt_rmmod(), 0);
		for (k = 0; k < RM_KINDS; k++) {
			KT_EQ(waitpid(pid[k], &st, 0), pid[k]);
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
				KT_FAIL("cycle %ld: child %d (blocked on kupvt) ended with status "
				        "0x%x, "
				        "not EKU_SHUTDOWN",
				        i, k, st);
		}
		KT_ASSERT(access(T_VT.dev, F_OK) != 0);
		KT_EQ(kupvt_insmod(), 0);
	}
	return n;
}

/* --- attach/close races from many threads ---------------------------------- */

#define RACE_THREADS 8
#define RACE_SLOTS   16
static int race_slot[RACE_SLOTS];

static const struct target *const race_targets[] = {&T_VT, &T_POOL, &T_ATTR, &T_BIG};

struct racer {
	long n, attached, mapped, exchanged;
	pthread_t th;
};

static void race_attach(struct racer *r)
{
	const struct target *t = race_targets[rnd() % 4];
	struct kup_ioc_attach a = {.abi = KUP_ABI_VERSION, .size = t->size};
	struct vt v;
	int fd = open(t->dev, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	a.chan = (uint32_t)(rnd() % (t->chans + 1)); /* chans: out of range */
	a.flags = rnd() % 3 == 0 ? KUP_ATTACH_ANY
	          : rnd() % 2    ? KUP_ATTACH_ANY | KUP_ATTACH_WAIT
	                         : 0;
	a.timeout_ns = (int64_t)(rnd() % (5 * MS));
	if (ioctl(fd, KUP_IOC_ATTACH, &a) == 0) {
		r->attached++;
		if (rnd() % 2) {
			memset(&v, 0, sizeof(v));
			v.fd = fd;
			v.t = t;
			v.chan = a.chan;
			v.blk = KUP_BLOCK_LEN(t->size);
			v.len = KUP_MAP_LEN(t->size);
			if (vt_map(&v) == 0) {
				r->mapped++;
				if (t->hello &&
				    kup_end_recv(&v.e, 0, 2 * MS, &(const void *){0},
				                 &(uint32_t){0}, 0) == 0 &&
				    kup_end_send(&v.e, "E", 1, KUPC_NB, 0) == 0)
					r->exchanged++;
				/* Unmap before or after the close. */
				if (rnd() & 1) {
					munmap(v.map, v.len);
				} else {
					close(fd);
					munmap(v.map, v.len);
					return;
				}
			}
		}
	}
	if (rnd() & 1) {
		close(fd);
	} else {
		fd = __atomic_exchange_n(&race_slot[rnd() % RACE_SLOTS], fd, __ATOMIC_ACQ_REL);
		if (fd >= 0)
			close(fd);
	}
}

static void *racer_run(void *arg)
{
	struct racer *r = arg;
	struct kup_ioc_wait w = {.timeout_ns = 0};
	struct kup_ioc_info in;
	long i;
	int fd;
	void *p;

	for (i = 0; i < r->n; i++) {
		switch (rnd() % 6) {
		case 0:
		case 1:
			race_attach(r);
			break;
		case 2: /* take a file from a slot and close it */
			fd = __atomic_exchange_n(&race_slot[rnd() % RACE_SLOTS], -1,
			                         __ATOMIC_ACQ_REL);
			if (fd >= 0)
				close(fd);
			break;
		case 3: /* calls on a file another thread may be closing */
			fd = __atomic_load_n(&race_slot[rnd() % RACE_SLOTS], __ATOMIC_ACQUIRE);
			if (fd >= 0) {
				w.seen = (uint32_t)rnd();
				(void)ioctl(fd, KUP_IOC_WAIT, &w);
				(void)ioctl(fd, KUP_IOC_WAKE);
				(void)ioctl(fd, KUP_IOC_INFO, &in);
			}
			break;
		case 4: /* map a file another thread may be closing */
			fd = __atomic_load_n(&race_slot[rnd() % RACE_SLOTS], __ATOMIC_ACQUIRE);
			if (fd >= 0) {
				p = mmap(NULL, KUP_PAGE, PROT_READ, MAP_SHARED, fd, 0);
				if (p != MAP_FAILED)
					munmap(p, KUP_PAGE);
			}
			break;
		default:
			sched_yield();
			break;
		}
	}
	return NULL;
}

static long races(long n, long *attached, long *mapped, long *exchanged)
{
	struct racer r[RACE_THREADS];
	int i;

	for (i = 0; i < RACE_SLOTS; i++)
		race_slot[i] = -1;
	for (i = 0; i < RACE_THREADS; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].n = n / RACE_THREADS;
		KT_EQ(pthread_create(&r[i].th, NULL, racer_run, &r[i]), 0);
	}
	*attached = *mapped = *exchanged = 0;
	for (i = 0; i < RACE_THREADS; i++) {
		KT_EQ(pthread_join(r[i].th, NULL), 0);
		*attached += r[i].attached;
		*mapped += r[i].mapped;
		*exchanged += r[i].exchanged;
	}
	for (i = 0; i < RACE_SLOTS; i++)
		if (race_slot[i] >= 0)
			close(race_slot[i]);
	return (n / RACE_THREADS) * RACE_THREADS;
}

/* --- fork with the mapping and the fd --------------------------------------- */

static volatile int storm_stop;

/* Children forked (and gone) while the parent exchanges on its channel. */
static void *fork_storm(void *arg)
{
	long *n = arg;
	int st;
	pid_t pid;

	while (!storm_stop) {
		pid = fork();
		if (pid == 0)
			_exit(0);
		if (pid > 0 && waitpid(pid, &st, 0) == pid)
			(*n)++;
	}
	return NULL;
}

static long forks(long n, long *storm)
{
	struct kup_ioc_attach a = {.abi = KUP_ABI_VERSION, .chan = 0, .size = 1};
	volatile const uint32_t *magic;
	pthread_t th;
	struct vt v;
	long i;
	int st;
	pid_t pid;

	KT_EQ(vt_open_retry(&v, &T_VT, 0), 0);
	KT_EQ(vt_hello(&v), 0);
	magic = &((const struct kup_kctl *)v.map)->hdr.magic;
	*storm = 0;
	storm_stop = 0;
	KT_EQ(pthread_create(&th, NULL, fork_storm, storm), 0);
	for (i = 0; i < n; i++) {
		pid = fork();
		KT_ASSERT(pid >= 0);
		if (pid == 0) {
			void *p =
			    mmap(NULL, v.blk, PROT_READ | PROT_WRITE, MAP_SHARED, v.fd, v.blk);
			struct kup_ioc_wait w = {.seen = 0, .timeout_ns = 0};

			if (p != MAP_FAILED || errno != EPERM)
				_exit(2);
			p = mmap(NULL, v.blk, PROT_READ, MAP_SHARED, v.fd, 0);
			if (p != MAP_FAILED || errno != EPERM)
				_exit(3);
			/* The inherited fd's calls: whatever they answer, nothing breaks. */
			(void)ioctl(v.fd, KUP_IOC_WAKE);
			(void)ioctl(v.fd, KUP_IOC_WAIT, &w);
			(void)ioctl(v.fd, KUP_IOC_ATTACH, &a);
			if (i & 1)
				close(v.fd);
			/* The parent's address is not mapped here: this faults. */
			if (*magic == KUP_MAGIC)
				_exit(4);
			_exit(5);
		}
		KT_EQ(waitpid(pid, &st, 0), pid);
		if (!(WIFSIGNALED(st) && (WTERMSIG(st) == SIGSEGV || WTERMSIG(st) == SIGBUS)))
			KT_FAIL(
			    "fork child %ld ended with status 0x%x (2, 3: it could map; 4, 5: it "
			    "touched the mapping)",
			    i, st);
		/* The parent's channel goes on working. */
		KT_EQ(echo_once(&v, (uint64_t)i, 3), 0);
	}
	storm_stop = 1;
	KT_EQ(pthread_join(th, NULL), 0);
	vt_close(&v);
	return n;
}

/* --- the tests ---------------------------------------------------------------- */

/* Warm up every kind of attack once, then take the memory baseline. */
KT_TEST_T(warmup_and_baseline, tmo(120, 300))
{
	long s, a, b, c;
	struct mem m;
	FILE *f;

	unlink(STATS);
	cg_enter("soak");
	verifiers_start(1);
	(void)scribble(20000, &s);
	ioctl_fuzz(500, &a, &b, &c);
	(void)kill9(6);
	(void)races(400, &a, &b, &c);
	(void)forks(5, &a);
	verifiers_check("warm-up");
	verifiers_start(0);
	(void)rmmod_cycles(2);
	verifiers_check("warm-up");
	/* A channel keeps its latest attach's pages until the next: none of kupvt's. */
	KT_EQ(kupvt_rmmod(), 0);
	KT_EQ(kupvt_insmod(), 0);
	m = mem_now();
	slabinfo_save();
	f = fopen(BASE, "w");
	KT_ASSERT(f);
	fprintf(f, "%ld %ld %ld\n", m.slab, m.vmalloc, m.cg);
	fclose(f);
	printf("# soak: counts divided by %ld; memory after warm-up: Slab %ld kB, VmallocUsed %ld "
	       "kB, memory.current %ld kB\n",
	       soak_div(), m.slab, m.vmalloc, m.cg);
}

KT_TEST_T(scribble_user_block_during_traffic, tmo(60, 600))
{
	long want = cnt(10000000), sessions, stores;
	long long t0 = kt_now_us();

	cg_enter("soak");
	verifiers_start(1);
	stores = scribble(want, &sessions);
	verifiers_check("scribble");
	printf(
	    "# soak: scribble: %ld random stores into the user blocks and kern control pages of "
	    "%ld attaches, %lld ms\n",
	    stores, sessions, (kt_now_us() - t0) / 1000);
	stat_add("stores", stores);
	KT_ASSERT(stores >= want);
}

KT_TEST_T(random_ioctls_and_mmaps, tmo(60, 600))
{
	long want = cnt(300000), calls, ok, maps;
	long long t0 = kt_now_us();

	cg_enter("soak");
	verifiers_start(1);
	ioctl_fuzz(want, &calls, &ok, &maps);
	verifiers_check("ioctl");
	printf(
	    "# soak: ioctl: %ld random ioctls (%ld succeeded), %ld random mappings granted, %lld "
	    "ms\n",
	    calls, ok, maps, (kt_now_us() - t0) / 1000);
	stat_add("ioctls", calls);
	KT_ASSERT(calls >= want);
}

KT_TEST_T(kill_9_mid_exchange, tmo(60, 600))
{
	long want = cnt(2000), n;
	long long t0 = kt_now_us();

	cg_enter("soak");
	verifiers_start(1);
	n = kill9(want);
	verifiers_check("kill9");
	printf("# soak: kill9: %ld children killed mid-exchange, %lld ms\n", n,
	       (kt_now_us() - t0) / 1000);
	stat_add("kills", n);
	KT_ASSERT(n >= want);
}

KT_TEST_T(rmmod_kupvt_under_blocked_processes, tmo(60, 600))
{
	long want = cnt(200), n;
	long long t0 = kt_now_us();

	cg_enter("soak");
	verifiers_start(0); /* kup_echo only: kupvt goes */
	n = rmmod_cycles(want);
	verifiers_check("rmmod");
	printf("# soak: rmmod: %ld rmmod+insmod of kupvt, %d blocked or busy children each woke "
	       "with EKU_SHUTDOWN, %lld ms\n",
	       n, RM_KINDS, (kt_now_us() - t0) / 1000);
	stat_add("rmmods", n);
	KT_ASSERT(n >= want);
}

KT_TEST_T(attach_close_races, tmo(60, 600))
{
	long want = cnt(200000), n, att, map, ex;
	long long t0 = kt_now_us();

	cg_enter("soak");
	verifiers_start(0); /* the racers take kupvt's channels too */
	n = races(want, &att, &map, &ex);
	verifiers_check("race");
	printf("# soak: race: %ld operations from %d threads: %ld attaches, %ld mapped, %ld "
	       "exchanged, %lld ms\n",
	       n, RACE_THREADS, att, map, ex, (kt_now_us() - t0) / 1000);
	stat_add("race_ops", n);
	KT_ASSERT(att > 0);
}

KT_TEST_T(fork_with_mapping_and_fd, tmo(60, 600))
{
	long want = cnt(1000), n, storm;
	long long t0 = kt_now_us();

	cg_enter("soak");
	verifiers_start(0); /* kupvt channel 0 is the parent's */
	n = forks(want, &storm);
	verifiers_check("fork");
	printf("# soak: fork: %ld children could not map the inherited fd (EPERM) and died "
	       "touching the parent's address; %ld more forked during the exchange, %lld ms\n",
	       n, storm, (kt_now_us() - t0) / 1000);
	stat_add("forks", n);
}

/* Count the kernel log's failure lines (check-klog.sh's patterns, the host's check is final). */
static long klog_reports(void)
{
	static const char *const pat[] = {"WARNING:",
	                                  "BUG:",
	                                  "Oops",
	                                  "KASAN",
	                                  "lockdep",
	                                  "general protection",
	                                  "Call Trace",
	                                  "Kernel panic",
	                                  "blocked for more than",
	                                  "UBSAN",
	                                  "refcount_t:",
	                                  "list_add corruption",
	                                  "list_del corruption",
	                                  "KFENCE",
	                                  "ODEBUG",
	                                  "pagealloc: ",
	                                  "usercopy:",
	                                  "detected stall"};
	char *buf;
	int n, i, bad = 0;
	char *line, *save;

	buf = malloc(1 << 20);
	KT_ASSERT(buf);
	n = (int)syscall(SYS_syslog, 3 /* SYSLOG_ACTION_READ_ALL */, buf, (1 << 20) - 1);
	KT_ASSERT(n >= 0);
	buf[n] = 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strstr(line, "RCU lockdep checking is enabled")) /* a debug kernel's boot */
			continue;
		for (i = 0; i < (int)(sizeof(pat) / sizeof(pat[0])); i++)
			if (strstr(line, pat[i])) {
				printf("# kernel: %s\n", line);
				bad++;
				break;
			}
	}
	free(buf);
	return bad;
}

/* Every channel attaches again and works; memory is back where it was. */
KT_TEST_T(every_channel_reattachable_and_memory_flat, tmo(90, 300))
{
	static const struct {
		const struct target *t;
		uint32_t chan;
	} all[] = {{&T_VT, 0},   {&T_VT, 1},   {&T_VT, 2},  {&T_VT, 3},
	           {&T_POOL, 0}, {&T_ATTR, 0}, {&T_BIG, 0}, {&T_ECHO, 0},
	           {&T_ECHO, 1}, {&T_ECHO, 2}, {&T_ECHO, 3}};
	long long sum[16] = {0}, v;
	static const char *const keys[] = {"stores",   "ioctls", "kills",   "rmmods",
	                                   "race_ops", "forks",  "echo_ok", "echo_bad"};
	char key[32];
	struct mem b, m;
	struct vt ch;
	size_t i;
	int back = 0;
	long reports;
	FILE *f;

	cg_enter("soak");
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		int r = vt_open_retry(&ch, all[i].t, all[i].chan);

		if (r == 0)
			r = vt_hello(&ch);
		if (r == 0 && all[i].t->hello)
			r = echo_once(&ch, 1, 77);
		if (r)
			printf("# %s channel %u: %d\n", all[i].t->dev, all[i].chan, r);
		else
			back++;
		if (ch.fd >= 0)
			vt_close(&ch);
	}
	f = fopen(BASE, "r");
	KT_ASSERT(f);
	KT_EQ(fscanf(f, "%ld %ld %ld", &b.slab, &b.vmalloc, &b.cg), 3);
	fclose(f);
	KT_EQ(kupvt_rmmod(), 0); /* as before the baseline */
	KT_EQ(kupvt_insmod(), 0);
	m = mem_settled(&b);
	f = fopen(STATS, "r");
	KT_ASSERT(f);
	while (fscanf(f, "%31s %lld", key, &v) == 2)
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (!strcmp(key, keys[i]))
				sum[i] += v;
	fclose(f);
	reports = klog_reports();
	printf(
	    "# soak: totals: %lld stores, %lld ioctls, %lld kill -9, %lld rmmod+insmod, %lld race "
	    "ops, %lld forks\n",
	    sum[0], sum[1], sum[2], sum[3], sum[4], sum[5]);
	printf("# soak: %ld kernel reports; %lld echo messages checked on untouched channels, %lld "
	       "wrong; %d of %zu channels reattached\n",
	       reports, sum[6], sum[7], back, sizeof(all) / sizeof(all[0]));
	slabinfo_growth();
	printf("# soak: memory after warm-up -> at the end: Slab %ld -> %ld kB, VmallocUsed %ld -> "
	       "%ld kB, memory.current %ld -> %ld kB\n",
	       b.slab, m.slab, b.vmalloc, m.vmalloc, b.cg, m.cg);
	KT_EQ(reports, 0);
	KT_EQ(sum[7], 0);
	KT_EQ(back, (int)(sizeof(all) / sizeof(all[0])));
	KT_ASSERT(m.slab - b.slab < SLAB_SLACK_KB);
	KT_ASSERT(m.vmalloc - b.vmalloc < VMALLOC_SLACK_KB);
	KT_ASSERT(m.cg - b.cg < CG_SLACK_KB);
}

KT_MAIN()
