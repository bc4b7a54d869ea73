#!/bin/bash
# Run the integration suite against a backend.
#
#   tests/integ/run.sh SUITE_BINARY [TEST-NAME-FILTER...]
#
# KUP_BACKEND=kernel: the kup_test module (and, if wanted, kup_echo) is
# loaded already; the suite runs as is.  Otherwise (the provider backend,
# the default) this script starts the test service program $KUPTEST_SVC
# (default build/tests/kuptest_svc) with a private KUP_RUNTIME_DIR, waits
# for its ready line, runs the suite, stops the service and fails if the
# service did not exit cleanly (a sanitizer report makes it exit non-zero).
# KUPTEST_SVC_CMD, when set, replaces the way the service is started (it is
# run by bash -c, with KUP_RUNTIME_DIR and KUPSVC_READY_FILE exported).
set -u
bin=$1
shift
here=$(cd "$(dirname "$0")/../.." && pwd)

if [ "${KUP_BACKEND:-provider}" = kernel ]; then
	exec "$bin" "$@"
fi

# many_channels_parallel holds 128 channels (a few fds each, on both sides):
# a soft fd limit of 128 or so, as some CI containers set, is raised to the
# hard one for the service and the suite.
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true

svc=${KUPTEST_SVC:-$here/build/tests/kuptest_svc}
mkdir -p "$here/build/run"
rt=$(mktemp -d "$here/build/run/integ.XXXXXX") || exit 1
# Endpoints are Unix sockets in $rt: their paths must fit sockaddr_un (108
# bytes with the device name).  A deep checkout gets a short directory.
if [ ${#rt} -gt 60 ]; then
	rmdir "$rt"
	rt=$(mktemp -d /tmp/kup-integ.XXXXXX) || exit 1
fi
export KUP_RUNTIME_DIR=$rt KUP_BACKEND=provider KUPSVC_READY_FILE=$rt/ready KUPTEST_SVC=$svc
if [ -n "${KUPTEST_SVC_CMD:-}" ]; then
	bash -c "$KUPTEST_SVC_CMD" 2>"$rt/svc.log" &
else
	"$svc" 2>"$rt/svc.log" >/dev/null &
fi
pid=$!
unset KUPSVC_READY_FILE

# A bounded poll for the ready line: a slow or loaded machine gets a minute.
for _ in $(seq 600); do
	[ -s "$rt/ready" ] && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.1
done
if [ ! -s "$rt/ready" ]; then
	echo "# the test service did not get ready:"
	sed 's/^/#   /' "$rt/svc.log"
	kill -KILL $pid 2>/dev/null
	echo "0 passed, 1 failed"
	exit 1
fi

"$bin" "$@"
rc=$?

kill -TERM $pid 2>/dev/null
# A service that does not stop within 60 s is a failure too.
for _ in $(seq 600); do
	kill -0 $pid 2>/dev/null || break
	sleep 0.1
done
kill -KILL $pid 2>/dev/null
wait $pid
src=$?
if [ $src -ne 0 ]; then
	echo "# the test service exited with status $src; its log:"
	sed 's/^/#   /' "$rt/svc.log" | tail -n 60
	rc=1
elif grep -qE 'ERROR: (Address|Leak|Thread)Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$rt/svc.log"; then
	echo "# sanitizer report in the test service's log:"
	grep -A30 -E 'Sanitizer|runtime error:' "$rt/svc.log" | sed 's/^/#   /' | head -n 80
	rc=1
fi
[ $rc -eq 0 ] && rm -rf "$rt"
exit $rc
