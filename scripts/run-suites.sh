#!/bin/bash
# Run each named suite (make suite-NAME), keep its log in build/test-logs,
# and add up the "N passed, N failed" lines.  A suite that exits non-zero or
# prints no such line counts as one failure.
set -u
logs=${B:-build}/test-logs
mkdir -p "$logs"
tp=0 tf=0 ts=0 bad=()
for s in "$@"; do
	echo "=== suite $s"
	make --no-print-directory -s "suite-$s" 2>&1 | tee "$logs/$s.log"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '^([A-Za-z-]+: )?[0-9]+ passed, [0-9]+ failed' "$logs/$s.log" | tail -n 1)
	if [ -z "$line" ]; then
		echo "suite $s: no result line (exit $rc)"
		tf=$((tf + 1)); bad+=("$s"); continue
	fi
	p=$(sed -E 's/^([A-Za-z-]+: )?([0-9]+) passed.*/\2/' <<<"$line")
	f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
	k=0; [[ $line == *skipped* ]] && k=$(sed -E 's/.* ([0-9]+) skipped.*/\1/' <<<"$line")
	tp=$((tp + p)); tf=$((tf + f)); ts=$((ts + k))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then tf=$((tf + 1)); fi
	if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then bad+=("$s"); fi
done
echo "=== summary: suites ${*}"
[ ${#bad[@]} -gt 0 ] && echo "failing suites: ${bad[*]}"
if [ "$ts" -gt 0 ]; then echo "$tp passed, $tf failed, $ts skipped"; else echo "$tp passed, $tf failed"; fi
[ "$tf" -eq 0 ]
