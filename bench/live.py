#!/usr/bin/env python3
"""Benchmark (issue 27): what the live state buys.

Two warehouses hold the same lines (the real file, or --rows generated lines): A
keeps the live state (`lgs live`), B does not. Then, interleaved, --runs times:

1. a drop of --drop-rows new lines is ingested into each (A's ingest brings the
   state along: the difference is the refresh, in proportion to the drop);
2. `lgs report --format json` on A (reads the state), on A with `--recompute`
   (reads every line) and on B; A's two reports must be equal, byte for byte.

Whole processes, wall time; medians. `lgs live` (the first build of the state)
is timed once.

    python3 bench/live.py [--rows 0 (the real file) | 10000000] [--runs 3]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(argv, **kw):
    started = time.perf_counter()
    out = subprocess.run(argv, check=True, capture_output=True, **kw)
    return time.perf_counter() - started, out.stdout


def lines_file(lgs, rows, work):
    """The real file (rows 0), or `rows` generated lines (made once in `work`)."""
    if not rows:
        return os.path.join(ROOT, "data", "online_retail_II.csv.zst")
    base = os.path.join(work, f"base-{rows}.csv")
    if not os.path.exists(base):
        run([lgs, "--quiet", "generate", "retail", "--rows", str(rows), "--seed", "1",
             "--out", base])
    return base


def ingested(lgs, rows, work):
    """The lines file and a fresh warehouse `work/wh-ROWS` holding it."""
    base = lines_file(lgs, rows, work)
    wh = os.path.join(work, f"wh-{rows}")
    shutil.rmtree(wh, ignore_errors=True)
    run([lgs, "--warehouse", wh, "--quiet", "ingest", base])
    return base, wh


def main():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--lgs", default=os.path.join(target, "release", "lgs"))
    ap.add_argument("--rows", type=int, default=0, help="0: the real file")
    ap.add_argument("--drop-rows", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", default="/tmp/lgs-live-bench")
    ap.add_argument("--json")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    lgs = args.lgs
    base = lines_file(lgs, args.rows, args.work)
    a, b = (os.path.join(args.work, f"wh-{n}-{args.rows}") for n in "ab")
    for wh in (a, b):
        shutil.rmtree(wh, ignore_errors=True)
        run([lgs, "--warehouse", wh, "--quiet", "ingest", base])
    live_seconds, out = run([lgs, "--warehouse", a, "live", "--format", "json"])
    built = json.loads(out)
    print(f"lines: {'the real file' if not args.rows else f'{args.rows:,} generated'}; "
          f"lgs live built the state ({built['rows_written']:,} rows) in {live_seconds:.2f} s "
          f"(process), {built['seconds']:.2f} s (its own clock)", flush=True)
    samples = {"ingest_a": [], "ingest_b": [], "report_a": [], "recompute_a": [],
               "report_b": []}
    for r in range(args.runs):
        drop = os.path.join(args.work, f"drop-{r}.csv")
        run([lgs, "--quiet", "generate", "retail", "--rows", str(args.drop_rows),
             "--seed", str(100 + r), "--out", drop])
        for key, wh in (("ingest_a", a), ("ingest_b", b)):
            samples[key].append(run([lgs, "--warehouse", wh, "--quiet", "ingest", drop])[0])
        reports = {}
        for key, wh, extra in (("report_a", a, []), ("recompute_a", a, ["--recompute"]),
                               ("report_b", b, [])):
            seconds, out = run([lgs, "--warehouse", wh, "--quiet", "report", "--format",
                                "json", *extra])
            samples[key].append(seconds)
            reports[key] = out
        assert reports["report_a"] == reports["recompute_a"], "the state's report differs"
        print(f"  run {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in samples.items()),
              flush=True)
    med = {k: statistics.median(v) for k, v in samples.items()}
    print(f"medians: ingest of {args.drop_rows:,} lines with the state {med['ingest_a']:.2f} s, "
          f"without {med['ingest_b']:.2f} s; report over the state {med['report_a']:.2f} s, "
          f"--recompute {med['recompute_a']:.2f} s, without a state {med['report_b']:.2f} s "
          f"(x{med['recompute_a'] / med['report_a']:.2f})", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": args.rows, "drop_rows": args.drop_rows,
                       "live_seconds": live_seconds, "state_rows": built["rows_written"],
                       "medians": med, "samples": samples}, f, indent=1)


if __name__ == "__main__":
    main()
