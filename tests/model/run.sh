#!/bin/bash
# Check the models with spin: the turn and wake protocol (tests/model/kup_turn.pml)
# and the streaming channels' flow and wake protocol (tests/model/kup_stream.pml),
# both over x86-TSO (tests/model/tso.pml).
#
#   tests/model/run.sh [WORKDIR]     (default build/model)
#
# Each check generates a verifier (spin -a), compiles it (gcc) and runs it:
#   safety       assertions (never both sides hold the turn; the message is
#                there and stays until the turn is passed back; an honest
#                peer never trips the sequence/state checks; nobody is left
#                asleep or waiting on its fd when nothing can move) and
#                invalid end states (deadlock): 0 errors expected.
#   liveness     the LTL claim "every sleep and fd wait ends", weak fairness,
#                acceptance cycles: 0 errors expected.
#   mutants      the protocol with one rule broken: spin must find
#                the failure (a model that cannot fail proves nothing).
# Ends with "N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-build/model}
mkdir -p "$work"
work=$(cd "$work" && pwd)
pass=0 fail=0

if ! command -v spin >/dev/null; then
	echo "FAIL: spin is not installed (scripts/deps.sh model installs it)"
	echo "0 passed, 1 failed"
	exit 1
fi

# check NAME EXPECT SPIN_DEFS PAN_CC_DEFS PAN_ARGS    (the model: $model)
#   EXPECT: ok, or an extended regex the pan output must match (and errors: 1)
check() {
	local name=$1 expect=$2 sdefs=$3 cdefs=$4 pargs=$5 dir out states ok=1
	dir=$work/$name
	mkdir -p "$dir"
	cp "$here/$model" "$here/tso.pml" "$dir/"
	if ! (cd "$dir" && spin -a $sdefs "$model" >spin.log 2>&1 &&
		nice gcc -w -O0 $cdefs -o pan pan.c 2>>spin.log); then
		echo "FAIL $name: spin -a / gcc"; sed 's/^/  /' "$dir/spin.log" | tail -5
		fail=$((fail + 1)); return
	fi
	out=$(cd "$dir" && timeout 120 nice ./pan $pargs 2>&1)
	echo "$out" >"$dir/pan.log"
	states=$(grep -Eo '[0-9]+ states, stored' <<<"$out" | grep -Eo '^[0-9]+')
	if grep -q 'max search depth too small\|out of memory' <<<"$out"; then
		ok=0 # a truncated search proves nothing either way
	elif [ "$expect" = ok ]; then
		grep -q 'errors: 0$' <<<"$out" || ok=0
	else
		grep -q 'errors: 1$' <<<"$out" && grep -Eq "$expect" <<<"$out" || ok=0
	fi
	if [ $ok = 1 ]; then
		if [ "$expect" = ok ]; then
			echo "ok   $name: 0 errors, ${states:-?} states"
		else
			echo "ok   $name: spin found it: $(grep -Em1 "$expect" <<<"$out" | sed 's/^pan:1: //') after ${states:-?} states"
		fi
		pass=$((pass + 1))
	else
		echo "FAIL $name (expected: $expect); $dir/pan.log:"
		grep -E 'errors:|violated|cycle|invalid end|depth' <<<"$out" | sed 's/^/  /' | head -8
		fail=$((fail + 1))
	fi
}

lost='assertion violated \(\( !\(asleep\[0\]\)&& !\(asleep\[1\]\)\)&& !\(fdwait\)\)'
deep="-m200000 -w22" # depth ~450 needed; a 32 MiB hash table

model=kup_turn.pml
check safety ok "" "-DSAFETY -DCOLLAPSE" "$deep"
check liveness ok "-DLIVE" "-DNFAIR=3 -DCOLLAPSE" "-a -f $deep"
check mutant-no-O3 "$lost" "-DMUT_NO_O3" "-DSAFETY" "$deep"
check mutant-no-O4 "$lost" "-DMUT_NO_O4" "-DSAFETY" "$deep"
check mutant-sleep-split "$lost" "-DMUT_SLEEP_SPLIT" "-DSAFETY" "$deep"
check mutant-sleep-reread "$lost" "-DMUT_SLEEP_REREAD" "-DSAFETY" "$deep"
check mutant-fd-nowake "$lost" "-DMUT_FD_NOWAKE" "-DSAFETY" "$deep"
check mutant-O1-order 'assertion violated \(mem\[' "-DMUT_O1_ORDER" "-DSAFETY" "$deep"
check mutant-no-O3-liveness 'acceptance cycle' "-DLIVE -DMUT_NO_O3" "-DNFAIR=3" "-a -f $deep"

lost='assertion violated \( !\(asleep\[0\]\)&& !\(asleep\[1\]\)\)'
model=kup_stream.pml
check stream-safety ok "" "-DSAFETY -DCOLLAPSE" "$deep"
check stream-liveness ok "-DLIVE" "-DNFAIR=3 -DCOLLAPSE" "-a -f $deep"
check stream-mutant-seen-after "$lost" "-DMUT_SEEN_AFTER" "-DSAFETY" "$deep"
check stream-mutant-no-S5 "$lost" "-DMUT_NO_S5" "-DSAFETY" "$deep"
check stream-mutant-no-S6 "$lost" "-DMUT_NO_S6" "-DSAFETY" "$deep"
check stream-mutant-S1-order 'assertion violated \(mem\[' "-DMUT_S1_ORDER" "-DSAFETY" "$deep"
check stream-mutant-bell-bits "$lost" "-DMUT_BELL_BITS" "-DSAFETY" "$deep"
check stream-mutant-sleep-reread "$lost" "-DMUT_SLEEP_REREAD" "-DSAFETY" "$deep"
check stream-mutant-seen-after-liveness 'acceptance cycle' "-DLIVE -DMUT_SEEN_AFTER" "-DNFAIR=3" "-a -f $deep"

echo "model: $pass passed, $fail failed"
[ $fail -eq 0 ]
