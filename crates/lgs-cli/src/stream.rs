//! `lgs stream` and `lgs replay`: transactions from a message broker into the
//! warehouse, and a file's transactions onto a broker.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use lgs::Warehouse;
use lgs::ingest::stream::kafka::KafkaAddress;
use lgs::ingest::stream::messages::MessageFormat;
use lgs::ingest::stream::nats::Nats;
use lgs::ingest::stream::replay::{ReplayOptions, ReplayReport, replay};
use lgs::ingest::stream::{
    BatchReport, StreamOptions, StreamProgress, kafka_partitions, stream, stream_all,
};
use lgs::output::group;

use crate::args::SummaryFormat;
use crate::commands::out;

/// `lgs stream`: a stream's transactions into a table, in micro-batches, exactly once.
#[derive(Debug, Args)]
pub struct StreamArgs {
    /// The stream: nats://HOST[:PORT]/STREAM, a NATS JetStream stream (read by a
    /// durable pull consumer named lgs_TABLE), or kafka://HOST[:PORT]/TOPIC, every
    /// partition of a Kafka topic (each read side by side, its position recorded in
    /// the table; no consumer group). A Kafka position is the partition's next
    /// offset: the message at offset N has position N+1.
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// Only the messages on this subject (a filter of the stream's subjects).
    #[arg(long)]
    pub subject: Option<String>,
    /// The table loaded; rejected messages go to TABLE_rejected.
    #[arg(long, default_value = "retail")]
    pub table: String,
    /// How a message holds its transaction line: a JSON object with the field names
    /// of one of the header shapes, or a CSV line under --header.
    #[arg(long, value_enum, default_value_t = MessageFormatArg::Json)]
    pub format: MessageFormatArg,
    /// The header of CSV messages (comma-separated names of one header shape).
    #[arg(
        long,
        default_value = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
    )]
    pub header: String,
    /// How long a batch waits for messages before what came is committed (e.g. 1s,
    /// 200ms).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub trigger: Duration,
    /// The most messages in one batch (one Delta commit).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_batch: u64,
    /// Stop cleanly after this long without a new message (e.g. 10s) [default: run
    /// until Ctrl-C or SIGTERM, which stop after committing the batch in hand].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub exit_when_idle: Option<Duration>,
    /// How long the broker may stay unreachable, retried with backoff (0.5 s doubling
    /// to 8 s), before the stream stops with an error.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub retry_for: Duration,
    /// What is printed when the stream stops: a text summary, or its JSON.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub output: SummaryFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MessageFormatArg {
    Json,
    Csv,
}

/// `lgs replay`: publishes a file's transaction lines to a stream.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The file (CSV plain, .gz or .zst, a dump, a workbook or Parquet; local or on
    /// object storage).
    pub file: String,
    /// The stream: nats://HOST[:PORT]/STREAM (created with subjects STREAM.> when it
    /// does not exist), or kafka://HOST[:PORT]/TOPIC (created with --partitions when
    /// it does not exist; batches of 1,000 messages go to its partitions in turn).
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Kafka: the partitions of a topic this creates.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    pub partitions: i32,
    /// The subject [default: the stream's first subject, wildcards read as `lines`].
    #[arg(long)]
    pub subject: Option<String>,
    /// At most this many messages a second [default: as fast as the broker stores them].
    #[arg(long, value_name = "N")]
    pub rate: Option<f64>,
    /// Publish the CSV lines as they stand instead of JSON objects.
    #[arg(long, value_enum, default_value_t = MessageFormatArg::Json)]
    pub format: MessageFormatArg,
    /// Only the first N lines.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Keep the data's own clock, N times faster: each line is published when its
    /// invoice date comes (3600: an hour of sales a second; 100000: the real file's
    /// two years in about ten minutes). With --rate, the slower of the two.
    #[arg(long, value_name = "N")]
    pub speedup: Option<f64>,
    /// What is printed: a text line, or JSON.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub output: SummaryFormat,
}

pub async fn run_stream(
    warehouse: &Warehouse,
    args: &StreamArgs,
    key: Option<std::sync::Arc<[u8]>>,
    quiet: bool,
) -> Result<()> {
    let format = match args.format {
        MessageFormatArg::Json => MessageFormat::Json,
        MessageFormatArg::Csv => MessageFormat::Csv {
            header: args
                .header
                .split(',')
                .map(|s| s.trim().to_string())
                .collect(),
        },
    };
    let options = StreamOptions {
        table: Some(args.table.clone()),
        format,
        trigger: args.trigger,
        max_batch: args.max_batch as usize,
        exit_when_idle: args.exit_when_idle,
        retry_for: args.retry_for,
        pseudonym_key: key,
    };
    let stopped = stop_on_signal();
    let mut progress = Lines {
        quiet,
        table: args.table.clone(),
        lanes: false,
    };
    let report = if KafkaAddress::is_kafka(&args.from) {
        if args.subject.is_some() {
            anyhow::bail!("--subject filters a NATS stream; a Kafka topic is read whole");
        }
        let shown = KafkaAddress::parse(&args.from)?.shown();
        let brokers = kafka_partitions(&args.from, &options, &progress).await?;
        progress.lanes = brokers.len() > 1;
        stream_all(warehouse, shown, brokers, &options, stopped, &progress).await
    } else {
        let mut broker = Nats::new(&args.from, args.subject.clone(), &args.table)?;
        stream(warehouse, &mut broker, &options, stopped, &progress).await
    };
    let report = report.context("the stream stopped; every batch before this one is committed")?;
    let mut out = out();
    match args.output {
        SummaryFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        SummaryFormat::Text => {
            let held = match report.lanes.as_slice() {
                [] => format!("{} up to position {}", report.broker, report.position),
                lanes => lanes
                    .iter()
                    .map(|l| format!("{} up to position {}", l.broker, l.position))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            writeln!(
                out,
                "streamed ({}): {} batches, {} rows read = {} loaded + {} quarantined; \
                 {} holds {held}",
                report.stopped,
                group(report.batches as f64, 0),
                group(report.rows_read as f64, 0),
                group(report.rows_loaded as f64, 0),
                group(report.rows_rejected as f64, 0),
                report.table,
            )?
        }
    }
    Ok(())
}

/// `lgs ingest --watch`: each round's summary as it happens.
pub async fn watch(
    warehouse: &Warehouse,
    location: &str,
    options: &lgs::ingest::IngestOptions,
    args: &crate::args::IngestArgs,
    quiet: bool,
) -> Result<()> {
    let watch = lgs::ingest::watch::WatchOptions {
        interval: args.interval,
        exit_when_idle: args.exit_when_idle,
    };
    let stopped = stop_on_signal();
    let table = options.target_table().to_string();
    let json = args.format == SummaryFormat::Json;
    let progress = crate::progress::for_ingest(quiet);
    lgs::ingest::watch::watch(
        warehouse,
        location,
        options,
        &watch,
        stopped,
        progress,
        |report| {
            let mut out = out();
            let _ = if json {
                writeln!(out, "{}", serde_json::to_string(report).unwrap_or_default())
            } else {
                write!(out, "{}", crate::commands::ingest_summary(report, &table))
            };
            let _ = out.flush();
        },
    )
    .await
    .context("watching stopped; every round before is committed")
}

/// Turns true at Ctrl-C or SIGTERM.
fn stop_on_signal() -> tokio::sync::watch::Receiver<bool> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        signalled().await;
        let _ = stop.send(true);
    });
    stopped
}

/// Ctrl-C or SIGTERM.
async fn signalled() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// One accounting line per batch on stderr.
struct Lines {
    quiet: bool,
    table: String,
    /// Several streams side by side: each line names its own.
    lanes: bool,
}

impl StreamProgress for Lines {
    fn started(&self, broker: &str, position: u64) {
        if !self.quiet {
            eprintln!(
                "streaming {broker} into {} after position {position}",
                self.table
            );
        }
    }

    fn batch(&self, b: &BatchReport) {
        if self.quiet {
            return;
        }
        let quarantine = match b.rejected_version {
            Some(v) => format!(", {}_rejected version {v}", self.table),
            None => String::new(),
        };
        let lane = match self.lanes {
            true => format!("{} ", b.broker),
            false => String::new(),
        };
        eprintln!(
            "{lane}positions {}-{}: {} rows read = {} loaded + {} quarantined; {} version {}{quarantine} ({:.2} s)",
            b.first,
            b.last,
            group(b.rows_read as f64, 0),
            group(b.rows_loaded as f64, 0),
            group(b.rows_rejected as f64, 0),
            self.table,
            b.version,
            b.seconds
        );
    }

    fn retrying(&self, error: &lgs::error::LgsError, wait: Duration) {
        if !self.quiet {
            eprintln!("{error}; retrying in {:.1} s", wait.as_secs_f64());
        }
    }
}

pub async fn run_replay(args: &ReplayArgs) -> Result<()> {
    let options = ReplayOptions {
        subject: args.subject.clone(),
        rate: args.rate,
        csv: args.format == MessageFormatArg::Csv,
        limit: args.limit,
        speedup: args.speedup,
        partitions: Some(args.partitions),
    };
    let report = replay(&args.file, &args.to, &options).await?;
    print_replay(&report, args.output)
}

/// Prints what a replay published.
pub fn print_replay(report: &ReplayReport, format: SummaryFormat) -> Result<()> {
    let mut out = out();
    match format {
        SummaryFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        SummaryFormat::Text if !report.partitions.is_empty() => writeln!(
            out,
            "published {} messages to {} ({}) in {:.2} s",
            group(report.messages as f64, 0),
            report.stream,
            report
                .partitions
                .iter()
                .map(|p| format!(
                    "partition {} offsets {}-{}",
                    p.partition, p.first_offset, p.last_offset
                ))
                .collect::<Vec<_>>()
                .join(", "),
            report.seconds
        )?,
        SummaryFormat::Text => writeln!(
            out,
            "published {} messages to {} (subject {}, sequences {}-{}) in {:.2} s",
            group(report.messages as f64, 0),
            report.stream,
            report.subject,
            report.first,
            report.last,
            report.seconds
        )?,
    }
    Ok(())
}
