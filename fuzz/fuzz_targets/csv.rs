#![no_main]
//! Any bytes as csv input of the transactions (`lgs ingest`).

use libfuzzer_sys::fuzz_target;
use lgs::ingest::Dataset;
use lgs::ingest::records::FileKind;

mod common;

fuzz_target!(|data: &[u8]| {
    common::check(FileKind::Csv, data, &Dataset::Retail);
});
