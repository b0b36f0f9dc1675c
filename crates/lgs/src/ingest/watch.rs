//! Directory drops as a stream (what Databricks Auto Loader does): `lgs ingest
//! --watch LOCATION` lists a directory or object-store prefix every interval and
//! ingests the files it has not loaded, with every guarantee of [`ingest`]: each
//! content once (also with other runs on the table), one commit per round, the
//! quarantine, the ingest log.
//!
//! A file is taken once it is complete: a local file when two listings one
//! interval apart found it at the same size (a file still being written is left for
//! a later round); an object as soon as it is listed (an upload appears whole).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::location::{self, InputFile};
use super::{IngestOptions, IngestProgress, IngestReport, ingest};
use crate::error::{LgsError, Result};
use crate::warehouse::Warehouse;

/// How a watch runs.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Between two listings.
    pub interval: Duration,
    /// Stop after this long without a new file (`None`: until stopped).
    pub exit_when_idle: Option<Duration>,
}

/// Watches `location` until idle or `stop` turns true (between rounds), calling
/// `round` with each round's ingest report (only for rounds that found files).
pub async fn watch(
    warehouse: &Warehouse,
    location: &str,
    options: &IngestOptions,
    watch: &WatchOptions,
    mut stop: tokio::sync::watch::Receiver<bool>,
    progress: Arc<dyn IngestProgress>,
    mut round: impl FnMut(&IngestReport),
) -> Result<()> {
    let remote = crate::storage::is_remote(location);
    if !remote && !std::path::Path::new(location).is_dir() {
        return Err(LgsError::InvalidArgument {
            what: "--watch",
            message: format!(
                "{location}: not a directory (watch a directory or an s3:// or az:// prefix)"
            ),
        });
    }
    // Size of each local file at the last listing; paths already handed to an ingest.
    let mut sizes: HashMap<String, u64> = HashMap::new();
    let mut taken: HashMap<String, u64> = HashMap::new();
    let mut last_new = Instant::now();
    loop {
        let listed = list(location).await?;
        let mut ready = Vec::new();
        for file in &listed {
            let (shown, size) = (file.shown(), file.size());
            let settled = remote || sizes.get(&shown) == Some(&size);
            sizes.insert(shown.clone(), size);
            if settled && taken.get(&shown) != Some(&size) {
                ready.push(shown);
            }
        }
        if !ready.is_empty() {
            last_new = Instant::now();
            // Content already loaded (by an earlier round, run or concurrent run) is
            // skipped by the ingest itself, by its fingerprint.
            let report = ingest(warehouse, &ready, options, progress.clone()).await?;
            for file in &ready {
                taken.insert(file.clone(), sizes[file]);
            }
            round(&report);
        } else if watch
            .exit_when_idle
            .is_some_and(|idle| last_new.elapsed() >= idle)
        {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(watch.interval) => {}
            _ = stop.changed() => return Ok(()),
        }
        if *stop.borrow() {
            return Ok(());
        }
    }
}

/// The data files at `location` now (none in an empty directory or prefix).
async fn list(location: &str) -> Result<Vec<InputFile>> {
    match location::expand(&[location.to_string()]).await {
        Ok(files) => Ok(files),
        Err(LgsError::InputNotFound { .. }) => Ok(vec![]),
        Err(e) => Err(e),
    }
}
