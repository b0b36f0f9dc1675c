//! Ingest: LGS transactions or World Development Indicators into a Delta table
//! (`retail`, `wdi`; see [`Dataset`]) from every place the data lives: CSV files
//! (plain, gzip or zstd), plain `pg_dump` output, Excel workbooks, Parquet files and
//! directories, and a live PostgreSQL table or query. Every source becomes the same
//! text records ([`records::RecordSource`]) and goes through the same validation.
//! A message broker's stream is loaded the same way, batch by batch ([`stream`]),
//! and a directory of drops round by round ([`watch`]).
//!
//! Guarantees:
//! - **Nothing is lost.** Every data row of every input is either loaded into the
//!   table or quarantined in `<table>_rejected` with its source, line, raw text and
//!   reason; the report accounts for it: rows read = rows loaded + rows quarantined.
//!   An input that is malformed as a whole (a truncated dump, a corrupt workbook, a
//!   server that refuses) fails the ingest and nothing is committed.
//! - **One commit per ingest.** Files are written first and published by a single Delta
//!   commit; a failure or a kill before it leaves the table as it was. (Quarantined
//!   rows are committed to `<table>_rejected` just before; if a run dies between the
//!   two commits, the re-run loads the data and does not quarantine the same rows
//!   twice.) `WriteMode::Overwrite` replaces the table's contents in that one commit.
//! - **Incremental.** Each file's content fingerprint is recorded in the commit; a file
//!   already loaded (since the table was last overwritten) is skipped unless `force`
//!   is set, so `lgs ingest DIR` on a daily drop loads only the new files. Every run's
//!   sources are also listed in the `ingest_log` table (see [`log`]).
//! - **Bounded memory.** Inputs are parsed as streams, in batches, on worker threads
//!   while the previous batches are encoded to Parquet. A CSV text is cut into
//!   chunks of whole records that several threads parse side by side, its rows kept
//!   in the file's order and their line numbers exact, with a few
//!   chunks in memory at a time. A live PostgreSQL read runs one worker per
//!   partition.

pub mod batch;
mod chunks;
pub mod columnar;
pub mod csv;
pub mod dry;
pub mod dump;
pub mod excel;
pub mod files;
mod forget;
pub mod format;
#[doc(hidden)]
pub mod insert_values;
pub mod location;
pub mod log;
pub mod parse;
mod pipeline;
pub mod postgres;
pub mod records;
pub mod sources;
pub mod stream;
pub mod watch;
pub mod wdi;

pub use format::Dataset;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use crate::facts::{CommitFacts, SourceFacts};
use datafusion::arrow::array::RecordBatch;
use serde::Serialize;

use crate::error::{LgsError, Result};
use crate::schema::rejected_schema;
use crate::warehouse::Warehouse;
use crate::write::TableWriter;
use pipeline::run_pipeline;
use sources::{Input, Plan, Source, Target};

pub use crate::facts::WriteMode;
pub use files::Files;
pub use postgres::Postgres;

/// How an ingest behaves.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Fail the whole ingest (write nothing) if any row cannot be parsed.
    pub strict: bool,
    /// Load files even if the same content was ingested before.
    pub force: bool,
    /// Rows per Arrow batch handed to the Parquet writer.
    pub batch_rows: usize,
    /// Threads that parse one CSV input side by side, chunk by chunk (default: from
    /// four runtime workers on, the workers less two, shared among the inputs read
    /// at once; below that, and with 1, record by record).
    pub parse_threads: Option<usize>,
    /// Bytes of CSV text per chunk a parsing thread takes (default 8 MiB).
    pub chunk_bytes: usize,
    /// Target table (default: the dataset's); rejected rows go to `<table>_rejected`.
    /// `schema.table` names the table a PostgreSQL source reads (unless
    /// [`Postgres::table`] does); the warehouse table takes its last part.
    pub table: Option<String>,
    /// What the inputs hold.
    pub dataset: Dataset,
    /// Append to the table or replace it.
    pub mode: WriteMode,
    /// The sources that read the inputs, each with its options ([`sources::all`]
    /// by default; see [`IngestOptions::with`]).
    pub sources: Vec<Arc<dyn Source>>,
    /// The key of the forget list's pseudonyms: needed once customers were
    /// forgotten, so that their rows are dropped (see [`crate::warehouse::ForgetRequest`]).
    pub pseudonym_key: Option<Arc<[u8]>>,
}

impl IngestOptions {
    /// The warehouse table the ingest writes: the last part of [`IngestOptions::table`]
    /// (`public.retail` writes `retail`), or the dataset's default.
    pub fn target_table(&self) -> &str {
        match self.table.as_deref() {
            Some(t) => t.rsplit('.').next().unwrap_or(t),
            None => self.dataset.default_table(),
        }
    }

    /// These options with `source` in place of the source of the same name (a
    /// source with its own options: `Files::sheets(...)`, `Postgres { .. }`).
    pub fn with(mut self, source: impl Source + 'static) -> Self {
        let source: Arc<dyn Source> = Arc::new(source);
        match self.sources.iter().position(|s| s.name() == source.name()) {
            Some(i) => self.sources[i] = source,
            None => self.sources.push(source),
        }
        self
    }
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            strict: false,
            force: false,
            batch_rows: 64 * 1024,
            parse_threads: None,
            chunk_bytes: 8 << 20,
            table: None,
            dataset: Dataset::Retail,
            mode: WriteMode::Append,
            sources: sources::all(),
            pseudonym_key: None,
        }
    }
}

/// Receives progress while inputs are read (for a progress bar).
pub trait IngestProgress: Send + Sync {
    /// An input is about to be read; `bytes` is its size on disk (0 when unknown).
    fn file_started(&self, _path: &Path, _bytes: u64) {}
    /// `bytes` of the current file (as stored, possibly compressed) have been read.
    fn advanced(&self, _bytes: u64) {}
    /// An input is done (or skipped).
    fn file_finished(&self, _file: &FileReport) {}
}

/// Progress that goes nowhere.
pub struct NoProgress;
impl IngestProgress for NoProgress {}

/// What happened to one input (a file, or one partition of a PostgreSQL read).
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    /// Content fingerprint of a file (empty for a live source).
    pub fingerprint: String,
    pub bytes: u64,
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_rejected: u64,
    /// Rows of forgotten customers dropped (see [`crate::warehouse::ForgetRequest`]).
    #[serde(skip_serializing_if = "is_zero")]
    pub rows_forgotten: u64,
    /// Why the file was not read, when it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// What an ingest did.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    pub ingest_id: String,
    pub mode: WriteMode,
    pub files: Vec<FileReport>,
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_rejected: u64,
    /// Rows of forgotten customers dropped: rows read = loaded + rejected + forgotten.
    #[serde(skip_serializing_if = "is_zero")]
    pub rows_forgotten: u64,
    /// The new version of the target table (`retail` by default), when something was
    /// committed. The name is kept for the JSON output's stability.
    pub retail_version: Option<u64>,
    /// The new version of the quarantine table, when rows were quarantined.
    pub rejected_version: Option<u64>,
}
/// An input to read and what to do with its rejected rows.
struct PlannedInput {
    input: Box<dyn Input>,
    /// The rejected rows of this content are already in `<table>_rejected` (from a
    /// run that died between its two commits): count them, do not write them again.
    rejected_already_stored: bool,
}

enum Message {
    Rows(RecordBatch),
    Rejected(RecordBatch),
    FileDone(FileReport),
}

/// Ingests inputs (paths, directories, globs, object-store locations, `postgres://`
/// URLs) into the warehouse.
///
/// Concurrent runs on one table load each content once: a run whose commit finds
/// that another run committed some of its content in the meantime commits nothing,
/// and starts again (see [`crate::write::retrying_races`]), now skipping that content.
pub async fn ingest(
    warehouse: &Warehouse,
    inputs: &[String],
    options: &IngestOptions,
    progress: Arc<dyn IngestProgress>,
) -> Result<IngestReport> {
    check_table_name(options.target_table())?;
    let mut first_seen = None;
    let report = crate::write::retrying_races(async || {
        ingest_once(
            warehouse,
            inputs,
            options,
            progress.clone(),
            &mut first_seen,
        )
        .await
    })
    .await?;
    if options.target_table() == crate::schema::RETAIL_TABLE {
        crate::live::follow(warehouse).await;
    }
    Ok(report)
}

/// One attempt of [`ingest`]. `first_seen` is the table's version when the first
/// attempt started (set by it): content loaded after it was loaded by a concurrent run.
async fn ingest_once(
    warehouse: &Warehouse,
    inputs: &[String],
    options: &IngestOptions,
    progress: Arc<dyn IngestProgress>,
    first_seen: &mut Option<Option<u64>>,
) -> Result<IngestReport> {
    let table = options.target_table();
    let rejected_table = format!("{table}_rejected");
    let plans = plan_sources(inputs, options).await?;
    check_indicator(options, plans.iter().map(|p| p.inputs).sum())?;
    warehouse.ensure_writable().await?;
    let ingest_id = uuid::Uuid::new_v4().to_string();

    let mut holds = Vec::new();
    let mut planned = Vec::new();
    for plan in plans {
        planned.extend(plan.lanes);
        holds.extend(plan.hold);
    }
    let (lanes, skipped, [data_version, rejected_version]) =
        skip_known(warehouse, options, planned, first_seen).await?;
    for report in &skipped {
        progress.file_finished(report);
    }
    let mut report = IngestReport {
        ingest_id: ingest_id.clone(),
        mode: options.mode,
        files: skipped,
        rows_read: 0,
        rows_loaded: 0,
        rows_rejected: 0,
        rows_forgotten: 0,
        retail_version: None,
        rejected_version: None,
    };
    if lanes.is_empty() {
        return Ok(report);
    }

    let mut data = TableWriter::new(
        warehouse,
        table,
        options.dataset.schema(),
        options.dataset.partition_columns(),
    )
    .decided_at(data_version);
    let mut rejected = TableWriter::new(warehouse, &rejected_table, rejected_schema(), vec![])
        .decided_at(rejected_version);
    let forget = forget::Filter::load(warehouse, options.pseudonym_key.as_ref())
        .await?
        .map(Arc::new);
    let outcome = run_pipeline(
        lanes,
        options,
        forget,
        &ingest_id,
        progress,
        &mut data,
        &mut rejected,
    )
    .await;
    drop(holds);
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
        report.rows_forgotten += file.rows_forgotten;
    }
    if options.strict && report.rows_rejected > 0 {
        data.abort();
        rejected.abort();
        return Err(LgsError::StrictRejected {
            rejected: report.rows_rejected,
            first: first_rejection.unwrap_or_default(),
        });
    }
    commit(
        warehouse,
        options,
        &mut data,
        &mut rejected,
        &read,
        &mut report,
    )
    .await?;
    report.files.extend(read);
    log::record(warehouse, table).await?;
    Ok(report)
}

/// The inputs without the content the table already holds (see [`skip_loaded`]),
/// what was skipped, and the versions of the table and its quarantine this was
/// decided from (read before their commits: a commit in between is checked again
/// when this run commits).
#[allow(clippy::type_complexity)]
async fn skip_known(
    warehouse: &Warehouse,
    options: &IngestOptions,
    planned: Vec<Vec<Box<dyn Input>>>,
    first_seen: &mut Option<Option<u64>>,
) -> Result<(Vec<Vec<PlannedInput>>, Vec<FileReport>, [Option<u64>; 2])> {
    let table = options.target_table();
    let rejected_table = format!("{table}_rejected");
    let data_version = warehouse.version_of(table).await?;
    let rejected_version = warehouse.version_of(&rejected_table).await?;
    let seen = Seen {
        table,
        first: *first_seen.get_or_insert(data_version),
    };
    // An overwrite replaces what was loaded: only a repeat within the run is skipped.
    let (loaded, quarantined) = if options.mode == WriteMode::Overwrite {
        (HashMap::new(), HashMap::new())
    } else {
        (
            fingerprints_in(&warehouse.commit_facts(table).await?),
            fingerprints_in(&warehouse.commit_facts(&rejected_table).await?),
        )
    };
    let (lanes, skipped) = skip_loaded(planned, &seen, options.force, &loaded, &quarantined);
    Ok((lanes, skipped, [data_version, rejected_version]))
}

fn check_table_name(table: &str) -> Result<()> {
    if table.is_empty() || !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(LgsError::InvalidArgument {
            what: "table name",
            message: format!("{table:?}: use letters, digits and underscores"),
        });
    }
    Ok(())
}

/// Gives each input to the first source that claims it, and plans each source's.
async fn plan_sources(inputs: &[String], options: &IngestOptions) -> Result<Vec<Plan>> {
    let mut claimed: Vec<Vec<String>> = vec![vec![]; options.sources.len()];
    for input in inputs {
        match options.sources.iter().position(|s| s.claims(input)) {
            Some(i) => claimed[i].push(input.clone()),
            None => {
                return Err(LgsError::InvalidArgument {
                    what: "input",
                    message: format!("{input}: no source reads this kind of input"),
                });
            }
        }
    }
    let target = Target {
        named: options.table.as_deref(),
        table: options.target_table(),
        dataset: &options.dataset,
    };
    let mut plans = Vec::new();
    for (source, inputs) in options.sources.iter().zip(claimed) {
        if !inputs.is_empty() {
            plans.push(source.plan(inputs, &target).await?);
        }
    }
    Ok(plans)
}

/// `--indicator` names the indicator of one file.
fn check_indicator(options: &IngestOptions, inputs: usize) -> Result<()> {
    if let Dataset::Wdi {
        indicator: Some(code),
        ..
    } = &options.dataset
        && inputs > 1
    {
        return Err(LgsError::InvalidArgument {
            what: "--indicator",
            message: format!(
                "--indicator {code} names the indicator of one file, but {inputs} inputs were given: \
                 ingest single-indicator files one at a time"
            ),
        });
    }
    Ok(())
}

/// Drops the inputs whose content is already in the table (unless `force`) or
/// appears twice in this run, reporting each as skipped; marks those whose rejected
/// rows are already quarantined.
/// The table an ingest writes, and its version when the ingest first started.
struct Seen<'a> {
    table: &'a str,
    first: Option<u64>,
}

impl Seen<'_> {
    /// Why content loaded at `version` is skipped.
    fn loaded_at(&self, version: u64) -> String {
        let table = self.table;
        if self.first.is_none_or(|first| version > first) {
            format!(
                "loaded by a concurrent run (same content) in {table} version {version}; \
                 use --force to load it again"
            )
        } else {
            format!(
                "already ingested (same content) in {table} version {version}; \
                 use --force to load it again"
            )
        }
    }
}

fn skip_loaded(
    planned: Vec<Vec<Box<dyn Input>>>,
    ingest: &Seen<'_>,
    force: bool,
    loaded: &HashMap<String, u64>,
    quarantined: &HashMap<String, u64>,
) -> (Vec<Vec<PlannedInput>>, Vec<FileReport>) {
    let mut seen = HashSet::new();
    let mut skipped = Vec::new();
    let mut lanes = Vec::new();
    for lane in planned {
        let mut kept = Vec::new();
        for input in lane {
            let fingerprint = input.fingerprint().to_string();
            let reason = if fingerprint.is_empty() {
                None
            } else if !seen.insert(fingerprint.clone()) {
                Some("same content as another input of this run".to_string())
            } else if let (Some(version), false) = (loaded.get(&fingerprint), force) {
                Some(ingest.loaded_at(*version))
            } else {
                None
            };
            match reason {
                Some(reason) => skipped.push(FileReport {
                    path: input.shown(),
                    bytes: input.bytes(),
                    fingerprint,
                    rows_read: 0,
                    rows_loaded: 0,
                    rows_rejected: 0,
                    rows_forgotten: 0,
                    skipped: Some(reason),
                }),
                None => kept.push(PlannedInput {
                    rejected_already_stored: !force && quarantined.contains_key(&fingerprint),
                    input,
                }),
            }
        }
        if !kept.is_empty() {
            lanes.push(kept);
        }
    }
    (lanes, skipped)
}

/// Commits the quarantined rows, then the rows, each with the run's facts.
async fn commit(
    warehouse: &Warehouse,
    options: &IngestOptions,
    data: &mut TableWriter<'_>,
    rejected: &mut TableWriter<'_>,
    read: &[FileReport],
    report: &mut IngestReport,
) -> Result<()> {
    let overwrite = options.mode == WriteMode::Overwrite;
    let sources: Vec<SourceFacts> = read.iter().map(SourceFacts::from).collect();
    // An overwrite also replaces the quarantine of the data it replaces.
    let replace_rejected = overwrite && warehouse.open(rejected.table()).await?.is_some();
    if rejected.rows() > 0 || replace_rejected {
        let facts = CommitFacts {
            ingest_id: Some(report.ingest_id.clone()),
            mode: Some(options.mode),
            sources: sources.clone(),
            rows_written: rejected.rows(),
            ..CommitFacts::default()
        };
        report.rejected_version = Some(rejected.commit(&facts, overwrite).await?);
    }
    let facts = CommitFacts {
        ingest_id: Some(report.ingest_id.clone()),
        mode: Some(options.mode),
        sources,
        rows_read: Some(report.rows_read),
        rows_loaded: Some(report.rows_loaded),
        rows_rejected: Some(report.rows_rejected),
        rows_forgotten: (report.rows_forgotten > 0).then_some(report.rows_forgotten),
        rows_written: report.rows_loaded,
        ..CommitFacts::default()
    };
    report.retail_version = Some(data.commit(&facts, overwrite).await?);
    Ok(())
}

/// Fingerprint → version of the commit that loaded it, over the commits since the
/// table was last overwritten (`facts` in version order).
fn fingerprints_in(facts: &[(u64, CommitFacts)]) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for (version, fact) in facts {
        if fact.overwrote() {
            out.clear();
        }
        for source in fact.sources.iter().filter(|s| !s.fingerprint.is_empty()) {
            out.entry(source.fingerprint.clone()).or_insert(*version);
        }
    }
    out
}

impl From<&FileReport> for SourceFacts {
    fn from(f: &FileReport) -> SourceFacts {
        SourceFacts {
            path: f.path.clone(),
            fingerprint: f.fingerprint.clone(),
            bytes: f.bytes,
            rows_read: f.rows_read,
            rows_loaded: f.rows_loaded,
            rows_rejected: f.rows_rejected,
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
