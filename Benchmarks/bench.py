#!/usr/bin/env python3
"""socktrace benchmark harness. Run it through Benchmarks/run.sh, which installs
what is missing, builds socket-storm, count-events and the tracer, then calls this.

The modules, in reading order (see Benchmarks/README.md):
  bench.py    options, the order of the parts, the printout (this file);
  configs.py  what is measured: tracer configurations and workloads;
  run.py      the parts: rounds, mixed, loss, nginx, profile, start-up and
              latency, memory, pipeline; every run's loss check;
  measure.py  readings: the tracer process, /proc, IRQ work, bpftool stats;
  report.py   the tables.
Prints Markdown tables at the end; raw data goes to OUTDIR/results.json.
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import time

import measure
from report import Report, run_meta, write_docs
from run import Bench

T0 = time.monotonic()
# Wall-clock start of the whole benchmark, build included (run.sh exports it).
START = float(os.environ.get("SOCKTRACE_BENCH_START", time.time()))
PY_START = time.time()
PARTS = ("rounds", "mixed", "loss", "nginx", "profile", "startup", "memory", "slow", "pipeline", "timeline")


def options():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--storm", help="socket-storm binary")
    ap.add_argument("--counter", help="count-events binary")
    ap.add_argument("--report", metavar="RESULTS_JSON",
                    help="only print the tables again from an earlier results.json")
    ap.add_argument("--tracer", default="", help="socktrace binary ('' to skip its configs)")
    ap.add_argument("--pipeline-bench", default="", help="socktrace-pipeline-bench binary")
    ap.add_argument("--bpftrace", default=shutil.which("bpftrace") or "")
    ap.add_argument("--strace", default=shutil.which("strace") or "")
    ap.add_argument("--bpftool", default=shutil.which("bpftool") or "")
    ap.add_argument("--nginx", default=shutil.which("nginx") or "")
    ap.add_argument("--wrk", default=shutil.which("wrk") or "")
    ap.add_argument("--perf", default=shutil.which("perf") or "",
                    help="perf, for the tracer's profile under nginx ('' or --skip perf leaves it out)")
    ap.add_argument("--swift-demangle", default=shutil.which("swift-demangle") or shutil.which("swift") or "",
                    help="swift-demangle (or swift) for the profile's Swift names")
    ap.add_argument("--icount-json", default="",
                    help="icount_report.py --json output of this run's icount.sh (run.sh --icount)")
    ap.add_argument("--quick", action="store_true", help="~1.5 minute version")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--iters", type=int, help="socket() calls per worker per run")
    ap.add_argument("--strace-iters", type=int)
    ap.add_argument("--strace-rounds", type=int)
    ap.add_argument("--mix", default="inet-dgram,inet6-stream,unix-stream,netlink")
    ap.add_argument("--fail", type=float, default=0.1)
    ap.add_argument("--mix-rounds", type=int)
    ap.add_argument("--nginx-rounds", type=int)
    ap.add_argument("--nginx-seconds", type=int)
    ap.add_argument("--profile-iters", type=int, help="calls of each profile run (0 skips)")
    ap.add_argument("--startup-trials", type=int)
    ap.add_argument("--loss-rounds", type=int, help="starved runs that overflow the ring (0 skips)")
    ap.add_argument("--rss-events", type=int, help="records for the memory run (0 skips it)")
    ap.add_argument("--timeline-sockets", type=int,
                    help="socket()+close() pairs recorded for the `socktrace timeline` run "
                         "(2 records each; 0 skips it)")
    ap.add_argument("--slow-events", type=int,
                    help="records for the slow-consumer memory run (0 skips it)")
    ap.add_argument("--rss-interval", type=float, default=0.25)
    ap.add_argument("--settle", type=float, default=0.3, help="seconds after `Tracing` before the workload")
    ap.add_argument("--ready-timeout", type=float, default=60)
    ap.add_argument("--stop-timeout", type=float, default=30,
                    help="seconds a tracer may take to exit after SIGINT (memory runs: 4x)")
    ap.add_argument("--first-event-timeout", type=float, default=5)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--budget", type=float, help="seconds for the whole run, build included "
                    "(rounds stop early to stay inside it; default 660, 130 with --quick)")
    ap.add_argument("--rounds-share", type=float, default=0.5,
                    help="share of the budget the rounds may use")
    ap.add_argument("--keep", action="store_true", help="keep the JSON files")
    ap.add_argument("--outdir", default="/tmp/socktrace-bench")
    ap.add_argument("--docs", metavar="FILE", default="",
                    help="also rewrite FILE's benchmark section (between its markers), "
                    "e.g. docs/performance.md")
    ap.add_argument("--skip", default="", help="comma list of: " + ",".join(PARTS)
                    + ",perf (the tracer's profile under nginx)")
    a = ap.parse_args()
    q = a.quick
    defaults = {
        "rounds": 3 if q else 9,
        "iters": 20000 if q else 100000,
        "strace_iters": 1000 if q else 4000,
        "strace_rounds": 1 if q else 3,
        "mix_rounds": 1 if q else 2,
        "nginx_rounds": 2 if q else 4,
        "nginx_seconds": 2 if q else 4,
        "profile_iters": 20000 if q else 100000,
        "startup_trials": 3 if q else 7,
        "loss_rounds": 1 if q else 2,
        # nginx's five interleaved rows and the perf run take ~45 s (quick) /
        # ~90 s (full) of these, kept out of the rounds' share (run.py)
        "budget": 130 if q else 660,
        "rss_events": 1_000_000 if q else 10_000_000,
        "slow_events": 0 if q else 2_000_000,
        "timeline_sockets": 100_000 if q else 1_500_000,
    }
    for k, v in defaults.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    return ap, a


def tables(results, a):
    rep = Report(results, a)
    out = ["Issue 20's targets (each with its anchor from this run):", "", rep.issue20(), ""]
    hooks = rep.hooks()
    if hooks:
        out += [hooks, ""]
    targets = rep.targets()
    if targets:
        out += ["Issue 8's measurements:", "", targets, ""]
    out += ["All configurations:", "", rep.table(), ""]
    nginx = rep.nginx_table()
    if nginx:
        out += ["nginx + wrk `Connection: close` (Debian's nginx, 1 worker; configurations interleaved "
                "in a random order each round; tracer CPU over the wrk run and the drain after it):",
                "", nginx, ""]
    programs = rep.programs()
    if programs:
        out += ["Per BPF program (kernel.bpf_stats_enabled=1, `bpftool prog show`; P=1, "
                "separate runs: the stats add ~2 clock reads per run):", "", programs, ""]
    perf = rep.perf()
    if perf:
        pr = results["nginx_perf"]
        out += [f"The tracer's profile under nginx (`perf record -g -p PID` over one default wrk run, "
                f"{pr['perf']['samples']} samples, {pr.get('rps') or 0:.0f} requests/s; not a ratio run): "
                "top of `perf report --no-children --sort dso,symbol`, then each stage's inclusive share:",
                "", perf, ""]
    return "\n".join(out)


def main():
    ap, a = options()
    if a.report:
        with open(a.report) as f:
            saved = json.load(f)
        for k, v in saved.get("args", {}).items():
            if k not in ("report", "outdir", "docs"):
                setattr(a, k, v)
        print(tables(saved, a))
        if a.docs:
            write_docs(a.docs, Report(saved, a).docs())
            print(f"wrote the benchmark section of {a.docs}")
        return 0
    if not (a.storm and a.counter):
        ap.error("--storm and --counter are required")
    b = Bench(a, START, PY_START)
    b.results["meta"] = run_meta(a)
    if a.icount_json:
        try:
            with open(a.icount_json) as f:
                b.results["icount"] = json.load(f)
        except (OSError, ValueError) as e:
            measure.loud("icount", f"cannot read {a.icount_json}: {e}")
    skip = set(filter(None, a.skip.split(",")))
    measure.foreign_tracers()
    try:
        try:
            b.hooks()  # what the bpftrace references hook: before any part runs
        except Exception as e:
            measure.loud("hooks", f"could not list socktrace's hooks: {type(e).__name__}: {e}")
        for part in PARTS:
            if part in skip:
                continue
            try:
                getattr(b, part)()
            except Exception as e:  # one broken part must not cost the others
                import traceback
                traceback.print_exc()
                measure.loud(part, f"the part failed: {type(e).__name__}: {e}")
    finally:
        b.results["violations"] = measure.violations
        b.results["seconds"] = time.monotonic() - T0
        with open(os.path.join(a.outdir, "results.json"), "w") as f:
            json.dump(b.results, f, indent=1)
    text = tables(b.results, a)
    with open(os.path.join(a.outdir, "table.md"), "w") as f:
        f.write(text + "\n")
    print()
    print(f"socktrace benchmarks — {time.strftime('%Y-%m-%d %H:%M:%S')}, {os.uname().release}, "
          f"{os.cpu_count()} CPUs, {'quick' if a.quick else 'full'} run, {time.monotonic() - T0:.0f} s "
          f"({time.time() - START:.0f} s with the build), seed {a.seed}")
    print(f"tracer: {a.tracer}" if a.tracer else
          "tracer: **socktrace NOT benchmarked** (no binary: see run.sh's messages above)")
    print()
    print(text)
    print("Ratios: per-round wall time per call over the untraced run of the same round, "
          "workload and P; median [min–max] over rounds. Per-P columns leave out rounds disturbed "
          "by a foreign tracer when at least 2 clean ones remain (\"n=k clean of m\").")
    runs = b.results["runs"]
    all_runs = runs + [b.results[k] for k in ("rss", "rss_slow") if b.results[k]]
    loads = [r["other_load"] for r in runs if "other_load" in r]
    if loads:
        busy = sum(1 for x in loads if x > 0.25)
        print(f"Other CPU load during the storms (CPU the machine spent on neither the workers nor "
              f"the tracer under test): median {statistics.median(loads):.2f} CPUs, max "
              f"{max(loads):.2f}; {busy} of {len(loads)} runs above 0.25 CPUs"
              + (" — **the machine was busy: numbers are noisy**" if busy > len(loads) // 4 else "."))
    disturbed = [r for r in all_runs if r.get("disturbed_by")]
    if disturbed or measure.seen_foreign:
        print()
        if disturbed:
            print(f"**{len(disturbed)} of {len(all_runs)} runs ran beside foreign tracers** "
                  "(hooks on the same syscalls and CPU taken: treat those numbers as disturbed):")
        else:
            print("Other tracers were attached (pid-filtered: their programs run on every socket "
                  "call and return early; not counted as disturbing):")
        for pid, cmd in measure.seen_foreign.items():
            print(f"- pid {pid}: {cmd[:200]}")
    if measure.violations:
        print()
        print(f"**{len(measure.violations)} problem(s):**")
        for where, msg in measure.violations:
            print(f"- {where}: {msg}")
    print(f"\nraw data: {a.outdir}/results.json")
    if a.docs:
        write_docs(a.docs, Report(b.results, a).docs())
        print(f"wrote the benchmark section of {a.docs}")
    return 1 if measure.violations else 0


if __name__ == "__main__":
    sys.exit(main())
