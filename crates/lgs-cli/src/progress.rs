//! Progress on stderr, shown only when stderr is a terminal: a bar for ingest and
//! generation, a spinner with the query stages of a report.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lgs::ingest::{FileReport, IngestProgress, NoProgress};
use tracing::{Subscriber, span};
use tracing_subscriber::filter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Whether progress is shown: stderr is a terminal and `--quiet` was not given.
pub fn shown(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

struct Bar {
    bar: ProgressBar,
}

impl IngestProgress for Bar {
    fn file_started(&self, path: &Path, bytes: u64) {
        self.bar.reset();
        self.bar.set_length(bytes);
        self.bar.set_message(path.display().to_string());
    }

    fn advanced(&self, bytes: u64) {
        self.bar.set_position(bytes);
    }

    fn file_finished(&self, _file: &FileReport) {
        self.bar.finish_and_clear();
    }
}

/// A progress reporter: a bar when stderr is a terminal and not `quiet`, else nothing.
pub fn for_ingest(quiet: bool) -> Arc<dyn IngestProgress> {
    if !shown(quiet) {
        return Arc::new(NoProgress);
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    Arc::new(Bar { bar })
}

/// A bar counting rows, when stderr is a terminal and not `quiet`.
pub fn for_rows(quiet: bool, total: u64) -> Option<ProgressBar> {
    if !shown(quiet) {
        return None;
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} rows {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    Some(bar)
}

/// The stages the library runs (its `stage` spans, see `lgs::analytics`) as one
/// spinner line on stderr: how long, how many done, which run now. The line is
/// cleared whenever nothing runs, so output printed after the work is clean.
#[derive(Clone)]
pub struct Stages {
    state: Arc<Mutex<StageState>>,
    /// Where the spinner is drawn (stderr; hidden in tests).
    target: fn() -> ProgressDrawTarget,
}

#[derive(Default)]
struct StageState {
    bar: Option<ProgressBar>,
    running: Vec<(span::Id, String)>,
    done: u64,
    started: Option<Instant>,
}

impl Stages {
    /// A spinner on stderr.
    pub fn on_stderr() -> Stages {
        Stages {
            state: Arc::default(),
            target: ProgressDrawTarget::stderr,
        }
    }

    /// The tracing layer that feeds the spinner; it sees nothing but `stage` spans.
    pub fn layer<S>(&self) -> impl Layer<S> + use<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        self.clone()
            .with_filter(filter::filter_fn(|m| m.is_span() && m.name() == "stage"))
    }

    /// The closing line on stderr: how many stages ran, from the first one's start.
    pub fn finish(&self) {
        let state = self.lock();
        if let Some(started) = state.started.filter(|_| state.done > 0) {
            eprintln!(
                "{} query stages in {:.2} s",
                state.done,
                started.elapsed().as_secs_f64()
            );
        }
    }

    /// Runs `f` with the spinner out of the way (for a log line).
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        let bar = self.lock().bar.clone();
        match bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StageState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn redraw(&self, state: &mut StageState) {
        if state.running.is_empty() {
            if let Some(bar) = state.bar.take() {
                bar.finish_and_clear();
            }
            return;
        }
        let started = *state.started.get_or_insert_with(Instant::now);
        let bar = state.bar.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(None, (self.target)())
                .with_style(
                    ProgressStyle::with_template("{spinner} {elapsed:>4} {wide_msg}")
                        .expect("valid template"),
                )
                .with_elapsed(started.elapsed());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        bar.set_message(stage_message(state.done, &state.running));
    }
}

/// "3 queries done · running: invoice amounts ×2, RFM quantiles".
fn stage_message(done: u64, running: &[(span::Id, String)]) -> String {
    let mut names: Vec<(&str, usize)> = Vec::new();
    for (_, name) in running {
        match names.iter_mut().find(|(n, _)| n == name) {
            Some((_, count)) => *count += 1,
            None => names.push((name, 1)),
        }
    }
    let names = names
        .iter()
        .map(|(name, count)| match count {
            1 => name.to_string(),
            _ => format!("{name} ×{count}"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!("{done} done · running: {names}")
}

impl<S> Layer<S> for Stages
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, _ctx: Context<'_, S>) {
        let mut name = StageName(None);
        attrs.record(&mut name);
        let mut state = self.lock();
        state
            .running
            .push((id.clone(), name.0.unwrap_or_else(|| "query".into())));
        self.redraw(&mut state);
    }

    fn on_close(&self, id: span::Id, _ctx: Context<'_, S>) {
        let mut state = self.lock();
        if let Some(i) = state.running.iter().position(|(r, _)| *r == id) {
            state.running.remove(i);
            state.done += 1;
            self.redraw(&mut state);
        }
    }
}

/// The `name` field of a `stage` span.
struct StageName(Option<String>);

impl tracing::field::Visit for StageName {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "name" {
            self.0 = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "name" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

/// Log lines on stderr that do not tear the spinner: each line is written with
/// the spinner suspended.
impl<'a> MakeWriter<'a> for Stages {
    type Writer = SuspendedLine;

    fn make_writer(&'a self) -> SuspendedLine {
        SuspendedLine {
            stages: self.clone(),
            line: Vec::new(),
        }
    }
}

/// One log record, written to stderr when dropped.
pub struct SuspendedLine {
    stages: Stages,
    line: Vec<u8>,
}

impl std::io::Write for SuspendedLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for SuspendedLine {
    fn drop(&mut self) {
        let line = std::mem::take(&mut self.line);
        self.stages.suspend(|| {
            let _ = std::io::stderr().write_all(&line);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    fn hidden() -> Stages {
        Stages {
            state: Arc::default(),
            target: ProgressDrawTarget::hidden,
        }
    }

    #[test]
    fn counts_the_stage_spans_that_run_and_end() {
        let stages = hidden();
        let subscriber = tracing_subscriber::registry().with(stages.layer());
        tracing::subscriber::with_default(subscriber, || {
            let a = tracing::info_span!("stage", name = "invoice amounts");
            let b = tracing::info_span!("stage", name = "invoice amounts");
            let c = tracing::info_span!("stage", name = "RFM quantiles");
            // Other spans are not stages.
            let _other = tracing::info_span!("request", name = "x");
            {
                let state = stages.lock();
                assert_eq!(
                    stage_message(state.done, &state.running),
                    "0 done · running: invoice amounts ×2, RFM quantiles"
                );
                assert!(state.bar.is_some());
            }
            drop(a);
            drop(c);
            {
                let state = stages.lock();
                assert_eq!(
                    stage_message(state.done, &state.running),
                    "2 done · running: invoice amounts"
                );
            }
            drop(b);
            let state = stages.lock();
            assert_eq!(state.done, 3);
            // Nothing runs: the line is gone.
            assert!(state.bar.is_none());
        });
    }
}
