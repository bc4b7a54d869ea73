# Sourced by the VM suites: the checks of a run itself, after the guest's
# tests (tests/tally.sh counted those into p and f), numbered on from them
# and named with what went wrong, so that a list of failing tests says why.
#   t=$((p + f)); tap_check OK NAME [WHY]     OK: 1 passed, 0 failed
tap_check() {
	t=$((t + 1))
	if [ "$1" -eq 1 ]; then
		echo "ok $t - $2"; p=$((p + 1))
	else
		echo "not ok $t - $2${3:+ ($3)}"; f=$((f + 1))
	fi
}
