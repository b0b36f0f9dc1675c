//! Concurrent writers: any number of `lgs ingest` processes on one table, started
//! together, load each distinct content exactly once, on local disk and on object
//! storage.

use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};

use serde_json::Value;

use crate::cli::lgs;
use crate::objectstore::{s3, start_moto};

/// A generated CSV of `rows` lines (distinct content per seed).
fn generate(dir: &Path, name: &str, rows: u64, seed: u64) -> PathBuf {
    let path = dir.join(name);
    lgs(dir)
        .args(["--quiet", "generate", "retail", "--rows"])
        .arg(rows.to_string())
        .args(["--seed", &seed.to_string(), "--out"])
        .arg(&path)
        .assert()
        .success();
    path
}

/// A summary of a table's content that a missing or doubled file changes.
const CONTENT: &str = "SELECT concat_ws(' ', count(*), sum(quantity), \
     sum(unit_price * quantity), count(DISTINCT invoice_no), count(DISTINCT customer_id)) \
     FROM retail";

/// `lgs --warehouse WAREHOUSE` for a local warehouse.
fn plain(warehouse: &Path) -> Process {
    let mut cmd = Process::new(assert_cmd::cargo::cargo_bin("lgs"));
    cmd.env_remove("LGS_WAREHOUSE")
        .arg("--warehouse")
        .arg(warehouse);
    cmd
}

/// `lgs --warehouse WAREHOUSE` with what the warehouse needs in its environment.
type Lgs<'a> = &'a dyn Fn() -> Process;

/// `lgs ingest FILES --format json`, started and not waited for.
fn spawn_ingest(lgs: Lgs, files: &[&PathBuf]) -> Child {
    lgs()
        .args(["--quiet", "ingest", "--format", "json"])
        .args(files)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// One value of a one-row, one-column query.
fn scalar(lgs: Lgs, sql: &str) -> Value {
    let out = lgs()
        .args(["sql", "--format", "json", sql])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{sql}: {stderr}");
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = rows[0].as_object().unwrap();
    row.values().next().unwrap().clone()
}

/// Waits for every run; each must succeed. Returns their JSON summaries.
fn finish(children: Vec<Child>) -> Vec<Value> {
    children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "a concurrent ingest failed: {stderr}");
            serde_json::from_slice(&out.stdout).unwrap()
        })
        .collect()
}

/// Rounds of six runs started together over three files (some runs share files),
/// each round on a new warehouse (`lgs_for(round)`), every other one already
/// holding one of the files. Every round ends with each file loaded once.
fn race(dir: &Path, rounds: usize, lgs_for: &dyn Fn(usize) -> Box<dyn Fn() -> Process>) {
    let (a, b, c) = (
        generate(dir, "a.csv", 6_000, 1),
        generate(dir, "b.csv", 4_000, 2),
        generate(dir, "c.csv", 3_000, 3),
    );
    let reference = dir.join("reference");
    lgs(&reference)
        .arg("ingest")
        .args([&a, &b, &c])
        .assert()
        .success();
    let expected = scalar(&|| plain(&reference), CONTENT);
    let runs: [&[&PathBuf]; 6] = [&[&a], &[&a], &[&a, &b], &[&b], &[&a, &b, &c], &[&c]];
    for round in 0..rounds {
        let lgs = lgs_for(round);
        let before = if round % 2 == 1 {
            finish(vec![spawn_ingest(&lgs, &[&c])]);
            3_000
        } else {
            0
        };
        let children = runs.iter().map(|files| spawn_ingest(&lgs, files)).collect();
        let summaries = finish(children);
        let loaded: u64 = summaries
            .iter()
            .map(|s| s["rows_loaded"].as_u64().unwrap())
            .sum();
        assert_eq!(
            before + loaded,
            13_000,
            "round {round}: the runs loaded {loaded} rows: {summaries:#?}"
        );
        assert_eq!(scalar(&lgs, "SELECT count(*) FROM retail"), 13_000);
        // By content: the same rows as the three files loaded one after the other.
        assert_eq!(scalar(&lgs, CONTENT), expected, "round {round}");
        // Each content once in the log, and each skip says why.
        assert_eq!(
            scalar(
                &lgs,
                "SELECT count(*) FROM (SELECT fingerprint FROM ingest_log \
                 GROUP BY fingerprint HAVING count(*) > 1)"
            ),
            0
        );
        assert_eq!(scalar(&lgs, "SELECT count(*) FROM ingest_log"), 3);
        for file in summaries
            .iter()
            .flat_map(|s| s["files"].as_array().unwrap())
        {
            if let Some(why) = file["skipped"].as_str() {
                assert!(
                    why.contains("concurrent run") || why.contains("already ingested"),
                    "{why}"
                );
            }
        }
    }
}

#[test]
fn concurrent_ingests_load_each_content_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    race(dir.path(), 4, &|round| {
        let wh = root.join(format!("wh{round}"));
        Box::new(move || plain(&wh))
    });
    // The runs that lost a race removed the files they had written: every data
    // file in the table's directory is one the log adds.
    for round in 0..4 {
        let table = root.join(format!("wh{round}/retail"));
        let on_disk = std::fs::read_dir(&table)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension() == Some("parquet".as_ref()))
            .count();
        let added: usize = std::fs::read_dir(table.join("_delta_log"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension() == Some("json".as_ref()))
            .map(|p| {
                let log = std::fs::read_to_string(p).unwrap();
                log.lines().filter(|l| l.starts_with(r#"{"add""#)).count()
            })
            .sum();
        assert_eq!(on_disk, added, "round {round}: files not in the table");
    }
}

#[test]
fn concurrent_ingests_into_an_s3_warehouse_load_each_content_exactly_once() {
    let _turn = crate::support::group("objectstore");
    let Some(moto) = start_moto() else { return };
    let port = moto.port;
    s3(port, "PUT", "/race", b"");
    let dir = tempfile::tempdir().unwrap();
    race(dir.path(), 2, &|round| {
        Box::new(move || {
            let mut cmd = Process::new(assert_cmd::cargo::cargo_bin("lgs"));
            for (k, _) in std::env::vars() {
                if k.starts_with("AWS_") || k.starts_with("AZURE_") || k == "LGS_WAREHOUSE" {
                    cmd.env_remove(k);
                }
            }
            cmd.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
                .env("AWS_ALLOW_HTTP", "true")
                .env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test")
                .env("AWS_REGION", "us-east-1")
                .args(["--warehouse", &format!("s3://race/wh{round}")]);
            cmd
        })
    });
}
