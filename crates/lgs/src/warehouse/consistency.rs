//! What `lgs check` verifies across tables, beyond each table's files: the ingest
//! log lists every ingest as its data commit recorded it, and every quarantine
//! holds the rows its commits wrote.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::prelude::SessionContext;

use super::Warehouse;
use super::repair::TableCheck;
use crate::error::{QueryContext, Result};
use crate::ingest::log::INGEST_LOG_TABLE;

/// Rows per ingest id (or per table and ingest id).
type Counts<K> = BTreeMap<K, i64>;

impl Warehouse {
    /// Adds to `checks` what disagrees between tables that are themselves whole.
    pub(super) async fn check_consistency(&self, checks: &mut [TableCheck]) -> Result<()> {
        for check in checks.iter_mut() {
            if check.ok() && check.table.ends_with("_rejected") {
                self.check_quarantine(check).await?;
            }
        }
        if checks.iter().any(|c| c.ok() && c.table == INGEST_LOG_TABLE) {
            self.check_ingest_log(checks).await?;
        }
        Ok(())
    }

    /// Each ingest's quarantined rows are as many as the commit that wrote them says.
    async fn check_quarantine(&self, check: &mut TableCheck) -> Result<()> {
        let name = check.table.clone();
        let found: Counts<String> = self
            .query_counts(
                &name,
                &format!("SELECT ingest_id, count(*) FROM \"{name}\" GROUP BY ingest_id"),
            )
            .await?
            .into_iter()
            .map(|((_, id), n)| (id, n))
            .collect();
        let facts = self.commit_facts(&name).await?;
        // `lgs forget` removes rows that ingests wrote, and `--now` cleans the
        // commits before it from the log.
        let forgotten = facts.iter().any(|(_, f)| f.rows_forgotten.is_some());
        let truncated = self.history_cleaned(&name).await?;
        let written: BTreeMap<String, (u64, u64)> = facts
            .into_iter()
            .filter_map(|(v, f)| Some((f.ingest_id?, (v, f.rows_written))))
            .collect();
        let mut unknown = 0;
        for (id, rows) in found {
            match written.get(&id) {
                None if truncated => unknown += 1,
                None => check.problems.push(format!(
                    "holds {rows} rows of ingest {id}, which none of its commits wrote"
                )),
                Some(&(_, wrote)) if forgotten && rows < wrote as i64 => {}
                Some(&(version, wrote)) if wrote as i64 != rows => check.problems.push(format!(
                    "holds {rows} rows of ingest {id} where its commit (version {version}) \
                     wrote {wrote}"
                )),
                Some(_) => {}
            }
        }
        if unknown > 0 {
            check.notes.push(cleaned_note(unknown));
        }
        Ok(())
    }

    /// Whether commits of table `name` were cleaned from its log (after a
    /// checkpoint): what they wrote can no longer be checked.
    async fn history_cleaned(&self, name: &str) -> Result<bool> {
        Ok(self
            .history(name)
            .await?
            .first()
            .is_some_and(|c| c.version > 0))
    }

    /// The ingest log lists each ingest of each table with the rows its data commit
    /// recorded, and nothing else. An ingest not listed yet is a note (the next
    /// ingest lists it), not damage.
    async fn check_ingest_log(&self, checks: &mut [TableCheck]) -> Result<()> {
        let listed = self
            .query_counts(
                INGEST_LOG_TABLE,
                &format!(
                    "SELECT table_name, ingest_id, sum(rows_loaded) FROM {INGEST_LOG_TABLE} \
                     GROUP BY table_name, ingest_id"
                ),
            )
            .await?;
        let mut problems = Vec::new();
        for check in checks.iter_mut() {
            let table = check.table.clone();
            // The log lists ingests into data tables (not quarantines, not itself).
            if !check.ok() || table.ends_with("_rejected") || table == INGEST_LOG_TABLE {
                continue;
            }
            let recorded: BTreeMap<String, u64> = self
                .commit_facts(&table)
                .await?
                .into_iter()
                .filter_map(|(_, f)| Some((f.ingest_id?, f.rows_loaded?)))
                .collect();
            let mut unlisted = 0;
            for (id, rows) in &recorded {
                match listed.get(&(table.clone(), id.clone())) {
                    None => unlisted += 1,
                    Some(&n) if n != *rows as i64 => problems.push(format!(
                        "lists {n} rows loaded by ingest {id} into {table}, whose commit \
                         records {rows}"
                    )),
                    Some(_) => {}
                }
            }
            if unlisted > 0 {
                check.notes.push(format!(
                    "{INGEST_LOG_TABLE} does not list {unlisted} of its ingests yet \
                     (the next lgs ingest into {table} lists them)"
                ));
            }
            let truncated = self.history_cleaned(&table).await?;
            let mut unknown = 0;
            let missing = listed
                .keys()
                .filter(|(t, id)| *t == table && !recorded.contains_key(id));
            for (t, id) in missing {
                if truncated {
                    unknown += 1;
                } else {
                    problems.push(format!(
                        "lists ingest {id} of {t}, which is not in {t}'s history"
                    ));
                }
            }
            if unknown > 0 {
                check.notes.push(cleaned_note(unknown));
            }
        }
        if let Some(log) = checks.iter_mut().find(|c| c.table == INGEST_LOG_TABLE) {
            log.problems.extend(problems);
        }
        Ok(())
    }

    /// Runs a query over one table whose result is (text, [text,] count) rows.
    async fn query_counts(&self, table: &str, sql: &str) -> Result<Counts<(String, String)>> {
        let ctx = SessionContext::new();
        let opened = self.open_existing(table).await?;
        let provider = self.provider(&ctx, table, &opened).await?;
        ctx.register_table(table, provider)
            .context("registering a table to check")?;
        let batches = ctx
            .sql(sql)
            .await
            .context("checking a table")?
            .collect()
            .await
            .context("checking a table")?;
        let mut counts = Counts::new();
        for batch in batches {
            let n = batch.num_columns();
            let cast = |i: usize, to: &DataType| {
                datafusion::arrow::compute::cast(batch.column(i), to)
                    .map_err(datafusion::error::DataFusionError::from)
                    .context("checking a table")
            };
            let texts: Vec<ArrayRef> = (0..n - 1)
                .map(|i| cast(i, &DataType::Utf8))
                .collect::<Result<_>>()?;
            let text = |i: usize, row: usize| {
                let column = texts[i].as_string::<i32>();
                column.is_valid(row).then(|| column.value(row).to_string())
            };
            let values = cast(n - 1, &DataType::Int64)?;
            let values = values.as_primitive::<Int64Type>();
            for row in 0..batch.num_rows() {
                let key = match n {
                    2 => (String::new(), text(0, row).unwrap_or_default()),
                    _ => (
                        text(0, row).unwrap_or_default(),
                        text(1, row).unwrap_or_default(),
                    ),
                };
                counts.insert(key, values.value(row));
            }
        }
        Ok(counts)
    }
}

fn cleaned_note(ingests: usize) -> String {
    format!(
        "{ingests} ingest(s) cannot be checked: their commits were cleaned from the log \
         (after a checkpoint, e.g. by lgs forget --now)"
    )
}
