//! Outputs of a [`Report`]: each is a [`Sink`] that iterates the report's sections
//! and their result tables, charts and figures, so that a new analysis appears in
//! every output without touching them, and a new output is one module.
//!
//! | sink | what it writes |
//! |---|---|
//! | [`terminal::Terminal`] | readable tables on standard output |
//! | [`json::Json`] | one JSON document on standard output |
//! | [`csv::Csv`] | every summary table as CSV on standard output |
//! | [`files::Files`] | every result table as Parquet and CSV files (`--out`) |
//! | [`delta::Delta`] | every result table as a warehouse table (`--save`) |
//! | [`postgres::Postgres`] | every result table into PostgreSQL (`--to`) |
//! | [`visual::Html`], [`visual::Png`] | the HTML page, every chart as PNG |
//!
//! The dashboard serves the same page as [`visual::Html`].

pub mod csv;
pub mod delta;
pub mod files;
pub mod json;
pub mod postgres;
pub mod terminal;
pub mod visual;

use async_trait::async_trait;

use crate::analytics::Report;
use crate::error::Result;

pub use crate::format::group;
pub use csv::to_csv;
pub use json::to_json;
pub use terminal::to_tables;

/// Somewhere a report goes.
#[async_trait]
pub trait Sink: Send + Sync {
    /// Writes the report; returns a line saying what was written and where, for
    /// the user (`None` for standard output, where the report itself is the news).
    async fn write(&self, report: &Report) -> Result<Option<String>>;
}

/// Writes `report` to every sink in order; `told` gets each sink's line.
pub async fn write_all(
    report: &Report,
    sinks: &[Box<dyn Sink>],
    mut told: impl FnMut(&str),
) -> Result<()> {
    for sink in sinks {
        if let Some(line) = sink.write(report).await? {
            told(&line);
        }
    }
    Ok(())
}

/// Writes `text` to standard output.
fn print(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| crate::error::LgsError::Write {
            path: "<stdout>".into(),
            message: e.to_string(),
        })
}
