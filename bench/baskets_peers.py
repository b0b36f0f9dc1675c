#!/usr/bin/env python3
"""The peers of `lgs basket` in BENCHMARKS.md (issue 26): mlxtend's fpgrowth on
the one-hot pandas frame, and PySpark MLlib's FPGrowth.

    baskets_peers.py parquet CSV[.zst] OUT.parquet       the lines, typed (not timed)
    baskets_peers.py mlxtend OUT.parquet --min-support S
    baskets_peers.py spark OUT.parquet --min-support S

Same baskets as lgs (bench/basket_reference.py has the definitions): every
non-cancellation invoice is a basket; a product code (five digits and optional
letters) whose quantities in it sum to at least 1 is an item of it. mlxtend gets
the one-hot frame as a sparse pandas frame (one row per basket, baskets without
items included), which its documentation recommends for large data; Spark gets
one row per basket with its items as an array (empty for a basket without
items), so both divide by every basket. Each prints the baskets, the itemsets
(codes sorted) with their support, and the seconds in process, as JSON.
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
                             "quantity": pa.int64()})


def mlxtend(path, min_support):
    import numpy as np
    import pandas as pd
    from mlxtend.frequent_patterns import fpgrowth
    from scipy.sparse import csr_matrix

    df = pd.read_parquet(path)
    df = df[~df.invoice_no.str.startswith("C")]
    baskets = pd.Index(df.invoice_no.unique())
    items = df[df.stock_code.str.match(PRODUCT)]
    qty = items.groupby(["invoice_no", "stock_code"], sort=False).quantity.sum()
    held = qty[qty >= 1].reset_index()
    codes = pd.Index(held.stock_code.unique())
    rows = baskets.get_indexer(held.invoice_no)
    cols = codes.get_indexer(held.stock_code)
    matrix = csr_matrix((np.ones(len(held), dtype=bool), (rows, cols)),
                        shape=(len(baskets), len(codes)))
    onehot = pd.DataFrame.sparse.from_spmatrix(matrix, columns=codes)
    sets = fpgrowth(onehot, min_support=min_support, use_colnames=True)
    return len(baskets), [(sorted(s), float(v)) for s, v in zip(sets.itemsets, sets.support)]


def spark(path, min_support):
    from pyspark.ml.fpm import FPGrowth
    from pyspark.sql import functions as F

    from pyspark_report import session

    spark = session("8g", None)
    spark.sparkContext.setLogLevel("ERROR")
    lines = spark.read.parquet(path).where(~F.col("invoice_no").startswith("C"))
    held = (lines.where(F.col("stock_code").rlike(PRODUCT))
            .groupBy("invoice_no", "stock_code").agg(F.sum("quantity").alias("q"))
            .where("q >= 1").groupBy("invoice_no").agg(F.collect_list("stock_code").alias("items")))
    baskets = (lines.select("invoice_no").distinct().join(held, "invoice_no", "left")
               .select(F.coalesce("items", F.array().cast("array<string>")).alias("items"))
               .cache())
    n = baskets.count()
    model = FPGrowth(itemsCol="items", minSupport=min_support, minConfidence=0.5).fit(baskets)
    sets = [(sorted(r["items"]), r["freq"] / n) for r in model.freqItemsets.collect()]
    spark.stop()
    return n, sets


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["parquet", "mlxtend", "spark"])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--min-support", type=float, default=0.02)
    a = ap.parse_args()
    started = time.perf_counter()
    if a.mode == "parquet":
        to_parquet(*a.paths)
        return
    n, sets = (mlxtend if a.mode == "mlxtend" else spark)(a.paths[0], a.min_support)
    json.dump({"baskets": n, "itemsets": [{"items": i, "support": s} for i, s in sorted(sets)],
               "seconds": round(time.perf_counter() - started, 3)}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
