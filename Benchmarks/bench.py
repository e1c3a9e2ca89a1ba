#!/usr/bin/env python3
"""socktrace benchmark harness. Run it through Benchmarks/run.sh, which installs
what is missing, builds socket-storm, count-events and the tracer, then calls this.

Three measurements (see Benchmarks/README.md):
  1. overhead: rounds that interleave configurations (untraced, socktrace in
     several modes, bpftrace counting, strace for reference) for P=1 and P=2
     workers; each socktrace run is checked for lost events;
  2. start-up latency: launch of `socktrace --json -o FILE` to the `Tracing` line
     and to the first socket record in FILE;
  3. steady memory: VmRSS/VmHWM of the tracer over a long run (~10M records).
Prints a Markdown table at the end; raw data goes to OUTDIR/results.json.
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

BPFTRACE_PROGRAM = (
    'BEGIN { printf("Tracing\\n"); } '
    "tracepoint:syscalls:sys_enter_socket,tracepoint:syscalls:sys_exit_socket "
    "{ @[probe] = count(); }"
)

violations = []  # (where, message): printed loudly, and in the table


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def loud(where, msg):
    violations.append((where, msg))
    log(f"!!! {where}: {msg}")


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


FOREIGN_NAMES = ("socktrace", "bpftrace", "strace", "perf", "ltrace", "trace-cmd")
own_pids = set()  # tracers this harness started
seen_foreign = {}  # pid -> command line, reported once


def foreign_tracers():
    """Tracers running that this harness did not start: they hook the same
    syscalls (or all of them) and eat CPU, so they disturb every number."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in own_pids:
            continue
        try:
            with open(f"/proc/{d}/comm") as f:
                comm = f.read().strip()
            if comm not in FOREIGN_NAMES:
                continue
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


def proc_cpu_seconds(pid):
    """utime+stime of a process from /proc/PID/stat, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
        self.exited = threading.Event()
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
            if self.ready.wait(0.01):
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
        self.returncode = os.waitstatus_to_exitcode(status)
        self.p.returncode = self.returncode  # reaped here; keep Popen from waiting
        for th in self.threads:
            th.join(5)
        return t_exit - t0

    def text(self, name):
        return "\n".join(line for _, line in self.lines[name])


class Bench:
    def __init__(self, args):
        self.a = args
        self.out = args.outdir
        os.makedirs(self.out, exist_ok=True)
        self.results = {"runs": [], "startup": [], "rss": None, "rss_slow": None, "args": vars(args)}

    # ---------------------------------------------------------------- workload
    def storm(self, procs, iters, mix=None, fail=0.0, prefix=()):
        argv = list(prefix) + [self.a.storm, "-p", str(procs), "-n", str(iters)]
        if mix:
            argv += ["-m", mix]
        if fail:
            argv += ["-f", str(fail)]
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
        try:
            res = json.loads(line)
        except ValueError:
            raise RuntimeError(f"socket-storm printed no result (rc={r.returncode}): {r.stderr}")
        if r.returncode != 0:
            loud("socket-storm", f"exit {r.returncode}: {line} {r.stderr.strip()}")
        return res

    def count(self, path, pids):
        r = subprocess.run(
            [self.a.counter, path] + [str(p) for p in pids],
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        return json.loads(r.stdout)

    @staticmethod
    def end_record(path):
        """The last `end` record of a JSON-lines file, or None."""
        try:
            with open(path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 65536))
                tail = f.read().decode("utf-8", "replace")
        except OSError:
            return None
        for line in reversed(tail.splitlines()):
            if '"event":"end"' in line.replace(" ", ""):
                try:
                    return json.loads(line)
                except ValueError:
                    return None
        return None

    # ------------------------------------------------------------- configs
    def configs(self):
        st = self.a.tracer
        cfgs = [("untraced", "untraced", None)]
        if st:
            cfgs += [
                ("st-json", "socktrace --json -o FILE", "json"),
                ("st-text", "socktrace (text) >/dev/null", "text"),
                ("st-tp-json", "socktrace --attach tracepoint --json -o FILE", "json"),
                ("st-so-json", "socktrace --sockets-only --json -o FILE (diagnostic)", "json"),
            ]
        if self.a.bpftrace:
            cfgs.append(("bpftrace", "bpftrace count sys_enter/exit_socket", "bpftrace"))
        if self.a.strace:
            cfgs.append(("strace", "strace -f -o /dev/null (reference)", "strace"))
        return cfgs

    def tracer_argv(self, cfg, path):
        st = self.a.tracer
        if cfg == "st-json":
            return [st, "--json", "-o", path]
        if cfg == "st-text":
            return [st]
        if cfg == "st-tp-json":
            return [st, "--attach", "tracepoint", "--json", "-o", path]
        if cfg == "st-so-json":
            return [st, "--sockets-only", "--json", "-o", path]
        if cfg == "bpftrace":
            return [self.a.bpftrace, "-e", BPFTRACE_PROGRAM]
        return None

    # ------------------------------------------------------------- one run
    def run_one(self, cfg, kind, procs, iters, rnd, mix=None, fail=0.0, argv=None,
                expect_loss=False, pause_tracer=False, group=None):
        where = f"{cfg} P={procs} round {rnd}" + (f" mix={mix} fail={fail}" if mix or fail else "")
        run = {"config": cfg, "procs": procs, "iters": iters, "round": rnd, "mix": mix, "fail": fail,
               "group": group}
        path = os.path.join(self.out, f"{cfg}-p{procs}-r{rnd}.jsonl")
        if os.path.exists(path):
            os.unlink(path)
        bg = None
        argv = argv(path) if argv else self.tracer_argv(cfg, path)
        run["expect_loss"] = expect_loss
        if argv:
            if kind == "text":
                bg = Background(argv, stdout_path="/dev/null")
            elif kind == "bpftrace":
                bg = Background(argv, ready_stream="stdout")
            else:
                bg = Background(argv)
            bg.start()
            if not bg.wait_ready(self.a.ready_timeout):
                bg.stop(10)
                loud(where, f"tracer never printed its ready line; stderr: {bg.text('stderr')[-500:]}")
                run["error"] = "not ready"
                self.results["runs"].append(run)
                return run
            run["ready_ms"] = (bg.t_ready - bg.t_launch) * 1e3
            time.sleep(self.a.settle)
            cpu0 = proc_cpu_seconds(bg.pid)
        prefix = ()
        if kind == "strace":
            prefix = (self.a.strace, "-f", "-qq", "-o", "/dev/null")
        foreign = foreign_tracers()
        iwi0 = irq_work_count()
        busy0, t_wall0 = cpu_busy_seconds(), time.monotonic()
        tcpu0 = proc_cpu_seconds(bg.pid) if bg else 0.0
        if pause_tracer:
            os.kill(bg.pid, signal.SIGSTOP)  # the reader stops; the ring fills
        res = self.storm(procs, iters, mix, fail, prefix)
        if pause_tracer:
            os.kill(bg.pid, signal.SIGCONT)
        iwi1 = irq_work_count()
        busy1, t_wall1 = cpu_busy_seconds(), time.monotonic()
        tcpu1 = proc_cpu_seconds(bg.pid) if bg else 0.0
        if iwi0 is not None and iwi1 is not None:
            run["irq_work_per_call"] = (iwi1 - iwi0) / max(res["calls"], 1)
        if None not in (busy0, busy1, tcpu0, tcpu1) and t_wall1 > t_wall0:
            # CPU the machine spent on anything but the workers and our tracer:
            # other people's work, kernel threads (and what tracing makes them do).
            storm_cpu = res["cpu_ns_per_call"] * res["calls"] / 1e9
            run["other_load"] = max(0.0, (busy1 - busy0) - storm_cpu - (tcpu1 - tcpu0)) / (t_wall1 - t_wall0)
        foreign = sorted(set(foreign) | set(foreign_tracers()))
        if foreign:
            run["disturbed_by"] = foreign
        run["storm"] = res
        run["ns_per_call"] = res["ns_per_call"]
        calls = res["calls"]
        if bg:
            stop_s = bg.stop(self.a.stop_timeout)
            run["stop_ms"] = stop_s * 1e3
            run["exit"] = bg.returncode
            if bg.killed:
                loud(where, f"tracer did not exit within {self.a.stop_timeout}s of SIGINT; killed. "
                     f"stderr: {bg.text('stderr')[-300:]!r} stdout: {bg.text('stdout')[-200:]!r}")
            elif bg.returncode != 0:
                loud(where, f"tracer exit code {bg.returncode}: {bg.text('stderr')[-300:]}")
            if cpu0 is not None and bg.cpu_seconds is not None:
                run["tracer_cpu_ns_per_call"] = (bg.cpu_seconds - cpu0) * 1e9 / max(calls, 1)
        if kind == "json":
            self.check_json(run, where, path, res)
            if not self.a.keep:
                os.unlink(path)
        elif kind == "text":
            self.check_text(run, where, bg, res)
        elif kind == "bpftrace":
            self.check_bpftrace(run, where, bg, res)
        self.results["runs"].append(run)
        extra = ""
        if "recorded" in run:
            extra = f" recorded={run['recorded']} lost={run.get('lost')} check={run['check']}"
        if "tracer_cpu_ns_per_call" in run:
            extra += f" tracer_cpu={run['tracer_cpu_ns_per_call']:.0f}ns/call"
        if "irq_work_per_call" in run:
            extra += f" irq_work/call={run['irq_work_per_call']:.2f}"
        if "other_load" in run:
            extra += f" other_load={run['other_load']:.2f}"
        if "stop_ms" in run:
            extra += f" stop={run['stop_ms']:.0f}ms"
        if run.get("disturbed_by"):
            extra += f" DISTURBED by pid {','.join(map(str, run['disturbed_by']))}"
        log(f"  {cfg:<11} P={procs} n={iters:<7} {res['ns_per_call']:>9.1f} ns/call "
            f"(worker cpu {res['cpu_ns_per_call']:.0f}){extra}")
        return run

    def verdict(self, run, where, recorded, lost, calls):
        run["recorded"], run["lost"], run["calls"] = recorded, lost, calls
        if run.get("expect_loss") and recorded is not None and lost is not None:
            # A run built to overflow the ring: losing is the point; the
            # accounting is what is checked.
            if lost == 0:
                run["check"] = "no loss provoked"
            elif recorded + lost == calls:
                run["check"] = "accounted exactly"
            elif recorded <= calls < recorded + lost:
                run["check"] = "accounted (lost > missing)"
            else:
                run["check"] = "VIOLATION"
                loud(where, f"LOSS CHECK VIOLATED: recorded {recorded} + lost {lost} != {calls} calls")
            return
        if recorded is None or lost is None:
            run["check"] = "UNKNOWN"
            loud(where, f"could not read recorded/lost (recorded={recorded}, lost={lost})")
        elif recorded == calls and lost == 0:
            run["check"] = "ok"
        elif recorded + lost == calls:
            run["check"] = "LOSS"
            loud(where, f"lost events: recorded {recorded} + lost {lost} = {calls} calls")
        elif recorded < calls and recorded + lost > calls:
            # `lost` counts every dropped record (release, fork, other processes' too)
            run["check"] = "LOSS"
            loud(where, f"lost events: recorded {recorded} of {calls} calls, lost {lost} "
                 f"(lost counts all record kinds and processes)")
        else:
            run["check"] = "VIOLATION"
            loud(where, f"LOSS CHECK VIOLATED: recorded {recorded} + lost {lost} != {calls} calls")

    def check_json(self, run, where, path, res):
        if not os.path.exists(path):
            loud(where, "no output file")
            run["check"] = "NO FILE"
            return
        c = self.count(path, res["pids"])
        end = self.end_record(path)
        run["count"] = c
        run["end"] = end
        lost = end.get("lost") if end else None
        if end is None:
            loud(where, "no end record in the output")
        self.verdict(run, where, c["pid_socket_lines"], lost, res["calls"])
        if c["pid_socket_failed"] != res["failed"] and run["check"] == "ok":
            loud(where, f"failed calls: storm made {res['failed']}, tracer recorded "
                 f"{c['pid_socket_failed']} with ret<0")
            run["check"] = "VIOLATION"
        if end:
            written = c["lines"] - 2  # all but start and end
            if end.get("events") != written or end.get("sockets") != c["birth_lines"]:
                loud(where, f"end record disagrees with the file: events={end.get('events')} vs "
                     f"{written} lines, sockets={end.get('sockets')} vs {c['birth_lines']} births")

    def check_text(self, run, where, bg, res):
        err = bg.text("stderr")
        m = re.search(r"(\d+) events \((\d+) socket births, (\d+) failed\), (\d+) lost", err)
        recorded = None
        lost = int(m.group(4)) if m else None
        top = re.search(r"top processes: (.*)", err)
        if top:
            per_pid = {int(p): int(n) for p, n in re.findall(r"\((\d+)\) (\d+)", top.group(1))}
            recorded = sum(per_pid.get(p, 0) for p in res["pids"])
        elif m and int(m.group(2)) == 0:
            recorded = 0
        run["summary"] = err.strip().splitlines()[-2:] if err.strip() else []
        self.verdict(run, where, recorded, lost, res["calls"])

    def check_bpftrace(self, run, where, bg, res):
        out = bg.text("stdout")
        enter = re.search(r"sys_enter_socket\]: (\d+)", out)
        exit_ = re.search(r"sys_exit_socket\]: (\d+)", out)
        enter = int(enter.group(1)) if enter else 0
        exit_ = int(exit_.group(1)) if exit_ else 0
        run["bpftrace"] = {"enter": enter, "exit": exit_}
        # Counts every process; the storm's calls are a lower bound.
        run["calls"] = res["calls"]
        run["recorded"] = min(enter, exit_)
        run["lost"] = 0
        if enter >= res["calls"] and exit_ >= res["calls"]:
            run["check"] = "ok"
        else:
            run["check"] = "VIOLATION"
            loud(where, f"bpftrace counted enter={enter} exit={exit_} < {res['calls']} calls")

    # ------------------------------------------------------------- overhead
    def overhead(self):
        cfgs = self.configs()
        kinds = {c: k for c, _, k in cfgs}
        rng = random.Random(self.a.seed)
        plist = [int(p) for p in self.a.procs.split(",")]
        dead = set()  # configs that failed to start: skipped from then on
        log(f"== overhead: {self.a.rounds} rounds x {len(cfgs)} configs x P={plist}, "
            f"n={self.a.iters} calls per worker (strace n={self.a.strace_iters}, "
            f"{self.a.strace_rounds} rounds), seed {self.a.seed}")
        # The rounds may use up to this much of the time budget; the rest is
        # for the mixed, loss, start-up and memory parts.
        built = PY_START - START  # what run.sh spent installing and building
        limit = built + max(0.0, self.a.budget - built) * self.a.rounds_share
        for rnd in range(1, self.a.rounds + 1):
            elapsed = time.time() - START
            if rnd > 2:
                per_round = (time.time() - rounds_t0) / (rnd - 1)
                if elapsed + per_round > limit:
                    log(f"!! time budget: stopping after {rnd - 1} rounds ({elapsed:.0f}s elapsed, "
                        f"~{per_round:.0f}s per round, {limit:.0f}s allowed for rounds)")
                    self.results["rounds_done"] = rnd - 1
                    break
            else:
                rounds_t0 = time.time() if rnd == 1 else rounds_t0
            jobs = [(c, p) for c, _, _ in cfgs for p in plist
                    if c != "strace" or rnd <= self.a.strace_rounds]
            rng.shuffle(jobs)
            log(f"-- round {rnd}/{self.a.rounds} ({time.monotonic() - T0:.0f}s)")
            for cfg, p in jobs:
                if cfg in dead:
                    continue
                iters = self.a.strace_iters if cfg == "strace" else self.a.iters
                run = self.run_one(cfg, kinds[cfg], p, iters, rnd)
                if run.get("error") == "not ready":
                    dead.add(cfg)
        # The mixed workload: several families and 10% failing calls, to check
        # that failed calls are recorded too (and what they cost).
        if self.a.tracer and self.a.mix_rounds:
            log(f"== mixed workload ({self.a.mix}, {self.a.fail:.0%} failing): "
                f"{self.a.mix_rounds} rounds")
            for rnd in range(1, self.a.mix_rounds + 1):
                jobs = [(c, p) for c in ("untraced", "st-json") for p in plist]
                rng.shuffle(jobs)
                for cfg, p in jobs:
                    if cfg in dead:
                        continue
                    self.run_mixed(cfg, kinds[cfg], p, rnd)

    def loss_accounting(self):
        """Overflow the ring on purpose: a 1 MiB ring, socket records only, and
        the tracer stopped (SIGSTOP) for the whole storm, continued after it.
        Only socket records exist, so recorded + lost must equal the calls
        exactly (other processes' sockets can only add to lost)."""
        if not self.a.tracer or self.a.loss_rounds <= 0:
            return
        log(f"== loss accounting: {self.a.loss_rounds} runs with the reader stopped")
        for rnd in range(1, self.a.loss_rounds + 1):
            self.run_one(
                "st-starved", "json", 2, self.a.iters, rnd, expect_loss=True, pause_tracer=True,
                argv=lambda path: [self.a.tracer, "--sockets-only", "--ring-buffer", "1",
                                   "--json", "-o", path])
        # What a lagging reader costs the traced processes: the reader stopped,
        # a ring big enough (64 MiB) that nothing is dropped, against untraced
        # runs of the same size, interleaved.
        n = min(self.a.iters, 20000)
        log(f"== reader lagging: P=1, n={n}, reader SIGSTOPped, 64 MiB ring; {self.a.loss_rounds} rounds")
        for rnd in range(1, self.a.loss_rounds + 1):
            self.run_one("untraced+lag", None, 1, n, rnd, group="lag")
            self.run_one("st-lag", "json", 1, n, rnd, pause_tracer=True, group="lag",
                         argv=lambda path: [self.a.tracer, "--ring-buffer", "64", "--json",
                                            "-o", path])

    def run_mixed(self, cfg, kind, p, rnd):
        run = self.run_one(cfg, kind, p, self.a.iters, rnd, self.a.mix, self.a.fail, group="mix")
        run["config"] = cfg + "+mix"
        return run

    # ------------------------------------------------------------- start-up
    def startup(self):
        if not self.a.tracer:
            return
        log(f"== start-up latency: {self.a.startup_trials} trials")
        for i in range(self.a.startup_trials):
            path = os.path.join(self.out, f"startup-{i}.jsonl")
            if os.path.exists(path):
                os.unlink(path)
            bg = Background([self.a.tracer, "--json", "-o", path]).start()
            trial = {"trial": i}
            if not bg.wait_ready(self.a.ready_timeout):
                bg.stop(10)
                loud("start-up", f"trial {i}: no Tracing line; {bg.text('stderr')[-300:]}")
                self.results["startup"].append(trial)
                continue
            trial["ready_ms"] = (bg.t_ready - bg.t_launch) * 1e3
            # One socket() from a fresh process right after the Tracing line.
            t_call = time.monotonic()
            storm = subprocess.Popen([self.a.storm, "-p", "1", "-n", "1"], stdout=subprocess.PIPE,
                                     text=True)
            seen, buf, pos = None, "", 0
            deadline = time.monotonic() + self.a.first_event_timeout
            while time.monotonic() < deadline:
                try:
                    with open(path, "r", errors="replace") as f:
                        f.seek(pos)
                        chunk = f.read()
                        pos = f.tell()
                except OSError:
                    chunk = ""
                buf += chunk
                if '"comm":"socket-storm"' in buf and '"event":"socket"' in buf:
                    hit = [l for l in buf.splitlines()
                           if '"event":"socket"' in l and '"comm":"socket-storm"' in l]
                    if hit:
                        seen = time.monotonic()
                        break
                time.sleep(0.0005)
            out, _ = storm.communicate()
            trial["storm_ms"] = None
            stop_s = bg.stop(self.a.stop_timeout)
            trial["stop_ms"] = stop_s * 1e3
            if seen is not None:
                trial["first_event_ms"] = (seen - bg.t_launch) * 1e3
                trial["call_to_file_ms"] = (seen - t_call) * 1e3
            else:
                # Did it arrive at all (at exit)?
                with open(path, errors="replace") as f:
                    at_exit = any('"event":"socket"' in l and '"comm":"socket-storm"' in l
                                  for l in f)
                trial["first_event_ms"] = None
                loud("start-up", f"trial {i}: socket record not in the file after "
                     f"{self.a.first_event_timeout}s" + ("; it appeared only at exit" if at_exit
                                                         else "; not even at exit"))
            log(f"  trial {i}: launch->Tracing {trial['ready_ms']:.1f} ms, launch->first event "
                f"{trial.get('first_event_ms') or float('nan'):.1f} ms, call->file "
                f"{trial.get('call_to_file_ms') or float('nan'):.1f} ms, stop {trial['stop_ms']:.0f} ms")
            self.results["startup"].append(trial)
            if not self.a.keep:
                os.unlink(path)
            time.sleep(0.2)

    # ------------------------------------------------------------- memory
    def memory(self, events, key="rss", throttle=False):
        """One long run. throttle: SIGSTOP/SIGCONT the tracer 20 ms each, so it
        has half the time to read: a consumer slower than its producers, to
        see whether memory stays bounded and loss accounted when it falls behind."""
        if not self.a.tracer or events <= 0:
            return
        procs = 2
        # Each socket()+close() pair makes two records: socket and release.
        iters = max(1, events // (2 * procs))
        path = os.path.join(self.out, f"{key}.jsonl")
        if os.path.exists(path):
            os.unlink(path)
        argv = [self.a.tracer, "--json", "-o", path]
        log(f"== memory{' (slow consumer: reader stopped 50% of the time)' if throttle else ''}: "
            f"socktrace --json -o FILE, P={procs} x {iters} calls (~{2 * procs * iters / 1e6:.1f}M records)")
        bg = Background(argv).start()
        if not bg.wait_ready(self.a.ready_timeout):
            bg.stop(10)
            loud("memory", "tracer not ready")
            return
        time.sleep(self.a.settle)
        samples = []
        stop = threading.Event()

        def sampler():
            while not stop.is_set():
                st = proc_status(bg.pid)
                if st is None:
                    break
                try:
                    size = os.path.getsize(path)
                except OSError:
                    size = 0
                samples.append((time.monotonic(), st["VmRSS"], st["VmHWM"], st["RssAnon"],
                                st["RssFile"], size))
                stop.wait(self.a.rss_interval)

        base = proc_status(bg.pid)
        smaps0 = smaps_rss(bg.pid)
        cpu0 = proc_cpu_seconds(bg.pid)
        tstop = threading.Event()

        def throttler():
            while not tstop.is_set():
                os.kill(bg.pid, signal.SIGSTOP)
                time.sleep(0.02)
                os.kill(bg.pid, signal.SIGCONT)
                tstop.wait(0.02)

        th = threading.Thread(target=sampler, daemon=True)
        tt = threading.Thread(target=throttler, daemon=True) if throttle else None
        t0 = time.monotonic()
        th.start()
        if tt:
            tt.start()
        foreign = foreign_tracers()
        iwi0 = irq_work_count()
        res = self.storm(procs, iters)
        iwi1 = irq_work_count()
        t_storm = time.monotonic() - t0
        if tt:
            tstop.set()
            tt.join()
            os.kill(bg.pid, signal.SIGCONT)
        foreign = sorted(set(foreign) | set(foreign_tracers()))
        time.sleep(1.0)  # let it drain the ring before the last sample
        after = proc_status(bg.pid)
        smaps1 = smaps_rss(bg.pid)
        stop.set()
        th.join()
        stop_s = bg.stop(self.a.stop_timeout * 4)
        run = {"config": key, "throttled": throttle, "procs": procs, "iters": iters, "storm": res,
               "storm_seconds": t_storm, "stop_ms": stop_s * 1e3, "exit": bg.returncode,
               "baseline": base, "after": after, "disturbed_by": foreign,
               "samples": [(round(t - t0, 3),) + tuple(rest) for t, *rest in samples]}
        if cpu0 is not None and bg.cpu_seconds is not None:
            run["tracer_cpu_ns_per_call"] = (bg.cpu_seconds - cpu0) * 1e9 / max(res["calls"], 1)
        if smaps0 and smaps1:
            grew = {k: smaps1.get(k, 0) - smaps0.get(k, 0) for k in set(smaps0) | set(smaps1)}
            run["smaps_growth_kib"] = dict(sorted(grew.items(), key=lambda kv: -abs(kv[1]))[:6])
            run["bpf_map_kib"] = sum(v for k, v in smaps1.items() if "bpf-map" in k)
        run["expect_loss"] = throttle
        if iwi0 is not None and iwi1 is not None:
            run["irq_work_per_call"] = (iwi1 - iwi0) / max(res["calls"], 1)
        self.check_json(run, f"memory run {key}", path, res)
        end = run.get("end") or {}
        events = end.get("events") or run["count"]["lines"]
        run["events"] = events
        # Checkpoints at fractions of the storm's duration (by time, not by file
        # size: a tracer that holds its output back writes nothing until the end).
        marks = {}
        for frac in (0.1, 0.25, 0.5, 0.75, 1.0):
            hit = [x for x in samples if x[0] - t0 >= frac * t_storm * 0.999]
            if hit:
                marks[f"{int(frac * 100)}%"] = {"VmRSS": hit[0][1], "RssAnon": hit[0][3],
                                               "file_mb": round(hit[0][5] / 1e6, 1)}
        run["checkpoints"] = marks
        run["rss_max_kib"] = max((x[1] for x in samples), default=None)
        run["anon_max_kib"] = max((x[3] for x in samples), default=None)
        run["hwm_kib"] = max((x[2] for x in samples), default=None)
        # Growth over the second half of the records (a leak shows here; a
        # one-off step from a buffer that grew to the largest batch does too,
        # so read it with the checkpoints).
        if "50%" in marks and "100%" in marks:
            run["anon_growth_2nd_half_kib"] = marks["100%"]["RssAnon"] - marks["50%"]["RssAnon"]
        self.results[key] = run
        with open(os.path.join(self.out, f"{key}-samples.csv"), "w") as f:
            f.write("seconds,vmrss_kib,vmhwm_kib,rssanon_kib,rssfile_kib,file_bytes\n")
            for row in run["samples"]:
                f.write(",".join(str(v) for v in row) + "\n")
        log(f"  {events} records in {t_storm:.1f}s; VmRSS {base['VmRSS'] / 1024:.1f} -> max "
            f"{run['rss_max_kib'] / 1024:.1f} MB (HWM {run['hwm_kib'] / 1024:.1f}); RssAnon "
            f"{base['RssAnon'] / 1024:.1f} -> max {run['anon_max_kib'] / 1024:.1f} MB; bpf maps "
            f"{run.get('bpf_map_kib', 0) / 1024:.1f} MB; checkpoints "
            + ", ".join(f"{k} {v['RssAnon'] / 1024:.1f} [{v['file_mb']:.0f} MB written]" for k, v in marks.items())
            + f" MB anon; smaps growth {run.get('smaps_growth_kib')}; check {run['check']}")
        if not self.a.keep:
            os.unlink(path)

    # ------------------------------------------------------------- report
    def table(self):
        runs = [r for r in self.results["runs"] if "ns_per_call" in r]
        plist = [int(p) for p in self.a.procs.split(",")]
        ps = "/".join(f"P={p}" for p in plist)
        key = lambda r: (r["procs"], r["round"], r.get("group"))
        base = {key(r): r["ns_per_call"] for r in runs if r["config"].startswith("untraced")}
        base_disturbed = {key(r) for r in runs
                          if r["config"].startswith("untraced") and r.get("disturbed_by")}
        # Rounds where a foreign tracer ran beside the run or its untraced
        # partner are left out when at least 2 clean rounds remain.
        clean = lambda r: not r.get("disturbed_by") and key(r) not in base_disturbed
        cbase = {key(r): r["storm"]["cpu_ns_per_call"] for r in runs
                 if r["config"].startswith("untraced")}
        labels = dict((c, l) for c, l, _ in self.configs())
        labels.update({
            "untraced+mix": f"untraced, mixed ({self.a.mix}, {self.a.fail:.0%} failing)",
            "st-json+mix": f"socktrace --json -o FILE, mixed ({self.a.fail:.0%} failing)",
            "st-starved": "loss accounting: `--sockets-only --ring-buffer 1`, reader SIGSTOPped "
                          "during the storm",
            "untraced+lag": "untraced, P=1 n≤20000 (partner of the next row)",
            "st-lag": "socktrace --json --ring-buffer 64, reader SIGSTOPped (lagging), nothing dropped",
        })
        order = [c for c, _, _ in self.configs()] + ["untraced+mix", "st-json+mix", "st-starved",
                                                     "untraced+lag", "st-lag"]
        cols = ["measurement"] + [f"P={p}: ratio median [min–max]" for p in plist] + [
            f"ns/call median ({ps})", f"worker CPU/call ratio ({ps})",
            f"tracer CPU µs/call ({ps})", f"IRQ work/call ({ps})",
            f"other CPU load, CPUs ({ps})", "lost (sum)", "check"]
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]

        def add(name, values):
            """values: {column index: text}; other cells empty."""
            cells = [values.get(i, "") for i in range(1, len(cols))]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")

        def med(vals, fmt="{:.2f}"):
            return fmt.format(statistics.median(vals)) if vals else "—"

        np_ = len(plist)
        for cfg in order:
            rs = [r for r in runs if r["config"] == cfg]
            if not rs:
                continue
            ratio_ok = cfg != "st-starved"  # no untraced partner
            v = {}
            ns, cpu, tcpu, iwi, oth = [], [], [], [], []
            for i, p in enumerate(plist):
                rp = [r for r in rs if r["procs"] == p]
                rc = [r for r in rp if clean(r)]
                note = ""
                if len(rc) < len(rp):
                    if len(rc) >= 2:
                        note = f" clean of {len(rp)}"
                        rp = rc
                    else:
                        note = ", **disturbed**"
                ratios = [r["ns_per_call"] / base[key(r)] for r in rp if key(r) in base and ratio_ok]
                cr = [r["storm"]["cpu_ns_per_call"] / cbase[key(r)] for r in rp
                      if key(r) in cbase and ratio_ok]
                v[1 + i] = (f"{statistics.median(ratios):.2f}× [{min(ratios):.2f}–{max(ratios):.2f}]"
                            f" (n={len(ratios)}{note})") if ratios else "—"
                ns.append(med([r["ns_per_call"] for r in rp], "{:.0f}"))
                cpu.append(med(cr))
                tcpu.append(med([r["tracer_cpu_ns_per_call"] / 1e3 for r in rp
                                 if "tracer_cpu_ns_per_call" in r], "{:.1f}"))
                iwi.append(med([r["irq_work_per_call"] for r in rp if "irq_work_per_call" in r]))
                oth.append(med([r["other_load"] for r in rp if "other_load" in r]))
            v[1 + np_], v[2 + np_], v[3 + np_], v[4 + np_], v[5 + np_] = (
                " / ".join(ns), " / ".join(cpu), " / ".join(tcpu), " / ".join(iwi), " / ".join(oth))
            checks = [r.get("check") for r in rs if r.get("check")]
            lost = [r.get("lost") for r in rs if r.get("lost") is not None]
            fine = ("ok", "accounted exactly", "accounted (lost > missing)", "no loss provoked")
            bad = [c for c in checks if c not in fine]
            if not checks:
                check = "—"
            elif bad:
                check = f"**{len(bad)}/{len(checks)} {', '.join(sorted(set(bad)))}**"
            else:
                check = f"{', '.join(sorted(set(checks)))} ({len(checks)} runs)"
            nd = sum(1 for r in rs if r.get("disturbed_by"))
            if nd:
                check += f"; **{nd} disturbed**"
            v[6 + np_] = str(sum(lost)) if lost else "—"
            v[7 + np_] = check
            add(labels.get(cfg, cfg), v)

        def spread(vals, fmt="{:.0f}"):
            vals = [x for x in vals if x is not None]
            if not vals:
                return "—"
            return (fmt + " [" + fmt + "–" + fmt + "]").format(statistics.median(vals), min(vals), max(vals))

        su = self.results["startup"]
        if su:
            missing = sum(1 for t in su if t.get("first_event_ms") is None)
            add("start-up: launch → `Tracing` line, ms", {1: spread([t.get("ready_ms") for t in su]),
                                                          7 + np_: f"n={len(su)}"})
            add("start-up: launch → first socket record in FILE, ms",
                {1: spread([t.get("first_event_ms") for t in su]),
                 7 + np_: f"**{missing} never seen**" if missing else f"n={len(su)}"})
            add("start-up: socket() call → record in FILE, ms",
                {1: spread([t.get("call_to_file_ms") for t in su])})
            add("stop: SIGINT → exit (idle tracer), ms", {1: spread([t.get("stop_ms") for t in su])})
        mb = lambda k: f"{k / 1024:.1f}" if k is not None else "—"
        for rkey in ("rss", "rss_slow"):
            rss = self.results[rkey]
            if not rss:
                continue
            what = "memory" if rkey == "rss" else "memory, slow consumer (reader SIGSTOPped 20 ms of every 40)"
            idx = 1 + (plist.index(rss["procs"]) if rss["procs"] in plist else 0)
            ev = rss.get("events", 0)
            v = {idx: f"{mb(rss['baseline']['VmRSS'])} idle → {mb(rss['rss_max_kib'])} max "
                      f"(VmHWM {mb(rss['hwm_kib'])}; ring buffer maps {mb(rss.get('bpf_map_kib'))})",
                 1 + np_: f"{rss['storm']['ns_per_call']:.0f}",
                 6 + np_: str(rss.get("lost", "—")), 7 + np_: str(rss.get("check", "—"))}
            if rss.get("irq_work_per_call") is not None:
                v[4 + np_] = f"{rss['irq_work_per_call']:.2f}"
            if rss.get("tracer_cpu_ns_per_call"):
                v[3 + np_] = f"{rss['tracer_cpu_ns_per_call'] / 1e3:.1f}"
            if rss.get("disturbed_by"):
                v[7 + np_] += "; **disturbed**"
            add(f"{what}: VmRSS MB over {ev / 1e6:.1f}M records ({rss['storm_seconds']:.0f} s)", v)
            marks = rss.get("checkpoints", {})
            add(f"{what}: RssAnon MB (heap) idle, then at % of the storm's time [MB of JSON written by then]",
                {idx: f"{mb(rss['baseline']['RssAnon'])} idle; "
                      + ", ".join(f"{k} {mb(m['RssAnon'])} [{m['file_mb']:.0f}]" for k, m in marks.items())})
        return "\n".join(lines)


T0 = time.monotonic()
# Wall-clock start of the whole benchmark, build included (run.sh exports it).
START = float(os.environ.get("SOCKTRACE_BENCH_START", time.time()))
PY_START = time.time()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--storm")
    ap.add_argument("--counter")
    ap.add_argument("--report", metavar="RESULTS_JSON",
                    help="only print the table again from an earlier results.json")
    ap.add_argument("--tracer", default="", help="socktrace binary ('' to skip its configs)")
    ap.add_argument("--bpftrace", default=shutil.which("bpftrace") or "")
    ap.add_argument("--strace", default=shutil.which("strace") or "")
    ap.add_argument("--quick", action="store_true", help="~1 minute version")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--iters", type=int, help="socket() calls per worker per run")
    ap.add_argument("--procs", default="1,2")
    ap.add_argument("--strace-iters", type=int)
    ap.add_argument("--strace-rounds", type=int)
    ap.add_argument("--mix", default="inet-dgram,inet6-stream,unix-stream,netlink")
    ap.add_argument("--fail", type=float, default=0.1)
    ap.add_argument("--mix-rounds", type=int)
    ap.add_argument("--startup-trials", type=int)
    ap.add_argument("--loss-rounds", type=int, help="starved runs that overflow the ring (0 skips)")
    ap.add_argument("--rss-events", type=int, help="records for the memory run (0 skips it)")
    ap.add_argument("--slow-events", type=int,
                    help="records for the slow-consumer memory run (0 skips it)")
    ap.add_argument("--rss-interval", type=float, default=0.25)
    ap.add_argument("--settle", type=float, default=0.3, help="seconds after `Tracing` before the storm")
    ap.add_argument("--ready-timeout", type=float, default=60)
    ap.add_argument("--stop-timeout", type=float, default=30,
                    help="seconds a tracer may take to exit after SIGINT (memory runs: 4x)")
    ap.add_argument("--first-event-timeout", type=float, default=5)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--budget", type=float, help="seconds for the whole run, build included "
                    "(rounds stop early to stay inside it; default 540, 75 with --quick)")
    ap.add_argument("--rounds-share", type=float, default=0.6,
                    help="share of the budget the overhead rounds may use")
    ap.add_argument("--keep", action="store_true", help="keep the JSON files")
    ap.add_argument("--outdir", default="/tmp/socktrace-bench")
    ap.add_argument("--skip", default="", help="comma list of: overhead,loss,startup,memory,slow")
    a = ap.parse_args()
    q = a.quick
    defaults = {
        "rounds": 3 if q else 9,
        "iters": 20000 if q else 100000,
        "strace_iters": 1000 if q else 4000,
        "strace_rounds": 1 if q else 3,
        "mix_rounds": 1 if q else 3,
        "startup_trials": 3 if q else 7,
        "loss_rounds": 1 if q else 2,
        "budget": 75 if q else 540,
        "rss_events": 1_000_000 if q else 10_000_000,
        "slow_events": 0 if q else 2_000_000,
    }
    for k, v in defaults.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.report:
        with open(a.report) as f:
            saved = json.load(f)
        for k, v in saved.get("args", {}).items():
            if k not in ("report", "outdir"):
                setattr(a, k, v)
        b = Bench(a)
        b.results = saved
        print(b.table())
        return 0
    if not (a.storm and a.counter):
        ap.error("--storm and --counter are required")
    b = Bench(a)
    skip = set(filter(None, a.skip.split(",")))
    foreign_tracers()
    try:
        if "overhead" not in skip:
            b.overhead()
        if "loss" not in skip:
            b.loss_accounting()
        if "startup" not in skip:
            b.startup()
        if "memory" not in skip:
            b.memory(a.rss_events)
        if "slow" not in skip and a.slow_events > 0:
            b.memory(a.slow_events, key="rss_slow", throttle=True)
    finally:
        b.results["violations"] = violations
        b.results["seconds"] = time.monotonic() - T0
        with open(os.path.join(a.outdir, "results.json"), "w") as f:
            json.dump(b.results, f, indent=1)
    table = b.table()
    with open(os.path.join(a.outdir, "table.md"), "w") as f:
        f.write(table + "\n")
    print()
    print(f"socktrace benchmarks — {time.strftime('%Y-%m-%d %H:%M:%S')}, {os.uname().release}, "
          f"{os.cpu_count()} CPUs, {'quick' if q else 'full'} run, {time.monotonic() - T0:.0f} s "
          f"({time.time() - START:.0f} s with the build), "
          f"seed {a.seed}")
    if a.tracer:
        print(f"tracer: {a.tracer}")
    else:
        print("tracer: **socktrace NOT benchmarked** (no binary: see run.sh's messages above)")
    print()
    print(table)
    print()
    print("Ratios: per-round socket()+close() wall time per call over the untraced run of the "
          "same round; median [min–max] over rounds. Per-P columns leave out rounds disturbed by "
          "a foreign tracer when at least 2 clean ones remain (\"n=k clean of m\").")
    all_runs = b.results["runs"] + [b.results[k] for k in ("rss", "rss_slow") if b.results[k]]
    loads = [r["other_load"] for r in b.results["runs"] if "other_load" in r]
    if loads:
        busy = sum(1 for x in loads if x > 0.25)
        print(f"Other CPU load during the storms (CPU the machine spent on neither the workers nor "
              f"the tracer under test): median {statistics.median(loads):.2f} CPUs, max "
              f"{max(loads):.2f}; {busy} of {len(loads)} runs above 0.25 CPUs"
              + (" — **the machine was busy: numbers are noisy**" if busy > len(loads) // 4 else "."))
    disturbed = [r for r in all_runs if r.get("disturbed_by")]
    if disturbed or seen_foreign:
        print()
        if disturbed:
            print(f"**{len(disturbed)} of {len(all_runs)} runs ran beside foreign tracers** "
                  "(hooks on the same syscalls and CPU taken: treat those numbers as disturbed):")
        else:
            print("Other tracers were attached (pid-filtered: their programs run on every socket "
                  "call and return early; not counted as disturbing):")
        for pid, cmd in seen_foreign.items():
            print(f"- pid {pid}: {cmd[:200]}")
    if violations:
        print()
        print(f"**{len(violations)} problem(s):**")
        for where, msg in violations:
            print(f"- {where}: {msg}")
    print(f"\nraw data: {a.outdir}/results.json")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
