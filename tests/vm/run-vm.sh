#!/bin/bash
# Boot Debian's kernel under QEMU (TCG) with a busybox initramfs, run a
# command in it, and check the kernel log.  See tests/vm/README.md.
#
# usage: tests/vm/run-vm.sh [-o WORKDIR] [-m MOD.ko]... [-f SRC[:DST]]...
#                           [-t SECONDS] [-c COMMAND]
#   -m FILE   copy a module to /mod/ in the guest (load it from COMMAND)
#   -f S[:D]  copy a host file or directory S to D in the guest (default /bin/NAME)
#   -c CMD    shell command run by the guest's /init (default: uname -a)
#   -t SECS   host-side timeout for the whole boot (default 300)
#   -o DIR    work dir for the initramfs and logs (default build/vm/run)
#   -i        interactive: a shell on the console instead of COMMAND
#             (Ctrl-A X quits QEMU); no timeout, no log check
# Exit 0 when the command exited 0 and the kernel log has no failure line.
# The guest's output goes to stdout; the kernel log to WORKDIR/kernel.log.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
vmdir=${KUP_VM_DIR:-$top/build/vm}
work=$vmdir/run
cmd="uname -a"
tmo=300
mods=()
files=()
interactive=0
while getopts "io:m:f:c:t:" o; do
	case $o in
	o) work=$OPTARG ;;
	m) mods+=("$OPTARG") ;;
	f) files+=("$OPTARG") ;;
	c) cmd=$OPTARG ;;
	t) tmo=$OPTARG ;;
	i) interactive=1 ;;
	*) sed -n '5,15p' "$0" >&2; exit 2 ;;
	esac
done

for t in qemu-system-x86_64 cpio busybox; do
	command -v $t >/dev/null || { echo "run-vm: $t missing: scripts/deps.sh vm" >&2; exit 2; }
done
"$here/fetch-kernel.sh" "$vmdir" >/dev/null
abi=$(cat "$vmdir/root/.fetched")
kernel=$vmdir/root/boot/vmlinuz-$abi

# --- initramfs -------------------------------------------------------------
rm -rf "$work/initrd"
mkdir -p "$work/initrd"/{bin,sbin,dev,proc,sys,tmp,mod,etc,root}
ird=$work/initrd
cp "$(command -v busybox)" "$ird/bin/busybox"
for a in $(busybox --list); do
	# Never let an applet link replace busybox itself.
	[ "$a" = busybox ] || ln -sf busybox "$ird/bin/$a"
done
for m in ${mods[@]+"${mods[@]}"}; do cp "$m" "$ird/mod/"; done
for f in ${files[@]+"${files[@]}"}; do
	src=${f%%:*}
	dst=/bin/$(basename "$src")
	[ "$src" != "$f" ] && dst=${f#*:}
	mkdir -p "$ird$(dirname "$dst")"
	cp -r "$src" "$ird$dst"
done
printf '%s\n' "$cmd" >"$ird/etc/kupvm-cmd"
[ $interactive -eq 1 ] && echo 'exec setsid cttyhack sh -l' >"$ird/etc/kupvm-cmd"
cat >"$ird/init" <<'INIT'
#!/bin/busybox sh
export PATH=/bin:/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/shm /dev/pts && mount -t tmpfs tmp /tmp
echo 4 > /proc/sys/kernel/printk 2>/dev/null
cd /root
echo "KUPVM-BEGIN"
sh /etc/kupvm-cmd
echo "KUPVM-EXIT $?"
echo "KUPVM-DMESG-BEGIN"
dmesg
echo "KUPVM-DMESG-END"
sync
poweroff -f
INIT
chmod +x "$ird/init"
(cd "$ird" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$work/initrd.cpio.gz"
[ -s "$work/initrd.cpio.gz" ] || { echo "run-vm: empty initramfs" >&2; exit 1; }

# --- boot ------------------------------------------------------------------
# TCG only: KVM hangs here (no nested virtualization); KUP_VM_ACCEL=kvm opts in.
accel=${KUP_VM_ACCEL:-tcg}
if [ $interactive -eq 1 ]; then
	exec qemu-system-x86_64 -accel "$accel" -m 1024 -smp 2 -kernel "$kernel" \
		-initrd "$work/initrd.cpio.gz" -append "console=ttyS0 panic=-1 loglevel=4" \
		-nographic -serial mon:stdio -no-reboot
fi
con=$work/console.log
# A boot that never reaches the guest's command ran no code of KUP's (the
# modules are loaded by the command): boot once more, saying so.  A hang or
# a failure after that point is the run's result.
for boot in 1 2; do
	t0=$(date +%s)
	rc=0
	timeout --foreground -k 5 "$tmo" qemu-system-x86_64 -accel "$accel" -m 1024 -smp 2 \
		-kernel "$kernel" -initrd "$work/initrd.cpio.gz" \
		-append "console=ttyS0 panic=-1 loglevel=3 oops=panic" \
		-nographic -monitor none -serial stdio -no-reboot </dev/null >"$con" 2>&1 || rc=$?
	t1=$(date +%s)
	tr -d '\r' <"$con" >"$con.tmp" && mv "$con.tmp" "$con"
	grep -aq 'KUPVM-BEGIN$' "$con" && break
	[ $boot = 1 ] || break
	echo "# vm: boot 1 never reached the guest's command (qemu exit $rc, $((t1 - t0)) s); console tail:"
	tail -n 15 "$con" | sed 's/^/#   /'
	cp "$con" "$con.boot1"
	echo "# vm: booting again"
done

# Guest output between the markers, then the kernel log.
awk '/^KUPVM-EXIT /{p=0} p{print} /KUPVM-BEGIN$/{p=1}' "$con"
awk '/^KUPVM-DMESG-END$/{p=0} p{print} /^KUPVM-DMESG-BEGIN$/{p=1}' "$con" >"$work/kernel.log"
exitline=$(grep -a '^KUPVM-EXIT ' "$con" | tail -n1 || true)
echo "# vm: booted $abi, $((t1 - t0)) s, console $con"
fail=0
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
	echo "# vm: TIMEOUT after ${tmo}s; console tail:"; tail -n 30 "$con" | sed 's/^/#   /'; fail=1
fi
if [ -z "$exitline" ]; then
	echo "# vm: the guest command did not finish; console tail:"
	tail -n 40 "$con" | sed 's/^/#   /'; fail=1
elif [ "${exitline#KUPVM-EXIT }" != 0 ]; then
	echo "# vm: guest command exited ${exitline#KUPVM-EXIT }"; fail=1
fi
if ! grep -q . "$work/kernel.log"; then
	# No dmesg dump (panic, hang): judge the console instead.
	cp "$con" "$work/kernel.log"
fi
if "$here/check-klog.sh" "$work/kernel.log"; then
	echo "# vm: kernel log clean ($work/kernel.log)"
else
	fail=1
fi
exit $fail
