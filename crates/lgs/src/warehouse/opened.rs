//! A warehouse's tables kept open between queries: a long-lived caller (a
//! notebook's connection, the PostgreSQL port's sessions) opens every table's log
//! once and reuses it while it is still every table at its current version, so
//! that a query pays one look at each log instead of reading it again.

use tokio::sync::Mutex;

use super::{OpenTable, Warehouse};
use crate::error::{LgsError, Result};

impl Warehouse {
    /// Whether `opened` (by [`Warehouse::open_all`]) is still every table at its
    /// current version: no table added or removed, no commit since (a pinned
    /// table stays at its pin). One look at each table's log, not a reopening.
    pub async fn still_current(&self, opened: &[OpenTable]) -> Result<bool> {
        let names = self.table_names().await?;
        if !names.iter().eq(opened.iter().map(|t| &t.name)) {
            return Ok(false);
        }
        for open in opened.iter().filter(|t| !self.pins.contains_key(&t.name)) {
            let latest = open
                .table
                .get_latest_version()
                .await
                .map_err(|e| LgsError::delta(&open.name, e))?;
            if Some(latest) != open.table.version() {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Every table of a warehouse as last opened (for one role: the tables it may
/// read), reused while current.
#[derive(Debug, Default)]
pub struct OpenedTables(Mutex<Option<Vec<OpenTable>>>);

impl OpenedTables {
    /// The tables of `warehouse`, as held while they are still current, else
    /// opened again (and held).
    pub async fn current(&self, warehouse: &Warehouse) -> Result<Vec<OpenTable>> {
        let mut held = self.0.lock().await;
        if let Some(opened) = held.as_ref()
            && warehouse.still_current(opened).await?
        {
            return Ok(opened.clone());
        }
        let opened = warehouse.open_all().await?;
        *held = Some(opened.clone());
        Ok(opened)
    }
}
