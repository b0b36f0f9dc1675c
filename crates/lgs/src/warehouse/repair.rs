//! `lgs check` and `lgs repair`: verify a whole warehouse, and drop from a table
//! the data files that are gone (as Databricks' `FSCK REPAIR TABLE`), in a commit
//! that records what was lost.

use deltalake::kernel::Action;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::protocol::DeltaOperation;
use serde::Serialize;

use super::Warehouse;
use super::integrity::{Damage, Depth, damaged_files};
use crate::error::{LgsError, Result};
use crate::facts::CommitFacts;

/// What `lgs check` found in one table.
#[derive(Debug, Clone, Serialize)]
pub struct TableCheck {
    pub table: String,
    /// Its version (absent when its log cannot be read).
    pub version: Option<u64>,
    /// Data files the log lists.
    pub files: usize,
    /// Rows the log records.
    pub rows: u64,
    /// Why the log cannot be read, if it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// Data files missing or not as the log records them.
    pub damaged: Vec<Damage>,
    /// What disagrees with the other tables (the ingest log, the quarantine's
    /// commits).
    pub problems: Vec<String>,
    /// What is behind but mends itself (an ingest the log does not list yet).
    pub notes: Vec<String>,
}

impl TableCheck {
    pub fn ok(&self) -> bool {
        self.log.is_none() && self.damaged.is_empty() && self.problems.is_empty()
    }
}

/// What `lgs repair` did.
#[derive(Debug, Clone, Serialize)]
pub struct Repair {
    pub table: String,
    /// The files dropped from the table, with the rows the log recorded in them.
    pub dropped: Vec<Damage>,
    pub rows_lost: u64,
    /// The new version (absent when nothing needed repair).
    pub version: Option<u64>,
}

impl Warehouse {
    /// Checks every table (or only `table`): its log reads, and each of its data
    /// files is there with the size the log records, is Parquet, and holds the rows
    /// the log records; then that the ingest log and the quarantines agree with
    /// the commits that wrote them.
    pub async fn check(&self, table: Option<&str>) -> Result<Vec<TableCheck>> {
        let names = match table {
            Some(name) => vec![name.to_string()],
            None => self.table_names().await?,
        };
        let mut checks = Vec::new();
        for name in names {
            let opened = match self.open(&name).await {
                Ok(Some(t)) => t,
                Ok(None) => return Err(self.not_found(&name)),
                Err(
                    e @ (LgsError::DamagedLog { .. }
                    | LgsError::DamagedCheckpoint { .. }
                    | LgsError::Delta { .. }),
                ) => {
                    checks.push(TableCheck {
                        table: name,
                        version: None,
                        files: 0,
                        rows: 0,
                        log: Some(e.to_string()),
                        damaged: vec![],
                        problems: vec![],
                        notes: vec![],
                    });
                    continue;
                }
                Err(e) => return Err(e),
            };
            let info = super::table_info(&name, &opened)?;
            checks.push(TableCheck {
                damaged: damaged_files(&name, &opened, Depth::Footer, self.keyring()).await?,
                table: name,
                version: Some(info.version),
                files: info.files,
                rows: info.rows,
                log: None,
                problems: vec![],
                notes: vec![],
            });
        }
        self.check_consistency(&mut checks).await?;
        Ok(checks)
    }

    /// After a read failed with `failure`: when a data file is to blame (not
    /// Parquet, or not as the log records it), that damage, naming the table, its
    /// version and the file. Every read checks that files are there with their
    /// sizes; what is inside them is only looked at once a read has failed, and
    /// only when the failure came from reading a file ([`from_reading_files`]).
    pub async fn diagnose(&self, failure: &(dyn std::error::Error + 'static)) -> Option<LgsError> {
        if !from_reading_files(failure) {
            return None;
        }
        // The tables as the failed read saw them (pins included); their files only.
        for open in self.open_all().await.ok()? {
            let damaged =
                damaged_files(&open.name, &open.table, Depth::Footer, self.keyring()).await;
            if let Some(damage) = damaged.ok()?.into_iter().next() {
                return Some(LgsError::DamagedTable {
                    version: open.version(),
                    table: open.name,
                    file: damage.file,
                    problem: damage.problem,
                });
            }
        }
        None
    }

    /// Drops from `table` the data files that are missing or damaged (another size
    /// than the log's, not Parquet, other rows than the log's), in one commit
    /// that records them and the rows lost. Their sources stay recorded as loaded:
    /// `lgs ingest --force` loads them again.
    pub async fn repair(&self, name: &str) -> Result<Repair> {
        self.ensure_writable().await?;
        let table = self.open_existing(name).await?;
        let dropped = damaged_files(name, &table, Depth::Footer, self.keyring()).await?;
        let rows_lost = dropped.iter().filter_map(|d| d.rows).sum();
        let mut repair = Repair {
            table: name.to_string(),
            dropped,
            rows_lost,
            version: None,
        };
        if repair.dropped.is_empty() {
            return Ok(repair);
        }
        let delta_err = |e| LgsError::delta(name, e);
        let snapshot = table.snapshot().map_err(delta_err)?;
        let removes: Vec<Action> = snapshot
            .log_data()
            .into_iter()
            .filter(|f| {
                let path = f.object_store_path().to_string();
                repair.dropped.iter().any(|d| d.file == path)
            })
            .map(|f| Action::Remove(f.remove_action(true)))
            .collect();
        let facts = CommitFacts {
            dropped_files: repair.dropped.iter().map(|d| d.file.clone()).collect(),
            rows_lost: Some(rows_lost),
            ..CommitFacts::default()
        };
        let properties = self.with_facts(&facts);
        let committed = CommitBuilder::from(properties)
            .with_actions(removes)
            .build(
                Some(snapshot),
                table.log_store(),
                DeltaOperation::FileSystemCheck {},
            )
            .await
            .map_err(delta_err)?;
        repair.version = Some(committed.version());
        Ok(repair)
    }
}

/// Whether `failure` came from reading a data file: a Parquet, object store or I/O
/// error anywhere in its chain of causes, or an Arrow error that carries a Parquet
/// one. A plan, SQL or computation error (a typo, a division by zero) is not, and
/// is never blamed on the files. One text is still read: a failed job of a
/// cluster reaches the client as text only (an execution error with no cause), and
/// is counted when that text names Parquet.
pub(crate) fn from_reading_files(failure: &(dyn std::error::Error + 'static)) -> bool {
    use datafusion::arrow::error::ArrowError;
    use datafusion::error::DataFusionError;
    use datafusion::parquet::errors::ParquetError;

    let mut cause = Some(failure);
    while let Some(e) = cause {
        if e.is::<ParquetError>() || e.is::<object_store::Error>() || e.is::<std::io::Error>() {
            return true;
        }
        if let Some(ArrowError::ParquetError(_) | ArrowError::IoError(..)) =
            e.downcast_ref::<ArrowError>()
        {
            return true;
        }
        let datafusion = e
            .downcast_ref::<DataFusionError>()
            .or_else(|| e.downcast_ref::<Box<DataFusionError>>().map(|b| &**b))
            .or_else(|| {
                e.downcast_ref::<std::sync::Arc<DataFusionError>>()
                    .map(|a| &**a)
            });
        if let Some(DataFusionError::Execution(text)) = datafusion
            && e.source().is_none()
            && text.to_ascii_lowercase().contains("parquet")
        {
            return true;
        }
        cause = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::from_reading_files;
    use datafusion::arrow::error::ArrowError;
    use datafusion::error::DataFusionError;
    use datafusion::parquet::errors::ParquetError;

    fn blamed(e: DataFusionError) -> bool {
        from_reading_files(&e)
    }

    #[test]
    fn only_failures_of_reading_files_are_blamed_on_them() {
        let parquet = || ParquetError::General("Invalid Parquet file. Corrupt footer".into());
        assert!(blamed(DataFusionError::ParquetError(Box::new(parquet()))));
        assert!(blamed(
            DataFusionError::ParquetError(Box::new(parquet())).context("scanning retail")
        ));
        assert!(blamed(DataFusionError::ArrowError(
            Box::new(ArrowError::ExternalError(Box::new(parquet()))),
            None
        )));
        assert!(blamed(DataFusionError::ArrowError(
            Box::new(ArrowError::ParquetError("bad page".into())),
            None
        )));
        assert!(blamed(DataFusionError::Shared(std::sync::Arc::new(
            DataFusionError::External(Box::new(parquet()))
        ))));
        assert!(blamed(DataFusionError::IoError(std::io::Error::other(
            "unexpected end of file"
        ))));
        // A cluster's failed job: text only.
        assert!(blamed(DataFusionError::Execution(
            "Job a1 failed: ParquetError: EOF: file size of 4 is less than footer".into()
        )));
        // Not the files: a division by zero, a plan error, even one that names
        // Parquet in its text (a function or table called so).
        assert!(!blamed(DataFusionError::ArrowError(
            Box::new(ArrowError::DivideByZero),
            None
        )));
        assert!(!blamed(DataFusionError::Plan(
            "table 'parquet_files' not found".into()
        )));
        assert!(!blamed(
            DataFusionError::Execution("division by zero".into()).context("summing")
        ));
    }
}
