#!/usr/bin/env python3
"""Benchmark: lgs against pandas, PySpark (local mode), DuckDB and Polars on the full
LGS report, side by side on the same files in one run.

For every size (the real file and generated data) and scenario, each tool does the
same work with the same definitions, and its report is checked equal to lgs's
(counts exact, floating point to 1e-9 relative) before its time counts:

  columnar  the report from the tool's own columnar storage, written beforehand
            (lgs: its Delta warehouse; the peers: a Parquet file each writes itself)
  csv       from the CSV: lgs ingests it into an empty warehouse then reports (two
            processes); the peers read it and report in one process

Wall time, CPU time (every process of the tool, a JVM included) and peak resident
memory (the whole process tree) are medians of --runs runs. A tool that fails (out
of memory, say) is shown with where it failed, and the run goes on.

    python3 bench/peers.py [--sizes real,10M,100M] [--tools lgs,duckdb,polars,pandas,pyspark]
                           [--scenarios columnar,csv] [--runs 3] [--work DIR]
                           [--python PY] [--lgs PATH] [--json OUT]

--python is the interpreter with the peers installed
(`pip install duckdb polars pandas pyarrow pyspark`; PySpark needs Java 17).
Generated data comes from `lgs generate retail --seed 1`; it is kept in --work and
reused by later runs.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from timing import tree_timed  # noqa: E402

# The report's sections the peers compute too: lgs's default report also fits the
# customer models of issue 25 (clv, kmeans), which the peers' reports do not.
LGS_SECTIONS = ["--sections", "invoices,monthly,rfm,cohorts"]

AS_OF = "2012-01-01"
PEERS = ["duckdb", "polars", "pandas", "pyspark"]


def rows_of(size):
    if size == "real":
        return 1_067_370
    mult = {"K": 10**3, "M": 10**6, "B": 10**9}
    return int(float(size[:-1]) * mult[size[-1].upper()]) if size[-1].isalpha() else int(size)


def close(a, b, at):
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) >= set(b), f"{at}: keys {sorted(b)} vs {sorted(a)}"
        for k in b:
            close(a[k], b[k], f"{at}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{at}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            close(x, y, f"{at}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a is not None and b is not None and abs(a - b) <= 1e-9 * max(abs(a), abs(b)), \
            f"{at}: lgs {a} != {b}"
    else:
        assert a == b, f"{at}: lgs {a!r} != {b!r}"


def check_equal(ours, theirs):
    """The peer's report equals lgs's: invoice statistics, every month, every RFM
    segment (matched by name)."""
    for part in ["invoice_amount", "invoice_amount_trimmed", "monthly"]:
        close(ours[part], theirs[part], part)
    seg = {s["segment"]: s for s in ours["rfm_segments"]}
    assert len(seg) == len(theirs["rfm_segments"]), "segment count"
    for s in theirs["rfm_segments"]:
        close(seg[s["segment"]], s, f"rfm {s['segment']}")


class Bench:
    def __init__(self, a):
        self.a = a
        self.lgs = os.path.abspath(a.lgs)
        self.work = os.path.abspath(a.work)
        os.makedirs(self.work, exist_ok=True)
        self.results = []

    def peer(self, tool, *args):
        extra = ["--threads", str(self.a.threads)] if self.a.threads and tool in ("duckdb", "pyspark") else []
        return [self.a.python, os.path.join(HERE, f"{tool}_report.py"), *args, *extra]

    def lgs_cmd(self, wh, *args):
        threads = ["--threads", str(self.a.threads)] if self.a.threads else []
        return [self.lgs, "--quiet", "--warehouse", wh, *threads, *args]

    def csv_for(self, size):
        path = os.path.join(self.work, f"{size}.csv")
        if not os.path.exists(path):
            print(f"[{size}] preparing {path}", file=sys.stderr, flush=True)
            if size == "real":
                with open(path + ".tmp", "wb") as out:
                    subprocess.run(["zstd", "-dc", os.path.join(ROOT, "data", "online_retail_II.csv.zst")],
                                   stdout=out, check=True)
            else:
                subprocess.run([self.lgs, "--quiet", "generate", "retail", "--rows", str(rows_of(size)),
                                "--seed", "1", "--out", path + ".tmp"], check=True)
            os.rename(path + ".tmp", path)
        return path

    def run(self, argv, out_path):
        """Times argv with its stdout in out_path; (wall, cpu, peak MB, error or None)."""
        err_path = out_path + ".err"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            wall, cpu, peak, code = tree_timed(argv, stdout=out, stderr=err)
        if code != 0:
            with open(err_path, errors="replace") as f:
                tail = [l.strip() for l in f.read().splitlines() if l.strip()][-3:]
            why = "killed by the kernel (out of memory)" if code in (137, -9) else f"exit {code}"
            return wall, cpu, peak, f"{why}: {' | '.join(tail)[-300:]}"
        return wall, cpu, peak, None

    def measure(self, size, scenario, tool, steps, reference):
        """Runs the steps (argv lists, the last printing the report) --runs times;
        checks the report each time. Returns the row for the table."""
        samples, error = [], None
        for i in range(self.a.runs):
            if scenario == "csv" and tool == "lgs":
                shutil.rmtree(os.path.join(self.work, f"wh-fresh-{size}"), ignore_errors=True)
            wall = cpu = peak = 0.0
            out = os.path.join(self.work, f"out-{size}-{scenario}-{tool}.json")
            for argv in steps:
                w, c, p, error = self.run(argv, out)
                wall, cpu, peak = wall + w, cpu + c, max(peak, p)
                if error:
                    break
            if error:
                print(f"[{size}] {scenario} {tool}: FAILED after {wall:.1f} s, peak {peak:.0f} MB: {error}",
                      file=sys.stderr, flush=True)
                samples.append((wall, cpu, peak))
                break
            with open(out) as f:
                report = json.load(f)
            if reference is not None:
                try:
                    check_equal(reference, report)
                except AssertionError as e:
                    raise SystemExit(f"MISMATCH [{size}] {scenario} {tool}: {e}")
            samples.append((wall, cpu, peak))
            print(f"[{size}] {scenario} {tool} run {i + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU, "
                  f"{peak:.0f} MB", file=sys.stderr, flush=True)
        med = tuple(statistics.median(s[k] for s in samples) for k in range(3))
        return dict(size=size, rows=rows_of(size), scenario=scenario, tool=tool, runs=len(samples),
                    wall=med[0], cpu=med[1], peak_mb=med[2], error=error, report=None if error else report)

    def size(self, size):
        csv = self.csv_for(size)
        wh = os.path.join(self.work, f"wh-{size}")
        tools = self.a.tools
        if "columnar" in self.a.scenarios:
            # Each tool's columnar storage, written once (not timed here).
            if not os.path.exists(wh):
                subprocess.run(self.lgs_cmd(wh, "ingest", csv), check=True, stdout=subprocess.DEVNULL)
            for tool in [t for t in tools if t in PEERS]:
                pq = os.path.join(self.work, f"{size}.{tool}.parquet")
                if not os.path.exists(pq):
                    print(f"[{size}] {tool} writes {pq}", file=sys.stderr, flush=True)
                    tmp = pq[: -len(".parquet")] + ".tmp.parquet"
                    done = subprocess.run(self.peer(tool, "ingest", csv, tmp),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                    if done.returncode != 0:
                        print(f"[{size}] {tool} could not write its Parquet: "
                              f"{done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                        shutil.rmtree(tmp, ignore_errors=True)
                        continue
                    os.rename(tmp, pq)
        reference = None
        for scenario in self.a.scenarios:
            for tool in tools:
                report = ["report", "--format", "json", "--as-of", AS_OF, *LGS_SECTIONS]
                if tool == "lgs" and scenario == "columnar":
                    steps = [self.lgs_cmd(wh, *report)]
                elif tool == "lgs":
                    fresh = os.path.join(self.work, f"wh-fresh-{size}")
                    steps = [self.lgs_cmd(fresh, "ingest", csv), self.lgs_cmd(fresh, *report)]
                elif scenario == "columnar":
                    pq = os.path.join(self.work, f"{size}.{tool}.parquet")
                    if not os.path.exists(pq):
                        continue
                    steps = [self.peer(tool, "report", pq, "--as-of", AS_OF)]
                else:
                    steps = [self.peer(tool, "both", csv, "--as-of", AS_OF)]
                row = self.measure(size, scenario, tool, steps, reference)
                if tool == "lgs" and reference is None and not row["error"]:
                    reference = row["report"]
                row.pop("report")
                self.results.append(row)

    def table(self):
        lines = ["| rows | scenario | tool | wall s | CPU s | peak MB | wall / lgs | CPU / lgs | peak / lgs |",
                 "|---|---|---|---|---|---|---|---|---|"]
        ours = {(r["size"], r["scenario"]): r for r in self.results if r["tool"] == "lgs"}
        for r in self.results:
            base = ours.get((r["size"], r["scenario"]))
            if r["error"]:
                lines.append(f"| {r['rows']:,} | {r['scenario']} | {r['tool']} | failed after "
                             f"{r['wall']:.1f} | {r['cpu']:.1f} | {r['peak_mb']:.0f} | {r['error']} | | |")
                continue
            ratio = (lambda k: f"{r[k] / base[k]:.2f}x") if base and not base["error"] else (lambda k: "")
            lines.append(f"| {r['rows']:,} | {r['scenario']} | {r['tool']} | {r['wall']:.2f} | "
                         f"{r['cpu']:.2f} | {r['peak_mb']:.0f} | {ratio('wall')} | {ratio('cpu')} | "
                         f"{ratio('peak_mb')} |")
        return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    p.add_argument("--lgs", default=os.path.join(target, "release", "lgs"))
    p.add_argument("--python", default=os.path.expanduser("~/.cache/lgs-tools/peers-venv/bin/python"))
    p.add_argument("--sizes", default="real,10M")
    p.add_argument("--tools", default="lgs," + ",".join(PEERS))
    p.add_argument("--scenarios", default="columnar,csv")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, help="cores each tool may use (default: all)")
    p.add_argument("--work", default=os.path.join(ROOT, "target", "bench-peers"))
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args()
    a.tools = a.tools.split(",")
    a.scenarios = a.scenarios.split(",")
    if "lgs" not in a.tools:
        a.tools.insert(0, "lgs")
    if not os.path.exists(a.lgs):
        raise SystemExit(f"{a.lgs} not found: build it with `cargo build --release`")
    bench = Bench(a)
    for size in a.sizes.split(","):
        bench.size(size)
        print(bench.table(), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(bench.results, f, indent=1)


if __name__ == "__main__":
    main()
