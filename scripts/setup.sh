#!/usr/bin/env bash
# Installs the system packages socktrace builds, runs and tests with (Debian).
# Idempotent; run as root. The Swift toolchain itself (6.1 or newer) must be on PATH.
set -euo pipefail

packages=(
  libbpf-dev libelf-dev zlib1g-dev pkg-config # libbpf, imported into Swift
  clang                                       # clang -target bpf (the build plugin)
  bpftool                                     # inspecting loaded programs when debugging
  gcc libc6-dev                               # the static workload for the VM tests
  qemu-system-x86 busybox-static cpio         # the distribution-kernel VM tests
  python3 util-linux                          # the VM checker; setpriv for the no-privilege test
  python3-jsonschema                          # tests: every record against docs/schema.json
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "setup: no swift on PATH (Swift 6.1 or newer is needed)" >&2; exit 1; }
