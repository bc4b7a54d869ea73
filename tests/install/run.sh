#!/bin/bash
# The installed library, used the way a user uses it: `make install` into a
# staging root, build the echo example's client and service against the
# staged headers and libraries with pkg-config, run them, and check that
# the shared libraries export nothing but the API.  TAP, then the counts.
set -u
cd "$(dirname "$0")/../.."
root=$PWD
B=${B:-build}
mkdir -p "$B/run"
stage=$(mktemp -d "$root/$B/run/install.XXXXXX") || exit 1
# The service's socket lives in $stage/work/rt: a deep checkout stages in /tmp
# instead, so its path fits sockaddr_un.
if [ ${#stage} -gt 60 ]; then
	rmdir "$stage"
	stage=$(mktemp -d /tmp/kup-install.XXXXXX) || exit 1
fi
dest=$stage/root
work=$stage/work
mkdir -p "$dest" "$work"
n=0 pass=0 fail=0

ok() { n=$((n + 1)); pass=$((pass + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $1"
	[ -f "$work/log" ] && sed 's/^/#   /' "$work/log" | tail -n 30
}
check() { # check NAME COMMAND...: one test per command, output in $work/log
	local name=$1; shift
	if "$@" >"$work/log" 2>&1; then ok "$name"; else not_ok "$name"; fi
}
finish() {
	echo "1..$n"
	echo "$pass passed, $fail failed"
	[ $fail -eq 0 ] && rm -rf "$stage"
	[ $fail -eq 0 ]
	exit $?
}

check "make install DESTDIR=... PREFIX=/usr" make --no-print-directory install DESTDIR="$dest" PREFIX=/usr
lib=$dest/usr/lib
check "headers installed" test -f "$dest/usr/include/kup.h" -a -f "$dest/usr/include/kupdev.h" \
	-a -f "$dest/usr/include/kup_abi.h" -a -f "$dest/usr/include/kupsvc.h" \
	-a -f "$dest/usr/include/kupsvc_host.h"
check "libraries installed" test -e "$lib/libkup.so" -a -e "$lib/libkupdev.so" -a -f "$lib/libkup.a"

export PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_LIBDIR=$lib/pkgconfig
check "pkg-config knows kup and kupdev" pkg-config --exists kup kupdev
kup_flags=$(pkg-config --cflags --libs kup 2>/dev/null)
dev_flags=$(pkg-config --cflags --libs kupdev 2>/dev/null)
echo "# kup: $kup_flags"
echo "# kupdev: $dev_flags"
check "pkg-config flags point into the staging root" \
	bash -c "[[ '$kup_flags' == *'-I$dest/usr/include'* && '$kup_flags' == *'-L$lib'* ]]"

# Built as a user would: only the staged tree, no -I into the source tree.
cc_user() { ${CC:-cc} -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -O2 "$@"; }
check "client builds with pkg-config kup" cc_user examples/echo/echo_client.c -o "$work/echo_client" $kup_flags -lpthread
check "service builds with pkg-config kupdev" cc_user examples/echo/kup_echo.c -o "$work/kup_echo" $dev_flags -lpthread
check "client links statically with pkg-config --static" cc_user examples/echo/echo_client.c \
	-o "$work/echo_client_static" $(pkg-config --cflags kup) "$lib/libkup.a" $(pkg-config --static --libs-only-l kup | sed 's/-lkup//') -lpthread

run_pair() { # run_pair CLIENT: the staged service and a client, private runtime dir
	local rt=$work/rt svc rc
	rm -rf "$rt"; mkdir -p "$rt"
	export KUP_RUNTIME_DIR=$rt KUP_BACKEND=provider LD_LIBRARY_PATH=$lib
	KUPSVC_READY_FILE=$rt/ready "$work/kup_echo" >/dev/null 2>"$rt/svc.log" &
	svc=$!
	# Bounded poll for the ready line (a minute, for a slow or loaded machine).
	for _ in $(seq 600); do
		[ -s "$rt/ready" ] && break
		kill -0 $svc 2>/dev/null || break
		sleep 0.1
	done
	if [ ! -s "$rt/ready" ]; then
		echo "the service did not get ready"
		kill -KILL $svc 2>/dev/null
		wait $svc
		cat "$rt/svc.log"
		return 1
	fi
	"$1" -n 2000; rc=$?
	kill -TERM $svc; wait $svc || rc=1
	cat "$rt/svc.log"
	return $rc
}
check "installed service and client exchange" run_pair "$work/echo_client"
check "statically linked client exchanges" run_pair "$work/echo_client_static"
check "the programs use the staged libraries" \
	bash -c "LD_LIBRARY_PATH='$lib' ldd '$work/echo_client' | grep -q '$lib/libkup.so.0'"

exports() { # exports LIB PATTERN: every defined dynamic symbol matches PATTERN
	local bad
	nm -D --defined-only "$1" >"$work/syms" || return 1
	bad=$(awk '$2 != "A" { print $3 }' "$work/syms" | grep -Ev "$2")
	echo "symbols: $(awk '$2 != "A"' "$work/syms" | wc -l)"
	[ -z "$bad" ] || { echo "unexpected exports:"; echo "$bad"; return 1; }
}
check "libkup.so exports only kernproxy_*" exports "$lib/libkup.so" '^kernproxy_'
check "libkupdev.so exports only kupdev_*/kup_*" exports "$lib/libkupdev.so" '^(kupdev_|kup_)'
finish
