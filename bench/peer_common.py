"""What the peers' report scripts (bench/*_report.py) share: their command line, how
they print the report, and the month rows of the report from per-month figures."""

import argparse
import json
import sys
import time

SCALE = 10_000  # prices and amounts as integers of 1/10,000: decimal(14,4)


def command_line(doc, *extra):
    """Parses `MODE PATHS... [--as-of]` (plus `extra`: (flags, keyword arguments)
    pairs for add_argument); returns the arguments and the start time."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["ingest", "report", "both"])
    p.add_argument("paths", nargs="+")
    p.add_argument("--as-of", default="2012-01-01")
    for flags, kwargs in extra:
        p.add_argument(*flags, **kwargs)
    return p.parse_args(), time.perf_counter()


def emit(tool, mode, report, started):
    """Prints the report (if any) as JSON on stdout, and the time spent in process on
    stderr, where bench/run.py reads it."""
    if report is not None:
        json.dump(report, sys.stdout, default=float)
        sys.stdout.write("\n")
    print(f"{tool} {mode}: {time.perf_counter() - started:.3f} s in process", file=sys.stderr)


def assemble(as_of, amount_stats, monthly, rfm):
    """The report from its parts: amount_stats(cap) is called for every invoice, then
    for those up to the first one's p85."""
    full = amount_stats(None)
    return {
        "as_of": as_of,
        "invoice_amount": full,
        "invoice_amount_trimmed": amount_stats(full["p85"]),
        "monthly": monthly(),
        "rfm_segments": rfm(),
    }


def month_rows(lo, hi, per, news):
    """Every calendar month from the datetime lo's to hi's, in order, with growth:
    per maps a month ('YYYY-MM') to placed_orders, cancelled_orders, sales_e4 and
    active_users; news maps a month to its new customers. Months without lines are
    zeros."""
    rows, prev, (y, m) = [], None, (lo.year, lo.month)
    while (y, m) <= (hi.year, hi.month):
        month = f"{y:04d}-{m:02d}"
        p = per.get(month, {})
        sales, active, new = int(p.get("sales_e4", 0)), int(p.get("active_users", 0)), int(news.get(month, 0))
        growth = None if not prev else (sales - prev) / SCALE / (prev / SCALE) * 100
        rows.append(dict(month=month, placed_orders=int(p.get("placed_orders", 0)),
                         cancelled_orders=int(p.get("cancelled_orders", 0)), sales=sales / SCALE,
                         sales_growth_pct=growth, active_users=active, new_users=new,
                         existing_users=active - new))
        prev = sales
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return rows


def typed_parquet(csv, out, types):
    """Writes the `types` columns ({name: pyarrow type}) of a CSV (plain, .gz or
    .zst) to a Parquet file, streaming: what a peer reads instead of the CSV."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    reader = pcsv.open_csv(
        pa.input_stream(csv, compression="detect"),
        read_options=pcsv.ReadOptions(block_size=64 << 20),
        convert_options=pcsv.ConvertOptions(column_types=types, include_columns=list(types)))
    with pq.ParquetWriter(out, reader.schema) as w:
        for b in reader:
            w.write_batch(b)
