//! `--memory-limit` and `--threads`: queries spill under the limit and give the same
//! results, and a limit that spilling cannot meet is a clear error.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use predicates::prelude::*;

fn lgs(warehouse: &Path) -> Command {
    let mut cmd = Command::cargo_bin("lgs").unwrap();
    cmd.env_remove("LGS_WAREHOUSE")
        .env_remove("LGS_MEMORY_LIMIT")
        .env_remove("LGS_THREADS")
        .arg("--warehouse")
        .arg(warehouse);
    cmd
}

/// A warehouse of 300,000 generated lines (about 15,000 invoices), shared by the
/// tests of this file.
fn warehouse() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, wh) = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("g.csv");
        Command::cargo_bin("lgs")
            .unwrap()
            .args([
                "--quiet", "generate", "retail", "--rows", "300000", "--seed", "7",
            ])
            .arg("--out")
            .arg(&csv)
            .assert()
            .success();
        let wh = dir.path().join("wh");
        lgs(&wh)
            .args(["--quiet", "ingest"])
            .arg(&csv)
            .assert()
            .success();
        (dir, wh)
    });
    wh
}

fn report(extra: &[&str]) -> serde_json::Value {
    let out = lgs(warehouse())
        .args(extra)
        .args(["report", "--format", "json", "--as-of", "2012-01-01"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Equal, with floating point to 1e-9 relative (spilling changes the order in which
/// sums are added).
fn assert_close(a: &serde_json::Value, b: &serde_json::Value, at: &str) {
    crate::support::assert_json_close(a, b, at, 0.0);
}

#[test]
fn under_a_memory_limit_queries_spill_and_the_report_is_the_same() {
    let _turn = crate::support::group("limits");
    let free = report(&["--threads", "2"]);
    // The smallest round limit the report's plans fit in at this size (a 12 MB
    // pool): its largest aggregation alone would take about 30 MB.
    let limited = report(&["--threads", "2", "--memory-limit", "16MB"]);
    assert_close(&free, &limited, "report");
    // The limit is felt: an aggregation with a group per line spills to disk (in
    // a 9 MB pool).
    let out = lgs(warehouse())
        .args([
            "--threads",
            "2",
            "--memory-limit",
            "12MB",
            "sql",
            "--format",
            "csv",
        ])
        .arg(
            "EXPLAIN ANALYZE SELECT invoice_no, stock_code, description, count(*) AS n, \
             sum(amount) AS s FROM retail GROUP BY invoice_no, stock_code, description",
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spills: u64 = text
        .split("spill_count=")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse::<u64>()
                .unwrap_or(0)
        })
        .sum();
    assert!(spills > 0, "nothing spilled under 12MB:\n{text}");
}

#[test]
fn a_limit_that_spilling_cannot_meet_fails_naming_the_operator() {
    let _turn = crate::support::group("limits");
    lgs(warehouse())
        .args(["--memory-limit", "16KB", "report"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("Resources exhausted"))
        .stderr(predicate::str::is_match(r"(?i)(aggregate|sort|join|repartition)").unwrap())
        .stderr(predicate::str::contains("raise the limit"));
}

#[test]
fn bad_limits_are_refused_before_any_work() {
    let _turn = crate::support::group("limits");
    lgs(warehouse())
        .args(["--memory-limit", "lots", "report"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--memory-limit"));
    lgs(warehouse())
        .args(["--threads", "0", "report"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--threads"));
    // From the environment too.
    lgs(warehouse())
        .env("LGS_MEMORY_LIMIT", "6MB")
        .env("LGS_THREADS", "1")
        .args(["sql", "--format", "csv", "SELECT count(*) AS n FROM retail"])
        .assert()
        .success()
        .stdout(predicate::str::contains("300000"));
}

#[test]
fn threads_set_the_query_partitions() {
    let _turn = crate::support::group("limits");
    for n in ["1", "3"] {
        lgs(warehouse())
            .args(["--threads", n, "sql", "--format", "csv"])
            .arg(
                "SELECT value FROM information_schema.df_settings \
                 WHERE name = 'datafusion.execution.target_partitions'",
            )
            .assert()
            .success()
            .stdout(predicate::str::diff(format!("value\n{n}\n")));
    }
}
