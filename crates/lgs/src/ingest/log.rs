//! The `ingest_log` table: one row per source of every ingest commit (file or
//! PostgreSQL partition, with its checksum and row counts), queryable like any table:
//! `lgs sql "SELECT * FROM ingest_log"`.
//!
//! The source of truth is the data commit itself (its commit info lists the sources,
//! atomically with the rows), which is what decides whether a file was already
//! loaded. The log is derived from those commits right after each ingest; a run
//! killed in between leaves it one commit behind, and the next ingest fills the gap.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::error::Result;
use crate::facts::{CommitFacts, Covered};
use crate::warehouse::Warehouse;
use crate::write::TableWriter;

/// Name of the ingest log table.
pub const INGEST_LOG_TABLE: &str = "ingest_log";

pub fn ingest_log_schema() -> SchemaRef {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    let int = |name: &str| Field::new(name, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        text("ingest_id", false),
        text("table_name", false),
        int("table_version"),
        Field::new(
            "committed_at",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        text("mode", false),
        text("source", false),
        text("fingerprint", true),
        int("bytes"),
        int("rows_read"),
        int("rows_loaded"),
        int("rows_rejected"),
    ]))
}

/// Appends to the log every commit of `table` it does not list yet.
/// Concurrent runs each try; an ingest listed by another run in between is not
/// listed twice (the run that lost the race reads the log again).
pub async fn record(warehouse: &Warehouse, table: &str) -> Result<()> {
    crate::write::retrying_races(async || record_once(warehouse, table).await).await
}

async fn record_once(warehouse: &Warehouse, table: &str) -> Result<()> {
    let log_version = warehouse.version_of(INGEST_LOG_TABLE).await?;
    let covered: HashSet<(String, String)> = warehouse
        .commit_facts(INGEST_LOG_TABLE)
        .await?
        .iter()
        .flat_map(|(_, f)| f.covers.iter())
        .map(|c| (c.table.clone(), c.ingest_id.clone()))
        .collect();
    let history = warehouse.history(table).await?;
    let mut ingest_id = StringBuilder::new();
    let mut table_name = StringBuilder::new();
    let mut version = Int64Builder::new();
    let mut committed_at = TimestampMicrosecondBuilder::new();
    let mut mode = StringBuilder::new();
    let mut source = StringBuilder::new();
    let mut fingerprint = StringBuilder::new();
    let (mut bytes, mut read, mut loaded, mut rejected) = (
        Int64Builder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
        Int64Builder::new(),
    );
    let mut covers = Vec::new();
    for commit in &history {
        let Some(facts) = &commit.lgs else { continue };
        let Some(id) = facts.ingest_id.as_deref() else {
            continue;
        };
        if covered.contains(&(table.to_string(), id.to_string())) {
            continue;
        }
        covers.push(Covered {
            table: table.to_string(),
            ingest_id: id.to_string(),
        });
        let when = commit
            .timestamp
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_micros());
        let run_mode = facts.mode.unwrap_or_default().as_str();
        for s in &facts.sources {
            ingest_id.append_value(id);
            table_name.append_value(table);
            version.append_value(commit.version as i64);
            committed_at.append_option(when);
            mode.append_value(run_mode);
            source.append_value(&s.path);
            fingerprint.append_option(Some(&s.fingerprint).filter(|f| !f.is_empty()));
            bytes.append_value(s.bytes as i64);
            read.append_value(s.rows_read as i64);
            loaded.append_value(s.rows_loaded as i64);
            rejected.append_value(s.rows_rejected as i64);
        }
    }
    if covers.is_empty() {
        return Ok(());
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(ingest_id.finish()),
        Arc::new(table_name.finish()),
        Arc::new(version.finish()),
        Arc::new(committed_at.finish()),
        Arc::new(mode.finish()),
        Arc::new(source.finish()),
        Arc::new(fingerprint.finish()),
        Arc::new(bytes.finish()),
        Arc::new(read.finish()),
        Arc::new(loaded.finish()),
        Arc::new(rejected.finish()),
    ];
    let batch = RecordBatch::try_new(ingest_log_schema(), columns)
        .expect("builders match the ingest log schema");
    let mut writer = TableWriter::new(warehouse, INGEST_LOG_TABLE, ingest_log_schema(), vec![])
        .decided_at(log_version);
    let rows = batch.num_rows();
    if rows > 0 {
        writer.write(batch).await?;
    }
    let facts = CommitFacts {
        covers,
        rows_written: rows as u64,
        ..CommitFacts::default()
    };
    writer.commit(&facts, false).await?;
    Ok(())
}
