/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * futex_host.h - core's sleep and wake over a futex on the peer's turn
 * word, for the unit tests that run both ends of a channel in one process
 * (test_core.c, test_stream.c).
 */
#ifndef FUTEX_HOST_H
#define FUTEX_HOST_H

#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kup_core.h"

/* Core's sleep op: 0 (woken, perhaps spuriously) or -EKU_TIMEDOUT. */
static inline int futex_host_sleep(const uint32_t *tw, uint32_t seen, int64_t timeout_ns)
{
	struct timespec ts, *tp = NULL;

	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tp = &ts;
	}
	if (syscall(SYS_futex, tw, FUTEX_WAIT, seen, tp, NULL, 0) < 0 && errno == ETIMEDOUT)
		return -EKU_TIMEDOUT;
	return 0;
}

/* Core's wake op: the peer sleeps on our turn word. */
static inline void futex_host_wake(struct kup_end *e)
{
	syscall(SYS_futex, &e->mine->tw, FUTEX_WAKE, 1, NULL, NULL, 0);
}

#endif /* FUTEX_HOST_H */
