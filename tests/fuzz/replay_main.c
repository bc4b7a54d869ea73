/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * replay_main.c - run a fuzz harness over corpus files without libFuzzer
 * (gcc with ASan/UBSan, or any compiler).
 *
 *   HARNESS FILE|DIR...
 *
 * Each file runs in a child process of its own (so one finding does not hide
 * the others, and the exit-time leak check sees each input alone): "ok NAME"
 * or "FAIL NAME".  Then every file once more in one process, in order, the
 * way the fuzzer feeds them (state kept between inputs).  Ends with
 * "N passed, N failed".
 */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"

#define MAX_FILES 4096

static char *files[MAX_FILES];
static int nfiles;

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_path(const char *path)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	char buf[4096];

	if (stat(path, &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	if (!S_ISDIR(st.st_mode)) {
		if (nfiles < MAX_FILES)
			files[nfiles++] = strdup(path);
		return;
	}
	d = opendir(path);
	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(buf, sizeof(buf), "%s/%s", path, de->d_name);
		add_path(buf);
	}
	closedir(d);
}

/* Read a whole file; NULL on error. */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*len = (size_t)n;
	}
	fclose(f);
	return buf;
}

/* Run files[from..to) in a child; 1 when it exited 0. */
static int run_child(int from, int to, char **argv0)
{
	int argc = 1, status;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 0;
	}
	if (pid == 0) {
		int i;

		LLVMFuzzerInitialize(&argc, &argv0);
		for (i = from; i < to; i++) {
			size_t len = 0;
			uint8_t *buf = slurp(files[i], &len);

			if (!buf) {
				fprintf(stderr, "replay: cannot read %s\n", files[i]);
				exit(3);
			}
			LLVMFuzzerTestOneInput(buf, len);
			free(buf);
		}
		exit(0);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(int argc, char **argv)
{
	int i, pass = 0, fail = 0;

	for (i = 1; i < argc; i++)
		add_path(argv[i]);
	if (!nfiles) {
		fprintf(stderr, "replay: no corpus files\n");
		return 2;
	}
	qsort(files, (size_t)nfiles, sizeof(files[0]), cmp_str);
	for (i = 0; i < nfiles; i++) {
		int ok = run_child(i, i + 1, argv);

		printf("%s %s\n", ok ? "ok  " : "FAIL", files[i]);
		ok ? pass++ : fail++;
	}
	if (run_child(0, nfiles, argv)) {
		printf("ok   all %d inputs in one process\n", nfiles);
		pass++;
	} else {
		printf("FAIL all %d inputs in one process\n", nfiles);
		fail++;
	}
	printf("%d passed, %d failed\n", pass, fail);
	return fail != 0;
}
