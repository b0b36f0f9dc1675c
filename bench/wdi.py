#!/usr/bin/env python3
"""Benchmark: the WDI workload on the full-shape grid, lgs and DuckDB side by side.

1. `lgs generate wdi` writes the grid (21,759,408 rows, as in the original work).
2. Ingest: lgs into its Delta warehouse (partitioned by year) vs DuckDB into its
   database file and into year-partitioned Parquet; time and size on disk.
3. Queries, each timed as a whole process (median of --runs): one country/indicator
   value in 2015 (the Canada-2015 query: partition pruning), and the year of highest
   value per country for one indicator (the per-country maximum, a full scan of
   that indicator). DuckDB answers from its database file and from the Parquet.
   Results are compared before times count.

    python3 bench/wdi.py [--runs 5] [--lgs PATH] [--keep DIR]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

POINT = ("SELECT indicator_value FROM wdi WHERE year = 2015 AND country_name = 'Country 042' "
         "AND indicator_code = 'IND.0100.ZG'")
BEST = ("WITH g AS (SELECT country_code, year, indicator_value AS v FROM wdi "
        "WHERE indicator_code = 'IND.0100.ZG' AND indicator_value IS NOT NULL), "
        "b AS (SELECT country_code, max(v) AS m FROM g GROUP BY country_code) "
        "SELECT g.country_code, g.year, g.v FROM g JOIN b ON g.country_code = b.country_code AND g.v = b.m "
        "ORDER BY g.country_code, g.year")

DUCK_QUERY = r"""
import duckdb, sys, time
t = time.perf_counter()
source, sql = sys.argv[1], sys.argv[2]
if source.endswith('.duckdb'):
    con = duckdb.connect(source, read_only=True)
else:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW wdi AS SELECT * FROM read_parquet('{source}/**/*.parquet', hive_partitioning = true)")
for row in con.execute(sql).fetchall():
    print(','.join('' if v is None else str(v) for v in row))
print(f"{time.perf_counter() - t:.4f} s in process", file=sys.stderr)
"""


def run_timed(argv):
    t = time.perf_counter()
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    return time.perf_counter() - t, done


def median_time(runs, argv):
    times, inner = [], []
    out = None
    for _ in range(runs):
        t, done = run_timed(argv)
        times.append(t)
        out = done.stdout
        if "in process" in done.stderr:
            inner.append(float(done.stderr.split(" s in process")[0].split()[-1]))
    return statistics.median(times), (statistics.median(inner) if inner else None), out


def du(path):
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(d, f))
    return total / 1e6


def normalise(csv_text):
    rows = []
    for line in csv_text.rstrip("\n").split("\n"):
        if line.startswith(("indicator_value", "country_code")):
            continue
        rows.append(tuple(round(float(x), 6) if x.replace(".", "").replace("-", "").isdigit() else x.strip('"')
                          for x in line.split(",")))
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    p.add_argument("--lgs", default=os.path.join(target, "release", "lgs"))
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--keep", help="work directory to keep (default: a temporary one, removed)")
    a = p.parse_args()
    work = a.keep or tempfile.mkdtemp(prefix="lgs-wdi-")
    os.makedirs(work, exist_ok=True)
    try:
        grid = os.path.join(work, "wdi_grid.csv")
        t, _ = run_timed([a.lgs, "generate", "wdi", "--out", grid])
        print(f"generate: {t:.1f} s, {os.path.getsize(grid) / 1e9:.2f} GB of CSV")

        wh = os.path.join(work, "wh")
        shutil.rmtree(wh, ignore_errors=True)
        t_lgs, _ = run_timed([a.lgs, "--quiet", "--warehouse", wh, "ingest", "--dataset", "wdi", grid])
        db = os.path.join(work, "wdi.duckdb")
        pq = os.path.join(work, "wdi_parquet")
        for f in [db]:
            if os.path.exists(f):
                os.remove(f)
        shutil.rmtree(pq, ignore_errors=True)
        load = (
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]);"
            "con.execute(\"CREATE TABLE wdi AS SELECT year::INT AS year, countryName AS country_name, "
            "countryCode AS country_code, indicatorName AS indicator_name, indicatorCode AS indicator_code, "
            "indicatorValue::DOUBLE AS indicator_value FROM read_csv(?, header=true)\", [sys.argv[2]])"
        )
        t_duck, _ = run_timed([sys.executable, "-c", load, db, grid])
        export = (
            "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True);"
            "con.execute(f\"COPY wdi TO '{sys.argv[2]}' (FORMAT parquet, PARTITION_BY (year))\")"
        )
        t_pq, _ = run_timed([sys.executable, "-c", export, db, pq])
        print("\n| ingest | wall s | size on disk MB |")
        print("|---|---|---|")
        print(f"| CSV (input) | | {os.path.getsize(grid) / 1e6:.0f} |")
        print(f"| lgs ingest → Delta, partitioned by year | {t_lgs:.1f} | {du(wh):.0f} |")
        print(f"| DuckDB CSV → database file | {t_duck:.1f} | {os.path.getsize(db) / 1e6:.0f} |")
        print(f"| DuckDB database → Parquet by year (extra step) | {t_pq:.1f} | {du(pq):.0f} |")

        print(f"\nmedian of {a.runs} runs, whole process (DuckDB in-process in brackets)\n")
        print("| query | lgs s | DuckDB file s | DuckDB Parquet s |")
        print("|---|---|---|---|")
        for name, sql in [("one value in 2015 (Canada-2015 shape)", POINT), ("year of highest value per country", BEST)]:
            lt, _, lout = median_time(a.runs, [a.lgs, "--warehouse", wh, "sql", "--format", "csv", sql])
            dt, di, dout = median_time(a.runs, [sys.executable, "-c", DUCK_QUERY, db, sql])
            pt, pi, pout = median_time(a.runs, [sys.executable, "-c", DUCK_QUERY, pq, sql])
            assert normalise(lout) == normalise(dout) == normalise(pout), (name, lout[:200], dout[:200], pout[:200])
            print(f"| {name} | {lt:.3f} | {dt:.3f} ({di:.3f}) | {pt:.3f} ({pi:.3f}) |")
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
