#!/usr/bin/env python3
"""`socktrace serve` left running, as on a server: machine-wide, rotated JSON
file and /metrics, for --minutes (default 60), under a load that shares
sockets the way servers do, every couple of seconds:

  - a forking unix server (the parent's listener shared by every child),
    three clients;
  - a pre-fork TCP server: four workers inherit one listener and accept;
  - a socket handed over SCM_RIGHTS and closed by the sender;
  - dup2 over a high fd, then both closed;
  - 20 processes that exit holding 50 sockets each (never closed).

Every load process is named `soakload` (prctl), so its records are found in
the machine-wide recording. Every minute: the tracer's VmRSS and the entries
of its `births` map (bpftool). At the end (SIGTERM, as systemd stops it):

  - every socket a soakload process was born with has exactly one release;
  - the end record's `lost` is 0 and no `lost` record was written;
  - `births` holds no more entries at the end than a bound (the machine's
    live sockets, not the run's total);
  - VmRSS at the end within 10% (+4 MiB) of the one after the first minute.

    sudo Benchmarks/serve-soak.py --tracer .build/release/socktrace --minutes 60
Prints the samples, the figures and "N passed, N failed"; exit 1 on a failure.
"""
import argparse, ctypes, glob, gzip, json, os, signal, socket, subprocess, sys, tempfile, time

LOAD = r'''
import ctypes, os, socket, sys, time, array
ctypes.CDLL(None).prctl(15, b"soakload", 0, 0, 0)
d = sys.argv[1]; n = int(sys.argv[2])

def forking_unix_server():
    path = f"{d}/u{n}.sock"
    srv = socket.socket(socket.AF_UNIX); srv.bind(path); srv.listen(8)
    kids = []
    for _ in range(3):
        c = socket.socket(socket.AF_UNIX); c.connect(path)
        conn, _ = srv.accept()
        pid = os.fork()
        if pid == 0:
            srv.close(); conn.sendall(b"hi"); conn.close(); os._exit(0)
        kids.append(pid); conn.close(); c.recv(2); c.close()
    for k in kids: os.waitpid(k, 0)
    srv.close(); os.unlink(path)

def prefork_tcp_server():
    srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(64)
    port = srv.getsockname()[1]
    workers = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            conn, _ = srv.accept(); conn.sendall(b"x"); conn.close(); srv.close(); os._exit(0)
        workers.append(pid)
    for _ in range(4):
        c = socket.create_connection(("127.0.0.1", port)); c.recv(1); c.close()
    for w in workers: os.waitpid(w, 0)
    srv.close()

def scm_rights():
    a, b = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        a.close()
        msg, anc, _, _ = b.recvmsg(1, socket.CMSG_SPACE(4))
        fd = array.array("i", anc[0][2][:4])[0]
        s = socket.socket(fileno=fd); s.bind(("127.0.0.1", 0)); s.close(); b.close(); os._exit(0)
    b.close()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.sendmsg([b"s"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [s.fileno()]))])
    s.close(); os.waitpid(pid, 0); a.close()

def dup_over():
    s = socket.socket(); os.dup2(s.fileno(), 200); s.close(); time.sleep(0.01); os.close(200)

def exit_holding():
    kids = []
    for _ in range(20):
        pid = os.fork()
        if pid == 0:
            held = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(50)]
            os._exit(0)
        kids.append(pid)
    for k in kids: os.waitpid(k, 0)

for step in (forking_unix_server, prefork_tcp_server, scm_rights, dup_over, exit_holding):
    step()
'''


def vmrss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def births_entries(pid):
    """Entries of the tracer's `births` map: bpftool finds it by the fds the tracer holds."""
    ids = set()
    for fd in glob.glob(f"/proc/{pid}/fdinfo/*"):
        try:
            info = open(fd).read()
        except OSError:
            continue
        if "map_id:" in info:
            ids.add(int(info.split("map_id:")[1].split()[0]))
    for map_id in ids:
        show = subprocess.run(["bpftool", "-j", "map", "show", "id", str(map_id)], capture_output=True, text=True)
        if show.returncode == 0 and json.loads(show.stdout).get("name") == "births":
            dump = subprocess.run(["bpftool", "-j", "map", "dump", "id", str(map_id)], capture_output=True, text=True)
            return len(json.loads(dump.stdout or "[]"))
    return None


def records(directory):
    """Every line of the recording, rotated (gzipped) files first, oldest first."""
    rotated = sorted(glob.glob(f"{directory}/events.jsonl.*.gz"), key=lambda p: -int(p.split(".")[-2]))
    for path in rotated + [f"{directory}/events.jsonl"]:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            for line in f:
                yield line


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tracer", default=os.path.join(os.path.dirname(__file__), "../.build/release/socktrace"))
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--interval", type=float, default=2.0, help="seconds between load iterations")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="socktrace-serve-soak-")
    probe = socket.socket(); probe.bind(("127.0.0.1", 0)); port = probe.getsockname()[1]; probe.close()
    tracer = subprocess.Popen([a.tracer, "serve", "--metrics", f"127.0.0.1:{port}", "-o", f"{work}/events.jsonl"],
                              stderr=subprocess.PIPE, text=True)
    seen = ""
    while "Tracing" not in seen:
        line = tracer.stderr.readline()
        if not line:
            sys.exit(f"serve-soak: the tracer did not start: {seen}")
        seen += line
    load = f"{work}/load.py"
    open(load, "w").write(LOAD)
    start = time.monotonic(); deadline = start + a.minutes * 60
    iterations, samples, next_sample = 0, [], start + 60
    while time.monotonic() < deadline:
        subprocess.run([sys.executable, load, work, str(iterations)], check=True)
        iterations += 1
        if time.monotonic() >= next_sample:
            samples.append((round((time.monotonic() - start) / 60, 1), vmrss(tracer.pid), births_entries(tracer.pid)))
            print(f"minute {samples[-1][0]}: VmRSS {samples[-1][1]} KiB, births entries {samples[-1][2]}, "
                  f"{iterations} iterations", flush=True)
            next_sample += 60
        time.sleep(a.interval)
    samples.append((round((time.monotonic() - start) / 60, 1), vmrss(tracer.pid), births_entries(tracer.pid)))
    tracer.send_signal(signal.SIGTERM)
    err = tracer.communicate(timeout=120)[1]
    born, released, lost_records, end = {}, {}, 0, None
    for line in records(work):
        if b'"comm":"soakload"' in line and (line.startswith(b'{"event":"socket"') or
                                             line.startswith(b'{"event":"socketpair"') or
                                             line.startswith(b'{"event":"accept"')):
            rec = json.loads(line)
            for key in ("inode", "peer_inode") if rec["event"] == "socketpair" else ("inode",):
                if rec.get(key):
                    born[rec[key]] = rec["pid"]
        elif line.startswith(b'{"event":"release"'):
            rec = json.loads(line)
            released[rec["inode"]] = released.get(rec["inode"], 0) + 1
        elif line.startswith(b'{"event":"lost"'):
            lost_records += 1
        elif line.startswith(b'{"event":"end"'):
            end = json.loads(line)
    results = []

    def check(ok, what):
        results.append(ok)
        print(("ok   " if ok else "FAIL ") + what, flush=True)

    counts = [released.get(inode, 0) for inode in born]
    check(born and all(c == 1 for c in counts),
          f"{len(born)} soakload sockets, each released exactly once "
          f"(none: {counts.count(0)}, more than once: {sum(1 for c in counts if c > 1)})")
    check(end is not None and end.get("lost") == 0 and lost_records == 0,
          f"end.lost {end and end.get('lost')}, lost records {lost_records}")
    entries = [s[2] for s in samples if s[2] is not None]
    check(bool(entries) and max(entries) < 20000,
          f"births entries bounded: max {max(entries) if entries else None} over {len(samples)} samples "
          f"({iterations} iterations made {len(born)} load sockets)")
    first, last = samples[0][1], samples[-1][1]
    check(last <= first * 1.10 + 4096, f"VmRSS {first} KiB after the first minute, {last} KiB at the end")
    print(err.strip().splitlines()[-1] if err.strip() else "")
    print(f"{results.count(True)} passed, {results.count(False)} failed")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
