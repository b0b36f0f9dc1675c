//! Black-box tests of `lgs sql` and `lgs shell`: scripts, formats, errors with
//! their position, HiveQL's orderings, and the shell in a real terminal.

use predicates::prelude::*;

use crate::cli::{ingested_handmade, lgs};
use crate::support::Tmux;

#[test]
fn sql_over_tables_and_views_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let wh = ingested_handmade(dir.path());
    lgs(&wh)
        .args([
            "sql",
            "SELECT month, count(*) AS n FROM invoices GROUP BY month ORDER BY month",
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("| 2010-01 | 4 |").and(predicate::str::contains("(2 rows)")),
        );

    let out = lgs(&wh)
        .args([
            "sql",
            "--format",
            "json",
            "SELECT invoice_no, CAST(amount AS DOUBLE) AS amount, lines FROM invoices ORDER BY invoice_no",
        ])
        .assert()
        .success();
    let rows: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 7);
    assert_eq!(
        rows[0],
        serde_json::json!({"invoice_no": "10001", "amount": 15.0, "lines": 2})
    );

    lgs(&wh)
        .args([
            "sql",
            "--format",
            "json",
            "SELECT * FROM retail WHERE false",
        ])
        .assert()
        .success()
        .stdout("[]\n");
    lgs(&wh)
        .args([
            "sql",
            "--format",
            "csv",
            "SELECT customer_id, country FROM retail WHERE customer_id = 103",
        ])
        .assert()
        .success()
        .stdout("customer_id,country\n103,Germany\n");

    let parquet = dir.path().join("out.parquet");
    lgs(&wh)
        .args(["sql", "--format", "parquet", "--out"])
        .arg(&parquet)
        .arg("SELECT * FROM retail")
        .assert()
        .success();
    assert_eq!(&std::fs::read(&parquet).unwrap()[..4], b"PAR1");
    lgs(&wh)
        .args(["sql", "--format", "parquet", "SELECT 1"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("use --out FILE"));

    // EXPLAIN shows the month filter pruning the Parquet row groups.
    lgs(&wh)
        .args([
            "sql",
            "EXPLAIN SELECT count(*) FROM retail WHERE month = '2010-01'",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("pruning_predicate"));
}

#[test]
fn sql_scripts_stop_at_the_first_error_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let wh = ingested_handmade(dir.path());
    let script = dir.path().join("script.sql");
    std::fs::write(
        &script,
        "SELECT 1 AS a;\nCREATE VIEW big AS SELECT * FROM invoices WHERE amount > 20;\n\
         SELECT count(*) AS n FROM big;\n\nSELECT nope FROM big;\nSELECT 'never' AS x;\n",
    )
    .unwrap();
    lgs(&wh)
        .args(["sql", "-f"])
        .arg(&script)
        .assert()
        .failure()
        .stdout(predicate::str::contains("| 1 |").and(predicate::str::contains("never").not()))
        .stderr(
            predicate::str::contains("statement 4 (line 5)")
                .and(predicate::str::contains("No field named nope")),
        );

    lgs(&wh)
        .args(["sql", "SELEC 1"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("Line: 1, Column: 1"));
    lgs(&wh)
        .args(["sql", "SELECT * FROM nosuch"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "table 'datafusion.public.nosuch' not found",
        ));
    lgs(&wh)
        .args(["sql", "SELECT custmer_id FROM retail"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "did you mean column 'customer_id'?",
        ));
    lgs(&wh)
        .args(["sql", "SELECT * FROM retial"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("did you mean table 'retail'?"));
}

#[test]
fn shell_reads_statements_and_commands_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let wh = ingested_handmade(dir.path());
    let out = lgs(&wh)
        .arg("shell")
        .write_stdin(
            "\\dt\n\\d invoices\nSELECT count(*) AS n\n  FROM retail;\n\
             SELECT nope FROM retail;\n\\format csv\n\\timing\n\
             SELECT customer_id FROM retail WHERE customer_id = 103;\n\\bogus\n\
             SELECT 'last' AS x\n",
        )
        .assert()
        .failure();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    // \dt and \d list tables, views and columns.
    assert!(stdout.contains("| invoices   | VIEW       |"), "{stdout}");
    assert!(stdout.contains("| retail     | BASE TABLE |"), "{stdout}");
    assert!(stdout.contains("| is_cancellation |"), "{stdout}");
    // A statement over two lines; an error does not stop the session.
    assert!(stdout.contains("| 8 |"), "{stdout}");
    assert!(stderr.contains("No field named nope"), "{stderr}");
    // \format and \timing apply to what follows; the last statement needs no `;`.
    assert!(stdout.contains("customer_id\n103\nTime: "), "{stdout}");
    assert!(stdout.contains("x\nlast\n"), "{stdout}");
    assert!(stderr.contains("unknown command \"\\\\bogus\""), "{stderr}");
    // Two failures: the exit status says so.
    assert!(stderr.contains("2 statement(s) failed"), "{stderr}");

    lgs(&wh)
        .arg("shell")
        .write_stdin("SELECT 1 AS one;\n\\q\nSELECT nope;\n")
        .assert()
        .success()
        .stdout(predicate::str::contains("| 1   |"));
}

#[test]
fn hiveql_orderings_are_refused_with_the_equivalent() {
    let dir = tempfile::tempdir().unwrap();
    let wh = ingested_handmade(dir.path());
    lgs(&wh)
        .args(["sql", "SELECT country FROM retail CLUSTER BY country"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "CLUSTER BY (HiveQL): use ORDER BY",
        ));
}

/// The interactive shell in a real terminal (tmux): Tab completion, Ctrl-C cancelling
/// a running query without leaving the shell, and history kept in a file.
#[test]
fn interactive_shell_in_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let wh = ingested_handmade(dir.path());
    let history = dir.path().join("history");
    let command = format!(
        "env LGS_HISTORY={} {} --warehouse {} shell",
        history.display(),
        assert_cmd::cargo::cargo_bin("lgs").display(),
        wh.display()
    );
    let tmux = Tmux::start(dir.path(), &command);
    tmux.wait_for("lgs>");
    // A query that would run for a very long time, then Ctrl-C.
    tmux.keys(&[
        "SELECT count(*) FROM generate_series(1, 100000000000)\\;",
        "Enter",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    tmux.keys(&["C-c"]);
    tmux.wait_for("query cancelled");
    // Tab completes a table name; the shell answers.
    tmux.keys(&["SELECT count(*) AS n FROM retai", "Tab"]);
    tmux.wait_for("FROM retail");
    tmux.keys(&["\\;", "Enter"]);
    let screen = tmux.wait_for("(1 row)");
    assert!(screen.contains("| 8 |"), "{screen}");
    tmux.keys(&["\\q", "Enter"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    drop(tmux);
    let kept = std::fs::read_to_string(&history).unwrap();
    assert!(kept.contains("SELECT count(*) AS n FROM retail;"), "{kept}");
}
