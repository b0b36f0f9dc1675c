//! Roles from the command line: masked extracts, what a role may not do, and a
//! restricted role's report being the report of the rows it sees.

use std::path::Path;

use predicates::prelude::*;
use serde_json::Value;

use crate::cli::{handmade, lgs};

const POLICY: &str = r#"
pseudonym_key_file = "pseudonym.key"

[roles.admin]
admin = true

[roles.agency]
read = ["retail", "invoices"]
[roles.agency.rules.retail]
filter = "country <> 'United Kingdom'"
mask = ["customer_id"]
deny = ["description"]

[roles.uk]
read = ["retail", "invoices"]
[roles.uk.rules.retail]
filter = "country = 'United Kingdom'"
"#;

/// A warehouse with the hand-made lines, and the policy beside it.
pub(crate) fn setup(dir: &Path) -> std::path::PathBuf {
    std::fs::write(dir.join("policy.toml"), POLICY).unwrap();
    std::fs::write(dir.join("pseudonym.key"), [7u8; 32]).unwrap();
    let wh = dir.join("wh");
    lgs(&wh).arg("ingest").arg(handmade()).assert().success();
    wh
}

pub(crate) fn as_role(wh: &Path, dir: &Path, role: &str) -> assert_cmd::Command {
    let mut cmd = lgs(wh);
    cmd.env_remove("LGS_POLICY")
        .env_remove("LGS_ROLE")
        .env_remove("LGS_PSEUDONYM_KEY")
        .arg("--policy")
        .arg(dir.join("policy.toml"))
        .args(["--role", role]);
    cmd
}

#[test]
fn a_role_gets_a_masked_extract_and_cannot_change_the_warehouse() {
    let dir = tempfile::tempdir().unwrap();
    let wh = setup(dir.path());
    let out = as_role(&wh, dir.path(), "agency")
        .args([
            "sql",
            "SELECT * FROM retail ORDER BY invoice_no",
            "--format",
            "csv",
        ])
        .assert()
        .success();
    let csv = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "a header and the two lines outside the UK: {csv}"
    );
    assert!(!lines[0].contains("description"), "{csv}");
    assert!(
        !csv.contains(",103,") && !csv.contains(",104,"),
        "ids are masked: {csv}"
    );
    assert!(csv.contains("France") && csv.contains("Germany") && !csv.contains("United Kingdom"));

    as_role(&wh, dir.path(), "agency")
        .arg("tables")
        .assert()
        .success()
        .stdout(predicate::str::contains("retail").and(predicate::str::contains("rejected").not()));
    // The role's row count is the rows it sees (2 of the 8 lines).
    let listed = as_role(&wh, dir.path(), "agency")
        .args(["tables", "--format", "json"])
        .assert()
        .success();
    let listed: Value = serde_json::from_slice(&listed.get_output().stdout).unwrap();
    let retail = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "retail")
        .unwrap();
    assert_eq!(retail["rows"], 2, "{listed}");
    as_role(&wh, dir.path(), "agency")
        .args(["describe", "retail"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("customer_id")
                .and(predicate::str::contains("description").not()),
        );
    for args in [
        vec!["ingest".to_string(), handmade().display().to_string()],
        vec!["optimize".into(), "retail".into()],
        vec!["report".into(), "--save".into()],
    ] {
        as_role(&wh, dir.path(), "agency")
            .args(&args)
            .assert()
            .failure()
            .stderr(predicate::str::contains("role agency").and(predicate::str::contains("admin")));
    }
    // The admin role of the policy sees everything.
    as_role(&wh, dir.path(), "admin")
        .args(["sql", "SELECT count(*) AS n FROM retail", "--format", "csv"])
        .assert()
        .success()
        .stdout("n\n8\n");
}

#[test]
fn a_role_needs_a_policy_and_a_policy_needs_a_role() {
    let dir = tempfile::tempdir().unwrap();
    let wh = setup(dir.path());
    lgs(&wh)
        .env_remove("LGS_POLICY")
        .args(["--role", "agency", "tables"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--role agency needs a policy"));
    lgs(&wh)
        .env_remove("LGS_ROLE")
        .arg("--policy")
        .arg(dir.path().join("policy.toml"))
        .arg("tables")
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "choose a role with --role (one of admin, agency, uk)",
        ));
    as_role(&wh, dir.path(), "agnecy")
        .arg("tables")
        .assert()
        .failure()
        .stderr(predicate::str::contains("there is no role \"agnecy\""));
    std::fs::write(dir.path().join("pseudonym.key"), b"short").unwrap();
    as_role(&wh, dir.path(), "agency")
        .arg("tables")
        .assert()
        .failure()
        .stderr(predicate::str::contains("at least 32"));
}

/// The report's JSON without what differs between two warehouses of the same rows
/// (where they are, when they were loaded).
fn report_json(mut cmd: assert_cmd::Command) -> Value {
    let out = cmd.args(["report", "--format", "json"]).assert().success();
    let mut json: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    strip(&mut json);
    json
}

fn strip(v: &mut Value) {
    if let Value::Object(map) = v {
        map.retain(|k, _| {
            !matches!(
                k.as_str(),
                "warehouse" | "version" | "generated_at" | "elapsed_seconds"
            )
        });
        map.values_mut().for_each(strip);
    } else if let Value::Array(items) = v {
        items.iter_mut().for_each(strip);
    }
}

#[test]
fn a_filtered_roles_report_is_the_report_of_the_rows_it_sees() {
    let dir = tempfile::tempdir().unwrap();
    let wh = setup(dir.path());
    // The same lines as the role sees them, loaded on their own.
    let text = std::fs::read_to_string(handmade()).unwrap();
    let uk: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, l)| *i == 0 || l.ends_with(",United Kingdom"))
        .map(|(_, l)| l)
        .collect();
    assert_eq!(uk.len(), 7);
    let only_uk = dir.path().join("uk.csv");
    std::fs::write(&only_uk, uk.join("\n") + "\n").unwrap();
    let wh_uk = dir.path().join("wh_uk");
    lgs(&wh_uk).arg("ingest").arg(&only_uk).assert().success();

    let by_role = report_json(as_role(&wh, dir.path(), "uk"));
    let alone = report_json(lgs(&wh_uk));
    assert_eq!(by_role, alone);
    let admin = report_json(lgs(&wh));
    assert_ne!(by_role, admin, "the whole warehouse's report differs");
}

#[test]
fn forget_needs_the_key_and_later_ingests_count_the_forgotten_rows() {
    let dir = tempfile::tempdir().unwrap();
    let wh = setup(dir.path());
    let forget = |key: Option<&str>| {
        let mut cmd = lgs(&wh);
        cmd.env_remove("LGS_POLICY").env_remove("LGS_ROLE");
        match key {
            Some(k) => cmd.env("LGS_PSEUDONYM_KEY", k),
            None => cmd.env_remove("LGS_PSEUDONYM_KEY"),
        };
        cmd.env("LGS_USER", "dpo").args([
            "forget",
            "--customer",
            "101",
            "--reason",
            "request 7",
            "--now",
        ]);
        cmd
    };
    forget(None)
        .assert()
        .failure()
        .stderr(predicate::str::contains("LGS_PSEUDONYM_KEY"));
    let key = "k".repeat(40);
    forget(Some(&key)).assert().success().stdout(
        predicate::str::contains("retail: 4 rows removed from 1 files")
            .and(predicate::str::contains("forgot 1 customer(s): 4 rows")),
    );
    // Who forgot, as which role, and why, is in the commit.
    lgs(&wh)
        .args(["history", "retail"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("dpo (admin): request 7")
                .and(predicate::str::is_match(r"DELETE\s+┆ -4\s+┆ 4 ").unwrap()),
        );
    // A restricted role may not forget.
    as_role(&wh, dir.path(), "agency")
        .args(["forget", "--customer", "102", "--reason", "x"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("role agency"));
    // The day re-sent: the customer's 4 lines are dropped and counted.
    lgs(&wh)
        .env("LGS_PSEUDONYM_KEY", &key)
        .args(["ingest", "--force"])
        .arg(handmade())
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "8 rows read = 4 loaded + 0 quarantined + 4 forgotten",
        ));
    lgs(&wh)
        .args([
            "sql",
            "SELECT count(*) AS n FROM retail WHERE customer_id = 101",
            "--format",
            "csv",
        ])
        .assert()
        .success()
        .stdout("n\n0\n");
}

#[test]
fn a_stream_drops_the_lines_of_forgotten_customers() {
    use crate::stream::{TestStream, rows};
    let stream = TestStream::new("forget");
    let dir = tempfile::tempdir().unwrap();
    let wh = setup(dir.path());
    let key = "k".repeat(40);
    lgs(&wh)
        .env("LGS_PSEUDONYM_KEY", &key)
        .args(["forget", "--customer", "17850", "--reason", "request 8"])
        .assert()
        .success();
    stream.publish(&[
        r#"{"InvoiceNo":"536365","StockCode":"85123A","Description":"HEART","Quantity":6,"InvoiceDate":"2010-12-01 08:26:00","UnitPrice":2.55,"CustomerID":17850,"Country":"United Kingdom"}"#,
        r#"{"InvoiceNo":"536366","StockCode":"22633","Description":"WARMER","Quantity":"x","InvoiceDate":"2010-12-01 08:28:00","UnitPrice":1.85,"CustomerID":17850,"Country":"United Kingdom"}"#,
        r#"{"InvoiceNo":"536370","StockCode":"22728","Description":"CLOCK","Quantity":24,"InvoiceDate":"2010-12-01 08:45:00","UnitPrice":3.75,"CustomerID":12583,"Country":"France"}"#,
    ]);
    let out = lgs(&wh)
        .env("LGS_PSEUDONYM_KEY", &key)
        .args(["stream", "--from", &stream.url(), "--trigger", "200ms"])
        .args(["--exit-when-idle", "1s", "--output", "json"])
        .assert()
        .success();
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["rows_read"], 3, "{report}");
    assert_eq!(report["rows_loaded"], 1, "{report}");
    assert_eq!(report["rows_rejected"], 0, "{report}");
    assert_eq!(report["rows_forgotten"], 2, "{report}");
    let found = rows(
        &wh,
        "SELECT count(*) AS n FROM retail WHERE customer_id = 17850",
    );
    assert_eq!(found[0]["n"], 0);
}

#[test]
fn an_encrypted_warehouse_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let keys = dir.path().join("warehouse.key");
    let first = lgs(&wh).args(["key", "new"]).assert().success();
    let first = String::from_utf8(first.get_output().stdout.clone()).unwrap();
    assert!(
        first.trim().split(' ').nth(1).unwrap().len() == 64,
        "{first}"
    );
    std::fs::write(&keys, &first).unwrap();
    let keyed = || {
        let mut cmd = lgs(&wh);
        cmd.arg("--key-file").arg(&keys);
        cmd
    };
    keyed().arg("ingest").arg(handmade()).assert().success();
    let total = "SELECT sum(quantity) FROM retail";
    let plain_sum = keyed()
        .args(["sql", total, "--format", "csv"])
        .assert()
        .success();
    let plain_sum = String::from_utf8(plain_sum.get_output().stdout.clone()).unwrap();
    // Without the key: a clear error naming the table and what to do.
    lgs(&wh)
        .args(["sql", total])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "is encrypted, and no key was given",
        ))
        .stderr(predicate::str::contains("--key-file"));
    // A rotation: a second key appended, the table rewritten under it, the first
    // key deleted; the same answer.
    let second = lgs(&wh).args(["key", "new"]).assert().success();
    let second = String::from_utf8(second.get_output().stdout.clone()).unwrap();
    assert_ne!(first, second);
    std::fs::write(&keys, format!("{first}{second}")).unwrap();
    keyed()
        .args(["optimize", "--rekey"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "retail version 1: 1 files (0.0 MB) rewritten under the current key into 1",
        ));
    std::fs::write(&keys, &second).unwrap();
    let again = keyed()
        .args(["sql", total, "--format", "csv"])
        .assert()
        .success();
    assert_eq!(
        String::from_utf8(again.get_output().stdout.clone()).unwrap(),
        plain_sum
    );
}
