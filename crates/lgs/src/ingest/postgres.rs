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

use bytes::{Buf, Bytes, BytesMut};
use futures::StreamExt;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, CopyOutStream};

use super::records::{Record, RecordSource};
use crate::error::{LgsError, Result};
use crate::pg::{PgServer, quote_ident, quote_qualified};

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
    let select = select.join(", ");

    let is_date = |ty: &Type| matches!(*ty, Type::TIMESTAMP | Type::TIMESTAMPTZ | Type::DATE);
    let date = match date_column {
        Some(name) => Some(
            columns
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| LgsError::InvalidArgument {
                    what: "--partition-column",
                    message: format!("the {what} has no column {name:?}"),
                })?
                .0
                .clone(),
        ),
        None => columns
            .iter()
            .find(|(_, ty)| is_date(ty))
            .map(|(n, _)| n.clone()),
    };

    let mut ranges: Vec<(String, String)> = Vec::new();
    if let (Some(date), true) = (&date, partitions > 1) {
        let col = quote_ident(date);
        let row = client
            .query_one(
                &format!(
                    "SELECT extract(epoch FROM min({col}))::float8, \
                     extract(epoch FROM max({col}))::float8 FROM {base}"
                ),
                &[],
            )
            .await
            .map_err(|e| err("cannot find the date range", e))?;
        let (lo, hi): (Option<f64>, Option<f64>) = (row.get(0), row.get(1));
        if let (Some(lo), Some(hi)) = (lo, hi)
            && hi > lo
        {
            let step = (hi - lo) / partitions as f64;
            let bound = |i: usize| format!("to_timestamp({})", lo + step * i as f64);
            let cast = |s: String| {
                let ty = &columns.iter().find(|(n, _)| n == date).expect("found").1;
                if *ty == Type::TIMESTAMPTZ {
                    s
                } else {
                    format!("({s} AT TIME ZONE 'UTC')")
                }
            };
            for i in 0..partitions {
                let mut cond = Vec::new();
                if i > 0 {
                    cond.push(format!("{col} >= {}", cast(bound(i))));
                }
                if i + 1 < partitions {
                    cond.push(format!("{col} < {}", cast(bound(i + 1))));
                }
                let mut cond = cond.join(" AND ");
                if i == 0 {
                    cond = format!("({cond}) OR {col} IS NULL");
                }
                ranges.push((cond, format!("part {}/{partitions}", i + 1)));
            }
        }
    }
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
