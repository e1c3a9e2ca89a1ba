#!/usr/bin/env python3
"""icount_report.py [--json FILE] LOG...: the tables of Benchmarks/icount.sh
from its VMs' serial logs (ICOUNT and ICOUNTPROG lines of icount-init.sh).
--json FILE also writes every configuration's median there (run.sh --icount
hands it to bench.py for issue 20's targets table)."""
import json
import re
import statistics
import sys


def fields(line):
    return dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)


def main(logs, json_path=""):
    runs = {}  # (kernel, rung, config, workload) -> [ns_per_call]
    tracer = {}  # the same -> [the tracer process's own ns per call]
    checks = {}  # (kernel, rung, config) -> [(records, lost)]
    errors = []
    progs = {}  # (kernel, rung, config, workload) -> {name: (cnt, ns)}
    kernels, iters = [], 0
    for path in logs:
        kernel = path.rsplit("/", 1)[-1].removesuffix(".log")
        try:
            text = open(path, errors="replace").read().replace("\r", "")
        except OSError as e:
            errors.append(f"{kernel}: {e}")
            continue
        if kernel not in kernels:  # one kernel's rungs may come from several runs
            kernels.append(kernel)
        if "===ICOUNT DONE===" not in text:
            errors.append(f"{kernel}: the VM did not finish (see {path})")
        for line in text.splitlines():
            line = line[line.find("ICOUNT"):] if "ICOUNT" in line else ""
            if line.startswith("ICOUNTPROG "):
                f = fields(line)
                key = (kernel, f["rung"], f["config"], f["workload"])
                # names are cut at 15 characters (fentry_sys_sock is __sys_socket's
                # and __sys_socketpair's): the id tells them apart
                progs.setdefault(key, {})[f"{f['name']} (id {f['id']})"] = (int(f["run_cnt"]), int(f["run_time_ns"]))
            elif line.startswith("ICOUNT "):
                f = fields(line)
                if "iters" in f:
                    iters = int(f["iters"])
                elif "error" in f:
                    errors.append(f"{kernel} {f['rung']} {f['config']}: {line}")
                elif "ns_per_call" in f and f["ns_per_call"]:
                    key = (kernel, f["rung"], f["config"], f["workload"])
                    runs.setdefault(key, []).append(float(f["ns_per_call"]))
                    if f.get("tracer_ns_per_call") and f["config"] != "untraced":
                        tracer.setdefault(key, []).append(float(f["tracer_ns_per_call"]))
                    if f.get("calls") != f.get("ok"):
                        errors.append(f"{kernel} {f['rung']} {f['config']}: {line}")
                elif "records" in f:
                    checks.setdefault((kernel, f["rung"], f["config"]), []).append(
                        (f["records"], f["lost"], f.get("calls")))

    def med(k):
        v = runs.get(k)
        return statistics.median(v) if v else None

    print()
    print("| kernel | rung | tracer | socket()+close() untraced | default | `--births-only` "
          "| bystander untraced | bystander traced (default) |")
    print("|---|---|---|---|---|---|---|---|")
    tracers = ["base:", ""] if any(k[2].startswith("base:") for k in runs) else [""]
    rungs = sorted({k[1] for k in runs}, key=lambda r: ["fentry", "kprobe", "tracepoint"].index(r)
                   if r in ("fentry", "kprobe", "tracepoint") else 9)
    for kernel in kernels:
        for rung in rungs:
            base = med((kernel, rung, "untraced", "inet-dgram"))
            by = med((kernel, rung, "untraced", "devnull"))
            if base is None:
                continue

            def cell(v, anchor):
                if v is None:
                    return "—"
                return f"{v / 1000:.2f} k ({v / anchor:.2f}×)" if anchor else f"{v / 1000:.2f} k"

            for t in tracers:
                name = "baseline" if t else "this build"
                if not any((kernel, rung, t + c, "inet-dgram") in runs for c in ("default", "births-only")):
                    continue
                print(f"| {kernel} | {rung} | {name} | {base / 1000:.2f} k "
                      f"| {cell(med((kernel, rung, t + 'default', 'inet-dgram')), base)} "
                      f"| {cell(med((kernel, rung, t + 'births-only', 'inet-dgram')), base)} "
                      f"| {by / 1000:.2f} k | {cell(med((kernel, rung, t + 'default', 'devnull')), by)} |")
    print()
    print(f"Guest ns per iteration = instructions (qemu `-icount shift=0,sleep=off`, one vCPU), "
          f"{iters} iterations, median of each configuration's rounds; ratios to the untraced "
          "median of the same rung's rounds in the same boot.")
    bad = [f"{k[0]} {k[1]} {k[2]}: records/lost/calls {v}" for k, v in checks.items()
           if any(r != c or l != "0" for r, l, c in v)]
    if checks:
        print("Every traced run recorded all its socket() calls with nothing lost." if not bad else
              "Records/losses off: " + "; ".join(bad))
    if tracer:
        print()
        print("The tracer process's own CPU (all its threads' schedstat, guest ns = instructions) "
              "within each traced iteration:")
        print()
        print("| kernel | rung | config | workload | traced iteration | of which the tracer process |")
        print("|---|---|---|---|---|---|")
        for key in sorted(tracer):
            total, own = med(key), statistics.median(tracer[key])
            print(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {total / 1000:.2f} k | {own / 1000:.2f} k |")
    if progs:
        print()
        print("| kernel | rung | workload | program | runs/iteration | ns/run |")
        print("|---|---|---|---|---|---|")
        for (kernel, rung, config, workload), table in sorted(progs.items()):
            prev = progs.get((kernel, rung, config, "inet-dgram")) if workload == "devnull" else {}
            if config.startswith("base:"):
                rung = rung + " (baseline)"
            total = 0.0
            for name, (cnt, ns) in sorted(table.items()):
                c0, n0 = (prev or {}).get(name, (0, 0))
                cnt, ns = cnt - c0, ns - n0
                if cnt <= 0:
                    continue
                total += ns / iters
                print(f"| {kernel} | {rung} | {workload} | `{name}` | {cnt / iters:.2f} | {ns / cnt:.0f} |")
            print(f"| {kernel} | {rung} | {workload} | **all** | | **{total:.0f}** per iteration |")
    for e in errors:
        print("ERROR", e)
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"iters": iters, "kernels": kernels, "errors": errors, "checks_off": bad,
                       "medians": [{"kernel": k[0], "rung": k[1], "config": k[2], "workload": k[3],
                                    "ns": med(k), "rounds": len(v)} for k, v in sorted(runs.items())]},
                      f, indent=1)
    return 1 if errors else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    out = ""
    if args[:1] == ["--json"]:
        out, args = args[1], args[2:]
    sys.exit(main(args, out))
