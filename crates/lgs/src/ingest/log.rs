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
use serde_json::{Value, json};

use super::TableWriter;
use crate::error::Result;
use crate::warehouse::Warehouse;

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
pub async fn record(warehouse: &Warehouse, table: &str) -> Result<()> {
    let covered: HashSet<(String, String)> = warehouse
        .commit_facts(INGEST_LOG_TABLE)
        .await?
        .iter()
        .flat_map(|(_, f)| f.get("covers").and_then(Value::as_array).cloned())
        .flatten()
        .filter_map(|c| {
            Some((
                c.get("table")?.as_str()?.to_string(),
                c.get("ingest_id")?.as_str()?.to_string(),
            ))
        })
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
        let Some(id) = facts.get("ingest_id").and_then(Value::as_str) else {
            continue;
        };
        if covered.contains(&(table.to_string(), id.to_string())) {
            continue;
        }
        covers.push(json!({"table": table, "ingest_id": id}));
        let when = commit
            .timestamp
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_micros());
        let run_mode = facts
            .get("mode")
            .and_then(Value::as_str)
            .unwrap_or("append");
        let sources = facts.get("sources").and_then(Value::as_array);
        for s in sources.into_iter().flatten() {
            let int = |k: &str| s.get(k).and_then(Value::as_i64).unwrap_or(0);
            ingest_id.append_value(id);
            table_name.append_value(table);
            version.append_value(commit.version as i64);
            committed_at.append_option(when);
            mode.append_value(run_mode);
            source.append_value(s.get("path").and_then(Value::as_str).unwrap_or(""));
            fingerprint.append_option(
                s.get("fingerprint")
                    .and_then(Value::as_str)
                    .filter(|f| !f.is_empty()),
            );
            bytes.append_value(int("bytes"));
            read.append_value(int("rows_read"));
            loaded.append_value(int("rows_loaded"));
            rejected.append_value(int("rows_rejected"));
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
    let mut writer = TableWriter::new(warehouse, INGEST_LOG_TABLE, ingest_log_schema(), vec![]);
    let rows = batch.num_rows();
    if rows > 0 {
        writer.write(batch).await?;
    }
    writer
        .commit(json!({"covers": covers, "rows_written": rows}), false)
        .await?;
    Ok(())
}
