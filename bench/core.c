/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * core.c - the protocol alone ("core rtt"): the same 8-byte echo as "kup
 * rtt", over two core ends (kup_end_*) on one channel's memory in this
 * process.  No API entry, handle or flag checks, unload gate, session rule
 * or loans: what the protocol itself costs, measured in the same rounds as
 * the bare turn and KUP, so a ratio splits into the design's floor and what
 * the layers above it add (docs/bench.md).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"
#include "../tests/unit/futex_host.h"

struct core_ctx {
	/* Each side's end on lines of its own, as the hosts keep them. */
	struct kup_end u __attribute__((aligned(128))); /* client: the process */
	uint64_t sink;
	struct kup_end k __attribute__((aligned(128))); /* server: the kern side */
	int started;
	uint8_t *mem; /* kern block, k2u page, user block, u2k page */
	uint8_t *src, *copy;
	size_t size;
	int flags;
} __attribute__((aligned(128)));

static int core_sleep(struct kup_end *e, const uint32_t *tw, uint32_t seen, int64_t timeout_ns)
{
	(void)e;
	return futex_host_sleep(tw, seen, timeout_ns);
}

static void core_wake(struct kup_end *e, uint32_t bits)
{
	(void)bits;
	futex_host_wake(e);
}

static const struct kup_host_ops core_ops = {.sleep = core_sleep, .wake = core_wake};

void *core_rt_new(int poll, int block, size_t size)
{
	struct core_ctx *c;
	uint8_t *kb, *ub;

	if (size > KUP_PAGE || posix_memalign((void **)&c, 128, sizeof(*c)))
		return NULL;
	memset(c, 0, sizeof(*c));
	c->mem = bench_alloc(4 * KUP_PAGE);
	kb = c->mem;
	ub = c->mem + 2 * KUP_PAGE;
	c->src = bench_alloc(KUP_PAGE);
	c->copy = bench_alloc(KUP_PAGE);
	memset(c->src, 0x11, size ? size : 1);
	c->size = size;
	c->flags = poll ? KUPC_POLL : 0;
	kup_chan_format(kb, ub, 1, 0, 1);
	kup_end_init(&c->k, KUP_SIDE_KERN, kb, ub, 1, &core_ops, NULL);
	kup_end_init(&c->u, KUP_SIDE_USER, kb, ub, 1, &core_ops, NULL);
	c->k.rx_copy = c->copy;
	if (block)
		c->k.spin_ns = c->u.spin_ns = 0;
	return c;
}

void core_rt_free(void *arg)
{
	struct core_ctx *c = arg;

	munmap(c->mem, 4 * KUP_PAGE);
	munmap(c->src, KUP_PAGE);
	munmap(c->copy, KUP_PAGE);
	free(c);
}

/* As kup.c's client: send, receive the reply in place and read it; stop: an empty message. */
static int core_rt(void *arg, int stop)
{
	struct core_ctx *c = arg;
	const void *d;
	uint32_t len;

	if (kup_end_send(&c->u, c->src, stop ? 0 : c->size, c->flags, TMO_NS))
		return -1;
	if (kup_end_recv(&c->u, c->flags, TMO_NS, &d, &len, 0))
		return -1;
	c->sink += bench_read(d, len);
	return stop || len == c->size ? 0 : -1;
}

/* As kup.c's server: receive into a private copy, answer from it; an empty message ends a block. */
static int core_serve(void *arg)
{
	struct core_ctx *c = arg;
	const void *d;
	uint32_t len;

	if (!c->started && kup_end_pass(&c->k, c->flags, TMO_NS))
		return -1;
	c->started = 1;
	for (;;) {
		if (kup_end_recv(&c->k, c->flags, TMO_NS, &d, &len, 1))
			return -1;
		if (kup_end_send(&c->k, d, len, c->flags, TMO_NS))
			return -1;
		if (!len)
			return 0;
	}
}

const struct pp_ops core_rt_ops = {.rt = core_rt, .serve = core_serve};
