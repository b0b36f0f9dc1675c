"""Executes lgs.ipynb end to end in a Jupyter kernel (nbclient) on a fresh
warehouse, failing on any cell's error; the executed copy is kept for a look.

    python examples/notebook/run_notebook.py [--out executed.ipynb]
"""

import argparse
import os
import pathlib
import tempfile
import time

import nbclient
import nbformat

HERE = pathlib.Path(__file__).resolve().parent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None, help="where to write the executed notebook")
    args = ap.parse_args()
    nb = nbformat.read(HERE / "lgs.ipynb", as_version=4)
    with tempfile.TemporaryDirectory() as work:
        os.environ["LGS_NOTEBOOK_WAREHOUSE"] = os.path.join(work, "warehouse")
        os.environ["LGS_REPO"] = str(HERE.parents[1])
        start = time.monotonic()
        client = nbclient.NotebookClient(nb, timeout=1800, kernel_name="python3",
                                         resources={"metadata": {"path": str(HERE)}})
        client.execute()
        took = time.monotonic() - start
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors
    svg = sum("image/svg+xml" in o.get("data", {}) or "<svg" in o.get("data", {}).get("text/html", "")
              for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert svg >= 2, "the report's and the basket's charts render inline"
    if args.out:
        nbformat.write(nb, args.out)
    print(f"notebook: {len(nb.cells)} cells executed without error in {took:.1f} s, "
          f"{svg} outputs with charts")


if __name__ == "__main__":
    main()
