#!/usr/bin/env python3
"""Benchmark: past memory. lgs ingests and reports on generated data under
`--memory-limit`, and pandas tries the same work within the same budget.

    python3 bench/beyond_memory.py [--rows 100000000] [--check-rows 10000000]
                                   [--limit 2GB] [--budget-mb 3072] [--work DIR]
                                   [--python PY] [--lgs PATH]

1. `lgs --memory-limit LIMIT ingest` of the CSV into an empty warehouse, then
   `lgs --memory-limit LIMIT report`: wall time and peak resident memory of each
   process (the whole process tree, sampled, and GNU time's maximum).
2. Identity at --check-rows: the report under the limit equals the unlimited one
   (counts exact, floating point to 1e-9 relative; byte equality is also shown).
3. pandas (bench/pandas_report.py, the team's previous solution) on the same CSV in a
   memory cgroup of --budget-mb (needs root and cgroup v1's memory controller; the
   kernel kills the process when it needs more): where it fails, after how long.

Generated data comes from `lgs generate retail --seed 1` and is reused from --work
(the same files as bench/peers.py).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from peers import check_equal  # noqa: E402
from timing import tree_timed  # noqa: E402

CGROUP = "/sys/fs/cgroup/memory"


def generated(lgs, work, rows):
    path = os.path.join(work, f"{rows // 1_000_000}M.csv")
    if not os.path.exists(path):
        subprocess.run([lgs, "--quiet", "generate", "retail", "--rows", str(rows), "--seed", "1",
                        "--out", path + ".tmp"], check=True)
        os.rename(path + ".tmp", path)
    return path


def run(argv, out=None):
    with open(out or os.devnull, "wb") as f:
        wall, cpu, peak, code = tree_timed(argv, stdout=f)
    if code != 0:
        raise SystemExit(f"failed ({code}): {' '.join(argv)}")
    return wall, cpu, peak


def lgs_run(a, csv, wh, limit, out):
    shutil.rmtree(wh, ignore_errors=True)
    lim = ["--memory-limit", limit] if limit else []
    ingest = run([a.lgs, "--quiet", "--warehouse", wh, *lim, "ingest", csv])
    report = run([a.lgs, "--quiet", "--warehouse", wh, *lim, "report", "--format", "json",
                  "--as-of", "2012-01-01"], out)
    return ingest, report


def in_cgroup(argv, budget_mb):
    """Runs argv in a fresh memory cgroup of budget_mb; (wall, peak MB, failcnt, exit code)."""
    group = os.path.join(CGROUP, f"lgs-bench-{os.getpid()}")
    os.makedirs(group)
    try:
        with open(os.path.join(group, "memory.limit_in_bytes"), "w") as f:
            f.write(str(budget_mb * 2**20))
        wrapped = ["sh", "-c", f'echo $$ > {group}/cgroup.procs && exec "$@"', "sh", *argv]
        wall, _, _, code = tree_timed(wrapped, stderr=subprocess.DEVNULL)
        with open(os.path.join(group, "memory.max_usage_in_bytes")) as f:
            peak = int(f.read()) / 2**20
        return wall, peak, code
    finally:
        os.rmdir(group)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    p.add_argument("--lgs", default=os.path.join(target, "release", "lgs"))
    p.add_argument("--python", default=os.path.expanduser("~/.cache/lgs-tools/peers-venv/bin/python"))
    p.add_argument("--rows", type=int, default=100_000_000)
    p.add_argument("--check-rows", type=int, default=10_000_000)
    p.add_argument("--limit", default="2GB")
    p.add_argument("--budget-mb", type=int, default=3072)
    p.add_argument("--work", default=os.path.join(ROOT, "target", "bench-peers"))
    p.add_argument("--skip-pandas", action="store_true")
    a = p.parse_args()
    os.makedirs(a.work, exist_ok=True)
    wh = os.path.join(a.work, "wh-limited")

    print("| rows | step | --memory-limit | wall s | CPU s | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    big = generated(a.lgs, a.work, a.rows)
    (iw, ic, ip), (rw, rc, rp) = lgs_run(a, big, wh, a.limit, os.path.join(a.work, "limited-big.json"))
    print(f"| {a.rows:,} | lgs ingest | {a.limit} | {iw:.1f} | {ic:.1f} | {ip:.0f} |")
    print(f"| {a.rows:,} | lgs report | {a.limit} | {rw:.1f} | {rc:.1f} | {rp:.0f} |", flush=True)

    small = generated(a.lgs, a.work, a.check_rows)
    outs = {}
    for limit in [None, a.limit]:
        out = os.path.join(a.work, f"check-{limit or 'free'}.json")
        (iw, ic, ip), (rw, rc, rp) = lgs_run(a, small, wh, limit, out)
        for step, (w, c, m) in [("lgs ingest", (iw, ic, ip)), ("lgs report", (rw, rc, rp))]:
            print(f"| {a.check_rows:,} | {step} | {limit or 'none'} | {w:.1f} | {c:.1f} | {m:.0f} |")
        with open(out, "rb") as f:
            outs[limit] = f.read()
    shutil.rmtree(wh, ignore_errors=True)
    check_equal(json.loads(outs[None]), json.loads(outs[a.limit]))
    print(f"\nidentity at {a.check_rows:,} rows: the report under --memory-limit {a.limit} equals the "
          f"unlimited one ({'byte for byte' if outs[None] == outs[a.limit] else 'to 1e-9'})")

    if not a.skip_pandas:
        if os.geteuid() != 0 or not os.path.isdir(CGROUP):
            print("pandas: skipped (needs root and cgroup v1 memory controller)")
            return
        argv = [a.python, os.path.join(HERE, "pandas_report.py"), "both", big]
        wall, peak, code = in_cgroup(argv, a.budget_mb)
        what = "finished" if code == 0 else ("killed by the kernel (out of memory)" if code in (137, -9)
                                             else f"failed (exit {code})")
        print(f"\npandas on {a.rows:,} rows within {a.budget_mb} MB: {what} after {wall:.1f} s, "
              f"peak {peak:.0f} MB")


if __name__ == "__main__":
    main()
