//! The ingest pipeline: one parsing worker per lane turns its inputs' records into
//! Arrow batches (rows and rejected rows), streamed into the table writers.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use super::batch::RejectedBuilder;
use super::forget::Filter;
use super::format::{load_record, read_header};
use super::records::{Record, RecordSource};
use super::{Dataset, FileReport, IngestOptions, IngestProgress, Message, PlannedInput};
use crate::error::{LgsError, Result};
use crate::write::TableWriter;
use datafusion::arrow::array::RecordBatch;

/// Streams batches from the parsing workers (one per lane) into the two table
/// writers.
pub(super) async fn run_pipeline(
    lanes: Vec<Vec<PlannedInput>>,
    options: &IngestOptions,
    forget: Option<Arc<Filter>>,
    ingest_id: &str,
    progress: Arc<dyn IngestProgress>,
    data: &mut TableWriter<'_>,
    rejected: &mut TableWriter<'_>,
) -> Result<(Vec<FileReport>, Option<String>)> {
    let (tx, mut rx) = mpsc::channel::<Message>(4 * lanes.len());
    let mut workers = Vec::new();
    for lane in lanes {
        let worker = Worker {
            batch_rows: options.batch_rows.max(1),
            strict: options.strict,
            dataset: options.dataset.clone(),
            ingest_id: ingest_id.to_string(),
            forget: forget.clone(),
            tx: tx.clone(),
            progress: progress.clone(),
            handle: tokio::runtime::Handle::current(),
        };
        workers.push(tokio::task::spawn_blocking(move || {
            let mut first_rejection = None;
            for input in &lane {
                worker.parse_input(input, &mut first_rejection)?;
            }
            Ok::<_, LgsError>(first_rejection)
        }));
    }
    drop(tx);
    let mut reports = Vec::new();
    let mut write_error = None;
    while let Some(message) = rx.recv().await {
        let result = match message {
            Message::Rows(batch) => data.write(batch).await,
            Message::Rejected(batch) => rejected.write(batch).await,
            Message::FileDone(report) => {
                reports.push(report);
                Ok(())
            }
        };
        if let Err(e) = result {
            write_error = Some(e);
            break;
        }
    }
    drop(rx);
    let mut first_rejection = None;
    let mut parse_error = None;
    for worker in workers {
        match worker.await.map_err(|e| LgsError::Worker(e.to_string()))? {
            Ok(first) => {
                if first_rejection.is_none() {
                    first_rejection = first;
                }
            }
            Err(e) => {
                parse_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = write_error.or(parse_error) {
        return Err(e);
    }
    reports.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((reports, first_rejection))
}

/// What a parsing worker works with.
struct Worker {
    batch_rows: usize,
    strict: bool,
    dataset: Dataset,
    ingest_id: String,
    /// The forgotten customers, whose rows are dropped.
    forget: Option<Arc<Filter>>,
    tx: mpsc::Sender<Message>,
    progress: Arc<dyn IngestProgress>,
    handle: tokio::runtime::Handle,
}

impl Worker {
    /// Sends a batch of rows, without those of forgotten customers (counted in
    /// `report`).
    fn send_rows(&self, batch: RecordBatch, report: &mut FileReport) -> Result<()> {
        let batch = match &self.forget {
            None => batch,
            Some(filter) => {
                let (kept, dropped) = filter.rows(batch)?;
                report.rows_loaded -= dropped;
                report.rows_forgotten += dropped;
                kept
            }
        };
        self.send(Message::Rows(batch))
    }

    fn send(&self, m: Message) -> Result<()> {
        self.tx
            .blocking_send(m)
            .map_err(|_| LgsError::Worker("the warehouse writer stopped".into()))
    }

    /// Reads one input (every sheet of a workbook), sending batches as they fill.
    fn parse_input(
        &self,
        input: &PlannedInput,
        first_rejection: &mut Option<String>,
    ) -> Result<()> {
        let counter = Arc::new(AtomicU64::new(0));
        let PlannedInput {
            input,
            rejected_already_stored,
        } = input;
        let shown = input.shown();
        self.progress.file_started(Path::new(&shown), input.bytes());
        let units = input.open(&self.dataset, counter.clone(), &self.handle)?;
        // Under --strict a rejected row fails the ingest: keep none.
        let store_rejected = !self.strict && !rejected_already_stored;
        let mut report = FileReport {
            path: shown,
            fingerprint: input.fingerprint().to_string(),
            bytes: input.bytes(),
            rows_read: 0,
            rows_loaded: 0,
            rows_rejected: 0,
            rows_forgotten: 0,
            skipped: None,
        };
        for (name, source) in units {
            self.parse_unit(
                &name,
                source,
                store_rejected,
                &mut report,
                first_rejection,
                &counter,
            )?;
        }
        self.progress.advanced(counter.load(Ordering::Relaxed));
        self.progress.file_finished(&report);
        self.send(Message::FileDone(report))
    }

    /// Reads the records of one source (a file, a sheet, a partition).
    fn parse_unit(
        &self,
        name: &str,
        mut source: Box<dyn RecordSource>,
        store_rejected: bool,
        report: &mut FileReport,
        first_rejection: &mut Option<String>,
        counter: &AtomicU64,
    ) -> Result<()> {
        let mut rows = self.dataset.new_format();
        let width = read_header(rows.as_mut(), source.as_mut(), name)?;
        let mut rejects = RejectedBuilder::default();
        let mut rec = Record::default();
        while source.next(&mut rec)? {
            report.rows_read += 1;
            let outcome = load_record(rows.as_mut(), width, &mut rec);
            match outcome {
                Ok(()) => {
                    report.rows_loaded += 1;
                    if rows.buffered() >= self.batch_rows {
                        self.send_rows(rows.finish(), report)?;
                    }
                }
                Err(_)
                    if self
                        .forget
                        .as_ref()
                        .is_some_and(|f| f.names_forgotten(&rec.raw)) =>
                {
                    report.rows_forgotten += 1;
                }
                Err(reason) => {
                    report.rows_rejected += 1;
                    if first_rejection.is_none() {
                        *first_rejection = Some(format!("{name}:{}: {reason}", rec.line));
                    }
                    if store_rejected {
                        rejects.push(name, rec.line, &rec.raw, &reason, &self.ingest_id);
                        if rejects.len() >= self.batch_rows {
                            self.send(Message::Rejected(rejects.finish()))?;
                        }
                    }
                }
            }
            if report.rows_read.is_multiple_of(16_384) {
                self.progress.advanced(counter.load(Ordering::Relaxed));
            }
        }
        if rows.buffered() > 0 {
            self.send_rows(rows.finish(), report)?;
        }
        if !rejects.is_empty() {
            self.send(Message::Rejected(rejects.finish()))?;
        }
        Ok(())
    }
}
