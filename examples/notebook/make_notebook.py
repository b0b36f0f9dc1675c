"""Writes lgs.ipynb from the cells below (edit here, then run this script), so the
notebook in the repository is always a plain, output-free file."""

import pathlib

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = [
    new_markdown_cell(
        "# London Gift Shop in a notebook with `lgs`\n\n"
        "Ingest the real transactions into a Delta Lake warehouse, read the marketing "
        "report with its charts, and take any SQL result to pandas or polars. Install "
        "the package once with `pip install ./crates/lgs-py` from the repository root."),
    new_code_cell(
        "import os\n"
        "import pathlib\n\n"
        "import lgs\n\n"
        "ROOT = pathlib.Path(os.environ.get('LGS_REPO', '../..')).resolve()\n"
        "DATA = ROOT / 'data' / 'online_retail_II.csv.zst'\n"
        "wh = lgs.connect(os.environ.get('LGS_NOTEBOOK_WAREHOUSE', 'warehouse'))\n"
        "wh"),
    new_markdown_cell(
        "## Ingest\n\nEvery line is accounted for: read = loaded + rejected. Running the "
        "cell again skips the file, which is already in the warehouse."),
    new_code_cell(
        "done = wh.ingest(DATA)\n"
        "# The bundled file's 1,067,370 lines (data/README.md), every one loaded\n"
        "assert done.rows_loaded in (0, 1_067_370) and done.rows_rejected == 0\n"
        "done"),
    new_code_cell(
        "tables = wh.tables()\n"
        "retail = next(t for t in tables if t.name == 'retail')\n"
        "assert retail.rows == done.rows_loaded or done.rows_loaded == 0\n"
        "tables"),
    new_markdown_cell(
        "## The report\n\nEach section renders with its charts; `frames()` gives its "
        "tables as pandas data frames."),
    new_code_cell("report = wh.report()\nreport.figures"),
    new_code_cell("report['monthly']"),
    new_code_cell(
        "segments = report['rfm'].frames()\n"
        "list(segments)"),
    new_markdown_cell("## SQL to pandas and polars\n\nResults leave through Arrow, without a copy through Python objects."),
    new_code_cell(
        "by_country = wh.sql('''\n"
        "    SELECT country, count(DISTINCT customer_id) AS customers, sum(amount) AS sales\n"
        "    FROM retail GROUP BY country ORDER BY sales DESC''')\n"
        "frame = by_country.to_pandas()\n"
        "assert frame.loc[0, 'country'] == 'United Kingdom'\n"
        "frame.head(10)"),
    new_code_cell(
        "import polars as pl\n\n"
        "monthly = pl.DataFrame(wh.sql('''\n"
        "    SELECT date_trunc('month', invoice_date) AS month, sum(amount) AS sales\n"
        "    FROM retail GROUP BY 1 ORDER BY 1'''))\n"
        "monthly.tail(3)"),
    new_markdown_cell("## A chart\n\nThe products most often bought together in France, as `lgs basket` draws them."),
    new_code_cell(
        "baskets = wh.basket(country='France', min_support=0.05)\n"
        "baskets['basket'].charts[0]"),
]


def main():
    nb = new_notebook(cells=CELLS, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    path = pathlib.Path(__file__).with_name("lgs.ipynb")
    nbformat.write(nb, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
