#!/bin/bash
# Instructions per 8-byte round trip (bench/icount.c) under callgrind:
# (Ir of 2N round trips - Ir of N) / N, so set-up and first touches cancel;
# core_only: the same round trips over two core ends, the protocol alone.
# Deterministic for one binary: the machine's load does not change it.
#   bench/icount.sh BINARY [N]      prints one JSON line
set -euo pipefail
bin=$1
n=${2:-2000}
command -v valgrind >/dev/null || { echo '{"icount": null, "why": "valgrind not installed"}'; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# ir N [core]: instructions of N round trips (the protocol alone with "core").
ir() {
	KUP_RUNTIME_DIR=$tmp valgrind --tool=callgrind --toggle-collect="round_trips${2:+_$2}" \
		--callgrind-out-file="$tmp/cg.$1${2:-}" "$bin" "$1" ${2:-} >/dev/null 2>"$tmp/vg.$1${2:-}"
	sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$tmp/cg.$1${2:-}"
}
per() {
	local a b
	a=$(ir "$n" ${1:-})
	b=$(ir $((2 * n)) ${1:-})
	[ -n "$a" ] && [ -n "$b" ] && [ "$b" -gt "$a" ] || { echo "icount: callgrind gave no summary" >&2; exit 1; }
	echo $(((b - a) / n))
}
all=$(per)
core=$(per core)
echo "{\"icount_per_round_trip\": $all, \"core_only\": $core, \"round_trips\": $n, \"binary\": \"$(basename "$bin")\"}"
