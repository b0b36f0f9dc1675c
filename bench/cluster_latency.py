#!/usr/bin/env python3
"""Latency of one query on a Ballista cluster: many trivial queries in one session.

    python3 bench/cluster_latency.py --warehouse WH [--queries 30] [--runs 3]
                                     [--lgs target/release/lgs ...]

Sends `--queries` copies of a query that reads next to nothing (its filter is
answered from the Parquet statistics) through one `lgs shell` session, locally
and on a 1 executor x 2 slots cluster on 127.0.0.1, and prints the time per
query: what a job costs beyond its work (submission, planning, task launch,
status updates, fetching the result). Several `--lgs` binaries are run
alternately, each against a cluster of its own, so that they see the same
machine.
"""

import argparse
import contextlib
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import ROOT, Cluster  # noqa: E402  (bench/cluster.py)

QUERY = "SELECT count(*) FROM retail WHERE quantity > 1000000000;\n"


def per_query_ms(lgs, warehouse, queries, cluster=None):
    argv = [lgs, "-q", "--warehouse", warehouse, "shell"]
    if cluster:
        argv += ["--cluster", cluster]
    started = time.time()
    subprocess.run(argv, input=QUERY * queries, text=True, check=True,
                   stdout=subprocess.DEVNULL)
    return (time.time() - started) * 1000 / queries


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--warehouse", required=True)
    p.add_argument("--queries", type=int, default=30)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--lgs", nargs="+", default=[os.path.join(ROOT, "target/release/lgs")])
    p.add_argument("--work", default="/tmp/lgs-bench-latency")
    a = p.parse_args()
    print("| binary | run | local ms per query | cluster 1 x 2 ms per query |")
    print("|---|---|---|---|")
    with contextlib.ExitStack() as stack:
        clusters = {lgs: stack.enter_context(Cluster(lgs, 1, 2, os.path.join(a.work, str(i))))
                    for i, lgs in enumerate(a.lgs)}
        for run in range(1, a.runs + 1):
            for lgs in a.lgs:
                local = per_query_ms(lgs, a.warehouse, a.queries)
                remote = per_query_ms(lgs, a.warehouse, a.queries, clusters[lgs].url)
                print(f"| {lgs} | {run} | {local:.1f} | {remote:.1f} |", flush=True)


if __name__ == "__main__":
    main()
