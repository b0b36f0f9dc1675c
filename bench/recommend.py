#!/usr/bin/env python3
"""Benchmark (issue 26): `lgs recommend --calibration-end` against PySpark MLlib's
implicit ALS on the same split (training time, precision@10 and the other top-10
metrics), side by side in one run on the real file and on 10 copies of it with
invoices and customers renumbered (x10: 10.7M rows; see bench/customers.py).

Each size is loaded once, untimed, into each tool's storage (lgs: its warehouse;
Spark: a Parquet file of the lines). Then, interleaved for --runs rounds, each
whole process is timed (wall, CPU of the process tree, peak RSS of the tree):
lgs fits on the baskets up to the calibration end and scores ALS and popularity;
Spark fits its ALS with the same rank, iterations, regParam, alpha and seed, and
is scored by the same protocol in numpy (bench/recommend_peers.py). A pandas
reference of the protocol computes the popularity baseline once, untimed: lgs's
popularity figures must equal it.

    python3 bench/recommend.py [--sizes real,x10] [--calibration-end 2011-09-30] [--runs 3]
"""

import argparse
import json
import os
import subprocess
import sys

from customers import interleaved, prepare, source_csv, table

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = [sys.executable, os.path.join(HERE, "recommend_peers.py")]
METRICS = ("precision", "recall", "map", "hit_rate")


def metrics(name, out):
    if name == "lgs recommend":
        e = out["evaluation"]
        by = {m["method"]: m for m in e["methods"]}
        return e["customers"], by["als"], by["popularity"]
    return out["customers"], out.get("als"), out.get("popularity")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap.add_argument("--lgs", default=os.path.join(target, "release", "lgs"))
    ap.add_argument("--sizes", default="real,x10")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--calibration-end", default="2011-09-30")
    ap.add_argument("--work", default="/tmp/lgs-customers")
    ap.add_argument("--memory-limit", default="2GB")
    ap.add_argument("--peer-timeout", type=int, default=1800)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    for size in a.sizes.split(","):
        wh, _, _ = prepare(a.lgs, size, a.work)
        csv = source_csv(size, a.work)
        parquet = os.path.join(a.work, f"{size}-recommend.parquet")
        if not os.path.exists(parquet):
            subprocess.run([*PEERS, "parquet", csv, parquet], check=True)
        split = ["--calibration-end", a.calibration_end]
        reference = json.loads(subprocess.run([*PEERS, "popularity", parquet, *split], check=True,
                                              capture_output=True, text=True).stdout)
        tools = {
            "lgs recommend": ([a.lgs, "-q", "--warehouse", wh, "--memory-limit", a.memory_limit,
                               "recommend", *split, "--format", "json"], None),
            "PySpark ALS": ([*PEERS, "spark", parquet, *split], a.peer_timeout),
        }
        samples, results = interleaved(tools, a.runs, size)
        title = "The real file" if size == "real" else f"The real file {size} (customers renumbered)"
        print(f"\n### {title}, fitted up to {a.calibration_end}, top 10")
        table(tools, samples, a.peer_timeout, lambda _: "lgs recommend")
        print("\n| method | customers | precision@10 | recall@10 | MAP@10 | hit rate |")
        print("|---|---:|---:|---:|---:|---:|")
        rows = []
        if results["lgs recommend"]:
            users, als, pop = metrics("lgs recommend", results["lgs recommend"])
            rows += [("lgs ALS", users, als), ("lgs popularity", users, pop)]
        if results["PySpark ALS"]:
            users, als, _ = metrics("PySpark ALS", results["PySpark ALS"])
            rows.append((f"PySpark ALS (fit {results['PySpark ALS']['fit_seconds']:.1f} s)", users, als))
        rows.append(("popularity, pandas reference", reference["customers"], reference["popularity"]))
        for name, users, m in rows:
            print(f"| {name} | {users} | " + " | ".join(f"{m[k]:.4f}" for k in METRICS) + " |")
        if results["lgs recommend"]:
            users, _, pop = metrics("lgs recommend", results["lgs recommend"])
            same = users == reference["customers"] and all(
                abs(pop[k] - reference["popularity"][k]) <= 1e-12 for k in METRICS)
            print("\n- lgs's popularity baseline " + ("equals" if same else "DIFFERS from")
                  + " the pandas reference of the protocol")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
