//! The marketing analytics, as DataFusion plans over the warehouse tables.
//!
//! Every function here takes a [`SessionContext`] in which the warehouse tables are
//! registered and does not know whether it is local or distributed. The heavy work
//! (scanning and aggregating the lines) is SQL; only the final arithmetic on a handful
//! of values (numpy's quantile interpolation) is done in Rust, see [`quantile`].

pub mod invoices;
pub mod monthly;
pub mod quality;
pub mod quantile;
pub mod rfm;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{NaiveDate, TimeDelta};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::execution::memory_pool::MemoryLimit;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use serde::Serialize;
use tracing::Instrument;

use crate::error::{LgsError, QueryContext, Result};
use crate::schema::RETAIL_TABLE;
use crate::scratch;

pub use invoices::{AmountStats, HistogramBin};
pub use monthly::MonthRow;
pub use rfm::{RfmCustomer, RfmEdges, SegmentRow};

/// Everything `lgs report` computes.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// The date RFM recency is measured to.
    pub as_of: String,
    pub invoice_amount: AmountStats,
    pub invoice_amount_trimmed: AmountStats,
    pub invoice_amount_histogram: Vec<HistogramBin>,
    pub invoice_amount_trimmed_histogram: Vec<HistogramBin>,
    pub monthly: Vec<MonthRow>,
    pub rfm_segments: Vec<SegmentRow>,
    pub rfm_edges: RfmEdges,
    /// One row per customer (written by `--out`, left out of the JSON document).
    #[serde(skip)]
    pub rfm_customers: Vec<RfmCustomer>,
}

/// Options of a report run.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Recency is measured to this date; default: the day after the last invoice.
    pub as_of: Option<NaiveDate>,
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
}

/// The [`ReportOptions::partition_rows`] of a report on a cluster. At 10M
/// generated lines (489K rows after the pass over them) the cluster's report used
/// a fifth less CPU with its queries over the intermediates on one partition
/// (BENCHMARKS.md); from 100M lines on (4.9M rows) they keep every partition of a
/// 2-slot cluster.
pub const CLUSTER_PARTITION_ROWS: u64 = 1_000_000;

impl ReportOptions {
    /// What suits a report on `engine` over `warehouse` (see
    /// [`Intermediates::for_engine`] and [`ReportOptions::partition_rows`]).
    pub fn for_engine(
        engine: &crate::session::Engine,
        warehouse: &crate::warehouse::Warehouse,
        as_of: Option<NaiveDate>,
    ) -> ReportOptions {
        ReportOptions {
            as_of,
            intermediates: Intermediates::for_engine(engine, warehouse),
            partition_rows: engine.is_cluster().then_some(CLUSTER_PARTITION_ROWS),
        }
    }
}

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
    /// Computed once and written as Parquet under this directory, one file per
    /// partition by the task that computes it ([`crate::scratch`]; on a cluster,
    /// the executors), then read from there; the directory is removed after the
    /// report. What suits a cluster whose executors share the
    /// warehouse's file system: one scan of the lines, like [`Intermediates::Memory`].
    Files(std::path::PathBuf),
}

impl Intermediates {
    /// What suits a session on `engine` over `warehouse`: memory locally; on a
    /// cluster (whose executors cannot read this process's memory) files in a
    /// scratch directory of a local (shared) warehouse, or views when the
    /// warehouse is on object storage.
    pub fn for_engine(
        engine: &crate::session::Engine,
        warehouse: &crate::warehouse::Warehouse,
    ) -> Intermediates {
        match (engine.is_cluster(), warehouse.local_root()) {
            (false, _) => Intermediates::Memory,
            (true, Some(root)) => Intermediates::Files(
                root.join(SCRATCH_DIR)
                    .join(format!("report-{}", uuid::Uuid::new_v4())),
            ),
            (true, None) => Intermediates::Views,
        }
    }
}

/// Directory of a warehouse where reports on a cluster keep their intermediate
/// results while they run (not a table: it has no Delta log).
pub const SCRATCH_DIR: &str = "_lgs_scratch";

/// Runs every analysis over the `retail` table registered in `ctx`.
///
/// The queries form four rounds, each waiting only for what it reads: the pass
/// over the lines; the per-invoice and per-customer results and the as-of date;
/// every statistic that needs no other result; the trimmed invoice statistics (they
/// need the 85th percentile) and the RFM scores (they need the edges). The monthly
/// metrics (one query over the lines) run beside rounds two to four. On a
/// cluster, where every query is a job with a latency of its own, the rounds bound
/// the time more than the work does.
pub async fn run_report(ctx: &SessionContext, options: &ReportOptions) -> Result<Report> {
    let mode = &options.intermediates;
    let intermediates = [
        (INVOICE_LINES, invoice_lines_sql()),
        (invoices::INVOICE_AMOUNTS, invoices::invoice_amounts_sql()),
        (rfm::RFM_VALUES, rfm::values_sql()),
    ];
    let report = async {
        let [(lines, sql), (a, a_sql), (b, b_sql)] = &intermediates;
        let rows = register_intermediate(ctx, mode, lines, sql).await?;
        // Everything after the pass over the lines reads its (much smaller) result.
        let ctx = &match (options.partition_rows, rows) {
            (Some(per), Some(rows)) => sized_for(ctx, rows, per),
            _ => ctx.clone(),
        };
        let as_of = async {
            match options.as_of {
                Some(d) => Ok(d),
                None => as_of_after(ctx, INVOICE_LINES, "last_date").await,
            }
        };
        // The monthly metrics read only the lines: they run beside the rest.
        let rest = async {
            let (_, as_of) = both(
                ctx,
                both(
                    ctx,
                    register_intermediate(ctx, mode, a, a_sql),
                    register_intermediate(ctx, mode, b, b_sql),
                ),
                as_of,
            )
            .await?;
            let (amounts, rfm) = both(ctx, amount_stats(ctx), rfm::rfm(ctx, as_of)).await?;
            Ok((as_of, amounts, rfm))
        };
        let (monthly, (as_of, amounts, rfm)) = both(ctx, monthly::monthly(ctx), rest).await?;
        let [
            (invoice_amount, invoice_amount_histogram),
            (invoice_amount_trimmed, invoice_amount_trimmed_histogram),
        ] = amounts;
        Ok(Report {
            as_of: as_of.format("%Y-%m-%d").to_string(),
            invoice_amount,
            invoice_amount_trimmed,
            invoice_amount_histogram,
            invoice_amount_trimmed_histogram,
            monthly,
            rfm_segments: rfm.segments,
            rfm_edges: rfm.edges,
            rfm_customers: rfm.customers,
        })
    }
    .await;
    for (name, _) in &intermediates {
        // Not registered when an earlier step failed: nothing to drop then.
        let _ = ctx.deregister_table(*name);
    }
    if let Intermediates::Files(dir) = mode {
        // Scratch space: nothing refers to it any more, whatever happened.
        let _ = std::fs::remove_dir_all(dir);
    }
    report
}

/// Name of the one-pass pre-aggregation every analysis reads during a report.
pub const INVOICE_LINES: &str = "lgs_invoice_lines";

/// The single pass over the lines: one row per (month, invoice, customer) with its
/// net amount, the amount of its eligible lines (price > 0 and quantity > 0; null
/// when it has none) and its last timestamp. Every analysis derives from it, so the
/// warehouse table is scanned once per report.
fn invoice_lines_sql() -> String {
    format!(
        "SELECT month, invoice_no, customer_id, is_cancellation, \
           max(invoice_date) AS last_date, \
           sum(amount) AS amount, \
           sum(CASE WHEN unit_price > 0 AND quantity > 0 THEN amount END) AS eligible_amount \
         FROM {RETAIL_TABLE} GROUP BY month, invoice_no, customer_id, is_cancellation"
    )
}

/// The statistics of all invoice amounts, then of those up to their 85th percentile.
async fn amount_stats(ctx: &SessionContext) -> Result<[(AmountStats, Vec<HistogramBin>); 2]> {
    let full = invoices::amount_stats(ctx, None).await?;
    let trimmed = invoices::amount_stats(ctx, Some(full.0.p85)).await?;
    Ok([full, trimmed])
}

/// Runs two independent parts of a report: at once (on a cluster, their jobs'
/// latencies overlap), or one after the other when the session has a memory limit,
/// so that each part's operators have the whole pool.
pub(crate) async fn both<A, B>(
    ctx: &SessionContext,
    a: impl Future<Output = Result<A>>,
    b: impl Future<Output = Result<B>>,
) -> Result<(A, B)> {
    // On the heap: the report's parts nest, and their futures together would be
    // too large for a thread's stack in a debug build.
    let (a, b) = (Box::pin(a), Box::pin(b));
    let bounded = matches!(
        ctx.runtime_env().memory_pool.memory_limit(),
        MemoryLimit::Finite(_)
    );
    if bounded {
        let a = a.await?;
        Ok((a, b.await?))
    } else {
        futures::try_join!(a, b)
    }
}

/// A session like `ctx` (the same tables, runtime and engine) whose queries use one
/// partition per `per` of `rows`, at least one and at most as many as `ctx`'s.
fn sized_for(ctx: &SessionContext, rows: u64, per: u64) -> SessionContext {
    // A copy of the state shares the catalogs (the registered tables) and the runtime.
    let mut state = ctx.state();
    let current = state.config().target_partitions();
    let wanted = rows.div_ceil(per.max(1)).clamp(1, current as u64) as usize;
    if wanted == current {
        return ctx.clone();
    }
    tracing::debug!(rows, partitions = wanted, "queries over the intermediates");
    state.config_mut().options_mut().execution.target_partitions = wanted;
    SessionContext::new_with_state(state)
}

/// Registers the result of `sql` under `name`, held in memory or as a view, and
/// returns its rows when it was computed (not for a view).
async fn register_intermediate(
    ctx: &SessionContext,
    mode: &Intermediates,
    name: &str,
    sql: &str,
) -> Result<Option<u64>> {
    let stage = name.trim_start_matches("lgs_").replace('_', " ");
    staged(&stage, materialise(ctx, mode, name, sql)).await
}

/// Runs `work` as a stage of the report: inside a tracing span named `stage`
/// (`lgs report` shows the running ones), its time logged at debug level.
async fn staged<T>(name: &str, work: impl Future<Output = Result<T>>) -> Result<T> {
    let started = std::time::Instant::now();
    // On the heap, as in `both`: in a debug build the report's nested futures would
    // otherwise outgrow a thread's stack.
    let done = Box::pin(work.instrument(tracing::info_span!("stage", name))).await;
    tracing::debug!(
        stage = name,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "stage done"
    );
    done
}

async fn materialise(
    ctx: &SessionContext,
    mode: &Intermediates,
    name: &str,
    sql: &str,
) -> Result<Option<u64>> {
    let df = ctx.sql(sql).await.context(name)?;
    let (table, rows): (Arc<dyn TableProvider>, _) = match mode {
        Intermediates::Memory => {
            let schema = Arc::new(df.schema().as_arrow().clone());
            let parts = df.collect_partitioned().await.context(name)?;
            let rows = parts.iter().flatten().map(|b| b.num_rows() as u64).sum();
            let table = MemTable::try_new(schema, parts).context(name)?;
            (Arc::new(table), Some(rows))
        }
        Intermediates::Views => (df.into_view(), None),
        Intermediates::Files(dir) => {
            // Each partition of the result is written by the task that computes it.
            let (table, rows) = scratch::write(ctx, df, &dir.join(name))
                .await
                .context(name)?;
            (table, Some(rows))
        }
    };
    ctx.register_table(name, table).context(name)?;
    Ok(rows)
}

/// The default as-of date: the day after the largest timestamp of `column` in
/// `table` (during a report, the last invoice date in the lines' pre-aggregation).
async fn as_of_after(ctx: &SessionContext, table: &str, column: &str) -> Result<NaiveDate> {
    let rows = query(
        ctx,
        "last invoice date",
        &format!("SELECT CAST(max({column}) AS BIGINT) AS last FROM {table}"),
        vec![],
    )
    .await?;
    let last = rows.i64(0, "last")?.ok_or_else(|| LgsError::EmptyTable {
        table: RETAIL_TABLE.into(),
        warehouse: "the session".into(),
    })?;
    let date = chrono::DateTime::from_timestamp_micros(last)
        .map(|t| t.date_naive())
        .ok_or_else(|| LgsError::InvalidArgument {
            what: "invoice_date",
            message: format!("out of range: {last} µs"),
        })?;
    Ok(date + TimeDelta::days(1))
}

/// Microseconds since the epoch of a date's midnight.
pub(crate) fn midnight_micros(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_micros()
}

/// The collected result of a query, with typed accessors by column name.
pub(crate) struct Rows {
    batches: Vec<RecordBatch>,
    context: String,
}

/// Runs `sql` with positional parameters `$1, $2, ...` and collects the result.
pub(crate) async fn query(
    ctx: &SessionContext,
    context: &str,
    sql: &str,
    params: Vec<ScalarValue>,
) -> Result<Rows> {
    let batches = staged(context, async {
        let mut df = ctx.sql(sql).await.context(context)?;
        if !params.is_empty() {
            df = df.with_param_values(params).context(context)?;
        }
        df.collect().await.context(context)
    })
    .await?;
    Ok(Rows {
        batches: batches.into_iter().filter(|b| b.num_rows() > 0).collect(),
        context: context.to_string(),
    })
}

impl Rows {
    pub fn len(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }

    /// Calls `f` with (batch, row) for every row.
    pub fn for_each(&self, mut f: impl FnMut(&RowRef<'_>) -> Result<()>) -> Result<()> {
        for batch in &self.batches {
            for row in 0..batch.num_rows() {
                f(&RowRef {
                    batch,
                    row,
                    context: &self.context,
                })?;
            }
        }
        Ok(())
    }

    fn row(&self, mut index: usize) -> Result<RowRef<'_>> {
        for batch in &self.batches {
            if index < batch.num_rows() {
                return Ok(RowRef {
                    batch,
                    row: index,
                    context: &self.context,
                });
            }
            index -= batch.num_rows();
        }
        Err(LgsError::query(
            &self.context,
            datafusion::error::DataFusionError::Execution(format!("no row {index}")),
        ))
    }

    pub fn f64(&self, row: usize, column: &str) -> Result<Option<f64>> {
        self.row(row)?.f64(column)
    }

    pub fn i64(&self, row: usize, column: &str) -> Result<Option<i64>> {
        self.row(row)?.i64(column)
    }
}

/// One row of a [`Rows`].
pub(crate) struct RowRef<'a> {
    batch: &'a RecordBatch,
    row: usize,
    context: &'a str,
}

impl RowRef<'_> {
    fn column(&self, name: &str, to: &DataType) -> Result<std::sync::Arc<dyn Array>> {
        let column = self.batch.column_by_name(name).ok_or_else(|| {
            LgsError::query(
                self.context,
                datafusion::error::DataFusionError::Execution(format!("no column {name}")),
            )
        })?;
        cast(column, to).map_err(|e| LgsError::query(self.context, e.into()))
    }

    pub fn f64(&self, name: &str) -> Result<Option<f64>> {
        let a = self.column(name, &DataType::Float64)?;
        Ok(a.is_valid(self.row)
            .then(|| a.as_primitive::<Float64Type>().value(self.row)))
    }

    pub fn i64(&self, name: &str) -> Result<Option<i64>> {
        let a = self.column(name, &DataType::Int64)?;
        Ok(a.is_valid(self.row)
            .then(|| a.as_primitive::<Int64Type>().value(self.row)))
    }

    pub fn u64(&self, name: &str) -> Result<u64> {
        Ok(self.i64(name)?.unwrap_or(0).max(0) as u64)
    }

    pub fn string(&self, name: &str) -> Result<Option<String>> {
        let a = self.column(name, &DataType::Utf8)?;
        Ok(a.is_valid(self.row)
            .then(|| a.as_string::<i32>().value(self.row).to_string()))
    }
}

/// Fetches the values at the given 0-based positions of `column` sorted ascending in
/// the result of `relation` (a SQL query), as a lookup for the quantile functions.
pub(crate) async fn sorted_values_at(
    ctx: &SessionContext,
    context: &str,
    relation: &str,
    column: &str,
    positions: &[usize],
    params: Vec<ScalarValue>,
) -> Result<HashMap<usize, f64>> {
    let wanted = positions
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT pos, CAST(v AS DOUBLE) AS v FROM (\
           SELECT {column} AS v, row_number() OVER (ORDER BY {column}) - 1 AS pos \
           FROM ({relation})) WHERE pos IN ({wanted})"
    );
    let rows = query(ctx, context, &sql, params).await?;
    let mut out = HashMap::new();
    rows.for_each(|r| {
        if let (Some(pos), Some(v)) = (r.i64("pos")?, r.f64("v")?) {
            out.insert(pos as usize, v);
        }
        Ok(())
    })?;
    Ok(out)
}

/// What [`order_stats`] reads of a relation besides its count.
#[derive(Debug, Default)]
pub(crate) struct Wanted<'a> {
    /// The values that [`quantile::quantile`] reads at these levels.
    pub levels: &'a [f64],
    /// The values that [`quantile::median`] reads.
    pub median: bool,
    /// The smallest and the largest value ([`OrderStats::min`], [`OrderStats::max`]).
    pub extremes: bool,
    /// Aggregates over the whole relation, computed beside its count: (name, SQL
    /// expression), read back as doubles with [`OrderStats::aggregate`].
    pub aggregates: &'a [(&'a str, &'a str)],
}

/// The count of a relation, the sorted values its quantiles read and the
/// aggregates asked for ([`Wanted`]).
#[derive(Debug)]
pub(crate) struct OrderStats {
    /// Rows in the relation.
    pub n: usize,
    values: HashMap<usize, f64>,
    aggregates: HashMap<String, Option<f64>>,
    /// Whether the values had to be fetched again by position (a test checks that
    /// the positions computed in SQL suffice).
    #[cfg_attr(not(test), allow(dead_code))]
    refetched: bool,
}

impl OrderStats {
    /// The `i`-th smallest value (NaN when it was not fetched).
    pub fn at(&self, i: usize) -> f64 {
        self.values.get(&i).copied().unwrap_or(f64::NAN)
    }

    /// The smallest value (NaN when the relation is empty or it was not asked for).
    pub fn min(&self) -> f64 {
        self.at(0)
    }

    /// The largest value (NaN when the relation is empty or it was not asked for).
    pub fn max(&self) -> f64 {
        self.n.checked_sub(1).map_or(f64::NAN, |last| self.at(last))
    }

    /// The aggregate named `name` of [`Wanted::aggregates`] (None when it is null,
    /// the relation is empty or it was not asked for).
    pub fn aggregate(&self, name: &str) -> Option<f64> {
        self.aggregates.get(name).copied().flatten()
    }
}

/// The row count of `relation`, the values of `column`, sorted ascending, at the
/// positions `wanted` reads, and its aggregates, in one query: the positions are
/// computed in SQL from the count, so nothing waits for a count first (on a cluster,
/// one job less on the critical path). Should a position the Rust side needs be
/// missing, the values are fetched again by position ([`sorted_values_at`]).
pub(crate) async fn order_stats(
    ctx: &SessionContext,
    context: &str,
    relation: &str,
    column: &str,
    wanted: &Wanted<'_>,
    params: Vec<ScalarValue>,
) -> Result<OrderStats> {
    let mut positions = Vec::new();
    for &level in wanted.levels {
        // The virtual index exactly as quantile::position computes it.
        let index = format!(
            "CAST(floor(CAST(n - 1 AS DOUBLE) * {:?}) AS BIGINT)",
            quantile::virtual_level(level)
        );
        positions.push(format!("pos = {index}"));
        positions.push(format!("pos = {index} + 1"));
    }
    if wanted.median {
        positions.push("pos = n / 2".into());
        positions.push("pos = (n - 1) / 2".into());
    }
    if wanted.extremes || positions.is_empty() {
        positions.push("pos = 0".into());
    }
    if wanted.extremes {
        positions.push("pos = n - 1".into());
    }
    let aggregates: String = wanted
        .aggregates
        .iter()
        .map(|(name, sql)| format!(", {sql} AS {name}"))
        .collect();
    let sql = format!(
        "SELECT * FROM (\
           SELECT CAST({column} AS DOUBLE) AS v, row_number() OVER (ORDER BY {column}) - 1 AS pos \
           FROM ({relation})) \
         CROSS JOIN (SELECT count(*) AS n{aggregates} FROM ({relation})) \
         WHERE {}",
        positions.join(" OR ")
    );
    let rows = query(ctx, context, &sql, params.clone()).await?;
    let mut n = 0;
    let mut values = HashMap::new();
    let mut totals = HashMap::new();
    rows.for_each(|r| {
        n = r.u64("n")? as usize;
        if let (Some(pos), Some(v)) = (r.i64("pos")?, r.f64("v")?) {
            values.insert(pos as usize, v);
        }
        for (name, _) in wanted.aggregates {
            totals.insert(name.to_string(), r.f64(name)?);
        }
        Ok(())
    })?;
    let mut stats = OrderStats {
        n,
        values,
        aggregates: totals,
        refetched: false,
    };
    if n == 0 {
        return Ok(stats);
    }
    let mut needed = quantile::needed_indices(n, wanted.levels);
    if wanted.median {
        needed.extend(quantile::median_indices(n));
    }
    if wanted.extremes {
        needed.extend([0, n - 1]);
    }
    stats.refetched = needed.iter().any(|i| !stats.values.contains_key(i));
    if stats.refetched {
        tracing::debug!(query = context, "quantile positions refetched by index");
        stats.values = sorted_values_at(ctx, context, relation, column, &needed, params).await?;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Float64Array;
    use datafusion::arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    /// A session sized for an intermediate has one partition per `per` rows within
    /// the original's bounds, and sees the tables registered on the original after
    /// it was made (it shares the catalogs, as a report needs: the per-invoice and
    /// per-customer intermediates are registered through it).
    #[tokio::test]
    async fn a_session_sized_for_an_intermediate_shares_the_tables() {
        let ctx = SessionContext::new_with_config(
            datafusion::prelude::SessionConfig::new().with_target_partitions(4),
        );
        let partitions = |c: &SessionContext| c.state().config().target_partitions();
        assert_eq!(partitions(&sized_for(&ctx, 10, 1_000)), 1);
        assert_eq!(partitions(&sized_for(&ctx, 2_500, 1_000)), 3);
        assert_eq!(partitions(&sized_for(&ctx, 1_000_000, 1_000)), 4);
        assert_eq!(partitions(&sized_for(&ctx, 0, 1_000)), 1);
        assert_eq!(partitions(&ctx), 4, "the original is left as it was");

        let small = sized_for(&ctx, 10, 1_000);
        ctx.sql("CREATE TABLE later AS VALUES (1), (2), (3)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let n = small
            .sql("SELECT count(*) AS n FROM later")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(n[0].column(0).as_primitive::<Int64Type>().value(0), 3);
        let plan = small
            .sql("SELECT column1, count(*) FROM later GROUP BY column1")
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let shown = datafusion::physical_plan::displayable(plan.as_ref())
            .indent(false)
            .to_string();
        assert!(!shown.contains("RepartitionExec"), "{shown}");
    }

    /// The positions computed in SQL are the ones numpy reads, for every count
    /// from 1 to 60 and the levels the report uses, without a second query; the
    /// extremes and the aggregates come with them.
    #[tokio::test]
    async fn order_stats_fetch_what_the_quantiles_read_in_one_query() {
        let ctx = SessionContext::new();
        for n in 1..=60usize {
            // Distinct values in a scrambled order.
            let values: Vec<f64> = (0..n).map(|i| ((i * 37) % n) as f64 * 1.5 - 7.0).collect();
            let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Float64, false)]));
            let batch =
                RecordBatch::try_new(schema, vec![Arc::new(Float64Array::from(values.clone()))])
                    .unwrap();
            ctx.deregister_table("t").unwrap();
            ctx.register_batch("t", batch).unwrap();
            let mut sorted = values;
            sorted.sort_by(f64::total_cmp);
            for (levels, median) in [(&[0.85][..], true), (&quantile::qcut_levels()[..], false)] {
                let wanted = Wanted {
                    levels,
                    median,
                    extremes: median,
                    aggregates: &[("total", "sum(x)")],
                };
                let stats = order_stats(&ctx, "t", "SELECT x FROM t", "x", &wanted, vec![])
                    .await
                    .unwrap();
                assert_eq!(stats.n, n);
                assert!(!stats.refetched, "n = {n}, levels {levels:?}");
                assert_eq!(stats.aggregate("total"), Some(sorted.iter().sum::<f64>()));
                if median {
                    assert_eq!(stats.min(), sorted[0], "n = {n}");
                    assert_eq!(stats.max(), sorted[n - 1], "n = {n}");
                }
                for &q in levels {
                    let want = quantile::quantile(n, q, |i| sorted[i]);
                    assert_eq!(
                        quantile::quantile(n, q, |i| stats.at(i)),
                        want,
                        "n = {n}, q = {q}"
                    );
                }
                if median {
                    let want = quantile::median(n, |i| sorted[i]);
                    assert_eq!(quantile::median(n, |i| stats.at(i)), want, "n = {n}");
                }
            }
        }
    }
}
