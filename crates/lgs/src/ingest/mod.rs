//! Ingest: LGS transactions or World Development Indicators into a Delta table
//! (`retail`, `wdi`; see [`Dataset`]) from every place the data lives: CSV files
//! (plain, gzip or zstd), plain `pg_dump` output, Excel workbooks, Parquet files and
//! directories, and a live PostgreSQL table or query. Every source becomes the same
//! text records ([`records::RecordSource`]) and goes through the same validation.
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
//!   while the previous batches are encoded to Parquet. A live PostgreSQL read runs
//!   one worker per partition.

pub mod batch;
pub mod columnar;
pub mod csv;
pub mod dump;
pub mod excel;
pub mod format;
mod insert_values;
pub mod log;
pub mod parse;
mod pipeline;
pub mod postgres;
pub mod records;
pub mod source;
pub mod wdi;

pub use format::Dataset;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use crate::facts::{CommitFacts, SourceFacts};
use datafusion::arrow::array::RecordBatch;
use serde::Serialize;

use crate::error::{LgsError, Result};
use crate::pg::is_postgres_url;
use crate::schema::rejected_schema;
use crate::warehouse::Warehouse;
use crate::write::TableWriter;
use pipeline::run_pipeline;
use postgres::{PgPart, PgRead};
use records::FileKind;
use source::InputFile;

pub use crate::facts::WriteMode;

/// How a live PostgreSQL source is read.
#[derive(Debug, Clone, Default)]
pub struct PgOptions {
    /// The table to read (default: the target table's name).
    pub table: Option<String>,
    /// A query to read instead of a table.
    pub query: Option<String>,
    /// Parallel partitions (connections); 0 picks [`PgOptions::DEFAULT_PARTITIONS`].
    pub partitions: usize,
    /// The date column the partitions split (default: the first timestamp column).
    pub partition_column: Option<String>,
}

impl PgOptions {
    /// Partitions of a PostgreSQL read when none are asked for.
    pub const DEFAULT_PARTITIONS: usize = 4;
}

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
    /// `schema.table` names the table a PostgreSQL source reads (unless
    /// [`PgOptions::table`] does); the warehouse table takes its last part.
    pub table: Option<String>,
    /// What the inputs hold.
    pub dataset: Dataset,
    /// Append to the table or replace it.
    pub mode: WriteMode,
    /// Sheets to read from Excel workbooks (default: all).
    pub sheets: Option<Vec<String>>,
    /// Live PostgreSQL sources.
    pub postgres: PgOptions,
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
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            strict: false,
            force: false,
            batch_rows: 64 * 1024,
            table: None,
            dataset: Dataset::Retail,
            mode: WriteMode::Append,
            sheets: None,
            postgres: PgOptions::default(),
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
    /// The new version of the target table (`retail` by default), when something was
    /// committed. The name is kept for the JSON output's stability.
    pub retail_version: Option<u64>,
    /// The new version of the quarantine table, when rows were quarantined.
    pub rejected_version: Option<u64>,
}
/// Where an input's records come from.
enum InputSource {
    File {
        file: InputFile,
        kind: FileKind,
    },
    Postgres {
        part: Box<PgPart>,
        columns: Vec<String>,
    },
}

/// An input to read and what to do with its rejected rows.
struct PlannedInput {
    source: InputSource,
    fingerprint: String,
    bytes: u64,
    /// The rejected rows of this content are already in `<table>_rejected` (from a
    /// run that died between its two commits): count them, do not write them again.
    rejected_already_stored: bool,
}

impl PlannedInput {
    fn shown(&self) -> String {
        match &self.source {
            InputSource::File { file, .. } => file.shown(),
            InputSource::Postgres { part, .. } => part.name.clone(),
        }
    }
}

enum Message {
    Rows(RecordBatch),
    Rejected(RecordBatch),
    FileDone(FileReport),
}

/// Ingests inputs (paths, directories, globs, `postgres://` URLs) into the warehouse.
pub async fn ingest(
    warehouse: &Warehouse,
    inputs: &[String],
    options: &IngestOptions,
    progress: Arc<dyn IngestProgress>,
) -> Result<IngestReport> {
    let table = options.target_table();
    let rejected_table = format!("{table}_rejected");
    if table.is_empty() || !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(LgsError::InvalidArgument {
            what: "table name",
            message: format!("{table:?}: use letters, digits and underscores"),
        });
    }
    let (urls, files): (Vec<String>, Vec<String>) =
        inputs.iter().cloned().partition(|i| is_postgres_url(i));
    let paths = if files.is_empty() {
        vec![]
    } else {
        source::expand(&files).await?
    };
    if let Dataset::Wdi {
        indicator: Some(code),
        ..
    } = &options.dataset
        && paths.len() + urls.len() > 1
    {
        return Err(LgsError::InvalidArgument {
            what: "--indicator",
            message: format!(
                "--indicator {code} names the indicator of one file, but {} inputs were given: \
                 ingest single-indicator files one at a time",
                paths.len() + urls.len()
            ),
        });
    }
    warehouse.ensure_writable().await?;
    let ingest_id = uuid::Uuid::new_v4().to_string();
    let overwrite = options.mode == WriteMode::Overwrite;

    let loaded = if overwrite {
        HashMap::new()
    } else {
        fingerprints_in(&warehouse.commit_facts(table).await?)
    };
    let quarantined = if overwrite {
        HashMap::new()
    } else {
        fingerprints_in(&warehouse.commit_facts(&rejected_table).await?)
    };

    let mut files = Vec::new();
    let mut file_lane = Vec::new();
    let mut seen = HashSet::new();
    for file in paths {
        let kind = FileKind::detect(&file.file_name(), &file.head(FileKind::HEAD).await?);
        let mut fingerprint = file.fingerprint().await?;
        if let (FileKind::Xlsx, Some(sheets)) = (kind, &options.sheets) {
            // Loading some sheets of a workbook does not load the others.
            fingerprint = format!("{fingerprint}#{}", sheets.join("#"));
        }
        let bytes = file.size();
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
                path: file.shown(),
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
        file_lane.push(PlannedInput {
            rejected_already_stored: quarantined.contains_key(&fingerprint) && !options.force,
            source: InputSource::File { file, kind },
            fingerprint,
            bytes,
        });
    }

    // Live sources: each partition is a lane of its own, read in parallel. The plans
    // hold their snapshots open until the reads are done.
    let mut lanes = vec![];
    if !file_lane.is_empty() {
        lanes.push(file_lane);
    }
    let mut pg_plans = Vec::new();
    for url in &urls {
        let read = match &options.postgres.query {
            Some(q) => PgRead::Query(q.clone()),
            None => PgRead::Table(
                options
                    .postgres
                    .table
                    .clone()
                    .or_else(|| options.table.clone())
                    .unwrap_or_else(|| table.to_string()),
            ),
        };
        let partitions = match options.postgres.partitions {
            0 => PgOptions::DEFAULT_PARTITIONS,
            n => n,
        };
        let plan = postgres::plan(
            url,
            &read,
            partitions,
            options.postgres.partition_column.as_deref(),
        )
        .await?;
        for part in &plan.parts {
            lanes.push(vec![PlannedInput {
                source: InputSource::Postgres {
                    part: Box::new(part.clone()),
                    columns: plan.columns.clone(),
                },
                fingerprint: String::new(),
                bytes: 0,
                rejected_already_stored: false,
            }]);
        }
        pg_plans.push(plan);
    }

    let mut report = IngestReport {
        ingest_id: ingest_id.clone(),
        mode: options.mode,
        files,
        rows_read: 0,
        rows_loaded: 0,
        rows_rejected: 0,
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
    );
    let mut rejected = TableWriter::new(warehouse, &rejected_table, rejected_schema(), vec![]);
    let outcome = run_pipeline(
        lanes,
        options,
        &ingest_id,
        progress,
        &mut data,
        &mut rejected,
    )
    .await;
    drop(pg_plans);
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

    let sources: Vec<SourceFacts> = read.iter().map(SourceFacts::from).collect();
    // An overwrite also replaces the quarantine of the data it replaces.
    let replace_rejected = overwrite && warehouse.open(&rejected_table).await?.is_some();
    if rejected.rows() > 0 || replace_rejected {
        let facts = CommitFacts {
            ingest_id: Some(ingest_id.clone()),
            mode: Some(options.mode),
            sources: sources.clone(),
            rows_written: rejected.rows(),
            ..CommitFacts::default()
        };
        report.rejected_version = Some(rejected.commit(&facts, overwrite).await?);
    }
    let facts = CommitFacts {
        ingest_id: Some(ingest_id.clone()),
        mode: Some(options.mode),
        sources,
        rows_read: Some(report.rows_read),
        rows_loaded: Some(report.rows_loaded),
        rows_rejected: Some(report.rows_rejected),
        rows_written: report.rows_loaded,
        ..CommitFacts::default()
    };
    report.retail_version = Some(data.commit(&facts, overwrite).await?);
    report.files.extend(read);
    log::record(warehouse, table).await?;
    Ok(report)
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
