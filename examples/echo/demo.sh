#!/bin/bash
# The provider demo: start the echo service as a program with a private
# runtime directory, wait until it is ready, run the client against it,
# stop the service, and say how it went.
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
rt=$PWD/$B/run/demo
rm -rf "$rt" && mkdir -p "$rt" || exit 1
export KUP_RUNTIME_DIR=$rt KUP_BACKEND=provider

echo "== starting the echo service (provider program $B/examples/kup_echo)"
KUPSVC_READY_FILE=$rt/ready "$B/examples/kup_echo" 2>"$rt/kup_echo.log" &
svc=$!
for _ in $(seq 100); do
	[ -s "$rt/ready" ] && break
	kill -0 $svc 2>/dev/null || break
	sleep 0.1
done
if [ ! -s "$rt/ready" ]; then
	echo "the echo service did not start:"; cat "$rt/kup_echo.log"
	kill $svc 2>/dev/null; wait $svc 2>/dev/null
	exit 1
fi
echo "== $(cat "$rt/ready"), socket $rt/kup_echo"
echo "== running the client"
"$B/examples/echo_client" -n "${DEMO_ROUNDS:-100000}"
crc=$?
kill -TERM $svc
wait $svc
src=$?
echo "== summary"
if [ $crc -eq 0 ] && [ $src -eq 0 ]; then
	echo "demo-provider: OK (client exchanged and timed its messages; the service stopped cleanly)"
	exit 0
fi
echo "demo-provider: FAILED (client exit $crc, service exit $src)"
sed 's/^/  service: /' "$rt/kup_echo.log"
exit 1
