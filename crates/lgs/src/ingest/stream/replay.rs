//! `lgs replay`: publishes a file's transaction lines to a stream, one message per
//! line (as JSON objects under the file's header names, or as the CSV lines as they
//! stand), for demos, load tests and the stream tests.

use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use serde::Serialize;

use super::kafka::{KafkaAddress, KafkaPublisher};
use super::nats::NatsAddress;
use crate::error::{LgsError, Result};
use crate::ingest::Dataset;
use crate::ingest::location;
use crate::ingest::parse::parse_timestamp;
use crate::ingest::records::{FileKind, Record, open_file};
use crate::schema::{HEADER_SHAPES, InputColumn};

/// How a file is replayed.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// The subject published to (default: the stream's first subject, or
    /// `STREAM.lines` for a stream this creates with subjects `STREAM.>`).
    pub subject: Option<String>,
    /// At most this many messages a second (default: as fast as the broker acks).
    pub rate: Option<f64>,
    /// CSV lines instead of JSON objects.
    pub csv: bool,
    /// Publish only the first this many lines.
    pub limit: Option<u64>,
    /// Publish each line when its invoice date comes, this many times faster than
    /// the data's own clock (from the first line's date): 3600 plays an hour of
    /// sales in a second, 100000 the real file's two years in about ten minutes.
    pub speedup: Option<f64>,
    /// Kafka: the partitions of a topic the replay creates (default 1).
    pub partitions: Option<i32>,
}

/// A message, with its invoice date (microseconds) when the replay keeps the data's
/// clock.
type Timed = (Bytes, Option<i64>);

/// What a replay published.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    pub stream: String,
    pub subject: String,
    pub messages: u64,
    /// The stream sequence of the first and last message published (for a Kafka
    /// topic of one partition, their positions: offset + 1).
    pub first: u64,
    pub last: u64,
    pub seconds: f64,
    /// Kafka: the offsets written to each partition.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<PartitionSpan>,
}

/// The offsets a replay wrote to one partition of a Kafka topic.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionSpan {
    pub partition: i32,
    pub first_offset: i64,
    pub last_offset: i64,
}

/// Publishes the lines of `file` (a CSV, dump, workbook or Parquet file, local or on
/// object storage) to the JetStream stream or Kafka topic at `to`
/// (`nats://HOST[:PORT]/STREAM`, `kafka://HOST[:PORT]/TOPIC`), creating it when it
/// does not exist. Each message is stored by the broker before the replay reports
/// it published.
pub async fn replay(file: &str, to: &str, options: &ReplayOptions) -> Result<ReplayReport> {
    let mut sink = Sink::open(to, options).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Timed>>(8);
    let timed = options.speedup.is_some();
    let reader = read_lines(file, options.csv, options.limit, timed, tx).await?;
    let started = Instant::now();
    let mut report = ReplayReport {
        stream: sink.shown(),
        subject: sink.subject(),
        messages: 0,
        first: 0,
        last: 0,
        seconds: 0.0,
        partitions: Vec::new(),
    };
    let mut clock = Clock::new(options);
    while let Some(chunk) = rx.recv().await {
        for (payload, date) in chunk {
            let due = clock.due(report.messages, date);
            if let Some(wait) = due.checked_sub(started.elapsed()).filter(|w| !w.is_zero()) {
                // What waits in a batch goes before the pause.
                sink.flush().await?;
                tokio::time::sleep(wait).await;
            }
            sink.publish(payload, &mut report).await?;
            report.messages += 1;
        }
    }
    sink.finish(&mut report).await?;
    reader
        .await
        .map_err(|e| LgsError::Worker(e.to_string()))??;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Where a replay publishes.
enum Sink {
    Nats(Box<NatsSink>),
    Kafka(Box<KafkaPublisher>),
}

/// A JetStream stream a replay publishes to.
struct NatsSink {
    shown: String,
    context: jetstream::Context,
    subject: String,
    /// Acknowledgements not yet read, in publish order.
    acks: FuturesOrdered<<jetstream::context::PublishAckFuture as IntoFuture>::IntoFuture>,
}

impl Sink {
    async fn open(to: &str, options: &ReplayOptions) -> Result<Sink> {
        if KafkaAddress::is_kafka(to) {
            return Ok(Sink::Kafka(Box::new(
                KafkaPublisher::open(to, options.partitions).await?,
            )));
        }
        let address = NatsAddress::parse(to)?;
        let shown = address.shown();
        let context = jetstream::new(address.connect().await?);
        let subject = subject(&context, &address.stream, options.subject.clone())
            .await
            .map_err(|message| LgsError::Broker {
                broker: shown.clone(),
                message,
            })?;
        Ok(Sink::Nats(Box::new(NatsSink {
            shown,
            context,
            subject,
            acks: FuturesOrdered::new(),
        })))
    }

    fn shown(&self) -> String {
        match self {
            Sink::Nats(nats) => nats.shown.clone(),
            Sink::Kafka(kafka) => kafka.shown(),
        }
    }

    /// The subject, or for Kafka the topic's partition count.
    fn subject(&self) -> String {
        match self {
            Sink::Nats(nats) => nats.subject.clone(),
            Sink::Kafka(kafka) => format!("{} partitions", kafka.partitions()),
        }
    }

    async fn publish(&mut self, payload: Bytes, report: &mut ReplayReport) -> Result<()> {
        match self {
            Sink::Nats(nats) => {
                let NatsSink {
                    shown,
                    context,
                    subject,
                    acks,
                } = nats.as_mut();
                let ack = context
                    .publish(subject.clone(), payload)
                    .await
                    .map_err(|e| nats_error(shown, format!("cannot publish: {e}")))?;
                acks.push_back(ack.into_future());
                if acks.len() >= 4096 {
                    note(report, acks.next().await, shown)?;
                }
                Ok(())
            }
            Sink::Kafka(kafka) => kafka.publish(payload).await,
        }
    }

    /// Sends what waits in a batch.
    async fn flush(&mut self) -> Result<()> {
        match self {
            Sink::Nats(_) => Ok(()),
            Sink::Kafka(kafka) => kafka.flush().await,
        }
    }

    /// Sends what waits and reads every acknowledgement.
    async fn finish(&mut self, report: &mut ReplayReport) -> Result<()> {
        match self {
            Sink::Nats(nats) => {
                while let Some(ack) = nats.acks.next().await {
                    note(report, Some(ack), &nats.shown)?;
                }
            }
            Sink::Kafka(kafka) => {
                kafka.flush().await?;
                report.partitions = kafka
                    .written()
                    .iter()
                    .map(|(&partition, &(first, last))| PartitionSpan {
                        partition,
                        first_offset: first,
                        last_offset: last,
                    })
                    .collect();
                // Positions as a stream numbers them (offset + 1), for one partition.
                if let [only] = report.partitions.as_slice() {
                    report.first = only.first_offset as u64 + 1;
                    report.last = only.last_offset as u64 + 1;
                }
            }
        }
        Ok(())
    }
}

fn nats_error(shown: &str, message: String) -> LgsError {
    LgsError::Broker {
        broker: shown.to_string(),
        message,
    }
}

/// When each message is due, from the start of the replay: after the one before at
/// `--rate`, and with `--speedup` when its invoice date comes on the sped-up clock
/// (a line dated before one already published goes at once; a line whose date
/// cannot be read goes at once and is quarantined by the stream).
struct Clock {
    rate: Option<f64>,
    speedup: Option<f64>,
    /// The first dated line's date (microseconds).
    first: Option<i64>,
}

impl Clock {
    fn new(options: &ReplayOptions) -> Clock {
        Clock {
            rate: options.rate.filter(|r| *r > 0.0),
            speedup: options.speedup.filter(|s| *s > 0.0),
            first: None,
        }
    }

    fn due(&mut self, sent: u64, date: Option<i64>) -> Duration {
        let by_rate = self.rate.map_or(0.0, |rate| sent as f64 / rate);
        let by_date = match (self.speedup, date) {
            (Some(speedup), Some(date)) => {
                let first = *self.first.get_or_insert(date);
                (date - first).max(0) as f64 / 1e6 / speedup
            }
            _ => 0.0,
        };
        Duration::from_secs_f64(by_rate.max(by_date))
    }
}

/// Records a publish acknowledgement's stream sequence.
fn note<E: std::fmt::Display>(
    report: &mut ReplayReport,
    ack: Option<std::result::Result<jetstream::publish::PublishAck, E>>,
    shown: &str,
) -> Result<()> {
    if let Some(ack) = ack {
        let ack = ack.map_err(|e| nats_error(shown, format!("a message was not stored: {e}")))?;
        if report.first == 0 {
            report.first = ack.sequence;
        }
        report.last = ack.sequence;
    }
    Ok(())
}

/// The subject to publish to: the one asked for, else the stream's first subject
/// (a wildcard token read as `lines`); a stream that does not exist is created
/// with subjects `STREAM.>`.
async fn subject(
    context: &jetstream::Context,
    stream: &str,
    asked: Option<String>,
) -> std::result::Result<String, String> {
    let existing = match context.get_stream(stream).await {
        Ok(mut s) => Some(
            s.info()
                .await
                .map_err(|e| e.to_string())?
                .config
                .subjects
                .clone(),
        ),
        Err(e) if e.to_string().contains("not found") => None,
        Err(e) => return Err(format!("cannot read the stream: {e}")),
    };
    let subjects = match existing {
        Some(subjects) => subjects,
        None => {
            let subjects = vec![format!("{stream}.>")];
            context
                .create_stream(jetstream::stream::Config {
                    name: stream.to_string(),
                    subjects: subjects.clone(),
                    ..Default::default()
                })
                .await
                .map_err(|e| format!("cannot create the stream: {e}"))?;
            subjects
        }
    };
    Ok(asked.unwrap_or_else(|| {
        subjects
            .first()
            .map(|s| {
                s.split('.')
                    .map(|t| if t == ">" || t == "*" { "lines" } else { t })
                    .collect::<Vec<_>>()
                    .join(".")
            })
            .unwrap_or_else(|| stream.to_string())
    }))
}

/// Reads the file's records on a worker thread, sending their messages in chunks.
async fn read_lines(
    file: &str,
    csv: bool,
    limit: Option<u64>,
    timed: bool,
    tx: tokio::sync::mpsc::Sender<Vec<Timed>>,
) -> Result<tokio::task::JoinHandle<Result<()>>> {
    let mut files = location::expand(&[file.to_string()]).await?;
    if files.len() != 1 {
        return Err(LgsError::InvalidArgument {
            what: "replay input",
            message: format!("{file}: names {} files; replay one file", files.len()),
        });
    }
    let input = files.remove(0);
    let kind = FileKind::of(&input).await?;
    let handle = tokio::runtime::Handle::current();
    Ok(tokio::task::spawn_blocking(move || {
        let units = open_file(
            &input,
            kind,
            &Dataset::Retail,
            None,
            Arc::new(AtomicU64::new(0)),
            &handle,
        )?;
        let mut sent = 0u64;
        for (_, mut source) in units {
            let (_, header) = source.header()?;
            let date_at = timed.then(|| date_column(&header)).flatten();
            let mut rec = Record::default();
            let mut chunk = Vec::with_capacity(1024);
            while limit.is_none_or(|l| sent < l) && source.next(&mut rec)? {
                if rec.raw.is_empty() {
                    rec.raw_from_fields();
                }
                let date = date_at
                    .filter(|i| *i < rec.fields.len())
                    .map(|i| rec.fields.get(i))
                    .and_then(|d| parse_timestamp(d).ok())
                    .map(|d| d.micros);
                chunk.push((message(&header, &rec, csv), date));
                sent += 1;
                if chunk.len() == 1024 && tx.blocking_send(std::mem::take(&mut chunk)).is_err() {
                    return Ok(());
                }
            }
            if !chunk.is_empty() && tx.blocking_send(chunk).is_err() {
                return Ok(());
            }
        }
        Ok(())
    }))
}

/// Where the invoice date is in a file's header (any of the header shapes).
fn date_column(header: &[String]) -> Option<usize> {
    let date = InputColumn::InvoiceDate as usize;
    header.iter().position(|h| {
        HEADER_SHAPES
            .iter()
            .any(|shape| h.trim().eq_ignore_ascii_case(shape.columns[date]))
    })
}

/// One record as a message: its CSV text, or a JSON object of its fields.
fn message(header: &[String], rec: &Record, csv: bool) -> Bytes {
    if csv || rec.fields.len() != header.len() {
        // A record that does not fit the header goes as it stands (and is
        // quarantined by the stream, as the file ingest would).
        return Bytes::copy_from_slice(&rec.raw);
    }
    let object: serde_json::Map<String, serde_json::Value> = header
        .iter()
        .enumerate()
        .map(|(i, name)| (name.clone(), rec.fields.get(i).into()))
        .collect();
    Bytes::from(serde_json::to_vec(&object).expect("a JSON object serialises"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000;

    #[test]
    fn the_clock_keeps_the_data_s_time_sped_up_and_the_rate() {
        let options = ReplayOptions {
            speedup: Some(3600.0),
            ..Default::default()
        };
        let mut clock = Clock::new(&options);
        let t0 = 1_291_191_960_000_000; // 2010-12-01 08:26
        // An hour of sales a second, from the first dated line.
        assert_eq!(clock.due(0, Some(t0)), Duration::ZERO);
        assert_eq!(clock.due(1, Some(t0 + HOUR)), Duration::from_secs(1));
        assert_eq!(
            clock.due(2, Some(t0 + 3 * HOUR / 2)),
            Duration::from_millis(1500)
        );
        // Out of order or undated: at once.
        assert_eq!(clock.due(3, Some(t0 - HOUR)), Duration::ZERO);
        assert_eq!(clock.due(4, None), Duration::ZERO);

        // With a rate too, the later of the two.
        let options = ReplayOptions {
            speedup: Some(3600.0),
            rate: Some(2.0),
            ..Default::default()
        };
        let mut clock = Clock::new(&options);
        assert_eq!(clock.due(0, Some(t0)), Duration::ZERO);
        assert_eq!(clock.due(1, Some(t0)), Duration::from_millis(500));
        assert_eq!(clock.due(2, Some(t0 + 2 * HOUR)), Duration::from_secs(2));
        // Neither: as fast as the broker stores them.
        let mut clock = Clock::new(&ReplayOptions::default());
        assert_eq!(clock.due(1_000, Some(t0 + HOUR)), Duration::ZERO);
    }

    #[test]
    fn the_date_is_found_under_every_header_shape() {
        let names = |h: &str| h.split(',').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            date_column(&names(crate::generate::retail::CSV_HEADER)),
            Some(4)
        );
        let uci = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country";
        assert_eq!(date_column(&names(uci)), Some(4));
        assert_eq!(date_column(&names("a,b,invoicedate")), Some(2));
        assert_eq!(date_column(&names("a,b,c")), None);
    }
}
