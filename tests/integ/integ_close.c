/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * integ_close.c - an orderly end loses no message: what one side sent
 * before it closed, exited or unloaded reaches the other side first, and
 * the end is reported by the call after it.  A kill -9 loses only what the
 * process had not published yet: a message whose send returned is
 * delivered.  The kern side is a KTB_MANUAL device driven through the
 * control channel, so every kern-side call here is explicit.
 */
#include <pthread.h>
#include <signal.h>

#include "kit.h"

#define NAME(base) kit_name(base, namebuf, sizeof(namebuf))

#define MSG_LEN  300
#define MSG_SEED 77u

/* Attach channel 0; the kern side's first message is len 8 of seed 1. */
static uint8_t *greeting;

static void *attach0(const char *n, void **hp)
{
	*hp = kit_open(n);
	return kit_attach(*hp, 0, 1);
}

static void take_greeting(void *ch)
{
	size_t len;
	uint8_t *p = kit_recv(ch, &len);

	KT_EQ(len, 8);
	KT_EQ(kt_sum(p, 8), kt_fill_sum(8, 1));
	greeting = p; /* points into the channel: kit_uctl finds our control page */
}

/* Attach, let the kern side greet, take the greeting. */
static void *open_and_greet(struct kit_ctl *c, const char *n, void **hp)
{
	void *ch = attach0(n, hp);

	KT_EQ(ctl_send(c, n, 0, 8, 1, KIT_SOON_MS, 0), 0);
	take_greeting(ch);
	return ch;
}

static void send_pattern(void *ch)
{
	uint8_t buf[MSG_LEN];

	kt_fill(buf, MSG_LEN, MSG_SEED);
	KT_EQ(kernproxy_send(ch, buf, MSG_LEN, 0), 0);
}

/*
 * The kern side must get the message, then EKU_CLOSED on its next call.
 * First the host must have seen the process go (the provider notices a
 * hang-up in its monitor thread, after the process is reaped).
 */
static void kern_gets_last_message(struct kit_ctl *c, const char *n)
{
	long long end = kit_now_ms() + KIT_SOON_MS;
	struct kt_reply rep;

	for (;;) {
		KT_EQ(ctl_stats(c, n, 0, &rep), 0);
		if (rep.attached == 0)
			break;
		KT_ASSERT(kit_now_ms() < end);
		kit_sleep_ms(5);
	}

	KT_EQ(ctl_recv(c, n, 0, KIT_SOON_MS, 0, &rep), 0);
	KT_EQ(rep.len, MSG_LEN);
	KT_EQ(rep.sum, kt_fill_sum(MSG_LEN, MSG_SEED));
	KT_EQ(ctl_send(c, n, 0, 8, 2, KIT_SOON_MS, 0), -EKU_CLOSED);
}

/* How the process ends after sending. */
enum how { BY_CLOSE, BY_EXIT, BY_KILL };

static void user_sends_then_ends(enum how how)
{
	char namebuf[64];
	const char *n = NAME(how == BY_CLOSE ? "cl_close" : how == BY_EXIT ? "cl_exit" : "cl_kill");
	struct kit_ctl *c = ctl_open();
	pid_t pid;
	int st;

	ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
	fflush(NULL);
	pid = fork();
	KT_ASSERT(pid >= 0);
	if (pid == 0) {
		void *h, *ch = attach0(n, &h);

		take_greeting(ch);
		send_pattern(ch);
		if (how == BY_CLOSE)
			kernproxy_close(h);
		if (how == BY_KILL)
			raise(SIGKILL); /* the send returned: the message is published */
		exit(0);                /* BY_EXIT: no close, the process just ends */
	}
	CTL_WAIT(c, n, 0, attached, 1, NULL);
	KT_EQ(ctl_send(c, n, 0, 8, 1, KIT_SOON_MS, 0), 0);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (how == BY_KILL) {
		KT_ASSERT(WIFSIGNALED(st));
		KT_EQ(WTERMSIG(st), SIGKILL);
	} else {
		KT_ASSERT(WIFEXITED(st));
		KT_EQ(WEXITSTATUS(st), 0);
	}
	/* The process is gone before the kern side looks. */
	kern_gets_last_message(c, n);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

KT_TEST(user_message_before_close_is_delivered)
{
	user_sends_then_ends(BY_CLOSE);
}

KT_TEST(user_message_before_exit_is_delivered)
{
	user_sends_then_ends(BY_EXIT);
}

KT_TEST(user_message_before_kill9_is_delivered)
{
	user_sends_then_ends(BY_KILL);
}

/* Nothing sent before the end: the kern side hears the end at once. */
KT_TEST(user_close_without_message_is_reported_at_once)
{
	char namebuf[64];
	const char *n = NAME("cl_none");
	struct kit_ctl *c = ctl_open();
	void *h, *ch;

	ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
	ch = open_and_greet(c, n, &h);
	(void)ch;
	kernproxy_close(h);
	KT_EQ(ctl_recv(c, n, 0, KIT_SOON_MS, 0, NULL), -EKU_CLOSED);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/*
 * The kern side sends, then unloads: the process gets the message, then
 * EKU_SHUTDOWN.  arm: the process armed its readiness fd first
 * (kernproxy_arm), which takes the turn without handing the message out;
 * the unload must still come after it (before the fix the receive
 * reported EKU_SHUTDOWN and the message was lost).
 */
static void kern_sends_then_unloads(const char *base, int arm)
{
	char namebuf[64];
	const char *n = NAME(base);
	struct kit_ctl *c = ctl_open();
	uint8_t buf[MSG_LEN];
	void *h, *ch;
	size_t len;
	uint8_t *p;

	ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
	ch = open_and_greet(c, n, &h);
	send_pattern(ch);
	KT_EQ(ctl_recv(c, n, 0, KIT_SOON_MS, 0, NULL), 0);
	KT_EQ(ctl_send(c, n, 0, MSG_LEN, 5, KIT_SOON_MS, 0), 0);
	if (arm)
		KT_EQ(kernproxy_arm(ch), 1); /* ready: the turn is here */
	KT_EQ(ctl_unload(c, n), 0);
	/* The device is gone, and its last message is still ours to read. */
	p = kernproxy_receive_len(ch, &len, KP_NB);
	KT_ASSERT(p);
	KT_EQ(len, MSG_LEN);
	KT_EQ(kt_sum(p, MSG_LEN), kt_fill_sum(MSG_LEN, 5));
	kt_fill(buf, MSG_LEN, 6);
	KIT_FAILS_WITH(kernproxy_send(ch, buf, MSG_LEN, 0) == -1, ch, EKU_SHUTDOWN);
	KT_EQ(kernproxy_error(h), EKU_SHUTDOWN);
	KIT_FAILS_WITH(kernproxy_receive(ch, 0) == NULL, ch, EKU_SHUTDOWN);
	kernproxy_close(h);
	ctl_close(c);
}

KT_TEST(kern_message_before_unload_is_delivered)
{
	kern_sends_then_unloads("cl_unload", 0);
}

KT_TEST(kern_message_before_unload_is_delivered_after_arm)
{
	kern_sends_then_unloads("cl_arm", 1);
}

struct unloader {
	const char *name;
	const uint32_t *wait;
	int ok;
};

/* Once the receiver sleeps: the kern side sends, then unloads. */
static void *send_and_unload(void *arg)
{
	struct unloader *u = arg;
	struct kit_ctl *c = ctl_open();

	kit_wait_asleep(u->wait, -1);
	u->ok =
	    ctl_send(c, u->name, 0, MSG_LEN, 9, KIT_SOON_MS, 0) == 0 && ctl_unload(c, u->name) == 0;
	ctl_close(c);
	return NULL;
}

/* The same while the process sleeps in its receive when the message and the unload come. */
KT_TEST(kern_message_before_unload_wakes_a_sleeper)
{
	char namebuf[64];
	const char *n = NAME("cl_unl_sleep");
	struct kit_ctl *c = ctl_open();
	struct unloader u = {0};
	pthread_t t;
	void *h, *ch;
	size_t len;
	uint8_t *p;

	ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
	ch = open_and_greet(c, n, &h);
	send_pattern(ch);
	KT_EQ(ctl_recv(c, n, 0, KIT_SOON_MS, 0, NULL), 0);
	KT_EQ(kernproxy_set_spin(ch, 0), 0); /* sleep at once: the unloader waits for that */
	u.name = n;
	u.wait = &kit_uctl(greeting, 1)->u.wait;
	KT_EQ(pthread_create(&t, NULL, send_and_unload, &u), 0);
	p = kernproxy_receive_len(ch, &len, 0);
	KT_ASSERT(p);
	KT_EQ(len, MSG_LEN);
	KT_EQ(kt_sum(p, MSG_LEN), kt_fill_sum(MSG_LEN, 9));
	KT_EQ(pthread_join(t, NULL), 0);
	KT_ASSERT(u.ok);
	KIT_FAILS_WITH(kernproxy_pass(ch, 0) == -1, ch, EKU_SHUTDOWN);
	KT_EQ(kernproxy_error(h), EKU_SHUTDOWN);
	kernproxy_close(h);
	ctl_close(c);
}
