#!/bin/sh
# Runs inside the VM (busybox sh): load the modules, run the suites, unload.
# Each suite prints TAP and "N passed, N failed"; the steps here are TAP too
# and end with their own count line.  usage: guest-suite.sh [demo]
pass=0
fail=0
skipped=0
step() {
	name=$1
	shift
	if "$@"; then
		echo "ok - $name"
		pass=$((pass + 1))
	else
		echo "not ok - $name"
		fail=$((fail + 1))
	fi
}
# A test program: its TAP goes to the console as it comes; a program that
# ends without its "N passed, N failed" line (it crashed) is a failure too.
suite() {
	name=$1
	shift
	"$@" 2>&1 | tee "/tmp/$name.out"
	if ! grep -q '^[0-9]* passed, [0-9]* failed' "/tmp/$name.out"; then
		echo "not ok - $name ended without its result line"
		fail=$((fail + 1))
	fi
}
export KUP_QUIET=1 KT_TIMEOUT=${KT_TIMEOUT:-60}

# The long soak (make soak): kup.ko, kupvt.ko, kup_echo.ko and tests/vm/soak.c.
if [ "${1:-}" = soak ]; then
	step "insmod kup.ko" insmod /mod/kup.ko
	step "insmod kupvt.ko" insmod /mod/kupvt.ko
	step "insmod kup_echo.ko" insmod /mod/kup_echo.ko
	echo "# --- soak: a hostile process, counts divided by ${SOAK_DIV:-1}"
	t0=$(date +%s)
	suite soak env SOAK_DIV="${SOAK_DIV:-1}" soak
	echo "# soak took $(($(date +%s) - t0)) s"
	step "rmmod kup_echo" rmmod kup_echo
	step "rmmod kupvt" rmmod kupvt
	step "rmmod kup" rmmod kup
	echo "$pass passed, $fail failed"
	exit 0
fi

if [ "${1:-}" = demo ]; then
	insmod /mod/kup.ko && insmod /mod/kup_echo.ko || exit 1
	echo "== /dev/kup_echo: $(ls -l /dev/kup_echo)"
	KUP_BACKEND=kernel echo_client -n "${DEMO_ROUNDS:-20000}"
	rc=$?
	rmmod kup_echo && rmmod kup || rc=1
	[ $rc -eq 0 ] && echo "demo-vm: OK (echo client against kup_echo.ko)" || echo "demo-vm: FAILED"
	exit $rc
fi

step "insmod kup.ko" insmod /mod/kup.ko
step "module parameter spin_us (default 20)" sh -c '[ "$(cat /sys/module/kup/parameters/spin_us)" = 20 ]'
step "insmod kupvt.ko" insmod /mod/kupvt.ko
echo "# --- vmtest: kup.ko's own tests (raw ABI)"
t0=$(date +%s)
suite vmtest vmtest
echo "# vmtest took $(($(date +%s) - t0)) s"

step "insmod kup_test.ko" insmod /mod/kup_test.ko
step "insmod kup_echo.ko" insmod /mod/kup_echo.ko
echo "# --- kup_integ: the shared integration suite, KUP_BACKEND=kernel"
t0=$(date +%s)
suite kup_integ env KUP_BACKEND=kernel kup_integ
echo "# kup_integ took $(($(date +%s) - t0)) s"

step "echo client against kup_echo.ko" sh -c 'KUP_BACKEND=kernel echo_client -n 2000 >/tmp/echo.out 2>&1 || { cat /tmp/echo.out; false; }'

# Live state through sysfs (kupctl): the echo client's channel, as kup.ko counted it.
echo "# --- kupctl: kup.ko's devices and channels (/sys/class/kup/NAME/channels)"
CHF=/sys/class/kup/kup_echo/channels
kv() { echo " $2" | sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
stat_header() {
	head -n1 $CHF | sed 's/ *$//' | grep -qx "kup-stat 1 name=kup_echo size=1 channels=4 state=open" &&
		[ "$(grep -c "^chan=" $CHF)" -eq 4 ] &&
		# every line is padded to the same width, so a long read comes in whole lines
		[ "$(awk '{ print length($0) }' $CHF | sort -u)" = 399 ] &&
		[ "$(dd if=$CHF bs=1000 count=1 2>/dev/null | wc -c)" -eq 800 ]
}
stat_counts() {
	l0=$(grep "^chan=0 " $CHF)
	echo "# $l0"
	r=$(kv received "$l0")
	s=$(kv sent "$l0")
	a=$(kv attaches "$l0") # the integration suite attached kup_echo too
	[ "$r" -ge 2000 ] && [ "$a" -ge 1 ] && [ "$s" -eq $((r + a)) ] && [ "$(kv pid "$l0")" = 0 ] &&
		[ "$(kv proto_errors "$l0")" = 0 ] &&
		kupctl stat kup_echo | awk -v s="$s" -v r="$r" '$1 == "0" && $4 == s && $5 == r { ok = 1 } END { exit !ok }'
}
step "kupctl list shows kup_echo.ko's device" sh -c 'kupctl list | grep -Eq "^kup_echo +kernel +4 +0 +1 +open$"'
step "sysfs channels: the header and one line per channel" stat_header
step "sysfs channels: the echo client's messages, one answer each and a hello per attach" stat_counts
step "kupctl top -n 2 against kup.ko" sh -c '[ "$(kupctl top -n 2 -d 0.2 | grep -c "^kup_echo  *kernel  *0 ")" -eq 2 ]'

# Tracepoints: events/kup/* in tracefs while the echo client runs against
# kup_echo.ko, then kup_echo's unload; the trace must hold the expected
# order, and as many sleeps, wake-ups and messages as kup.ko counted.
echo "# --- tracing: kup.ko's tracepoints (events/kup)"
T=/sys/kernel/tracing
trace_setup() {
	{ [ -d $T/events ] || mount -t tracefs nodev $T; } &&
		for e in attach detach send recv sleep wake proto unload; do
			[ -d $T/events/kup/kup_$e ] || { echo "# no event kup_$e"; return 1; }
		done
}
trace_echo() {
	before=$(grep "^chan=0 " $CHF)
	echo 0 >$T/tracing_on && echo >$T/trace && echo 1 >$T/events/kup/enable && echo 1 >$T/tracing_on || return 1
	KUP_BACKEND=kernel echo_client -n 300 >/tmp/echo.out 2>&1 || { cat /tmp/echo.out; return 1; }
	after=$(grep "^chan=0 " $CHF)
	rmmod kup_echo || return 1
	echo 0 >$T/tracing_on
	echo 0 >$T/events/kup/enable
	insmod /mod/kup_echo.ko || return 1
	# The events of kup_echo's device, in order, as one line of names.
	seq=$(awk '/ kup_[a-z]+: kup_echo / { for (i = 1; i <= NF; i++) if ($i ~ /^kup_[a-z]+:$/) { print substr($i, 5, length($i) - 5); break } }' $T/trace | tr '\n' ' ')
	echo "# trace: $(echo "$seq" | wc -w) events: $(echo "$seq" | cut -c1-120)..."
	core=$(echo " $seq" | sed 's/ sleep//g; s/ wake//g')
	echo "$core" | grep -Eq '^ attach send (recv send )+detach unload $' || { echo "# unexpected order: $(echo "$core" | cut -c1-200)"; return 1; }
	n() { echo "$seq" | tr ' ' '\n' | grep -c "^$1\$"; }
	d() { echo $(($(kv "$1" "$after") - $(kv "$1" "$before"))); }
	echo "# recv $(n recv)/$(d received) send $(n send)/$(d sent) sleep $(n sleep)/$(d sleeps) wake $(n wake)/$(d wakeups)"
	[ "$(n recv)" -eq "$(d received)" ] && [ "$(n send)" -eq "$(d sent)" ] &&
		[ "$(n sleep)" -eq "$(d sleeps)" ] && [ "$(n wake)" -eq "$(d wakeups)" ] &&
		[ "$(n recv)" -ge 300 ] && grep -q "kup_attach: kup_echo chan=0 pid=" $T/trace
}
if [ "${KUP_VM_LEAN:-0}" = 1 ]; then
	# The debug kernel (make suite-vm-debug): built without tracing or networking.
	echo "# skip reason: this kernel is built without tracing and networking (tests/vm/debug-kernel.config): no tracepoint test, no bench_vm --smoke"
	skipped=$((skipped + 2))
else
	step "tracefs lists kup.ko's eight events" trace_setup
	step "trace of the echo client: attach, send/receive pairs, detach, unload; counts match" trace_echo
	# make bench-vm's modules, so they cannot rot: every mechanism echoes the right bytes.
	step "insmod kupcmp.ko" insmod /mod/kupcmp.ko
	step "insmod kupcmp_kup.ko" insmod /mod/kupcmp_kup.ko
	echo "# --- bench_vm --smoke: the echo over KUP, read/write, ioctl and generic netlink"
	suite bench_vm_smoke env KUP_BACKEND=kernel bench_vm --smoke
	step "rmmod kupcmp_kup" rmmod kupcmp_kup
	step "rmmod kupcmp" rmmod kupcmp
fi

# The soak's short run: kupvt is unloaded and loaded again (without leak=1)
# on the way; kupvt_leak, shut down at the first unload, stays.
echo "# --- soak: a hostile process, short run (counts divided by ${SOAK_DIV:-20})"
t0=$(date +%s)
suite soak env SOAK_DIV="${SOAK_DIV:-20}" soak
echo "# soak took $(($(date +%s) - t0)) s"

step "rmmod kup_echo" rmmod kup_echo
step "rmmod kup_test" rmmod kup_test
step "rmmod kupvt" rmmod kupvt
# vmtest reloaded kupvt with leak=1: kupvt_leak was shut down, never unloaded.
step "kupvt_leak outlived kupvt" test -e /dev/kupvt_leak
step "rmmod kup" rmmod kup
step "kup.ko's exit removed every node" sh -c '[ ! -e /sys/class/kup ] && [ ! -e /dev/kupvt_leak ] && [ ! -e /dev/kupvt ]'
step "a stale node name opens nothing" sh -c '! cat /dev/kupvt_leak 2>/dev/null' 
echo "$pass passed, $fail failed, $skipped skipped"
