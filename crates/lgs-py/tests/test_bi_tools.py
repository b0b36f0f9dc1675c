"""What BI tools send when they connect to `lgs serve --pg`, with the answer each
tool needs from it: Grafana's, Metabase's and Power BI's (Npgsql's) catalog
queries replayed from their sources (bi_queries.py), Superset's through
SQLAlchemy's inspector, Tableau's through the real PostgreSQL JDBC driver it ships
(pgjdbc, Debian's libpostgresql-jdbc-java, run by jdbc/BiTools.java), and
psycopg's server-side (named) cursors, which BI extracts use to read big results
in pages.
On the hand-made warehouse: its table `retail` has the columns of
crates/lgs/tests/data/handmade.csv plus `amount`."""

import os
import shutil
import subprocess
from decimal import Decimal

import psycopg
import pytest
import sqlalchemy as sa

import bi_queries
from pgserver import url


def rows(port, sql, **names):
    with psycopg.connect(url(port), autocommit=True) as conn:
        return conn.execute(sql.format(**names)).fetchall()


def test_grafana_finds_the_server_its_schemas_tables_and_columns(pg):
    q = bi_queries.GRAFANA
    [(version,)] = rows(pg, q["version"])
    assert version >= 906  # Grafana offers TimescaleDB from 9.6 and reads 12+ as 1200
    assert rows(pg, q["timescaledb"]) == []
    schemas = [r[0] for r in rows(pg, q["schemas"])]
    assert "public" in schemas and "pg_catalog" not in schemas
    assert ("retail",) in rows(pg, q["tables_of_schema"], schema="public")
    tables = [r[0] for r in rows(pg, q["tables"])]
    # Grafana names a table without its schema when the schema is on the search
    # path (its walk of current_setting('search_path'), answered by lgs first).
    assert "retail" in tables and "public.retail" not in tables, tables
    # The same over the simple protocol (a client-side cursor sends the text).
    with psycopg.connect(url(pg), autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
        assert [r[0] for r in conn.execute(q["tables"]).fetchall()] == tables
    # The column picker, for the table as listed and as qualified by hand.
    for picked in ("retail", "public.retail"):
        columns = dict(rows(pg, q["columns"], table=picked))
        assert columns["invoice_no"] in ("text", "character varying"), columns
        assert columns["amount"] == "numeric", columns
        assert columns["quantity"] in ("bigint", "integer"), columns


def test_metabase_syncs_the_schemas_tables_and_fields(pg):
    with psycopg.connect(url(pg), autocommit=True) as conn:
        for sql in bi_queries.METABASE_CONNECT:
            conn.execute(sql)
    q = bi_queries.METABASE
    assert "public" in [r[0] for r in rows(pg, q["schemas"])]
    privileges = {(r[1], r[2]): r for r in rows(pg, q["privileges"])}
    assert privileges[("public", "retail")][4] is True  # select
    tables = rows(pg, q["tables"], schema="public")
    assert ("public", "retail") in [(t[0], t[1]) for t in tables], tables
    fields = rows(pg, q["fields"], schema="public", table="retail")
    by_name = {f[0]: f for f in fields}
    assert by_name["invoice_no"][2] == 0 and by_name["invoice_no"][4] == "retail"
    assert by_name["amount"][1] == "numeric", fields
    assert [f[2] for f in fields] == list(range(len(fields)))


def test_superset_lists_through_sqlalchemys_inspector(pg):
    engine = sa.create_engine(url(pg, "postgresql+psycopg"))
    inspector = sa.inspect(engine)
    assert "public" in inspector.get_schema_names()
    assert "retail" in inspector.get_table_names(schema="public")
    columns = {c["name"]: c for c in inspector.get_columns("retail", schema="public")}
    assert isinstance(columns["amount"]["type"], sa.Numeric), columns["amount"]
    assert isinstance(columns["invoice_no"]["type"], (sa.String, sa.Text))
    # Keys, indexes and constraints as PostgreSQL answers for a table that has
    # none (Superset's table-metadata panel reads them).
    assert inspector.get_pk_constraint("retail", schema="public")["constrained_columns"] == []
    assert inspector.get_foreign_keys("retail", schema="public") == []
    assert inspector.get_indexes("retail", schema="public") == []
    assert inspector.get_unique_constraints("retail", schema="public") == []
    assert inspector.get_check_constraints("retail", schema="public") == []
    assert inspector.get_table_comment("retail", schema="public") == {"text": None}
    engine.dispose()


def test_power_bi_loads_types_and_lists_tables_columns_and_keys_as_npgsql_does(pg):
    q = bi_queries.NPGSQL
    with psycopg.connect(url(pg), autocommit=True) as conn:
        # Npgsql sends its type-loading queries as one batch after version().
        batch = "\n".join([q["version"], q["types"], q["composites"], q["enums"]])
        cursor = conn.execute(batch)
        results = [cursor.fetchall()]
        while cursor.nextset():
            results.append(cursor.fetchall())
    [version], types, composites, enums = results
    assert version[0].startswith("PostgreSQL 16"), version
    by_name = {t[2]: t for t in types}
    # Base types, and arrays recognised by their receive function with their
    # element's oid, as PostgreSQL answers (int4 is 23, _int4 1007, numeric 1700).
    assert by_name["int4"][1:4] == (23, "int4", "b"), by_name["int4"]
    assert by_name["numeric"][1:4] == (1700, "numeric", "b")
    assert by_name["_int4"][3:] == ("a", False, 23), by_name["_int4"]
    assert by_name["_text"][5] == 25
    assert len({t[1] for t in types}) == len(types), "a type loaded twice"
    assert composites == [] and enums == []
    tables = rows(pg, q["tables"])
    assert ("public", "retail", "BASE TABLE") in [t[1:] for t in tables], tables
    columns = rows(pg, q["columns"], schema="public", table="retail")
    assert [c[4] for c in columns] == list(range(1, len(columns) + 1))
    typed = {c[3]: c[7] for c in columns}
    assert typed["amount"] == "numeric" and typed["invoice_no"] == "text", typed
    assert rows(pg, q["foreign_keys"], schema="public", table="retail") == []


def test_tableau_reads_the_catalog_and_queries_through_the_jdbc_driver(pg):
    java, jar = shutil.which("java"), "/usr/share/java/postgresql.jar"
    assert java and os.path.exists(jar), \
        "needs java and Debian's libpostgresql-jdbc-java (.ci/run installs it)"
    program = os.path.join(os.path.dirname(__file__), "jdbc", "BiTools.java")
    out = subprocess.run([java, "-cp", jar, program,
                          f"jdbc:postgresql://127.0.0.1:{pg}/lgs?user=lgs"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    lines = [line.split("\t") for line in out.splitlines()]
    assert [line for line in lines if line[0] == "error"] == []
    assert ["product", "PostgreSQL", "16"] in lines
    assert ["schema", "public"] in lines
    assert ["table", "public", "retail", "TABLE"] in lines
    columns = {line[1]: line[2:] for line in lines if line[0] == "column"}
    # java.sql.Types: NUMERIC 2, VARCHAR 12, BIGINT -5.
    assert columns["amount"][:2] == ["numeric", "2"], columns["amount"]
    assert columns["invoice_no"][:2] == ["text", "12"]
    assert columns["customer_id"][:2] == ["int8", "-5"]
    assert [int(c[2]) for c in columns.values()] == list(range(1, len(columns) + 1))
    assert ["primary_keys", "0"] in lines and ["imported_keys", "0"] in lines
    assert ["indexes", "0"] in lines
    # The prepared aggregate, by hand from handmade.csv: positive quantities,
    # Germany 4 x 2.50; the United Kingdom 10 + 5 + 15 + 40 + 0 + 10 (France's
    # only line is a cancellation).
    assert ["result", "text", "numeric"] in lines
    got = [(line[1], Decimal(line[2])) for line in lines if line[0] == "row"]
    assert got == [("Germany", Decimal("10")), ("United Kingdom", Decimal("80"))]


def test_named_cursors_read_a_result_in_pages(pg):
    with psycopg.connect(url(pg)) as conn, conn.cursor(name="lines") as cursor:
        cursor.execute("SELECT invoice_no FROM retail WHERE quantity > %s "
                       "ORDER BY invoice_no, stock_code", (-1000,))
        assert [c.name for c in cursor.description] == ["invoice_no"]
        assert cursor.fetchmany(3) == [("10001",), ("10001",), ("10002",)]
        rest = cursor.fetchall()
        assert rest[:3] == [("10003",), ("10005",), ("10006",)] and len(rest) == 5


def test_an_unknown_table_is_an_error_not_an_empty_list(pg):
    with pytest.raises(psycopg.errors.Error, match="(?i)not found|does not exist"):
        rows(pg, "SELECT * FROM retial")
