#!/bin/sh
# Runs inside the VM (busybox sh): load the modules, run the suites, unload.
# Each suite prints TAP and "N passed, N failed"; the steps here are TAP too
# and end with their own count line.  usage: guest-suite.sh [demo]
pass=0
fail=0
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

# make bench-vm's modules, so they cannot rot: every mechanism echoes the right bytes.
step "insmod kupcmp.ko" insmod /mod/kupcmp.ko
step "insmod kupcmp_kup.ko" insmod /mod/kupcmp_kup.ko
echo "# --- bench_vm --smoke: the echo over KUP, read/write, ioctl and generic netlink"
suite bench_vm_smoke env KUP_BACKEND=kernel bench_vm --smoke
step "rmmod kupcmp_kup" rmmod kupcmp_kup
step "rmmod kupcmp" rmmod kupcmp

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
echo "$pass passed, $fail failed"
