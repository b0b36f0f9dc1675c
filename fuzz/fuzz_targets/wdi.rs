#![no_main]
//! Any bytes as a World Development Indicators CSV (`lgs ingest --dataset wdi`), in
//! every shape it accepts; the first byte says whether the indicator is named on the
//! command line (the `ISO,COUNTRY,VALUE,YEAR` export needs it).

use lgs::ingest::Dataset;
use lgs::ingest::records::FileKind;
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(init: common::allow_caught_panics(), |data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let dataset = if first & 1 == 1 {
        Dataset::Wdi {
            indicator: Some("NY.GDP.MKTP.KD.ZG".into()),
            indicator_name: Some("GDP growth (annual %)".into()),
        }
    } else {
        Dataset::Wdi {
            indicator: None,
            indicator_name: None,
        }
    };
    common::check(FileKind::Csv, rest, &dataset);
});
