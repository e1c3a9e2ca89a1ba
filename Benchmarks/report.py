"""The tables, from results (what run.py collected, or a saved results.json):
  issue20()   issue 20's targets: measured, target, the anchor from the same
              run (bpftrace counting, the floor, untraced), met or missed;
  hooks()     the hooks the bpftrace references reproduce;
  targets()   issue 8's rows: measured, target, met or missed;
  table()     every configuration and workload, ratios against untraced;
  nginx_table() every nginx configuration: ratio, tracer CPU, records, bytes;
  programs()  ns per call of each socktrace BPF program (the profile runs);
  perf()      the tracer's profile under nginx (perf record -g);
  docs()      the section of docs/performance.md between its markers, which
              write_docs() replaces (bench.py --docs FILE).
"""
import os
import statistics
import time

import configs

FINE = ("ok", "accounted exactly", "accounted (lost > missing)", "no loss provoked")


def med(vals, fmt="{:.2f}"):
    vals = [v for v in vals if v is not None]
    return fmt.format(statistics.median(vals)) if vals else "—"


def spread(vals, fmt="{:.0f}"):
    vals = [x for x in vals if x is not None]
    if not vals:
        return "—"
    return (fmt + " [" + fmt + "–" + fmt + "]").format(statistics.median(vals), min(vals), max(vals))


def mb(kib):
    return f"{kib / 1024:.1f}" if kib is not None else "—"


class Report:
    def __init__(self, results, args):
        self.r = results
        self.a = args
        self.runs = [r for r in results["runs"] if "ns_per_call" in r]
        key = self.key
        untraced = [r for r in self.runs if r["config"].startswith("untraced")]
        self.base = {key(r): r["ns_per_call"] for r in untraced}
        self.cbase = {key(r): r["storm"]["cpu_ns_per_call"] for r in untraced}
        self.base_disturbed = {key(r) for r in untraced if r.get("disturbed_by")}

    @staticmethod
    def key(r):
        """A run's untraced partner has the same workload, P, round and group."""
        return (r.get("workload", "storm"), r["procs"], r["round"], r.get("group"))

    def clean(self, r):
        return not r.get("disturbed_by") and self.key(r) not in self.base_disturbed

    def ratios(self, cfg, workload, procs, cpu=False):
        """Per-round ratios against untraced, leaving out disturbed rounds when
        at least 2 clean ones remain. Returns (ratios, note)."""
        rp = [r for r in self.runs if r["config"] == cfg and r.get("workload", "storm") == workload
              and r["procs"] == procs]
        rc = [r for r in rp if self.clean(r)]
        note = ""
        if len(rc) < len(rp):
            if len(rc) >= 2:
                note, rp = f" clean of {len(rp)}", rc
            else:
                note = ", **disturbed**"
        base = self.cbase if cpu else self.base
        val = (lambda r: r["storm"]["cpu_ns_per_call"]) if cpu else (lambda r: r["ns_per_call"])
        return [val(r) / base[self.key(r)] for r in rp if self.key(r) in base], note, rp

    def ratio_text(self, cfg, workload, procs):
        ratios, note, _ = self.ratios(cfg, workload, procs)
        if not ratios:
            return "—"
        return (f"{statistics.median(ratios):.2f}× [{min(ratios):.2f}–{max(ratios):.2f}]"
                f" (n={len(ratios)}{note})")

    def ratio_median(self, cfg, workload, procs):
        ratios = self.ratios(cfg, workload, procs)[0]
        return statistics.median(ratios) if ratios else None

    # ------------------------------------------------------------ rows
    def nginx_ratios(self, cfg="st-json"):
        """cfg's requests/s over untraced's within each round: [(ratio, {config: run})]."""
        by_round = {}
        for r in self.r.get("nginx", []):
            if r.get("rps"):
                by_round.setdefault(r["round"], {})[r["config"]] = r
        out = []
        for rnd, pair in sorted(by_round.items()):
            if "untraced" in pair and cfg in pair:
                out.append((pair[cfg]["rps"] / pair["untraced"]["rps"], pair))
        return out

    def nginx_ratio(self, cfg):
        """(median, text "0.95× [0.93–0.97] (n=4)") or (None, "—")."""
        ng = [x for x, _ in self.nginx_ratios(cfg)]
        if not ng:
            return None, "—"
        return statistics.median(ng), (f"{statistics.median(ng):.2f}× [{min(ng):.2f}–{max(ng):.2f}] "
                                       f"(n={len(ng)})")

    def nginx_runs(self, cfg):
        return [r for r in self.r.get("nginx", []) if r["config"] == cfg and r.get("rps")]

    def nginx_cost(self, cfg):
        """Medians over cfg's nginx runs: tracer CPU ms per 1,000 requests (from
        /proc/PID/stat) and by schedstat, µs per record, records per request,
        JSON bytes per record. None where not measured."""
        rs = self.nginx_runs(cfg)

        def m(f):
            vals = [f(r) for r in rs]
            vals = [v for v in vals if v is not None]
            return statistics.median(vals) if vals else None

        def per(r, num, den, scale=1.0):
            return r[num] * scale / r[den] if r.get(num) is not None and r.get(den) else None

        return {"ms_per_1000": m(lambda r: per(r, "tracer_cpu_s", "requests", 1e6)),
                "ms_per_1000_all": [per(r, "tracer_cpu_s", "requests", 1e6) for r in rs],
                "sched_ms_per_1000": m(lambda r: per(r, "tracer_sched_s", "requests", 1e6)),
                "us_per_record": m(lambda r: per(r, "tracer_cpu_s", "records", 1e6)),
                "sched_us_per_record": m(lambda r: per(r, "tracer_sched_s", "records", 1e6)),
                "records_per_request": m(lambda r: per(r, "records", "requests")),
                "bytes_per_record": m(lambda r: per(r, "record_bytes", "records")),
                "rps": m(lambda r: r["rps"]), "n": len(rs)}

    def startup(self, field):
        return [t.get(field) for t in self.r.get("startup", [])]

    # ------------------------------------------------------------ issue 20
    def icount(self, config, workload):
        """(traced ns, untraced ns) of 6.12's fentry rung from this run's
        icount medians, or None."""
        ic = self.r.get("icount") or {}
        meds = {(m["kernel"], m["rung"], m["config"], m["workload"]): m["ns"] for m in ic.get("medians", [])}
        for kernel in ic.get("kernels", []):
            if kernel.startswith("6.12"):
                v = meds.get((kernel, "fentry", config, workload))
                base = meds.get((kernel, "fentry", "untraced", workload))
                if v and base:
                    return v, base, kernel
        return None

    def issue20(self):
        """Issue 20's targets, each with its anchor measured in the same run."""
        rows = []

        def row(what, measured, target, anchor, met):
            verdict = "—" if met is None else ("met" if met else "**missed**")
            rows.append(f"| {what} | {measured} | {target} | {anchor} | {verdict} |")

        def x(v):
            return f"{v:.2f}×" if v is not None else "—"

        has_nginx = bool(self.r.get("nginx"))
        floor_n, floor_t = self.nginx_ratio("floor")
        count_n, count_t = self.nginx_ratio("bpftrace")
        anchor = f"bpftrace counting {count_t}; floor (empty programs) {floor_t}"
        for cfg, what, goal in (("st-json", "nginx+wrk, default (`socktrace --json -o FILE`)", 0.95),
                                ("st-so-json", "nginx+wrk, `--births-only`", 0.98)):
            v, text = self.nginx_ratio(cfg)
            bad = [r for r in self.nginx_runs(cfg) if r.get("check") not in FINE]
            if bad:
                text += f" **{len(bad)} run(s) failed the check: {', '.join(sorted(set(str(r.get('check')) for r in bad)))}**"
            if has_nginx:
                row(what + ", requests/s traced ÷ untraced", text, f"≥ {goal:.2f}×", anchor,
                    None if v is None else v >= goal)
            else:
                row(what, "not run", f"≥ {goal:.2f}×", "—", None)
        c, bo = self.nginx_cost("st-json"), self.nginx_cost("st-so-json")

        def ms(v, fmt="{:.1f}"):
            return fmt.format(v) if v is not None else "—"

        if c["ms_per_1000"] is not None:
            vals = [v for v in c["ms_per_1000_all"] if v is not None]
            row("tracer CPU per 1,000 nginx requests, default (user+sys, `/proc/PID/stat`)",
                f"{ms(c['ms_per_1000'])} ms [{min(vals):.1f}–{max(vals):.1f}] (schedstat "
                f"{ms(c['sched_ms_per_1000'])}; {ms(c['records_per_request'], '{:.2f}')} records/request)",
                "≤ 2 ms", f"`--births-only` {ms(bo['ms_per_1000'])} ms "
                f"({ms(bo['records_per_request'], '{:.2f}')} records/request)", c["ms_per_1000"] <= 2)
            row("tracer CPU per record, default, under nginx",
                f"{ms(c['us_per_record'], '{:.2f}')} µs (schedstat {ms(c['sched_us_per_record'], '{:.2f}')}; "
                f"{ms(c['bytes_per_record'], '{:.0f}')} JSON bytes/record)", "≤ 0.5 µs",
                f"`--births-only` {ms(bo['us_per_record'], '{:.2f}')} µs "
                f"({ms(bo['bytes_per_record'], '{:.0f}')} B/record)",
                c["us_per_record"] is not None and c["us_per_record"] <= 0.5)
        elif not has_nginx:
            row("tracer CPU per 1,000 nginx requests, default", "not run", "≤ 2 ms", "—", None)
        p1, p2 = (self.ratio_median("st-json", "storm", p) for p in (1, 2))
        b1, b2 = (self.ratio_median("bpftrace", "storm", p) for p in (1, 2))
        f1, f2 = (self.ratio_median("floor", "storm", p) for p in (1, 2))
        if p1 is not None or p2 is not None:
            row("storm socket()+close(), default, P=1 / P=2",
                f"{x(p1)} / {x(p2)}", "≤ 1.25× / ≤ 1.30×",
                f"bpftrace counting {x(b1)} / {x(b2)}; floor {x(f1)} / {x(f2)}",
                (p1 is None or p1 <= 1.25) and (p2 is None or p2 <= 1.30))
        else:
            row("storm socket()+close(), default, P=1 / P=2", "not run", "≤ 1.25× / ≤ 1.30×", "—", None)
        for label, config, workload, goal in (
                ("icount, 6.12, fentry rung, socket()+close(), default", "default", "inet-dgram", 1.50),
                ("icount, 6.12, fentry rung, socket()+close(), `--births-only`", "births-only", "inet-dgram", 1.30),
                ("icount, 6.12, fentry rung, bystander (open()+close(), traced default)", "default", "devnull", 1.01)):
            got = self.icount(config, workload)
            if got:
                v, base, kernel = got
                row(label, f"{v / base:.2f}× ({v / 1000:.2f} k instructions)", f"≤ {goal:.2f}×",
                    f"untraced {base / 1000:.2f} k ({kernel})", v / base <= goal)
            else:
                row(label, "not run (pass `--icount`)" if not self.r.get("icount") else "not measured",
                    f"≤ {goal:.2f}×", "—", None)
        ready = [v for v in self.startup("ready_ms") if v is not None]
        bt = [r["ready_ms"] for r in self.r["runs"] if r["config"] in ("bpftrace", "floor") and "ready_ms" in r]
        if ready:
            v = statistics.median(ready)
            row("launch → `Tracing`", f"{v:.0f} ms [{min(ready):.0f}–{max(ready):.0f}]", "≤ 50 ms",
                f"bpftrace on the same hooks: {statistics.median(bt):.0f} ms [{min(bt):.0f}–{max(bt):.0f}]"
                if bt else "—", v <= 50)
        else:
            row("launch → `Tracing`", "not run", "≤ 50 ms", "—", None)
        tl = self.r.get("timeline")
        if tl:
            for fmt in ("text", "chrome"):
                m = tl.get(fmt)
                what = (f"`timeline{' --format chrome' if fmt == 'chrome' else ''}` of "
                        f"{tl['records'] / 1e6:.1f} M records")
                if not m:
                    row(what, "failed", "≤ 300 MB, ≤ 10 s", "—", False)
                    continue
                row(what, f"{mb(m['rss_max_kib'])} MB peak RSS, {m['seconds']:.1f} s", "≤ 300 MB, ≤ 10 s",
                    f"the recording: {tl['bytes'] / 1e9:.2f} GB; {m['cpu_seconds']:.1f} s CPU",
                    m["seconds"] <= 10 and m["rss_max_kib"] <= 300 * 1024)
        else:
            row("`timeline` of 3 M records", "not run", "≤ 300 MB, ≤ 10 s", "—", None)
        return "\n".join(["| measurement | measured | target | anchor, same run | |",
                          "|---|---|---|---|---|"] + rows)

    def hooks(self):
        """The hooks the bpftrace references reproduce, one line."""
        h = self.r.get("hooks")
        if not h:
            return ""
        if not h.get("derived"):
            return f"bpftrace references on {', '.join(h['probes'])} ({h.get('note')})."
        text = (f"bpftrace references on the {len(h['probes'])} hooks `socktrace --json -o FILE` attached "
                f"in this run (`bpftool perf show`): " + ", ".join(f"`{p}`" for p in h["probes"]) + ".")
        if h.get("raw_as_tracepoint"):
            text += (" Its raw (BTF) tracepoints are hooked as plain tracepoints of the same name: this "
                     "bpftrace has no `rawtracepoint` probe.")
        if h.get("skipped"):
            text += f" Not reproducible in bpftrace: {', '.join(h['skipped'])}."
        if h.get("other_programs"):
            text += (f" {h['other_programs']} of socktrace's programs are attached otherwise "
                     "(fentry/fexit links): not reproduced.")
        return text

    def nginx_table(self):
        """Every nginx configuration: requests/s against untraced, the tracer's
        CPU, its records and their bytes, the loss check."""
        if not self.r.get("nginx"):
            return ""
        labels = {c.key: c.label for c in configs.CONFIGS}
        lines = ["| configuration | requests/s ÷ untraced, median [min–max] (n) | requests/s median | "
                 "tracer CPU ms per 1,000 requests: stat (schedstat) | tracer CPU µs per record | "
                 "records per request | JSON bytes per record | lost (sum) | check |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for cfg in ("untraced", "st-json", "st-so-json", "bpftrace", "floor"):
            rs = self.nginx_runs(cfg)
            if not rs:
                continue
            c = self.nginx_cost(cfg)
            ratio = "1 (the anchor)" if cfg == "untraced" else self.nginx_ratio(cfg)[1]
            lost, check = self.check_cells(rs) if cfg != "untraced" else ("", "")

            def f(v, fmt):
                return fmt.format(v) if v is not None else "—"

            cpu = "" if cfg == "untraced" else (f"{f(c['ms_per_1000'], '{:.1f}')} "
                                                f"({f(c['sched_ms_per_1000'], '{:.1f}')})")
            lines.append(f"| {labels.get(cfg, cfg)} | {ratio} | {f(c['rps'], '{:.0f}')} | {cpu} | "
                         f"{f(c['us_per_record'], '{:.2f}')} | {f(c['records_per_request'], '{:.2f}')} | "
                         f"{f(c['bytes_per_record'], '{:.0f}')} | {lost} | {check} |")
        return "\n".join(lines)

    def perf(self):
        """The tracer's profile under nginx: top self entries and stage shares."""
        run = self.r.get("nginx_perf") or {}
        pr = run.get("perf")
        if not pr:
            return ""
        lines = ["| self % | dso | symbol |", "|---|---|---|"]
        for pct, dso, sym in pr["top"]:
            sym = sym if len(sym) <= 100 else sym[:99] + "…"
            lines.append(f"| {pct:.1f} | {dso} | `{sym}` |")
        lines += ["", "| stage (any frame of the call chain) | inclusive % of the tracer's samples |",
                  "|---|---|"]
        for label, v in pr["stages"]:
            lines.append(f"| {label} | {'—' if v is None else f'{v:.1f}'} |")
        return "\n".join(lines)

    # ------------------------------------------------------------ issue 8
    def targets(self):
        """Issue 8's table: each row measured, against its target."""
        rows = []

        def row(what, measured, target, met):
            verdict = "—" if met is None else ("met" if met else "**missed**")
            rows.append(f"| {what} | {measured} | {target} | {verdict} |")

        p1, p2 = (self.ratio_median("st-json", "storm", p) for p in (1, 2))
        b1, b2 = (self.ratio_median("bpftrace", "storm", p) for p in (1, 2))
        if p1 is not None:
            row("`socktrace --json -o FILE`, per socket()+close(), P=1 / P=2",
                f"{p1:.2f}× / {p2:.2f}×" if p2 else f"{p1:.2f}×", "≤ 1.10× / ≤ 1.15×",
                p1 <= 1.10 and (p2 is None or p2 <= 1.15))
        if b1 is not None and p1 is not None:
            row("bpftrace only counting, on the hooks socktrace attaches, P=1 / P=2",
                f"{b1:.2f}× / {b2:.2f}×" if b2 else f"{b1:.2f}×", "beat it while exporting every record",
                p1 < b1 and (p2 is None or b2 is None or p2 < b2))
        f1, f2 = (self.ratio_median("floor", "storm", p) for p in (1, 2))
        if f1 is not None:
            row("the floor: bpftrace, empty programs on the hooks socktrace attaches, P=1 / P=2",
                f"{f1:.2f}× / {f2:.2f}×" if f2 else f"{f1:.2f}×", "(reference)", None)
        by, bso = (self.ratio_median(c, "bystander", 1) for c in ("st-json", "st-so-json"))
        if by is not None:
            row("bystander: open()+close() of /dev/null, socktrace tracing the whole machine "
                "(default / `--births-only`)",
                f"{by:.2f}× / {bso:.2f}×" if bso else f"{by:.2f}×", "≤ 1.02×",
                by <= 1.02 and (bso is None or bso <= 1.02))
        ng = self.nginx_ratios()
        if ng:
            v = statistics.median(x for x, _ in ng)
            row("nginx + wrk `Connection: close`: requests/s traced / untraced",
                f"{v:.3f}× [{min(x for x, _ in ng):.3f}–{max(x for x, _ in ng):.3f}] (n={len(ng)})",
                "≥ 0.97×", v >= 0.97)
        ready = [x for x in self.startup("ready_ms") if x is not None]
        if ready:
            v = statistics.median(ready)
            row("launch → `Tracing` line", f"{v:.0f} ms [{min(ready):.0f}–{max(ready):.0f}]",
                "≤ 25 ms", v <= 25)
        lone = [x for x in self.startup("lone_ms") if x is not None]
        if lone or self.r.get("startup"):
            missing = sum(1 for t in self.r.get("startup", []) if t.get("lone_ms") is None)
            v = max(lone) if lone else None
            row("one lone socket() → its record in the `-o` file (max over trials)",
                (f"{statistics.median(lone):.1f} ms median, {v:.1f} ms max" if lone else "—")
                + (f", **{missing} never seen**" if missing else ""),
                "≤ 20 ms, storms batched", bool(lone) and not missing and v <= 20)
        rss = self.r.get("rss")
        if rss:
            flat = rss.get("anon_growth_2nd_half_kib")
            row(f"VmRSS, default settings, over {rss.get('events', 0) / 1e6:.1f} M records",
                f"{mb(rss['rss_max_kib'])} MB max (idle {mb(rss['baseline']['VmRSS'])}; heap "
                f"{'+' if (flat or 0) >= 0 else ''}{mb(flat)} MB over the 2nd half)",
                "≤ 40 MB, flat", rss["rss_max_kib"] is not None and rss["rss_max_kib"] <= 40 * 1024
                and (flat is None or flat <= 1024))
        tl = self.r.get("timeline")
        for fmt in ("text", "chrome"):
            if tl and tl.get(fmt):
                m = tl[fmt]
                row(f"`socktrace timeline{' --format chrome' if fmt == 'chrome' else ''}` of a recording of "
                    f"{tl['records']:,} records ({tl['bytes'] / 1e9:.2f} GB)",
                    f"{m['seconds']:.1f} s ({m['cpu_seconds']:.1f} s CPU), {mb(m['rss_max_kib'])} MB peak RSS",
                    "≤ 10 s, ≤ 300 MB", m["seconds"] <= 10 and m["rss_max_kib"] <= 300 * 1024)
        pl = self.r.get("pipeline")
        if pl:
            row("Swift pipeline, records/s per core, on the shipped loop (RecordPipeline)",
                f"{pl['records_per_s'] / 1e6:.2f} M ({pl['ns_per_record']} ns/record)", "≥ 2.5 M",
                pl["records_per_s"] >= 2.5e6)
        if not rows:
            return ""
        return "\n".join(["| measurement | measured | target | |", "|---|---|---|---|"] + rows)

    # ------------------------------------------------------------ all rows
    def table(self):
        plist = [1, 2]
        ps = "/".join(f"P={p}" for p in plist)
        cols = ["measurement"] + [f"P={p}: ratio median [min–max]" for p in plist] + [
            f"ns/call median ({ps})", f"worker CPU/call ratio ({ps})",
            f"tracer CPU µs/call ({ps})", f"IRQ work/call ({ps})",
            f"other CPU load, CPUs ({ps})", "lost (sum)", "check"]
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        np_ = len(plist)

        def add(name, values):
            cells = [values.get(i, "") for i in range(1, len(cols))]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")

        labels = {c.key: c.label for c in configs.CONFIGS}
        extra = [
            ("untraced+mix", "mix", f"untraced, mixed ({self.a.mix}, {self.a.fail:.0%} failing)"),
            ("st-json+mix", "mix", f"socktrace --json -o FILE, mixed ({self.a.fail:.0%} failing)"),
            ("st-json+starved", "storm", "loss accounting: `--sockets-only --ring-buffer 1`, "
             "reader SIGSTOPped during the storm"),
            ("untraced+lag", "storm", "untraced, P=1 n≤20000 (partner of the next row)"),
            ("st-json+lag", "storm", "socktrace --json --ring-buffer 64, reader SIGSTOPped "
             "(lagging), nothing dropped"),
        ]
        order = [(c.key, w, (labels[c.key] if w == "storm" else
                             f"{configs.WORKLOADS[w].label}: {labels[c.key]}"))
                 for w in ("storm", "bystander") for c in configs.CONFIGS if w in c.workloads]
        order += extra
        for cfg, workload, label in order:
            rs = [r for r in self.runs if r["config"] == cfg and r.get("workload", "storm") == workload]
            if not rs:
                continue
            ratio_ok = cfg != "st-json+starved"  # no untraced partner
            v = {}
            ns, cpu, tcpu, iwi, oth = [], [], [], [], []
            for i, p in enumerate(plist):
                ratios, note, rp = self.ratios(cfg, workload, p)
                crat = self.ratios(cfg, workload, p, cpu=True)[0]
                if not rp:
                    v[1 + i] = "—"
                    continue
                v[1 + i] = self.ratio_text(cfg, workload, p) if ratio_ok else "—"
                ns.append(med([r["ns_per_call"] for r in rp], "{:.0f}"))
                cpu.append(med(crat) if ratio_ok else "—")
                tcpu.append(med([r["tracer_cpu_ns_per_call"] / 1e3 for r in rp
                                 if "tracer_cpu_ns_per_call" in r], "{:.1f}"))
                iwi.append(med([r.get("irq_work_per_call") for r in rp], "{:.3f}"))
                oth.append(med([r.get("other_load") for r in rp]))
            v[1 + np_], v[2 + np_], v[3 + np_], v[4 + np_], v[5 + np_] = (
                " / ".join(ns), " / ".join(cpu), " / ".join(tcpu), " / ".join(iwi), " / ".join(oth))
            v[6 + np_], v[7 + np_] = self.check_cells(rs)
            add(label, v)

        su = self.r.get("startup", [])
        if su:
            missing = sum(1 for t in su if t.get("lone_ms") is None)
            add("start-up: launch → `Tracing` line, ms", {1: spread(self.startup("ready_ms")),
                                                          7 + np_: f"n={len(su)}"})
            add("start-up: launch → first socket record in FILE, ms",
                {1: spread(self.startup("first_event_ms"))})
            add("latency: one lone socket() (tracer idle) → its record in FILE, ms "
                "(from the record's kernel timestamp)",
                {1: spread(self.startup("lone_ms"), "{:.1f}"),
                 7 + np_: f"**{missing} never seen**" if missing else f"n={len(su)}"})
            add("stop: SIGINT → exit (idle tracer), ms", {1: spread(self.startup("stop_ms"))})
        for rkey in ("rss", "rss_slow"):
            rss = self.r.get(rkey)
            if not rss:
                continue
            what = "memory" if rkey == "rss" else "memory, slow consumer (reader SIGSTOPped 20 ms of every 40)"
            ev = rss.get("events", 0)
            v = {2: f"{mb(rss['baseline']['VmRSS'])} idle → {mb(rss['rss_max_kib'])} max "
                    f"(VmHWM {mb(rss['hwm_kib'])}; ring buffer maps {mb(rss.get('bpf_map_kib'))})",
                 1 + np_: f"{rss['storm']['ns_per_call']:.0f}",
                 6 + np_: str(rss.get("lost", "—")), 7 + np_: str(rss.get("check", "—"))}
            if rss.get("irq_work_per_call") is not None:
                v[4 + np_] = f"{rss['irq_work_per_call']:.3f}"
            if rss.get("tracer_cpu_ns_per_call"):
                v[3 + np_] = f"{rss['tracer_cpu_ns_per_call'] / 1e3:.1f}"
            if rss.get("disturbed_by"):
                v[7 + np_] += "; **disturbed**"
            add(f"{what}: VmRSS MB over {ev / 1e6:.1f}M records ({rss['storm_seconds']:.0f} s)", v)
            marks = rss.get("checkpoints", {})
            add(f"{what}: RssAnon MB (heap) idle, then at % of the storm's time [MB of JSON written by then]",
                {2: f"{mb(rss['baseline']['RssAnon'])} idle; "
                    + ", ".join(f"{k} {mb(m['RssAnon'])} [{m['file_mb']:.0f}]" for k, m in marks.items())})
        pl = self.r.get("pipeline")
        if pl:
            add("Swift pipeline alone (RecordPipeline.consume, the shipped loop), M records/s per core",
                {1: f"{pl['records_per_s'] / 1e6:.2f} ({pl['ns_per_record']} ns/record, "
                    f"{pl['bytes_per_record']} B/record; decode alone "
                    f"{(pl.get('decode_per_s') or 0) / 1e6:.1f} M/s)"})
        return "\n".join(lines)

    @staticmethod
    def check_cells(rs):
        checks = [r.get("check") for r in rs if r.get("check")]
        lost = [r.get("lost") for r in rs if r.get("lost") is not None]
        bad = [c for c in checks if c not in FINE]
        if not checks:
            check = "—"
        elif bad:
            check = f"**{len(bad)}/{len(checks)} {', '.join(sorted(set(bad)))}**"
        else:
            check = f"{', '.join(sorted(set(checks)))} ({len(checks)} runs)"
        nd = sum(1 for r in rs if r.get("disturbed_by"))
        if nd:
            check += f"; **{nd} disturbed**"
        return (str(sum(lost)) if lost else "—"), check

    # ------------------------------------------------------------ programs
    def programs(self):
        """One row per (config, workload, program): runs per workload call, ns
        per run, ns per call; and the sum."""
        prof = [r for r in self.r.get("profile", []) if r.get("programs")]
        if not prof:
            return ""
        lines = ["| config | workload | program | runs/call | ns/run | ns/call |", "|---|---|---|---|---|---|"]
        for r in prof:
            calls = max(r["storm"]["calls"], 1)
            total = 0.0
            rare = []
            for name, v in sorted(r["programs"].items(), key=lambda kv: -kv[1]["ns"]):
                if v["runs"] <= 0:
                    continue
                total += v["ns"] / calls
                if v["runs"] / calls < 0.005:  # other processes' calls: summed below
                    rare.append(v)
                    continue
                lines.append(f"| {r['config'].replace('+profile', '')} | {r['workload']} | `{name}` | "
                             f"{v['runs'] / calls:.2f} | {v['ns'] / v['runs']:.0f} | {v['ns'] / calls:.0f} |")
            if rare:
                lines.append(f"| {r['config'].replace('+profile', '')} | {r['workload']} | {len(rare)} others "
                             f"(other processes' calls) | | | {sum(v['ns'] for v in rare) / calls:.0f} |")
            lines.append(f"| {r['config'].replace('+profile', '')} | {r['workload']} | **all programs** | | | "
                         f"**{total:.0f}** of {r['storm']['ns_per_call']:.0f} per traced call |")
        return "\n".join(lines)

    # ------------------------------------------------------------ docs
    def docs(self):
        """docs/performance.md's generated section: when and where the run
        was made, issue 8's table and the per-program costs."""
        meta = self.r.get("meta", {})
        when = meta.get("date", "an unrecorded date")
        loads = [r["other_load"] for r in self.r["runs"] if "other_load" in r]
        quiet = (f"other CPU load median {statistics.median(loads):.2f} CPUs, max {max(loads):.2f}"
                 if loads else "other CPU load not measured")
        out = [f"Run of {when} on {meta.get('host', 'an unrecorded host')} ({meta.get('cpus', '?')} CPUs, "
               f"Linux {meta.get('kernel', '?')}), {'a quick' if meta.get('quick') else 'a full'} run of "
               f"{self.r.get('seconds', 0):.0f} s, {self.a.rounds} interleaved rounds; {quiet}.",
               f"Tracer: `{meta.get('tracer_version') or self.a.tracer or 'none'}`. Ratios are medians of "
               "per-round ratios against untraced; the spreads are in `results.json` "
               "(`python3 Benchmarks/bench.py --report results.json` prints every table).", ""]
        out += ["Issue 20's targets, each with its anchor from the same run:", "", self.issue20(), ""]
        if self.hooks():
            out += [self.hooks(), ""]
        targets = self.targets()
        if targets:
            out += ["Issue 8's targets:", "", targets, ""]
        programs = self.programs()
        if programs:
            out += ["Each BPF program's cost per call (`kernel.bpf_stats_enabled=1`, run counts and times "
                    "from the tracer's program fds; P=1, separate runs; the stats add about two clock "
                    "reads to each run):", "", programs, ""]
        nginx = self.nginx_table()
        if nginx:
            out += ["nginx + wrk `Connection: close`, every configuration:", "", nginx, ""]
        perf = self.perf()
        if perf:
            out += ["The tracer's profile under nginx (`perf record -g`, one default wrk run):", "", perf, ""]
        checked = [r for r in self.r["runs"] + self.r.get("nginx", []) if r.get("check")]
        checked += [self.r[k] for k in ("rss", "rss_slow") if self.r.get(k) and self.r[k].get("check")]
        bad = [r for r in checked if r["check"] not in FINE]
        if checked:
            out += ["Every socktrace run's records + reported losses equalled the workload's count "
                    f"({len(checked)} runs checked)." if not bad else
                    f"**{len(bad)} of {len(checked)} runs failed the loss check** "
                    f"({', '.join(sorted(set(r['check'] for r in bad)))}).", ""]
        problems = self.r.get("violations") or []
        if problems:
            out += [f"**{len(problems)} problem(s) in this run** (its output lists them): "
                    + "; ".join(f"{where}: {msg}" for where, msg in problems[:5]), ""]
        return "\n".join(out).rstrip() + "\n"


DOCS_BEGIN = "<!-- benchmark tables: begin. Written by Benchmarks/bench.py --docs (run.sh does it on a full run); edit report.py, not these lines. -->"
DOCS_END = "<!-- benchmark tables: end -->"


def replace_section(document, section):
    """The document with what lies between the markers replaced by section."""
    begin = document.find(DOCS_BEGIN)
    end = document.find(DOCS_END)
    if begin < 0 or end < begin:
        raise ValueError("the benchmark markers are missing or out of order")
    return document[:begin + len(DOCS_BEGIN)] + "\n\n" + section.rstrip("\n") + "\n\n" + document[end:]


def write_docs(path, section):
    """Replaces the section between the markers in path, atomically."""
    with open(path, encoding="utf-8") as f:
        document = f.read()
    try:
        updated = replace_section(document, section)
    except ValueError as e:
        raise SystemExit(f"{path}: {e}")
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(updated)
    os.replace(temporary, path)


def run_meta(a):
    """What docs() says about the run: recorded in results.json at the start."""
    import subprocess
    version = ""
    if a.tracer:
        try:
            version = subprocess.run([a.tracer, "--version"], capture_output=True, text=True,
                                     timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            version = ""
    uname = os.uname()
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "host": uname.nodename,
            "kernel": uname.release, "cpus": os.cpu_count(), "quick": bool(a.quick),
            "tracer_version": f"socktrace {version}" if version else ""}
