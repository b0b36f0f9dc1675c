#!/usr/bin/env python3
"""Benchmark (issue 26): `lgs trends` against DuckDB running the same definitions
in SQL (bench/trends_reference.py), side by side in one run, on the real file and
on copies of it with invoices and customers renumbered (x10: 10.7M rows, x100:
107M; see bench/customers.py).

Each size is loaded once, untimed, into each tool's storage (lgs: its warehouse;
DuckDB: a Parquet file of the lines with exact decimal prices). Then, interleaved
for --runs rounds, each whole process is timed (wall, CPU of the process tree,
peak RSS of the tree). The results are compared before the times are reported:
the same movers in the same order, new and gone products, seasonal products and
ABC classes.

    python3 bench/trends.py [--sizes real,x10] [--runs 3]
"""

import argparse
import os
import sys

from customers import interleaved, prepare, source_csv, table

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DUCKDB = [sys.executable, os.path.join(HERE, "trends_reference.py")]


def to_parquet(csv, out):
    import pyarrow as pa

    from peer_common import typed_parquet
    typed_parquet(csv, out, {"invoice_no": pa.string(), "stock_code": pa.string(),
                             "quantity": pa.int64(), "invoice_date": pa.timestamp("s"),
                             "unit_price": pa.decimal128(18, 4), "customer_id": pa.int64(),
                             "description": pa.string()})


def same(ours, theirs):
    """Lines saying whether lgs's trends equal DuckDB's."""
    if not ours or not theirs:
        return ["a tool failed: nothing to compare"]
    m = ours["months"]
    checks = {
        "product months (rows, customers, invoices, cancelled units, described products)": (
            [len(m), sum(x["customers"] for x in m), sum(x["invoices"] for x in m),
             sum(x["cancelled_units"] for x in m), len(ours["descriptions"])],
            [theirs["sku_monthly"][k] for k in ("rows", "customers", "invoices", "cancelled_units",
                                                "described_products")]),
        "movers": ([m["stock_code"] for m in ours["movers"]],
                   [m["stock_code"] for m in theirs["movers"]]),
        "new products": (sorted(a["stock_code"] for a in ours["new_products"]),
                         sorted(a["stock_code"] for a in theirs["new_products"])),
        "gone products": (sorted(a["stock_code"] for a in ours["gone_products"]),
                          sorted(theirs["gone_products"])),
        "seasonal products": (sorted((s["stock_code"], s["peak_month"]) for s in ours["seasonality"]),
                              sorted((s["stock_code"], s["peak_month"]) for s in theirs["seasonality"])),
        "ABC classes": ([(a["stock_code"], a["class"]) for a in ours["abc"]],
                        [(a["stock_code"], a["class"]) for a in theirs["abc"]]),
    }
    return [f"{name}: {len(a)} " + ("the same as DuckDB's" if a == b else f"DIFFERENT from DuckDB's {len(b)}")
            for name, (a, b) in checks.items()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap.add_argument("--lgs", default=os.path.join(target, "release", "lgs"))
    ap.add_argument("--sizes", default="real,x10")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", default="/tmp/lgs-customers")
    ap.add_argument("--memory-limit", default="2GB", help="lgs's --memory-limit ('' for none)")
    ap.add_argument("--peer-timeout", type=int, default=1800)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    for size in a.sizes.split(","):
        wh, _, _ = prepare(a.lgs, size, a.work)
        csv = source_csv(size, a.work)
        parquet = os.path.join(a.work, f"{size}-trends2.parquet")
        if not os.path.exists(parquet):
            to_parquet(csv, parquet)
        tools = {
            "lgs trends": ([a.lgs, "-q", "--warehouse", wh,
                            *(["--memory-limit", a.memory_limit] if a.memory_limit else []),
                            "trends", "--format", "json"], None),
            "DuckDB": ([*DUCKDB, parquet], a.peer_timeout),
        }
        samples, results = interleaved(tools, a.runs, size)
        title = "The real file" if size == "real" else f"The real file {size} (customers renumbered)"
        print(f"\n### {title}")
        table(tools, samples, a.peer_timeout, lambda _: "lgs trends")
        print()
        for line in same(results["lgs trends"], results["DuckDB"]):
            print(f"- {line}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
