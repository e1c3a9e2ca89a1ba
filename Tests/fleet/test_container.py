#!/usr/bin/env python3
"""The socktrace image under a real container runtime (Debian's podman 4.3
with runc), started as a DaemonSet starts it: least privileges, the host's
PID namespace, tracefs and the cgroup hierarchy from the host.

usage: test_container.py IMAGE [SECCOMP_PROFILE]

Every workload runs in a container of its own, made here from a local root
file system (the project's workload, built static, and busybox-static): nothing
is pulled. The truth is what the workload prints (inodes are the kernel's, the
same in every namespace) and what podman says (`podman inspect`: the
container's id and its init's host pid, which is the workload: it is the
container's pid 1).

A test skips only when the runtime itself cannot run a container here, and
says why; with CI=true that is a failure. Ends on "N passed, N failed".
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Tests", "pylib"))
from testkit import free_port, wait_for  # noqa: E402

IMAGE = sys.argv[1] if len(sys.argv) > 1 else "localhost/socktrace:0.1.0"
SECCOMP = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "deploy", "seccomp", "socktrace.json")
WORKLOAD_IMAGE = "localhost/socktrace-test-workload:latest"
PREFIX = "socktrace-test-%d-" % os.getpid()
WORK = tempfile.mkdtemp(prefix="socktrace-container-")
CI = os.environ.get("CI") == "true"

# What podman needs on this machine: runc (crun refuses hybrid cgroups:
# "cgroups in hybrid mode not supported") and explicit rlimits (the default
# ones are refused by runc here).
RUNTIME = ["--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


class Skip(Exception):
    pass


def podman(*args, check=True, timeout=120, **kwargs):
    run = subprocess.run(["podman"] + list(args), capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and run.returncode != 0:
        raise AssertionError("podman %s: exit %d: %s" % (" ".join(args), run.returncode, run.stderr.strip()))
    return run


def inspect(name, template):
    return podman("inspect", "--format", template, name).stdout.strip()


def tracer_args(name, logs, metrics_port, privileges=None):
    """`podman run` as the DaemonSet runs the image (docs/deploy.md)."""
    if privileges is None:
        privileges = ["--cap-drop=all", "--cap-add=BPF,PERFMON", "--security-opt", "seccomp=" + SECCOMP]
    return (["run", "-d", "--name", name] + RUNTIME + privileges +
            ["--pid=host", "--network=host",
             "-v", "/sys/kernel/tracing:/sys/kernel/tracing",
             "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro",
             "-v", "%s:/var/log/socktrace" % logs,
             IMAGE, "--metrics", "127.0.0.1:%d" % metrics_port, "-o", "/var/log/socktrace/events.jsonl"])


class Tracer:
    """The image, started detached; ready once its metrics endpoint answers
    (the DaemonSet's readiness probe)."""

    def __init__(self, tag, extra=()):
        self.name = PREFIX + tag
        self.logs = os.path.join(WORK, tag)
        os.mkdir(self.logs)
        self.port = free_port()
        args = tracer_args(self.name, self.logs, self.port)
        podman(*(args + list(extra)))
        self.pid = int(inspect(self.name, "{{.State.Pid}}"))
        self.ids = None

        def ready():
            if inspect(self.name, "{{.State.Running}}") != "true":
                raise AssertionError("tracer exited: " + podman("logs", self.name).stderr)
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.port, timeout=2) as response:
                    return response.status == 200 and b"socktrace_info" in response.read()
            except OSError:
                return False
        wait_for(ready, 60, "the tracer's metrics endpoint", interval=0.1)
        wait_for(lambda: "Tracing" in podman("logs", self.name).stderr, 30, "the Tracing line", interval=0.1)
        self.ids = bpf_ids_held_by(self.pid)

    def stop(self):
        start = time.time()
        podman("stop", "-t", "30", self.name)
        self.stop_seconds = time.time() - start
        self.exit_code = int(inspect(self.name, "{{.State.ExitCode}}"))
        self.stderr = podman("logs", self.name).stderr
        with open(os.path.join(self.logs, "events.jsonl")) as handle:
            self.records = [json.loads(line) for line in handle]
        return self.records


def bpf_ids_held_by(pid):
    """{"prog": {ids}, "map": {ids}, "link": {ids}} from the fds the host pid
    holds (/proc/PID/fdinfo says prog_id, map_id, link_id)."""
    ids = {"prog": set(), "map": set(), "link": set()}
    directory = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(directory):
        try:
            with open(os.path.join(directory, fd)) as handle:
                for line in handle:
                    key, _, value = line.partition(":")
                    kind = {"prog_id": "prog", "map_id": "map", "link_id": "link"}.get(key)
                    if kind:
                        ids[kind].add(int(value))
        except OSError:
            pass
    return ids


def bpf_ids_loaded():
    loaded = {}
    for kind in ("prog", "map", "link"):
        run = subprocess.run(["bpftool", "--json", kind, "show"], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        loaded[kind] = {entry["id"] for entry in json.loads(run.stdout or "[]")}
    return loaded


class Workload:
    """The workload in a container of its own, gated: it prints "ready" and
    waits; go() lets it make its sockets and returns what it did."""

    def __init__(self, tag, scenarios):
        self.name = PREFIX + tag
        self.proc = subprocess.Popen(
            ["podman", "run", "-i", "--rm", "--name", self.name, "--network=none"] + RUNTIME +
            [WORKLOAD_IMAGE, "/bin/socktrace-workload", "--gate"] + scenarios,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert json.loads(line or "{}").get("op") == "ready", (line, self.proc.stderr.read() if not line else "")
        self.id = inspect(self.name, "{{.Id}}")
        self.pid = int(inspect(self.name, "{{.State.Pid}}"))
        # The host's view of the container, read while it runs.
        with open("/proc/%d/cgroup" % self.pid) as handle:
            self.cgroup = [l.split(":", 2)[2].strip() for l in handle if l.startswith("0::")][0]
        self.netns = os.stat("/proc/%d/ns/net" % self.pid).st_ino

    def go(self):
        out, err = self.proc.communicate("go\n", timeout=60)
        assert self.proc.returncode == 0, err
        self.truth = [json.loads(line) for line in out.splitlines()]
        return self.truth

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def truth_inodes(truth):
    return {str(t["inode"]) for t in truth if t.get("inode") and t["op"] != "close"}


def cleanup():
    names = podman("ps", "-a", "--format", "{{.Names}}", check=False).stdout.split()
    for name in names:
        if name.startswith(PREFIX):
            podman("rm", "-f", "-t", "0", name, check=False)


# ------------------------------------------------------------------ setup

def build_workload_image():
    """The workload image: the project's workload, static, and busybox-static."""
    root = os.path.join(WORK, "workload-root")
    os.makedirs(os.path.join(root, "bin"))
    os.makedirs(os.path.join(root, "tmp"))
    subprocess.run(["gcc", "-O2", "-static", "-pthread", "-o", os.path.join(root, "bin", "socktrace-workload"),
                    os.path.join(ROOT, "Tests", "Workload", "workload.c")], check=True)
    shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
    for applet in ("sh", "true", "sleep", "cat"):
        os.symlink("busybox", os.path.join(root, "bin", applet))
    tarball = os.path.join(WORK, "workload.tar")
    subprocess.run(["tar", "--sort=name", "--owner=0", "--group=0", "--mtime=@0", "-C", root, "-cf", tarball, "."],
                   check=True)
    previous = podman("image", "inspect", "--format", "{{.Id}}", WORKLOAD_IMAGE, check=False).stdout.strip()
    podman("import", "-q", tarball, WORKLOAD_IMAGE)
    if previous and previous != inspect(WORKLOAD_IMAGE, "{{.Id}}"):
        podman("rmi", previous, check=False)  # the last run's, now untagged


def runtime_works():
    """Raises Skip, saying why, when podman cannot run a container here."""
    if shutil.which("podman") is None:
        raise Skip("podman is not installed (scripts/setup.sh --test installs it)")
    if shutil.which("runc") is None:
        raise Skip("runc is not installed (scripts/setup.sh --test installs it)")
    run = podman("run", "--rm", *RUNTIME, "--network=none", WORKLOAD_IMAGE, "/bin/true", check=False)
    if run.returncode != 0:
        raise Skip("podman cannot run a container here: " + run.stderr.strip().splitlines()[-1])
    if not os.path.isdir("/sys/kernel/tracing/events"):
        # The DaemonSet binds the host's tracefs; a host without it mounted
        # gets it mounted here, as systemd does at boot (sys-kernel-tracing.mount).
        subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"], check=True)


# ------------------------------------------------------------------ tests

def test_image_holds_the_binary_and_its_libraries_only():
    name = PREFIX + "files"
    podman("create", "--network=none", "--name", name, IMAGE)
    try:
        listing = subprocess.run("podman export %s | tar -t" % name, shell=True, capture_output=True, text=True,
                                 check=True).stdout.split()
    finally:
        podman("rm", name)
    files = sorted(f.lstrip("./") for f in listing if not f.endswith("/"))
    libraries = sorted(f for f in files if ".so" in f)
    names = sorted(os.path.basename(f).split(".so")[0] for f in libraries)
    # ldd of the release binary: libbpf, libelf, zlib, libc (and libm, libz's
    # and libc's own), and the loader. No Swift runtime, no libstdc++: linked in.
    assert names == ["ld-linux-x86-64", "libbpf", "libc", "libelf", "libm", "libz"] or \
        names == ["ld-linux-x86-64", "libbpf", "libc", "libelf", "libz"], libraries
    assert "usr/bin/socktrace" in files, files
    assert not any(f.endswith("/sh") or f.endswith("busybox") for f in files), files
    assert sorted(set(files) - set(libraries)) == ["etc/group", "etc/passwd", "usr/bin/socktrace"], files
    config = json.loads(podman("image", "inspect", IMAGE).stdout)[0]["Config"]
    assert config["Entrypoint"] == ["/usr/bin/socktrace", "serve"], config
    size = int(inspect(IMAGE, "{{.Size}}"))
    assert size < 32 << 20, "the image is %d bytes" % size
    print("  image %s: %.1f MiB" % (IMAGE, size / 1048576.0))


def test_default_seccomp_refuses_bpf_and_the_profile_allows_it():
    # With cap-drop=all + CAP_BPF, containers-common's default seccomp profile
    # still fails bpf(2) with EPERM: it allows bpf only with CAP_SYS_ADMIN.
    # (With deploy/seccomp/socktrace.json the other tests trace.)
    run = run_tracer_to_exit("default-seccomp", ["--cap-drop=all", "--cap-add=BPF,PERFMON"])
    assert run.returncode == 1, (run.returncode, run.stderr)
    assert "Operation not permitted (EPERM)" in run.stderr and "loading BPF programs failed" in run.stderr, run.stderr


def test_each_capability_is_needed():
    # The least privileges: take either of the two away and the tracer names
    # the one missing before loading anything. CAP_DAC_READ_SEARCH is not
    # needed as root (uid 0 owns tracefs), nor CAP_SYS_ADMIN (tracefs bound).
    seccomp = ["--security-opt", "seccomp=" + SECCOMP]
    for missing, kept in (("CAP_BPF", "PERFMON"), ("CAP_PERFMON", "BPF")):
        run = run_tracer_to_exit("no-" + kept, ["--cap-drop=all", "--cap-add=" + kept] + seccomp)
        assert run.returncode == 1 and "capabilities %s (" % missing in run.stderr, (missing, run.stderr)


def run_tracer_to_exit(tag, privileges):
    """The tracer in the foreground (podman run --rm), to its exit."""
    logs = os.path.join(WORK, tag)
    os.mkdir(logs)
    args = tracer_args(PREFIX + tag, logs, free_port(), privileges=privileges)
    assert args[1] == "-d"
    args[1] = "--rm"
    return podman(*args, check=False, timeout=60)


def test_daemonset_records_another_containers_sockets_with_its_identity():
    tracer = Tracer("ds")
    workload = None
    try:
        workload = Workload("ds-workload", ["lifecycle", "socketpair", "bad-family"])
        truth = workload.go()
        # A socket on the host, outside any container, after the workload's.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as host_socket:
            host_inode = str(os.fstat(host_socket.fileno()).st_ino)
        time.sleep(0.5)
    finally:
        if workload:
            workload.kill()
        records = tracer.stop()
    assert tracer.exit_code == 0, tracer.stderr
    start, end = records[0], records[-1]
    assert start["event"] == "start" and end["event"] == "end", (start["event"], end["event"])
    assert end["lost"] == 0, end
    # The start record: the host's PID namespace (hostPID), level 0.
    assert start["pid_namespace"]["level"] == 0 and \
        start["pid_namespace"]["inode"] == os.stat("/proc/self/ns/pid").st_ino, start["pid_namespace"]
    mine = [r for r in records if r.get("container_id") == workload.id]
    assert mine, "no record carries the workload container's id %s" % workload.id
    # Every socket the workload made, with podman's id, runtime, cgroup and the host's pid.
    births = {r["inode"]: r for r in mine if r["event"] in ("socket", "socketpair", "accept") and r["inode"]}
    wanted = {str(t["inode"]) for t in truth if t["op"] in ("socket", "socketpair", "accept") and t["ret"] >= 0}
    assert wanted and wanted <= set(births), (sorted(wanted - set(births)), len(mine))
    failed = [r for r in mine if r["event"] == "socket" and r["error"] == "EAFNOSUPPORT"]
    assert len(failed) == sum(1 for t in truth if t["op"] == "socket" and t["errno"] == 97), failed
    workload_records = [r for r in mine if r["comm"] == "socktrace-workl"]
    for r in workload_records:
        assert r["container_runtime"] == "podman", r
        assert r["cgroup_path"] == workload.cgroup and r["cgroup_path"].endswith("libpod-" + workload.id), \
            (r["cgroup_path"], workload.cgroup)
        assert r["pid"] == r["tid"] == workload.pid, (r["pid"], workload.pid)
        assert r["netns"] == workload.netns, (r["netns"], workload.netns)
    ops = {t["op"] for t in truth} - {"close", "ready"}
    seen = {r["event"] for r in workload_records}
    assert {"socket", "bind", "listen", "connect", "accept", "shutdown", "socketpair"} <= seen, seen
    assert ops <= seen | {"connect_result"}, (ops, seen)
    # Machine-wide: the host's own socket too, with no container.
    host = [r for r in records if r.get("inode") == host_inode and r["event"] == "socket"]
    assert len(host) == 1 and host[0]["container_id"] is None and host[0]["pid"] == os.getpid(), host
    print("  %d records of container %s, e.g.: %s" % (len(mine), workload.id[:12], json.dumps(births[sorted(wanted)[0]])[:200]))


def test_containers_started_within_a_second_keep_their_identity():
    # Two short-lived "containers" (cgroups named as podman names them, a
    # process making one socket in each) 0.3 s apart, while the image traces.
    # A single once-a-second limit on rewalking the hierarchy used to leave
    # the first with no cgroup_path and no container_id (it lived less than
    # the second after the previous walk).
    root = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") else "/sys/fs/cgroup"
    # podman's cgroupfs naming (libpod_parent/libpod-ID, as here) or its systemd one (libpod-ID.scope).
    parent = os.path.join(root, "libpod_parent")
    suffix = ""
    if not os.path.isdir(parent):
        parent, suffix = root, ".scope"
    helper = os.path.join(WORK, "one-socket")
    subprocess.run(["gcc", "-O2", "-static", "-o", helper, "-x", "c", "-"], check=True, text=True, input=(
        "#include <sys/socket.h>\n#include <unistd.h>\n"
        "int main(void) { close(socket(AF_INET, SOCK_DGRAM, 0)); return 0; }\n"))
    tracer = Tracer("quick", extra=["--comm", "one-socket"])
    made = []
    try:
        for _ in range(3):
            container = os.urandom(32).hex()
            directory = os.path.join(parent, "libpod-" + container + suffix)
            os.mkdir(directory)
            made.append((container, directory))
            subprocess.run(["sh", "-c", 'echo $$ > %s/cgroup.procs && exec %s' % (directory, helper)], check=True)
            time.sleep(0.3)
        time.sleep(0.3)
    finally:
        records = tracer.stop()
        for _, directory in made:
            os.rmdir(directory)
    births = [r for r in records if r["event"] == "socket"]
    assert [r["container_id"] for r in births] == [c for c, _ in made], \
        [(r["container_id"], r["cgroup_path"]) for r in births]
    assert all(r["container_runtime"] == "podman" for r in births), births


def test_container_filter_traces_only_that_container_and_stop_unloads_everything():
    traced = other = None
    tracer = None
    try:
        traced = Workload("only-a", ["inet-stream", "socketpair", "lifecycle"])
        other = Workload("only-b", ["inet-stream", "socketpair", "inet6-dgram"])
        # docker ps's 12-digit prefix, as a user would type it.
        tracer = Tracer("only", extra=["--container", traced.id[:12]])
        held = tracer.ids
        assert held["prog"] and held["map"] and held["link"], held
        assert held["prog"] <= bpf_ids_loaded()["prog"], "bpftool does not show the tracer's programs"
        truth_a = traced.go()
        truth_b = other.go()
        time.sleep(0.5)
    finally:
        for w in (traced, other):
            if w:
                w.kill()
        records = tracer.stop() if tracer else []
    assert tracer.exit_code == 0, tracer.stderr
    start, end = records[0], records[-1]
    assert start["filters"]["container"] == [traced.id], start["filters"]
    assert end["event"] == "end" and end["lost"] == 0, end
    process = [r for r in records if r["event"] not in ("start", "end", "lost")]
    assert process, "nothing recorded"
    assert {r["container_id"] for r in process} == {traced.id}, {r["container_id"] for r in process}
    inodes = {r.get("inode") for r in process} | {r.get("peer_inode") for r in process}
    assert truth_inodes(truth_a) <= inodes, sorted(truth_inodes(truth_a) - inodes)
    assert not truth_inodes(truth_b) & inodes, "the other container's sockets were recorded"
    # podman stop: SIGTERM, drained, end record (above), nothing left loaded.
    assert tracer.stop_seconds < 10, tracer.stop_seconds
    loaded = bpf_ids_loaded()
    for kind in ("prog", "map", "link"):
        assert not (tracer.ids[kind] & loaded[kind]), "%s ids still loaded: %s" % (kind, tracer.ids[kind] & loaded[kind])
    print("  stopped in %.1f s; %d programs, %d maps, %d links unloaded" % (
        tracer.stop_seconds, len(tracer.ids["prog"]), len(tracer.ids["map"]), len(tracer.ids["link"])))


def main():
    results = {"passed": 0, "failed": 0, "skipped": 0}
    tests = [(name, fn) for name, fn in globals().items() if name.startswith("test_")]
    try:
        try:
            build_workload_image()
            runtime_works()
            skip = None
        except Skip as reason:
            skip = str(reason)
        for name, fn in tests:
            if skip:
                print("SKIP %s: %s" % (name, skip))
                results["failed" if CI else "skipped"] += 1
                continue
            start = time.time()
            try:
                fn()
                print("PASS %s (%.1f s)" % (name, time.time() - start))
                results["passed"] += 1
            except Exception as error:  # noqa: BLE001: any failure is the test's
                import traceback
                traceback.print_exc()
                print("FAIL %s: %s" % (name, error))
                results["failed"] += 1
            cleanup()
    finally:
        cleanup()
        shutil.rmtree(WORK, ignore_errors=True)
    print("%d passed, %d failed, %d skipped" % (results["passed"], results["failed"], results["skipped"]))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
