//! The audit trail of served queries: every request a served surface answers with
//! the warehouse's data (a report page, a chart, a customer profile, a SQL query)
//! is recorded with when, who, as which role, through which surface, the
//! statement, the tables it read, the rows it returned and how it ended, in an
//! append-only Delta table only an admin may read (`lgs audit`). Writes are
//! recorded in their own commits (see [`crate::facts::Actor`]).
//!
//! Records are batched: a server commits what it recorded every few seconds (one
//! Delta commit, encrypted like every table in an encrypted warehouse), and what is
//! left when it stops. A failed commit keeps its records for the next one.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    Array, AsArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::error::{LgsError, QueryContext, Result};
use crate::facts::CommitFacts;
use crate::warehouse::Warehouse;
use crate::write::TableWriter;

/// The audit table.
pub const AUDIT_TABLE: &str = "_lgs_audit/queries";

/// Records a server keeps before it commits them anyway.
const BATCH: usize = 1000;

/// One served request.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Record {
    pub at: DateTime<Utc>,
    pub user: String,
    pub role: String,
    /// "dashboard", "sql page", and the surfaces later issues add.
    pub surface: String,
    /// The SQL, or what was asked ("GET /api/charts/monthly_sales").
    pub statement: String,
    /// The tables it read, comma-separated.
    pub tables: String,
    /// Rows returned (`None`: not a row result, such as a page).
    pub rows: Option<i64>,
    /// "ok", "failed: <message>" or "cancelled".
    pub outcome: String,
    pub millis: i64,
}

fn schema() -> SchemaRef {
    let text = |name| Field::new(name, DataType::Utf8, false);
    Arc::new(Schema::new(vec![
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        text("user"),
        text("role"),
        text("surface"),
        text("statement"),
        text("tables"),
        Field::new("rows", DataType::Int64, true),
        text("outcome"),
        Field::new("millis", DataType::Int64, false),
    ]))
}

fn batch(records: &[Record]) -> Result<RecordBatch> {
    let text = |f: fn(&Record) -> &str| {
        Arc::new(StringArray::from_iter_values(records.iter().map(f))) as Arc<dyn Array>
    };
    let at = TimestampMicrosecondArray::from_iter_values(
        records.iter().map(|r| r.at.timestamp_micros()),
    )
    .with_timezone("UTC");
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(at),
            text(|r| &r.user),
            text(|r| &r.role),
            text(|r| &r.surface),
            text(|r| &r.statement),
            text(|r| &r.tables),
            Arc::new(Int64Array::from_iter(records.iter().map(|r| r.rows))),
            text(|r| &r.outcome),
            Arc::new(Int64Array::from_iter_values(
                records.iter().map(|r| r.millis),
            )),
        ],
    )
    .map_err(|e| LgsError::Query {
        context: "building audit records".into(),
        source: Box::new(e.into()),
    })
}

/// Where a server sends its records; they are committed by a task of their own.
#[derive(Debug, Clone)]
pub struct AuditLog {
    sender: mpsc::UnboundedSender<Record>,
}

/// The task committing an [`AuditLog`]'s records.
pub struct Flusher {
    task: tokio::task::JoinHandle<()>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Flusher {
    /// Commits what was recorded so far and stops.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

impl AuditLog {
    /// A log committing into `warehouse`'s audit table every `every`.
    pub fn start(warehouse: Warehouse, every: Duration) -> (AuditLog, Flusher) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(flush_loop(warehouse, receiver, stopped, every));
        (AuditLog { sender }, Flusher { task, stop })
    }

    pub fn record(&self, record: Record) {
        // The flusher outlives the server's handlers; a send fails only after it.
        let _ = self.sender.send(record);
    }
}

async fn flush_loop(
    warehouse: Warehouse,
    mut receiver: mpsc::UnboundedReceiver<Record>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
    every: Duration,
) {
    let mut pending: Vec<Record> = Vec::new();
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            received = receiver.recv() => match received {
                Some(record) => {
                    pending.push(record);
                    if pending.len() >= BATCH {
                        flush(&warehouse, &mut pending).await;
                    }
                }
                None => break,
            },
            _ = tick.tick() => flush(&warehouse, &mut pending).await,
            _ = &mut stopped => break,
        }
    }
    while let Ok(record) = receiver.try_recv() {
        pending.push(record);
    }
    flush(&warehouse, &mut pending).await;
    if !pending.is_empty() {
        tracing::error!("{} audit records could not be committed", pending.len());
    }
}

/// Commits the pending records (kept for the next try when the commit fails).
async fn flush(warehouse: &Warehouse, pending: &mut Vec<Record>) {
    if pending.is_empty() {
        return;
    }
    match commit(warehouse, pending).await {
        Ok(()) => pending.clear(),
        Err(e) => tracing::warn!("audit records kept for the next commit: {e}"),
    }
}

async fn commit(warehouse: &Warehouse, records: &[Record]) -> Result<()> {
    let mut writer = TableWriter::new(warehouse, AUDIT_TABLE, schema(), vec![]);
    writer.write(batch(records)?).await?;
    let facts = CommitFacts::default();
    writer.commit(&facts, false).await.map(|_| ())
}

/// Which records `lgs audit` shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub since: Option<DateTime<Utc>>,
    pub user: Option<String>,
}

impl Warehouse {
    /// The audit records `filter` selects, oldest first (admins only).
    pub async fn audit(&self, filter: &Filter) -> Result<Vec<Record>> {
        self.access().require_admin("reading the audit trail")?;
        let Some(table) = self.open(AUDIT_TABLE).await? else {
            return Ok(vec![]);
        };
        let ctx = datafusion::prelude::SessionContext::new();
        let provider = self.provider(&ctx, AUDIT_TABLE, &table).await?;
        let mut df = ctx
            .read_table(provider)
            .context("reading the audit trail")?;
        use datafusion::prelude::{col, lit};
        if let Some(since) = filter.since {
            let since = datafusion::common::ScalarValue::TimestampMicrosecond(
                Some(since.timestamp_micros()),
                Some("UTC".into()),
            );
            df = df
                .filter(col("at").gt_eq(lit(since)))
                .context("filtering")?;
        }
        if let Some(user) = &filter.user {
            df = df
                .filter(col("user").eq(lit(user.as_str())))
                .context("filtering")?;
        }
        let batches = df
            .sort(vec![col("at").sort(true, false)])
            .context("sorting the audit trail")?
            .collect()
            .await
            .context("reading the audit trail")?;
        Ok(batches.iter().flat_map(records).collect())
    }
}

fn records(batch: &RecordBatch) -> Vec<Record> {
    let text = |name: &str| -> Vec<String> {
        let column = batch.column_by_name(name).expect("audit column");
        let column = datafusion::arrow::compute::cast(column, &DataType::Utf8).expect("text");
        column
            .as_string::<i32>()
            .iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect()
    };
    let int = |name: &str| -> Vec<Option<i64>> {
        let column = batch.column_by_name(name).expect("audit column");
        column
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .iter()
            .collect()
    };
    let at = batch
        .column_by_name("at")
        .expect("audit column")
        .as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>()
        .clone();
    let (user, role, surface) = (text("user"), text("role"), text("surface"));
    let (statement, tables, outcome) = (text("statement"), text("tables"), text("outcome"));
    let (rows, millis) = (int("rows"), int("millis"));
    (0..batch.num_rows())
        .map(|i| Record {
            at: DateTime::from_timestamp_micros(at.value(i)).unwrap_or_default(),
            user: user[i].clone(),
            role: role[i].clone(),
            surface: surface[i].clone(),
            statement: statement[i].clone(),
            tables: tables[i].clone(),
            rows: rows[i],
            outcome: outcome[i].clone(),
            millis: millis[i].unwrap_or(0),
        })
        .collect()
}
