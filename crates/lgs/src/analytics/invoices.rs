//! Invoice amounts: descriptive statistics and histograms.
//!
//! Only lines with `unit_price > 0` and `quantity > 0` count; an invoice's amount is the
//! (exact, decimal) sum of its lines. The trimmed variant keeps invoices whose amount
//! is at most the 85th percentile of all invoice amounts.

use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use serde::Serialize;

use super::quantile::{median, median_indices, needed_indices, quantile};
use super::{INVOICE_LINES, both, query, sorted_values_at};
use crate::error::{LgsError, Result};
use crate::schema::RETAIL_TABLE;

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

    let summary = query(
        ctx,
        what,
        &format!(
            "SELECT count(*) AS n, min(amount) AS lo, max(amount) AS hi, \
             CAST(sum(amount) AS DOUBLE) / CAST(count(*) AS DOUBLE) AS mean \
             FROM ({relation})"
        ),
        params.clone(),
    )
    .await?;
    let count = summary.i64(0, "n")?.unwrap_or(0) as usize;
    if count == 0 {
        return Err(LgsError::EmptyTable {
            table: format!("{RETAIL_TABLE} (no invoice with positive price and quantity)"),
            warehouse: "the session".into(),
        });
    }
    let min = summary.f64(0, "lo")?.unwrap_or(f64::NAN);
    let max = summary.f64(0, "hi")?.unwrap_or(f64::NAN);
    let mean = summary.f64(0, "mean")?.unwrap_or(f64::NAN);

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
    let mut positions = needed_indices(count, &[0.85]);
    positions.extend(median_indices(count));
    let values = sorted_values_at(ctx, what, &relation, "amount", &positions, params.clone());
    let histogram = histogram(ctx, what, &relation, min, max, params.clone());
    let (mode, (values, histogram)) = both(ctx, mode, both(ctx, values, histogram)).await?;
    let at = |i: usize| values.get(&i).copied().unwrap_or(f64::NAN);
    let stats = AmountStats {
        count: count as u64,
        min,
        mean,
        median: median(count, at),
        mode,
        max,
        p85: quantile(count, 0.85, at),
    };
    Ok((stats, histogram))
}

async fn histogram(
    ctx: &SessionContext,
    what: &str,
    relation: &str,
    min: f64,
    max: f64,
    mut params: Vec<ScalarValue>,
) -> Result<Vec<HistogramBin>> {
    let bins = if max > min { HISTOGRAM_BINS } else { 1 };
    let width = if max > min {
        (max - min) / bins as f64
    } else {
        1.0
    };
    let first = params.len() + 1;
    params.push(ScalarValue::Float64(Some(min)));
    params.push(ScalarValue::Float64(Some(width)));
    let sql = format!(
        "SELECT LEAST(CAST(floor((CAST(amount AS DOUBLE) - ${first}) / ${}) AS BIGINT), {}) AS bin, \
         count(*) AS n FROM ({relation}) GROUP BY 1",
        first + 1,
        bins - 1
    );
    let rows = query(ctx, what, &sql, params).await?;
    let mut counts = vec![0u64; bins];
    rows.for_each(|r| {
        if let Some(bin) = r.i64("bin")? {
            counts[bin.clamp(0, bins as i64 - 1) as usize] += r.u64("n")?;
        }
        Ok(())
    })?;
    Ok(counts
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
        .collect())
}
