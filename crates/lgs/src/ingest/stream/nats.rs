//! NATS JetStream as a stream source: a durable pull consumer, placed after the
//! position the table records each time the stream starts, acknowledging a batch's
//! messages (all up to its last, `AckPolicy::All`) only once they are committed.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::AckPolicy, consumer::DeliverPolicy, consumer::pull};
use async_trait::async_trait;
use futures::StreamExt;

use super::messages::StreamMessage;
use super::{Broker, split_address};
use crate::error::{LgsError, Result};

/// Where a stream is: `nats://HOST[:PORT]/STREAM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsAddress {
    /// `HOST:PORT` (port 4222 unless given).
    pub server: String,
    pub stream: String,
}

impl NatsAddress {
    /// Parses `nats://HOST[:PORT]/STREAM`.
    pub fn parse(url: &str) -> Result<NatsAddress> {
        let valid = |stream: &str| {
            let fits = !stream.is_empty()
                && stream
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            match fits {
                true => Ok(()),
                false => Err("a stream name is letters, digits, '_' and '-'"),
            }
        };
        let (server, stream) =
            split_address(url, "nats", 4222, "nats://HOST[:PORT]/STREAM", valid)?;
        Ok(NatsAddress { server, stream })
    }

    /// How the stream is shown: `nats://HOST:PORT/STREAM`.
    pub fn shown(&self) -> String {
        format!("nats://{}/{}", self.server, self.stream)
    }

    /// Connects to the server; an unreachable server is an error naming it.
    pub async fn connect(&self) -> Result<async_nats::Client> {
        async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(self.server.as_str())
            .await
            .map_err(|e| LgsError::Broker {
                broker: self.shown(),
                message: format!("cannot connect: {e}"),
            })
    }
}

/// How long the server may take to answer a request for messages.
const ANSWER: Duration = Duration::from_secs(5);

/// The most messages one request asks for. The client holds a request's messages
/// in a buffer of 65,536 until they are read, and drops what does not fit while the
/// reader is busy (a batch being loaded beside the fetch of the next): a request of
/// 100,000 lost its tail that way, and the server, which had sent it, waited for
/// its acknowledgement instead of sending it again.
const REQUEST_MAX: usize = 8_192;

/// A JetStream stream read by a durable pull consumer.
pub struct Nats {
    address: NatsAddress,
    /// Only messages on this subject (a filter of the stream's subjects).
    subject: Option<String>,
    /// The durable consumer's name.
    durable: String,
    consumer: Option<jetstream::consumer::Consumer<pull::Config>>,
    /// The last message of each fetch not yet acknowledged, in position order: once
    /// a batch is committed, the last of them up to its end is acknowledged (with
    /// every message before it).
    unacked: std::collections::VecDeque<(u64, jetstream::Message)>,
    /// The consumer sequence the next message must have: the server numbers its
    /// deliveries one by one, so a jump means messages lost on the way.
    next_delivery: Option<u64>,
}

impl Nats {
    /// The stream at `address` (`nats://HOST[:PORT]/STREAM`), for table `table`.
    pub fn new(address: &str, subject: Option<String>, table: &str) -> Result<Nats> {
        let address = NatsAddress::parse(address)?;
        Ok(Nats {
            durable: format!("lgs_{table}"),
            address,
            subject,
            consumer: None,
            unacked: Default::default(),
            next_delivery: None,
        })
    }

    /// Up to `max` of the messages the stream holds now, appended to `out`; how many.
    async fn available(&mut self, max: usize, out: &mut Vec<StreamMessage>) -> Result<usize> {
        let shown = self.shown();
        let error = |message: String| LgsError::Broker {
            broker: shown.clone(),
            message,
        };
        let consumer = self.consumer.as_ref().expect("started");
        // A server that went away does not answer: give up on the request (the
        // stream starts the consumer again after the table's position).
        let silent = || error(format!("no answer in {} s", ANSWER.as_secs()));
        let max = max.min(REQUEST_MAX);
        let mut batch = tokio::time::timeout(ANSWER, consumer.fetch().max_messages(max).messages())
            .await
            .map_err(|_| silent())?
            .map_err(|e| error(format!("cannot fetch: {e}")))?;
        let before = out.len();
        let mut last = None;
        while let Some(message) = tokio::time::timeout(ANSWER, batch.next())
            .await
            .map_err(|_| silent())?
        {
            let message = message.map_err(|e| error(format!("cannot fetch: {e}")))?;
            let info = message
                .info()
                .map_err(|e| error(format!("a message without its stream position: {e}")))?;
            let (position, published) = (info.stream_sequence, info.published);
            // Messages lost between the server and here: read again after the
            // table's position (the stream starts the consumer there).
            if let Some(expected) = self.next_delivery
                && info.consumer_sequence != expected
            {
                return Err(error(format!(
                    "deliveries {expected} to {} were lost before they were read",
                    info.consumer_sequence.saturating_sub(1)
                )));
            }
            self.next_delivery = Some(info.consumer_sequence + 1);
            out.push(StreamMessage {
                position,
                payload: message.payload.clone(),
                published_ms: (published.unix_timestamp_nanos() / 1_000_000) as i64,
            });
            last = Some((position, message));
        }
        self.unacked.extend(last);
        Ok(out.len() - before)
    }

    fn error(&self, message: String) -> LgsError {
        LgsError::Broker {
            broker: self.shown(),
            message,
        }
    }
}

#[async_trait]
impl Broker for Nats {
    fn shown(&self) -> String {
        self.address.shown()
    }

    fn app_id(&self) -> String {
        match &self.subject {
            Some(s) => format!("lgs-stream:nats:{}:{s}", self.address.stream),
            None => format!("lgs-stream:nats:{}", self.address.stream),
        }
    }

    async fn start(&mut self, after: u64) -> Result<()> {
        self.unacked.clear();
        self.next_delivery = None;
        let client = self.address.connect().await?;
        let context = jetstream::new(client);
        let stream = match context.get_stream(&self.address.stream).await {
            Ok(stream) => stream,
            Err(e) if e.to_string().contains("not found") => {
                return Err(LgsError::InvalidArgument {
                    what: "stream",
                    message: format!(
                        "{}: no such stream; create it, or publish to it with \
                         `lgs replay FILE --to {}`",
                        self.shown(),
                        self.shown()
                    ),
                });
            }
            Err(e) => return Err(self.error(format!("cannot read the stream: {e}"))),
        };
        // The table, not the consumer, says what was loaded: the consumer is made
        // again to start right after it (a run killed after its commit but before
        // its acknowledgement leaves messages the consumer would deliver again).
        match stream.delete_consumer(&self.durable).await {
            Ok(_) => {}
            Err(e) if e.to_string().contains("not found") => {}
            Err(e) => {
                return Err(self.error(format!("cannot reset consumer {}: {e}", self.durable)));
            }
        }
        let deliver_policy = if after == 0 {
            DeliverPolicy::All
        } else {
            DeliverPolicy::ByStartSequence {
                start_sequence: after + 1,
            }
        };
        let config = pull::Config {
            durable_name: Some(self.durable.clone()),
            deliver_policy,
            ack_policy: AckPolicy::All,
            ack_wait: Duration::from_secs(600),
            // Every message of a batch is outstanding until its commit (the default,
            // 1,000, would cut batches at 1,000 messages).
            max_ack_pending: -1,
            filter_subject: self.subject.clone().unwrap_or_default(),
            ..Default::default()
        };
        let consumer = stream
            .create_consumer(config)
            .await
            .map_err(|e| self.error(format!("cannot create consumer {}: {e}", self.durable)))?;
        self.consumer = Some(consumer);
        Ok(())
    }

    async fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<StreamMessage>> {
        // Requests that the server answers at once with what the stream holds, until
        // the batch is full or `wait` is over. (A waiting pull request with an expiry
        // was seen to outlive it by seconds on nats-server 2.9 while messages kept
        // arriving; and a request left open when the batch closes would deliver
        // messages nobody reads, which the next acknowledgement would cover.)
        let deadline = tokio::time::Instant::now() + wait;
        let mut out = Vec::new();
        loop {
            let got = self.available(max - out.len(), &mut out).await?;
            if out.len() >= max || tokio::time::Instant::now() >= deadline {
                return Ok(out);
            }
            if got == 0 {
                let pause = Duration::from_millis(20);
                tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + pause)).await;
            }
        }
    }

    async fn ack(&mut self, upto: u64) -> Result<()> {
        let mut covering = None;
        while self.unacked.front().is_some_and(|(p, _)| *p <= upto) {
            covering = self.unacked.pop_front();
        }
        if let Some((_, message)) = covering {
            message
                .ack()
                .await
                .map_err(|e| self.error(format!("cannot acknowledge: {e}")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = NatsAddress::parse("nats://127.0.0.1:4222/SALES").unwrap();
        assert_eq!(
            (a.server.as_str(), a.stream.as_str()),
            ("127.0.0.1:4222", "SALES")
        );
        let a = NatsAddress::parse("nats://broker/SALES/").unwrap();
        assert_eq!(a.server, "broker:4222");
        for bad in ["kafka://x/y", "nats://host", "nats:///S", "nats://h/a.b"] {
            assert!(NatsAddress::parse(bad).is_err(), "{bad}");
        }
    }
}
