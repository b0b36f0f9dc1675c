//! SQL queries run by the dashboard's notebook page: each is a job that runs on its
//! own task, keeps its first rows for paging, reports progress while it runs, and
//! can be cancelled (dropping the stream stops the engine's work).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use serde::Serialize;

use crate::charts;

/// How a job stands.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Running,
    Done,
    Failed,
    Cancelled,
}

/// One query and what it has produced so far.
pub struct Job {
    pub sql: String,
    /// The user who started it (only that user sees it).
    owner: String,
    started: Instant,
    rows: AtomicU64,
    inner: Mutex<Inner>,
    /// Told how the job ended (once: done, failed or cancelled).
    on_end: Mutex<Option<OnEnd>>,
}

/// How a job ended, for [`Jobs::start`]'s `on_end`.
pub struct Ended {
    pub state: State,
    pub rows: u64,
    pub error: Option<String>,
    pub elapsed: Duration,
}

/// What [`Jobs::start`] calls when the job ends.
pub type OnEnd = Box<dyn FnOnce(Ended) + Send>;

struct Inner {
    state: State,
    error: Option<String>,
    elapsed: Option<Duration>,
    schema: Option<SchemaRef>,
    batches: Vec<RecordBatch>,
    kept: usize,
    truncated: bool,
    chart: Option<String>,
    task: Option<tokio::task::AbortHandle>,
}

/// A page of a job's result, with its progress, as the notebook page reads it.
#[derive(Debug, Serialize)]
pub struct View {
    pub id: u64,
    pub state: State,
    pub elapsed_ms: u64,
    /// Rows produced so far (all of them once done).
    pub rows: u64,
    /// More rows than are kept for paging were produced (the CSV download has all).
    pub truncated: bool,
    pub columns: Vec<String>,
    pub offset: usize,
    pub page: Vec<Vec<String>>,
    /// The engine's message when the query failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// An automatic chart of the result, when its shape allows one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chart_svg: Option<String>,
}

/// The jobs of a server.
pub struct Jobs {
    next: AtomicU64,
    jobs: Mutex<HashMap<u64, Arc<Job>>>,
    /// Rows kept per job for paging.
    keep: usize,
}

impl Jobs {
    pub fn new(keep: usize) -> Jobs {
        Jobs {
            next: AtomicU64::new(1),
            jobs: Mutex::new(HashMap::new()),
            keep,
        }
    }

    /// Starts `sql` on a task of its own, on the session `session` resolves to (an
    /// error there is the job's error, as a query's is); returns the job's id at
    /// once. `on_end` is told how it ended.
    pub fn start(
        &self,
        session: impl Future<Output = crate::Result<SessionContext>> + Send + 'static,
        sql: String,
        owner: String,
        on_end: OnEnd,
    ) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let job = Arc::new(Job {
            sql: sql.clone(),
            owner,
            started: Instant::now(),
            rows: AtomicU64::new(0),
            inner: Mutex::new(Inner {
                state: State::Running,
                error: None,
                elapsed: None,
                schema: None,
                batches: Vec::new(),
                kept: 0,
                truncated: false,
                chart: None,
                task: None,
            }),
            on_end: Mutex::new(Some(on_end)),
        });
        let mut jobs = self.jobs.lock().expect("jobs");
        // Keep the last 50 jobs; one dropped while running stops (nobody can see
        // or cancel it any more, and it would hold its memory).
        if jobs.len() >= 50
            && let Some(oldest) = jobs.keys().min().copied()
            && let Some(dropped) = jobs.remove(&oldest)
        {
            dropped.cancel();
        }
        jobs.insert(id, job.clone());
        drop(jobs);
        let keep = self.keep;
        let runner = job.clone();
        let task = tokio::spawn(async move {
            let outcome = run(&runner, session, keep).await;
            let mut inner = runner.inner.lock().expect("job");
            if inner.state != State::Running {
                // Cancelled while finishing.
                return;
            }
            inner.elapsed = Some(runner.started.elapsed());
            match outcome {
                Ok(()) => {
                    inner.chart = auto_chart(&inner.batches);
                    inner.state = State::Done;
                }
                Err(message) => {
                    inner.state = State::Failed;
                    inner.error = Some(message);
                }
            }
            drop(inner);
            runner.ended();
        });
        job.inner.lock().expect("job").task = Some(task.abort_handle());
        id
    }

    /// Job `id`, if `owner` started it.
    pub fn get(&self, id: u64, owner: &str) -> Option<Arc<Job>> {
        let job = self.jobs.lock().expect("jobs").get(&id).cloned()?;
        (job.owner == owner).then_some(job)
    }

    /// Cancels a running job of `owner` (no effect on a finished one).
    pub fn cancel(&self, id: u64, owner: &str) -> Option<State> {
        Some(self.get(id, owner)?.cancel())
    }
}

/// Runs the query, keeping the first `keep` rows.
async fn run(
    job: &Job,
    session: impl Future<Output = crate::Result<SessionContext>>,
    keep: usize,
) -> Result<(), String> {
    let ctx = session.await.map_err(|e| e.to_string())?;
    let mut stream = crate::sql::execute_read_only(&ctx, &job.sql)
        .await
        .map_err(|e| e.to_string())?;
    job.inner.lock().expect("job").schema = Some(stream.schema());
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| e.to_string())?;
        job.rows
            .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
        let mut inner = job.inner.lock().expect("job");
        if inner.kept < keep {
            let take = batch.num_rows().min(keep - inner.kept);
            inner.kept += take;
            inner.batches.push(batch.slice(0, take));
            if take < batch.num_rows() {
                inner.truncated = true;
            }
        } else {
            inner.truncated = true;
        }
    }
    Ok(())
}

impl Job {
    /// Stops the job if it is running; returns its state.
    fn cancel(&self) -> State {
        let mut inner = self.inner.lock().expect("job");
        if inner.state == State::Running {
            if let Some(task) = inner.task.take() {
                task.abort();
            }
            inner.state = State::Cancelled;
            inner.elapsed = Some(self.started.elapsed());
            drop(inner);
            self.ended();
            return State::Cancelled;
        }
        inner.state.clone()
    }

    /// Tells `on_end` how the job ended (the first time only).
    fn ended(&self) {
        let Some(on_end) = self.on_end.lock().expect("job").take() else {
            return;
        };
        let inner = self.inner.lock().expect("job");
        let ended = Ended {
            state: inner.state.clone(),
            rows: self.rows.load(Ordering::Relaxed),
            error: inner.error.clone(),
            elapsed: inner.elapsed.unwrap_or_else(|| self.started.elapsed()),
        };
        drop(inner);
        on_end(ended);
    }

    /// The job's progress and rows `offset..offset + limit` as text.
    pub fn view(&self, id: u64, offset: usize, limit: usize) -> View {
        let inner = self.inner.lock().expect("job");
        let elapsed = inner.elapsed.unwrap_or_else(|| self.started.elapsed());
        let columns = inner
            .schema
            .as_ref()
            .map(|s| s.fields().iter().map(|f| f.name().clone()).collect())
            .unwrap_or_default();
        View {
            id,
            state: inner.state.clone(),
            elapsed_ms: elapsed.as_millis() as u64,
            rows: self.rows.load(Ordering::Relaxed),
            truncated: inner.truncated,
            columns,
            offset,
            page: page(&inner.batches, offset, limit),
            error: inner.error.clone(),
            chart_svg: inner.chart.clone(),
        }
    }
}

fn formatted(column: &dyn Array, row: usize) -> String {
    let options = FormatOptions::default().with_null("NULL");
    match ArrayFormatter::try_new(column, &options) {
        Ok(f) => f.value(row).to_string(),
        Err(e) => format!("<{e}>"),
    }
}

/// Rows `offset..offset + limit` of `batches`, as text.
fn page(batches: &[RecordBatch], mut offset: usize, limit: usize) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for batch in batches {
        if out.len() >= limit {
            break;
        }
        if offset >= batch.num_rows() {
            offset -= batch.num_rows();
            continue;
        }
        let end = batch.num_rows().min(offset + limit - out.len());
        let options = FormatOptions::default().with_null("NULL");
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect();
        for row in offset..end {
            out.push(
                formatters
                    .iter()
                    .enumerate()
                    .map(|(i, f)| match f {
                        Ok(f) => f.value(row).to_string(),
                        Err(_) => formatted(batch.column(i).as_ref(), row),
                    })
                    .collect(),
            );
        }
        offset = 0;
    }
    out
}

/// Most rows an automatic chart draws.
const CHART_ROWS: usize = 400;

/// A chart of the result when its shape allows: a label column (dates, months or
/// text) followed by a numeric column. A time series becomes a line, categories
/// become bars.
pub fn auto_chart(batches: &[RecordBatch]) -> Option<String> {
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let schema = batches.first()?.schema();
    if !(2..=CHART_ROWS).contains(&rows) || schema.fields().len() < 2 {
        return None;
    }
    let label_type = schema.field(0).data_type().clone();
    let value_index =
        (1..schema.fields().len()).find(|&i| is_numeric(schema.field(i).data_type()))?;
    let mut labels = Vec::with_capacity(rows);
    let mut values = Vec::with_capacity(rows);
    for batch in batches {
        let numbers =
            datafusion::arrow::compute::cast(batch.column(value_index), &DataType::Float64).ok()?;
        let numbers = numbers
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Float64Array>()?;
        for row in 0..batch.num_rows() {
            labels.push(formatted(batch.column(0).as_ref(), row));
            values.push(numbers.is_valid(row).then(|| numbers.value(row)));
        }
    }
    let time = matches!(
        label_type,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
    ) || labels.iter().all(|l| looks_like_month_or_date(l));
    let name = schema.field(value_index).name().clone();
    let title = format!("{name} by {}", schema.field(0).name());
    if !time && rows > 60 {
        return None;
    }
    Some(charts::auto(
        "sql-result",
        &title,
        labels,
        &name,
        values,
        time,
    ))
}

fn is_numeric(t: &DataType) -> bool {
    t.is_numeric()
}

fn looks_like_month_or_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 7
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
}
