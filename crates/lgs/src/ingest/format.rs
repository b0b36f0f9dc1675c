//! The datasets lgs ingests and how each turns CSV records into table rows.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;

use std::path::PathBuf;

use super::batch::RetailBuilder;
use super::csv::Fields;
use super::records::{Record, RecordSource};
use super::wdi::WdiFormat;
use crate::error::{LgsError, Result as LgsResult};
use crate::schema::{
    RETAIL_TABLE, WDI_TABLE, expected_headers, match_header, retail_schema, wdi_schema,
};

/// What an ingest loads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Dataset {
    /// LGS transactions into `retail`.
    #[default]
    Retail,
    /// World Development Indicators into `wdi`. A file with one unnamed indicator
    /// (the `ISO,COUNTRY,VALUE,YEAR` export) takes its code and name from here.
    Wdi {
        indicator: Option<String>,
        indicator_name: Option<String>,
    },
}

impl Dataset {
    /// The table the dataset goes to unless told otherwise.
    pub fn default_table(&self) -> &'static str {
        match self {
            Dataset::Retail => RETAIL_TABLE,
            Dataset::Wdi { .. } => WDI_TABLE,
        }
    }

    pub fn schema(&self) -> SchemaRef {
        match self {
            Dataset::Retail => retail_schema(),
            Dataset::Wdi { .. } => wdi_schema(),
        }
    }

    /// Delta partition columns of the dataset's table.
    pub fn partition_columns(&self) -> Vec<String> {
        match self {
            Dataset::Retail => vec![],
            Dataset::Wdi { .. } => vec!["year".into()],
        }
    }

    pub(crate) fn new_format(&self) -> Box<dyn RowFormat> {
        match self {
            Dataset::Retail => Box::new(RetailFormat {
                builder: RetailBuilder::new(),
                positions: [0; 8],
            }),
            Dataset::Wdi {
                indicator,
                indicator_name,
            } => Box::new(WdiFormat::new(indicator.clone(), indicator_name.clone())),
        }
    }
}

/// Turns the records of one file into batches of its table.
pub(crate) trait RowFormat: Send {
    /// Recognises the header; the error explains what was expected.
    fn header(&mut self, names: &[&str]) -> Result<(), String>;
    /// Parses one record (already checked to have the header's width), appending the
    /// table rows it holds; the error is the quarantine reason.
    fn push(&mut self, fields: &Fields) -> Result<(), String>;
    /// Rows buffered since the last [`finish`](Self::finish).
    fn buffered(&self) -> usize;
    /// Takes the buffered rows.
    fn finish(&mut self) -> RecordBatch;
}

/// Reads a source's header and has `rows` recognise it; returns the column names
/// (their number is the width every record must have). `name` names the source in
/// the error.
pub(crate) fn read_header(
    rows: &mut dyn RowFormat,
    source: &mut dyn RecordSource,
    name: &str,
) -> LgsResult<Vec<String>> {
    let (line, names) = source.header()?;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    rows.header(&refs).map_err(|message| LgsError::BadHeader {
        path: PathBuf::from(name),
        line: line.max(1),
        message,
    })?;
    Ok(names)
}

/// Loads one record into `rows`, or says why it is quarantined: malformed before
/// its fields are looked at, the wrong number of fields, or a field that does not
/// parse. The one decision every ingest path takes for every record.
pub(crate) fn load_record(
    rows: &mut dyn RowFormat,
    width: usize,
    rec: &mut Record,
) -> std::result::Result<(), String> {
    match rec.error.take() {
        Some(reason) => Err(reason),
        None if rec.fields.len() != width => Err(format!(
            "expected {width} fields, found {}",
            rec.fields.len()
        )),
        None => rows.push(&rec.fields),
    }
}

struct RetailFormat {
    builder: RetailBuilder,
    positions: [usize; 8],
}

impl RowFormat for RetailFormat {
    fn header(&mut self, names: &[&str]) -> Result<(), String> {
        let (_, positions) = match_header(names).ok_or_else(|| {
            format!(
                "unknown header {:?}; expected one of:\n  {}",
                names.join(","),
                expected_headers().join("\n  ")
            )
        })?;
        self.positions = positions;
        Ok(())
    }

    fn push(&mut self, fields: &Fields) -> Result<(), String> {
        self.builder.push(fields, &self.positions)
    }

    fn buffered(&self) -> usize {
        self.builder.len()
    }

    fn finish(&mut self) -> RecordBatch {
        self.builder.finish()
    }
}
