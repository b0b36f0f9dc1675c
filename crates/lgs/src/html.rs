//! The HTML report: one self-contained file (inline CSS and SVG, no script, no
//! network), with headline figures, the data-quality panel and every chart with its
//! numbers in a table beneath it. The dashboard serves the same page live.

use std::fmt::Write;

use datafusion::prelude::SessionContext;

use crate::analytics::quality::{Quality, quality};
use crate::analytics::{Figure, Monthly, Report, ReportOptions, run_report};
use crate::charts::svg::{esc, grouped};
use crate::charts::{Chart, DataTable};
use crate::error::Result;
use crate::format::share;
use crate::schema::RETAIL_TABLE;
use crate::warehouse::TableInfo;

/// What the report page shows: the report (with its charts) and the quality counts.
#[derive(Debug, Clone)]
pub struct ReportPage {
    pub report: Report,
    pub quality: Quality,
    /// The `retail` table's version the numbers come from.
    pub version: u64,
}

impl ReportPage {
    /// Runs the report and the quality counts over a session on the warehouse
    /// (`tables`: what the session registered).
    pub async fn compute(
        ctx: &SessionContext,
        tables: &[TableInfo],
        options: &ReportOptions,
    ) -> Result<ReportPage> {
        let report = run_report(ctx, options).await?;
        Self::from_report(ctx, tables, report).await
    }

    /// Adds the quality counts to a report already run.
    pub async fn from_report(
        ctx: &SessionContext,
        tables: &[TableInfo],
        report: Report,
    ) -> Result<ReportPage> {
        let quality = quality(ctx, tables).await?;
        let version = tables
            .iter()
            .find(|t| t.name == RETAIL_TABLE)
            .map_or(0, |t| t.version);
        Ok(ReportPage {
            report,
            quality,
            version,
        })
    }

    /// The whole page as one self-contained HTML document.
    pub fn html(&self, info: &PageInfo) -> String {
        page(&self.report, &self.quality, info)
    }
}

/// Where a page's numbers come from.
#[derive(Debug, Clone, Default)]
pub struct PageInfo {
    /// The warehouse location.
    pub warehouse: String,
    /// When the page was made (RFC 3339).
    pub generated: String,
    /// Links to other pages (the dashboard's navigation): (href, label).
    pub nav: Vec<(String, String)>,
    /// HTML placed first in the page's main part (the dashboard's live panel).
    pub top: String,
}

pub const STYLE: &str = r#"
:root { --ink:#222; --muted:#666; --line:#e3e3e3; --accent:#4e79a7; --bg:#f7f7f5; }
* { box-sizing: border-box; }
body { margin:0; font-family: "DejaVu Sans", Verdana, Arial, sans-serif; color:var(--ink); background:var(--bg); }
header { background:#1f3b57; color:white; padding:20px 32px; }
header h1 { margin:0 0 4px; font-size:24px; }
header p { margin:0; color:#cfdbe6; font-size:13px; }
nav a { color:white; margin-right:18px; font-size:14px; }
main { max-width:1040px; margin:0 auto; padding:16px 24px 48px; }
section { background:white; border:1px solid var(--line); border-radius:6px; margin:18px 0; padding:14px 16px; }
h2 { font-size:18px; margin:4px 0 12px; }
.tiles { display:grid; grid-template-columns:repeat(auto-fill,minmax(180px,1fr)); gap:10px; }
.tile { border:1px solid var(--line); border-radius:6px; padding:10px 12px; background:#fbfbfa; }
.tile .v { font-size:22px; font-weight:bold; }
.tile .k { font-size:12px; color:var(--muted); margin-top:2px; }
figure { margin:0; }
svg.chart { width:100%; height:auto; display:block; }
details { margin-top:8px; font-size:13px; }
summary { cursor:pointer; color:var(--accent); }
table { border-collapse:collapse; margin-top:8px; font-size:13px; }
th, td { border-bottom:1px solid var(--line); padding:4px 10px; text-align:right; white-space:nowrap; }
th:first-child, td:first-child { text-align:left; }
th { background:#f1f3f5; }
.note { color:var(--muted); font-size:12px; }
"#;

/// Writes a data table as HTML.
pub fn table_html(out: &mut String, table: &DataTable) {
    out.push_str("<table><thead><tr>");
    for h in &table.header {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in &table.rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", esc(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

fn tile(out: &mut String, value: &str, key: &str) {
    let _ = write!(
        out,
        r#"<div class="tile"><div class="v">{}</div><div class="k">{}</div></div>"#,
        esc(value),
        esc(key)
    );
}

/// The report page.
pub fn page(report: &Report, quality: &Quality, info: &PageInfo) -> String {
    let mut out = String::with_capacity(512 * 1024);
    let title = "London Gift Shop — marketing report";
    let _ = write!(
        out,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title><link rel="icon" href="data:,"><style>{STYLE}</style></head><body><header><h1>{title}</h1><p>"#
    );
    let months = report.part::<Monthly>().map_or(&[][..], |m| &m.monthly[..]);
    let (first, last) = (
        months.first().map(|m| m.month.as_str()).unwrap_or(""),
        months.last().map(|m| m.month.as_str()).unwrap_or(""),
    );
    let _ = write!(
        out,
        "Months {first} to {last} · RFM as of {} · warehouse {} · generated {}",
        esc(&report.as_of),
        esc(&info.warehouse),
        esc(&info.generated)
    );
    out.push_str("</p>");
    if !info.nav.is_empty() {
        out.push_str("<nav>");
        for (href, label) in &info.nav {
            let _ = write!(out, r#"<a href="{}">{}</a>"#, esc(href), esc(label));
        }
        out.push_str("</nav>");
    }
    out.push_str("</header><main>");
    out.push_str(&info.top);

    // Headline figures: every section's, and the customers of the quality counts.
    let mut figures: Vec<Figure> = report
        .sections
        .iter()
        .flat_map(|s| s.figures.iter().cloned())
        .collect();
    figures.push(Figure {
        rank: 4,
        value: grouped(quality.customers as f64, 0),
        label: "customers".into(),
    });
    figures.sort_by_key(|f| f.rank);
    out.push_str(r#"<section id="headline"><h2>Headline</h2><div class="tiles">"#);
    for f in &figures {
        tile(&mut out, &f.value, &f.label);
    }
    out.push_str("</div></section>");

    quality_section(&mut out, quality);
    for chart in report.charts() {
        chart_section(&mut out, chart);
    }
    out.push_str("</main></body></html>\n");
    out
}

/// The data quality panel: tiles, and the counts with their shares under "Numbers".
fn quality_section(out: &mut String, quality: &Quality) {
    let rows = quality.rows_loaded;
    let read = rows + quality.rows_quarantined;
    out.push_str(r#"<section id="quality"><h2>Data quality</h2><div class="tiles">"#);
    for (value, key) in [
        (rows, "rows loaded"),
        (quality.rows_quarantined, "rows quarantined (unparseable)"),
        (quality.cancellation_lines, "cancellation lines"),
        (quality.missing_customer_lines, "lines without customer"),
        (quality.zero_price_lines, "lines with price 0"),
        (quality.duplicate_lines, "duplicate lines"),
    ] {
        tile(out, &grouped(value as f64, 0), key);
    }
    out.push_str("</div>");
    let quality_table = DataTable {
        header: ["Measure", "Lines", "Share of rows"]
            .map(String::from)
            .to_vec(),
        rows: [
            ("rows read", read),
            ("rows loaded", rows),
            ("rows quarantined", quality.rows_quarantined),
            ("cancellation lines", quality.cancellation_lines),
            ("cancelled invoices", quality.cancelled_invoices),
            ("lines without customer", quality.missing_customer_lines),
            ("lines with price 0", quality.zero_price_lines),
            (
                "duplicate lines (copies beyond the first)",
                quality.duplicate_lines,
            ),
        ]
        .into_iter()
        .map(|(k, v)| {
            let base = if k.starts_with("rows") { read } else { rows };
            let share = if k == "cancelled invoices" {
                String::new()
            } else {
                share(v, base)
            };
            vec![k.to_string(), grouped(v as f64, 0), share]
        })
        .collect(),
    };
    out.push_str("<details><summary>Numbers</summary>");
    table_html(out, &quality_table);
    out.push_str(
        r#"<p class="note">The analyses keep these lines as the original notebooks did: cancellations net against sales; invoice statistics use lines with price &gt; 0 and quantity &gt; 0; RFM uses lines with a customer.</p></details></section>"#,
    );
}

/// One chart with its numbers beneath it.
pub fn chart_section(out: &mut String, chart: &Chart) {
    let _ = write!(
        out,
        r#"<section class="chart-section" id="{id}"><figure>{svg}</figure><details><summary>Numbers: {title}</summary>"#,
        id = esc(&chart.id),
        svg = chart.svg,
        title = esc(&chart.title),
    );
    table_html(out, &chart.table);
    out.push_str("</details></section>");
}
