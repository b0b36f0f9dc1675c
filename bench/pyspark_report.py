#!/usr/bin/env python3
"""The lgs report, computed by PySpark in local mode (the team's current engine): a
peer in BENCHMARKS.md.

Same definitions as lgs and bench/duckdb_report.py, in Spark SQL with decimal
prices (exact sums) and Spark's exact `percentile` (linear interpolation, as numpy).
The lines are cached once read, as a Spark user would.

    pyspark_report.py ingest CSV PARQUET      CSV -> typed Parquet directory
    pyspark_report.py report PARQUET --as-of  the report as JSON, from the Parquet
    pyspark_report.py both CSV --as-of        from the CSV, in one process

Spark's driver memory: --driver-memory (default 8g; the driver is the executor in
local mode).
"""

from peer_common import assemble, command_line, emit

SCHEMA = ("invoice_no STRING, stock_code STRING, description STRING, quantity INT, "
          "invoice_date TIMESTAMP, unit_price DECIMAL(14,4), customer_id BIGINT, country STRING")
QS = "array(0.2, 0.4, 0.6000000000000001, 0.8)"


def session(driver_memory, threads):
    from pyspark.sql import SparkSession
    return (SparkSession.builder.master(f"local[{threads or '*'}]").appName("lgs-peer")
            .config("spark.driver.memory", driver_memory)
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", str(max(2, 2 * (threads or 2))))
            .getOrCreate())


def read_csv(spark, csv):
    return (spark.read.option("header", "true").option("timestampFormat", "yyyy-MM-dd HH:mm:ss")
            .option("mode", "FAILFAST").schema(SCHEMA).csv(csv))


def register(spark, lines):
    lines.createOrReplaceTempView("base")
    retail = spark.sql("""
        SELECT *, date_format(invoice_date, 'yyyy-MM') AS month,
               CAST(quantity AS DECIMAL(10,0)) * unit_price AS amount,
               startswith(invoice_no, 'C') AS is_cancellation
        FROM base""").cache()
    retail.createOrReplaceTempView("retail")


def one(spark, sql):
    return spark.sql(sql).collect()[0]


def amount_stats(spark, cap):
    where = "" if cap is None else f"WHERE amount <= CAST({cap!r} AS DOUBLE)"
    inv = f"""(SELECT * FROM (SELECT invoice_no, CAST(sum(amount) AS DOUBLE) AS amount FROM retail
              WHERE unit_price > 0 AND quantity > 0 GROUP BY invoice_no) {where})"""
    n, lo, mean, hi, med, p85 = one(spark, f"""
        SELECT count(*), min(amount), avg(amount), max(amount),
               percentile(amount, 0.5), percentile(amount, 0.85) FROM {inv} t""")
    mode = one(spark, f"SELECT amount FROM {inv} t GROUP BY amount ORDER BY count(*) DESC, amount LIMIT 1")[0]
    return dict(count=n, min=lo, mean=mean, median=med, mode=mode, max=hi, p85=p85)


def monthly(spark):
    rows = spark.sql("""
        WITH bounds AS (SELECT min(invoice_date) AS lo, max(invoice_date) AS hi FROM retail),
        months AS (SELECT date_format(m, 'yyyy-MM') AS month
                   FROM bounds LATERAL VIEW explode(sequence(date_trunc('MONTH', lo), hi, INTERVAL 1 MONTH)) t AS m),
        per AS (SELECT month,
                  count(DISTINCT CASE WHEN NOT is_cancellation THEN invoice_no END) AS placed,
                  count(DISTINCT CASE WHEN is_cancellation THEN invoice_no END) AS cancelled,
                  sum(amount) AS sales, count(DISTINCT customer_id) AS active
                FROM retail GROUP BY month),
        firsts AS (SELECT min(month) AS month FROM retail WHERE customer_id IS NOT NULL GROUP BY customer_id),
        news AS (SELECT month, count(*) AS new_users FROM firsts GROUP BY month),
        f AS (SELECT m.month, coalesce(placed, 0) placed, coalesce(cancelled, 0) cancelled,
                     coalesce(sales, 0) sales, coalesce(active, 0) active, coalesce(new_users, 0) new_users
              FROM months m LEFT JOIN per ON m.month = per.month LEFT JOIN news ON m.month = news.month)
        SELECT month, placed, cancelled, CAST(sales AS DOUBLE),
               CASE WHEN lag(sales) OVER w <> 0
                    THEN CAST(sales - lag(sales) OVER w AS DOUBLE) / CAST(lag(sales) OVER w AS DOUBLE) * 100 END,
               active, new_users, active - new_users
        FROM f WINDOW w AS (ORDER BY month) ORDER BY month
        """).collect()
    keys = ["month", "placed_orders", "cancelled_orders", "sales", "sales_growth_pct",
            "active_users", "new_users", "existing_users"]
    return [dict(zip(keys, r)) for r in rows]


SEGMENT = """CASE
    WHEN r <= 2 AND f <= 2 THEN 'Hibernating' WHEN r <= 2 AND f <= 4 THEN 'At Risk'
    WHEN r <= 2 THEN 'Can\\'t Lose' WHEN r = 3 AND f <= 2 THEN 'About to Sleep'
    WHEN r = 3 AND f = 3 THEN 'Need Attention' WHEN r <= 4 AND f >= 4 THEN 'Loyal Customers'
    WHEN r = 4 AND f = 1 THEN 'Promising' WHEN r = 5 AND f = 1 THEN 'New Customers'
    WHEN f <= 3 THEN 'Potential Loyalists' ELSE 'Champions' END"""


def rfm(spark, as_of):
    spark.sql(f"""
        SELECT customer_id, recency, frequency, monetary,
               row_number() OVER (ORDER BY frequency, customer_id) AS f_rank
        FROM (SELECT customer_id,
                (unix_micros(TIMESTAMP '{as_of} 00:00:00') - unix_micros(max(invoice_date))) DIV 86400000000 AS recency,
                count(DISTINCT invoice_no) AS frequency, CAST(sum(amount) AS DOUBLE) AS monetary
              FROM retail WHERE customer_id IS NOT NULL GROUP BY customer_id) c
        """).cache().createOrReplaceTempView("rfm_base")
    r_e, f_e = one(spark, f"""SELECT percentile(CAST(recency AS DOUBLE), {QS}),
                                     percentile(CAST(f_rank AS DOUBLE), {QS}) FROM rfm_base""")

    def case(col, edges, labels):
        whens = " ".join(f"WHEN {col} <= CAST({e!r} AS DOUBLE) THEN {l}" for e, l in zip(edges, labels))
        return f"CASE {whens} ELSE {labels[-1]} END"

    rows = spark.sql(f"""
        WITH scored AS (SELECT *, {SEGMENT} AS segment FROM
            (SELECT recency, frequency, monetary, {case("recency", r_e, [5, 4, 3, 2, 1])} AS r,
                    {case("f_rank", f_e, [1, 2, 3, 4, 5])} AS f FROM rfm_base) s)
        SELECT segment, count(*) AS customers, avg(recency), avg(frequency), avg(monetary)
        FROM scored GROUP BY segment ORDER BY customers DESC, segment
        """).collect()
    keys = ["segment", "customers", "avg_recency_days", "avg_frequency", "avg_monetary"]
    return [dict(zip(keys, r)) for r in rows]


def report(spark, as_of):
    return assemble(as_of, lambda cap: amount_stats(spark, cap), lambda: monthly(spark),
                    lambda: rfm(spark, as_of))


def main():
    a, started = command_line(__doc__, (["--driver-memory"], dict(default="8g")),
                              (["--threads"], dict(type=int)))
    spark = session(a.driver_memory, a.threads)
    spark.sparkContext.setLogLevel("ERROR")
    out = None
    if a.mode == "ingest":
        read_csv(spark, a.paths[0]).write.mode("overwrite").parquet(a.paths[1])
    elif a.mode == "report":
        register(spark, spark.read.parquet(a.paths[0]))
        out = report(spark, a.as_of)
    else:
        register(spark, read_csv(spark, a.paths[0]))
        out = report(spark, a.as_of)
    spark.stop()
    emit("pyspark", a.mode, out, started)


if __name__ == "__main__":
    main()
