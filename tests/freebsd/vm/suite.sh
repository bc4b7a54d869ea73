#!/bin/bash
# The FreeBSD VM suite (make suite-freebsd-vm): build KUP's FreeBSD modules
# and static test programs (build.sh), boot the FreeBSD kernel under QEMU
# with them (run-vm.sh, guest-suite.cmd), add up every "N passed, N failed"
# line the guest printed, count the console check and the boot itself as
# tests, and print the total.  Without the FreeBSD inputs (inputs.sh; CI
# has none) it says why and prints "0 passed, 0 failed, 1 skipped".
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
. "$here/inputs.sh"
B=${B:-build}
case $B in /*) ;; *) B=$top/$B ;; esac
vmdir=$B/freebsd-vm
work=$vmdir/suite
why=$(fbsd_vm_missing)
if [ -n "$why" ]; then
	echo "# freebsd-vm: skipped: $why (docs/freebsd.md: 'A FreeBSD kernel in QEMU')"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi
mkdir -p "$work"
echo "# freebsd-vm: kernel $KUP_FBSD_KERNEL, sysroot $KUP_FBSD_SYSROOT, source $KUP_FBSD_SRC${KUP_FBSD_KERNBUILD:+, options from $KUP_FBSD_KERNBUILD}"
if ! "$here/build.sh" "$vmdir/root" >"$vmdir/build.log" 2>&1; then
	sed 's/^/#   /' "$vmdir/build.log" | tail -n 40
	echo "not ok - build KUP's FreeBSD modules and programs ($vmdir/build.log)"
	echo "0 passed, 1 failed"
	exit 1
fi
echo "ok - build KUP's FreeBSD modules and programs"
t0=$(date +%s)
"$here/run-vm.sh" -r "$vmdir/root" -c "${KUP_FBSD_CMD:-$here/guest-suite.cmd}" -o "$work" -t "${KUP_FBSD_TIMEOUT:-900}" \
	2>&1 | tee "$work/suite.out"
rc=${PIPESTATUS[0]}
t1=$(date +%s)

read -r p f s n < <("$here/../../tally.sh" "$work/suite.out")
p=$((p + 1)) # the build above
# The three checks of the run itself (tests/tap.sh).
. "$here/../../tap.sh"
why=$(grep -m1 -aE '^# freebsd-vm: (TIMEOUT|the guest did not finish)' "$work/suite.out" |
	sed 's/^# freebsd-vm: //; s/; console tail://')
last=$(grep -av '^[[:space:]]*$' "$work/console.log" 2>/dev/null | tail -n1 | tr -cd '[:print:]' | cut -c1-100)
t=$((p + f))
tap_check "$((n > 0))" "the guest printed test results" "${why:-no result line}; console ends: $last"
grep -q '^# freebsd-vm: console clean' "$work/suite.out"
tap_check "$((1 - $?))" "console has no panic, WITNESS or INVARIANTS report"
tap_check "$((rc == 0))" "FreeBSD booted, ran the suites and powered off" "run-vm.sh exit $rc${why:+: $why}"
echo "# freebsd-vm suite: $((t1 - t0)) s wall time; console $work/console.log"
if [ "$s" -gt 0 ]; then echo "$p passed, $f failed, $s skipped"; else echo "$p passed, $f failed"; fi
[ "$f" -eq 0 ]
