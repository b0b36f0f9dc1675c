//! Ingest: the header shapes, date forms, compression, the quarantine, the row
//! accounting, idempotency, and bad input that must leave the warehouse as it was.

use std::io::Write;

use lgs::LgsError;
use lgs::ingest::IngestOptions;

use crate::common::{HEADER, Scratch, test_data};

const ROWS: &str = "\
489434,85048,15CM CHRISTMAS GLASS BALL 20 LIGHTS,12,2009-12-01 07:45:00,6.95,13085.0,United Kingdom
489434,22041,\"RECORD FRAME 7\"\" SINGLE SIZE \",48,2009-12-01 07:45:00,2.1,13085,United Kingdom
C489449,22087,PAPER BUNTING WHITE LACE,-12,2009-12-01 10:33:00,2.95,16321,Australia
489464,21733,85123a mixed,-96,2009-12-01 10:52:00,0,,United Kingdom
";

fn uci_ii(rows: &str) -> String {
    format!("Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n{rows}")
}

#[tokio::test]
async fn three_header_shapes_and_two_date_forms_load_the_same_rows() {
    let s = Scratch::new();
    let warehouse_shape = s.file("a.csv", format!("{HEADER}\n{ROWS}"));
    s.ingest(&[&warehouse_shape]).await.unwrap();
    let expected = s
        .rows("SELECT * FROM retail ORDER BY invoice_no, stock_code")
        .await;
    assert_eq!(expected.len(), 4);
    assert_eq!(
        expected[0],
        "489434|22041|RECORD FRAME 7\" SINGLE SIZE|48|2009-12-01T07:45:00|2.1000|13085|United Kingdom|2009-12|100.8000|false"
    );
    assert_eq!(
        expected[3],
        "C489449|22087|PAPER BUNTING WHITE LACE|-12|2009-12-01T10:33:00|2.9500|16321|Australia|2009-12|-35.4000|true"
    );

    let s2 = Scratch::new();
    let uci = s2.file("b.csv", uci_ii(ROWS));
    let old_rows = ROWS
        .replace("2009-12-01 07:45:00", "12/1/2009 7:45")
        .replace("2009-12-01 10:33:00", "12/1/2009 10:33")
        .replace("2009-12-01 10:52:00", "12/1/2009 10:52");
    let old = s2.file(
        "c.csv",
        format!("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n{old_rows}"),
    );
    s2.ingest(&[&uci]).await.unwrap();
    let sql = "SELECT * FROM retail ORDER BY invoice_no, stock_code";
    assert_eq!(s2.rows(sql).await, expected);
    let report = s2.ingest(&[&old]).await.unwrap();
    assert_eq!(report.rows_loaded, 4);
    let both = s2.rows(sql).await;
    assert_eq!(both.len(), 8, "both files are kept, duplicates included");
    assert_eq!(both[0], both[1]);
}

#[tokio::test]
async fn compressed_inputs_directories_and_globs() {
    let s = Scratch::new();
    let dir = s.dir.path().join("drop");
    std::fs::create_dir(&dir).unwrap();
    let plain = format!("{HEADER}\n{ROWS}");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(plain.replace("489434", "1").as_bytes())
        .unwrap();
    std::fs::write(dir.join("one.csv.gz"), gz.finish().unwrap()).unwrap();
    let zst = zstd::encode_all(plain.replace("489434", "2").as_bytes(), 3).unwrap();
    std::fs::write(dir.join("two.csv.zst"), zst).unwrap();

    let report = s.ingest(&[&dir]).await.unwrap();
    assert_eq!(report.files.len(), 2);
    assert_eq!(
        (report.rows_read, report.rows_loaded, report.rows_rejected),
        (8, 8, 0)
    );
    assert_eq!(report.retail_version, Some(0), "one ingest is one commit");

    let pattern = format!("{}/*.zst", dir.display());
    let inputs = vec![pattern];
    let again = lgs::ingest::ingest(
        &s.warehouse,
        &inputs,
        &IngestOptions::default(),
        std::sync::Arc::new(lgs::ingest::NoProgress),
    )
    .await
    .unwrap();
    assert_eq!(again.files.len(), 1);
    assert!(
        again.files[0].skipped.is_some(),
        "same content is not loaded twice"
    );
    assert_eq!(again.retail_version, None);
}

#[tokio::test]
async fn bad_rows_are_quarantined_with_file_line_raw_and_reason() {
    let s = Scratch::new();
    let mut content = format!("{HEADER}\n").into_bytes();
    content.extend_from_slice(b"1,A,ok,2,2010-01-01 10:00,1.5,12346.0,UK\n"); // line 2
    content.extend_from_slice(b"2,B,bad qty,zz,2010-01-01 10:00,1.5,,UK\n"); // 3
    content.extend_from_slice(b"3,C,bad date,1,2010-02-30 10:00,1.5,,UK\n"); // 4
    content.extend_from_slice(b"4,D,bad price,1,2010-01-01 10:00,1.5x,,UK\n"); // 5
    content.extend_from_slice(b"5,E,too,many,fields,1,2010-01-01 10:00,1,,UK\n"); // 6
    content.extend_from_slice(b"6,F,\xff\xfe bytes,1,2010-01-01 10:00,1,,UK\n"); // 7
    content.extend_from_slice(b",G,no invoice,1,2010-01-01 10:00,1,,UK\n"); // 8
    content.extend_from_slice(b"7,H,no date,1,,1,,UK\n"); // 9
    content.extend_from_slice(b"8,I,\"multi\nline\",1,2010-01-01 10:00,1,,UK\n"); // 10-11
    content.extend_from_slice(b"9,J,bad customer,1,2010-01-01 10:00,1,12x,UK\n"); // 12
    content.extend_from_slice(b"10,K,truncated"); // 13, no newline
    let path = s.file("bad.csv", &content);

    let report = s.ingest(&[&path]).await.unwrap();
    assert_eq!(report.rows_read, 11);
    assert_eq!(report.rows_loaded, 2);
    assert_eq!(report.rows_rejected, 9);
    assert_eq!(report.rows_read, report.rows_loaded + report.rows_rejected);

    let rejected = s
        .rows("SELECT line, reason FROM retail_rejected ORDER BY line")
        .await;
    let shown = path.display().to_string();
    assert_eq!(
        rejected,
        vec![
            "3|bad quantity \"zz\": not a whole number in 32-bit range",
            "4|bad invoice_date \"2010-02-30 10:00\": expected YYYY-MM-DD HH:MM[:SS] or M/D/YYYY H:MM",
            "5|bad unit_price \"1.5x\": not a decimal number",
            "6|expected 8 fields, found 10",
            "7|invalid UTF-8 at byte 5",
            "8|missing invoice_no",
            "9|missing invoice_date",
            "12|bad customer_id \"12x\": not a whole number",
            "13|expected 8 fields, found 3",
        ]
    );
    let raw = s
        .rows("SELECT source_file, raw FROM retail_rejected WHERE line = 13")
        .await;
    assert_eq!(raw, vec![format!("{shown}|10,K,truncated")]);
    let loaded = s
        .rows("SELECT invoice_no, description FROM retail ORDER BY invoice_no")
        .await;
    assert_eq!(loaded, vec!["1|ok", "8|multi\nline"]);
}

#[tokio::test]
async fn strict_mode_writes_nothing() {
    let s = Scratch::new();
    let good = s.file("good.csv", format!("{HEADER}\n{ROWS}"));
    s.ingest(&[&good]).await.unwrap();
    let bad = s.file(
        "bad.csv",
        format!("{HEADER}\n1,A,x,1,2010-01-01 10:00,1,,UK\n2,B,x,oops,2010-01-01 10:00,1,,UK\n"),
    );
    let options = IngestOptions {
        strict: true,
        ..IngestOptions::default()
    };
    let err = s.ingest_with(&[&bad], &options).await.unwrap_err();
    assert!(
        matches!(err, LgsError::StrictRejected { rejected: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("bad.csv:3: bad quantity"), "{err}");
    let tables = s.warehouse.tables().await.unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["ingest_log", "retail"],
        "no quarantine table was created"
    );
    assert_eq!((tables[1].version, tables[1].rows), (0, 4));
}

#[tokio::test]
async fn file_level_errors_name_the_file_and_leave_the_warehouse_unchanged() {
    let s = Scratch::new();
    let good = s.file("good.csv", format!("{HEADER}\n{ROWS}"));
    s.ingest(&[&good]).await.unwrap();
    let before = s.warehouse.tables().await.unwrap();

    let other = s.file(
        "other.csv",
        format!("{HEADER}\n{}", ROWS.replace("489434", "9")),
    );
    let empty = s.file("empty.csv", "");
    let unknown = s.file("unknown.csv", "a,b,c\n1,2,3\n");
    let missing = s.dir.path().join("missing.csv");

    let err = s.ingest(&[&other, &empty]).await.unwrap_err();
    assert!(matches!(err, LgsError::EmptyInput { .. }));
    assert!(err.to_string().contains("empty.csv"), "{err}");

    let err = s.ingest(&[&other, &unknown]).await.unwrap_err();
    assert!(
        err.to_string().contains("unknown.csv:1: unknown header"),
        "{err}"
    );

    let err = s.ingest(&[&other, &missing]).await.unwrap_err();
    assert!(matches!(err, LgsError::InputNotFound { .. }));
    assert!(err.to_string().contains("missing.csv"), "{err}");

    // Nothing of other.csv was committed by any of the failed runs.
    assert_eq!(s.warehouse.tables().await.unwrap().len(), before.len());
    let after = s.warehouse.tables().await.unwrap();
    assert_eq!(
        (after[0].version, after[0].rows),
        (before[0].version, before[0].rows)
    );
}

#[tokio::test]
async fn header_only_file_loads_nothing_and_is_recorded() {
    let s = Scratch::new();
    let header_only = s.file("h.csv", uci_ii(""));
    let report = s.ingest(&[&header_only]).await.unwrap();
    assert_eq!((report.rows_read, report.rows_loaded), (0, 0));
    assert_eq!(report.retail_version, Some(0));
    let again = s.ingest(&[&header_only]).await.unwrap();
    assert!(again.files[0].skipped.is_some());
}

#[tokio::test]
async fn unwritable_warehouse_is_a_clear_error() {
    let s = Scratch::new();
    let input = s.file("in.csv", format!("{HEADER}\n{ROWS}"));
    // A warehouse below a regular file can never be created (even as root).
    let blocker = s.file("blocker", "not a directory");
    let warehouse = lgs::Warehouse::new(blocker.join("warehouse"));
    let err = lgs::ingest::ingest(
        &warehouse,
        &[input.display().to_string()],
        &IngestOptions::default(),
        std::sync::Arc::new(lgs::ingest::NoProgress),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, LgsError::WarehouseNotWritable { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("blocker/warehouse"), "{err}");
}

#[tokio::test]
async fn force_loads_the_same_content_again() {
    let s = Scratch::new();
    let path = test_data("handmade.csv");
    s.ingest(&[&path]).await.unwrap();
    let options = IngestOptions {
        force: true,
        ..IngestOptions::default()
    };
    let report = s.ingest_with(&[&path], &options).await.unwrap();
    assert_eq!(report.retail_version, Some(1));
    assert_eq!(s.rows("SELECT count(*) FROM retail").await, vec!["16"]);
    let history = s.warehouse.history("retail").await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].rows_added, Some(8));
}

#[tokio::test]
async fn a_rerun_after_a_crash_between_the_two_commits_does_not_duplicate_quarantine() {
    // Simulate the crash: quarantine committed, data not. Ingest into a scratch
    // warehouse, then remove the retail table's commit of that run.
    let s = Scratch::new();
    let path = s.file(
        "x.csv",
        format!("{HEADER}\n1,A,x,1,2010-01-01 10:00,1,,UK\n2,B,x,bad,2010-01-01 10:00,1,,UK\n"),
    );
    s.ingest(&[&path]).await.unwrap();
    std::fs::remove_dir_all(s.warehouse.local_root().unwrap().join("retail")).unwrap();

    let report = s.ingest(&[&path]).await.unwrap();
    assert_eq!((report.rows_loaded, report.rows_rejected), (1, 1));
    assert_eq!(
        report.rejected_version, None,
        "rejected rows were already stored"
    );
    assert_eq!(
        s.rows("SELECT count(*) FROM retail_rejected").await,
        vec!["1"]
    );
    assert_eq!(s.rows("SELECT count(*) FROM retail").await, vec!["1"]);
}

#[tokio::test]
async fn a_directory_of_daily_drops_loads_only_new_files_and_overwrite_replaces() {
    use lgs::ingest::WriteMode;
    let s = Scratch::new();
    let drop = s.dir.path().join("drop");
    std::fs::create_dir(&drop).unwrap();
    let day = |n: u32, rows: &str| {
        std::fs::write(
            drop.join(format!("day{n}.csv")),
            format!("{HEADER}\n{}", rows.replace("4894", &format!("{n}894"))),
        )
        .unwrap();
    };
    day(1, ROWS);
    day(2, ROWS);
    let first = s.ingest(&[&drop]).await.unwrap();
    assert_eq!(first.rows_loaded, 8);
    day(3, ROWS);
    let second = s.ingest(&[&drop]).await.unwrap();
    let skipped: Vec<bool> = second.files.iter().map(|f| f.skipped.is_some()).collect();
    assert_eq!(skipped, [true, true, false], "only the new file is read");
    assert_eq!(second.rows_loaded, 4);
    assert_eq!(second.retail_version, Some(1));

    // The ingest log lists every source with its checksum and counts.
    let log = s
        .rows(
            "SELECT regexp_replace(source, '.*/', ''), table_version, mode, rows_loaded, \
             length(fingerprint) FROM ingest_log ORDER BY table_version, source",
        )
        .await;
    assert_eq!(
        log,
        vec![
            "day1.csv|0|append|4|32",
            "day2.csv|0|append|4|32",
            "day3.csv|1|append|4|32"
        ]
    );

    // Overwrite replaces the table (and its quarantine) in one commit.
    let other = s.file(
        "other.csv",
        format!("{HEADER}\n{}", ROWS.lines().next().unwrap()),
    );
    let options = IngestOptions {
        mode: WriteMode::Overwrite,
        ..Default::default()
    };
    let replaced = s.ingest_with(&[&other], &options).await.unwrap();
    assert_eq!(replaced.retail_version, Some(2));
    assert_eq!(s.rows("SELECT count(*) FROM retail").await, vec!["1"]);
    let history = s.warehouse.history("retail").await.unwrap();
    assert!(
        history[2].operation.contains("WRITE"),
        "{:?}",
        history[2].operation
    );
    // After an overwrite, the drops are no longer in the table: they load again.
    let again = s.ingest(&[&drop]).await.unwrap();
    assert_eq!(again.rows_loaded, 12);
    assert_eq!(s.rows("SELECT count(*) FROM retail").await, vec!["13"]);
    let runs = s
        .rows("SELECT mode, count(*) FROM ingest_log GROUP BY mode ORDER BY mode")
        .await;
    assert_eq!(runs, vec!["append|6", "overwrite|1"]);
}

/// The library owns the target table's default and the `schema.table` split (a
/// PostgreSQL source's table), not the CLI.
#[test]
fn the_target_table_is_the_last_part_of_the_table_or_the_datasets_default() {
    let named = |t: &str| IngestOptions {
        table: Some(t.into()),
        ..IngestOptions::default()
    };
    assert_eq!(named("public.retail_copy").target_table(), "retail_copy");
    assert_eq!(named("sales").target_table(), "sales");
    assert_eq!(IngestOptions::default().target_table(), "retail");
    let wdi = IngestOptions {
        dataset: lgs::ingest::Dataset::Wdi {
            indicator: None,
            indicator_name: None,
        },
        ..IngestOptions::default()
    };
    assert_eq!(wdi.target_table(), "wdi");
}

/// A CSV parsed in many small chunks on several threads loads what reading it
/// record by record loads: the same rows, the same counts, and the same rejects on
/// the same lines, with quoted fields across lines and blank lines in between.
#[tokio::test]
async fn chunks_parsed_side_by_side_load_what_one_reader_loads() {
    let mut text = format!("{HEADER}\n");
    let mut line = 1;
    let mut bad_lines = Vec::new();
    for i in 0..600 {
        match i % 7 {
            0 => {
                text.push_str(&format!(
                    "{i},A,\"two\nlines, {i}\",1,2010-01-01 10:00,1.5,12346,UK\n"
                ));
                line += 2;
            }
            3 => {
                text.push_str(&format!("{i},B,bad,zz,2010-01-01 10:00,1.5,,UK\n"));
                line += 1;
                bad_lines.push(line);
            }
            5 => {
                text.push_str(&format!(
                    "\n{i},C,\"say \"\"hi\"\"\",2,2010-01-02 11:00,2,,UK\n"
                ));
                line += 2;
            }
            _ => {
                text.push_str(&format!(
                    "{i},D,plain,3,2010-01-03 12:00,0.5,17850,France\n"
                ));
                line += 1;
            }
        }
    }
    text.push_str("600,E,last,1,2010-01-04 09:00,1,,UK");
    let runs = [(Some(1), 8 << 20), (Some(3), 256), (Some(2), 1)];
    let mut seen = Vec::new();
    for (threads, chunk_bytes) in runs {
        let s = Scratch::new();
        let path = s.file("drop.csv", &text);
        let options = IngestOptions {
            parse_threads: threads,
            chunk_bytes,
            batch_rows: 7,
            ..IngestOptions::default()
        };
        let report = s.ingest_with(&[&path], &options).await.unwrap();
        let rows = s
            .rows("SELECT * FROM retail ORDER BY CAST(invoice_no AS INT)")
            .await;
        let rejected = s
            .rows("SELECT line, reason, raw FROM retail_rejected ORDER BY line")
            .await;
        seen.push((
            (report.rows_read, report.rows_loaded, report.rows_rejected),
            rows,
            rejected,
        ));
    }
    let (counts, rows, rejected) = &seen[0];
    assert_eq!(*counts, (601, 601 - 86, 86));
    assert_eq!(rows.len(), 515);
    let lines: Vec<String> = bad_lines.iter().map(|l| l.to_string()).collect();
    let got: Vec<&str> = rejected
        .iter()
        .map(|r| r.split('|').next().unwrap())
        .collect();
    assert_eq!(got, lines, "the rejects' lines, counted by hand");
    for (i, other) in seen.iter().enumerate().skip(1) {
        assert_eq!(other, &seen[0], "run {i} against record by record");
    }
}

/// The retail files keep min/max statistics for the columns reads prune on (the
/// date, the customer) and none for those whose ranges prune nothing (description,
/// stock code, invoice, country, amount), in the Parquet footers and in the Delta
/// log alike; the rows read back are the same.
#[tokio::test]
async fn retail_files_keep_statistics_only_where_they_prune() {
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};

    let s = Scratch::new();
    let input = s.file("a.csv", format!("{HEADER}\n{ROWS}"));
    s.ingest(&[&input]).await.unwrap();
    let files: Vec<_> = crate::common::walk(&s.dir.path().join("warehouse/retail"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert_eq!(files.len(), 1);
    let reader = SerializedFileReader::new(std::fs::File::open(&files[0]).unwrap()).unwrap();
    let row_group = reader.metadata().row_group(0);
    let with_statistics: Vec<String> = row_group
        .columns()
        .iter()
        .filter(|c| c.statistics().is_some_and(|s| s.min_bytes_opt().is_some()))
        .map(|c| c.column_path().string())
        .collect();
    assert_eq!(
        with_statistics,
        [
            "quantity",
            "invoice_date",
            "unit_price",
            "customer_id",
            "month",
            "is_cancellation"
        ]
    );

    let log = std::fs::read_to_string(
        s.dir
            .path()
            .join("warehouse/retail/_delta_log/00000000000000000000.json"),
    )
    .unwrap();
    let stats = log
        .lines()
        .find_map(|l| {
            l.contains("\"add\"")
                .then(|| serde_json::from_str::<serde_json::Value>(l).unwrap())
        })
        .unwrap()["add"]["stats"]
        .as_str()
        .map(|s| serde_json::from_str::<serde_json::Value>(s).unwrap())
        .unwrap();
    assert_eq!(stats["numRecords"], 4);
    assert_eq!(stats["minValues"]["customer_id"], 13085);
    assert!(stats["minValues"]["invoice_date"].is_string());
    for column in lgs::schema::RETAIL_COLUMNS_WITHOUT_STATISTICS {
        assert!(
            stats["minValues"].get(column).is_none(),
            "{column}: {stats}"
        );
    }

    assert_eq!(
        s.rows("SELECT count(*), min(description), max(country), sum(amount) FROM retail")
            .await,
        ["4|15CM CHRISTMAS GLASS BALL 20 LIGHTS|United Kingdom|148.8000"]
    );
}
