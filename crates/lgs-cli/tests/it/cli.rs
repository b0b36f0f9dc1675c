//! Black-box tests of the `lgs` binary: what a user types and sees.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

use crate::support::Tmux;

pub(crate) fn handmade() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../lgs/tests/data/handmade.csv")
}

pub(crate) fn lgs(warehouse: &Path) -> Command {
    let mut cmd = Command::cargo_bin("lgs").unwrap();
    cmd.env_remove("LGS_WAREHOUSE")
        .env_remove("LGS_KEY_FILE")
        .env_remove("LGS_KEY")
        .arg("--warehouse")
        .arg(warehouse);
    cmd
}

#[test]
fn help_documents_every_command() {
    let out = Command::cargo_bin("lgs")
        .unwrap()
        .arg("--help")
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for command in ["ingest", "report", "tables", "describe", "history", "demo"] {
        assert!(text.contains(command), "--help lacks {command}:\n{text}");
    }
    Command::cargo_bin("lgs")
        .unwrap()
        .args(["report", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--as-of").and(predicate::str::contains("--out")));
}

#[test]
fn ingest_then_report_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    lgs(&wh)
        .arg("ingest")
        .arg(handmade())
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "8 rows read = 8 loaded + 0 quarantined; retail is at version 0",
        ));

    json_report_has_the_contract(&wh);

    // Table (default) and CSV.
    lgs(&wh).arg("report").assert().success().stdout(
        predicate::str::contains("RFM segments")
            .and(predicate::str::contains("2010-02"))
            .and(predicate::str::contains("Cohort retention")),
    );
    lgs(&wh)
        .args(["report", "--format", "csv"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("# monthly\nmonth,placed_orders").and(
                predicate::str::contains("# cohorts\ncohort,month_offset,month"),
            ),
        );

    // --out writes every result as Parquet and CSV.
    let out_dir = dir.path().join("out");
    lgs(&wh)
        .args(["report", "--format", "json", "--out"])
        .arg(&out_dir)
        .assert()
        .success();
    for name in [
        "invoice_amount_stats",
        "invoice_amount_histogram",
        "monthly",
        "rfm_segments",
        "rfm_customers",
        "cohorts",
        "clv_customers",
        "clv_p_alive",
        "clv_segments",
        "kmeans_clusters",
        "kmeans_by_k",
        "kmeans_rfm",
        "kmeans_customers",
    ] {
        assert!(
            out_dir.join(format!("{name}.parquet")).is_file(),
            "{name}.parquet"
        );
        assert!(out_dir.join(format!("{name}.csv")).is_file(), "{name}.csv");
    }
    let customers = std::fs::read_to_string(out_dir.join("rfm_customers.csv")).unwrap();
    assert!(customers.starts_with("customer_id,recency,frequency,monetary,r,f,m,segment"));
    assert_eq!(customers.lines().count(), 5, "header + 4 customers");
}

/// JSON: exactly one object with the contract's keys and shapes.
fn json_report_has_the_contract(wh: &Path) {
    let out = lgs(wh)
        .args(["report", "--format", "json", "--as-of", "2010-04-01"])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["as_of"], "2010-04-01");
    for key in ["count", "min", "mean", "median", "mode", "max", "p85"] {
        assert!(
            doc["invoice_amount"][key].is_number(),
            "invoice_amount.{key}"
        );
    }
    for key in ["count", "min", "mean", "median", "mode", "max"] {
        assert!(
            doc["invoice_amount_trimmed"][key].is_number(),
            "trimmed.{key}"
        );
    }
    assert_eq!(doc["invoice_amount"]["count"], 5);
    let monthly = doc["monthly"].as_array().unwrap();
    assert_eq!(monthly.len(), 3);
    assert_eq!(monthly[0]["month"], "2010-01");
    assert!(monthly[0]["sales_growth_pct"].is_null());
    for key in [
        "placed_orders",
        "cancelled_orders",
        "sales",
        "active_users",
        "new_users",
        "existing_users",
    ] {
        assert!(monthly[0][key].is_number(), "monthly.{key}");
    }
    assert_eq!(monthly[1]["sales_growth_pct"], -100.0);
    // The data starts on 5 January (a partial month) and ends on 31 March.
    assert_eq!(monthly[0]["partial"], true);
    assert!(monthly[1].get("partial").is_none() && monthly[2].get("partial").is_none());
    let segments = doc["rfm_segments"].as_array().unwrap();
    assert_eq!(segments.len(), 4);
    for key in [
        "customers",
        "avg_recency_days",
        "avg_frequency",
        "avg_monetary",
    ] {
        assert!(segments[0][key].is_number(), "rfm_segments.{key}");
    }
    // Cohorts: one object per first month, with counts, retention and sales by
    // month offset up to the last month of the data.
    let cohorts = doc["cohorts"].as_array().unwrap();
    assert_eq!(cohorts[0]["cohort"], "2010-01");
    let size = cohorts[0]["customers"].as_u64().unwrap();
    assert_eq!(size, monthly[0]["new_users"].as_u64().unwrap());
    for key in ["active", "retention", "sales"] {
        assert_eq!(
            cohorts[0][key].as_array().unwrap().len(),
            3,
            "cohorts.{key}"
        );
    }
    assert_eq!(cohorts[0]["retention"][0], 1.0);
}

#[test]
fn tables_describe_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    lgs(&wh)
        .arg("tables")
        .assert()
        .success()
        .stdout(predicate::str::contains("no tables"));
    lgs(&wh).arg("ingest").arg(handmade()).assert().success();
    lgs(&wh)
        .args(["tables", "--format", "json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"rows\": 8"));
    lgs(&wh)
        .args(["describe", "retail"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("unit_price")
                .and(predicate::str::contains("Decimal128(14, 4)")),
        );
    lgs(&wh)
        .args(["history", "retail"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "handmade.csv (8 read, 0 quarantined)",
        ));
    // The same file again: a no-op with a clear message.
    lgs(&wh)
        .arg("ingest")
        .arg(handmade())
        .assert()
        .success()
        .stdout(predicate::str::contains("already ingested"));
}

#[test]
fn warehouse_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("from-env");
    Command::cargo_bin("lgs")
        .unwrap()
        .env("LGS_WAREHOUSE", &wh)
        .arg("ingest")
        .arg(handmade())
        .assert()
        .success();
    assert!(wh.join("retail/_delta_log").is_dir());
}

#[test]
fn failures_exit_non_zero_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    lgs(&wh)
        .args(["ingest", "no/such/file.csv"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "input not found: no/such/file.csv",
        ));
    lgs(&wh)
        .arg("report")
        .assert()
        .failure()
        .stderr(predicate::str::contains("no table \"retail\""));

    // A table with no rows is as empty as no table.
    let header_only = dir.path().join("header.csv");
    std::fs::write(
        &header_only,
        "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n",
    )
    .unwrap();
    let empty_wh = dir.path().join("empty-wh");
    lgs(&empty_wh)
        .arg("ingest")
        .arg(&header_only)
        .assert()
        .success();
    lgs(&empty_wh)
        .arg("report")
        .assert()
        .failure()
        .stderr(predicate::str::contains("is empty; run `lgs ingest` first"));

    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "invoice_no,stock_code,description,quantity,invoice_date,unit_price,customer_id,country\n\
         1,A,x,1,2010-01-01 10:00,1,,UK\n2,B,x,1,not a date,1,,UK\n",
    )
    .unwrap();
    lgs(&wh)
        .args(["ingest", "--strict"])
        .arg(&bad)
        .assert()
        .failure()
        .stderr(predicate::str::contains("bad.csv:3: bad invoice_date"));
    assert!(
        !wh.join("retail/_delta_log").exists(),
        "strict failure wrote a table"
    );
    lgs(&wh)
        .arg("ingest")
        .arg(&bad)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "2 rows read = 1 loaded + 1 quarantined",
        ));
}

/// `lgs sql` as JSON rows.
pub(crate) fn sql_json(wh: &Path, query: &str) -> serde_json::Value {
    let out = lgs(wh)
        .args(["sql", "--format", "json", query])
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

#[test]
fn killed_ingests_leave_the_warehouse_consistent_and_the_next_run_loads_exactly_the_missing_files()
{
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let drop_dir = dir.path().join("drop");
    std::fs::create_dir(&drop_dir).unwrap();
    std::fs::copy(handmade(), drop_dir.join("day1.csv")).unwrap();
    lgs(&wh).arg("ingest").arg(&drop_dir).assert().success();
    let summary = "SELECT count(*) AS n, CAST(sum(amount) AS VARCHAR) AS total FROM retail";
    let before = sql_json(&wh, summary);

    // The next drop: the real dataset (seconds to ingest) and a small file.
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/online_retail_II.csv.zst");
    std::fs::copy(&real, drop_dir.join("day2.csv.zst")).unwrap();
    let day3 = std::fs::read_to_string(handmade())
        .unwrap()
        .replace("\n100", "\n300");
    std::fs::write(drop_dir.join("day3.csv"), day3).unwrap();
    // What one uninterrupted run gives, in another warehouse.
    let reference = dir.path().join("reference");
    lgs(&reference)
        .arg("ingest")
        .arg(&drop_dir)
        .assert()
        .success();
    let expected = sql_json(&reference, summary);

    // Kill runs at several points; after each the warehouse is either as before or
    // complete, never in between, and always readable.
    for delay in [100, 400, 900, 1600] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("lgs"))
            .arg("--warehouse")
            .arg(&wh)
            .arg("ingest")
            .arg(&drop_dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let _ = child.kill();
        child.wait().unwrap();
        let now = sql_json(&wh, summary);
        assert!(
            now == before || now == expected,
            "killed after {delay} ms: {now} is neither {before} nor {expected}"
        );
    }

    // The next run loads exactly the missing files, once.
    lgs(&wh).arg("ingest").arg(&drop_dir).assert().success();
    assert_eq!(sql_json(&wh, summary), expected);
    lgs(&wh)
        .arg("ingest")
        .arg(&drop_dir)
        .assert()
        .success()
        .stdout(predicate::str::contains("nothing to ingest"));
    let log = sql_json(
        &wh,
        "SELECT regexp_replace(source, '.*/', '') AS file, count(*) AS runs \
         FROM ingest_log GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(
        log,
        serde_json::json!([
            {"file": "day1.csv", "runs": 1},
            {"file": "day2.csv.zst", "runs": 1},
            {"file": "day3.csv", "runs": 1},
        ])
    );
    lgs(&wh)
        .args(["report", "--format", "json"])
        .assert()
        .success();
}

pub(crate) fn ingested_handmade(dir: &Path) -> PathBuf {
    let wh = dir.join("wh");
    lgs(&wh).arg("ingest").arg(handmade()).assert().success();
    wh
}

#[test]
fn saved_report_results_are_tables() {
    let dir = tempfile::tempdir().unwrap();
    let wh = ingested_handmade(dir.path());
    for _ in 0..2 {
        // Saved twice: each table is replaced, never appended to.
        lgs(&wh)
            .args([
                "report",
                "--format",
                "json",
                "--as-of",
                "2010-04-01",
                "--save",
            ])
            .assert()
            .success();
    }
    lgs(&wh)
        .args([
            "sql",
            "--format",
            "csv",
            "SELECT month, sales, sales_growth_pct FROM report_monthly ORDER BY month",
        ])
        .assert()
        .success()
        .stdout("month,sales,sales_growth_pct\n2010-01,65.0,\n2010-02,0.0,-100.0\n2010-03,20.0,\n");
    lgs(&wh)
        .args([
            "sql",
            "--format",
            "csv",
            "SELECT segment, customers FROM report_rfm_segments ORDER BY segment",
        ])
        .assert()
        .success()
        .stdout(
            "segment,customers\nAt Risk,1\nChampions,1\nHibernating,1\nPotential Loyalists,1\n",
        );
    // The cohorts by hand: January's are 101, 102 and 104 (whose only line is a
    // cancellation, -5.00), 101 back in March (10.00); March's is 103.
    lgs(&wh)
        .args([
            "sql",
            "--format",
            "csv",
            "SELECT cohort, month_offset, month, customers, sales FROM report_cohorts \
             ORDER BY cohort, month_offset",
        ])
        .assert()
        .success()
        .stdout(
            "cohort,month_offset,month,customers,sales\n2010-01,0,2010-01,3,25.0\n\
             2010-01,1,2010-02,0,0.0\n2010-01,2,2010-03,1,10.0\n2010-03,0,2010-03,1,10.0\n",
        );
    lgs(&wh)
        .args(["history", "report_monthly", "--format", "json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"version\": 1"));
}

#[test]
fn generated_wdi_grid_ingests_into_the_partitioned_table() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let grid = dir.path().join("grid.csv");
    lgs(&wh)
        .args([
            "generate",
            "wdi",
            "--indicators",
            "3",
            "--countries",
            "5",
            "--years",
            "4",
            "--out",
        ])
        .arg(&grid)
        .assert()
        .success()
        .stderr(predicate::str::contains("wrote 60 rows"));
    lgs(&wh)
        .args(["ingest", "--dataset", "wdi"])
        .arg(&grid)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "60 rows read = 60 loaded + 0 quarantined; wdi is at version 0",
        ));
    lgs(&wh)
        .args([
            "sql",
            "--format",
            "csv",
            "SELECT year, count(*) AS n FROM wdi GROUP BY year ORDER BY year",
        ])
        .assert()
        .success()
        .stdout("year,n\n1960,15\n1961,15\n1962,15\n1963,15\n");
    assert!(wh.join("wdi/year=1961").is_dir(), "partitioned by year");
    // A file that does not name its indicator needs --indicator.
    let api = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/wdi/GDP_US_A.csv");
    lgs(&wh)
        .args(["ingest", "--dataset", "wdi"])
        .arg(&api)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "GDP_US_A.csv:1: this file (ISO,COUNTRY,VALUE,YEAR) does not name its indicator",
        ));
}

/// `lgs report` shows its query stages on stderr when it is a terminal (a spinner,
/// then a closing line) and writes nothing of them otherwise or with --quiet; the
/// report on stdout is the same either way.
#[test]
fn report_stages_show_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let wh = ingested_handmade(dir.path());
    let args = ["report", "--format", "json", "--as-of", "2010-04-01"];
    let piped = lgs(&wh).args(args).assert().success();
    let piped = piped.get_output();
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(!stderr.contains("query stages"), "{stderr}");

    let lgs_bin = assert_cmd::cargo::cargo_bin("lgs");
    let json = dir.path().join("report.json");
    let quiet_json = dir.path().join("quiet.json");
    let command = format!(
        "{bin} --warehouse {wh} {args} > {json}; {bin} --quiet --warehouse {wh} {args} > {quiet}; echo finished",
        bin = lgs_bin.display(),
        wh = wh.display(),
        args = args.join(" "),
        json = json.display(),
        quiet = quiet_json.display(),
    );
    let tmux = Tmux::start(dir.path(), &format!("sh -c '{command}; sleep 30'"));
    let screen = tmux.wait_for("finished");
    drop(tmux);
    // One closing line (the spinner itself is cleared), and only from the run
    // without --quiet.
    let closing: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains("query stages in"))
        .collect();
    assert_eq!(closing.len(), 1, "{screen}");
    let stages: u32 = closing[0]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(stages >= 10, "{screen}");
    for file in [&json, &quiet_json] {
        assert_eq!(
            std::fs::read(file).unwrap(),
            piped.stdout,
            "{}",
            file.display()
        );
    }
}

#[test]
fn generated_retail_data_in_every_format_ingests_with_the_accounting_line() {
    let dir = tempfile::tempdir().unwrap();
    for (i, name) in ["g.csv", "g.sql", "g.parquet", "g.xlsx"].iter().enumerate() {
        let out = dir.path().join(name);
        Command::cargo_bin("lgs")
            .unwrap()
            .args([
                "generate", "retail", "--rows", "5000", "--seed", "3", "--out",
            ])
            .arg(&out)
            .assert()
            .success()
            .stderr(predicate::str::contains("wrote 5,000 rows"));
        let wh = dir.path().join(format!("wh{i}"));
        lgs(&wh)
            .arg("ingest")
            .arg(&out)
            .assert()
            .success()
            .stdout(predicate::str::contains(
                "5,000 rows read = 5,000 loaded + 0 quarantined",
            ));
    }
}

#[test]
fn an_unreachable_postgres_source_fails_with_host_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    lgs(&wh)
        .args([
            "ingest",
            "postgres://postgres@127.0.0.1:1/test",
            "--table",
            "retail",
        ])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("postgres@127.0.0.1:1/test")
                .and(predicate::str::contains("refused"))
                .and(predicate::str::contains("the warehouse is unchanged")),
        );
    assert!(!wh.join("retail").exists());
}

/// `--sections` and `--skip` compute part of the report: the parts they keep are
/// the full report's, and a name that is not a section is an error listing them.
#[test]
fn report_sections_are_chosen_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let wh = ingested_handmade(dir.path());
    let json = |extra: &[&str]| -> serde_json::Map<String, serde_json::Value> {
        let out = lgs(&wh)
            .args(["report", "--format", "json", "--as-of", "2010-04-01"])
            .args(extra)
            .assert()
            .success();
        let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        doc.as_object().unwrap().clone()
    };
    let full = json(&[]);
    assert!(full.contains_key("clv") && full.contains_key("kmeans"));
    let part_of_full = |part: &serde_json::Map<String, serde_json::Value>| {
        for (key, value) in part {
            assert_eq!(Some(value), full.get(key), "{key}");
        }
    };
    let first_job = json(&["--skip", "clv,kmeans"]);
    part_of_full(&first_job);
    assert!(!first_job.contains_key("clv") && !first_job.contains_key("kmeans"));
    for key in full.keys().filter(|k| !first_job.contains_key(*k)) {
        assert!(
            key.starts_with("clv") || key.starts_with("kmeans"),
            "{key} went too"
        );
    }
    let rfm = json(&["--sections", "rfm"]);
    part_of_full(&rfm);
    // None of these reads the month or the eligible amount, so their pass over the
    // lines groups by fewer keys: the same sections all the same.
    let customers = json(&["--sections", "clv,kmeans,rfm"]);
    part_of_full(&customers);
    assert!(customers.contains_key("clv") && customers.contains_key("kmeans"));
    assert!(!rfm.contains_key("invoice_amount") && !rfm.contains_key("clv"));
    assert!(rfm.len() > 1 && rfm.len() < first_job.len());
    lgs(&wh)
        .args(["report", "--sections", "rfm,nope"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "no report section \"nope\"; the sections are invoices, monthly, rfm, cohorts, clv, kmeans",
        ));
}
