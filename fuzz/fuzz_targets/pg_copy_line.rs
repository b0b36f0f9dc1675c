#![no_main]
//! Any bytes as one line of a `COPY ... FROM stdin;` block (text format).

use lgs::ingest::csv::Fields;
use lgs::ingest::dump::decode_copy_line;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut fields = Fields::default();
    if decode_copy_line(data, &mut fields).is_ok() {
        // One field per tab-separated value.
        let tabs = data.iter().filter(|&&b| b == b'\t').count();
        assert_eq!(fields.len(), tabs + 1);
    }
});
