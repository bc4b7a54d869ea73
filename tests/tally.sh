#!/bin/bash
# Add up every "N passed, N failed[, N skipped]" line of a suite's output:
# prints "PASSED FAILED SKIPPED RESULT_LINES".  The VM suites (tests/vm,
# tests/freebsd/vm) count their guest programs' results with it.
#   read -r p f s n < <(tests/tally.sh FILE)
set -u
p=0 f=0 s=0 n=0
while read -r line; do
	lp=$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"$line")
	lf=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
	ls=0; [[ $line == *skipped* ]] && ls=$(sed -E 's/.* ([0-9]+) skipped.*/\1/' <<<"$line")
	p=$((p + lp)); f=$((f + lf)); s=$((s + ls)); n=$((n + 1))
done < <(grep -aE '^[0-9]+ passed, [0-9]+ failed' "$1")
echo "$p $f $s $n"
