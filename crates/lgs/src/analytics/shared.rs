//! What the analyses of one report share: the session sized for the queries
//! after the pass over the lines, the intermediates computed once (each when the
//! first analysis that needs it asks), the as-of date, and the RFM scores (the RFM
//! section's, which CLV and k-means read too).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{NaiveDate, TimeDelta};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::execution::memory_pool::MemoryLimit;
use datafusion::prelude::SessionContext;
use tokio::sync::OnceCell;

use super::analysis::Intermediate;
use super::engine::{query, staged};
use super::rfm::Rfm;
use super::{INVOICE_LINES, Intermediates};
use crate::error::{LgsError, QueryContext, Result};
use crate::schema::RETAIL_TABLE;
use crate::scratch;

/// What the analyses of one report share (see the module's documentation).
pub struct Shared {
    mode: Intermediates,
    as_of_option: Option<NaiveDate>,
    as_of: OnceCell<NaiveDate>,
    /// Whether the pass over the lines is registered (else the as-of date comes
    /// from the warehouse's table).
    lines_pass: bool,
    intermediates: HashMap<&'static str, OnceCell<()>>,
    rfm: OnceCell<Arc<Rfm>>,
}

impl Shared {
    /// For a report whose intermediates are kept as `mode`, with recency measured to
    /// `as_of` (default: the day after the last invoice), which may compute
    /// `intermediates`, after the pass over the lines when `lines_pass`.
    pub(crate) fn new(
        mode: Intermediates,
        as_of: Option<NaiveDate>,
        intermediates: &[&'static Intermediate],
        lines_pass: bool,
    ) -> Shared {
        Shared {
            mode,
            as_of_option: as_of,
            as_of: OnceCell::new(),
            lines_pass,
            intermediates: intermediates
                .iter()
                .map(|i| (i.name, OnceCell::new()))
                .collect(),
            rfm: OnceCell::new(),
        }
    }

    /// Every customer's RFM values, scores and segment as of [`Self::as_of`],
    /// computed once per report by whichever analysis asks first (it must declare
    /// [`RFM_VALUES_TABLE`](super::rfm::RFM_VALUES_TABLE) in its needs).
    pub async fn rfm(&self, ctx: &SessionContext) -> Result<Arc<Rfm>> {
        self.rfm
            .get_or_try_init(|| async {
                let as_of = self.as_of(ctx).await?;
                Ok(Arc::new(super::rfm::rfm(ctx, as_of).await?))
            })
            .await
            .cloned()
    }

    /// The date recency is measured to: the report's `--as-of`, or the day after
    /// the last invoice (computed once).
    pub async fn as_of(&self, ctx: &SessionContext) -> Result<NaiveDate> {
        self.as_of
            .get_or_try_init(|| async {
                match (self.as_of_option, self.lines_pass) {
                    (Some(d), _) => Ok(d),
                    (None, true) => as_of_after(ctx, INVOICE_LINES, "last_date").await,
                    (None, false) => as_of_after(ctx, RETAIL_TABLE, "invoice_date").await,
                }
            })
            .await
            .copied()
    }

    /// Computes and registers `intermediate` in `ctx`, once per report.
    pub(crate) async fn ensure(
        &self,
        ctx: &SessionContext,
        intermediate: &Intermediate,
    ) -> Result<()> {
        let cell =
            self.intermediates
                .get(intermediate.name)
                .ok_or_else(|| LgsError::InvalidArgument {
                    what: "intermediate",
                    message: format!("{} is not declared by any analysis", intermediate.name),
                })?;
        cell.get_or_try_init(|| async {
            let sql = (intermediate.sql)();
            register_intermediate(ctx, &self.mode, intermediate.name, &sql).await?;
            Ok(())
        })
        .await
        .map(|_| ())
    }

    /// The names of the intermediates registered so far.
    pub(crate) fn registered(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.intermediates
            .iter()
            .filter(|(_, cell)| cell.initialized())
            .map(|(name, _)| *name)
    }
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
    if bounded(ctx) {
        let a = a.await?;
        Ok((a, b.await?))
    } else {
        futures::try_join!(a, b)
    }
}

/// Whether `ctx` has a memory limit (then the parts of a report run one after
/// the other).
pub(crate) fn bounded(ctx: &SessionContext) -> bool {
    matches!(
        ctx.runtime_env().memory_pool.memory_limit(),
        MemoryLimit::Finite(_)
    )
}

/// A session like `ctx` (the same tables, runtime and engine) whose queries use one
/// partition per `per` of `rows`, at least one and at most as many as `ctx`'s.
pub(crate) fn sized_for(ctx: &SessionContext, rows: u64, per: u64) -> SessionContext {
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
pub(crate) async fn register_intermediate(
    ctx: &SessionContext,
    mode: &Intermediates,
    name: &str,
    sql: &str,
) -> Result<Option<u64>> {
    let stage = name.trim_start_matches("lgs_").replace('_', " ");
    staged(&stage, materialise(ctx, mode, name, sql)).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Int64Type;

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
}
