#!/usr/bin/env bash
# Tests/fleet/run.sh [SOCKTRACE] [WORKLOAD]: where fleets run socktrace.
#   1. packaging/build-image.sh builds the OCI image (no pull);
#   2. test_container.py: the image under Debian's podman + runc, started as
#      the DaemonSet starts it, tracing a workload in another container;
#   3. test_manifests.py: deploy/kubernetes/daemonset.yaml through Debian's
#      kubectl (no cluster) and the fields that matter;
#   4. test_clickhouse.py: a real recording in ClickHouse's engine (chDB) with
#      docs/clickhouse.md's tables and queries.
# SOCKTRACE and WORKLOAD (default .build/debug/...) make the recording for 4.
# Ends on one line: "N passed, N failed". Needs root.
set -uo pipefail
cd "$(dirname "$0")/../.."
socktrace=${1:-.build/debug/socktrace}
workload=${2:-.build/debug/socktrace-workload}
passed=0
failed=0
start=$SECONDS

count() { # LOG: adds the log's "N passed, M failed" line (a missing one is a failure)
  local p f
  read -r p f < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/p' "$1" | tail -n 1)
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-1}))
}

log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

echo "== image"
if image=$(bash packaging/build-image.sh); then
  echo "PASS packaging/build-image.sh: $image"
  passed=$((passed + 1))
else
  echo "FAIL packaging/build-image.sh"
  failed=$((failed + 1))
  image=
fi

echo "== container runtime"
if [ -n "$image" ]; then
  python3 Tests/fleet/test_container.py "$image" 2>&1 | tee "$log/container"
  count "$log/container"
else
  echo "FAIL container tests: no image to run"
  failed=$((failed + 1))
fi

echo "== kubernetes manifests"
# Debian's kubectl: installed, or unpacked by scripts/setup.sh beside another /usr/bin/kubectl.
kubectl=/var/cache/socktrace-test/kubernetes-client/usr/bin/kubectl
if dpkg-query -W -f='${Status}' kubernetes-client 2>/dev/null | grep -q "install ok installed"; then
  kubectl=/usr/bin/kubectl
fi
if [ -x "$kubectl" ]; then
  python3 Tests/fleet/test_manifests.py "$kubectl" "$socktrace" 2>&1 | tee "$log/manifests"
  count "$log/manifests"
else
  echo "FAIL manifests: no Debian kubectl (scripts/setup.sh --test provides it)"
  failed=$((failed + 1))
fi

echo "== clickhouse"
python3 Tests/fleet/test_clickhouse.py "$socktrace" "$workload" 2>&1 | tee "$log/clickhouse"
count "$log/clickhouse"

echo "fleet stage took $((SECONDS - start)) s"
echo "$passed passed, $failed failed"
((failed == 0))
