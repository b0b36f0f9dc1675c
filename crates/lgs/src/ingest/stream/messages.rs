//! A micro-batch of stream messages as an ingest input: each message is one
//! transaction line, as a JSON object (the field names of any of the three header
//! shapes) or as a CSV line under a declared header. The records go through the same
//! validation and quarantine as a file's, with the stream in place of the file and
//! the message's position (stream sequence, offset) in place of the line.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use serde_json::Value;

use crate::error::{LgsError, Result};
use crate::ingest::Dataset;
use crate::ingest::records::{Record, RecordSource};
use crate::ingest::sources::Input;
use crate::schema::{HEADER_SHAPES, match_header};

/// One message of a stream.
#[derive(Debug, Clone)]
pub struct StreamMessage {
    /// Its position in the stream (a NATS stream sequence, a Kafka offset).
    pub position: u64,
    pub payload: Bytes,
    /// When the broker stored it, in milliseconds since the Unix epoch (0: unknown).
    pub published_ms: i64,
}

/// How a message holds its transaction line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageFormat {
    /// A JSON object whose field names are those of one of the header shapes (any
    /// order; values as strings or numbers, `null` for an empty field).
    Json,
    /// A CSV line under this header (one of the header shapes).
    Csv { header: Vec<String> },
}

impl MessageFormat {
    /// The header a batch's records are read under.
    fn header(&self) -> Vec<String> {
        match self {
            MessageFormat::Json => HEADER_SHAPES[0]
                .columns
                .iter()
                .map(|c| c.to_string())
                .collect(),
            MessageFormat::Csv { header } => header.clone(),
        }
    }

    /// Checks a declared CSV header before any message is read.
    pub fn check(&self) -> Result<()> {
        if let MessageFormat::Csv { header } = self {
            let names: Vec<&str> = header.iter().map(String::as_str).collect();
            if match_header(&names).is_none() {
                return Err(LgsError::InvalidArgument {
                    what: "--header",
                    message: format!(
                        "{:?} is not one of the header shapes:\n  {}",
                        header.join(","),
                        crate::schema::expected_headers().join("\n  ")
                    ),
                });
            }
        }
        Ok(())
    }
}

/// The messages of one micro-batch, read as one input.
pub(super) struct Messages {
    /// How the stream is shown in reports and quarantine rows.
    pub shown: String,
    pub format: MessageFormat,
    pub messages: Arc<Vec<StreamMessage>>,
}

impl Input for Messages {
    fn shown(&self) -> String {
        self.shown.clone()
    }

    fn fingerprint(&self) -> &str {
        ""
    }

    fn bytes(&self) -> u64 {
        self.messages.iter().map(|m| m.payload.len() as u64).sum()
    }

    fn open(
        &self,
        _dataset: &Dataset,
        _read: Arc<AtomicU64>,
        _handle: &tokio::runtime::Handle,
    ) -> Result<Vec<(String, Box<dyn RecordSource>)>> {
        let records = message_records(self.format.clone(), self.messages.clone());
        Ok(vec![(self.shown.clone(), records)])
    }
}

/// The records of `messages` read under `format`, one per message, positioned at
/// the message's position (what a micro-batch's input opens, and what
/// [`crate::ingest::dry::parse_messages`] reads).
pub(crate) fn message_records(
    format: MessageFormat,
    messages: Arc<Vec<StreamMessage>>,
) -> Box<dyn RecordSource> {
    Box::new(MessageRecords {
        format,
        messages,
        next: 0,
        keys: None,
    })
}

/// The records of a batch's messages.
struct MessageRecords {
    format: MessageFormat,
    messages: Arc<Vec<StreamMessage>>,
    next: usize,
    /// The field names of the last JSON message and where each header column is
    /// among them (messages of one producer share them).
    keys: Option<(Vec<String>, [usize; 8])>,
}

impl RecordSource for MessageRecords {
    fn header(&mut self) -> Result<(u64, Vec<String>)> {
        Ok((0, self.format.header()))
    }

    fn next(&mut self, rec: &mut Record) -> Result<bool> {
        let Some(message) = self.messages.get(self.next) else {
            return Ok(false);
        };
        self.next += 1;
        rec.line = message.position;
        rec.error = None;
        rec.fields.clear();
        rec.raw.clear();
        rec.raw.extend_from_slice(trim_end(&message.payload));
        match &self.format {
            MessageFormat::Csv { .. } => match std::str::from_utf8(&rec.raw) {
                Ok(line) => rec.fields.split(line),
                Err(_) => rec.error = Some("the message is not UTF-8 text".into()),
            },
            MessageFormat::Json => {
                if let Err(reason) = self.json_fields(rec) {
                    rec.error = Some(reason);
                }
            }
        }
        Ok(true)
    }
}

impl MessageRecords {
    /// Fills `rec.fields` in header order from the JSON object in `rec.raw`.
    fn json_fields(&mut self, rec: &mut Record) -> std::result::Result<(), String> {
        let object: serde_json::Map<String, Value> = serde_json::from_slice(&rec.raw)
            .map_err(|e| format!("not a JSON object of one transaction line: {e}"))?;
        let same_keys = self
            .keys
            .as_ref()
            .is_some_and(|(keys, _)| keys.iter().eq(object.keys()));
        if !same_keys {
            let names: Vec<&str> = object.keys().map(String::as_str).collect();
            let (_, positions) = match_header(&names).ok_or_else(|| {
                format!(
                    "unknown fields {:?}; expected the names of one header shape: {}",
                    names.join(","),
                    crate::schema::expected_headers().join("; ")
                )
            })?;
            self.keys = Some((object.keys().cloned().collect(), positions));
        }
        let (_, positions) = self.keys.as_ref().expect("set above");
        let values: Vec<&Value> = object.values().collect();
        for (column, &at) in positions.iter().enumerate() {
            match values[at] {
                Value::String(s) => rec.fields.push(s),
                Value::Number(n) => rec.fields.push_with(|buf| buf.push_str(&n.to_string())),
                Value::Null => rec.fields.push(""),
                other => {
                    return Err(format!(
                        "field {:?} is {other}, not a string or a number",
                        HEADER_SHAPES[0].columns[column]
                    ));
                }
            }
        }
        Ok(())
    }
}

fn trim_end(payload: &[u8]) -> &[u8] {
    let mut end = payload.len();
    while end > 0 && matches!(payload[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &payload[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(format: MessageFormat, payloads: &[&str]) -> Vec<(u64, Vec<String>, Option<String>)> {
        let messages = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| StreamMessage {
                position: 10 + i as u64,
                payload: Bytes::copy_from_slice(p.as_bytes()),
                published_ms: 0,
            })
            .collect();
        let mut records = MessageRecords {
            format,
            messages: Arc::new(messages),
            next: 0,
            keys: None,
        };
        let mut out = vec![];
        let mut rec = Record::default();
        while records.next(&mut rec).unwrap() {
            let fields = (0..rec.fields.len())
                .map(|i| rec.fields.get(i).to_string())
                .collect();
            out.push((rec.line, fields, rec.error.take()));
        }
        out
    }

    /// JSON messages of any header shape become fields in the warehouse shape's
    /// order; a message that is not one transaction object says why.
    #[test]
    fn json_messages_of_each_shape_and_bad_ones() {
        let out = read(
            MessageFormat::Json,
            &[
                r#"{"InvoiceNo":"536365","StockCode":"85123A","Description":"HEART","Quantity":6,"InvoiceDate":"12/1/2010 8:26","UnitPrice":2.55,"CustomerID":17850,"Country":"United Kingdom"}"#,
                r#"{"country":"France","customer_id":null,"unit_price":"1.10","invoice_date":"2011-01-02 10:00:00","quantity":"-2","description":"X","stock_code":"22","invoice_no":"C1"}"#,
                "not json",
                r#"{"InvoiceNo":"1"}"#,
                r#"{"InvoiceNo":"536365","StockCode":"85123A","Description":"HEART","Quantity":[6],"InvoiceDate":"12/1/2010 8:26","UnitPrice":2.55,"CustomerID":17850,"Country":"United Kingdom"}"#,
            ],
        );
        assert_eq!(out[0].0, 10);
        assert_eq!(
            out[0].1,
            [
                "536365",
                "85123A",
                "HEART",
                "6",
                "12/1/2010 8:26",
                "2.55",
                "17850",
                "United Kingdom"
            ]
        );
        assert_eq!(
            out[1].1,
            [
                "C1",
                "22",
                "X",
                "-2",
                "2011-01-02 10:00:00",
                "1.10",
                "",
                "France"
            ]
        );
        assert!(out[2].2.as_deref().unwrap().contains("not a JSON object"));
        assert!(out[3].2.as_deref().unwrap().contains("unknown fields"));
        assert!(out[4].2.as_deref().unwrap().contains("\"quantity\" is [6]"));
        assert_eq!(out[4].0, 14);
    }

    /// CSV messages split under the declared header; the header must be a shape.
    #[test]
    fn csv_messages_and_their_header() {
        let header: Vec<String> =
            "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
                .split(',')
                .map(String::from)
                .collect();
        let out = read(
            MessageFormat::Csv {
                header: header.clone(),
            },
            &["1,A,\"a, b\",2,12/1/2010 8:26,1.5,17850,France\n"],
        );
        assert_eq!(out[0].1[2], "a, b");
        assert_eq!(out[0].1.len(), 8);
        assert!(MessageFormat::Csv { header }.check().is_ok());
        let bad = MessageFormat::Csv {
            header: vec!["a".into(), "b".into()],
        };
        assert!(
            bad.check()
                .unwrap_err()
                .to_string()
                .contains("header shapes")
        );
    }
}
