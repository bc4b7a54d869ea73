/*
 * tso.pml - x86-TSO for the models (kup_turn.pml, kup_stream.pml): each
 * CPU has a FIFO store buffer of SB entries that drains into memory at any
 * time (a Drain process per CPU); a load reads memory (no side loads a word
 * it stores, so forwarding never matters); a full fence waits until the
 * CPU's own buffer is empty.  TSO keeps stores in order and loads in order,
 * which is what the release/acquire pairs of the protocol guarantee on
 * every host; the one reordering it allows, a load passing an earlier
 * store, is what the protocol's full fences are for.
 *
 * Define NCPU, NMEM (shared words) and SB before including it.
 */
byte mem[NMEM];
byte sba[NCPU * SB]; /* store buffers: SB address/value slots per CPU, oldest first */
byte sbv[NCPU * SB];
byte sbn[NCPU];

inline store(cpu, a, v)
{
	atomic {
		sbn[cpu] < SB ->
		sba[cpu * SB + sbn[cpu]] = a;
		sbv[cpu * SB + sbn[cpu]] = v;
		sbn[cpu]++
	}
}

/* A full fence: wait until this CPU's stores are all in memory. */
inline fence(cpu)
{
	sbn[cpu] == 0
}

/* The store buffer of one CPU drains its oldest entry into memory, any time. */
proctype Drain(byte cpu)
{
	byte i;
end:
	do
	:: d_step {
		sbn[cpu] > 0 ->
		mem[sba[cpu * SB]] = sbv[cpu * SB];
		i = 1;
		do
		:: i < sbn[cpu] ->
			sba[cpu * SB + i - 1] = sba[cpu * SB + i];
			sbv[cpu * SB + i - 1] = sbv[cpu * SB + i];
			i++
		:: else -> break
		od;
		sbn[cpu]--;
		sba[cpu * SB + sbn[cpu]] = 0;
		sbv[cpu * SB + sbn[cpu]] = 0;
		i = 0
	}
	od
}
