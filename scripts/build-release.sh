#!/usr/bin/env bash
# build-release.sh: builds the self-contained release binary,
# .build/release/socktrace (Swift runtime, Foundation and libstdc++ linked in:
# at run time it needs only libbpf, libelf, zlib and libc), and prints its path.
# SwiftPM is skipped when the binary is newer than every source and says the
# commit git reports now; otherwise its log is shown only if the build fails.
# Used by scripts/trace.sh, scripts/install.sh and packaging/build-deb.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=.build/release/socktrace

up_to_date() {
  [ -x "$binary" ] || return 1
  [ -z "$(find Package.swift Sources Plugins bpf packaging/link -newer "$binary" -print -quit)" ] || return 1
  [ "$("$binary" --version 2>/dev/null)" = "$(sed -n 's/.*version = "\(.*\)"/\1/p' Sources/SocktraceCore/BuildInfo.swift) (commit $(sh Plugins/BuildInfo/commit.sh .))" ]
}

if ! up_to_date; then
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  start=$SECONDS
  if ! swift build -c release --static-swift-stdlib --product socktrace >"$log" 2>&1; then
    grep -v "the use of \`mktemp' is dangerous" "$log" | tail -n 40 >&2
    echo "build-release: swift build failed (log above)" >&2
    exit 1
  fi
  echo "build-release: built $binary in $((SECONDS - start)) s" >&2
fi
echo "$PWD/$binary"
