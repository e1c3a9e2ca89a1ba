#!/usr/bin/env python3
"""What a metrics-only service costs a web server: `socktrace serve --metrics`
(nothing else) beside Debian's nginx (1 worker, a small file) loaded by wrk
with `Connection: close` on loopback, in interleaved rounds.

usage: sudo metrics-only-nginx.py [--rounds N] [--seconds S] NAME=SOCKTRACE...

For each round, in a shuffled order: wrk untraced, then wrk with each
SOCKTRACE running `serve --metrics 127.0.0.1:PORT` (scraped every second, as
Prometheus would at its busiest). Prints per run requests/s, the tracer's CPU
(user+sys from /proc/PID/stat, and the scheduler's ns of its threads from
/proc/PID/task/*/schedstat)
per 1,000 requests, and checks that the births the metrics counted for nginx
equal nginx's own accept counter (stub_status) with nothing lost. Then the
medians: requests/s traced / untraced of the same round, and CPU per 1,000.
"""
import argparse
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET " + path.encode() + b" HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.split(b"\r\n\r\n", 1)[1].decode()


def accepts(port):
    m = re.search(r"\n\s*(\d+)\s+(\d+)\s+(\d+)", http_get(port, "/status"))
    return int(m.group(1))


def cpu(pid):
    """(user+sys seconds from /proc/PID/stat, on-CPU seconds of every thread from schedstat)"""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ns = 0
    for task in os.listdir("/proc/%d/task" % pid):  # every thread: the listener's too
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, task)) as f:
                ns += int(f.read().split()[0])
        except OSError:
            pass
    return (int(fields[11]) + int(fields[12])) / TICK, ns / 1e9


def metric_sum(text, name, **labels):
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all('%s="%s"' % (k, v) in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("tracers", nargs="+", help="NAME=PATH")
    a = ap.parse_args()
    tracers = dict(t.split("=", 1) for t in a.tracers)
    d = tempfile.mkdtemp(prefix="socktrace-kmb-")
    os.makedirs(os.path.join(d, "www"))
    os.makedirs(os.path.join(d, "logs"))
    with open(os.path.join(d, "www", "index.html"), "w") as f:
        f.write("<p>socktrace benchmark</p>\n" * 4)
    port = free_port()
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write("""daemon off;
worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:%(port)d;
    root %(d)s/www;
    location = /status { stub_status; }
  }
}
""" % {"d": d, "port": port})
    nginx = subprocess.Popen(["nginx", "-p", d, "-c", os.path.join(d, "nginx.conf")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = "http://127.0.0.1:%d/index.html" % port
    results = []
    try:
        for _ in range(200):
            try:
                accepts(port)
                break
            except OSError:
                time.sleep(0.05)
        subprocess.run(["wrk", "-t1", "-c8", "-d1s", "-H", "Connection: close", url], capture_output=True)
        rng = random.Random(1)
        for rnd in range(1, a.rounds + 1):
            order = ["untraced"] + list(tracers)
            rng.shuffle(order)
            for name in order:
                results.append(dict(run(a, name, tracers.get(name), url, port, d), round=rnd))
                r = results[-1]
                print("round %d %-9s %8.0f req/s  %s" % (
                    rnd, name, r["rps"],
                    "" if name == "untraced" else
                    "tracer %.3f ms (stat) %.3f ms (schedstat) per 1000 req; nginx accepts %d, counted %d, lost %d, records read %d"
                    % (r["stat_ms_per_k"], r["sched_ms_per_k"], r["accepts"], r["counted"], r["lost"], r["read"])),
                    flush=True)
    finally:
        nginx.terminate()
        nginx.wait(10)
        shutil.rmtree(d, ignore_errors=True)
    print()
    for name in tracers:
        ratios = []
        for rnd in range(1, a.rounds + 1):
            base = [r for r in results if r["round"] == rnd and r["name"] == "untraced"][0]
            traced = [r for r in results if r["round"] == rnd and r["name"] == name][0]
            ratios.append(traced["rps"] / base["rps"])
        mine = [r for r in results if r["name"] == name]
        ok = all(r["accepts"] == r["counted"] and r["lost"] == 0 for r in mine)
        print("%-9s requests/s traced/untraced median %.3f [%.3f-%.3f]; tracer CPU per 1000 requests median "
              "%.3f ms (stat) %.3f ms (schedstat); counts exact in every run: %s" % (
                  name, statistics.median(ratios), min(ratios), max(ratios),
                  statistics.median(r["stat_ms_per_k"] for r in mine),
                  statistics.median(r["sched_ms_per_k"] for r in mine), ok))


def run(a, name, binary, url, port, d):
    tracer = None
    mport = free_port()
    if binary:
        err = open(os.path.join(d, "tracer.err"), "w+")
        tracer = subprocess.Popen([binary, "serve", "--metrics", "127.0.0.1:%d" % mport],
                                  stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.time() + 60
        while time.time() < deadline:
            err.seek(0)
            if "Tracing" in err.read():
                break
            time.sleep(0.05)
        time.sleep(0.5)
    a0 = accepts(port)
    time.sleep(0.6)  # its own accept published (records: at most every 250 ms)
    before_text = http_get(mport, "/metrics") if tracer else ""
    c0 = cpu(tracer.pid) if tracer else None
    stop = threading.Event()

    def scraper():
        while not stop.wait(1.0):
            http_get(mport, "/metrics")

    thread = threading.Thread(target=scraper) if tracer else None
    if thread:
        thread.start()
    out = subprocess.run(["wrk", "-t1", "-c%d" % a.connections, "-d%ds" % a.seconds, "-H", "Connection: close",
                          url], capture_output=True, text=True).stdout
    if thread:
        stop.set()
        thread.join()
    a1 = accepts(port)
    r = {"name": name, "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
         "requests": int(re.search(r"(\d+) requests in", out).group(1))}
    if tracer:
        time.sleep(0.6)  # the last records (or counts) published
        text = http_get(mport, "/metrics")
        c1 = cpu(tracer.pid)
        k = (a1 - a0) / 1000.0
        r["stat_ms_per_k"] = (c1[0] - c0[0]) * 1e3 / k
        r["sched_ms_per_k"] = (c1[1] - c0[1]) * 1e3 / k
        r["accepts"] = a1 - a0
        births = lambda t: metric_sum(t, "socktrace_socket_births_total", comm="nginx", family="AF_INET", result="ok")
        r["counted"] = int(births(text) - births(before_text))
        r["lost"] = int(metric_sum(text, "socktrace_lost_events_total"))
        r["read"] = int(metric_sum(text, "socktrace_records_read_total"))
        tracer.send_signal(2)
        tracer.wait(60)
    return r


if __name__ == "__main__":
    sys.exit(main())
