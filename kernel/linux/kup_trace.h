/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_trace.h - kup.ko's tracepoints (events/kup/ in tracefs): the kernel
 * side's view of each channel.  kup_trace.c defines them
 * (CREATE_TRACE_POINTS); core calls them through kup_plat.h's KUP_TRACE_*
 * hooks (send, receive, protocol error), the host at attach, detach,
 * sleep, wake-up and unload.  Disabled, each is a patched-out jump.
 *
 *   kup_attach   a process attached a channel        name chan pid
 *   kup_detach   the process let it go               name chan pid code
 *   kup_send     the module sent (a pass: len 0)     name chan len
 *   kup_recv     the module received a message       name chan len
 *   kup_sleep    a kern-side call goes to sleep      name chan timeout_ns
 *   kup_wake     the kern side wakes the process     name chan bits
 *   kup_proto    the process broke the protocol      name chan what val
 *   kup_unload   kupdev_unload of a device           name channels
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM kup

#if !defined(KUP_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define KUP_TRACE_H

#include <linux/tracepoint.h>

struct kup_end;
struct kupdev_softc;

/* Fill the name and chan of an event from a kern side's end (kup_trace.c). */
void kup_trace_who(const struct kup_end *e, char *name, u32 *chan);

/* The TRACE_EVENT macros read best laid out by hand. */
/* clang-format off */
DECLARE_EVENT_CLASS(kup_chan_class,
                    TP_PROTO(const struct kup_end *e, u32 v),
                    TP_ARGS(e, v),
                    TP_STRUCT__entry(__array(char, name, 64) __field(u32, chan) __field(u32, v)),
                    TP_fast_assign(kup_trace_who(e, __entry->name, &__entry->chan);
                                   __entry->v = v;),
                    TP_printk("%s chan=%u len=%u", __entry->name, __entry->chan, __entry->v));

DEFINE_EVENT(kup_chan_class, kup_send, TP_PROTO(const struct kup_end *e, u32 v), TP_ARGS(e, v));
DEFINE_EVENT(kup_chan_class, kup_recv, TP_PROTO(const struct kup_end *e, u32 v), TP_ARGS(e, v));

TRACE_EVENT(kup_attach,
            TP_PROTO(const struct kup_end *e, int pid),
            TP_ARGS(e, pid),
            TP_STRUCT__entry(__array(char, name, 64) __field(u32, chan) __field(int, pid)),
            TP_fast_assign(kup_trace_who(e, __entry->name, &__entry->chan);
                           __entry->pid = pid;),
            TP_printk("%s chan=%u pid=%d", __entry->name, __entry->chan, __entry->pid));

TRACE_EVENT(kup_detach,
            TP_PROTO(const struct kup_end *e, int pid, int code),
            TP_ARGS(e, pid, code),
            TP_STRUCT__entry(__array(char, name, 64) __field(u32, chan) __field(int, pid)
                                 __field(int, code)),
            TP_fast_assign(kup_trace_who(e, __entry->name, &__entry->chan);
                           __entry->pid = pid; __entry->code = code;),
            TP_printk("%s chan=%u pid=%d code=%d", __entry->name, __entry->chan, __entry->pid,
                      __entry->code));

TRACE_EVENT(kup_sleep,
            TP_PROTO(const struct kup_end *e, s64 timeout_ns),
            TP_ARGS(e, timeout_ns),
            TP_STRUCT__entry(__array(char, name, 64) __field(u32, chan) __field(s64, timeout_ns)),
            TP_fast_assign(kup_trace_who(e, __entry->name, &__entry->chan);
                           __entry->timeout_ns = timeout_ns;),
            TP_printk("%s chan=%u timeout_ns=%lld", __entry->name, __entry->chan,
                      (long long)__entry->timeout_ns));

TRACE_EVENT(kup_wake,
            TP_PROTO(const struct kup_end *e, u32 bits),
            TP_ARGS(e, bits),
            TP_STRUCT__entry(__array(char, name, 64) __field(u32, chan) __field(u32, bits)),
            TP_fast_assign(kup_trace_who(e, __entry->name, &__entry->chan);
                           __entry->bits = bits;),
            TP_printk("%s chan=%u bits=0x%x", __entry->name, __entry->chan, __entry->bits));

TRACE_EVENT(kup_proto,
            TP_PROTO(const struct kup_end *e, const char *what, u32 val),
            TP_ARGS(e, what, val),
            TP_STRUCT__entry(__array(char, name, 64) __field(u32, chan) __array(char, what, 16)
                                 __field(u32, val)),
            TP_fast_assign(kup_trace_who(e, __entry->name, &__entry->chan);
                           strscpy(__entry->what, what, sizeof(__entry->what));
                           __entry->val = val;),
            TP_printk("%s chan=%u %s=0x%x", __entry->name, __entry->chan, __entry->what,
                      __entry->val));

TRACE_EVENT(kup_unload,
            TP_PROTO(const char *name, u32 chan_cnt),
            TP_ARGS(name, chan_cnt),
            TP_STRUCT__entry(__array(char, name, 64) __field(u32, chan_cnt)),
            TP_fast_assign(strscpy(__entry->name, name, sizeof(__entry->name));
                           __entry->chan_cnt = chan_cnt;),
            TP_printk("%s channels=%u", __entry->name, __entry->chan_cnt));

/* clang-format on */

#endif /* KUP_TRACE_H */

/* define_trace.h finds this file on the include path (kernel/linux comes first). */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE kup_trace
#include <trace/define_trace.h>
