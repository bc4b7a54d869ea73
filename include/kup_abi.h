/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_abi.h - the shared-memory layout and device ABI of KUP.
 *
 * One definition for every host: the Linux and FreeBSD modules, the
 * user-mode provider and libkup.  Every shared field says who writes it
 * (W:) and who reads it (R:).  "kern" is the side that created the device
 * (a kernel module, or a provider process); "user" is the attached process.
 *
 * A channel of `size` pages is a mapping of 2 * (1 + size) layout pages:
 *
 *   offset 0                kern block: kern control page   (read-write to user)
 *                           then `size` pages of kern-to-user data
 *                                                           (read-only to user)
 *   offset (1 + size) pages user block: user control page, then `size`
 *                           pages of user-to-kern data      (read-write to user)
 *
 * Each side writes only its own block.  The kern side never relies on a
 * word of its control page after writing it: it keeps its own copies, and
 * reads that page back only to answer the process's own readiness (poll,
 * KUP_IOC_WAIT), so a process that writes there misleads only itself.  The
 * process may therefore map the kern control page read-write, which it
 * polls: on some CPUs a read-only mapping of a line another CPU writes
 * makes every turn slower (docs/bench.md, "read-only turn").  The kern
 * data pages stay read-only: a module may read back what it wrote there
 * (a zero-copy send buffer).
 *
 * Turn word (tw): one 32-bit word per side, seq << 2 | state.  seq counts
 * the messages that side has published (mod 2^30); state is the side's
 * lifecycle state.  The kern side has the turn when user.seq == kern.seq,
 * the user side when kern.seq == user.seq + 1: a new channel starts with
 * the kernel's turn.  Packing state into the same word lets a sleeper wait
 * on one word (a futex, or a wait-queue condition) for both "the turn
 * arrived" and "the peer went away".
 */
#ifndef KUP_ABI_H
#define KUP_ABI_H

#if defined(__KERNEL__) && defined(__linux__)
#include <linux/types.h>
#include <linux/ioctl.h>
#elif defined(_KERNEL) && defined(__FreeBSD__)
#include <sys/types.h>
#include <sys/ioccom.h>
#else
#include <stdint.h>
#include <stddef.h>
#ifdef __FreeBSD__
#include <sys/ioccom.h>
#else
#include <sys/ioctl.h>
#endif
#endif

#define KUP_MAGIC        0x3150554bu /* "KUP1" little-endian */
#define KUP_ABI_VERSION  2u /* 2: small messages inline in the turn line */
#define KUP_PAGE         4096u  /* layout unit; hosts with other page sizes refuse */
#define KUP_CACHELINE    128u   /* two 64-byte lines: defeats adjacent-line prefetch */
#define KUP_NAME_MAX     64u    /* device name bytes, including the NUL */
#define KUP_MAX_SIZE     16384u /* pages per direction: 64 MiB */
#define KUP_MAX_CHANNELS 4096u

/*
 * Error codes, shared by every host and both APIs.  libkup reports them
 * through kernproxy_errno / kernproxy_error(); kupdev_* calls return them
 * negated (-EKU_TOOBIG), like kernel errno values.  Strings: kup_strerror().
 */
#define EKU_OK       0
#define EKU_NOTREADY 1  /* not our turn (KP_NB), or the device is not ready */
#define EKU_SHUTDOWN 2  /* the device is unloading */
#define EKU_CLOSED   3  /* the peer closed, detached or died */
#define EKU_TOOBIG   4  /* message larger than the channel capacity */
#define EKU_BADSIZE  5  /* size does not match the device's channel size */
#define EKU_BUSY     6  /* channel attached by another process / in use */
#define EKU_NOENT    7  /* no such device */
#define EKU_RANGE    8  /* channel id out of range */
#define EKU_INVAL    9  /* invalid argument or handle (NULL, closed, wrong kind) */
#define EKU_TIMEDOUT 10 /* the timeout expired */
#define EKU_INTR     11 /* interrupted by a signal */
#define EKU_PROTO    12 /* the peer broke the protocol (corrupt shared memory) */
#define EKU_NOMEM    13 /* out of memory */
#define EKU_PERM     14 /* permission denied */
#define EKU_ABI      15 /* ABI version mismatch */
#define EKU_EXIST    16 /* a device of that name exists already */
#define EKU_SYS      17 /* other system error: see errno */
#define EKU_NOTURN   18 /* a commit or send_recv without holding the turn */
#define EKU_MAX      19

/* Turn word. */
#define KUP_TW_STATE_MASK 3u
#define KUP_TW_SEQ_SHIFT  2
#define KUP_TW(seq, st)   ((uint32_t)((seq) << KUP_TW_SEQ_SHIFT) | (uint32_t)(st))
#define KUP_TW_SEQ(tw)    ((uint32_t)(tw) >> KUP_TW_SEQ_SHIFT)
#define KUP_TW_STATE(tw)  ((uint32_t)(tw)&KUP_TW_STATE_MASK)
#define KUP_SEQ_MASK      0x3fffffffu

/* Side states, in the low bits of tw. */
#define KUP_ST_OPEN     0u /* attached and exchanging */
#define KUP_ST_CLOSING  1u /* this side closed, died or broke the channel */
#define KUP_ST_SHUTDOWN 2u /* kern only: the device is unloading */
/* 3 is never valid: a reader that sees it has found corrupt memory. */

/* Waiter bits in kup_side.wait: set by a side before it sleeps. */
#define KUP_WAIT_SLEEP 1u /* a thread is (about to be) asleep on the peer's tw */
#define KUP_WAIT_FD    2u /* user only: a readiness fd is armed (poll/kqueue) */
#define KUP_WAIT_MASK  3u

/*
 * Small messages travel in the turn's own cache line: a reader that sees
 * the turn has the payload on the same line, and a round trip moves one
 * line each way.  len says where message seq is: KUP_LEN_INLINE | n (n <=
 * KUP_INLINE) in inl[], else n (<= capacity) bytes at the start of the
 * side's data pages.
 */
#define KUP_INLINE     48u
#define KUP_LEN_INLINE 0x80000000u

/* One side's words, one 64-byte line.  W: that side.  R: both. */
struct kup_side {
	uint32_t tw;   /* seq << 2 | state; store-release after len and payload */
	uint32_t len;  /* message seq: n, or KUP_LEN_INLINE | n (then in inl) */
	uint32_t wait; /* KUP_WAIT_* bits */
	uint32_t spare;
	uint8_t inl[KUP_INLINE]; /* payload of an inline message */
};

/* Geometry.  W: kern, once, before the channel is handed out.  R: user. */
struct kup_hdr {
	uint32_t magic;    /* KUP_MAGIC, store-release last */
	uint32_t abi;      /* KUP_ABI_VERSION */
	uint32_t page;     /* KUP_PAGE */
	uint32_t size;     /* data pages per direction */
	uint32_t cap;      /* data bytes per direction: size * KUP_PAGE */
	uint32_t chan;     /* channel id */
	uint32_t chan_cnt; /* channels on the device */
	uint32_t flags;    /* KUP_HDR_STREAM or 0; written at attach, before the user maps */
};

/*
 * Streaming (docs/protocol.md, "Streaming").  A channel attached with
 * KUP_ATTACH_STREAM carries a ring of records in each direction instead of
 * the turn: each side's data pages hold the ring it produces into (its
 * first KUP_STREAM_RING(cap) bytes, a power of two), and each side's
 * control page holds, from KUP_STREAM_OFF, its stream words, one 128-byte
 * line each.  A record is a struct kup_rec header, then len payload bytes,
 * then padding to KUP_REC_ALIGN; a record may wrap past the ring's end
 * (headers never do).  Positions are byte counts, free running mod 2^32.
 */
#define KUP_HDR_STREAM 0x1u  /* kup_hdr.flags: this attach is a stream channel */
#define KUP_STREAM_OFF 1024u /* stream words in each control page: lines 8, 9, 10 */
#define KUP_REC_ALIGN  8u

/* Stream wait bits (kup_stream_side.wait): KUP_WAIT_SLEEP, KUP_WAIT_FD, and: */
#define KUP_SW_RECV      0x4u /* waits for records to read */
#define KUP_SW_SEND      0x8u /* waits for `need` bytes of room in its own ring */
#define KUP_SW_GEN_SHIFT 8    /* bits 8..31: a count of announcements */

/* One side's stream words.  W: that side.  R: both (untrusted on the kern side). */
struct kup_stream_side {
	uint32_t prod; /* line 0: bytes produced into our ring; store-release after the records */
	uint8_t pad0[KUP_CACHELINE - 4];
	uint32_t cons; /* line 1: bytes taken from the peer's ring; store-release after copy-out */
	uint8_t pad1[KUP_CACHELINE - 4];
	uint32_t wait; /* line 2: gen << KUP_SW_GEN_SHIFT | KUP_SW_* | KUP_WAIT_* */
	uint32_t need; /* record bytes a KUP_SW_SEND waiter needs room for */
	uint8_t pad2[KUP_CACHELINE - 8];
};

/* A record header in a ring.  W: the ring's producer.  R: its consumer. */
struct kup_rec {
	uint32_t len; /* payload bytes; <= ring - sizeof(struct kup_rec) */
	uint32_t pos; /* the producer position of this header: a check against lost framing */
};

/* The ring bytes of a direction of cap bytes: the largest power of two <= cap. */
#define KUP_STREAM_RING(cap) ((uint32_t)1u << (31 - __builtin_clz((uint32_t)(cap))))

/* One message of a batch (kupdev_stream_*, kernproxy_stream_*). */
struct kup_iovec {
	void *base;
	size_t len;
};

/* The kern control page (first page of the kern block). */
struct kup_kctl {
	struct kup_hdr hdr; /* line 0: written once */
	uint8_t pad0[KUP_CACHELINE - sizeof(struct kup_hdr)];
	struct kup_side k; /* line 1: kern's hot words */
	uint8_t pad1[KUP_STREAM_OFF - KUP_CACHELINE - sizeof(struct kup_side)];
	struct kup_stream_side s; /* lines 8-10: kern's stream words */
	uint8_t pad2[KUP_PAGE - KUP_STREAM_OFF - sizeof(struct kup_stream_side)];
};

/* The user control page (first page of the user block). */
struct kup_uctl {
	struct kup_side u; /* line 0: user's hot words */
	uint8_t pad0[KUP_STREAM_OFF - sizeof(struct kup_side)];
	struct kup_stream_side s; /* lines 8-10: user's stream words */
	uint8_t pad1[KUP_PAGE - KUP_STREAM_OFF - sizeof(struct kup_stream_side)];
};

_Static_assert(sizeof(struct kup_side) == 64, "kup_side is one 64-byte line");
_Static_assert(sizeof(struct kup_hdr) == 32, "kup_hdr layout");
_Static_assert(sizeof(struct kup_kctl) == KUP_PAGE, "kctl is one page");
_Static_assert(sizeof(struct kup_uctl) == KUP_PAGE, "uctl is one page");
_Static_assert(__builtin_offsetof(struct kup_kctl, k) == KUP_CACHELINE, "kern words on line 1");
_Static_assert(__builtin_offsetof(struct kup_kctl, k.tw) % KUP_CACHELINE == 0, "tw aligned");
_Static_assert(__builtin_offsetof(struct kup_uctl, u) == 0, "user words on line 0");
_Static_assert(sizeof(struct kup_stream_side) == 3 * KUP_CACHELINE, "stream words: three lines");
_Static_assert(sizeof(struct kup_rec) == KUP_REC_ALIGN, "record header");
_Static_assert(__builtin_offsetof(struct kup_kctl, s) == KUP_STREAM_OFF, "kern stream words");
_Static_assert(__builtin_offsetof(struct kup_uctl, s) == KUP_STREAM_OFF, "user stream words");
_Static_assert(__builtin_offsetof(struct kup_kctl, s.cons) == KUP_STREAM_OFF + KUP_CACHELINE,
               "consumer position on its own line");
_Static_assert(__builtin_offsetof(struct kup_uctl, s.wait) == KUP_STREAM_OFF + 2 * KUP_CACHELINE,
               "wait word on its own line");

/* Offsets in bytes, within a channel mapping, for a channel of `size` pages. */
#define KUP_OFF_KCTL(size)  0ul
#define KUP_OFF_K2U(size)   ((unsigned long)KUP_PAGE)
#define KUP_OFF_UCTL(size)  ((unsigned long)(1 + (size)) * KUP_PAGE)
#define KUP_OFF_U2K(size)   ((unsigned long)(2 + (size)) * KUP_PAGE)
#define KUP_BLOCK_LEN(size) ((unsigned long)(1 + (size)) * KUP_PAGE)
#define KUP_MAP_LEN(size)   (2 * KUP_BLOCK_LEN(size))
/* 1 when bytes [off, off + len) of a channel mapping hold kern data, which the process
 * may map read-only only (the kern control page and the user block it may write). */
#define KUP_MAP_KERN_DATA(off, len, size)                                                    \
	((off) < KUP_BLOCK_LEN(size) && (off) + (len) > KUP_OFF_K2U(size))

/*
 * Device ioctls (kernel hosts).  One open file of /dev/NAME is either a
 * device handle or, after KUP_IOC_ATTACH, one channel: mmap of that file
 * maps the channel (kern data pages read-only, the kern control page and
 * the user block read-write; never inherited by a child process).
 *
 * poll on a device handle: POLLIN|POLLRDNORM while the kupdev_notify
 * generation differs from the one this file last saw, POLLHUP once the
 * device is unloading.  A file sees the generation at open, when
 * KUP_IOC_INFO returns it (notify) and when KUP_IOC_NOTIFY returns 0.  poll
 * on a channel reports the turn instead (POLLIN: the process's turn;
 * POLLHUP: detached, closing or unloading).  An epoll registration stays
 * on the wait queue it was made on: add a channel's file to an epoll set
 * after KUP_IOC_ATTACH, not before (it would hear only notifies).
 */
struct kup_ioc_info {
	uint32_t abi;      /* out: KUP_ABI_VERSION */
	uint32_t size;     /* out: pages per direction */
	uint32_t chan_cnt; /* out */
	uint32_t notify;   /* out: kupdev_notify generation (this file has seen it) */
	uint32_t state;    /* out: KUP_ST_OPEN or KUP_ST_SHUTDOWN */
	uint32_t spare[3];
};

struct kup_ioc_attach {
	uint32_t abi;       /* in: KUP_ABI_VERSION */
	uint32_t chan;      /* in: channel id; out: the channel attached (KUP_ATTACH_ANY) */
	uint32_t size;      /* in: pages per direction, must match the device */
	uint32_t flags;     /* in: KUP_ATTACH_*; other bits are refused (EINVAL) */
	uint64_t map_len;   /* out: KUP_MAP_LEN(size) */
	int64_t timeout_ns; /* in: KUP_ATTACH_WAIT: longest wait, < 0 forever */
};

/*
 * Attach flags.  Without them the attach is strict: exactly chan, or EBUSY.
 * KUP_ATTACH_ANY: chan when it is free, else the lowest free channel (the
 * seed's first-free attach); EBUSY when none is free.  KUP_ATTACH_WAIT
 * (with ANY): when none is free, sleep until a channel is released (then
 * take it), the device unloads (ESHUTDOWN), timeout_ns passes (ETIMEDOUT)
 * or a signal comes (EINTR).  KUP_ATTACH_STREAM: the attach is a stream
 * channel (see "Streaming" above); the kern side records it in the kern
 * block's hdr.flags before the attach is reported.  Bit 0 is reserved.
 */
#define KUP_ATTACH_ANY    0x2u
#define KUP_ATTACH_WAIT   0x4u
#define KUP_ATTACH_STREAM 0x8u /* a stream channel (kup_hdr.flags gets KUP_HDR_STREAM) */
/* Out only (ignored in): the process may map the kern control page read-write.  A module
 * from before that allows a read-only mapping of the whole kern block only. */
#define KUP_ATTACH_CTL_RW 0x80000000u

struct kup_ioc_wait {
	uint32_t seen; /* in: kern tw the caller saw; sleep while it is unchanged */
	uint32_t spare;
	int64_t timeout_ns; /* in: < 0 forever */
};

#define KUP_IOC_INFO   _IOR('K', 1, struct kup_ioc_info)
#define KUP_IOC_ATTACH _IOWR('K', 2, struct kup_ioc_attach)
#define KUP_IOC_WAIT   _IOW('K', 3, struct kup_ioc_wait) /* user sleeps for its turn */
#define KUP_IOC_WAKE   _IO('K', 4)                       /* user wakes a sleeping kern */
#define KUP_IOC_NOTIFY _IOW('K', 5, struct kup_ioc_wait) /* sleep until notify gen != seen */

/*
 * How the ioctls carry EKU_* codes: one errno each, by name (the numbers
 * are each system's own).  Both kernels return the errno of a code through
 * this table, and libkup maps an errno back through it, so the pairs exist
 * once.  X(code, errno); a code not listed travels as EIO.  EISCONN (this
 * file holds a channel already) is the one errno outside the table: it
 * reads as EKU_INVAL.
 */
#define KUP_IOC_ERRORS(X)                                                                          \
	X(EKU_ABI, EPROTO)                                                                         \
	X(EKU_RANGE, ERANGE)                                                                       \
	X(EKU_BADSIZE, EMSGSIZE)                                                                   \
	X(EKU_BUSY, EBUSY)                                                                         \
	X(EKU_INVAL, EINVAL)                                                                       \
	X(EKU_PERM, EPERM)                                                                         \
	X(EKU_CLOSED, ENOTCONN)                                                                    \
	X(EKU_SHUTDOWN, ESHUTDOWN)                                                                 \
	X(EKU_TIMEDOUT, ETIMEDOUT)                                                                 \
	X(EKU_INTR, EINTR)                                                                         \
	X(EKU_NOMEM, ENOMEM)                                                                       \
	X(EKU_NOENT, ENOTTY) /* not a KUP device */

#endif /* KUP_ABI_H */
