#!/usr/bin/env python3
"""Benchmark of the pictures: the HTML report and the dashboard, on the real dataset.

  report     `lgs report --html report.html` from the warehouse (whole process): wall,
             CPU, peak RSS, and the file's size; also `--png DIR` (7 charts)
  dashboard  `lgs serve`: latency of every chart endpoint (`GET /api/charts/{id}`,
             JSON with numbers and SVG; and `.svg`), of the report page `GET /`, and
             of a SQL round trip (`POST /api/queries` + polling until done), once the
             server is up (the report is computed at start and recomputed only when a
             table's version changes)

    python3 bench/visual.py [--runs 5] [--requests 50] [--lgs target/release/lgs]
                            [--data data/online_retail_II.csv.zst]

Times of whole processes are medians of --runs runs (GNU time); request latencies
are p50 / p95 / max over --requests requests per endpoint, from one client on the
same machine.
"""

import argparse
import http.client
import json
import os
import statistics
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

from timing import median_of  # noqa: E402  (bench/timing.py)


def latencies(port, method, path, n, body=None):
    samples = []
    for _ in range(n):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start = time.perf_counter()
        conn.request(method, path, body=body,
                     headers={"content-type": "application/json"} if body else {})
        resp = conn.getresponse()
        data = resp.read()
        samples.append((time.perf_counter() - start) * 1000)
        assert resp.status == 200, (path, resp.status, data[:200])
        conn.close()
    samples.sort()
    return samples[len(samples) // 2], samples[int(len(samples) * 0.95) - 1], samples[-1], len(data)


def sql_round_trip(port, sql):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    start = time.perf_counter()
    conn.request("POST", "/api/queries", body=json.dumps({"sql": sql}),
                 headers={"content-type": "application/json"})
    job = json.loads(conn.getresponse().read())["id"]
    while True:
        conn.request("GET", f"/api/queries/{job}?limit=100")
        view = json.loads(conn.getresponse().read())
        if view["state"] != "running":
            break
        time.sleep(0.005)
    conn.close()
    assert view["state"] == "done", view
    return (time.perf_counter() - start) * 1000, view["rows"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--requests", type=int, default=50)
    p.add_argument("--lgs", default=os.path.join(ROOT, "target/release/lgs"))
    p.add_argument("--data", default=os.path.join(ROOT, "data/online_retail_II.csv.zst"))
    a = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        wh = os.path.join(tmp, "wh")
        subprocess.run([a.lgs, "--quiet", "--warehouse", wh, "ingest", a.data], check=True,
                       stdout=subprocess.DEVNULL)
        html = os.path.join(tmp, "report.html")
        wall, cpu, rss = median_of(a.runs, [a.lgs, "--quiet", "--warehouse", wh, "report",
                                            "--as-of", "2012-01-01", "--html", html])
        size = os.path.getsize(html)
        print(f"report --html: {wall:.3f} s wall, {cpu:.3f} s CPU, {rss:.0f} MB peak RSS; "
              f"report.html {size / 1024:.0f} KiB")
        png = os.path.join(tmp, "png")
        wall, cpu, rss = median_of(a.runs, [a.lgs, "--quiet", "--warehouse", wh, "report",
                                            "--as-of", "2012-01-01", "--png", png])
        print(f"report --png (7 charts): {wall:.3f} s wall, {cpu:.3f} s CPU, {rss:.0f} MB peak RSS")
        wall, cpu, rss = median_of(a.runs, [a.lgs, "--quiet", "--warehouse", wh, "report",
                                            "--as-of", "2012-01-01", "--format", "json"])
        print(f"report --format json (no pictures, for reference): {wall:.3f} s wall, {cpu:.3f} s CPU")

        server = subprocess.Popen([a.lgs, "--quiet", "--warehouse", wh, "serve", "--port", "0",
                                   "--as-of", "2012-01-01"], stdout=subprocess.PIPE, text=True)
        try:
            started = time.perf_counter()
            line = server.stdout.readline()
            print(f"serve: listening after {time.perf_counter() - started:.2f} s (report precomputed)")
            port = int(line.strip().rstrip("/").rsplit(":", 1)[1])
            conn = http.client.HTTPConnection("127.0.0.1", port)
            conn.request("GET", "/api/charts")
            charts = [c["id"] for c in json.loads(conn.getresponse().read())["charts"]]
            conn.close()
            print(f"{'endpoint':42} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'bytes':>8}")
            worst = 0.0
            for path in ["/", "/api/charts"] + [f"/api/charts/{c}" for c in charts] + \
                        [f"/api/charts/{c}.svg" for c in charts]:
                p50, p95, mx, size = latencies(port, "GET", path, a.requests)
                if path.startswith("/api/charts/"):
                    worst = max(worst, mx)
                print(f"{path:42} {p50:8.1f} {p95:8.1f} {mx:8.1f} {size:8d}")
            print(f"slowest chart endpoint request: {worst:.1f} ms")
            for sql in ["SELECT month, sum(amount) AS sales FROM retail GROUP BY month ORDER BY month",
                        "SELECT * FROM invoices ORDER BY amount DESC"]:
                samples = [sql_round_trip(port, sql) for _ in range(a.runs)]
                ms = statistics.median(s[0] for s in samples)
                print(f"SQL round trip {ms:7.1f} ms ({samples[0][1]} rows): {sql}")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
