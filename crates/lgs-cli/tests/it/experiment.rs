//! `lgs experiment` and `lgs experiment plan` as a user runs them.

use predicates::prelude::*;

use crate::cli::lgs;

#[test]
fn experiment_plan_gives_the_sample_size() {
    let dir = tempfile::tempdir().unwrap();
    let out = lgs(&dir.path().join("wh"))
        .args([
            "experiment",
            "plan",
            "--baseline-rate",
            "0.05",
            "--mde",
            "0.01",
            "--format",
            "json",
        ])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["customers_per_group"], 8158);
    lgs(&dir.path().join("wh"))
        .args([
            "experiment",
            "plan",
            "--baseline-rate",
            "1.5",
            "--mde",
            "0.01",
        ])
        .assert()
        .failure()
        .stderr(predicates::str::contains("0 < baseline rate < 1"));
}

#[test]
fn experiment_compares_groups_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let data =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../lgs/tests/data/clv_handmade.csv");
    lgs(&wh).arg("ingest").arg(data).assert().success();
    let assignments = dir.path().join("a.csv");
    std::fs::write(
        &assignments,
        "customer_id,group\n201,control\n202,control\n204,offer\n205,offer\n",
    )
    .unwrap();
    let out = lgs(&wh)
        .args([
            "experiment",
            "--start",
            "2011-01-20",
            "--window",
            "21d",
            "--format",
            "json",
            "--assignments",
        ])
        .arg(&assignments)
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let e = &doc["experiment"];
    // In 2011-01-20..02-09: 201 buys on 02-01 (15), 202 on 01-20 (12); 204 on 01-25
    // (40; 01-26 nets to -85), 205 nothing (02-10 is outside).
    let groups = e["groups"].as_array().unwrap();
    assert_eq!(groups[0]["group"], "control");
    assert_eq!(groups[0]["converted"], 2);
    assert_eq!(groups[0]["revenue_per_customer"], 13.5);
    assert_eq!(groups[1]["converted"], 1);
    assert_eq!(groups[1]["revenue_per_customer"], (40.0 - 85.0) / 2.0);
    assert_eq!(e["comparisons"][0]["treatment"], "offer");
    // Without --assignments it says what it needs.
    lgs(&wh)
        .args(["experiment", "--start", "2011-01-20"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("needs --assignments"));
}

#[test]
fn customer_prints_one_profile() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let data =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../lgs/tests/data/clv_handmade.csv");
    lgs(&wh).arg("ingest").arg(data).assert().success();
    let out = lgs(&wh)
        .args(["customer", "204", "--format", "json"])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["customer_id"], 204);
    assert_eq!(doc["country"], "Germany");
    assert!(doc["rfm"]["segment"].as_str().is_some(), "{doc}");
    lgs(&wh)
        .args(["customer", "204"])
        .assert()
        .success()
        .stdout(predicates::str::contains("P(alive)").and(predicates::str::contains("LAMP")));
    lgs(&wh)
        .args(["customer", "7"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("7 has no lines in retail"));
}

/// The dashboard's customer page: a search box, a profile, and clear errors.
#[test]
fn the_dashboard_shows_a_customer() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let data =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../lgs/tests/data/clv_handmade.csv");
    lgs(&wh).arg("ingest").arg(data).assert().success();
    let (_server, _base, port) = crate::browser::start_dashboard(&wh);
    let get = |target: &str| {
        let (status, body) = crate::load::request(port, "GET", target, "").unwrap();
        (status, String::from_utf8(body).unwrap())
    };
    let (status, page) = get("/customer");
    assert_eq!(status, 200);
    assert!(page.contains(r#"id="customer-id""#), "{page}");
    let (status, page) = get("/customer?id=201");
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Customer 201") && page.contains("P(alive)"),
        "{page}"
    );
    assert!(page.contains("<td>P1</td>"), "{page}");
    let (status, page) = get("/customer?id=77");
    assert_eq!(status, 404);
    assert!(page.contains("77 has no lines in retail"), "{page}");
    let (status, page) = get("/customer?id=abc");
    assert_eq!(status, 400);
    assert!(page.contains("is not a customer id"), "{page}");
    // Every page links to it.
    let (_, report) = get("/");
    assert!(report.contains(r#"href="/customer""#));
}
