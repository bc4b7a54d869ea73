/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_check.c - what every host does alike around the protocol: the rules
 * for a device's name and geometry (so kupdev_create refuses the same
 * things everywhere), the session rule, zero-copy loans and the
 * bookkeeping of counters.
 */
#include "kup_core.h"
#include "kupdev.h"

int kup_name_ok(const char *name)
{
	size_t i;
	char c;

	if (!name || !name[0] || name[0] == '.')
		return 0;
	for (i = 0; name[i]; i++) {
		if (i + 1 >= KUP_NAME_MAX)
			return 0;
		c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

int kup_create_check(const char *name, size_t size, size_t chan_cnt)
{
	if (!kup_name_ok(name))
		return -EKU_INVAL;
	if (size == 0 || size > KUP_MAX_SIZE)
		return -EKU_BADSIZE;
	if (chan_cnt == 0 || chan_cnt > KUP_MAX_CHANNELS)
		return -EKU_RANGE;
	return 0;
}

int kup_attach_check(uint32_t abi, uint32_t flags, uint32_t chan, uint32_t size, uint32_t dev_size,
                     uint32_t chan_cnt)
{
	if (abi != KUP_ABI_VERSION)
		return -EKU_ABI;
	/* KUP_ATTACH_CTL_RW is an answer: a struct passed again after an attach may hold it. */
	if (flags & ~(KUP_ATTACH_ANY | KUP_ATTACH_WAIT | KUP_ATTACH_STREAM | KUP_ATTACH_CTL_RW))
		return -EKU_INVAL; /* reserved */
	if ((flags & KUP_ATTACH_WAIT) && !(flags & KUP_ATTACH_ANY))
		return -EKU_INVAL; /* a strict attach never waits */
	if (chan >= chan_cnt)
		return -EKU_RANGE;
	if (size != dev_size)
		return -EKU_BADSIZE;
	return 0;
}

#define KUP_COUNTERS(X)                                                                            \
	X(sent)                                                                                    \
	X(received)                                                                                \
	X(bytes_sent) X(bytes_received) X(sleeps) X(wakeups) X(timeouts) X(errors) X(proto_errors)

void kup_counters_load(struct kup_counters *dst, const struct kup_counters *src)
{
#define KUP_LOAD(f) dst->f = kup_load_once64(&src->f);
	KUP_COUNTERS(KUP_LOAD)
#undef KUP_LOAD
}

/* Fills every field but attaches, which the host counts. */
void kup_counters_to_stats(struct kupdev_stats *st, const struct kup_counters *c)
{
	st->sent = c->sent;
	st->received = c->received;
	st->bytes_sent = c->bytes_sent;
	st->bytes_received = c->bytes_received;
	st->sleeps = c->sleeps;
	st->wakeups = c->wakeups;
	st->timeouts = c->timeouts;
	st->errors = c->errors;
	st->proto_errors = c->proto_errors;
}

/*
 * self's record, made for a thread new to the channel as on attach cur (it
 * was in no conversation on it).  A full table gives up a slot whose
 * thread was told its attach ended or is on cur (either reads the same as
 * no record); only past KUP_SESS_THREADS threads in older conversations at
 * once is one of those forgotten.
 */
static struct kup_sess_thread *sess_thread(struct kup_session *s, const void *self, uint32_t cur)
{
	struct kup_sess_thread *t, *spare = NULL;
	uint32_t i;

	for (i = 0; i < KUP_SESS_THREADS; i++) {
		t = &s->t[i];
		if (t->who == self)
			return t;
		if (!t->who && !spare)
			spare = t;
	}
	for (i = 0; i < KUP_SESS_THREADS && !spare; i++)
		if (s->t[i].told || s->t[i].gen == cur)
			spare = &s->t[i];
	if (!spare)
		spare = &s->t[0];
	spare->who = self;
	spare->gen = cur;
	spare->told = 0;
	return spare;
}

int kup_session_next(struct kup_session *s, uint32_t cur, uint32_t handed, int holder,
                     const void *self)
{
	int mine = holder && handed == cur;
	struct kup_sess_thread *t;

	if (kup_session_current(s, cur)) {
		/*
		 * The channel is on cur, but self's last call was on an older
		 * attach: it is still in that conversation (a pool thread that was
		 * busy while the holder of cur moved the channel on), and a reply
		 * meant for that process must not reach this one.
		 */
		t = sess_thread(s, self, cur);
		if (t->gen != cur && !t->told && !mine) {
			t->told = 1;
			return -EKU_CLOSED;
		}
		t->gen = cur;
		t->told = 0;
		s->last = self;
		return KUP_SESS_STAY;
	}
	/*
	 * A newer attach.  The caller may talk to it when the module never
	 * talked to an older one, was told the older one ended, or when the
	 * caller is the thread that holds this very attach.  Any other thread
	 * may still be in the older conversation (a pool thread between two
	 * calls, a worker busy with a request): the generations alone cannot
	 * tell it from a new one, so it hears the old end first.
	 */
	if (s->on && !s->told && !mine) {
		s->told = 1;
		t = sess_thread(s, self, s->egen);
		t->told = 1;
		return -EKU_CLOSED;
	}
	s->egen = cur;
	s->on = 1;
	s->told = 0;
	t = sess_thread(s, self, cur);
	t->gen = cur;
	t->told = 0;
	s->last = self;
	return KUP_SESS_MOVE;
}

void kup_session_told(struct kup_session *s, const void *self)
{
	if (!s->on)
		return;
	s->told = 1;
	sess_thread(s, self, s->egen)->told = 1;
}

void *kup_loan_end(struct kup_loans *l, const void *who)
{
	void *mem;
	uint32_t i;

	for (i = 0; i < KUP_LOANS; i++) {
		if (l->who[i] != who)
			continue;
		mem = l->mem[i];
		l->who[i] = NULL;
		l->mem[i] = NULL;
		l->n--;
		return mem; /* a thread holds at most one slot */
	}
	return NULL;
}

void kup_loan_take(struct kup_loans *l, const void *who)
{
	uint32_t i;

	for (i = 0; i < KUP_LOANS; i++) {
		if (!l->who[i]) {
			l->who[i] = who;
			l->mem[i] = NULL;
			l->n++;
			return;
		}
	}
}

uint32_t kup_loan_retire(struct kup_loans *l, void *old)
{
	uint32_t i, k = 0;

	for (i = 0; i < KUP_LOANS; i++) {
		if (l->who[i] && !l->mem[i]) {
			l->mem[i] = old;
			k++;
		}
	}
	return k;
}

void *kup_loan_drain(struct kup_loans *l)
{
	uint32_t i;
	void *mem;

	for (i = 0; i < KUP_LOANS; i++) {
		if (!l->who[i])
			continue;
		mem = l->mem[i];
		l->who[i] = NULL;
		l->mem[i] = NULL;
		l->n--;
		if (mem)
			return mem;
	}
	return NULL;
}

void kup_pend_init(struct kup_pend *p, void *mem, uint32_t n)
{
	p->ring = mem;
	p->queued = (uint8_t *)mem + (size_t)n * sizeof(uint32_t);
	p->head = 0;
	p->cnt = 0;
	p->n = n;
}

void kup_pend_push(struct kup_pend *p, uint32_t id)
{
	if (id >= p->n || p->queued[id])
		return;
	p->queued[id] = 1;
	p->ring[(p->head + p->cnt) % p->n] = id;
	kup_store_once(&p->cnt, p->cnt + 1);
}

void kup_pend_drop(struct kup_pend *p, uint32_t id)
{
	uint32_t i, j, k = 0;

	if (id >= p->n || !p->queued[id])
		return;
	p->queued[id] = 0;
	/* Close the gap, keeping the order of the others (detaches are rare). */
	for (i = 0; i < p->cnt; i++) {
		j = (p->head + i) % p->n;
		if (p->ring[j] != id)
			p->ring[(p->head + k++) % p->n] = p->ring[j];
	}
	kup_store_once(&p->cnt, k);
}

int kup_pend_pop(struct kup_pend *p)
{
	uint32_t id;

	if (!p->cnt)
		return -1;
	id = p->ring[p->head];
	p->head = (p->head + 1) % p->n;
	kup_store_once(&p->cnt, p->cnt - 1);
	p->queued[id] = 0;
	return (int)id;
}
