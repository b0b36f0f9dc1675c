"""HTML for Jupyter: tables with their row count, sections with their charts."""

from __future__ import annotations

from html import escape

STYLE = ("<style>.lgs-figures{display:flex;flex-wrap:wrap;gap:.6em;margin:.4em 0}"
         ".lgs-figure{border:1px solid #ddd;border-radius:6px;padding:.4em .8em}"
         ".lgs-figure b{display:block;font-size:1.3em}.lgs-chart svg{max-width:100%;height:auto}"
         "</style>")


def html_table(columns: list[str], rows: list[list[str]], total: int) -> str:
    """An HTML table of ``rows`` under ``columns``, saying how many rows there are
    in all when it shows fewer."""
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in r) + "</tr>" for r in rows)
    shown = f"{len(rows):,} of {total:,} rows" if len(rows) < total else f"{total:,} rows"
    return (f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<p><small>{shown}</small></p>")


def figures_html(figures: dict) -> str:
    if not figures:
        return ""
    tiles = "".join(f'<div class="lgs-figure"><b>{escape(v)}</b>{escape(k)}</div>'
                    for k, v in figures.items())
    return f'<div class="lgs-figures">{tiles}</div>'


def section_html(section, style: bool = True) -> str:
    charts = "".join(f'<div class="lgs-chart">{c.svg}</div>' for c in section.charts)
    tables = "".join(f"<h4>{escape(name)}</h4>{t._html(t.num_rows, 10)}"
                     for name, t in section.tables.items())
    return ((STYLE if style else "") + f"<h3>{escape(section.title)}</h3>"
            + figures_html(section.figures) + charts + tables)


def report_html(report) -> str:
    return (STYLE + f"<p>Report as of {escape(report.as_of)}</p>"
            + "".join(section_html(s, style=False) for s in report.sections))
