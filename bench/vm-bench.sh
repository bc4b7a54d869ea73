#!/bin/bash
# make bench-vm: KUP's kernel path in the QEMU guest of tests/vm (TCG, no
# KVM here), in one boot:
#  1. bench_vm (bench/vm/bench_vm.c): KUP (kupcmp_kup.ko) next to the same
#     echo over a chardev's read/write with a kernel thread, over ioctl and
#     over generic netlink (kupcmp.ko), interleaved round by round; the
#     table goes to OUTDIR/compare.txt, every round's figures to
#     OUTDIR/guest.out;
#  2. kupbench --remote kup_echo: KUP's round trips against in-guest
#     references (OUTDIR/kupbench.json).
# Every figure is TCG-emulated: the ratios compare like with like in one
# guest, the absolute times say nothing about hardware.
# usage: bench/vm-bench.sh KUPBENCH_STATIC BENCH_VM KUP.KO KUP_ECHO.KO KUPCMP.KO KUPCMP_KUP.KO
#                          OUTDIR [kupbench args]
# BENCH_CMP_ARGS: bench_vm's arguments (default -r 15 -t 60 -v); KUPBENCH=0 skips 2.
set -eu
usage="usage: vm-bench.sh KUPBENCH_STATIC BENCH_VM KUP.KO KUP_ECHO.KO KUPCMP.KO KUPCMP_KUP.KO OUTDIR"
bin=${1:?$usage} cmp=${2:?$usage} kup=${3:?$usage} echo=${4:?$usage}
kcmp=${5:?$usage} kcmpkup=${6:?$usage} out=${7:?$usage}
shift 7
args=${*:---time 150}
cmp_args=${BENCH_CMP_ARGS:--r 15 -t 60 -v}
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
m() { echo "/mod/$(basename "$1")"; }
cmd="insmod $(m "$kup") && insmod $(m "$echo") && insmod $(m "$kcmp") && insmod $(m "$kcmpkup") || exit 1
echo BENCH-VM-CMP-BEGIN
KUP_QUIET=1 KUP_BACKEND=kernel bench_vm $cmp_args
rc=\$?
echo BENCH-VM-CMP-END
if [ '${KUPBENCH:-1}' != 0 ]; then
	KUP_BACKEND=kernel KUP_QUIET=1 kupbench --remote kup_echo --tag 'TCG-emulated (QEMU, kernel backend)' --out /tmp/kb --json-stdout $args || rc=1
fi
rmmod kupcmp_kup; rmmod kupcmp; rmmod kup_echo; rmmod kup
exit \$rc"
rc=0
"$top/tests/vm/run-vm.sh" -o "$out/run" -t 600 -m "$kup" -m "$echo" -m "$kcmp" -m "$kcmpkup" \
	-f "$bin:/bin/kupbench" -f "$cmp:/bin/bench_vm" -c "$cmd" >"$out/guest.out" 2>&1 || rc=$?
sed -n '/^BENCH-VM-CMP-BEGIN$/,/^BENCH-VM-CMP-END$/p' "$out/guest.out" | sed '1d;$d' |
	grep -v '^# round ' >"$out/compare.txt" || true
sed -e '/^KUPBENCH-JSON-BEGIN$/,/^KUPBENCH-JSON-END$/d' -e '/^BENCH-VM-CMP-BEGIN$/,/^BENCH-VM-CMP-END$/d' \
	"$out/guest.out"
cat "$out/compare.txt"
sed -n '/^KUPBENCH-JSON-BEGIN$/,/^KUPBENCH-JSON-END$/p' "$out/guest.out" | sed '1d;$d' >"$out/kupbench.json"
if [ ! -s "$out/compare.txt" ]; then
	echo "bench-vm: no comparison table from the guest; see $out/guest.out"
	rc=1
fi
if [ "${KUPBENCH:-1}" != 0 ] && [ ! -s "$out/kupbench.json" ]; then
	echo "bench-vm: no JSON from the guest; see $out/guest.out"
	rc=1
fi
echo "bench-vm: $out/compare.txt (per round: $out/guest.out), $out/kupbench.json; TCG-emulated"
exit $rc
