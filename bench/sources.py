#!/usr/bin/env python3
"""Benchmark of the sources: the generator's speed, and a live PostgreSQL ingest
against the usual detour (`psql \\copy ... to csv`, then a CSV ingest).

  generate   `lgs generate retail --rows N` in each format: rows/s, bytes, peak RSS
  postgres   a table of N rows in the local server, read by
               A. `lgs ingest postgres://... --partitions P` (P = 1 and 4)
               B. `psql -c "\\copy (SELECT ...) TO file CSV HEADER"` + `lgs ingest file`
               C. `pg_dump -t table` + `lgs ingest dump.sql`
             each checked to load the same rows (count and sum of amounts) before its
             time counts

    python3 bench/sources.py [--runs 3] [--rows 10000000] [--big 100000000]
                             [--lgs target/release/lgs] [--url postgres://postgres@127.0.0.1:5432/test]

Times are medians of --runs runs of whole processes (wall, CPU = user + sys), peak RSS
from GNU time. --big also times one 100M-row CSV generation (about 9 GB on disk).
"""

import argparse
import json
import os
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

from timing import median_of, timed  # noqa: E402  (bench/timing.py)


def summary(lgs, warehouse):
    out = subprocess.run([lgs, "--warehouse", warehouse, "sql", "--format", "json",
                          "SELECT count(*) AS n, CAST(sum(amount) AS VARCHAR) AS total FROM retail"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)[0]


def psql(url, *args):
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-q", *args], check=True,
                   stdout=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--big", type=int, default=0)
    ap.add_argument("--lgs", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "lgs"))
    ap.add_argument("--url", default="postgres://postgres@127.0.0.1:5432/test")
    ap.add_argument("--skip-generate", action="store_true")
    args = ap.parse_args()
    lgs, n = args.lgs, args.rows
    work = tempfile.mkdtemp(prefix="lgs-bench-sources-")
    print(f"machine: {os.cpu_count()} cores; lgs: {lgs}; rows: {n:,}")
    try:
        csv = os.path.join(work, "retail.csv")
        if not args.skip_generate:
            print("\n## generator (`lgs generate retail --rows N`)\n")
            print("| format | rows | wall s | rows/s | CPU s | peak RSS MB | size MB |")
            print("|---|---|---|---|---|---|---|")
            for fmt, rows in [("csv", n), ("sql", n), ("parquet", n), ("xlsx", min(n, 1_000_000))]:
                out = os.path.join(work, f"g.{fmt}")
                wall, cpu, rss = median_of(args.runs, [lgs, "-q", "generate", "retail", "--rows", str(rows),
                                                       "--format", fmt, "--out", out])
                size = os.path.getsize(out) / 1e6
                print(f"| {fmt} | {rows:,} | {wall:.2f} | {rows / wall:,.0f} | {cpu:.2f} | {rss:.0f} | {size:,.0f} |", flush=True)
                os.remove(out)
            if args.big:
                out = os.path.join(work, "big.csv")
                wall, cpu, rss = timed([lgs, "-q", "generate", "retail", "--rows", str(args.big), "--out", out])
                size = os.path.getsize(out) / 1e6
                print(f"| csv | {args.big:,} | {wall:.2f} | {args.big / wall:,.0f} | {cpu:.2f} | {rss:.0f} | {size:,.0f} |", flush=True)
                os.remove(out)

        print(f"\n## PostgreSQL source ({n:,} rows in a table of the local server)\n")
        subprocess.run([lgs, "-q", "generate", "retail", "--rows", str(n), "--out", csv], check=True)
        psql(args.url, "-c", "DROP SCHEMA IF EXISTS lgs_bench CASCADE", "-c", "CREATE SCHEMA lgs_bench",
             "-c", "CREATE TABLE lgs_bench.retail (invoice_no varchar(10), stock_code varchar(20), "
                   "description text, quantity integer, invoice_date timestamp, unit_price numeric(10,3), "
                   "customer_id integer, country varchar(30))",
             "-c", f"\\copy lgs_bench.retail FROM '{csv}' WITH (FORMAT csv, HEADER true)",
             "-c", "ANALYZE lgs_bench.retail")
        os.remove(csv)
        wh = os.path.join(work, "wh")
        export = os.path.join(work, "export.csv")
        dump = os.path.join(work, "retail.sql")

        def fresh():
            shutil.rmtree(wh, ignore_errors=True)
            for f in (export, dump):
                if os.path.exists(f):
                    os.remove(f)

        ingest_pg = lambda p: [lgs, "-q", "--warehouse", wh, "ingest", args.url, "--table", "lgs_bench.retail",
                               "--partitions", str(p)]
        detour_csv = ["sh", "-c", f"psql '{args.url}' -q -c \"\\copy (SELECT * FROM lgs_bench.retail) TO '{export}' "
                                  f"WITH (FORMAT csv, HEADER true)\" && {lgs} -q --warehouse {wh} ingest {export}"]
        detour_dump = ["sh", "-c", f"pg_dump '{args.url}' -t lgs_bench.retail > {dump} && "
                                   f"{lgs} -q --warehouse {wh} ingest {dump}"]
        reference = None
        print("| path | wall s | rows/s | CPU s | peak RSS MB | ratio to lgs (4 partitions) |")
        print("|---|---|---|---|---|---|")
        results = []
        for name, argv in [("lgs ingest postgres:// --partitions 4", ingest_pg(4)),
                           ("lgs ingest postgres:// --partitions 1", ingest_pg(1)),
                           ("psql \\copy to CSV + lgs ingest CSV", detour_csv),
                           ("pg_dump + lgs ingest dump.sql", detour_dump)]:
            t = median_of(args.runs, argv, before=fresh)
            got = summary(lgs, wh)
            if reference is None:
                reference = got
            elif got != reference:
                raise SystemExit(f"MISMATCH {name}: {got} != {reference}")
            if int(got["n"]) != n:
                raise SystemExit(f"MISMATCH {name}: {got['n']} rows, expected {n}")
            results.append((name, t))
        base = results[0][1][0]
        for name, (wall, cpu, rss) in results:
            print(f"| {name} | {wall:.2f} | {n / wall:,.0f} | {cpu:.2f} | {rss:.0f} | {wall / base:.2f}x |")
        print(f"\nall paths loaded the same {reference['n']} rows, sum(amount) = {reference['total']}")
    finally:
        psql(args.url, "-c", "DROP SCHEMA IF EXISTS lgs_bench CASCADE")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
