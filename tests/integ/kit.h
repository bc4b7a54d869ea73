/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kit.h - helpers of the integration suite: the control device of the
 * test service (tests/svc/kuptest_proto.h), attaching with retries, and
 * the checks every test repeats.  They fail the test (KT_FAIL) on any
 * unexpected outcome, so tests read as the behaviour they check.
 *
 * Backends: KUP_BACKEND=kernel means the service is the kup_test module
 * (loaded by the harness); otherwise it is the provider program started by
 * tests/integ/run.sh, with KUP_RUNTIME_DIR private to the run.
 */
#ifndef KIT_H
#define KIT_H

#include <stdint.h>
#include <stddef.h>

#include "kt.h"
#include "kup.h"
#include "kuptest_proto.h"

/* Generous bound for anything that "should happen soon", under load. */
#define KIT_SOON_MS 10000

/* 1 under KUP_BACKEND=kernel. */
int kit_kernel(void);
#define KIT_PROVIDER_ONLY(why)                                                                     \
	do {                                                                                       \
		if (kit_kernel())                                                                  \
			KT_SKIP("provider backend only: %s", why);                                 \
	} while (0)

long long kit_now_ms(void);
void kit_sleep_ms(int ms);

/* --- the control device ------------------------------------------------------- */

struct kit_ctl {
	void *dev, *ch;
	int chan;
};

/* Attach a free control channel of ctl_name (NULL: KT_CTL_NAME) the seed's way:
 * kernproxy_channel(dev, 0, 1), waiting (KIT_SOON_MS at most) if all are taken. */
struct kit_ctl *ctl_open_name(const char *ctl_name);
struct kit_ctl *ctl_open(void);
void ctl_close(struct kit_ctl *c);
/* One command, one reply; returns rep->status. rep may be NULL. */
int ctl_do(struct kit_ctl *c, const struct kt_cmd *cmd, struct kt_reply *rep);
/* Unload a leftover of the same name, then create; the create status. */
int ctl_create(struct kit_ctl *c, const char *name, uint32_t size, uint32_t chans, uint32_t beh,
               uint32_t delay_ms, uint32_t flags);
/* ctl_create that must succeed. */
void ctl_mkdev(struct kit_ctl *c, const char *name, uint32_t size, uint32_t chans, uint32_t beh,
               uint32_t delay_ms, uint32_t flags);
int ctl_unload(struct kit_ctl *c, const char *name);
int ctl_stats(struct kit_ctl *c, const char *name, uint32_t chan, struct kt_reply *rep);
int ctl_notify(struct kit_ctl *c, const char *name);
int ctl_waitchan(struct kit_ctl *c, const char *name, int timeout_ms);
int ctl_recv(struct kit_ctl *c, const char *name, uint32_t chan, int timeout_ms, uint32_t flags,
             struct kt_reply *rep);
int ctl_send(struct kit_ctl *c, const char *name, uint32_t chan, uint32_t len, uint32_t seed,
             int timeout_ms, uint32_t flags);
int ctl_pass(struct kit_ctl *c, const char *name, uint32_t chan, int timeout_ms, uint32_t flags);
/* KTO_SSEND: one record on a stream channel; KTO_SRECV: up to max records (status: count). */
int ctl_ssend(struct kit_ctl *c, const char *name, uint32_t chan, uint32_t len, uint32_t seed,
              int timeout_ms, uint32_t flags);
int ctl_srecv(struct kit_ctl *c, const char *name, uint32_t chan, uint32_t max, int timeout_ms,
              uint32_t flags, struct kt_reply *rep);
/* Poll KTO_STATS until field (an offset in struct kt_reply) reaches at least min. */
void ctl_wait_count(struct kit_ctl *c, const char *name, uint32_t chan, size_t field, uint32_t min,
                    struct kt_reply *rep);
#define CTL_WAIT(c, name, chan, fld, min, rep)                                                     \
	ctl_wait_count((c), (name), (chan), offsetof(struct kt_reply, fld), (min), (rep))

/* --- the data side --------------------------------------------------------------- */

/* Open a device that must exist. */
void *kit_open(const char *name);
/* Attach exactly this channel (KP_EXACT), retrying while a previous holder is being
 * detached (EKU_BUSY). */
void *kit_attach(void *dev, size_t chan, size_t size);
/* Receive a message that must come; its length in *len. */
void *kit_recv(void *ch, size_t *len);
/* Receive the kt_hello a KTB_ECHO/KTB_CHECK channel starts with; checks its channel id. */
void kit_hello(void *ch, uint32_t chan);
/* Send len bytes kt_fill(seed) and check the echo. */
void kit_echo(void *ch, size_t len, uint32_t seed);
/* A call that must fail with code: checks kernproxy_errno and kernproxy_error(handle). */
#define KIT_FAILS_WITH(call, handle, code)                                                         \
	do {                                                                                       \
		kernproxy_errno = 0;                                                               \
		KT_ASSERT(call);                                                                   \
		KT_EQ(kernproxy_errno, (code));                                                    \
		if (handle)                                                                        \
			KT_EQ(kernproxy_error(handle), (code));                                    \
	} while (0)

/* poll() fd for POLLIN up to ms: its revents, 0 when nothing came. */
int kit_revents(int fd, int ms);

/* The user control page of a channel, found from a received message pointer. */
struct kup_uctl *kit_uctl(const void *rx_data, size_t size);
/* The kern control page (read-only to us), found the same way. */
const struct kup_kctl *kit_kctl(const void *rx_data, size_t size);

/* The calling thread's id for kit_wait_asleep, or -1 where there is none. */
long kit_tid(void);
/*
 * Wait (KIT_SOON_MS at most) until a side announced in its wait word that it
 * sleeps (KUP_WAIT_SLEEP: it is inside a blocking call, past its spin) and,
 * when tid >= 0 and /proc has it, that thread sleeps in the kernel too.
 * Instead of a fixed sleep before an event that must find a sleeper.
 */
void kit_wait_asleep(const uint32_t *wait, long tid);

/* Wait (KIT_SOON_MS at most) until thread tid of this process sleeps (/proc state S):
 * it is blocked in a call.  Returns at once where /proc cannot tell. */
void kit_wait_thread_sleeps(long tid);

/* Device name for this test: "kt_" + base, unique per test. */
const char *kit_name(const char *base, char *buf, size_t len);

/* --- processes (provider backend) ------------------------------------------------- */

/* Start a provider program; wait until it announces readiness (0), or it exited (-1). */
int kit_spawn(const char *path, pid_t *pid, int *status);
/* SIGTERM a program started by kit_spawn and return its exit status (waitpid). */
int kit_stop(pid_t pid);
/* Path of a program from env var, or NULL. */
const char *kit_prog(const char *env);

#endif /* KIT_H */
