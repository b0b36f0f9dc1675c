//! Invoice amounts: descriptive statistics and histograms.
//!
//! Only lines with `unit_price > 0` and `quantity > 0` count; an invoice's amount is the
//! (exact, decimal) sum of its lines. The trimmed variant keeps invoices whose amount
//! is at most the 85th percentile of all invoice amounts.

mod charts;

use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use serde::Serialize;

use super::quantile::{median, quantile};
use super::section::count;
use super::{
    Analysis, Figure, INVOICE_LINES, Intermediate, ResultTable, Section, Shared, TableBuilder,
    TextTable, Wanted, both, order_stats, query,
};
use crate::error::{LgsError, Result};
use crate::format::group;
use crate::schema::RETAIL_TABLE;

/// The invoice amounts section: statistics and histograms of all invoice amounts
/// and of those up to the 85th percentile.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InvoiceAmounts {
    pub invoice_amount: AmountStats,
    pub invoice_amount_trimmed: AmountStats,
    pub invoice_amount_histogram: Vec<HistogramBin>,
    pub invoice_amount_trimmed_histogram: Vec<HistogramBin>,
}

/// The per-invoice amounts, computed once per report.
pub const INVOICE_AMOUNTS_TABLE: Intermediate = Intermediate {
    name: INVOICE_AMOUNTS,
    sql: invoice_amounts_sql,
};

/// The invoice amounts analysis.
pub struct InvoiceAmountsAnalysis;

#[async_trait]
impl Analysis for InvoiceAmountsAnalysis {
    fn name(&self) -> &'static str {
        "invoices"
    }

    fn needs(&self) -> &'static [&'static Intermediate] {
        &[&INVOICE_AMOUNTS_TABLE]
    }

    async fn run(&self, ctx: &SessionContext, _: &Shared) -> Result<Section> {
        let (invoice_amount, invoice_amount_histogram) = amount_stats(ctx, None).await?;
        let (invoice_amount_trimmed, invoice_amount_trimmed_histogram) =
            amount_stats(ctx, Some(invoice_amount.p85)).await?;
        let a = InvoiceAmounts {
            invoice_amount,
            invoice_amount_trimmed,
            invoice_amount_histogram,
            invoice_amount_trimmed_histogram,
        };
        let text = vec![
            stats_text(
                "Invoice amounts (GBP; lines with price > 0 and quantity > 0)",
                &a.invoice_amount,
                true,
            ),
            stats_text(
                "Invoice amounts without outliers (amount <= p85)",
                &a.invoice_amount_trimmed,
                false,
            ),
        ];
        let figures = vec![Figure {
            rank: 5,
            value: format!(
                "£{}",
                crate::charts::svg::grouped(a.invoice_amount.median, 2)
            ),
            label: "median invoice".into(),
        }];
        let mut section = Section::new(self.name(), "Invoice amounts", a.clone());
        section.tables = tables(&a)?;
        section.chart_rank = 20;
        section.charts = charts::charts(&a);
        section.text = text;
        section.figures = figures;
        Ok(section)
    }
}

/// A row of statistics as the terminal shows it.
fn stats_text(heading: &str, s: &AmountStats, with_p85: bool) -> TextTable {
    TextTable {
        heading: heading.into(),
        header: ["count", "min", "mean", "median", "mode", "max", "p85"]
            .map(String::from)
            .to_vec(),
        rows: vec![vec![
            group(s.count as f64, 0),
            group(s.min, 2),
            group(s.mean, 4),
            group(s.median, 4),
            group(s.mode, 2),
            group(s.max, 2),
            if with_p85 {
                group(s.p85, 4)
            } else {
                String::new()
            },
        ]],
        left: 0,
        note: String::new(),
    }
}

/// The statistics (one row per population) and the histograms' bars.
fn tables(a: &InvoiceAmounts) -> Result<Vec<ResultTable>> {
    let stats = [
        ("all", &a.invoice_amount),
        ("trimmed", &a.invoice_amount_trimmed),
    ];
    let f = |get: fn(&AmountStats) -> f64| stats.iter().map(move |(_, s)| Some(get(s)));
    let stats_table = TableBuilder::new()
        .utf8("population", stats.iter().map(|(p, _)| p))
        .i64("count", stats.iter().map(|(_, s)| count(s.count)))
        .f64("min", f(|s| s.min))
        .f64("mean", f(|s| s.mean))
        .f64("median", f(|s| s.median))
        .f64("mode", f(|s| s.mode))
        .f64("max", f(|s| s.max))
        .f64("p85", f(|s| s.p85))
        .build("invoice_amount_stats", &["population"])?;
    let bins: Vec<(&str, &HistogramBin)> = a
        .invoice_amount_histogram
        .iter()
        .map(|b| ("all", b))
        .chain(
            a.invoice_amount_trimmed_histogram
                .iter()
                .map(|b| ("trimmed", b)),
        )
        .collect();
    let bins_table = TableBuilder::new()
        .utf8("population", bins.iter().map(|(p, _)| p))
        .f64("lower", bins.iter().map(|(_, b)| Some(b.lower)))
        .f64("upper", bins.iter().map(|(_, b)| Some(b.upper)))
        .i64("count", bins.iter().map(|(_, b)| count(b.count)))
        .build("invoice_amount_histogram", &["population", "lower"])?;
    Ok(vec![stats_table, bins_table])
}

/// Number of equal-width bins of the amount histograms.
pub const HISTOGRAM_BINS: usize = 20;

/// count, min, mean, median, mode, max and p85 of invoice amounts.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AmountStats {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub median: f64,
    /// The most frequent amount (the smallest on ties).
    pub mode: f64,
    pub max: f64,
    /// 85th percentile (linear interpolation, as numpy/pandas `quantile`).
    pub p85: f64,
}

/// One bar of a histogram: `[lower, upper)`, the last bar closed on the right.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HistogramBin {
    pub lower: f64,
    pub upper: f64,
    pub count: u64,
}

/// Name under which the per-invoice amounts are registered during a report.
pub const INVOICE_AMOUNTS: &str = "lgs_invoice_amounts";

/// One row per invoice with eligible lines: `invoice_no, amount` (exact decimal).
pub fn invoice_amounts_sql() -> String {
    format!(
        "SELECT invoice_no, sum(eligible_amount) AS amount FROM {INVOICE_LINES} \
         WHERE eligible_amount IS NOT NULL GROUP BY invoice_no"
    )
}

/// The per-invoice amounts, optionally only those `<= $1`.
fn invoices_sql(trimmed: bool) -> String {
    let filter = if trimmed {
        " WHERE CAST(amount AS DOUBLE) <= $1"
    } else {
        ""
    };
    format!("SELECT invoice_no, amount FROM {INVOICE_AMOUNTS}{filter}")
}

/// Statistics and histogram of invoice amounts; with `at_most`, only of the invoices
/// whose amount is at most that value. Reads the [`INVOICE_AMOUNTS`] intermediate.
pub async fn amount_stats(
    ctx: &SessionContext,
    at_most: Option<f64>,
) -> Result<(AmountStats, Vec<HistogramBin>)> {
    let what = if at_most.is_some() {
        "trimmed invoice amounts"
    } else {
        "invoice amounts"
    };
    let relation = invoices_sql(at_most.is_some());
    let params: Vec<ScalarValue> = at_most
        .map(|v| ScalarValue::Float64(Some(v)))
        .into_iter()
        .collect();

    // Three independent queries, run at once: the order statistics bring the count,
    // the extremes and the mean, the histogram computes its own range (see
    // `order_stats` and `histogram_counts`).
    let mode = async {
        let rows = query(
            ctx,
            what,
            &format!(
                "SELECT amount FROM ({relation}) GROUP BY amount \
                 ORDER BY count(*) DESC, amount ASC LIMIT 1"
            ),
            params.clone(),
        )
        .await?;
        rows.f64(0, "amount").map(|m| m.unwrap_or(f64::NAN))
    };
    let wanted = Wanted {
        levels: &[0.85],
        median: true,
        extremes: true,
        aggregates: &[(
            "mean",
            "CAST(sum(amount) AS DOUBLE) / CAST(count(*) AS DOUBLE)",
        )],
    };
    let order = order_stats(ctx, what, &relation, "amount", &wanted, params.clone());
    let bins = histogram_counts(ctx, what, &relation, params.clone());
    let (order, (mode, bins)) = both(ctx, order, both(ctx, mode, bins)).await?;

    let count = order.n;
    if count == 0 {
        return Err(LgsError::EmptyTable {
            table: format!("{RETAIL_TABLE} (no invoice with positive price and quantity)"),
            warehouse: "the session".into(),
        });
    }
    let (min, max) = (order.min(), order.max());
    let at = |i: usize| order.at(i);
    let stats = AmountStats {
        count: count as u64,
        min,
        mean: order.aggregate("mean").unwrap_or(f64::NAN),
        median: median(count, at),
        mode,
        max,
        p85: quantile(count, 0.85, at),
    };
    let histogram = histogram(min, max, &bins);
    Ok((stats, histogram))
}

/// `(width, bins)` of the histogram over `[min, max]`. [`histogram_counts`] computes
/// the same width in SQL with the same IEEE operations, so both agree to the bit.
fn bin_layout(min: f64, max: f64) -> (f64, usize) {
    if max > min {
        ((max - min) / HISTOGRAM_BINS as f64, HISTOGRAM_BINS)
    } else {
        (1.0, 1)
    }
}

/// Invoices per bin index (0-based, the last bin closed on the right), the range of
/// the bins computed in the same query.
async fn histogram_counts(
    ctx: &SessionContext,
    what: &str,
    relation: &str,
    params: Vec<ScalarValue>,
) -> Result<Vec<(i64, u64)>> {
    let sql = format!(
        "SELECT LEAST(CAST(floor((CAST(a.amount AS DOUBLE) - r.lo) / r.width) AS BIGINT), {last}) \
           AS bin, count(*) AS n \
         FROM ({relation}) a CROSS JOIN ( \
           SELECT lo, CASE WHEN hi > lo THEN (hi - lo) / {bins:?} ELSE 1.0 END AS width FROM ( \
             SELECT CAST(min(amount) AS DOUBLE) AS lo, CAST(max(amount) AS DOUBLE) AS hi \
             FROM ({relation}))) r \
         GROUP BY 1",
        last = HISTOGRAM_BINS - 1,
        bins = HISTOGRAM_BINS as f64,
    );
    let rows = query(ctx, what, &sql, params).await?;
    let mut out = Vec::new();
    rows.for_each(|r| {
        if let Some(bin) = r.i64("bin")? {
            out.push((bin, r.u64("n")?));
        }
        Ok(())
    })?;
    Ok(out)
}

/// The histogram's bars from the counts per bin of [`histogram_counts`].
fn histogram(min: f64, max: f64, counted: &[(i64, u64)]) -> Vec<HistogramBin> {
    let (width, bins) = bin_layout(min, max);
    let mut counts = vec![0u64; bins];
    for &(bin, n) in counted {
        counts[bin.clamp(0, bins as i64 - 1) as usize] += n;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, count)| HistogramBin {
            lower: min + width * i as f64,
            upper: if i + 1 == bins {
                max
            } else {
                min + width * (i + 1) as f64
            },
            count,
        })
        .collect()
}
