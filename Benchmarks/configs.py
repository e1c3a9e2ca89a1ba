"""What is measured against what: the tracer configurations and the
workloads of the rounds. To add a row, add a Config (and, if it needs one, a
workload): run.py runs every config on each workload it names, round by
round, against untraced, and report.py prints a row per (config, workload).

A config's `check` says how its output is verified:
  "json"      the -o FILE is counted: records + the end record's `lost` must
              equal the workload's exact count (run.py, check_json);
  "text"      the stderr summary's counts, same rule;
  "bpftrace"  its counters must be at least the workload's calls;
  None        nothing to check (untraced, strace).
"""
import socket
from dataclasses import dataclass

# The bpftrace references hook exactly the tracepoints socktrace attaches:
# run.py (`hooks`) starts `socktrace --json -o FILE` before the rounds, lists
# what it attached (`bpftool perf show`) and sets args.probes. Only when no
# socktrace runs (--no-tracer) are they these 3, its first version's.
FALLBACK_PROBES = ("tracepoint:syscalls:sys_enter_socket", "tracepoint:syscalls:sys_exit_socket",
                   "tracepoint:syscalls:sys_enter_close")


def bpftrace_program(probes, body):
    """BEGIN prints the ready line, then `body` on every probe. A hook
    attached n times (two programs on sched_process_exit) is listed in n
    blocks: bpftrace refuses a probe twice in one list."""
    blocks, left = [], list(probes)
    while left:
        once, again = [], []
        for p in left:
            (again if p in once else once).append(p)
        blocks.append(",".join(once) + " { " + body + " }")
        left = again
    return 'BEGIN { printf("Tracing\\n"); } ' + " ".join(blocks)


def probes(a):
    return getattr(a, "probes", None) or FALLBACK_PROBES


def counting_program(a):
    """bpftrace counting every probe: `@[probe] = count()`."""
    return bpftrace_program(probes(a), "@[probe] = count();")


def floor_program(a):
    """The floor of the mechanism: the same hooks, each with a program that
    does nothing. What a tracer on these hooks cannot go below."""
    return bpftrace_program(probes(a), "")


@dataclass(frozen=True)
class Workload:
    key: str
    label: str
    procs: tuple            # P values it runs with
    mix: str = None         # socket-storm -m
    fail: float = 0.0       # socket-storm -f
    socket_calls: bool = True  # False: the workload makes no socket at all


STORM = Workload("storm", "socket()+close()", (1, 2))
BYSTANDER = Workload("bystander", "bystander: open()+close() of /dev/null, never a socket", (1,),
                     mix="devnull", socket_calls=False)
WORKLOADS = {w.key: w for w in (STORM, BYSTANDER)}


@dataclass(frozen=True)
class Config:
    key: str
    label: str
    check: str = None
    # argv(args, path) -> the tracer's command line (path: its -o FILE), or
    # None for no tracer.
    argv: object = None
    workloads: tuple = ("storm",)
    ready_stream: str = "stderr"   # where the `Tracing` line appears
    text_to_devnull: bool = False  # stdout to /dev/null (the table mode)
    needs: str = "tracer"          # the args attribute that must be set
    reference_only: bool = False   # fewer calls and rounds (strace)


def socktrace(*extra, json_file=True):
    """A socktrace command line: extra options, then --json -o FILE."""
    def argv(a, path):
        return [a.tracer, *extra] + (["--json", "-o", path] if json_file else [])
    return argv


def free_port():
    """A loopback port nobody listens on now (for --metrics)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONFIGS = [
    Config("untraced", "untraced", workloads=("storm", "bystander"), needs=None),
    Config("st-json", "socktrace --json -o FILE", "json", socktrace(),
           workloads=("storm", "bystander")),
    Config("st-text", "socktrace (text) >/dev/null", "text", socktrace(json_file=False),
           text_to_devnull=True),
    Config("st-tp-json", "socktrace --attach tracepoint --json -o FILE", "json",
           socktrace("--attach", "tracepoint")),
    Config("st-so-json", "socktrace --births-only --json -o FILE", "json",
           socktrace("--births-only"), workloads=("storm", "bystander")),
    Config("st-metrics", "socktrace --json -o FILE --metrics 127.0.0.1:PORT", "json",
           lambda a, path: [a.tracer, "--json", "-o", path, "--metrics", f"127.0.0.1:{free_port()}"]),
    Config("bpftrace", "bpftrace counting (`@[probe] = count()`) on the tracepoints socktrace attaches",
           "bpftrace", lambda a, path: [a.bpftrace, "-e", counting_program(a)], ready_stream="stdout",
           needs="bpftrace"),
    Config("floor", "bpftrace, empty programs on the tracepoints socktrace attaches (the floor)",
           None, lambda a, path: [a.bpftrace, "-e", floor_program(a)], ready_stream="stdout",
           needs="bpftrace"),
    Config("strace", "strace -f -o /dev/null (reference)", None, None, needs="strace",
           reference_only=True),
]


def active(a):
    """The configs whose program is there (a tracer built, bpftrace installed)."""
    return [c for c in CONFIGS if c.needs is None or getattr(a, c.needs, None)]
