//! Files as an ingest source: CSV (plain, gzip or zstd), plain `pg_dump` output,
//! Excel workbooks and Parquet, on the local disk or on object storage (see
//! [`location`](super::location) for how inputs are found and opened). All the
//! files of a run are read one after the other by one worker, so memory stays that
//! of one file's batches.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use async_trait::async_trait;

use super::Dataset;
use super::location::{self, InputFile};
use super::records::{self, FileKind, RecordSource};
use super::sources::{Input, Plan, Source, Target};
use crate::error::Result;

/// Files and directories, local or in object storage.
#[derive(Debug, Clone, Default)]
pub struct Files {
    /// The sheets to read from Excel workbooks (default: all).
    pub sheets: Option<Vec<String>>,
}

impl Files {
    /// Files whose workbooks are read only for these sheets.
    pub fn sheets(sheets: Vec<String>) -> Files {
        Files {
            sheets: Some(sheets),
        }
    }
}

#[async_trait]
impl Source for Files {
    fn name(&self) -> &'static str {
        "files"
    }

    fn claims(&self, _input: &str) -> bool {
        true
    }

    async fn plan(&self, inputs: Vec<String>, _target: &Target<'_>) -> Result<Plan> {
        let sheets = self.sheets.clone().map(Arc::new);
        let mut lane: Vec<Box<dyn Input>> = Vec::new();
        for file in location::expand(&inputs).await? {
            let kind = FileKind::of(&file).await?;
            let mut fingerprint = file.fingerprint().await?;
            if let (FileKind::Xlsx, Some(sheets)) = (kind, &sheets) {
                // Loading some sheets of a workbook does not load the others.
                fingerprint = format!("{fingerprint}#{}", sheets.join("#"));
            }
            lane.push(Box::new(FileInput {
                file,
                kind,
                fingerprint,
                sheets: sheets.clone(),
            }));
        }
        Ok(Plan {
            inputs: lane.len(),
            lanes: if lane.is_empty() { vec![] } else { vec![lane] },
            hold: None,
        })
    }
}

/// One file and what it was found to be.
struct FileInput {
    file: InputFile,
    kind: FileKind,
    fingerprint: String,
    sheets: Option<Arc<Vec<String>>>,
}

impl Input for FileInput {
    fn shown(&self) -> String {
        self.file.shown()
    }

    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn bytes(&self) -> u64 {
        self.file.size()
    }

    fn open(
        &self,
        dataset: &Dataset,
        read: Arc<AtomicU64>,
        handle: &tokio::runtime::Handle,
    ) -> Result<Vec<(String, Box<dyn RecordSource>)>> {
        records::open_file(
            &self.file,
            self.kind,
            dataset,
            self.sheets.as_deref().map(Vec::as_slice),
            read,
            handle,
        )
    }
}
