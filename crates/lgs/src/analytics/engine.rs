//! The query helpers every analysis uses: running a stage of the report, collecting
//! a result with typed accessors by column name, and the order statistics
//! (quantiles, extremes) of a relation in one query.

use std::collections::HashMap;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, Schema};
use datafusion::arrow::error::ArrowError;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use tracing::Instrument;

use super::quantile;
use crate::error::{LgsError, QueryContext, Result};

/// Runs `work` as a stage of the report: inside a tracing span named `stage`
/// (`lgs report` shows the running ones), its time logged at debug level.
pub(crate) async fn staged<T>(name: &str, work: impl Future<Output = Result<T>>) -> Result<T> {
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

/// Runs `work`, a model fit or another computation that holds a core for a while,
/// on tokio's blocking threads as a stage of the report. The report's analyses
/// run as one task; a fit run inline would stop the others from polling their
/// queries until it finished.
pub(crate) async fn compute<T: Send + 'static>(
    name: &'static str,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    staged(name, async {
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(work))
            .await
            .map_err(|e| LgsError::Computation {
                name,
                message: e.to_string(),
            })?
    })
    .await
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
    let batches = batches
        .into_iter()
        .filter(|b| b.num_rows() > 0)
        .map(|b| accessible(b).map_err(|e| LgsError::query(context, e.into())))
        .collect::<Result<Vec<_>>>()?;
    Ok(Rows {
        batches,
        context: context.to_string(),
    })
}

/// The batch with its string columns as Utf8 and its integer columns as Int64,
/// the types the accessors read: each column is cast once here, not at every row.
fn accessible(batch: RecordBatch) -> std::result::Result<RecordBatch, ArrowError> {
    let to = |t: &DataType| match t {
        DataType::Utf8View | DataType::LargeUtf8 => Some(DataType::Utf8),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => Some(DataType::Int64),
        _ => None,
    };
    if !batch.columns().iter().any(|c| to(c.data_type()).is_some()) {
        return Ok(batch);
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        match to(column.data_type()) {
            Some(t) => {
                columns.push(cast(column, &t)?);
                fields.push(field.as_ref().clone().with_data_type(t));
            }
            None => {
                columns.push(column.clone());
                fields.push(field.as_ref().clone());
            }
        }
    }
    RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns)
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

    pub fn string(&self, row: usize, column: &str) -> Result<Option<String>> {
        self.row(row)?.string(column)
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
        if column.data_type() == to {
            return Ok(column.clone());
        }
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
