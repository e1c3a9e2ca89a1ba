"""Reading the machine: a tracer process run beside the workload, and what
/proc, /sys and bpftool say about it and about everything else.

Nothing here decides what a number means; run.py takes the readings and
report.py prints them.
"""
import atexit
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

violations = []  # (where, message): printed loudly as they happen, and under the table


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def loud(where, msg):
    violations.append((where, msg))
    log(f"!!! {where}: {msg}")


# ---------------------------------------------------------------- processes
def proc_status(pid):
    """VmRSS, VmHWM, RssAnon, RssFile in KiB, or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except OSError:
        return None
    out = {}
    for key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
        m = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
        out[key] = int(m.group(1)) if m else None
    return out


def smaps_rss(pid):
    """Rss in KiB per mapping name ([anon] for unnamed), summed."""
    out = {}
    name = None
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                parts = line.split()
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    name = (parts[5] if len(parts) > 5 else "[anon]") + " " + parts[1]
                elif parts and parts[0] == "Rss:" and name:
                    out[name] = out.get(name, 0) + int(parts[1])
    except OSError:
        return None
    return out


def proc_cpu_seconds(pid):
    """utime+stime of a process from /proc/PID/stat, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_sched_seconds(pid):
    """CPU time of all threads of a process from /proc/PID/task/*/schedstat
    (nanoseconds on CPU, not clock ticks), in seconds."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    except OSError:
        return None
    return total / 1e9


def children(pid):
    """Pids whose parent is pid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d))
        except (OSError, ValueError, IndexError):
            continue
    return out


# ---------------------------------------------------------------- the machine
def cpu_busy_seconds():
    """Busy (non-idle, non-iowait) CPU seconds of the whole machine so far."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def irq_work_count():
    """IRQ work interrupts so far, all CPUs (the IWI line of /proc/interrupts).
    A BPF ring buffer wakeup is an irq_work; in a VM each one is an interrupt."""
    try:
        with open("/proc/interrupts") as f:
            for line in f:
                parts = line.split()
                if parts and parts[0] == "IWI:":
                    return sum(int(x) for x in parts[1:1 + os.cpu_count()] if x.isdigit())
    except OSError:
        pass
    return None


FOREIGN_NAMES = ("socktrace", "bpftrace", "strace", "perf", "ltrace", "trace-cmd")
own_pids = set()  # tracers this harness started
running = {}  # pid -> Popen of tracers not yet stopped


@atexit.register
def stop_leftovers():
    """A harness that dies between a tracer's start and its stop must not
    leave a system-wide tracer behind (it would disturb every later run)."""
    for p in list(running.values()):
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
seen_foreign = {}  # pid -> command line, reported once


def foreign_tracers():
    """Tracers running that this harness did not start: they hook the same
    syscalls (or all of them) and eat CPU, so they disturb every number."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in own_pids:
            continue
        try:
            with open(f"/proc/{d}/comm", errors="replace") as f:
                comm = f.read().strip()
            if comm not in FOREIGN_NAMES:
                continue
            with open(f"/proc/{d}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue  # a zombie holds no probes
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except OSError:
            continue
        pid = int(d)
        args = cmd.split()
        # A socktrace filtered to some pids still runs its BPF programs on every
        # socket()/close() (they return early): a small cost, not a disturbance.
        filtered = comm == "socktrace" and any(
            a in ("-p", "--pid", "--pids") or a.startswith(("--pid=", "--pids=")) for a in args)
        if not filtered:
            found.append(pid)
        if pid not in seen_foreign:
            seen_foreign[pid] = ("(pid-filtered, minor) " if filtered else "") + cmd
            if filtered:
                log(f"note: a pid-filtered socktrace is attached (its BPF programs run on every "
                    f"socket call and return early): pid {pid}: {cmd[:160]}")
            else:
                loud("environment", f"foreign tracer running, numbers from now on are disturbed: "
                     f"pid {pid}: {cmd[:160]}")
    return found


# ---------------------------------------------------------------- BPF programs
STATS_SYSCTL = "/proc/sys/kernel/bpf_stats_enabled"


class BPFStats:
    """`kernel.bpf_stats_enabled=1` while in use (it costs two clock reads per
    program run, so only the profile runs turn it on), restored after."""

    def __enter__(self):
        try:
            with open(STATS_SYSCTL) as f:
                self.before = f.read().strip()
            with open(STATS_SYSCTL, "w") as f:
                f.write("1")
            self.ok = True
        except OSError as e:
            loud("profile", f"cannot enable kernel.bpf_stats_enabled: {e}")
            self.ok = False
        return self

    def __exit__(self, *exc):
        if self.ok:
            with open(STATS_SYSCTL, "w") as f:
                f.write(self.before)


def bpf_programs(pid, bpftool):
    """{program name: (run_cnt, run_time_ns)} of the BPF programs process pid
    holds: the counters from /proc/PID/fdinfo of its program fds, the names
    from `bpftool prog show --json` (by id)."""
    ids = {}
    fd_dir = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return None
    for fd in fds:
        try:
            if os.readlink(os.path.join(fd_dir, fd)) != "anon_inode:bpf-prog":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                info = dict(line.split(":", 1) for line in f if ":" in line)
            ids[int(info["prog_id"])] = (int(info.get("run_cnt", 0)), int(info.get("run_time_ns", 0)))
        except (OSError, KeyError, ValueError):
            continue
    names = {}
    try:
        r = subprocess.run([bpftool, "prog", "show", "--json"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, check=True)
        names = {p["id"]: p.get("name", str(p["id"])) for p in json.loads(r.stdout)}
    except (OSError, subprocess.CalledProcessError, ValueError, KeyError):
        pass
    out = {}
    for prog_id, (cnt, ns) in ids.items():
        name = names.get(prog_id, f"id {prog_id}")
        c0, n0 = out.get(name, (0, 0))
        out[name] = (c0 + cnt, n0 + ns)
    return out


# ---------------------------------------------------------------- a tracer
class Background:
    """A tracer running beside the workload: started, awaited until it prints its
    ready line, stopped with SIGINT and reaped with its rusage."""

    def __init__(self, argv, ready_stream="stderr", ready_prefix="Tracing", stdout_path=None):
        self.argv = argv
        self.ready_stream = ready_stream
        self.ready_prefix = ready_prefix
        self.stdout_path = stdout_path
        self.lines = {"stdout": [], "stderr": []}
        self.ready = threading.Event()
        self.t_ready = None
        self.returncode = None
        self.cpu_seconds = None
        self.killed = False
        self.threads = []

    def _reader(self, name, stream):
        for raw in iter(stream.readline, b""):
            t = time.monotonic()
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines[name].append((t, line))
            if name == self.ready_stream and not self.ready.is_set() and line.startswith(
                self.ready_prefix
            ):
                self.t_ready = t
                self.ready.set()
        stream.close()

    def start(self):
        stdout = open(self.stdout_path, "wb") if self.stdout_path else subprocess.PIPE
        self.t_launch = time.monotonic()
        self.p = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C on the harness is ours to forward
        )
        own_pids.add(self.p.pid)
        running[self.p.pid] = self.p
        if self.stdout_path:
            stdout.close()
        streams = [("stderr", self.p.stderr)]
        if not self.stdout_path:
            streams.append(("stdout", self.p.stdout))
        for name, stream in streams:
            th = threading.Thread(target=self._reader, args=(name, stream), daemon=True)
            th.start()
            self.threads.append(th)
        return self

    @property
    def pid(self):
        return self.p.pid

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready.wait(0.001):
                return True
            if self.p.poll() is not None:
                return False
        return False

    def stop(self, timeout=120.0):
        """SIGINT, then wait (drain) up to timeout, then SIGKILL. Returns seconds
        from SIGINT to exit."""
        t0 = time.monotonic()
        if self.p.returncode is None:
            try:
                os.kill(self.p.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        status = None
        while True:
            pid, st, ru = os.wait4(self.p.pid, os.WNOHANG)
            if pid:
                status = st
                self.cpu_seconds = ru.ru_utime + ru.ru_stime
                break
            if time.monotonic() - t0 > timeout:
                self.killed = True
                os.kill(self.p.pid, signal.SIGKILL)
                _, status, ru = os.wait4(self.p.pid, 0)
                self.cpu_seconds = ru.ru_utime + ru.ru_stime
                break
            time.sleep(0.005)
        t_exit = time.monotonic()
        running.pop(self.p.pid, None)
        self.returncode = os.waitstatus_to_exitcode(status)
        self.p.returncode = self.returncode  # reaped here; keep Popen from waiting
        for th in self.threads:
            th.join(5)
        return t_exit - t0

    def text(self, name):
        return "\n".join(line for _, line in self.lines[name])


# ---------------------------------------------------------------- hooks
def tracepoint_category(name):
    """The tracefs category of tracepoint `name` (syscalls, sched, sock, ...), or None."""
    if name.startswith(("sys_enter_", "sys_exit_")):
        return "syscalls"
    for root in ("/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"):
        try:
            for cat in os.listdir(root):
                if os.path.isdir(os.path.join(root, cat, name)):
                    return cat
        except OSError:
            continue
    return None


def attached_hooks(pid, bpftool):
    """What process pid has attached, one entry per attachment:
    [{"type": tracepoint|raw_tracepoint|kprobe|kretprobe|..., "name": ...}],
    from `bpftool perf show --json` (perf-event and raw tracepoint
    attachments, with the process that holds them); and how many of its BPF
    programs are attached some other way (fentry/fexit links, which bpftool
    does not name by process). None if bpftool fails."""
    try:
        r = subprocess.run([bpftool, "perf", "show", "--json"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, check=True)
        entries = [e for e in json.loads(r.stdout) if e.get("pid") == pid]
    except (OSError, subprocess.CalledProcessError, ValueError):
        return None, 0
    hooks = []
    for e in entries:
        kind = e.get("fd_type", "?")
        name = e.get("tracepoint") or e.get("func") or e.get("filename") or "?"
        hooks.append({"type": kind, "name": name, "prog_id": e.get("prog_id")})
    seen = {h["prog_id"] for h in hooks}
    progs = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:bpf-prog":
                    continue
                with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                    info = dict(line.split(":", 1) for line in f if ":" in line)
                progs.add(int(info["prog_id"]))
            except (OSError, KeyError, ValueError):
                continue
    except OSError:
        pass
    hooks.sort(key=lambda h: (h["type"], h["name"]))
    return hooks, len(progs - seen)


# ---------------------------------------------------------------- perf
def demangle(names, swift):
    """Swift symbols demangled (`swift demangle --simplified --compact`), others as they are."""
    names = list(names)
    mangled = [n for n in names if n.startswith(("$s", "_$s", "$S"))]
    out = {n: n for n in names}
    if not mangled or not swift:
        return out
    argv = [swift] if swift.endswith("swift-demangle") else [swift, "demangle"]
    try:
        r = subprocess.run(argv + ["--simplified", "--compact"], input="\n".join(mangled) + "\n",
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=60)
        lines = r.stdout.splitlines()
        if r.returncode == 0 and len(lines) == len(mangled):
            out.update(zip(mangled, lines))
    except (OSError, subprocess.SubprocessError):
        pass
    return out


# The tracer's stages under load: a sample belongs to a stage when any frame of
# its call chain matches (inclusive share).
PERF_STAGES = (
    ("JSON encoding (`JSONLinesEncoder.encode`)", r"JSONLinesEncoder\.encode"),
    ("`PeerJoin.resolve`", r"PeerJoin\.resolve"),
    ("decode (`EventDecoder.decode`)", r"Decoder\.decode"),
    ("`write` (libc and kernel)", r"^(__GI___libc_write|__libc_write|write|ksys_write|__x64_sys_write)(@.*)?$"),
    ("`nanosleep` (reader's batching window)", r"nanosleep"),
    ("`Tracer.reportLosses`", r"reportLosses"),
    ("waiting for the ring (`epoll_wait`, `ring_buffer__poll`)", r"epoll_wait|ring_buffer__poll"),
)


def perf_profile(data, perf, swift, top=15):
    """From a `perf record -g` file: the top entries of
    `perf report --no-children --sort dso,symbol` ((percent, dso, symbol)),
    the samples, and each PERF_STAGES stage's inclusive share (of samples
    whose call chain has a matching frame)."""
    r = subprocess.run([perf, "report", "-i", data, "--no-children", "--sort", "dso,symbol",
                        "--stdio", "-g", "none", "--percent-limit", "0.1"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    entries = []
    for line in r.stdout.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[[^\]]+\]\s+(.*?)\s*$", line)
        if m:
            # (perf may add empty columns after the symbol: " -  -")
            sym = re.sub(r"(\s+-)+$", "", m.group(3))
            entries.append((float(m.group(1)), os.path.basename(m.group(2)), sym))
    entries = entries[:top]
    s = subprocess.run([perf, "script", "-i", data, "-F", "ip,sym,dso"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    chains, chain = [], []
    for line in s.stdout.splitlines():
        if not line.strip():
            if chain:
                chains.append(chain)
            chain = []
            continue
        parts = line.split(None, 1)
        if len(parts) == 2:
            chain.append(parts[1].rsplit(" (", 1)[0].strip())
    if chain:
        chains.append(chain)
    names = demangle({e[2] for e in entries} | {f for c in chains for f in c}, swift)
    stages = []
    for label, pattern in PERF_STAGES:
        rx = re.compile(pattern)
        hit = sum(1 for c in chains if any(rx.search(names.get(f, f)) for f in c))
        stages.append((label, 100.0 * hit / len(chains) if chains else None))
    return {"samples": len(chains), "top": [(p, dso, names.get(sym, sym)) for p, dso, sym in entries],
            "stages": stages}
