#!/usr/bin/env bash
# ia32-hook.sh [SOCKTRACE] [ROUNDS] - what socktrace's ia32 hook (raw_syscalls
# sys_enter/sys_exit, for the 32-bit syscalls the syscalls:* tracepoints skip)
# costs a bystander: a process the user did not ask about (-p names another),
# timed by syscall-loop.c: getppid() (the cheapest syscall: the hook's whole
# cost shows) and socket()+close(). Configurations interleaved round by round:
# untraced, socktrace --ia32 off, socktrace --ia32 on. Prints medians and
# ratios to untraced. Root; a few minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
socktrace=${1:-$here/../.build/release/socktrace}
rounds=${2:-7}
work=$(mktemp -d)
trap 'kill "$sleeper" 2>/dev/null; rm -rf "$work"' EXIT
gcc -O2 -Wall -o "$work/syscall-loop" "$here/syscall-loop.c"
sleep 100000 & sleeper=$! # the traced process: not the bystander

measure() { # CONFIG -> appends one JSON line to $work/CONFIG
	local config=$1 pid=
	if [ "$config" != untraced ]; then
		"$socktrace" -p "$sleeper" --ia32 "${config#ia32-}" --json -o /dev/null 2>"$work/err" &
		pid=$!
		for _ in $(seq 100); do grep -q '^Tracing' "$work/err" && break; sleep 0.1; done
	fi
	"$work/syscall-loop" 2000000 >>"$work/$config"
	if [ -n "$pid" ]; then kill -INT "$pid"; wait "$pid" || true; fi
}
for r in $(seq "$rounds"); do
	for config in untraced ia32-off ia32-on; do measure "$config"; done
done
python3 - "$work" <<'PY'
import json, statistics, sys, os
d = sys.argv[1]
res = {c: [json.loads(l) for l in open(os.path.join(d, c))] for c in ("untraced", "ia32-off", "ia32-on")}
med = {c: {k: statistics.median(r[k] for r in rs) for k in ("getppid_ns", "socket_close_ns")} for c, rs in res.items()}
print(f"{'configuration':<16} {'getppid ns':>11} {'ratio':>6} {'socket+close ns':>16} {'ratio':>6}  (medians of {len(res['untraced'])} rounds)")
for c in res:
    g, s = med[c]["getppid_ns"], med[c]["socket_close_ns"]
    print(f"{c:<16} {g:>11.1f} {g / med['untraced']['getppid_ns']:>5.2f}x {s:>16.1f} {s / med['untraced']['socket_close_ns']:>5.2f}x")
on, off = med["ia32-on"], med["ia32-off"]
print(f"ia32 hook, per bystander syscall: +{on['getppid_ns'] - off['getppid_ns']:.1f} ns "
      f"({on['getppid_ns'] / off['getppid_ns']:.2f}x of --ia32 off)")
PY
