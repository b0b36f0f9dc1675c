#!/usr/bin/env python3
"""The lgs report, computed by DuckDB: the peer in BENCHMARKS.md and an independent
cross-check of lgs's figures.

Same definitions as lgs (see crates/lgs/src/analytics): invoice amount statistics
(price > 0 and quantity > 0), monthly orders/sales/growth/users with empty months
filled, RFM with pandas-qcut-style 5-quantile edges (DuckDB's quantile_cont is the
same linear interpolation as numpy).

    duckdb_report.py ingest CSV DB        load a CSV into a DuckDB database file
                                          (or, for DB ending in .parquet, a Parquet file)
    duckdb_report.py report DB [--as-of]  print the report as JSON (from the database
                                          file, or from the .parquet file)
    duckdb_report.py both CSV [--as-of]   ingest into memory and report (one process)
"""

import argparse
import time

import duckdb

from peer_common import assemble, emit

TYPES = {
    "invoice_no": "VARCHAR",
    "stock_code": "VARCHAR",
    "description": "VARCHAR",
    "quantity": "INTEGER",
    "invoice_date": "TIMESTAMP",
    "unit_price": "DECIMAL(14,4)",
    "customer_id": "BIGINT",
    "country": "VARCHAR",
}


DERIVED = """strftime(invoice_date, '%Y-%m') AS month,
               CAST(quantity AS DECIMAL(24,4)) * unit_price AS amount,
               starts_with(invoice_no, 'C') AS is_cancellation"""


def read_csv(csv):
    return (f"read_csv({csv!r}, header = true, columns = {TYPES!r}, "
            "timestampformat = '%Y-%m-%d %H:%M:%S')")


def ingest(con, csv):
    con.execute(
        f"""
        CREATE TABLE retail AS
        SELECT invoice_no, stock_code, trim(description) AS description, quantity,
               invoice_date, unit_price, customer_id, country, {DERIVED}
        FROM {read_csv(csv)}
        """
    )


def to_parquet(con, csv, parquet):
    """The typed lines (no derived columns) as one Parquet file: the peers' columnar
    storage."""
    con.execute(
        f"""COPY (SELECT invoice_no, stock_code, trim(description) AS description, quantity,
                         invoice_date, unit_price, customer_id, country FROM {read_csv(csv)})
            TO {parquet!r} (FORMAT parquet)"""
    )


def over_parquet(con, parquet):
    con.execute(f"CREATE VIEW retail AS SELECT *, {DERIVED} FROM read_parquet({parquet!r})")


def amount_stats(con, cap):
    where = "" if cap is None else f"WHERE amount <= {cap!r}"
    inv = f"""(SELECT * FROM (SELECT invoice_no, CAST(sum(amount) AS DOUBLE) AS amount FROM retail
              WHERE unit_price > 0 AND quantity > 0 GROUP BY invoice_no) {where})"""
    n, lo, mean, hi, med, p85 = con.execute(
        f"""SELECT count(*), min(amount), avg(amount), max(amount),
                   quantile_cont(amount, 0.5), quantile_cont(amount, 0.85) FROM {inv}"""
    ).fetchone()
    mode = con.execute(
        f"SELECT amount FROM {inv} GROUP BY amount ORDER BY count(*) DESC, amount LIMIT 1"
    ).fetchone()[0]
    return dict(count=n, min=lo, mean=mean, median=med, mode=mode, max=hi, p85=p85)


def monthly(con):
    rows = con.execute(
        """
        WITH bounds AS (SELECT min(invoice_date) AS lo, max(invoice_date) AS hi FROM retail),
        months AS (SELECT strftime(m, '%Y-%m') AS month
                   FROM bounds, generate_series(date_trunc('month', lo), hi, INTERVAL 1 MONTH) t(m)),
        per AS (SELECT month,
                  count(DISTINCT invoice_no) FILTER (WHERE NOT is_cancellation) AS placed,
                  count(DISTINCT invoice_no) FILTER (WHERE is_cancellation) AS cancelled,
                  sum(amount) AS sales, count(DISTINCT customer_id) AS active
                FROM retail GROUP BY month),
        firsts AS (SELECT min(month) AS month FROM retail WHERE customer_id IS NOT NULL GROUP BY customer_id),
        news AS (SELECT month, count(*) AS new_users FROM firsts GROUP BY month),
        f AS (SELECT m.month, coalesce(placed, 0) placed, coalesce(cancelled, 0) cancelled,
                     coalesce(sales, 0) sales, coalesce(active, 0) active, coalesce(new_users, 0) new_users
              FROM months m LEFT JOIN per USING (month) LEFT JOIN news USING (month))
        SELECT month, placed, cancelled, CAST(sales AS DOUBLE),
               CASE WHEN lag(sales) OVER w <> 0
                    THEN CAST(sales - lag(sales) OVER w AS DOUBLE) / CAST(lag(sales) OVER w AS DOUBLE) * 100 END,
               active, new_users, active - new_users
        FROM f WINDOW w AS (ORDER BY month) ORDER BY month
        """
    ).fetchall()
    keys = ["month", "placed_orders", "cancelled_orders", "sales", "sales_growth_pct",
            "active_users", "new_users", "existing_users"]
    return [dict(zip(keys, r)) for r in rows]


SEGMENT = """CASE
    WHEN r <= 2 AND f <= 2 THEN 'Hibernating' WHEN r <= 2 AND f <= 4 THEN 'At Risk'
    WHEN r <= 2 THEN 'Can''t Lose' WHEN r = 3 AND f <= 2 THEN 'About to Sleep'
    WHEN r = 3 AND f = 3 THEN 'Need Attention' WHEN r <= 4 AND f >= 4 THEN 'Loyal Customers'
    WHEN r = 4 AND f = 1 THEN 'Promising' WHEN r = 5 AND f = 1 THEN 'New Customers'
    WHEN f <= 3 THEN 'Potential Loyalists' ELSE 'Champions' END"""


def rfm(con, as_of):
    base = f"""(SELECT customer_id,
               (epoch_us(TIMESTAMP '{as_of}') - epoch_us(max(invoice_date))) // 86400000000 AS recency,
               count(DISTINCT invoice_no) AS frequency,
               CAST(sum(amount) AS DOUBLE) AS monetary,
               row_number() OVER (ORDER BY count(DISTINCT invoice_no), customer_id) AS f_rank
        FROM retail WHERE customer_id IS NOT NULL GROUP BY customer_id)"""
    qs = "[0.2, 0.4, 0.6000000000000001, 0.8]"
    r_e, f_e, m_e = con.execute(
        f"""SELECT quantile_cont(CAST(recency AS DOUBLE), {qs}), quantile_cont(CAST(f_rank AS DOUBLE), {qs}),
                   quantile_cont(monetary, {qs}) FROM {base}"""
    ).fetchone()

    def case(col, edges, labels):
        whens = " ".join(f"WHEN {col} <= {e!r} THEN {l}" for e, l in zip(edges, labels))
        return f"CASE {whens} ELSE {labels[-1]} END"

    r_sql = case("recency", r_e, [5, 4, 3, 2, 1])
    f_sql = case("f_rank", f_e, [1, 2, 3, 4, 5])
    m_sql = case("monetary", m_e, [1, 2, 3, 4, 5])
    rows = con.execute(
        f"""
        WITH scored AS (SELECT *, {SEGMENT} AS segment FROM
            (SELECT customer_id, recency, frequency, monetary, {r_sql} AS r, {f_sql} AS f, {m_sql} AS m FROM {base}))
        SELECT segment, count(*) AS customers, avg(recency), avg(frequency), avg(monetary)
        FROM scored GROUP BY segment ORDER BY customers DESC, segment
        """
    ).fetchall()
    keys = ["segment", "customers", "avg_recency_days", "avg_frequency", "avg_monetary"]
    return [dict(zip(keys, r)) for r in rows]


def report(con, as_of):
    if as_of is None:
        as_of = con.execute(
            "SELECT strftime(CAST(max(invoice_date) AS DATE) + 1, '%Y-%m-%d') FROM retail"
        ).fetchone()[0]
    return assemble(as_of, lambda cap: amount_stats(con, cap), lambda: monthly(con),
                    lambda: rfm(con, as_of))


def threads(con, n):
    if n:
        con.execute(f"SET threads = {int(n)}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["ingest", "report", "both"])
    p.add_argument("paths", nargs="+")
    p.add_argument("--as-of")
    p.add_argument("--threads", type=int)
    a = p.parse_args()
    t0 = time.perf_counter()
    parquet = a.paths[-1].endswith(".parquet")
    if a.mode == "ingest" and parquet:
        con = duckdb.connect()
        threads(con, a.threads)
        to_parquet(con, a.paths[0], a.paths[1])
        out = None
    elif a.mode == "ingest":
        con = duckdb.connect(a.paths[1])
        threads(con, a.threads)
        con.execute("DROP TABLE IF EXISTS retail")
        ingest(con, a.paths[0])
        con.close()
        out = None
    elif a.mode == "report" and parquet:
        con = duckdb.connect()
        threads(con, a.threads)
        over_parquet(con, a.paths[0])
        out = report(con, a.as_of)
    elif a.mode == "report":
        con = duckdb.connect(a.paths[0], read_only=True)
        threads(con, a.threads)
        out = report(con, a.as_of)
    else:
        con = duckdb.connect()
        threads(con, a.threads)
        ingest(con, a.paths[0])
        out = report(con, a.as_of)
    emit("duckdb", a.mode, out, t0)


if __name__ == "__main__":
    main()
