//! Ingest: CSV files (plain, gzip or zstd) into a Delta table: `retail` for the LGS
//! transactions, `wdi` for World Development Indicators (see [`Dataset`]).
//!
//! Guarantees:
//! - **Nothing is lost.** Every data row of every input is either loaded into `retail`
//!   or quarantined in `retail_rejected` with its file, line, raw text and reason; the
//!   report accounts for it: rows read = rows loaded + rows quarantined.
//! - **One commit per ingest.** Files are written first and published by a single Delta
//!   commit on `retail`; a failure or a kill before it leaves the table as it was.
//!   (Quarantined rows are committed to `retail_rejected` just before; if a run dies
//!   between the two commits, the re-run loads the data and does not quarantine the
//!   same rows twice.)
//! - **Idempotent.** Each file's content fingerprint is recorded in the commit; a file
//!   already ingested is skipped unless `force` is set.
//! - **Bounded memory.** Files are parsed as a stream, in batches, on a worker thread
//!   while the previous batches are encoded to Parquet.

pub mod batch;
pub mod csv;
pub mod format;
pub mod parse;
pub mod source;
pub mod wdi;

pub use format::Dataset;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;

use crate::error::{LgsError, Result};
use crate::schema::rejected_schema;
use crate::warehouse::Warehouse;
use batch::RejectedBuilder;
use csv::{Fields, RawRecord, RecordReader};

/// How an ingest behaves.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Fail the whole ingest (write nothing) if any row cannot be parsed.
    pub strict: bool,
    /// Load files even if the same content was ingested before.
    pub force: bool,
    /// Rows per Arrow batch handed to the Parquet writer.
    pub batch_rows: usize,
    /// Target table (default: the dataset's); rejected rows go to `<table>_rejected`.
    pub table: Option<String>,
    /// What the files hold.
    pub dataset: Dataset,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            strict: false,
            force: false,
            batch_rows: 64 * 1024,
            table: None,
            dataset: Dataset::Retail,
        }
    }
}

/// Receives progress while files are read (for a progress bar).
pub trait IngestProgress: Send + Sync {
    /// A file is about to be read; `bytes` is its size on disk.
    fn file_started(&self, _path: &Path, _bytes: u64) {}
    /// `bytes` of the current file (as stored, possibly compressed) have been read.
    fn advanced(&self, _bytes: u64) {}
    /// A file is done (or skipped).
    fn file_finished(&self, _file: &FileReport) {}
}

/// Progress that goes nowhere.
pub struct NoProgress;
impl IngestProgress for NoProgress {}

/// What happened to one input file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    pub fingerprint: String,
    pub bytes: u64,
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_rejected: u64,
    /// Why the file was not read, when it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// What an ingest did.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    pub ingest_id: String,
    pub files: Vec<FileReport>,
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_rejected: u64,
    /// The new version of the target table (`retail` by default), when something was
    /// committed. The name is kept for the JSON output's stability.
    pub retail_version: Option<u64>,
    /// The new version of the quarantine table, when rows were quarantined.
    pub rejected_version: Option<u64>,
}

/// A file to read and what to do with its rejected rows.
struct PlannedFile {
    path: PathBuf,
    fingerprint: String,
    bytes: u64,
    /// The rejected rows of this content are already in `retail_rejected` (from a
    /// run that died between its two commits): count them, do not write them again.
    rejected_already_stored: bool,
}

enum Message {
    Rows(RecordBatch),
    Rejected(RecordBatch),
    FileDone(FileReport),
}

/// Ingests CSV inputs (paths, directories or globs) into the warehouse.
pub async fn ingest(
    warehouse: &Warehouse,
    inputs: &[String],
    options: &IngestOptions,
    progress: Arc<dyn IngestProgress>,
) -> Result<IngestReport> {
    let table = options
        .table
        .as_deref()
        .unwrap_or(options.dataset.default_table());
    let rejected_table = format!("{table}_rejected");
    if table.is_empty() || !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(LgsError::InvalidArgument {
            what: "table name",
            message: format!("{table:?}: use letters, digits and underscores"),
        });
    }
    let paths = source::expand_inputs(inputs)?;
    if let Dataset::Wdi {
        indicator: Some(code),
        ..
    } = &options.dataset
        && paths.len() > 1
    {
        return Err(LgsError::InvalidArgument {
            what: "--indicator",
            message: format!(
                "--indicator {code} names the indicator of one file, but {} files were given: \
                 ingest single-indicator files one at a time",
                paths.len()
            ),
        });
    }
    warehouse.ensure_writable()?;
    let ingest_id = uuid::Uuid::new_v4().to_string();

    let loaded = fingerprints_in(&warehouse.commit_facts(table).await?);
    let quarantined = fingerprints_in(&warehouse.commit_facts(&rejected_table).await?);

    let mut files = Vec::new();
    let mut plan = Vec::new();
    let mut seen = HashSet::new();
    for path in paths {
        let fingerprint = source::fingerprint(&path)?;
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let skipped = if !seen.insert(fingerprint.clone()) {
            Some("same content as another input of this run".to_string())
        } else if let (Some(version), false) = (loaded.get(&fingerprint), options.force) {
            Some(format!(
                "already ingested (same content) in {table} version {version}; use --force to load it again"
            ))
        } else {
            None
        };
        if let Some(reason) = skipped {
            let report = FileReport {
                path: path.display().to_string(),
                fingerprint,
                bytes,
                rows_read: 0,
                rows_loaded: 0,
                rows_rejected: 0,
                skipped: Some(reason),
            };
            progress.file_finished(&report);
            files.push(report);
            continue;
        }
        plan.push(PlannedFile {
            rejected_already_stored: quarantined.contains_key(&fingerprint) && !options.force,
            path,
            fingerprint,
            bytes,
        });
    }

    let mut report = IngestReport {
        ingest_id: ingest_id.clone(),
        files,
        rows_read: 0,
        rows_loaded: 0,
        rows_rejected: 0,
        retail_version: None,
        rejected_version: None,
    };
    if plan.is_empty() {
        return Ok(report);
    }

    let mut data = TableWriter::new(
        warehouse,
        table,
        options.dataset.schema(),
        options.dataset.partition_columns(),
    );
    let mut rejected = TableWriter::new(warehouse, &rejected_table, rejected_schema(), vec![]);
    let outcome = run_pipeline(
        plan,
        options,
        &ingest_id,
        progress,
        &mut data,
        &mut rejected,
    )
    .await;
    let (read, first_rejection) = match outcome {
        Ok(v) => v,
        Err(e) => {
            data.abort();
            rejected.abort();
            return Err(e);
        }
    };
    for file in &read {
        report.rows_read += file.rows_read;
        report.rows_loaded += file.rows_loaded;
        report.rows_rejected += file.rows_rejected;
    }
    if options.strict && report.rows_rejected > 0 {
        data.abort();
        rejected.abort();
        return Err(LgsError::StrictRejected {
            rejected: report.rows_rejected,
            first: first_rejection.unwrap_or_default(),
        });
    }

    let sources: Vec<_> = read.iter().map(|f| json!(f)).collect();
    if rejected.rows > 0 {
        let facts = json!({
            "ingest_id": ingest_id,
            "sources": sources,
            "rows_written": rejected.rows,
        });
        report.rejected_version = Some(rejected.commit(facts).await?);
    }
    let facts = json!({
        "ingest_id": ingest_id,
        "sources": sources,
        "rows_read": report.rows_read,
        "rows_loaded": report.rows_loaded,
        "rows_rejected": report.rows_rejected,
        "rows_written": report.rows_loaded,
    });
    report.retail_version = Some(data.commit(facts).await?);
    report.files.extend(read);
    Ok(report)
}

/// Fingerprint → version of the commit that recorded it.
fn fingerprints_in(facts: &[(u64, serde_json::Value)]) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for (version, fact) in facts {
        let sources = fact.get("sources").and_then(|s| s.as_array());
        for source in sources.into_iter().flatten() {
            if let Some(fp) = source.get("fingerprint").and_then(|f| f.as_str()) {
                out.entry(fp.to_string()).or_insert(*version);
            }
        }
    }
    out
}

/// Streams batches from the parser thread into the two table writers.
async fn run_pipeline(
    plan: Vec<PlannedFile>,
    options: &IngestOptions,
    ingest_id: &str,
    progress: Arc<dyn IngestProgress>,
    data: &mut TableWriter<'_>,
    rejected: &mut TableWriter<'_>,
) -> Result<(Vec<FileReport>, Option<String>)> {
    let (tx, mut rx) = mpsc::channel::<Message>(4);
    let batch_rows = options.batch_rows.max(1);
    let strict = options.strict;
    let dataset = options.dataset.clone();
    let ingest_id = ingest_id.to_string();
    let worker = tokio::task::spawn_blocking(move || {
        let mut first_rejection = None;
        for file in &plan {
            // Under --strict a rejected row fails the ingest: keep none.
            let store_rejected = !strict && !file.rejected_already_stored;
            let worker = Worker {
                batch_rows,
                ingest_id: &ingest_id,
                tx: &tx,
                progress: progress.as_ref(),
            };
            worker.parse_file(
                file,
                dataset.new_format(),
                store_rejected,
                &mut first_rejection,
            )?;
        }
        Ok::<_, LgsError>(first_rejection)
    });
    let mut reports = Vec::new();
    let mut write_error = None;
    while let Some(message) = rx.recv().await {
        let result = match message {
            Message::Rows(batch) => data.write(batch).await,
            Message::Rejected(batch) => rejected.write(batch).await,
            Message::FileDone(report) => {
                reports.push(report);
                Ok(())
            }
        };
        if let Err(e) = result {
            write_error = Some(e);
            break;
        }
    }
    drop(rx);
    let parsed = worker.await.map_err(|e| LgsError::Worker(e.to_string()))?;
    if let Some(e) = write_error {
        return Err(e);
    }
    let first_rejection = parsed?;
    Ok((reports, first_rejection))
}

/// What the parsing thread works with.
struct Worker<'a> {
    batch_rows: usize,
    ingest_id: &'a str,
    tx: &'a mpsc::Sender<Message>,
    progress: &'a dyn IngestProgress,
}

impl Worker<'_> {
    /// Parses one file on the worker thread, sending batches as they fill.
    fn parse_file(
        &self,
        file: &PlannedFile,
        mut rows: Box<dyn format::RowFormat>,
        store_rejected: bool,
        first_rejection: &mut Option<String>,
    ) -> Result<()> {
        let (batch_rows, ingest_id, tx, progress) =
            (self.batch_rows, self.ingest_id, self.tx, self.progress);
        let path = &file.path;
        let shown = path.display().to_string();
        let read_err = |source| LgsError::Read {
            path: path.clone(),
            source,
        };
        let send = |m: Message| {
            tx.blocking_send(m)
                .map_err(|_| LgsError::Worker("the warehouse writer stopped".into()))
        };
        progress.file_started(path, file.bytes);
        let counter = Arc::new(AtomicU64::new(0));
        let mut reader = RecordReader::new(source::open_decoded(path, counter.clone())?);
        let mut record = RawRecord::default();
        let mut fields = Fields::default();

        if !reader.read_record(&mut record).map_err(read_err)? {
            return Err(LgsError::EmptyInput { path: path.clone() });
        }
        let header = String::from_utf8_lossy(&record.bytes).into_owned();
        fields.split(&header);
        let names: Vec<&str> = (0..fields.len()).map(|i| fields.get(i)).collect();
        rows.header(&names).map_err(|message| LgsError::BadHeader {
            path: path.clone(),
            line: record.line,
            message,
        })?;
        let width = names.len();

        let mut rejects = RejectedBuilder::default();
        let mut report = FileReport {
            path: shown.clone(),
            fingerprint: file.fingerprint.clone(),
            bytes: file.bytes,
            rows_read: 0,
            rows_loaded: 0,
            rows_rejected: 0,
            skipped: None,
        };
        while reader.read_record(&mut record).map_err(read_err)? {
            report.rows_read += 1;
            let outcome = if !record.quotes_balanced {
                Err("unterminated quoted field (the file ends inside quotes)".to_string())
            } else {
                match std::str::from_utf8(&record.bytes) {
                    Err(e) => Err(format!("invalid UTF-8 at byte {}", e.valid_up_to() + 1)),
                    Ok(text) => {
                        fields.split(text);
                        if fields.len() != width {
                            Err(format!("expected {width} fields, found {}", fields.len()))
                        } else {
                            rows.push(&fields)
                        }
                    }
                }
            };
            match outcome {
                Ok(()) => {
                    report.rows_loaded += 1;
                    if rows.buffered() >= batch_rows {
                        send(Message::Rows(rows.finish()))?;
                    }
                }
                Err(reason) => {
                    report.rows_rejected += 1;
                    if first_rejection.is_none() {
                        *first_rejection = Some(format!("{shown}:{}: {reason}", record.line));
                    }
                    if store_rejected {
                        rejects.push(&shown, record.line, &record.bytes, &reason, ingest_id);
                        if rejects.len() >= batch_rows {
                            send(Message::Rejected(rejects.finish()))?;
                        }
                    }
                }
            }
            if report.rows_read.is_multiple_of(16_384) {
                progress.advanced(counter.load(Ordering::Relaxed));
            }
        }
        if rows.buffered() > 0 {
            send(Message::Rows(rows.finish()))?;
        }
        if !rejects.is_empty() {
            send(Message::Rejected(rejects.finish()))?;
        }
        progress.advanced(counter.load(Ordering::Relaxed));
        progress.file_finished(&report);
        send(Message::FileDone(report))
    }
}

/// Streams batches of one table to Parquet files, to be committed at the end. The
/// table directory is touched only when the first batch arrives.
struct TableWriter<'a> {
    warehouse: &'a Warehouse,
    name: String,
    schema: SchemaRef,
    partitions: Vec<String>,
    writer: Option<RecordBatchWriter>,
    rows: u64,
}

impl<'a> TableWriter<'a> {
    fn new(
        warehouse: &'a Warehouse,
        name: &str,
        schema: SchemaRef,
        partitions: Vec<String>,
    ) -> Self {
        TableWriter {
            warehouse,
            name: name.to_string(),
            schema,
            partitions,
            writer: None,
            rows: 0,
        }
    }

    fn open(&self) -> Result<RecordBatchWriter> {
        let url = self.warehouse.prepare_table_dir(&self.name)?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(128 * 1024))
            .build();
        Ok(RecordBatchWriter::try_new(
            url.as_str(),
            self.schema.clone(),
            Some(self.partitions.clone()),
            None,
        )
        .map_err(|e| LgsError::delta(&self.name, e))?
        .with_writer_properties(properties)
        .with_target_file_size(256 * 1024 * 1024))
    }

    async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        if self.writer.is_none() {
            self.writer = Some(self.open()?);
        }
        let writer = self.writer.as_mut().expect("opened above");
        self.rows += batch.num_rows() as u64;
        writer
            .write(batch)
            .await
            .map_err(|e| LgsError::delta(&self.name, e))
    }

    fn abort(&mut self) {
        if let Some(w) = self.writer.as_mut() {
            w.reset();
        }
    }

    async fn commit(&mut self, facts: serde_json::Value) -> Result<u64> {
        let adds = match self.writer.as_mut() {
            Some(w) => w
                .flush()
                .await
                .map_err(|e| LgsError::delta(&self.name, e))?,
            None => vec![],
        };
        self.warehouse
            .commit(&self.name, &self.schema, &self.partitions, adds, facts)
            .await
    }
}
