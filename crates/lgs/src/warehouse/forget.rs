//! The right to be forgotten (`lgs forget`): every row of some customers removed
//! from every table that holds them, their ids kept only as keyed pseudonyms in a
//! forget list that later ingests consult.
//!
//! A table holds customers when it has an integer `customer_id` column (the
//! transactions, saved report tables) or a `raw` text column whose lines have the id
//! as a field (a quarantine: `17850` or `17850.0`, quoted or not). The data files
//! that hold such rows are rewritten without them, in one commit per table that
//! records how many rows went and never the ids. The live state and the scratch
//! results (derived from the lines) are deleted; the next `lgs live` rebuilds the
//! state. With `now`, the replaced files are deleted at once, and each table's log is
//! checkpointed and its earlier commit files (whose statistics could name an id)
//! deleted: afterwards no file under the warehouse holds the customers.

use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::DeltaTable;
use deltalake::kernel::Action;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::protocol::DeltaOperation;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use serde::Serialize;

use super::rewrite::Change;
use super::{Root, Warehouse};
use crate::audit::AUDIT_TABLE;
use crate::error::{LgsError, QueryContext, Result};
use crate::facts::CommitFacts;
use crate::policy::pseudonym::Pseudonym;
use crate::write::TableWriter;

/// The forget list: one row per forgotten customer (its pseudonym), when and why.
pub const LIST_TABLE: &str = "_lgs_forget/customers";

/// Derived data deleted by a forget (rebuilt from the tables when needed).
const DERIVED: [&str; 2] = ["_lgs_live", crate::analytics::SCRATCH_DIR];

/// What to forget.
#[derive(Debug, Clone)]
pub struct ForgetRequest {
    pub customers: Vec<i64>,
    pub reason: String,
    /// Delete the replaced files and the old log entries now, not after the
    /// retention period.
    pub now: bool,
    /// The pseudonym key (the forget list keeps the customers only as pseudonyms).
    pub key: Arc<[u8]>,
}

/// What a forget did to one table.
#[derive(Debug, Clone, Serialize)]
pub struct TableForgotten {
    pub table: String,
    /// Rows removed; for the audit trail (`redacted`), records whose statement
    /// named a customer, kept with the ids replaced by `<forgotten>`.
    pub rows: u64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
    pub files_rewritten: usize,
    /// The commit that removed the rows (`None`: the table held none).
    pub version: Option<u64>,
    /// Data files and commit files deleted (with `now`).
    pub files_deleted: usize,
    pub log_files_deleted: usize,
}

/// What `lgs forget` did.
#[derive(Debug, Clone, Serialize)]
pub struct Forgotten {
    pub customers: usize,
    pub rows: u64,
    pub tables: Vec<TableForgotten>,
    /// Derived data deleted (the live state, scratch results).
    pub derived_deleted: Vec<String>,
    pub now: bool,
    pub seconds: f64,
}

fn list_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("pseudonym", DataType::Int64, false),
        Field::new(
            "forgotten_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("reason", DataType::Utf8, false),
        Field::new("key_check", DataType::Int64, false),
    ]))
}

/// The SQL condition of the rows of `ids` in a table of `schema`, `None` when the
/// table holds no customers.
fn condition(schema: &Schema, ids: &[i64]) -> Option<String> {
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>();
    if let Ok(field) = schema.field_with_name("customer_id")
        && field.data_type().is_integer()
    {
        return Some(format!("customer_id IN ({})", list.join(", ")));
    }
    if let Ok(field) = schema.field_with_name("raw")
        && matches!(field.data_type(), DataType::Utf8 | DataType::LargeUtf8)
    {
        // The id as a whole field of the line: between separators or the ends,
        // perhaps quoted, perhaps written as a float.
        return Some(format!(
            "regexp_like(raw, '(^|[,;|\\t:{{\\[])[ ]*\"?({})(\\.0+)?\"?[ ]*([,;|\\t}}\\]]|$)')",
            list.join("|")
        ));
    }
    None
}

/// The audit records whose statement names one of `ids` (a whole number, perhaps
/// written as a float), and the SELECT list that writes them with each such id as
/// `<forgotten>`.
fn redaction(ids: &[i64], schema: &Schema) -> (String, String) {
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join("|");
    let pattern = format!("(^|[^0-9.])({list})(\\.0+)?([^0-9]|$)");
    let condition = format!("regexp_like(\"statement\", '{pattern}')");
    // Twice: ids one character apart ("IN (1,2)") share the character between
    // them, which one pass consumes with the first.
    let once =
        |text: &str| format!("regexp_replace({text}, '{pattern}', '${{1}}<forgotten>${{4}}', 'g')");
    let columns = schema
        .fields()
        .iter()
        .map(|f| match f.name().as_str() {
            "statement" => format!("{} AS \"statement\"", once(&once("\"statement\""))),
            c => format!("\"{c}\""),
        })
        .collect::<Vec<_>>()
        .join(", ");
    (condition, columns)
}

impl Warehouse {
    /// Forgets `request.customers` everywhere (see the module's documentation).
    pub async fn forget(&self, request: &ForgetRequest) -> Result<Forgotten> {
        self.access().require_admin("forgetting customers")?;
        self.ensure_writable().await?;
        if request.customers.is_empty() {
            return Err(LgsError::InvalidArgument {
                what: "--customer",
                message: "no customer to forget".into(),
            });
        }
        let started = Instant::now();
        // The list first: ingests that start from now on drop these customers.
        self.forget_list().await?.check_key(&request.key)?;
        self.record_forgotten(request).await?;
        let mut tables = Vec::new();
        for name in self.table_names().await? {
            let table = self.open_existing(&name).await?;
            let schema = super::stored_schema(&name, &table)?;
            let Some(condition) = condition(&schema, &request.customers) else {
                continue;
            };
            let change = Change::Drop(&condition);
            tables.push(self.forget_in(&name, table, &change, request).await?);
        }
        // The audit trail keeps its records (who ran what, when), with the ids
        // taken out of their statements.
        if let Some(table) = self.open(AUDIT_TABLE).await? {
            let schema = super::stored_schema(AUDIT_TABLE, &table)?;
            let (condition, select) = redaction(&request.customers, &schema);
            let change = Change::Replace {
                condition: &condition,
                select: &select,
            };
            let mut done = self.forget_in(AUDIT_TABLE, table, &change, request).await?;
            done.redacted = true;
            tables.push(done);
        }
        let mut derived_deleted = Vec::new();
        for dir in DERIVED {
            if self.remove_prefix(dir).await? {
                derived_deleted.push(dir.to_string());
            }
        }
        Ok(Forgotten {
            customers: request.customers.len(),
            rows: tables.iter().filter(|t| !t.redacted).map(|t| t.rows).sum(),
            tables,
            derived_deleted,
            now: request.now,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Appends the customers' pseudonyms to the forget list.
    async fn record_forgotten(&self, request: &ForgetRequest) -> Result<()> {
        let pseudonym = Pseudonym::new(request.key.clone());
        let n = request.customers.len();
        let now = chrono::Utc::now().timestamp_micros();
        let batch = RecordBatch::try_new(
            list_schema(),
            vec![
                Arc::new(Int64Array::from_iter_values(
                    request.customers.iter().map(|id| pseudonym.of_int(*id)),
                )),
                Arc::new(TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC")),
                Arc::new(StringArray::from(vec![request.reason.as_str(); n])),
                Arc::new(Int64Array::from(vec![key_check(&pseudonym); n])),
            ],
        )
        .map_err(|e| LgsError::query("building the forget list", e.into()))?;
        let mut writer = TableWriter::new(self, LIST_TABLE, list_schema(), vec![]);
        writer.write(batch).await?;
        let facts = CommitFacts {
            rows_written: n as u64,
            ..CommitFacts::default()
        };
        writer.commit(&facts, false).await?;
        Ok(())
    }

    /// The forget list, read once (empty when nobody was forgotten).
    pub async fn forget_list(&self) -> Result<ForgetList> {
        let mut list = ForgetList::default();
        let Some(table) = self.open(LIST_TABLE).await? else {
            return Ok(list);
        };
        let ctx = super::rewrite::plain_context();
        self.register_store(&ctx);
        let provider = self.provider(&ctx, LIST_TABLE, &table).await?;
        let batches = ctx
            .read_table(provider)
            .and_then(|df| df.select_columns(&["pseudonym", "key_check"]))
            .context("reading the forget list")?
            .collect()
            .await
            .context("reading the forget list")?;
        for batch in batches {
            list.pseudonyms.extend(bigints(&batch, 0)?);
            list.key_checks.extend(bigints(&batch, 1)?);
        }
        Ok(list)
    }

    /// Rewrites the files of table `name` that hold rows matching `condition`.
    async fn forget_in(
        &self,
        name: &str,
        table: DeltaTable,
        change: &Change<'_>,
        request: &ForgetRequest,
    ) -> Result<TableForgotten> {
        let mut done = TableForgotten {
            table: name.to_string(),
            rows: 0,
            redacted: false,
            files_rewritten: 0,
            version: None,
            files_deleted: 0,
            log_files_deleted: 0,
        };
        let rewritten = self
            .rewrite_files(name, &table, |_, _| true, Some(change))
            .await
            .map_err(|e| match e {
                LgsError::InvalidArgument { message, .. } => LgsError::InvalidArgument {
                    what: "forget",
                    message,
                },
                e => e,
            })?;
        done.rows = rewritten.rows_matched;
        done.files_rewritten = rewritten.removes.len();
        if !rewritten.removes.is_empty() {
            done.version = Some(
                self.commit_forget(name, &table, rewritten.removes, rewritten.adds, done.rows)
                    .await?,
            );
        }
        // Also when nothing was left to remove: `--now` after a plain forget
        // finishes the job.
        if request.now {
            let keep = match done.version {
                Some(v) => v,
                None => table.version().unwrap_or(0),
            };
            self.erase_history(name, keep, &mut done).await?;
        }
        Ok(done)
    }

    /// Commits the removal of `removes` and the files of their other rows.
    async fn commit_forget(
        &self,
        name: &str,
        table: &DeltaTable,
        removes: Vec<Action>,
        adds: Vec<deltalake::kernel::Add>,
        rows: u64,
    ) -> Result<u64> {
        let snapshot = table.snapshot().map_err(|e| LgsError::delta(name, e))?;
        let facts = CommitFacts {
            rows_forgotten: Some(rows),
            ..CommitFacts::default()
        };
        let mut actions = removes;
        actions.extend(adds.into_iter().map(Action::Add));
        let committed = CommitBuilder::from(self.with_facts(&facts))
            .with_actions(actions)
            .build(
                Some(snapshot),
                table.log_store(),
                DeltaOperation::Delete { predicate: None },
            )
            .await
            .map_err(|e| LgsError::delta(name, e))?;
        Ok(committed.version())
    }

    /// Deletes at once the files `name`'s current version no longer reads, and its
    /// commit files before a checkpoint of version `keep` (the forget's own commit,
    /// kept as its record).
    async fn erase_history(&self, name: &str, keep: u64, done: &mut TableForgotten) -> Result<()> {
        let vacuumed = self.vacuum(name, std::time::Duration::ZERO, false).await?;
        done.files_deleted = vacuumed.files_deleted.len();
        let mut table = self.open_existing(name).await?;
        let version = keep;
        table
            .load_version(keep)
            .await
            .map_err(|e| LgsError::delta(name, e))?;
        deltalake::protocol::checkpoints::create_checkpoint(&table, None)
            .await
            .map_err(|e| LgsError::delta(name, e))?;
        // Every commit file older than now and before the checkpoint.
        let cutoff = chrono::Utc::now().timestamp_millis() + 1_000;
        done.log_files_deleted = deltalake::protocol::checkpoints::cleanup_expired_logs_for(
            version,
            table.log_store().as_ref(),
            cutoff,
            None,
        )
        .await
        .map_err(|e| LgsError::delta(name, e))?;
        Ok(())
    }

    /// Deletes everything under `dir` of the warehouse; whether there was anything.
    pub(super) async fn remove_prefix(&self, dir: &str) -> Result<bool> {
        match &self.root {
            Root::Local(root) => {
                let path = root.join(dir);
                if !path.exists() {
                    return Ok(false);
                }
                std::fs::remove_dir_all(&path).map_err(|e| LgsError::Read {
                    path: path.clone(),
                    source: e,
                })?;
                Ok(true)
            }
            Root::Remote { store, prefix, .. } => {
                let under = prefix.clone().join(dir);
                let objects: Vec<_> = store
                    .list(Some(&under))
                    .try_collect()
                    .await
                    .map_err(|e| crate::storage::error(&self.location(), e))?;
                for object in &objects {
                    store
                        .delete(&object.location)
                        .await
                        .map_err(|e| crate::storage::error(&self.location(), e))?;
                }
                Ok(!objects.is_empty())
            }
        }
    }
}

/// The forgotten customers' pseudonyms, and the key check of each entry.
#[derive(Debug, Default)]
pub struct ForgetList {
    pub pseudonyms: Vec<i64>,
    key_checks: Vec<i64>,
}

impl ForgetList {
    /// Fails unless `key` is the key of the list's pseudonyms (any key when the
    /// list is empty).
    pub fn check_key(&self, key: &Arc<[u8]>) -> Result<()> {
        let expected = key_check(&Pseudonym::new(key.clone()));
        if self.key_checks.iter().any(|c| *c != expected) {
            return Err(LgsError::InvalidArgument {
                what: "pseudonym key",
                message: "it is not the key the warehouse's customers were forgotten with \
                          (their pseudonyms would not be recognised)"
                    .into(),
            });
        }
        Ok(())
    }
}

/// Column `i` of a forget list batch, a BIGINT column.
fn bigints(batch: &RecordBatch, i: usize) -> Result<impl Iterator<Item = i64> + '_> {
    let column = batch
        .column(i)
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| LgsError::InvalidArgument {
            what: "forget list",
            message: format!(
                "its {} column is not BIGINT",
                batch.schema().field(i).name()
            ),
        })?;
    Ok(column.iter().flatten())
}

/// A value that tells whether a key is the forget list's: the pseudonym of a
/// number no customer has.
fn key_check(pseudonym: &Pseudonym) -> i64 {
    pseudonym.of_int(i64::MIN)
}
