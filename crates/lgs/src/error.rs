//! The one error type of the `lgs` library.
//!
//! Every variant carries the context a data engineer needs to act on it: which file,
//! which line, which table, which warehouse.

use std::path::PathBuf;

use datafusion::error::DataFusionError;
use deltalake::DeltaTableError;

/// Result alias used throughout the library.
pub type Result<T, E = LgsError> = std::result::Result<T, E>;

/// Errors raised by ingest, the warehouse and the analytics.
#[derive(Debug, thiserror::Error)]
pub enum LgsError {
    /// A path given on the command line does not exist or matches nothing.
    #[error("input not found: {path}")]
    InputNotFound { path: String },

    /// A glob pattern could not be parsed.
    #[error("bad input pattern {pattern:?}: {source}")]
    BadPattern {
        pattern: String,
        #[source]
        source: glob::PatternError,
    },

    /// Reading an input file failed.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// An input file has no header line at all.
    #[error("{}: the file is empty (no header line)", path.display())]
    EmptyInput { path: PathBuf },

    /// An input is malformed as a whole (a truncated dump, a corrupt workbook or
    /// Parquet file, a missing sheet): nothing of it is loaded.
    #[error("{source_name}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    BadInput {
        source_name: String,
        line: Option<u64>,
        message: String,
    },

    /// A PostgreSQL server could not be reached or refused a request.
    #[error("PostgreSQL {target}: {message}")]
    Postgres { target: String, message: String },

    /// An object-store location (`s3://`, `az://`) does not exist, is not permitted,
    /// or the store failed.
    #[error("object storage {location}: {message}")]
    ObjectStore { location: String, message: String },

    /// The header line is not one of the known shapes.
    #[error("{}:{line}: {message}", path.display())]
    BadHeader {
        path: PathBuf,
        line: u64,
        message: String,
    },

    /// `--strict` was given and some rows could not be parsed.
    #[error(
        "{rejected} row(s) could not be parsed and --strict is set; nothing was written. First: {first}"
    )]
    StrictRejected { rejected: u64, first: String },

    /// The warehouse directory cannot be created or written.
    #[error("warehouse {} is not writable: {source}", path.display())]
    WarehouseNotWritable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A table that a command needs does not exist yet.
    #[error("no table {table:?} in warehouse {warehouse}; {hint}")]
    TableNotFound {
        table: String,
        warehouse: String,
        hint: String,
    },

    /// The warehouse table holds no rows, so there is nothing to report on.
    #[error("table {table:?} in warehouse {warehouse} is empty; run `lgs ingest` first")]
    EmptyTable { table: String, warehouse: String },

    /// A policy file that cannot be used: where it is and what is wrong.
    /// A key file (or `LGS_KEY`) that cannot be used (`line` 0: the whole file).
    #[error(
        "key file {origin}{}: {message}",
        if *line > 0 { format!(":{line}") } else { String::new() }
    )]
    KeyFile {
        origin: String,
        line: usize,
        message: String,
    },

    /// A table whose files cannot be read with the keys given, or without keys.
    #[error("table {table} (version {version}): file {file} {problem}")]
    Encrypted {
        table: String,
        version: u64,
        file: String,
        problem: String,
    },

    #[error("policy {}: {message}", path.display())]
    Policy { path: PathBuf, message: String },

    /// The caller's role may not do or see this.
    #[error("role {role}: {message}")]
    Denied { role: String, message: String },

    /// An argument given by the user is not valid.
    #[error("invalid {what}: {message}")]
    InvalidArgument { what: &'static str, message: String },

    /// A model of an analysis could not be evaluated (its fit's own limits are
    /// reported in the section, not as an error).
    #[error("{analysis}: {source}")]
    Model {
        analysis: &'static str,
        #[source]
        source: lgs_models::ModelError,
    },

    /// Another process committed to the table, in between, content this commit also
    /// claims (see [`crate::facts::CommitFacts::claims`]); nothing was committed.
    #[error(
        "Delta table {table}: a concurrent run committed the same content first; nothing was committed"
    )]
    ConcurrentWrite { table: String },

    /// A message broker (`lgs stream`, `lgs replay`) refused or could not be reached.
    #[error("{broker}: {message}")]
    Broker { broker: String, message: String },

    /// A data file of a table's snapshot is missing or not the size its log records:
    /// the table cannot be read completely, so it is not read at all.
    #[error(
        "Delta table {table} version {version}: data file {file} {problem}; \
         reading the table would leave out rows, so it is not read (put the file back)"
    )]
    DamagedTable {
        table: String,
        version: u64,
        file: String,
        problem: String,
    },

    /// The checkpoint a table's Delta log starts from is damaged: the table cannot
    /// be opened.
    #[error(
        "Delta table {table}: the checkpoint of version {version} ({file}) {problem}; \
         the table cannot be read. Put the file back from a backup; if every commit file \
         up to version {version} is still in _delta_log, deleting the checkpoint and \
         _delta_log/_last_checkpoint makes the table readable from them"
    )]
    DamagedCheckpoint {
        table: String,
        version: u64,
        file: String,
        problem: String,
    },

    /// A commit file of a table's Delta log is missing or damaged: the table cannot
    /// be opened.
    #[error(
        "Delta table {table}: the commit file of version {version} ({file}) {problem}; \
         the table cannot be read. Put the file back from a backup; if it is the last \
         version, moving it out of _delta_log makes the table readable as of the \
         version before (what that commit added is lost)"
    )]
    DamagedLog {
        table: String,
        version: u64,
        file: String,
        problem: String,
    },

    /// Writing a table's data files failed (a full disk, a file size limit, a
    /// bucket that refuses the write): nothing was committed.
    #[error("cannot write the data files of table {table} under {location}: {source}")]
    WriteFailed {
        table: String,
        location: String,
        #[source]
        source: Box<DeltaTableError>,
    },

    /// Delta Lake failed while reading or writing a table.
    #[error("Delta table {table}: {source}")]
    Delta {
        table: String,
        #[source]
        source: Box<DeltaTableError>,
    },

    /// The query engine failed.
    #[error("query failed ({context}): {source}")]
    Query {
        context: String,
        #[source]
        source: Box<DataFusionError>,
    },

    /// A SQL statement could not be parsed, planned or run.
    #[error("{}{source}", sql_position(*statement, *line))]
    Sql {
        /// 1-based index of the statement in its script, once the script is split.
        statement: Option<usize>,
        /// 1-based line where the statement starts, when known.
        line: Option<u64>,
        #[source]
        source: Box<DataFusionError>,
    },

    /// Writing results to the output failed (a closed pipe among others).
    #[error("cannot write the output: {source}")]
    Output {
        #[source]
        source: std::io::Error,
    },

    /// Writing an output file failed.
    #[error("cannot write {}: {message}", path.display())]
    Write { path: PathBuf, message: String },

    /// The ingest worker stopped unexpectedly.
    #[error("ingest worker failed: {0}")]
    Worker(String),

    /// A model fit or another computation run beside the queries stopped
    /// unexpectedly (it panicked).
    #[error("{name} stopped unexpectedly: {message}")]
    Computation { name: &'static str, message: String },

    /// A thread of `lgs generate` stopped unexpectedly.
    #[error("the generator failed: {0}")]
    Generator(String),

    /// An I/O operation that is not reading or writing a named file (serving on
    /// an address, say).
    #[error("{doing}: {source}")]
    Io {
        doing: String,
        #[source]
        source: std::io::Error,
    },

    /// The Ballista cluster (scheduler, executors) could not be used or run.
    #[error("cluster: {message}")]
    Cluster { message: String },
}

fn sql_position(statement: Option<usize>, line: Option<u64>) -> String {
    match (statement, line) {
        (Some(s), Some(l)) => format!("statement {s} (line {l}): "),
        (Some(s), None) => format!("statement {s}: "),
        _ => String::new(),
    }
}

impl LgsError {
    /// Wraps a Delta error with the table it concerns.
    pub fn delta(table: impl Into<String>, source: DeltaTableError) -> Self {
        LgsError::Delta {
            table: table.into(),
            source: Box::new(source),
        }
    }

    /// Wraps a model's error with the analysis that evaluated it, as
    /// `.map_err(LgsError::model("clv"))`.
    pub fn model(analysis: &'static str) -> impl Fn(lgs_models::ModelError) -> Self {
        move |source| LgsError::Model { analysis, source }
    }

    /// Wraps a DataFusion error with what was being computed.
    pub fn query(context: impl Into<String>, source: DataFusionError) -> Self {
        LgsError::Query {
            context: context.into(),
            source: Box::new(source),
        }
    }
}

impl From<LgsError> for DataFusionError {
    fn from(e: LgsError) -> Self {
        match e {
            LgsError::Query { source, .. } => *source,
            other => DataFusionError::External(Box::new(other)),
        }
    }
}

/// Adds query context to a DataFusion result.
pub(crate) trait QueryContext<T> {
    fn context(self, what: &str) -> Result<T>;
}

impl<T> QueryContext<T> for std::result::Result<T, DataFusionError> {
    fn context(self, what: &str) -> Result<T> {
        self.map_err(|e| LgsError::query(what, e))
    }
}

thread_local! {
    /// How many [`catch_panic`] calls are running on this thread.
    static CATCHING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Runs `f`, turning a panic into the message it carried. For a dependency known to
/// panic on some corrupt input (found by fuzzing): lgs reports that as an error
/// naming the file. While `f` runs, [`panic_is_caught`] is true on this thread, so a
/// panic hook can keep the panic itself (and its backtrace) off the terminal.
pub fn catch_panic<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            CATCHING.with(|c| c.set(c.get() - 1));
        }
    }
    CATCHING.with(|c| c.set(c.get() + 1));
    let _leave = Leave;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|panic| panic_message(panic.as_ref()).to_string())
}

/// A future run with [`catch_panic`] around each poll: a panic inside it ends it
/// with the panic's message, instead of unwinding into the task that polls it.
/// For the task of one served connection, where a dependency's panic on a
/// malformed message from the client must end that connection, quietly, and
/// nothing else.
pub struct CatchPanic<F: Future>(std::pin::Pin<Box<F>>);

impl<F: Future> CatchPanic<F> {
    pub fn new(future: F) -> Self {
        CatchPanic(Box::pin(future))
    }
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = std::result::Result<F::Output, String>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let inner = self.0.as_mut();
        match catch_panic(|| inner.poll(cx)) {
            Ok(std::task::Poll::Ready(output)) => std::task::Poll::Ready(Ok(output)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(message) => std::task::Poll::Ready(Err(message)),
        }
    }
}

/// Whether the current thread's panic (asked from a panic hook) will be caught by
/// [`catch_panic`] and reported as an error.
pub fn panic_is_caught() -> bool {
    CATCHING.with(|c| c.get() > 0)
}

/// The message a panic carried (its payload, when it is text).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or_default()
}
