/*
 * kup_stream.pml - the streaming channels' flow and wake protocol of
 * core/kup_stream.c, for spin.
 *
 * One direction of a stream channel (the code is the same both ways): a
 * producer P queues NMSG records into a ring of RING slots, in batches of
 * up to 2, publishing prod once per batch (S1: the records, then prod); a
 * consumer C takes up to 2 records a call after reading prod (S2), checks
 * each is the one expected, then publishes cons (S3).  A side that cannot
 * go on (C: nothing published; P: no room as of the cons it read, S4)
 * announces a wait: a new generation with the sleep bit in its wait word,
 * a full fence (S5), then looks again (the peer's tw first, then the
 * positions) and sleeps on the peer's tw compared with what it read
 * (futex-style, atomically) as it read it before announcing: a bell rung
 * for this announcement wakes it or keeps it from sleeping, even one rung
 * before its look.  After publishing, a side fences (S6) and
 * reads the peer's wait word; if the peer waits for what it just
 * published, it rings the bell (S7): one more seq in its own tw, then a
 * wake, once per announcement (the generation tells announcements apart).
 *
 * Memory model: x86-TSO (tso.pml).  Checked: every record arrives in
 * order with its contents (S1/S2; the ring's room is reused only after the
 * consumer is done with it, S3/S4), and nobody is left asleep when nothing
 * can move (a lost wake-up), with the claim that every sleep ends in the
 * liveness run.  Mutants spin must reject: -DMUT_NO_S5, -DMUT_NO_S6 (a
 * fence left out), -DMUT_S1_ORDER (prod before the records),
 * -DMUT_BELL_BITS (the once-per-announcement rule judged by the wait bits
 * alone, without the generation), -DMUT_SLEEP_REREAD (sleep on a fresh read
 * of the peer's tw instead of the one read before announcing),
 * -DMUT_SEEN_AFTER (the tw to sleep on read after announcing, as the code
 * did before this model found the lost wake-up that allows).
 *
 * docs/protocol.md ("Streaming", "The model") names the points S1-S7.
 */

#ifndef NMSG
#define NMSG 5 /* records: the ring wraps twice */
#endif
#define RING 2 /* slots */
#define BATCH 2

#define P 0
#define C 1

/* Shared words. */
#define M_TW(s)   ((s) * 3)     /* a side's tw: its doorbell count */
#define M_POS(s)  ((s) * 3 + 1) /* P: prod; C: cons */
#define M_WAIT(s) ((s) * 3 + 2) /* gen * 4 | W_WANT | W_SLEEP */
#define M_DATA    6             /* RING slots: the record's number */

#define NCPU 2
#define NMEM (6 + RING)
#ifndef SB
#define SB 4 /* a batch: two records and prod before the fence */
#endif
#include "tso.pml"

#define W_SLEEP 1
#define W_WANT  2 /* C: records to read (KUP_SW_RECV); P: room (KUP_SW_SEND) */
#define GENS    64 /* generations modulo this: gen * 4 fits a byte */

#ifdef MUT_NO_S5
#define FENCE_S5(c) skip
#else
#define FENCE_S5(c) fence(c)
#endif
#ifdef MUT_NO_S6
#define FENCE_S6(c) skip
#else
#define FENCE_S6(c) fence(c)
#endif

bool asleep[2]; /* a side is inside its sleep primitive */

/*
 * S7, once per announcement: the bell is one more seq in our own tw, then
 * the host's wake (a system call or a lock: it drains our stores first).
 */
inline ring_bell(me, w)
{
#ifdef MUT_BELL_BITS
	if
	:: rang_ok && (rang % 4) == (w % 4) -> skip /* broken: a new announcement looks rung */
#else
	if
	:: rang_ok && rang == w -> skip
#endif
	:: else ->
		rang = w;
		rang_ok = true;
		tx = tx + 1;
		store(me, M_TW(me), tx);
		fence(me);
		asleep[1 - me] = false
	fi
}

/* S6, after publishing: ring when the peer waits for what we published. */
inline wake_peer(me)
{
	FENCE_S6(me);
	w = mem[M_WAIT(1 - me)];
	if
	:: (w & W_SLEEP) && (w & W_WANT) -> ring_bell(me, w)
	:: else -> skip
	fi
}

/* S5: announce a wait (a new generation, bits), then fence. */
inline announce(me, bits)
{
	gen = (gen + 1) % GENS;
	store(me, M_WAIT(me), gen * 4 + bits);
	FENCE_S5(me)
}

/* Sleep on the peer's tw while it still holds seen (futex compare and sleep, atomic). */
inline sleep(me)
{
#ifdef MUT_SLEEP_REREAD
	seen = mem[M_TW(1 - me)]; /* broken: after the positions were judged */
#endif
	atomic {
		if
		:: mem[M_TW(1 - me)] == seen -> asleep[me] = true
		:: else -> skip
		fi
	}
	!asleep[me] /* blocked here while asleep */
}

/* Is what me waits for there?  The peer's position, read once. */
inline look(me)
{
	peer = mem[M_POS(1 - me)]; /* S2 (C reads prod) / S4 (P reads cons) */
	if
	:: me == C -> ready = (peer != pos)
	:: else -> ready = (pos - peer < RING)
	fi
}

/* stream_wait: spin (look again, any number of times), then announce, look, sleep. */
inline wait(me)
{
	do
	:: look(me);
		if
		:: ready -> break
		:: else -> skip
		fi
	:: true -> /* the spin ran out */
		do
		:: 
#ifndef MUT_SEEN_AFTER
			seen = mem[M_TW(1 - me)]; /* the bell count, before announcing */
#endif
			announce(me, W_SLEEP | W_WANT);
#ifdef MUT_SEEN_AFTER
			seen = mem[M_TW(1 - me)]; /* broken (the code before the model): a bell absorbed */
#endif
			look(me);
			if
			:: ready -> break
			:: else -> sleep(me)
			fi
		od;
		announce(me, 0);
		break
	od
}

proctype Producer()
{
	byte pos, peer, seen, w, gen, rang, tx, k;
	bool ready, rang_ok;

	do
	:: pos >= NMSG -> break
	:: pos < NMSG ->
		peer = mem[M_POS(C)]; /* S4: the consumer's cons */
		if
		:: pos - peer < RING ->
			/* The batch: as many records as fit, at most BATCH. */
			k = RING - (pos - peer);
			if
			:: k > BATCH -> k = BATCH
			:: else -> skip
			fi;
			if
			:: k > NMSG - pos -> k = NMSG - pos
			:: else -> skip
			fi;
#ifdef MUT_S1_ORDER
			store(P, M_POS(P), pos + k); /* broken: prod before the records */
#endif
			do
			:: k > 0 ->
				store(P, M_DATA + pos % RING, pos);
				pos++;
				k--
			:: else -> break
			od;
#ifndef MUT_S1_ORDER
			store(P, M_POS(P), pos); /* S1: publish prod */
#endif
			wake_peer(P)
		:: else -> wait(P)
		fi
	od
}

proctype Consumer()
{
	byte pos, peer, seen, w, gen, rang, tx, k;
	bool ready, rang_ok;

	do
	:: pos >= NMSG -> break
	:: pos < NMSG ->
		peer = mem[M_POS(P)]; /* S2: the producer's prod */
		if
		:: peer != pos ->
			k = 0;
			do
			:: k < BATCH && peer != pos ->
				assert(mem[M_DATA + pos % RING] == pos); /* the record, whole, in order */
				pos++;
				k++
			:: else -> break
			od;
			store(C, M_POS(C), pos); /* S3: publish cons */
			wake_peer(C)
		:: else -> wait(C)
		fi
	od
}

#ifndef LIVE
/* When nothing can move any more, nobody may be left asleep: a lost wake-up. */
active proctype Watch()
{
end:
	timeout -> assert(!asleep[P] && !asleep[C])
}
#endif

init
{
	atomic {
		run Drain(P);
		run Drain(C);
		run Producer();
		run Consumer()
	}
}

#ifdef LIVE
/* Every sleep ends (weak fairness: pan -a -f). */
ltl nolost { [] ((asleep[P] -> <> !asleep[P]) && (asleep[C] -> <> !asleep[C])) }
#endif
