//! `--html FILE` and `--png DIR`: the report page (every section's figures and
//! charts, see [`crate::html`]) and every chart as a PNG.

use std::path::PathBuf;

use async_trait::async_trait;
use datafusion::prelude::SessionContext;

use super::Sink;
use crate::analytics::Report;
use crate::error::{LgsError, Result};
use crate::html::{PageInfo, ReportPage};
use crate::warehouse::TableInfo;

/// The self-contained HTML page; the quality panel is computed over `ctx`.
pub struct Html {
    pub path: PathBuf,
    pub ctx: SessionContext,
    pub tables: Vec<TableInfo>,
    pub info: PageInfo,
}

#[async_trait]
impl Sink for Html {
    async fn write(&self, report: &Report) -> Result<Option<String>> {
        let page = ReportPage::from_report(&self.ctx, &self.tables, report.clone()).await?;
        std::fs::write(&self.path, page.html(&self.info)).map_err(|e| LgsError::Write {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        Ok(Some(format!("wrote {}", self.path.display())))
    }
}

/// Every chart as `<id>.png` in a directory.
pub struct Png(pub PathBuf);

#[async_trait]
impl Sink for Png {
    async fn write(&self, report: &Report) -> Result<Option<String>> {
        let written = crate::charts::png::write_all(report.charts(), &self.0)?;
        Ok(Some(format!(
            "wrote {} charts to {}",
            written.len(),
            self.0.display()
        )))
    }
}
