//! Ingest sources as plug-ins: where an input's records come from.
//!
//! A [`Source`] claims the inputs it understands (paths and object-store locations,
//! `postgres://` URLs, ...), and plans them: it finds what each input is, opens what
//! must stay open while it is read (a PostgreSQL snapshot), and groups its inputs
//! into lanes, each read by one worker thread (the files of a run one after the
//! other; each partition of a database read in parallel). Each planned [`Input`]
//! then opens its records ([`RecordSource`]) on its worker, and everything after
//! that (validation, quarantine, accounting, the skip of content already loaded,
//! the one commit) is the same for every source.
//!
//! A source carries its own options (the sheets of a workbook, the partitions of a
//! database read); [`IngestOptions::with`](super::IngestOptions::with) replaces the
//! default source of the same name. Adding a source is one module implementing
//! [`Source`] and one line in [`all`].

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use async_trait::async_trait;

use super::Dataset;
use super::records::RecordSource;
use crate::error::Result;

/// A kind of input an ingest reads.
#[async_trait]
pub trait Source: Send + Sync + std::fmt::Debug {
    /// The source's name (`files`, `postgres`); a source given to
    /// [`IngestOptions::with`](super::IngestOptions::with) replaces the one of the same name.
    fn name(&self) -> &'static str;

    /// Whether this source reads `input` (as given on the command line). The first
    /// source in [`all`] that claims an input reads it.
    fn claims(&self, input: &str) -> bool;

    /// Plans the inputs this source claimed.
    async fn plan(&self, inputs: Vec<String>, target: &Target<'_>) -> Result<Plan>;
}

/// What an ingest writes, as far as planning its sources needs to know.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The table as the user named it (`schema.table` for a database read), if named.
    pub named: Option<&'a str>,
    /// The warehouse table written.
    pub table: &'a str,
    /// What the inputs hold.
    pub dataset: &'a Dataset,
}

/// A source's planned inputs.
#[derive(Default)]
pub struct Plan {
    /// How many inputs were found (files after expanding directories and globs,
    /// database reads), however many lanes they are read in.
    pub inputs: usize,
    /// Inputs read one after the other by one worker, lane by lane in parallel.
    pub lanes: Vec<Vec<Box<dyn Input>>>,
    /// Held until every input has been read (e.g. the transaction that keeps a
    /// database snapshot open).
    pub hold: Option<Box<dyn Any + Send>>,
}

/// One planned input.
pub trait Input: Send + Sync {
    /// How the input is shown in reports, progress and quarantine rows.
    fn shown(&self) -> String;

    /// A fingerprint of its content, by which content already loaded is skipped
    /// (empty for a live source, which is read every time).
    fn fingerprint(&self) -> &str;

    /// Its size in bytes as stored (0 when unknown), for progress.
    fn bytes(&self) -> u64;

    /// Opens its records: one source, or several (one per sheet of a workbook), each
    /// with the name its quarantined rows are given. Runs on the worker thread;
    /// `read` counts the bytes read as stored, for progress, and `handle` drives
    /// asynchronous reads.
    fn open(
        &self,
        dataset: &Dataset,
        read: Arc<AtomicU64>,
        handle: &tokio::runtime::Handle,
    ) -> Result<Vec<(String, Box<dyn RecordSource>)>>;
}

/// Every source, in the order they claim inputs: the last one claims what no other
/// does.
pub fn all() -> Vec<Arc<dyn Source>> {
    vec![
        Arc::new(super::postgres::Postgres::default()),
        Arc::new(super::files::Files::default()),
    ]
}
