#!/usr/bin/env python3
"""docs/clickhouse.md against ClickHouse's engine (chDB, PyPI's `chdb`): a
real recording (the tracer on the project's workload, made here) loaded into
the tables the document gives, with the statements it gives; no line
rejected, every field of schema.json in a typed column, and the documented
queries answering what the workload says it did.

usage: test_clickhouse.py SOCKTRACE WORKLOAD
Ends on "N passed, N failed".
"""
import collections
import errno as errnos
import json
import os
import re
import socket
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Tests", "pylib"))
from testkit import run_tests  # noqa: E402

SOCKTRACE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build", "debug", "socktrace")
WORKLOAD = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, ".build", "debug", "socktrace-workload")
DOC = os.path.join(ROOT, "docs", "clickhouse.md")
WORK = tempfile.mkdtemp(prefix="socktrace-clickhouse-")
TRACER_RECORDS = re.compile(r'^\{"event":"(start|end|lost)"')
# The loader's settings (docs/clickhouse.md): a field the table lacks is an error.
SETTINGS = "input_format_skip_unknown_fields = 0, input_format_allow_errors_num = 0, " \
           "input_format_allow_errors_ratio = 0, date_time_input_format = 'best_effort'"


def statements():
    """The document's SQL blocks by their `-- name:`."""
    with open(DOC) as handle:
        text = handle.read()
    blocks = {}
    for block in re.findall(r"```sql\n(.*?)```", text, re.S):
        name = re.match(r"-- name: (\w+)\n", block)
        assert name, "an SQL block without a name: " + block[:80]
        blocks[name.group(1)] = block[name.end():]
    return blocks


class Fixture:
    """One recording, loaded once; the truth the workload printed."""

    def __init__(self):
        from chdb import session
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.path = os.path.join(WORK, "events.jsonl")
        run = subprocess.run(
            [SOCKTRACE, "--json", "-o", self.path, "--", WORKLOAD,
             "lifecycle-port=%d" % self.port, "inet-stream", "bad-family", "socketpair", "inet6-dgram"],
            capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        self.truth = [json.loads(line) for line in run.stdout.splitlines()]
        with open(self.path) as handle:
            self.lines = handle.read().splitlines()
        self.records = [json.loads(line) for line in self.lines]
        assert self.records[-1]["event"] == "end" and self.records[-1]["lost"] == 0, self.records[-1]
        self.session = session.Session(os.path.join(WORK, "chdb"))
        sql = statements()
        for name in ("create_database", "create_records", "create_runs"):
            self.session.query(sql[name])
        # The document's split: tracer records to runs, the rest to records.
        parts = {"runs": [], "records": []}
        for line in self.lines:
            parts["runs" if TRACER_RECORDS.match(line) else "records"].append(line)
        for table, lines in parts.items():
            part = os.path.join(WORK, table + ".jsonl")
            with open(part, "w") as handle:
                handle.write("\n".join(lines) + "\n")
            self.session.query("INSERT INTO socktrace.%s SELECT * FROM file('%s', 'JSONEachRow') SETTINGS %s"
                               % (table, part, SETTINGS))
        self.parts = parts

    def query(self, sql):
        result = self.session.query(sql, "JSONEachRow")
        text = result.bytes().decode() if hasattr(result, "bytes") else str(result)
        return [json.loads(line) for line in text.splitlines() if line.strip()]


FIXTURE = None


def fixture():
    global FIXTURE
    if FIXTURE is None:
        FIXTURE = Fixture()
    return FIXTURE


def births(records):
    return [r for r in records if r["event"] in ("socket", "socketpair", "accept")]


def test_every_line_loads_into_a_typed_column():
    f = fixture()
    counts = {t: int(f.query("SELECT count() AS n FROM socktrace.%s" % t)[0]["n"]) for t in ("records", "runs")}
    assert counts == {t: len(lines) for t, lines in f.parts.items()}, (counts, len(f.lines))
    assert counts["records"] + counts["runs"] == len(f.lines) and counts["runs"] == 2, counts
    # Every field of every record in the recording has a column of its own...
    columns = {(c["table"], c["name"]): c["type"] for c in f.query(
        "SELECT table, name, type FROM system.columns WHERE database = 'socktrace'")}
    for record, line in zip(f.records, f.lines):
        table = "runs" if TRACER_RECORDS.match(line) else "records"
        for key in record:
            assert (table, key) in columns, "no column for %s.%s" % (table, key)
    # ... typed: numbers (64-bit ones written as strings too) in integer
    # columns, nullable where the schema allows null.
    with open(os.path.join(ROOT, "docs", "schema.json")) as handle:
        defs = json.load(handle)["$defs"]
    checked = 0
    for kind, definition in defs.items():
        properties = {}
        for part in [definition] + definition.get("allOf", []):
            if "$ref" in part:
                part = defs[part["$ref"].split("/")[-1]]
            for sub in [part] + part.get("allOf", []):
                if "$ref" in sub:
                    sub = defs[sub["$ref"].split("/")[-1]]
                properties.update(sub.get("properties", {}))
        if kind not in ("socket", "socketpair", "accept", "release", "fork", "exec", "exit", "bind", "connect",
                        "listen", "shutdown", "connect_result", "start", "end", "lost"):
            continue
        table = "runs" if kind in ("start", "end", "lost") else "records"
        for name, spec in properties.items():
            column = columns.get((table, name))
            assert column, "schema field %s.%s has no column in socktrace.%s" % (kind, name, table)
            text = json.dumps(spec)
            if '"$ref": "#/$defs/u64"' in text or '"$ref": "#/$defs/u32"' in text or '"integer"' in text:
                if "array" not in text and "object" not in text:
                    assert re.search(r"U?Int\d+", column), (kind, name, column)
            if '"null"' in text and not column.startswith("Array"):
                assert "Nullable" in column, (kind, name, column, "the schema allows null")
            if '"boolean"' in text and "object" not in text:
                assert "Bool" in column, (kind, name, column)
            checked += 1
    assert checked > 100, checked
    # Values arrive, not defaults: per column, the non-null count and a sum agree with Python's.
    nonnull = f.query("SELECT " + ", ".join(
        "countIf(%s IS NOT NULL) AS %s" % (name, name) for (table, name), kind in columns.items()
        if table == "records" and kind.startswith(("Nullable", "LowCardinality(Nullable")))
        + " FROM socktrace.records")[0]
    plain = [json.loads(line) for line in f.parts["records"]]
    for name, count in nonnull.items():
        want = sum(1 for r in plain if r.get(name) is not None)
        assert int(count) == want, (name, count, want)
    sums = f.query("SELECT toString(sum(ts_ns)) AS ts, toString(sum(ifNull(inode, 0))) AS inode, "
                   "sum(length(flags)) AS flags, sum(length(argv)) AS argv FROM socktrace.records")[0]
    assert int(sums["ts"]) == sum(int(r["ts_ns"]) for r in plain), sums
    assert int(sums["inode"]) == sum(int(r["inode"]) for r in plain if r.get("inode")), sums
    assert int(sums["flags"]) == sum(len(r.get("flags", [])) for r in plain), sums
    assert int(sums["argv"]) == sum(len(r.get("argv", [])) for r in plain), sums
    start = f.query("SELECT host, length(hooks) AS hooks, filters.failed AS failed, pid_namespace.level AS level "
                    "FROM socktrace.runs WHERE event = 'start'")[0]
    assert start == {"host": f.records[0]["host"], "hooks": len(f.records[0]["hooks"]), "failed": False,
                     "level": 0}, start


def test_births_per_container_minute():
    f = fixture()
    rows = f.query(statements()["births_per_container_minute"])
    per_container = collections.Counter()
    failed = collections.Counter()
    for row in rows:
        per_container[row["container"]] += int(row["births"])
        failed[row["container"]] += int(row["failed"])
    made = [t for t in f.truth if t["op"] in ("socket", "socketpair", "accept")]
    assert dict(per_container) == {"(host)": len(made)}, (dict(per_container), len(made))
    assert dict(failed) == {"(host)": sum(1 for t in made if t["errno"] != 0)}, dict(failed)


def test_failures_by_cause():
    f = fixture()
    rows = f.query(statements()["failures_by_cause"])
    got = {(row["event"], row["error"]): int(row["calls"]) for row in rows}
    want = collections.Counter((t["op"], errnos.errorcode[t["errno"]]) for t in f.truth
                               if t.get("errno") and t["op"] not in ("close", "unsupported"))
    # The workload's failures: a family that does not exist, a non-blocking
    # connect in progress, and its outcome (refused).
    assert ("socket", "EAFNOSUPPORT") in want and ("connect_result", "ECONNREFUSED") in want, want
    assert got == dict(want), (got, dict(want))


def test_who_connects_to_port():
    f = fixture()
    rows = f.query(statements()["who_connects_to_port"].replace("{port:UInt32}", str(f.port)))
    connects = [t for t in f.truth if t["op"] == "connect" and t.get("port") == f.port]
    assert len(connects) >= 1, f.truth
    assert len(rows) == 1, rows
    row = rows[0]
    assert (row["pid"], row["comm"], int(row["connects"])) == (connects[0]["pid"], "socktrace-workl", len(connects))
    assert row["addresses"] == ["127.0.0.1:%d" % f.port], row


def test_longest_lived_sockets():
    f = fixture()
    rows = f.query(statements()["longest_lived_sockets"])
    assert rows, "no socket joined to its release"
    # Python's answer for the same records: birth to the first release after it.
    released = collections.defaultdict(list)
    for r in f.records:
        if r["event"] == "release":
            released[r["inode"]].append(int(r["ts_ns"]))
    lived = {}
    for b in births(f.records):
        if b.get("inode"):
            after = [t for t in released.get(b["inode"], []) if t > int(b["ts_ns"])]
            if after:
                lived[b["inode"]] = min(after) - int(b["ts_ns"])
    top = sorted(lived.items(), key=lambda item: -item[1])[:10]
    assert [(str(row["inode"]), int(row["lived_ns"])) for row in rows] == top, (rows[:3], top[:3])
    # What the workload knows: a listener outlives the connections it accepted,
    # so the longest-lived socket is one of its listeners.
    listeners = {str(t["inode"]) for t in f.truth if t["op"] == "listen" and t["ret"] == 0}
    assert str(rows[0]["inode"]) in listeners, (rows[0], listeners)


def main():
    return run_tests(globals())


if __name__ == "__main__":
    sys.exit(main())
