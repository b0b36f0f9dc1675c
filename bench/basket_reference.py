#!/usr/bin/env python3
"""Market baskets by the reference implementation, mlxtend 0.25.0 (fpgrowth on the
one-hot pandas frame, then association_rules), for checking `lgs basket`.

Same definitions as lgs (crates/lgs/src/analytics/basket): a basket is a
non-cancellation invoice (invoice_no not starting with C) in scope; an item (a
stock code of five digits and optional letters) is in a basket when its quantities
in the invoice sum to at least 1; invoices without any item still count as baskets
(rows of the one-hot frame with no item), so support's denominator is every basket
in scope.

    pip install mlxtend==0.25.0 pandas
    basket_reference.py CSV[.zst] [--country C] [--min-support 0.02]
        [--min-confidence 0.5] [--min-lift 1] > reference.json

Prints the baskets, the itemsets (stock codes, sorted) with support, and the rules
with mlxtend's metrics (conviction null when infinite), and the seconds the mining
took, as JSON.
"""

import argparse
import io
import json
import math
import subprocess
import sys
import time
import warnings

import pandas as pd
from mlxtend.frequent_patterns import association_rules, fpgrowth

warnings.filterwarnings("ignore")


def read(path):
    if path.endswith(".zst"):
        path = io.BytesIO(subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout)
    return pd.read_csv(path, usecols=["invoice_no", "stock_code", "quantity", "invoice_date", "country"],
                       dtype={"invoice_no": "string", "stock_code": "string", "quantity": "int64",
                              "country": "string"})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--country")
    ap.add_argument("--min-support", type=float, default=0.02)
    ap.add_argument("--min-confidence", type=float, default=0.5)
    ap.add_argument("--min-lift", type=float, default=1.0)
    a = ap.parse_args()
    df = read(a.csv)
    df = df[~df.invoice_no.str.startswith("C")]
    if a.country:
        df = df[df.country == a.country]
    baskets = df.invoice_no.unique()
    items = df[df.stock_code.str.fullmatch(r"[0-9]{5}[A-Za-z]*")]
    qty = items.groupby(["invoice_no", "stock_code"]).quantity.sum()
    held = qty[qty >= 1].reset_index()
    started = time.perf_counter()
    onehot = pd.crosstab(held.invoice_no, held.stock_code).astype(bool)
    onehot = onehot.reindex(baskets, fill_value=False)
    sets = fpgrowth(onehot, min_support=a.min_support, use_colnames=True)
    rules = association_rules(sets, num_itemsets=len(baskets), metric="confidence",
                              min_threshold=a.min_confidence)
    rules = rules[rules.lift >= a.min_lift]
    seconds = time.perf_counter() - started

    def finite(v):
        return None if math.isinf(v) else float(v)

    out = {
        "baskets": int(len(baskets)),
        "items": int(held.stock_code.nunique()),
        "min_support": a.min_support,
        "seconds": round(seconds, 3),
        "itemsets": sorted(({"items": sorted(s), "support": float(v)}
                            for s, v in zip(sets.itemsets, sets.support)),
                           key=lambda s: (len(s["items"]), s["items"])),
        "rules": sorted(({"antecedents": sorted(r.antecedents), "consequents": sorted(r.consequents),
                          "antecedent_support": float(r["antecedent support"]),
                          "consequent_support": float(r["consequent support"]),
                          "support": float(r.support), "confidence": float(r.confidence),
                          "lift": float(r.lift), "leverage": float(r.leverage),
                          "conviction": finite(r.conviction)}
                         for _, r in rules.iterrows()),
                        key=lambda r: (r["antecedents"], r["consequents"])),
    }
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
