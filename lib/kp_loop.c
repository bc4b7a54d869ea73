/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kp_loop.c - kernproxy_loop_*: run a callback per channel when its turn
 * arrives (a stream channel: when records are queued), on poll() over the
 * channels' readiness fds.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "kp_backend.h"

#define KP_API __attribute__((visibility("default")))

#define KP_LOOP_MAGIC 0x4b504c50u /* "KPLP" */

struct kp_loop_ent {
	void *chan;
	kernproxy_callback cb;
	void *arg;
};

struct kp_loop {
	uint32_t magic;
	struct kp_loop_ent *ent;
	size_t cnt, cap;
	/* A pass's scratch, kept between passes: no allocation per pass. */
	struct kp_loop_ent *snap;
	struct pollfd *pfd;
	int *due;
	size_t scap;
	int running; /* inside kernproxy_loop_run: the scratch is in use */
};

static struct kp_loop *loop_get(void *l)
{
	struct kp_loop *lp = l;

	if (!lp || lp->magic != KP_LOOP_MAGIC) {
		kernproxy_errno = EKU_INVAL;
		return NULL;
	}
	return lp;
}

KP_API void *kernproxy_loop_new(void)
{
	struct kp_loop *lp = calloc(1, sizeof(*lp));

	if (!lp) {
		kernproxy_errno = EKU_NOMEM;
		return NULL;
	}
	lp->magic = KP_LOOP_MAGIC;
	return lp;
}

static ssize_t loop_find(struct kp_loop *lp, void *chan)
{
	size_t i;

	for (i = 0; i < lp->cnt; i++)
		if (lp->ent[i].chan == chan)
			return (ssize_t)i;
	return -1;
}

KP_API int kernproxy_loop_add(void *loop, void *channel, kernproxy_callback cb, void *arg)
{
	struct kp_loop *lp = loop_get(loop);

	if (!lp)
		return -1;
	if (!cb || kernproxy_capacity(channel) == 0 || loop_find(lp, channel) >= 0) {
		kernproxy_errno = EKU_INVAL;
		return -1;
	}
	if (lp->cnt == lp->cap) {
		size_t ncap = lp->cap ? 2 * lp->cap : 8;
		struct kp_loop_ent *n = realloc(lp->ent, ncap * sizeof(*n));

		if (!n) {
			kernproxy_errno = EKU_NOMEM;
			return -1;
		}
		lp->ent = n;
		lp->cap = ncap;
	}
	lp->ent[lp->cnt++] = (struct kp_loop_ent){.chan = channel, .cb = cb, .arg = arg};
	return 0;
}

KP_API int kernproxy_loop_remove(void *loop, void *channel)
{
	struct kp_loop *lp = loop_get(loop);
	ssize_t i;

	if (!lp)
		return -1;
	i = loop_find(lp, channel);
	if (i < 0) {
		kernproxy_errno = EKU_INVAL;
		return -1;
	}
	/* Keep the order: a pass in progress walks a snapshot by channel. */
	memmove(&lp->ent[i], &lp->ent[i + 1], (lp->cnt - (size_t)i - 1) * sizeof(*lp->ent));
	lp->cnt--;
	return 0;
}

/* Run chan's callback if it is due.  1 when a callback ran. */
static int loop_dispatch(struct kp_loop *lp, struct kp_loop_ent ent, int failed)
{
	size_t len = 0;
	void *data;
	int err, r;

	if (loop_find(lp, ent.chan) < 0)
		return 0; /* an earlier callback removed it */
	if (failed) {
		err = failed;
	} else if (((struct kp_chan *)ent.chan)->e.stream) {
		/* A stream channel: records are queued; the callback takes them itself. */
		r = kp_stream_ready(ent.chan);
		if (r > 0) {
			ent.cb(ent.chan, NULL, 0, 0, ent.arg);
			return 1;
		}
		if (r == 0)
			return 0; /* spurious readiness */
		err = kernproxy_errno;
	} else {
		data = kernproxy_receive_len(ent.chan, &len, KP_NB);
		if (data) {
			ent.cb(ent.chan, data, len, 0, ent.arg);
			return 1;
		}
		err = kernproxy_errno;
		if (err == EKU_NOTREADY)
			return 0; /* spurious readiness */
	}
	kernproxy_loop_remove(lp, ent.chan);
	ent.cb(ent.chan, NULL, 0, err, ent.arg);
	return 1;
}

/* Room for n entries in the scratch arrays; never called during a pass. */
static int loop_scratch(struct kp_loop *lp, size_t n)
{
	struct kp_loop_ent *snap;
	struct pollfd *pfd;
	int *due;

	if (n <= lp->scap)
		return 0;
	snap = realloc(lp->snap, lp->cap * sizeof(*snap));
	if (snap)
		lp->snap = snap;
	pfd = realloc(lp->pfd, lp->cap * sizeof(*pfd));
	if (pfd)
		lp->pfd = pfd;
	due = realloc(lp->due, lp->cap * sizeof(*due));
	if (due)
		lp->due = due;
	if (!snap || !pfd || !due)
		return -1;
	lp->scap = lp->cap;
	return 0;
}

/* One pass over a snapshot of the n channels in lp->snap. */
static int loop_pass(struct kp_loop *lp, size_t n, int timeout_ms)
{
	struct kp_loop_ent *snap = lp->snap;
	struct pollfd *pfd = lp->pfd;
	int *due = lp->due;
	int ready = 0, ran = 0, r;
	size_t i;

	/* Arm each channel: announces the wait, or says the turn is here already. */
	for (i = 0; i < n; i++) {
		pfd[i].fd = kernproxy_fd(snap[i].chan);
		pfd[i].events = POLLIN;
		pfd[i].revents = 0;
		r = pfd[i].fd < 0 ? -1 : kernproxy_arm(snap[i].chan);
		due[i] = 0;
		if (r != 0) {
			due[i] = r < 0 ? (kernproxy_errno ? kernproxy_errno : EKU_INVAL) : -1;
			ready++;
		}
	}
	if (!ready) {
		do
			r = poll(pfd, n, timeout_ms);
		while (r < 0 && errno == EINTR);
		if (r < 0) {
			kernproxy_errno = EKU_SYS;
			return -1;
		}
		for (i = 0; i < n; i++)
			if (pfd[i].revents)
				due[i] = -1;
	}
	for (i = 0; i < n; i++)
		if (due[i])
			ran += loop_dispatch(lp, snap[i], due[i] > 0 ? due[i] : 0);
	return ran;
}

KP_API int kernproxy_loop_run(void *loop, int timeout_ms)
{
	struct kp_loop *lp = loop_get(loop);
	int ran;

	if (!lp)
		return -1;
	if (lp->running) { /* from one of its own callbacks */
		kernproxy_errno = EKU_BUSY;
		return -1;
	}
	if (lp->cnt == 0) {
		kernproxy_errno = EKU_INVAL;
		return -1;
	}
	if (loop_scratch(lp, lp->cnt)) {
		kernproxy_errno = EKU_NOMEM;
		return -1;
	}
	memcpy(lp->snap, lp->ent, lp->cnt * sizeof(*lp->snap));
	lp->running = 1;
	ran = loop_pass(lp, lp->cnt, timeout_ms);
	lp->running = 0;
	return ran;
}

KP_API void kernproxy_loop_free(void *loop)
{
	struct kp_loop *lp = loop_get(loop);

	if (!lp)
		return;
	lp->magic = KP_DEAD_MAGIC;
	free(lp->snap);
	free(lp->pfd);
	free(lp->due);
	free(lp->ent);
	free(lp);
}
