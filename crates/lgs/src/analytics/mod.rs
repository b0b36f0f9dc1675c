//! The marketing analytics, as DataFusion plans over the warehouse tables.
//!
//! Each analysis is a plug-in ([`Analysis`]) listed once in [`analyses`]; it takes a
//! [`SessionContext`] in which the warehouse tables are registered, does not know
//! whether it is local or distributed, and returns a [`Section`] of the [`Report`]
//! that every output shows without knowing the analysis. The heavy work (scanning
//! and aggregating the lines) is SQL; only the final arithmetic on a handful of
//! values (numpy's quantile interpolation) is done in Rust, see [`quantile`].
//!
//! Adding an analysis: one module with a type that implements [`Analysis`], and one
//! line in [`analyses`].

pub mod analysis;
pub mod basket;
pub mod clv;
pub mod cohorts;
pub mod customer;
pub(crate) mod engine;
pub mod experiment;
pub mod invoices;
pub mod kmeans;
pub mod monthly;
pub mod quality;
pub mod quantile;
pub mod recommend;
pub mod rfm;
pub mod section;
pub mod shared;
pub mod trends;

use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use serde_json::{Map, Value};

use crate::error::Result;
use crate::schema::RETAIL_TABLE;

pub use analysis::{Analysis, Intermediate, PassColumn};
pub use invoices::{AmountStats, HistogramBin, InvoiceAmounts};
pub use monthly::{MonthRow, Monthly};
pub use rfm::{Rfm, RfmCustomer, RfmEdges, SegmentRow};
pub use section::{Figure, ResultTable, Section, TableBuilder, TextTable};
pub use shared::Shared;

pub(crate) use engine::{Wanted, compute, midnight_micros, order_stats, query};
pub(crate) use shared::both;

/// Every analysis of the report, in the order of its sections (and of the keys of
/// its JSON document).
pub fn analyses() -> Vec<Arc<dyn Analysis>> {
    vec![
        Arc::new(invoices::InvoiceAmountsAnalysis),
        Arc::new(monthly::MonthlyAnalysis),
        Arc::new(rfm::RfmAnalysis),
        Arc::new(cohorts::CohortsAnalysis),
        Arc::new(clv::ClvAnalysis::default()),
        Arc::new(kmeans::KMeansAnalysis::default()),
    ]
}

/// Everything `lgs report` computes: the as-of date and one section per analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The date RFM recency is measured to.
    pub as_of: String,
    pub sections: Vec<Section>,
}

impl Report {
    /// The section named `name`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The typed result of the analysis whose result is a `T`.
    pub fn part<T: 'static>(&self) -> Option<&T> {
        self.sections.iter().find_map(|s| s.data::<T>())
    }

    /// The report as one JSON object: `as_of`, then every section's keys in order.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("as_of".into(), Value::String(self.as_of.clone()));
        for section in &self.sections {
            map.extend(section.json.clone());
        }
        Value::Object(map)
    }

    /// Every result table of every section, in order.
    pub fn tables(&self) -> impl Iterator<Item = &ResultTable> {
        self.sections.iter().flat_map(|s| &s.tables)
    }

    /// Every chart of every section, in the order of the sections' chart ranks.
    pub fn charts(&self) -> impl Iterator<Item = &crate::charts::Chart> {
        let mut sections: Vec<&Section> = self.sections.iter().collect();
        sections.sort_by_key(|s| s.chart_rank);
        sections.into_iter().flat_map(|s| &s.charts)
    }
}

/// Options of a report run.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Recency is measured to this date; default: the day after the last invoice.
    pub as_of: Option<NaiveDate>,
}

/// How a session keeps a report's intermediate results, set on the session by
/// whoever opens it for a deployment ([`crate::session`]: in memory locally, scratch
/// files or views on a cluster). Analytics reads it from the session and never
/// sees the engine or the warehouse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Staging {
    /// How the intermediate results are kept (see [`Intermediates`]).
    pub intermediates: Intermediates,
    /// When set, the queries after the pass over the lines use one partition per
    /// this many rows of its result (at least one, at most the session's), instead
    /// of the session's partitions; with [`Intermediates::Views`] the result is not
    /// computed, its rows are unknown, and the session's partitions are kept. What
    /// suits an engine where a partition is costly: on a cluster every partition of
    /// a grouping is a shuffle with its files, tasks and latency, and the report's
    /// independent queries keep the slots busy side by side. Locally a partition is
    /// a cheap repartition in memory and the cores are better used within each
    /// query.
    pub partition_rows: Option<u64>,
    /// When set, the query that gives the pass over the lines instead of the pass
    /// itself ([`invoice_lines_sql_over`]): the live state kept up to date from each
    /// commit ([`crate::live`]), whose rows grouped again equal the pass.
    pub invoice_lines: Option<String>,
}

impl Staging {
    /// The staging `ctx` carries (the default, in memory, when it carries none).
    pub fn of(ctx: &SessionContext) -> Staging {
        ctx.state()
            .config()
            .get_extension::<Staging>()
            .map(|s| (*s).clone())
            .unwrap_or_default()
    }

    /// Sets this staging on `ctx` (and on the sessions that share its state).
    pub fn set(&self, ctx: &SessionContext) {
        ctx.state_ref()
            .write()
            .config_mut()
            .set_extension(Arc::new(self.clone()));
    }
}

/// The [`Staging::partition_rows`] of a report on a cluster. At 10M
/// generated lines (489K rows after the pass over them) the cluster's report used
/// a fifth less CPU with its queries over the intermediates on one partition
/// (BENCHMARKS.md); from 100M lines on (4.9M rows) they keep every partition of a
/// 2-slot cluster.
pub const CLUSTER_PARTITION_ROWS: u64 = 1_000_000;

/// How the intermediate results of a report (one row per (month, invoice,
/// customer), per invoice, per customer) are kept while the statistics read them
/// several times.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Intermediates {
    /// Computed once and held in memory (they are small next to the lines). The
    /// fastest for a local session.
    #[default]
    Memory,
    /// Registered as views: recomputed from the warehouse tables by every query that
    /// reads them. Nothing leaves the engine, but every statistic scans the lines.
    Views,
    /// Computed once and written as Parquet under a directory of its own in this
    /// one (`report-<uuid>`), one file per partition by the task that computes it
    /// ([`crate::scratch`]; on a cluster, the executors), then read from there; the
    /// report's directory is removed after the report. What suits a cluster whose executors share the
    /// warehouse's file system: one scan of the lines, like [`Intermediates::Memory`].
    Files(std::path::PathBuf),
}

/// Directory of a warehouse where reports on a cluster keep their intermediate
/// results while they run (not a table: it has no Delta log).
pub const SCRATCH_DIR: &str = "_lgs_scratch";

/// Runs every analysis of [`analyses`] over the `retail` table registered in `ctx`.
pub async fn run_report(ctx: &SessionContext, options: &ReportOptions) -> Result<Report> {
    run_analyses(ctx, options, &analyses()).await
}

/// Runs `analyses` over the `retail` table registered in `ctx`.
///
/// The pass over the lines comes first; then every analysis starts at once, each
/// waiting only for what it reads: the intermediates it declares (computed once, by
/// whichever analysis asks first) and the as-of date. On a cluster, where every
/// query is a job with a latency of its own, this overlap bounds the time more
/// than the work does. With a memory limit the analyses run one after the other, so
/// that each one's operators have the whole pool.
pub async fn run_analyses(
    ctx: &SessionContext,
    options: &ReportOptions,
    analyses: &[Arc<dyn Analysis>],
) -> Result<Report> {
    let staging = Staging::of(ctx);
    let mode = &match &staging.intermediates {
        Intermediates::Files(root) => {
            Intermediates::Files(root.join(format!("report-{}", uuid::Uuid::new_v4())))
        }
        other => other.clone(),
    };
    let mut needed: Vec<&'static Intermediate> = Vec::new();
    for need in analyses.iter().flat_map(|a| a.needs()) {
        if !needed.iter().any(|n| n.name == need.name) {
            needed.push(need);
        }
    }
    let pass = analyses.iter().any(|a| a.reads_invoice_lines());
    let mut columns: Vec<PassColumn> = Vec::new();
    for column in analyses.iter().flat_map(|a| a.pass_columns()) {
        if !columns.contains(column) {
            columns.push(*column);
        }
    }
    let shared = Shared::new(mode.clone(), options.as_of, &needed, pass);
    let report = async {
        let rows = match pass {
            true => {
                let sql = staging.invoice_lines.clone();
                let sql = sql.unwrap_or_else(|| invoice_lines_sql_of(RETAIL_TABLE, &columns));
                shared::register_intermediate(ctx, mode, INVOICE_LINES, &sql).await?
            }
            false => None,
        };
        // Everything after the pass over the lines reads its (much smaller) result.
        let ctx = &match (staging.partition_rows, rows) {
            (Some(per), Some(rows)) => shared::sized_for(ctx, rows, per),
            _ => ctx.clone(),
        };
        let shared = &shared;
        let runs = analyses.iter().map(|analysis| {
            Box::pin(async move {
                for need in analysis.needs() {
                    shared.ensure(ctx, need).await?;
                }
                analysis.run(ctx, shared).await
            })
        });
        let sections = if shared::bounded(ctx) {
            let mut sections = Vec::new();
            for run in runs {
                sections.push(run.await?);
            }
            sections
        } else {
            futures::future::try_join_all(runs).await?
        };
        let as_of = shared.as_of(ctx).await?;
        Ok(Report {
            as_of: as_of.format("%Y-%m-%d").to_string(),
            sections,
        })
    }
    .await;
    let _ = ctx.deregister_table(INVOICE_LINES);
    for name in shared.registered() {
        // Not registered when an earlier step failed: nothing to drop then.
        let _ = ctx.deregister_table(name);
    }
    if let Intermediates::Files(dir) = mode {
        // Scratch space: nothing refers to it any more, whatever happened.
        let _ = std::fs::remove_dir_all(dir);
    }
    report
}

/// Name of the one-pass pre-aggregation every analysis reads during a report.
pub const INVOICE_LINES: &str = "lgs_invoice_lines";

/// The calendar day of a line, as days since 1970-01-01 (what the analyses by day
/// compare and subtract): the microseconds floored to whole days in integer
/// arithmetic, which is exact before 1970 too and about 8 % faster over the pass
/// than casting each timestamp through a date (chrono's calendar per line).
pub(crate) const DAY: &str = "((CAST(invoice_date AS BIGINT) \
     - ((CAST(invoice_date AS BIGINT) % 86400000000) + 86400000000) % 86400000000) \
     / 86400000000)";

/// The single pass over the lines of `table` (a table of `retail`'s schema): one row
/// per (month, day, invoice, customer) with its net amount, the amount of its
/// eligible lines (price > 0 and quantity > 0; null when it has none) and its last
/// timestamp. Every analysis derives from it, so the warehouse table is scanned
/// once per report.
pub(crate) fn invoice_lines_sql_over(table: &str) -> String {
    invoice_lines_sql_of(table, PassColumn::ALL)
}

/// The pass over the lines of `table` with only `columns` of those some analyses
/// read: without the month it groups by four keys and never decodes the month's
/// text; without the eligible amount it reads neither price nor quantity.
pub(crate) fn invoice_lines_sql_of(table: &str, columns: &[PassColumn]) -> String {
    // The month leads both the columns and the keys when it is there.
    let month = match columns.contains(&PassColumn::Month) {
        true => "month, ",
        false => "",
    };
    format!(
        "SELECT {month}{DAY} AS day, invoice_no, customer_id, \
           is_cancellation, max(invoice_date) AS last_date, \
           sum(amount) AS amount{eligible_column} \
         FROM {table} \
         GROUP BY {month}{DAY}, invoice_no, customer_id, is_cancellation",
        eligible_column = if columns.contains(&PassColumn::EligibleAmount) {
            ", sum(CASE WHEN unit_price > 0 AND quantity > 0 THEN amount END) AS eligible_amount"
        } else {
            ""
        },
    )
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{AsArray, RecordBatch, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::Int64Type;
    use datafusion::prelude::SessionContext;

    use super::DAY;

    /// The integer day agrees with the day of the date each timestamp falls on,
    /// on both sides of midnight and of 1970.
    #[tokio::test]
    async fn day_is_the_calendar_day_of_the_timestamp() {
        let day = 86_400_000_000i64;
        let times = [
            0,
            1,
            day - 1,
            day,
            -1,
            -day,
            -day - 1,
            1_291_191_960_000_000, // 2010-12-01 08:26
            1_323_129_599_999_999, // 2011-12-05 23:59:59.999999
            1_323_129_600_000_000, // 2011-12-06 00:00
        ];
        let batch = RecordBatch::try_from_iter([(
            "invoice_date",
            std::sync::Arc::new(TimestampMicrosecondArray::from(times.to_vec())) as _,
        )])
        .unwrap();
        let ctx = SessionContext::new();
        ctx.register_batch("t", batch).unwrap();
        let sql = format!(
            "SELECT {DAY} AS day, \
               CAST(CAST(CAST(invoice_date AS DATE) AS INT) AS BIGINT) AS by_date FROM t"
        );
        let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        let mut days = Vec::new();
        for b in &batches {
            let (got, want) = (b.column(0).as_primitive::<Int64Type>(), b.column(1));
            let want = want.as_primitive::<Int64Type>();
            for r in 0..b.num_rows() {
                assert_eq!(got.value(r), want.value(r), "row {r}");
                days.push(got.value(r));
            }
        }
        assert_eq!(days, [0, 0, 0, 1, -1, -1, -2, 14944, 15313, 15314]);
    }
}
