#!/usr/bin/env python3
"""k-means by scikit-learn on lgs's features, for checking `lgs kmeans`.

Reads the per-customer RFM values lgs writes (`lgs report --out DIR` gives
DIR/rfm_customers.csv), builds the same features (customers with monetary > 0:
ln(1+recency), ln(1+frequency), ln(1+monetary), standardised with the population
standard deviation) and prints, for k = 2..10, the inertia of
`KMeans(n_clusters=k, n_init=10, random_state=0)` and the silhouette of its
labels, with the seconds it took, as JSON.

    kmeans_reference.py DIR/rfm_customers.csv
"""

import json
import sys
import time

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score


def main():
    df = pd.read_csv(sys.argv[1])
    df = df[df.monetary > 0]
    x = np.column_stack([np.log1p(df.recency.clip(lower=0)), np.log1p(df.frequency), np.log1p(df.monetary)])
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    started = time.perf_counter()
    out = []
    for k in range(2, 11):
        km = KMeans(n_clusters=k, n_init=10, random_state=0).fit(x)
        sil = silhouette_score(x, km.labels_) if len(x) <= 20000 else None
        out.append({"k": k, "inertia": km.inertia_, "silhouette": sil})
    print(json.dumps({"customers": len(x), "by_k": out, "seconds": time.perf_counter() - started}, indent=1))


if __name__ == "__main__":
    main()
