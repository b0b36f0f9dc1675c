"""The Python package against hand-computed answers and the command line.

handmade.csv (crates/lgs/tests/data) by hand: line amounts 10.00 + 5.00 (invoice
10001), 15.00 (10002), 40.00 (10003, a guest), -5.00 (C10004, France), 0.00
(10005), 10.00 (10006, Germany), 10.00 (10007): 85.00 in all; United Kingdom
80.00, Germany 10.00, France -5.00; customers 101, 102, 103, 104.
"""

import _thread
import json
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal

import pandas
import polars
import pyarrow
import pytest

import lgs
from conftest import DATA, lgs_binary

BY_COUNTRY = ("SELECT country, sum(amount) AS sales, count(DISTINCT customer_id) AS customers "
              "FROM retail GROUP BY country ORDER BY sales DESC")


def test_ingest_returns_the_accounting_and_skips_what_it_has(fresh):
    wh = lgs.connect(fresh)
    first = wh.ingest(DATA / "handmade.csv")
    assert (first.rows_read, first.rows_loaded, first.rows_rejected) == (8, 8, 0)
    assert first.files[0]["path"].endswith("handmade.csv")
    again = wh.ingest([str(DATA / "handmade.csv")])
    assert again.rows_loaded == 0
    assert "already" in again.files[0]["skipped"]
    forced = wh.ingest(DATA / "handmade.csv", force=True, table="copy")
    assert forced.rows_loaded == 8
    names = {t.name: t for t in wh.tables()}
    assert names["retail"].rows == 8 and names["copy"].rows == 8
    assert [c.name for c in wh.describe("retail")][:3] == ["invoice_no", "stock_code", "description"]
    history = wh.history("retail")
    assert len(history) == 1 and history[0]["rows_added"] == 8


def test_queries_see_what_other_processes_commit_meanwhile(fresh, tmp_path):
    wh = lgs.connect(fresh)  # before the warehouse has a table
    assert wh.sql("SELECT 1 AS one").to_arrow().to_pylist() == [{"one": 1}]
    with pytest.raises(lgs.LgsError, match="retail"):
        wh.sql("SELECT count(*) FROM retail")
    subprocess.run([lgs_binary(), "--warehouse", str(fresh), "ingest",
                    str(DATA / "handmade.csv")], check=True, capture_output=True)
    count = "SELECT count(*) AS n FROM retail"
    assert wh.sql(count).to_arrow().to_pylist() == [{"n": 8}]
    assert wh.sql(count).to_arrow().to_pylist() == [{"n": 8}]  # the tables as opened
    # Another process commits to retail, then adds a table: both seen.
    again = tmp_path / "again.csv"
    again.write_text((DATA / "handmade.csv").read_text().replace("10001,", "20001,"))
    subprocess.run([lgs_binary(), "--warehouse", str(fresh), "ingest", str(again)],
                   check=True, capture_output=True)
    assert wh.sql(count).to_arrow().to_pylist() == [{"n": 16}]
    subprocess.run([lgs_binary(), "--warehouse", str(fresh), "ingest", "--table", "copy",
                    str(DATA / "handmade.csv")], check=True, capture_output=True)
    assert wh.sql("SELECT count(*) AS n FROM copy").to_arrow().to_pylist() == [{"n": 8}]


def test_sql_reaches_pyarrow_pandas_and_polars_exactly(handmade):
    wh = lgs.connect(handmade)
    result = wh.sql(BY_COUNTRY)
    assert result.columns == ["country", "sales", "customers"]
    table = pyarrow.table(result)
    assert table.column("country").to_pylist() == ["United Kingdom", "Germany", "France"]
    assert table.column("sales").to_pylist() == [Decimal("80.00"), Decimal("10.00"), Decimal("-5.00")]
    assert pyarrow.types.is_decimal(table.schema.field("sales").type)
    frame = result.to_pandas()
    assert list(frame["customers"]) == [2, 1, 1]
    assert frame["sales"].sum() == Decimal("85.00")
    pl = polars.DataFrame(result)
    assert pl.shape == (3, 3)
    assert pl["sales"].sum() == Decimal("85.00")
    assert result.to_polars().equals(pl)
    assert result.count() == 3
    assert len(result.head(2)) == 2


def test_sql_agrees_with_the_command_line(handmade):
    query = "SELECT invoice_no, sum(amount) AS total FROM retail GROUP BY 1 ORDER BY 1"
    cli = subprocess.run([lgs_binary(), "--warehouse", str(handmade), "--quiet", "sql",
                          "--format", "json", query], check=True, capture_output=True, text=True)
    expected = [json.loads(line) for line in cli.stdout.splitlines() if line.strip()]
    if len(expected) == 1 and isinstance(expected[0], list):
        expected = expected[0]
    got = lgs.connect(handmade).sql(query).to_arrow().to_pylist()
    assert [r["invoice_no"] for r in got] == [r["invoice_no"] for r in expected]
    assert [r["total"] for r in got] == [Decimal(str(r["total"])) for r in expected]
    assert [r["total"] for r in got][:3] == [Decimal("15.00"), Decimal("15.00"), Decimal("40.00")]


def test_report_sections_as_frames_figures_and_charts(handmade):
    wh = lgs.connect(handmade)
    report = wh.report(as_of="2010-04-01")
    names = [s.name for s in report]
    assert {"monthly", "rfm", "cohorts"} <= set(names)
    monthly = report["monthly"]
    frames = monthly.frames()
    assert frames, "monthly has tables"
    assert all(isinstance(f, pandas.DataFrame) for f in frames.values())
    assert monthly.charts and monthly.charts[0].svg.lstrip().startswith("<svg")
    assert "<svg" in report._repr_html_()
    assert report.figures
    # The same report as `lgs report --format json`, section by section.
    cli = subprocess.run([lgs_binary(), "--warehouse", str(handmade), "--quiet", "report",
                          "--as-of", "2010-04-01", "--format", "json"],
                         check=True, capture_output=True, text=True)
    document = json.loads(cli.stdout)
    for section in report:
        for key, value in section.data.items():
            assert document[key] == value, f"{section.name}: {key}"
    only = wh.report(as_of="2010-04-01", sections=["rfm"])
    assert [s.name for s in only] == ["rfm"]
    rfm = only["rfm"].tables
    customers = next(t for t in rfm.values() if "customer_id" in t.columns)
    # Every customer with a line, 104's only line a cancellation.
    assert sorted(customers.to_arrow().column("customer_id").to_pylist()) == [101, 102, 103, 104]


def test_analyses_take_their_flags_as_keywords(tmp_path):
    wh = lgs.connect(tmp_path / "wh")
    wh.ingest(DATA / "baskets_handmade.csv")
    basket = wh.basket(min_support=0.2, min_confidence=0.5)
    rules = basket["basket"].data
    assert rules["baskets"] > 0 and rules["rules"], rules
    for rule in rules["rules"]:
        assert rule["support"] >= 0.2 - 1e-12 and rule["confidence"] >= 0.5 - 1e-12
    with pytest.raises(lgs.LgsError, match="min-support"):
        wh.basket(min_support="lots")
    with pytest.raises(lgs.LgsError, match="no section"):
        wh.report(sections=["nonsense"])


def test_errors_are_lgs_errors_with_their_message(handmade, fresh, tmp_path):
    wh = lgs.connect(handmade)
    with pytest.raises(lgs.LgsError, match="did you mean column 'country'"):
        wh.sql("SELECT countyr FROM retail")
    with pytest.raises(lgs.LgsError, match=r"line 1\).*not found\n.*did you mean table 'retail'"):
        wh.sql("SELECT *\nFROM retial")
    with pytest.raises(lgs.LgsError, match="one statement at a time"):
        wh.sql("SELECT 1; SELECT 2")
    bad = tmp_path / "bad.csv"
    bad.write_text("this is not,a header\n1,2\n")
    with pytest.raises(lgs.LgsError, match="bad.csv"):
        lgs.connect(fresh).ingest(bad, strict=True)
    assert lgs.connect(fresh).tables() == []
    with pytest.raises(lgs.LgsError, match="^invalid value 'lots' for '--memory-limit") as e:
        lgs.connect(handmade, memory_limit="lots")
    assert "--help" not in str(e.value)


@pytest.fixture
def interruptible():
    # A kernel's SIGINT handler: Python raises KeyboardInterrupt on SIGINT only when
    # it handles the signal, and a process started in the background inherits it
    # ignored (where interrupt_main does nothing).
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_a_kernel_interrupt_cancels_a_running_query(handmade, interruptible):
    wh = lgs.connect(handmade)
    endless = wh.sql("SELECT count(*) FROM generate_series(1, 100000000000)")
    threading.Timer(1.0, _thread.interrupt_main).start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        endless.to_arrow()
    assert time.monotonic() - start < 5
    # The connection still answers.
    assert wh.sql("SELECT count(*) AS n FROM retail").to_arrow().column("n").to_pylist() == [8]


def test_an_interrupt_while_the_progress_bar_is_written_cancels(handmade, monkeypatch,
                                                                 interruptible):
    # In Jupyter (and under pytest) stderr is Python code: an interrupt that comes
    # while the progress bar is written is handled there, and must still cancel.
    class Interrupting:
        def __init__(self):
            self.writes = 0

        def write(self, text):
            self.writes += 1
            if self.writes == 2:
                _thread.interrupt_main()
                sum(range(1000))  # Python code, where the interrupt is handled
            return len(text)

        def flush(self):
            pass

    stderr = Interrupting()
    monkeypatch.setattr(sys, "stderr", stderr)
    wh = lgs.connect(handmade)
    endless = wh.sql("SELECT count(*) FROM generate_series(1, 100000000000)")
    lgs.set_progress(True, after=0)
    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            endless.to_arrow()
    finally:
        lgs.set_progress(True, after=1)
    assert time.monotonic() - start < 5
    assert stderr.writes >= 2


def test_a_role_sees_pseudonyms_and_cannot_write(handmade, tmp_path):
    (tmp_path / "pseudonym.key").write_bytes(b"k" * 32)
    policy = tmp_path / "policy.toml"
    policy.write_text('pseudonym_key_file = "pseudonym.key"\n'
                      '[roles.analyst]\nread = ["retail"]\n'
                      '[roles.analyst.rules.retail]\nmask = ["customer_id"]\n'
                      "filter = \"country = 'United Kingdom'\"\n")
    wh = lgs.connect(handmade, policy=policy, role="analyst")
    ids = wh.sql("SELECT DISTINCT customer_id FROM retail WHERE customer_id IS NOT NULL").to_arrow()
    ids = set(ids.column("customer_id").to_pylist())
    assert len(ids) == 2 and not ids & {101, 102, 103, 104}
    countries = wh.sql("SELECT DISTINCT country FROM retail").to_arrow().column("country")
    assert countries.to_pylist() == ["United Kingdom"]
    with pytest.raises(lgs.LgsError, match="analyst"):
        wh.ingest(DATA / "handmade.csv", force=True)


def test_results_render_as_html_with_their_row_count(handmade):
    wh = lgs.connect(handmade)
    html = wh.sql("SELECT * FROM retail ORDER BY invoice_no")._repr_html_()
    assert html.count("<tr>") == 1 + 8 and "8 rows" in html
    assert "FREE SAMPLE" in html
    assert "<td>retail</td>" in wh.tables()._repr_html_()


def test_a_query_reports_how_much_of_its_tables_it_has_read(handmade):
    wh = lgs.connect(handmade)
    r = wh.sql("SELECT country, sum(amount) FROM retail GROUP BY 1")
    assert r.scanned is None  # not run yet
    r.to_arrow()
    assert r.scanned == (8, 8)  # every line of the table's one file
    # A generated series has no size known in advance: no bar, the seconds.
    series = wh.sql("SELECT count(*) FROM generate_series(1, 10)")
    series.to_arrow()
    assert series.scanned is None


def test_a_long_query_shows_a_progress_bar(tmp_path, capsys):
    lines = tmp_path / "lines.csv"
    with open(lines, "w") as f:
        f.write("invoice_no,stock_code,description,quantity,invoice_date,unit_price,"
                "customer_id,country\n")
        for i in range(100_000):
            f.write(f"{20000 + i // 4},P{i % 97},ITEM {i % 1013},{1 + i % 7},"
                    f"2011-0{1 + i % 9}-1{i % 10} 10:00:00,1.25,{100 + i % 500},United Kingdom\n")
    wh = lgs.connect(tmp_path / "warehouse")
    assert wh.ingest(lines).rows_loaded == 100_000
    slow = ("SELECT count(DISTINCT concat(invoice_no, stock_code, description, "
            "repeat(country, 50), customer_id)) AS n FROM retail")
    lgs.set_progress(True, after=0)
    try:
        result = wh.sql(slow)
        assert result.to_arrow().column("n").to_pylist() == [100_000]
    finally:
        lgs.set_progress(True, after=1)
    shown = capsys.readouterr().err
    assert "% of 100000 rows read" in shown and "[#" in shown, shown
    assert result.scanned == (100_000, 100_000)
