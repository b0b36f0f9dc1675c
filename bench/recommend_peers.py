#!/usr/bin/env python3
"""The peers of `lgs recommend --calibration-end` in BENCHMARKS.md (issue 26):
PySpark MLlib's implicit ALS, and a pandas reference of the evaluation protocol
with the popularity baseline (lgs's popularity figures must equal it exactly).

    recommend_peers.py parquet CSV[.zst] OUT.parquet        the lines, typed (not timed)
    recommend_peers.py spark OUT.parquet --calibration-end D [-n 10] [ALS options]
    recommend_peers.py popularity OUT.parquet --calibration-end D [-n 10]

The protocol (as lgs's, crates/lgs/src/analytics/recommend/customers.rs): a
product is in a basket when its quantities in a non-cancellation invoice sum to at
least 1 (product codes only: five digits and optional letters); a customer's count
for a product is the number of such baskets. Training is every basket up to the
calibration end (the day included), the test every basket after it. A customer is
evaluated when they bought in training and, after it, a product they had not
bought in training that was sold in training (the relevant products). Each method
offers its top n of the products the customer did not buy in training; precision,
recall, average precision (over min(relevant, n)) and hit rate at n are averaged
over the evaluated customers. Popularity ranks products by training customers
(ties by code); Spark's ALS (implicitPrefs, the same rank, iterations, regParam,
alpha and seed as lgs) is scored with its factors in numpy. Each prints JSON: the
customers evaluated, the metrics, the fit's seconds and the seconds in process.
"""

import argparse
import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")
PRODUCT = r"^[0-9]{5}[A-Za-z]*$"


def to_parquet(csv, out):
    import pyarrow as pa

    from peer_common import typed_parquet
    typed_parquet(csv, out, {"invoice_no": pa.string(), "stock_code": pa.string(),
                             "quantity": pa.int64(), "invoice_date": pa.timestamp("s"),
                             "customer_id": pa.int64()})


def pandas_triples(path, end):
    """(train, test) frames of (customer_id, stock_code, baskets)."""
    import pandas as pd

    df = pd.read_parquet(path)
    df = df[~df.invoice_no.str.startswith("C") & df.stock_code.str.match(PRODUCT)
            & df.customer_id.notna()]
    held = df.groupby(["invoice_no", "customer_id", "stock_code"], sort=False).agg(
        q=("quantity", "sum"), day=("invoice_date", "min")).reset_index()
    held = held[held.q >= 1]
    cut = pd.Timestamp(end) + pd.Timedelta(days=1)
    # An invoice's lines share a day: its first line's day is the invoice's.
    parts = []
    for part in (held[held.day < cut], held[held.day >= cut]):
        parts.append(part.groupby(["customer_id", "stock_code"]).size().rename("baskets")
                     .reset_index())
    return parts


def evaluate(train, test, n, recommend):
    """The means of the metrics at n; `recommend(customer, bought set) -> codes`."""
    bought = train.groupby("customer_id").stock_code.agg(set).to_dict()
    sold = set(train.stock_code)
    later = test.groupby("customer_id").stock_code.agg(set).to_dict()
    sums = [0.0, 0.0, 0.0, 0.0]
    users = 0
    for customer, items in later.items():
        before = bought.get(customer)
        if before is None:
            continue
        relevant = {i for i in items if i in sold and i not in before}
        if not relevant:
            continue
        offered = recommend(customer, before)[:n]
        hits, precisions = 0, 0.0
        for at, code in enumerate(offered):
            if code in relevant:
                hits += 1
                precisions += hits / (at + 1)
        users += 1
        sums[0] += hits / n
        sums[1] += hits / len(relevant)
        sums[2] += precisions / min(len(relevant), n)
        sums[3] += 1.0 if hits else 0.0
    means = [s / users if users else 0.0 for s in sums]
    return users, dict(zip(("precision", "recall", "map", "hit_rate"), means))


def popularity(path, a):
    train, test = pandas_triples(path, a.calibration_end)
    counts = train.groupby("stock_code").customer_id.nunique()
    order = sorted(counts.index, key=lambda c: (-counts[c], c))

    def offer(_, before):
        out = []
        for code in order:
            if code not in before:
                out.append(code)
                if len(out) == a.n:
                    break
        return out

    users, metrics = evaluate(train, test, a.n, offer)
    return {"customers": users, "popularity": metrics}


def spark(path, a):
    import numpy as np
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    from pyspark_report import session

    spark = session("8g", None)
    spark.sparkContext.setLogLevel("ERROR")
    lines = (spark.read.parquet(path)
             .where(~F.col("invoice_no").startswith("C") & F.col("stock_code").rlike(PRODUCT)
                    & F.col("customer_id").isNotNull()))
    held = (lines.groupBy("invoice_no", "customer_id", "stock_code")
            .agg(F.sum("quantity").alias("q"), F.min("invoice_date").alias("day"))
            .where("q >= 1"))
    cut = F.lit(a.calibration_end).cast("date")
    def counted(part):
        return part.groupBy("customer_id", "stock_code").agg(F.count("*").alias("baskets"))
    train = counted(held.where(F.to_date("day") <= cut)).cache()
    codes = sorted(r[0] for r in train.select("stock_code").distinct().collect())
    index = spark.createDataFrame([(c, i) for i, c in enumerate(codes)], ["stock_code", "item"])
    ratings = train.join(index, "stock_code").select(
        F.col("customer_id").cast("int").alias("user"), "item",
        F.col("baskets").cast("float").alias("baskets")).cache()
    ratings.count()
    started = time.perf_counter()
    model = ALS(rank=a.factors, maxIter=a.iterations, regParam=a.regularization, alpha=a.alpha,
                implicitPrefs=True, userCol="user", itemCol="item", ratingCol="baskets",
                seed=a.seed, coldStartStrategy="drop").fit(ratings)
    users = model.userFactors.toPandas()
    items = model.itemFactors.toPandas()
    fit_seconds = time.perf_counter() - started
    train_pd = train.toPandas()
    test_pd = counted(held.where(F.to_date("day") > cut)).toPandas()
    spark.stop()
    row = {int(u): i for i, u in enumerate(users.id)}
    u_mat = np.array(users.features.tolist())
    i_mat = np.zeros((len(codes), a.factors))
    for item, f in zip(items.id, items.features):
        i_mat[int(item)] = f
    position = {c: i for i, c in enumerate(codes)}

    def offer(customer, before):
        scores = i_mat @ u_mat[row[int(customer)]]
        for code in before:
            scores[position[code]] = -np.inf
        best = np.lexsort((np.arange(len(codes)), -scores))[:a.n]
        return [codes[i] for i in best if np.isfinite(scores[i])]

    evaluated, metrics = evaluate(train_pd, test_pd, a.n, offer)
    return {"customers": evaluated, "als": metrics, "fit_seconds": round(fit_seconds, 3)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["parquet", "spark", "popularity"])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--calibration-end", default="2011-09-30")
    ap.add_argument("-n", type=int, default=10)
    ap.add_argument("--factors", type=int, default=32)
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--regularization", type=float, default=0.1)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    started = time.perf_counter()
    if a.mode == "parquet":
        to_parquet(*a.paths)
        return
    out = (spark if a.mode == "spark" else popularity)(a.paths[0], a)
    out["seconds"] = round(time.perf_counter() - started, 3)
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
