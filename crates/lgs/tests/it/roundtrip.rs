//! Property tests: any value written to a CSV file and ingested reads back exactly
//! (decimals to the last digit, timestamps to the second, quotes, separators, line
//! breaks and non-ASCII text in every text field), and nothing is lost or rejected.

use chrono::{DateTime, NaiveDateTime};
use datafusion::arrow::array::Array;
use datafusion::arrow::util::display::array_value_to_string;
use proptest::prelude::*;

use crate::common::Scratch;

/// One transaction line as written, and as it must read back.
#[derive(Debug, Clone)]
struct Line {
    invoice_no: String,
    stock_code: String,
    description: String,
    quantity: i32,
    when: NaiveDateTime,
    /// Price in ten-thousandths of a pound, and how many decimals it is written with.
    price: (i64, u32),
    customer: Option<i64>,
    country: String,
}

/// Text with what breaks naive CSV handling: quotes, separators, line breaks,
/// non-ASCII, surrounding spaces.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,;|\"'\\n\\r\\téüß€漢字🎁-]{0,16}"
}

fn line() -> impl Strategy<Value = Line> {
    let invoice = (text(), "[A-Z0-9]{1,8}").prop_map(|(t, key)| format!("{t}{key}"));
    let price = (-99_999_999_999_999i64..99_999_999_999_999, 0u32..=4).prop_map(|(p, d)| {
        let step = 10i64.pow(4 - d);
        (p / step * step, d)
    });
    (
        invoice,
        text(),
        text(),
        any::<i32>(),
        // 1970 to 2100, to the second.
        0i64..4_102_444_800,
        price,
        proptest::option::of(0i64..10_000_000_000),
        text(),
    )
        .prop_map(
            |(invoice_no, stock_code, description, quantity, secs, price, customer, country)| {
                Line {
                    invoice_no,
                    stock_code,
                    description,
                    quantity,
                    when: DateTime::from_timestamp(secs, 0).unwrap().naive_utc(),
                    price,
                    customer,
                    country,
                }
            },
        )
}

/// A price written with `decimals` digits after the point.
fn written(price: i64, decimals: u32) -> String {
    let sign = if price < 0 { "-" } else { "" };
    let units = price.unsigned_abs();
    let whole = units / 10_000;
    let fraction = format!("{:04}", units % 10_000);
    match decimals {
        0 => format!("{sign}{whole}"),
        d => format!("{sign}{whole}.{}", &fraction[..d as usize]),
    }
}

/// How a text field reads back: trimmed, and empty as null (where nullable).
fn read_back(text: &str, nullable: bool) -> Option<String> {
    let t = text.trim();
    (!(nullable && t.is_empty())).then(|| t.to_string())
}

fn expected(line: &Line) -> Vec<Option<String>> {
    vec![
        read_back(&line.invoice_no, false),
        read_back(&line.stock_code, false),
        read_back(&line.description, true),
        Some(line.quantity.to_string()),
        Some(line.when.format("%Y-%m-%dT%H:%M:%S").to_string()),
        Some(written(line.price.0, 4)),
        line.customer.map(|c| c.to_string()),
        read_back(&line.country, true),
    ]
}

async fn ingest_and_read(lines: &[Line]) -> (lgs::ingest::IngestReport, Vec<Vec<Option<String>>>) {
    let s = Scratch::new();
    let path = s.dir.path().join("lines.csv");
    let mut csv = csv::Writer::from_path(&path).unwrap();
    // The warehouse's column names, one of the header shapes lgs reads.
    csv.write_record(lgs::schema::HEADER_SHAPES[0].columns)
        .unwrap();
    for l in lines {
        csv.write_record([
            l.invoice_no.clone(),
            l.stock_code.clone(),
            l.description.clone(),
            l.quantity.to_string(),
            l.when.format("%Y-%m-%d %H:%M:%S").to_string(),
            written(l.price.0, l.price.1),
            l.customer.map(|c| c.to_string()).unwrap_or_default(),
            l.country.clone(),
        ])
        .unwrap();
    }
    csv.flush().unwrap();
    drop(csv);
    let report = s.ingest(&[&path]).await.unwrap();
    let ctx = s.context().await;
    let batches = ctx
        .sql(
            "SELECT invoice_no, stock_code, description, quantity, invoice_date, unit_price, \
             customer_id, country FROM retail",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let mut rows = Vec::new();
    for batch in &batches {
        for i in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .map(|c| (!c.is_null(i)).then(|| array_value_to_string(c, i).unwrap()))
                    .collect(),
            );
        }
    }
    (report, rows)
}

proptest! {
    // 48 cases in the test suite; PROPTEST_CASES=N runs more.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_value_written_to_csv_reads_back_exactly(lines in proptest::collection::vec(line(), 1..24)) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (report, mut rows) = runtime.block_on(ingest_and_read(&lines));
        prop_assert_eq!(report.rows_rejected, 0, "{:?}", report);
        prop_assert_eq!(report.rows_loaded, lines.len() as u64);
        let mut want: Vec<Vec<Option<String>>> = lines.iter().map(expected).collect();
        want.sort();
        rows.sort();
        prop_assert_eq!(rows, want);
    }
}
