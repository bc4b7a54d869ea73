#!/bin/bash
# The VM suite: run tests/vm/run-vm.sh (arguments passed through), add up
# every "N passed, N failed" line the guest printed, count the kernel-log
# check and the boot itself as tests, and print the total.  The kernel log
# is kept in build/vm/kernel.log.
set -u
here=$(cd "$(dirname "$0")" && pwd)
vmdir=${KUP_VM_DIR:-$(cd "$here/../.." && pwd)/build/vm}
work=$vmdir/run
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
	[ "${args[$i]}" = -o ] && work=${args[$((i + 1))]}
done
mkdir -p "$work"
t0=$(date +%s)
"$here/run-vm.sh" "$@" 2>&1 | tee "$work/suite.out"
rc=${PIPESTATUS[0]}
t1=$(date +%s)
cp "$work/kernel.log" "$vmdir/kernel.log" 2>/dev/null

read -r p f s n < <("$here/../tally.sh" "$work/suite.out")
# The three checks of the run itself (tests/tap.sh).
why=$(grep -m1 -aE '^# vm: (TIMEOUT|the guest command did not finish|guest command exited)' \
	"$work/suite.out" | sed 's/^# vm: //; s/; console tail://')
last=$(grep -av '^[[:space:]]*$' "$work/console.log" 2>/dev/null | tail -n1 | tr -cd '[:print:]' | cut -c1-100)
. "$here/../tap.sh"
t=$((p + f))
tap_check "$((n > 0))" "the guest printed test results" "${why:-no result line}; console ends: $last"
grep -q '^# vm: kernel log clean' "$work/suite.out"
tap_check "$((1 - $?))" "kernel log has no WARNING/BUG/Oops/Call Trace" \
	"$(grep -m1 -aE 'WARNING|BUG|Oops|Call Trace' "$vmdir/kernel.log" 2>/dev/null | cut -c1-100)"
tap_check "$((rc == 0))" "VM booted, ran the suites and powered off" "run-vm.sh exit $rc${why:+: $why}"
echo "# vm suite: $((t1 - t0)) s wall time; kernel log $vmdir/kernel.log"
if [ "$s" -gt 0 ]; then echo "$p passed, $f failed, $s skipped"; else echo "$p passed, $f failed"; fi
[ "$f" -eq 0 ]
