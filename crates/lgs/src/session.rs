//! Building the DataFusion session that queries the warehouse.

use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::{LgsError, QueryContext, Result};
use crate::schema::RETAIL_TABLE;
use crate::warehouse::{TableInfo, Warehouse};

/// A local session with every warehouse table registered.
pub async fn context(warehouse: &Warehouse) -> Result<SessionContext> {
    Ok(context_with_tables(warehouse).await?.0)
}

/// A local session with every warehouse table registered, and what was registered.
pub async fn context_with_tables(
    warehouse: &Warehouse,
) -> Result<(SessionContext, Vec<TableInfo>)> {
    context_on(warehouse, &Engine::Local).await
}

/// Where a session's queries run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Engine {
    /// In this process.
    #[default]
    Local,
    /// On the Ballista cluster whose scheduler is at this `df://HOST:PORT`.
    Cluster(String),
}

impl Engine {
    /// `Cluster(url)` when a URL is given, `Local` otherwise.
    pub fn from_url(url: Option<&str>) -> Engine {
        url.map_or(Engine::Local, |u| Engine::Cluster(u.to_string()))
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
    let config = SessionConfig::new().with_information_schema(true);
    let ctx = match engine {
        Engine::Local => SessionContext::new_with_config(config),
        Engine::Cluster(url) => crate::cluster::remote_context(url, config).await?,
    };
    let tables = warehouse.register(&ctx).await?;
    if tables.iter().any(|t| t.name == RETAIL_TABLE) {
        register_views(&ctx).await?;
    }
    Ok((ctx, tables))
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
async fn register_views(ctx: &SessionContext) -> Result<()> {
    for (name, sql) in VIEWS {
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
