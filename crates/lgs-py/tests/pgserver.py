"""`lgs serve --pg` for the tests: a server on a free port, and its URLs."""

import contextlib
import subprocess

from conftest import lgs_binary


@contextlib.contextmanager
def serving(warehouse, *options):
    """`lgs serve --pg` on the warehouse (loopback, no users): its PostgreSQL port."""
    server = subprocess.Popen([lgs_binary(), "--warehouse", str(warehouse), "serve", "--port", "0",
                               "--pg-port", "0", "--no-live", *options],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        server.stdout.readline()  # the dashboard
        line = server.stdout.readline().strip()
        assert line.startswith("serving postgres://"), line
        yield int(line.rstrip("/").rsplit(":", 1)[1])
    finally:
        server.terminate()
        server.wait(10)


def url(port, driver="postgresql"):
    return f"{driver}://lgs@127.0.0.1:{port}/lgs"
