#!/bin/bash
# Instructions per 8-byte round trip (bench/icount.c) under callgrind:
# (Ir of 2N round trips - Ir of N) / N, so set-up and first touches cancel.
# Deterministic for one binary in `single` mode (the machine's load does not
# change it); the two-thread modes (block, fused) vary by a few instructions
# per round trip with where valgrind switches threads.
#   bench/icount.sh BINARY [N]      prints one JSON line
set -euo pipefail
bin=$1
n=${2:-2000}
command -v valgrind >/dev/null || { echo '{"icount": null, "why": "valgrind not installed"}'; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# ir MODE N FUNCTION...: instructions inside the FUNCTIONs over N round trips.
ir() {
	local mode=$1 rt=$2 f tog=()
	shift 2
	for f in "$@"; do tog+=("--toggle-collect=$f"); done
	KUP_RUNTIME_DIR=$tmp valgrind --tool=callgrind "${tog[@]}" \
		--callgrind-out-file="$tmp/cg.$mode.$rt" "$bin" "$rt" "$mode" >/dev/null 2>"$tmp/vg.$mode.$rt"
	sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$tmp/cg.$mode.$rt"
}
# per MODE FUNCTION...: single: the difference of N and 2N round trips over N
# (exact); the two-thread modes vary with where valgrind switches threads,
# which the difference would magnify: their total over 4N round trips, the
# calls outside the loop counted in (a few hundred instructions in all).
per() {
	local a b
	if [ "$1" != single ]; then
		a=$(ir "$1" $((4 * n)) "${@:2}")
		[ -n "$a" ] || { echo "icount: callgrind gave no summary ($1)" >&2; exit 1; }
		echo $((a / (4 * n)))
		return
	fi
	a=$(ir "$1" "$n" "${@:2}")
	b=$(ir "$1" $((2 * n)) "${@:2}")
	[ -n "$a" ] && [ -n "$b" ] || { echo "icount: callgrind gave no summary ($1)" >&2; exit 1; }
	echo $(((b - a) / n))
}
single=$(per single round_trips)
block=$(per block kern_trips user_trips)
fused=$(per fused kern_trips user_trips)
echo "{\"icount_per_round_trip\": $single, \"icount_block_4_calls\": $block," \
	"\"icount_block_send_recv\": $fused, \"round_trips\": $n, \"binary\": \"$(basename "$bin")\"}"
