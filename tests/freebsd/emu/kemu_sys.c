/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kemu_sys.c - the system calls of a process, for the emulated run: a
 * /dev/NAME open reaches the emulated devfs (kemu.h), and its fd's ioctl,
 * mmap, poll and close reach kup.ko's d_* methods.  A mapping is made by
 * kemu_mmap_at (the pages the driver's pager hands out) at the address and
 * with the protection asked for, so the process sees the kernel's pages as
 * on FreeBSD.  Any other fd goes to the real system call.
 */
#include <stdarg.h>
#include <unistd.h>

#include "kemu.h"

#undef malloc
#undef free

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#define KEMU_FDS  1024
#define KEMU_MAPS 256

static pthread_mutex_t sys_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kemu_file *fds[KEMU_FDS]; /* fake fds: real fds of /dev/null */
static struct {
	char *addr;
	size_t len;
	struct kemu_vmap *v;
} maps[KEMU_MAPS];

static struct kemu_file *fake(int fd)
{
	struct kemu_file *f = NULL;

	pthread_mutex_lock(&sys_lock);
	if (fd >= 0 && fd < KEMU_FDS)
		f = fds[fd];
	pthread_mutex_unlock(&sys_lock);
	return f;
}

static int fail(int err)
{
	errno = err;
	return -1;
}

int kemu_sys_open(const char *path, int flags, ...)
{
	struct kemu_file *f;
	va_list ap;
	mode_t mode;
	int fd, err = 0;

	if (strncmp(path, "/dev/", 5) != 0) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
		return open(path, flags, mode);
	}
	f = kemu_open(path + 5, &err);
	if (!f)
		return fail(err);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* a unique fd number */
	if (fd < 0 || fd >= KEMU_FDS) {
		kemu_close(f);
		if (fd >= 0)
			close(fd);
		return fail(EMFILE);
	}
	pthread_mutex_lock(&sys_lock);
	fds[fd] = f;
	pthread_mutex_unlock(&sys_lock);
	return fd;
}

int kemu_sys_ioctl(int fd, unsigned long req, ...)
{
	struct kemu_file *f = fake(fd);
	va_list ap;
	void *arg;
	int r;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!f)
		return ioctl(fd, req, arg);
	r = kemu_ioctl(f, req, arg);
	return r ? fail(r) : 0;
}

void *kemu_sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	struct kemu_file *f = fake(fd);
	struct kemu_vmap *v;
	void *p;
	int r, i, vp = 0;

	if (!f)
		return mmap(addr, len, prot, flags, fd, off);
	if (!(flags & MAP_SHARED)) {
		errno = EINVAL; /* FreeBSD refuses private mappings of a cdev itself */
		return MAP_FAILED;
	}
	vp |= (prot & PROT_READ) ? VM_PROT_READ : 0;
	vp |= (prot & PROT_WRITE) ? VM_PROT_WRITE : 0;
	vp |= (prot & PROT_EXEC) ? VM_PROT_EXECUTE : 0;
	r = kemu_mmap_at(f, (flags & MAP_FIXED) ? addr : NULL, off, len, vp, &v, &p);
	if (r) {
		errno = r;
		return MAP_FAILED;
	}
	pthread_mutex_lock(&sys_lock);
	for (i = 0; i < KEMU_MAPS && maps[i].v; i++)
		;
	if (i == KEMU_MAPS)
		kemu_panic("kemu_sys_mmap: too many mappings");
	maps[i].addr = p;
	maps[i].len = len;
	maps[i].v = v;
	pthread_mutex_unlock(&sys_lock);
	return p;
}

/*
 * Unmapping drops the device mappings inside the range (and their object
 * references).  The range is unmapped once, before any reference goes: the
 * last one may detach a channel and let another thread map kernel memory,
 * which may land in the freed range (a second munmap would take it away).
 */
int kemu_sys_munmap(void *addr, size_t len)
{
	struct kemu_vmap *gone[KEMU_MAPS];
	char *a = addr;
	int i, n = 0, r;

	pthread_mutex_lock(&sys_lock);
	for (i = 0; i < KEMU_MAPS; i++)
		if (maps[i].v && maps[i].addr >= a && maps[i].addr + maps[i].len <= a + len) {
			gone[n++] = maps[i].v;
			maps[i].v = NULL;
		}
	pthread_mutex_unlock(&sys_lock);
	r = munmap(addr, len);
	while (n > 0)
		kemu_vmap_drop(gone[--n]);
	return r;
}

int kemu_sys_close(int fd)
{
	struct kemu_file *f = NULL;

	pthread_mutex_lock(&sys_lock);
	if (fd >= 0 && fd < KEMU_FDS) {
		f = fds[fd];
		fds[fd] = NULL;
	}
	pthread_mutex_unlock(&sys_lock);
	if (f)
		kemu_close(f);
	return close(fd);
}

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* Level-triggered readiness of fake fds, by asking d_poll every millisecond. */
int kemu_sys_poll(struct pollfd *pfd, nfds_t n, int timeout_ms)
{
	long long end = now_us() + (long long)timeout_ms * 1000;
	int any = 0, ready;
	nfds_t i;

	for (i = 0; i < n; i++)
		any |= fake(pfd[i].fd) != NULL;
	if (!any)
		return poll(pfd, n, timeout_ms);
	for (;;) {
		ready = 0;
		for (i = 0; i < n; i++) {
			struct kemu_file *f = fake(pfd[i].fd);
			struct pollfd one = pfd[i];

			if (f)
				pfd[i].revents = (short)kemu_poll(f, pfd[i].events);
			else if (poll(&one, 1, 0) >= 0)
				pfd[i].revents = one.revents;
			ready += pfd[i].revents != 0;
		}
		if (ready || (timeout_ms >= 0 && now_us() >= end))
			return ready;
		usleep(1000);
	}
}
