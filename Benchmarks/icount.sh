#!/usr/bin/env bash
# icount.sh [--tracer PATH] [--baseline PATH] [--rounds N] [--iters N] [--rungs a,b] [--profile]
# The function-hook rungs measured: every VM kernel of Tests/vm-suite (Debian
# 5.10, 6.1, 6.12, newest) booted under qemu TCG with one vCPU and
# `-icount shift=0,sleep=off`, so guest time is instructions executed (stable
# to about 1% whatever the host does; TCG's wall-clock timings are not).
# Inside (icount-init.sh), for each rung (fentry, kprobe, tracepoint) and
# round: socket()+close() untraced, under socktrace default and
# --births-only; open()+close() of /dev/null (a bystander) untraced and while
# socktrace (default) traces the whole machine. Prints a markdown table:
# guest ns (= instructions) per iteration, the median of the rounds, and each
# traced median over the same rung's untraced median.
#
# --baseline PATH: another socktrace (e.g. main's) measured in the same boots,
# interleaved round by round with --tracer's: its rows are marked `base`.
#
# --profile: instead, kernel.bpf_stats_enabled=1 in the guest and each BPF
# program's runs and ns per run (bpf-prog-stats.c: BPF_OBJ_GET_INFO_BY_FD) after the default storm; a separate run (the stats cost two
# clock reads per program run).
#
# Env: ICOUNT_JSON (also write every configuration's median there as JSON:
# run.sh --icount hands it to bench.py for issue 20's targets table),
# ICOUNT_WORK (initramfs and serial logs, default $KERNEL_CACHE/icount),
# KERNEL_CACHE, KERNELS (Tests/vm-suite/fetch-kernels.sh), VM_TIMEOUT
# (seconds per VM, default 3600), VM_PARALLEL (default 1: all kernels at once).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cache=${KERNEL_CACHE:-$repo/.cache/kernels}
tracer="" baseline="" rounds=3 iters=20000 rungs=fentry,kprobe,tracepoint profile=0
while [ $# -gt 0 ]; do
	case "$1" in
	--tracer) tracer=$2; shift 2 ;;
	--baseline) baseline=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--iters) iters=$2; shift 2 ;;
	--rungs) rungs=$2; shift 2 ;;
	--profile) profile=1; shift ;;
	*) echo "icount.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
if [ -z "$tracer" ]; then
	for t in "$repo/.build/release/socktrace" "$repo/.build-bench/release/socktrace"; do
		[ -x "$t" ] && { tracer=$t; break; }
	done
fi
[ -x "$tracer" ] || { echo "icount.sh: no socktrace binary (--tracer PATH)" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null || { echo "icount.sh: needs qemu-system-x86 (apt)" >&2; exit 2; }

work=${ICOUNT_WORK:-$cache/icount}
mkdir -p "$work"
gcc -O2 -static -o "$work/socket-storm" "$here/socket-storm.c"
gcc -O2 -static -o "$work/bpf-prog-stats" "$here/bpf-prog-stats.c"
extra="$work/socket-storm $work/bpf-prog-stats"
if [ -n "$baseline" ]; then
	# the same libraries as --tracer's (build-initramfs.sh copies those)
	cp "$baseline" "$work/socktrace-base"
	extra="$extra $work/socktrace-base"
fi
kernels=$("$repo/Tests/vm-suite/fetch-kernels.sh" "$cache")
EXTRA_BINS="$extra" "$repo/Tests/vm-suite/build-initramfs.sh" "$work/initramfs.cpio.gz" \
	"$here/icount-init.sh" "$work/socket-storm" "$tracer"

append="st.rounds=$rounds st.iters=$iters st.rungs=$rungs"
[ "$profile" = 1 ] && append="$append st.profile=1"
names=()
while read -r name vmlinuz _; do
	names+=("$name")
	log=$work/$name.log
	echo "icount.sh: booting $name" >&2
	run() {
		timeout -k 10 "${VM_TIMEOUT:-3600}" qemu-system-x86_64 -accel tcg -cpu max -m 2048 -smp 1 \
			-icount shift=0,sleep=off -kernel "$2" -initrd "$work/initramfs.cpio.gz" \
			-append "console=ttyS0 quiet panic=-1 no_timer_check $append" \
			-nodefaults -display none -no-reboot -serial "file:$1" </dev/null >"$1.qemu" 2>&1 ||
			echo "icount.sh: $(basename "$1" .log): qemu rc $?" >&2
	}
	if [ "${VM_PARALLEL:-1}" = 1 ]; then run "$log" "$vmlinuz" & else run "$log" "$vmlinuz"; fi
done <<<"$kernels"
wait

echo "icount: $(basename "$tracer") $(cd "$repo" && git rev-parse --short HEAD 2>/dev/null), $iters iterations, median of $rounds rounds"
logs=()
for name in "${names[@]}"; do logs+=("$work/$name.log"); done
python3 "$here/icount_report.py" ${ICOUNT_JSON:+--json "$ICOUNT_JSON"} "${logs[@]}"
