//! Sources of records: every input kind (CSV, a PostgreSQL dump, an Excel sheet, a
//! Parquet file, a live PostgreSQL query) turns its rows into the same text [`Fields`],
//! so one validation ([`RowFormat`](super::format::RowFormat)) and one quarantine
//! serve them all.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use super::Dataset;
use super::csv::{Fields, RawRecord, RecordReader};
use super::source;
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
    pub fn of(path: &Path) -> Result<FileKind> {
        let read_err = |source| LgsError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut head = [0u8; 4];
        let n = {
            use std::io::Read;
            let mut f = std::fs::File::open(path).map_err(read_err)?;
            let mut n = 0;
            while n < 4 {
                let k = f.read(&mut head[n..]).map_err(read_err)?;
                if k == 0 {
                    break;
                }
                n += k;
            }
            n
        };
        let head = &head[..n];
        if head == b"PAR1" {
            return Ok(FileKind::Parquet);
        }
        if head == b"PK\x03\x04" {
            return Ok(FileKind::Xlsx);
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let stem = name
            .strip_suffix(".gz")
            .or_else(|| name.strip_suffix(".zst"))
            .unwrap_or(&name);
        if stem.ends_with(".sql") || starts_like_dump(path)? {
            return Ok(FileKind::PgDump);
        }
        Ok(FileKind::Csv)
    }
}

/// True when the decoded text begins the way `pg_dump` output does.
fn starts_like_dump(path: &Path) -> Result<bool> {
    let mut reader = source::open_decoded(path, Arc::new(AtomicU64::new(0)))?;
    let buf = reader.fill_buf().map_err(|source| LgsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8_lossy(&buf[..buf.len().min(4096)]);
    Ok(text.starts_with("--\n-- PostgreSQL database dump")
        || text.starts_with("-- PostgreSQL database dump")
        || text.starts_with("SET statement_timeout"))
}

/// Opens the record sources of one input file: one, or one per sheet of a workbook.
/// `count` receives the bytes read from disk, for progress.
pub fn open_file(
    path: &Path,
    kind: FileKind,
    dataset: &Dataset,
    sheets: Option<&[String]>,
    count: Arc<AtomicU64>,
) -> Result<Vec<(String, Box<dyn RecordSource>)>> {
    let shown = path.display().to_string();
    Ok(match kind {
        FileKind::Csv => vec![(
            shown,
            Box::new(CsvSource::new(path, source::open_decoded(path, count)?)) as _,
        )],
        FileKind::PgDump => vec![(
            shown,
            Box::new(super::dump::DumpSource::new(
                path,
                source::open_decoded(path, count)?,
                accepts(dataset),
            )) as _,
        )],
        FileKind::Parquet => vec![(
            shown,
            Box::new(super::columnar::ParquetSource::open(path)?) as _,
        )],
        FileKind::Xlsx => super::excel::open_sheets(path, sheets)?,
    })
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
        rec.line = self.raw.line;
        std::mem::swap(&mut rec.raw, &mut self.raw.bytes);
        rec.error = None;
        if !self.raw.quotes_balanced {
            rec.error = Some("unterminated quoted field (the file ends inside quotes)".into());
            return Ok(true);
        }
        match std::str::from_utf8(&rec.raw) {
            Err(e) => rec.error = Some(format!("invalid UTF-8 at byte {}", e.valid_up_to() + 1)),
            Ok(text) => rec.fields.split(text),
        }
        Ok(true)
    }
}
