#!/usr/bin/env bash
# Sets up (packages), builds, and runs every test:
#   1. swift test: unit tests, CLI tests, and the kernel tests that load the
#      real BPF programs into this kernel (they need root; with CI=true they
#      fail rather than skip without it);
#   2. Tests/exporters-live/test_export.py: --metrics scraped by Debian's prometheus,
#      --otlp into a receiver decoding with PyPI's opentelemetry-proto, rotation;
#   3. Tests/vm-suite/run.sh: the tracer inside Debian's 5.10, 6.1, 6.12 and
#      7.2 kernels under qemu, on the fentry, kprobe and tracepoint rungs, and
#      the BPF object built for arm64 in Debian's arm64 kernel;
#   4. packaging/test-deb.sh: the .deb built, linted, installed with apt-get,
#      run from /usr/bin (a recording, man, completion, setcap as nobody), purged;
#   5. Tests/fleet/run.sh: the OCI image built and run under podman + runc as
#      a DaemonSet runs it, the Kubernetes manifest through kubectl, and a
#      recording in ClickHouse (chDB) with docs/clickhouse.md's queries.
# Ends on one line: "total: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --all || exit 1

logs=$(mktemp -d)
status=0

swift build --build-tests 2>&1 | tail -n 3
swift test 2>&1 | tee "$logs/swift-test.log" | grep -vE '^(◇|↳)| started\.$'
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
# Swift Testing prints one ✔/✘ line per test function (and per suite, not counted).
swift_passed=$(grep -E '^✔ Test ' "$logs/swift-test.log" | grep -vc '^✔ Test run with' || true)
swift_failed=$(grep -E '^✘ Test ' "$logs/swift-test.log" | grep -vc '^✘ Test run' || true)
swift_skipped=$(grep -cE '^➜ Test ' "$logs/swift-test.log" || true)

python3 Tests/exporters-live/test_export.py .build/debug/socktrace .build/debug/socktrace-workload 2>&1 |
  tee "$logs/export.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
read -r export_passed export_failed < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/p' "$logs/export.log" | tail -n 1)
export_passed=${export_passed:-0}
export_failed=${export_failed:-1}

# The recording reader under libFuzzer for 30 s, from the committed seeds.
bash scripts/fuzz.sh 30 2>&1 | tee "$logs/fuzz.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
read -r fuzz_passed fuzz_failed < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/p' "$logs/fuzz.log" | tail -n 1)
fuzz_passed=${fuzz_passed:-0}
fuzz_failed=${fuzz_failed:-1}

bash Tests/vm-suite/run.sh .build/debug/socktrace 2>&1 | tee "$logs/vm.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
read -r vm_passed vm_failed < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/p' "$logs/vm.log" | tail -n 1)
vm_passed=${vm_passed:-0}
vm_failed=${vm_failed:-1}

# The .deb as a user gets it: build (the self-contained release binary),
# lintian, apt-get install, run from /usr/bin, man, completion, setcap, purge.
bash packaging/test-deb.sh 2>&1 | tee "$logs/package.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
read -r package_passed package_failed < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/p' "$logs/package.log" | tail -n 1)
package_passed=${package_passed:-0}
package_failed=${package_failed:-1}

# Where fleets run it: the image (from the release binary test-deb.sh built),
# podman + runc, kubectl, ClickHouse.
bash Tests/fleet/run.sh .build/debug/socktrace .build/debug/socktrace-workload 2>&1 | tee "$logs/fleet.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
read -r fleet_passed fleet_failed < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/p' "$logs/fleet.log" | tail -n 1)
fleet_passed=${fleet_passed:-0}
fleet_failed=${fleet_failed:-1}

echo
echo "swift test: $swift_passed passed, $swift_failed failed, $swift_skipped skipped"
echo "exports: $export_passed passed, $export_failed failed"
echo "fuzz: $fuzz_passed passed, $fuzz_failed failed"
echo "kernel VMs: $vm_passed passed, $vm_failed failed"
echo "package: $package_passed passed, $package_failed failed"
echo "fleet: $fleet_passed passed, $fleet_failed failed"
((swift_failed + export_failed + fuzz_failed + vm_failed + package_failed + fleet_failed == 0)) || status=1
echo "total: $((swift_passed + export_passed + fuzz_passed + vm_passed + package_passed + fleet_passed)) passed," \
  "$((swift_failed + export_failed + fuzz_failed + vm_failed + package_failed + fleet_failed)) failed"
exit "$status"
