//! Monthly metrics: orders placed and cancelled, net sales and growth, active, new
//! and existing customers.
//!
//! Every calendar month between the first and the last month of the data is listed,
//! also a month without any line (zeros): a chart's time axis has no holes. Growth is
//! relative to the previous calendar month and empty (null) when that month's sales
//! are zero or it does not exist.
//!
//! The first month is partial when the data starts after its first day, the last
//! when the data ends before its last day (the real file ends on 9 December 2011):
//! such a month is flagged (`"partial": true`, a `partial` column, a `*` in the
//! tables and charts), its figures unchanged. The first and last timestamps are
//! the table's (answered from the Parquet statistics, without a scan).

mod charts;

use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use serde::Serialize;

use super::section::count;
use super::{
    Analysis, Figure, INVOICE_LINES, ResultTable, Section, Shared, TableBuilder, TextTable, query,
};
use crate::charts::svg::grouped;
use crate::error::Result;
use crate::format::{group, percent, share};
use crate::schema::RETAIL_TABLE;

/// The monthly metrics section.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Monthly {
    pub monthly: Vec<MonthRow>,
}

/// The monthly metrics analysis.
pub struct MonthlyAnalysis;

#[async_trait]
impl Analysis for MonthlyAnalysis {
    fn name(&self) -> &'static str {
        "monthly"
    }

    async fn run(&self, ctx: &SessionContext, _: &Shared) -> Result<Section> {
        let rows = monthly(ctx).await?;
        let mut section = Section::new(
            self.name(),
            "Monthly orders, sales and customers",
            Monthly {
                monthly: rows.clone(),
            },
        );
        section.text = vec![text(&rows)];
        section.tables = vec![table(&rows)?];
        section.chart_rank = 10;
        section.charts = charts::charts(&rows);
        section.figures = figures(&rows);
        Ok(section)
    }
}

fn text(rows: &[MonthRow]) -> TextTable {
    TextTable {
        heading: "Monthly orders, sales and customers".into(),
        header: [
            "month",
            "placed",
            "cancelled",
            "cancel rate",
            "sales (GBP)",
            "growth",
            "active",
            "new",
            "existing",
        ]
        .map(String::from)
        .to_vec(),
        rows: rows
            .iter()
            .enumerate()
            .map(|(i, m)| {
                vec![
                    label(m, &m.month),
                    group(m.placed_orders as f64, 0),
                    group(m.cancelled_orders as f64, 0),
                    percent(m.cancellation_rate.map(|r| r * 100.0)),
                    group(m.sales, 2),
                    growth_flagged(rows, i, percent(m.sales_growth_pct)),
                    group(m.active_users as f64, 0),
                    group(m.new_users as f64, 0),
                    group(m.existing_users as f64, 0),
                ]
            })
            .collect(),
        left: 1,
        note: partial_note(rows),
    }
}

fn table(rows: &[MonthRow]) -> Result<ResultTable> {
    TableBuilder::new()
        .utf8("month", rows.iter().map(|m| &m.month))
        .i64("placed_orders", rows.iter().map(|m| count(m.placed_orders)))
        .i64(
            "cancelled_orders",
            rows.iter().map(|m| count(m.cancelled_orders)),
        )
        .f64(
            "cancellation_rate",
            rows.iter().map(|m| m.cancellation_rate),
        )
        .f64("sales", rows.iter().map(|m| Some(m.sales)))
        .f64("sales_growth_pct", rows.iter().map(|m| m.sales_growth_pct))
        .i64("active_users", rows.iter().map(|m| count(m.active_users)))
        .i64("new_users", rows.iter().map(|m| count(m.new_users)))
        .i64(
            "existing_users",
            rows.iter().map(|m| count(m.existing_users)),
        )
        .boolean("partial", rows.iter().map(|m| Some(m.partial)))
        .build("monthly", &["month"])
}

/// Net sales, orders placed, the share cancelled (the report page's first tiles).
fn figures(rows: &[MonthRow]) -> Vec<Figure> {
    let sales: f64 = rows.iter().map(|m| m.sales).sum();
    let placed: u64 = rows.iter().map(|m| m.placed_orders).sum();
    let cancelled: u64 = rows.iter().map(|m| m.cancelled_orders).sum();
    vec![
        Figure {
            rank: 1,
            value: format!("£{}", grouped(sales, 0)),
            label: "net sales (GBP)".into(),
        },
        Figure {
            rank: 2,
            value: grouped(placed as f64, 0),
            label: "orders placed".into(),
        },
        Figure {
            rank: 3,
            value: share(cancelled, placed),
            label: "of orders cancelled".into(),
        },
    ]
}

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
    /// The data covers only part of the month (the first or the last month).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

/// The month as the tables and charts label it: `2011-12*` when it is partial.
pub(crate) fn label(row: &MonthRow, month: &str) -> String {
    if row.partial {
        format!("{month}*")
    } else {
        month.to_string()
    }
}

/// Growth as the tables show it, with a `*` when it compares a partial month.
pub(crate) fn growth_flagged(rows: &[MonthRow], i: usize, text: String) -> String {
    let partial = rows[i].partial || (i > 0 && rows[i - 1].partial);
    if partial && !text.is_empty() {
        text + "*"
    } else {
        text
    }
}

/// The note beneath a table or chart with a partial month (empty without one).
pub(crate) fn partial_note(rows: &[MonthRow]) -> String {
    let partial: Vec<&str> = rows
        .iter()
        .filter(|r| r.partial)
        .map(|r| r.month.as_str())
        .collect();
    if partial.is_empty() {
        return String::new();
    }
    format!(
        "* partial month ({}): the data covers only part of it; its figures, and growth \
         against it, are not comparable with whole months",
        partial.join(", ")
    )
}

/// Computes the monthly metrics, one row per calendar month, in order.
///
/// Distinct counts are written as a grouping then a count (orders per (month,
/// invoice), customers per (month, customer)): ordinary aggregations, which spill
/// under a memory limit, where `count(DISTINCT ...)` keeps whole hash sets in memory.
pub async fn monthly(ctx: &SessionContext) -> Result<Vec<MonthRow>> {
    let sql = format!(
        "WITH months AS ( \
           SELECT to_char(d, '%Y-%m') AS month FROM ( \
             SELECT unnest(generate_series( \
               to_date(min(month) || '-01'), to_date(max(month) || '-01'), \
               INTERVAL '1' MONTH)) AS d \
             FROM {INVOICE_LINES})), \
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
           SELECT *, lag(sales) OVER (ORDER BY month) AS previous_sales FROM filled), \
         bounds AS ( \
           SELECT min(invoice_date) AS first_date, max(invoice_date) AS last_date \
           FROM {RETAIL_TABLE}) \
         SELECT month, placed_orders, cancelled_orders, \
           CASE WHEN placed_orders > 0 \
             THEN CAST(cancelled_orders AS DOUBLE) / CAST(placed_orders AS DOUBLE) END \
             AS cancellation_rate, \
           CAST(sales AS DOUBLE) AS sales, \
           CASE WHEN previous_sales <> 0 \
             THEN CAST(sales - previous_sales AS DOUBLE) / CAST(previous_sales AS DOUBLE) * 100 END \
             AS sales_growth_pct, \
           active_users, new_users, active_users - new_users AS existing_users, \
           CASE WHEN (month = to_char(first_date, '%Y-%m') \
                      AND date_part('day', first_date) > 1) \
             OR (month = to_char(last_date, '%Y-%m') \
                 AND to_char(last_date + INTERVAL '1' DAY, '%Y-%m') = month) \
             THEN 1 ELSE 0 END AS partial \
         FROM with_previous CROSS JOIN bounds ORDER BY month"
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
            partial: r.u64("partial")? == 1,
        });
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session whose pass over the lines holds `values` (none when empty), with
    /// the first and last timestamps of each group in `retail`.
    async fn lines(values: &str) -> SessionContext {
        let ctx = SessionContext::new();
        let values = if values.is_empty() {
            String::new()
        } else {
            format!(" AS VALUES {values}")
        };
        ctx.sql(&format!(
            "CREATE TABLE {INVOICE_LINES} (month VARCHAR, invoice_no VARCHAR, \
               customer_id BIGINT, is_cancellation BOOLEAN, amount DECIMAL(18, 2), \
               first_date TIMESTAMP, last_date TIMESTAMP){values}"
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
        // The table's timestamps (the partial months' bounds): each group's first
        // and last.
        ctx.sql(&format!(
            "CREATE TABLE {RETAIL_TABLE} AS \
             SELECT first_date AS invoice_date FROM {INVOICE_LINES} \
             UNION ALL SELECT last_date FROM {INVOICE_LINES}"
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
        ctx
    }

    /// The months between the first and the last are listed across a year's end,
    /// with zeros where no line falls, as the query computes them.
    #[tokio::test]
    async fn every_month_is_listed_across_a_year_end() {
        let ctx = lines(
            "('2009-11', '1', 7, false, 10.5, '2009-11-01 08:00:00', '2009-11-01 08:00:00'), \
             ('2010-02', '2', 7, false, 4.0, '2010-02-03 10:00:00', '2010-02-03 10:00:00'), \
             ('2010-02', 'C3', 8, true, -1.5, '2010-02-28 23:59:00', '2010-02-28 23:59:00')",
        )
        .await;
        let rows = monthly(&ctx).await.unwrap();
        let months: Vec<_> = rows.iter().map(|r| r.month.as_str()).collect();
        assert_eq!(months, ["2009-11", "2009-12", "2010-01", "2010-02"]);
        let sales: Vec<_> = rows.iter().map(|r| r.sales).collect();
        assert_eq!(sales, [10.5, 0.0, 0.0, 2.5]);
        assert_eq!(rows[1].sales_growth_pct, Some(-100.0));
        assert_eq!(
            rows[3].sales_growth_pct, None,
            "after a month without sales"
        );
        assert_eq!((rows[3].placed_orders, rows[3].cancelled_orders), (1, 1));
        assert_eq!((rows[3].active_users, rows[3].new_users), (2, 1));
        assert_eq!(rows[1].active_users, 0);
        // The data starts on 1 November and ends on the last day of February: no
        // partial month.
        assert!(rows.iter().all(|r| !r.partial));

        // Without any line, no month at all.
        let empty = lines("").await;
        assert_eq!(monthly(&empty).await.unwrap(), vec![]);
    }

    /// A month is partial when the data starts after its first day or ends before
    /// its last; its figures are unchanged and only it is flagged.
    #[tokio::test]
    async fn a_first_or_last_month_covered_in_part_is_partial() {
        let ctx = lines(
            "('2011-10', '1', 7, false, 10.0, '2011-10-02 09:00:00', '2011-10-02 09:00:00'), \
             ('2011-11', '2', 7, false, 5.0, '2011-11-15 09:00:00', '2011-11-15 09:00:00'), \
             ('2011-12', '3', 8, false, 2.0, '2011-12-09 12:50:00', '2011-12-30 23:59:00')",
        )
        .await;
        let rows = monthly(&ctx).await.unwrap();
        let partial: Vec<bool> = rows.iter().map(|r| r.partial).collect();
        assert_eq!(partial, [true, false, true]);
        assert_eq!(rows[2].sales, 2.0);
        let json = serde_json::to_value(&rows).unwrap();
        assert_eq!(json[0]["partial"], true);
        assert!(
            json[1].get("partial").is_none(),
            "only partial months say so"
        );
        assert_eq!(growth_flagged(&rows, 1, "-50.000 %".into()), "-50.000 %*");
        assert_eq!(label(&rows[2], "Dec 2011"), "Dec 2011*");
        assert!(partial_note(&rows).contains("2011-10, 2011-12"));
    }
}
