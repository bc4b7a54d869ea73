/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * integ_seed.c - the seed's test matrix, written the way its users write
 * code: kernproxy_open, kernproxy_channel(h, 0, size) once per channel
 * wanted, the seed's kernproxy_receive/kernproxy_send with KP_EMPTY or
 * KP_NB, and kernproxy_error(handle) on the device handle.  One kern-side
 * service (the test service: a provider program, or the kup_test module),
 * one process or several, blocking and polling, one, two and 128 channels,
 * a two-page channel with a message of more than a page, two services
 * ("modules") at once, and the kern side unloading mid-exchange.
 *
 * Every exchange is checked byte for byte on the user side, and the
 * service's own count of the messages it received must match.
 */
#include <pthread.h>
#include <sched.h>

#include "kit.h"

#define NAME(base) kit_name(base, namebuf, sizeof(namebuf))

/*
 * The seed's receive: blocking (KP_EMPTY), or polling with KP_NB while the
 * device handle says EKU_NOTREADY.  *len: the message's length.
 */
static uint8_t *seed_receive(void *h, void *ch, size_t *len, int nb)
{
	long long end = kit_now_ms() + KIT_SOON_MS;
	uint8_t *p;

	if (!nb) {
		p = kernproxy_receive(ch, KP_EMPTY);
		if (!p)
			KT_FAIL("kernproxy_receive: %s", kernproxy_strerror(kernproxy_error(h)));
	} else {
		while (!(p = kernproxy_receive(ch, KP_NB))) {
			if (kernproxy_error(h) != EKU_NOTREADY)
				KT_FAIL("kernproxy_receive(KP_NB): %s",
				        kernproxy_strerror(kernproxy_error(h)));
			if (kit_now_ms() > end)
				KT_FAIL("no message while polling");
			sched_yield();
		}
	}
	/* The same message again, with its length: receiving does not consume. */
	KT_ASSERT(kernproxy_receive_len(ch, len, KP_NB) == p);
	return p;
}

/* Attach with the seed's call on channel 0 and take the service's hello; *id: the channel. */
static const void *last_hello; /* points into the last channel attached */

static void *seed_attach(void *h, size_t size, int nb, int *id)
{
	void *ch = kernproxy_channel(h, 0, size);
	struct kt_hello *hello;
	size_t len;

	if (!ch) {
		if (kernproxy_error(h) == EKU_SHUTDOWN)
			KT_FAIL("KUP module is shutting down");
		KT_FAIL("kernproxy_channel: %s", kernproxy_strerror(kernproxy_error(h)));
	}
	*id = kernproxy_channel_id(ch);
	KT_ASSERT(*id >= 0);
	hello = (struct kt_hello *)seed_receive(h, ch, &len, nb);
	KT_EQ(len, sizeof(*hello));
	KT_EQ(hello->magic, KT_HELLO_MAGIC);
	KT_EQ(hello->chan, *id); /* the kernel side learnt the same id */
	KT_EQ(hello->size, size);
	last_hello = hello;
	return ch;
}

/* The pattern of exchange i on channel id: its length and seed. */
static size_t pat_len(int id, int i, size_t cap)
{
	return ((size_t)id * 131 + (size_t)i * 977 + 1) % cap;
}

static uint32_t pat_seed(int id, int i)
{
	return (uint32_t)id * 7919u + (uint32_t)i;
}

static void seed_send(void *h, void *ch, int id, int i, size_t cap)
{
	size_t len = pat_len(id, i, cap);
	uint8_t *buf = malloc(len + 1);

	KT_ASSERT(buf);
	kt_fill(buf, (uint32_t)len, pat_seed(id, i));
	if (kernproxy_send(ch, buf, len, KP_EMPTY) != 0)
		KT_FAIL("kernproxy_send: %s", kernproxy_strerror(kernproxy_error(h)));
	free(buf);
}

static void seed_check(void *h, void *ch, int id, int i, size_t cap, int nb)
{
	size_t want = pat_len(id, i, cap), len;
	uint8_t *p = seed_receive(h, ch, &len, nb);

	KT_EQ(len, want);
	KT_EQ(kt_sum(p, (uint32_t)len), kt_fill_sum((uint32_t)want, pat_seed(id, i)));
}

/* Wait until the service counted n messages on channel chan. */
static void service_counted(struct kit_ctl *c, const char *n, int chan, uint32_t msgs)
{
	struct kt_reply rep;

	CTL_WAIT(c, n, (uint32_t)chan, msgs, msgs, &rep);
	KT_EQ(rep.msgs, msgs);
}

/* nchan channels with the seed's call, rounds exchanges on each, in step. */
static void seed_run(const char *base, uint32_t nchan, uint32_t size, int rounds, int nb)
{
	char namebuf[64];
	const char *n = NAME(base);
	struct kit_ctl *c = ctl_open();
	size_t cap = (size_t)size * KUP_PAGE;
	uint8_t *seen = calloc(nchan, 1);
	void **ch = calloc(nchan, sizeof(*ch));
	int *id = calloc(nchan, sizeof(*id));
	void *h;
	uint32_t i;
	int r;

	KT_ASSERT(seen && ch && id);
	ctl_mkdev(c, n, size, nchan, KTB_ECHO, 0, 0);
	h = kernproxy_open(n);
	if (!h)
		KT_FAIL("Opening KUP device %s failed: %s", n, kernproxy_strerror(kernproxy_errno));
	for (i = 0; i < nchan; i++) {
		ch[i] = seed_attach(h, size, nb, &id[i]);
		KT_ASSERT(id[i] < (int)nchan);
		KT_EQ(seen[id[i]], 0); /* every call got a channel of its own */
		seen[id[i]] = 1;
	}
	/* Every channel at once: all sends, then all receives. */
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < nchan; i++)
			seed_send(h, ch[i], id[i], r, cap);
		for (i = 0; i < nchan; i++)
			seed_check(h, ch[i], id[i], r, cap, nb);
	}
	for (i = 0; i < nchan; i++)
		service_counted(c, n, id[i], (uint32_t)rounds);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
	free(seen);
	free(ch);
	free(id);
}

KT_TEST(seed_one_channel_blocking)
{
	seed_run("sd_one_b", 1, 1, 200, 0);
}

KT_TEST(seed_one_channel_nonblocking)
{
	seed_run("sd_one_nb", 1, 1, 200, 1);
}

KT_TEST(seed_two_channels_blocking)
{
	seed_run("sd_two_b", 2, 1, 100, 0);
}

KT_TEST(seed_two_channels_nonblocking)
{
	seed_run("sd_two_nb", 2, 1, 100, 1);
}

KT_TEST_T(seed_128_channels_blocking, 120)
{
	seed_run("sd_128_b", 128, 1, 3, 0);
}

KT_TEST_T(seed_128_channels_nonblocking, 120)
{
	seed_run("sd_128_nb", 128, 1, 3, 1);
}

/* Two pages each way, messages of more than one page, up to the whole capacity. */
KT_TEST(seed_two_page_channel_large_message)
{
	char namebuf[64];
	const char *n = NAME("sd_2page");
	struct kit_ctl *c = ctl_open();
	static const size_t lens[] = {KUP_PAGE + 1, 5000, 2 * KUP_PAGE, KUP_PAGE * 3 / 2};
	uint8_t *buf = malloc(2 * KUP_PAGE + 1), *p;
	size_t len, k;
	void *h, *ch;
	int id;

	KT_ASSERT(buf);
	ctl_mkdev(c, n, 2, 1, KTB_ECHO, 0, 0);
	h = kit_open(n);
	KIT_FAILS_WITH(kernproxy_channel(h, 0, 1) == NULL, h, EKU_BADSIZE);
	ch = seed_attach(h, 2, 0, &id);
	KT_EQ(id, 0);
	for (k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		kt_fill(buf, (uint32_t)lens[k], 40u + (uint32_t)k);
		KT_EQ(kernproxy_send(ch, buf, lens[k], KP_EMPTY), 0);
		p = seed_receive(h, ch, &len, (int)(k & 1));
		KT_EQ(len, lens[k]);
		KT_ASSERT(memcmp(p, buf, len) == 0);
	}
	/* More than the channel holds: refused, nothing lost, the channel goes on. */
	KIT_FAILS_WITH(kernproxy_send(ch, buf, 2 * KUP_PAGE + 1, KP_EMPTY) == -1, ch, EKU_TOOBIG);
	KT_EQ(kernproxy_error(h), EKU_TOOBIG);
	kt_fill(buf, 6000, 99);
	KT_EQ(kernproxy_send(ch, buf, 6000, KP_EMPTY), 0);
	p = seed_receive(h, ch, &len, 0);
	KT_EQ(len, 6000);
	KT_ASSERT(memcmp(p, buf, len) == 0);
	service_counted(c, n, 0, 5);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
	free(buf);
}

/*
 * One service, several processes: more processes than channels, each
 * attaching with the seed's call (the late ones wait for a channel to be
 * released), half of them polling.
 */
#define SP_PROCS  6
#define SP_CHANS  4
#define SP_ROUNDS 40

KT_TEST_T(seed_several_processes, 120)
{
	char namebuf[64];
	const char *n = NAME("sd_procs");
	struct kit_ctl *c = ctl_open();
	pid_t pid[SP_PROCS];
	uint32_t total = 0, sessions = 0;
	struct kt_reply rep;
	int i, r, st;

	ctl_mkdev(c, n, 1, SP_CHANS, KTB_ECHO, 0, 0);
	fflush(NULL);
	for (i = 0; i < SP_PROCS; i++) {
		pid[i] = fork();
		KT_ASSERT(pid[i] >= 0);
		if (pid[i] == 0) {
			int nb = i & 1, id;
			void *h = kernproxy_open(n), *ch;

			if (!h)
				KT_FAIL("kernproxy_open: %s", kernproxy_strerror(kernproxy_errno));
			ch = seed_attach(h, 1, nb, &id);
			for (r = 0; r < SP_ROUNDS; r++) {
				seed_send(h, ch, id, r + i * 1000, KUP_PAGE);
				seed_check(h, ch, id, r + i * 1000, KUP_PAGE, nb);
			}
			kernproxy_close(h); /* the channel goes to a process still waiting */
			exit(0);
		}
	}
	for (i = 0; i < SP_PROCS; i++) {
		while (waitpid(pid[i], &st, 0) < 0 && errno == EINTR)
			;
		KT_ASSERT(WIFEXITED(st));
		KT_EQ(WEXITSTATUS(st), 0);
	}
	/* The service served every process and received every message. */
	for (i = 0; i < SP_CHANS; i++) {
		KT_EQ(ctl_stats(c, n, (uint32_t)i, &rep), 0);
		total += rep.msgs;
		sessions += rep.sessions;
	}
	KT_EQ(total, SP_PROCS * SP_ROUNDS);
	KT_EQ(sessions, SP_PROCS);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/* Two services ("kernel modules") at once: the test service and kup_echo. */
KT_TEST(seed_two_modules_at_once)
{
	char namebuf[64];
	const char *n = NAME("sd_mod");
	const char *echo = kit_prog("KUPTEST_ECHO");
	struct kit_ctl *c;
	pid_t pid = 0;
	void *h1, *h2, *c1, *c2;
	char msg[64], *p;
	size_t len;
	int st = 0, i, id;

	if (!kit_kernel()) {
		if (!echo)
			KT_SKIP("KUPTEST_ECHO does not name the kup_echo provider program");
		if (kit_spawn(echo, &pid, &st) != 0)
			KT_FAIL("kup_echo did not start (status %d)", st);
	}
	h2 = kernproxy_open("kup_echo");
	if (!h2 && kit_kernel())
		KT_SKIP("the kup_echo module is not loaded");
	KT_ASSERT(h2);
	c = ctl_open();
	ctl_mkdev(c, n, 1, 1, KTB_ECHO, 0, 0);
	h1 = kit_open(n);
	c1 = seed_attach(h1, 1, 0, &id);
	KT_EQ(id, 0);
	c2 = kernproxy_channel(h2, 0, 1);
	KT_ASSERT(c2);
	p = (char *)seed_receive(h2, c2, &len, 0);
	KT_ASSERT(len > 10 && memcmp(p, "hello from", 10) == 0);
	for (i = 0; i < 100; i++) {
		int l = snprintf(msg, sizeof(msg), "to kup_echo %d", i);

		seed_send(h1, c1, 0, i, KUP_PAGE);
		KT_EQ(kernproxy_send(c2, msg, (size_t)l, KP_EMPTY), 0);
		p = (char *)seed_receive(h2, c2, &len, i & 1);
		KT_EQ(len, l);
		KT_ASSERT(memcmp(p, msg, len) == 0);
		seed_check(h1, c1, 0, i, KUP_PAGE, i & 1);
	}
	service_counted(c, n, 0, 100);
	kernproxy_close(h1);
	kernproxy_close(h2);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
	if (pid) {
		st = kit_stop(pid);
		KT_ASSERT(WIFEXITED(st));
		KT_EQ(WEXITSTATUS(st), 0);
	}
}

struct unloader {
	const char *name;
	const uint32_t *wait; /* the receiver's wait word, or NULL: do not wait */
	uint32_t msgs;        /* the service must have received this many first */
	int ok;
};

static void *unload_when_ready(void *arg)
{
	struct unloader *u = arg;
	struct kit_ctl *c = ctl_open();

	CTL_WAIT(c, u->name, 0, msgs, u->msgs, NULL);
	if (u->wait)
		kit_wait_asleep(u->wait, -1);
	u->ok = ctl_unload(c, u->name) == 0;
	ctl_close(c);
	return NULL;
}

/*
 * The kern side unloads mid-exchange: the process's pending receive fails,
 * and the seed's check on the device handle says EKU_SHUTDOWN.
 */
static void seed_unload_mid_exchange(const char *base, int nb)
{
	char namebuf[64];
	const char *n = NAME(base);
	struct kit_ctl *c = ctl_open();
	struct unloader u = {0};
	pthread_t t;
	void *h, *ch, *p;
	int r, id;

	/* The service answers slowly: it is "working" when the unload comes. */
	ctl_mkdev(c, n, 1, 1, KTB_ECHO, KT_CTL_MAX_WAIT_MS, 0);
	h = kit_open(n);
	ch = seed_attach(h, 1, nb, &id);
	seed_send(h, ch, id, 0, KUP_PAGE);
	u.name = n;
	u.msgs = 1;
	if (!nb) {
		KT_EQ(kernproxy_set_spin(ch, 0), 0);
		u.wait = &kit_uctl(last_hello, 1)->u.wait; /* asleep in its receive */
	}
	KT_EQ(pthread_create(&t, NULL, unload_when_ready, &u), 0);
	if (nb) {
		long long end = kit_now_ms() + 2 * KIT_SOON_MS;

		while ((p = kernproxy_receive(ch, KP_NB)) == NULL &&
		       kernproxy_error(h) == EKU_NOTREADY) {
			KT_ASSERT(kit_now_ms() < end);
			sched_yield();
		}
	} else {
		p = kernproxy_receive(ch, KP_EMPTY);
	}
	KT_ASSERT(p == NULL);
	KT_EQ(kernproxy_error(h), EKU_SHUTDOWN); /* the seed's check */
	KT_EQ(kernproxy_error(ch), EKU_SHUTDOWN);
	KT_EQ(pthread_join(t, NULL), 0);
	KT_ASSERT(u.ok);
	/* Gone for good: every later call says so. */
	r = kernproxy_send(ch, "x", 1, KP_EMPTY);
	KT_EQ(r, -1);
	KT_EQ(kernproxy_error(h), EKU_SHUTDOWN);
	KT_ASSERT(kernproxy_channel(h, 0, 1) == NULL);
	KT_EQ(kernproxy_error(h), EKU_SHUTDOWN);
	kernproxy_close(h);
	ctl_close(c);
}

KT_TEST(seed_unload_mid_exchange_blocking)
{
	seed_unload_mid_exchange("sd_unl_b", 0);
}

KT_TEST(seed_unload_mid_exchange_nonblocking)
{
	seed_unload_mid_exchange("sd_unl_nb", 1);
}
