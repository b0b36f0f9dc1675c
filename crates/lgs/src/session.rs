//! Building the DataFusion session that queries the warehouse.

use std::sync::Arc;

use datafusion::execution::SessionStateBuilder;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::analytics::{CLUSTER_PARTITION_ROWS, Intermediates, SCRATCH_DIR, Staging};
use crate::error::{LgsError, QueryContext, Result};
use crate::schema::RETAIL_TABLE;
use crate::warehouse::{OpenTable, TableInfo, Warehouse};

/// A local session with every warehouse table registered.
pub async fn context(warehouse: &Warehouse) -> Result<SessionContext> {
    Ok(context_with_tables(warehouse).await?.0)
}

/// A local session with every warehouse table registered, and what was registered.
pub async fn context_with_tables(
    warehouse: &Warehouse,
) -> Result<(SessionContext, Vec<TableInfo>)> {
    context_on(warehouse, &Engine::default()).await
}

/// What a local session may use of the machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// The bytes the process should stay within. Query operators (aggregations,
    /// sorts, joins) and the data an analysis holds share [`pool_bytes`] of it in
    /// DataFusion's memory pool; beyond that they spill to temporary files, and a
    /// query that cannot proceed even so fails naming the operator. `None`: no
    /// limit.
    pub memory_limit: Option<u64>,
    /// Partitions a query is split into (and so cores it uses). `None`: one per core.
    pub threads: Option<usize>,
}

/// Where a session's queries run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    /// In this process, within these limits.
    Local(Limits),
    /// On the Ballista cluster whose scheduler is at this `df://HOST:PORT` (each
    /// executor has its own limits).
    Cluster(String),
}

impl Default for Engine {
    fn default() -> Self {
        Engine::Local(Limits::default())
    }
}

impl Engine {
    /// `Cluster(url)` when a URL is given, else local within `limits`.
    pub fn from_url(url: Option<&str>, limits: Limits) -> Engine {
        url.map_or(Engine::Local(limits), |u| Engine::Cluster(u.to_string()))
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Engine::Cluster(_))
    }
}

/// A session on `engine` with every warehouse table registered the same way in
/// both (see [`crate::cluster`]), and what was registered.
pub async fn context_on(
    warehouse: &Warehouse,
    engine: &Engine,
) -> Result<(SessionContext, Vec<TableInfo>)> {
    let opened = warehouse.open_all().await?;
    context_over(warehouse, engine, &opened).await
}

/// [`context_on`] over tables already opened (by [`Warehouse::open_all`]).
pub async fn context_over(
    warehouse: &Warehouse,
    engine: &Engine,
    opened: &[OpenTable],
) -> Result<(SessionContext, Vec<TableInfo>)> {
    let mut config = SessionConfig::new()
        .with_information_schema(true)
        .with_extension(Arc::new(crate::asof::SessionWarehouse(warehouse.clone())))
        .with_extension(Arc::new(crate::progress::FileRows::default()));
    if engine.is_cluster() && warehouse.keyring().is_some() {
        // The scheduler has no keys: it plans without reading the files' footers
        // (see [`crate::cluster`]'s `encrypted`).
        config = config.set_bool("datafusion.execution.collect_statistics", false);
    }
    let ctx = match engine {
        Engine::Local(limits) => local_context(config, limits)?,
        Engine::Cluster(url) => crate::cluster::remote_context(url, config).await?,
    };
    if engine.is_cluster() {
        // The executors cannot read this process's memory: intermediates go to a
        // scratch directory of a local (shared) warehouse, or are views over
        // object storage.
        let intermediates = match warehouse.local_root() {
            Some(root) => Intermediates::Files(root.join(SCRATCH_DIR)),
            None => Intermediates::Views,
        };
        Staging {
            intermediates,
            partition_rows: Some(CLUSTER_PARTITION_ROWS),
            invoice_lines: None,
        }
        .set(&ctx);
    }
    if let Some(role) = warehouse.access().role() {
        let root = warehouse.root_url()?;
        let scratch =
            root.join(&format!("{SCRATCH_DIR}/"))
                .map_err(|e| LgsError::InvalidArgument {
                    what: "warehouse location",
                    message: e.to_string(),
                })?;
        crate::policy::guard::install(&ctx, &role.name, root.to_string(), scratch.to_string());
    }
    let tables = warehouse.register_opened(&ctx, opened).await?;
    if tables.iter().any(|t| t.name == RETAIL_TABLE) {
        register_views(&ctx, warehouse.access()).await?;
    }
    Ok((ctx, tables))
}

/// The part of a memory limit that DataFusion's pool hands out: three quarters.
/// The rest is kept for what the pool does not count: Parquet pages being read and
/// decoded, batches on their way between operators, the runtime, and what the
/// allocator holds between frees and reuse. With the whole limit as the pool, the
/// 100M-row basket and recommendation runs under a 2 GB limit peaked at 2.3 and
/// 2.5 GB of resident memory (BENCHMARKS.md).
pub fn pool_bytes(limit: u64) -> usize {
    usize::try_from(limit / 4 * 3).unwrap_or(usize::MAX)
}

/// A local session within `limits`. Spill files go to the system's temporary
/// directory (`TMPDIR`).
fn local_context(mut config: SessionConfig, limits: &Limits) -> Result<SessionContext> {
    if let Some(threads) = limits.threads {
        config = config.with_target_partitions(threads.max(1));
    }
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = limits.memory_limit {
        let bytes = pool_bytes(limit);
        // A sort sets this much aside for merging its spill files (10 MB by
        // default); under a small limit that reserve alone would not fit.
        let options = config.options_mut();
        options.execution.sort_spill_reservation_bytes = options
            .execution
            .sort_spill_reservation_bytes
            .min(bytes / 16);
        // Fair: every spilling operator of a query gets its share, so one large
        // aggregation cannot starve a sort that runs beside it.
        runtime = runtime.with_memory_pool(Arc::new(FairSpillPool::new(bytes)));
    }
    let runtime = runtime
        .build_arc()
        .map_err(|e| LgsError::query("setting up the query engine", e))?;
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .with_query_planner(Arc::new(crate::scratch::QueryPlanner))
        .build();
    Ok(SessionContext::new_with_state(state))
}

/// The views over `retail` that every session has.
pub const VIEWS: [(&str, &str); 1] = [(
    "invoices",
    "SELECT invoice_no, min(invoice_date) AS invoice_date, min(month) AS month, \
       max(customer_id) AS customer_id, max(country) AS country, \
       bool_or(is_cancellation) AS is_cancellation, count(*) AS lines, \
       sum(quantity) AS quantity, sum(amount) AS amount \
     FROM retail GROUP BY invoice_no",
)];

/// Registers [`VIEWS`]: `invoices` has one row per invoice with its amount (net of
/// every line), first timestamp, month, customer, country and line count.
/// A restricted role has those it may read, over what it sees of `retail`.
async fn register_views(ctx: &SessionContext, access: &crate::policy::Access) -> Result<()> {
    for (name, sql) in VIEWS {
        if access.role().is_some_and(|r| !r.may_read(name)) {
            continue;
        }
        let df = ctx.sql(sql).await.context("defining a view")?;
        ctx.register_table(name, df.into_view())
            .context("registering a view")?;
    }
    Ok(())
}

/// Checks that the `retail` table is among `tables` and has rows, with a message that
/// says what to do otherwise.
pub fn require_retail(warehouse: &Warehouse, tables: &[TableInfo]) -> Result<()> {
    match tables.iter().find(|t| t.name == RETAIL_TABLE) {
        None => Err(LgsError::TableNotFound {
            table: RETAIL_TABLE.into(),
            warehouse: warehouse.location(),
            hint: "run `lgs ingest FILE` first (or `lgs demo`)".into(),
        }),
        Some(t) if t.rows == 0 => Err(LgsError::EmptyTable {
            table: RETAIL_TABLE.into(),
            warehouse: warehouse.location(),
        }),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use datafusion::execution::memory_pool::MemoryLimit;

    use super::*;

    /// The pool gets three quarters of `--memory-limit`; without one it is unbounded.
    #[test]
    fn the_pool_is_three_quarters_of_the_memory_limit() {
        let pool = |memory_limit| {
            let limits = Limits {
                memory_limit,
                threads: None,
            };
            let ctx = local_context(SessionConfig::new(), &limits).unwrap();
            ctx.runtime_env().memory_pool.memory_limit()
        };
        assert!(matches!(
            pool(Some(4_000_000)),
            MemoryLimit::Finite(3_000_000)
        ));
        assert!(matches!(pool(None), MemoryLimit::Infinite));
    }
}
