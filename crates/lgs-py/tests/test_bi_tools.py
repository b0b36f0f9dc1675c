"""What BI tools send when they connect to `lgs serve --pg`, with the answer each
tool needs from it: Grafana's and Metabase's catalog queries replayed from their
sources (bi_queries.py), Superset's through SQLAlchemy's inspector, and psycopg's
server-side (named) cursors, which BI extracts use to read big results in pages.
On the hand-made warehouse: its table `retail` has the columns of
crates/lgs/tests/data/handmade.csv plus `amount`."""

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
    # Grafana qualifies a table when it cannot tell that its schema is on the
    # search path; either form names the table for its query editor.
    assert "retail" in tables or "public.retail" in tables, tables
    # The column picker of the table picked from that list.
    picked = "retail" if "retail" in tables else "public.retail"
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
    # Not yet: get_pk_constraint, get_foreign_keys and get_indexes (their queries
    # unnest pg_index.indkey, which PostgreSQL's catalog of datafusion-postgres
    # does not hold as an array).
    engine.dispose()


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
