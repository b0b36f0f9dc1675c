//! `--out DIR`: every result table as `<name>.parquet` and `<name>.csv`.

use std::fs::File;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use datafusion::parquet::arrow::ArrowWriter;

use super::Sink;
use crate::analytics::Report;
use crate::error::{LgsError, Result};

/// Result files in a directory.
pub struct Files(pub PathBuf);

#[async_trait]
impl Sink for Files {
    async fn write(&self, report: &Report) -> Result<Option<String>> {
        let written = write_results(report, &self.0)?;
        Ok(Some(format!(
            "wrote {} files to {}",
            written.len(),
            self.0.display()
        )))
    }
}

/// Writes every result table as `<name>.parquet` and `<name>.csv` into `dir`.
pub fn write_results(report: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| LgsError::Write {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut written = Vec::new();
    for table in report.tables() {
        let (name, batch) = (table.name, &table.batch);
        let parquet_path = dir.join(format!("{name}.parquet"));
        let csv_path = dir.join(format!("{name}.csv"));
        let fail = |path: &Path, e: &dyn std::fmt::Display| LgsError::Write {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let file = File::create(&parquet_path).map_err(|e| fail(&parquet_path, &e))?;
        let mut writer = ArrowWriter::try_new(file, batch.schema(), None)
            .map_err(|e| fail(&parquet_path, &e))?;
        writer.write(batch).map_err(|e| fail(&parquet_path, &e))?;
        writer.close().map_err(|e| fail(&parquet_path, &e))?;
        let file = File::create(&csv_path).map_err(|e| fail(&csv_path, &e))?;
        let mut writer = datafusion::arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(file);
        writer.write(batch).map_err(|e| fail(&csv_path, &e))?;
        written.push(parquet_path);
        written.push(csv_path);
    }
    Ok(written)
}
