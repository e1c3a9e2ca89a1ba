#!/usr/bin/env bash
# Fuzzes the recording reader (RecordingReader -> TimelineBuilder ->
# TimelineText and ChromeTraceWriter) with libFuzzer: swiftc -sanitize=fuzzer
# compiles the reader's sources with Fuzz/RecordingReaderFuzz.swift into one
# binary, run from the committed seed corpus Fuzz/corpus/recording.
#
#   scripts/fuzz.sh [SECONDS]     default 30 (CI); the benchmark suite runs longer
#
# New inputs found go to a scratch corpus, not the committed one. A crash
# leaves crash-* in Fuzz/findings/ and fails (exit 1): each finding becomes a
# regression test (Tests/SocktraceCoreTests/FuzzRegressionTests.swift).
# Prints "N passed, N failed" (1 check: no finding) for scripts/test.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
build=.build/fuzz
mkdir -p "$build" Fuzz/findings
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# The reader and what it renders with (and what those name), not the loader.
# The C module (the record layout and the small libbpf shim), as SwiftPM
# would import it; its one C file is linked with libbpf.
mkdir -p "$build/include"
cat >"$build/include/module.modulemap" <<MAP
module CSocktrace {
  header "$PWD/Sources/CSocktrace/include/socktrace.h"
  header "$PWD/Sources/CSocktrace/include/socktrace_probes.h"
  export *
}
MAP
clang -O1 -fPIC -c -I Sources/CSocktrace/include Sources/CSocktrace/probes.c -o "$build/probes.o" || {
  echo "0 passed, 1 failed"
  exit 1
}
sources=(
  Fuzz/RecordingReaderFuzz.swift Fuzz/Shims.swift
  Sources/SocktraceCore/Recording/*.swift
  Sources/SocktraceCore/Records/{TraceEvent,RecordedEvent,RecordKind,ErrnoNames,SocketNames}.swift
  Sources/SocktraceCore/Output/{TimelineText,TimelineRendering,ChromeTraceWriter,TextTable,JSONBuffer}.swift
  Sources/SocktraceCore/Context/Cgroups.swift
  Sources/SocktraceCore/Decode/{BootClock,SocketAddress,FailureCause}.swift
  Sources/SocktraceCore/Files.swift
  Sources/SocktraceCore/Attach/{AttachPlan,KernelProbes}.swift
  Sources/SocktraceCore/Load/{TraceError,Privileges}.swift
)
if ! swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name SocktraceCore -I "$build/include" \
  "${sources[@]}" "$build/probes.o" -lbpf -lelf -lz -o "$build/recording-reader-fuzz" 2>"$build/compile.log"; then
  cat "$build/compile.log" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

"$build/recording-reader-fuzz" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix=Fuzz/findings/ -print_final_stats=1 "$scratch" Fuzz/corpus/recording 2>&1 |
  tee "$build/fuzz.log" | grep -E '^(#[0-9]+.*(DONE|pulse)|==[0-9]+==|SUMMARY|stat::number_of_executed_units|artifact)' | tail -n 8
status=${PIPESTATUS[0]}
executions=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$build/fuzz.log" | tail -n 1)
echo "fuzz: ${executions:-0} executions in ${seconds} s, corpus $(ls Fuzz/corpus/recording | wc -l) seeds + $(ls "$scratch" | wc -l) new"
if [ "$status" -ne 0 ]; then
  echo "fuzz: finding in Fuzz/findings/ (status $status)"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "1 passed, 0 failed"
