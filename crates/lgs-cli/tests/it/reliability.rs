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

/// Runs one query and returns its CSV output without the header.
fn query(wh: &std::path::Path, sql: &str) -> String {
    let out = lgs(wh)
        .args(["sql", "--format", "csv", sql])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    text.lines().skip(1).collect::<Vec<_>>().join("\n")
}

#[test]
fn sql_reads_earlier_states_with_version_as_of_and_timestamp_as_of() {
    let dir = tempfile::tempdir().unwrap();
    let wh = two_ingests(dir.path());
    // handmade.csv: 8 lines at version 0; split_invoice.csv adds its own at 1.
    let first = query(&wh, "SELECT count(*) FROM retail VERSION AS OF 0");
    let latest = query(&wh, "SELECT count(*) FROM retail");
    assert_eq!(first, "8");
    assert_ne!(first, latest);
    // Two states of one table in one query, beside the latest.
    let diff = query(
        &wh,
        "SELECT (SELECT count(*) FROM retail) - (SELECT count(*) FROM retail version as of 0) \
         AS added, (SELECT count(*) FROM Retail TIMESTAMP AS OF '2999-01-01') AS now",
    );
    let latest: i64 = latest.parse().unwrap();
    assert_eq!(diff, format!("{},{latest}", latest - 8));
    // Rows only in the later version, by anti-join.
    let added = query(
        &wh,
        "SELECT count(*) FROM retail r WHERE NOT EXISTS (SELECT 1 FROM retail VERSION AS OF 0 o \
         WHERE o.invoice_no = r.invoice_no)",
    );
    assert_eq!(added, (latest - 8).to_string());
    lgs(&wh)
        .args(["sql", "SELECT 1 FROM retail VERSION AS OF 7"])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("no version 7").and(predicate::str::contains("latest is 1")),
        );
    lgs(&wh)
        .args(["sql", "SELECT 1 FROM retail VERSION AS OF 'x'"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "VERSION AS OF takes a version number",
        ));
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

/// A data file of the right size that is not Parquet: the read fails inside it, and
/// what it failed with (a Parquet error among its causes) leads to the file's name;
/// an error of the query itself is not blamed on the files.
#[test]
fn a_data_file_that_is_not_parquet_fails_sql_and_report_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let wh = two_ingests(dir.path());
    let file = a_data_file(&wh);
    let size = std::fs::metadata(&file).unwrap().len() as usize;
    std::fs::write(&file, vec![b'x'; size]).unwrap();
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    for args in [
        vec!["sql", "SELECT sum(quantity) FROM retail"],
        vec!["report"],
    ] {
        lgs(&wh).args(&args).assert().failure().stderr(
            predicate::str::contains("retail version 1")
                .and(predicate::str::contains(name.as_str()))
                .and(predicate::str::contains("not a readable Parquet file")),
        );
    }
    lgs(&wh)
        .args([
            "sql",
            "SELECT 1 / (count(*) - count(*)) FROM (VALUES (1)) AS t(a)",
        ])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("Divide by zero")
                .and(predicate::str::contains(name.as_str()).not()),
        );
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

/// Every file under `dir`, with its size.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let size = std::fs::metadata(&path).unwrap().len();
                found.push((path, size));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn a_file_size_limit_mid_ingest_fails_naming_the_file_and_leaves_the_warehouse_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let wh = two_ingests(dir.path());
    let before = files_under(&wh);
    let rows_before = count(&wh, &[]);
    // 188 KB of transactions: a data file of some 40 KB. Files may not grow past
    // 16 KiB (the shell ignores SIGXFSZ, so a write past it fails with EFBIG, as
    // a full disk fails with ENOSPC).
    let input =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../lgs/tests/data/pg/retail.csv");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(r#"trap "" XFSZ; ulimit -f 16; exec "$@""#)
        .arg("limited")
        .arg(assert_cmd::cargo::cargo_bin("lgs"))
        .arg("--warehouse")
        .arg(&wh)
        .arg("ingest")
        .arg(&input)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let table_dir = wh.join("retail").display().to_string();
    assert!(
        stderr.contains("File too large")
            && stderr.contains(&format!("table retail under {table_dir}"))
            && stderr.contains("the warehouse is unchanged"),
        "names the cause and where: {stderr}"
    );
    assert!(
        stderr.lines().filter(|l| !l.trim().is_empty()).count() <= 3,
        "{stderr}"
    );
    assert_eq!(
        files_under(&wh),
        before,
        "no file added, left behind or changed"
    );
    assert_eq!(count(&wh, &[]), rows_before);
    lgs(&wh).arg("check").assert().success();
    // With room again, the same ingest loads.
    lgs(&wh).arg("ingest").arg(&input).assert().success();
}

/// A dependency's panic that lgs catches (arrow's Parquet reader on a schema found
/// by fuzzing; calamine on a corrupt workbook) is one error naming the file: not
/// the panic's message and backtrace first, even with RUST_BACKTRACE set.
#[test]
fn a_caught_panic_on_a_corrupt_file_prints_no_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../lgs/tests/data/fuzz");
    for file in [
        "parquet_invalid_arrow_schema.parquet",
        "xlsx_cell_reference_overflow.xlsx",
    ] {
        let out = lgs(&wh)
            .env("RUST_BACKTRACE", "1")
            .args(["ingest", &format!("{data}/{file}")])
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            !stderr.contains("panicked") && !stderr.contains("backtrace"),
            "{file}: no panic message or backtrace:\n{stderr}"
        );
        assert!(stderr.contains(file), "{file}: names the file:\n{stderr}");
        assert!(
            !wh.join("retail").exists(),
            "{file}: nothing is loaded:\n{stderr}"
        );
    }
}
