#!/bin/bash
# make bench-vm: kupbench's round trips against kup.ko inside the QEMU
# guest of tests/vm (TCG, no KVM here), with kup_echo.ko as the kernel side
# and KUP_BACKEND=kernel.  The in-guest references are measured in the same
# guest run, so the ratios compare like with like; the absolute figures are
# TCG-emulated and say nothing about native speed.
# usage: bench/vm-bench.sh KUPBENCH_STATIC KUP.KO KUP_ECHO.KO OUTDIR [kupbench args]
set -eu
bin=${1:?usage: vm-bench.sh KUPBENCH_STATIC KUP.KO KUP_ECHO.KO OUTDIR}
kup=${2:?} echo=${3:?} out=${4:?}
shift 4
args=${*:---time 150}
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
cmd="insmod /mod/$(basename "$kup") && insmod /mod/$(basename "$echo") || exit 1
KUP_BACKEND=kernel KUP_QUIET=1 kupbench --remote kup_echo --tag 'TCG-emulated (QEMU, kernel backend)' --out /tmp/kb --json-stdout $args
rc=\$?
rmmod kup_echo; rmmod kup
exit \$rc"
rc=0
"$top/tests/vm/run-vm.sh" -o "$out/run" -t 400 -m "$kup" -m "$echo" -f "$bin:/bin/kupbench" \
	-c "$cmd" >"$out/guest.out" 2>&1 || rc=$?
sed '/^KUPBENCH-JSON-BEGIN$/,/^KUPBENCH-JSON-END$/d' "$out/guest.out"
sed -n '/^KUPBENCH-JSON-BEGIN$/,/^KUPBENCH-JSON-END$/p' "$out/guest.out" | sed '1d;$d' >"$out/kupbench.json"
if [ -s "$out/kupbench.json" ]; then
	echo "bench-vm: $out/kupbench.json (TCG-emulated)"
else
	echo "bench-vm: no JSON from the guest; see $out/guest.out"
	rc=1
fi
exit $rc
