//! Keeping a table fast after many small commits (a stream commits every second):
//! `lgs optimize` compacts small files into large ones, adjacent files together so
//! the order they were loaded in (time order, for a stream) is kept; `lgs vacuum`
//! deletes the data files no version within the retention needs, and the files of
//! runs that were killed before their commit. Delta checkpoints are written by every
//! commit that reaches the table's checkpoint interval (100 by default).

use std::num::NonZeroU64;
use std::time::Duration;

use deltalake::operations::optimize::OptimizeType;
use deltalake::operations::vacuum::VacuumMode;
use serde::Serialize;

use super::Warehouse;
use crate::error::{LgsError, Result};

/// The size `lgs optimize` compacts files to (that of ingest's files).
pub const TARGET_FILE_SIZE: u64 = 256 * 1024 * 1024;

/// What `lgs optimize` did.
#[derive(Debug, Clone, Serialize)]
pub struct Optimized {
    pub table: String,
    /// The table's version before, and after (the same when nothing was compacted).
    pub from_version: u64,
    pub version: u64,
    pub files_removed: u64,
    pub files_added: u64,
    pub bytes_removed: i64,
    pub bytes_added: i64,
}

/// What `lgs vacuum` did (or, dry, would do).
#[derive(Debug, Clone, Serialize)]
pub struct Vacuumed {
    pub table: String,
    pub dry_run: bool,
    pub files_deleted: Vec<String>,
}

impl Warehouse {
    /// Compacts table `name`'s small files into files of about
    /// [`TARGET_FILE_SIZE`], in one commit that changes no row (`dataChange`
    /// false: a stream committing meanwhile does not conflict with it).
    pub async fn optimize(&self, name: &str) -> Result<Optimized> {
        self.ensure_writable().await?;
        let table = self.open_existing(name).await?;
        let from_version = table.version().unwrap_or(0);
        let target = NonZeroU64::new(TARGET_FILE_SIZE).expect("non-zero");
        let (table, metrics) = table
            .optimize()
            .with_type(OptimizeType::Compact)
            .with_target_size(target)
            .with_commit_properties(self.with_facts(&crate::facts::CommitFacts::default()))
            .await
            .map_err(|e| LgsError::delta(name, e))?;
        Ok(Optimized {
            table: name.to_string(),
            from_version,
            version: table.version().unwrap_or(from_version),
            files_removed: metrics.num_files_removed,
            files_added: metrics.num_files_added,
            bytes_removed: metrics.files_removed.total_size,
            bytes_added: metrics.files_added.total_size,
        })
    }

    /// Deletes table `name`'s data files that no version newer than `retain` ago
    /// references, and files older than that which no commit references (left by a
    /// run killed before its commit). Time travel to versions older than `retain`
    /// no longer finds their files. A retention shorter than a running writer's
    /// batch could delete its files before it commits them: keep it above that.
    pub async fn vacuum(&self, name: &str, retain: Duration, dry_run: bool) -> Result<Vacuumed> {
        self.ensure_writable().await?;
        let table = self.open_existing(name).await?;
        let retain = chrono::Duration::from_std(retain).map_err(|e| LgsError::InvalidArgument {
            what: "--retain",
            message: e.to_string(),
        })?;
        let (_, metrics) = table
            .vacuum()
            .with_mode(VacuumMode::Full)
            .with_retention_period(retain)
            .with_enforce_retention_duration(false)
            .with_dry_run(dry_run)
            .with_commit_properties(self.with_facts(&crate::facts::CommitFacts::default()))
            .await
            .map_err(|e| LgsError::delta(name, e))?;
        Ok(Vacuumed {
            table: name.to_string(),
            dry_run,
            files_deleted: metrics.files_deleted,
        })
    }
}
