/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kupsvc_host.h - kupsvc.h for the user-mode provider: a service written
 * against kupdev.h/kupsvc.h becomes an ordinary program linked with
 * libkupdev.  Threads are pthreads, memory is calloc, logging is stderr.
 *
 * KUPSVC_DEFINE(name, start, stop) expands to main():
 *   - blocks SIGINT, SIGTERM and SIGHUP in every thread (the service's
 *     threads inherit the mask), so only main() receives them, by sigwait;
 *   - runs start(); on failure logs the code and exits 1;
 *   - announces readiness: writes "ready NAME PID\n" to stdout, or to the
 *     file named by $KUPSVC_READY_FILE (written under a temporary name and
 *     renamed, so a reader never sees half a line).  Tests and the demo
 *     wait for it instead of sleeping blindly;
 *   - waits for one of those signals, or $KUPSVC_RUN_SECONDS seconds;
 *   - runs stop() and exits 0.
 */
#ifndef KUPSVC_HOST_H
#define KUPSVC_HOST_H

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct kupsvc_thread {
	pthread_t tid;
	int (*fn)(void *);
	void *arg;
	int ret;
};

static inline void *kupsvc_thread_main(void *p)
{
	struct kupsvc_thread *t = p;

	t->ret = t->fn(t->arg);
	return NULL;
}

static inline struct kupsvc_thread *kupsvc_thread_start(int (*fn)(void *), void *arg,
                                                        const char *name)
{
	struct kupsvc_thread *t = calloc(1, sizeof(*t));
	char comm[16];

	if (!t)
		return NULL;
	t->fn = fn;
	t->arg = arg;
	if (pthread_create(&t->tid, NULL, kupsvc_thread_main, t) != 0) {
		free(t);
		return NULL;
	}
	if (name) {
		/* Thread names are at most 15 bytes; a longer one is cut, not refused. */
		snprintf(comm, sizeof(comm), "%s", name);
		(void)pthread_setname_np(t->tid, comm);
	}
	return t;
}

static inline int kupsvc_thread_join(struct kupsvc_thread *t)
{
	int ret;

	if (!t)
		return -EKU_INVAL;
	if (pthread_join(t->tid, NULL) != 0)
		return -EKU_SYS;
	ret = t->ret;
	free(t);
	return ret;
}

static inline void *kupsvc_alloc(size_t len)
{
	return calloc(1, len ? len : 1);
}

static inline void kupsvc_free(void *p)
{
	free(p);
}

static inline void kupsvc_sleep_ms(unsigned int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

#define kupsvc_log(...) fprintf(stderr, __VA_ARGS__)

/* Write the readiness line atomically (tmp file + rename) or to stdout. */
static inline int kupsvc_announce_ready(const char *name)
{
	const char *path = getenv("KUPSVC_READY_FILE");
	char tmp[1024];
	FILE *f;

	if (!path || !*path) {
		if (printf("ready %s %ld\n", name, (long)getpid()) < 0 || fflush(stdout) != 0)
			return -1;
		return 0;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return -1;
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	if (fprintf(f, "ready %s %ld\n", name, (long)getpid()) < 0) {
		fclose(f);
		unlink(tmp);
		return -1;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* The body of main(): see the comment at the top. */
static inline int kupsvc_main(const char *name, int (*start)(void), void (*stop)(void))
{
	const char *secs = getenv("KUPSVC_RUN_SECONDS");
	sigset_t set;
	int r, sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
		fprintf(stderr, "%s: cannot block signals\n", name);
		return 1;
	}
	/* A client that vanishes must not kill the service through a socket write. */
	signal(SIGPIPE, SIG_IGN);

	r = start();
	if (r != 0) {
		fprintf(stderr, "%s: start failed: %s (%d)\n", name, kup_strerror(r), r);
		return 1;
	}
	if (kupsvc_announce_ready(name) != 0)
		fprintf(stderr, "%s: cannot write the ready line: %s\n", name, strerror(errno));

	if (secs && *secs) {
		struct timespec ts = {.tv_sec = strtol(secs, NULL, 10), .tv_nsec = 0};

		do
			sig = sigtimedwait(&set, NULL, &ts);
		while (sig < 0 && errno == EINTR);
	} else {
		while (sigwait(&set, &sig) != 0)
			;
	}
	stop();
	return 0;
}

#define KUPSVC_DEFINE(name, start, stop)                                                           \
	int main(void)                                                                             \
	{                                                                                          \
		return kupsvc_main(#name, (start), (stop));                                        \
	}

#endif /* KUPSVC_HOST_H */
