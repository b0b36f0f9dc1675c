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
    assert!(
        s.warehouse
            .check(None)
            .await
            .unwrap()
            .iter()
            .all(|c| c.ok())
    );
    let history = s.warehouse.history("retail").await.unwrap();
    let facts = history[2].lgs.as_ref().unwrap();
    assert_eq!(facts.dropped_files, [name]);
    assert_eq!(facts.rows_lost, Some(8));
    // Nothing left to repair.
    assert_eq!(s.warehouse.repair("retail").await.unwrap().version, None);
}
