//! Committing to a table: files already written become one new version, with
//! lgs's facts, and the claims that make concurrent runs load each content once.

use datafusion::arrow::datatypes::SchemaRef;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake::kernel::{Action, Add, MetadataExt, StructType, Transaction};
use deltalake::operations::create::CreateBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::table::state::DeltaTableState;
use deltalake::{DeltaTable, DeltaTableError};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;

use super::{Root, Warehouse};
use crate::error::{LgsError, Result};
use crate::facts::{COMMIT_INFO_KEY, CommitFacts};
use crate::storage;

impl Warehouse {
    /// Commits files already written under the table directory as one new version,
    /// creating the table on its first commit. `facts` is stored in the commit info.
    /// With `overwrite`, the same commit removes every file of the current version, so
    /// the new files replace the table's contents atomically.
    ///
    /// What the facts claim ([`CommitFacts::claims`]) is recorded as application
    /// transactions. With `decided_at` (the table's version when the caller chose
    /// what to write; `Some(None)`: no table), the commit fails with
    /// [`LgsError::ConcurrentWrite`] if a commit after that version claims the same:
    /// those up to the version this commit builds on are read here, later ones are
    /// delta-rs's conflict checker's (it compares application transactions).
    #[allow(clippy::too_many_arguments)]
    pub async fn commit(
        &self,
        name: &str,
        schema: &SchemaRef,
        partition_columns: &[String],
        adds: Vec<Add>,
        facts: &CommitFacts,
        overwrite: bool,
        decided_at: Option<Option<u64>>,
    ) -> Result<u64> {
        let delta_err = |e: DeltaTableError| commit_error(name, e);
        let properties = self.with_facts(facts);
        let mut actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
        // What the commit claims, as application transactions: delta-rs fails a
        // commit whose claims a commit that won the race in between also made.
        let now = chrono::Utc::now().timestamp_millis();
        actions.extend(
            facts
                .claims()
                .into_iter()
                .map(|id| Action::Txn(Transaction::new_with_last_update(id, now, Some(now)))),
        );
        // A stream's position: the version of its application transaction, read back
        // when the stream restarts (see `ingest::stream`).
        if let Some(stream) = &facts.stream {
            actions.push(Action::Txn(Transaction::new_with_last_update(
                stream.app_id.clone(),
                stream.position as i64,
                Some(now),
            )));
        }
        match self.open(name).await? {
            None if facts.stream.as_ref().is_some_and(|s| s.after != 0) => {
                Err(LgsError::ConcurrentWrite {
                    table: name.to_string(),
                })
            }
            None => {
                self.create(name, schema, partition_columns, actions, properties)
                    .await
            }
            Some(table) => {
                if let Some(decided_at) = decided_at {
                    let claims = facts.claims();
                    let after = decided_at.map_or(0, |v| v + 1);
                    if !claims.is_empty() && claimed_since(name, &table, after, &claims).await? {
                        return Err(LgsError::ConcurrentWrite {
                            table: name.to_string(),
                        });
                    }
                }
                let snapshot = table.snapshot().map_err(delta_err)?;
                if let Some(stream) = &facts.stream {
                    let held = position_in(name, &table, &stream.app_id).await?;
                    if held.unwrap_or(0) != stream.after {
                        return Err(LgsError::ConcurrentWrite {
                            table: name.to_string(),
                        });
                    }
                }
                if overwrite {
                    actions.extend(replacing(snapshot, schema).map_err(delta_err)?);
                }
                let operation = DeltaOperation::Write {
                    mode: if overwrite {
                        SaveMode::Overwrite
                    } else {
                        SaveMode::Append
                    },
                    partition_by: (!partition_columns.is_empty())
                        .then(|| partition_columns.to_vec()),
                    predicate: None,
                };
                let finalized = CommitBuilder::from(properties)
                    .with_actions(actions)
                    .build(Some(snapshot), table.log_store(), operation)
                    .await
                    .map_err(delta_err)?;
                Ok(finalized.version())
            }
        }
    }

    /// Creates table `name` with its first commit (`actions`): version 0, or
    /// [`LgsError::ConcurrentWrite`] when another run created it in between.
    async fn create(
        &self,
        name: &str,
        schema: &SchemaRef,
        partition_columns: &[String],
        actions: Vec<Action>,
        properties: CommitProperties,
    ) -> Result<u64> {
        let delta_err = |e: DeltaTableError| commit_error(name, e);
        let url = self.prepare_table_dir(name)?;
        let kernel_schema: StructType = schema
            .as_ref()
            .try_into_kernel()
            .map_err(|e| delta_err(DeltaTableError::from(e)))?;
        // No retries: when version 0 was taken since the check for the
        // table, delta-rs commits a create after the winner's commits
        // without checking it for conflicts (a second load of the same
        // content). Without retries that create fails, and the run
        // decides again on the table as it now is.
        let table = CreateBuilder::new()
            .with_location(url.as_str())
            .with_table_name(name)
            .with_columns(kernel_schema.fields().cloned())
            .with_partition_columns(partition_columns.to_vec())
            .with_actions(actions)
            .with_commit_properties(properties.with_max_retries(0))
            .with_save_mode(SaveMode::ErrorIfExists)
            .await;
        let table = match table {
            Ok(table) if table.version() == Some(0) => table,
            Ok(table) => {
                return Err(LgsError::delta(
                    name,
                    DeltaTableError::Generic(format!(
                        "creating the table committed version {:?} instead of 0",
                        table.version()
                    )),
                ));
            }
            // Another run created the table in between.
            Err(_) if self.open(name).await?.is_some() => {
                return Err(LgsError::ConcurrentWrite {
                    table: name.to_string(),
                });
            }
            Err(e) => return Err(delta_err(e)),
        };
        Ok(table.version().unwrap_or(0))
    }

    /// The position a stream (`app_id`) was loaded up to in table `name`: the version
    /// of its application transaction in the latest snapshot (`None`: never, or no
    /// table).
    pub async fn stream_position(&self, name: &str, app_id: &str) -> Result<Option<u64>> {
        match self.open(name).await? {
            Some(table) => position_in(name, &table, app_id).await,
            None => Ok(None),
        }
    }

    /// Deletes data files written for a commit that did not happen (best effort: a
    /// file left behind is not part of the table, only wasted space).
    pub async fn remove_uncommitted(&self, name: &str, adds: &[Add]) {
        let Ok(table) = self.table_url(name) else {
            return;
        };
        for add in adds {
            let Ok(file) = table.join(&add.path) else {
                continue;
            };
            match &self.root {
                Root::Local(_) => {
                    if let Ok(path) = file.to_file_path() {
                        let _ = std::fs::remove_file(path);
                    }
                }
                Root::Remote { store, .. } => {
                    if let Ok(path) = storage::path_in_store(&file) {
                        let _ = store.delete(&path).await;
                    }
                }
            }
        }
    }
}

/// The version of application transaction `app_id` in `table`'s loaded snapshot: a
/// stream's position (`None`: never committed).
pub(crate) async fn position_in(
    name: &str,
    table: &DeltaTable,
    app_id: &str,
) -> Result<Option<u64>> {
    let snapshot = table.snapshot().map_err(|e| LgsError::delta(name, e))?;
    let version = snapshot
        .transaction_version(table.log_store().as_ref(), app_id)
        .await
        .map_err(|e| LgsError::delta(name, e))?;
    Ok(version.and_then(|v| u64::try_from(v).ok()))
}

/// What an overwrite adds to a commit: the removal of every current file, and the
/// new schema when it changed (a report table that gained a column).
fn replacing(
    snapshot: &DeltaTableState,
    schema: &SchemaRef,
) -> std::result::Result<Vec<Action>, DeltaTableError> {
    let mut actions: Vec<Action> = snapshot
        .log_data()
        .into_iter()
        .map(|file| Action::Remove(file.remove_action(true)))
        .collect();
    let kernel_schema: StructType = schema
        .as_ref()
        .try_into_kernel()
        .map_err(DeltaTableError::from)?;
    if snapshot.schema().as_ref() != &kernel_schema {
        let metadata = snapshot
            .metadata()
            .clone()
            .with_schema(&kernel_schema)
            .map_err(DeltaTableError::from)?;
        actions.push(Action::Metadata(metadata));
    }
    Ok(actions)
}

/// Whether a commit of `table` from version `from` to the loaded one claims any of
/// `claims` (as an application transaction, or in its lgs facts).
async fn claimed_since(
    name: &str,
    table: &DeltaTable,
    from: u64,
    claims: &[String],
) -> Result<bool> {
    let commits = read_commits(name, table, from).await?;
    Ok(commits
        .into_iter()
        .flat_map(|(_, actions)| actions)
        .any(|action| {
            let theirs = match action {
                Action::Txn(txn) => vec![txn.app_id],
                Action::CommitInfo(info) => CommitFacts::from_info(&info.info)
                    .map(|f| f.claims())
                    .unwrap_or_default(),
                _ => vec![],
            };
            theirs.iter().any(|c| claims.contains(c))
        }))
}

/// The actions of each commit of `table` from version `from` to its loaded version,
/// each read by its version (a commit file removed by log clean-up is left out).
pub(crate) async fn read_commits(
    name: &str,
    table: &DeltaTable,
    from: u64,
) -> Result<Vec<(u64, Vec<Action>)>> {
    let latest = table.version().unwrap_or(0);
    let log_store = table.log_store();
    let entries: Vec<(u64, Option<bytes::Bytes>)> = futures::stream::iter(from..=latest)
        .map(|version| {
            let log_store = log_store.clone();
            async move { (version, log_store.read_commit_entry(version).await) }
        })
        .buffered(16)
        .map(|(version, entry)| entry.map(|e| (version, e)))
        .try_collect()
        .await
        .map_err(|e| LgsError::delta(name, e))?;
    Ok(entries
        .into_iter()
        .filter_map(|(version, entry)| {
            let actions = entry?
                .split(|b| *b == b'\n')
                .filter_map(|line| serde_json::from_slice::<Action>(line).ok())
                .collect();
            Some((version, actions))
        })
        .collect())
}

/// Commit properties carrying lgs's facts (see [`COMMIT_INFO_KEY`]).
impl Warehouse {
    /// The properties of a commit recording `facts`, and who makes it (see
    /// [`Warehouse::with_actor`]).
    pub(super) fn with_facts(&self, facts: &CommitFacts) -> CommitProperties {
        let mut facts = facts.clone();
        if facts.actor.is_none() {
            facts.actor = self.actor.clone();
        }
        CommitProperties::default().with_metadata([(COMMIT_INFO_KEY.to_string(), facts.to_value())])
    }
}

/// A failed commit's error: [`LgsError::ConcurrentWrite`] when another commit won.
fn commit_error(name: &str, e: DeltaTableError) -> LgsError {
    if is_conflict(&e) {
        LgsError::ConcurrentWrite {
            table: name.to_string(),
        }
    } else {
        LgsError::delta(name, e)
    }
}

/// Whether a commit failed because another commit won the race for its version
/// and conflicts with it.
fn is_conflict(e: &DeltaTableError) -> bool {
    matches!(
        e,
        DeltaTableError::VersionAlreadyExists(_)
            | DeltaTableError::Transaction {
                source: TransactionError::CommitConflict(_)
                    | TransactionError::MaxCommitAttempts(_)
                    | TransactionError::VersionAlreadyExists(_),
            }
    )
}
