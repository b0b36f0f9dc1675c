#![no_main]
//! Any text as a field of a transaction: timestamps in every accepted form, prices
//! (exact decimals), quantities and customer ids.

use lgs::ingest::parse::{parse_customer_id, parse_price, parse_quantity, parse_timestamp};
use lgs::schema::{PRICE_PRECISION, PRICE_SCALE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_timestamp(text);
    let _ = parse_quantity(text);
    let _ = parse_customer_id(text);
    if let Ok(price) = parse_price(text) {
        // An exact decimal that fits the column and reads back to itself.
        assert!(price.abs() < 10i128.pow(u32::from(PRICE_PRECISION)));
        let scale = 10i128.pow(PRICE_SCALE as u32);
        let sign = if price < 0 { "-" } else { "" };
        let shown = format!(
            "{sign}{}.{:0w$}",
            price.abs() / scale,
            price.abs() % scale,
            w = PRICE_SCALE as usize
        );
        assert_eq!(parse_price(&shown), Ok(price), "{shown}");
    }
});
