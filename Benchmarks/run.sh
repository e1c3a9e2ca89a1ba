#!/usr/bin/env bash
# socktrace benchmarks: overhead per socket()+close() against untraced, the
# bystander, nginx under wrk, per-program BPF cost, start-up and lone-event
# latency, steady memory, the Swift pipeline, `socktrace timeline` of a 3 M-record
# recording (seconds, peak RSS; text and chrome); every run checked for loss.
# See Benchmarks/README.md.
#
#   sudo Benchmarks/run.sh            # full run, ~11 minutes
#   sudo Benchmarks/run.sh --quick    # ~2 minutes
#
# Options of its own (everything else goes to bench.py, see --help there):
#   --tracer PATH         benchmark this socktrace binary, do not build one
#   --no-build            use the newest already-built socktrace, do not build
#   --scratch-path DIR    where `swift build` builds (default: REPO/.build-bench,
#                         so a benchmark never races a developer's .build)
#   --no-tracer           only untraced, bpftrace and strace (no swift needed)
#   --soak MINUTES        then the soak (Benchmarks/soak.sh): MINUTES of mixed
#                         load under -f, flat memory and exact accounting
#   --fuzz SECONDS        then fuzz the recording reader (scripts/fuzz.sh) that long
#   --no-docs             do not rewrite docs/performance.md's benchmark section
#                         (a full run does; --quick never does)
#   --icount              also the instruction-count table (Benchmarks/icount.sh),
#                         run first, outside the time budget: every VM kernel x
#                         rung (fentry, kprobe, tracepoint) under qemu -icount,
#                         the function-hook rungs included (~30+ min); issue 20's
#                         targets table reads its 6.12 fentry rows
set -euo pipefail

export SOCKTRACE_BENCH_START=${SOCKTRACE_BENCH_START:-$(date +%s.%N)}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
scratch=${SOCKTRACE_BENCH_SCRATCH:-$repo/.build-bench}
tracer=""
build=1
want_tracer=1
soak=0
fuzz=0
docs=1
icount=0
pass=()
while [ $# -gt 0 ]; do
	case "$1" in
	--tracer) tracer=$2; build=0; shift 2 ;;
	--no-build) build=0; shift ;;
	--scratch-path) scratch=$2; shift 2 ;;
	--no-tracer) want_tracer=0; shift ;;
	--soak) soak=$2; shift 2 ;;
	--fuzz) fuzz=$2; shift 2 ;;
	--no-docs) docs=0; shift ;;
	--quick) docs=0; pass+=("$1"); shift ;;
	--icount) icount=1; shift ;;
	*) pass+=("$1"); shift ;;
	esac
done

if [ "$(id -u)" -ne 0 ]; then
	echo "run.sh: needs root (BPF, tracefs, apt-get)" >&2
	exit 1
fi

# --- what we need ---------------------------------------------------------
need=()
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v python3 >/dev/null || need+=(python3)
command -v bpftrace >/dev/null || need+=(bpftrace)
command -v strace >/dev/null || need+=(strace)
command -v pgrep >/dev/null || need+=(procps)
command -v bpftool >/dev/null || need+=(bpftool)
command -v nginx >/dev/null || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
if [ "$want_tracer" = 1 ] && [ "$build" = 1 ]; then
	# Build dependencies of the package (libbpf-dev etc. from Package.swift,
	# clang for the BPF object).
	command -v clang >/dev/null || need+=(clang)
	[ -e /usr/include/bpf/libbpf.h ] || need+=(libbpf-dev)
	[ -e /usr/include/libelf.h ] || need+=(libelf-dev)
	[ -e /usr/include/zlib.h ] || need+=(zlib1g-dev)
	command -v pkg-config >/dev/null || need+=(pkg-config)
fi
if [ ${#need[@]} -gt 0 ]; then
	echo "run.sh: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2 || true
	if ! apt-get install -y -qq "${need[@]}" >&2; then
		# The references and the real workload are optional: retry without them.
		optional="bpftrace strace bpftool nginx wrk"
		rest=()
		for p in "${need[@]}"; do case " $optional " in *" $p "*) ;; *) rest+=("$p") ;; esac; done
		[ ${#rest[@]} -eq 0 ] || apt-get install -y -qq "${rest[@]}" >&2
		for p in $optional; do
			case " ${need[*]} " in *" $p "*)
				apt-get install -y -qq "$p" >&2 || echo "run.sh: $p unavailable, skipping what needs it" >&2 ;;
			esac
		done
	fi
fi

# bpftrace reads tracepoint formats from tracefs, which a fresh machine lacks.
if [ ! -e /sys/kernel/tracing/events ]; then
	mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null ||
		echo "run.sh: could not mount tracefs; bpftrace may fail" >&2
fi
# bpftrace (and older libbpf) want a generous memlock limit.
ulimit -l unlimited 2>/dev/null || ulimit -l 1048576 2>/dev/null || true

# --- build -----------------------------------------------------------------
bin=$scratch/bench-bin
mkdir -p "$bin"
gcc -O2 -Wall -o "$bin/socket-storm" "$here/socket-storm.c"
gcc -O2 -Wall -o "$bin/count-events" "$here/count-events.c"

if [ "$want_tracer" = 1 ] && [ -z "$tracer" ]; then
	if [ "$build" = 1 ]; then
		if ! command -v swift >/dev/null; then
			echo "run.sh: no swift toolchain on PATH (Debian has none; install swift.org's)." >&2
			echo "run.sh: continuing WITHOUT the socktrace configurations" >&2
		elif [ ! -f "$repo/Package.swift" ]; then
			echo "run.sh: no Package.swift yet; continuing WITHOUT socktrace" >&2
		else
			echo "run.sh: swift build -c release --scratch-path $scratch" >&2
			if (cd "$repo" && swift build -c release --product socktrace --scratch-path "$scratch" >&2); then
				tracer=$scratch/release/socktrace
			else
				echo "run.sh: !!! swift build failed; continuing WITHOUT socktrace" >&2
				echo "run.sh: (--no-build or --tracer PATH benchmarks an existing binary)" >&2
			fi
		fi
	else
		for t in "$repo/.build/release/socktrace" "$scratch/release/socktrace" "$repo/.build/debug/socktrace"; do
			if [ -x "$t" ]; then tracer=$t; break; fi
		done
		[ -n "$tracer" ] || echo "run.sh: no built socktrace found; continuing WITHOUT it" >&2
	fi
fi

# The Swift half of the pipeline alone, in-process: records per second per core.
pipeline=""
if [ -n "$tracer" ] && [ "$build" = 1 ] && command -v swift >/dev/null &&
	(cd "$repo" && swift build -c release --product socktrace-pipeline-bench --scratch-path "$scratch" >&2); then
	pipeline=$scratch/release/socktrace-pipeline-bench
elif [ -x "$(dirname "$tracer")/socktrace-pipeline-bench" ]; then
	pipeline=$(dirname "$tracer")/socktrace-pipeline-bench
fi

# A full run with a tracer rewrites the tables in docs/performance.md.
if [ "$docs" = 1 ] && [ -n "$tracer" ] && [ -f "$repo/docs/performance.md" ]; then
	pass+=(--docs "$repo/docs/performance.md")
fi

status=0
# The instruction counts run before the other parts (their VMs would disturb
# every timing) and outside the time budget; issue 20's targets table reads
# their medians, their own tables print after the others.
icount_out=""
if [ "$icount" = 1 ] && [ -n "$tracer" ]; then
	icount_out=$(mktemp -d /tmp/socktrace-icount-XXXXXX)
	t_icount=$(date +%s.%N)
	echo "run.sh: instruction counts first (Benchmarks/icount.sh; outside the time budget)" >&2
	ICOUNT_JSON=$icount_out/icount.json "$here/icount.sh" --tracer "$tracer" >"$icount_out/icount.md" || status=1
	SOCKTRACE_BENCH_START=$(python3 -c "import sys; print(float(sys.argv[1]) + float(sys.argv[3]) - float(sys.argv[2]))" \
		"$SOCKTRACE_BENCH_START" "$t_icount" "$(date +%s.%N)")
	export SOCKTRACE_BENCH_START
	[ -s "$icount_out/icount.json" ] && pass+=(--icount-json "$icount_out/icount.json")
fi
python3 "$here/bench.py" --storm "$bin/socket-storm" --counter "$bin/count-events" \
	--tracer "$tracer" --pipeline-bench "$pipeline" ${pass[@]+"${pass[@]}"} || status=$?

# The soak needs the test workload beside the tracer.
if [ "$soak" != 0 ] && [ -n "$tracer" ]; then
	if [ "$build" = 1 ] && [ ! -x "$(dirname "$tracer")/socktrace-workload" ]; then
		(cd "$repo" && swift build -c release --product socktrace-workload --scratch-path "$scratch" >&2)
	fi
	echo
	echo "Soak (Benchmarks/soak.sh --minutes $soak):"
	echo '```'
	"$here/soak.sh" --minutes "$soak" --tracer "$tracer" || status=1
	echo '```'
fi
if [ "$fuzz" != 0 ]; then
	echo
	echo "Fuzz (scripts/fuzz.sh $fuzz):"
	echo '```'
	"$repo/scripts/fuzz.sh" "$fuzz" || status=1
	echo '```'
fi
if [ -n "$icount_out" ]; then
	echo
	echo "Instruction counts (Benchmarks/icount.sh --tracer $tracer):"
	cat "$icount_out/icount.md"
	rm -rf "$icount_out"
fi
exit "$status"
