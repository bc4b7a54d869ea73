/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_stat.h - a kern-side device's live state as text, once for every
 * host.  kup.ko for Linux publishes it in /sys/class/kup/NAME/channels,
 * kup.ko for FreeBSD in the sysctl dev.kup.stat (every device), the provider
 * answers it on its socket (KW_STAT); kupctl reads all three.
 *
 * The format, version 1: a header line, then one line per channel, each a
 * list of space-separated key=value words.  Readers skip keys they do not
 * know; a later version only adds keys (a change of meaning bumps the
 * version).  A host may pad lines with spaces before their newline (the
 * Linux sysfs file makes every line KUP_STAT_LINE bytes, so that each
 * piece of a long read is whole lines): readers ignore trailing spaces.
 *
 *   kup-stat 1 name=NAME size=PAGES channels=N state=open|shutdown
 *   chan=ID pid=PID turn=kern|user|ended|none sent=N received=N
 *     bytes_sent=N bytes_received=N sleeps=N wakeups=N timeouts=N errors=N
 *     proto_errors=N last_err=CODE attaches=N
 *
 * sent, bytes_sent: messages (and their bytes) the kernel side sent to
 * the process; received, bytes_received: the other way.  The counters are
 * the kernel side's (kupdev_stats) over every attach of the channel.
 * pid is the attached process (0: none); turn is whose turn it is on the
 * channel's latest attach (ended: either side closed it; none: no attach
 * to look at: never attached, or detached on FreeBSD, where a detach lets
 * the pages go).  last_err is the positive EKU_* code of the channel's last
 * kupdev_* call (0: it succeeded).
 */
#ifndef KUP_STAT_H
#define KUP_STAT_H

#include "kup_os.h"

#define KUP_STAT_VERSION 1
/* The longest line kup_stat_chan or kup_stat_head writes, its newline included. */
#define KUP_STAT_LINE 400

/* The header line of device d called name, into buf (at least KUP_STAT_LINE bytes): its length. */
uint32_t kup_stat_head(char *buf, const char *name, const struct kup_dev *d);

/*
 * Channel id's line, into buf (at least KUP_STAT_LINE bytes): its length.
 * Called under the device lock (kup_os_dev_lock, or what the host orders
 * attaches with), which keeps kblock and ublock mapped: the blocks of the
 * channel's latest attach, or NULL (none, or no longer readable).  pid:
 * the attached process, 0 for none.
 */
uint32_t kup_stat_chan(char *buf, const struct kup_chan *ch, uint32_t id, int64_t pid,
                       const void *kblock, const void *ublock);

#endif /* KUP_STAT_H */
