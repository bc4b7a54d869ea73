/*
 * kupinit: pid 1 of the FreeBSD test VM (tests/freebsd/vm/run-vm.sh).
 *
 * The root image has no shell and no init of FreeBSD's: this static program
 * mounts what the tests need, runs the command file /etc/kupvm-cmd line by
 * line, prints the markers the host looks for, and powers the machine off.
 * Commands (words split at blanks, "double quotes" group):
 *
 *   # text                     echoed as is (a TAP comment)
 *   setenv NAME VALUE          for the programs run after it
 *   load PATH                  kldload(2), a step
 *   unload NAME                kldunload(2) of the file NAME (kldfind), a step
 *   step "NAME" PROG [ARG...]  run PROG, a step: ok when it exits 0
 *   suite NAME PROG [ARG...]   run a test program; its output goes to the
 *                              console; no "N passed, N failed" line from
 *                              it (it crashed, hung) is a failed step
 *   absent PATH                a step: PATH does not exist
 *   present PATH               a step: PATH exists
 *   shell                      not supported (there is no shell): fails
 *
 * A step prints "ok - NAME" or "not ok - NAME"; at the end kupinit prints
 * its own "N passed, N failed" line, "KUPVM-EXIT <failed steps>", and
 * calls reboot(RB_POWEROFF).  Each program gets KUP_FBSD_PROG_TIMEOUT
 * seconds (default 300) before it is killed.
 */
#include <sys/param.h>
#include <sys/linker.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAXARGS 32

static int npass, nfail;
static int prog_timeout = 300;

static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static void result(int ok, const char *name)
{
	if (ok)
		npass++;
	else
		nfail++;
	say("%s - %s\n", ok ? "ok" : "not ok", name);
}

static int mount_fs(const char *type, const char *where)
{
	struct iovec iov[4];
	char errmsg[256] = "";

	mkdir(where, 0755);
	iov[0].iov_base = (void *)"fstype";
	iov[0].iov_len = sizeof("fstype");
	iov[1].iov_base = (void *)type;
	iov[1].iov_len = strlen(type) + 1;
	iov[2].iov_base = (void *)"fspath";
	iov[2].iov_len = sizeof("fspath");
	iov[3].iov_base = (void *)where;
	iov[3].iov_len = strlen(where) + 1;
	if (nmount(iov, 4, 0) != 0 && errno != EBUSY) {
		say("# kupinit: mount %s on %s: %s %s\n", type, where, strerror(errno), errmsg);
		return -1;
	}
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A result line: "<digits> passed, <digits> failed" at the start. */
static int is_result_line(const char *l)
{
	const char *p = l;

	if (*p < '0' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	if (strncmp(p, " passed, ", 9) != 0)
		return 0;
	p += 9;
	if (*p < '0' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	return strncmp(p, " failed", 7) == 0;
}

/*
 * Run argv with stdout and stderr through a pipe to the console; returns
 * the wait status (or -1) and sets *saw_result when a result line passed.
 */
static int run(char **argv, int *saw_result)
{
	char buf[4096], line[1024];
	size_t ll = 0;
	int fds[2], status = -1;
	long long deadline = now_ms() + (long long)prog_timeout * 1000;
	pid_t pid;

	*saw_result = 0;
	if (pipe(fds) != 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		execv(argv[0], argv);
		fprintf(stderr, "kupinit: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
		long long left = deadline - now_ms();
		ssize_t n;

		if (left <= 0) {
			say("# kupinit: %s still running after %d s: killed\n", argv[0],
			    prog_timeout);
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&pfd, 1, left > 1000 ? 1000 : (int)left) <= 0)
			continue;
		n = read(fds[0], buf, sizeof(buf));
		if (n <= 0)
			break;
		fwrite(buf, 1, (size_t)n, stdout);
		fflush(stdout);
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				line[ll] = 0;
				if (is_result_line(line))
					*saw_result = 1;
				ll = 0;
			} else if (ll < sizeof(line) - 1) {
				line[ll++] = buf[i];
			}
		}
	}
	close(fds[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return status;
}

/* Split a line into words; "..." groups.  Returns the word count. */
static int split(char *s, char **w, int max)
{
	int n = 0;

	while (*s && n < max - 1) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			break;
		if (*s == '"') {
			w[n++] = ++s;
			while (*s && *s != '"')
				s++;
		} else {
			w[n++] = s;
			while (*s && *s != ' ' && *s != '\t')
				s++;
		}
		if (*s)
			*s++ = 0;
	}
	w[n] = NULL;
	return n;
}

static void do_line(char *l)
{
	char *w[MAXARGS], name[256];
	int n, seen, st;

	l[strcspn(l, "\r\n")] = 0;
	if (l[0] == '#') {
		say("%s\n", l);
		return;
	}
	n = split(l, w, MAXARGS);
	if (n == 0)
		return;
	if (strcmp(w[0], "setenv") == 0 && n == 3) {
		setenv(w[1], w[2], 1);
	} else if (strcmp(w[0], "load") == 0 && n == 2) {
		snprintf(name, sizeof(name), "kldload %s", w[1]);
		if (kldload(w[1]) < 0)
			say("# kupinit: kldload %s: %s\n", w[1], strerror(errno));
		else
			errno = 0;
		result(errno == 0, name);
	} else if (strcmp(w[0], "unload") == 0 && n == 2) {
		int id = kldfind(w[1]);

		snprintf(name, sizeof(name), "kldunload %s", w[1]);
		if (id < 0 || kldunload(id) < 0) {
			say("# kupinit: kldunload %s: %s\n", w[1], strerror(errno));
			result(0, name);
		} else {
			result(1, name);
		}
	} else if ((strcmp(w[0], "absent") == 0 || strcmp(w[0], "present") == 0) && n == 2) {
		struct stat sb;
		int there = stat(w[1], &sb) == 0;

		snprintf(name, sizeof(name), "%s %s", w[1], there ? "exists" : "does not exist");
		result(there == (w[0][0] == 'p'), name);
	} else if (strcmp(w[0], "step") == 0 && n >= 3) {
		st = run(&w[2], &seen);
		result(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, w[1]);
	} else if (strcmp(w[0], "suite") == 0 && n >= 3) {
		long long t0 = now_ms();

		st = run(&w[2], &seen);
		say("# %s took %lld s\n", w[1], (now_ms() - t0 + 500) / 1000);
		if (!seen) {
			snprintf(name, sizeof(name),
			         "%s ended without its result line (status %#x)", w[1], st);
			result(0, name);
		}
	} else {
		snprintf(name, sizeof(name), "kupinit: unknown command: %s", w[0]);
		result(0, name);
	}
}

int main(void)
{
	char l[1024];
	const char *t;
	FILE *f;
	int fd;

	/* The kernel mounted devfs on /dev (the root has the directory). */
	fd = open("/dev/console", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	setsid();
	setenv("PATH", "/bin:/sbin", 1);
	setenv("HOME", "/tmp", 1);
	mount_fs("tmpfs", "/tmp");
	mkdir("/tmp/kuprt", 0700);
	setenv("KUP_RUNTIME_DIR", "/tmp/kuprt", 1);
	t = getenv("KUP_FBSD_PROG_TIMEOUT");
	if (t && atoi(t) > 0)
		prog_timeout = atoi(t);
	chdir("/tmp");
	say("KUPVM-BEGIN\n");
	f = fopen("/etc/kupvm-cmd", "r");
	if (!f) {
		result(0, "read /etc/kupvm-cmd");
	} else {
		while (fgets(l, sizeof(l), f))
			do_line(l);
		fclose(f);
	}
	say("%d passed, %d failed\n", npass, nfail);
	say("KUPVM-EXIT %d\n", nfail);
	/* The console's output queue drains first, or the kernel's shutdown lines overtake it. */
	tcdrain(1);
	usleep(300000);
	sync();
	reboot(RB_POWEROFF);
	say("# kupinit: reboot: %s\n", strerror(errno));
	for (;;)
		pause();
}
