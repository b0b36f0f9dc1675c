#!/usr/bin/env python3
"""The lgs report, computed by pandas (the team's previous solution): a peer in
BENCHMARKS.md.

Same definitions as lgs and bench/duckdb_report.py, written as a pandas user would
(groupby, nunique, qcut-style quantile edges). Prices are kept as integers of
1/10,000 (the warehouse's decimal(14,4)) so every sum is exact.

    pandas_report.py ingest CSV PARQUET      CSV -> typed Parquet file
    pandas_report.py report PARQUET --as-of  the report as JSON, from the Parquet file
    pandas_report.py both CSV --as-of        from the CSV, in one process
"""

import numpy as np
import pandas as pd

from peer_common import SCALE, assemble, command_line, emit, month_rows

QS = [0.2, 0.4, 0.6000000000000001, 0.8]
DTYPES = {
    "invoice_no": "string",
    "stock_code": "string",
    "description": "string",
    "quantity": "int64",
    "unit_price": "float64",
    "customer_id": "Int64",
    "country": "string",
}


def read_csv(csv):
    df = pd.read_csv(csv, dtype=DTYPES, engine="pyarrow")
    df["invoice_date"] = pd.to_datetime(df["invoice_date"], format="%Y-%m-%d %H:%M:%S")
    df["price_e4"] = np.round(df["unit_price"].to_numpy() * SCALE).astype("int64")
    df = df.drop(columns=["unit_price"])
    return derive(df)


def derive(df):
    df["month"] = df["invoice_date"].dt.strftime("%Y-%m")
    df["amount_e4"] = df["quantity"].to_numpy() * df["price_e4"].to_numpy()
    df["is_cancellation"] = df["invoice_no"].str.startswith("C")
    return df


def amount_stats(df, cap):
    lines = df[(df["price_e4"] > 0) & (df["quantity"] > 0)]
    inv = lines.groupby("invoice_no", sort=False)["amount_e4"].sum()
    if cap is not None:
        inv = inv[inv / SCALE <= cap]
    a = inv / SCALE
    counts = inv.value_counts()
    top = counts[counts == counts.max()].index.min()
    return dict(count=int(len(a)), min=a.min(), mean=a.mean(), median=a.quantile(0.5),
                mode=top / SCALE, max=a.max(), p85=a.quantile(0.85))


def monthly(df):
    placed = df[~df["is_cancellation"]].groupby("month")["invoice_no"].nunique()
    cancelled = df[df["is_cancellation"]].groupby("month")["invoice_no"].nunique()
    sales = df.groupby("month")["amount_e4"].sum()
    active = df.groupby("month")["customer_id"].nunique()
    known = df[df["customer_id"].notna()]
    new = known.groupby("customer_id")["month"].min().value_counts()
    per = {}
    for name, series in [("placed_orders", placed), ("cancelled_orders", cancelled),
                         ("sales_e4", sales), ("active_users", active)]:
        for month, value in series.items():
            per.setdefault(month, {})[name] = value
    return month_rows(df["invoice_date"].min(), df["invoice_date"].max(), per, new.to_dict())


def rfm(df, as_of):
    known = df[df["customer_id"].notna()]
    g = known.groupby("customer_id")
    base = pd.DataFrame({
        "last": g["invoice_date"].max(),
        "frequency": g["invoice_no"].nunique(),
        "monetary_e4": g["amount_e4"].sum(),
    }).reset_index()
    as_of_us = pd.Timestamp(as_of).value // 1000  # .value is in ns
    last_us = base["last"].dt.as_unit("us").astype("int64")
    base["recency"] = (as_of_us - last_us) // 86_400_000_000
    base["monetary"] = base["monetary_e4"] / SCALE
    base = base.sort_values(["frequency", "customer_id"], kind="stable")
    base["f_rank"] = np.arange(1, len(base) + 1)
    r_e = base["recency"].astype("float64").quantile(QS).to_numpy()
    f_e = base["f_rank"].astype("float64").quantile(QS).to_numpy()
    # qcut-style: the first edge whose value is >= x gives the bin.
    r = np.array([5, 4, 3, 2, 1])[np.searchsorted(r_e, base["recency"].to_numpy(), side="left")]
    f = np.array([1, 2, 3, 4, 5])[np.searchsorted(f_e, base["f_rank"].to_numpy(), side="left")]
    seg = np.select(
        [(r <= 2) & (f <= 2), (r <= 2) & (f <= 4), r <= 2, (r == 3) & (f <= 2), (r == 3) & (f == 3),
         (r <= 4) & (f >= 4), (r == 4) & (f == 1), (r == 5) & (f == 1), f <= 3],
        ["Hibernating", "At Risk", "Can't Lose", "About to Sleep", "Need Attention",
         "Loyal Customers", "Promising", "New Customers", "Potential Loyalists"],
        default="Champions")
    base["segment"] = seg
    out = base.groupby("segment").agg(customers=("customer_id", "size"),
                                      avg_recency_days=("recency", "mean"),
                                      avg_frequency=("frequency", "mean"),
                                      avg_monetary=("monetary", "mean")).reset_index()
    out = out.sort_values(["customers", "segment"], ascending=[False, True])
    return [dict(segment=s, customers=int(c), avg_recency_days=float(rd), avg_frequency=float(fq),
                 avg_monetary=float(m)) for s, c, rd, fq, m in out.itertuples(index=False)]


def report(df, as_of):
    return assemble(as_of, lambda cap: amount_stats(df, cap), lambda: monthly(df), lambda: rfm(df, as_of))


def main():
    a, started = command_line(__doc__)
    out = None
    if a.mode == "ingest":
        read_csv(a.paths[0]).drop(columns=["month", "amount_e4", "is_cancellation"]).to_parquet(
            a.paths[1], index=False)
    elif a.mode == "report":
        out = report(derive(pd.read_parquet(a.paths[0])), a.as_of)
    else:
        out = report(read_csv(a.paths[0]), a.as_of)
    emit("pandas", a.mode, out, started)


if __name__ == "__main__":
    main()
