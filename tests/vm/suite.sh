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
if [ "$n" -eq 0 ]; then
	echo "not ok - the guest printed no test results"; f=$((f + 1))
fi
# The kernel log and the boot as a whole count as tests of their own.
if grep -q '^# vm: kernel log clean' "$work/suite.out"; then
	echo "ok - kernel log has no WARNING/BUG/Oops/Call Trace"; p=$((p + 1))
else
	echo "not ok - kernel log has no WARNING/BUG/Oops/Call Trace"; f=$((f + 1))
fi
if [ "$rc" -eq 0 ]; then
	echo "ok - VM booted, ran the suites and powered off"; p=$((p + 1))
else
	echo "not ok - VM booted, ran the suites and powered off (run-vm.sh exit $rc)"; f=$((f + 1))
fi
echo "# vm suite: $((t1 - t0)) s wall time; kernel log $vmdir/kernel.log"
if [ "$s" -gt 0 ]; then echo "$p passed, $f failed, $s skipped"; else echo "$p passed, $f failed"; fi
[ "$f" -eq 0 ]
