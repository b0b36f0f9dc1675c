#![no_main]
//! Any bytes as pg_dump input of the transactions (`lgs ingest`).

use lgs::ingest::Dataset;
use lgs::ingest::records::FileKind;
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(init: common::allow_caught_panics(), |data: &[u8]| {
    common::check(FileKind::PgDump, data, &Dataset::Retail);
});
