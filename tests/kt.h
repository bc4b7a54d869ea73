/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kt.h - the test harness of every KUP C suite.
 *
 * KT_TEST(name) { ... } defines a test; KT_MAIN() runs them.  Each test runs
 * in its own child process under a timeout (KT_TIMEOUT seconds, default
 * 30; KT_TIMEOUT_MUL=N multiplies every timeout, for slow kernels): a crash
 * or a hang fails that test only.  Output is TAP, then
 * "N passed, N failed[, N skipped]".  KT_SKIP("why") skips with a reason.
 * A test that used more than a third of its timeout is named ("# slow:").
 * Arguments to the binary select tests whose names contain any of them.
 */
#ifndef KT_H
#define KT_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct kt_case {
	const char *name;
	void (*fn)(void);
	int timeout;
};

#define KT_MAX_CASES 512
extern struct kt_case kt_cases[KT_MAX_CASES];
extern int kt_ncases;

#define KT_SKIP_EXIT 77

#define KT_TEST_T(name, secs)                                                                      \
	static void kt_fn_##name(void);                                                            \
	__attribute__((constructor)) static void kt_reg_##name(void)                               \
	{                                                                                          \
		if (kt_ncases < KT_MAX_CASES)                                                      \
			kt_cases[kt_ncases++] = (struct kt_case){#name, kt_fn_##name, (secs)};     \
	}                                                                                          \
	static void kt_fn_##name(void)
#define KT_TEST(name) KT_TEST_T(name, 0)

#define KT_FAIL(...)                                                                               \
	do {                                                                                       \
		fprintf(stderr, "# %s:%d: ", __FILE__, __LINE__);                                  \
		fprintf(stderr, __VA_ARGS__);                                                      \
		fprintf(stderr, "\n");                                                             \
		fflush(stderr);                                                                    \
		_exit(1);                                                                          \
	} while (0)

#define KT_ASSERT(c)                                                                               \
	do {                                                                                       \
		if (!(c))                                                                          \
			KT_FAIL("assertion failed: %s", #c);                                       \
	} while (0)

#define KT_EQ(a, b)                                                                                \
	do {                                                                                       \
		long long kt_a = (long long)(a), kt_b = (long long)(b);                            \
		if (kt_a != kt_b)                                                                  \
			KT_FAIL("%s == %s: %lld != %lld", #a, #b, kt_a, kt_b);                     \
	} while (0)

#define KT_SKIP(...)                                                                               \
	do {                                                                                       \
		printf("# skip reason: ");                                                         \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
		fflush(stdout);                                                                    \
		_exit(KT_SKIP_EXIT);                                                               \
	} while (0)

static inline long long kt_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

int kt_main(int argc, char **argv);

#define KT_MAIN()                                                                                  \
	struct kt_case kt_cases[KT_MAX_CASES];                                                     \
	int kt_ncases;                                                                             \
	int main(int argc, char **argv)                                                            \
	{                                                                                          \
		return kt_main(argc, argv);                                                        \
	}                                                                                          \
	KT_RUNNER

#define KT_RUNNER                                                                                  \
	static int kt_selected(const char *name, int argc, char **argv)                            \
	{                                                                                          \
		int i;                                                                             \
		if (argc < 2)                                                                      \
			return 1;                                                                  \
		for (i = 1; i < argc; i++)                                                         \
			if (strstr(name, argv[i]))                                                 \
				return 1;                                                          \
		return 0;                                                                          \
	}                                                                                          \
	int kt_main(int argc, char **argv)                                                         \
	{                                                                                          \
		int i, n = 0, pass = 0, fail = 0, skip = 0;                                        \
		const char *env = getenv("KT_TIMEOUT"), *mul = getenv("KT_TIMEOUT_MUL");           \
		int deftmo = env ? atoi(env) : 30, tmul = mul && atoi(mul) > 0 ? atoi(mul) : 1;    \
		setvbuf(stdout, NULL, _IOLBF, 0);                                                  \
		for (i = 0; i < kt_ncases; i++)                                                    \
			n += kt_selected(kt_cases[i].name, argc, argv);                            \
		printf("1..%d\n", n);                                                              \
		n = 0;                                                                             \
		for (i = 0; i < kt_ncases; i++) {                                                  \
			struct kt_case *c = &kt_cases[i];                                          \
			int st = 0, tmo = (c->timeout ? c->timeout : deftmo) * tmul;               \
			long long t0 = kt_now_us(), ms;                                            \
			pid_t pid;                                                                 \
			if (!kt_selected(c->name, argc, argv))                                     \
				continue;                                                          \
			n++;                                                                       \
			fflush(NULL);                                                              \
			pid = fork();                                                              \
			if (pid == 0) {                                                            \
				setpgid(0, 0);                                                     \
				alarm(tmo);                                                        \
				c->fn();                                                           \
				fflush(NULL);                                                      \
				_exit(0);                                                          \
			}                                                                          \
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)                         \
				;                                                                  \
			kill(-pid, SIGKILL); /* the test's helpers die with it */                  \
			ms = (kt_now_us() - t0) / 1000;                                            \
			if (ms > tmo * 1000LL / 3) /* a timeout that gets close, in the log */     \
				printf("# slow: %s took %lld ms of its %d s\n", c->name, ms, tmo); \
			if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {                               \
				pass++;                                                            \
				printf("ok %d - %s\n", n, c->name);                                \
			} else if (WIFEXITED(st) && WEXITSTATUS(st) == KT_SKIP_EXIT) {             \
				skip++;                                                            \
				printf("ok %d - %s # SKIP\n", n, c->name);                         \
			} else {                                                                   \
				fail++;                                                            \
				if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)                    \
					printf("not ok %d - %s # timeout after %ds\n", n, c->name, \
					       tmo);                                               \
				else if (WIFSIGNALED(st))                                          \
					printf("not ok %d - %s # signal %d\n", n, c->name,         \
					       WTERMSIG(st));                                      \
				else                                                               \
					printf("not ok %d - %s\n", n, c->name);                    \
			}                                                                          \
		}                                                                                  \
		if (skip)                                                                          \
			printf("%d passed, %d failed, %d skipped\n", pass, fail, skip);            \
		else                                                                               \
			printf("%d passed, %d failed\n", pass, fail);                              \
		return fail ? 1 : 0;                                                               \
	}

#endif /* KT_H */
