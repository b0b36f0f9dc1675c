#![no_main]
//! Any bytes as one micro-batch of stream messages (`lgs stream`), through the
//! stream's own record path (`lgs::ingest::dry::parse_messages`). The first byte
//! picks the format: JSON objects, or CSV lines under one of the header shapes
//! (in its order or reversed); the rest is split into messages at 0x1E (the ASCII
//! record separator). Besides "no panic": a batch under a valid header always
//! reads, one record per message, and each is loaded (one row) or quarantined.

use lgs::ingest::Dataset;
use lgs::ingest::dry::parse_messages;
use lgs::ingest::stream::messages::{MessageFormat, StreamMessage};
use lgs::schema::HEADER_SHAPES;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let format = match first % 4 {
        0 => MessageFormat::Json,
        n => {
            let mut header: Vec<String> = HEADER_SHAPES[usize::from(n - 1)]
                .columns
                .iter()
                .map(|c| c.to_string())
                .collect();
            if first & 4 != 0 {
                header.reverse();
            }
            MessageFormat::Csv { header }
        }
    };
    let messages: Vec<StreamMessage> = rest
        .split(|&b| b == 0x1e)
        .enumerate()
        .map(|(i, payload)| StreamMessage {
            position: i as u64 + 1,
            payload: bytes::Bytes::copy_from_slice(payload),
            published_ms: 0,
        })
        .collect();
    let count = messages.len() as u64;
    let parsed = parse_messages(&format, messages, &Dataset::Retail)
        .expect("a batch under a header shape always reads");
    assert_eq!(parsed.rows_read, count, "one record per message");
    assert_eq!(
        parsed.rows_read,
        parsed.rows_loaded + parsed.rows_rejected,
        "every message is loaded or quarantined"
    );
    assert_eq!(
        parsed.batch_rows, parsed.rows_loaded,
        "every loaded message is one row"
    );
});
