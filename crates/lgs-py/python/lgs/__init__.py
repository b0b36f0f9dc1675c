"""lgs in Python: the London Gift Shop warehouse, SQL and every analysis.

    import lgs
    wh = lgs.connect("warehouse")
    wh.ingest("data/online_retail_II.csv.zst")
    wh.sql("SELECT country, sum(amount) AS sales FROM retail GROUP BY 1").to_pandas()
    report = wh.report()
    report["rfm"].tables["segments"].to_pandas()

Results leave through the Arrow C stream interface (``__arrow_c_stream__``), so
``pyarrow.table(r)``, ``polars.DataFrame(r)`` and ``r.to_pandas()`` take them
without a copy through Python objects. Every call runs without the GIL and a
kernel interrupt (Ctrl-C) cancels it. Errors are :class:`LgsError` with lgs's
message (the file and line, the option, "did you mean").
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable

from . import _lgs
from ._display import html_table, report_html, section_html
from ._lgs import LgsError

__all__ = ["connect", "set_progress", "Warehouse", "Result", "Table", "Report", "Section", "LgsError"]
__version__ = _lgs.__version__


def set_progress(on: bool, after: float | None = None) -> None:
    """Whether calls running longer than ``after`` seconds (1 unless set) show their
    progress: a bar of the rows their scans have read out of the rows their tables
    hold (as the tables' logs count them), or, when that is not known, the seconds
    they have run."""
    _lgs.set_progress(on, after)


def connect(
    warehouse: str | os.PathLike = "warehouse",
    memory_limit: str | int | None = None,
    threads: int | None = None,
    cluster: str | None = None,
    policy: str | os.PathLike | None = None,
    role: str | None = None,
    key_file: str | os.PathLike | None = None,
) -> "Warehouse":
    """Opens a warehouse (a directory, ``s3://bucket/prefix`` or ``az://container/prefix``).

    ``memory_limit`` ("4GB", or bytes) is the memory to stay within (queries hold
    three quarters of it before spilling);
    ``threads`` the cores they use; ``cluster`` (``df://host:50050``) runs reports
    and queries on a Ballista cluster; ``policy`` and ``role`` see the warehouse as
    a role sees it; ``key_file`` opens an encrypted warehouse. The same options as
    the command line's, checked the same way (and read from the same ``LGS_*``
    environment variables when not given).
    """
    args = ["--warehouse", os.fspath(warehouse)]
    if memory_limit is not None:
        args += ["--memory-limit", str(memory_limit)]
    if threads is not None:
        args += ["--threads", str(threads)]
    if policy is not None:
        args += ["--policy", os.fspath(policy)]
    if role is not None:
        args += ["--role", role]
    if key_file is not None:
        args += ["--key-file", os.fspath(key_file)]
    return Warehouse(_lgs.connect(args, cluster), os.fspath(warehouse))


def _flags(options: dict[str, Any]) -> list[str]:
    """Keyword arguments as command-line flags: ``min_support=0.02`` is
    ``--min-support 0.02``, ``True`` a bare flag, ``None`` and ``False`` nothing,
    a list the flag once per value."""
    out: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            out.append(flag)
        elif isinstance(value, (list, tuple)):
            for v in value:
                out += [flag, str(v)]
        else:
            out += [flag, str(value)]
    return out


class Record(dict):
    """A row of metadata: a dict whose keys are also attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Records(list):
    """Rows of metadata (tables, columns, commits); an HTML table in Jupyter."""

    def _repr_html_(self) -> str:
        columns: list[str] = []
        for row in self:
            columns += [k for k in row if k not in columns]
        rows = [[_cell(row.get(c)) for c in columns] for row in self]
        return html_table(columns, rows, len(self))


def _cell(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return "" if value is None else str(value)


def _records(text: str) -> Records:
    return Records(Record(r) for r in json.loads(text))


class Warehouse:
    """A warehouse opened by :func:`connect`."""

    def __init__(self, connection: "_lgs.Connection", location: str):
        self._c = connection
        self.location = location

    def __repr__(self) -> str:
        return f"lgs.Warehouse({self.location!r})"

    def tables(self) -> Records:
        """The tables: name, version, rows, files, bytes."""
        return _records(self._c.tables_json())

    def describe(self, table: str) -> Records:
        """A table's columns: name, type, nullable."""
        return _records(self._c.describe_json(table))

    def history(self, table: str) -> Records:
        """A table's commits, as ``lgs history`` lists them."""
        return _records(self._c.history_json(table))

    def ingest(self, paths: str | os.PathLike | Iterable[str | os.PathLike], **options: Any) -> "Ingest":
        """Loads files (CSV plain, .gz or .zst; pg_dump .sql; .xlsx; Parquet), directories,
        globs, object-store locations or a ``postgres://`` table, as ``lgs ingest``:
        options are its flags (``table="retail"``, ``force=True``, ``strict=True``,
        ``mode="overwrite"``, ``dataset="wdi"``). Returns the accounting."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        args = [os.fspath(p) for p in paths] + _flags(options)
        return Ingest(json.loads(self._c.ingest_json(args)))

    def sql(self, query: str) -> "Result":
        """Plans one SQL statement over the warehouse's tables and views (errors now,
        with their line); it runs when the result is read."""
        return Result(self._c.sql(query))

    def report(self, as_of: str | None = None, sections: Iterable[str] | None = None, **options: Any) -> "Report":
        """The report (``lgs report``): every section, or those named in ``sections``
        (``["monthly", "rfm"]``); ``as_of`` ("2011-12-10") is the date recency is
        measured to."""
        args = ["report"] + _flags({"as_of": as_of, **options})
        wanted = None if sections is None else [str(s) for s in sections]
        return Report(self._c.analysis(args, wanted))

    def _analysis(self, command: str, options: dict[str, Any]) -> "Report":
        return Report(self._c.analysis([command] + _flags(options)))

    def clv(self, **options: Any) -> "Report":
        """Lifetime value and churn (``lgs clv``): BG/NBD and Gamma-Gamma fits, P(alive),
        expected purchases and CLV per customer. Options are its flags
        (``horizon_months=6``, ``discount=0.01``, ``as_of="2011-12-10"``)."""
        return self._analysis("clv", options)

    def kmeans(self, **options: Any) -> "Report":
        """Segments beyond RFM (``lgs kmeans``): ``k=4``, or by silhouette."""
        return self._analysis("kmeans", options)

    def experiment(self, **options: Any) -> "Report":
        """A campaign experiment (``lgs experiment``); options are its flags."""
        return self._analysis("experiment", options)

    def basket(self, **options: Any) -> "Report":
        """Market baskets (``lgs basket``): ``country="France"``, ``min_support=0.02``,
        ``min_confidence``, ``min_lift``, ``max_len``, ``item="description"``."""
        return self._analysis("basket", options)

    def recommend(self, **options: Any) -> "Report":
        """Recommendations (``lgs recommend``): ``item="85123A"``, ``customer=12347``,
        or every customer's list; ``n=10``."""
        return self._analysis("recommend", options)

    def trends(self, **options: Any) -> "Report":
        """SKU trends (``lgs trends``): rising, falling, new and gone products."""
        return self._analysis("trends", options)


class Ingest(Record):
    """An ingest's accounting: rows_read = rows_loaded + rows_rejected (+ rows_forgotten),
    and what happened to each file."""

    def __repr__(self) -> str:
        return (f"ingest: {self.rows_read:,} rows read, {self.rows_loaded:,} loaded, "
                f"{self.rows_rejected:,} rejected ({len(self.files)} files)")

    def _repr_html_(self) -> str:
        rows = [[f.get("path", ""), f.get("skipped") or "loaded", str(f.get("rows_read", "")),
                 str(f.get("rows_loaded", "")), str(f.get("rows_rejected", ""))]
                for f in self.files]
        table = html_table(["file", "outcome", "read", "loaded", "rejected"], rows, len(rows))
        return f"<p>{self!r}</p>{table}"


class _Arrow:
    """Conversions shared by results and tables: everything goes through
    ``__arrow_c_stream__``."""

    def to_arrow(self):
        """The result as a ``pyarrow.Table``."""
        import pyarrow

        return pyarrow.table(self)

    def to_pandas(self):
        """The result as a ``pandas.DataFrame`` (through Arrow)."""
        return self.to_arrow().to_pandas()

    def to_polars(self):
        """The result as a ``polars.DataFrame`` (through Arrow)."""
        import polars

        return polars.DataFrame(self)


class Result(_Arrow):
    """A planned SQL statement. It runs each time it is read: ``to_arrow()``,
    ``to_pandas()``, ``to_polars()``, ``pyarrow.table(r)``, ``polars.DataFrame(r)``."""

    def __init__(self, query: "_lgs.Query"):
        self._q = query

    @property
    def columns(self) -> list[str]:
        return self._q.columns

    def __arrow_c_stream__(self, requested_schema=None):
        return self._q.__arrow_c_stream__(requested_schema)

    def count(self) -> int:
        """The number of rows (the statement runs to count them)."""
        return self._q.count()

    @property
    def scanned(self) -> tuple[int, int] | None:
        """After a run: the rows its scans read and the rows their tables hold
        (what the progress bar shows); ``None`` when not known."""
        return self._q.scanned

    def head(self, n: int = 10) -> "Table":
        """The first ``n`` rows."""
        return Table("result", self._q.first(n))

    def explain(self) -> str:
        return self._q.explain()

    def __repr__(self) -> str:
        return f"lgs.Result(columns={self.columns})"

    def _repr_html_(self) -> str:
        head = self._q.first(20)
        return Table("result", head)._html(self._q.count())


class Table(_Arrow):
    """A result table of a report section (e.g. ``rfm``'s ``segments``)."""

    def __init__(self, name: str, batches: "_lgs.Batches"):
        self.name = name
        self._b = batches

    @property
    def columns(self) -> list[str]:
        return self._b.columns

    @property
    def num_rows(self) -> int:
        return self._b.num_rows

    def __len__(self) -> int:
        return self._b.num_rows

    def __arrow_c_stream__(self, requested_schema=None):
        return self._b.__arrow_c_stream__(requested_schema)

    def __repr__(self) -> str:
        return f"lgs.Table({self.name!r}, {self.num_rows} rows, columns={self.columns})"

    def _html(self, total: int, limit: int = 20) -> str:
        return html_table(self._b.columns, self._b.rows(limit), total)

    def _repr_html_(self) -> str:
        return self._html(self.num_rows)


class Chart:
    """A chart of a section, as the HTML report draws it (SVG)."""

    def __init__(self, id: str, title: str, svg: str):
        self.id, self.title, self.svg = id, title, svg

    def __repr__(self) -> str:
        return f"lgs.Chart({self.id!r}, {self.title!r})"

    def _repr_svg_(self) -> str:
        return self.svg


class Section:
    """One analysis's part of a report: ``tables`` (name to :class:`Table`),
    ``charts``, ``figures`` (label to value) and ``data`` (its JSON)."""

    def __init__(self, section: "_lgs.Section"):
        self.name = section.name
        self.title = section.title
        self.tables = {name: Table(name, b) for name, b in section.tables}
        self.charts = [Chart(*c) for c in section.charts]
        self.figures = dict(section.figures)
        self._json = section.json

    @property
    def data(self) -> dict:
        """The section's part of ``lgs report --format json``."""
        return json.loads(self._json)

    def frames(self) -> dict:
        """Its tables as pandas data frames."""
        return {name: t.to_pandas() for name, t in self.tables.items()}

    def __repr__(self) -> str:
        return f"lgs.Section({self.name!r}, tables={list(self.tables)}, charts={len(self.charts)})"

    def _repr_html_(self) -> str:
        return section_html(self)


class Report:
    """A report (or one analysis): its sections by name, ``report["rfm"]``."""

    def __init__(self, report: "_lgs.Report"):
        self.as_of = report.as_of
        self.sections = [Section(s) for s in report.sections]

    def __getitem__(self, name: str) -> Section:
        for s in self.sections:
            if s.name == name:
                return s
        raise KeyError(f"no section {name!r} (the sections are "
                       f"{', '.join(s.name for s in self.sections)})")

    def __iter__(self):
        return iter(self.sections)

    @property
    def figures(self) -> dict:
        """Every section's headline figures."""
        return {k: v for s in self.sections for k, v in s.figures.items()}

    def frames(self) -> dict:
        """Every section's tables as pandas data frames, named ``section.table``."""
        return {f"{s.name}.{n}": f for s in self.sections for n, f in s.frames().items()}

    def __repr__(self) -> str:
        return f"lgs.Report(as_of={self.as_of!r}, sections={[s.name for s in self.sections]})"

    def _repr_html_(self) -> str:
        return report_html(self)
