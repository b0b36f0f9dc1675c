#!/usr/bin/env python3
"""Benchmark (issue 27): `lgs stream` from the NATS JetStream server on this machine
into a Delta table.

1. Throughput: the real file's lines (x --copies) are published once, untimed, to a
   stream of the benchmark's own (`lgs replay`); then each run streams the whole
   backlog into a new warehouse (`--max-batch`, `--exit-when-idle 3s`). Rows/s is
   the stream report's rows over its own clock (from the start to the last batch's
   commit, so the idle wait at the end does not count); the process's wall, CPU and
   peak RSS are reported too.
2. Freshness: a producer publishes at --rate rows/s (lgs replay --rate) while a
   stream runs with --trigger; the stream reports p50/p99/max of the time from the
   broker storing each message to the commit that made its row readable.
2b. Freshness to the dashboard (`--parts dashboard`): the same producer (here this
   script, publishing JSON messages over the plain NATS protocol at --rate, each
   publish timed), `lgs stream --trigger` and `lgs serve --live-interval 100ms`
   with a client on its server-sent events; a message is on the dashboard when the
   first push of a `retail` version that holds it arrives (the version from the
   stream position each commit records). p50/p99/max of publish to push.
3. Many commits: the first --commit-rows lines loaded in --commits batches (one
   commit each) and in 10; then the time of `lgs sql "SELECT count(*)"` and of
   `lgs report` on each, and on the first again after `lgs optimize`.
4. Spark Structured Streaming (PySpark local, with --spark): the same lines as file
   drops (CSV files of --drop-rows lines) into Parquet, `trigger(availableNow)`;
   rows/s over the query's own clock, and the process as a whole.

    python3 bench/stream.py [--copies 1] [--runs 3] [--rate 10000] [--commits 10000]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from timing import tree_timed  # noqa: E402

SERVER = os.environ.get("LGS_BENCH_NATS", "127.0.0.1:4222")


def delete_stream(name):
    """Removes a benchmark stream (the JetStream API over the plain NATS protocol)."""
    import socket
    host, port = SERVER.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.recv(4096)
        s.sendall(b'CONNECT {"verbose":false}\r\nSUB _INBOX.lgs_bench 1\r\n'
                  + f"PUB $JS.API.STREAM.DELETE.{name} _INBOX.lgs_bench 0\r\n\r\n".encode())
        reply = b""
        while b"MSG" not in reply:
            reply += s.recv(4096)


def lgs_json(lgs, args, **kw):
    out = subprocess.run([lgs, *args], check=True, capture_output=True, text=True, **kw)
    return json.loads(out.stdout)


def run_stream(lgs, wh, stream, extra):
    """Streams into warehouse wh until idle; returns (report, wall, cpu, rss)."""
    out_path = wh + ".json"
    with open(out_path, "w") as out:
        wall, cpu, rss, code = tree_timed(
            [lgs, "--warehouse", wh, "--quiet", "stream", "--from", f"nats://{SERVER}/{stream}",
             "--exit-when-idle", "3s", "--output", "json", *extra], stdout=out)
    if code != 0:
        raise SystemExit(f"lgs stream failed ({code})")
    with open(out_path) as f:
        return json.load(f), wall, cpu, rss


def source_lines(data, copies, work):
    """The real file's lines, `copies` times (invoices renumbered per copy so every
    line stays a distinct sale), as one plain CSV."""
    path = os.path.join(work, f"lines-x{copies}.csv")
    if os.path.exists(path):
        return path
    text = subprocess.run(["zstd", "-dc", data], check=True, capture_output=True).stdout
    header, _, body = text.partition(b"\n")
    with open(path, "wb") as f:
        f.write(header + b"\n")
        for c in range(copies):
            if c == 0:
                f.write(body)
                continue
            for line in body.splitlines(keepends=True):
                cancel = line.startswith(b"C")
                inv, rest = line[1 if cancel else 0:].split(b",", 1)
                f.write((b"C" if cancel else b"") + str(int(inv) + c * 1_000_000).encode()
                        + b"," + rest if inv.isdigit() else line)
    return path


def seeded(lgs, lines, work, wh):
    """A warehouse whose retail holds the first 100 lines and keeps a live state, so
    that a stream into it brings the state along after each batch."""
    first = os.path.join(work, "first-100.csv")
    with open(lines) as f, open(first, "w") as out:
        out.writelines(line for _, line in zip(range(101), f))
    subprocess.run([lgs, "--warehouse", wh, "--quiet", "ingest", first], check=True)
    subprocess.run([lgs, "--warehouse", wh, "--quiet", "live"], check=True,
                   stdout=subprocess.DEVNULL)


def throughput(lgs, lines, work, runs, max_batch, live=False):
    stream = f"BENCH_THROUGHPUT_{os.getpid()}"
    pub = lgs_json(lgs, ["replay", lines, "--to", f"nats://{SERVER}/{stream}", "--output", "json"])
    print(f"published {pub['messages']:,} messages in {pub['seconds']:.1f} s "
          f"({pub['messages'] / pub['seconds']:,.0f} messages/s, lgs replay)", flush=True)
    results = []
    for r in range(runs):
        wh = os.path.join(work, f"wh-throughput-{r}")
        shutil.rmtree(wh, ignore_errors=True)
        if live:
            seeded(lgs, lines, work, wh)
        report, wall, cpu, rss = run_stream(lgs, wh, stream, ["--max-batch", str(max_batch)])
        assert report["rows_read"] == pub["messages"], report
        rate = report["rows_read"] / report["seconds"]
        results.append((rate, report["seconds"], wall, cpu, rss, report["batches"]))
        print(f"  run {r + 1}: {report['rows_read']:,} rows in {report['seconds']:.2f} s = "
              f"{rate:,.0f} rows/s ({report['batches']} commits); process wall {wall:.2f} s, "
              f"CPU {cpu:.2f} s, peak RSS {rss:.0f} MB", flush=True)
    delete_stream(stream)
    med = [statistics.median(x[i] for x in results) for i in range(6)]
    return {"messages": pub["messages"], "rows_per_s": med[0], "seconds": med[1],
            "wall": med[2], "cpu": med[3], "rss_mb": med[4], "commits": med[5]}


def freshness(lgs, lines, work, rate, trigger, rows):
    stream = f"BENCH_FRESH_{os.getpid()}_{trigger}"
    # Create the stream first (one line), then stream while the producer publishes.
    lgs_json(lgs, ["replay", lines, "--to", f"nats://{SERVER}/{stream}", "--limit", "1",
                   "--output", "json"])
    wh = os.path.join(work, f"wh-fresh-{trigger}")
    shutil.rmtree(wh, ignore_errors=True)
    consumer = subprocess.Popen(
        [lgs, "--warehouse", wh, "--quiet", "stream", "--from", f"nats://{SERVER}/{stream}",
         "--trigger", trigger, "--exit-when-idle", "3s", "--output", "json"],
        stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    subprocess.run([lgs, "--quiet", "replay", lines, "--to", f"nats://{SERVER}/{stream}",
                    "--rate", str(rate), "--limit", str(rows)], check=True,
                   stdout=subprocess.DEVNULL)
    out, _ = consumer.communicate()
    delete_stream(stream)
    report = json.loads(out)
    f = report["freshness_ms"]
    print(f"  trigger {trigger} at {rate:,} rows/s: {report['rows_read']:,} rows in "
          f"{report['batches']} commits; publish to commit p50 {f['p50']} ms, "
          f"p99 {f['p99']} ms, max {f['max']} ms", flush=True)
    return {"trigger": trigger, "rate": rate, "rows": report["rows_read"],
            "commits": report["batches"], **f}


def dashboard(lgs, lines, work, rate, trigger, rows):
    import csv
    import socket
    import threading
    import urllib.request
    stream = f"BENCH_DASH_{os.getpid()}_{trigger}"
    # The stream and its first line (sequence 1), so that retail exists.
    lgs_json(lgs, ["replay", lines, "--to", f"nats://{SERVER}/{stream}", "--limit", "1",
                   "--output", "json"])
    wh = os.path.join(work, f"wh-dash-{trigger}")
    shutil.rmtree(wh, ignore_errors=True)
    consumer = subprocess.Popen(
        [lgs, "--warehouse", wh, "--quiet", "stream", "--from", f"nats://{SERVER}/{stream}",
         "--trigger", trigger, "--exit-when-idle", "3s", "--output", "json"],
        stdout=subprocess.PIPE, text=True)
    while not os.path.isdir(os.path.join(wh, "retail", "_delta_log")):
        time.sleep(0.1)
    server = subprocess.Popen([lgs, "--warehouse", wh, "serve", "--port", "0",
                               "--live-interval", "100ms"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    base = server.stdout.readline().split()[1].rstrip("/")
    pushes = []  # (arrival, retail version)

    def listen():
        with urllib.request.urlopen(base + "/api/live") as r:
            for raw in r:
                line = raw.decode().rstrip("\n")
                if line.startswith("data: "):
                    pushes.append((time.time(), json.loads(line[6:])["version"]))

    threading.Thread(target=listen, daemon=True).start()
    while not pushes:
        time.sleep(0.05)
    with open(lines, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        next(reader)  # published above
        payloads = [json.dumps(dict(zip(header, row))).encode()
                    for _, row in zip(range(rows), reader)]
    host, port = SERVER.rsplit(":", 1)
    published = []  # publish time of sequence 2, 3, ...
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.recv(4096)
        s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\n')
        start, tick = time.time(), max(1, rate // 100)
        for i in range(0, len(payloads), tick):
            due = start + i / rate
            while time.time() < due:
                time.sleep(0.001)
            now = time.time()
            s.sendall(b"".join(f"PUB {stream}.lines {len(p)}\r\n".encode() + p + b"\r\n"
                               for p in payloads[i:i + tick]))
            published.extend([now] * len(payloads[i:i + tick]))
        s.sendall(b"PING\r\n")
        while b"PONG" not in s.recv(4096):
            pass
    out, _ = consumer.communicate()
    time.sleep(1)
    server.terminate()
    server.wait()
    delete_stream(stream)
    report = json.loads(out)
    history = lgs_json(lgs, ["--warehouse", wh, "history", "retail", "--format", "json"])
    positions = sorted((c["lgs"]["stream"]["position"], c["version"]) for c in history
                       if (c.get("lgs") or {}).get("stream"))
    first_push = {}
    for arrival, version in pushes:
        for v in range(version + 1):
            first_push.setdefault(v, arrival)
    waits, k = [], 0
    for seq, sent in enumerate(published, start=2):
        while positions[k][0] < seq:
            k += 1
        version = positions[k][1]
        waits.append((first_push[version] - sent) * 1000)
    waits.sort()
    q = lambda p: round(waits[min(len(waits) - 1, int(p * len(waits)))])
    result = {"trigger": trigger, "rate": rate, "rows": len(waits),
              "commits": report["batches"], "pushes": len(pushes),
              "p50": q(0.5), "p99": q(0.99), "max": round(waits[-1])}
    print(f"  trigger {trigger} at {rate:,} rows/s: {len(waits):,} messages, "
          f"{report['batches']} commits, {len(pushes)} pushes; publish to dashboard "
          f"p50 {result['p50']} ms, p99 {result['p99']} ms, max {result['max']} ms",
          flush=True)
    return result


def timed_query(lgs, wh, args, runs=3):
    walls = []
    for _ in range(runs):
        wall, _, _, code = tree_timed([lgs, "--warehouse", wh, "--quiet", *args])
        assert code == 0, args
        walls.append(wall)
    return statistics.median(walls)


def many_commits(lgs, lines, work, commits, rows):
    stream = f"BENCH_COMMITS_{os.getpid()}"
    lgs_json(lgs, ["replay", lines, "--to", f"nats://{SERVER}/{stream}", "--limit", str(rows),
                   "--output", "json"])
    out = {}
    for n in (commits, 10):
        wh = os.path.join(work, f"wh-commits-{n}")
        shutil.rmtree(wh, ignore_errors=True)
        started = time.perf_counter()
        report, *_ = run_stream(lgs, wh, stream, ["--max-batch", str(-(-rows // n))])
        loaded = time.perf_counter() - started
        count = timed_query(lgs, wh, ["sql", "SELECT count(*) FROM retail"])
        report_s = timed_query(lgs, wh, ["report", "--format", "json"])
        out[n] = {"commits": report["batches"], "load_s": loaded, "count_s": count,
                  "report_s": report_s}
        print(f"  {report['batches']:,} commits (loaded in {loaded:.1f} s): count(*) {count:.3f} s, "
              f"report {report_s:.2f} s", flush=True)
        if n == commits:
            subprocess.run([lgs, "--warehouse", wh, "optimize", "retail"], check=True)
            count = timed_query(lgs, wh, ["sql", "SELECT count(*) FROM retail"])
            report_s = timed_query(lgs, wh, ["report", "--format", "json"])
            out["optimized"] = {"count_s": count, "report_s": report_s}
            print(f"  after optimize: count(*) {count:.3f} s, report {report_s:.2f} s", flush=True)
    delete_stream(stream)
    return out


SPARK = r"""
import sys, time
from pyspark.sql import SparkSession
src, out, ckpt = sys.argv[1:4]
spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
         .config("spark.sql.shuffle.partitions", "2").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
schema = ("Invoice STRING, StockCode STRING, Description STRING, Quantity INT, "
          "InvoiceDate STRING, Price DOUBLE, `Customer ID` DOUBLE, Country STRING")
started = time.perf_counter()
q = (spark.readStream.schema(schema).option("header", True).csv(src)
     .writeStream.format("parquet").option("checkpointLocation", ckpt)
     .trigger(availableNow=True).start(out))
q.awaitTermination()
seconds = time.perf_counter() - started
rows = spark.read.parquet(out).count()
print(f"{rows} {seconds}")
"""


def spark(lines, work, drop_rows, runs):
    python = os.environ.get("PYSPARK_PYTHON", "/tmp/ltvenv/bin/python")
    drops = os.path.join(work, "drops")
    if not os.path.isdir(drops):
        os.makedirs(drops)
        with open(lines) as f:
            header = f.readline()
            chunk, n = [], 0
            for line in f:
                chunk.append(line)
                if len(chunk) == drop_rows:
                    with open(os.path.join(drops, f"drop-{n:05}.csv"), "w") as d:
                        d.write(header + "".join(chunk))
                    chunk, n = [], n + 1
            if chunk:
                with open(os.path.join(drops, f"drop-{n:05}.csv"), "w") as d:
                    d.write(header + "".join(chunk))
    script = os.path.join(work, "spark_stream.py")
    with open(script, "w") as f:
        f.write(SPARK)
    results = []
    for r in range(runs):
        out, ckpt = os.path.join(work, "spark-out"), os.path.join(work, "spark-ckpt")
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(ckpt, ignore_errors=True)
        log = os.path.join(work, "spark.out")
        with open(log, "w") as o:
            wall, cpu, rss, code = tree_timed([python, script, drops, out, ckpt], stdout=o)
        assert code == 0, open(log).read()
        rows, seconds = open(log).read().split()[-2:]
        rate = int(rows) / float(seconds)
        results.append((rate, float(seconds), wall, cpu, rss))
        print(f"  spark run {r + 1}: {int(rows):,} rows in {float(seconds):.2f} s = {rate:,.0f} "
              f"rows/s; process wall {wall:.2f} s, CPU {cpu:.2f} s, peak RSS {rss:.0f} MB",
              flush=True)
    med = [statistics.median(x[i] for x in results) for i in range(5)]
    return {"rows": int(rows), "rows_per_s": med[0], "seconds": med[1], "wall": med[2],
            "cpu": med[3], "rss_mb": med[4]}


def main():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--lgs", default=os.path.join(target, "release", "lgs"))
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "online_retail_II.csv.zst"))
    ap.add_argument("--work", default="/tmp/lgs-stream-bench")
    ap.add_argument("--copies", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--max-batch", type=int, default=100_000)
    ap.add_argument("--rate", type=int, default=10_000)
    ap.add_argument("--fresh-rows", type=int, default=100_000)
    ap.add_argument("--commits", type=int, default=10_000)
    ap.add_argument("--commit-rows", type=int, default=100_000)
    ap.add_argument("--drop-rows", type=int, default=100_000)
    ap.add_argument("--parts", default="throughput,freshness,commits")
    ap.add_argument("--spark", action="store_true")
    ap.add_argument("--live", action="store_true",
                    help="throughput into a warehouse that keeps a live state")
    ap.add_argument("--json")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    lines = source_lines(args.data, args.copies, args.work)
    parts = args.parts.split(",")
    result = {}
    if "throughput" in parts:
        print("throughput (JetStream backlog into Delta):", flush=True)
        result["throughput"] = throughput(args.lgs, lines, args.work, args.runs, args.max_batch,
                                          args.live)
        if args.spark:
            print("Spark Structured Streaming (file drops into Parquet):", flush=True)
            result["spark"] = spark(lines, args.work, args.drop_rows, args.runs)
    if "freshness" in parts:
        print("freshness (publish to commit):", flush=True)
        result["freshness"] = [freshness(args.lgs, lines, args.work, args.rate, t, args.fresh_rows)
                               for t in ("1s", "200ms")]
    if "dashboard" in parts:
        print("freshness (publish to the dashboard's push):", flush=True)
        result["dashboard"] = [dashboard(args.lgs, lines, args.work, args.rate, t,
                                         args.fresh_rows) for t in ("1s", "200ms")]
    if "commits" in parts:
        print("many small commits:", flush=True)
        result["commits"] = many_commits(args.lgs, lines, args.work, args.commits,
                                         args.commit_rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
