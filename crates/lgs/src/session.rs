//! Building the DataFusion session that queries the warehouse.

use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::{LgsError, Result};
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
    let config = SessionConfig::new().with_information_schema(true);
    let ctx = SessionContext::new_with_config(config);
    let tables = warehouse.register(&ctx).await?;
    Ok((ctx, tables))
}

/// Checks that the `retail` table is among `tables` and has rows, with a message that
/// says what to do otherwise.
pub fn require_retail(warehouse: &Warehouse, tables: &[TableInfo]) -> Result<()> {
    match tables.iter().find(|t| t.name == RETAIL_TABLE) {
        None => Err(LgsError::TableNotFound {
            table: RETAIL_TABLE.into(),
            warehouse: warehouse.root().display().to_string(),
            hint: "run `lgs ingest FILE` first (or `lgs demo`)".into(),
        }),
        Some(t) if t.rows == 0 => Err(LgsError::EmptyTable {
            table: RETAIL_TABLE.into(),
            warehouse: warehouse.root().display().to_string(),
        }),
        Some(_) => Ok(()),
    }
}
