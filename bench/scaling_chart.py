#!/usr/bin/env python3
"""Draws the scaling curve of bench/peers.py results as an SVG (log-log: rows against
wall seconds, one line per tool, one panel per scenario). Standard library only.

    python3 bench/scaling_chart.py RESULTS.json [MORE.json ...] --out docs/scaling.svg

RESULTS.json are files written by `bench/peers.py --json`; failed runs are left out.
"""

import argparse
import json
import math

COLORS = {"lgs": "#d62728", "duckdb": "#1f77b4", "polars": "#2ca02c", "pandas": "#9467bd",
          "pyspark": "#ff7f0e"}
W, H, PAD = 420, 320, 56


def panel(rows, scenario, x0):
    pts = [r for r in rows if r["scenario"] == scenario and not r["error"]]
    xs = [math.log10(r["rows"]) for r in pts]
    ys = [math.log10(r["wall"]) for r in pts]
    xlo, xhi = math.floor(min(xs)), math.ceil(max(xs))
    ylo, yhi = math.floor(min(ys)), math.ceil(max(ys))
    sx = lambda v: x0 + PAD + (v - xlo) / (xhi - xlo) * (W - 1.5 * PAD)
    sy = lambda v: H - PAD + (ylo - v) / (yhi - ylo) * (H - 1.6 * PAD)
    out = [f'<text x="{x0 + W / 2}" y="20" text-anchor="middle" font-weight="bold">'
           f'{"from columnar storage" if scenario == "columnar" else "from CSV"}</text>']
    for e in range(xlo, xhi + 1):
        out.append(f'<line x1="{sx(e)}" y1="{sy(ylo)}" x2="{sx(e)}" y2="{sy(yhi)}" stroke="#ddd"/>')
        out.append(f'<text x="{sx(e)}" y="{sy(ylo) + 16}" text-anchor="middle">1e{e}</text>')
    for e in range(ylo, yhi + 1):
        out.append(f'<line x1="{sx(xlo)}" y1="{sy(e)}" x2="{sx(xhi)}" y2="{sy(e)}" stroke="#ddd"/>')
        out.append(f'<text x="{sx(xlo) - 6}" y="{sy(e) + 4}" text-anchor="end">{10.0 ** e:g} s</text>')
    out.append(f'<text x="{x0 + W / 2}" y="{H - 12}" text-anchor="middle">rows</text>')
    for tool, color in COLORS.items():
        line = sorted((r["rows"], r["wall"]) for r in pts if r["tool"] == tool)
        if not line:
            continue
        path = " ".join(f"{sx(math.log10(x)):.1f},{sy(math.log10(y)):.1f}" for x, y in line)
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y in line:
            out.append(f'<circle cx="{sx(math.log10(x)):.1f}" cy="{sy(math.log10(y)):.1f}" r="3" '
                       f'fill="{color}"><title>{tool} {x:,} rows: {y:.2f} s</title></circle>')
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    rows = []
    for path in a.results:
        with open(path) as f:
            rows.extend(json.load(f))
    body = panel(rows, "columnar", 0) + panel(rows, "csv", W)
    legend = [f'<g transform="translate({PAD + 10 + i * 90},{H + 6})"><rect width="12" height="12" '
              f'fill="{c}"/><text x="16" y="11">{t}</text></g>' for i, (t, c) in enumerate(COLORS.items())]
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W}" height="{H + 26}" '
           f'font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>'
           + "".join(body + legend) + "</svg>\n")
    with open(a.out, "w") as f:
        f.write(svg)


if __name__ == "__main__":
    main()
