//! The right to be forgotten: every row of a customer removed from every table, no
//! file under the warehouse holding the customer afterwards (searched byte by byte,
//! and value by value in every Parquet file), and later ingests dropping the
//! customer's rows.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::Array;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use lgs::ingest::IngestOptions;
use lgs::warehouse::ForgetRequest;

use crate::common::{HEADER, Scratch, walk};

/// A customer id that cannot turn up by chance in a number of the log.
const GONE: i64 = 731_952_846;
const KEY: &[u8] = b"a pseudonym key of thirty-two bytes or more";

/// Two lines of the forgotten customer (its largest id, so the log's statistics
/// name it), a line of another, a guest line; a bad line of each customer.
fn lines() -> String {
    format!(
        "{HEADER}\n\
         20001,P1,MUG,2,2010-01-05 10:00:00,5.00,{GONE},France\n\
         20001,P2,CUP,1,2010-01-05 10:00:00,3.00,{GONE},France\n\
         20002,P1,MUG,3,2010-01-06 10:00:00,5.00,12001,United Kingdom\n\
         20003,P3,BOWL,1,2010-01-07 10:00:00,4.00,,United Kingdom\n\
         20004,P1,MUG,x,2010-01-08 10:00:00,5.00,{GONE}.0,France\n\
         20005,P1,MUG,y,2010-01-08 10:00:00,5.00,12002,Germany\n"
    )
}

fn request(now: bool) -> ForgetRequest {
    ForgetRequest {
        customers: vec![GONE],
        reason: "erasure request 2026-117".into(),
        now,
        key: Arc::from(KEY),
    }
}

fn with_key() -> IngestOptions {
    IngestOptions {
        pseudonym_key: Some(Arc::from(KEY)),
        ..IngestOptions::default()
    }
}

/// Every place under `dir` that holds `needle`: a file whose bytes contain it, or a
/// Parquet file with a value whose text contains it.
fn traces(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in walk(dir) {
        let bytes = std::fs::read(&entry).unwrap();
        if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            found.push(format!("{} (bytes)", entry.display()));
        }
        if entry.extension() == Some("parquet".as_ref()) {
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
                .unwrap()
                .build()
                .unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                for (i, column) in batch.columns().iter().enumerate() {
                    let Ok(text) = cast(column, &DataType::Utf8) else {
                        continue;
                    };
                    let text = text
                        .as_any()
                        .downcast_ref::<datafusion::arrow::array::StringArray>()
                        .unwrap();
                    if text.iter().flatten().any(|v| v.contains(needle)) {
                        found.push(format!(
                            "{} column {}",
                            entry.display(),
                            batch.schema().field(i).name()
                        ));
                    }
                }
            }
        }
    }
    found
}

/// Served requests with these statements, in the audit trail (a second apart, in
/// order).
async fn audited(warehouse: &lgs::Warehouse, statements: &[&str]) {
    let (log, flusher) =
        lgs::audit::AuditLog::start(warehouse.clone(), std::time::Duration::from_secs(60));
    let start = chrono::Utc::now();
    for (i, statement) in statements.iter().enumerate() {
        log.record(lgs::audit::Record {
            at: start + chrono::Duration::seconds(i as i64),
            user: "analyst".into(),
            role: "admin".into(),
            surface: "sql page".into(),
            statement: statement.to_string(),
            tables: "retail".into(),
            rows: Some(1),
            outcome: "ok".into(),
            millis: 3,
        });
    }
    flusher.finish().await;
}

#[tokio::test]
async fn a_forgotten_customer_leaves_no_trace_in_any_file() {
    let s = Scratch::new();
    let input = s.file("day.csv", lines());
    let report = s.ingest_with(&[&input], &with_key()).await.unwrap();
    assert_eq!((report.rows_loaded, report.rows_rejected), (4, 2));
    lgs::live::refresh(&s.warehouse).await.unwrap();
    let wh = s.dir.path().join("warehouse");
    assert!(wh.join("_lgs_live").exists());
    audited(
        &s.warehouse,
        &[
            &format!("SELECT * FROM retail WHERE customer_id = {GONE}"),
            &format!("SELECT * FROM retail WHERE customer_id IN ({GONE},12001,{GONE}.0)"),
            "SELECT count(*) FROM retail WHERE customer_id = 12001",
        ],
    )
    .await;
    let needle = GONE.to_string();
    assert!(
        traces(&wh, &needle).len() >= 3,
        "the search finds the customer before: {:?}",
        traces(&wh, &needle)
    );

    let done = s.warehouse.forget(&request(false)).await.unwrap();
    assert_eq!(done.rows, 3, "two lines and one quarantined line");
    let by_table: Vec<(String, u64)> = done
        .tables
        .iter()
        .map(|t| (t.table.clone(), t.rows))
        .collect();
    assert_eq!(
        by_table,
        vec![
            ("retail".to_string(), 2),
            ("retail_rejected".to_string(), 1),
            ("_lgs_audit/queries".to_string(), 2)
        ]
    );
    assert!(done.tables[2].redacted);
    // The audit trail keeps every record, without the customer in its statements.
    let statements: Vec<String> = s
        .warehouse
        .audit(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.statement)
        .collect();
    assert_eq!(
        statements,
        [
            "SELECT * FROM retail WHERE customer_id = <forgotten>",
            "SELECT * FROM retail WHERE customer_id IN (<forgotten>,12001,<forgotten>)",
            "SELECT count(*) FROM retail WHERE customer_id = 12001",
        ]
    );
    assert_eq!(done.derived_deleted, vec!["_lgs_live".to_string()]);
    // The tables no longer hold the customer; everyone else is there.
    assert_eq!(
        s.rows(&format!(
            "SELECT count(*) FROM retail WHERE customer_id = {GONE}"
        ))
        .await,
        vec!["0"]
    );
    assert_eq!(s.rows("SELECT count(*) FROM retail").await, vec!["2"]);
    assert_eq!(
        s.rows("SELECT count(*) FROM retail_rejected WHERE raw LIKE '%12002%'")
            .await,
        vec!["1"]
    );
    assert_eq!(
        s.rows("SELECT count(*) FROM retail_rejected").await,
        vec!["1"]
    );
    let checks = s.warehouse.check(None).await.unwrap();
    assert!(checks.iter().all(|c| c.ok()), "{checks:?}");
    // Without --now the replaced files and the log still hold it (time travel
    // works until the retention period ends)...
    assert!(!traces(&wh, &needle).is_empty());
    // ...and --now removes them.
    let done = s.warehouse.forget(&request(true)).await.unwrap();
    assert_eq!(done.rows, 0);
    assert!(
        done.tables
            .iter()
            .any(|t| t.files_deleted > 0 && t.log_files_deleted > 0)
    );
    assert_eq!(traces(&wh, &needle), Vec::<String>::new());
    // The warehouse is whole and reads as before.
    let checks = s.warehouse.check(None).await.unwrap();
    assert!(checks.iter().all(|c| c.ok()), "{checks:?}");
    assert_eq!(s.rows("SELECT sum(quantity) FROM retail").await, vec!["4"]);
}

#[tokio::test]
async fn later_ingests_drop_forgotten_customers_and_count_them() {
    let s = Scratch::new();
    let input = s.file("day.csv", lines());
    s.ingest_with(&[&input], &with_key()).await.unwrap();
    s.warehouse.forget(&request(true)).await.unwrap();
    // The same day re-sent (--force): the customer's lines are dropped, counted.
    let again = IngestOptions {
        force: true,
        ..with_key()
    };
    let report = s.ingest_with(&[&input], &again).await.unwrap();
    assert_eq!(report.rows_read, 6);
    assert_eq!(
        (
            report.rows_loaded,
            report.rows_rejected,
            report.rows_forgotten
        ),
        (2, 1, 3)
    );
    assert_eq!(
        s.rows(&format!(
            "SELECT count(*) FROM retail WHERE customer_id = {GONE}"
        ))
        .await,
        vec!["0"]
    );
    assert_eq!(s.rows("SELECT count(*) FROM retail").await, vec!["4"]);
    assert_eq!(
        s.rows("SELECT count(*) FROM retail_rejected").await,
        vec!["2"]
    );
    // Without the key, or with another, an ingest cannot drop them: it fails.
    let other = s.file("other.csv", lines().replace("20001", "30001"));
    let err = s.ingest(&[&other]).await.unwrap_err().to_string();
    assert!(
        err.contains("forget list") && err.contains("LGS_PSEUDONYM_KEY"),
        "{err}"
    );
    let wrong = IngestOptions {
        pseudonym_key: Some(Arc::from(&b"another key of thirty-two bytes or more"[..])),
        ..IngestOptions::default()
    };
    let err = s
        .ingest_with(&[&other], &wrong)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not the key"), "{err}");
    assert_eq!(
        s.rows("SELECT count(*) FROM retail").await,
        vec!["4"],
        "nothing loaded"
    );
}

/// A table partitioned by country that holds customers (as a saved table of
/// another tool could): the files holding the customer are rewritten into their
/// partitions, the other partitions' files are left as they are.
#[tokio::test]
async fn a_partitioned_table_is_rewritten_partition_by_partition() {
    use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use lgs::facts::{CommitFacts, WriteMode};
    use lgs::write::TableWriter;

    let s = Scratch::new();
    let input = s.file("day.csv", lines());
    s.ingest_with(&[&input], &with_key()).await.unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("country", DataType::Utf8, true),
        Field::new("customer_id", DataType::Int64, true),
        Field::new("score", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec![
                "France", "France", "Germany", "Germany", "Spain",
            ])),
            Arc::new(Int64Array::from(vec![GONE, 12003, GONE, 12004, 12005])),
            Arc::new(Float64Array::from(vec![1.0, 2.0, 4.0, 8.0, 16.0])),
        ],
    )
    .unwrap();
    let mut writer = TableWriter::new(&s.warehouse, "segments", schema, vec!["country".into()]);
    writer.write(batch).await.unwrap();
    let facts = CommitFacts {
        mode: Some(WriteMode::Overwrite),
        rows_written: 5,
        ..CommitFacts::default()
    };
    writer.commit(&facts, true).await.unwrap();
    let wh = s.dir.path().join("warehouse");
    let spain_files = |wh: &Path| {
        let mut names: Vec<_> = std::fs::read_dir(wh.join("segments/country=Spain"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let spain_before = spain_files(&wh);
    assert_eq!(spain_before.len(), 1);

    let done = s.warehouse.forget(&request(true)).await.unwrap();
    let segments = done.tables.iter().find(|t| t.table == "segments").unwrap();
    assert_eq!((segments.rows, segments.files_rewritten), (2, 2));
    // Hand-computed: the customer's rows (1 + 4) are gone, every other row stays in
    // its partition.
    assert_eq!(
        s.rows(
            "SELECT country, count(*), sum(score) FROM segments GROUP BY country ORDER BY country"
        )
        .await,
        vec!["France|1|2.0", "Germany|1|8.0", "Spain|1|16.0"]
    );
    assert_eq!(
        s.rows(&format!(
            "SELECT count(*) FROM segments WHERE customer_id = {GONE}"
        ))
        .await,
        vec!["0"]
    );
    assert_eq!(spain_files(&wh), spain_before, "Spain's file is untouched");
    assert!(wh.join("segments/country=France").is_dir());
    assert_eq!(traces(&wh, &GONE.to_string()), Vec::<String>::new());
    let checks = s.warehouse.check(None).await.unwrap();
    assert!(checks.iter().all(|c| c.ok()), "{checks:?}");
}
