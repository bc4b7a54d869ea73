/* SPDX-License-Identifier: BSD-2-Clause */
/* kup_err.c - one string per EKU_* code, shared by every host. */
#include "kup_core.h"

static const char *const kup_errstr[EKU_MAX] = {
    [EKU_OK] = "success",
    [EKU_NOTREADY] = "not ready: the peer holds the turn",
    [EKU_SHUTDOWN] = "the device is shutting down",
    [EKU_CLOSED] = "the peer closed the channel",
    [EKU_TOOBIG] = "message larger than the channel capacity",
    [EKU_BADSIZE] = "size does not match the device's channel size",
    [EKU_BUSY] = "channel in use by another process",
    [EKU_NOENT] = "no such KUP device",
    [EKU_RANGE] = "channel id out of range",
    [EKU_INVAL] = "invalid argument or handle",
    [EKU_TIMEDOUT] = "timed out",
    [EKU_INTR] = "interrupted by a signal",
    [EKU_PROTO] = "protocol violation: corrupt shared memory",
    [EKU_NOMEM] = "out of memory",
    [EKU_PERM] = "permission denied",
    [EKU_ABI] = "KUP ABI version mismatch",
    [EKU_EXIST] = "a device of that name exists",
    [EKU_SYS] = "system error",
    [EKU_NOTURN] = "not holding the turn (a commit, a send_recv)",
};

const char *kup_core_strerror(int code)
{
	/* Unsigned: -INT_MIN does not fit in an int. */
	unsigned int c = code < 0 ? 0u - (unsigned int)code : (unsigned int)code;

	if (c >= EKU_MAX || !kup_errstr[c])
		return "unknown KUP error";
	return kup_errstr[c];
}
