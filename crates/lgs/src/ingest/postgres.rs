//! A live PostgreSQL table or query as a record source (the original plan's "JDBC
//! ingestion for bigger data").
//!
//! The rows are read in parallel partitions, ranges of the date column, each over
//! its own connection with `COPY (SELECT ...) TO STDOUT (FORMAT binary)`: streamed,
//! so memory stays bounded whatever the table size. Every partition reads the same
//! snapshot (exported by a coordinating transaction that stays open until they have
//! all started), so the parts add up to one consistent copy of the table even while
//! it is being written to. Rows whose date is null go with the first partition: no
//! row is lost.
//!
//! Values are cast to text by the server and parsed by the same validation as a CSV
//! file, so every source loads the same way.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use async_trait::async_trait;

use bytes::{Buf, Bytes, BytesMut};
use futures::StreamExt;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, CopyOutStream};

use super::Dataset;
use super::records::{Record, RecordSource};
use super::sources::{Input, Plan, Source, Target};
use crate::error::{LgsError, Result};
use crate::pg::{PgServer, quote_ident, quote_qualified};

/// A live PostgreSQL database as an ingest source (`postgres://` URLs), and how it
/// is read.
#[derive(Debug, Clone, Default)]
pub struct Postgres {
    /// The table to read (default: the target table as named, `schema.table`
    /// included, or the warehouse table's name).
    pub table: Option<String>,
    /// A query to read instead of a table.
    pub query: Option<String>,
    /// Parallel partitions (connections); 0 picks [`Postgres::DEFAULT_PARTITIONS`].
    pub partitions: usize,
    /// The date column the partitions split (default: the first timestamp column).
    pub partition_column: Option<String>,
}

impl Postgres {
    /// Partitions of a PostgreSQL read when none are asked for.
    pub const DEFAULT_PARTITIONS: usize = 4;

    fn read(&self, target: &Target<'_>) -> PgRead {
        match &self.query {
            Some(q) => PgRead::Query(q.clone()),
            None => PgRead::Table(
                self.table
                    .as_deref()
                    .or(target.named)
                    .unwrap_or(target.table)
                    .to_string(),
            ),
        }
    }
}

#[async_trait]
impl Source for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn claims(&self, input: &str) -> bool {
        crate::pg::is_postgres_url(input)
    }

    /// Each URL is one read of one snapshot; each of its partitions is a lane.
    async fn plan(&self, inputs: Vec<String>, target: &Target<'_>) -> Result<Plan> {
        let read = self.read(target);
        let partitions = match self.partitions {
            0 => Postgres::DEFAULT_PARTITIONS,
            n => n,
        };
        let mut lanes = Vec::new();
        let mut plans = Vec::new();
        for url in &inputs {
            let plan = plan(url, &read, partitions, self.partition_column.as_deref()).await?;
            let columns = Arc::new(plan.columns.clone());
            for part in &plan.parts {
                lanes.push(vec![Box::new(PartInput {
                    part: part.clone(),
                    columns: columns.clone(),
                }) as Box<dyn Input>]);
            }
            plans.push(plan);
        }
        Ok(Plan {
            inputs: inputs.len(),
            lanes,
            hold: Some(Box::new(plans)),
        })
    }
}

/// One partition of a planned read.
struct PartInput {
    part: PgPart,
    columns: Arc<Vec<String>>,
}

impl Input for PartInput {
    fn shown(&self) -> String {
        self.part.name.clone()
    }

    fn fingerprint(&self) -> &str {
        ""
    }

    fn bytes(&self) -> u64 {
        0
    }

    fn open(
        &self,
        _dataset: &Dataset,
        _read: Arc<AtomicU64>,
        handle: &tokio::runtime::Handle,
    ) -> Result<Vec<(String, Box<dyn RecordSource>)>> {
        let source = PartSource::new(
            self.part.clone(),
            self.columns.as_ref().clone(),
            handle.clone(),
        );
        Ok(vec![(self.part.name.clone(), Box::new(source) as _)])
    }
}

/// What to read from the server.
#[derive(Debug, Clone)]
pub enum PgRead {
    /// A table (possibly `schema.table`).
    Table(String),
    /// Any `SELECT`.
    Query(String),
}

/// A planned read: the open coordinating transaction and the partitions' queries.
pub struct PgPlan {
    /// Holds the exported snapshot open until every partition has started.
    _coordinator: Client,
    pub server: PgServer,
    pub columns: Vec<String>,
    pub parts: Vec<PgPart>,
}

/// One partition's read.
#[derive(Debug, Clone)]
pub struct PgPart {
    pub server: PgServer,
    /// How the partition is shown in reports and quarantine rows.
    pub name: String,
    pub snapshot: String,
    pub copy: String,
}

/// Connects, exports a snapshot, finds the columns and splits the read into up to
/// `partitions` ranges of the date column (`date_column` if given, else the first
/// timestamp column).
pub async fn plan(
    url: &str,
    read: &PgRead,
    partitions: usize,
    date_column: Option<&str>,
) -> Result<PgPlan> {
    let (server, _) = PgServer::parse(url, &[])?;
    let client = server.connect().await?;
    let err = |doing: &str, e: tokio_postgres::Error| server.error(doing, &e);
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(|e| err("cannot start a transaction", e))?;
    let snapshot: String = client
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .map_err(|e| err("cannot export a snapshot", e))?
        .get(0);
    let (base, what) = match read {
        PgRead::Table(t) => (quote_qualified(t), format!("table {t}")),
        PgRead::Query(q) => (
            format!("({}) AS lgs_query", q.trim().trim_end_matches(';')),
            "query".to_string(),
        ),
    };
    let statement = client
        .prepare(&format!("SELECT * FROM {base}"))
        .await
        .map_err(|e| err(&format!("cannot read the {what}"), e))?;
    let columns: Vec<(String, Type)> = statement
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), c.type_().clone()))
        .collect();
    if columns.is_empty() {
        return Err(LgsError::Postgres {
            target: server.shown.clone(),
            message: format!("the {what} has no columns"),
        });
    }
    let select = text_select(&columns);
    let date = partition_column(&columns, date_column, &what)?;
    let mut ranges = match (date, partitions > 1) {
        (Some((date, ty)), true) => {
            let range = date_range(&client, &base, date)
                .await
                .map_err(|e| err("cannot find the date range", e))?;
            range
                .map(|range| date_ranges(date, ty, range, partitions))
                .unwrap_or_default()
        }
        _ => vec![],
    };
    if ranges.is_empty() {
        ranges.push(("true".into(), "part 1/1".into()));
    }
    let label = match read {
        PgRead::Table(t) => t.clone(),
        PgRead::Query(_) => "query".into(),
    };
    let parts = ranges
        .into_iter()
        .map(|(cond, part)| PgPart {
            server: server.clone(),
            name: format!("postgres://{} {label} [{part}]", server.shown),
            snapshot: snapshot.clone(),
            copy: format!(
                "COPY (SELECT {select} FROM {base} WHERE {cond}) TO STDOUT (FORMAT binary)"
            ),
        })
        .collect();
    Ok(PgPlan {
        _coordinator: client,
        server,
        columns: columns.into_iter().map(|(n, _)| n).collect(),
        parts,
    })
}

/// The columns as the server casts them to text (timestamps with a time zone in UTC).
fn text_select(columns: &[(String, Type)]) -> String {
    let select: Vec<String> = columns
        .iter()
        .map(|(name, ty)| {
            let col = quote_ident(name);
            if *ty == Type::TIMESTAMPTZ {
                format!("({col} AT TIME ZONE 'UTC')::text")
            } else {
                format!("{col}::text")
            }
        })
        .collect();
    select.join(", ")
}

/// The date column the partitions split: `wanted` (which must exist), else the
/// first date or timestamp column, if any.
fn partition_column<'a>(
    columns: &'a [(String, Type)],
    wanted: Option<&str>,
    what: &str,
) -> Result<Option<(&'a str, &'a Type)>> {
    let is_date = |ty: &Type| matches!(*ty, Type::TIMESTAMP | Type::TIMESTAMPTZ | Type::DATE);
    let found = match wanted {
        Some(name) => Some(columns.iter().find(|(n, _)| n == name).ok_or_else(|| {
            LgsError::InvalidArgument {
                what: "--partition-column",
                message: format!("the {what} has no column {name:?}"),
            }
        })?),
        None => columns.iter().find(|(_, ty)| is_date(ty)),
    };
    Ok(found.map(|(n, ty)| (n.as_str(), ty)))
}

/// The first and last value of the date column, in seconds since the epoch, when
/// they differ.
async fn date_range(
    client: &Client,
    base: &str,
    date: &str,
) -> std::result::Result<Option<(f64, f64)>, tokio_postgres::Error> {
    let col = quote_ident(date);
    let row = client
        .query_one(
            &format!(
                "SELECT extract(epoch FROM min({col}))::float8, \
                 extract(epoch FROM max({col}))::float8 FROM {base}"
            ),
            &[],
        )
        .await?;
    let (lo, hi): (Option<f64>, Option<f64>) = (row.get(0), row.get(1));
    Ok(match (lo, hi) {
        (Some(lo), Some(hi)) if hi > lo => Some((lo, hi)),
        _ => None,
    })
}

/// `partitions` equal ranges of the date column over `(lo, hi)`, as conditions and
/// labels; rows with a null date go with the first.
fn date_ranges(
    date: &str,
    ty: &Type,
    (lo, hi): (f64, f64),
    partitions: usize,
) -> Vec<(String, String)> {
    let col = quote_ident(date);
    let step = (hi - lo) / partitions as f64;
    let bound = |i: usize| {
        let at = format!("to_timestamp({})", lo + step * i as f64);
        if *ty == Type::TIMESTAMPTZ {
            at
        } else {
            format!("({at} AT TIME ZONE 'UTC')")
        }
    };
    (0..partitions)
        .map(|i| {
            let mut cond = Vec::new();
            if i > 0 {
                cond.push(format!("{col} >= {}", bound(i)));
            }
            if i + 1 < partitions {
                cond.push(format!("{col} < {}", bound(i + 1)));
            }
            let mut cond = cond.join(" AND ");
            if i == 0 {
                cond = format!("({cond}) OR {col} IS NULL");
            }
            (cond, format!("part {}/{partitions}", i + 1))
        })
        .collect()
}

/// Rows of one partition. Runs on a blocking thread, driving the connection on the
/// runtime that `handle` belongs to.
pub struct PartSource {
    part: PgPart,
    columns: Vec<String>,
    handle: tokio::runtime::Handle,
    _client: Option<Client>,
    stream: Option<std::pin::Pin<Box<CopyOutStream>>>,
    buf: BytesMut,
    header_seen: bool,
    done: bool,
    line: u64,
    pending: VecDeque<Bytes>,
}

impl PartSource {
    pub fn new(part: PgPart, columns: Vec<String>, handle: tokio::runtime::Handle) -> Self {
        PartSource {
            part,
            columns,
            handle,
            _client: None,
            stream: None,
            buf: BytesMut::new(),
            header_seen: false,
            done: false,
            line: 0,
            pending: VecDeque::new(),
        }
    }

    fn error(&self, message: String) -> LgsError {
        LgsError::Postgres {
            target: self.part.server.shown.clone(),
            message: format!("{}: {message}", self.part.name),
        }
    }

    /// Makes sure `n` bytes are buffered; false if the stream ended first.
    fn fill(&mut self, n: usize) -> Result<bool> {
        while self.buf.len() < n {
            if let Some(chunk) = self.pending.pop_front() {
                self.buf.extend_from_slice(&chunk);
                continue;
            }
            let stream = self.stream.as_mut().expect("started");
            match self.handle.block_on(stream.next()) {
                None => return Ok(false),
                Some(Ok(chunk)) => self.pending.push_back(chunk),
                Some(Err(e)) => {
                    return Err(
                        self.error(format!("reading rows failed: {}", crate::pg::describe(&e)))
                    );
                }
            }
        }
        Ok(true)
    }
}

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

impl RecordSource for PartSource {
    fn header(&mut self) -> Result<(u64, Vec<String>)> {
        let part = self.part.clone();
        let stream = self.handle.block_on(async {
            let client = part.server.connect().await?;
            let err = |doing: &str, e: tokio_postgres::Error| part.server.error(doing, &e);
            client
                .batch_execute(&format!(
                    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{}'",
                    part.snapshot
                ))
                .await
                .map_err(|e| err("cannot join the read snapshot", e))?;
            let stream = client
                .copy_out(part.copy.as_str())
                .await
                .map_err(|e| err(&format!("{}: cannot start reading", part.name), e))?;
            Ok::<_, LgsError>((client, stream))
        })?;
        self._client = Some(stream.0);
        self.stream = Some(Box::pin(stream.1));
        Ok((0, self.columns.clone()))
    }

    fn next(&mut self, rec: &mut Record) -> Result<bool> {
        if self.done {
            return Ok(false);
        }
        if !self.header_seen {
            if !self.fill(SIGNATURE.len() + 8)? || &self.buf[..SIGNATURE.len()] != SIGNATURE {
                return Err(self.error("the server did not send binary COPY data".into()));
            }
            self.buf.advance(SIGNATURE.len() + 4);
            let ext = self.buf.get_u32() as usize;
            if !self.fill(ext)? {
                return Err(self.error("the COPY data ended early".into()));
            }
            self.buf.advance(ext);
            self.header_seen = true;
        }
        if !self.fill(2)? {
            return Err(self.error("the COPY data ended without its trailer".into()));
        }
        let count = self.buf.get_i16();
        if count == -1 {
            self.done = true;
            return Ok(false);
        }
        rec.fields.clear();
        rec.error = None;
        for _ in 0..count {
            if !self.fill(4)? {
                return Err(self.error("the COPY data ended inside a row".into()));
            }
            let len = self.buf.get_i32();
            if len < 0 {
                rec.fields.push("");
                continue;
            }
            let len = len as usize;
            if !self.fill(len)? {
                return Err(self.error("the COPY data ended inside a row".into()));
            }
            let value = self.buf.split_to(len);
            match std::str::from_utf8(&value) {
                Ok(s) => rec.fields.push(s),
                Err(_) => {
                    rec.fields.push(&String::from_utf8_lossy(&value));
                    rec.error = Some("a value is not valid UTF-8".into());
                }
            }
        }
        self.line += 1;
        rec.line = self.line;
        rec.raw_from_fields();
        Ok(true)
    }
}
