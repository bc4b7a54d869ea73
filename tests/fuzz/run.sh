#!/bin/bash
# Run the fuzz harnesses (mk/fuzz.mk builds them into DIR).
#
#   tests/fuzz/run.sh replay DIR HARNESS...   each committed corpus file through
#                                             DIR/replay_HARNESS (ASan/UBSan)
#   tests/fuzz/run.sh fuzz DIR HARNESS...     DIR/HARNESS under libFuzzer for
#                                             $FUZZ_SECONDS (default 60) each
#
# Ends with "N passed, N failed" (fuzz: a harness passes when the fuzzer ran
# its time out without a finding; the figures are printed per harness).
set -u
mode=$1 dir=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
export KUP_QUIET=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:exitcode=23}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
pass=0 fail=0

for h in "$@"; do
	seeds=$here/corpus/$h
	if [ ! -d "$seeds" ]; then
		echo "FAIL $h: no corpus in $seeds"
		fail=$((fail + 1)); continue
	fi
	if [ "$mode" = replay ]; then
		out=$(timeout 120 nice "$dir/replay_$h" "$seeds" 2>&1)
		rc=$?
		line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' <<<"$out" | tail -n 1)
		grep -E '^FAIL' <<<"$out"
		if [ -z "$line" ]; then
			echo "FAIL $h: replay exit $rc"; echo "$out" | tail -20
			fail=$((fail + 1)); continue
		fi
		p=${line%% passed*} f=${line#*passed, }; f=${f%% failed*}
		[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
		[ "$f" -ne 0 ] && echo "$out" | grep -v '^ok' | tail -40
		echo "$h: replayed $((p + f)) (corpus files, then all in one process): $p ok, $f failing"
		pass=$((pass + p)) fail=$((fail + f))
	else
		work=$dir/corpus/$h art=$dir/artifacts
		mkdir -p "$work" "$art"
		log=$dir/$h.log
		nice "$dir/$h" -max_total_time="${FUZZ_SECONDS:-60}" -print_final_stats=1 \
			-artifact_prefix="$art/$h-" -max_len=4096 "$work" "$seeds" >"$log" 2>&1
		rc=$?
		runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$')
		eps=$(grep -Eo 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -Eo '[0-9]+$')
		cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
		corp=$(ls "$work" | wc -l)
		if [ "$rc" -eq 0 ]; then
			echo "ok   $h: ${runs:-?} runs, ${eps:-?} execs/s, $cov, corpus $corp inputs ($work)"
			pass=$((pass + 1))
		else
			echo "FAIL $h: exit $rc after ${runs:-?} runs; see $log and $art"
			grep -E 'ERROR|fuzz check failed|SUMMARY|Test unit written' "$log" | head -10
			fail=$((fail + 1))
		fi
	fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
