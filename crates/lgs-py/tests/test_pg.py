"""BI tools' drivers against `lgs serve --pg`: psycopg (simple and extended
queries, parameters, prepared statements, binary results, SQL cursors, savepoints,
SET/SHOW, DISCARD ALL) and SQLAlchemy (its dialect's start-up queries, the
inspector's table list, pandas.read_sql), on the hand-made warehouse (answers by
hand in test_lgs.py's docstring)."""

import shutil
import subprocess
from decimal import Decimal

import pandas
import psycopg
import pytest
import sqlalchemy as sa

from conftest import DATA, lgs_binary
from pgserver import serving, url


def test_psycopg_queries_parameters_and_prepared_statements(pg):
    with psycopg.connect(url(pg), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM retail").fetchone() == (8,)
        by_country = "SELECT sum(amount) FROM retail WHERE country = %s"
        assert conn.execute(by_country, ("Germany",)).fetchone() == (Decimal("10.00"),)
        totals = [conn.execute(by_country, (c,), prepare=True).fetchone()[0]
                  for c in ("United Kingdom", "France", "Germany", "United Kingdom")]
        assert totals == [Decimal("80.00"), Decimal("-5.00"), Decimal("10.00"), Decimal("80.00")]
        ids = conn.execute("SELECT DISTINCT invoice_no FROM retail WHERE customer_id = %s "
                           "ORDER BY 1", (101,)).fetchall()
        assert ids == [("10001",), ("10005",), ("10007",)]
        assert conn.execute("SELECT count(*) FROM retail", binary=True).fetchone() == (8,)
        assert conn.execute("SELECT sum(amount) FROM retail").fetchone() == (Decimal("85.00"),)


def test_cursors_and_session_statements(pg):
    with psycopg.connect(url(pg)) as conn:
        with conn.transaction():
            conn.execute("DECLARE lines CURSOR FOR "
                         "SELECT invoice_no FROM retail ORDER BY invoice_no, stock_code")
            assert conn.execute("FETCH 3 FROM lines").fetchall() == [("10001",), ("10001",),
                                                                     ("10002",)]
            assert conn.execute("FETCH 3 FROM lines").fetchall() == [("10003",), ("10005",),
                                                                     ("10006",)]
            conn.execute("CLOSE lines")
    with psycopg.connect(url(pg), autocommit=True) as conn:
        conn.execute("SET application_name = 'bi-tool'")
        assert conn.execute("SHOW application_name").fetchone() == ("bi-tool",)
        version = conn.execute("SELECT version()").fetchone()[0]
        assert version.startswith("PostgreSQL 16.6 (lgs "), version
        with pytest.raises(psycopg.Error, match="read-only"):
            conn.execute("CREATE TABLE t AS SELECT 1")


def test_discard_all_opens_a_fresh_session(handmade, tmp_path):
    """A connection reads the tables as they were when it opened; after DISCARD ALL
    (what a pool sends between clients) it reads them as they are."""
    warehouse = tmp_path / "warehouse"
    shutil.copytree(handmade, warehouse)
    with serving(warehouse) as port, psycopg.connect(url(port), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM retail").fetchone() == (8,)
        subprocess.run([lgs_binary(), "--warehouse", str(warehouse), "--quiet", "ingest", "--force",
                        str(DATA / "handmade.csv")], check=True)
        assert conn.execute("SELECT count(*) FROM retail").fetchone() == (8,)
        assert conn.execute("DISCARD ALL").statusmessage == "DISCARD ALL"
        assert conn.execute("SELECT count(*) FROM retail").fetchone() == (16,)


def test_sqlalchemy_connects_lists_tables_and_reads_frames(pg):
    engine = sa.create_engine(url(pg, "postgresql+psycopg"))
    with engine.connect() as c:
        assert engine.dialect.server_version_info[0] >= 12
        rows = c.execute(sa.text("SELECT country, count(*) AS n FROM retail "
                                 "WHERE quantity > :q GROUP BY 1 ORDER BY 1"), {"q": 1}).fetchall()
        assert rows == [("Germany", 1), ("United Kingdom", 2)]
    inspector = sa.inspect(engine)
    assert "retail" in inspector.get_table_names()
    # Columns as information_schema lists them (SQLAlchemy's own column reflection,
    # inspector.get_columns, needs correlated subqueries DataFusion cannot plan).
    with engine.connect() as c:
        columns = [r[0] for r in c.execute(sa.text(
            "SELECT column_name FROM information_schema.columns WHERE table_name = :t "
            "ORDER BY ordinal_position"), {"t": "retail"})]
    assert columns[:3] == ["invoice_no", "stock_code", "description"] and "amount" in columns
    frame = pandas.read_sql("SELECT * FROM retail ORDER BY invoice_no", engine)
    assert frame.shape[0] == 8 and frame["amount"].sum() == Decimal("85.00")
    engine.dispose()


def test_a_correlated_subquery_answers_as_in_the_cli(pg):
    """datafusion-postgres's parser turns a correlated subquery that is a whole
    select item into NULL (for the catalog's lookups); over a table lgs plans it as
    written. By hand from handmade.csv: the largest quantity per country (France
    has one line, -1; Germany one, 4; the United Kingdom 2, 1, 3, 1, 1, 1)."""
    sql = ("SELECT DISTINCT country, (SELECT max(quantity) FROM retail r2 "
           "WHERE r2.country = r.country AND r2.quantity > {}) AS m FROM retail r ORDER BY 1")
    expected = [("France", -1), ("Germany", 4), ("United Kingdom", 3)]
    with psycopg.connect(url(pg), autocommit=True) as conn:
        assert conn.execute(sql.format(-100).replace("%", "%%")).fetchall() == expected
        assert conn.execute(sql.format("%s"), (-100,)).fetchall() == expected
        conn.execute(sql.format(-100), prepare=False)
        simple = psycopg.ClientCursor(conn)
        assert simple.execute(sql.format(-100)).fetchall() == expected
