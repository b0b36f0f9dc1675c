#!/usr/bin/env python3
"""Benchmark: lgs against DuckDB on the LGS report, side by side in one run.

Scenarios (each tool doing the same work from the same file):
  report   the full report from each tool's own storage
           (lgs: the Delta warehouse; DuckDB: its database file)
  csv      ingest the CSV into that storage, then the full report
  memory   peak RSS of `lgs ingest` on the file and on a file 10x larger

Before any time counts, DuckDB's results are checked equal to lgs's (counts exact,
floating point to 1e-9 relative). Times are medians of --runs runs of the whole
process (wall, user+sys CPU), peak RSS from GNU time.

    python3 bench/run.py [--runs 5] [--lgs target/release/lgs] [--data FILE]
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DUCK = [sys.executable, os.path.join(HERE, "duckdb_report.py")]


def timed(cmd):
    """Runs cmd (a list or a shell string); returns (wall s, cpu s, peak RSS MB,
    in-process s as the DuckDB script reports it, or None)."""
    with tempfile.NamedTemporaryFile("r") as f:
        argv = cmd if isinstance(cmd, list) else ["sh", "-c", cmd]
        done = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", f.name, *argv],
                              check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall, user, sys_, rss = f.read().split()[-4:]
        inner = re.search(r"([0-9.]+) s in process", done.stderr)
        return (float(wall), float(user) + float(sys_), int(rss) / 1024,
                float(inner.group(1)) if inner else None)


def median_of(runs, cmd, before=None):
    samples = []
    for _ in range(runs):
        if before:
            before()
        samples.append(timed(cmd))
    return tuple(None if samples[0][i] is None else statistics.median(s[i] for s in samples)
                 for i in range(4))


def close(a, b, what):
    if a == b or (a is not None and b is not None and abs(a - b) <= 1e-9 * max(abs(a), abs(b))):
        return
    raise SystemExit(f"MISMATCH {what}: lgs {a} != duckdb {b}")


def check_equal(lgs, duck):
    for part in ["invoice_amount", "invoice_amount_trimmed"]:
        for key, value in duck[part].items():
            close(lgs[part][key], value, f"{part}.{key}")
    assert len(lgs["monthly"]) == len(duck["monthly"]), "month count"
    for a, b in zip(lgs["monthly"], duck["monthly"]):
        for key, value in b.items():
            if key == "month":
                assert a[key] == value, (a[key], value)
            else:
                close(a[key], value, f"monthly {b['month']} {key}")
    seg = {s["segment"]: s for s in lgs["rfm_segments"]}
    assert len(seg) == len(duck["rfm_segments"]), "segment count"
    for b in duck["rfm_segments"]:
        for key, value in b.items():
            if key != "segment":
                close(seg[b["segment"]][key], value, f"rfm {b['segment']} {key}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    p.add_argument("--lgs", default=os.path.join(target, "release", "lgs"))
    p.add_argument("--data", default=os.path.join(ROOT, "data", "online_retail_II.csv.zst"))
    p.add_argument("--as-of", default="2012-01-01")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--skip-memory", action="store_true")
    a = p.parse_args()
    lgs = os.path.abspath(a.lgs)
    if not os.path.exists(lgs):
        raise SystemExit(f"{lgs} not found: build it with `cargo build --release`")

    work = tempfile.mkdtemp(prefix="lgs-bench-")
    try:
        wh = os.path.join(work, "wh")
        db = os.path.join(work, "retail.duckdb")
        subprocess.run([lgs, "--quiet", "--warehouse", wh, "ingest", a.data], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([*DUCK, "ingest", a.data, db], check=True, stderr=subprocess.DEVNULL)
        ours = json.loads(subprocess.run(
            [lgs, "--warehouse", wh, "report", "--format", "json", "--as-of", a.as_of],
            check=True, capture_output=True, text=True).stdout)
        theirs = json.loads(subprocess.run(
            [*DUCK, "report", db, "--as-of", a.as_of],
            check=True, capture_output=True, text=True).stdout)
        check_equal(ours, theirs)
        print("results: lgs and DuckDB agree (counts exact, floats to 1e-9)")

        rows = []
        lgs_report = [lgs, "--warehouse", wh, "report", "--format", "json", "--as-of", a.as_of]
        duck_report = [*DUCK, "report", db, "--as-of", a.as_of]
        rows.append(("report from storage", median_of(a.runs, lgs_report), median_of(a.runs, duck_report)))

        fresh = os.path.join(work, "fresh")
        def reset():
            shutil.rmtree(fresh, ignore_errors=True)
        lgs_csv = (f"{lgs} --quiet --warehouse {fresh} ingest {a.data} >/dev/null && "
                   f"{lgs} --warehouse {fresh} report --format json --as-of {a.as_of}")
        duck_csv = [*DUCK, "both", a.data, "--as-of", a.as_of]
        rows.append(("ingest + report from CSV", median_of(a.runs, lgs_csv, reset), median_of(a.runs, duck_csv)))

        print(f"\nmedian of {a.runs} runs; wall, CPU and peak memory of the whole process;"
              " DuckDB in-process = the same work timed inside Python, without interpreter start-up;"
              " ratios = DuckDB / lgs (> 1: lgs faster)\n")
        print("| scenario | lgs wall s | lgs CPU s | lgs peak MB | DuckDB wall s | DuckDB in-process s | DuckDB CPU s | DuckDB peak MB | wall ratio | in-process ratio |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for name, (w, c, m, _), (dw, dc, dm, di) in rows:
            print(f"| {name} | {w:.3f} | {c:.3f} | {m:.0f} | {dw:.3f} | {di:.3f} | {dc:.3f} | {dm:.0f} | {dw / w:.2f}x | {di / w:.2f}x |")

        if not a.skip_memory:
            big = os.path.join(work, "retail_x10.csv")
            with open(big, "wb") as out:
                body = subprocess.run(["zstd", "-dc", a.data], check=True, capture_output=True).stdout
                header, rest = body.split(b"\n", 1)
                out.write(header + b"\n")
                for _ in range(10):
                    out.write(rest)
            print("\n| ingest input | rows | lgs wall s | lgs peak RSS MB |")
            print("|---|---|---|---|")
            for label, path, rows_n in [("1x (zstd CSV, 93 MB raw)", a.data, 1_067_370),
                                        ("10x (plain CSV, 930 MB)", big, 10_673_700)]:
                reset()
                w, _, m, _ = timed([lgs, "--quiet", "--warehouse", fresh, "ingest", path])
                print(f"| {label} | {rows_n:,} | {w:.2f} | {m:.0f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
