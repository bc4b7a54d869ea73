// SPDX-License-Identifier: BSD-2-Clause
/*
 * kup_trace.c - the one file that defines kup.ko's tracepoints
 * (kup_trace.h), and the helper their records are filled with.
 */
#include "kup_host.h"

#define CREATE_TRACE_POINTS
#include "kup_trace.h"

/*
 * Only called while an event is enabled.  Every kern-side end of kup.ko
 * is the e of a struct kup_chan, itself the c of a struct kup_kchan.
 */
void kup_trace_who(const struct kup_end *e, char *name, u32 *chan)
{
	const struct kup_chan *c = container_of(e, struct kup_chan, e);
	const struct kup_kchan *ch = container_of(c, struct kup_kchan, c);

	strscpy(name, ch->sc->name, KUP_NAME_MAX);
	*chan = ch->id;
}
