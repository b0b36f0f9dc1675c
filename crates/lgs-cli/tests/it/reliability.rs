//! What an operator sees when reading back in time, restoring, and meeting a
//! damaged table.

use predicates::prelude::*;

use crate::cli::{handmade, lgs};

fn split_invoice() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../lgs/tests/data/split_invoice.csv")
}

/// A warehouse with two ingests: `retail` at version 1, in two data files.
fn two_ingests(dir: &std::path::Path) -> std::path::PathBuf {
    let wh = dir.join("wh");
    lgs(&wh).arg("ingest").arg(handmade()).assert().success();
    lgs(&wh)
        .arg("ingest")
        .arg(split_invoice())
        .assert()
        .success();
    wh
}

fn a_data_file(wh: &std::path::Path) -> std::path::PathBuf {
    std::fs::read_dir(wh.join("retail"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension() == Some("parquet".as_ref()))
        .unwrap()
}

fn count(wh: &std::path::Path, args: &[&str]) -> String {
    let out = lgs(wh)
        .arg("sql")
        .args(args)
        .args(["--format", "csv", "SELECT count(*) AS n FROM retail"])
        .assert()
        .success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

#[test]
fn sql_and_report_read_an_earlier_version_and_restore_brings_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let wh = two_ingests(dir.path());
    let latest = count(&wh, &[]);
    let first = count(&wh, &["--version", "0"]);
    assert_ne!(latest, first);
    assert_eq!(first, count(&wh, &["--version", "retail=0"]));
    assert_eq!(latest, count(&wh, &["--timestamp", "2999-01-01"]));
    lgs(&wh)
        .args(["sql", "--version", "9", "SELECT 1"])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("no version 9").and(predicate::str::contains("latest is 1")),
        );
    lgs(&wh)
        .args(["sql", "--timestamp", "yesterday", "SELECT 1"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--timestamp"));

    // The report of version 0 is the report of the first file alone.
    let report = |args: &[&str]| {
        let out = lgs(&wh)
            .args(["report", "--format", "json", "--as-of", "2010-04-01"])
            .args(args)
            .assert()
            .success();
        serde_json::from_slice::<serde_json::Value>(&out.get_output().stdout).unwrap()
    };
    let old = report(&["--version", "0"]);
    assert_ne!(old, report(&[]));

    lgs(&wh)
        .args(["restore", "retail", "--version", "0"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "restored retail to version 0: it is at version 2",
        ));
    assert_eq!(count(&wh, &[]), first);
    assert_eq!(report(&[]), old);
    lgs(&wh)
        .args(["restore", "retail"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--version"));
}

#[test]
fn a_missing_data_file_fails_sql_and_report_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let wh = two_ingests(dir.path());
    let file = a_data_file(&wh);
    std::fs::remove_file(&file).unwrap();
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    for args in [vec!["sql", "SELECT count(*) FROM retail"], vec!["report"]] {
        lgs(&wh).args(&args).assert().failure().stderr(
            predicate::str::contains("retail version 1")
                .and(predicate::str::contains(name.as_str()))
                .and(predicate::str::contains("is missing")),
        );
    }
}

#[test]
fn a_damaged_commit_file_is_one_plain_line_naming_table_version_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let wh = two_ingests(dir.path());
    let last = wh.join("retail/_delta_log/00000000000000000001.json");
    let bytes = std::fs::read(&last).unwrap();
    std::fs::write(&last, &bytes[..bytes.len() / 3]).unwrap();
    let out = lgs(&wh)
        .args(["sql", "SELECT count(*) FROM retail"])
        .assert()
        .failure();
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "one line, no log lines or backtrace:\n{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "no colour codes: {stderr:?}");
    assert!(
        lines[0].contains("Delta table retail: the commit file of version 1")
            && lines[0].contains("00000000000000000001.json"),
        "{stderr}"
    );
    // -v shows what the Delta library logged.
    let out = lgs(&wh)
        .args(["-v", "sql", "SELECT count(*) FROM retail"])
        .assert()
        .failure();
    let verbose = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(verbose.lines().count() > 1, "{verbose}");
}

#[test]
fn check_reports_a_missing_file_and_repair_drops_it() {
    let dir = tempfile::tempdir().unwrap();
    let wh = two_ingests(dir.path());
    lgs(&wh)
        .arg("check")
        .assert()
        .success()
        .stdout(predicate::str::contains("retail version 1: ok (2 files"));
    let file = a_data_file(&wh);
    std::fs::remove_file(&file).unwrap();
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    lgs(&wh)
        .arg("check")
        .assert()
        .failure()
        .stdout(
            predicate::str::contains("retail version 1: 1 of 2 data files damaged")
                .and(predicate::str::contains(format!("{name} is missing"))),
        )
        .stderr(predicate::str::contains("lgs repair"));
    lgs(&wh)
        .args(["repair", "retail"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains(format!("dropped {name}")).and(predicate::str::contains(
                "retail is at version 2: 1 files dropped",
            )),
        );
    lgs(&wh).arg("check").assert().success();
    lgs(&wh)
        .args(["sql", "SELECT count(*) FROM retail"])
        .assert()
        .success();
}
