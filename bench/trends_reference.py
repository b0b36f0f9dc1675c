#!/usr/bin/env python3
"""`lgs trends` computed independently in DuckDB SQL (issue 26): the reference the
real-data test compares with (crates/lgs/tests/data/trends/), and the DuckDB peer
of the trends benchmark (bench/trends.py).

    trends_reference.py CSV[.zst]|PARQUET [--min-units 100] [--recent-months 3] [--steady-months 6]

The definitions, as lgs's (crates/lgs/src/analytics/trends): product codes are five
digits and optional letters; a cancellation is an invoice starting with C. Per
product and month: units of non-cancellation lines, net sales of every line. The
last complete month is the last invoice's month when that day is the month's last
day, else the month before. Movers: units in the last three complete months
against the same months a year before, for products with at least --min-units
units before, by growth. New: first month with units in the data's last
--recent-months months. Gone: units in at least --steady-months of the 12 months
before that window, none in it. Seasonality and ABC over the last twelve complete
months: units by calendar month (negative months as 0), the peak (earliest on a
tie) and Q4 shares; ABC by net sales, A while the share of the products above is
under 80 %, B under 95 %. Prints JSON (shares as floats, net sales in pounds).
"""

import argparse
import json
import sys
import time

PRODUCT = "^[0-9]{5}[A-Za-z]*$"


def month(i):
    return f"{i // 12:04d}-{i % 12 + 1:02d}"


def load(con, path):
    """The lines as `lines`, their codes trimmed as lgs's ingest trims them."""
    if path.endswith(".parquet"):
        source = f"read_parquet('{path}')"
    else:
        source = f"""read_csv('{path}', header = true,
            columns = {{'invoice_no': 'VARCHAR', 'stock_code': 'VARCHAR', 'description': 'VARCHAR',
                        'quantity': 'BIGINT', 'invoice_date': 'TIMESTAMP',
                        'unit_price': 'DECIMAL(18,4)', 'customer_id': 'BIGINT',
                        'country': 'VARCHAR'}})"""
    con.execute(f"""CREATE TABLE lines AS SELECT * REPLACE (trim(invoice_no) AS invoice_no,
        trim(stock_code) AS stock_code) FROM {source}""")


def trends(path, a):
    import duckdb

    con = duckdb.connect()
    load(con, path)
    con.execute(f"""CREATE TABLE m AS SELECT stock_code,
          year(invoice_date) * 12 + month(invoice_date) - 1 AS mi,
          sum(CASE WHEN invoice_no LIKE 'C%' THEN 0 ELSE quantity END) AS units,
          sum(quantity * unit_price) AS net,
          count(DISTINCT customer_id) FILTER (invoice_no NOT LIKE 'C%') AS customers,
          count(DISTINCT invoice_no) FILTER (invoice_no NOT LIKE 'C%') AS invoices,
          -sum(CASE WHEN invoice_no LIKE 'C%' THEN quantity ELSE 0 END) AS cancelled
        FROM lines WHERE regexp_matches(stock_code, '{PRODUCT}') GROUP BY ALL""")
    # Each product's most frequent trimmed description (the smallest on a tie).
    described = con.execute(f"""
        SELECT count(*) FROM (
          SELECT stock_code, arg_min(d, (-lines, d)) FROM (
            SELECT stock_code, trim(description) AS d, count(*) AS lines FROM lines
            WHERE regexp_matches(stock_code, '{PRODUCT}') AND trim(description) <> ''
            GROUP BY ALL) GROUP BY stock_code)""").fetchone()[0]
    totals = con.execute("SELECT count(*), sum(customers), sum(invoices), sum(cancelled) FROM m").fetchone()
    last_day = con.execute("SELECT max(invoice_date)::DATE FROM lines").fetchone()[0]
    as_of = last_day.toordinal() + 1
    import datetime
    nxt = datetime.date.fromordinal(as_of)
    last = nxt.year * 12 + nxt.month - 1 - 1
    data_last = con.execute("SELECT max(mi) FROM m").fetchone()[0]
    now, before = (last - 2, last), (last - 14, last - 12)
    window = (data_last - a.recent_months + 1, data_last)
    year = (last - 11, last)
    movers = con.execute(f"""
        SELECT stock_code, b, n, (n - b) / b AS growth FROM (
          SELECT stock_code,
                 coalesce(sum(units) FILTER (mi BETWEEN {before[0]} AND {before[1]}), 0) AS b,
                 coalesce(sum(units) FILTER (mi BETWEEN {now[0]} AND {now[1]}), 0) AS n
          FROM m GROUP BY stock_code) WHERE b >= greatest({a.min_units}, 1)
        ORDER BY growth DESC, n DESC, stock_code""").fetchall()
    new = con.execute(f"""
        SELECT stock_code, min(mi) FILTER (units > 0) AS first FROM m GROUP BY stock_code
        HAVING first BETWEEN {window[0]} AND {window[1]} ORDER BY stock_code""").fetchall()
    gone = con.execute(f"""
        SELECT stock_code FROM m GROUP BY stock_code
        HAVING count(*) FILTER (units > 0 AND mi BETWEEN {window[0] - 12} AND {window[0] - 1})
                 >= {a.steady_months}
           AND count(*) FILTER (units > 0 AND mi BETWEEN {window[0]} AND {window[1]}) = 0
        ORDER BY stock_code""").fetchall()
    seasons = con.execute(f"""
        WITH c AS (SELECT stock_code, mi % 12 AS cal, sum(greatest(units, 0)) AS u
                   FROM m WHERE mi BETWEEN {year[0]} AND {year[1]} GROUP BY ALL),
        t AS (SELECT stock_code, sum(u) AS total, sum(u) FILTER (cal >= 9) AS q4,
                     arg_max(cal, u * 100 - cal) AS peak, max(u) AS most
              FROM c GROUP BY stock_code)
        SELECT stock_code, total, peak + 1, most / total, coalesce(q4, 0) / total FROM t
        WHERE total >= greatest({a.min_units}, 1) ORDER BY stock_code""").fetchall()
    abc = con.execute(f"""
        WITH s AS (SELECT stock_code, sum(net) AS net FROM m
                   WHERE mi BETWEEN {year[0]} AND {year[1]} GROUP BY stock_code HAVING net <> 0),
        r AS (SELECT stock_code, net,
                coalesce(sum(greatest(net, 0)) OVER (ORDER BY net DESC, stock_code
                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS above,
                sum(greatest(net, 0)) OVER () AS total FROM s)
        SELECT stock_code, net::DOUBLE,
               CASE WHEN net <= 0 THEN 'C' WHEN above / total < 0.80 THEN 'A'
                    WHEN above / total < 0.95 THEN 'B' ELSE 'C' END
        FROM r ORDER BY net DESC, stock_code""").fetchall()
    return {
        "last_complete": month(last),
        "sku_monthly": {"rows": totals[0], "customers": int(totals[1]), "invoices": int(totals[2]),
                        "cancelled_units": int(totals[3]), "described_products": described},
        "movers": [{"stock_code": c, "units_before": int(b), "units_now": int(n), "growth": float(g)}
                   for c, b, n, g in movers],
        "new_products": [{"stock_code": c, "month": month(f)} for c, f in new],
        "gone_products": [c for (c,) in gone],
        "seasonality": [{"stock_code": c, "units": int(u), "peak_month": int(p),
                         "peak_share": float(ps), "q4_share": float(q)}
                        for c, u, p, ps, q in seasons],
        "abc": [{"stock_code": c, "net_sales": n, "class": k} for c, n, k in abc],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path")
    ap.add_argument("--min-units", type=int, default=100)
    ap.add_argument("--recent-months", type=int, default=3)
    ap.add_argument("--steady-months", type=int, default=6)
    a = ap.parse_args()
    started = time.perf_counter()
    out = trends(a.path, a)
    out["seconds"] = round(time.perf_counter() - started, 3)
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
