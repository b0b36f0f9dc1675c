#!/usr/bin/env python3
"""The experiment's tests by scipy, for checking `lgs experiment`.

Reads the per-customer outcomes lgs writes (`lgs experiment ... --out DIR` gives
DIR/experiment_customers.csv: customer_id, group, converted, orders, revenue,
pre_revenue) and prints, for each group against the control, what scipy says:
the two-proportion z-test (pooled, as statsmodels' proportions_ztest), Welch's
t-test (`ttest_ind(equal_var=False)`), CUPED (theta from both groups, then
Welch), and the sample-ratio chi-square against equal shares, as JSON.

    experiment_reference.py DIR/experiment_customers.csv [--control control]
"""

import argparse
import json

import numpy as np
import pandas as pd
from scipy import stats


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--control", default="control")
    a = ap.parse_args()
    df = pd.read_csv(a.csv)
    df["converted"] = df.converted.astype(str).str.lower() == "true"
    groups = sorted(df.group.unique())
    sizes = [int((df.group == g).sum()) for g in groups]
    chi = stats.chisquare(sizes)
    x, y = df.pre_revenue.to_numpy(), df.revenue.to_numpy()
    theta = np.cov(x, y, ddof=1)[0, 1] / np.var(x, ddof=1)
    df["adjusted"] = y - theta * (x - x.mean())
    c = df[df.group == a.control]
    out = {"sample_ratio": {"chi_square": chi.statistic, "p_value": chi.pvalue}, "comparisons": []}
    for g in groups:
        if g == a.control:
            continue
        t = df[df.group == g]
        xt, nt, xc, nc = t.converted.sum(), len(t), c.converted.sum(), len(c)
        pooled = (xt + xc) / (nt + nc)
        z = (xt / nt - xc / nc) / np.sqrt(pooled * (1 - pooled) * (1 / nt + 1 / nc))
        w = stats.ttest_ind(t.revenue, c.revenue, equal_var=False)
        ci = w.confidence_interval(0.95)
        cu = stats.ttest_ind(t.adjusted, c.adjusted, equal_var=False)
        out["comparisons"].append({
            "treatment": g,
            "conversion": {"difference": xt / nt - xc / nc, "p_value": 2 * stats.norm.sf(abs(z))},
            "revenue": {"difference": t.revenue.mean() - c.revenue.mean(), "low": ci.low,
                        "high": ci.high, "p_value": w.pvalue},
            "revenue_cuped": {"p_value": cu.pvalue},
            "cuped_theta": theta,
        })
    print(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
