//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::prelude::SessionContext;
use lgs::Warehouse;
use lgs::ingest::{IngestOptions, IngestReport, NoProgress};

/// A temporary directory holding a warehouse and input files.
pub struct Scratch {
    pub dir: tempfile::TempDir,
    pub warehouse: Warehouse,
}

impl Scratch {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let warehouse = Warehouse::new(dir.path().join("warehouse"));
        Scratch { dir, warehouse }
    }

    /// Writes an input file and returns its path.
    pub fn file(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).expect("write input");
        path
    }

    pub async fn ingest(&self, paths: &[&Path]) -> lgs::Result<IngestReport> {
        self.ingest_with(paths, &IngestOptions::default()).await
    }

    pub async fn ingest_with(
        &self,
        paths: &[&Path],
        options: &IngestOptions,
    ) -> lgs::Result<IngestReport> {
        let inputs: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        lgs::ingest::ingest(&self.warehouse, &inputs, options, Arc::new(NoProgress)).await
    }

    /// Ingests from a `postgres://` URL.
    pub async fn ingest_url(
        &self,
        url: &str,
        options: &IngestOptions,
    ) -> lgs::Result<IngestReport> {
        let inputs = [url.to_string()];
        lgs::ingest::ingest(&self.warehouse, &inputs, options, Arc::new(NoProgress)).await
    }

    pub async fn context(&self) -> SessionContext {
        lgs::session::context(&self.warehouse)
            .await
            .expect("session")
    }

    /// Runs a query and renders the result as lines of `a|b|c`.
    pub async fn rows(&self, sql: &str) -> Vec<String> {
        let ctx = self.context().await;
        let batches = ctx
            .sql(sql)
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        let mut out = Vec::new();
        for batch in batches {
            for row in 0..batch.num_rows() {
                let cells: Vec<String> = batch
                    .columns()
                    .iter()
                    .map(|c| {
                        datafusion::arrow::util::display::array_value_to_string(c, row)
                            .expect("display")
                    })
                    .collect();
                out.push(cells.join("|"));
            }
        }
        out
    }
}

/// The warehouse-shaped header.
pub const HEADER: &str =
    "invoice_no,stock_code,description,quantity,invoice_date,unit_price,customer_id,country";

/// The repository's data directory.
pub fn repo_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(name)
}

/// This crate's test data directory.
pub fn test_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Asserts two floats are equal to a relative tolerance.
#[track_caller]
pub fn close(actual: f64, expected: f64, rel: f64) {
    let scale = expected.abs().max(1e-300);
    assert!(
        ((actual - expected) / scale).abs() <= rel || actual == expected,
        "{actual} != {expected} (relative tolerance {rel})"
    );
}

/// The typed results of the report's analyses, for the assertions.
pub trait Parts {
    fn invoices(&self) -> &lgs::analytics::InvoiceAmounts;
    fn monthly(&self) -> &[lgs::analytics::MonthRow];
    fn rfm(&self) -> &lgs::analytics::Rfm;
    fn cohorts(&self) -> &[lgs::analytics::cohorts::Cohort];
}

impl Parts for lgs::analytics::Report {
    fn invoices(&self) -> &lgs::analytics::InvoiceAmounts {
        self.part().expect("the invoices section")
    }
    fn monthly(&self) -> &[lgs::analytics::MonthRow] {
        &self
            .part::<lgs::analytics::Monthly>()
            .expect("the monthly section")
            .monthly
    }
    fn rfm(&self) -> &lgs::analytics::Rfm {
        self.part().expect("the rfm section")
    }
    fn cohorts(&self) -> &[lgs::analytics::cohorts::Cohort] {
        &self
            .part::<lgs::analytics::cohorts::Cohorts>()
            .expect("the cohorts section")
            .cohorts
    }
}

/// Every file under `dir`, recursively.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
