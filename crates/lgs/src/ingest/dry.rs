//! Parsing without writing: an input's bytes taken through the same record path as
//! an ingest (decompression, header recognition, the per-record decision between
//! loading and quarantine, the Arrow builders), with nothing stored. The fuzz
//! targets in `fuzz/` drive every parser of untrusted input through here, so what
//! they exercise is what `lgs ingest` runs.

use std::io::{Cursor, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use super::Dataset;
use super::format::{load_record, read_header};
use super::location::{self, InputFile};
use super::records::{FileKind, Record, RecordSource, local_sources, text_source};
use super::stream::messages::{MessageFormat, StreamMessage, message_records};
use crate::error::{LgsError, Result};

/// What parsing an input found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Record sources read: one, or one per sheet of a workbook.
    pub units: usize,
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_rejected: u64,
    /// Rows in the Arrow batches the loaded records became (equal to
    /// `rows_loaded` unless a parser lost or invented a row).
    pub batch_rows: u64,
}

/// How many rows a batch takes before it is finished (small, so that fuzzing also
/// goes through finishing batches).
const BATCH_ROWS: usize = 64;

/// Parses `bytes` as an input of `kind` (CSV and dumps may be gzip or zstd
/// compressed) holding `dataset`, as an ingest would, and counts what it loaded and
/// what it would quarantine. An error is what the ingest would fail with.
pub fn parse(kind: FileKind, bytes: &[u8], dataset: &Dataset) -> Result<Parsed> {
    let shown = "input";
    let mut parsed = Parsed::default();
    match kind {
        FileKind::Csv | FileKind::PgDump => {
            let file = InputFile::Local(PathBuf::from(shown));
            let raw = Box::new(Cursor::new(bytes.to_vec()));
            let text = location::decode(&file, raw, Arc::new(AtomicU64::new(0)))?;
            parse_unit(
                text_source(kind, shown, text, dataset),
                shown,
                dataset,
                &mut parsed,
            )?;
        }
        FileKind::Parquet | FileKind::Xlsx => {
            let io = |source| LgsError::Io {
                doing: "staging the input in a temporary file".into(),
                source,
            };
            let mut copy = tempfile::NamedTempFile::new().map_err(io)?;
            copy.write_all(bytes).map_err(io)?;
            copy.flush().map_err(io)?;
            for (name, source) in local_sources(kind, copy.path(), shown, None)? {
                parse_unit(source, &name, dataset, &mut parsed)?;
            }
        }
    }
    Ok(parsed)
}

/// Parses `messages` of a stream as one micro-batch of `lgs stream` under
/// `format` (its declared header checked first, as the stream does), and counts
/// what it loaded and what it would quarantine.
pub fn parse_messages(
    format: &MessageFormat,
    messages: Vec<StreamMessage>,
    dataset: &Dataset,
) -> Result<Parsed> {
    format.check()?;
    let mut parsed = Parsed::default();
    let source = message_records(format.clone(), Arc::new(messages));
    parse_unit(source, "stream", dataset, &mut parsed)?;
    Ok(parsed)
}

fn parse_unit(
    mut source: Box<dyn RecordSource>,
    name: &str,
    dataset: &Dataset,
    parsed: &mut Parsed,
) -> Result<()> {
    parsed.units += 1;
    let mut rows = dataset.new_format();
    let width = read_header(rows.as_mut(), source.as_mut(), name)?.len();
    let mut rec = Record::default();
    while source.next(&mut rec)? {
        parsed.rows_read += 1;
        match load_record(rows.as_mut(), width, &mut rec) {
            Ok(()) => parsed.rows_loaded += 1,
            Err(_) => parsed.rows_rejected += 1,
        }
        if rows.buffered() >= BATCH_ROWS {
            parsed.batch_rows += rows.finish().num_rows() as u64;
        }
    }
    parsed.batch_rows += rows.finish().num_rows() as u64;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_loaded_and_quarantined_records() {
        let csv = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n\
                   489434,85048,LIGHTS,12,2009-12-01 07:45:00,6.95,13085,United Kingdom\n\
                   489435,22350,CAT,x,2009-12-01 07:46:00,2.55,13085,United Kingdom\n\
                   489436,22350,\"CAT, BOWL\",4\n";
        let parsed = parse(FileKind::Csv, csv.as_bytes(), &Dataset::Retail).unwrap();
        assert_eq!(
            parsed,
            Parsed {
                units: 1,
                rows_read: 3,
                rows_loaded: 1,
                rows_rejected: 2,
                batch_rows: 1,
            }
        );
    }

    #[test]
    fn a_header_it_does_not_know_is_the_ingest_error() {
        let err = parse(FileKind::Csv, b"a,b\n1,2\n", &Dataset::Retail).unwrap_err();
        assert!(err.to_string().contains("unknown header"), "{err}");
    }

    /// The error parsing an input found by fuzzing (`tests/data/fuzz/NAME`) ends in.
    fn fuzz_input_error(name: &str, kind: FileKind) -> LgsError {
        let path = format!("{}/tests/data/fuzz/{name}", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(path).unwrap();
        parse(kind, &bytes, &Dataset::Retail).unwrap_err()
    }

    /// A micro-batch of stream messages is counted as the stream would load it:
    /// one record per message, a bad message quarantined, and a declared header
    /// that is not a shape refused before any message is read.
    #[test]
    fn counts_a_batch_of_stream_messages() {
        let message = |position: u64, text: &str| StreamMessage {
            position,
            payload: bytes::Bytes::copy_from_slice(text.as_bytes()),
            published_ms: 0,
        };
        let good = r#"{"InvoiceNo":"536365","StockCode":"85123A","Description":"HEART","Quantity":6,"InvoiceDate":"12/1/2010 8:26","UnitPrice":2.55,"CustomerID":17850,"Country":"United Kingdom"}"#;
        let messages = vec![message(7, good), message(8, "{"), message(9, good)];
        let parsed = parse_messages(&MessageFormat::Json, messages, &Dataset::Retail).unwrap();
        assert_eq!(
            (parsed.rows_read, parsed.rows_loaded, parsed.rows_rejected),
            (3, 2, 1)
        );
        assert_eq!(parsed.batch_rows, 2);
        let header =
            "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country";
        let csv = MessageFormat::Csv {
            header: header.split(',').map(String::from).collect(),
        };
        let lines = vec![
            message(1, "1,A,\"a, b\",2,12/1/2010 8:26,1.5,17850,France\n"),
            message(2, "1,A,b,two,12/1/2010 8:26,1.5,17850,France"),
        ];
        let parsed = parse_messages(&csv, lines, &Dataset::Retail).unwrap();
        assert_eq!((parsed.rows_loaded, parsed.rows_rejected), (1, 1));
        let bad = MessageFormat::Csv {
            header: vec!["a".into()],
        };
        let err = parse_messages(&bad, vec![], &Dataset::Retail).unwrap_err();
        assert!(err.to_string().contains("header shapes"), "{err}");
    }

    /// Found by fuzzing (`fuzz/` target `xlsx`): a workbook whose sheet has a cell
    /// reference so long that calamine's column arithmetic overflows. The sheet fails
    /// with an error; it is not read as a shorter sheet, and nothing crashes.
    #[test]
    fn xlsx_cell_reference_overflow() {
        let err = fuzz_input_error("xlsx_cell_reference_overflow.xlsx", FileKind::Xlsx);
        assert!(err.to_string().contains("corrupt sheet data"), "{err}");
    }

    /// Found by fuzzing (`fuzz/` target `parquet`): a Parquet file whose column
    /// chunk has a negative start or length, on which the Parquet reader panics
    /// while reading rows (after the file opened). The file fails with an error
    /// naming where its data is corrupt.
    #[test]
    fn parquet_column_chunk_negative_range() {
        let err = fuzz_input_error(
            "parquet_column_chunk_negative_range.parquet",
            FileKind::Parquet,
        );
        assert!(err.to_string().contains("corrupt Parquet data"), "{err}");
    }

    /// Found by fuzzing (`fuzz/` target `parquet`): a Parquet file whose embedded
    /// Arrow schema declares a 320-bit integer, on which the Arrow reader panics. The
    /// file is refused with an error.
    #[test]
    fn parquet_invalid_arrow_schema() {
        let err = fuzz_input_error("parquet_invalid_arrow_schema.parquet", FileKind::Parquet);
        assert!(
            err.to_string().contains("not a readable Parquet file"),
            "{err}"
        );
    }
}
