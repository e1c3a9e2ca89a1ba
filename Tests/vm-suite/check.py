#!/usr/bin/env python3
"""check.py - compare socktrace's recordings inside the test VMs with the truth.

usage: check.py --results DIR [--tracer] KERNEL...

DIR/<kernel>/ is what run.sh split out of a VM's serial log:
  vm, done, kernel/{uname,facts,doctor,dmesg},
  <rung>/{status,stderr,events.jsonl,workload.jsonl,workload.stderr}.
workload.jsonl is socktrace-workload's own report (one JSON object per call);
events.jsonl is socktrace's recording (docs/schema.md). Without --tracer the
VM ran the workload alone (stand-in) and only the infrastructure is checked.
Prints one "PASS ..."/"FAIL ..." line per check, then "N passed, N failed".
Every record of every recording is also validated against docs/schema.json
(Python's jsonschema, from scripts/setup.sh's test packages).
"""
import argparse
import json
import os
import re
import sys

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "..", "..", "docs", "schema.json"), encoding="utf-8") as _f:
    SCHEMA = jsonschema.Draft202012Validator(json.load(_f))
# Schema v2 writes 64-bit values (every *_ns, inodes, cgroup ids) as decimal
# strings; the checks below compare them with the workload's numbers.
U64_KEYS = ("ts_ns", "inode", "peer_inode", "listen_inode", "cgroup_id", "duration_ns", "boot_offset_ns")

RUNGS = {"auto": "fentry", "kprobe": "kprobe", "tracepoint": "tracepoint"}
SOCK_NONBLOCK, SOCK_CLOEXEC, SOCK_TYPE_MASK = 0o4000, 0o2000000, 0xF
# Protocol the kernel picks when 0 is asked: (family, type) -> protocol.
DEFAULT_PROTO = {(2, 1): 6, (2, 2): 17, (10, 1): 6, (10, 2): 17}
# Where each failure happens (errno -> failed_stage), for the workload's calls.
FAILED_STAGE = {22: "sys_socket", 97: "sock_create", 93: "sock_create", 24: "sock_map_fd"}
# The workload's scenarios (guest-init.sh), to check that it made every call:
# the calls each scenario reports, and the kernel it needs (None: every kernel).
SCENARIO_OPS = {
    # base: 15 records + unshare; lifecycle adds 12 sockets, 4 accepts and the calls on them.
    "base": ({"socket": 25, "socketpair": 1, "accept": 5, "unshare": 1, "bind": 6, "listen": 5,
              "connect": 6, "shutdown": 4, "connect_result": 2}, None),
    "io-uring-socket": ({"socket": 1}, (5, 19)),
    "io-uring-bad-family": ({"socket": 1}, (5, 19)),
    "io-uring-accept": ({"socket": 2, "accept": 1}, None),
    # two connections and the -ECANCELED of the cancelled multishot sqe
    "io-uring-accept-multishot": ({"socket": 3, "accept": 3}, (5, 19)),
    "ia32-socket": ({"socket": 1}, None),
    "ia32-socketcall": ({"socket": 1}, None),
    "ia32-socketpair": ({"socketpair": 1}, None),
    "ia32-accept4": ({"socket": 2, "accept": 1}, None),
    # issue 22: one failing call per cause (the seccomp thread adds a socketpair)
    "causes": ({"socket": 9, "socketpair": 1}, None),
    # issue 19: nine shared sockets; the fork's parent binds, the SCM_RIGHTS receiver binds and listens
    "share": ({"share": 9, "bind": 2, "listen": 1}, None),
}
# Failure causes (issue 22): where each of the workload's fails (failed_stage
# on the function rungs); a seccomp refusal is seen at sys_exit on every rung.
CAUSE_STAGE = {"bad_flags": "sys_socket", "bad_type": "sock_create", "family_out_of_range": "sock_create",
               "family_unavailable": "sock_create", "protocol_unsupported": "sock_create",
               "fd_limit": "sock_map_fd", "permission": "sock_create", "lsm": "sock_create"}
# The tracepoint rung's releases that walk an fd table (close_range, an exec's
# close-on-exec fds, an exit) need bpf_loop, 5.17+ (AttachPlan.releaseWalkPrograms);
# before it they are declared blind (release_elsewhere).
BPF_LOOP = (5, 17)
WALKED = ("close_range", "exec", "exit")
# The multishot scenario's listener and clients are made before it finds out.
UNSUPPORTED_OPS = {"io-uring-accept-multishot": {"socket": 3}}

passed = failed = 0


def check(ok, name, reason=""):
    """Count and print one check."""
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
    print(f"{'PASS' if ok else 'FAIL'} {name}" + (f": {reason}" if reason and not ok else ""))
    return ok


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def kv(text):
    """'a=1 b=x' (the status files) -> dict."""
    return dict(w.split("=", 1) for w in (text or "").split() if "=" in w)


def jsonl(path, name):
    """Parse a JSON Lines file; a line that is not JSON is a failed check."""
    text, records, bad = read(path), [], []
    for n, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            bad.append(f"line {n}: {line[:160]!r}")
    check(text is not None and not bad, f"{name} is JSON Lines",
          "missing" if text is None else "; ".join(bad[:3]))
    return records


def as_numbers(rec):
    """The record with its 64-bit decimal strings as ints, for comparing."""
    out = dict(rec)
    for k in U64_KEYS:
        if isinstance(out.get(k), str) and out[k].isdigit():
            out[k] = int(out[k])
    if isinstance(out.get("stages"), dict):
        out["stages"] = {k: int(v) if isinstance(v, str) and v.isdigit() else v
                         for k, v in out["stages"].items()}
    return out


def flags_of(t):
    names = []
    if t & SOCK_NONBLOCK:
        names.append("SOCK_NONBLOCK")
    if t & SOCK_CLOEXEC:
        names.append("SOCK_CLOEXEC")
    rest = t & ~(SOCK_NONBLOCK | SOCK_CLOEXEC | SOCK_TYPE_MASK)
    if rest:
        names.append(hex(rest))
    return sorted(names)


def label(op):
    """A short name for one workload call."""
    via = "" if op.get("via", "syscall") == "syscall" else f" via {op['via']}"
    if op["op"] == "socket":
        return (f"socket({op['family']},{op['type']:#x},{op['protocol']})="
                f"{op['ret']} pid={op['pid']} tid={op['tid']}{via}")
    if op["op"] == "unshare":
        return f"unshare pid={op['pid']}"
    return f"{op['op']} pid={op['pid']} fd={op.get('fd', op.get('ret'))}{via}"


def diff(rec, want):
    """The fields of rec that differ from want, as 'field=got (want X)'."""
    return [f"{k}={rec.get(k)!r} (want {v!r})" for k, v in want.items() if rec.get(k) != v]


def record_probe(op, probe):
    """The probe a record of this call says: io_uring's are tracepoints on every
    rung; a 32-bit call is finished by the hook of its kernel function
    (__sys_socket, __sys_socketpair, __sys_accept4), a tracepoint only on the
    tracepoint rung."""
    if op.get("via", "syscall") == "io_uring":
        return "tracepoint"
    return probe


def check_socket(name, op, recs, probe):
    """One socket() call: recorded once, with the right fields and stages."""
    ok = op["ret"] >= 0
    probe = record_probe(op, probe)
    if ok:  # a success is identified by its inode
        found = [r for r in recs if r.get("inode") == op["inode"]]
    else:  # a failure by who made it and how it failed
        found = [r for r in recs if not r.get("kernel") and r.get("pid") == op["pid"]
                 and r.get("tid") == op["tid"] and r.get("errno") == op["errno"]
                 and r.get("family_num") == op["family"] and r.get("via") == op.get("via", "syscall")]
    if not check(len(found) == 1, f"{name}: recorded once", f"{len(found)} records"):
        return found
    rec = found[0]
    base = op["type"] & SOCK_TYPE_MASK
    proto = op["protocol"] or (DEFAULT_PROTO.get((op["family"], base), 0) if ok else 0)
    want = {"pid": op["pid"], "tid": op["tid"], "fd": op["ret"] if ok else None,
            "ret": op["ret"] if ok else -op["errno"], "errno": op["errno"],
            "inode": op["inode"] if ok else None, "kernel": False,
            "family_num": op["family"], "type_num": base, "via": op.get("via", "syscall"),
            "protocol_num": proto, "requested_protocol_num": op["protocol"]}
    bad = diff(rec, want)
    if sorted(rec.get("flags") or []) != flags_of(op["type"]):
        bad.append(f"flags={rec.get('flags')!r} (want {flags_of(op['type'])!r})")
    check(not bad, f"{name}: fields", "; ".join(bad))
    check(rec.get("probe") == probe, f"{name}: probe", f"probe={rec.get('probe')!r} (want {probe!r})")
    if probe == "tracepoint":  # io_uring's records too: no stages on any rung
        return found
    if ok:
        st = rec.get("stages") or {}
        check(st.get("sock_create_ns") is not None and st.get("sock_map_fd_ns") is not None
              and rec.get("failed_stage") is None, f"{name}: stages",
              f"stages={rec.get('stages')!r} failed_stage={rec.get('failed_stage')!r}")
    else:
        stage = FAILED_STAGE.get(op["errno"])
        check(rec.get("failed_stage") == stage, f"{name}: failed_stage",
              f"failed_stage={rec.get('failed_stage')!r} (want {stage!r})")
    return found


def check_pair(name, op, recs, probe, kind):
    """socketpair/accept: one record of that event with both fds and inodes."""
    probe = record_probe(op, probe)
    fd, fd2 = (op["fd"], op["fd2"]) if kind == "socketpair" else (op["ret"], op["fd2"])
    peer = ("peer_fd", "peer_inode") if kind == "socketpair" else ("listen_fd", "listen_inode")
    if op["ret"] < 0:
        # Only the cancelled multishot accept is meant to fail: found by its errno.
        if not check(op.get("via", "syscall") == "io_uring", f"{name}: workload call succeeded",
                     f"errno {op['errno']}"):
            return
        found = [r for r in recs if r.get("event") == kind and r.get("pid") == op["pid"]
                 and r.get("errno") == op["errno"] and r.get("via") == op.get("via", "syscall")]
        if check(len(found) == 1, f"{name}: recorded once", f"{len(found)} failed {kind} records"):
            bad = diff(found[0], {"fd": None, "inode": None, "ret": -op["errno"],
                                  "listen_inode": op["inode2"], "probe": probe})
            check(not bad, f"{name}: fields", "; ".join(bad))
        return
    found = [r for r in recs if r.get("event") == kind and r.get("pid") == op["pid"]
             and r.get("fd") == fd and r.get("via") == op.get("via", "syscall")
             and r.get("inode") in (op["inode"], None)]
    if not check(len(found) == 1, f"{name}: recorded once", f"{len(found)} {kind} records"):
        return
    rec = found[0]
    want = {"tid": op["tid"], "ret": op["ret"], "errno": 0, peer[0]: fd2, "probe": probe,
            "via": op.get("via", "syscall")}
    if kind == "accept":
        want["flags"] = flags_of(op["type"])
    if op.get("via", "syscall") == "io_uring" and rec.get(peer[0]) is None and rec.get(peer[1]) == op["inode2"]:
        del want[peer[0]]  # 5.x io_uring: the listener's file is known, not its fd
    inodes = {"inode": op["inode"], peer[1]: op["inode2"]}
    bad = diff(rec, want)
    # Inodes are required where the rung sees the socket; elsewhere null or right.
    bad += [f"{k}={rec.get(k)!r} (want {v!r})" for k, v in inodes.items()
            if rec.get(k) != v and (probe != "tracepoint" or rec.get(k) is not None)]
    check(not bad, f"{name}: fields", "; ".join(bad))


def check_calls(pre, ops, recs):
    """bind/listen/connect/shutdown, connect_result and accept's peer, each
    joined by inode and compared with what the workload saw (lifecycle)."""
    calls = [r for r in recs if r.get("event") in ("bind", "listen", "connect", "shutdown", "connect_result")]
    for op in ops:
        kind = op["op"]
        if kind not in ("bind", "listen", "connect", "shutdown", "connect_result") and not (
                kind == "accept" and "has_address" in op):
            continue
        event = "accept" if kind == "accept" else kind
        found = [r for r in (recs if kind == "accept" else calls)
                 if r.get("event") == event and r.get("inode") == op["inode"]]
        name = f"{pre} {kind} inode {op['inode']}"
        if not check(len(found) == 1, f"{name}: recorded once", f"{len(found)} records"):
            continue
        rec, bad = found[0], []
        if kind == "connect_result":
            want = {"errno": op["errno"], "result": "established" if op["errno"] == 0 else "failed"}
        else:
            want = {"pid": op["pid"]}
            if kind != "accept":
                want.update({"fd": op["fd"], "errno": op["errno"], "born_before_trace": False,
                             "ret": -op["errno"] if op["ret"] < 0 else op["ret"]})
            if kind in ("bind", "connect", "accept"):
                want["address"] = op["address"] if op["has_address"] else None
                want["port"] = op["port"] if op["port"] >= 0 else None
            if kind == "listen":
                want["backlog"] = op["arg"]
            if kind == "shutdown":
                want["how_num"] = op["arg"]
        bad = diff(rec, want)
        check(not bad, f"{name}: fields", "; ".join(bad))


def check_cause(name, op, recs, probe, version):
    """A call the causes scenario made to fail: recorded once with its errno
    and the cause the workload meant, with the figures that explain it."""
    seccomp = op["cause"] == "seccomp"
    if seccomp and probe != "tracepoint":
        # The function rungs attach no syscall tracepoint (issue 20): a call
        # seccomp refused never reaches __sys_*, so it is not recorded, and
        # start.blind_spots says so (cause:seccomp).
        found = [r for r in recs if r.get("event") == op["op"] and r.get("pid") == op["pid"]
                 and r.get("tid") == op["tid"] and r.get("errno") == op["errno"]]
        check(not found, f"{name}: not recorded on the {probe} rung (cause:seccomp is blind)", f"{len(found)} records")
        return found
    # Before 5.15 (no bpf_task_pt_regs) a seccomp-refused call's arguments are unknown: -1.
    blind_args = seccomp and version < (5, 15)
    family = -1 if blind_args else op["family"]
    found = [r for r in recs if r.get("event") == op["op"] and not r.get("kernel")
             and r.get("pid") == op["pid"] and r.get("tid") == op["tid"]
             and r.get("errno") == op["errno"] and r.get("family_num") == family
             and (blind_args or r.get("type_num") == op["type"] & SOCK_TYPE_MASK)]
    if not check(len(found) == 1, f"{name}: recorded once", f"{len(found)} records"):
        return found
    rec = found[0]
    want = {"cause": op["cause"] or None, "ret": -op["errno"] if op["errno"] else op["ret"],
            "probe": "tracepoint" if seccomp else probe}
    if not blind_args:
        want["type_num"] = op["type"] & SOCK_TYPE_MASK
    if op["cause"] == "fd_limit":
        want.update({"fd_limit": op["fd_limit"], "open_fds": op["open_fds"]})
    if op["cause"] == "family_unavailable":
        # Every Debian kernel has modules: __sock_create asked for the family's.
        want["module"] = f"net-pf-{op['family']}"
    if op["cause"] == "permission":
        want["capability"] = "CAP_NET_RAW"
    if op["cause"] == "lsm":
        # The BPF LSM program (Tests/vm-suite/lsm) refused it: named on the
        # fentry rung (fexit on bpf_lsm_socket_create sees its verdict); the
        # kprobe and tracepoint rungs declare cause:lsm blind and leave it out.
        want["lsm"] = "bpf" if probe == "fentry" else None
    if probe != "tracepoint" and not seccomp:
        want["failed_stage"] = CAUSE_STAGE.get(op["cause"])
    bad = diff(rec, want)
    check(not bad, f"{name}: cause {op['cause']!r}", "; ".join(bad))
    return found


def check_rung(kdir, kernel, rung, version):
    probe, d, pre = RUNGS[rung], os.path.join(kdir, rung), f"{kernel} {rung}"
    status = kv(read(os.path.join(d, "status")))
    stderr = read(os.path.join(d, "stderr")) or ""
    print(f"INFO {pre}: {read(os.path.join(d, 'status')) or 'no status'}".rstrip())
    attached = any(l.startswith("Tracing") for l in stderr.splitlines())
    if not check(attached, f"{pre}: tracer attached", "stderr: " + stderr.strip()[-400:]):
        return
    check(status.get("stop") == "INT" and status.get("tracer_rc") == "0",
          f"{pre}: tracer stopped by SIGINT with status 0",
          f"stop={status.get('stop')} rc={status.get('tracer_rc')}; stderr: {stderr.strip()[-300:]}")
    ops = jsonl(os.path.join(d, "workload.jsonl"), f"{pre} workload report")
    check_ops(pre, ops, status, version)
    recs = jsonl(os.path.join(d, "events.jsonl"), f"{pre} recording")
    invalid = [f"line {n}: {e.json_path}: {e.message}"[:200] for n, r in enumerate(recs, 1)
               for e in SCHEMA.iter_errors(r)]
    check(recs and not invalid, f"{pre}: all {len(recs)} records validate against docs/schema.json",
          "; ".join(invalid[:3]))
    recs = [as_numbers(r) for r in recs]
    start = [r for r in recs if r.get("event") == "start"]
    end = [r for r in recs if r.get("event") == "end"]
    check(len(start) == 1 and start[0].get("probe") == probe, f"{pre}: start record, probe {probe}",
          f"start={start[:1]!r}"[:300])
    check(len(end) == 1 and end[0].get("lost") == 0 and end[0].get("decode_errors") == 0,
          f"{pre}: end record, nothing lost", f"end={end[:1]!r}")
    # What the recording cannot contain: kernel sockets on the tracepoint rung,
    # and the two protocol clones (sctp peeloff, kcm clone) on every rung.
    spots = sorted(b.get("path") for b in (start[0].get("blind_spots") or [])
                   if not b.get("path", "").startswith("cause:")) if start else None
    want_spots = sorted((["kernel", "release_elsewhere"] if probe == "tracepoint" else []) + ["kcm_clone", "sctp_peeloff"]
                        + ["io_uring_connect"] + (["io_uring_bind", "io_uring_listen"] if version >= (6, 11) else []))
    check(spots == want_spots, f"{pre}: start.blind_spots is {want_spots}",
          f"blind_spots={start[0].get('blind_spots') if start else None!r}")
    # Failure causes a rung cannot name (issue 22): the tracepoint rung never
    # names the LSM; fentry names it where the modules' hooks are in BTF.
    cause_spots = sorted(b.get("path") for b in (start[0].get("blind_spots") or [])
                         if b.get("path", "").startswith("cause:")) if start else None
    if probe == "tracepoint":
        check(cause_spots == ["cause:lsm"], f"{pre}: start.blind_spots has cause:lsm",
              f"cause blind spots={cause_spots!r}")
    print(f"INFO {pre}: cause blind spots {cause_spots}")
    # socketpair/accept may be seen by another hook than socket(): start.hooks says which.
    hooks = {h.get("hook"): h.get("probe") for h in (start[0].get("hooks") or [])} if start else {}
    pair_probe = hooks.get("socketpair/accept", probe)
    check(pair_probe is not None, f"{pre}: start.hooks has a probe for socketpair/accept",
          f"hooks={hooks}")
    # A function rung puts no syscall tracepoint on every task's syscalls: the
    # socket calls are hooked at their kernel functions (__sys_socketpair, ...).
    if probe != "tracepoint":
        calls = {k: hooks.get(k) for k in ("socketpair/accept", "bind/connect/listen/shutdown")}
        check(all(v == probe for v in calls.values()), f"{pre}: start.hooks: socket calls at kernel functions ({probe})",
              f"hooks={calls}")
    sockets = [r for r in recs if r.get("event") == "socket"]
    matched = []
    for op in ops:
        name = f"{pre} {label(op)}"
        if op.get("scenario") == "causes" and "cause" in op:
            matched += check_cause(name, op, recs, probe, version)
        elif op["op"] == "socket":
            matched += check_socket(name, op, sockets, probe)
        elif op["op"] in ("socketpair", "accept"):
            check_pair(name, op, recs, pair_probe, op["op"])
        elif op["op"] == "unshare" and probe != "tracepoint":
            mine = [r for r in sockets if r.get("kernel") is True and r.get("pid") == op["pid"]]
            kern = [r for r in sockets if r.get("kernel") is True]
            check(bool(mine), f"{name}: kernel sockets of the new netns recorded",
                  f"{len(mine)} kernel:true socket records from pid {op['pid']}, {len(kern)} in all")
            bad = [r for r in kern if r.get("fd") is not None or not r.get("inode")
                   or r.get("probe") != probe]
            check(not bad, f"{name}: kernel sockets have fd null, an inode, probe {probe}",
                  "; ".join(json.dumps(r)[:300] for r in bad[:3]))
    check_lifecycle(pre, ops, recs, probe)
    check_calls(pre, ops, recs)
    check_peers(pre, ops, recs)
    check_share(pre, ops, recs, probe, version, start[0] if start else {})
    # Nothing else claims to be a socket() call of the workload's processes
    # (the peers and share scenarios report their sockets by their ends and
    # by their share lines, not as socket ops).
    pids = {op["pid"] for op in ops}
    peer_inodes = {op["inode"] for op in ops if op["op"] in ("peer-listen", "peer-connect", "share")}
    stray = [r for r in sockets if r.get("pid") in pids and not r.get("kernel")
             and not any(r is m for m in matched) and r.get("inode") not in peer_inodes]
    check(not stray, f"{pre}: no unexpected socket records from the workload",
          "; ".join(json.dumps(r)[:300] for r in stray[:3]))


def check_peers(pre, ops, recs):
    """Issue 21 (the peers scenario): bind has the port the kernel chose,
    connect its source port, and each end names the other's process: unix
    from the kernel's peer credentials, TCP by the 4-tuple in user space."""
    peers = [o for o in ops if o["op"] in ("peer-listen", "peer-connect", "peer-accept")]
    check(len(peers) == 12, f"{pre} peers: the workload reported 4 listeners, connects and accepts",
          f"{len(peers)} reports")
    event = {"peer-listen": "bind", "peer-connect": "connect", "peer-accept": "accept"}
    for op in peers:
        family = {1: "unix", 2: "inet", 10: "inet6"}.get(op["family"], op["family"])
        name = f"{pre} peers {op['op']} {family}"
        found = [r for r in recs if r.get("event") == event[op["op"]] and r.get("inode") == op["inode"]]
        if not check(len(found) == 1, f"{name}: recorded once", f"{len(found)} records"):
            continue
        want = {"pid": op["pid"], "local_address": op["local_address"] or None,
                "local_port": op["local_port"] if op["local_port"] >= 0 else None}
        if op["op"] != "peer-listen":
            want["peer_pid"] = op["other_pid"]
        bad = diff(found[0], want)
        check(not bad, f"{name}: local address and peer", "; ".join(bad))


def check_share(pre, ops, recs, probe, version, start):
    """Issue 19 (the share scenario): a socket shared by fork, dup2 or
    SCM_RIGHTS, or let go by close_range, an exec's close-on-exec or an exit,
    has exactly one release: by the process that dropped its last reference,
    between the workload's "after" (just before) and "before" (certainly
    past), named "release" (__sock_release) on the function rungs and by how
    the fd table let it go on the tracepoint rung. Without bpf_loop (5.10) the
    tracepoint rung cannot walk an fd table: there start.blind_spots must name
    close_range, exec and exit under release_elsewhere, and no release of those
    sockets may be a wrong one."""
    shares = [o for o in ops if o["op"] == "share"]
    cases = sorted({o["case"] for o in shares})
    check(len(shares) == 9 and cases == sorted(("fork_shared", "dup2", "scm_rights") + WALKED),
          f"{pre} share: the workload reported 9 sockets of 6 cases", f"{len(shares)} sockets, cases {cases}")
    walks_blind = probe == "tracepoint" and version < BPF_LOOP
    spot = next((b for b in start.get("blind_spots") or [] if b.get("path") == "release_elsewhere"), {})
    hook = next((h for h in start.get("hooks") or [] if h.get("hook") == "__sock_release"), {})
    names_walks = all(w in spot.get("reason", "") for w in WALKED)
    if probe == "tracepoint":
        # The plan says what it walks: the blind spot names the walks exactly
        # where bpf_loop is missing, the release hook names them elsewhere.
        hooked = all(w in hook.get("how", "") for w in ("close_range", "execve", "exit"))
        check(names_walks == walks_blind and hooked != walks_blind,
              f"{pre} share: close_range, exec and exit are "
              + ("declared blind (release_elsewhere)" if walks_blind else "hooked (fd-table walks)"),
              f"release_elsewhere={spot.get('reason')!r} __sock_release={hook.get('how')!r}")
    for op in shares:
        name = f"{pre} share {op['case']} inode {op['inode']}"
        births = [r for r in recs if r.get("event") == "socket" and r.get("inode") == op["inode"]]
        check(len(births) == 1 and births[0].get("pid") == op["maker"], f"{name}: born once, by pid {op['maker']}",
              f"births by {[r.get('pid') for r in births]}")
        early = [r.get("event") for r in recs if r.get("inode") == op["inode"] and r.get("born_before_trace")]
        check(not early, f"{name}: no call on it marked born_before_trace", f"{early}")
        rel = [r for r in recs if r.get("event") == "release" and r.get("inode") == op["inode"]]
        how = op["how"] if probe == "tracepoint" else "release"

        def wrong(r):
            bad = diff(r, {"pid": op["pid"], "how": how})
            if not op["after"] <= (r.get("ts_ns") or 0) <= op["before"]:
                bad.append(f"ts_ns={r.get('ts_ns')} (want {op['after']}..{op['before']})")
            return bad

        seen = "; ".join(f"{r.get('how')} by {r.get('pid')} at {r.get('ts_ns')}" for r in rel)
        if walks_blind and op["how"] in WALKED:
            bad = [b for r in rel for b in wrong(r)]
            check(names_walks and len(rel) <= 1 and not bad,
                  f"{name}: blind on this rung and declared so (release_elsewhere), no wrong release",
                  f"declared={names_walks}; releases: {seen}; " + "; ".join(bad))
            print(f"INFO {name}: {len(rel)} releases on a rung blind to {op['how']}")
            continue
        if check(len(rel) == 1, f"{name}: one release", f"{len(rel)} releases: {seen}"):
            bad = wrong(rel[0])
            check(not bad, f"{name}: released by pid {op['pid']}, how {how}, at its last reference", "; ".join(bad))


def check_lifecycle(pre, ops, recs, probe):
    """Every socket the workload closed has one release record; exec, fork, exit seen."""
    inodes = [o["inode"] for o in ops if o.get("ret", -1) >= 0 and o.get("inode")]
    inodes += [o["inode2"] for o in ops if o["op"] == "socketpair" and o.get("inode2")]
    how = "close" if probe == "tracepoint" else "release"
    rel = [r for r in recs if r.get("event") == "release"]
    bad = [f"inode {i}: {[r.get('how') for r in rel if r.get('inode') == i]}" for i in inodes
           if [r.get("how") for r in rel if r.get("inode") == i] != [how]]
    check(not bad, f"{pre}: one release (how={how}) per closed workload socket", "; ".join(bad[:5]))
    main_pid = ops[0]["pid"] if ops else None
    child = {o["pid"] for o in ops} - {main_pid}
    got = {(r.get("event"), r.get("pid"), r.get("child_pid")) for r in recs}
    want = {("exec", main_pid, None), ("exit", main_pid, None)}
    want |= {("fork", main_pid, c) for c in child} | {("exit", c, None) for c in child}
    check(want <= got, f"{pre}: exec, fork and exit of the workload recorded",
          f"missing {sorted(want - got, key=str)}")


def check_ops(pre, ops, status, version):
    """The workload ran every scenario (so a missing record is the tracer's), and
    said a path is unsupported exactly where this kernel lacks it."""
    unsupported = {o.get("scenario") for o in ops if o.get("op") == "unsupported"}
    want_unsupported = {s for s, (_, since) in SCENARIO_OPS.items() if since and version < since}
    check(unsupported == want_unsupported, f"{pre}: paths unsupported exactly where the kernel lacks them",
          f"unsupported={sorted(unsupported)} want {sorted(want_unsupported)}")
    want = {}
    for scenario, (calls, _) in SCENARIO_OPS.items():
        for k, n in (UNSUPPORTED_OPS.get(scenario, {}) if scenario in unsupported else calls).items():
            want[k] = want.get(k, 0) + n
    count = {k: sum(1 for o in ops if o.get("op") == k) for k in want}
    check(count == want and status.get("workload_rc") == "0",
          f"{pre}: workload made every call", f"rc={status.get('workload_rc')} ops={count} want {want}")
    vias = {(o.get("op"), o.get("via")) for o in ops if o.get("via") != "syscall" and o.get("via")}
    print(f"INFO {pre}: paths made: {sorted(vias)}")


def check_pidns(kdir, kernel, rung):
    """socktrace -- workload, both inside a new PID namespace (guest-init.sh
    run_pidns): the program pidns_probe loads and runs, and every call is
    recorded once with the pid and tid the workload saw."""
    d, pre = os.path.join(kdir, f"pidns-{rung}"), f"{kernel} {rung} pid namespace"
    status = kv(read(os.path.join(d, "status")))
    stderr = read(os.path.join(d, "stderr")) or ""
    if not check(status.get("tracer_rc") == "0", f"{pre}: the command ran under the tracer, status 0",
                 f"rc={status.get('tracer_rc')}; stderr: {stderr.strip()[-400:]}"):
        return
    ops = [o for o in jsonl(os.path.join(d, "workload.jsonl"), f"{pre} workload report")
           if o.get("op") in ("socket", "socketpair")]
    recs = jsonl(os.path.join(d, "events.jsonl"), f"{pre} recording")
    invalid = [f"line {n}: {e.json_path}: {e.message}"[:200] for n, r in enumerate(recs, 1)
               for e in SCHEMA.iter_errors(r)]
    check(recs and not invalid, f"{pre}: all {len(recs)} records validate", "; ".join(invalid[:3]))
    recs = [as_numbers(r) for r in recs]
    start = recs[0] if recs else {}
    check(start.get("pid_namespace", {}).get("level") == 1, f"{pre}: the start record says level 1",
          f"{start.get('pid_namespace')}")
    births = [r for r in recs if r.get("event") in ("socket", "socketpair")]
    check(len(ops) == 4 and len(births) == len(ops), f"{pre}: one record per call",
          f"{len(births)} records, {len(ops)} calls")
    for op in ops:
        got = [r for r in births if r.get("inode") == op.get("inode")]
        check(len(got) == 1 and got[0].get("pid") == op["pid"] and got[0].get("tid") == op["tid"],
              f"{pre}: {label(op)} recorded with its namespace pid and tid",
              f"records {[(r.get('pid'), r.get('tid')) for r in got]}")


def check_metrics(kdir, kernel, rung):
    """serve --metrics alone (guest-init.sh run_metrics): the kernel counts,
    no record is read, and the births by family, type and result are the
    workload's."""
    d, pre = os.path.join(kdir, f"metrics-{rung}"), f"{kernel} {rung} metrics only"
    status = kv(read(os.path.join(d, "status")))
    stderr = read(os.path.join(d, "stderr")) or ""
    text = read(os.path.join(d, "metrics"))
    if not check(status.get("tracer_rc") == "0" and text, f"{pre}: served /metrics and stopped with status 0",
                 f"rc={status.get('tracer_rc')}; stderr: {stderr.strip()[-400:]}"):
        return
    samples = []
    for line in text.splitlines():
        m = re.match(r'^(\w+)(?:\{(.*)\})? (\S+)$', line)
        if m:
            samples.append((m.group(1), dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or "")),
                            float(m.group(3))))

    def total(name, **labels):
        return sum(v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in labels.items()))

    ops = jsonl(os.path.join(d, "workload.jsonl"), f"{pre} workload report")
    want = {}
    for o in ops:
        if o.get("op") not in ("socket", "socketpair", "accept"):
            continue
        if o["op"] == "accept" and o.get("errno") == 11:
            continue  # EAGAIN: counted apart
        key = (o["family"], o["type"] & 0xF, o.get("errno", 0) == 0)
        want[key] = want.get(key, 0) + 1
    names = {1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6", 255: "AF_255"}
    types = {1: "SOCK_STREAM", 2: "SOCK_DGRAM"}
    got = {}
    for (family, type_, ok) in want:
        got[(family, type_, ok)] = int(sum(
            v for n, l, v in samples if n == "socktrace_socket_births_total" and l.get("comm") == "socktrace-workl"
            and l.get("family") == names.get(family) and l.get("type") == types.get(type_)
            and (l.get("result") == "ok") == ok))
    check(got == want and want, f"{pre}: births by family, type and result are the workload's", f"{got} != {want}")
    check(total("socktrace_accept_would_block_total") == 1, f"{pre}: accept's EAGAIN counted apart",
          f"{total('socktrace_accept_would_block_total')}")
    check(total("socktrace_records_read_total") == 0 and total("socktrace_records_counted_total") > 0,
          f"{pre}: records counted in the kernel, none read",
          f"read {total('socktrace_records_read_total')}, counted {total('socktrace_records_counted_total')}")
    check(total("socktrace_lost_events_total") == 0, f"{pre}: nothing lost",
          f"{total('socktrace_lost_events_total')}")
    check("none sent to user space" in stderr, f"{pre}: the summary says nothing was sent", stderr.strip()[-300:])


def check_arm64(kdir, name):
    """The arm64 VM: st-loader's PASS/FAIL lines count as checks here."""
    vm = kv(read(os.path.join(kdir, "vm")))
    print(f"INFO {name}: VM {vm.get('seconds', '?')}s, qemu rc {vm.get('qemu_rc', '?')}, "
          f"{(read(os.path.join(kdir, 'arm64', 'uname')) or '?').strip()}")
    if not check(read(os.path.join(kdir, "done")) is not None, f"{name}: VM ran to the end and powered off",
                 f"no ===DONE marker (qemu rc {vm.get('qemu_rc')}); see the log"):
        return
    report = (read(os.path.join(kdir, "arm64", "loader")) or "").splitlines()
    lines = [l for l in report if l.startswith(("PASS ", "FAIL "))]
    for line in lines:
        check(line.startswith("PASS "), f"{name} {line[5:]}")
    for line in report:
        if line.startswith("INFO "):
            print(line)
    check(len(lines) >= 20 and report and report[-1].endswith(" failed"),
          f"{name}: st-loader ran every check", f"{len(lines)} checks; stderr: "
          + (read(os.path.join(kdir, "arm64", "loader.stderr")) or "")[-300:])


def kernel_version(release):
    """'5.10.0-46-amd64' -> (5, 10)."""
    parts = release.strip().split(".")
    try:
        return (int(parts[0]), int(parts[1].split("-")[0].split("+")[0]))
    except (IndexError, ValueError):
        return (0, 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--tracer", action="store_true", help="the VMs ran socktrace")
    ap.add_argument("--rungs", default=",".join(RUNGS), help="the rungs the VMs ran")
    ap.add_argument("--arm64", help="the arm64 VM's results (arm64/loader.c's own checks)")
    ap.add_argument("kernels", nargs="+")
    a = ap.parse_args()
    if a.arm64:
        check_arm64(os.path.join(a.results, a.arm64), a.arm64)
    for kernel in a.kernels:
        kdir = os.path.join(a.results, kernel)
        vm = kv(read(os.path.join(kdir, "vm")))
        print(f"INFO {kernel}: VM {vm.get('seconds', '?')}s, qemu rc {vm.get('qemu_rc', '?')}")
        version = kernel_version(read(os.path.join(kdir, "kernel", "uname")) or kernel)
        done = read(os.path.join(kdir, "done")) is not None
        if not check(done, f"{kernel}: VM ran to the end and powered off",
                     f"no ===DONE marker (qemu rc {vm.get('qemu_rc')}, 124 = timeout); see the log"):
            continue
        facts = kv(read(os.path.join(kdir, "kernel", "facts")))
        check(facts.get("btf") == "yes" and facts.get("sys_socket_syms", "0") != "0",
              f"{kernel}: kernel has BTF and __sys_socket", f"facts={facts}")
        if not a.tracer:
            d = os.path.join(kdir, "none")
            check_ops(kernel, jsonl(os.path.join(d, "workload.jsonl"), f"{kernel} workload report"),
                      kv(read(os.path.join(d, "status"))), version)
            continue
        doctor = read(os.path.join(kdir, "kernel", "doctor")) or ""
        check("doctor_rc=0 " in doctor, f"{kernel}: socktrace doctor exits 0", doctor.strip()[-300:])
        # doctor plans the defaults: the io_uring hook, the protocol clones as
        # blind spots, and (--ia32 off) the 32-bit socketpair and accept as
        # blind spots unless the plan hooks __sys_socketpair/__sys_accept4
        # (the function rungs), which see them.
        pair_by_function = re.search(r"\n  socketpair/accept +(fentry|kprobe) ", doctor) is not None
        check("\n  io_uring  " in doctor and "\nblind spots:" in doctor
              and (pair_by_function or ("\n  ia32_socketpair  " in doctor and "\n  ia32_accept  " in doctor))
              and (not pair_by_function or "\n  ia32_socketpair  " not in doctor)
              and "\n  sctp_peeloff  " in doctor and "\n  kcm_clone  " in doctor,
              f"{kernel}: doctor plans the io_uring hook and lists the ia32 paths and protocol clones as blind spots",
              doctor.strip()[-600:])
        # A function rung hooks no syscall tracepoint: none in its plan.
        if pair_by_function:
            check(re.search(r"\n  (socketpair/accept|bind/connect/listen/shutdown) +tracepoint ", doctor) is None,
                  f"{kernel}: doctor plans socketpair, accept, bind, connect, listen, shutdown at kernel functions",
                  doctor.strip()[-600:])
        version = kernel_version(read(os.path.join(kdir, "kernel", "uname")) or kernel)
        print(f"INFO {kernel}: {doctor.strip().splitlines()[-1] if doctor.strip() else 'no doctor output'}")
        for rung in a.rungs.split(","):
            check_rung(kdir, kernel, rung, version)
            check_pidns(kdir, kernel, rung)
            check_metrics(kdir, kernel, rung)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
