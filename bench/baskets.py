#!/usr/bin/env python3
"""Benchmark (issue 26): `lgs basket` against mlxtend (fpgrowth on the one-hot
pandas frame) and PySpark MLlib FPGrowth, side by side in one run, with the same
minimum support, on the real file and on generated data of the real shape.

Each size is loaded once, untimed, into each tool's storage (lgs: its warehouse,
as bench/customers.py makes it; the peers: a Parquet file of invoice, stock code
and quantity). Then, interleaved for --runs rounds, each whole process is timed
(wall, CPU of the process tree, peak RSS of the tree): `lgs basket --format json`
(baskets, itemsets and rules) against each peer's baskets and itemsets. The
itemsets are compared before the times are reported: the same sets of stock
codes, supports to 1e-9.

    python3 bench/baskets.py [--sizes real,10000000] [--min-support 0.02] [--runs 3]
"""

import argparse
import os
import subprocess
import sys

from customers import interleaved, prepare, source_csv, table

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = [sys.executable, os.path.join(HERE, "baskets_peers.py")]


def itemsets(name, out):
    """{codes: support} of a tool's output."""
    if name == "lgs basket":
        return {tuple(sorted(s["codes"])): s["support"] for s in out["itemsets"]}
    return {tuple(s["items"]): s["support"] for s in out["itemsets"]}


def check(results):
    ours = results["lgs basket"]
    said = []
    for name, out in results.items():
        if name == "lgs basket" or not out or not ours:
            continue
        a, b = itemsets("lgs basket", ours), itemsets(name, out)
        same = a.keys() == b.keys() and all(abs(a[k] - b[k]) <= 1e-9 * b[k] for k in a)
        said.append(f"{name}: {len(b)} itemsets of {out['baskets']} baskets, "
                    + ("the same as lgs's" if same and out["baskets"] == ours["baskets"]
                       else f"DIFFERENT from lgs's {len(a)} of {ours['baskets']}"))
    return said


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap.add_argument("--lgs", default=os.path.join(target, "release", "lgs"))
    ap.add_argument("--sizes", default="real,10000000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--min-support", default="0.02")
    ap.add_argument("--work", default="/tmp/lgs-customers")
    ap.add_argument("--memory-limit", default="2GB")
    ap.add_argument("--peer-timeout", type=int, default=1800)
    ap.add_argument("--skip", default="", help="tools to leave out, comma-separated (e.g. 'mlxtend,PySpark MLlib')")
    a = ap.parse_args()
    skip = [s for s in a.skip.split(",") if s]
    for size in a.sizes.split(","):
        size = size if size == "real" else int(size)
        peers = not {"mlxtend", "PySpark MLlib"} <= set(skip)
        wh, _, _ = prepare(a.lgs, size, a.work, peers=peers)
        tag = "real" if size == "real" else str(size)
        csv = source_csv(size, a.work)
        parquet = os.path.join(a.work, f"{tag}-baskets.parquet")
        if peers and not os.path.exists(parquet):
            subprocess.run([*PEERS, "parquet", csv, parquet], check=True)
        s = ["--min-support", a.min_support]
        tools = {
            "lgs basket": ([a.lgs, "-q", "--warehouse", wh, "--memory-limit", a.memory_limit,
                            "basket", "--format", "json", *s], None),
            "mlxtend": ([*PEERS, "mlxtend", parquet, *s], a.peer_timeout),
            "PySpark MLlib": ([*PEERS, "spark", parquet, *s], a.peer_timeout),
        }
        tools = {k: v for k, v in tools.items() if k not in skip}
        samples, results = interleaved(tools, a.runs, size)
        title = "The real file" if size == "real" else f"{size} rows"
        print(f"\n### {title}, minimum support {a.min_support}")
        table(tools, samples, a.peer_timeout, lambda _: "lgs basket")
        print()
        for line in check(results):
            print(f"- {line}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
