//! `--save`: every result table into the warehouse as the Delta table
//! `report_<name>`, each replaced in one commit, so that `lgs sql` can query them.

use async_trait::async_trait;
use deltalake::DeltaTable;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;

use super::Sink;
use crate::analytics::Report;
use crate::error::{LgsError, Result};
use crate::warehouse::Warehouse;

/// Result tables in the warehouse.
pub struct Delta(pub Warehouse);

#[async_trait]
impl Sink for Delta {
    async fn write(&self, report: &Report) -> Result<Option<String>> {
        let saved = save_results(report, &self.0).await?;
        Ok(Some(format!(
            "saved {} to {}",
            saved.join(", "),
            self.0.location()
        )))
    }
}

/// Saves every result table as `report_<name>`; returns the names.
pub async fn save_results(report: &Report, warehouse: &Warehouse) -> Result<Vec<String>> {
    warehouse.ensure_writable().await?;
    let mut saved = Vec::new();
    for result in report.tables() {
        let table = format!("report_{}", result.name);
        let url = warehouse.prepare_table_dir(&table)?;
        let delta_err = |e| LgsError::delta(&table, e);
        DeltaTable::try_from_url(url)
            .await
            .map_err(delta_err)?
            .write(vec![result.batch.clone()])
            .with_save_mode(SaveMode::Overwrite)
            .with_schema_mode(SchemaMode::Overwrite)
            .with_table_name(&table)
            .await
            .map_err(delta_err)?;
        saved.push(table);
    }
    Ok(saved)
}
