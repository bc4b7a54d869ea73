/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_stat_read.h - reading a device's live state (core/kup_stat.h's text)
 * from userspace: kup.ko's sysfs file (Linux) or sysctl (FreeBSD), or a
 * provider's KW_STAT request.  kupctl and the tests use it; header-only,
 * so each user compiles what it calls.
 */
#ifndef KUP_STAT_READ_H
#define KUP_STAT_READ_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#ifdef __FreeBSD__
#include <sys/types.h>
#include <sys/sysctl.h>
#endif

#include "kup_core.h"
#include "kup_wire.h"

#define KST_SYSFS "/sys/class/kup"

/* A whole file (sysfs: its size is unknown), NUL-terminated; NULL and errno. */
static inline char *kst_read_all(int fd)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap), *nb;
	ssize_t r;

	while (buf) {
		if (cap - n < 2) {
			nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		if (r == 0) {
			buf[n] = '\0';
			return buf;
		}
		n += (size_t)r;
	}
	free(buf);
	return NULL;
}

#ifdef __FreeBSD__
/* kup.ko's sysctl dev.kup.stat: every device's block (its header, then its channels). */
static inline char *kst_kernel_all(void)
{
	size_t len = 0;
	char *buf;

	if (sysctlbyname("dev.kup.stat", NULL, &len, NULL, 0) < 0)
		return NULL;
	len += 4096; /* it may grow between the two calls */
	buf = malloc(len + 1);
	if (!buf)
		return NULL;
	if (sysctlbyname("dev.kup.stat", buf, &len, NULL, 0) < 0) {
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}
#endif

/* kup.ko's text for NAME: NULL when it has no such device. */
static inline char *kst_kernel(const char *name)
{
#ifdef __FreeBSD__
	char head[96], *all = kst_kernel_all(), *p, *end, *text = NULL;
	size_t n;

	if (!all)
		return NULL;
	/* NAME's block: from its header line to the next header. */
	n = (size_t)snprintf(head, sizeof(head), "kup-stat 1 name=%.63s ", name);
	for (p = all; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncmp(p, head, n)) {
			end = strstr(p + 1, "\nkup-stat ");
			n = end ? (size_t)(end + 1 - p) : strlen(p);
			text = malloc(n + 1);
			if (text) {
				memcpy(text, p, n);
				text[n] = '\0';
			}
			break;
		}
	}
	free(all);
	return text;
#else
	char path[256];
	char *text;
	int fd;

	if (!kup_name_ok(name))
		return NULL;
	snprintf(path, sizeof(path), KST_SYSFS "/%.63s/channels", name); /* kup_name_ok */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	text = kst_read_all(fd);
	close(fd);
	return text;
#endif
}

/*
 * A provider's text for NAME (KW_STAT): NULL and *err (a positive EKU_*
 * code; EKU_ABI: a provider older than KW_STAT).
 */
static inline char *kst_provider(const char *name, int *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct kw_msg m = {.magic = KW_MAGIC, .type = KW_STAT, .abi = KUP_ABI_VERSION};
	int fd, mfd = -1, nfd = 0;
	char *text = NULL;
	ssize_t n;

	*err = EKU_NOENT;
	if (kw_socket_path(sa.sun_path, sizeof(sa.sun_path), name))
		return NULL;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = EKU_SYS;
		return NULL;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		*err = errno == EACCES ? EKU_PERM : EKU_NOENT;
		close(fd);
		return NULL;
	}
	*err = EKU_SYS;
	if (kw_send(fd, &m, NULL, 0, 0) == 0) {
		memset(&m, 0, sizeof(m));
		n = kw_recv(fd, &m, &mfd, 1, &nfd, 0);
		if (n == 0)
			*err = EKU_ABI; /* it hung up: no KW_STAT in this provider */
		else if (n == (ssize_t)sizeof(m) && m.type == KW_STAT_REPLY && m.status)
			*err = (int)m.status;
		else if (n == (ssize_t)sizeof(m) && m.type == KW_STAT_REPLY && nfd == 1 &&
		         lseek(mfd, 0, SEEK_SET) == 0)
			text = kst_read_all(mfd);
	}
	if (nfd == 1)
		close(mfd);
	close(fd);
	return text;
}

/* NAME's text from whichever side has it, as libkup picks (kernel first); *backend says which. */
static inline char *kst_fetch(const char *name, const char **backend, int *err)
{
	const char *force = getenv("KUP_BACKEND");
	char *text = NULL;

	*err = EKU_NOENT;
	if (!force || strcmp(force, "provider")) {
		text = kst_kernel(name);
		*backend = "kernel";
	}
	if (!text && (!force || strcmp(force, "kernel"))) {
		text = kst_provider(name, err);
		*backend = "provider";
	}
	return text;
}

/* The value of key in a line of key=value words, into val: 1, or 0 when absent. */
static inline int kst_kv(const char *line, const char *key, char *val, size_t len)
{
	size_t k = strlen(key), i;
	const char *p = line;

	while (*p && *p != '\n') {
		while (*p == ' ')
			p++;
		if (!strncmp(p, key, k) && p[k] == '=') {
			p += k + 1;
			for (i = 0; i + 1 < len && p[i] && p[i] != ' ' && p[i] != '\n'; i++)
				val[i] = p[i];
			val[i] = '\0';
			return 1;
		}
		while (*p && *p != ' ' && *p != '\n')
			p++;
	}
	return 0;
}

static inline unsigned long long kst_u64(const char *line, const char *key)
{
	char v[32];

	return kst_kv(line, key, v, sizeof(v)) ? strtoull(v, NULL, 10) : 0;
}

/* The next line after p, or NULL. */
static inline const char *kst_next(const char *p)
{
	p = strchr(p, '\n');
	return p && p[1] ? p + 1 : NULL;
}

/* The line of channel chan in text, or NULL. */
static inline const char *kst_chan(const char *text, unsigned long long chan)
{
	const char *l;
	char v[32];

	for (l = kst_next(text); l; l = kst_next(l))
		if (kst_kv(l, "chan", v, sizeof(v)) && strtoull(v, NULL, 10) == chan)
			return l;
	return NULL;
}

/* 1 when text starts with a header of a version this reader knows (1: key=value lines). */
static inline int kst_ok(const char *text)
{
	return !strncmp(text, "kup-stat ", 9) && atoi(text + 9) >= 1;
}

#endif /* KUP_STAT_READ_H */
