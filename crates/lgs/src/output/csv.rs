//! The report's summary tables as CSV sections on one stream, each preceded by
//! `# name` (tables of one row per customer are left out: `--out` writes them).

use async_trait::async_trait;

use super::Sink;
use crate::analytics::Report;
use crate::error::{LgsError, Result};

/// CSV on standard output.
pub struct Csv;

#[async_trait]
impl Sink for Csv {
    async fn write(&self, report: &Report) -> Result<Option<String>> {
        super::print(&to_csv(report)?)?;
        Ok(None)
    }
}

/// The report's summary tables as CSV sections, each preceded by `# name`.
pub fn to_csv(report: &Report) -> Result<String> {
    let mut out = Vec::new();
    for table in report.tables().filter(|t| !t.detail) {
        out.extend_from_slice(format!("# {}\n", table.name).as_bytes());
        let mut writer = datafusion::arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(&mut out);
        writer.write(&table.batch).map_err(|e| LgsError::Write {
            path: "<stdout>".into(),
            message: e.to_string(),
        })?;
        drop(writer);
        out.push(b'\n');
    }
    Ok(String::from_utf8(out).expect("CSV of UTF-8 data is UTF-8"))
}
