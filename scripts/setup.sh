#!/usr/bin/env bash
# setup.sh [--run] [--build] [--package] [--test] [--all]
# Installs the Debian packages of the groups asked for (default: all of them).
# Idempotent (apt runs only when something is missing); run as root. The Swift
# toolchain itself (6.1 or newer) must be on PATH for --build.
#   --run      what the socktrace binary needs at run time
#   --build    what `swift build` needs (implies nothing else; add --run to trace)
#   --package  what packaging/build-deb.sh and scripts/install.sh need
#   --test     what scripts/test.sh needs beyond the above (implies all groups)
# scripts/trace.sh asks for --run --build; scripts/test.sh for --all.
# Add a package to the group that needs it, with a comment saying why.
set -euo pipefail

run=(
  libbpf1 libelf1 zlib1g # the binary's only shared libraries besides libc
)
build=(
  libbpf-dev libelf-dev zlib1g-dev pkg-config # libbpf, imported into Swift
  clang                                       # clang -target bpf (the build plugin)
)
package=(
  dpkg-dev # dpkg-shlibdeps computes the .deb's Depends:
  man-db   # man -l checks the man page
  python3  # packaging/man/socktrace-man.py writes the man page
)
test=(
  bpftool                             # inspecting loaded programs when debugging
  gcc libc6-dev                       # the static workload for the VM tests
  qemu-system-x86 busybox-static cpio # the distribution-kernel VM tests
  qemu-system-arm                     # the arm64 VM test (qemu-system-aarch64)
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross # the static arm64 BPF loader for it
  python3 util-linux                  # the VM checker; setpriv/runuser for the no-root tests
  libcap2-bin                         # setcap/getcap: the file-capability tests
  lintian                             # checks the .deb
  bash-completion                     # the installed bash completion is exercised
  python3-jsonschema                  # tests: every record against docs/schema.json
  prometheus                          # tests: a real server scraping --metrics
  podman runc                         # the fleet stage: the image under a real runtime
  python3-yaml                        # the fleet stage: reading the Kubernetes manifests
)

want=()
needs_swift=false
needs_test=false
(($#)) || set -- --all
for arg in "$@"; do
  case $arg in
  --run) want+=("${run[@]}") ;;
  --build) want+=("${build[@]}") needs_swift=true ;;
  --package) want+=("${package[@]}") ;;
  --test | --all) want+=("${run[@]}" "${build[@]}" "${package[@]}" "${test[@]}") needs_swift=true needs_test=true ;;
  *)
    echo "setup: unknown option $arg (use --run, --build, --package, --test, --all)" >&2
    exit 2
    ;;
  esac
done

missing=()
for name in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q "install ok installed" || missing+=("$name")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# tests: the OTLP receiver decodes with the official definitions (PyPI's).
if $needs_test && ! python3 -c 'import opentelemetry.proto.collector.logs.v1.logs_service_pb2' 2>/dev/null; then
  echo "setup: pip installing opentelemetry-proto" >&2
  python3 -m pip install -q opentelemetry-proto 2>/dev/null ||
    python3 -m pip install -q --break-system-packages opentelemetry-proto
fi
# tests: ClickHouse's engine (chDB) loads a recording with docs/clickhouse.md's tables.
if $needs_test && ! python3 -c 'import chdb' 2>/dev/null; then
  echo "setup: pip installing chdb" >&2
  python3 -m pip install -q chdb 2>/dev/null ||
    python3 -m pip install -q --break-system-packages chdb
fi
# tests: Debian's kubectl (kubernetes-client) validates the DaemonSet. Where
# another package already owns /usr/bin/kubectl (Google Cloud SDK's), the
# Debian package cannot be installed beside it: it is unpacked under
# /var/cache/socktrace-test instead (Tests/fleet/run.sh looks there first).
if $needs_test; then
  kubectl_cache=/var/cache/socktrace-test/kubernetes-client
  if ! dpkg-query -W -f='${Status}' kubernetes-client 2>/dev/null | grep -q "install ok installed" &&
    [ ! -x "$kubectl_cache/usr/bin/kubectl" ]; then
    if [ -e /usr/bin/kubectl ]; then
      echo "setup: unpacking kubernetes-client into $kubectl_cache (/usr/bin/kubectl belongs to $(dpkg -S /usr/bin/kubectl 2>/dev/null | cut -d: -f1 || echo no package))" >&2
      download=$(mktemp -d)
      (cd "$download" && apt-get download -qq kubernetes-client 2>/dev/null ||
        { apt-get update -qq && apt-get download -qq kubernetes-client; })
      mkdir -p "$kubectl_cache"
      dpkg-deb -x "$download"/kubernetes-client_*.deb "$kubectl_cache"
      rm -rf "$download"
    else
      echo "setup: installing kubernetes-client" >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null
    fi
  fi
fi
$needs_swift || exit 0
command -v swift >/dev/null || { echo "setup: no swift on PATH (Swift 6.1 or newer is needed)" >&2; exit 1; }
