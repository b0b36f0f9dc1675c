//! Data quality of the `retail` table: what the report's quality panel shows.

use datafusion::prelude::SessionContext;
use serde::Serialize;

use super::query;
use crate::error::Result;
use crate::schema::{REJECTED_TABLE, RETAIL_TABLE};
use crate::warehouse::TableInfo;

/// Counts of the lines that need care, next to what was loaded and quarantined.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Quality {
    /// Rows in `retail`.
    pub rows_loaded: u64,
    /// Rows in `retail_rejected` (could not be parsed).
    pub rows_quarantined: u64,
    /// Lines of cancellation invoices (`C…`), and how many such invoices.
    pub cancellation_lines: u64,
    pub cancelled_invoices: u64,
    /// Lines without a customer id.
    pub missing_customer_lines: u64,
    /// Lines with a unit price of 0.
    pub zero_price_lines: u64,
    /// Lines identical in every column to an earlier line (each copy beyond the
    /// first counts once).
    pub duplicate_lines: u64,
    /// Distinct invoices and customers, for scale.
    pub invoices: u64,
    pub customers: u64,
}

/// Computes the quality counts of `retail` (registered in `ctx`); `tables` gives the
/// quarantine's size.
pub async fn quality(ctx: &SessionContext, tables: &[TableInfo]) -> Result<Quality> {
    let counts = query(
        ctx,
        "data quality counts",
        &format!(
            "SELECT count(*) AS rows_loaded, \
               count(*) FILTER (WHERE is_cancellation) AS cancellation_lines, \
               count(DISTINCT CASE WHEN is_cancellation THEN invoice_no END) AS cancelled_invoices, \
               count(*) FILTER (WHERE customer_id IS NULL) AS missing_customer_lines, \
               count(*) FILTER (WHERE unit_price = 0) AS zero_price_lines, \
               count(DISTINCT invoice_no) AS invoices, \
               count(DISTINCT customer_id) AS customers \
             FROM {RETAIL_TABLE}"
        ),
        vec![],
    )
    .await?;
    // A line's columns, those the session sees (a role may be denied some: its
    // duplicates are lines it cannot tell apart).
    let seen = ctx
        .table(RETAIL_TABLE)
        .await
        .map_err(|e| crate::error::LgsError::query("reading retail", e))?;
    let line: Vec<&str> = crate::schema::HEADER_SHAPES[0]
        .columns
        .into_iter()
        .filter(|c| seen.schema().has_column_with_unqualified_name(c))
        .collect();
    let duplicates = query(
        ctx,
        "duplicate lines",
        &format!(
            "SELECT coalesce(sum(copies - 1), 0) AS duplicate_lines FROM ( \
               SELECT count(*) AS copies FROM {RETAIL_TABLE} \
               GROUP BY {} \
               HAVING count(*) > 1)",
            line.join(", ")
        ),
        vec![],
    )
    .await?;
    let mut q = Quality {
        rows_quarantined: tables
            .iter()
            .find(|t| t.name == REJECTED_TABLE)
            .map_or(0, |t| t.rows),
        ..Quality::default()
    };
    counts.for_each(|row| {
        q.rows_loaded = row.u64("rows_loaded")?;
        q.cancellation_lines = row.u64("cancellation_lines")?;
        q.cancelled_invoices = row.u64("cancelled_invoices")?;
        q.missing_customer_lines = row.u64("missing_customer_lines")?;
        q.zero_price_lines = row.u64("zero_price_lines")?;
        q.invoices = row.u64("invoices")?;
        q.customers = row.u64("customers")?;
        Ok(())
    })?;
    duplicates.for_each(|row| {
        q.duplicate_lines = row.u64("duplicate_lines")?;
        Ok(())
    })?;
    Ok(q)
}
