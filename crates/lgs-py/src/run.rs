//! Running lgs's async work from Python: on a Tokio runtime, without the GIL, and
//! cancelled by a kernel interrupt (Ctrl-C).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use tokio::runtime::Runtime;
use tokio::sync::Notify;

use crate::errors::{LgsError, to_py};

/// Stack of the thread that drives a call (deep plans are built recursively).
const STACK: usize = 16 * 1024 * 1024;

/// How often a running call looks for a pending signal.
const POLL: Duration = Duration::from_millis(100);

/// Work running longer than this shows how long it has run, on `sys.stderr`.
const PROGRESS_AFTER: Duration = Duration::from_secs(1);

/// Whether long work shows its progress (`lgs.set_progress(False)` turns it off).
static PROGRESS: AtomicBool = AtomicBool::new(true);

/// Turns the progress line of long calls on or off.
#[pyfunction]
pub fn set_progress(on: bool) {
    PROGRESS.store(on, Ordering::Relaxed);
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
    let mut last_shown = 0;
    loop {
        let (back, received) = py.detach(move || {
            let received = rx.recv_timeout(POLL);
            (rx, received)
        });
        rx = back;
        match received {
            Ok(result) => {
                if shown {
                    progress(py, "\r\x1b[K");
                }
                return result.map_err(to_py);
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Err(signal) = py.check_signals() {
                    cancel.notify_one();
                    if shown {
                        progress(py, "\n");
                    }
                    return Err(signal);
                }
                let elapsed = start.elapsed();
                let seconds = elapsed.as_secs();
                if elapsed >= PROGRESS_AFTER
                    && seconds != last_shown
                    && PROGRESS.load(Ordering::Relaxed)
                {
                    shown = true;
                    last_shown = seconds;
                    let text = format!("\rlgs: running {seconds} s (interrupt to cancel)");
                    progress(py, &text);
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

/// Writes `text` to Python's `sys.stderr` (the notebook's output area); a
/// failure to show progress is not the work's failure.
fn progress(py: Python<'_>, text: &str) {
    let _ = py
        .import("sys")
        .and_then(|sys| sys.getattr("stderr"))
        .and_then(|err| err.call_method1("write", (text,)));
}
