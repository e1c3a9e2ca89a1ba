#!/usr/bin/env python3
"""make-profile.py [DEFAULT] > socktrace.json

The seccomp profile socktrace's container needs: the runtime's default
profile (DEFAULT, by default containers-common's
/usr/share/containers/seccomp.json, what podman and CRI-O use; moby's and
containerd's have the same rule) with one change. The default allows bpf(2)
and perf_event_open(2) only to a container holding CAP_SYS_ADMIN, and fails
them with EPERM otherwise; since Linux 5.8 the kernel itself checks CAP_BPF
and CAP_PERFMON for them, so this profile allows bpf(2) to a container holding
CAP_BPF and perf_event_open(2) to one holding CAP_PERFMON (and still fails
them with EPERM to a container holding neither those nor CAP_SYS_ADMIN).
Everything else is the default's, rule for rule.
"""
import json
import sys

path = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/containers/seccomp.json"
with open(path) as handle:
    profile = json.load(handle)

moved = {"bpf": "CAP_BPF", "perf_event_open": "CAP_PERFMON"}
found = set()
for rule in profile["syscalls"]:
    excludes = rule.get("excludes", {}).get("caps", [])
    if rule["action"] == "SCMP_ACT_ERRNO" and "CAP_SYS_ADMIN" in excludes:
        for name in moved:
            if name in rule["names"]:
                rule["names"].remove(name)
                found.add(name)
missing = set(moved) - found
if missing:
    sys.exit("make-profile: %s has no CAP_SYS_ADMIN-only rule for %s" % (path, ", ".join(sorted(missing))))
for name, cap in moved.items():
    profile["syscalls"].append({"names": [name], "action": "SCMP_ACT_ALLOW", "includes": {"caps": [cap]}})
    profile["syscalls"].append({"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                                "excludes": {"caps": [cap, "CAP_SYS_ADMIN"]}})
json.dump(profile, sys.stdout, indent=1)
sys.stdout.write("\n")
