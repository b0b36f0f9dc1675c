//! Kafka as a stream source: each partition of a topic read by its own consumer
//! (rskafka's partition client), placed after the position the table records for
//! that partition each time the stream starts. The table, not a consumer group,
//! holds what was loaded, so nothing is committed to the broker.
//!
//! A partition's position is the offset of the next message to read (what a Kafka
//! consumer group commits): the message at offset `o` has position `o + 1`, and
//! position 0 means nothing was loaded.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rskafka::BackoffConfig;
use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};

use super::messages::StreamMessage;
use super::{Broker, split_address};
use crate::error::{LgsError, Result};

/// Where a topic is: `kafka://HOST[:PORT]/TOPIC`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaAddress {
    /// `HOST:PORT` (port 9092 unless given).
    pub server: String,
    pub topic: String,
}

impl KafkaAddress {
    /// Parses `kafka://HOST[:PORT]/TOPIC`.
    pub fn parse(url: &str) -> Result<KafkaAddress> {
        // Kafka's rule for topic names.
        let valid = |topic: &str| {
            let fits = !topic.is_empty()
                && topic.len() <= 249
                && topic != "."
                && topic != ".."
                && topic
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            match fits {
                true => Ok(()),
                false => Err("a topic name is letters, digits, '.', '_' and '-' (at most 249)"),
            }
        };
        let (server, topic) =
            split_address(url, "kafka", 9092, "kafka://HOST[:PORT]/TOPIC", valid)?;
        Ok(KafkaAddress { server, topic })
    }

    /// Whether `url` names a Kafka topic.
    pub fn is_kafka(url: &str) -> bool {
        url.starts_with("kafka://")
    }

    pub fn shown(&self) -> String {
        format!("kafka://{}/{}", self.server, self.topic)
    }

    fn error(&self, message: String) -> LgsError {
        LgsError::Broker {
            broker: self.shown(),
            message,
        }
    }

    /// What `request` got from the broker, or an error naming it when the broker
    /// did not answer within `limit`.
    async fn answered<T>(
        &self,
        limit: Duration,
        request: impl Future<Output = std::result::Result<T, KafkaError>>,
    ) -> Result<std::result::Result<T, KafkaError>> {
        tokio::time::timeout(limit, request)
            .await
            .map_err(|_| self.error(format!("no answer in {} s", limit.as_secs())))
    }

    /// Connects to the broker; an unreachable broker is an error naming it (after
    /// a second of rskafka's own retries).
    pub async fn connect(&self) -> Result<Client> {
        let build = ClientBuilder::new(vec![self.server.clone()])
            .client_id("lgs")
            .backoff_config(backoff())
            .build();
        self.answered(ANSWER, build)
            .await?
            .map_err(|e| self.error(format!("cannot connect: {e}")))
    }

    /// The topic's partitions, in order (`None`: no such topic).
    async fn find_partitions(&self, client: &Client) -> Result<Option<Vec<i32>>> {
        let topics = self
            .answered(ANSWER, client.list_topics())
            .await?
            .map_err(|e| self.error(format!("cannot list the topics: {e}")))?;
        Ok(topics
            .into_iter()
            .find(|t| t.name == self.topic && !t.partitions.is_empty())
            .map(|t| t.partitions.into_iter().collect()))
    }

    /// The topic's partitions, in order; a topic that does not exist is an error
    /// saying how to make one.
    pub async fn partitions(&self, client: &Client) -> Result<Vec<i32>> {
        self.find_partitions(client)
            .await?
            .ok_or_else(|| LgsError::InvalidArgument {
                what: "stream",
                message: format!(
                    "{}: no such topic; create it, or publish to it with \
                     `lgs replay FILE --to {}`",
                    self.shown(),
                    self.shown()
                ),
            })
    }

    /// A client of one partition.
    pub async fn partition(&self, client: &Client, partition: i32) -> Result<PartitionClient> {
        let request =
            client.partition_client(self.topic.clone(), partition, UnknownTopicHandling::Error);
        self.answered(ANSWER, request)
            .await?
            .map_err(|e| self.error(format!("cannot reach partition {partition}: {e}")))
    }
}

/// How long the broker may take to answer one request.
const ANSWER: Duration = Duration::from_secs(10);

/// rskafka's retries of one request, kept short: a broker that stays away is the
/// stream's to retry (with its backoff and `--retry-for`), starting again after
/// the table's position.
fn backoff() -> BackoffConfig {
    BackoffConfig {
        init_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        base: 2.0,
        deadline: Some(Duration::from_secs(1)),
    }
}

/// The most bytes one fetch asks for.
const FETCH_BYTES: i32 = 8 * 1024 * 1024;

/// One partition of a Kafka topic.
pub struct KafkaPartition {
    address: KafkaAddress,
    partition: i32,
    client: Option<PartitionClient>,
    /// The offset of the next message to read.
    next: i64,
}

impl KafkaPartition {
    /// Every partition of the topic at `address` (`kafka://HOST[:PORT]/TOPIC`).
    pub async fn all(address: &str) -> Result<Vec<KafkaPartition>> {
        let address = KafkaAddress::parse(address)?;
        let client = address.connect().await?;
        let partitions = address.partitions(&client).await?;
        Ok(partitions
            .into_iter()
            .map(|partition| KafkaPartition {
                address: address.clone(),
                partition,
                client: None,
                next: 0,
            })
            .collect())
    }

    fn error(&self, message: String) -> LgsError {
        LgsError::Broker {
            broker: self.shown(),
            message,
        }
    }

    /// One fetch from offset `ask`, the broker holding it until a message comes or
    /// `wait` is over: the records and the partition's high watermark.
    async fn fetch_from(
        &self,
        ask: i64,
        wait: Duration,
    ) -> Result<(Vec<rskafka::record::RecordAndOffset>, i64)> {
        let client = self.client.as_ref().expect("started");
        // At least 1 ms: 0 would make the broker answer at once, and the caller spin.
        let wait_ms = wait.as_millis().clamp(1, i32::MAX as u128) as i32;
        let fetched = self
            .address
            .answered(
                wait + ANSWER,
                client.fetch_records(ask, 1..FETCH_BYTES, wait_ms),
            )
            .await
            // Named by the partition.
            .map_err(|_| self.error(format!("no answer in {} s", ANSWER.as_secs())))?;
        match fetched {
            Ok(fetched) => Ok(fetched),
            Err(KafkaError::ServerError {
                protocol_error: ProtocolError::OffsetOutOfRange,
                ..
            }) => Err(LgsError::InvalidArgument {
                what: "stream",
                message: format!(
                    "{}: the table holds this partition up to offset {}, which the topic no \
                     longer has (deleted by retention, or the topic was made again); load \
                     into another table, or delete this stream's rows",
                    self.shown(),
                    self.next
                ),
            }),
            Err(e) => Err(self.error(format!("cannot fetch: {e}"))),
        }
    }
}

#[async_trait]
impl Broker for KafkaPartition {
    fn shown(&self) -> String {
        format!("{}#{}", self.address.shown(), self.partition)
    }

    fn app_id(&self) -> String {
        format!("lgs-stream:kafka:{}:{}", self.address.topic, self.partition)
    }

    async fn start(&mut self, after: u64) -> Result<()> {
        let client = self.address.connect().await?;
        let partition = self.address.partition(&client, self.partition).await?;
        self.next = after as i64;
        self.client = Some(partition);
        Ok(())
    }

    async fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<StreamMessage>> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut out = Vec::new();
        // How far before `next` the request starts (see below).
        let mut back = 0i64;
        while out.len() < max {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let ask = (self.next - back).max(0);
            let (records, high_watermark) = self.fetch_from(ask, left).await?;
            let before = out.len();
            let first = records
                .iter()
                .find(|r| r.offset >= self.next)
                .map(|r| r.offset);
            // The answer skips `next`: a later message, or none although the broker
            // holds more. Kafka answers with the whole batch holding the offset
            // asked for; tansu 0.6 only with the batches that start at or after it,
            // leaving out the rest of a batch a position falls inside. Asked from
            // further back (1, 2, 4, ... offsets), it answers with that batch.
            let skips = first.map_or(high_watermark > self.next, |f| f > self.next);
            let earlier = records.iter().any(|r| r.offset < self.next);
            if skips && !earlier && ask > 0 {
                back = (back * 2).max(1);
                continue;
            }
            if let Some(first) = first.filter(|&f| f > self.next) {
                // Missing even from an answer that starts before them: gone for good
                // (a compacted topic, transaction markers).
                tracing::warn!(
                    "{}: offsets {} to {} are not in the partition (compacted, or transaction \
                     markers); going on at {first}",
                    self.shown(),
                    self.next,
                    first - 1
                );
            }
            back = 0;
            let from = self.next;
            for r in records.into_iter().filter(|r| r.offset >= from) {
                // Beyond `max`, read again by the next fetch.
                if out.len() >= max {
                    break;
                }
                self.next = r.offset + 1;
                out.push(StreamMessage {
                    position: (r.offset + 1) as u64,
                    payload: r.record.value.map(Bytes::from).unwrap_or_default(),
                    published_ms: r.record.timestamp.timestamp_millis(),
                });
            }
            let caught_up = self.next >= high_watermark;
            if tokio::time::Instant::now() >= deadline || (caught_up && !out.is_empty()) {
                break;
            }
            if out.len() == before {
                // A broker that answers at once without waiting: no busy loop.
                let pause = Duration::from_millis(20);
                tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + pause)).await;
            }
        }
        Ok(out)
    }

    async fn ack(&mut self, _upto: u64) -> Result<()> {
        // Nothing to tell the broker: the table holds the position.
        Ok(())
    }
}

/// Publishes messages to a topic, spreading them over its partitions a batch at a
/// time (each partition keeps its messages' order).
pub struct KafkaPublisher {
    address: KafkaAddress,
    partitions: Vec<PartitionClient>,
    /// Messages not yet sent, and the partition the next batch goes to.
    pending: Vec<rskafka::record::Record>,
    turn: usize,
    /// Per partition, the first and last offset written.
    written: BTreeMap<i32, (i64, i64)>,
}

/// Messages sent to a partition in one request.
const PUBLISH_BATCH: usize = 1_000;

impl KafkaPublisher {
    /// The topic at `to`, created with `partitions` partitions (default 1) when it
    /// does not exist.
    pub async fn open(to: &str, partitions: Option<i32>) -> Result<KafkaPublisher> {
        let address = KafkaAddress::parse(to)?;
        let client = address.connect().await?;
        let numbers = match address.find_partitions(&client).await? {
            Some(numbers) => numbers,
            None => create(&address, &client, partitions.unwrap_or(1)).await?,
        };
        let mut clients = Vec::with_capacity(numbers.len());
        for p in numbers {
            clients.push(address.partition(&client, p).await?);
        }
        Ok(KafkaPublisher {
            address,
            partitions: clients,
            pending: Vec::with_capacity(PUBLISH_BATCH),
            turn: 0,
            written: BTreeMap::new(),
        })
    }

    pub fn shown(&self) -> String {
        self.address.shown()
    }

    /// How many partitions the topic has.
    pub fn partitions(&self) -> usize {
        self.partitions.len()
    }

    /// Queues a message, sending a full batch.
    pub async fn publish(&mut self, payload: Bytes) -> Result<()> {
        self.pending.push(rskafka::record::Record {
            key: None,
            value: Some(payload.to_vec()),
            headers: BTreeMap::new(),
            timestamp: chrono::Utc::now(),
        });
        if self.pending.len() >= PUBLISH_BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    /// Sends what is queued to the next partition, stored by the broker when this
    /// returns.
    pub async fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let records = std::mem::replace(&mut self.pending, Vec::with_capacity(PUBLISH_BATCH));
        let client = &self.partitions[self.turn % self.partitions.len()];
        self.turn += 1;
        let offsets = self
            .address
            .answered(ANSWER, client.produce(records, Compression::NoCompression))
            .await?
            .map_err(|e| self.address.error(format!("a message was not stored: {e}")))?;
        if let (Some(&first), Some(&last)) = (offsets.first(), offsets.last()) {
            let span = self
                .written
                .entry(client.partition())
                .or_insert((first, last));
            span.1 = last;
        }
        Ok(())
    }

    /// Per partition, the first and last offset written.
    pub fn written(&self) -> &BTreeMap<i32, (i64, i64)> {
        &self.written
    }
}

/// Creates the topic with `partitions` partitions; their numbers.
async fn create(address: &KafkaAddress, client: &Client, partitions: i32) -> Result<Vec<i32>> {
    let controller = client
        .controller_client()
        .map_err(|e| address.error(format!("cannot create the topic: {e}")))?;
    let created = controller.create_topic(&address.topic, partitions, 1, 5_000);
    match address.answered(ANSWER, created).await? {
        Ok(()) => {}
        // Made by another run in between.
        Err(KafkaError::ServerError {
            protocol_error: ProtocolError::TopicAlreadyExists,
            ..
        }) => {}
        Err(e) => return Err(address.error(format!("cannot create the topic: {e}"))),
    }
    // The metadata may lag the creation a moment.
    for _ in 0..50 {
        if let Ok(numbers) = address.partitions(client).await {
            return Ok(numbers);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    address.partitions(client).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = KafkaAddress::parse("kafka://127.0.0.1:19092/sales").unwrap();
        assert_eq!(
            (a.server.as_str(), a.topic.as_str()),
            ("127.0.0.1:19092", "sales")
        );
        let a = KafkaAddress::parse("kafka://broker/sales.eu-1/").unwrap();
        assert_eq!(
            (a.server.as_str(), a.topic.as_str()),
            ("broker:9092", "sales.eu-1")
        );
        for bad in [
            "nats://x/y",
            "kafka://host",
            "kafka:///t",
            "kafka://h/a b",
            "kafka://h/..",
        ] {
            assert!(KafkaAddress::parse(bad).is_err(), "{bad}");
        }
    }
}
