//! The report as one JSON document: `as_of`, then every section's keys in order.

use async_trait::async_trait;

use super::Sink;
use crate::analytics::Report;
use crate::error::Result;

/// One JSON document on standard output.
pub struct Json;

#[async_trait]
impl Sink for Json {
    async fn write(&self, report: &Report) -> Result<Option<String>> {
        super::print(&(to_json(report) + "\n"))?;
        Ok(None)
    }
}

/// The report as one JSON document (numbers unrounded).
pub fn to_json(report: &Report) -> String {
    serde_json::to_string_pretty(&report.to_json()).expect("a report always serialises")
}
