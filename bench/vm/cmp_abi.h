/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cmp_abi.h - what kupcmp.ko (the channels people use today, for `make
 * bench-vm`) and its guest program bench_vm.c agree on.  Included by the
 * module and by the program.
 *
 * /dev/kupcmp, one service per open file, each with its own kernel thread:
 *   write()  hands one message (<= CMP_MAX bytes) to the file's kernel
 *            thread; blocks while the previous one is not taken yet
 *   read()   blocks on a wait queue until the thread has echoed a message
 *            back, and returns it (the whole message; a short buffer: EINVAL)
 *   ioctl    CMP_IOC_ECHO:     echo in the caller's context (copy in, copy out)
 *            CMP_IOC_ECHO_THR: the same message through the file's kernel
 *                              thread, in one system call (write + read)
 *            CMP_IOC_SINK:     copy in and drop, in the caller's context
 *            CMP_IOC_SET_SINK: arg 1: the thread drops what write() hands it
 *                              (read() then has nothing to wait for); 0: echo
 *   The ioctl argument is a struct cmp_msg followed by its bytes.
 *
 * Generic netlink family CMP_GENL_NAME: CMP_C_ECHO answers a message with
 * CMP_A_DATA by a unicast reply carrying the same bytes (same command);
 * CMP_C_SINK takes the bytes and answers nothing (no NLM_F_ACK asked).
 */
#ifndef KUPCMP_ABI_H
#define KUPCMP_ABI_H

#ifdef __KERNEL__
#include <linux/ioctl.h>
#include <linux/types.h>
#else
#include <linux/types.h>
#include <sys/ioctl.h>
#endif

#define CMP_DEV_NAME "kupcmp"
#define CMP_MAX      4096

struct cmp_msg {
	__u32 len; /* bytes in data; the echo rewrites data and len */
	__u32 pad; /* must be 0 */
	__u8 data[];
};

#define CMP_IOC_MAGIC    'q'
#define CMP_IOC_ECHO     _IOWR(CMP_IOC_MAGIC, 1, struct cmp_msg)
#define CMP_IOC_ECHO_THR _IOWR(CMP_IOC_MAGIC, 2, struct cmp_msg)
#define CMP_IOC_SINK     _IOW(CMP_IOC_MAGIC, 3, struct cmp_msg)
#define CMP_IOC_SET_SINK _IO(CMP_IOC_MAGIC, 4)

#define CMP_GENL_NAME    "kupcmp"
#define CMP_GENL_VERSION 1

enum {
	CMP_C_UNSPEC,
	CMP_C_ECHO,
	CMP_C_SINK,
	__CMP_C_MAX,
};

enum {
	CMP_A_UNSPEC,
	CMP_A_DATA, /* binary, <= CMP_MAX bytes */
	__CMP_A_MAX,
};
#define CMP_A_MAX (__CMP_A_MAX - 1)

#endif /* KUPCMP_ABI_H */
