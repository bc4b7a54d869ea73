#!/bin/bash
# make demo-freebsd-vm: the echo client against kup_echo.ko on a real
# FreeBSD kernel under QEMU (demo.cmd).  Without the FreeBSD inputs
# (inputs.sh) it says why and exits 0.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
. "$here/inputs.sh"
B=${B:-build}
case $B in /*) ;; *) B=$top/$B ;; esac
why=$(fbsd_vm_missing)
if [ -n "$why" ]; then
	echo "demo-freebsd-vm: skipped: $why (docs/freebsd.md)"
	exit 0
fi
mkdir -p "$B/freebsd-vm"
"$here/build.sh" "$B/freebsd-vm/root" >"$B/freebsd-vm/build.log" 2>&1 ||
	{ tail -n 30 "$B/freebsd-vm/build.log"; exit 1; }
"$here/run-vm.sh" -r "$B/freebsd-vm/root" -c "$here/demo.cmd" -o "$B/freebsd-vm/demo" -t 300
