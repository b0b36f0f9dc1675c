#!/usr/bin/env python3
"""Writes seed inputs of the pg_wire fuzz target (into the directory given): what
psql, psycopg and BI tools send to a PostgreSQL server, byte for byte. Each seed
is one connection: a startup message, then simple or extended queries."""
import struct
import sys
from pathlib import Path


def message(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("!i", len(body) + 4) + body


def cstr(text: str) -> bytes:
    return text.encode() + b"\0"


def startup(**params: str) -> bytes:
    body = struct.pack("!i", 196608)
    body += b"".join(cstr(k) + cstr(v) for k, v in params.items()) + b"\0"
    return struct.pack("!i", len(body) + 4) + body


SSL_REQUEST = struct.pack("!ii", 8, 80877103)
CANCEL = struct.pack("!iiii", 16, 80877102, 1234, 5678)
HELLO = startup(user="postgres", database="test", application_name="psql")
TERMINATE = message(b"X", b"")


def query(sql: str) -> bytes:
    return message(b"Q", cstr(sql))


def extended(sql: str, params: list, types: list) -> bytes:
    parse = cstr("s1") + cstr(sql) + struct.pack("!h", len(types))
    parse += b"".join(struct.pack("!i", t) for t in types)
    bind = cstr("") + cstr("s1") + struct.pack("!hh", 0, len(params))
    for p in params:
        bind += struct.pack("!i", -1) if p is None else struct.pack("!i", len(p)) + p
    bind += struct.pack("!h", 0)
    return (
        message(b"P", parse)
        + message(b"B", bind)
        + message(b"D", b"P" + cstr(""))
        + message(b"E", cstr("") + struct.pack("!i", 0))
        + message(b"S", b"")
    )


SIMPLE = [
    "SELECT count(*) FROM retail",
    "SELECT * FROM retail ORDER BY invoice_no LIMIT 3",
    "SELECT country, sum(quantity * unit_price) FROM retail GROUP BY country",
    "SET extra_float_digits = 3; SHOW search_path",
    "SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c "
    "LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relname OPERATOR(pg_catalog.~) '^(retail)$' ORDER BY 2, 3",
    "SELECT table_name, column_name, data_type FROM information_schema.columns",
    "BEGIN; DECLARE c CURSOR FOR SELECT * FROM retail; FETCH 2 FROM c; CLOSE c; COMMIT",
    "SELECT r.customer_id, (SELECT max(quantity) FROM retail s "
    "WHERE s.customer_id = r.customer_id) FROM retail r",
    "EXPLAIN SELECT * FROM retail WHERE quantity > 1",
    "DISCARD ALL",
    "INSERT INTO retail (invoice_no) VALUES ('1')",
    "SELECT version(); SELECT current_schema()",
    "SELECT 1/0",
    "SELECT",
]

EXTENDED = [
    ("SELECT * FROM retail WHERE customer_id = $1", [b"101"], [20]),
    ("SELECT $1::text || 'x', $2::numeric", [b"a", b"2.50"], [25, 1700]),
    ("SELECT count(*) FROM retail WHERE country = $1", [None], [0]),
]


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    seeds = {
        "ssl_request": SSL_REQUEST + HELLO + query("SELECT 1") + TERMINATE,
        "cancel": CANCEL,
        "startup_only": HELLO,
    }
    for i, sql in enumerate(SIMPLE):
        seeds[f"simple{i:02}"] = HELLO + query(sql) + TERMINATE
    for i, (sql, params, types) in enumerate(EXTENDED):
        seeds[f"extended{i}"] = HELLO + extended(sql, params, types) + TERMINATE
    for name, data in seeds.items():
        (out / name).write_bytes(data)


if __name__ == "__main__":
    main()
