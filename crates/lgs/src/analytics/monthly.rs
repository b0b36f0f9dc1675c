//! Monthly metrics: orders placed and cancelled, net sales and growth, active, new
//! and existing customers.
//!
//! Every calendar month between the first and the last month of the data is listed,
//! also a month without any line (zeros): a chart's time axis has no holes. Growth is
//! relative to the previous calendar month and empty (null) when that month's sales
//! are zero or it does not exist.

use datafusion::prelude::SessionContext;
use serde::Serialize;

use super::{INVOICE_LINES, query};
use crate::error::{LgsError, Result};

/// The metrics of one month.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MonthRow {
    /// `YYYY-MM`.
    pub month: String,
    /// Distinct invoices that are not cancellations.
    pub placed_orders: u64,
    /// Distinct cancellation invoices (invoice_no starting with `C`).
    pub cancelled_orders: u64,
    /// cancelled_orders / placed_orders (null without placed orders).
    pub cancellation_rate: Option<f64>,
    /// Net sales: the sum of the amounts of all lines, cancellations included.
    pub sales: f64,
    /// (sales − previous month's sales) / previous month's sales × 100.
    pub sales_growth_pct: Option<f64>,
    /// Distinct customers with a line in the month.
    pub active_users: u64,
    /// Active customers whose first month is this month.
    pub new_users: u64,
    /// Active customers seen in an earlier month.
    pub existing_users: u64,
}

/// All months from `first` to `last` (`YYYY-MM`, inclusive).
fn month_range(first: &str, last: &str) -> Result<Vec<String>> {
    let parse = |m: &str| -> Result<(i32, u32)> {
        let bad = || LgsError::InvalidArgument {
            what: "month",
            message: format!("{m:?} is not YYYY-MM"),
        };
        let (y, mo) = m.split_once('-').ok_or_else(bad)?;
        Ok((
            y.parse().map_err(|_| bad())?,
            mo.parse().map_err(|_| bad())?,
        ))
    };
    let (mut y, mut m) = parse(first)?;
    let end = parse(last)?;
    let mut out = Vec::new();
    while (y, m) <= end {
        out.push(format!("{y:04}-{m:02}"));
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
    Ok(out)
}

/// Computes the monthly metrics, one row per calendar month, in order.
///
/// Distinct counts are written as a grouping then a count (orders per (month,
/// invoice), customers per (month, customer)): ordinary aggregations, which spill
/// under a memory limit, where `count(DISTINCT ...)` keeps whole hash sets in memory.
pub async fn monthly(ctx: &SessionContext) -> Result<Vec<MonthRow>> {
    let bounds = query(
        ctx,
        "month range",
        &format!("SELECT min(month) AS first, max(month) AS last FROM {INVOICE_LINES}"),
        vec![],
    )
    .await?;
    let mut first_last = (None, None);
    bounds.for_each(|r| {
        first_last = (r.string("first")?, r.string("last")?);
        Ok(())
    })?;
    let (Some(first), Some(last)) = first_last else {
        return Ok(vec![]);
    };
    let months = month_range(&first, &last)?
        .iter()
        .map(|m| format!("('{m}')"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "WITH months AS (SELECT column1 AS month FROM (VALUES {months})), \
         per_invoice AS ( \
           SELECT month, invoice_no, is_cancellation, sum(amount) AS amount \
           FROM {INVOICE_LINES} GROUP BY month, invoice_no, is_cancellation), \
         orders AS ( \
           SELECT month, \
             sum(CASE WHEN is_cancellation THEN 0 ELSE 1 END) AS placed_orders, \
             sum(CASE WHEN is_cancellation THEN 1 ELSE 0 END) AS cancelled_orders, \
             sum(amount) AS sales \
           FROM per_invoice GROUP BY month), \
         per_customer AS ( \
           SELECT month, customer_id FROM {INVOICE_LINES} \
           WHERE customer_id IS NOT NULL GROUP BY month, customer_id), \
         active AS (SELECT month, count(*) AS active_users FROM per_customer GROUP BY month), \
         per_month AS ( \
           SELECT o.month, o.placed_orders, o.cancelled_orders, o.sales, \
             coalesce(a.active_users, 0) AS active_users \
           FROM orders o LEFT JOIN active a ON a.month = o.month), \
         first_months AS ( \
           SELECT min(month) AS month FROM {INVOICE_LINES} \
           WHERE customer_id IS NOT NULL GROUP BY customer_id), \
         new_per_month AS (SELECT month, count(*) AS new_users FROM first_months GROUP BY month), \
         filled AS ( \
           SELECT m.month, \
             coalesce(p.placed_orders, 0) AS placed_orders, \
             coalesce(p.cancelled_orders, 0) AS cancelled_orders, \
             coalesce(p.sales, 0) AS sales, \
             coalesce(p.active_users, 0) AS active_users, \
             coalesce(n.new_users, 0) AS new_users \
           FROM months m \
           LEFT JOIN per_month p ON p.month = m.month \
           LEFT JOIN new_per_month n ON n.month = m.month), \
         with_previous AS ( \
           SELECT *, lag(sales) OVER (ORDER BY month) AS previous_sales FROM filled) \
         SELECT month, placed_orders, cancelled_orders, \
           CASE WHEN placed_orders > 0 \
             THEN CAST(cancelled_orders AS DOUBLE) / CAST(placed_orders AS DOUBLE) END \
             AS cancellation_rate, \
           CAST(sales AS DOUBLE) AS sales, \
           CASE WHEN previous_sales <> 0 \
             THEN CAST(sales - previous_sales AS DOUBLE) / CAST(previous_sales AS DOUBLE) * 100 END \
             AS sales_growth_pct, \
           active_users, new_users, active_users - new_users AS existing_users \
         FROM with_previous ORDER BY month"
    );
    let rows = query(ctx, "monthly metrics", &sql, vec![]).await?;
    let mut out = Vec::with_capacity(rows.len());
    rows.for_each(|r| {
        out.push(MonthRow {
            month: r.string("month")?.unwrap_or_default(),
            placed_orders: r.u64("placed_orders")?,
            cancelled_orders: r.u64("cancelled_orders")?,
            cancellation_rate: r.f64("cancellation_rate")?,
            sales: r.f64("sales")?.unwrap_or(0.0),
            sales_growth_pct: r.f64("sales_growth_pct")?,
            active_users: r.u64("active_users")?,
            new_users: r.u64("new_users")?,
            existing_users: r.u64("existing_users")?,
        });
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::month_range;

    #[test]
    fn month_range_crosses_years() {
        assert_eq!(
            month_range("2009-11", "2010-02").unwrap(),
            vec!["2009-11", "2009-12", "2010-01", "2010-02"]
        );
        assert_eq!(month_range("2010-01", "2010-01").unwrap(), vec!["2010-01"]);
        assert!(month_range("x", "2010-01").is_err());
    }
}
