//! `lgs`: the command-line program. It parses arguments and hands the work to the `lgs`
//! library; see `commands.rs` for what each subcommand does.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use lgs_cli::{args, commands, progress};

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    // The report's query stages as a spinner, when someone watches stderr.
    let stages = (matches!(
        cli.command,
        args::Command::Report(_)
            | args::Command::Clv(_)
            | args::Command::Kmeans(_)
            | args::Command::Basket(_)
            | args::Command::Recommend(_)
            | args::Command::Trends(_)
            | args::Command::Demo { .. }
    ) && progress::shown(cli.global.quiet))
    .then(progress::Stages::on_stderr);
    init_tracing(cli.global.verbose, cli.global.quiet, stages.clone());
    quiet_caught_panics();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    // Plans are built, optimised, encoded and decoded recursively: a deep one (the
    // report's monthly query, planned by the Ballista scheduler) overflowed tokio's
    // 2 MiB default stack in a debug build. Stacks are reserved, not committed.
    runtime.thread_stack_size(16 * 1024 * 1024);
    if let Some(threads) = cli.global.threads {
        runtime.worker_threads(usize::from(threads));
    }
    let runtime = match runtime.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => {
            if let Some(stages) = stages {
                stages.finish();
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let mut stderr = std::io::stderr().lock();
            let mut shown = err.to_string();
            let _ = writeln!(stderr, "error: {shown}");
            for cause in err.chain().skip(1) {
                // Library errors already name their cause in their message.
                let text = cause.to_string();
                if !shown.contains(&text) {
                    let _ = writeln!(stderr, "  caused by: {text}");
                }
                shown = text;
            }
            if err
                .chain()
                .any(|c| c.to_string().contains("Resources exhausted"))
            {
                let _ = writeln!(
                    stderr,
                    "  hint: the operator named above needs more memory than --memory-limit \
                     allows, even after spilling what it can to disk; raise the limit"
                );
            }
            ExitCode::FAILURE
        }
    }
}

/// Keeps a panic that a dependency raises and catches itself off stderr (a log line
/// at -v): delta-rs aborts a failed Parquet upload with object_store's
/// `BufWriter::abort`, which panics "Already shut down" by design once the upload
/// finished failing, and catches that panic; and a dependency's panic on corrupt
/// input that lgs catches and reports as an error naming the file
/// (`lgs::error::catch_panic`). Every other panic is printed as usual.
fn quiet_caught_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = lgs::error::panic_message(info.payload());
        let place = info.location().map_or("", |l| l.file());
        if message == "Already shut down" && place.contains("object_store") {
            tracing::info!("a caught panic in the Delta writer: {message} ({place})");
            return;
        }
        if lgs::error::panic_is_caught() {
            tracing::info!("a caught panic, reported as an error: {message} ({place})");
            return;
        }
        default(info);
    }));
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Log lines on stderr filtered by -v/-q (or LGS_LOG), and the stage spinner.
fn init_tracing(verbose: u8, quiet: bool, stages: Option<progress::Stages>) {
    use std::io::IsTerminal;
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    use tracing_subscriber::prelude::*;
    // By default only lgs's own warnings: a dependency's error is reported once, as
    // the command's error, not also as a log line with its backtrace (-v shows them).
    let level = match (quiet, verbose) {
        (true, _) => "off",
        (false, 0) => "off,lgs=warn",
        (false, 1) => "info,lgs=info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LGS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let writer = match &stages {
        Some(stages) => BoxMakeWriter::new(stages.clone()),
        None => BoxMakeWriter::new(std::io::stderr),
    };
    let logs = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer)
        .with_target(false)
        .with_filter(filter);
    tracing_subscriber::registry()
        .with(logs)
        .with(stages.map(|s| s.layer()))
        .init();
}
