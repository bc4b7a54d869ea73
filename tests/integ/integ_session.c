/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * integ_session.c - the session rule across thread layouts (kupdev.h,
 * "Sessions"; docs/protocol.md) and the flags of kupdev_wait_channel_timed
 * and the channel calls.
 * Two control channels are two service threads: one can play the thread
 * kupdev_wait_channel returned a channel to, the other any other thread.
 */
#include <dirent.h>
#ifdef __FreeBSD__
#include <sys/param.h>
#include <sys/sysctl.h>
#include <sys/user.h>
#endif

#include "kit.h"

#define NAME(base) kit_name(base, namebuf, sizeof(namebuf))

/* kupdev_claim_channel in the control thread of c. */
static int ctl_claim(struct kit_ctl *c, const char *name, uint32_t chan)
{
	struct kt_cmd cmd = {.magic = KT_CMD_MAGIC, .op = KTO_CLAIM, .chan = chan};

	snprintf(cmd.name, sizeof(cmd.name), "%s", name);
	return ctl_do(c, &cmd, NULL);
}

/*
 * A thread the channel was not handed to may still be in the old
 * conversation: its call reports the old end once.  A thread that claimed
 * the channel (a dispatcher's worker) goes straight to the new process.
 */
KT_TEST(other_thread_hears_old_end_unless_it_claims)
{
	char namebuf[64];
	const char *n = NAME("sessclaim");
	struct kit_ctl *disp = ctl_open(), *work = ctl_open();
	size_t len;
	void *h, *a, *b, *c;

	ctl_mkdev(disp, n, 1, 1, KTB_MANUAL, 0, 0);
	h = kit_open(n);
	a = kit_attach(h, 0, 1);
	KT_EQ(ctl_waitchan(disp, n, KIT_SOON_MS), 0);
	KT_EQ(ctl_send(work, n, 0, 8, 1, KIT_SOON_MS, 0), 0); /* the first attach: no old end */
	kit_recv(a, &len);
	KT_EQ(len, 8);
	kernproxy_close(a);

	b = kit_attach(h, 0, 1);
	KT_EQ(ctl_waitchan(disp, n, KIT_SOON_MS), 0);
	KT_EQ(ctl_send(work, n, 0, 8, 2, KIT_SOON_MS, 0), -EKU_CLOSED);
	KT_EQ(ctl_send(work, n, 0, 9, 3, KIT_SOON_MS, 0), 0);
	kit_recv(b, &len);
	KT_EQ(len, 9);
	kernproxy_close(b);

	c = kit_attach(h, 0, 1);
	KT_EQ(ctl_waitchan(disp, n, KIT_SOON_MS), 0);
	KT_EQ(ctl_claim(work, n, 0), 0);
	KT_EQ(ctl_send(work, n, 0, 10, 4, KIT_SOON_MS, 0), 0);
	kit_recv(c, &len);
	KT_EQ(len, 10);
	KT_EQ(ctl_claim(work, n, 1), -EKU_RANGE);
	kernproxy_close(h);
	KT_EQ(ctl_unload(disp, n), 0);
	ctl_close(work);
	ctl_close(disp);
}

/*
 * A dispatcher hands each attach to a worker thread, whose sessions end by
 * protocol (an empty message), so no call ever reported the old process's
 * end: every new process still gets its hello, never a spurious close.
 */
KT_TEST(dispatcher_worker_starts_each_session)
{
	char namebuf[64];
	const char *n = NAME("sessdisp");
	struct kit_ctl *c = ctl_open();
	struct kt_reply rep;
	void *h, *ch;
	uint32_t i;

	ctl_mkdev(c, n, 1, 1, KTB_DISPATCH, 0, 0);
	h = kit_open(n);
	for (i = 0; i < 3; i++) {
		ch = kit_attach(h, 0, 1);
		kit_hello(ch, 0);
		kit_echo(ch, 16, i);
		KT_EQ(kernproxy_pass(ch, 0), 0);
		/* The worker saw the empty message: it makes no more calls on this session. */
		CTL_WAIT(c, n, 0, msgs, 2 * (i + 1), &rep);
		kernproxy_close(ch);
	}
	CTL_WAIT(c, n, 0, sessions, 3, &rep);
	KT_EQ(rep.closed, 0);
	KT_EQ(rep.last_err, 0);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/*
 * The worker is busy with a request (delay_ms) when its process leaves and
 * the next one attaches and is handed out: the worker's late reply reports
 * the old end instead of reaching the new process, which gets its hello.
 */
KT_TEST(busy_worker_never_answers_the_next_process)
{
	char namebuf[64];
	const char *n = NAME("sessbusy");
	struct kit_ctl *c = ctl_open();
	struct kt_reply rep;
	void *h, *a, *b;
	uint8_t msg[16];

	ctl_mkdev(c, n, 1, 1, KTB_DISPATCH, 1000, 0);
	h = kit_open(n);
	a = kit_attach(h, 0, 1);
	kit_hello(a, 0);
	kt_fill(msg, sizeof(msg), 7);
	KT_EQ(kernproxy_send(a, msg, sizeof(msg), 0), 0);
	CTL_WAIT(c, n, 0, msgs, 1, &rep); /* the worker holds the request */
	kernproxy_close(a);
	b = kit_attach(h, 0, 1);
	kit_hello(b, 0); /* not the echo of the first process's request */
	CTL_WAIT(c, n, 0, closed, 1, &rep);
	kit_echo(b, 24, 9);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/* --- kupdev_wait_channel_timed's flags ------------------------------------------- */

static int waitchan_flags(struct kit_ctl *c, const char *name, int timeout_ms, uint32_t flags)
{
	struct kt_cmd cmd = {.magic = KT_CMD_MAGIC, .op = KTO_WAITCHAN, .flags = flags};

	cmd.timeout_ms = timeout_ms;
	snprintf(cmd.name, sizeof(cmd.name), "%s", name);
	return ctl_do(c, &cmd, NULL);
}

/* Every host reads the flags alike: NB looks once, POLL spins, other bits are refused. */
KT_TEST(wait_channel_flags_alike)
{
	char namebuf[64];
	const char *n = NAME("waitflags");
	struct kit_ctl *c = ctl_open();
	void *h, *a;

	ctl_mkdev(c, n, 1, 2, KTB_MANUAL, 0, 0);
	KT_EQ(waitchan_flags(c, n, 100, 0x4), -EKU_INVAL);
	KT_EQ(waitchan_flags(c, n, 100, 0x80 | KUP_NB), -EKU_INVAL);
	KT_EQ(waitchan_flags(c, n, 100, KUP_NB), -EKU_NOTREADY);
	KT_EQ(waitchan_flags(c, n, 100, KUP_NB | KUP_POLL), -EKU_NOTREADY);
	KT_EQ(waitchan_flags(c, n, 100, KUP_POLL), -EKU_TIMEDOUT);
	KT_EQ(waitchan_flags(c, n, 0, KUP_POLL), -EKU_TIMEDOUT);
	h = kit_open(n);
	a = kit_attach(h, 1, 1);
	KT_EQ(waitchan_flags(c, n, KIT_SOON_MS, KUP_POLL), 1);
	KT_EQ(waitchan_flags(c, n, 100, KUP_POLL | KUP_NB), -EKU_NOTREADY);
	kernproxy_close(a);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/* The channel calls refuse unknown flags alike, before looking at the channel. */
KT_TEST(channel_calls_refuse_unknown_flags)
{
	char namebuf[64];
	const char *n = NAME("callflags");
	struct kit_ctl *c = ctl_open();
	void *h, *a;

	ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
	h = kit_open(n);
	a = kit_attach(h, 0, 1);
	KT_EQ(ctl_waitchan(c, n, KIT_SOON_MS), 0);
	KT_EQ(ctl_send(c, n, 0, 8, 1, 100, 0x4), -EKU_INVAL);
	KT_EQ(ctl_send(c, n, 0, 8, 1, 100, KTF_ZC | 0x8), -EKU_INVAL);
	KT_EQ(ctl_recv(c, n, 0, 100, 0x10, NULL), -EKU_INVAL);
	KT_EQ(ctl_pass(c, n, 0, 100, 0x40 | KUP_NB), -EKU_INVAL);
	/* Nothing was sent: the kern side still holds the turn. */
	KT_EQ(ctl_send(c, n, 0, 8, 1, 100, KUP_NB | KUP_POLL), 0);
	kernproxy_close(a);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}

/* --- is a service thread spinning? ------------------------------------------------ */

struct thr_sample {
	char path[96];
	long long vcsw;   /* voluntary context switches: sleeps */
	long long run_ns; /* time on a CPU (schedstat; FreeBSD: unused) */
	int running;      /* FreeBSD: on a CPU or its run queue (SRUN) */
};

#define MAX_THR 256

#ifdef __FreeBSD__
/*
 * FreeBSD has no /proc of Linux's kind: the test service module's threads
 * named kuptest_ctl are kernel threads of process 0; kern.proc.pid.0 with
 * KERN_PROC_INC_THREAD gives a record per thread, each with its own
 * voluntary switch count and state.  (The provider backend does not run
 * on FreeBSD: no threads to look at there.)  A thread's run time only
 * moves there when it leaves the CPU, so a spinning thread is told by its
 * state: running or runnable (SRUN) at both looks.
 */
static int sample_ctl_threads(struct thr_sample *s)
{
	int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PID | KERN_PROC_INC_THREAD, 0};
	struct kinfo_proc *kp;
	size_t len = 0, n, i;
	int cnt = 0;

	if (!kit_kernel())
		return 0;
	KT_EQ(sysctl(mib, 4, NULL, &len, NULL, 0), 0);
	len += len / 2 + 64 * sizeof(*kp);
	kp = malloc(len);
	KT_ASSERT(kp);
	KT_EQ(sysctl(mib, 4, kp, &len, NULL, 0), 0);
	n = len / sizeof(*kp);
	for (i = 0; i < n && cnt < MAX_THR; i++) {
		if (strncmp(kp[i].ki_tdname, "kuptest_ctl", 11))
			continue;
		snprintf(s[cnt].path, sizeof(s[cnt].path), "%d", (int)kp[i].ki_tid);
		s[cnt].vcsw = kp[i].ki_rusage.ru_nvcsw;
		s[cnt].run_ns = 0;
		s[cnt].running = kp[i].ki_stat == SRUN;
		cnt++;
	}
	free(kp);
	return cnt;
}

/* Ran without sleeping between the looks a and b. */
static int spun_between(const struct thr_sample *a, const struct thr_sample *b)
{
	return a->vcsw == b->vcsw && a->running && b->running;
}
#else
static long long read_ll(const char *path, const char *key)
{
	char line[256];
	long long v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!key) {
			v = atoll(line); /* schedstat: the first number */
			break;
		}
		if (!strncmp(line, key, strlen(key))) {
			v = atoll(line + strlen(key));
			break;
		}
	}
	fclose(f);
	return v;
}

/* 1 when process pid belongs to this run: our provider, or (kernel) any kthread. */
static int ours(const char *pid)
{
	const char *rt = getenv("KUP_RUNTIME_DIR");
	char path[64], env[8192], want[512];
	size_t n, i;
	FILE *f;

	if (kit_kernel())
		return 1;
	if (!rt)
		return 0;
	snprintf(path, sizeof(path), "/proc/%s/environ", pid);
	snprintf(want, sizeof(want), "KUP_RUNTIME_DIR=%s", rt);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(env, 1, sizeof(env) - 1, f);
	fclose(f);
	for (i = 0; i < n; i += strlen(env + i) + 1) {
		env[n] = 0;
		if (!strcmp(env + i, want))
			return 1;
	}
	return 0;
}

/* The control threads of the service under test, with their counts. */
static int sample_ctl_threads(struct thr_sample *s)
{
	DIR *pd = opendir("/proc"), *td;
	struct dirent *p, *t;
	char path[128], comm[32];
	int cnt = 0;
	FILE *f;

	if (!pd)
		return 0; /* no /proc: the test says so and skips */
	while ((p = readdir(pd)) && cnt < MAX_THR) {
		if (p->d_name[0] < '0' || p->d_name[0] > '9' || !ours(p->d_name))
			continue;
		snprintf(path, sizeof(path), "/proc/%.16s/task", p->d_name);
		td = opendir(path);
		if (!td)
			continue;
		while ((t = readdir(td)) && cnt < MAX_THR) {
			if (t->d_name[0] < '0' || t->d_name[0] > '9')
				continue;
			snprintf(path, sizeof(path), "/proc/%.16s/task/%.16s/comm", p->d_name,
			         t->d_name);
			f = fopen(path, "r");
			if (!f)
				continue;
			comm[0] = 0;
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = 0;
			fclose(f);
			if (strncmp(comm, "kuptest_ctl", 11))
				continue;
			snprintf(s[cnt].path, sizeof(s[cnt].path), "/proc/%.16s/task/%.16s",
			         p->d_name, t->d_name);
			snprintf(path, sizeof(path), "%.96s/status", s[cnt].path);
			s[cnt].vcsw = read_ll(path, "voluntary_ctxt_switches:");
			snprintf(path, sizeof(path), "%.96s/schedstat", s[cnt].path);
			s[cnt].run_ns = read_ll(path, NULL);
			if (s[cnt].vcsw >= 0 && s[cnt].run_ns >= 0)
				cnt++;
		}
		closedir(td);
	}
	closedir(pd);
	return cnt;
}

/* Ran without sleeping between the looks a and b, 5 ms of it on a CPU. */
static int spun_between(const struct thr_sample *a, const struct thr_sample *b)
{
	return a->vcsw == b->vcsw && b->run_ns - a->run_ns >= 5000000;
}
#endif

/*
 * 1 once a control thread is seen running (5 ms of CPU) without sleeping
 * between two looks; 0 when none is within KIT_SOON_MS.  A sleeping wait
 * never runs that long without sleeping; idle control threads sleep.
 */
static int ctl_thread_spins(void)
{
	static struct thr_sample a[MAX_THR], b[MAX_THR];
	long long end = kit_now_ms() + KIT_SOON_MS;
	int na, nb, i, j;

	na = sample_ctl_threads(a);
	while (kit_now_ms() < end) {
		kit_sleep_ms(50);
		nb = sample_ctl_threads(b);
		for (i = 0; i < nb; i++)
			for (j = 0; j < na; j++)
				if (!strcmp(a[j].path, b[i].path) && spun_between(&a[j], &b[i]))
					return 1;
		memcpy(a, b, sizeof(a[0]) * (size_t)nb);
		na = nb;
	}
	return 0;
}

/* A KUP_POLL wait spins (never sleeps) until an attach arrives, on every host. */
KT_TEST(wait_channel_poll_spins_until_attach)
{
	char namebuf[64];
	const char *n = NAME("waitspin");
	struct kit_ctl *c = ctl_open();
	struct kt_cmd cmd = {.magic = KT_CMD_MAGIC, .op = KTO_WAITCHAN, .flags = KUP_POLL};
	struct thr_sample probe[MAX_THR];
	struct kt_reply *rep;
	size_t len;
	void *h, *a;
	int spun;

	if (sample_ctl_threads(probe) == 0)
		KT_SKIP("no kuptest_ctl thread with its switch counts (Linux: /proc/PID/task/TID "
		        "status and schedstat; FreeBSD: kern.proc.all)");
	ctl_mkdev(c, n, 1, 1, KTB_MANUAL, 0, 0);
	cmd.timeout_ms = -1; /* the service's longest wait */
	snprintf(cmd.name, sizeof(cmd.name), "%s", n);
	/* The command runs while we look: its reply comes after the attach. */
	KT_EQ(kernproxy_send(c->ch, &cmd, sizeof(cmd), 0), 0);
	spun = ctl_thread_spins();
	h = kit_open(n);
	a = kit_attach(h, 0, 1);
	rep = kernproxy_receive_len(c->ch, &len, 0);
	KT_ASSERT(rep);
	KT_EQ(len, sizeof(*rep));
	KT_EQ(rep->status, 0);
	KT_ASSERT(spun);
	kernproxy_close(a);
	kernproxy_close(h);
	KT_EQ(ctl_unload(c, n), 0);
	ctl_close(c);
}
