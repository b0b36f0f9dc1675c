//! `--save`: every result table into the warehouse as the Delta table
//! `report_<name>`, each replaced in one commit (through [`crate::write`], as every
//! Delta write of lgs), so that `lgs sql` can query them.

use async_trait::async_trait;

use super::Sink;
use crate::analytics::Report;
use crate::error::Result;
use crate::facts::{CommitFacts, WriteMode};
use crate::warehouse::Warehouse;
use crate::write::TableWriter;

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

/// Saves every result table as `report_<name>`, replacing its contents (and its
/// schema, when that changed); returns the names.
pub async fn save_results(report: &Report, warehouse: &Warehouse) -> Result<Vec<String>> {
    warehouse.ensure_writable().await?;
    let mut saved = Vec::new();
    for result in report.tables() {
        let table = format!("report_{}", result.name);
        let mut writer = TableWriter::new(warehouse, &table, result.batch.schema(), vec![]);
        if result.batch.num_rows() > 0 {
            writer.write(result.batch.clone()).await?;
        }
        let facts = CommitFacts {
            mode: Some(WriteMode::Overwrite),
            rows_written: result.batch.num_rows() as u64,
            ..CommitFacts::default()
        };
        writer.commit(&facts, true).await?;
        saved.push(table);
    }
    Ok(saved)
}
