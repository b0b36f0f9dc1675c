#!/usr/bin/env python3
"""Benchmark (issue 29): a BI tool's queries over the PostgreSQL protocol, `lgs serve
--pg` against PostgreSQL 15 holding the same lines.

The lines (the real file, or --rows generated) are ingested into a warehouse, and
copied (through `lgs sql --format csv`) into a PostgreSQL table of the same columns
(with an index on customer_id, as a warehouse in PostgreSQL would have). One psycopg
connection to each; interleaved, --runs times, each query timed from send to the
last row fetched:

1. the monthly sales (the dashboard's first chart);
2. a dashboard aggregate (customers and sales per country);
3. a month's sales per day;
4. one customer's lines, as a prepared statement with a parameter (20 customers);
5. 1,000,000 lines to the client.

Then a bounded concurrent load on each server in turn (--clients threads for
--load-seconds): connections per second (connect, `SELECT 1`, close), and the
latency of the monthly-sales query from clients that each keep a connection
(queries per second, median and 99th percentile).

    pip install "psycopg[binary]"
    python3 bench/pgwire.py [--rows 0] [--runs 5] [--postgres postgres://postgres@127.0.0.1:5432/test]
"""

import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import time

import psycopg

from live import ingested

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TABLE = "lgs_bench_retail"

QUERIES = {
    "monthly sales": "SELECT month, sum(amount) AS sales FROM {t} GROUP BY month ORDER BY month",
    "by country": ("SELECT country, count(DISTINCT customer_id) AS customers, sum(amount) AS sales "
                   "FROM {t} GROUP BY country ORDER BY sales DESC"),
    "a month by day": ("SELECT date_trunc('day', invoice_date) AS day, sum(amount) AS sales "
                       "FROM {t} WHERE invoice_date >= '2011-11-01' AND invoice_date < '2011-12-01' "
                       "GROUP BY 1 ORDER BY 1"),
    "one customer (prepared)": "SELECT * FROM {t} WHERE customer_id = %s ORDER BY invoice_date",
    "1,000,000 lines": "SELECT * FROM {t} LIMIT 1000000",
}


def load_postgres(lgs, wh, url, work):
    """The warehouse's retail lines in PostgreSQL table TABLE."""
    csv = os.path.join(work, "retail.csv")
    with open(csv, "wb") as f:
        subprocess.run([lgs, "--warehouse", wh, "--quiet", "sql", "--format", "csv",
                        "SELECT * FROM retail"], check=True, stdout=f)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"""CREATE TABLE {TABLE} (invoice_no text, stock_code text, description text,
            quantity integer, invoice_date timestamp, unit_price numeric(18,4), customer_id bigint,
            country text, month text, amount numeric(38,4), is_cancellation boolean)""")
        with open(csv, "rb") as f, conn.cursor().copy(
                f"COPY {TABLE} FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
            while chunk := f.read(1 << 20):
                copy.write(chunk)
        conn.execute(f"CREATE INDEX ON {TABLE} (customer_id)")
        conn.execute(f"ANALYZE {TABLE}")
        return conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]


def timed(conn, query, params_list):
    start = time.perf_counter()
    rows = 0
    for params in params_list:
        rows += len(conn.execute(query, params, prepare=params is not None).fetchall())
    return time.perf_counter() - start, rows


def load(url, clients, seconds, work):
    """`clients` threads doing `work(url)` until `seconds` have passed: the
    latencies of each call."""
    deadline = time.perf_counter() + seconds

    def client(_):
        latencies = []
        state = {}
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            work(url, state)
            latencies.append(time.perf_counter() - start)
        if state.get("conn"):
            state["conn"].close()
        return latencies

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        return sorted(x for done in pool.map(client, range(clients)) for x in done)


def connect_once(url, _state):
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT 1").fetchall()


def monthly(table):
    def work(url, state):
        if "conn" not in state:
            state["conn"] = psycopg.connect(url, autocommit=True)
        state["conn"].execute(QUERIES["monthly sales"].format(t=table)).fetchall()
    return work


def under_load(urls, clients, seconds):
    """Connections per second and the monthly query's latencies, per server."""
    result = {}
    for tool, (url, table) in urls.items():
        connects = load(url, clients, seconds, connect_once)
        queries = load(url, clients, seconds, monthly(table))
        result[tool] = {
            "connections_per_second": len(connects) / seconds,
            "connect_p99_ms": 1000 * connects[int(0.99 * (len(connects) - 1))],
            "queries_per_second": len(queries) / seconds,
            "query_p50_ms": 1000 * statistics.median(queries),
            "query_p99_ms": 1000 * queries[int(0.99 * (len(queries) - 1))],
        }
        r = result[tool]
        print(f"under load ({clients} clients, {seconds} s) {tool}: "
              f"{r['connections_per_second']:.0f} connections/s (p99 {r['connect_p99_ms']:.1f} ms), "
              f"monthly sales {r['queries_per_second']:.0f} queries/s, p50 "
              f"{r['query_p50_ms']:.1f} ms, p99 {r['query_p99_ms']:.1f} ms", flush=True)
    return result


def main():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--lgs", default=os.path.join(target, "release", "lgs"))
    ap.add_argument("--rows", type=int, default=0, help="0: the real file")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/test")
    ap.add_argument("--work", default="/tmp/lgs-pgwire-bench")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--load-seconds", type=float, default=10)
    ap.add_argument("--json")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    _, wh = ingested(args.lgs, args.rows, args.work)
    loaded = load_postgres(args.lgs, wh, args.postgres, args.work)
    server = subprocess.Popen([args.lgs, "--warehouse", wh, "serve", "--port", "0", "--pg-port",
                               "0", "--no-live"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        server.stdout.readline()
        port = int(server.stdout.readline().strip().rstrip("/").rsplit(":", 1)[1])
        lgs_conn = psycopg.connect(f"postgresql://lgs@127.0.0.1:{port}/lgs", autocommit=True)
        pg_conn = psycopg.connect(args.postgres, autocommit=True)
        customers = [r[0] for r in pg_conn.execute(
            f"SELECT customer_id FROM {TABLE} WHERE customer_id IS NOT NULL "
            "GROUP BY 1 ORDER BY count(*) DESC LIMIT 20")]
        samples = {}
        for r in range(args.runs):
            line = []
            for name, sql in QUERIES.items():
                params = [(c,) for c in customers] if "%s" in sql else [None]
                got = {}
                for tool, conn, table in (("lgs", lgs_conn, "retail"),
                                          ("postgres", pg_conn, TABLE)):
                    seconds, rows = timed(conn, sql.format(t=table), params)
                    samples.setdefault((name, tool), []).append(seconds)
                    got[tool] = rows
                    line.append(f"{name}/{tool} {seconds:.3f} s")
                assert got["lgs"] == got["postgres"], (name, got)
            print(f"  run {r + 1}: " + ", ".join(line), flush=True)
        lgs_conn.close()
        pg_conn.close()
        loaded_urls = {"lgs": (f"postgresql://lgs@127.0.0.1:{port}/lgs", "retail"),
                       "postgres": (args.postgres, TABLE)}
        concurrent_result = under_load(loaded_urls, args.clients, args.load_seconds)
    finally:
        server.terminate()
        server.wait(10)
    size = "the real file" if not args.rows else f"{args.rows:,} rows"
    result = {}
    for name in QUERIES:
        med = {t: statistics.median(samples[(name, t)]) for t in ("lgs", "postgres")}
        result[name] = med
        print(f"medians ({size}, {loaded:,} lines) {name}: lgs {med['lgs']:.4f} s, PostgreSQL "
              f"{med['postgres']:.4f} s: lgs/PostgreSQL x{med['lgs'] / med['postgres']:.2f}",
              flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": args.rows, "runs": args.runs, "result": result,
                       "load": {"clients": args.clients, "seconds": args.load_seconds,
                                "result": concurrent_result}}, f, indent=1)


if __name__ == "__main__":
    main()
