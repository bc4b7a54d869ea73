/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_wire.h - the user-mode provider's socket protocol, shared by the
 * provider (libkupdev) and its client backend in libkup (kp_prov.c).
 *
 * A provider device NAME is a Unix SOCK_SEQPACKET socket RUNDIR/NAME.
 * Each connection starts with one request that fixes what it is:
 *
 *   KW_INFO   -> a device handle.  The reply (KW_INFO_REPLY) carries abi,
 *                size, chan_cnt, notify generation and state.  The
 *                connection stays open; the provider sends KW_NOTIFY on it
 *                at every kupdev_notify() (notify = the new generation),
 *                and more KW_INFO requests may follow.
 *   KW_ATTACH -> one channel (chan, size, abi, flags: KUP_ATTACH_ANY takes
 *                chan when free, else the lowest free channel;
 *                KUP_ATTACH_WAIT, when every channel is taken, parks the
 *                request until one is released; the client withdraws it by
 *                closing the connection).  The reply
 *                (KW_ATTACH_REPLY) carries status (0 or a positive EKU_*
 *                code), the channel attached (chan) and, on success, the
 *                memfds by SCM_RIGHTS: to a client with KW_CAP_CTL_RW in
 *                caps three, the kern control page (KUP_PAGE bytes,
 *                read-write), the kern data pages (size pages, sealed: the
 *                client can only map them read-only) and the user block
 *                (KUP_BLOCK_LEN(size) bytes); to another two, the kern
 *                block as one memfd (sealed read-only) and the user block.  The connection stays open for
 *                the channel's life: closing it detaches.  Later the
 *                provider sends one-byte wake messages on it when the
 *                client armed KUP_WAIT_FD; it closes it on unload.
 *
 *   KW_STAT   -> the device's live state (core/kup_stat.h's text).  The
 *                reply (KW_STAT_REPLY) carries status, size and chan_cnt
 *                and, on success, one fd by SCM_RIGHTS: a memfd holding
 *                the text, nothing else.  The provider then closes the
 *                connection.  A provider older than KW_STAT closes the
 *                connection without a reply.
 *
 * Messages are fixed-size struct kw_msg, host byte order (same machine).
 */
#ifndef KUP_WIRE_H
#define KUP_WIRE_H

#include <stdint.h>
#include <sys/types.h>

#define KW_MAGIC 0x5750554bu /* "KUPW" */

#define KW_INFO         1
#define KW_INFO_REPLY   2
#define KW_ATTACH       3
#define KW_ATTACH_REPLY 4
#define KW_NOTIFY       5
#define KW_STAT         6
#define KW_STAT_REPLY   7

#define KW_WAKE_BYTE 'w' /* a wake message is this one byte */

struct kw_msg {
	uint32_t magic;  /* KW_MAGIC */
	uint32_t type;   /* KW_* */
	uint32_t status; /* replies: 0 or a positive EKU_* code */
	uint32_t abi;    /* KUP_ABI_VERSION */
	uint32_t chan;
	uint32_t size;
	uint32_t chan_cnt;
	uint32_t notify;
	uint32_t state; /* KUP_ST_OPEN or KUP_ST_SHUTDOWN */
	uint32_t flags; /* KW_ATTACH: KUP_ATTACH_* (kup_abi.h) */
	uint32_t caps;  /* KW_ATTACH: KW_CAP_* of the client (a provider from before ignores it) */
	uint32_t spare;
};

/* The client maps the kern control page read-write from a memfd of its own (kup_abi.h). */
#define KW_CAP_CTL_RW 0x1u

/* Default socket permission bits of a provider device. */
#define KW_DEFAULT_MODE 0600

/*
 * The directory that holds provider sockets: $KUP_RUNTIME_DIR, else
 * /run/kup when euid is 0, else $XDG_RUNTIME_DIR/kup, else /tmp/kup-UID.
 * 0, or -EKU_INVAL when it does not fit in len.
 */
int kw_runtime_dir(char *buf, size_t len);
/* Build RUNDIR/NAME.  0 or -EKU_INVAL. */
int kw_socket_path(char *buf, size_t len, const char *name);

/*
 * Send one message, with nfd fds (0..KW_MAX_FDS) attached.  MSG_NOSIGNAL; blocking
 * unless dontwait.  0, or -errno.
 */
#define KW_MAX_FDS 3 /* an attach reply's memfds */
int kw_send(int sock, const struct kw_msg *m, const int *fds, int nfd, int dontwait);
/*
 * Receive one message.  Attached fds are stored in fds[0..*nfd) (up to
 * max_fd; extra fds are closed; fds get O_CLOEXEC).  Returns the byte
 * count (0 on EOF), or -errno (-EMFILE: sent descriptors could not be
 * installed).  Wake bytes come out as 1-byte messages.  A message longer
 * than struct kw_msg comes out as sizeof(*m) + 1 bytes, its fds closed:
 * malformed to every caller, never its truncated prefix.
 */
ssize_t kw_recv(int sock, struct kw_msg *m, int *fds, int max_fd, int *nfd, int dontwait);

#endif /* KUP_WIRE_H */
