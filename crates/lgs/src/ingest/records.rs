//! Sources of records: every input kind (CSV, a PostgreSQL dump, an Excel sheet, a
//! Parquet file, a live PostgreSQL query) turns its rows into the same text [`Fields`],
//! so one validation ([`RowFormat`](super::format::RowFormat)) and one quarantine
//! serve them all.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use super::Dataset;
use super::chunks::{Chunk, Chunker};
use super::csv::{Fields, RawRecord, RecordReader};
use super::location::{self, InputFile};
use crate::error::{LgsError, Result};

/// One input record, with what a quarantine keeps of it.
#[derive(Debug, Default)]
pub struct Record {
    /// Where the record starts: a line of a text file, a row of a sheet or of a
    /// Parquet file (1-based).
    pub line: u64,
    /// The record as it stood in the input (CSV text for inputs that are not text).
    pub raw: Vec<u8>,
    /// Its fields as text, in header order.
    pub fields: Fields,
    /// Set when the record is malformed before any field is looked at: the reason
    /// it is quarantined.
    pub error: Option<String>,
}

impl Record {
    /// Fills `raw` with the fields as one CSV line (for inputs that have no text).
    pub fn raw_from_fields(&mut self) {
        self.raw.clear();
        for i in 0..self.fields.len() {
            if i > 0 {
                self.raw.push(b',');
            }
            let f = self.fields.get(i);
            if f.contains([',', '"', '\n', '\r']) {
                self.raw.push(b'"');
                self.raw
                    .extend_from_slice(f.replace('"', "\"\"").as_bytes());
                self.raw.push(b'"');
            } else {
                self.raw.extend_from_slice(f.as_bytes());
            }
        }
    }
}

/// A stream of records with a header.
pub trait RecordSource: Send {
    /// The column names and the line they are on. Called once, before any record.
    fn header(&mut self) -> Result<(u64, Vec<String>)>;
    /// Reads the next record into `rec`; `Ok(false)` at the end.
    fn next(&mut self, rec: &mut Record) -> Result<bool>;
    /// The records not read yet as chunks of about `size` bytes of CSV text, for a
    /// source that is CSV text (which is then at its end); `None` for others.
    fn chunks(&mut self, size: usize) -> Option<Chunks> {
        let _ = size;
        None
    }
}

/// What an input file holds, recognised by its content (and, for dumps, its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Csv,
    /// Plain `pg_dump` output: COPY blocks or INSERT statements.
    PgDump,
    Xlsx,
    Parquet,
}

impl FileKind {
    /// Recognises a file from its name and its first bytes (see [`Self::HEAD`]).
    pub fn detect(name: &str, head: &[u8]) -> FileKind {
        if head.starts_with(b"PAR1") {
            return FileKind::Parquet;
        }
        if head.starts_with(b"PK\x03\x04") {
            return FileKind::Xlsx;
        }
        let name = name.to_ascii_lowercase();
        let stem = name
            .strip_suffix(".gz")
            .or_else(|| name.strip_suffix(".zst"))
            .unwrap_or(&name);
        if stem.ends_with(".sql") || starts_like_dump(head) {
            return FileKind::PgDump;
        }
        FileKind::Csv
    }

    /// How many leading bytes [`Self::detect`] looks at.
    pub const HEAD: usize = 64 * 1024;

    /// What `file` holds, from its name and its first [`Self::HEAD`] bytes.
    pub async fn of(file: &InputFile) -> Result<FileKind> {
        Ok(FileKind::detect(
            &file.file_name(),
            &file.head(Self::HEAD).await?,
        ))
    }
}

/// True when the (possibly compressed) text begins the way `pg_dump` output does.
fn starts_like_dump(head: &[u8]) -> bool {
    let mut text = Vec::new();
    let cursor: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(head.to_vec()));
    let decoded = location::decode(
        &location::InputFile::Local(PathBuf::new()),
        cursor,
        Arc::new(AtomicU64::new(0)),
    );
    if let Ok(mut reader) = decoded {
        // A prefix of a compressed stream ends in an error: keep what was decoded.
        let mut buf = [0u8; 4096];
        while text.len() < 4096 {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => text.extend_from_slice(&buf[..n]),
            }
        }
    }
    let text = String::from_utf8_lossy(&text);
    text.starts_with("--\n-- PostgreSQL database dump")
        || text.starts_with("-- PostgreSQL database dump")
        || text.starts_with("SET statement_timeout")
}

/// Opens the record sources of one input file: one, or one per sheet of a workbook.
/// `count` receives the bytes read as stored, for progress; `handle` drives the
/// download of an object.
pub fn open_file(
    file: &InputFile,
    kind: FileKind,
    dataset: &Dataset,
    sheets: Option<&[String]>,
    count: Arc<AtomicU64>,
    handle: &tokio::runtime::Handle,
) -> Result<Vec<(String, Box<dyn RecordSource>)>> {
    let shown = file.shown();
    Ok(match kind {
        FileKind::Csv | FileKind::PgDump => {
            let text = location::decode(file, file.open_raw(handle)?, count)?;
            vec![(shown.clone(), text_source(kind, &shown, text, dataset))]
        }
        FileKind::Parquet | FileKind::Xlsx => {
            let (path, staged) = file.local_copy(handle, count)?;
            local_sources(kind, &path, &shown, sheets)?
                .into_iter()
                .map(|(name, source)| (name, Staged::wrap(source, staged.clone())))
                .collect()
        }
    })
}

/// The records of a text input (CSV or a dump), from its decoded text.
pub fn text_source(
    kind: FileKind,
    shown: &str,
    text: Box<dyn BufRead + Send>,
    dataset: &Dataset,
) -> Box<dyn RecordSource> {
    let path = Path::new(shown);
    match kind {
        FileKind::PgDump => Box::new(super::dump::DumpSource::new(path, text, accepts(dataset))),
        _ => Box::new(CsvSource::new(path, text)),
    }
}

/// The record sources of a local file that needs random access: a Parquet file,
/// or a workbook's sheets (all, or those in `sheets`).
pub fn local_sources(
    kind: FileKind,
    path: &Path,
    shown: &str,
    sheets: Option<&[String]>,
) -> Result<Vec<(String, Box<dyn RecordSource>)>> {
    Ok(match kind {
        FileKind::Xlsx => super::excel::open_sheets(path, shown, sheets)?,
        _ => {
            let source = super::columnar::ParquetSource::open(path, shown)?;
            vec![(shown.to_string(), Box::new(source) as _)]
        }
    })
}

/// A source reading a staged copy of an object, which it keeps until it is dropped.
struct Staged {
    inner: Box<dyn RecordSource>,
    _copy: Arc<tempfile::TempPath>,
}

impl Staged {
    fn wrap(
        inner: Box<dyn RecordSource>,
        copy: Option<Arc<tempfile::TempPath>>,
    ) -> Box<dyn RecordSource> {
        match copy {
            None => inner,
            Some(copy) => Box::new(Staged { inner, _copy: copy }),
        }
    }
}

impl RecordSource for Staged {
    fn header(&mut self) -> Result<(u64, Vec<String>)> {
        self.inner.header()
    }

    fn next(&mut self, rec: &mut Record) -> Result<bool> {
        self.inner.next(rec)
    }
}

/// Whether a table's columns are a header the dataset recognises.
pub fn accepts(dataset: &Dataset) -> super::dump::Accept {
    let dataset = dataset.clone();
    Box::new(move |columns: &[String]| {
        let names: Vec<&str> = columns.iter().map(String::as_str).collect();
        dataset.new_format().header(&names).is_ok()
    })
}

/// Records of a CSV file.
pub struct CsvSource {
    path: PathBuf,
    reader: RecordReader<Box<dyn BufRead + Send>>,
    raw: RawRecord,
}

impl CsvSource {
    pub fn new(path: &Path, reader: Box<dyn BufRead + Send>) -> Self {
        CsvSource {
            path: path.to_path_buf(),
            reader: RecordReader::new(reader),
            raw: RawRecord::default(),
        }
    }

    fn read(&mut self) -> Result<bool> {
        self.reader
            .read_record(&mut self.raw)
            .map_err(|source| LgsError::Read {
                path: self.path.clone(),
                source,
            })
    }
}

impl RecordSource for CsvSource {
    fn header(&mut self) -> Result<(u64, Vec<String>)> {
        if !self.read()? {
            return Err(LgsError::EmptyInput {
                path: self.path.clone(),
            });
        }
        let text = String::from_utf8_lossy(&self.raw.bytes);
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let mut fields = Fields::default();
        fields.split(text);
        let names = (0..fields.len()).map(|i| fields.get(i).to_string());
        Ok((self.raw.line, names.collect()))
    }

    fn next(&mut self, rec: &mut Record) -> Result<bool> {
        if !self.read()? {
            return Ok(false);
        }
        csv_record(&mut self.raw, rec);
        Ok(true)
    }

    fn chunks(&mut self, size: usize) -> Option<Chunks> {
        let rest: Box<dyn BufRead + Send> = Box::new(std::io::empty());
        let reader = std::mem::replace(&mut self.reader, RecordReader::new(rest));
        let (text, lines) = reader.into_parts();
        Some(Chunks {
            path: self.path.clone(),
            chunker: Chunker::new(text, lines, size),
        })
    }
}

/// Moves a CSV record read as `raw` into `rec`: its line and bytes, and its fields
/// or why it is malformed.
pub(crate) fn csv_record(raw: &mut RawRecord, rec: &mut Record) {
    rec.line = raw.line;
    std::mem::swap(&mut rec.raw, &mut raw.bytes);
    rec.error = None;
    if !raw.quotes_balanced {
        rec.error = Some("unterminated quoted field (the file ends inside quotes)".into());
        return;
    }
    match std::str::from_utf8(&rec.raw) {
        Err(e) => rec.error = Some(format!("invalid UTF-8 at byte {}", e.valid_up_to() + 1)),
        Ok(text) if raw.quote_free => rec.fields.split_quote_free(text, &raw.commas),
        Ok(text) => rec.fields.split(text),
    }
}

/// The rest of a CSV source after its header, as chunks of whole records that can
/// be parsed side by side ([`super::chunks`]).
pub struct Chunks {
    pub path: PathBuf,
    pub chunker: Chunker<Box<dyn BufRead + Send>>,
}

impl Chunks {
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        self.chunker.next_chunk().map_err(|source| LgsError::Read {
            path: self.path.clone(),
            source,
        })
    }
}
