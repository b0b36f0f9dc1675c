#!/usr/bin/env python3
"""Lifetime value by the reference implementation, `lifetimes` 0.11.3 (the
library PyMC-Marketing's CLV module grew from), for checking lgs's CLV section.

Same definitions as lgs (crates/lgs/src/analytics/clv): a purchase day is a
calendar day on which a customer's lines (cancellations included) net to more
than zero, worth that net amount; the observation ends on the last invoice day
(or the day before --as-of). Amounts are kept in integers of 1/10,000 so every
day's total is exact; lifetimes then takes it from
`summary_data_from_transaction_data(..., freq="D")`.

    pip install lifetimes==0.11.3
    clv_reference.py CSV[.zst] [--as-of YYYY-MM-DD] > reference.json

Prints the summaries' totals, both fits, the 90-day expected purchases and the
12-month CLV at 1 % a month (lifetimes' customer_lifetime_value, freq "D": months
of 30 days), as JSON.
"""

import argparse
import io
import json
import subprocess
import sys
import time
import warnings

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data

warnings.filterwarnings("ignore")


def read(path):
    if path.endswith(".zst"):
        raw = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
        path = io.BytesIO(raw)
    df = pd.read_csv(
        path,
        usecols=["quantity", "invoice_date", "unit_price", "customer_id"],
        dtype={"quantity": "int64", "unit_price": "string", "customer_id": "Int64"},
    )
    df = df[df.customer_id.notna()]
    price = (df.unit_price.astype(float) * 10_000).round().astype("int64")
    df = df.assign(amount=price * df.quantity, day=pd.to_datetime(df.invoice_date).dt.normalize())
    return df


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--as-of")
    a = ap.parse_args()
    started = time.perf_counter()
    df = read(a.csv)
    end = (pd.Timestamp(a.as_of) - pd.Timedelta(days=1)) if a.as_of else df.day.max()
    days = df[df.day <= end].groupby(["customer_id", "day"], as_index=False).amount.sum()
    days = days[days.amount > 0].assign(value=lambda d: d.amount / 10_000)
    s = summary_data_from_transaction_data(
        days, "customer_id", "day", monetary_value_col="value",
        observation_period_end=end, freq="D",
    )
    bgf = BetaGeoFitter()
    bgf.fit(s.frequency, s.recency, s["T"])
    rep = s[(s.frequency > 0) & (s.monetary_value > 0)]
    ggf = GammaGammaFitter()
    ggf.fit(rep.frequency, rep.monetary_value)
    e90 = bgf.conditional_expected_number_of_purchases_up_to_time(90, s.frequency, s.recency, s["T"])
    clv = ggf.customer_lifetime_value(
        bgf, s.frequency, s.recency, s["T"], s.monetary_value,
        time=12, discount_rate=0.01, freq="D",
    )
    alive = bgf.conditional_probability_alive(s.frequency, s.recency, s["T"])
    out = {
        "observation_end": str(end.date()),
        "customers": int(len(s)),
        "repeat_customers": int((s.frequency > 0).sum()),
        "bgnbd": {k: float(v) for k, v in bgf.params_.items()},
        "gamma_gamma": {**{k: float(v) for k, v in ggf.params_.items()}, "customers": int(len(rep))},
        "expected_purchases_90d_total": float(e90.sum()),
        "clv_total": float(clv.sum()),
        "p_alive_mean": float(alive.mean()),
        "seconds": round(time.perf_counter() - started, 3),
        "customers_sample": [
            {"customer_id": int(i), "x": int(r.frequency), "t_x": int(r.recency), "t": int(r["T"]),
             "m": float(r.monetary_value), "p_alive": float(alive[n]),
             "expected_purchases_90d": float(e90.iloc[n]), "clv": float(clv.iloc[n])}
            for n, (i, r) in enumerate(s.iterrows()) if n % 500 == 0
        ],
    }
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
