//! Parquet files (an export from Spark or Databricks, say) as a record source. Column
//! names are matched like a CSV header; values are rendered as text and go through the
//! same validation as every other input, so a Parquet file with odd types (prices as
//! doubles, customer ids as floats, dates as strings or timestamps) loads the same
//! way as its CSV twin.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::util::display::FormatOptions;
use datafusion::parquet::arrow::arrow_reader::{
    ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};

use super::records::{Record, RecordSource};
use crate::error::{LgsError, Result};

const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.6f";

pub struct ParquetSource {
    shown: String,
    names: Vec<String>,
    reader: ParquetRecordBatchReader,
    /// The current batch's columns rendered as text once (or why one cannot be).
    columns: Vec<std::result::Result<Arc<dyn Array>, String>>,
    rows: usize,
    /// Next row of `batch`.
    row: usize,
    /// Rows handed out so far.
    line: u64,
}

impl ParquetSource {
    /// Opens `path`; `shown` names it in messages (its URL when `path` is a staged
    /// copy of an object).
    pub fn open(path: &Path, shown: &str) -> Result<Self> {
        let bad = |message: String| LgsError::BadInput {
            source_name: shown.to_string(),
            line: None,
            message,
        };
        let file = File::open(path).map_err(|source| LgsError::Read {
            path: PathBuf::from(shown),
            source,
        })?;
        // The Arrow reader panics on some invalid embedded Arrow schemas (an integer
        // 320 bits wide: found by fuzzing, see `parquet_invalid_arrow_schema`).
        let opened = crate::error::catch_panic(|| ParquetRecordBatchReaderBuilder::try_new(file))
            .map_err(|why| {
            bad(format!(
                "not a readable Parquet file: its schema is invalid ({why})"
            ))
        })?;
        let builder = opened.map_err(|e| bad(format!("not a readable Parquet file: {e}")))?;
        let names = builder
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let reader = builder
            .with_batch_size(8192)
            .build()
            .map_err(|e| bad(format!("not a readable Parquet file: {e}")))?;
        Ok(ParquetSource {
            shown: shown.to_string(),
            names,
            reader,
            columns: Vec::new(),
            rows: 0,
            row: 0,
            line: 0,
        })
    }
}

impl RecordSource for ParquetSource {
    fn header(&mut self) -> Result<(u64, Vec<String>)> {
        Ok((0, self.names.clone()))
    }

    fn next(&mut self, rec: &mut Record) -> Result<bool> {
        while self.row >= self.rows {
            // The Parquet reader panics on some corrupt column chunks (found by
            // fuzzing: `parquet_column_chunk_negative_range`): an error, as its own.
            let next = crate::error::catch_panic(|| self.reader.next())
                .unwrap_or_else(|panic| Some(Err(ArrowError::ParquetError(panic))));
            match next {
                None => return Ok(false),
                Some(Err(e)) => {
                    return Err(LgsError::BadInput {
                        source_name: self.shown.clone(),
                        line: Some(self.line + 1),
                        message: format!("corrupt Parquet data after row {}: {e}", self.line),
                    });
                }
                Some(Ok(batch)) => {
                    self.columns = batch.columns().iter().map(|c| as_text(c)).collect();
                    self.rows = batch.num_rows();
                    self.row = 0;
                }
            }
        }
        rec.fields.clear();
        rec.error = None;
        for column in &self.columns {
            match column {
                Ok(text) => {
                    let text = text.as_string::<i32>();
                    rec.fields.push(if text.is_null(self.row) {
                        ""
                    } else {
                        text.value(self.row)
                    });
                }
                Err(message) => {
                    rec.error = Some(message.clone());
                    rec.fields.push("");
                }
            }
        }
        self.row += 1;
        self.line += 1;
        rec.line = self.line;
        rec.raw_from_fields();
        Ok(true)
    }
}

/// A column as text, rendered the way the validation expects (timestamps as
/// `YYYY-MM-DD HH:MM:SS.ffffff`), or why it cannot be.
fn as_text(column: &Arc<dyn Array>) -> std::result::Result<Arc<dyn Array>, String> {
    let options = CastOptions {
        safe: false,
        format_options: FormatOptions::default()
            .with_timestamp_format(Some(TIMESTAMP_FORMAT))
            .with_timestamp_tz_format(Some(TIMESTAMP_FORMAT))
            .with_datetime_format(Some(TIMESTAMP_FORMAT)),
    };
    cast_with_options(column, &DataType::Utf8, &options)
        .map_err(|e| format!("cannot render a {} value: {e}", column.data_type()))
}
