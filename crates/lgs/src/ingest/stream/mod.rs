//! Streams: transactions from a message broker loaded into a table in
//! micro-batches, exactly once.
//!
//! Each batch of messages is read as one more ingest input (see [`messages`]): the
//! same validation and quarantine as a file (the stream in place of the file, the
//! message's position in place of the line), the same accounting, one Delta commit.
//!
//! **Exactly once.** The batch's last position is committed with its rows, as a
//! Delta application transaction (app id per stream, version = position; what
//! Spark's Delta sink and kafka-delta-ingest do), and the commit fails when the
//! table no longer holds the position the batch started after (another run moved
//! it). Messages are acknowledged only after the commit, and a stream that starts
//! again places the broker's consumer right after the table's position. A batch's
//! quarantined rows are committed to `<table>_rejected` first, with the same
//! position: a run killed between the two commits is followed by a run whose first
//! batch is the same messages and does not quarantine them again.

mod address;
pub mod kafka;
mod lanes;
pub mod messages;
pub mod nats;
pub mod replay;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Serialize;

use super::pipeline::run_pipeline;
use super::{Dataset, IngestOptions, NoProgress, PlannedInput};
use crate::error::{LgsError, Result};
use crate::facts::{CommitFacts, SourceFacts, StreamPosition};
use crate::schema::{RETAIL_TABLE, rejected_schema};
use crate::warehouse::Warehouse;
use crate::write::TableWriter;
use address::split_address;
use lanes::in_turn;
pub use lanes::{kafka_partitions, stream_all};
use messages::{MessageFormat, Messages, StreamMessage};

/// A message broker a stream reads.
#[async_trait]
pub trait Broker: Send {
    /// How the stream is shown (`nats://HOST:PORT/STREAM`), in reports and in the
    /// quarantine's source column.
    fn shown(&self) -> String;
    /// The application id its position is recorded under (one per stream and
    /// subject, or topic and partition).
    fn app_id(&self) -> String;
    /// Connects and places the consumer right after position `after` (0: from the
    /// first message).
    async fn start(&mut self, after: u64) -> Result<()>;
    /// Up to `max` messages, in position order, waiting at most `wait` for them.
    async fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<StreamMessage>>;
    /// Acknowledges every message fetched up to position `upto` (committed).
    async fn ack(&mut self, upto: u64) -> Result<()>;
}

/// How a stream runs.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// The table loaded (default `retail`); rejected rows go to `<table>_rejected`.
    pub table: Option<String>,
    pub format: MessageFormat,
    /// How long a batch waits for messages before it is committed with what came.
    pub trigger: Duration,
    /// The most messages in one batch (one commit).
    pub max_batch: usize,
    /// Stop after this long without a message (`None`: run until stopped).
    pub exit_when_idle: Option<Duration>,
    /// How long the broker may stay unreachable (retrying with backoff) before the
    /// stream stops with an error.
    pub retry_for: Duration,
    /// The key of the forget list's pseudonyms (see [`IngestOptions::pseudonym_key`]).
    pub pseudonym_key: Option<Arc<[u8]>>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            table: None,
            format: MessageFormat::Json,
            trigger: Duration::from_secs(1),
            max_batch: 100_000,
            exit_when_idle: None,
            retry_for: Duration::from_secs(60),
            pseudonym_key: None,
        }
    }
}

/// What one batch loaded.
#[derive(Debug, Clone, Serialize)]
pub struct BatchReport {
    /// The stream (a Kafka topic's partition: `kafka://HOST:PORT/TOPIC#N`).
    pub broker: String,
    /// Positions of its first and last message.
    pub first: u64,
    pub last: u64,
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_rejected: u64,
    /// Rows of forgotten customers dropped (see [`crate::warehouse::ForgetRequest`]).
    #[serde(skip_serializing_if = "super::is_zero")]
    pub rows_forgotten: u64,
    /// The table's new version, and the quarantine's when rows were quarantined.
    pub version: u64,
    pub rejected_version: Option<u64>,
    pub seconds: f64,
    /// When the rows' commit was done (milliseconds since the Unix epoch).
    pub committed_ms: i64,
    #[serde(skip)]
    committed: Option<Instant>,
}

/// What a stream did until it stopped.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamReport {
    pub broker: String,
    pub table: String,
    /// The position the table held when the stream started, and when it stopped.
    pub started_after: u64,
    pub position: u64,
    pub batches: u64,
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_rejected: u64,
    /// Rows of forgotten customers dropped.
    #[serde(skip_serializing_if = "super::is_zero")]
    pub rows_forgotten: u64,
    /// Why it stopped: `idle`, `stopped` (a signal).
    pub stopped: String,
    /// From the start to the last batch's commit.
    pub seconds: f64,
    /// Freshness: from the broker storing a message to the commit that made its row
    /// readable, in milliseconds, over every message loaded (`None` without any).
    pub freshness_ms: Option<Freshness>,
    /// With several streams side by side (a Kafka topic's partitions), each one's
    /// report; the figures above are their sums.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lanes: Vec<StreamReport>,
}

/// Percentiles of the time from publish to commit.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Freshness {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

impl Freshness {
    pub(super) fn of(mut millis: Vec<u64>) -> Option<Freshness> {
        if millis.is_empty() {
            return None;
        }
        millis.sort_unstable();
        let at = |q: f64| millis[((millis.len() - 1) as f64 * q).round() as usize];
        Some(Freshness {
            p50: at(0.5),
            p99: at(0.99),
            max: millis[millis.len() - 1],
        })
    }
}

/// Receives what a stream does, as it does it.
pub trait StreamProgress: Send + Sync {
    /// The stream starts after `position`.
    fn started(&self, _broker: &str, _position: u64) {}
    /// A batch was committed.
    fn batch(&self, _batch: &BatchReport) {}
    /// The broker failed; the stream tries again after `wait`.
    fn retrying(&self, _error: &LgsError, _wait: Duration) {}
}

/// Progress that goes nowhere.
impl StreamProgress for NoProgress {}

/// Runs a stream from `broker` into the warehouse until it has been idle for
/// [`StreamOptions::exit_when_idle`] or `stop` turns true (the batch in hand is
/// committed first). While a batch is loaded and committed, the next one is
/// fetched.
pub async fn stream(
    warehouse: &Warehouse,
    broker: &mut dyn Broker,
    options: &StreamOptions,
    stop: tokio::sync::watch::Receiver<bool>,
    progress: &dyn StreamProgress,
) -> Result<StreamReport> {
    let (mut report, freshness) = lane(warehouse, broker, options, stop, progress, None).await?;
    report.freshness_ms = Freshness::of(freshness);
    Ok(report)
}

/// One stream: its report, and the freshness of every message it loaded (ms).
pub(super) async fn lane(
    warehouse: &Warehouse,
    broker: &mut dyn Broker,
    options: &StreamOptions,
    mut stop: tokio::sync::watch::Receiver<bool>,
    progress: &dyn StreamProgress,
    turns: Option<&tokio::sync::Mutex<()>>,
) -> Result<(StreamReport, Vec<u64>)> {
    options.format.check()?;
    let table = options
        .table
        .as_deref()
        .unwrap_or(Dataset::Retail.default_table());
    super::check_table_name(table)?;
    warehouse.ensure_writable().await?;
    let target = Target {
        table,
        shown: broker.shown(),
        app_id: broker.app_id(),
        turns,
    };
    let loaded = warehouse.stream_position(table, &target.app_id).await?;
    let rejected_table = format!("{table}_rejected");
    let quarantined = warehouse
        .stream_position(&rejected_table, &target.app_id)
        .await?;
    let mut run = Run::new(&target, loaded.unwrap_or(0), quarantined.unwrap_or(0));
    // The live state follows the batches, each refresh beside the next batch's load
    // (first the commits of a run killed before it brought the state along).
    let live = table == RETAIL_TABLE && crate::live::exists(warehouse).await?;
    if live {
        in_turn(turns, crate::live::keep(warehouse)).await;
    }
    retrying(options, progress, async || {
        broker.start(run.at.loaded).await
    })
    .await?;
    progress.started(&target.shown, run.at.loaded);
    let mut prefetched: Option<Vec<StreamMessage>> = None;
    loop {
        if *stop.borrow() {
            run.report.stopped = "stopped".into();
            break;
        }
        let mut batch: Vec<StreamMessage> = run.pending.drain(..).collect();
        if batch.is_empty() {
            batch = match prefetched.take() {
                Some(batch) => batch,
                None => tokio::select! {
                    fetched = fetch(broker, options, progress, run.at.loaded) => fetched?,
                    _ = stop.changed() => continue,
                },
            };
        }
        let Some((batch, recovering)) = run.admit(batch) else {
            if options
                .exit_when_idle
                .is_some_and(|idle| run.last_message.elapsed() >= idle)
            {
                run.report.stopped = "idle".into();
                break;
            }
            continue;
        };
        let published: Vec<i64> = batch.iter().map(|m| m.published_ms).collect();
        let (at, prefetch) = (run.at, run.pending.is_empty());
        let follow = live && run.report.batches > 0;
        let (done, next, ()) = tokio::join!(
            load_batch(warehouse, &target, options, batch, at, recovering),
            async {
                match prefetch {
                    true => Some(fetch(broker, options, progress, at.loaded).await),
                    false => None,
                }
            },
            async {
                if follow {
                    in_turn(turns, crate::live::keep(warehouse)).await;
                }
            }
        );
        let done = done?;
        run.record(&done, published);
        if let Err(e) = broker.ack(done.last).await {
            // Loaded all the same: a message delivered again is recognised by its
            // position and skipped.
            tracing::warn!("{e}");
        }
        progress.batch(&done);
        prefetched = next.transpose()?;
    }
    if live && run.report.batches > 0 {
        in_turn(turns, crate::live::keep(warehouse)).await;
    }
    if run.report.batches > 0 {
        // The ingest log lists the batches too (a run killed before this is listed
        // by the next run of any ingest).
        in_turn(turns, super::log::record(warehouse, table)).await?;
    }
    Ok((run.report, run.freshness))
}

/// The table a stream loads, and how the stream is named in it.
struct Target<'a> {
    table: &'a str,
    shown: String,
    app_id: String,
    /// Taken by each commit when several streams load the table side by side.
    turns: Option<&'a tokio::sync::Mutex<()>>,
}

/// A running stream's state.
struct Run {
    at: Positions,
    /// Messages fetched but left for the next batch.
    pending: VecDeque<StreamMessage>,
    report: StreamReport,
    started: Instant,
    last_message: Instant,
    freshness: Vec<u64>,
}

impl Run {
    fn new(target: &Target<'_>, loaded: u64, quarantined: u64) -> Run {
        Run {
            at: Positions {
                loaded,
                quarantined,
            },
            pending: VecDeque::new(),
            report: StreamReport {
                broker: target.shown.clone(),
                table: target.table.to_string(),
                started_after: loaded,
                position: loaded,
                ..StreamReport::default()
            },
            started: Instant::now(),
            last_message: Instant::now(),
            freshness: Vec::new(),
        }
    }

    /// The messages of `batch` to load now (`None`: none), in position order, and
    /// whether they are a batch whose quarantine was committed but not its rows
    /// (that batch again, without quarantining its rows a second time; what
    /// follows it waits in `pending`).
    fn admit(&mut self, mut batch: Vec<StreamMessage>) -> Option<(Vec<StreamMessage>, bool)> {
        // Messages delivered again (after a redelivery) that are already loaded.
        batch.retain(|m| m.position > self.at.loaded);
        batch.sort_by_key(|m| m.position);
        batch.dedup_by_key(|m| m.position);
        if batch.is_empty() {
            return None;
        }
        self.last_message = Instant::now();
        let recovering = batch[0].position <= self.at.quarantined;
        if recovering {
            let keep = batch.partition_point(|m| m.position <= self.at.quarantined);
            self.pending.extend(batch.drain(keep..));
        }
        Some((batch, recovering))
    }

    /// Counts a committed batch; `published` are its messages' publish times.
    fn record(&mut self, done: &BatchReport, published: Vec<i64>) {
        let now = done.committed_ms;
        self.freshness.extend(
            published
                .into_iter()
                .filter(|&p| p > 0)
                .map(|p| (now - p).max(0) as u64),
        );
        self.at.loaded = done.last;
        if done.rejected_version.is_some() {
            self.at.quarantined = done.last;
        }
        let report = &mut self.report;
        report.batches += 1;
        report.rows_read += done.rows_read;
        report.rows_loaded += done.rows_loaded;
        report.rows_rejected += done.rows_rejected;
        report.rows_forgotten += done.rows_forgotten;
        report.position = done.last;
        let committed = done.committed.unwrap_or_else(Instant::now);
        report.seconds = committed.duration_since(self.started).as_secs_f64();
    }
}

/// The positions a table and its quarantine hold for a stream.
#[derive(Debug, Clone, Copy)]
struct Positions {
    loaded: u64,
    quarantined: u64,
}

/// Fetches the next messages, starting the consumer again after the table's
/// position when the broker failed (with backoff, for at most `retry_for`).
async fn fetch(
    broker: &mut dyn Broker,
    options: &StreamOptions,
    progress: &dyn StreamProgress,
    loaded: u64,
) -> Result<Vec<StreamMessage>> {
    match broker.fetch(options.max_batch, options.trigger).await {
        Ok(messages) => Ok(messages),
        Err(_) => {
            retrying(options, progress, async || {
                broker.start(loaded).await?;
                broker.fetch(options.max_batch, options.trigger).await
            })
            .await
        }
    }
}

/// Runs `attempt` until it succeeds, waiting longer after each broker failure (0.5 s
/// doubling to 8 s), for at most [`StreamOptions::retry_for`].
pub(super) async fn retrying<T>(
    options: &StreamOptions,
    progress: &dyn StreamProgress,
    mut attempt: impl AsyncFnMut() -> Result<T>,
) -> Result<T> {
    let started = Instant::now();
    let mut wait = Duration::from_millis(500);
    loop {
        match attempt().await {
            Err(e @ LgsError::Broker { .. }) => {
                if started.elapsed() + wait > options.retry_for {
                    return Err(e);
                }
                progress.retrying(&e, wait);
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(8));
            }
            done => return done,
        }
    }
}

/// Loads one batch: its rows and quarantined rows written, the quarantine committed,
/// then the rows, each with the batch's last position.
async fn load_batch(
    warehouse: &Warehouse,
    target: &Target<'_>,
    options: &StreamOptions,
    batch: Vec<StreamMessage>,
    at: Positions,
    recovering: bool,
) -> Result<BatchReport> {
    let started = Instant::now();
    let (first, last) = (batch[0].position, batch[batch.len() - 1].position);
    let (table, shown) = (target.table, &target.shown);
    let ingest = IngestOptions {
        table: Some(table.to_string()),
        ..IngestOptions::default()
    };
    let input = Messages {
        shown: shown.clone(),
        format: options.format.clone(),
        messages: Arc::new(batch),
    };
    let lanes = vec![vec![PlannedInput {
        input: Box::new(input),
        rejected_already_stored: recovering,
    }]];
    let ingest_id = uuid::Uuid::new_v4().to_string();
    let dataset = &ingest.dataset;
    let mut data = TableWriter::new(
        warehouse,
        table,
        dataset.schema(),
        dataset.partition_columns(),
    );
    let rejected_table = format!("{table}_rejected");
    let mut rejected = TableWriter::new(warehouse, &rejected_table, rejected_schema(), vec![]);
    // Read at every batch: a customer forgotten while the stream runs is dropped
    // from the next batch on.
    let forget = super::forget::Filter::load(warehouse, options.pseudonym_key.as_ref())
        .await?
        .map(Arc::new);
    let read = run_pipeline(
        lanes,
        &ingest,
        forget,
        &ingest_id,
        Arc::new(NoProgress),
        &mut data,
        &mut rejected,
    )
    .await;
    let read = match read {
        Ok((read, _)) => read,
        Err(e) => {
            data.abort();
            rejected.abort();
            return Err(e);
        }
    };
    // One input, one report.
    let source = SourceFacts {
        path: format!("{shown}#{first}-{last}"),
        ..read.first().map(SourceFacts::from).unwrap_or_default()
    };
    let rows_forgotten = read.first().map_or(0, |r| r.rows_forgotten);
    let facts = CommitFacts {
        ingest_id: Some(ingest_id),
        sources: vec![source.clone()],
        rows_forgotten: (rows_forgotten > 0).then_some(rows_forgotten),
        ..CommitFacts::default()
    };
    let (version, rejected_version) = in_turn(
        target.turns,
        commit_batch(target, facts, &mut data, &mut rejected, at, last),
    )
    .await?;
    Ok(BatchReport {
        broker: shown.clone(),
        first,
        last,
        rows_read: source.rows_read,
        rows_loaded: source.rows_loaded,
        rows_rejected: source.rows_rejected,
        rows_forgotten,
        version,
        rejected_version,
        seconds: started.elapsed().as_secs_f64(),
        committed_ms: chrono::Utc::now().timestamp_millis(),
        committed: Some(Instant::now()),
    })
}

/// Commits a batch written to `data` and `rejected`: the quarantine first (when it
/// holds rows), then the rows, each recording position `last` after the one the
/// table holds (`at`). Returns both versions.
async fn commit_batch(
    target: &Target<'_>,
    facts: CommitFacts,
    data: &mut TableWriter<'_>,
    rejected: &mut TableWriter<'_>,
    at: Positions,
    last: u64,
) -> Result<(u64, Option<u64>)> {
    let position = |after| StreamPosition {
        app_id: target.app_id.clone(),
        after,
        position: last,
    };
    let rejected_version = if rejected.rows() > 0 {
        let facts = CommitFacts {
            rows_written: rejected.rows(),
            stream: Some(position(at.quarantined)),
            ..facts.clone()
        };
        let version = committed(rejected.commit(&facts, false).await, &target.shown)?;
        // A test hook: the process dies between the two commits.
        if std::env::var_os("LGS_TEST_STREAM_ABORT_AFTER_QUARANTINE").is_some() {
            std::process::abort();
        }
        Some(version)
    } else {
        None
    };
    let source = &facts.sources[0];
    let facts = CommitFacts {
        rows_read: Some(source.rows_read),
        rows_loaded: Some(source.rows_loaded),
        rows_rejected: Some(source.rows_rejected),
        rows_written: source.rows_loaded,
        stream: Some(position(at.loaded)),
        ..facts.clone()
    };
    let version = committed(data.commit(&facts, false).await, &target.shown)?;
    Ok((version, rejected_version))
}

/// A commit's outcome, with what a lost race means for a stream.
fn committed(outcome: Result<u64>, shown: &str) -> Result<u64> {
    outcome.map_err(|e| match e {
        LgsError::ConcurrentWrite { table } => LgsError::Broker {
            broker: shown.to_string(),
            message: format!(
                "another run moved this stream's position in table {table} since this one \
                 read it (two `lgs stream` on one stream and table?); nothing of this batch \
                 was committed to {table}, and a stream started again resumes after what was"
            ),
        },
        other => other,
    })
}
