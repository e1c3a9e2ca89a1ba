#!/usr/bin/env bash
# Soak: socktrace on a long mixed load, checked for flat memory and exact
# accounting. The load (run under the tracer as one command, so its whole tree
# is followed, -f) repeats for --minutes: a burst of socket()+close(), several
# families, failures (bad family, flags, protocol, EMFILE), socketpair,
# accept, threads, a fork, and a fork storm of short-lived children. Every
# 10 s it samples the tracer's VmRSS and the occupancy of its BPF hash maps
# (traced, births, inflight, owners). At the end:
#   socket births recorded + every birth counted lost == calls the load made
# and RSS at the end within 10% (+4 MiB) of RSS after the first minute.
#
#   sudo Benchmarks/soak.sh [--minutes N] [--tracer PATH]   default 10, .build/release/socktrace
#
# Prints the figures and "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
minutes=10
tracer=$repo/.build/release/socktrace
while [ $# -gt 0 ]; do
	case "$1" in
	--minutes) minutes=$2; shift 2 ;;
	--tracer) tracer=$2; shift 2 ;;
	*) echo "soak.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
workload=$(dirname "$tracer")/socktrace-workload
[ -x "$tracer" ] && [ -x "$workload" ] || { echo "soak.sh: build first (need $tracer and $workload)" >&2; exit 2; }
seconds=$(python3 -c "print(int(float('$minutes') * 60))")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The load: one report line per call (the workload's own), under the tracer.
cat >"$work/load.sh" <<LOAD
end=\$((\$(date +%s) + $seconds))
while [ \$(date +%s) -lt \$end ]; do
	"$workload" burst=2000 inet-stream inet6-dgram unix-nonblock-cloexec netlink raw-icmp \\
		bad-family bad-flags bad-protocol emfile socketpair accept thread fork || exit 1
	"$workload" hold-processes=64 || exit 1
done
LOAD

# The recording is counted as it is written, through a FIFO: 10 minutes make
# ~80 M records (~36 GB of JSON), more than a disk should hold for a count.
mkfifo "$work/records"
python3 -c '
import json, sys
kinds, lost, end = {}, {}, None
for line in sys.stdin.buffer:
    kind = line[10:line.find(b"\"", 10)].decode("ascii", "replace") if line.startswith(b"{\"event\":\"") else "?"
    kinds[kind] = kinds.get(kind, 0) + 1
    if kind == "lost":
        for cause, by_kind in json.loads(line)["by_cause"].items():
            for k, n in by_kind.items():
                lost[cause + "/" + k] = lost.get(cause + "/" + k, 0) + n
    elif kind == "end":
        end = json.loads(line)
json.dump({"kinds": kinds, "lost": lost, "end": end}, sys.stdout)
' <"$work/records" >"$work/counts.json" &
counter=$!
"$tracer" --json -o "$work/records" -- /bin/sh "$work/load.sh" >"$work/truth.jsonl" 2>"$work/tracer.err" &
shell=$!
until grep -q Tracing "$work/tracer.err" 2>/dev/null; do
	kill -0 "$shell" 2>/dev/null || { cat "$work/tracer.err"; exit 1; }
	sleep 0.1
done
pid=$shell
: >"$work/samples"
started=$(date +%s)
while kill -0 "$pid" 2>/dev/null; do
	rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null)
	maps=""
	for fdinfo in /proc/"$pid"/fdinfo/*; do
		id=$(awk '/^map_id:/ {print $2}' "$fdinfo" 2>/dev/null)
		[ -n "$id" ] || continue
		name=$(bpftool map show id "$id" 2>/dev/null | sed -nE 's/.* name ([a-z_]+) .*/\1/p')
		case "$name" in traced | births | inflight | owners)
			maps+=" $name=$(bpftool map dump id "$id" -j 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null)" ;;
		esac
	done
	[ -n "$rss" ] && echo "$(($(date +%s) - started)) $rss$maps" >>"$work/samples"
	sleep 10
done
wait "$shell"
status=$?
wait "$counter"

python3 - "$work" "$minutes" "$status" <<'PY'
import json, sys, os
work, minutes, status = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
births = {"socket", "socketpair", "accept"}
calls = 0
for line in open(os.path.join(work, "truth.jsonl")):
    try:
        report = json.loads(line)
    except ValueError:
        continue
    op = report.get("op")
    if op in births:
        calls += 1
    elif op == "burst":
        calls += report["calls"]
    elif op == "hold-processes":
        calls += report["forked"]  # each child makes one socket
counts = json.load(open(os.path.join(work, "counts.json")))
records = counts["kinds"]
lost_live = {tuple(key.split("/", 1)): n for key, n in counts["lost"].items()}
end = counts["end"]
recorded = sum(records.get(k, 0) for k in births)
# A birth not made: the ring was full, its call could not be tracked, or its
# process could not be followed (traced_full counts the child, which makes one socket).
lost_births = sum(n for (cause, k), n in lost_live.items() if k in births or (cause == "traced_full" and k == "fork"))
samples = [line.split() for line in open(os.path.join(work, "samples")) if line.strip()]
rss = [(int(s[0]), int(s[1])) for s in samples]
after_warmup = [r for t, r in rss if t >= 60] or [r for _, r in rss]
maps = {}
for s in samples:
    for item in s[2:]:
        name, _, value = item.partition("=")
        if value.isdigit():
            maps[name] = max(maps.get(name, 0), int(value))
print(f"soak: {minutes:g} min, tracer exit {status}")
print(f"calls made: {calls}; socket births recorded: {recorded}; records: {sum(records.values())} "
      + ", ".join(f"{k} {v}" for k, v in sorted(records.items())))
print("losses by cause: " + (", ".join(f"{c}/{k} {n}" for (c, k), n in sorted(lost_live.items())) or "none")
      + (f"; end.lost {end['lost']} {json.dumps(end['lost_by_cause'])}" if end else "; no end record"))
if rss:
    print(f"VmRSS: start {rss[0][1] / 1024:.1f} MiB, after 1 min {after_warmup[0] / 1024:.1f}, "
          f"end {rss[-1][1] / 1024:.1f}, max {max(r for _, r in rss) / 1024:.1f} ({len(rss)} samples)")
print("map occupancy (max): " + (", ".join(f"{k} {v}" for k, v in sorted(maps.items())) or "not read"))
checks = [
    ("exact accounting: births recorded + births lost == calls", recorded + lost_births == calls),
    ("end record present, its lost equal to the lost records", end is not None and end["lost"] == sum(lost_live.values())),
    ("flat memory: end RSS within 10% + 4 MiB of RSS after the first minute",
     bool(rss) and rss[-1][1] <= after_warmup[0] * 1.1 + 4096),
    ("tracer exited 0", status == 0),
]
failed = 0
for name, ok in checks:
    print(("ok   " if ok else "FAIL ") + name)
    failed += not ok
print(f"{len(checks) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
