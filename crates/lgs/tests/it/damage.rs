//! Damaged tables: a table is read whole or the read fails, naming the table, its
//! version and what is wrong.

use std::path::PathBuf;

use crate::common::{Scratch, test_data};

/// The data files of a local table, in name order.
fn data_files(s: &Scratch, table: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(s.dir.path().join("warehouse").join(table))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension() == Some("parquet".as_ref()))
        .collect();
    files.sort();
    files
}

/// Two ingests: two data files in `retail` (version 1).
async fn two_files() -> Scratch {
    let s = Scratch::new();
    s.ingest(&[&test_data("handmade.csv")]).await.unwrap();
    s.ingest(&[&test_data("split_invoice.csv")]).await.unwrap();
    assert_eq!(data_files(&s, "retail").len(), 2);
    s
}

/// Whether `lgs check` finds every table of the warehouse whole.
async fn whole(s: &Scratch) -> bool {
    s.warehouse
        .check(None)
        .await
        .unwrap()
        .iter()
        .all(|c| c.ok())
}

async fn session_error(s: &Scratch) -> String {
    lgs::session::context(&s.warehouse)
        .await
        .err()
        .expect("the damaged table must not be read")
        .to_string()
}

#[tokio::test]
async fn a_missing_data_file_fails_every_read_naming_table_version_and_file() {
    let s = two_files().await;
    let before = s.rows("SELECT count(*) FROM retail").await;
    let gone = data_files(&s, "retail").remove(0);
    std::fs::remove_file(&gone).unwrap();
    let err = session_error(&s).await;
    let name = gone.file_name().unwrap().to_str().unwrap();
    assert!(
        err.contains("Delta table retail version 1")
            && err.contains(name)
            && err.contains("is missing"),
        "{err}"
    );
    // Nothing partial: the report fails too.
    let err = lgs::session::context_with_tables(&s.warehouse)
        .await
        .err()
        .expect("no session over a damaged table")
        .to_string();
    assert!(err.contains(name), "{err}");
    assert_eq!(before.len(), 1);
}

#[tokio::test]
async fn a_truncated_data_file_fails_the_read_with_both_sizes() {
    let s = two_files().await;
    let file = data_files(&s, "retail").remove(1);
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let err = session_error(&s).await;
    let name = file.file_name().unwrap().to_str().unwrap();
    assert!(
        err.contains(name)
            && err.contains(&format!("has {} bytes", bytes.len() / 2))
            && err.contains(&format!("the log records {}", bytes.len())),
        "{err}"
    );
}

fn commit_file(s: &Scratch, version: u64) -> PathBuf {
    s.dir
        .path()
        .join(format!("warehouse/retail/_delta_log/{version:020}.json"))
}

#[tokio::test]
async fn a_truncated_commit_file_is_named_with_its_version() {
    let s = two_files().await;
    let last = commit_file(&s, 1);
    let bytes = std::fs::read(&last).unwrap();
    std::fs::write(&last, &bytes[..bytes.len() / 3]).unwrap();
    let err = session_error(&s).await;
    assert!(
        err.contains("Delta table retail: the commit file of version 1")
            && err.contains("_delta_log/00000000000000000001.json")
            && err.contains("is damaged"),
        "{err}"
    );
}

#[tokio::test]
async fn a_missing_commit_file_is_named_with_its_version() {
    let s = two_files().await;
    s.ingest(&[&test_data("pg/retail.csv")]).await.unwrap();
    std::fs::remove_file(commit_file(&s, 1)).unwrap();
    let err = session_error(&s).await;
    assert!(
        err.contains("the commit file of version 1")
            && err.contains("is missing (the log goes on at version 2)"),
        "{err}"
    );
}

#[tokio::test]
async fn check_names_the_damage_and_repair_drops_it_recording_the_rows_lost() {
    let s = two_files().await;
    let checks = s.warehouse.check(None).await.unwrap();
    assert!(checks.iter().all(|c| c.ok()), "{checks:?}");
    let before: u64 = s.rows("SELECT count(*) FROM retail").await[0]
        .parse()
        .unwrap();
    // The first ingest's file (handmade.csv: 8 rows) goes missing.
    let gone = data_files(&s, "retail")
        .into_iter()
        .find(|f| {
            let log = std::fs::read_to_string(commit_file(&s, 0)).unwrap();
            log.contains(f.file_name().unwrap().to_str().unwrap())
        })
        .unwrap();
    std::fs::remove_file(&gone).unwrap();
    let name = gone.file_name().unwrap().to_str().unwrap();
    let checks = s.warehouse.check(Some("retail")).await.unwrap();
    assert_eq!(checks.len(), 1);
    assert!(!checks[0].ok());
    assert_eq!(checks[0].damaged.len(), 1);
    assert_eq!(checks[0].damaged[0].file, name);
    assert_eq!(checks[0].damaged[0].rows, Some(8));

    let repair = s.warehouse.repair("retail").await.unwrap();
    assert_eq!((repair.version, repair.rows_lost), (Some(2), 8));
    assert_eq!(
        s.rows("SELECT count(*) FROM retail").await,
        [(before - 8).to_string()]
    );
    assert!(whole(&s).await);
    let history = s.warehouse.history("retail").await.unwrap();
    let facts = history[2].lgs.as_ref().unwrap();
    assert_eq!(facts.dropped_files, [name]);
    assert_eq!(facts.rows_lost, Some(8));
    // Nothing left to repair.
    assert_eq!(s.warehouse.repair("retail").await.unwrap().version, None);
}

/// Replaces `from` by `to` in a table's commit file (as a damaged or hand-edited
/// log would read).
fn edit_commit(s: &Scratch, table: &str, version: u64, from: &str, to: &str) {
    let path = s
        .dir
        .path()
        .join(format!("warehouse/{table}/_delta_log/{version:020}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from} not in {text}");
    std::fs::write(&path, text.replace(from, to)).unwrap();
}

#[tokio::test]
async fn a_data_file_that_is_not_parquet_is_named_by_check_and_by_a_failed_read() {
    let s = two_files().await;
    let file = data_files(&s, "retail").remove(0);
    let size = std::fs::metadata(&file).unwrap().len() as usize;
    std::fs::write(&file, vec![b'x'; size]).unwrap();
    let name = file.file_name().unwrap().to_str().unwrap();
    let checks = s.warehouse.check(Some("retail")).await.unwrap();
    assert_eq!(checks[0].damaged.len(), 1, "{checks:?}");
    assert_eq!(checks[0].damaged[0].file, name);
    assert!(
        checks[0].damaged[0]
            .problem
            .starts_with("is not a readable Parquet file"),
        "{checks:?}"
    );
    // The size matches, so the read starts and fails inside the file; what it
    // failed with leads to the damaged file.
    let ctx = s.context().await;
    let failure = ctx
        .sql("SELECT sum(quantity) FROM retail")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    let named = s.warehouse.diagnose(&failure).await.expect("diagnosed");
    let named = named.to_string();
    assert!(
        named.contains("Delta table retail version 1")
            && named.contains(name)
            && named.contains("not a readable Parquet file"),
        "{named}"
    );
    // A failure that is not the files' is not blamed on them, even now.
    let not_the_files = ctx
        .sql("SELECT 1 / (count(*) - count(*)) FROM (VALUES (1)) AS t(a)")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert!(
        s.warehouse.diagnose(&not_the_files).await.is_none(),
        "{not_the_files}"
    );
    let repair = s.warehouse.repair("retail").await.unwrap();
    assert_eq!(repair.dropped.len(), 1);
    assert!(whole(&s).await);
}

#[tokio::test]
async fn check_compares_each_file_s_rows_with_the_log() {
    let s = two_files().await;
    // handmade.csv's 8 rows, recorded as 9.
    edit_commit(
        &s,
        "retail",
        0,
        "\\\"numRecords\\\":8",
        "\\\"numRecords\\\":9",
    );
    let checks = s.warehouse.check(Some("retail")).await.unwrap();
    assert_eq!(checks[0].damaged.len(), 1, "{checks:?}");
    assert_eq!(
        checks[0].damaged[0].problem,
        "holds 8 rows where the log records 9"
    );
}

#[tokio::test]
async fn check_finds_an_ingest_log_or_quarantine_that_disagrees_with_the_commits() {
    let s = two_files().await;
    let bad = s.file(
        "bad.csv",
        "invoice_no,stock_code,description,quantity,invoice_date,unit_price,customer_id,country\n\
         30001,P1,MUG,2,2010-01-31 23:00:00,5.00,301,United Kingdom\n\
         30002,P1,MUG,many,2010-01-31 23:00:00,5.00,301,United Kingdom\n",
    );
    s.ingest(&[&bad]).await.unwrap();
    let all_ok = |checks: &[lgs::warehouse::TableCheck]| checks.iter().all(|c| c.ok());
    let checks = s.warehouse.check(None).await.unwrap();
    assert!(all_ok(&checks), "{checks:?}");
    assert!(checks.iter().all(|c| c.notes.is_empty()), "{checks:?}");

    // The quarantine's commit says it wrote 2 rows; the table holds 1.
    edit_commit(
        &s,
        "retail_rejected",
        0,
        "\"rows_written\":1",
        "\"rows_written\":2",
    );
    let checks = s.warehouse.check(None).await.unwrap();
    let quarantine = checks
        .iter()
        .find(|c| c.table == "retail_rejected")
        .unwrap();
    assert_eq!(quarantine.problems.len(), 1, "{checks:?}");
    assert!(
        quarantine.problems[0].starts_with("holds 1 rows of ingest ")
            && quarantine.problems[0].ends_with("where its commit (version 0) wrote 2"),
        "{quarantine:?}"
    );
    edit_commit(
        &s,
        "retail_rejected",
        0,
        "\"rows_written\":2",
        "\"rows_written\":1",
    );

    // The first data commit now records 9 rows loaded; the log lists 8.
    edit_commit(&s, "retail", 0, "\"rows_loaded\":8", "\"rows_loaded\":9");
    let checks = s.warehouse.check(None).await.unwrap();
    let log = checks.iter().find(|c| c.table == "ingest_log").unwrap();
    assert_eq!(log.problems.len(), 1, "{checks:?}");
    assert!(
        log.problems[0].starts_with("lists 8 rows loaded by ingest ")
            && log.problems[0].ends_with("into retail, whose commit records 9"),
        "{log:?}"
    );
    edit_commit(&s, "retail", 0, "\"rows_loaded\":9", "\"rows_loaded\":8");

    // A log one commit behind (a run killed between its data commit and its log
    // commit) is a note, and the next ingest mends it.
    let last_log = s
        .dir
        .path()
        .join("warehouse/ingest_log/_delta_log/00000000000000000002.json");
    std::fs::remove_file(last_log).unwrap();
    let checks = s.warehouse.check(None).await.unwrap();
    assert!(all_ok(&checks), "{checks:?}");
    let retail = checks.iter().find(|c| c.table == "retail").unwrap();
    assert_eq!(
        retail.notes,
        [
            "ingest_log does not list 1 of its ingests yet (the next lgs ingest into retail lists them)"
        ]
    );
    s.ingest(&[&test_data("pg/retail.csv")]).await.unwrap();
    let checks = s.warehouse.check(None).await.unwrap();
    assert!(
        all_ok(&checks) && checks.iter().all(|c| c.notes.is_empty()),
        "{checks:?}"
    );
}

#[tokio::test]
async fn a_damaged_checkpoint_is_named_with_its_version() {
    let s = two_files().await;
    let table = s.warehouse.open_existing("retail").await.unwrap();
    deltalake::checkpoints::create_checkpoint(&table, None)
        .await
        .unwrap();
    let checkpoint = s
        .dir
        .path()
        .join("warehouse/retail/_delta_log/00000000000000000001.checkpoint.parquet");
    let before = s.rows("SELECT count(*) FROM retail").await;
    // Read from the checkpoint as it stands.
    assert_eq!(s.rows("SELECT count(*) FROM retail").await, before);
    let size = std::fs::metadata(&checkpoint).unwrap().len() as usize;
    std::fs::write(&checkpoint, vec![0u8; size]).unwrap();
    let err = session_error(&s).await;
    assert!(
        err.contains("Delta table retail: the checkpoint of version 1")
            && err.contains("_delta_log/00000000000000000001.checkpoint.parquet")
            && err.contains("is not a readable Parquet file"),
        "{err}"
    );
}
