#!/usr/bin/env python3
"""The lgs report, computed by Polars (lazy API): a peer in BENCHMARKS.md.

Same definitions as lgs and bench/duckdb_report.py. Prices are exact: they are kept
as integers of 1/10,000 (the warehouse's decimal(14,4)), so every sum is exact and
the mode of invoice amounts compares exact values, as with decimals.

    polars_report.py ingest CSV PARQUET     CSV -> typed Parquet file
    polars_report.py report PARQUET --as-of  the report as JSON, from the Parquet file
    polars_report.py both CSV --as-of        from the CSV, in one process
"""

import calendar
import time

import polars as pl

from peer_common import SCALE, command_line, emit, month_rows

SCHEMA = {
    "invoice_no": pl.String,
    "stock_code": pl.String,
    "description": pl.String,
    "quantity": pl.Int32,
    "invoice_date": pl.String,
    "unit_price": pl.String,
    "customer_id": pl.Int64,
    "country": pl.String,
}
QS = [0.2, 0.4, 0.6000000000000001, 0.8]


def read_csv(csv):
    return (
        pl.scan_csv(csv, schema=SCHEMA)
        .with_columns(
            pl.col("invoice_date").str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S"),
            (pl.col("unit_price").cast(pl.Float64) * SCALE).round(0).cast(pl.Int64).alias("price_e4"),
        )
        .drop("unit_price")
        .with_columns(
            pl.col("invoice_date").dt.strftime("%Y-%m").alias("month"),
            (pl.col("quantity").cast(pl.Int64) * pl.col("price_e4")).alias("amount_e4"),
            pl.col("invoice_no").str.starts_with("C").alias("is_cancellation"),
        )
    )


def amount_stats(lines, cap):
    inv = (
        lines.filter((pl.col("price_e4") > 0) & (pl.col("quantity") > 0))
        .group_by("invoice_no")
        .agg(pl.col("amount_e4").sum())
    )
    if cap is not None:
        inv = inv.filter(pl.col("amount_e4").cast(pl.Float64) / SCALE <= cap)
    a = pl.col("amount_e4").cast(pl.Float64) / SCALE
    stats = inv.select(
        pl.len().alias("count"), a.min().alias("min"), a.mean().alias("mean"), a.max().alias("max"),
        a.quantile(0.5, "linear").alias("median"), a.quantile(0.85, "linear").alias("p85"),
    )
    mode = (
        inv.group_by("amount_e4").agg(pl.len().alias("n"))
        .sort(["n", "amount_e4"], descending=[True, False]).head(1)
        .select((pl.col("amount_e4").cast(pl.Float64) / SCALE).alias("mode"))
    )
    return stats, mode


def monthly(lines):
    per = lines.group_by("month").agg(
        pl.col("invoice_no").filter(~pl.col("is_cancellation")).n_unique().alias("placed_orders"),
        pl.col("invoice_no").filter(pl.col("is_cancellation")).n_unique().alias("cancelled_orders"),
        pl.col("amount_e4").sum().alias("sales_e4"),
        pl.col("customer_id").drop_nulls().n_unique().alias("active_users"),
    )
    news = (
        lines.filter(pl.col("customer_id").is_not_null())
        .group_by("customer_id").agg(pl.col("month").min())
        .group_by("month").agg(pl.len().alias("new_users"))
    )
    bounds = lines.select(pl.col("invoice_date").min().alias("lo"), pl.col("invoice_date").max().alias("hi"))
    return per, news, bounds


def rfm_base(lines, as_of):
    as_of_us = calendar.timegm(time.strptime(as_of, "%Y-%m-%d")) * 1_000_000
    base = (
        lines.filter(pl.col("customer_id").is_not_null())
        .group_by("customer_id")
        .agg(
            pl.col("invoice_date").max().alias("last"),
            pl.col("invoice_no").n_unique().alias("frequency"),
            pl.col("amount_e4").sum().alias("monetary_e4"),
        )
        .with_columns(
            ((as_of_us - pl.col("last").dt.epoch("us")) // 86_400_000_000).alias("recency"),
            (pl.col("monetary_e4").cast(pl.Float64) / SCALE).alias("monetary"),
        )
        .sort(["frequency", "customer_id"])
        .with_row_index("f_rank", offset=1)
    )
    return base


def score(col, edges, labels):
    expr = pl.lit(labels[-1])
    for e, label in reversed(list(zip(edges, labels))):
        expr = pl.when(pl.col(col) <= e).then(pl.lit(label)).otherwise(expr)
    return expr


def segment():
    r, f = pl.col("r"), pl.col("f")
    rules = [
        ((r <= 2) & (f <= 2), "Hibernating"), ((r <= 2) & (f <= 4), "At Risk"), (r <= 2, "Can't Lose"),
        ((r == 3) & (f <= 2), "About to Sleep"), ((r == 3) & (f == 3), "Need Attention"),
        ((r <= 4) & (f >= 4), "Loyal Customers"), ((r == 4) & (f == 1), "Promising"),
        ((r == 5) & (f == 1), "New Customers"), (f <= 3, "Potential Loyalists"),
    ]
    expr = pl.lit("Champions")
    for cond, name in reversed(rules):
        expr = pl.when(cond).then(pl.lit(name)).otherwise(expr)
    return expr


def report(lines, as_of):
    # One collect for every independent part (Polars shares the common scans).
    full, full_mode = amount_stats(lines, None)
    per, news, bounds = monthly(lines)
    base = rfm_base(lines, as_of)
    edges = base.select(
        *[pl.col("recency").cast(pl.Float64).quantile(q, "linear").alias(f"r{i}") for i, q in enumerate(QS)],
        *[pl.col("f_rank").cast(pl.Float64).quantile(q, "linear").alias(f"f{i}") for i, q in enumerate(QS)],
    )
    full, full_mode, per, news, bounds, base, edges = pl.collect_all(
        [full, full_mode, per, news, bounds, base, edges])
    full = {**full.row(0, named=True), **full_mode.row(0, named=True)}
    trimmed, trimmed_mode = amount_stats(lines, full["p85"])
    trimmed, trimmed_mode = pl.collect_all([trimmed, trimmed_mode])
    trimmed = {**trimmed.row(0, named=True), **trimmed_mode.row(0, named=True)}

    lo, hi = bounds.row(0)
    out_months = month_rows(lo, hi, {r["month"]: r for r in per.iter_rows(named=True)},
                            dict(news.iter_rows()))

    e = edges.row(0)
    scored = base.lazy().with_columns(
        score("recency", e[0:4], [5, 4, 3, 2, 1]).alias("r"),
        score("f_rank", e[4:8], [1, 2, 3, 4, 5]).alias("f"),
    ).with_columns(segment().alias("segment"))
    seg = (
        scored.group_by("segment")
        .agg(pl.len().alias("customers"), pl.col("recency").mean().alias("avg_recency_days"),
             pl.col("frequency").mean().alias("avg_frequency"), pl.col("monetary").mean().alias("avg_monetary"))
        .sort(["customers", "segment"], descending=[True, False])
        .collect()
    )
    keys = ["count", "min", "mean", "median", "mode", "max", "p85"]
    return {
        "as_of": as_of,
        "invoice_amount": {k: full[k] for k in keys},
        "invoice_amount_trimmed": {k: trimmed[k] for k in keys},
        "monthly": out_months,
        "rfm_segments": list(seg.iter_rows(named=True)),
    }


def main():
    a, started = command_line(__doc__)
    out = None
    if a.mode == "ingest":
        read_csv(a.paths[0]).sink_parquet(a.paths[1])
    elif a.mode == "report":
        out = report(pl.scan_parquet(a.paths[0]), a.as_of)
    else:
        out = report(read_csv(a.paths[0]).collect().lazy(), a.as_of)
    emit("polars", a.mode, out, started)


if __name__ == "__main__":
    main()
