//! Keeping a table fast after many small commits (a stream commits every second):
//! `lgs optimize` compacts small files into large ones, adjacent files together so
//! the order they were loaded in (time order, for a stream) is kept; `lgs vacuum`
//! deletes the data files no version within the retention needs, and the files of
//! runs that were killed before their commit. Delta checkpoints are written by every
//! commit that reaches the table's checkpoint interval (100 by default).

use std::num::NonZeroU64;
use std::time::Duration;

use deltalake::kernel::Action;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::operations::optimize::OptimizeType;
use deltalake::operations::vacuum::VacuumMode;
use deltalake::protocol::DeltaOperation;
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
    ///
    /// In an encrypted warehouse (and always with `rekey`) lgs rewrites the files
    /// itself, under the current key: with `rekey` every file (after a key
    /// rotation, or to encrypt a table written before the warehouse had a key).
    pub async fn optimize(&self, name: &str, rekey: bool) -> Result<Optimized> {
        self.ensure_writable().await?;
        let table = self.open_existing(name).await?;
        let from_version = table.version().unwrap_or(0);
        if rekey || self.keyring().is_some() {
            return self.optimize_rewriting(name, &table, rekey).await;
        }
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

    /// Rewrites every table of the warehouse under the current key (`lgs optimize
    /// --rekey` without a table): the tables, the forget list and the live state;
    /// the report's scratch results are deleted. After it, keys other than the
    /// current one can be deleted from the key file.
    pub async fn rekey_all(&self) -> Result<Vec<Optimized>> {
        let mut names = self.table_names().await?;
        for hidden in [super::FORGET_LIST, crate::live::STATE_TABLE] {
            if self.open(hidden).await?.is_some() {
                names.push(hidden.to_string());
            }
        }
        let mut done = Vec::new();
        for name in names {
            done.push(self.optimize(&name, true).await?);
        }
        self.remove_prefix(crate::analytics::SCRATCH_DIR).await?;
        Ok(done)
    }

    /// [`Warehouse::optimize`] through lgs's reader and writer.
    async fn optimize_rewriting(
        &self,
        name: &str,
        table: &deltalake::DeltaTable,
        rekey: bool,
    ) -> Result<Optimized> {
        if rekey && self.keyring().is_none() {
            return Err(LgsError::InvalidArgument {
                what: "--rekey",
                message: "there is no key to encrypt with: give --key-file (or LGS_KEY_FILE)"
                    .into(),
            });
        }
        let from_version = table.version().unwrap_or(0);
        let snapshot = table.snapshot().map_err(|e| LgsError::delta(name, e))?;
        let small = snapshot
            .log_data()
            .into_iter()
            .filter(|f| (f.size().max(0) as u64) < TARGET_FILE_SIZE)
            .count();
        let mut done = Optimized {
            table: name.to_string(),
            from_version,
            version: from_version,
            files_removed: 0,
            files_added: 0,
            bytes_removed: 0,
            bytes_added: 0,
        };
        if !rekey && small < 2 {
            return Ok(done);
        }
        let pick = |_: &str, size: u64| rekey || size < TARGET_FILE_SIZE;
        let mut rewritten = self.rewrite_files(name, table, pick, None).await?;
        for add in &mut rewritten.adds {
            add.data_change = false;
            done.bytes_added += add.size;
        }
        for remove in &rewritten.removes {
            if let Action::Remove(r) = remove {
                done.bytes_removed += r.size.unwrap_or(0);
            }
        }
        done.files_removed = rewritten.removes.len() as u64;
        done.files_added = rewritten.adds.len() as u64;
        let mut actions = rewritten.removes;
        actions.extend(rewritten.adds.into_iter().map(Action::Add));
        let committed = CommitBuilder::from(self.with_facts(&crate::facts::CommitFacts::default()))
            .with_actions(actions)
            .build(
                Some(snapshot),
                table.log_store(),
                DeltaOperation::Optimize {
                    predicate: None,
                    target_size: TARGET_FILE_SIZE as i64,
                },
            )
            .await
            .map_err(|e| LgsError::delta(name, e))?;
        done.version = committed.version();
        Ok(done)
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
