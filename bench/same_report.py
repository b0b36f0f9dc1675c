#!/usr/bin/env python3
"""Checks that two lgs binaries print the same report over one warehouse, apart from
what the newer one adds: the JSON byte for byte once its added keys (and the
`"partial": true` flags) are taken out, the terminal tables cell by cell once its
added tables (and the partial-month marks) are, and the CSV once its added sections
(and the `partial` column) are.

    python3 bench/same_report.py OLD_LGS NEW_LGS WAREHOUSE [--as-of YYYY-MM-DD]
"""
import json
import re
import subprocess
import sys

ADDED_KEYS = ["cohorts"]
ADDED_TABLES = ["Cohort retention"]
ADDED_CSV = ["cohorts"]


def run(binary, warehouse, fmt, extra):
    cmd = [binary, "--warehouse", warehouse, "--quiet", "report", "--format", fmt] + extra
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def strip_json(text):
    doc = json.loads(text)
    for key in ADDED_KEYS:
        doc.pop(key, None)
    for month in doc.get("monthly", []):
        if month.get("partial") is True:
            del month["partial"]
    return json.dumps(doc, indent=2, ensure_ascii=False)


def strip_tables(text):
    """The tables' headings and cells, without the added tables, the partial-month
    note and the `*` that marks a partial month (which also widens a column)."""
    blocks = text.rstrip("\n").split("\n\n")
    out = []
    for block in blocks:
        if any(block.startswith(t) for t in ADDED_TABLES):
            continue
        lines = [l for l in block.split("\n") if not l.startswith("* partial month")]
        cells = []
        for line in lines[1:]:
            if line.startswith("│"):
                cells.append([c.strip().rstrip("*") for c in re.split("[│┆]", line.strip("│"))])
        out.append((lines[0], cells))
    return out


def strip_csv(text):
    """The CSV sections without the added ones and the added `partial` column."""
    out = []
    for section in text.split("# "):
        name = section.split("\n", 1)[0]
        if name in ADDED_CSV:
            continue
        rows = [r.split(",") for r in section.split("\n")[1:] if r]
        if rows and rows[0][-1] == "partial":
            rows = [r[:-1] for r in rows]
        out.append((name, rows))
    return out


def main():
    old, new, warehouse, *extra = sys.argv[1:]
    ok = True
    o, n = run(old, warehouse, "json", extra), run(new, warehouse, "json", extra)
    # Byte for byte: the old document must be the new one with its added keys removed,
    # re-serialised the same way as the old one is, and the old text must equal that.
    same = strip_json(o) == strip_json(n) and o == json.dumps(json.loads(o), indent=2, ensure_ascii=False) + "\n"
    print(f"json: {'same' if same else 'DIFFERENT'} ({len(o):,} -> {len(n):,} bytes)")
    ok &= same
    same = strip_tables(run(old, warehouse, "table", extra)) == strip_tables(run(new, warehouse, "table", extra))
    print(f"table: {'same' if same else 'DIFFERENT'}")
    ok &= same
    same = strip_csv(run(old, warehouse, "csv", extra)) == strip_csv(run(new, warehouse, "csv", extra))
    print(f"csv: {'same' if same else 'DIFFERENT'}")
    ok &= same
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
