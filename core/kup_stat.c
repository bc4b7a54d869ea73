/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * kup_stat.c - the text of a device's live state (kup_stat.h).  Its own
 * small formatter: core calls no printf, which differs between hosts.
 */
#include "kup_stat.h"

/* Room for the text: the newline and the NUL always fit after it. */
#define KUP_STAT_TEXT (KUP_STAT_LINE - 2)

struct kup_out {
	char *p;
	uint32_t n;
};

static void put_str(struct kup_out *o, const char *s)
{
	while (*s && o->n < KUP_STAT_TEXT)
		o->p[o->n++] = *s++;
}

static void put_u64(struct kup_out *o, uint64_t v)
{
	char tmp[24];
	int i = 0;

	do {
		tmp[i++] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v);
	while (i > 0 && o->n < KUP_STAT_TEXT)
		o->p[o->n++] = tmp[--i];
}

/* " key=value" */
static void put_kv(struct kup_out *o, const char *key, uint64_t v)
{
	put_str(o, " ");
	put_str(o, key);
	put_str(o, "=");
	put_u64(o, v);
}

static uint32_t put_end(struct kup_out *o)
{
	o->p[o->n++] = '\n';
	o->p[o->n] = '\0';
	return o->n;
}

uint32_t kup_stat_head(char *buf, const char *name, const struct kup_dev *d)
{
	struct kup_out o = {buf, 0};

	put_str(&o, "kup-stat ");
	put_u64(&o, KUP_STAT_VERSION);
	put_str(&o, " name=");
	put_str(&o, name);
	put_kv(&o, "size", d->size);
	put_kv(&o, "channels", d->chan_cnt);
	put_str(&o, kup_dev_dead(d) ? " state=shutdown" : " state=open");
	return put_end(&o);
}

/* Whose turn on the attach at kblock/ublock: each turn word read once. */
static const char *turn_of(const void *kblock, const void *ublock)
{
	if (!kblock || !ublock)
		return "none";
	switch (kup_user_ready(kblock, ublock)) {
	case 1:
		return "user";
	case 0:
		return "kern";
	default:
		return "ended";
	}
}

uint32_t kup_stat_chan(char *buf, const struct kup_chan *ch, uint32_t id, int64_t pid,
                       const void *kblock, const void *ublock)
{
	struct kup_out o = {buf, 0};
	struct kup_counters c;

	kup_counters_load(&c, &ch->e.cnt);
	put_str(&o, "chan=");
	put_u64(&o, id);
	put_kv(&o, "pid", pid > 0 ? (uint64_t)pid : 0);
	put_str(&o, " turn=");
	put_str(&o, turn_of(kblock, ublock));
	put_kv(&o, "sent", c.sent);
	put_kv(&o, "received", c.received);
	put_kv(&o, "bytes_sent", c.bytes_sent);
	put_kv(&o, "bytes_received", c.bytes_received);
	put_kv(&o, "sleeps", c.sleeps);
	put_kv(&o, "wakeups", c.wakeups);
	put_kv(&o, "timeouts", c.timeouts);
	put_kv(&o, "errors", c.errors);
	put_kv(&o, "proto_errors", c.proto_errors);
	put_kv(&o, "last_err", kup_load_once(&ch->last_err));
	put_kv(&o, "attaches", kup_load_once64(&ch->attaches));
	return put_end(&o);
}
