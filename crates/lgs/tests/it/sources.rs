//! Every source feeds the same validation and the same table: pg_dump output (COPY
//! and INSERT forms), Excel workbooks and Parquet files load exactly the rows their
//! CSV twin loads; bad input is a clear error that commits nothing, or a quarantined
//! row.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float64Builder, Int32Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use lgs::ingest::{Files, IngestOptions};

use crate::common::{HEADER, Scratch, repo_data, test_data};

/// Every loaded column, in a stable order: two warehouses hold the same rows iff
/// these are equal.
pub const CONTENT: &str = "SELECT invoice_no, stock_code, coalesce(description, '<null>'), \
    quantity, invoice_date, unit_price, coalesce(CAST(customer_id AS VARCHAR), '<null>'), \
    country, amount FROM retail \
    ORDER BY invoice_no, stock_code, invoice_date, quantity, unit_price, description, \
    customer_id, country";

pub fn pg_data(name: &str) -> PathBuf {
    test_data(&format!("pg/{name}"))
}

/// The fixture's rows: 2,135 real rows (every 500th of the real file) and three with
/// tabs, newlines, backslashes, quotes, UTF-8 and nulls, exported by `psql \copy`.
const FIXTURE_ROWS: u64 = 2_138;

async fn loaded_from(path: &Path) -> (lgs::ingest::IngestReport, Vec<String>) {
    let s = Scratch::new();
    let report = s.ingest(&[path]).await.unwrap();
    let rows = s.rows(CONTENT).await;
    (report, rows)
}

#[tokio::test]
async fn pg_dumps_in_copy_and_insert_forms_load_the_rows_of_the_csv_export() {
    let (csv_report, expected) = loaded_from(&pg_data("retail.csv")).await;
    assert_eq!(csv_report.rows_loaded, FIXTURE_ROWS);
    assert_eq!(csv_report.rows_rejected, 0);
    for dump in [
        "retail.sql",
        "retail_inserts.sql",
        "retail_column_inserts.sql",
    ] {
        let (report, rows) = loaded_from(&pg_data(dump)).await;
        assert_eq!(report.rows_read, FIXTURE_ROWS, "{dump}");
        assert_eq!(report.rows_rejected, 0, "{dump}");
        assert_eq!(rows, expected, "{dump} loads the rows of the CSV export");
    }
    // The escapes came through: a tab and a newline inside a description.
    let s = Scratch::new();
    s.ingest(&[&pg_data("retail.sql")]).await.unwrap();
    let got = s
        .rows("SELECT description FROM retail WHERE invoice_no = '599001' ORDER BY stock_code")
        .await;
    assert_eq!(
        got,
        vec![
            "BACK\\SLASH \"QUOTED\", café",
            "TAB\tAND NEWLINE\nIN DESCRIPTION"
        ]
    );
}

#[tokio::test]
async fn bad_dumps_are_clear_errors_or_quarantined_rows() {
    let dump = std::fs::read_to_string(pg_data("retail.sql")).unwrap();

    // Truncated inside the COPY block: an error, nothing committed.
    let s = Scratch::new();
    let cut = s.file("cut.sql", &dump[..dump.len() * 3 / 5]);
    let err = s.ingest(&[&cut]).await.unwrap_err().to_string();
    assert!(err.contains("truncated dump"), "{err}");
    assert!(err.contains("cut.sql:47"), "names the COPY line: {err}");
    assert!(s.warehouse.tables().await.unwrap().is_empty());

    // Truncated inside an INSERT statement.
    let inserts = std::fs::read_to_string(pg_data("retail_inserts.sql")).unwrap();
    let at = inserts.find("'TAB").unwrap() + 6;
    let cut = s.file("cut_inserts.sql", &inserts[..at]);
    let err = s.ingest(&[&cut]).await.unwrap_err().to_string();
    assert!(err.contains("truncated dump"), "{err}");
    assert!(s.warehouse.tables().await.unwrap().is_empty());

    // A COPY row with a missing column is quarantined with its line.
    let mut lines: Vec<String> = dump.lines().map(String::from).collect();
    let victim = lines
        .iter()
        .position(|l| l.starts_with("489522\t"))
        .unwrap();
    let short = lines[victim].rsplit_once('\t').unwrap().0.to_string();
    lines[victim] = short;
    let s = Scratch::new();
    let bad = s.file("short.sql", lines.join("\n"));
    let report = s.ingest(&[&bad]).await.unwrap();
    assert_eq!(report.rows_read, FIXTURE_ROWS);
    assert_eq!(report.rows_loaded, FIXTURE_ROWS - 1);
    assert_eq!(report.rows_rejected, 1);
    let rejected = s.rows("SELECT line, reason FROM retail_rejected").await;
    assert_eq!(
        rejected,
        vec![format!("{}|expected 8 fields, found 7", victim + 1)]
    );

    // A dump without retail data.
    let s = Scratch::new();
    let empty = s.file(
        "schema_only.sql",
        "--\n-- PostgreSQL database dump\n--\nSET statement_timeout = 0;\n\
         CREATE TABLE public.other (\n    id integer\n);\n\
         COPY public.other (id) FROM stdin;\n1\n\\.\n",
    );
    let err = s.ingest(&[&empty]).await.unwrap_err().to_string();
    assert!(err.contains("no data to load"), "{err}");
    assert!(s.warehouse.tables().await.unwrap().is_empty());
}

/// Rows of the real dataset: every `step`-th, as text fields.
fn real_rows(step: usize) -> Vec<csv::StringRecord> {
    let mut text = String::new();
    zstd::stream::read::Decoder::new(
        std::fs::File::open(repo_data("online_retail_II.csv.zst")).unwrap(),
    )
    .unwrap()
    .read_to_string(&mut text)
    .unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    reader.records().step_by(step).map(|r| r.unwrap()).collect()
}

fn to_csv(rows: &[&csv::StringRecord]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(HEADER.split(',')).unwrap();
    for r in rows {
        w.write_record(*r).unwrap();
    }
    String::from_utf8(w.into_inner().unwrap()).unwrap()
}

fn excel_serial(date: &str) -> f64 {
    let t = chrono::NaiveDateTime::parse_from_str(date, "%Y-%m-%d %H:%M:%S").unwrap();
    let epoch = chrono::NaiveDate::from_ymd_opt(1899, 12, 30)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    (t - epoch).num_seconds() as f64 / 86_400.0
}

/// A number cell when the text is a plain integer (as in the UCI workbook), else text.
fn write_code(sheet: &mut rust_xlsxwriter::Worksheet, row: u32, col: u16, text: &str) {
    match text.parse::<u64>() {
        Ok(n) if !text.starts_with('0') => sheet.write_number(row, col, n as f64).unwrap(),
        _ => sheet.write_string(row, col, text).unwrap(),
    };
}

/// The UCI layout: two sheets that overlap on 2010-12-01..09, real rows, Excel dates
/// and numbers.
fn uci_workbook(path: &Path, sheets: &[(&str, Vec<&csv::StringRecord>)]) {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let date = rust_xlsxwriter::Format::new().set_num_format("m/d/yy h:mm");
    for (name, rows) in sheets {
        let sheet = workbook.add_worksheet();
        sheet.set_name(*name).unwrap();
        for (c, h) in lgs::schema::HEADER_SHAPES[1].columns.iter().enumerate() {
            sheet.write_string(0, c as u16, *h).unwrap();
        }
        for (i, r) in rows.iter().enumerate() {
            let row = i as u32 + 1;
            write_code(sheet, row, 0, &r[0]);
            write_code(sheet, row, 1, &r[1]);
            if !r[2].is_empty() {
                sheet.write_string(row, 2, &r[2]).unwrap();
            }
            sheet
                .write_number(row, 3, r[3].parse::<f64>().unwrap())
                .unwrap();
            sheet
                .write_number_with_format(row, 4, excel_serial(&r[4]), &date)
                .unwrap();
            sheet
                .write_number(row, 5, r[5].parse::<f64>().unwrap())
                .unwrap();
            if !r[6].is_empty() {
                sheet
                    .write_number(row, 6, r[6].parse::<f64>().unwrap())
                    .unwrap();
            }
            sheet.write_string(row, 7, &r[7]).unwrap();
        }
    }
    workbook.save(path).unwrap();
}

#[tokio::test]
async fn an_excel_workbook_of_real_rows_loads_both_sheets_like_its_csv() {
    let rows = real_rows(199);
    let first: Vec<&csv::StringRecord> =
        rows.iter().filter(|r| &r[4][..10] < "2010-12-10").collect();
    let second: Vec<&csv::StringRecord> = rows
        .iter()
        .filter(|r| &r[4][..10] >= "2010-12-01")
        .collect();
    let overlap = first.len() + second.len() - rows.len();
    assert!(
        overlap > 10,
        "the sheets overlap on 2010-12-01..09 ({overlap} rows)"
    );

    let s = Scratch::new();
    let xlsx = s.dir.path().join("online_retail_II.xlsx");
    uci_workbook(
        &xlsx,
        &[
            ("Year 2009-2010", first.clone()),
            ("Year 2010-2011", second.clone()),
        ],
    );
    let both: Vec<&csv::StringRecord> = first.iter().chain(second.iter()).copied().collect();
    let (_, expected) = loaded_from(&s.file("both.csv", to_csv(&both))).await;

    let report = s.ingest(&[&xlsx]).await.unwrap();
    assert_eq!(
        report.rows_read as usize,
        both.len(),
        "every row of both sheets"
    );
    assert_eq!(report.rows_rejected, 0);
    assert_eq!(s.rows(CONTENT).await, expected);

    // --sheet picks one; a missing sheet names the ones there are.
    let one = Scratch::new();
    let options = IngestOptions::default().with(Files::sheets(vec!["Year 2010-2011".into()]));
    let report = one.ingest_with(&[&xlsx], &options).await.unwrap();
    assert_eq!(report.rows_loaded as usize, second.len());
    let options = IngestOptions::default().with(Files::sheets(vec!["2011".into()]));
    let err = one
        .ingest_with(&[&xlsx], &options)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no sheet named \"2011\"") && err.contains("\"Year 2009-2010\""),
        "{err}"
    );

    // A corrupt workbook: a clear error, nothing committed.
    let bad = Scratch::new();
    let mut bytes = std::fs::read(&xlsx).unwrap();
    bytes.truncate(bytes.len() / 2);
    let corrupt = bad.file("corrupt.xlsx", bytes);
    let err = bad.ingest(&[&corrupt]).await.unwrap_err().to_string();
    assert!(err.contains("corrupt.xlsx"), "{err}");
    assert!(bad.warehouse.tables().await.unwrap().is_empty());
}

/// A Spark-style export: UCI column names, doubles for price and customer id, UTC
/// timestamps, in part files beside a `_SUCCESS` marker.
fn spark_parquet(path: &Path, rows: &[&csv::StringRecord]) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("Invoice", DataType::Utf8, false),
        Field::new("StockCode", DataType::Utf8, false),
        Field::new("Description", DataType::Utf8, true),
        Field::new("Quantity", DataType::Int32, false),
        Field::new(
            "InvoiceDate",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("Price", DataType::Float64, false),
        Field::new("Customer ID", DataType::Float64, true),
        Field::new("Country", DataType::Utf8, false),
    ]));
    let (mut inv, mut code, mut desc, mut country) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let mut qty = Int32Builder::new();
    let mut date = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let (mut price, mut customer) = (Float64Builder::new(), Float64Builder::new());
    for r in rows {
        inv.append_value(&r[0]);
        code.append_value(&r[1]);
        desc.append_option((!r[2].is_empty()).then(|| &r[2]));
        qty.append_value(r[3].parse().unwrap());
        let t = chrono::NaiveDateTime::parse_from_str(&r[4], "%Y-%m-%d %H:%M:%S").unwrap();
        date.append_value(t.and_utc().timestamp_micros());
        price.append_value(r[5].parse().unwrap());
        customer.append_option(r[6].parse::<f64>().ok());
        country.append_value(&r[7]);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(inv.finish()),
        Arc::new(code.finish()),
        Arc::new(desc.finish()),
        Arc::new(qty.finish()),
        Arc::new(date.finish()),
        Arc::new(price.finish()),
        Arc::new(customer.finish()),
        Arc::new(country.finish()),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[tokio::test]
async fn a_spark_parquet_export_directory_loads_like_its_csv() {
    let rows = real_rows(301);
    let all: Vec<&csv::StringRecord> = rows.iter().collect();
    let (_, expected) = loaded_from(&Scratch::new().file("all.csv", to_csv(&all))).await;

    let s = Scratch::new();
    let dir = s.dir.path().join("export.parquet");
    std::fs::create_dir(&dir).unwrap();
    let half = all.len() / 2;
    spark_parquet(&dir.join("part-00000.snappy.parquet"), &all[..half]);
    spark_parquet(&dir.join("part-00001.snappy.parquet"), &all[half..]);
    std::fs::write(dir.join("_SUCCESS"), "").unwrap();
    let report = s.ingest(&[&dir]).await.unwrap();
    assert_eq!(report.files.len(), 2, "the marker file is not an input");
    assert_eq!(report.rows_loaded as usize, all.len());
    assert_eq!(s.rows(CONTENT).await, expected);

    let bad = Scratch::new();
    let corrupt = bad.file("corrupt.parquet", b"PAR1 this is not parquet at all PAR1");
    let err = bad.ingest(&[&corrupt]).await.unwrap_err().to_string();
    assert!(
        err.contains("corrupt.parquet") && err.contains("not a readable Parquet file"),
        "{err}"
    );
    assert!(bad.warehouse.tables().await.unwrap().is_empty());
}

fn generate(
    dir: &Path,
    name: &str,
    rows: u64,
    seed: u64,
    format: lgs::generate::retail::RetailFormat,
    threads: usize,
) -> PathBuf {
    let path = dir.join(name);
    let spec = lgs::generate::retail::RetailSpec {
        rows,
        seed,
        format,
        threads,
    };
    let done = lgs::generate::retail::write_retail(&spec, &path, &|_| {}).unwrap();
    assert_eq!(done.rows, rows);
    path
}

#[tokio::test]
async fn generated_data_is_deterministic_in_every_format_and_has_the_real_quirks() {
    use lgs::generate::retail::RetailFormat;
    let s = Scratch::new();
    let dir = s.dir.path();
    let rows = 120_000;
    let csv = generate(dir, "a.csv", rows, 7, RetailFormat::Csv, 1);
    let csv_threads = generate(dir, "b.csv", rows, 7, RetailFormat::Csv, 3);
    let other_seed = generate(dir, "c.csv", rows, 8, RetailFormat::Csv, 2);
    let a = std::fs::read(&csv).unwrap();
    assert_eq!(
        a,
        std::fs::read(&csv_threads).unwrap(),
        "same seed, same bytes"
    );
    assert_ne!(a, std::fs::read(&other_seed).unwrap());
    let text = String::from_utf8(a).unwrap();
    assert!(
        text.lines()
            .filter(|l| l.contains(", ") || l.contains(" ,"))
            .count()
            > 1000,
        "descriptions with stray spaces"
    );

    let report = s.ingest(&[&csv]).await.unwrap();
    assert_eq!((report.rows_read, report.rows_rejected), (rows, 0));
    has_the_real_quirks(&s, rows).await;
    every_format_holds_the_same_rows().await;
}

/// The generated rows have the real data's quirks, in about its proportions.
async fn has_the_real_quirks(s: &Scratch, rows: u64) {
    let scratch = s;
    let share = |sql: &str| {
        let sql =
            format!("SELECT CAST(count(*) FILTER (WHERE {sql}) AS DOUBLE) / count(*) FROM retail");
        async move { scratch.rows(&sql).await[0].parse::<f64>().unwrap() }
    };
    let within = |what: &str, v: f64, lo: f64, hi: f64| {
        assert!((lo..=hi).contains(&v), "{what}: {v} not in [{lo}, {hi}]");
    };
    // The real data: 22.8 % without customer, 1.83 % cancellations, 0.58 % price 0,
    // 0.32 % negative without C, 3.2 % duplicates, 0.57 % non-product codes.
    within(
        "no customer",
        share("customer_id IS NULL").await,
        0.15,
        0.32,
    );
    within("cancellations", share("is_cancellation").await, 0.01, 0.035);
    within("price 0", share("unit_price = 0").await, 0.003, 0.012);
    within(
        "negative without C",
        share("quantity < 0 AND NOT is_cancellation").await,
        0.0015,
        0.006,
    );
    within(
        "non-product codes",
        share("stock_code IN ('POST','DOT','M','C2','D','S','BANK CHARGES','AMAZONFEE','ADJUST','PADS','CRUK','TEST001','gift_0001_10')").await,
        0.002,
        0.015,
    );
    let dup = s
        .rows("SELECT sum(n - 1) FROM (SELECT count(*) AS n FROM retail GROUP BY ALL_COLUMNS_PLACEHOLDER) WHERE n > 1".replace(
            "ALL_COLUMNS_PLACEHOLDER",
            "invoice_no, stock_code, description, quantity, invoice_date, unit_price, customer_id, country",
        ).as_str())
        .await[0]
        .parse::<f64>()
        .unwrap()
        / rows as f64;
    within("exact duplicates", dup, 0.015, 0.05);
    let saturdays = s
        .rows("SELECT count(*) FROM retail WHERE date_part('dow', invoice_date) = 6")
        .await;
    assert_eq!(saturdays, vec!["0"], "no Saturday trading");
    let peak = s
        .rows("SELECT month FROM retail WHERE month LIKE '2010-%' GROUP BY month ORDER BY count(*) DESC LIMIT 1")
        .await;
    assert_eq!(peak, vec!["2010-11"], "the November peak");
    // Cancellations refer to earlier lines of the same customer and product.
    let referred = s
        .rows(
            "SELECT CAST((SELECT count(*) FROM retail c WHERE c.is_cancellation AND EXISTS \
             (SELECT 1 FROM retail o WHERE NOT o.is_cancellation \
             AND o.customer_id = c.customer_id AND o.stock_code = c.stock_code \
             AND o.invoice_date <= c.invoice_date)) AS DOUBLE) \
             / (SELECT count(*) FROM retail WHERE is_cancellation)",
        )
        .await[0]
        .parse::<f64>()
        .unwrap();
    within("cancellations of earlier lines", referred, 0.95, 1.0);
    let top = s
        .rows(
            "SELECT CAST(max(n) AS DOUBLE) / sum(n) FROM (SELECT count(*) AS n FROM retail \
             WHERE customer_id IS NOT NULL GROUP BY customer_id)",
        )
        .await[0]
        .parse::<f64>()
        .unwrap();
    within("top customer share (skew)", top, 0.005, 0.2);
}

/// Every format holds the same rows.
async fn every_format_holds_the_same_rows() {
    use lgs::generate::retail::RetailFormat;
    let rows = 20_000;
    let base = Scratch::new();
    base.ingest(&[&generate(
        base.dir.path(),
        "g.csv",
        rows,
        7,
        RetailFormat::Csv,
        2,
    )])
    .await
    .unwrap();
    let expected = base.rows(CONTENT).await;
    for (name, format) in [
        ("g.sql", RetailFormat::Sql),
        ("g.parquet", RetailFormat::Parquet),
        ("g.xlsx", RetailFormat::Xlsx),
    ] {
        let small = Scratch::new();
        let path = generate(small.dir.path(), name, rows, 7, format, 2);
        let report = small.ingest(&[&path]).await.unwrap();
        assert_eq!(
            (report.rows_read, report.rows_rejected),
            (rows, 0),
            "{name}"
        );
        assert_eq!(small.rows(CONTENT).await, expected, "{name}");
    }
}
