//! Cohort retention: of the customers who first bought in a month, how many are
//! back k months later, and what they spend then.
//!
//! A customer's cohort is the month of their first line (any line with a
//! customer_id, cancellations included: the same first month as the monthly
//! metrics' new users). For each cohort and each month offset k = 0, 1, ... up to the
//! last month of the data: the customers of the cohort with any line in month
//! cohort + k, that count over the cohort's size (retention), and the net sales
//! (every line, cancellations included) of those customers in that month.
//!
//! This module is the worked example of a plug-in analysis: its SQL, its typed
//! result, its terminal table, its result table and its chart, listed once in
//! [`super::analyses`]; no output names it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use serde::Serialize;

use super::section::count;
use super::{
    Analysis, INVOICE_LINES, ResultTable, Section, Shared, TableBuilder, TextTable, both, query,
};
use crate::charts::heatmap::{Heatmap, heatmap};
use crate::charts::svg::{grouped, month_label};
use crate::charts::{Chart, DataTable};
use crate::error::Result;
use crate::format::group;

/// One cohort: its first month, its size, and by month offset (index 0 is the
/// cohort's own month) the active customers, retention and their net sales.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cohort {
    /// `YYYY-MM`.
    pub cohort: String,
    /// Customers whose first month this is.
    pub customers: u64,
    pub active: Vec<u64>,
    pub retention: Vec<f64>,
    pub sales: Vec<f64>,
}

/// The cohort retention section.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cohorts {
    pub cohorts: Vec<Cohort>,
}

/// The cohort retention analysis.
pub struct CohortsAnalysis;

#[async_trait]
impl Analysis for CohortsAnalysis {
    fn name(&self) -> &'static str {
        "cohorts"
    }

    async fn run(&self, ctx: &SessionContext, _: &Shared) -> Result<Section> {
        let cohorts = cohorts(ctx).await?;
        let mut section = Section::new(self.name(), "Cohort retention", cohorts.clone());
        section.text = vec![text(&cohorts.cohorts)];
        section.tables = vec![table(&cohorts.cohorts)?];
        section.charts = vec![chart(&cohorts.cohorts)];
        Ok(section)
    }
}

/// `YYYY-MM` as a month count (year × 12 + month − 1), as SQL over `column`.
fn month_index_sql(column: &str) -> String {
    format!(
        "(CAST(substr({column}, 1, 4) AS BIGINT) * 12 + CAST(substr({column}, 6, 2) AS BIGINT) - 1)"
    )
}

/// `YYYY-MM` as a month count, in Rust.
fn month_index(month: &str) -> Option<i64> {
    let (y, m) = month.split_once('-')?;
    Some(y.parse::<i64>().ok()? * 12 + m.parse::<i64>().ok()? - 1)
}

fn month_of(index: i64) -> String {
    format!(
        "{:04}-{:02}",
        index.div_euclid(12),
        index.rem_euclid(12) + 1
    )
}

/// Computes every cohort from the pass over the lines.
pub async fn cohorts(ctx: &SessionContext) -> Result<Cohorts> {
    let (month, cohort) = (month_index_sql("p.month"), month_index_sql("f.cohort"));
    let sql = format!(
        "WITH per_month AS ( \
           SELECT customer_id, month, sum(amount) AS sales FROM {INVOICE_LINES} \
           WHERE customer_id IS NOT NULL GROUP BY customer_id, month), \
         firsts AS (SELECT customer_id, min(month) AS cohort FROM per_month GROUP BY customer_id) \
         SELECT f.cohort, {month} - {cohort} AS month_offset, count(*) AS customers, \
           CAST(sum(p.sales) AS DOUBLE) AS sales \
         FROM per_month p JOIN firsts f ON p.customer_id = f.customer_id \
         GROUP BY 1, 2"
    );
    let last_sql = format!("SELECT max(month) AS last FROM {INVOICE_LINES}");
    let (cells, last) = both(
        ctx,
        query(ctx, "cohort retention", &sql, vec![]),
        query(ctx, "last month", &last_sql, vec![]),
    )
    .await?;
    let last = match last.len() {
        0 => None,
        _ => last_month(&last)?,
    };
    // cohort → offset → (customers, sales)
    let mut by_cohort: BTreeMap<String, BTreeMap<usize, (u64, f64)>> = BTreeMap::new();
    cells.for_each(|r| {
        let cohort = r.string("cohort")?.unwrap_or_default();
        let offset = r.i64("month_offset")?.unwrap_or(0).max(0) as usize;
        let cell = (r.u64("customers")?, r.f64("sales")?.unwrap_or(0.0));
        by_cohort.entry(cohort).or_default().insert(offset, cell);
        Ok(())
    })?;
    let last = last.and_then(|m| month_index(&m));
    let cohorts = by_cohort
        .into_iter()
        .map(|(cohort, cells)| {
            let start = month_index(&cohort).unwrap_or(0);
            let offsets = last.map_or(0, |l| (l - start).max(0) as usize) + 1;
            let size = cells.get(&0).map_or(0, |c| c.0);
            let cell = |k: usize| cells.get(&k).copied().unwrap_or((0, 0.0));
            let active: Vec<u64> = (0..offsets).map(|k| cell(k).0).collect();
            Cohort {
                cohort,
                customers: size,
                retention: active
                    .iter()
                    .map(|&a| {
                        if size == 0 {
                            0.0
                        } else {
                            a as f64 / size as f64
                        }
                    })
                    .collect(),
                sales: (0..offsets).map(|k| cell(k).1).collect(),
                active,
            }
        })
        .collect();
    Ok(Cohorts { cohorts })
}

fn last_month(rows: &super::engine::Rows) -> Result<Option<String>> {
    let mut last = None;
    rows.for_each(|r| {
        last = r.string("last")?;
        Ok(())
    })?;
    Ok(last)
}

/// Retention in percent with one decimal, as the terminal and the chart's table
/// show it.
fn pct(v: f64) -> String {
    format!("{:.1}", v * 100.0)
}

fn offsets(cohorts: &[Cohort]) -> usize {
    cohorts.iter().map(|c| c.active.len()).max().unwrap_or(0)
}

fn text(cohorts: &[Cohort]) -> TextTable {
    let mut header = vec!["cohort".to_string(), "customers".to_string()];
    header.extend((0..offsets(cohorts)).map(|k| format!("+{k}")));
    TextTable {
        heading:
            "Cohort retention (% of each first-purchase month's customers active k months later)"
                .into(),
        header,
        rows: cohorts
            .iter()
            .map(|c| {
                let mut row = vec![c.cohort.clone(), group(c.customers as f64, 0)];
                row.extend(c.retention.iter().map(|&r| pct(r)));
                row
            })
            .collect(),
        left: 1,
        note: String::new(),
    }
}

fn table(cohorts: &[Cohort]) -> Result<ResultTable> {
    let cells: Vec<(&Cohort, usize)> = cohorts
        .iter()
        .flat_map(|c| (0..c.active.len()).map(move |k| (c, k)))
        .collect();
    TableBuilder::new()
        .utf8("cohort", cells.iter().map(|(c, _)| &c.cohort))
        .i64("month_offset", cells.iter().map(|(_, k)| Some(*k as i64)))
        .utf8(
            "month",
            cells.iter().map(|(c, k)| {
                month_index(&c.cohort).map_or_else(String::new, |i| month_of(i + *k as i64))
            }),
        )
        .i64(
            "cohort_customers",
            cells.iter().map(|(c, _)| count(c.customers)),
        )
        .i64("customers", cells.iter().map(|(c, k)| count(c.active[*k])))
        .f64(
            "retention",
            cells.iter().map(|(c, k)| Some(c.retention[*k])),
        )
        .f64("sales", cells.iter().map(|(c, k)| Some(c.sales[*k])))
        .build("cohorts", &["cohort", "month_offset"])
}

/// The retention heat map: cohorts as rows, offsets as columns. The colour scale
/// runs to the largest retention after the first month (the first month is 100 %
/// by definition and would wash out the rest).
fn chart(cohorts: &[Cohort]) -> Chart {
    let id = "cohort-retention";
    let title = "Cohort retention";
    let n = offsets(cohorts);
    let rows: Vec<String> = cohorts.iter().map(|c| month_label(&c.cohort)).collect();
    let columns: Vec<String> = (0..n).map(|k| k.to_string()).collect();
    let values: Vec<Vec<Option<f64>>> = cohorts
        .iter()
        .map(|c| c.retention.iter().map(|&r| Some(r)).collect())
        .collect();
    let max = cohorts
        .iter()
        .flat_map(|c| c.retention.iter().skip(1))
        .fold(0.0f64, |a, &b| a.max(b));
    let max = if max > 0.0 { max } else { 1.0 };
    let svg = heatmap(&Heatmap {
        id,
        title,
        subtitle: Some(
            "Share of each first-purchase month's customers who bought again k months later",
        ),
        rows: &rows,
        columns: &columns,
        row_label: "Cohort (first month)",
        column_label: "Months since the first purchase (k)",
        values: &values,
        max,
        format: &|v| format!("{:.0} %", v * 100.0),
        legend: "Retention",
    });
    let mut header = vec!["Cohort".to_string(), "Customers".to_string()];
    header.extend((0..n).map(|k| format!("+{k} (%)")));
    Chart {
        id: id.into(),
        title: title.into(),
        svg,
        table: DataTable {
            header,
            rows: cohorts
                .iter()
                .map(|c| {
                    let mut row = vec![c.cohort.clone(), grouped(c.customers as f64, 0)];
                    row.extend(c.retention.iter().map(|&r| pct(r)));
                    row
                })
                .collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(values: &str) -> SessionContext {
        let ctx = SessionContext::new();
        ctx.sql(&format!(
            "CREATE TABLE {INVOICE_LINES} (month VARCHAR, invoice_no VARCHAR, \
               customer_id BIGINT, is_cancellation BOOLEAN, amount DECIMAL(18, 2)) AS VALUES {values}"
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
        ctx
    }

    /// By hand: customer 1 buys in Jan, skips Feb, returns in Mar (a gap month);
    /// customer 2 buys in Jan only; customer 3's only line is a cancellation in Feb
    /// (a Feb customer all the same); customer 4 first buys in Apr, the last month
    /// (the last cohort has one offset). A line without customer counts for no
    /// cohort but its month is the data's last month when it is the latest.
    #[tokio::test]
    async fn cohorts_by_hand() {
        let ctx = lines(
            "('2011-01', '1', 1, false, 10.00), ('2011-01', '2', 2, false, 5.50), \
             ('2011-01', '2b', 2, false, 1.00), ('2011-03', '3', 1, false, 7.25), \
             ('2011-03', 'C4', 1, true, -2.25), ('2011-02', 'C5', 3, true, -3.00), \
             ('2011-04', '6', 4, false, 4.00), ('2011-05', '7', NULL, false, 9.00)",
        )
        .await;
        let c = cohorts(&ctx).await.unwrap().cohorts;
        let names: Vec<_> = c.iter().map(|c| c.cohort.as_str()).collect();
        assert_eq!(names, ["2011-01", "2011-02", "2011-04"]);
        // January: two customers; offsets up to May (the last month of the data).
        assert_eq!(c[0].customers, 2);
        assert_eq!(c[0].active, [2, 0, 1, 0, 0]);
        assert_eq!(c[0].retention, [1.0, 0.0, 0.5, 0.0, 0.0]);
        assert_eq!(c[0].sales, [16.5, 0.0, 5.0, 0.0, 0.0]);
        // February: the cancellation-only customer.
        assert_eq!(c[1].customers, 1);
        assert_eq!(c[1].active, [1, 0, 0, 0]);
        assert_eq!(c[1].sales, [-3.0, 0.0, 0.0, 0.0]);
        // April, the last cohort with a customer.
        assert_eq!((c[2].customers, c[2].active.clone()), (1, vec![1, 0]));

        // The result table: one row per (cohort, offset), typed.
        let t = table(&c).unwrap();
        assert_eq!(t.batch.num_rows(), 5 + 4 + 2);
        assert_eq!(t.primary_key, ["cohort", "month_offset"]);
        let chart = chart(&c);
        assert_eq!(chart.svg.matches("class=\"cell\"").count(), 11);
        assert_eq!(chart.table.rows.len(), 3);
    }

    /// Across a year's end the offsets count calendar months; no line, no cohort.
    #[tokio::test]
    async fn offsets_cross_a_year_end_and_empty_data_has_no_cohort() {
        let ctx = lines("('2010-11', '1', 1, false, 1.00), ('2011-02', '2', 1, false, 2.00)").await;
        let c = cohorts(&ctx).await.unwrap().cohorts;
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].active, [1, 0, 0, 1]);
        assert_eq!(month_of(month_index("2010-12").unwrap() + 1), "2011-01");

        let empty = SessionContext::new();
        empty
            .sql(&format!(
                "CREATE TABLE {INVOICE_LINES} (month VARCHAR, invoice_no VARCHAR, \
                   customer_id BIGINT, is_cancellation BOOLEAN, amount DECIMAL(18, 2))"
            ))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert!(cohorts(&empty).await.unwrap().cohorts.is_empty());
    }
}
