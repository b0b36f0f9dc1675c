#!/usr/bin/env python3
"""Benchmark (issue 28): what roles cost, and how long forgetting a customer takes.

One warehouse holds the lines (the real file, or --rows generated lines). Then,
interleaved, --runs times, whole processes, wall time:

1. `lgs report --format json` as admin (no policy) and as a role that masks
   customer_id (every row, customers as keyed pseudonyms): the same report's cost
   with and without masks;
2. a typical dashboard query (customers and sales per country) the same two ways;
3. both again on a copy of the warehouse ingested with a key file (every data
   file encrypted: Parquet modular encryption, AES-256-GCM), and the ingest itself
   plain and encrypted;
4. `lgs forget` of one customer (the one with most lines) on a fresh copy of the
   warehouse, without and with --now.

Medians and ratios are printed (and written to --json).

    python3 bench/governance.py [--rows 0 (the real file) | 10000000] [--runs 5]
        [--forget-runs 3] [--query-runs 0]
"""

import argparse
import json
import os
import shutil
import statistics

from live import lines_file, run

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

POLICY = """
pseudonym_key_file = "pseudonym.key"
[roles.analyst]
read = ["retail", "invoices"]
[roles.analyst.rules.retail]
mask = ["customer_id"]
"""

QUERY = ("SELECT country, count(DISTINCT customer_id) AS customers, sum(amount) AS sales "
         "FROM retail GROUP BY country ORDER BY sales DESC")


def main():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--lgs", default=os.path.join(target, "release", "lgs"))
    ap.add_argument("--rows", type=int, default=0, help="0: the real file")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--forget-runs", type=int, default=3)
    ap.add_argument("--query-runs", type=int, default=0,
                    help="then the dashboard query alone, admin and masked interleaved, "
                         "this many times (a steadier ratio than --runs gives)")
    ap.add_argument("--work", default="/tmp/lgs-governance-bench")
    ap.add_argument("--json")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    lgs = args.lgs
    base = lines_file(lgs, args.rows, args.work)
    wh = os.path.join(args.work, f"wh-{args.rows}")
    shutil.rmtree(wh, ignore_errors=True)
    run([lgs, "--warehouse", wh, "--quiet", "ingest", base])
    policy = os.path.join(args.work, "policy.toml")
    with open(policy, "w") as f:
        f.write(POLICY)
    with open(os.path.join(args.work, "pseudonym.key"), "wb") as f:
        f.write(os.urandom(32))
    keys = os.path.join(args.work, "warehouse.key")
    _, line = run([lgs, "key", "new"])
    with open(keys, "wb") as f:
        f.write(line)
    enc_wh = wh + "-encrypted"
    admin = [lgs, "--warehouse", wh, "--quiet"]
    analyst = admin + ["--policy", policy, "--role", "analyst"]
    encrypted = [lgs, "--warehouse", enc_wh, "--quiet", "--key-file", keys]
    samples = {k: [] for k in ("report_admin", "report_masked", "report_encrypted",
                               "query_admin", "query_masked", "query_encrypted",
                               "ingest_plain", "ingest_encrypted")}
    for r in range(args.runs):
        for key, who, target in (("ingest_plain", [lgs], wh + "-plain-ingest"),
                                 ("ingest_encrypted", [lgs, "--key-file", keys], enc_wh)):
            shutil.rmtree(target, ignore_errors=True)
            samples[key].append(run(who + ["--warehouse", target, "--quiet", "ingest",
                                           base])[0])
        shutil.rmtree(wh + "-plain-ingest", ignore_errors=True)
        for key, who in (("report_admin", admin), ("report_masked", analyst),
                         ("report_encrypted", encrypted)):
            samples[key].append(run(who + ["report", "--format", "json"])[0])
        for key, who in (("query_admin", admin), ("query_masked", analyst),
                         ("query_encrypted", encrypted)):
            samples[key].append(run(who + ["sql", "--format", "csv", QUERY])[0])
        print(f"  run {r + 1}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in samples.items()),
              flush=True)
    query_only = {"query_only_admin": [], "query_only_masked": []}
    for r in range(args.query_runs):
        for key, who in (("query_only_admin", admin), ("query_only_masked", analyst)):
            query_only[key].append(run(who + ["sql", "--format", "csv", QUERY])[0])
        print(f"  query run {r + 1}: " + ", ".join(f"{k} {v[-1]:.3f} s"
                                                    for k, v in query_only.items()), flush=True)
    samples.update(query_only)
    _, out = run(admin + ["sql", "--format", "csv",
                          "SELECT customer_id, count(*) AS n FROM retail WHERE customer_id IS "
                          "NOT NULL GROUP BY 1 ORDER BY n DESC LIMIT 1"])
    customer, lines = out.decode().splitlines()[1].split(",")
    env = dict(os.environ, LGS_PSEUDONYM_KEY="k" * 32)
    forget = {"forget": [], "forget_now": []}
    for r in range(args.forget_runs):
        for key, extra in (("forget", []), ("forget_now", ["--now"])):
            copy = wh + "-copy"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(wh, copy)
            seconds, out = run([lgs, "--warehouse", copy, "forget", "--customer", customer,
                                "--reason", "bench", "--format", "json", *extra], env=env)
            done = json.loads(out)
            assert done["rows"] >= int(lines), done
            forget[key].append(seconds)
        print(f"  forget run {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s"
                                                     for k, v in forget.items()), flush=True)
    shutil.rmtree(wh + "-copy", ignore_errors=True)
    shutil.rmtree(enc_wh, ignore_errors=True)
    samples.update(forget)
    med = {k: statistics.median(v) for k, v in samples.items() if v}
    print(summary(args.rows, med, customer, lines), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": args.rows, "customer": customer, "lines": int(lines),
                       "medians": med, "samples": samples}, f, indent=1)


def summary(rows, med, customer, lines):
    """The medians in one line (of the parts that ran)."""
    size = "the real file" if not rows else f"{rows:,} rows"

    def ratio(key, base):
        return f"{med[key]:.3f} s (x{med[key] / med[base]:.3f})"
    parts = []
    if "report_admin" in med:
        parts.append(
            f"report {med['report_admin']:.3f} s, masked "
            f"{ratio('report_masked', 'report_admin')}, encrypted "
            f"{ratio('report_encrypted', 'report_admin')}; query {med['query_admin']:.3f} s, "
            f"masked {ratio('query_masked', 'query_admin')}, encrypted "
            f"{ratio('query_encrypted', 'query_admin')}; ingest {med['ingest_plain']:.3f} s, "
            f"encrypted {ratio('ingest_encrypted', 'ingest_plain')}")
    if "query_only_admin" in med:
        parts.append(f"query alone {med['query_only_admin']:.3f} s, masked "
                     f"{ratio('query_only_masked', 'query_only_admin')}")
    if "forget" in med:
        parts.append(f"forget of customer {customer} ({lines} lines) {med['forget']:.2f} s, "
                     f"with --now {med['forget_now']:.2f} s")
    return f"medians ({size}): " + "; ".join(parts)


if __name__ == "__main__":
    main()
