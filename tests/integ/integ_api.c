/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * integ_api.c - the API around the exchange: bad arguments and handles,
 * per-thread errors, readiness fds with poll(), the asynchronous loop,
 * notify, the kupdev_create checks, and the provider's socket rules.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include "kit.h"
#include "kp_backend.h"
#include "kup_wire.h"

#define NAME(base) kit_name(base, namebuf, sizeof(namebuf))

/* NULL and dead handles, unknown names, wrong sizes and ids: an error, never a crash. */
KT_TEST(bad_arguments_give_clear_errors)
{
	char namebuf[64];
	const char *n = NAME("badarg");
	struct kit_ctl *c = ctl_open();
	struct kernproxy_stats st;
	size_t cap;
	void *h, *h2, *ch;

	KIT_FAILS_WITH(kernproxy_open(NULL) == NULL, NULL, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_open("") == NULL, NULL, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_open("kt_no_such_device") == NULL, NULL, EKU_NOENT);
	KIT_FAILS_WITH(kernproxy_channel(NULL, 0, 1) == NULL, NULL, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_receive(NULL, 0) == NULL, NULL, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_receive_len(NULL, &cap, 0) == NULL, NULL, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_send(NULL, "x", 1, 0) == -1, NULL, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_pass(NULL, 0) == -1, NULL, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_send_buf(NULL, &cap, 0) == NULL, NULL, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_send_commit(NULL, 0) == -1, NULL, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_stats(NULL, &st) == -1, NULL, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_fd(NULL) == -1, NULL, EKU_INVAL);
	KT_EQ(kernproxy_error(NULL), EKU_INVAL);
	KT_EQ(kernproxy_capacity(NULL), 0);
	kernproxy_close(NULL);

	ctl_mkdev(c, n, 2, 3, KTB_ECHO, 0, 0);
	h = kit_open(n);
	KIT_FAILS_WITH(kernproxy_channel(h, 0, 1) == NULL, h, EKU_BADSIZE);
	KIT_FAILS_WITH(kernproxy_channel(h, 0, 3) == NULL, h, EKU_BADSIZE);
	KIT_FAILS_WITH(kernproxy_channel(h, 0, 0) == NULL, h, EKU_BADSIZE);
	KIT_FAILS_WITH(kernproxy_channel(h, 3, 2) == NULL, h, EKU_RANGE);
	KIT_FAILS_WITH(kernproxy_channel(h, (size_t)-1, 2) == NULL, h, EKU_RANGE);
	/* A device handle is no channel, and the reverse: the misused handle says so. */
	KIT_FAILS_WITH(kernproxy_receive(h, KP_NB) == NULL, h, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_send(h, "x", 1, KP_NB) == -1, h, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_arm(h) == -1, h, EKU_INVAL);
	ch = kit_attach(h, 2, 2);
	KIT_FAILS_WITH(kernproxy_channel(ch, 0, 2) == NULL, ch, EKU_INVAL);
	/* The same process attaching a channel twice: it is taken. */
	h2 = kit_open(n);
	KIT_FAILS_WITH(kernproxy_attach(h2, 2, 2, KP_EXACT) == NULL, h2, EKU_BUSY);
	kit_hello(ch, 2);
	KIT_FAILS_WITH(kernproxy_send(ch, NULL, 5, 0) == -1, ch, EKU_INVAL);
	kit_echo(ch, 0, 0);
	/* Double close of a channel, then of its device: no-ops. */
	kernproxy_close(ch);
	kernproxy_close(ch);
	KT_EQ(kernproxy_error(ch), EKU_INVAL); /* close and error look the handle up */
	/* Using a closed channel handle is refused, not a use-after-free. */
	KIT_FAILS_WITH(kernproxy_send(ch, "x", 1, KP_NB) == -1, NULL, EKU_INVAL);
	KIT_FAILS_WITH(kernproxy_receive(ch, KP_NB) == NULL, NULL, EKU_INVAL);
	kernproxy_close(h);
	kernproxy_close(h);
	kernproxy_close(h2);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
	KT_ASSERT(strlen(kernproxy_strerror(EKU_BUSY)) > 0);
	KT_ASSERT(strlen(kernproxy_strerror(12345)) > 0);
	KT_ASSERT(strlen(kernproxy_strerror(-1)) > 0);
}

struct errno_thread {
	pthread_barrier_t *bar;
	int code;
	const char *dev;
	int seen;
};

static void *errno_worker(void *arg)
{
	struct errno_thread *e = arg;
	void *h = kernproxy_open(e->dev);
	int i;

	for (i = 0; h && i < 200; i++) {
		if (e->code == EKU_NOENT) {
			if (kernproxy_open("kt_no_such_device") != NULL)
				break;
		} else {
			if (kernproxy_channel(h, 99, 1) != NULL)
				break;
		}
		pthread_barrier_wait(e->bar); /* both threads have set their code */
		if (kernproxy_errno != e->code)
			break;
		pthread_barrier_wait(e->bar);
	}
	e->seen = i == 200;
	kernproxy_close(h);
	return NULL;
}

/* kernproxy_errno is per thread, like errno. */
KT_TEST(errno_is_per_thread)
{
	char namebuf[64];
	const char *n = NAME("errno");
	struct kit_ctl *c = ctl_open();
	pthread_barrier_t bar;
	struct errno_thread e[2] = {{&bar, EKU_NOENT, n, 0}, {&bar, EKU_RANGE, n, 0}};
	pthread_t t[2];
	int i;

	ctl_mkdev(c, n, 1, 1, KTB_ECHO, 0, 0);
	KT_EQ(pthread_barrier_init(&bar, NULL, 2), 0);
	for (i = 0; i < 2; i++)
		KT_EQ(pthread_create(&t[i], NULL, errno_worker, &e[i]), 0);
	/* A thread that failed leaves the barrier short: the test's timeout catches that. */
	for (i = 0; i < 2; i++)
		KT_EQ(pthread_join(t[i], NULL), 0);
	KT_ASSERT(e[0].seen && e[1].seen);
	kernproxy_errno = 0;
	KT_EQ(kernproxy_errno, 0);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/* The readiness fd with kernproxy_arm: readable exactly when the turn arrives, HUP on unload. */
KT_TEST(readiness_fd_with_poll)
{
	char namebuf[64];
	const char *n = NAME("fd");
	struct kit_ctl *c = ctl_open();
	size_t len;
	void *h, *ch;
	int fd, i, ev;

	ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
	h = kit_open(n);
	ch = kit_attach(h, 0, 1);
	KT_EQ(ctl_waitchan(c, n, KIT_SOON_MS), 0);
	fd = kernproxy_fd(ch);
	KT_ASSERT(fd >= 0);
	for (i = 0; i < 3; i++) {
		KT_EQ(kernproxy_arm(ch), 0);
		KT_EQ(kit_revents(fd, 200), 0); /* nothing yet */
		KT_EQ(kernproxy_arm(ch), 0);
		KT_EQ(ctl_send(c, n, 0, 6, (uint32_t)i, -1, 0), 0);
		ev = kit_revents(fd, KIT_SOON_MS);
		KT_ASSERT(ev & POLLIN);
		KT_EQ(kernproxy_arm(ch), 1); /* ready: do not wait */
		KT_ASSERT(kernproxy_receive_len(ch, &len, KP_NB) != NULL);
		KT_EQ(len, 6);
		KT_EQ(kernproxy_send(ch, "r", 1, 0), 0);
		KT_EQ(ctl_recv(c, n, 0, -1, 0, NULL), 0);
	}
	/* Armed while the kern side holds the turn, then the device goes away. */
	KT_EQ(kernproxy_arm(ch), 0);
	KT_EQ(ctl_unload(c, n), 0);
	ev = kit_revents(fd, KIT_SOON_MS);
	KT_ASSERT(ev & (POLLHUP | POLLERR | POLLIN));
	KT_EQ(kernproxy_arm(ch), 1);
	KIT_FAILS_WITH(kernproxy_receive(ch, KP_NB) == NULL, ch, EKU_SHUTDOWN);
	kernproxy_close(h);
	ctl_close(c);
}

struct lstate {
	void *loop; /* set: try a nested run from the first callback */
	int n, target, err, bad, nested_err;
	uint8_t last[64];
	size_t last_len;
};

static void loop_cb(void *ch, void *data, size_t len, int err, void *arg)
{
	struct lstate *s = arg;
	struct kt_hello *hello = data;

	if (err) {
		s->err = err;
		return;
	}
	if (s->loop && s->n == 0 && kernproxy_loop_run(s->loop, 0) == -1)
		s->nested_err = kernproxy_errno;
	if (s->n > s->target)
		return; /* done: leave the turn with us */
	if (s->n == 0) {
		if (len != sizeof(*hello) || hello->magic != KT_HELLO_MAGIC)
			s->bad++;
	} else if (len != s->last_len || memcmp(data, s->last, len) != 0) {
		s->bad++;
	}
	s->n++;
	if (s->n > s->target)
		return;
	s->last_len = (size_t)(s->n % 64);
	kt_fill(s->last, (uint32_t)s->last_len, (uint32_t)s->n);
	if (kernproxy_send(ch, s->last, s->last_len, KP_NB) != 0)
		s->bad++;
}

/* The asynchronous loop runs callbacks as turns arrive and reports the closure. */
KT_TEST(async_loop)
{
	char namebuf[64];
	const char *n = NAME("loop");
	struct kit_ctl *c = ctl_open();
	struct lstate s[2];
	long long end;
	void *h, *ch[2], *loop;
	int i, r, total = 0;

	memset(s, 0, sizeof(s));
	ctl_mkdev(c, n, 1, 2, KTB_ECHO, 0, 0);
	h = kit_open(n);
	loop = kernproxy_loop_new();
	KT_ASSERT(loop);
	for (i = 0; i < 2; i++) {
		s[i].target = 300 + 100 * i;
		ch[i] = kit_attach(h, (size_t)i, 1);
		KT_EQ(kernproxy_loop_add(loop, ch[i], loop_cb, &s[i]), 0);
	}
	KT_EQ(kernproxy_loop_add(loop, ch[0], loop_cb, &s[0]), -1); /* already in it */
	KT_EQ(kernproxy_loop_add(NULL, ch[0], loop_cb, &s[0]), -1);
	s[1].loop = loop;
	end = kit_now_ms() + 2 * KIT_SOON_MS;
	while ((s[0].n <= s[0].target || s[1].n <= s[1].target) && kit_now_ms() < end) {
		r = kernproxy_loop_run(loop, 1000);
		KT_ASSERT(r >= 0);
		total += r;
	}
	for (i = 0; i < 2; i++) {
		KT_EQ(s[i].bad, 0);
		KT_EQ(s[i].n, s[i].target + 1);
	}
	KT_ASSERT(total >= 702);
	KT_EQ(s[1].nested_err, EKU_BUSY); /* a callback cannot run its own loop */
	/* Unload: each channel's callback runs with the error, then it leaves the loop. */
	KT_EQ(ctl_unload(c, n), 0);
	end = kit_now_ms() + KIT_SOON_MS;
	while ((!s[0].err || !s[1].err) && kit_now_ms() < end)
		KT_ASSERT(kernproxy_loop_run(loop, 200) >= 0);
	KT_EQ(s[0].err, EKU_SHUTDOWN);
	KT_EQ(s[1].err, EKU_SHUTDOWN);
	/* Nothing left in the loop: no callback runs (libkup says so with -1/EKU_INVAL). */
	r = kernproxy_loop_run(loop, 0);
	KT_ASSERT(r == 0 || (r == -1 && kernproxy_errno == EKU_INVAL));
	kernproxy_loop_free(loop);
	kernproxy_close(h);
	ctl_close(c);
}

struct notifier {
	const char *name;
	int done; /* atomic */
};

static void *notify_repeatedly(void *arg)
{
	struct notifier *nt = arg;
	struct kit_ctl *c = ctl_open();
	long long end = kit_now_ms() + KIT_SOON_MS;

	/* Until the waiter returns: a notify before the wait began must not be the only one. */
	while (!__atomic_load_n(&nt->done, __ATOMIC_ACQUIRE) && kit_now_ms() < end) {
		if (ctl_notify(c, nt->name) != 0)
			break;
		kit_sleep_ms(50);
	}
	ctl_close(c);
	return NULL;
}

/* kernproxy_wait_notify returns after kupdev_notify, and times out without one. */
KT_TEST(wait_notify)
{
	char namebuf[64];
	const char *n = NAME("notify");
	struct kit_ctl *c = ctl_open();
	struct notifier nt = {n, 0};
	pthread_t t;
	long long t0;
	void *h;

	ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
	h = kit_open(n);
	t0 = kit_now_ms();
	KIT_FAILS_WITH(kernproxy_wait_notify(h, 150000000LL) == -1, h, EKU_TIMEDOUT);
	KT_ASSERT(kit_now_ms() - t0 >= 100);
	KT_EQ(pthread_create(&t, NULL, notify_repeatedly, &nt), 0);
	KT_EQ(kernproxy_wait_notify(h, (int64_t)KIT_SOON_MS * 1000000), 0);
	__atomic_store_n(&nt.done, 1, __ATOMIC_RELEASE);
	KT_EQ(pthread_join(t, NULL), 0);
	KIT_FAILS_WITH(kernproxy_wait_notify(NULL, 0) == -1, NULL, EKU_INVAL);
	KT_EQ(ctl_unload(c, n), 0);
	KIT_FAILS_WITH(kernproxy_wait_notify(h, (int64_t)KIT_SOON_MS * 1000000) == -1, h,
	               EKU_SHUTDOWN);
	kernproxy_close(h);
	ctl_close(c);
}

/* kupdev_create refuses bad geometry and names, and a name that is taken. */
KT_TEST(kupdev_create_checks)
{
	struct kit_ctl *c = ctl_open();

	KT_EQ(ctl_create(c, "kt_dup", 1, 1, KTB_MANUAL, 0, 0), 0);
	/* Straight to kupdev_create, no unload first. */
	struct kt_cmd cmd = {.magic = KT_CMD_MAGIC, .op = KTO_CREATE, .size = 1, .chan_cnt = 1};
	snprintf(cmd.name, sizeof(cmd.name), "kt_dup");
	KT_EQ(ctl_do(c, &cmd, NULL), -EKU_EXIST);
	KT_EQ(ctl_unload(c, "kt_dup"), 0);
	KT_ASSERT(ctl_create(c, "kt_size0", 0, 1, KTB_MANUAL, 0, 0) < 0);
	KT_ASSERT(ctl_create(c, "kt_chan0", 1, 0, KTB_MANUAL, 0, 0) < 0);
	KT_ASSERT(ctl_create(c, "kt_huge", KUP_MAX_SIZE + 1, 1, KTB_MANUAL, 0, 0) < 0);
	KT_ASSERT(ctl_create(c, "kt_many", 1, KUP_MAX_CHANNELS + 1, KTB_MANUAL, 0, 0) < 0);
	KT_ASSERT(ctl_create(c, "kt/slash", 1, 1, KTB_MANUAL, 0, 0) < 0);
	KT_ASSERT(ctl_create(c, "", 1, 1, KTB_MANUAL, 0, 0) < 0);
	KT_ASSERT(ctl_create(c, "..", 1, 1, KTB_MANUAL, 0, 0) < 0);
	/* The service is fine afterwards. */
	KT_EQ(ctl_create(c, "kt_after", 1, 1, KTB_MANUAL, 0, 0), 0);
	KT_EQ(ctl_unload(c, "kt_after"), 0);
	ctl_close(c);
}

/* kupdev_wait_channel reports each attach once; nonblocking and timed forms. */
KT_TEST(wait_channel_reports_attaches)
{
	char namebuf[64];
	const char *n = NAME("waitch");
	struct kit_ctl *c = ctl_open();
	void *h, *a, *b;
	int x, y;

	ctl_mkdev(c, n, 1, 4, KTB_MANUAL, 0, 0);
	KT_EQ(ctl_waitchan(c, n, 100), -EKU_TIMEDOUT);
	h = kit_open(n);
	a = kit_attach(h, 3, 1);
	b = kit_attach(h, 1, 1);
	x = ctl_waitchan(c, n, KIT_SOON_MS);
	y = ctl_waitchan(c, n, KIT_SOON_MS);
	KT_ASSERT((x == 3 && y == 1) || (x == 1 && y == 3));
	KT_EQ(ctl_waitchan(c, n, 100), -EKU_TIMEDOUT);
	kernproxy_close(a);
	kernproxy_close(b);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/*
 * A process leaves and another attaches the channel before the kernel side
 * looked: the kernel side's next call reports the first session's end once
 * (-EKU_CLOSED) instead of carrying on with the newcomer; after
 * kupdev_wait_channel hands it the channel, the new session works.
 */
KT_TEST(reattach_before_kernel_notices)
{
	char namebuf[64];
	const char *n = NAME("reatt");
	struct kit_ctl *c = ctl_open();
	size_t len;
	void *h, *a, *b, *d;

	ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
	h = kit_open(n);
	a = kit_attach(h, 0, 1);
	KT_EQ(ctl_waitchan(c, n, KIT_SOON_MS), 0);
	KT_EQ(ctl_send(c, n, 0, 8, 1, KIT_SOON_MS, 0), 0);
	kernproxy_close(a);
	b = kit_attach(h, 0, 1); /* retries while the old attach is still being undone */
	KT_EQ(ctl_send(c, n, 0, 8, 2, KIT_SOON_MS, 0), -EKU_CLOSED);
	KT_EQ(ctl_waitchan(c, n, KIT_SOON_MS), 0);
	KT_EQ(ctl_send(c, n, 0, 8, 3, KIT_SOON_MS, 0), 0);
	d = kernproxy_receive_len(b, &len, 0);
	KT_ASSERT(d != NULL);
	KT_EQ(len, 8);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/* --- provider only --------------------------------------------------------------- */

static void sock_path(const char *name, char *buf, size_t len)
{
	const char *rt = getenv("KUP_RUNTIME_DIR");

	if (!rt)
		KT_SKIP("KUP_RUNTIME_DIR is not set (run through tests/integ/run.sh)");
	snprintf(buf, len, "%s/%s", rt, name);
}

/* A socket file left by a dead provider is replaced by the next kupdev_create. */
KT_TEST(provider_stale_socket_replaced)
{
	char namebuf[64], path[512];
	const char *n = NAME("stale");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct kit_ctl *c;
	void *h, *ch;
	int s;

	KIT_PROVIDER_ONLY("device nodes have no stale sockets");
	sock_path(n, path, sizeof(path));
	c = ctl_open();
	ctl_unload(c, n);
	unlink(path);
	s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	KT_ASSERT(s >= 0);
	KT_ASSERT(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	KT_EQ(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s); /* bound, never listened, closed: what a crashed provider leaves */
	ctl_mkdev(c, n, 1, 1, KTB_ECHO, 0, 0);
	h = kit_open(n);
	ch = kit_attach(h, 0, 1);
	kit_hello(ch, 0);
	kit_echo(ch, 9, 9);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/* Channel ch's kern block (its control page first) is mapped read-only: a write kills the writer. */
static void kern_block_read_only(void *ch)
{
	const struct kup_kctl *kc = (const struct kup_kctl *)((struct kp_chan *)ch)->map;
	pid_t pid;
	int st = 0;

	KT_EQ(kc->hdr.magic, KUP_MAGIC);
	pid = fork();
	KT_ASSERT(pid >= 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		*(volatile uint32_t *)(uintptr_t)&kc->k.wait = 1;
		_exit(0);
	}
	KT_EQ(waitpid(pid, &st, 0), pid);
	KT_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
}

#ifdef __linux__ /* the provider is Linux's only */
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x10 /* glibc before 2.35 */
#endif

/*
 * A provider from before the kern control page could be mapped read-write:
 * it ignores the client's KW_CAP_CTL_RW and answers an attach with two
 * memfds, the kern block sealed read-only and the user block.  libkup maps
 * that kern block read-only, as it always did, and the channel works.
 */
struct old_prov {
	int lsock;
	int conns[4], n;
};

static void old_prov_reply(int fd, const struct kw_msg *req)
{
	size_t blk = KUP_BLOCK_LEN(1);
	struct kw_msg m = *req;
	int fds[2] = {-1, -1}, i;
	struct kup_kctl *kc;

	m.status = 0;
	m.abi = KUP_ABI_VERSION;
	m.size = 1;
	m.chan_cnt = 1;
	m.state = KUP_ST_OPEN;
	if (req->type == KW_INFO) {
		m.type = KW_INFO_REPLY;
		KT_EQ(kw_send(fd, &m, NULL, 0, 0), 0);
		return;
	}
	KT_EQ(req->type, KW_ATTACH);
	KT_EQ(req->caps & KW_CAP_CTL_RW, KW_CAP_CTL_RW); /* a new client says so */
	m.type = KW_ATTACH_REPLY;
	m.chan = 0;
	for (i = 0; i < 2; i++) {
		fds[i] = memfd_create(i ? "old-user" : "old-kern", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		KT_ASSERT(fds[i] >= 0);
		KT_EQ(ftruncate(fds[i], (off_t)blk), 0);
	}
	kc = mmap(NULL, KUP_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	KT_ASSERT(kc != MAP_FAILED);
	kc->hdr.abi = KUP_ABI_VERSION;
	kc->hdr.page = KUP_PAGE;
	kc->hdr.size = 1;
	kc->hdr.cap = KUP_PAGE;
	kc->hdr.chan_cnt = 1;
	__atomic_store_n(&kc->hdr.magic, KUP_MAGIC, __ATOMIC_RELEASE);
	munmap(kc, KUP_PAGE);
	KT_EQ(fcntl(fds[0], F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE), 0);
	KT_EQ(kw_send(fd, &m, fds, 2, 0), 0);
	close(fds[0]);
	close(fds[1]);
}

static void *old_prov_main(void *arg)
{
	struct old_prov *p = arg;
	struct pollfd pf[5];
	struct kw_msg req;
	int i, k;

	for (;;) {
		pf[0] = (struct pollfd){.fd = p->lsock, .events = POLLIN};
		for (i = 0; i < p->n; i++)
			pf[1 + i] = (struct pollfd){.fd = p->conns[i], .events = POLLIN};
		if (poll(pf, (nfds_t)(1 + p->n), 5000) <= 0)
			return NULL; /* the test is over (or stuck: it fails on its own) */
		if ((pf[0].revents & POLLIN) && p->n < 4)
			p->conns[p->n++] = accept4(p->lsock, NULL, NULL, SOCK_CLOEXEC);
		for (i = 0; i < p->n; i++) {
			if (!(pf[1 + i].revents & POLLIN))
				continue;
			if (kw_recv(p->conns[i], &req, NULL, 0, &k, 1) != (ssize_t)sizeof(req))
				return NULL; /* the client hung up: done */
			old_prov_reply(p->conns[i], &req);
		}
	}
}

KT_TEST(provider_from_before_maps_the_kern_block_read_only)
{
	char namebuf[64], path[512];
	const char *n = NAME("oldprov");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct old_prov p = {.n = 0};
	pthread_t th;
	void *h, *ch;
	int st;

	KIT_PROVIDER_ONLY("the provider's wire protocol");
	sock_path(n, path, sizeof(path));
	unlink(path);
	p.lsock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	KT_ASSERT(p.lsock >= 0);
	KT_ASSERT(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	KT_EQ(bind(p.lsock, (struct sockaddr *)&sa, sizeof(sa)), 0);
	KT_EQ(listen(p.lsock, 4), 0);
	KT_EQ(pthread_create(&th, NULL, old_prov_main, &p), 0);
	h = kit_open(n);
	ch = kit_attach(h, 0, 1);
	kern_block_read_only(ch);
	/* The protocol runs over it: the (fake) kern side holds the first turn. */
	KIT_FAILS_WITH(kernproxy_receive(ch, KP_NB) == NULL, ch, EKU_NOTREADY);
	kernproxy_close(h);
	KT_EQ(pthread_join(th, NULL), 0);
	for (st = 0; st < p.n; st++)
		close(p.conns[st]);
	close(p.lsock);
	unlink(path);
}

#endif /* __linux__ */

/*
 * A kup.ko from before (Linux or FreeBSD) does not answer
 * KUP_ATTACH_CTL_RW.  This binary's ioctl (it interposes libkup's) takes
 * the flag out of the real module's answer while kit_old_kup is set.
 */
static int kit_old_kup;

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;
	long r;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	r = syscall(SYS_ioctl, fd, req, arg);
	if (r == 0 && req == KUP_IOC_ATTACH && __atomic_load_n(&kit_old_kup, __ATOMIC_RELAXED))
		((struct kup_ioc_attach *)arg)->flags &= ~KUP_ATTACH_CTL_RW;
	return (int)r;
}

KT_TEST(kup_ko_from_before_maps_the_kern_block_read_only)
{
	char namebuf[64];
	const char *n = NAME("oldko");
	struct kit_ctl *c;
	void *h, *ch;

	if (!kit_kernel())
		KT_SKIP("kernel backend only: kup.ko's attach");
	c = ctl_open();
	ctl_mkdev(c, n, 1, 1, KTB_ECHO, 0, 0);
	h = kit_open(n);
	__atomic_store_n(&kit_old_kup, 1, __ATOMIC_RELAXED);
	ch = kit_attach(h, 0, 1);
	__atomic_store_n(&kit_old_kup, 0, __ATOMIC_RELAXED);
	/* The kern control page is read-only now. */
	kern_block_read_only(ch);
	/* And the channel works over it, every size. */
	kit_hello(ch, 0);
	kit_echo(ch, 8, 1);
	kit_echo(ch, KUP_INLINE + 1, 2);
	kit_echo(ch, KUP_PAGE, 3);
	kernproxy_close(h);
	ctl_close(c);
}

/* A live provider's socket is never stolen: a second service of the same names fails. */
KT_TEST(provider_live_socket_not_stolen)
{
	const char *svc = kit_prog("KUPTEST_SVC");
	struct kit_ctl *c;
	pid_t pid;
	int st = 0;

	KIT_PROVIDER_ONLY("module names are unique by loading");
	if (!svc)
		KT_SKIP("KUPTEST_SVC does not name the test service program");
	if (kit_spawn(svc, &pid, &st) == 0) {
		kit_stop(pid);
		KT_FAIL("a second kuptest service started next to the live one");
	}
	KT_ASSERT(WIFEXITED(st));
	KT_ASSERT(WEXITSTATUS(st) != 0);
	/* The first one still answers. */
	c = ctl_open();
	struct kt_cmd cmd = {.magic = KT_CMD_MAGIC, .op = KTO_PING};
	KT_EQ(ctl_do(c, &cmd, NULL), 0);
	ctl_close(c);
}

/* Where the device lives: /dev/NAME for a module, RUNDIR/NAME for a provider. */
static void node_path(const char *name, char *buf, size_t len)
{
	if (kit_kernel())
		snprintf(buf, len, "/dev/%s", name);
	else
		sock_path(name, buf, len);
}

/* kupdev_create_attr sets the owner, group and mode of the device node or socket. */
KT_TEST(create_attr_sets_mode)
{
	char namebuf[64], path[512];
	const char *n = NAME("attr");
	struct kt_cmd cmd = {.magic = KT_CMD_MAGIC, .op = KTO_CREATE, .size = 1, .chan_cnt = 1};
	struct kit_ctl *c = ctl_open();
	struct stat st;
	void *h, *ch;

	node_path(n, path, sizeof(path));
	ctl_unload(c, n);
	snprintf(cmd.name, sizeof(cmd.name), "%s", n);
	cmd.beh = KTB_ECHO;
	cmd.mode = 0640;
	cmd.uid = geteuid();
	cmd.gid = getegid();
	KT_EQ(ctl_do(c, &cmd, NULL), 0);
	KT_EQ(stat(path, &st), 0);
	KT_EQ(st.st_mode & 07777, 0640);
	KT_EQ(st.st_uid, geteuid());
	KT_EQ(st.st_gid, getegid());
	h = kit_open(n);
	ch = kit_attach(h, 0, 1);
	kit_hello(ch, 0);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	/* And the default: 0600, owned by root (by the provider's user for a provider). */
	ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
	KT_EQ(stat(path, &st), 0);
	KT_EQ(st.st_mode & 07777, 0600);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/* Device nodes and provider sockets are 0600 and the creator's by default; unload removes them. */
KT_TEST(device_node_mode_0600)
{
	char namebuf[64], path[512];
	const char *n = NAME("mode");
	struct kit_ctl *c;
	struct stat st;

	node_path(n, path, sizeof(path));
	c = ctl_open();
	ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
	KT_EQ(stat(path, &st), 0);
	KT_ASSERT(kit_kernel() ? S_ISCHR(st.st_mode) : S_ISSOCK(st.st_mode));
	KT_EQ(st.st_mode & 07777, 0600);
	KT_EQ(st.st_uid, kit_kernel() ? 0 : geteuid());
	KT_EQ(ctl_unload(c, n), 0);
	KT_EQ(stat(path, &st), -1);
	ctl_close(c);
}

/*
 * A process with no descriptor to spare: the attach fails with a system
 * error and errno EMFILE (the provider passes the blocks as memfds), or
 * works (kup.ko maps the device fd itself); never a protocol error.  With
 * the limit back, the channel attaches.
 */
KT_TEST(attach_without_spare_descriptors)
{
	char namebuf[64];
	const char *n = NAME("nofd");
	struct kit_ctl *c = ctl_open();
	struct rlimit old, tight;
	void *h, *ch;
	int lowest, err;

	ctl_mkdev(c, n, 1, 1, KTB_ECHO, 0, 0);
	h = kit_open(n);
	lowest = dup(0); /* the attach's socket takes this one: no fd after it */
	KT_ASSERT(lowest >= 0);
	close(lowest);
	KT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
	tight = old;
	tight.rlim_cur = (rlim_t)lowest + 1;
	KT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
	ch = kernproxy_channel(h, 0, 1);
	err = errno;
	KT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
	printf("# attach with no descriptor to spare: %s\n", ch ? "works" : strerror(err));
	if (!ch) {
		KT_EQ(kernproxy_errno, EKU_SYS);
		KT_EQ(err, EMFILE);
		ch = kit_attach(h, 0, 1);
	}
	kit_hello(ch, 0);
	kit_echo(ch, 10, 1);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}
