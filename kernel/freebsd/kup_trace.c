/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_trace.c - kup.ko's SDT probes, provider kup (dtrace -l -P kup): the
 * kernel side's view of each channel, the twins of kernel/linux's
 * tracepoints.  Core fires send, receive and proto-error through
 * kup_plat.h's KUP_TRACE_* hooks, the host the others.
 *
 *   kup::chan:attach        name chan pid
 *   kup::chan:detach        name chan pid code
 *   kup::chan:send          name chan len        (a pass: len 0)
 *   kup::chan:receive       name chan len
 *   kup::chan:sleep         name chan timeout_ns
 *   kup::chan:wakeup        name chan bits       (the kern side wakes the process)
 *   kup::chan:proto-error   name chan what val
 *   kup::dev:unload         name channels
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kernel.h>
#include <sys/lock.h>
#include <sys/mutex.h>
#include <sys/sdt.h>

#include "kup_host.h"

SDT_PROVIDER_DEFINE(kup);
SDT_PROBE_DEFINE3(kup, , chan, attach, "char *", "uint32_t", "pid_t");
SDT_PROBE_DEFINE4(kup, , chan, detach, "char *", "uint32_t", "pid_t", "int");
SDT_PROBE_DEFINE3(kup, , chan, send, "char *", "uint32_t", "uint32_t");
SDT_PROBE_DEFINE3(kup, , chan, receive, "char *", "uint32_t", "uint32_t");
SDT_PROBE_DEFINE3(kup, , chan, sleep, "char *", "uint32_t", "int64_t");
SDT_PROBE_DEFINE3(kup, , chan, wakeup, "char *", "uint32_t", "uint32_t");
SDT_PROBE_DEFINE4(kup, , chan, proto__error, "char *", "uint32_t", "char *", "uint32_t");
SDT_PROBE_DEFINE2(kup, , dev, unload, "char *", "uint32_t");

/*
 * Every kern-side end of kup.ko is the e of a struct kup_chan, itself the
 * c of a struct kup_kchan.  Only evaluated while a probe is enabled.
 */
static const struct kup_kchan *kup_sdt_chan_of(const struct kup_end *e)
{
	const struct kup_chan *c = __containerof(e, struct kup_chan, e);

	return (__containerof(c, struct kup_kchan, c));
}

const char *kup_sdt_name(const struct kup_end *e)
{
	return (kup_sdt_chan_of(e)->sc->name);
}

uint32_t kup_sdt_chan(const struct kup_end *e)
{
	return (kup_sdt_chan_of(e)->id);
}
