#!/usr/bin/env python3
"""The peers of `lgs clv` and `lgs kmeans` in BENCHMARKS.md (issue 25), each in
the plain form a data scientist would write.

    customers_peers.py parquet CSV[.zst] OUT.parquet   the lines, typed, for the peers
    customers_peers.py lifetimes OUT.parquet           CLV by lifetimes 0.11.3
    customers_peers.py sklearn RFM.csv                 k-means by scikit-learn
    customers_peers.py spark RFM.csv                   k-means by PySpark MLlib

`parquet` is the peers' ingest (not timed): customer, invoice time, quantity, and
the unit price in integers of 1/10,000 so that every day's net amount is exact (a
float sum that should be 0 is not always 0, and would make a purchase day of a
cancelled order). `lifetimes` computes the purchase days (a customer's lines of a
calendar day netting to more than 0), lifetimes' summary with daily periods, the
BG/NBD and Gamma-Gamma fits, P(alive), the 90-day expected purchases and the
12-month CLV at 1 % a month: what `lgs clv` does (bench/clv_reference.py is the
same computation from the CSV, with a per-customer sample for the tests).

The k-means peers start from lgs's per-customer RFM values (`lgs report --out DIR`
writes DIR/rfm_customers.csv), so their time leaves out the RFM computation that
`lgs kmeans` includes. Features as lgs: customers with monetary > 0,
ln(1+recency), ln(1+frequency), ln(1+monetary), standardised (population standard
deviation). For k = 2..10: scikit-learn `KMeans(n_init=10)` (k-means++, best of
10, as lgs) and the silhouette (on a 20,000-customer sample beyond 20,000, as lgs);
Spark `KMeans` (k-means||, one run per k unless --restarts) and its
`ClusteringEvaluator` silhouette. Each prints JSON with the seconds in process.
"""

import argparse
import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")
SAMPLE = 20_000


def to_parquet(csv, out):
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    types = {"quantity": pa.int64(), "invoice_date": pa.timestamp("s"),
             "unit_price": pa.float64(), "customer_id": pa.int64()}
    reader = pcsv.open_csv(
        pa.input_stream(csv, compression="detect"),
        read_options=pcsv.ReadOptions(block_size=64 << 20),
        convert_options=pcsv.ConvertOptions(column_types=types, include_columns=list(types)))
    schema = pa.schema([("customer_id", pa.int64()), ("invoice_date", pa.timestamp("s")),
                        ("quantity", pa.int64()), ("price_e4", pa.int64())])
    with pq.ParquetWriter(out, schema) as w:
        for b in reader:
            price = pc.cast(pc.round(pc.multiply(b["unit_price"], 10_000.0)), pa.int64())
            w.write_table(pa.table([b["customer_id"], b["invoice_date"], b["quantity"], price],
                                   schema=schema))


def lifetimes_clv(path):
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data

    df = pd.read_parquet(path)
    df = df[df.customer_id.notna()]
    df = df.assign(amount=df.quantity * df.price_e4, day=df.invoice_date.dt.normalize())
    end = df.day.max()
    days = df.groupby(["customer_id", "day"], as_index=False).amount.sum()
    days = days[days.amount > 0].assign(value=lambda d: d.amount / 10_000)
    s = summary_data_from_transaction_data(days, "customer_id", "day", monetary_value_col="value",
                                           observation_period_end=end, freq="D")
    bgf = BetaGeoFitter().fit(s.frequency, s.recency, s["T"])
    rep = s[(s.frequency > 0) & (s.monetary_value > 0)]
    ggf = GammaGammaFitter().fit(rep.frequency, rep.monetary_value)
    alive = bgf.conditional_probability_alive(s.frequency, s.recency, s["T"])
    e90 = bgf.conditional_expected_number_of_purchases_up_to_time(90, s.frequency, s.recency, s["T"])
    clv = ggf.customer_lifetime_value(bgf, s.frequency, s.recency, s["T"], s.monetary_value,
                                      time=12, discount_rate=0.01, freq="D")
    return {"observation_end": str(end.date()), "customers": int(len(s)),
            "repeat_customers": int((s.frequency > 0).sum()),
            "bgnbd": {k: float(v) for k, v in bgf.params_.items()},
            "gamma_gamma": {**{k: float(v) for k, v in ggf.params_.items()}, "customers": int(len(rep))},
            "expected_purchases_90d_total": float(e90.sum()), "clv_total": float(clv.sum()),
            "p_alive_mean": float(alive.mean())}


def features(path):
    import numpy as np
    import pandas as pd

    df = pd.read_csv(path)
    df = df[df.monetary > 0]
    x = np.column_stack([np.log1p(df.recency.clip(lower=0)), np.log1p(df.frequency),
                         np.log1p(df.monetary)])
    return (x - x.mean(axis=0)) / x.std(axis=0)


def sklearn_kmeans(path):
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    x = features(path)
    by_k = []
    for k in range(2, 11):
        km = KMeans(n_clusters=k, n_init=10, random_state=0).fit(x)
        sample = None if len(x) <= SAMPLE else SAMPLE
        sil = silhouette_score(x, km.labels_, sample_size=sample, random_state=0)
        by_k.append({"k": k, "inertia": float(km.inertia_), "silhouette": float(sil)})
    return {"customers": len(x), "by_k": by_k}


def spark_kmeans(path, restarts):
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.evaluation import ClusteringEvaluator
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import functions as F

    from pyspark_report import session

    spark = session("8g", None)
    spark.sparkContext.setLogLevel("ERROR")
    rfm = spark.read.option("header", "true").option("inferSchema", "true").csv(path)
    logs = rfm.where("monetary > 0").select(
        F.log1p(F.greatest(F.col("recency"), F.lit(0))).alias("r"),
        F.log1p("frequency").alias("f"), F.log1p("monetary").alias("m"))
    stats = logs.select(*[f(c).alias(f"{c}_{n}") for c in "rfm"
                          for n, f in (("mean", F.mean), ("sd", F.stddev_pop))]).first()
    scaled = logs.select(*[((F.col(c) - stats[f"{c}_mean"]) / stats[f"{c}_sd"]).alias(c) for c in "rfm"])
    data = VectorAssembler(inputCols=list("rfm"), outputCol="features").transform(scaled).cache()
    customers = data.count()
    by_k = []
    for k in range(2, 11):
        best = None
        for seed in range(restarts):
            model = KMeans(k=k, seed=seed, maxIter=300, tol=1e-4).fit(data)
            if best is None or model.summary.trainingCost < best.summary.trainingCost:
                best = model
        sil = ClusteringEvaluator().evaluate(best.transform(data))
        by_k.append({"k": k, "inertia": float(best.summary.trainingCost), "silhouette": float(sil)})
    spark.stop()
    return {"customers": customers, "by_k": by_k}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["parquet", "lifetimes", "sklearn", "spark"])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--restarts", type=int, default=1)
    a = ap.parse_args()
    started = time.perf_counter()
    if a.mode == "parquet":
        to_parquet(*a.paths)
        return
    out = {"lifetimes": lambda: lifetimes_clv(a.paths[0]),
           "sklearn": lambda: sklearn_kmeans(a.paths[0]),
           "spark": lambda: spark_kmeans(a.paths[0], a.restarts)}[a.mode]()
    out["seconds"] = round(time.perf_counter() - started, 3)
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
