/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kemu_sys.h - forced into libkup's lib/kp_kdev.c (-include) by the
 * emulated run: its open/ioctl/mmap/munmap/close/poll go to kemu_sys.c,
 * which sends /dev/NAME files to the emulated kup.ko and everything else
 * to the real system calls.  The prototypes are declared first, so the
 * macros only rename calls.
 */
#ifndef KEMU_SYS_H
#define KEMU_SYS_H

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

int kemu_sys_open(const char *path, int flags, ...);
int kemu_sys_ioctl(int fd, unsigned long req, ...);
void *kemu_sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int kemu_sys_munmap(void *addr, size_t len);
int kemu_sys_close(int fd);
int kemu_sys_poll(struct pollfd *pfd, nfds_t n, int timeout_ms);

#define open(...)   kemu_sys_open(__VA_ARGS__)
#define ioctl(...)  kemu_sys_ioctl(__VA_ARGS__)
#define mmap(...)   kemu_sys_mmap(__VA_ARGS__)
#define munmap(...) kemu_sys_munmap(__VA_ARGS__)
#define close(...)  kemu_sys_close(__VA_ARGS__)
#define poll(...)   kemu_sys_poll(__VA_ARGS__)

#endif /* KEMU_SYS_H */
