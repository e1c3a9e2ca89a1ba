"""The benchmark's parts, each a method of Bench, in the order bench.py runs
them: rounds (storm and bystander), mixed workload, loss accounting, nginx,
per-program profile, start-up and latency, memory, Swift pipeline. Every
socktrace run is checked: records + reported losses == the workload's exact
count (`verdict`). Results go to self.results (saved as results.json);
report.py turns them into the table.
"""
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import configs
from measure import (Background, BPFStats, attached_hooks, bpf_programs, children, cpu_busy_seconds,
                     foreign_tracers, irq_work_count, log, loud, proc_cpu_seconds, proc_status,
                     own_pids, perf_profile, proc_sched_seconds, smaps_rss, tracepoint_category)


class Bench:
    def __init__(self, args, start, py_start):
        self.a = args
        self.start, self.py_start = start, py_start  # wall clock: run.sh's start, ours
        self.t0 = time.monotonic()
        self.out = args.outdir
        os.makedirs(self.out, exist_ok=True)
        self.configs = {c.key: c for c in configs.active(args)}
        self.results = {"runs": [], "startup": [], "nginx": [], "profile": [], "rss": None,
                        "rss_slow": None, "pipeline": None, "args": vars(args)}

    # ================================================================ workload
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
        r = subprocess.run([self.a.counter, path] + [str(p) for p in pids],
                           stdout=subprocess.PIPE, text=True, check=True)
        return json.loads(r.stdout)

    @staticmethod
    def end_record(path):
        """The last `end` record of a JSON-lines file, or None."""
        try:
            with open(path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 65536))
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

    @staticmethod
    def lost_of(end):
        """The end record's loss count (a number, or in schema v2 maybe a string)."""
        if not end:
            return None
        lost = end.get("lost")
        if isinstance(lost, dict):  # by cause
            lost = lost.get("total", sum(int(v) for v in lost.values() if str(v).isdigit()))
        return int(lost) if lost is not None else None

    def start_tracer(self, cfg, argv, where):
        if cfg.text_to_devnull:
            bg = Background(argv, stdout_path="/dev/null")
        else:
            bg = Background(argv, ready_stream=cfg.ready_stream)
        bg.start()
        if not bg.wait_ready(self.a.ready_timeout):
            bg.stop(10)
            loud(where, f"tracer never printed its ready line; stderr: {bg.text('stderr')[-500:]}")
            return None
        return bg

    # ================================================================ one run
    def run_one(self, cfg, workload, procs, iters, rnd, group=None, argv=None, expect_loss=False,
                pause_tracer=False, profile=False):
        """One tracer (or none) beside one socket-storm: start, wait for ready,
        storm, stop, check. cfg: a configs.Config; argv overrides its command."""
        mix, fail = workload.mix, workload.fail
        key = cfg.key if group is None else f"{cfg.key}+{group}"
        where = f"{key} {workload.key} P={procs} round {rnd}"
        run = {"config": key, "workload": workload.key, "procs": procs, "iters": iters,
               "round": rnd, "group": group, "expect_loss": expect_loss}
        path = os.path.join(self.out, f"{key}-{workload.key}-p{procs}-r{rnd}.jsonl")
        if os.path.exists(path):
            os.unlink(path)
        argv = argv(path) if argv else (cfg.argv(self.a, path) if cfg.argv else None)
        bg = None
        if argv:
            bg = self.start_tracer(cfg, argv, where)
            if bg is None:
                run["error"] = "not ready"
                self.results["runs"].append(run)
                return run
            run["ready_ms"] = (bg.t_ready - bg.t_launch) * 1e3
            time.sleep(self.a.settle)
            cpu0 = proc_cpu_seconds(bg.pid)
        prefix = (self.a.strace, "-f", "-qq", "-o", "/dev/null") if cfg.key == "strace" else ()
        progs0 = bpf_programs(bg.pid, self.a.bpftool) if profile and bg else None
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
        if profile and bg:
            time.sleep(0.05)  # the reader's last wakeup
            progs1 = bpf_programs(bg.pid, self.a.bpftool)
            if progs0 is not None and progs1:
                run["programs"] = {n: {"runs": c - progs0.get(n, (0, 0))[0],
                                       "ns": t - progs0.get(n, (0, 0))[1]}
                                   for n, (c, t) in progs1.items()}
        calls = res["calls"]
        if iwi0 is not None and iwi1 is not None:
            run["irq_work_per_call"] = (iwi1 - iwi0) / max(calls, 1)
            run["irq_work_per_s"] = (iwi1 - iwi0) / max(t_wall1 - t_wall0, 1e-9)
        if None not in (busy0, busy1, tcpu0, tcpu1) and t_wall1 > t_wall0:
            # CPU the machine spent on anything but the workers and our tracer:
            # other people's work, kernel threads (and what tracing makes them do).
            storm_cpu = res["cpu_ns_per_call"] * calls / 1e9
            run["other_load"] = max(0.0, (busy1 - busy0) - storm_cpu - (tcpu1 - tcpu0)) / (t_wall1 - t_wall0)
        foreign = sorted(set(foreign) | set(foreign_tracers()))
        if foreign:
            run["disturbed_by"] = foreign
        run["storm"] = res
        run["ns_per_call"] = res["ns_per_call"]
        if bg:
            run["stop_ms"] = bg.stop(self.a.stop_timeout) * 1e3
            run["exit"] = bg.returncode
            if bg.killed:
                loud(where, f"tracer did not exit within {self.a.stop_timeout}s of SIGINT; killed. "
                     f"stderr: {bg.text('stderr')[-300:]!r} stdout: {bg.text('stdout')[-200:]!r}")
            elif bg.returncode != 0:
                loud(where, f"tracer exit code {bg.returncode}: {bg.text('stderr')[-300:]}")
            if cpu0 is not None and bg.cpu_seconds is not None:
                run["tracer_cpu_ns_per_call"] = (bg.cpu_seconds - cpu0) * 1e9 / max(calls, 1)
        if cfg.check == "json":
            self.check_json(run, where, path, res, workload, lifecycle=not {"--sockets-only", "--births-only"} & set(argv))
            if not self.a.keep and os.path.exists(path):
                os.unlink(path)
        elif cfg.check == "text":
            self.check_text(run, where, bg, res)
        elif cfg.check == "bpftrace":
            self.check_bpftrace(run, where, bg, res)
        self.results["runs"].append(run)
        self.log_run(run, res)
        return run

    @staticmethod
    def log_run(run, res):
        extra = ""
        if "recorded" in run:
            extra = f" recorded={run['recorded']} lost={run.get('lost')} check={run['check']}"
        for k, fmt in (("tracer_cpu_ns_per_call", " tracer_cpu={:.0f}ns/call"),
                       ("irq_work_per_call", " irq_work/call={:.3f}"),
                       ("irq_work_per_s", " ({:.0f}/s)"), ("other_load", " other_load={:.2f}"),
                       ("stop_ms", " stop={:.0f}ms")):
            if k in run:
                extra += fmt.format(run[k])
        if run.get("disturbed_by"):
            extra += f" DISTURBED by pid {','.join(map(str, run['disturbed_by']))}"
        log(f"  {run['config']:<13} {run['workload']:<9} P={run['procs']} n={run['iters']:<7} "
            f"{res['ns_per_call']:>9.1f} ns/call (worker cpu {res['cpu_ns_per_call']:.0f}){extra}")

    # ================================================================ checks
    def verdict(self, run, where, recorded, lost, calls):
        """records + reported losses against the workload's exact count."""
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

    def check_json(self, run, where, path, res, workload=configs.STORM, lifecycle=True):
        if not os.path.exists(path):
            loud(where, "no output file")
            run["check"] = "NO FILE"
            return
        c = self.count(path, res["pids"])
        end = self.end_record(path)
        run["count"], run["end"] = c, end
        if end is None:
            loud(where, "no end record in the output")
        # A bystander makes no socket: exactly 0 socket records are expected.
        expected = res["calls"] if workload.socket_calls else 0
        self.verdict(run, where, c["pid_socket_lines"], self.lost_of(end), expected)
        if c["pid_socket_failed"] != res["failed"] and run["check"] == "ok":
            loud(where, f"failed calls: storm made {res['failed']}, tracer recorded "
                 f"{c['pid_socket_failed']} with ret<0")
            run["check"] = "VIOLATION"
        if not workload.socket_calls and run["check"] == "ok":
            # It did see the bystanders (their exit records), unless told to
            # record sockets only.
            seen = c["pid_lines"]
            if (lifecycle and seen < len(res["pids"])) or (not lifecycle and seen != 0):
                loud(where, f"bystander records: {seen} for {len(res['pids'])} workers "
                     f"({'lifecycle' if lifecycle else 'sockets only'})")
                run["check"] = "VIOLATION"
        if end:
            # All but start, end and the live `lost` reports (the tracer's own).
            written = c["lines"] - 2 - c.get("lost_lines", 0)
            events, sockets = end.get("events"), end.get("sockets")
            if str(events) != str(written) or str(sockets) != str(c["birth_lines"]):
                loud(where, f"end record disagrees with the file: events={events} vs "
                     f"{written} lines, sockets={sockets} vs {c['birth_lines']} births")

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
        run["calls"], run["recorded"], run["lost"] = res["calls"], min(enter, exit_), 0
        if enter >= res["calls"] and exit_ >= res["calls"]:
            run["check"] = "ok"
        else:
            run["check"] = "VIOLATION"
            loud(where, f"bpftrace counted enter={enter} exit={exit_} < {res['calls']} calls")

    # ================================================================ hooks
    def hooks(self):
        """What `socktrace --json -o FILE` attaches on this machine, asked of
        a running one (`bpftool perf show`: each attachment with the process
        holding it), so the bpftrace references (configs.py: the floor and
        counting) hook exactly those tracepoints. Sets args.probes."""
        a = self.a
        info = {"derived": False, "probes": list(configs.FALLBACK_PROBES)}
        self.results["hooks"] = info
        if "st-json" not in self.configs or not a.bpftool:
            info["note"] = "no socktrace run (or no bpftool): its first version's 3 tracepoints"
            log(f"== hooks: {info['note']}")
            return
        path = os.path.join(self.out, "hooks.jsonl")
        bg = self.start_tracer(self.configs["st-json"], self.configs["st-json"].argv(a, path), "hooks")
        if bg is None:
            info["note"] = "socktrace did not start: its first version's 3 tracepoints"
            return
        hooks, other = attached_hooks(bg.pid, a.bpftool)
        bg.stop(a.stop_timeout)
        if os.path.exists(path) and not a.keep:
            os.unlink(path)
        if not hooks:
            info["note"] = "bpftool listed no attachment: its first version's 3 tracepoints"
            loud("hooks", info["note"])
            return
        raw_ok = True
        raw = [h["name"] for h in hooks if h["type"] == "raw_tracepoint"]
        if raw and a.bpftrace:
            # bpftrace before 0.21 has no rawtracepoint probe: then the
            # tracepoint of the same name (a perf-event program: a little more
            # dispatch per hit than socktrace's raw/BTF one).
            r = subprocess.run([a.bpftrace, "-e", f"rawtracepoint:{raw[0]} {{ }} BEGIN {{ exit(); }}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            raw_ok = r.returncode == 0
        probes, skipped = [], []
        for h in hooks:
            kind, name = h["type"], h["name"]
            if kind == "raw_tracepoint" and raw_ok:
                probes.append(f"rawtracepoint:{name}")
            elif kind in ("tracepoint", "raw_tracepoint") and tracepoint_category(name):
                probes.append(f"tracepoint:{tracepoint_category(name)}:{name}")
            elif kind in ("kprobe", "kretprobe"):
                probes.append(f"{kind}:{name}")
            else:
                skipped.append(f"{kind} {name}")
        info.update(derived=True, hooks=[f"{h['type']} {h['name']}" for h in hooks], probes=probes,
                    skipped=skipped, other_programs=other, raw_as_tracepoint=bool(raw) and not raw_ok)
        a.probes = probes
        log(f"== hooks: socktrace --json -o FILE attached {len(hooks)} hooks ({other} programs "
            f"attached otherwise, e.g. fentry links: not reproduced); bpftrace references on "
            f"{len(probes)} probes" + (" (raw tracepoints as tracepoints: this bpftrace has no "
                                       "rawtracepoint)" if info["raw_as_tracepoint"] else "")
            + (f"; not reproducible: {', '.join(skipped)}" if skipped else ""))
        log("   " + " ".join(probes))

    # ================================================================ 1. rounds
    def rounds(self):
        """Every config on every workload it names, for each P, in a fresh
        random order each round; ratios are taken within a round."""
        cfgs = list(self.configs.values())
        rng = random.Random(self.a.seed)
        dead = set()  # configs that failed to start: skipped from then on
        log(f"== rounds: {self.a.rounds} rounds x {len(cfgs)} configs, n={self.a.iters} calls "
            f"per worker (strace n={self.a.strace_iters}, {self.a.strace_rounds} rounds), "
            f"seed {self.a.seed}")
        # The rounds may use up to this much of the time budget; the rest is
        # for the other parts.
        built = self.py_start - self.start  # what run.sh spent installing and building
        limit = built + max(0.0, self.a.budget - built - self.nginx_estimate()) * self.a.rounds_share
        rounds_t0 = time.time()
        for rnd in range(1, self.a.rounds + 1):
            if rnd > 2:
                per_round = (time.time() - rounds_t0) / (rnd - 1)
                elapsed = time.time() - self.start
                if elapsed + per_round > limit:
                    log(f"!! time budget: stopping after {rnd - 1} rounds ({elapsed:.0f}s elapsed, "
                        f"~{per_round:.0f}s per round, {limit:.0f}s allowed for rounds)")
                    self.results["rounds_done"] = rnd - 1
                    break
            jobs = [(c, configs.WORKLOADS[w], p) for c in cfgs for w in c.workloads
                    for p in configs.WORKLOADS[w].procs
                    if not c.reference_only or rnd <= self.a.strace_rounds]
            rng.shuffle(jobs)
            log(f"-- round {rnd}/{self.a.rounds} ({time.monotonic() - self.t0:.0f}s)")
            for cfg, wl, p in jobs:
                if cfg.key in dead:
                    continue
                iters = self.a.strace_iters if cfg.reference_only else self.a.iters
                if self.run_one(cfg, wl, p, iters, rnd).get("error") == "not ready":
                    dead.add(cfg.key)

    def mixed(self):
        """Several families and 10% failing calls: failed calls are recorded too."""
        if "st-json" not in self.configs or not self.a.mix_rounds:
            return
        wl = configs.Workload("mix", f"mixed ({self.a.mix}, {self.a.fail:.0%} failing)", (1, 2),
                              mix=self.a.mix, fail=self.a.fail)
        log(f"== mixed workload ({wl.label}): {self.a.mix_rounds} rounds")
        rng = random.Random(self.a.seed + 1)
        for rnd in range(1, self.a.mix_rounds + 1):
            jobs = [(self.configs[c], p) for c in ("untraced", "st-json") for p in wl.procs]
            rng.shuffle(jobs)
            for cfg, p in jobs:
                self.run_one(cfg, wl, p, self.a.iters, rnd, group="mix")

    # ================================================================ loss
    def loss(self):
        """Overflow the ring on purpose: a 1 MiB ring, socket records only, and
        the tracer stopped (SIGSTOP) for the whole storm, continued after it.
        Only socket records exist, so recorded + lost must equal the calls
        exactly (other processes' sockets can only add to lost). Then what a
        lagging reader costs: stopped, a ring big enough that nothing drops."""
        if "st-json" not in self.configs or self.a.loss_rounds <= 0:
            return
        st, untraced = self.configs["st-json"], self.configs["untraced"]
        log(f"== loss accounting: {self.a.loss_rounds} runs with the reader stopped")
        for rnd in range(1, self.a.loss_rounds + 1):
            self.run_one(st, configs.STORM, 2, self.a.iters, rnd, group="starved", expect_loss=True,
                         pause_tracer=True,
                         argv=lambda path: [self.a.tracer, "--sockets-only", "--ring-buffer", "1",
                                            "--json", "-o", path])
        n = min(self.a.iters, 20000)
        log(f"== reader lagging: P=1, n={n}, reader SIGSTOPped, 64 MiB ring; {self.a.loss_rounds} rounds")
        for rnd in range(1, self.a.loss_rounds + 1):
            self.run_one(untraced, configs.STORM, 1, n, rnd, group="lag")
            self.run_one(st, configs.STORM, 1, n, rnd, group="lag", pause_tracer=True,
                         argv=lambda path: [self.a.tracer, "--ring-buffer", "64", "--json",
                                            "-o", path])

    # ================================================================ nginx
    # The nginx rows, interleaved in a random order within each round.
    NGINX_CONFIGS = ("untraced", "st-json", "st-so-json", "floor", "bpftrace")

    def nginx_estimate(self):
        """Seconds the nginx part takes (each run: wrk, and ~2.5 s to start,
        settle, stop and count; the perf run; the warm-up), kept out of the
        rounds' share of the budget."""
        a = self.a
        if not (a.nginx and a.wrk) or a.nginx_rounds <= 0 or "nginx" in a.skip.split(","):
            return 0.0
        runs = a.nginx_rounds * len([k for k in self.NGINX_CONFIGS if k in self.configs])
        runs += 1 if a.perf and "perf" not in a.skip.split(",") else 0
        return runs * (a.nginx_seconds + 2.5) + 1

    def nginx(self):
        """Debian's nginx serving a small file on 127.0.0.1 to Debian's wrk with
        `Connection: close` (a socket per request on both sides): requests/s of
        each configuration (untraced, socktrace default and --births-only,
        bpftrace's floor and counting on the tracepoints socktrace attaches),
        interleaved in a random order each round; the tracer's CPU over the
        wrk run, its records and bytes. Check: nginx's own accept counter
        (stub_status) == accept records of its worker + lost; wrk's socket
        records + lost >= requests it made. Then one more default run under
        `perf record -g` (not a ratio): the tracer's profile."""
        a = self.a
        keys = [k for k in self.NGINX_CONFIGS if k in self.configs]
        if not (a.nginx and a.wrk) or a.nginx_rounds <= 0 or len(keys) < 2:
            return
        d = tempfile.mkdtemp(prefix="socktrace-nginx-")
        os.makedirs(os.path.join(d, "www"))
        os.makedirs(os.path.join(d, "logs"))
        with open(os.path.join(d, "www", "index.html"), "w") as f:
            f.write("<p>socktrace benchmark</p>\n" * 4)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(f"""daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  server {{
    listen 127.0.0.1:{port};
    root {d}/www;
    location = /status {{ stub_status; }}
  }}
}}
""")
        master = subprocess.Popen([a.nginx, "-p", d, "-c", os.path.join(d, "nginx.conf")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            accepts = None
            for _ in range(200):
                accepts = self.nginx_accepts(port)
                if accepts is not None:
                    break
                time.sleep(0.02)
            workers = children(master.pid)
            if accepts is None or not workers:
                loud("nginx", f"did not start: {master.stderr.read1(2000) if master.poll() else ''}")
                return
            url = f"http://127.0.0.1:{port}/index.html"
            seed = a.seed + 2
            log(f"== nginx + wrk (Connection: close), {a.nginx_rounds} rounds of {a.nginx_seconds}s, "
                f"worker pid {workers}; {', '.join(keys)} in a random order each round (seed {seed})")
            rng = random.Random(seed)
            self.wrk(url, 1, None, None)  # warm up
            for rnd in range(1, a.nginx_rounds + 1):
                order = list(keys)
                rng.shuffle(order)
                for key in order:
                    cfg = None if key == "untraced" else self.configs[key]
                    self.results["nginx"].append(self.wrk(url, rnd, cfg, (port, workers)))
            if "perf" not in a.skip.split(",") and a.perf and "st-json" in keys:
                log("-- the tracer's profile: one more default run under perf record -g (not a ratio)")
                run = self.wrk(url, 0, self.configs["st-json"], (port, workers), perf=True)
                run["group"] = "perf"
                self.results["nginx_perf"] = run
        finally:
            master.terminate()
            try:
                master.wait(10)
            except subprocess.TimeoutExpired:
                master.kill()
            shutil.rmtree(d, ignore_errors=True)

    @staticmethod
    def nginx_accepts(port):
        """nginx's `accepts` counter (stub_status), or None."""
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"GET /status HTTP/1.0\r\nHost: x\r\n\r\n")
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
        except OSError:
            return None
        m = re.search(rb"\n\s*(\d+)\s+(\d+)\s+(\d+)", data)
        return int(m.group(1)) if m else None

    @staticmethod
    def drained(path, timeout=2.0):
        """Waits until the tracer's file stops growing (two polls 20 ms apart)."""
        size, still, deadline = -1, 0, time.monotonic() + timeout
        while still < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
            try:
                now = os.path.getsize(path)
            except OSError:
                now = 0
            still = still + 1 if now == size else 0
            size = now

    @staticmethod
    def line_bytes(path):
        """Bytes of the first and of the last line of a file (the start and end records)."""
        try:
            with open(path, "rb") as f:
                first = len(f.readline())
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 65536))
                lines = f.read().rstrip(b"\n").split(b"\n")
            return first, len(lines[-1]) + 1
        except OSError:
            return 0, 0

    def wrk(self, url, rnd, cfg, server, perf=False):
        """One wrk run, traced by cfg (or not). Returns its result."""
        a = self.a
        seconds = a.nginx_seconds if server else 1
        run = {"config": cfg.key if cfg else "untraced", "round": rnd}
        where = f"nginx {run['config']} round {rnd}"
        path = os.path.join(self.out, f"nginx-{run['config']}-r{rnd}.jsonl")
        if os.path.exists(path):
            os.unlink(path)
        accepts0 = self.nginx_accepts(server[0]) if server else None
        bg = prof = None
        if cfg:
            bg = self.start_tracer(cfg, cfg.argv(a, path), where)
            if bg is None:
                return run
            time.sleep(a.settle)
        if perf:
            data = os.path.join(self.out, "perf-nginx.data")
            prof = subprocess.Popen([a.perf, "record", "-g", "-p", str(bg.pid), "-o", data],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            own_pids.add(prof.pid)
            time.sleep(0.2)  # perf attaches
        foreign = foreign_tracers()
        cpu0, sched0 = (proc_cpu_seconds(bg.pid), proc_sched_seconds(bg.pid)) if bg else (None, None)
        p = subprocess.Popen([a.wrk, "-t1", "-c8", f"-d{seconds}s", "-H", "Connection: close", url],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out, _ = p.communicate()
        accepts1 = self.nginx_accepts(server[0]) if server else None
        if bg:
            # The tracer's CPU over the wrk run and the drain of what it left
            # in the ring (not its start-up or its exit).
            if cfg.check == "json":
                self.drained(path)
            cpu1, sched1 = proc_cpu_seconds(bg.pid), proc_sched_seconds(bg.pid)
            if None not in (cpu0, cpu1):
                run["tracer_cpu_s"] = cpu1 - cpu0
            if None not in (sched0, sched1):
                run["tracer_sched_s"] = sched1 - sched0
        if prof:
            prof.send_signal(signal.SIGINT)
            try:
                prof.wait(30)
            except subprocess.TimeoutExpired:
                prof.kill()
                prof.wait()
        foreign = sorted(set(foreign) | set(foreign_tracers()))
        if foreign:
            run["disturbed_by"] = foreign
        if bg:
            # A socktrace that needs more than 5x the wrk run to drain is
            # killed and said so (the loss check then has no end record).
            limit = min(a.stop_timeout, 5 * seconds) if cfg.check == "json" else a.stop_timeout
            run["stop_ms"] = bg.stop(limit) * 1e3
            if bg.killed:
                run["killed"] = True
                loud(where, f"tracer did not exit within {limit}s of SIGINT (still draining?); killed. "
                     f"stderr: {bg.text('stderr')[-300:]!r}")
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        reqs = re.search(r"(\d+) requests in", out)
        errors = re.search(r"Socket errors: (.*)", out)
        run["rps"] = float(rps.group(1)) if rps else None
        run["requests"] = int(reqs.group(1)) if reqs else None
        if errors:
            run["socket_errors"] = errors.group(1)
        if run["rps"] is None:
            loud(where, f"wrk printed no Requests/sec: {out[-400:]}")
        if not server:
            return run
        run["accepts"] = accepts1 - accepts0 if None not in (accepts0, accepts1) else None
        if prof:
            if prof.returncode not in (0, -signal.SIGINT) or not os.path.exists(data):
                loud(where, f"perf record failed (exit {prof.returncode}): "
                     f"{prof.stderr.read().decode(errors='replace')[-300:]}")
            else:
                run["perf"] = perf_profile(data, a.perf, a.swift_demangle)
                if not a.keep:
                    os.unlink(data)
        if cfg and cfg.check == "json":
            end = self.end_record(path)
            lost = self.lost_of(end)
            nginx_side = self.count(path, server[1])
            wrk_side = self.count(path, [p.pid])
            run["accept_records"] = nginx_side["pid_accept_lines"]
            run["wrk_socket_records"] = wrk_side["pid_socket_lines"]
            run["lost"] = lost
            # Every record the tracer wrote: all but start, end and its live
            # loss reports; and their bytes.
            first, last = self.line_bytes(path)
            run["records"] = nginx_side["lines"] - 2 - nginx_side.get("lost_lines", 0)
            run["record_bytes"] = nginx_side["bytes"] - first - last
            # nginx's counter is exact: every accept it made while traced.
            self.verdict(run, where, run["accept_records"], lost, run["accepts"])
            if run.get("killed"):
                run["check"] = "KILLED at stop"
            if run["check"] == "ok" and run["requests"] and run["wrk_socket_records"] < run["requests"]:
                run["check"] = "VIOLATION"
                loud(where, f"wrk made {run['requests']} requests (a socket each), "
                     f"{run['wrk_socket_records']} socket records")
            if not a.keep:
                os.unlink(path)
        elif cfg and cfg.check == "bpftrace":
            # It counts every process: nginx's accepts are a lower bound.
            m = re.search(r"sys_exit_accept4\]: (\d+)", bg.text("stdout"))
            if m and run["accepts"] is not None:
                run["bpftrace_accepts"] = int(m.group(1))
                run["check"] = "ok" if int(m.group(1)) >= run["accepts"] else "VIOLATION"
                if run["check"] != "ok":
                    loud(where, f"bpftrace counted {m.group(1)} accept4 exits, nginx made {run['accepts']}")
        if bg and run.get("tracer_cpu_s") is not None and run["requests"]:
            run["tracer_ms_per_1000"] = run["tracer_cpu_s"] * 1e6 / run["requests"]
        extra = ""
        if run.get("records") is not None and run["requests"]:
            extra = (f", {run['records'] / run['requests']:.2f} records/request, "
                     f"{run['record_bytes'] / max(run['records'], 1):.0f} B/record")
        if "tracer_ms_per_1000" in run:
            extra += (f", tracer CPU {run['tracer_ms_per_1000']:.1f} ms/1000 requests "
                      f"(schedstat {run.get('tracer_sched_s', 0) * 1e6 / run['requests']:.1f})")
        if "accept_records" in run:
            extra += f"; accepts {run.get('accepts')} = records {run['accept_records']} + lost " \
                     f"{run.get('lost')}: {run['check']}"
        elif "bpftrace_accepts" in run:
            extra += f"; accept4 exits counted {run['bpftrace_accepts']} >= accepts {run['accepts']}: {run['check']}"
        log(f"  nginx {run['config']:<10} round {rnd}: {run['rps']} requests/s{extra}"
            + (f" DISTURBED by pid {','.join(map(str, foreign))}" if foreign else ""))
        if run.get("perf"):
            pr = run["perf"]
            log(f"   perf: {pr['samples']} samples; "
                + ", ".join(f"{label} {v:.0f}%" for label, v in pr["stages"] if v is not None))
        return run

    # ================================================================ profile
    def profile(self):
        """Each socktrace program's run count and time (kernel.bpf_stats_enabled,
        bpftool prog show): ns per run and per workload call, for the storm
        and the bystander. Stats cost ~2 clock reads per run: these runs are
        not used for ratios."""
        a = self.a
        if not a.bpftool or a.profile_iters <= 0:
            return
        keys = [k for k in ("st-json", "st-so-json") if k in self.configs]
        if not keys:
            return
        log(f"== per-program profile (kernel.bpf_stats_enabled=1), n={a.profile_iters}")
        with BPFStats() as stats:
            if not stats.ok:
                return
            for key in keys:
                for wl in (configs.STORM, configs.BYSTANDER):
                    run = self.run_one(self.configs[key], wl, 1, a.profile_iters, 0,
                                       group="profile", profile=True)
                    if "programs" not in run:
                        loud("profile", f"{key} {wl.key}: bpftool gave no programs for the tracer")
                    self.results["profile"].append(run)
        self.results["runs"] = [r for r in self.results["runs"] if r.get("group") != "profile"]

    # ================================================================ start-up
    def startup(self):
        """launch -> `Tracing`; launch -> first record of a probe; a lone
        socket() (the tracer idle) -> its record in FILE, from the record's own
        kernel timestamp to the moment it is in the file; SIGINT -> exit."""
        if "st-json" not in self.configs:
            return
        log(f"== start-up and latency: {self.a.startup_trials} trials")
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
            tail = FileTail(path)
            # One socket() from a fresh process right after the Tracing line.
            self.storm(1, 1)
            seen = tail.wait_socket(self.a.first_event_timeout)
            if seen:
                trial["first_event_ms"] = (seen[0] - bg.t_launch) * 1e3
            # Then, idle for a while, one lone socket(), watched for while it runs.
            time.sleep(self.a.settle)
            lone = subprocess.Popen([self.a.storm, "-p", "1", "-n", "1"], stdout=subprocess.DEVNULL)
            seen = tail.wait_socket(self.a.first_event_timeout)
            lone.wait()
            if seen:
                trial["lone_ms"] = (seen[1] - int(seen[2]["ts_ns"])) / 1e6
            else:
                trial["lone_ms"] = None
                loud("latency", f"trial {i}: lone socket record not in the file after "
                     f"{self.a.first_event_timeout}s")
            time.sleep(0.1)
            trial["stop_ms"] = bg.stop(self.a.stop_timeout) * 1e3
            log(f"  trial {i}: launch->Tracing {trial['ready_ms']:.1f} ms, launch->first record "
                f"{trial.get('first_event_ms') or float('nan'):.1f} ms, lone socket()->file "
                f"{trial.get('lone_ms') or float('nan'):.2f} ms, stop {trial['stop_ms']:.0f} ms")
            self.results["startup"].append(trial)
            if not self.a.keep:
                os.unlink(path)
            time.sleep(0.1)

    # ================================================================ memory
    def slow(self):
        """The slow consumer: the memory run with the reader stopped half the time."""
        if self.a.slow_events > 0:
            self.memory(self.a.slow_events, key="rss_slow", throttle=True)

    def memory(self, events=None, key="rss", throttle=False):
        """One long run at default settings, sampling the tracer's memory.
        throttle: SIGSTOP/SIGCONT the tracer 20 ms each, so it has half the
        time to read: a consumer slower than its producers."""
        events = self.a.rss_events if events is None else events
        if "st-json" not in self.configs or events <= 0:
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
        events = int(end.get("events") or run["count"]["lines"])
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
        if "50%" in marks and "100%" in marks:
            run["anon_growth_2nd_half_kib"] = marks["100%"]["RssAnon"] - marks["50%"]["RssAnon"]
        self.results[key] = run
        with open(os.path.join(self.out, f"{key}-samples.csv"), "w") as f:
            f.write("seconds,vmrss_kib,vmhwm_kib,rssanon_kib,rssfile_kib,file_bytes\n")
            for row in run["samples"]:
                f.write(",".join(str(v) for v in row) + "\n")
        log(f"  {events} records in {t_storm:.1f}s; VmRSS {base['VmRSS'] / 1024:.1f} -> max "
            f"{(run['rss_max_kib'] or 0) / 1024:.1f} MB (HWM {(run['hwm_kib'] or 0) / 1024:.1f}); RssAnon "
            f"{base['RssAnon'] / 1024:.1f} -> max {(run['anon_max_kib'] or 0) / 1024:.1f} MB; bpf maps "
            f"{run.get('bpf_map_kib', 0) / 1024:.1f} MB; checkpoints "
            + ", ".join(f"{k} {v['RssAnon'] / 1024:.1f} [{v['file_mb']:.0f} MB written]" for k, v in marks.items())
            + f" MB anon; check {run['check']}")
        if not self.a.keep:
            os.unlink(path)

    # ================================================================ pipeline
    def pipeline(self):
        """The Swift pipeline alone, as shipped (RecordPipeline.consume):
        records/s per core, thread CPU time, best of 5 rounds."""
        if not self.a.pipeline_bench:
            return
        log("== Swift pipeline (socktrace-pipeline-bench 1000000 5)")
        r = subprocess.run([self.a.pipeline_bench, "1000000", "5"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        log(r.stdout.rstrip())
        m = re.search(r"RecordPipeline\.consume.*?: ([\d.]+) M/s\s+\((\d+) ns/record, (\d+) bytes", r.stdout)
        d = re.search(r"decode only:\s+([\d.]+) M/s", r.stdout)
        if r.returncode != 0 or not m:
            loud("pipeline", f"socktrace-pipeline-bench failed: {r.stdout[-300:]}")
            return
        self.results["pipeline"] = {"records_per_s": float(m.group(1)) * 1e6,
                                    "ns_per_record": int(m.group(2)), "bytes_per_record": int(m.group(3)),
                                    "decode_per_s": float(d.group(1)) * 1e6 if d else None}


    # ================================================================ timeline
    def timeline(self):
        """`socktrace timeline FILE` of a real recording of N socket()+close()
        pairs (2N records, one process), text then `--format chrome`: elapsed
        seconds and peak RSS (getrusage of the child), and the records read."""
        n = self.a.timeline_sockets
        if not self.a.tracer or not n:
            return
        log(f"== timeline of a {2 * n / 1e6:.1f} M-record recording")
        with tempfile.TemporaryDirectory(prefix="socktrace-timeline-") as tmp:
            path = os.path.join(tmp, "storm.jsonl")
            r = subprocess.run([self.a.tracer, "--json", "-o", path, "--", self.a.storm, "-p", "1", "-n", str(n)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if r.returncode != 0 or not os.path.exists(path):
                loud("timeline", f"recording failed: {r.stderr[-300:]}")
                return
            records = sum(1 for _ in open(path, "rb"))
            out = {"sockets": n, "records": records, "bytes": os.path.getsize(path)}
            for fmt in ("text", "chrome"):
                t = time.monotonic()
                child = subprocess.Popen([self.a.tracer, "timeline", "--format", fmt, path],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                _, status, usage = os.wait4(child.pid, 0)
                child.stderr.close()
                secs = time.monotonic() - t
                if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
                    loud("timeline", f"socktrace timeline --format {fmt} failed (status {status})")
                    continue
                out[fmt] = {"seconds": secs, "rss_max_kib": usage.ru_maxrss,
                            "cpu_seconds": usage.ru_utime + usage.ru_stime}
                log(f"   {fmt}: {secs:.1f} s, {usage.ru_maxrss / 1024:.0f} MB peak RSS, "
                    f"{usage.ru_utime + usage.ru_stime:.1f} s CPU")
            self.results["timeline"] = out


class FileTail:
    """Reads a growing JSON-lines file from where it last stopped."""

    def __init__(self, path):
        self.path, self.pos, self.partial = path, 0, ""

    def wait_socket(self, timeout):
        """Polls every 0.2 ms for a socket record of socket-storm. Returns
        (monotonic, boottime ns, record) when it is in the file, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(self.path, "r", errors="replace") as f:
                    f.seek(self.pos)
                    chunk = f.read()
                    self.pos = f.tell()
            except OSError:
                chunk = ""
            if chunk:
                now, boot = time.monotonic(), time.clock_gettime_ns(time.CLOCK_BOOTTIME)
                lines = (self.partial + chunk).split("\n")
                self.partial = lines.pop()
                for line in lines:
                    if '"socket-storm"' in line and '"event":"socket"' in line:
                        return now, boot, json.loads(line)
            time.sleep(0.0002)
        return None
