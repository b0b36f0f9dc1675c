//! A progress bar on stderr for ingest, shown only when stderr is a terminal.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use lgs::ingest::{FileReport, IngestProgress, NoProgress};

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
    if quiet || !std::io::stderr().is_terminal() {
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
    if quiet || !std::io::stderr().is_terminal() {
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
