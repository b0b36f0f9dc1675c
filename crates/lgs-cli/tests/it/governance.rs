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
fn setup(dir: &Path) -> std::path::PathBuf {
    std::fs::write(dir.join("policy.toml"), POLICY).unwrap();
    std::fs::write(dir.join("pseudonym.key"), [7u8; 32]).unwrap();
    let wh = dir.join("wh");
    lgs(&wh).arg("ingest").arg(handmade()).assert().success();
    wh
}

fn as_role(wh: &Path, dir: &Path, role: &str) -> assert_cmd::Command {
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
