#![no_main]
//! Any bytes as pg_dump input of the transactions (`lgs ingest`).

use libfuzzer_sys::fuzz_target;
use lgs::ingest::Dataset;
use lgs::ingest::records::FileKind;

mod common;

fuzz_target!(|data: &[u8]| {
    common::check(FileKind::PgDump, data, &Dataset::Retail);
});
