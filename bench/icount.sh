#!/bin/bash
# Instructions per 8-byte round trip (bench/icount.c) under callgrind:
# (Ir of 2N round trips - Ir of N) / N, so set-up and first touches cancel;
# libs_only: without the loop's own instructions (libkup + provider + core);
# core_only: the same round trips over two core ends, the protocol alone.
# Deterministic for one binary: the machine's load does not change it.
#   bench/icount.sh BINARY [N]      prints one JSON line
set -euo pipefail
bin=$1
n=${2:-2000}
command -v valgrind >/dev/null || { echo '{"icount": null, "why": "valgrind not installed"}'; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# ir N [core|libs]: instructions of N round trips: all of them; the protocol alone
# ("core"); without the loop's own ("libs": libkup, the provider and core only).
ir() {
	local f=$tmp/cg.$1${2:-} fn=round_trips arg=${2:-}
	[ "$arg" = core ] && fn=round_trips_core
	[ "$arg" = libs ] && arg=
	KUP_RUNTIME_DIR=$tmp valgrind --tool=callgrind --toggle-collect="$fn" \
		--callgrind-out-file="$f" "$bin" "$1" $arg >/dev/null 2>"$f.vg"
	if [ "${2:-}" = libs ]; then
		# The loop's own instructions (argument set-up, PLT jumps, result checks) out.
		echo $(($(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$f") - $(callgrind_annotate \
			--inclusive=no "$f" | sed -n 's/^ *\([0-9,]*\) .*:round_trips .*/\1/p' | tr -d ,)))
	else
		sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$f"
	fi
}
per() {
	local a b
	a=$(ir "$n" ${1:-})
	b=$(ir $((2 * n)) ${1:-})
	[ -n "$a" ] && [ -n "$b" ] && [ "$b" -gt "$a" ] || { echo "icount: callgrind gave no summary" >&2; exit 1; }
	echo $(((b - a) / n))
}
all=$(per)
libs=$(per libs)
core=$(per core)
echo "{\"icount_per_round_trip\": $all, \"libs_only\": $libs, \"core_only\": $core, \"round_trips\": $n, \"binary\": \"$(basename "$bin")\"}"
