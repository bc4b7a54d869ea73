#!/bin/bash
# Boot a FreeBSD kernel under QEMU (TCG) from an ISO 9660 root image that
# holds kupinit (tests/freebsd/vm/kupinit.c) as /sbin/init, run a kupinit
# command file, and check the console.  See tests/freebsd/vm/README.md.
#
# usage: tests/freebsd/vm/run-vm.sh -r ROOTDIR -c CMDFILE [-o WORKDIR] [-t SECONDS]
#   -r DIR    the image's content (build.sh's output: sbin/init, bin/, mod/)
#   -c FILE   the command file, /etc/kupvm-cmd in the guest (see kupinit.c)
#   -o DIR    work dir for the image and the console log (default build/freebsd-vm/run)
#   -t SECS   host-side timeout for the whole boot (default 600)
# Exit 0 when every step of the command file passed, the guest powered off
# by itself, and the console has no failure line (check-console.sh).
# The guest's output goes to stdout; the console log to WORKDIR/console.log.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
. "$here/inputs.sh"
work=$top/build/freebsd-vm/run
root= cmdf= tmo=600
while getopts "r:c:o:t:" o; do
	case $o in
	r) root=$OPTARG ;;
	c) cmdf=$OPTARG ;;
	o) work=$OPTARG ;;
	t) tmo=$OPTARG ;;
	*) sed -n '5,12p' "$0" >&2; exit 2 ;;
	esac
done
[ -n "$root" ] && [ -n "$cmdf" ] || { sed -n '5,12p' "$0" >&2; exit 2; }
why=$(fbsd_vm_missing)
[ -z "$why" ] || { echo "run-vm: $why" >&2; exit 2; }

# --- root image ------------------------------------------------------------
img=$work/root
rm -rf "$img"
mkdir -p "$img"/{dev,tmp,etc}
cp -r "$root"/. "$img"/
cp "$cmdf" "$img/etc/kupvm-cmd"
# Rock Ridge (-R) keeps modes; FreeBSD mounts it as root read-only (cd9660).
xorriso -as mkisofs -R -quiet -V KUPVM -o "$work/root.iso" "$img" 2>"$work/xorriso.log" ||
	{ cat "$work/xorriso.log" >&2; exit 1; }

# --- boot ------------------------------------------------------------------
# PVH entry (-kernel), root on a virtio disk; debugger off on panic so a
# panic ends the run (-no-reboot) instead of waiting at the db> prompt.
accel=${KUP_VM_ACCEL:-tcg}
con=$work/console.log
t0=$(date +%s)
rc=0
timeout --foreground -k 5 "$tmo" qemu-system-x86_64 -accel "$accel" -m 1024 -smp 2 \
	-kernel "$KUP_FBSD_KERNEL" \
	-append "vfs.root.mountfrom=cd9660:/dev/vtbd0 debug.debugger_on_panic=0 kern.panic_reboot_wait_time=0" \
	-drive "file=$work/root.iso,if=virtio,format=raw,readonly=on" \
	-nographic -monitor none -serial stdio -no-reboot </dev/null >"$con" 2>&1 || rc=$?
t1=$(date +%s)
tr -d '\r' <"$con" >"$con.tmp" && mv "$con.tmp" "$con"

awk '/KUPVM-EXIT [0-9]/{p=0} p{print} /KUPVM-BEGIN$/{p=1}' "$con"
exitline=$(grep -aoE 'KUPVM-EXIT [0-9]+' "$con" | tail -n1 || true)
echo "# freebsd-vm: $(grep -a -m1 '^FreeBSD [0-9]' "$con" || echo 'no FreeBSD banner'), $((t1 - t0)) s, console $con"
fail=0
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
	echo "# freebsd-vm: TIMEOUT after ${tmo}s; console tail:"; tail -n 30 "$con" | sed 's/^/#   /'; fail=1
fi
if [ -z "$exitline" ]; then
	echo "# freebsd-vm: the guest did not finish its commands; console tail:"
	tail -n 40 "$con" | sed 's/^/#   /'; fail=1
elif [ "${exitline#KUPVM-EXIT }" != 0 ]; then
	echo "# freebsd-vm: ${exitline#KUPVM-EXIT } guest step(s) failed"; fail=1
fi
# From kupinit's start on (KUP's modules and tests) every report fails the
# run; one the kernel made while booting, before any KUP code was loaded,
# is shown as a note.  Without kupinit's start the whole console counts.
if grep -aq 'KUPVM-BEGIN$' "$con"; then
	awk '/KUPVM-BEGIN$/{exit} {print}' "$con" >"$work/console-boot.log"
	awk '/KUPVM-BEGIN$/{p=1} p' "$con" >"$work/console-kup.log"
	if ! out=$("$here/check-console.sh" "$work/console-boot.log"); then
		echo "# freebsd-vm: note: the kernel reported this while booting, before KUP was loaded:"
		printf '%s\n' "$out" | tail -n +2
	fi
else
	cp "$con" "$work/console-kup.log"
fi
if "$here/check-console.sh" "$work/console-kup.log"; then
	echo "# freebsd-vm: console clean (no panic, WITNESS or INVARIANTS report)"
else
	fail=1
fi
exit $fail
