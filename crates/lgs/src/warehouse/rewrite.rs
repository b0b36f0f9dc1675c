//! Rewriting some of a table's data files through lgs's own reader and writer (so
//! they are decrypted and encrypted with the warehouse's keys): what `lgs forget`
//! does to the files holding a customer, and `lgs optimize` to the small files of
//! an encrypted table, or to every file with `--rekey`.

use std::sync::Arc;

use datafusion::arrow::array::Int64Array;
use datafusion::prelude::{SessionConfig, SessionContext};
use deltalake::DeltaTable;
use deltalake::kernel::{Action, Add};

use super::Warehouse;
use super::scan::{SnapshotFile, SnapshotTable};
use crate::error::{LgsError, QueryContext, Result};
use crate::write::TableWriter;

/// A session that reads strings as `Utf8` (so rewritten rows keep the table's
/// schema).
pub(super) fn plain_context() -> SessionContext {
    let mut config = SessionConfig::new();
    config
        .options_mut()
        .execution
        .parquet
        .schema_force_view_types = false;
    SessionContext::new_with_config(config)
}

/// What a rewrite changes in the rows of the files it picks.
pub(super) enum Change<'a> {
    /// Leaves out the rows matching this SQL condition.
    Drop(&'a str),
    /// Writes the rows as `select` (a SELECT list over the file, `f`) gives them,
    /// in the files holding rows matching `condition`.
    Replace { condition: &'a str, select: &'a str },
}

impl Change<'_> {
    fn condition(&self) -> &str {
        match self {
            Change::Drop(condition) | Change::Replace { condition, .. } => condition,
        }
    }
}

/// What a rewrite wrote, to be committed by its caller.
pub(super) struct Rewritten {
    /// The files replaced, and the files that replace them.
    pub removes: Vec<Action>,
    pub adds: Vec<Add>,
    /// Rows matching the change's condition (left out, or replaced).
    pub rows_matched: u64,
}

impl Warehouse {
    /// Rewrites the files of `table` that `select` picks (by path and size), in log
    /// order, into new files with `change` made (as they are without). With a
    /// change, a picked file none of whose rows match its condition is left as it is.
    pub(super) async fn rewrite_files(
        &self,
        name: &str,
        table: &DeltaTable,
        select: impl Fn(&str, u64) -> bool,
        change: Option<&Change<'_>>,
    ) -> Result<Rewritten> {
        let snapshot = table.snapshot().map_err(|e| LgsError::delta(name, e))?;
        let schema = snapshot.snapshot().arrow_schema();
        let ctx = plain_context();
        self.register_store(&ctx);
        let log_store = table.log_store();
        let mut done = Rewritten {
            removes: Vec::new(),
            adds: Vec::new(),
            rows_matched: 0,
        };
        // Each file is read with its partition values from the log (if the table has
        // any), and its rows written back into their partitions.
        let partition_columns = snapshot.metadata().partition_columns().to_vec();
        let mut writer = TableWriter::new(self, name, schema.clone(), partition_columns.clone());
        for file in snapshot.log_data() {
            let path = file.object_store_path();
            if !select(path.as_ref(), file.size().max(0) as u64) {
                continue;
            }
            let one = SnapshotFile::of(&file, log_store.as_ref(), &partition_columns);
            let provider =
                SnapshotTable::try_new(schema.clone(), partition_columns.clone(), vec![one])
                    .context("reading a data file")?;
            let _ = ctx.deregister_table("f");
            ctx.register_table("f", Arc::new(provider))
                .context("reading a data file")?;
            let kept = match change {
                Some(change) => {
                    let condition = change.condition();
                    let matching =
                        count(&ctx, &format!("SELECT count(*) FROM f WHERE {condition}")).await?;
                    if matching == 0 {
                        continue;
                    }
                    done.rows_matched += matching;
                    match change {
                        Change::Drop(_) => {
                            format!("SELECT * FROM f WHERE NOT coalesce({condition}, false)")
                        }
                        Change::Replace { select, .. } => format!("SELECT {select} FROM f"),
                    }
                }
                None => "SELECT * FROM f".to_string(),
            };
            let batches = ctx
                .sql(&kept)
                .await
                .context("rewriting a data file")?
                .collect()
                .await
                .context("rewriting a data file")?;
            for batch in batches {
                if batch.num_rows() > 0 {
                    writer.write(batch).await?;
                }
            }
            done.removes
                .push(Action::Remove(file.remove_action(change.is_some())));
        }
        if !done.removes.is_empty() {
            done.adds = writer.finish().await?;
        }
        Ok(done)
    }
}

pub(super) async fn count(ctx: &SessionContext, sql: &str) -> Result<u64> {
    let batches = ctx
        .sql(sql)
        .await
        .context("counting rows")?
        .collect()
        .await
        .context("counting rows")?;
    Ok(batches
        .first()
        .and_then(|b| b.column(0).as_any().downcast_ref::<Int64Array>())
        .map_or(0, |c| c.value(0) as u64))
}
