#!/bin/bash
# Instructions per 8-byte round trip (bench/icount.c) under callgrind:
# (Ir of 2N round trips - Ir of N) / N, so set-up and first touches cancel.
# Deterministic for one binary: the machine's load does not change it.
#   bench/icount.sh BINARY [N]      prints one JSON line
set -euo pipefail
bin=$1
n=${2:-2000}
command -v valgrind >/dev/null || { echo '{"icount": null, "why": "valgrind not installed"}'; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ir() {
	KUP_RUNTIME_DIR=$tmp valgrind --tool=callgrind --toggle-collect=round_trips \
		--callgrind-out-file="$tmp/cg.$1" "$bin" "$1" >/dev/null 2>"$tmp/vg.$1"
	sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$tmp/cg.$1"
}
a=$(ir "$n")
b=$(ir $((2 * n)))
[ -n "$a" ] && [ -n "$b" ] || { echo "icount: callgrind gave no summary" >&2; exit 1; }
echo "{\"icount_per_round_trip\": $(((b - a) / n)), \"round_trips\": $n, \"binary\": \"$(basename "$bin")\"}"
