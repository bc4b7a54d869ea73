/* SPDX-License-Identifier: BSD-2-Clause */
/* kup_wire.c - socket paths and message passing shared by libkup and libkupdev. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kup_core.h"
#include "kup_wire.h"

int kw_runtime_dir(char *buf, size_t len)
{
	const char *env = getenv("KUP_RUNTIME_DIR");
	int n;

	if (env && *env)
		n = snprintf(buf, len, "%s", env);
	else if (geteuid() == 0)
		n = snprintf(buf, len, "/run/kup");
	else if ((env = getenv("XDG_RUNTIME_DIR")) && *env)
		n = snprintf(buf, len, "%s/kup", env);
	else
		n = snprintf(buf, len, "/tmp/kup-%u", (unsigned)getuid());
	if (n < 0 || (size_t)n >= len)
		return -EKU_INVAL;
	return 0;
}

int kw_socket_path(char *buf, size_t len, const char *name)
{
	char dir[192];
	int n;

	if (!kup_name_ok(name) || kw_runtime_dir(dir, sizeof(dir)))
		return -EKU_INVAL;
	n = snprintf(buf, len, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= len)
		return -EKU_INVAL;
	return 0;
}

int kw_send(int sock, const struct kw_msg *m, const int *fds, int nfd, int dontwait)
{
	union {
		char buf[CMSG_SPACE(KW_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = (void *)m, .iov_len = sizeof(*m)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;
	ssize_t n;

	if (nfd < 0 || nfd > KW_MAX_FDS)
		return -EINVAL;
	if (nfd) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(nfd * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfd * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfd * sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | (dontwait ? MSG_DONTWAIT : 0));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof(*m))
		return -EMSGSIZE;
	return 0;
}

ssize_t kw_recv(int sock, struct kw_msg *m, int *fds, int max_fd, int *nfd, int dontwait)
{
	union {
		char buf[CMSG_SPACE((KW_MAX_FDS + 1) * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = m, .iov_len = sizeof(*m)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;
	ssize_t n;
	int got = 0;

	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | (dontwait ? MSG_DONTWAIT : 0));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		int *p, k, cnt;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		p = (int *)CMSG_DATA(cm);
		cnt = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (k = 0; k < cnt; k++) {
			int fd;

			memcpy(&fd, p + k, sizeof(fd));
			if (fds && got < max_fd)
				fds[got++] = fd;
			else
				close(fd);
		}
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		/*
		 * fds were lost: the message is useless, drop what did arrive.
		 * The kernel truncates when the receiver is out of descriptors
		 * (RLIMIT_NOFILE); our buffer holds more than any message sends.
		 */
		while (got > 0)
			close(fds[--got]);
		n = -EMFILE;
	}
	if (n > 0 && (mh.msg_flags & MSG_TRUNC)) {
		/* Longer than any message: what arrived is a prefix, malformed whatever it says. */
		while (got > 0)
			close(fds[--got]);
		n = (ssize_t)sizeof(*m) + 1;
	}
	if (nfd)
		*nfd = got;
	return n;
}
