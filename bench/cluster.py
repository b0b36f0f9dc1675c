#!/usr/bin/env python3
"""Benchmark of cluster mode: the full report locally and on Ballista clusters of
1, 2 and 4 executors started from the same `lgs` binary, on generated data.

    python3 bench/cluster.py [--rows 10000000 100000000] [--executors 1 2 4]
                             [--runs 3] [--lgs target/release/lgs] [--work DIR] [--keep]

For each size: `lgs generate retail --rows N` (seed 1), `lgs ingest` into a fresh
warehouse, then `lgs report --format json --as-of 2012-01-01` as a whole process
(GNU time: wall, CPU of the client process, peak RSS), locally and with
`--cluster df://...`. Every cluster's report is checked equal to the local one
(counts exact, floating point to 1e-9 relative) before its time counts.

The reports run in `--runs` rounds of one report per engine, the order rotated
every round, so that the machine's drift falls on every engine alike; the clusters
are started once and kept paused (SIGSTOP) while another engine runs. Wall / local is the ratio of the
medians; per round is the range of each round's cluster time over that round's
local time.

At equal cores: this machine has 2 cores, so the local run uses both and every
cluster has 2 slots in all (1 executor x 2 slots, 2 x 1, 4 x 1 -- the last
oversubscribes). Written is what the executors wrote during the report (the
`wchar` of /proc/PID/io: the Arrow IPC shuffle files and the intermediates'
Parquet parts; Ballista deletes a job's intermediate shuffle files when the job
ends, so what is left on disk afterwards would undercount); cluster CPU is what
the scheduler and the executors used during the report (from /proc).
"""

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

from timing import timed  # noqa: E402  (bench/timing.py)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def same(a, b, path="report"):
    if isinstance(a, float) or isinstance(b, float):
        assert abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0), f"{path}: {a} vs {b}"
    elif isinstance(a, list):
        assert len(a) == len(b), f"{path}: lengths"
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{path}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{path}: keys"
        for k in a:
            same(a[k], b[k], f"{path}.{k}")
    else:
        assert a == b, f"{path}: {a} vs {b}"


class Cluster:
    """A scheduler and N executors sharing `slots` task slots, stopped on exit."""

    def __init__(self, lgs, executors, slots, work):
        self.procs = []
        self.work_dirs = []
        port = free_port()
        self.url = f"df://127.0.0.1:{port}"
        self.procs.append(subprocess.Popen(
            # A paused cluster (see `pause`) must not take its executors for lost
            # when it resumes: a round at 100M rows outlasts the default 60 s.
            [lgs, "-q", "scheduler", "--bind", f"127.0.0.1:{port}", "--executor-timeout", "3600"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(port)
        per = max(1, slots // executors)
        for i in range(executors):
            flight, grpc = free_port(), free_port()
            wd = os.path.join(work, f"executor-{i}")
            self.work_dirs.append(wd)
            self.procs.append(subprocess.Popen(
                [lgs, "-q", "executor", "--scheduler", f"127.0.0.1:{port}",
                 "--bind", f"127.0.0.1:{flight}", "--grpc-bind", f"127.0.0.1:{grpc}",
                 "--slots", str(per), "--work-dir", wd],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_port(flight)
        time.sleep(1.0)  # executors register with their first poll

    def cpu_seconds(self):
        """CPU time (user + system) the scheduler and executors have used so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for p in self.procs:
            with open(f"/proc/{p.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / ticks

    def written_bytes(self):
        """Bytes the executors have written so far (shuffle files, intermediates)."""
        total = 0
        for p in self.procs[1:]:
            with open(f"/proc/{p.pid}/io") as f:
                total += next(int(l.split()[1]) for l in f if l.startswith("wchar:"))
        return total

    def clear_shuffle(self):
        for w in self.work_dirs:
            for entry in os.listdir(w) if os.path.isdir(w) else []:
                if not entry.startswith("datafusion-"):
                    shutil.rmtree(os.path.join(w, entry), ignore_errors=True)

    def pause(self):
        """Stops the processes (SIGSTOP): an idle cluster still uses some CPU (the
        scheduler's job-id clock ticks every millisecond)."""
        for p in self.procs:
            p.send_signal(signal.SIGSTOP)

    def resume(self):
        for p in self.procs:
            p.send_signal(signal.SIGCONT)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.resume()
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def report_json(lgs, wh, cluster=None):
    argv = [lgs, "-q", "--warehouse", wh, "report", "--format", "json", "--as-of", "2012-01-01"]
    if cluster:
        argv += ["--cluster", cluster]
    return json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout), argv


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, nargs="+", default=[10_000_000])
    p.add_argument("--executors", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--slots", type=int, default=os.cpu_count() or 2,
                   help="task slots of each cluster in all (default: the cores)")
    p.add_argument("--runs", type=int, default=3, help="rounds of reports")
    p.add_argument("--lgs", default=os.path.join(ROOT, "target/release/lgs"))
    p.add_argument("--work", default=None, help="scratch directory (default: a temp dir)")
    p.add_argument("--keep", action="store_true",
                   help="keep each size's warehouse in --work and reuse it in later runs")
    a = p.parse_args()

    work = a.work or tempfile.mkdtemp(prefix="lgs-bench-cluster-")
    try:
        print("| rows | engine | wall s | client CPU s | cluster CPU s | client peak MB "
              "| written MB | wall / local | per round |")
        print("|---|---|---|---|---|---|---|---|---|")
        for rows in a.rows:
            csv = os.path.join(work, f"retail-{rows}.csv")
            wh = os.path.join(work, f"wh-{rows}")
            if not (a.keep and os.path.isdir(os.path.join(wh, "retail"))):
                shutil.rmtree(wh, ignore_errors=True)
                subprocess.run([a.lgs, "-q", "generate", "retail", "--rows", str(rows),
                                "--seed", "1", "--out", csv], check=True)
                subprocess.run([a.lgs, "-q", "--warehouse", wh, "ingest", csv], check=True)
                os.remove(csv)
            expected, local_argv = report_json(a.lgs, wh)
            with contextlib.ExitStack() as stack:
                clusters = {}
                for n in a.executors:
                    cw = os.path.join(work, f"cluster-{rows}-{n}")
                    stack.callback(shutil.rmtree, cw, ignore_errors=True)
                    cluster = stack.enter_context(Cluster(a.lgs, n, a.slots, cw))
                    got, argv = report_json(a.lgs, wh, cluster.url)
                    same(expected, got)
                    cluster.clear_shuffle()
                    cluster.pause()
                    clusters[n] = (cluster, argv)
                # Rounds of one report per engine, the order rotated every round:
                # the machine's drift (tens of percent over minutes on a shared
                # virtual machine) falls on every engine alike, and each round's
                # cluster time is also compared with that round's local time.
                engines = ["local", *a.executors]
                samples = {e: [] for e in engines}
                server_cpu = {n: [] for n in a.executors}
                written = {n: [] for n in a.executors}
                for r in range(a.runs):
                    for e in engines[r % len(engines):] + engines[:r % len(engines)]:
                        if e == "local":
                            samples[e].append(timed(local_argv))
                            continue
                        cluster, argv = clusters[e]
                        cluster.resume()
                        time.sleep(0.5)  # heartbeats missed while paused
                        before, wrote = cluster.cpu_seconds(), cluster.written_bytes()
                        samples[e].append(timed(argv))
                        server_cpu[e].append(cluster.cpu_seconds() - before)
                        written[e].append(cluster.written_bytes() - wrote)
                        cluster.clear_shuffle()
                        cluster.pause()

            def med(e, i):
                return statistics.median(s[i] for s in samples[e])

            local = med("local", 0)
            print(f"| {rows:,} | local ({a.slots} threads) | {local:.2f} | {med('local', 1):.2f} "
                  f"| | {med('local', 2):.0f} | | 1.00 | |", flush=True)
            for n in a.executors:
                per = max(1, a.slots // n)
                rounds = [c[0] / l[0] for c, l in zip(samples[n], samples["local"])]
                print(f"| {rows:,} | cluster: {n} executor{'s' if n > 1 else ''} x {per} "
                      f"slot{'s' if per > 1 else ''} | {med(n, 0):.2f} | {med(n, 1):.2f} "
                      f"| {statistics.median(server_cpu[n]):.2f} | {med(n, 2):.0f} "
                      f"| {statistics.median(written[n]) / 1e6:.0f} | {med(n, 0) / local:.2f} "
                      f"| {min(rounds):.2f}-{max(rounds):.2f} |", flush=True)
            if not a.keep:
                shutil.rmtree(wh, ignore_errors=True)
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
