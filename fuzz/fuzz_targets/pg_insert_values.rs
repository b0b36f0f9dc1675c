#![no_main]
//! Any text as the `VALUES (...), (...);` of a `pg_dump --inserts` statement.

use lgs::ingest::insert_values::{parse_tuple, split_tuples};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(tuples) = split_tuples(text) {
        for (offset, tuple) in tuples {
            assert_eq!(&text[offset..offset + tuple.len()], tuple);
            let _ = parse_tuple(&tuple);
        }
    }
});
