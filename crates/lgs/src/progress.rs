//! How far a running query has read its tables: the rows its file scans have
//! produced, out of the rows their files hold as the tables' Delta logs record
//! them (known before the query runs, without reading a file's footer).
//!
//! A session records the rows of every data file its tables read ([`FileRows`],
//! filled when a table's scan is built); [`scanned`] walks a physical plan's
//! scans and sums their files' rows and the rows they have produced.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::prelude::SessionConfig;

/// The rows of each data file of a session's tables, by file name (Delta data
/// files have unique names).
#[derive(Debug, Default)]
pub struct FileRows(RwLock<HashMap<String, u64>>);

impl FileRows {
    /// Records that the file `path` (a path or URI) holds `rows` rows.
    pub fn record(&self, path: &str, rows: u64) {
        let name = file_name(path).to_string();
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name, rows);
    }

    fn rows(&self, path: &str) -> Option<u64> {
        let files = self.0.read().unwrap_or_else(PoisonError::into_inner);
        files.get(file_name(path)).copied()
    }

    /// The session's record (every lgs session has one).
    pub fn of(config: &SessionConfig) -> Option<Arc<FileRows>> {
        config.get_extension::<FileRows>()
    }
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The rows `plan`'s scans have read and the rows their files hold; `None` when
/// one of its leaves is not a scan of recorded files (a generated series, the
/// plan of a cluster).
pub fn scanned(plan: &Arc<dyn ExecutionPlan>, files: &FileRows) -> Option<(u64, u64)> {
    let children = plan.children();
    if !children.is_empty() {
        return children
            .into_iter()
            .try_fold((0, 0), |(read, total), child| {
                let (r, t) = scanned(child, files)?;
                Some((read + r, total + t))
            });
    }
    if plan.downcast_ref::<EmptyExec>().is_some() {
        return Some((0, 0));
    }
    let source = plan.downcast_ref::<DataSourceExec>()?;
    let config = source.data_source().downcast_ref::<FileScanConfig>()?;
    let mut total = 0;
    for group in &config.file_groups {
        for file in group.files() {
            total += files.rows(file.object_meta.location.as_ref())?;
        }
    }
    let read = plan.metrics().and_then(|m| m.output_rows()).unwrap_or(0) as u64;
    Some((read.min(total), total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{ParquetReadOptions, SessionContext};

    #[tokio::test]
    async fn a_scan_counts_the_rows_it_has_read_of_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = SessionContext::new();
        let out = format!("{}/", dir.path().display());
        ctx.sql("SELECT * FROM generate_series(1, 1000)")
            .await
            .unwrap()
            .write_parquet(&out, Default::default(), None)
            .await
            .unwrap();
        let written = std::fs::read_dir(dir.path()).unwrap().next().unwrap();
        let path = written.unwrap().path();
        let df = ctx
            .read_parquet(&out, ParquetReadOptions::default())
            .await
            .unwrap();
        let task = Arc::new(df.task_ctx());
        let plan = df.create_physical_plan().await.unwrap();
        let files = FileRows::default();
        // Before a file's rows are recorded, the share is not known.
        assert_eq!(scanned(&plan, &files), None);
        files.record(&format!("file://{}", path.display()), 1000);
        assert_eq!(scanned(&plan, &files), Some((0, 1000)));
        datafusion::physical_plan::collect(plan.clone(), task)
            .await
            .unwrap();
        assert_eq!(scanned(&plan, &files), Some((1000, 1000)));
    }
}
