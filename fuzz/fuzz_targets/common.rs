//! What every whole-input target checks besides "no panic": the accounting of an
//! ingest adds up, and every loaded transaction became exactly one Arrow row (a WDI
//! record of the wide layout is a country's row of years: any number of rows).

use lgs::ingest::Dataset;
use lgs::ingest::dry::parse;
use lgs::ingest::records::FileKind;

pub fn check(kind: FileKind, data: &[u8], dataset: &Dataset) {
    if let Ok(parsed) = parse(kind, data, dataset) {
        assert_eq!(
            parsed.rows_read,
            parsed.rows_loaded + parsed.rows_rejected,
            "every record read is loaded or quarantined"
        );
        if *dataset == Dataset::Retail {
            assert_eq!(
                parsed.batch_rows, parsed.rows_loaded,
                "every loaded record is one row"
            );
        }
    }
}
