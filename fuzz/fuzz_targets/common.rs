//! What every whole-input target checks besides "no panic": the accounting of an
//! ingest adds up, and every loaded transaction became exactly one Arrow row (a WDI
//! record of the wide layout is a country's row of years: any number of rows).

use lgs::ingest::Dataset;
use lgs::ingest::dry::parse;
use lgs::ingest::records::FileKind;

/// (Not every target that shares the panic hook checks a whole input.)
#[allow(dead_code)]
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

/// A panic that lgs catches and reports as an error naming the file
/// (`lgs::error::catch_panic`: dependencies known to panic on some corrupt input) is
/// not a crash: libFuzzer's hook aborts on every other panic, as before.
pub fn allow_caught_panics() {
    let abort = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !lgs::error::panic_is_caught() {
            abort(info);
        }
    }));
}
