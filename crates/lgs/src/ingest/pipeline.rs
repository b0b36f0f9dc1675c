//! The ingest pipeline: one parsing worker per lane turns its inputs' records into
//! Arrow batches (rows and rejected rows), streamed into the table writers.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use super::batch::RejectedBuilder;
use super::chunks::Chunk;
use super::csv::{RawRecord, RecordReader};
use super::forget::Filter;
use super::format::{RowFormat, load_record, read_header};
use super::records::{Chunks, Record, RecordSource, csv_record};
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
    let cores = tokio::runtime::Handle::current().metrics().num_workers();
    let parse_threads = options
        .parse_threads
        .unwrap_or_else(|| default_parse_threads(cores, lanes.len()))
        .max(1);
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
            parse_threads,
            chunk_bytes: options.chunk_bytes.max(1),
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

/// Parsing threads per lane by default: the runtime's workers (`--threads`) less
/// two, one for the Parquet encoder and one for reading, shared among the lanes.
/// Below four workers, record by record: on two cores the encoder and one parser
/// already keep both busy, and chunks parsed side by side took as long with 2.6
/// times the memory (BENCHMARKS.md, "One CSV parsed in chunks").
fn default_parse_threads(workers: usize, lanes: usize) -> usize {
    if workers < 4 {
        return 1;
    }
    ((workers - 2) / lanes.max(1)).max(1)
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
    /// Threads that parse one CSV source's chunks side by side (1: record by
    /// record on the worker's own thread).
    parse_threads: usize,
    /// Bytes of CSV text per chunk.
    chunk_bytes: usize,
}

impl Worker {
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

    /// Reads the records of one source (a file, a sheet, a partition): CSV text in
    /// chunks parsed side by side when there are cores for it, any other source
    /// record by record.
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
        let names = read_header(rows.as_mut(), source.as_mut(), name)?;
        let unit = Unit {
            name,
            names: &names,
            store_rejected,
        };
        if self.parse_threads > 1
            && let Some(chunks) = source.chunks(self.chunk_bytes)
        {
            return self.parse_chunks(&unit, chunks, report, first_rejection, counter);
        }
        let mut parsed = Parsed::default();
        let mut rec = Record::default();
        while source.next(&mut rec)? {
            self.take(&unit, rows.as_mut(), &mut rec, &mut parsed)?;
            if !parsed.rows.is_empty() || !parsed.rejects.is_empty() {
                self.emit(parsed.take_done(), report, first_rejection)?;
            }
            if (report.rows_read + parsed.read).is_multiple_of(16_384) {
                self.progress.advanced(counter.load(Ordering::Relaxed));
            }
        }
        self.finish(rows.as_mut(), &mut parsed)?;
        self.emit(parsed, report, first_rejection)
    }

    /// Loads one record into `rows` or the rejects of `parsed`, moving full batches
    /// into `parsed`.
    fn take(
        &self,
        unit: &Unit<'_>,
        rows: &mut dyn RowFormat,
        rec: &mut Record,
        parsed: &mut Parsed,
    ) -> Result<()> {
        parsed.read += 1;
        match load_record(rows, unit.names.len(), rec) {
            Ok(()) => {
                parsed.loaded += 1;
                if rows.buffered() >= self.batch_rows {
                    let batch = rows.finish();
                    self.keep_rows(batch, parsed)?;
                }
            }
            Err(_)
                if self
                    .forget
                    .as_ref()
                    .is_some_and(|f| f.names_forgotten(&rec.raw)) =>
            {
                parsed.forgotten += 1;
            }
            Err(reason) => {
                parsed.rejected += 1;
                if parsed.first_rejection.is_none() {
                    parsed.first_rejection = Some(format!("{}:{}: {reason}", unit.name, rec.line));
                }
                if unit.store_rejected {
                    parsed
                        .building
                        .push(unit.name, rec.line, &rec.raw, &reason, &self.ingest_id);
                    if parsed.building.len() >= self.batch_rows {
                        parsed.rejects.push(parsed.building.finish());
                    }
                }
            }
        }
        Ok(())
    }

    /// Moves what is still buffered into `parsed`.
    fn finish(&self, rows: &mut dyn RowFormat, parsed: &mut Parsed) -> Result<()> {
        if rows.buffered() > 0 {
            let batch = rows.finish();
            self.keep_rows(batch, parsed)?;
        }
        if !parsed.building.is_empty() {
            let rejects = parsed.building.finish();
            parsed.rejects.push(rejects);
        }
        Ok(())
    }

    /// Keeps a batch of rows without those of forgotten customers (counted).
    fn keep_rows(&self, batch: RecordBatch, parsed: &mut Parsed) -> Result<()> {
        let batch = match &self.forget {
            None => batch,
            Some(filter) => {
                let (kept, dropped) = filter.rows(batch)?;
                parsed.dropped += dropped;
                kept
            }
        };
        parsed.rows.push(batch);
        Ok(())
    }

    /// Counts what was parsed into `report` and sends its batches to the writers.
    fn emit(
        &self,
        parsed: Parsed,
        report: &mut FileReport,
        first_rejection: &mut Option<String>,
    ) -> Result<()> {
        report.rows_read += parsed.read;
        // Dropped rows were counted as loaded when they were parsed, possibly in
        // an earlier run of records (a batch spans them).
        report.rows_loaded = report.rows_loaded + parsed.loaded - parsed.dropped;
        report.rows_rejected += parsed.rejected;
        report.rows_forgotten += parsed.forgotten + parsed.dropped;
        if first_rejection.is_none() {
            *first_rejection = parsed.first_rejection;
        }
        for batch in parsed.rows {
            self.send(Message::Rows(batch))?;
        }
        for batch in parsed.rejects {
            self.send(Message::Rejected(batch))?;
        }
        Ok(())
    }

    /// Parses CSV text chunk by chunk on `parse_threads` threads, sending each
    /// chunk's rows in the file's order. At most twice as many chunks as threads
    /// are read ahead, so memory stays bounded whatever the file's size.
    fn parse_chunks(
        &self,
        unit: &Unit<'_>,
        mut chunks: Chunks,
        report: &mut FileReport,
        first_rejection: &mut Option<String>,
        counter: &AtomicU64,
    ) -> Result<()> {
        let threads = self.parse_threads;
        let (job_tx, job_rx) = std::sync::mpsc::sync_channel::<(u64, Chunk)>(threads);
        let job_rx = std::sync::Mutex::new(job_rx);
        let (done_tx, done_rx) = std::sync::mpsc::channel::<(u64, Result<Parsed>)>();
        std::thread::scope(|scope| {
            // Owned here, so that leaving early (an error) ends the threads' loops.
            let job_tx = job_tx;
            for _ in 0..threads {
                let (job_rx, done_tx) = (&job_rx, done_tx.clone());
                scope.spawn(move || {
                    let mut rows = self.dataset.new_format();
                    let names: Vec<&str> = unit.names.iter().map(String::as_str).collect();
                    // The header was recognised already by the same kind of format.
                    let _ = rows.header(&names);
                    loop {
                        let job = job_rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        let Ok((seq, chunk)) = job else {
                            return;
                        };
                        // A panic is this chunk's error, not a lost chunk the
                        // reader would wait for.
                        let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            self.parse_chunk(unit, rows.as_mut(), &chunk)
                        }))
                        .unwrap_or_else(|_| {
                            Err(LgsError::Worker(format!(
                                "parsing {} from line {} panicked",
                                unit.name,
                                chunk.lines_before + 1
                            )))
                        });
                        if done_tx.send((seq, parsed)).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(done_tx);
            // Chunks are read here and handed out; their results come back in any
            // order and are sent on in the file's.
            let ahead = 2 * threads as u64;
            let (mut sent, mut emitted) = (0u64, 0u64);
            let mut waiting = std::collections::BTreeMap::new();
            let mut ended = false;
            loop {
                while !ended && sent - emitted < ahead {
                    match chunks.next_chunk()? {
                        Some(chunk) => {
                            if job_tx.send((sent, chunk)).is_err() {
                                return Err(LgsError::Worker("the parsing threads stopped".into()));
                            }
                            sent += 1;
                        }
                        None => ended = true,
                    }
                }
                if sent == emitted {
                    return Ok(());
                }
                let Ok((seq, parsed)) = done_rx.recv() else {
                    return Err(LgsError::Worker("a parsing thread stopped".into()));
                };
                waiting.insert(seq, parsed);
                while let Some(parsed) = waiting.remove(&emitted) {
                    emitted += 1;
                    self.emit(parsed?, report, first_rejection)?;
                    self.progress.advanced(counter.load(Ordering::Relaxed));
                }
            }
        })
    }

    /// Parses one chunk of CSV text into rows and rejects.
    fn parse_chunk(
        &self,
        unit: &Unit<'_>,
        rows: &mut dyn RowFormat,
        chunk: &Chunk,
    ) -> Result<Parsed> {
        let mut reader = RecordReader::after_lines(&chunk.bytes[..], chunk.lines_before);
        let (mut raw, mut rec) = (RawRecord::default(), Record::default());
        let mut parsed = Parsed::default();
        // Reading from memory cannot fail.
        while reader.read_record(&mut raw).unwrap_or(false) {
            csv_record(&mut raw, &mut rec);
            self.take(unit, rows, &mut rec, &mut parsed)?;
        }
        self.finish(rows, &mut parsed)?;
        Ok(parsed)
    }
}

/// The source being read: its name, its header, whether its rejects are kept.
struct Unit<'a> {
    name: &'a str,
    names: &'a [String],
    store_rejected: bool,
}

/// What a run of records gave: batches of rows and of rejects, and the counts.
#[derive(Default)]
struct Parsed {
    rows: Vec<RecordBatch>,
    rejects: Vec<RecordBatch>,
    building: RejectedBuilder,
    read: u64,
    loaded: u64,
    rejected: u64,
    /// Records that did not parse but name a forgotten customer.
    forgotten: u64,
    /// Parsed rows of forgotten customers, dropped from the batches.
    dropped: u64,
    first_rejection: Option<String>,
}

impl Parsed {
    /// Everything parsed so far, counts and full batches, leaving the rejects
    /// still being built.
    fn take_done(&mut self) -> Parsed {
        let building = std::mem::take(&mut self.building);
        std::mem::replace(
            self,
            Parsed {
                building,
                ..Parsed::default()
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::default_parse_threads;

    #[test]
    fn chunks_are_parsed_side_by_side_from_four_workers_on() {
        assert_eq!(default_parse_threads(1, 1), 1);
        assert_eq!(default_parse_threads(2, 1), 1);
        assert_eq!(default_parse_threads(4, 1), 2);
        assert_eq!(default_parse_threads(16, 1), 14);
        assert_eq!(default_parse_threads(16, 4), 3);
        assert_eq!(default_parse_threads(16, 40), 1);
    }
}
