#!/usr/bin/env python3
"""deploy/kubernetes/daemonset.yaml checked with Debian's kubectl
(kubernetes-client 1.20) and no cluster, and the fields that matter checked
against each other and against socktrace itself.

usage: test_manifests.py KUBECTL SOCKTRACE

kubectl's client dry-run needs a server for discovery in 1.20, so the
manifests go through the commands that work offline: `kubectl label --local`
(every document parses and names a known kind) and `kubectl set env --local`,
which decodes the DaemonSet into the typed Go structs (a wrong type fails) and
writes it back: a field kubectl does not know is dropped, so every field of
the input must survive the round trip. Ends on "N passed, N failed".
"""
import copy
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Tests", "pylib"))
from testkit import run_tests  # noqa: E402

KUBECTL = sys.argv[1] if len(sys.argv) > 1 else "kubectl"
SOCKTRACE = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, ".build", "debug", "socktrace")
MANIFEST = os.path.join(ROOT, "deploy", "kubernetes", "daemonset.yaml")
ENV = dict(os.environ, KUBECONFIG=os.devnull)  # no cluster, no user's config
WORK = tempfile.mkdtemp(prefix="socktrace-manifests-")


def documents():
    with open(MANIFEST) as handle:
        return [d for d in yaml.safe_load_all(handle) if d]


def daemonset():
    return [d for d in documents() if d["kind"] == "DaemonSet"][0]


def kubectl(*args):
    return subprocess.run([KUBECTL] + list(args), capture_output=True, text=True, errors="replace", env=ENV,
                          timeout=60)


def leaves(value, path=()):
    """Every (path, scalar) of a parsed document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, path + (index,))
    else:
        yield path, value


def lookup(value, path):
    for key in path:
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and isinstance(key, int) and key < len(value):
            value = value[key]
        else:
            return KeyError
    return value


def round_trip_losses(document):
    """Fields of `document` that kubectl's typed decode drops (unknown ones),
    or raises with kubectl's error (a wrong type)."""
    path = os.path.join(WORK, "ds.yaml")
    with open(path, "w") as handle:
        yaml.safe_dump(document, handle)
    run = kubectl("set", "env", "--local", "-f", path, "SOCKTRACE_MANIFEST_CHECK=1", "-o", "json")
    if run.returncode != 0:
        raise AssertionError("kubectl: " + run.stderr.strip())
    out = json.loads(run.stdout)
    lost = []
    for leaf, value in leaves(document):
        got = lookup(out, leaf)
        if got is KeyError or (got != value and str(got) != str(value)):
            lost.append((".".join(map(str, leaf)), value, got))
    return lost


def container():
    return daemonset()["spec"]["template"]["spec"]["containers"][0]


def test_every_document_parses_offline():
    run = kubectl("label", "--local", "-f", MANIFEST, "app.kubernetes.io/part-of=socktrace", "-o", "name")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["namespace/socktrace", "configmap/socktrace", "daemonset.apps/socktrace"], run.stdout


def test_daemonset_decodes_typed_with_no_unknown_field():
    ds = daemonset()
    assert round_trip_losses(ds) == []
    # The check can fail: a misspelt field is dropped, a wrong type refused.
    typo = copy.deepcopy(ds)
    typo["spec"]["template"]["spec"]["hostPid"] = typo["spec"]["template"]["spec"].pop("hostPID")
    assert [loss[0] for loss in round_trip_losses(typo)] == ["spec.template.spec.hostPid"]
    wrong = copy.deepcopy(ds)
    wrong["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "metrics"
    try:
        round_trip_losses(wrong)
    except AssertionError as error:
        assert "containerPort" in str(error), error
    else:
        raise AssertionError("kubectl took a string containerPort")


def test_privileges_and_mounts_are_the_documented_ones():
    spec = daemonset()["spec"]["template"]["spec"]
    assert spec["hostPID"] is True and spec["hostNetwork"] is True, spec
    security = container()["securityContext"]
    assert security["privileged"] is False and security["allowPrivilegeEscalation"] is False, security
    assert security["capabilities"] == {"drop": ["ALL"], "add": ["BPF", "PERFMON"]}, security
    assert container()["securityContext"]["runAsUser"] == 0, "as root: no CAP_DAC_READ_SEARCH for tracefs"
    assert security["seccompProfile"] == {"type": "Localhost", "localhostProfile": "profiles/socktrace.json"}
    mounts = {m["name"]: m for m in container()["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert set(mounts) == set(volumes), (mounts, volumes)
    host = {name: (volumes[name]["hostPath"]["path"], mounts[name]["mountPath"], mounts[name].get("readOnly", False))
            for name in volumes if "hostPath" in volumes[name]}
    assert host == {
        "tracefs": ("/sys/kernel/tracing", "/sys/kernel/tracing", False),
        "cgroup": ("/sys/fs/cgroup", "/sys/fs/cgroup", True),
        "logs": ("/var/log/socktrace", "/var/log/socktrace", False),
    }, host
    # Every node: one toleration of every taint.
    assert spec["tolerations"] == [{"operator": "Exists"}], spec["tolerations"]


def test_probe_scrape_and_metrics_ports_agree():
    args = container()["args"]
    metrics = args[args.index("--metrics") + 1]
    port = int(metrics.rsplit(":", 1)[1])
    assert metrics.startswith("0.0.0.0:"), "the node's address must reach it: " + metrics
    ports = {p["name"]: p["containerPort"] for p in container()["ports"]}
    annotations = daemonset()["spec"]["template"]["metadata"]["annotations"]
    assert ports["metrics"] == port, (ports, port)
    for probe in ("readinessProbe", "livenessProbe"):
        get = container()[probe]["httpGet"]
        assert get == {"path": "/metrics", "port": port}, (probe, get)
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": str(port),
                           "prometheus.io/path": "/metrics"}, annotations
    limits = container()["resources"]
    assert limits["requests"]["cpu"] and limits["limits"]["memory"], limits


def test_settings_come_from_the_configmap_and_socktrace_accepts_them():
    config = [d for d in documents() if d["kind"] == "ConfigMap"][0]["data"]
    env = {e["name"]: e["valueFrom"]["configMapKeyRef"] for e in container()["env"]}
    for name, ref in env.items():
        assert ref["name"] == "socktrace" and ref["key"] in config, (name, ref)
    args = container()["args"]
    # The kubelet expands $(NAME) from env; every one used is defined.
    used = set(re.findall(r"\$\(([A-Z_]+)\)", " ".join(args)))
    assert used and used <= set(env), (used, env)
    expanded = [re.sub(r"\$\(([A-Z_]+)\)", lambda m: config[env[m.group(1)]["key"]], a) for a in args]
    # The image's entrypoint is `socktrace serve`; the same arguments parse
    # (a bad --otlp URL or --metrics address is refused at parse time). The
    # OTLP host is not resolvable here: swap it for loopback, keep the rest.
    expanded = [a.replace("otel-collector.observability.svc", "127.0.0.1") for a in expanded]
    output = os.path.join(WORK, "events.jsonl")
    expanded[expanded.index("-o") + 1] = output
    expanded[expanded.index("--metrics") + 1] = "127.0.0.1:0"
    run = subprocess.run([SOCKTRACE, "serve"] + expanded + ["--pid", "999999999"], capture_output=True,
                         text=True, timeout=60)
    # Parsed and set up; then it stops where tracing would begin: no such pid.
    assert "Usage:" not in run.stderr and "Error:" not in run.stderr, run.stderr
    assert "999999999" in run.stderr, run.stderr
    image = container()["image"]
    with open(os.path.join(ROOT, "Sources", "SocktraceCore", "BuildInfo.swift")) as handle:
        version = re.search(r'version = "([^"]+)"', handle.read()).group(1)
    assert image == "localhost/socktrace:" + version, (image, version)


def test_seccomp_profile_is_the_default_plus_bpf_for_cap_bpf():
    default = "/usr/share/containers/seccomp.json"
    run = subprocess.run([sys.executable, os.path.join(ROOT, "deploy", "seccomp", "make-profile.py"), default],
                         capture_output=True, text=True, check=True)
    with open(os.path.join(ROOT, "deploy", "seccomp", "socktrace.json")) as handle:
        committed = json.load(handle)
    assert json.loads(run.stdout) == committed, "deploy/seccomp/socktrace.json is not make-profile.py's output"
    rules = [r for r in committed["syscalls"] if "bpf" in r["names"]]
    assert {"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_BPF"]}} in rules, rules


def main():
    return run_tests(globals())


if __name__ == "__main__":
    sys.exit(main())
