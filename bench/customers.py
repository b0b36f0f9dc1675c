#!/usr/bin/env python3
"""Benchmark (issue 25): `lgs clv` against lifetimes, and `lgs kmeans` against
scikit-learn and PySpark MLlib, side by side in one run on the real file, and on
10 and 100 copies of it with invoices and customers renumbered (`xN`: 10.7M and
107M rows; the fits must equal the real file's), or on generated rows (a number).
lgs's generator has no churn: its customers never leave, BG/NBD's dropout runs to
a bound, lgs says so and lifetimes raises ConvergenceError, so the CLV figures use
the copies.

For each size: the lines are loaded once, untimed, into each tool's storage (lgs:
its Delta warehouse by `lgs ingest`; the peers: one typed Parquet file, see
customers_peers.py), and lgs's per-customer RFM values are written once for the
k-means peers. Then, interleaved for --runs rounds, each whole process is timed
(wall, CPU of the process tree, peak RSS of the tree):

  lgs clv          summaries from the lines + BG/NBD + Gamma-Gamma + predictions
  lifetimes        the same from the Parquet lines (pandas + lifetimes' fitters)
  lgs kmeans       RFM from the lines + features + k = 2..10, best of 10 each
  scikit-learn     features + k = 2..10, best of 10 (from lgs's RFM values)
  PySpark MLlib    features + k = 2..10, one k-means|| run each (same)

Before the times are reported the results are compared: BG/NBD and Gamma-Gamma
parameters to 1e-4 relative, inertia within 1 % of scikit-learn's. lgs runs with
--memory-limit (default 2GB). A peer that runs past --peer-timeout seconds is
reported as such.

    python3 bench/customers.py [--sizes real,x10,x100] [--runs 3]
        [--lgs $CARGO_TARGET_DIR/release/lgs] [--work /tmp/lgs-customers]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

from timing import tree_timed

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = [sys.executable, os.path.join(HERE, "customers_peers.py")]


REAL = os.path.join(ROOT, "data", "online_retail_II.csv.zst")


def replicate(copies, out):
    """`copies` copies of the real file, each with its invoices and customers
    renumbered (invoice C489434 of copy 7 is C007489434; customer 13085 is
    713085): the same customer histories `copies` times over, so every model fit
    equals the real file's."""
    import io

    import pandas as pd
    raw = subprocess.run(["zstd", "-dc", REAL], check=True, capture_output=True).stdout
    df = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    cancel = df.invoice_no.str[0].where(~df.invoice_no.str[0].str.isdigit(), "")
    number = df.invoice_no.str[len("C"):].where(cancel != "", df.invoice_no)
    has_id = df.customer_id != ""
    ids = pd.to_numeric(df.customer_id.where(has_id, "0"))
    with open(out, "w") as f:
        for c in range(copies):
            copy = df.assign(invoice_no=cancel + f"{c:03d}" + number,
                             customer_id=(ids + c * 100_000).astype(str).where(has_id, ""))
            copy.to_csv(f, header=c == 0, index=False)


def source_csv(size, work):
    """The CSV a size is made from: the real file, or the generated or copied file
    in `work`."""
    return REAL if size == "real" else os.path.join(work, f"{size}.csv")


def prepare(lgs, size, work, peers=True):
    """(warehouse, parquet, rfm csv) for one size, made once: the real file,
    `xN` (N copies of it, see `replicate`) or a number of generated rows. Without
    `peers`, only the warehouse (the others None)."""
    tag = "real" if size == "real" else str(size)
    csv = source_csv(size, work)
    if size != "real" and not os.path.exists(csv):
        if str(size).startswith("x"):
            replicate(int(size[1:]), csv)
        else:
            subprocess.run([lgs, "-q", "generate", "retail", "--rows", str(size), "--out", csv],
                           check=True)
    wh = os.path.join(work, f"{tag}-warehouse")
    if not os.path.exists(wh):
        subprocess.run([lgs, "-q", "--warehouse", wh, "ingest", csv], check=True)
    if not peers:
        return wh, None, None
    parquet = os.path.join(work, f"{tag}.parquet")
    if not os.path.exists(parquet):
        subprocess.run([*PEERS, "parquet", csv, parquet], check=True)
    out = os.path.join(work, f"{tag}-out")
    if not os.path.exists(os.path.join(out, "rfm_customers.csv")):
        subprocess.run([lgs, "-q", "--warehouse", wh, "report", "--out", out], check=True,
                       stdout=subprocess.DEVNULL)
    return wh, parquet, os.path.join(out, "rfm_customers.csv")


def run(argv, timeout):
    """Times argv; returns (wall, cpu, rss MB, parsed JSON stdout or None)."""
    with tempfile.TemporaryFile("w+") as out:
        cmd = argv if timeout is None else ["timeout", str(timeout), *argv]
        wall, cpu, rss, code = tree_timed(cmd, stdout=out)
        if code != 0:
            return wall, cpu, rss, None
        out.seek(0)
        return wall, cpu, rss, json.load(out)


def interleaved(tools, runs, size):
    """Runs every tool once per round for `runs` rounds (a tool that fails or times
    out is not run again); returns ({tool: [(wall, cpu, rss)]}, {tool: the first
    run's JSON or None})."""
    samples = {k: [] for k in tools}
    results = {k: None for k in tools}
    for r in range(runs):
        for name, (argv, timeout) in tools.items():
            if r > 0 and results[name] is None:
                continue
            wall, cpu, rss, out = run(argv, timeout)
            if r == 0:
                results[name] = out
            if out is not None:
                samples[name].append((wall, cpu, rss))
            print(f"  {size} run {r + 1} {name}: {wall:.2f} s, {rss:.0f} MB"
                  + ("" if out is not None else " (failed or timed out)"), file=sys.stderr, flush=True)
    return samples, results


def table(tools, samples, timeout, lgs_of):
    """Prints the medians of each tool's samples as a Markdown table, with how many
    times faster lgs is than each peer (`lgs_of(peer)` names the lgs tool it is
    compared with); returns {tool: (wall, cpu, rss) medians}."""
    print("\n| tool | wall s (median) | CPU s | peak RSS MB | lgs faster by |")
    print("|---|---:|---:|---:|---:|")
    med = {k: tuple(statistics.median(s[i] for s in v) for i in range(3)) for k, v in samples.items() if v}
    for name in tools:
        if name not in med:
            print(f"| {name} | failed or over {timeout} s | | | |")
            continue
        w, c, m = med[name]
        base = None if name.startswith("lgs") else med.get(lgs_of(name))
        ratio = f"{w / base[0]:.1f}x" if base else ""
        print(f"| {name} | {w:.2f} | {c:.2f} | {m:.0f} | {ratio} |")
    return med


def close(a, b, tol):
    return abs(a - b) <= tol * max(abs(a), abs(b))


def check(results):
    """Compares the tools' answers; returns lines saying what matched."""
    said = []
    lgs, lt = results["lgs clv"], results["lifetimes"]
    if lgs and lt:
        for model, keys in (("bgnbd", ("r", "alpha", "a", "b")), ("gamma_gamma", ("p", "q"))):
            for k in keys:
                ours, theirs = lgs["clv"][model][k], lt[model][k]
                if not close(ours, theirs, 1e-4):
                    said.append(f"MISMATCH {model}.{k}: lgs {ours} lifetimes {theirs}")
        said.append("parameters " + ("equal to 1e-4" if not said else "differ"))
    km, sk = results["lgs kmeans"], results["scikit-learn"]
    if km and sk:
        worst = max(ours["inertia"] / theirs["inertia"] - 1
                    for ours, theirs in zip(km["kmeans"]["by_k"], sk["by_k"]))
        said.append(f"lgs inertia vs scikit-learn's, worst k: {worst:+.3%}")
    sp = results["PySpark MLlib"]
    if sp and sk:
        worst = max(ours["inertia"] / theirs["inertia"] - 1 for ours, theirs in zip(sp["by_k"], sk["by_k"]))
        said.append(f"Spark inertia vs scikit-learn's, worst k: {worst:+.3%}")
    return said


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap.add_argument("--lgs", default=os.path.join(target, "release", "lgs"))
    ap.add_argument("--sizes", default="real,x10,x100")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", default="/tmp/lgs-customers")
    ap.add_argument("--memory-limit", default="2GB")
    ap.add_argument("--peer-timeout", type=int, default=1800)
    ap.add_argument("--skip", default="", help="tools to leave out, comma-separated (e.g. 'PySpark MLlib')")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    for size in a.sizes.split(","):
        size = size if size == "real" or size.startswith("x") else int(size)
        wh, parquet, rfm = prepare(a.lgs, size, a.work)
        lgs = [a.lgs, "-q", "--warehouse", wh, "--memory-limit", a.memory_limit]
        tools = {
            "lgs clv": (lgs + ["clv", "--format", "json"], None),
            "lifetimes": (PEERS + ["lifetimes", parquet], a.peer_timeout),
            "lgs kmeans": (lgs + ["kmeans", "--format", "json"], None),
            "scikit-learn": (PEERS + ["sklearn", rfm], a.peer_timeout),
            "PySpark MLlib": (PEERS + ["spark", rfm], a.peer_timeout),
        }
        tools = {k: v for k, v in tools.items() if k not in a.skip.split(",")}
        samples, results = interleaved(tools, a.runs, size)
        for name in ("lgs clv", "lifetimes", "lgs kmeans", "scikit-learn", "PySpark MLlib"):
            results.setdefault(name, None)
        print({"real": "\n### The real file"}.get(size, f"\n### {size} rows")
              if not str(size).startswith("x") else f"\n### The real file {size} (customers renumbered)")
        med = table(tools, samples, a.peer_timeout,
                    lambda name: "lgs clv" if name == "lifetimes" else "lgs kmeans")
        print()
        for line in check(results):
            print(f"- {line}")
        with open(os.path.join(HERE, "results", f"customers-{size}.json"), "w") as f:
            json.dump({"medians": med, "results": results}, f, indent=1)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
