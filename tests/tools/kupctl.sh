#!/bin/bash
# kupctl list, stat and top against a provider device (the echo example),
# during and after the echo client's traffic.  The kernel side of the same
# commands runs in the VM suite (tests/vm/guest-suite.sh).
# usage: tests/tools/kupctl.sh KUPCTL KUP_ECHO ECHO_CLIENT
set -u
kupctl=$1 echo_prov=$2 client=$3
export KUP_RUNTIME_DIR
KUP_RUNTIME_DIR=$(mktemp -d /tmp/kupctl-test.XXXXXX)
export KUP_BACKEND=provider
pass=0 fail=0 pid=
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$KUP_RUNTIME_DIR"
}
trap cleanup EXIT
# field KEY LINE: the value of KEY=value in LINE
field() { sed -n "s/.*[ ^]$1=\([^ ]*\).*/\1/p" <<<" $2"; }

out=$("$kupctl" list 2>&1)
check "list: nothing in an empty runtime directory" '[ "$(wc -l <<<"$out")" -eq 1 ]'
"$kupctl" stat nosuchdev >/dev/null 2>&1
check "stat of a missing device fails" '[ $? -eq 1 ]'

coproc PROV { exec "$echo_prov"; }
pid=$PROV_PID
read -r -t 10 ready <&"${PROV[0]}"
check "the echo provider is ready" '[[ ${ready:-} == ready* ]]'

out=$("$kupctl" list)
check "list: the provider device" 'grep -Eq "^kup_echo +provider +4 +0 +1 +open$" <<<"$out"'
raw=$("$kupctl" stat -r kup_echo)
check "stat -r: header" '[ "$(head -n1 <<<"$raw")" = "kup-stat 1 name=kup_echo size=1 channels=4 state=open" ]'
check "stat -r: one line per channel" '[ "$(grep -c "^chan=" <<<"$raw")" -eq 4 ]'

# Traffic: top samples while the client runs, then its counts must add up.
timeout 60 "$client" -n 20000 >/tmp/kupctl-client.$$ 2>&1 &
cpid=$!
top=$(timeout 30 "$kupctl" top -n 3 -d 0.3 kup_echo)
wait $cpid
check "the echo client ran" '[ $? -eq 0 ]'
rm -f /tmp/kupctl-client.$$
check "top: three frames" '[ "$(grep -c "^kupctl top: 1 device" <<<"$top")" -eq 3 ]'
check "top: a channel row" 'grep -Eq "^kup_echo +provider +0 " <<<"$top"'

raw=$("$kupctl" stat -r kup_echo)
l0=$(grep "^chan=0 " <<<"$raw")
sent=$(field sent "$l0") recv=$(field received "$l0")
# The client sends rounds + its batches and its last message; the service answers each one, plus its first turn.
check "stat: channel 0 carried the client's messages" '[ "${recv:-0}" -ge 20000 ]'
check "stat: one answer per message, and the hello" '[ "$sent" -eq $((recv + 1)) ]'
check "stat: the client left" '[ "$(field pid "$l0")" = 0 ] && [ "$(field attaches "$l0")" = 1 ]'
check "stat: no protocol error" '[ "$(field proto_errors "$l0")" = 0 ]'
table=$("$kupctl" stat kup_echo)
row=$(awk '$1 == "0" { print $4, $5 }' <<<"$table")
check "stat: the table shows the same counts" '[ "$row" = "$sent $recv" ]'
out=$("$kupctl" list)
check "list: nobody attached now" 'grep -Eq "^kup_echo +provider +4 +0 " <<<"$out"'

# Rates: top while a long client runs (found attached first) shows traffic.
"$client" -n 3000000 >/dev/null 2>&1 &
cpid=$!
for _ in $(seq 200); do
	[ "$(field pid "$("$kupctl" stat -r kup_echo | grep "^chan=0 ")")" = "$cpid" ] && break
	sleep 0.05
done
top=$("$kupctl" top -n 2 -d 0.5 kup_echo)
kill $cpid 2>/dev/null; wait $cpid 2>/dev/null
rate=$(awk '/^kupctl top/ { f++ } f == 2 && $1 == "kup_echo" && $3 == "0" { print $6 }' <<<"$top")
echo "# top, second frame, channel 0: ${rate:-none} messages/s sent by the provider"
check "top: a rate while the client runs" '[ "${rate:-0}" -gt 0 ]'
check "top: the client's pid" 'awk -v p=$cpid '"'"'$1 == "kup_echo" && $4 == p { ok = 1 } END { exit !ok }'"'"' <<<"$top"'

kill "$pid"; wait "$pid" 2>/dev/null; pid=

# A provider older than KW_STAT hangs up on a request it does not know.
python3 - "$KUP_RUNTIME_DIR/oldprov" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(sys.argv[1])
s.listen(4)
for _ in range(2):
    c, _ = s.accept()
    c.recv(64)
    c.close()
PY
old=$!
for _ in $(seq 50); do [ -S "$KUP_RUNTIME_DIR/oldprov" ] && break; sleep 0.1; done
out=$("$kupctl" list)
check "list: an older provider is listed, without state" 'grep -Eq "^oldprov +provider .*older provider" <<<"$out"'
msg=$("$kupctl" stat oldprov 2>&1)
rc=$?
check "stat: an older provider is refused cleanly" '[ $rc -eq 1 ] && grep -q "older than KW_STAT" <<<"$msg"'
wait $old
out=$("$kupctl" list)
check "list: the device is gone with its provider" '! grep -q kup_echo <<<"$out"'
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
