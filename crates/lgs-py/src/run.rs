//! Running lgs's async work from Python: on a Tokio runtime, without the GIL, and
//! cancelled by a kernel interrupt (Ctrl-C).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use datafusion::physical_plan::ExecutionPlan;
use lgs::progress::FileRows;
use pyo3::prelude::*;
use tokio::runtime::Runtime;
use tokio::sync::Notify;

use crate::errors::{LgsError, to_py};

/// Stack of the thread that drives a call (deep plans are built recursively).
const STACK: usize = 16 * 1024 * 1024;

/// How often a running call looks for a pending signal.
const POLL: Duration = Duration::from_millis(100);

/// Work running longer than this (milliseconds; 1 s unless set) shows its
/// progress on `sys.stderr`.
static PROGRESS_AFTER: AtomicU64 = AtomicU64::new(1000);

/// Whether long work shows its progress (`lgs.set_progress(False)` turns it off).
static PROGRESS: AtomicBool = AtomicBool::new(true);

/// Turns the progress line of long calls on or off, shown once a call has run
/// `after` seconds.
#[pyfunction]
#[pyo3(signature = (on, after=None))]
pub fn set_progress(on: bool, after: Option<f64>) {
    PROGRESS.store(on, Ordering::Relaxed);
    if let Some(after) = after {
        PROGRESS_AFTER.store((after.max(0.0) * 1000.0) as u64, Ordering::Relaxed);
    }
}

/// The plan of a running query, watched for how much of its tables it has read.
#[derive(Clone, Default)]
pub struct Watch(Arc<Mutex<Option<Watched>>>);

/// A plan, and the rows of the files of its session's tables.
type Watched = (Arc<dyn ExecutionPlan>, Arc<FileRows>);

impl Watch {
    /// Watches `plan` (once it is built, before it runs) of a session whose
    /// files' rows are `files`.
    pub fn set(&self, plan: Arc<dyn ExecutionPlan>, files: Option<Arc<FileRows>>) {
        let watched = files.map(|files| (plan, files));
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = watched;
    }

    /// The rows the plan's scans have read and the rows their files hold (see
    /// [`lgs::progress`]); `None` before the plan runs, or when not known.
    pub fn scanned(&self) -> Option<(u64, u64)> {
        let watched = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (plan, files) = watched.as_ref()?;
        lgs::progress::scanned(plan, files)
    }
}

/// The progress line: a bar when the share read is known, else the seconds.
fn progress_line(seconds: u64, scanned: Option<(u64, u64)>) -> String {
    match scanned {
        Some((read, total)) if total > 0 => {
            let share = read as f64 / total as f64;
            let filled = (share * 30.0).round() as usize;
            format!(
                "\rlgs: [{}{}] {:>3.0}% of {total} rows read, {seconds} s (interrupt to cancel)",
                "#".repeat(filled),
                "-".repeat(30 - filled),
                share * 100.0
            )
        }
        _ => format!("\rlgs: running {seconds} s (interrupt to cancel)"),
    }
}

/// A runtime like the command line's: deep plans need big stacks.
pub fn runtime(threads: Option<usize>) -> PyResult<Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.thread_stack_size(STACK);
    if let Some(threads) = threads {
        builder.worker_threads(threads);
    }
    builder
        .enable_all()
        .build()
        .map_err(|e| LgsError::new_err(format!("cannot start the runtime: {e}")))
}

/// Runs the future `work` makes on `runtime` and waits for it with the GIL
/// released. A signal (KeyboardInterrupt from Ctrl-C or the notebook's interrupt
/// button) cancels the work (its query stops at its next await) and is raised.
///
/// The future runs on a thread of its own, which drives it with `block_on` (as
/// the command line does): lgs's futures need not be `Send`.
pub fn wait<T, F, Fut>(py: Python<'_>, runtime: &Runtime, work: F) -> PyResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>>,
{
    wait_watched(py, runtime, None, work)
}

/// [`wait`], with a progress bar of how much of its input the query `watch`
/// watches has read.
pub fn wait_watched<T, F, Fut>(
    py: Python<'_>,
    runtime: &Runtime,
    watch: Option<Watch>,
    work: F,
) -> PyResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let (tx, mut rx) = channel();
    let cancel = Arc::new(Notify::new());
    let cancelled = cancel.clone();
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name("lgs-call".into())
        .stack_size(STACK)
        .spawn(move || {
            handle.block_on(async move {
                tokio::select! {
                    result = work() => {
                        let _ = tx.send(result);
                    }
                    () = cancelled.notified() => {}
                }
            })
        })
        .map_err(|e| LgsError::new_err(format!("cannot start a thread: {e}")))?;
    let start = Instant::now();
    let mut shown = false;
    let mut last_shown = String::new();
    loop {
        let (back, received) = py.detach(move || {
            let received = rx.recv_timeout(POLL);
            (rx, received)
        });
        rx = back;
        match received {
            Ok(result) => {
                if shown {
                    let _ = progress(py, "\r\x1b[K");
                }
                return result.map_err(to_py);
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Err(signal) = py.check_signals() {
                    cancel.notify_one();
                    if shown {
                        let _ = progress(py, "\n");
                    }
                    return Err(signal);
                }
                let elapsed = start.elapsed();
                let after = Duration::from_millis(PROGRESS_AFTER.load(Ordering::Relaxed));
                if elapsed >= after && PROGRESS.load(Ordering::Relaxed) {
                    let scanned = watch.as_ref().and_then(Watch::scanned);
                    let text = progress_line(elapsed.as_secs(), scanned);
                    if text != last_shown {
                        shown = true;
                        if let Err(signal) = progress(py, &text) {
                            cancel.notify_one();
                            return Err(signal);
                        }
                        last_shown = text;
                    }
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(LgsError::new_err(
                    "the work stopped without an answer (it panicked; run with \
                     RUST_BACKTRACE=1 to see where)",
                ));
            }
        }
    }
}

/// Writes `text` to Python's `sys.stderr` (the notebook's output area). A failure
/// to show progress is not the work's failure, but a kernel interrupt that Python
/// handled while it wrote (its stderr is Python code in Jupyter and under pytest)
/// is returned: swallowed, the interrupt would be lost and the work run on.
fn progress(py: Python<'_>, text: &str) -> PyResult<()> {
    let written = py
        .import("sys")
        .and_then(|sys| sys.getattr("stderr"))
        .and_then(|err| err.call_method1("write", (text,)));
    match written {
        Err(e) if e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) => Err(e),
        _ => Ok(()),
    }
}
