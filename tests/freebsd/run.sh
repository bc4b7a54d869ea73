#!/bin/sh
# Build, load and test kup.ko on a FreeBSD machine (run as root):
#   1. build kup.ko, kup_test.ko and kup_echo.ko with bsd.kmod.mk
#      (SYSDIR defaults to /usr/src/sys: install the src component);
#   2. kldload them;
#   3. build the integration suite with libkup's kernel backend compiled in
#      (libkup's provider backend uses Linux futexes: tests/freebsd/
#      kp_prov_none.c stands in for it), and run it against the modules
#      (KUP_BACKEND=kernel);
#   4. kldunload them, and fail on new kernel-log lines that mean a kernel
#      bug (WITNESS lock order reversals, sleeping with a lock held, traps);
#   5. print "N passed, N failed".
# Never run in CI: no FreeBSD machine runs there (see docs/freebsd.md).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
B=${B:-build}
SYSDIR=${SYSDIR:-/usr/src/sys}
kdir=$top/kernel/freebsd
obj=$top/$B/freebsd-kmod
pass=0 fail=0

die() {
	echo "# $*"
	echo "$pass passed, $((fail + 1)) failed"
	exit 1
}
ok() { pass=$((pass + 1)); echo "ok $((pass + fail)) - $*"; }
notok() { fail=$((fail + 1)); echo "not ok $((pass + fail)) - $*"; }

[ "$(uname -s)" = FreeBSD ] || die "not FreeBSD: use 'make suite-freebsd' for the compile check"
[ "$(id -u)" -eq 0 ] || die "must run as root (kldload)"
[ -f "$SYSDIR/kern/kern_module.c" ] || die "no kernel sources in SYSDIR=$SYSDIR"
CC=${CC:-cc}
kldstat -q -m kup && die "a kup module is loaded already: kldunload it first"

# 1. Modules, built outside the tree (MAKEOBJDIRPREFIX keeps objects apart).
mkdir -p "$obj"
for d in "$kdir" "$kdir/kup_test" "$kdir/kup_echo"; do
	# make obj first: the object directory is chosen when make starts.
	if env MAKEOBJDIRPREFIX="$obj" make -C "$d" SYSDIR="$SYSDIR" obj >"$obj/build.log" 2>&1 &&
		env MAKEOBJDIRPREFIX="$obj" make -C "$d" SYSDIR="$SYSDIR" all >>"$obj/build.log" 2>&1; then
		ok "build $(basename "$d")"
	else
		sed 's/^/#   /' "$obj/build.log" | tail -n 40
		notok "build $(basename "$d")"
	fi
done
[ "$fail" -eq 0 ] || die "module build failed"
kmod() { find "$obj" -name "$1.ko" | head -n 1; }

dmesg_before=$(dmesg | wc -l)

# 2. Load: kup first, the services depend on it.
loaded=""
for m in kup kup_test kup_echo; do
	if kldload "$(kmod $m)"; then
		ok "kldload $m"
		loaded="$m $loaded"
	else
		notok "kldload $m"
	fi
done

# 3. The integration suite against the kernel backend.
if [ "$fail" -eq 0 ]; then
	integ=$top/$B/freebsd/kup_integ
	mkdir -p "$(dirname "$integ")"
	# shellcheck disable=SC2046 # word splitting of the source list is wanted
	if "$CC" -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE \
		-DKP_HAVE_KDEV -Iinclude -Iuspace -Ilib -Icore -Iprovider -Itests -Itests/svc -Itests/integ \
		$(ls tests/integ/*.c) lib/kp_api.c lib/kp_loop.c lib/kp_kdev.c uspace/kup_plat.c \
		uspace/kup_wire.c $(sed -n 's/^KUP_CORE = //p' core/sources.mk | sed 's|[^ ]*|core/&.c|g') \
		tests/freebsd/kp_prov_none.c \
		-o "$integ" -lpthread >"$obj/integ-build.log" 2>&1; then
		KUP_BACKEND=kernel tests/integ/run.sh "$integ" 2>&1 | tee "$obj/integ.log"
		line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$obj/integ.log" | tail -n 1)
		if [ -n "$line" ]; then
			p=${line%% passed*}
			f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
			pass=$((pass + p))
			fail=$((fail + f))
		else
			notok "integration suite printed no result line"
		fi
	else
		sed 's/^/#   /' "$obj/integ-build.log" | tail -n 40
		notok "build the integration suite"
	fi
fi

# 4. Unload (services first) and read the kernel log.
for m in $loaded; do
	if kldunload "$m"; then ok "kldunload $m"; else notok "kldunload $m"; fi
done
bad=$(dmesg | tail -n +"$((dmesg_before + 1))" |
	grep -E 'lock order reversal|sleeping with|Sleeping thread|Fatal trap|panic|WARNING' || true)
if [ -z "$bad" ]; then
	ok "kernel log clean"
else
	echo "$bad" | sed 's/^/#   /'
	notok "kernel log has warnings"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
