#!/usr/bin/env bash
# Sets up (packages), builds the release binary, and runs the tracer with the
# given arguments: sudo scripts/trace.sh --json -o events.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --product socktrace >&2
exec .build/release/socktrace "$@"
