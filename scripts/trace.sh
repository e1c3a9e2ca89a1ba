#!/usr/bin/env bash
# Sets up (run-time and build packages only), builds the release binary if a
# source changed, and runs the tracer with the given arguments:
#   sudo scripts/trace.sh --json -o events.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --run --build
binary=$(bash scripts/build-release.sh)
exec "$binary" "$@"
