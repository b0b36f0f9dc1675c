"""`lgs serve --pg` as a server: TLS that never falls back to plain text, per-query
row and time limits, many clients at once, and clients that misbehave (a
disconnect in the middle of a result, a malformed start-up packet)."""

import concurrent.futures
import socket
import struct
import subprocess
import time

import psycopg
import pytest

from conftest import lgs_binary
from pgserver import serving, url

# A query that runs for minutes: 20 billion rows counted.
ENDLESS = ("SELECT count(*) FROM generate_series(1, 200000) a "
           "CROSS JOIN generate_series(1, 100000) b")


def test_tls_is_required_once_configured(handmade, tmp_path):
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    with serving(handmade, "--pg-tls-cert", str(cert), "--pg-tls-key", str(key)) as port:
        with psycopg.connect(url(port) + "?sslmode=verify-full&sslrootcert=" + str(cert)
                             + "&host=localhost", autocommit=True) as conn:
            assert conn.pgconn.ssl_in_use
            assert conn.execute("SELECT count(*) FROM retail").fetchone() == (8,)
        # A client that does not ask for TLS is refused with the reason, never
        # served in plain text.
        with pytest.raises(psycopg.OperationalError, match="TLS connections only"):
            psycopg.connect(url(port) + "?sslmode=disable")


def test_a_bad_certificate_is_an_error_naming_the_file(handmade, tmp_path):
    cert = tmp_path / "server.crt"
    cert.write_text("not a certificate\n")
    done = subprocess.run([lgs_binary(), "--warehouse", str(handmade), "serve", "--port", "0",
                           "--pg-tls-cert", str(cert), "--pg-tls-key", str(cert)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "server.crt" in done.stderr and "certificate" in done.stderr, done.stderr


def test_row_and_time_limits_end_a_statement_with_postgres_errors(handmade):
    with serving(handmade, "--pg-max-rows", "5", "--pg-timeout", "2s") as port:
        with psycopg.connect(url(port), autocommit=True) as conn:
            # At the limit: served; one more row: SQLSTATE 54000.
            rows = conn.execute("SELECT * FROM retail LIMIT 5").fetchall()
            assert len(rows) == 5
            with pytest.raises(psycopg.errors.ProgramLimitExceeded, match="more than 5 rows"):
                conn.execute("SELECT * FROM retail").fetchall()
            # Extended protocol too (psycopg binds parameters).
            with pytest.raises(psycopg.errors.ProgramLimitExceeded):
                conn.execute("SELECT * FROM retail WHERE quantity > %s", (-100,)).fetchall()
            started = time.monotonic()
            with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
                conn.execute(ENDLESS).fetchall()
            assert time.monotonic() - started < 30
            # The connection still answers.
            assert conn.execute("SELECT count(*) FROM retail").fetchone() == (8,)


def test_the_sessions_statement_timeout_ends_a_statement_too(pg):
    with psycopg.connect(url(pg), autocommit=True) as conn:
        conn.execute("SET statement_timeout = '300ms'")
        assert conn.execute("SHOW statement_timeout").fetchone()[0] in ("300ms", "300")
        for params in (None, (1,)):  # the simple and the extended protocol
            started = time.monotonic()
            sql = ENDLESS if params is None else ENDLESS + " WHERE %s = 1"
            with pytest.raises(psycopg.errors.QueryCanceled, match="statement_timeout"):
                conn.execute(sql, params).fetchall()
            assert time.monotonic() - started < 30
        # Off again (0, as in PostgreSQL): a statement runs to its end.
        conn.execute("SET statement_timeout = 0")
        assert conn.execute("SELECT count(*) FROM retail").fetchone() == (8,)


def test_many_concurrent_connections_are_all_served(pg):
    def client(i):
        with psycopg.connect(url(pg), autocommit=True) as conn:
            answers = set()
            for _ in range(5):
                answers.add(conn.execute("SELECT count(*) FROM retail WHERE quantity > %s",
                                         (i % 3,)).fetchone()[0])
            return i % 3, answers

    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(client, range(64)))
    # Hand-computed: quantities of handmade.csv above 0, 1 and 2.
    expected = {0: 7, 1: 3, 2: 2}
    with psycopg.connect(url(pg), autocommit=True) as conn:
        for q, n in expected.items():
            assert conn.execute("SELECT count(*) FROM retail WHERE quantity > %s",
                                (q,)).fetchone() == (n,)
    assert all(answers == {expected[q]} for q, answers in results), results


def test_misbehaving_clients_do_not_stop_the_server(pg):
    # A malformed start-up packet: a length that lies, then garbage.
    with socket.create_connection(("127.0.0.1", pg), timeout=10) as s:
        s.sendall(struct.pack("!I", 9) + b"\xff\xff\xff\xff\x00garbage")
        try:
            s.recv(100)
        except OSError:
            pass
    with socket.create_connection(("127.0.0.1", pg), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            s.recv(100)
        except OSError:
            pass
    # A client that disconnects in the middle of a long result (the protocol by
    # hand: start-up, a query, some of its rows, then the socket closed).
    with socket.create_connection(("127.0.0.1", pg), timeout=30) as s:
        params = b"user\x00lgs\x00database\x00lgs\x00\x00"
        s.sendall(struct.pack("!II", 8 + len(params), 196608) + params)
        assert read_until(s, b"Z")
        query = b"SELECT * FROM generate_series(1, 1000000000)\x00"
        s.sendall(b"Q" + struct.pack("!I", 4 + len(query)) + query)
        assert read_until(s, b"D", count=1000)
    # The server still serves everyone else.
    with psycopg.connect(url(pg), autocommit=True) as other:
        assert other.execute("SELECT count(*) FROM retail").fetchone() == (8,)


def read_until(s, kind, count=1):
    """Reads backend messages until `count` messages of type `kind` arrived."""
    buffer, seen = b"", 0
    while True:
        while len(buffer) >= 5:
            length = struct.unpack("!I", buffer[1:5])[0]
            if len(buffer) < 1 + length:
                break
            if buffer[:1] == b"E":
                raise AssertionError(buffer[:1 + length])
            seen += buffer[:1] == kind
            if seen >= count:
                return True
            buffer = buffer[1 + length:]
        chunk = s.recv(65536)
        if not chunk:
            return False
        buffer += chunk
