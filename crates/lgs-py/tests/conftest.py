"""Fixtures: warehouses made from the repository's hand-made data."""

import os
import pathlib
import shutil

import pytest

import lgs

ROOT = pathlib.Path(__file__).resolve().parents[3]
DATA = ROOT / "crates" / "lgs" / "tests" / "data"


def lgs_binary() -> str:
    """The `lgs` command line built by `cargo test` (the CLI the package must agree with)."""
    if os.environ.get("LGS_BIN"):
        return os.environ["LGS_BIN"]
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    for profile in ("debug", "release"):
        path = os.path.join(target, profile, "lgs")
        if os.path.exists(path):
            return path
    found = shutil.which("lgs")
    assert found, "set LGS_BIN to the lgs binary (cargo build -p lgs-cli)"
    return found


@pytest.fixture(scope="session")
def handmade(tmp_path_factory) -> pathlib.Path:
    """A warehouse holding crates/lgs/tests/data/handmade.csv (8 lines)."""
    wh = tmp_path_factory.mktemp("handmade") / "warehouse"
    done = lgs.connect(wh).ingest(DATA / "handmade.csv")
    assert done.rows_loaded == 8, done
    return wh


@pytest.fixture()
def fresh(tmp_path) -> pathlib.Path:
    return tmp_path / "warehouse"


@pytest.fixture(scope="module")
def pg(handmade):
    """`lgs serve --pg` on the hand-made warehouse: its PostgreSQL port."""
    from pgserver import serving

    with serving(handmade) as port:
        yield port
