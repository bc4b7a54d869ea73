#!/bin/bash
# bench-smoke: run kupbench for about a second and check only the shape of
# what it writes (well-formed JSON, every record complete, every part
# present).  No timing is judged here: that is `make bench`'s job.
# usage: bench/smoke.sh KUPBENCH OUTDIR
set -u
bin=${1:?usage: smoke.sh KUPBENCH OUTDIR}
out=${2:?usage: smoke.sh KUPBENCH OUTDIR}
pass=0 fail=0 n=0
ok() { n=$((n + 1)); pass=$((pass + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $1"; [ $# -gt 1 ] && echo "# $2"; }

rm -rf "$out" && mkdir -p "$out"
# kupbench puts its provider sockets in $out/run; from a deep checkout
# their paths would not fit sockaddr_un: a short directory then.
rtdir=
if [ -z "${KUP_RUNTIME_DIR:-}" ] && [ $(( ${#out} + 4 )) -gt 60 ]; then
	rtdir=$(mktemp -d /tmp/kupbench.XXXXXX) || exit 1
	export KUP_RUNTIME_DIR=$rtdir
	trap 'rm -rf "$rtdir"' EXIT
fi
echo "TAP version 13"
if timeout 120 "$bin" --quick --out "$out" >"$out/stdout.txt" 2>"$out/stderr.txt"; then
	ok "kupbench --quick exits 0"
else
	nok "kupbench --quick exits 0" "exit $?: $(tail -n 3 "$out/stderr.txt" | tr '\n' ' ')"
fi
json=$out/kupbench.json

# The checks, in whichever JSON reader the machine has.
check_py() {
	python3 - "$json" "$1" <<'EOF'
import json, sys
path, what = sys.argv[1], sys.argv[2]
try:
    recs = json.load(open(path))
except Exception as e:
    print(str(e)); sys.exit(1)
if what == "wellformed":
    sys.exit(0 if isinstance(recs, list) and recs else 1)
req = ["name", "mode", "size", "channels", "median", "p99", "unit", "reference", "ratio"]
num = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
if what == "fields":
    bad = [r for r in recs if not isinstance(r, dict) or any(k not in r for k in req)
           or not num(r["median"]) or not num(r["p99"]) or not num(r["size"])
           or not num(r["channels"]) or not (r["ratio"] is None or num(r["ratio"]))
           or ("rtt" in r["name"] and r["unit"] != "ns")
           or ("throughput" in r["name"] and r["unit"] != "B/s")]
    for r in bad[:3]: print("bad record: " + json.dumps(r))
    sys.exit(1 if bad else 0)
if what == "paired":
    # Round trips: every ratio carries its reference's ns and the per-round
    # spread, and is the median of the ratios of same-round pairs.
    bad, seen = [], set()
    for r in recs:
        if r["channels"] != 1:
            continue
        if r["mode"] == "ref" and r["name"] in ("cacheline rtt", "futex rtt"):
            v = r.get("round_median")
            if not (isinstance(r.get("rounds"), int) and r["rounds"] >= 1 and isinstance(v, list)
                    and len(v) == r["rounds"] and all(num(x) and x > 0 for x in v)):
                bad.append(r)
            continue
        if r["name"] not in ("kup rtt", "kup rtt unread", "kup turn overhead", "core rtt",
                             "core turn overhead", "locked turn", "read-only turn"):
            continue
        seen.add((r["name"], r["mode"]))
        v, rv = r.get("round_median"), r.get("round_ref_median")
        ok = (num(r.get("ref_median")) and r["ref_median"] > 0 and num(r["ratio"])
              and isinstance(r.get("rounds"), int) and r["rounds"] >= 1
              and isinstance(r.get("rounds_preempted"), int) and r["rounds_preempted"] >= 0
              and all(num(r.get(k)) for k in ("ratio_min", "ratio_p25", "ratio_p75", "ratio_max"))
              and isinstance(v, list) and isinstance(rv, list)
              and len(v) == r["rounds"] and len(rv) == r["rounds"]
              and all(num(x) for x in v) and all(num(x) and x > 0 for x in rv))
        if ok:
            q = sorted(a / b for a, b in zip(v, rv))
            med = q[int(0.5 * (len(q) - 1) + 0.5)]
            eps = 1e-4 * max(abs(med), 1e-9)
            ok = (r["ratio_min"] - eps <= r["ratio_p25"] + eps and
                  r["ratio_p25"] <= r["ratio"] + eps and r["ratio"] <= r["ratio_p75"] + eps and
                  r["ratio_p75"] <= r["ratio_max"] + eps and abs(r["ratio"] - med) <= eps
                  and ("overhead" in r["name"] or (r["median"] > 0 and r["ratio"] > 0)))
        if not ok:
            bad.append(r)
    for r in bad[:3]:
        r = {k: r[k] for k in r if not k.startswith("round_")}
        print("bad paired record: " + json.dumps(r))
    missing = [w for w in [("kup rtt unread", "poll"), ("kup rtt unread", "adaptive"),
                           ("kup turn overhead", "poll"), ("core rtt", "poll"),
                           ("core rtt", "block"), ("core turn overhead", "adaptive"),
                           ("locked turn", "poll"), ("read-only turn", "adaptive")] if w not in seen]
    for w in missing: print("missing: %s %s" % w)
    sys.exit(1 if bad or missing else 0)
names = {(r["name"], r["mode"]) for r in recs}
want = {"refs": [("cacheline rtt", "ref"), ("futex rtt", "ref"), ("eventfd rtt", "ref"),
                 ("pipe rtt", "ref"), ("unix rtt", "ref"), ("null syscall", "ref"),
                 ("memcpy throughput", "ref")],
        "kup": [("kup rtt", "poll"), ("kup rtt", "block"), ("kup rtt", "adaptive"),
                ("kup throughput k2u", "copy"), ("kup throughput k2u", "zerocopy"),
                ("kup throughput u2k", "copy"), ("kup throughput u2k", "zerocopy"),
                ("kup syscalls per msg", "adaptive"), ("kup idle cpu", "user-waits"),
                ("kup idle cpu", "kern-waits"), ("kup send cost", "peer-sleeps")]}[what]
missing = [w for w in want if w not in names]
for w in missing: print("missing: %s %s" % w)
sys.exit(1 if missing else 0)
EOF
}

check_jq() {
	case $1 in
	wellformed) jq -e 'type == "array" and length > 0' "$json" >/dev/null ;;
	fields) jq -e 'all(.[]; has("name") and has("mode") and has("size") and has("channels")
		and has("median") and has("p99") and has("unit") and has("reference") and has("ratio")
		and (.median | type) == "number" and (.p99 | type) == "number"
		and (((.name | test("rtt")) | not) or .unit == "ns")
		and (((.name | test("throughput")) | not) or .unit == "B/s"))' "$json" >/dev/null ;;
	refs) jq -e '[.[] | .name] as $n | all(("cacheline rtt", "futex rtt", "eventfd rtt",
		"pipe rtt", "unix rtt", "null syscall", "memcpy throughput"); . as $w | $n | index($w))' \
		"$json" >/dev/null ;;
	kup) jq -e '[.[] | .name + " " + .mode] as $n | all(("kup rtt poll", "kup rtt block",
		"kup rtt adaptive", "kup throughput k2u copy", "kup throughput k2u zerocopy",
		"kup throughput u2k copy", "kup throughput u2k zerocopy",
		"kup syscalls per msg adaptive", "kup idle cpu user-waits", "kup idle cpu kern-waits",
		"kup send cost peer-sleeps"); . as $w | $n | index($w))' "$json" >/dev/null ;;
	paired) jq -e '[.[] | select(.channels == 1 and (.name == "kup rtt" or .name == "kup rtt unread"
		or .name == "kup turn overhead" or .name == "core rtt" or .name == "core turn overhead"
		or .name == "locked turn" or .name == "read-only turn"))] as $p
		| ($p | length) > 0
		and ([$p[] | .name + " " + .mode] | index("kup rtt unread poll") and index("kup rtt unread adaptive")
			and index("core rtt poll") and index("core rtt block") and index("locked turn poll")
			and index("read-only turn adaptive"))
		and all($p[]; (.ref_median | type) == "number" and .ref_median > 0
			and (.rounds | type) == "number" and .rounds >= 1 and .rounds_preempted >= 0
			and .ratio_min <= .ratio_p25 and .ratio_p75 <= .ratio_max
			and (.round_median | length) == .rounds and (.round_ref_median | length) == .rounds)' \
		"$json" >/dev/null ;;
	esac
}

if python3 -c 'import json' 2>/dev/null; then checker=check_py
elif command -v jq >/dev/null; then checker=check_jq
else checker=; fi

for t in "wellformed:JSON is well-formed and not empty" \
	"fields:every record has name, mode, size, channels, median, p99, unit, reference, ratio" \
	"refs:every reference was measured" \
	"kup:every KUP measurement was made" \
	"paired:round trips carry ref ns, per-round spread and same-round ratios"; do
	what=${t%%:*} desc=${t#*:}
	if [ -z "$checker" ]; then
		n=$((n + 1)); echo "ok $n - $desc # SKIP neither python3 nor jq to read JSON"
		continue
	fi
	if [ ! -s "$json" ]; then
		nok "$desc" "no $json"
	elif msg=$($checker "$what" 2>&1); then
		ok "$desc"
	else
		nok "$desc" "$(echo "$msg" | head -n 5 | tr '\n' ' ')"
	fi
done
if grep -q '^targets:' "$out/stdout.txt" 2>/dev/null; then ok "table and target summary printed"
else nok "table and target summary printed"; fi
echo "1..$n"
skipped=$((n - pass - fail))
if [ "$skipped" -gt 0 ]; then echo "$pass passed, $fail failed, $skipped skipped"
else echo "$pass passed, $fail failed"; fi
[ "$fail" -eq 0 ]
