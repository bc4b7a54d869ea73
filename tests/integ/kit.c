/* SPDX-License-Identifier: BSD-2-Clause */
/* kit.c - helpers of the integration suite (see kit.h). */
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif

#include "kit.h"

int kit_kernel(void)
{
	const char *b = getenv("KUP_BACKEND");

	return b && strcmp(b, "kernel") == 0;
}

long long kit_now_ms(void)
{
	return kt_now_us() / 1000;
}

void kit_sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* --- control device ---------------------------------------------------------- */

struct kit_ctl *ctl_open_name(const char *ctl_name)
{
	const char *name = ctl_name ? ctl_name : KT_CTL_NAME;
	struct kit_ctl *c = calloc(1, sizeof(*c));
	struct kt_hello *h;
	size_t len;

	KT_ASSERT(c);
	c->dev = kernproxy_open(name);
	if (!c->dev)
		KT_FAIL("cannot open control device %s: %s", name,
		        kernproxy_strerror(kernproxy_errno));
	/*
	 * The seed's attach: any free control channel, waiting while a test
	 * that just ended still holds them all (bounded by the handle's timeout).
	 */
	KT_EQ(kernproxy_set_timeout(c->dev, (int64_t)KIT_SOON_MS * 1000000), 0);
	c->ch = kernproxy_channel(c->dev, 0, 1);
	if (!c->ch)
		KT_FAIL("no control channel: %s", kernproxy_strerror(kernproxy_error(c->dev)));
	c->chan = kernproxy_channel_id(c->ch);
	KT_ASSERT(c->chan >= 0 && c->chan < KT_CTL_CHANS);
	h = kernproxy_receive_len(c->ch, &len, 0);
	if (!h)
		KT_FAIL("control hello: %s", kernproxy_strerror(kernproxy_errno));
	KT_EQ(len, sizeof(*h));
	KT_EQ(h->magic, KT_HELLO_MAGIC);
	KT_EQ(h->chan, c->chan);
	return c;
}

struct kit_ctl *ctl_open(void)
{
	return ctl_open_name(NULL);
}

void ctl_close(struct kit_ctl *c)
{
	if (!c)
		return;
	kernproxy_close(c->dev);
	free(c);
}

int ctl_do(struct kit_ctl *c, const struct kt_cmd *cmd, struct kt_reply *rep)
{
	struct kt_reply *r, tmp;
	size_t len;

	if (kernproxy_send(c->ch, (void *)cmd, sizeof(*cmd), 0) != 0)
		KT_FAIL("control send: %s", kernproxy_strerror(kernproxy_errno));
	r = kernproxy_receive_len(c->ch, &len, 0);
	if (!r)
		KT_FAIL("control reply: %s", kernproxy_strerror(kernproxy_errno));
	KT_EQ(len, sizeof(*r));
	KT_EQ(r->magic, KT_REPLY_MAGIC);
	if (!rep)
		rep = &tmp;
	memcpy(rep, r, sizeof(*rep));
	return rep->status;
}

static struct kt_cmd cmd_for(uint32_t op, const char *name)
{
	struct kt_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.magic = KT_CMD_MAGIC;
	cmd.op = op;
	if (name)
		snprintf(cmd.name, sizeof(cmd.name), "%s", name);
	return cmd;
}

int ctl_create(struct kit_ctl *c, const char *name, uint32_t size, uint32_t chans, uint32_t beh,
               uint32_t delay_ms, uint32_t flags)
{
	struct kt_cmd cmd = cmd_for(KTO_CREATE, name);

	ctl_unload(c, name); /* a leftover of an earlier, failed run */
	cmd.size = size;
	cmd.chan_cnt = chans;
	cmd.beh = beh;
	cmd.delay_ms = delay_ms;
	cmd.flags = flags;
	return ctl_do(c, &cmd, NULL);
}

void ctl_mkdev(struct kit_ctl *c, const char *name, uint32_t size, uint32_t chans, uint32_t beh,
               uint32_t delay_ms, uint32_t flags)
{
	int r = ctl_create(c, name, size, chans, beh, delay_ms, flags);

	if (r != 0)
		KT_FAIL("creating test device %s: %s (%d)", name, kernproxy_strerror(-r), r);
}

int ctl_unload(struct kit_ctl *c, const char *name)
{
	struct kt_cmd cmd = cmd_for(KTO_UNLOAD, name);

	return ctl_do(c, &cmd, NULL);
}

int ctl_stats(struct kit_ctl *c, const char *name, uint32_t chan, struct kt_reply *rep)
{
	struct kt_cmd cmd = cmd_for(KTO_STATS, name);

	cmd.chan = chan;
	return ctl_do(c, &cmd, rep);
}

int ctl_notify(struct kit_ctl *c, const char *name)
{
	struct kt_cmd cmd = cmd_for(KTO_NOTIFY, name);

	return ctl_do(c, &cmd, NULL);
}

int ctl_waitchan(struct kit_ctl *c, const char *name, int timeout_ms)
{
	struct kt_cmd cmd = cmd_for(KTO_WAITCHAN, name);

	cmd.timeout_ms = timeout_ms;
	return ctl_do(c, &cmd, NULL);
}

int ctl_recv(struct kit_ctl *c, const char *name, uint32_t chan, int timeout_ms, uint32_t flags,
             struct kt_reply *rep)
{
	struct kt_cmd cmd = cmd_for(KTO_RECV, name);

	cmd.chan = chan;
	cmd.timeout_ms = timeout_ms;
	cmd.flags = flags;
	return ctl_do(c, &cmd, rep);
}

int ctl_send(struct kit_ctl *c, const char *name, uint32_t chan, uint32_t len, uint32_t seed,
             int timeout_ms, uint32_t flags)
{
	struct kt_cmd cmd = cmd_for(KTO_SEND, name);

	cmd.chan = chan;
	cmd.len = len;
	cmd.seed = seed;
	cmd.timeout_ms = timeout_ms;
	cmd.flags = flags;
	return ctl_do(c, &cmd, NULL);
}

int ctl_pass(struct kit_ctl *c, const char *name, uint32_t chan, int timeout_ms, uint32_t flags)
{
	struct kt_cmd cmd = cmd_for(KTO_PASS, name);

	cmd.chan = chan;
	cmd.timeout_ms = timeout_ms;
	cmd.flags = flags;
	return ctl_do(c, &cmd, NULL);
}

int ctl_ssend(struct kit_ctl *c, const char *name, uint32_t chan, uint32_t len, uint32_t seed,
              int timeout_ms, uint32_t flags)
{
	struct kt_cmd cmd = cmd_for(KTO_SSEND, name);

	cmd.chan = chan;
	cmd.len = len;
	cmd.seed = seed;
	cmd.timeout_ms = timeout_ms;
	cmd.flags = flags;
	return ctl_do(c, &cmd, NULL);
}

int ctl_srecv(struct kit_ctl *c, const char *name, uint32_t chan, uint32_t max, int timeout_ms,
              uint32_t flags, struct kt_reply *rep)
{
	struct kt_cmd cmd = cmd_for(KTO_SRECV, name);

	cmd.chan = chan;
	cmd.len = max;
	cmd.timeout_ms = timeout_ms;
	cmd.flags = flags;
	return ctl_do(c, &cmd, rep);
}

void ctl_wait_count(struct kit_ctl *c, const char *name, uint32_t chan, size_t field, uint32_t min,
                    struct kt_reply *rep)
{
	long long end = kit_now_ms() + KIT_SOON_MS;
	struct kt_reply tmp;
	uint32_t v;

	if (!rep)
		rep = &tmp;
	for (;;) {
		KT_EQ(ctl_stats(c, name, chan, rep), 0);
		memcpy(&v, (char *)rep + field, sizeof(v));
		if (v >= min)
			return;
		if (kit_now_ms() > end)
			KT_FAIL("%s chan %u: counter at offset %zu stays %u < %u", name, chan,
			        field, v, min);
		kit_sleep_ms(10);
	}
}

/* --- data side ---------------------------------------------------------------- */

void *kit_open(const char *name)
{
	void *h = kernproxy_open(name);

	if (!h)
		KT_FAIL("kernproxy_open(%s): %s", name, kernproxy_strerror(kernproxy_errno));
	return h;
}

void *kit_attach(void *dev, size_t chan, size_t size)
{
	long long end = kit_now_ms() + KIT_SOON_MS;
	void *ch;

	for (;;) {
		ch = kernproxy_attach(dev, chan, size, KP_EXACT);
		if (ch) {
			KT_EQ(kernproxy_channel_id(ch), chan);
			return ch;
		}
		if (kernproxy_error(dev) != EKU_BUSY || kit_now_ms() > end)
			KT_FAIL("kernproxy_attach(%zu, %zu, KP_EXACT): %s", chan, size,
			        kernproxy_strerror(kernproxy_error(dev)));
		kit_sleep_ms(10);
	}
}

void *kit_recv(void *ch, size_t *len)
{
	void *p = kernproxy_receive_len(ch, len, 0);

	if (!p)
		KT_FAIL("kernproxy_receive: %s", kernproxy_strerror(kernproxy_errno));
	return p;
}

void kit_hello(void *ch, uint32_t chan)
{
	size_t len;
	struct kt_hello *h = kit_recv(ch, &len);

	KT_EQ(len, sizeof(*h));
	KT_EQ(h->magic, KT_HELLO_MAGIC);
	KT_EQ(h->chan, chan);
}

void kit_echo(void *ch, size_t len, uint32_t seed)
{
	uint8_t *buf = malloc(len ? len : 1);
	size_t got;
	void *p;

	KT_ASSERT(buf);
	kt_fill(buf, (uint32_t)len, seed);
	if (kernproxy_send(ch, buf, len, 0) != 0)
		KT_FAIL("kernproxy_send(%zu): %s", len, kernproxy_strerror(kernproxy_errno));
	p = kit_recv(ch, &got);
	KT_EQ(got, len);
	KT_ASSERT(memcmp(p, buf, len) == 0);
	free(buf);
}

/*
 * The mapping a receive pointer points into: the kern control page's inline
 * payload (a small message, ABI 2: inside the first page) or the start of
 * the kern-to-user data (page aligned, one page in).
 */
static uint8_t *kit_map_base(const void *rx_data)
{
	uintptr_t a = (uintptr_t)rx_data;

	return (uint8_t *)(a % KUP_PAGE ? a - a % KUP_PAGE : a - KUP_OFF_K2U(0));
}

struct kup_uctl *kit_uctl(const void *rx_data, size_t size)
{
	return (struct kup_uctl *)(kit_map_base(rx_data) + KUP_OFF_UCTL(size));
}

const struct kup_kctl *kit_kctl(const void *rx_data, size_t size)
{
	return (const struct kup_kctl *)(kit_map_base(rx_data) + KUP_OFF_KCTL(size));
}

long kit_tid(void)
{
#ifdef __linux__
	return (long)syscall(SYS_gettid);
#else
	return -1;
#endif
}

/* 1 when /proc says thread tid of this process sleeps (S), 0 when not, -1 unknown. */
static int tid_sleeps(long tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/stat", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strrchr(buf, ')'); /* the name may hold anything; the state follows it */
	return p && p[1] == ' ' ? p[2] == 'S' : -1;
}

void kit_wait_asleep(const uint32_t *wait, long tid)
{
	long long end = kit_now_ms() + KIT_SOON_MS;

	for (;;) {
		if (__atomic_load_n(wait, __ATOMIC_ACQUIRE) & KUP_WAIT_SLEEP) {
			if (tid < 0 || tid_sleeps(tid) != 0)
				return;
		}
		if (kit_now_ms() > end)
			KT_FAIL("the waiter never went to sleep");
		kit_sleep_ms(1);
	}
}

void kit_wait_thread_sleeps(long tid)
{
	long long end = kit_now_ms() + KIT_SOON_MS;

	if (tid < 0 || tid_sleeps(tid) < 0)
		return; /* no /proc here: the test goes on without the check */
	while (tid_sleeps(tid) != 1) {
		if (kit_now_ms() > end)
			KT_FAIL("thread %ld never went to sleep", tid);
		kit_sleep_ms(1);
	}
}

const char *kit_name(const char *base, char *buf, size_t len)
{
	snprintf(buf, len, "kt_%s", base);
	return buf;
}

/* --- processes ------------------------------------------------------------------ */

const char *kit_prog(const char *env)
{
	const char *p = getenv(env);

	return p && *p && access(p, X_OK) == 0 ? p : NULL;
}

int kit_spawn(const char *path, pid_t *pid, int *status)
{
	char ready[512];
	const char *rt = getenv("KUP_RUNTIME_DIR");
	long long end = kit_now_ms() + 2 * KIT_SOON_MS;
	struct stat st;
	pid_t p;

	KT_ASSERT(rt);
	snprintf(ready, sizeof(ready), "%s/ready.%ld.%lld", rt, (long)getpid(), kt_now_us());
	unlink(ready);
	fflush(NULL);
	p = fork();
	KT_ASSERT(p >= 0);
	if (p == 0) {
		char log[600];
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0)
			dup2(fd, 1);
		/* Its complaints go to a log beside the sockets, not into the TAP stream. */
		snprintf(log, sizeof(log), "%s.log", ready);
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0)
			dup2(fd, 2);
		setenv("KUPSVC_READY_FILE", ready, 1);
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	*pid = p;
	for (;;) {
		if (stat(ready, &st) == 0) {
			unlink(ready);
			return 0;
		}
		if (waitpid(p, status, WNOHANG) == p)
			return -1;
		if (kit_now_ms() > end)
			KT_FAIL("%s did not get ready", path);
		kit_sleep_ms(10);
	}
}

int kit_stop(pid_t pid)
{
	int st = 0;

	kill(pid, SIGTERM);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

int kit_revents(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int r;

	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	KT_ASSERT(r >= 0);
	return r ? p.revents : 0;
}
