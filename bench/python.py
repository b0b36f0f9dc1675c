#!/usr/bin/env python3
"""Benchmark (issue 29): query results into pandas and polars from a notebook,
lgs's Python package against DuckDB's and datafusion-python's, on the same lines.

One warehouse holds the lines (the real file, or --rows generated lines); DuckDB
and datafusion-python (each in its simplest form: a view over the files, `.df()` /
`.pl()`, `to_pandas()` / `to_polars()`) read the same Parquet files (the table's, one fresh ingest, every file current).
Each measurement is a fresh Python process that connects, then times the query
to the frame (imports, pandas' and polars' too, and connect excluded: lgs.connect opens the tables' logs,
DuckDB's CREATE VIEW binds its files, datafusion-python's register_parquet lists
them; that setup is timed and printed beside), and reports its peak RSS; tools are
interleaved, --runs times, and medians and ratios printed (and written to --json).

    pip install ./crates/lgs-py duckdb datafusion pandas polars pyarrow
    python3 bench/python.py [--rows 10000000] [--runs 5]
"""

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys

from live import ingested

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

QUERIES = {
    "all lines": "SELECT * FROM retail",
    "by country": ("SELECT country, count(DISTINCT customer_id) AS customers, sum(amount) AS sales "
                   "FROM retail GROUP BY country ORDER BY sales DESC"),
}

TOOLS = ("lgs", "duckdb", "datafusion")

CHILD = r"""
import json, resource, sys, time
# The frame libraries are imported before the clock starts, as in a notebook
# (each tool would otherwise import pandas inside its first conversion, or not).
import pandas, polars, pyarrow
tool, frame, wh, query = sys.argv[1:5]
if tool == "lgs":
    import lgs
    lgs.set_progress(False)
    setup = time.perf_counter()
    con = lgs.connect(wh)
    start = time.perf_counter()
    r = con.sql(query)
    out = r.to_pandas() if frame == "pandas" else r.to_polars()
elif tool == "datafusion":
    import datafusion
    setup = time.perf_counter()
    con = datafusion.SessionContext()
    con.register_parquet("retail", f"{wh}/retail/")
    start = time.perf_counter()
    df = con.sql(query)
    out = df.to_pandas() if frame == "pandas" else df.to_polars()
else:
    import duckdb
    setup = time.perf_counter()
    con = duckdb.connect()
    con.sql(f"CREATE VIEW retail AS SELECT * FROM read_parquet('{wh}/retail/*.parquet')")
    start = time.perf_counter()
    rel = con.sql(query)
    out = rel.df() if frame == "pandas" else rel.pl()
took = time.perf_counter() - start
print(json.dumps({"seconds": took, "setup": start - setup, "rows": len(out),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--lgs", default=os.path.join(target, "release", "lgs"))
    ap.add_argument("--python", default=sys.executable, help="a Python with lgs and duckdb")
    ap.add_argument("--rows", type=int, default=0, help="0: the real file")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--work", default="/tmp/lgs-python-bench")
    ap.add_argument("--json")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    _, wh = ingested(args.lgs, args.rows, args.work)
    assert glob.glob(os.path.join(wh, "retail", "*.parquet")), "an unpartitioned table"
    samples = {}
    for r in range(args.runs):
        line = []
        for name, query in QUERIES.items():
            for frame in ("pandas", "polars"):
                rows = {}
                for tool in TOOLS:
                    out = subprocess.run([args.python, "-c", CHILD, tool, frame, wh, query],
                                         check=True, capture_output=True, text=True).stdout
                    got = json.loads(out)
                    samples.setdefault((name, frame, tool), []).append(got)
                    rows[tool] = got["rows"]
                    line.append(f"{name}/{frame}/{tool} {got['seconds']:.3f} s")
                assert len(set(rows.values())) == 1, (name, rows)
        print(f"  run {r + 1}: " + ", ".join(line), flush=True)
    size = "the real file" if not args.rows else f"{args.rows:,} rows"
    result = {}
    for name in QUERIES:
        for frame in ("pandas", "polars"):
            med = {t: statistics.median(s["seconds"] for s in samples[(name, frame, t)])
                   for t in TOOLS}
            rss = {t: statistics.median(s["rss_mb"] for s in samples[(name, frame, t)])
                   for t in TOOLS}
            setup = {t: statistics.median(s["setup"] for s in samples[(name, frame, t)])
                     for t in TOOLS}
            result[f"{name}/{frame}"] = {"seconds": med, "rss_mb": rss, "setup": setup}
            print(f"medians ({size}) {name} to {frame}: " + ", ".join(
                f"{t} {med[t]:.3f} s ({rss[t]:.0f} MB)" for t in TOOLS) +
                f": lgs/DuckDB x{med['lgs'] / med['duckdb']:.2f}, lgs/datafusion-python "
                f"x{med['lgs'] / med['datafusion']:.2f}; setup (connect, view or "
                f"registration) " + ", ".join(f"{t} {setup[t]:.3f} s" for t in TOOLS), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": args.rows, "runs": args.runs, "result": result}, f, indent=1)


if __name__ == "__main__":
    main()
