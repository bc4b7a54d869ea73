/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * integ_life.c - attach, detach, death and unload; many channels and
 * threads; two services at once.
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "kit.h"

#define NAME(base) kit_name(base, namebuf, sizeof(namebuf))

struct par {
	void *dev;
	uint32_t chan, size;
	int rounds;
	int ok;
};

/* One thread per channel: attach, hello, rounds echoes with the channel's own pattern. */
static void *par_worker(void *arg)
{
	struct par *p = arg;
	uint8_t *buf = malloc((size_t)p->size * KUP_PAGE);
	void *ch = kernproxy_channel(p->dev, p->chan, p->size);
	struct kt_hello *h;
	size_t len, want;
	uint8_t *r;
	int i;

	if (!buf || !ch)
		goto out;
	h = kernproxy_receive_len(ch, &len, 0);
	if (!h || len != sizeof(*h) || h->magic != KT_HELLO_MAGIC || h->chan != p->chan)
		goto out;
	for (i = 0; i < p->rounds; i++) {
		want = (size_t)(p->chan * 31 + (uint32_t)i * 97) % ((size_t)p->size * KUP_PAGE);
		kt_fill(buf, (uint32_t)want, p->chan * 1000 + (uint32_t)i);
		if (kernproxy_send(ch, buf, want, 0) != 0)
			goto out;
		r = kernproxy_receive_len(ch, &len, 0);
		if (!r || len != want || memcmp(r, buf, want) != 0)
			goto out;
	}
	p->ok = 1;
out:
	if (!p->ok)
		fprintf(stderr, "# channel %u failed: %s\n", p->chan,
		        kernproxy_strerror(kernproxy_errno));
	free(buf);
	kernproxy_close(ch);
	return NULL;
}

static void parallel(const char *n, uint32_t chans, int rounds)
{
	struct kit_ctl *c = ctl_open();
	struct par *p = calloc(chans, sizeof(*p));
	pthread_t *t = calloc(chans, sizeof(*t));
	uint32_t i;
	void *h;

	KT_ASSERT(p && t);
	ctl_mkdev(c, n, 1, chans, KTB_ECHO, 0, 0);
	h = kit_open(n);
	for (i = 0; i < chans; i++) {
		p[i] = (struct par){h, i, 1, rounds, 0};
		KT_EQ(pthread_create(&t[i], NULL, par_worker, &p[i]), 0);
	}
	for (i = 0; i < chans; i++)
		KT_EQ(pthread_join(t[i], NULL), 0);
	for (i = 0; i < chans; i++)
		if (!p[i].ok)
			KT_FAIL("channel %u did not complete its exchange", i);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
	free(p);
	free(t);
}

KT_TEST(two_channels_parallel)
{
	char namebuf[64];

	parallel(NAME("par2"), 2, 2000);
}

KT_TEST_T(many_channels_parallel, 120)
{
	char namebuf[64];

	parallel(NAME("par128"), 128, 50);
}

struct other {
	void *ch;
	int rounds, ok;
};

/* The greeting of the echo example is text; after it, every message comes back. */
static void *echo_example_worker(void *arg)
{
	struct other *o = arg;
	char msg[64];
	size_t len;
	char *r;
	int i;

	r = kernproxy_receive_len(o->ch, &len, 0);
	if (!r || len < 5 || memcmp(r, "hello", 5) != 0)
		return NULL;
	for (i = 0; i < o->rounds; i++) {
		len = (size_t)snprintf(msg, sizeof(msg), "message %d", i);
		if (kernproxy_send(o->ch, msg, len, 0) != 0)
			return NULL;
		r = kernproxy_receive_len(o->ch, &len, 0);
		if (!r || len != strlen(msg) || memcmp(r, msg, len) != 0)
			return NULL;
	}
	o->ok = 1;
	return NULL;
}

/* Two services ("modules") at once, each with its own device, used in parallel. */
KT_TEST(two_services_at_once)
{
	char namebuf[64];
	const char *n = NAME("two");
	const char *echo = kit_prog("KUPTEST_ECHO");
	struct kit_ctl *c;
	struct other o = {0};
	pthread_t t;
	pid_t pid = 0;
	int st = 0;
	void *h1, *h2;

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
	o.ch = kit_attach(h2, 0, 1);
	o.rounds = 2000;
	KT_EQ(pthread_create(&t, NULL, echo_example_worker, &o), 0);
	void *ch1 = kit_attach(h1, 0, 1);
	kit_hello(ch1, 0);
	for (int i = 0; i < 2000; i++)
		kit_echo(ch1, 40, (uint32_t)i);
	KT_EQ(pthread_join(t, NULL), 0);
	KT_ASSERT(o.ok);
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

/* A channel held by another process: EKU_BUSY, and the holder keeps it. */
KT_TEST(busy_channel_not_taken_over)
{
	char namebuf[64];
	const char *n = NAME("busy");
	struct kit_ctl *c = ctl_open();
	int to_child[2], to_parent[2], st, i;
	struct kt_reply rep;
	char b;
	void *h;
	pid_t pid;

	ctl_mkdev(c, n, 1, 2, KTB_ECHO, 0, 0);
	KT_EQ(pipe(to_child), 0);
	KT_EQ(pipe(to_parent), 0);
	pid = fork();
	KT_ASSERT(pid >= 0);
	if (pid == 0) {
		void *ch;

		h = kit_open(n);
		ch = kit_attach(h, 0, 1);
		kit_hello(ch, 0);
		kit_echo(ch, 10, 1);
		KT_EQ(write(to_parent[1], "a", 1), 1);
		KT_EQ(read(to_child[0], &b, 1), 1);
		for (i = 0; i < 100; i++)
			kit_echo(ch, 20, (uint32_t)i);
		kernproxy_close(h);
		_exit(0);
	}
	KT_EQ(read(to_parent[0], &b, 1), 1);
	h = kit_open(n);
	for (i = 0; i < 20; i++) {
		KIT_FAILS_WITH(kernproxy_attach(h, 0, 1, KP_EXACT) == NULL, h, EKU_BUSY);
		/* A second handle of the same process is no owner either. */
	}
	void *other = kit_attach(h, 1, 1); /* the neighbour channel is free */
	kit_hello(other, 1);
	KT_EQ(write(to_child[1], "g", 1), 1);
	KT_EQ(waitpid(pid, &st, 0), pid);
	KT_ASSERT(WIFEXITED(st));
	KT_EQ(WEXITSTATUS(st), 0);
	KT_EQ(ctl_stats(c, n, 0, &rep), 0);
	KT_EQ(rep.msgs, 101);
	/* Now that the holder is gone, the channel is free again. */
	void *ch = kit_attach(h, 0, 1);
	kit_hello(ch, 0);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/* kill -9 mid-exchange: the service's blocked call ends with -EKU_CLOSED, the channel is free. */
KT_TEST(sigkill_frees_channel)
{
	char namebuf[64];
	const char *n = NAME("kill");
	struct kit_ctl *c = ctl_open();
	int to_parent[2], st, round;
	struct kt_reply rep;
	void *h, *ch;
	char b;
	pid_t pid;

	ctl_mkdev(c, n, 1, 1, KTB_ECHO, 0, 0);
	KT_EQ(pipe(to_parent), 0);
	for (round = 1; round <= 3; round++) {
		pid = fork();
		KT_ASSERT(pid >= 0);
		if (pid == 0) {
			h = kit_open(n);
			ch = kit_attach(h, 0, 1);
			kit_hello(ch, 0);
			kit_echo(ch, 10, 1);
			/* We hold the turn; the service waits in its receive. */
			KT_EQ(write(to_parent[1], "a", 1), 1);
			for (;;)
				pause();
		}
		KT_EQ(read(to_parent[0], &b, 1), 1);
		CTL_WAIT(c, n, 0, msgs, (uint32_t)round, &rep);
		KT_EQ(kill(pid, SIGKILL), 0);
		KT_EQ(waitpid(pid, &st, 0), pid);
		CTL_WAIT(c, n, 0, closed, (uint32_t)round, &rep);
		KT_EQ(rep.last_err, -EKU_CLOSED);
		KT_EQ(rep.proto, 0);
	}
	/* And a new process (this one) attaches it again. */
	h = kit_open(n);
	ch = kit_attach(h, 0, 1);
	kit_hello(ch, 0);
	kit_echo(ch, 100, 7);
	KT_EQ(ctl_stats(c, n, 0, &rep), 0);
	KT_EQ(rep.attached, 1);
	kernproxy_close(h);
	CTL_WAIT(c, n, 0, closed, 4, &rep);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/* Killing a process while the kern side holds the turn frees the channel too. */
KT_TEST(sigkill_while_kern_holds_turn)
{
	char namebuf[64];
	const char *n = NAME("killhold");
	struct kit_ctl *c = ctl_open();
	struct kt_reply rep;
	int to_parent[2], st;
	char b;
	pid_t pid;
	void *h;

	ctl_mkdev(c, n, 1, 1, KTB_HOLD, 0, 0);
	KT_EQ(pipe(to_parent), 0);
	pid = fork();
	KT_ASSERT(pid >= 0);
	if (pid == 0) {
		void *ch;

		h = kit_open(n);
		ch = kit_attach(h, 0, 1);
		KT_EQ(write(to_parent[1], "a", 1), 1);
		kernproxy_receive(ch, 0); /* blocks: the service never sends */
		_exit(3);
	}
	KT_EQ(read(to_parent[0], &b, 1), 1);
	kit_sleep_ms(100); /* usually blocked in its receive by now; the outcome is the same */
	KT_EQ(kill(pid, SIGKILL), 0);
	KT_EQ(waitpid(pid, &st, 0), pid);
	KT_ASSERT(WIFSIGNALED(st));
	CTL_WAIT(c, n, 0, closed, 1, &rep);
	h = kit_open(n);
	kit_attach(h, 0, 1);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/* Closing a channel (not the process) is a detach too; reattaching starts a new session. */
KT_TEST(close_and_reattach)
{
	char namebuf[64];
	const char *n = NAME("reatt");
	struct kit_ctl *c = ctl_open();
	struct kt_reply rep;
	void *h, *ch;
	int i;

	ctl_mkdev(c, n, 1, 1, KTB_ECHO, 0, 0);
	h = kit_open(n);
	for (i = 1; i <= 5; i++) {
		ch = kit_attach(h, 0, 1);
		kit_hello(ch, 0);
		kit_echo(ch, (size_t)i * 10, (uint32_t)i);
		kernproxy_close(ch);
		CTL_WAIT(c, n, 0, closed, (uint32_t)i, &rep);
		KT_EQ(rep.last_err, -EKU_CLOSED);
	}
	KT_EQ(rep.sessions, 5);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/*
 * The process leaves while the service's thread is between two calls (it
 * waits delay_ms before its echo) and attaches again at once: the new
 * session starts with a hello and gets its own echoes, never the late echo
 * meant for the process that left.  (A thread pool taking sessions from
 * kupdev_wait_channel got this wrong: a second thread was handed the new
 * session while the first went on in it with its stale echo.)
 */
KT_TEST(reattach_while_service_between_calls)
{
	char namebuf[64];
	const char *n = NAME("between");
	struct kit_ctl *c = ctl_open();
	struct kt_reply rep;
	void *h, *ch;

	ctl_mkdev(c, n, 1, 2, KTB_ECHO, 500, 0);
	h = kit_open(n);
	ch = kit_attach(h, 0, 1);
	kit_hello(ch, 0);
	KT_EQ(kernproxy_send(ch, "old message", 11, 0), 0);
	CTL_WAIT(c, n, 0, msgs, 1, &rep); /* the service holds it, echoing in 500 ms */
	kernproxy_close(ch);
	ch = kit_attach(h, 0, 1);
	kit_hello(ch, 0);
	kit_echo(ch, 40, 1);
	kit_echo(ch, 7, 2);
	CTL_WAIT(c, n, 0, closed, 1, &rep);
	KT_EQ(rep.sessions, 2);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/* The module's private receive copy holds nothing of an earlier process's messages. */
KT_TEST(private_copy_does_not_leak_between_processes)
{
	char namebuf[64];
	const char *n = NAME("leak");
	struct kit_ctl *c = ctl_open();
	struct kt_reply rep;
	static uint8_t whole[KUP_PAGE];
	void *h, *a, *b, *buf;
	size_t cap;

	ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
	h = kit_open(n);
	a = kit_attach(h, 0, 1);
	KT_EQ(ctl_waitchan(c, n, KIT_SOON_MS), 0);
	KT_EQ(ctl_pass(c, n, 0, KIT_SOON_MS, 0), 0);
	buf = kernproxy_send_buf(a, &cap, 0);
	KT_ASSERT(buf && cap == KUP_PAGE);
	memset(buf, 0xaa, cap); /* process A's secret fills the whole message */
	KT_EQ(kernproxy_send_commit(a, cap), 0);
	KT_EQ(ctl_recv(c, n, 0, KIT_SOON_MS, 0, &rep), 0);
	KT_EQ(rep.len, cap);
	kernproxy_close(a);
	b = kit_attach(h, 0, 1);
	KT_EQ(ctl_waitchan(c, n, KIT_SOON_MS), 0);
	KT_EQ(ctl_pass(c, n, 0, KIT_SOON_MS, 0), 0);
	KT_ASSERT(kernproxy_receive(b, 0) != NULL);
	KT_EQ(kernproxy_send(b, "B", 1, 0), 0);
	KT_EQ(ctl_recv(c, n, 0, KIT_SOON_MS, KTF_WHOLE, &rep), 0);
	KT_EQ(rep.len, 1);
	whole[0] = 'B'; /* and zeros after it, not A's bytes */
	KT_EQ(rep.sum, kt_sum(whole, KUP_PAGE));
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

struct blocked {
	void *ch;
	int flags, err;
	void *ret;
};

static void *block_receive(void *arg)
{
	struct blocked *b = arg;

	b->ret = kernproxy_receive(b->ch, b->flags);
	b->err = kernproxy_errno;
	return NULL;
}

/* kupdev_unload wakes a blocked process with EKU_SHUTDOWN; the device is gone after. */
KT_TEST(unload_wakes_blocked_user)
{
	char namebuf[64];
	const char *n = NAME("unload");
	struct kit_ctl *c = ctl_open();
	struct blocked b[2] = {{0}, {0}};
	pthread_t t[2];
	void *h;
	int i;

	ctl_mkdev(c, n, 1, 2, KTB_HOLD, 0, 0);
	h = kit_open(n);
	for (i = 0; i < 2; i++) {
		b[i].ch = kit_attach(h, (size_t)i, 1);
		b[i].flags = i ? KP_POLL : 0; /* a sleeping and a polling waiter */
		KT_EQ(pthread_create(&t[i], NULL, block_receive, &b[i]), 0);
	}
	/* Usually both wait by now; a receive that begins after the unload fails alike. */
	kit_sleep_ms(300);
	KT_EQ(ctl_unload(c, n), 0);
	for (i = 0; i < 2; i++) {
		KT_EQ(pthread_join(t[i], NULL), 0);
		KT_ASSERT(b[i].ret == NULL);
		KT_EQ(b[i].err, EKU_SHUTDOWN);
		KIT_FAILS_WITH(kernproxy_send(b[i].ch, "x", 1, 0) == -1, b[i].ch, EKU_SHUTDOWN);
		KIT_FAILS_WITH(kernproxy_receive(b[i].ch, KP_NB) == NULL, b[i].ch, EKU_SHUTDOWN);
	}
	KIT_FAILS_WITH(kernproxy_open(n) == NULL, NULL, EKU_NOENT);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), -EKU_NOENT);
	ctl_close(c);
}

/* Unload while the kern side of a manual device is mid-exchange, then the name is reusable. */
KT_TEST(unload_then_recreate)
{
	char namebuf[64];
	const char *n = NAME("recreate");
	struct kit_ctl *c = ctl_open();
	void *h, *ch;
	size_t len;
	int i;

	for (i = 0; i < 3; i++) {
		ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
		h = kit_open(n);
		ch = kit_attach(h, 0, 1);
		KT_EQ(ctl_waitchan(c, n, KIT_SOON_MS), 0);
		KT_EQ(ctl_send(c, n, 0, 5, 1, -1, 0), 0);
		kit_recv(ch, &len);
		KT_EQ(kernproxy_send(ch, "abc", 3, 0), 0);
		KT_EQ(ctl_unload(c, n), 0);
		KIT_FAILS_WITH(kernproxy_receive(ch, 0) == NULL, ch, EKU_SHUTDOWN);
		kernproxy_close(h);
	}
	ctl_close(c);
}

/* Kern-side calls that wait without timeout (wait_channel, recv) all end with the unload. */
KT_TEST(unload_wakes_blocked_kern_side)
{
	char namebuf[64];
	const char *n = NAME("kblock");
	struct kit_ctl *c = ctl_open();
	struct kt_cmd cmd = {.magic = KT_CMD_MAGIC, .op = KTO_UNLOAD};
	struct kt_reply rep;
	struct kt_hello *hello;
	void *h, *ch[3];
	size_t len;
	uint32_t i;

	/* The seed's way, kupdev_unload under threads blocked in kupdev_recv. */
	ctl_mkdev(c, n, 1, 3, KTB_BLOCK, 0, 0);
	h = kit_open(n);
	for (i = 0; i < 3; i++) {
		ch[i] = kit_attach(h, i, 1);
		hello = kit_recv(ch[i], &len);
		KT_EQ(len, sizeof(*hello));
		KT_EQ(hello->chan, i);
		/* Unload may free the device only once the thread is inside its call. */
		kit_wait_asleep(&kit_kctl(hello, 1)->k.wait, -1);
	}
	snprintf(cmd.name, sizeof(cmd.name), "%s", n);
	KT_EQ(ctl_do(c, &cmd, &rep), 0);
	KT_EQ(rep.sessions, 3);
	for (i = 0; i < 3; i++)
		KIT_FAILS_WITH(kernproxy_receive(ch[i], 0) == NULL, ch[i], EKU_SHUTDOWN);
	kernproxy_close(h);

	/*
	 * Nobody attached: all three wait in kupdev_wait_channel, which nothing
	 * shows from here, so kupdev_shutdown first: a thread not yet in its
	 * call finds the device shut down (not freed) and sees -EKU_SHUTDOWN too.
	 */
	ctl_mkdev(c, n, 1, 3, KTB_BLOCK, 0, 0);
	kit_sleep_ms(100); /* usually they wait by now: then the shutdown wakes them */
	cmd.flags = KTF_SHUTDOWN;
	KT_EQ(ctl_do(c, &cmd, &rep), 0);
	KT_EQ(rep.sessions, 3);
	ctl_close(c);
}

/* Open file descriptors of this process, or -1 without /proc. */
static int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Many attach/detach cycles: nothing leaks in the process, the service keeps up. */
KT_TEST(attach_detach_cycles)
{
	char namebuf[64];
	const char *n = NAME("cycles");
	struct kit_ctl *c = ctl_open();
	struct kt_reply rep;
	void *h, *ch;
	int i, fds0, fds1;

	ctl_mkdev(c, n, 1, 2, KTB_ECHO, 0, 0);
	fds0 = fd_count();
	for (i = 0; i < 200; i++) {
		h = kit_open(n);
		ch = kit_attach(h, (size_t)(i & 1), 1);
		kit_hello(ch, (uint32_t)(i & 1));
		kit_echo(ch, (size_t)i, (uint32_t)i);
		if (i & 2)
			kernproxy_close(ch); /* channel first, then the device */
		kernproxy_close(h);
	}
	fds1 = fd_count();
	KT_EQ(fds1, fds0);
	CTL_WAIT(c, n, 0, sessions, 100, &rep);
	CTL_WAIT(c, n, 1, sessions, 100, &rep);
	KT_ASSERT(rep.st.attaches >= 100);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/*
 * A forked child does not share its parent's channel: the mapping is not
 * inherited (libkup asks for it on the provider, kup.ko enforces it), so
 * the child dies touching it and the parent's channel goes on.
 */
KT_TEST(fork_child_has_no_channel)
{
	char namebuf[64];
	const char *n = NAME("fork");
	struct kit_ctl *c = ctl_open();
	volatile const uint32_t *tw;
	void *h, *ch, *msg;
	size_t len;
	pid_t pid;
	int st;

	ctl_mkdev(c, n, 1, 1, KTB_ECHO, 0, 0);
	h = kit_open(n);
	ch = kit_attach(h, 0, 1);
	msg = kit_recv(ch, &len); /* the hello: the turn is ours */
	tw = &kit_uctl(msg, 1)->u.tw;
	KT_EQ(KUP_TW_SEQ(*tw), 0); /* mapped here: nothing sent yet */
	pid = fork();
	KT_ASSERT(pid >= 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		_exit(*tw == 12345 ? 11 : 10); /* any exit: the child shares the channel */
	}
	KT_EQ(waitpid(pid, &st, 0), pid);
	KT_ASSERT(WIFSIGNALED(st));
	KT_EQ(WTERMSIG(st), SIGSEGV);
	kit_echo(ch, 32, 5);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}
