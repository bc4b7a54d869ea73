/*
 * kup_turn.pml - the turn and wake protocol of core/kup_core.c, for spin.
 *
 * Two sides (K: the kern side, lead 0; U: the user side, lead 1) exchange
 * NMSG messages each on one channel.  Each call spins (a poll or two), then
 * announces a sleep (O3), re-checks the peer's turn word and sleeps on it
 * with a futex-style compare; or, on the user side, arms its readiness fd
 * the same way (KUP_WAIT_FD) and polls it.  A sender publishes its turn
 * word (O1), fences (O4) and wakes the peer only when the peer's wait bits
 * say it waits (a futex wake, a wake byte on the connection).  At
 * any point U may close (publish CLOSING) or die (the host detaches it:
 * kup_end_set_local + kick), K may close, and the host may unload the
 * device (set_local + kick, then publish SHUTDOWN under the channel gate).
 *
 * Memory model: x86-TSO (tso.pml), for three CPUs: K, U and the host
 * thread H that unloads; the release/acquire pairs are O1/O2, the full
 * fences O3/O4.  Mutants that spin must reject: -DMUT_NO_O3 (no fence
 * after the wait bits), -DMUT_NO_O4 (no fence before reading them),
 * -DMUT_SLEEP_SPLIT (compare, then sleep, not atomically), -DMUT_O1_ORDER
 * (the payload written after the turn word), -DMUT_SLEEP_REREAD (sleep on a
 * fresh read of the turn word instead of the one poll judged "not ready"),
 * -DMUT_FD_NOWAKE (an armed readiness fd gets no wake byte).
 *
 * docs/protocol.md ("The model") maps each step to its ordering row.
 */

#ifndef NMSG
#define NMSG 4 /* messages each side sends: SEQM of them, so the sequence wraps to 0 */
#endif
#define SEQM 4 /* sequence numbers modulo this (the real mask is 2^30) */
#ifndef SB
#define SB 3 /* store buffer entries per CPU: a call has at most two stores unfenced */
#endif

#define K 0
#define U 1
#define H 2 /* the host thread that unloads the device */

/* Turn word: seq * 4 + state, as KUP_TW(). */
#define OPEN     0
#define CLOSING  1
#define SHUTDOWN 2

/* Shared words in memory: side * 3 + field. */
#define F_TW   0 /* tw */
#define F_DATA 1 /* payload (and len): the sender's new seq, so a reader can check it */
#define F_WAIT 2 /* wait bits */
#define A(s, f) ((s) * 3 + (f))

/* Wait bits, as KUP_WAIT_*. */
#define W_SLEEP 1
#define W_FD    2

/* kup_end_poll results. */
#define R_OK       0
#define R_NOTREADY 1
#define R_CLOSED   2
#define R_SHUTDOWN 3

#define NCPU 3
#define NMEM 6
#include "tso.pml"

bool asleep[2]; /* a side is inside its sleep primitive */
bool fdwait;    /* U is in poll() on its armed readiness fd */
bool fdbyte;    /* a wake byte waits in U's channel connection */
bool hup;       /* the provider closed the connections (unload) */
bool incs[2];   /* a side holds the turn: between observing it and publishing */
byte hev;     /* K's host event (kup_end_set_local): 0, R_CLOSED, R_SHUTDOWN */
byte ev;        /* K's host event futex word (kpv_chan.ev), bumped by a kick */
bool incall;    /* a K call holds the channel gate */
bool gate;      /* the unloading host holds the channel gate */
byte ktx;       /* K's tx_seq (struct kup_end), used by the host under the gate */

#ifdef MUT_NO_O3
#define FENCE_O3(c) skip
#else
#define FENCE_O3(c) fence(c)
#endif
#ifdef MUT_NO_O4
#define FENCE_O4(c) skip
#else
#define FENCE_O4(c) fence(c)
#endif

/* kup_end_poll: local first, then the peer's tw (O2), then the turn rule. */
inline poll(me)
{
	if
	:: me == K && hev != 0 -> r = hev
	:: else ->
		tw = mem[A(1 - me, F_TW)];
		if
		:: (tw % 4) == CLOSING -> r = R_CLOSED
		:: (tw % 4) == SHUTDOWN && me == U -> r = R_SHUTDOWN
		:: (tw % 4) == OPEN ->
			if
			:: (tw / 4) == (tx + me) % SEQM -> r = R_OK
			:: (tw / 4) == (tx + me + SEQM - 1) % SEQM -> r = R_NOTREADY
			:: else -> assert(false) /* an honest peer never breaks the sequence */
			fi
		:: else -> assert(false) /* nor publishes a bad state */
		fi
	fi
}

/*
 * The host's sleep: compare the peer's tw with the value poll judged "not
 * ready" and go to sleep atomically with respect to the peer's wake (futex
 * compare).  K also watches its event word (futex_waitv on tw and ev) after
 * reading ev and then local (kpv_sleep).  Then wait until woken.
 */
inline sleep(me)
{
#ifdef MUT_SLEEP_REREAD
	tw = mem[A(1 - me, F_TW)]; /* broken: sleep on a fresh read, not on what poll judged */
#endif
	if
	:: me == U ->
#ifdef MUT_SLEEP_SPLIT
		if
		:: mem[A(K, F_TW)] == tw -> asleep[U] = true
		:: else -> skip
		fi
#else
		atomic {
			if
			:: mem[A(K, F_TW)] == tw -> asleep[U] = true
			:: else -> skip
			fi
		}
#endif
	:: me == K ->
		evs = ev;
		if
		:: hev != 0 -> skip
		:: else ->
#ifdef MUT_SLEEP_SPLIT
			if
			:: mem[A(U, F_TW)] == tw && ev == evs -> asleep[K] = true
			:: else -> skip
			fi
#else
			atomic {
				if
				:: mem[A(U, F_TW)] == tw && ev == evs -> asleep[K] = true
				:: else -> skip
				fi
			}
#endif
		fi
	fi;
	!asleep[me] /* blocked here while asleep */
}

/*
 * O4 then wake: after our tw, a full fence, then the peer's wait bits: a
 * futex wake for SLEEP, a wake byte on the connection for FD (kpv_wake).
 */
inline wake_peer(cpu, p)
{
	FENCE_O4(cpu);
	if
	:: mem[A(p, F_WAIT)] & W_SLEEP -> asleep[p] = false
	:: else -> skip
	fi;
#ifndef MUT_FD_NOWAKE
	if
	:: mem[A(p, F_WAIT)] & W_FD -> fdbyte = true /* a full buffer holds a wake already */
	:: else -> skip
	fi
#endif
}

/*
 * The user's readiness fd: poll() until a wake byte is there or the
 * provider hung up, then drain the bytes.  Level-triggered: a byte sent
 * before the poll is not lost, so no compare is needed.
 */
inline fd_wait()
{
	fdwait = true;
	(fdbyte || hup);
	atomic { fdbyte = false; fdwait = false }
}

proctype Side(byte me)
{
	byte tx, r, tw, evs, n, bits;

	do
	:: n >= NMSG -> break
	:: n < NMSG ->
		/* kup_end_send = kup_end_wait, then publish. */
		if
		:: me == K -> atomic { !gate -> incall = true }
		:: else -> skip
		fi;
		poll(me);
		if
		:: r == R_NOTREADY ->
			if /* spin: another poll, or none */
			:: true -> poll(me)
			:: true -> skip
			fi;
			if
			:: r == R_NOTREADY ->
				/* The user either sleeps in the call or arms its readiness fd. */
				if
				:: true -> bits = W_SLEEP
				:: me == U -> bits = W_FD
				fi;
				do
				:: store(me, A(me, F_WAIT), bits); /* O3: announce_wait / kup_end_arm */
					FENCE_O3(me);
					poll(me); /* O3: re-check the peer's tw */
					if
					:: r != R_NOTREADY -> break
					:: else -> skip
					fi;
					if
					:: bits == W_SLEEP -> sleep(me)
					:: else -> fd_wait()
					fi
				od;
				store(me, A(me, F_WAIT), 0); /* announce_wait(bits & ~SLEEP), disarm */
				FENCE_O3(me)
			:: else -> skip
			fi
		:: else -> skip
		fi;
		if
		:: r == R_OK ->
			incs[me] = true;
			assert(!incs[1 - me]); /* never both sides hold the turn */
			assert(mem[A(1 - me, F_DATA)] == tw / 4); /* P1: the message is there */
#ifndef MUT_O1_ORDER
			store(me, A(me, F_DATA), (tx + 1) % SEQM); /* payload, len */
#endif
			assert(mem[A(1 - me, F_DATA)] == tw / 4); /* P2: and stayed until we pass */
			tx = (tx + 1) % SEQM;
			if
			:: me == K -> ktx = tx
			:: else -> skip
			fi;
			incs[me] = false;
			store(me, A(me, F_TW), tx * 4 + OPEN); /* O1: kup_publish_tw */
#ifdef MUT_O1_ORDER
			store(me, A(me, F_DATA), tx); /* the payload after the turn: broken */
#endif
			wake_peer(me, 1 - me);
			n++
		:: else -> n = NMSG /* the call failed: closed, shutdown or detached */
		fi;
		if
		:: me == K -> incall = false
		:: else -> skip
		fi
	:: n < NMSG && me == U -> /* kernproxy_close: kup_end_close(CLOSING) */
		store(me, A(me, F_TW), tx * 4 + CLOSING);
		wake_peer(me, 1 - me);
		n = NMSG
	:: n < NMSG && me == K -> /* kup_end_close(CLOSING), under the gate */
		atomic { !gate -> incall = true };
		store(me, A(me, F_TW), tx * 4 + CLOSING);
		wake_peer(me, 1 - me);
		incall = false;
		n = NMSG
	:: n < NMSG && me == U -> /* kill -9: nothing published; the host detaches it */
		hev = R_CLOSED; /* kup_end_set_local(EKU_CLOSED) */
		ev = ev + 1;      /* kpv_kick: bump ev, futex wake on it */
		asleep[K] = false;
		n = NMSG
	od
}

/* kupdev_unload, or not: set_local + kick, then publish SHUTDOWN under the gate. */
proctype Unload()
{
	if
	:: true -> skip
	:: true ->
		hev = R_SHUTDOWN;
		ev = ev + 1;
		asleep[K] = false;
		/* The gate hand-over: K's stores are in memory before the host's. */
		atomic { !incall && sbn[K] == 0 -> gate = true };
		store(H, A(K, F_TW), ktx * 4 + SHUTDOWN); /* O1 */
		wake_peer(H, U);                           /* O4 (the host's CPU) */
		gate = false;
		hup = true /* sc_shutdown closes every connection: POLLHUP */
	fi
}

#ifndef LIVE
/*
 * When nothing can move any more, nobody may be left asleep: a lost
 * wake-up.  (The liveness run checks the same with the claim alone.)
 */
active proctype Watch()
{
end:
	timeout -> assert(!asleep[K] && !asleep[U] && !fdwait)
}
#endif

init
{
	atomic {
		run Drain(K);
		run Drain(U);
		run Drain(H);
		run Side(K);
		run Side(U);
		run Unload()
	}
}

#ifdef LIVE
/* Every sleep ends (weak fairness: pan -a -f). */
ltl nolost { [] ((asleep[K] -> <> !asleep[K]) && (asleep[U] -> <> !asleep[U]) && (fdwait -> <> !fdwait)) }
#endif
