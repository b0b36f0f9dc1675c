//! `lgs recommend` as a user runs it: item to item as JSON and as a chart, a
//! customer's offers, every customer's offers in --out, the evaluation table, and
//! the errors (the counts and metrics are worked out by hand in
//! crates/lgs/tests/it/recommend.rs).

use predicates::prelude::*;

use crate::cli::lgs;

fn data(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../lgs/tests/data")
        .join(name)
}

#[test]
fn recommend_by_item_customer_and_for_everyone() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    lgs(&wh)
        .arg("ingest")
        .arg(data("baskets_handmade.csv"))
        .assert()
        .success();
    let out = lgs(&wh)
        .args(["recommend", "--item", "10001", "--min-together", "1"])
        .args(["--format", "json"])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let peers = doc["item"]["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 2, "{doc}");
    assert_eq!(peers[0]["stock_code"], "10002");
    assert_eq!(peers[0]["description"], "PLATE");
    assert_eq!(peers[0]["together"], 3);
    assert_eq!(peers[0]["lift"], 1.125);
    let html = dir.path().join("mug.html");
    lgs(&wh)
        .args([
            "recommend",
            "--item",
            "10001",
            "--min-together",
            "1",
            "--html",
        ])
        .arg(&html)
        .assert()
        .success();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains(r#"data-chart="recommend-item""#));
    lgs(&wh)
        .args(["recommend", "--customer", "2"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Recommended for customer 2"))
        .stdout(predicate::str::contains("BOWL"));
    let out = dir.path().join("out");
    lgs(&wh)
        .args(["recommend", "-n", "2", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Recommended products for each of 5 customers",
        ));
    let table = std::fs::read_to_string(out.join("recommendations.csv")).unwrap();
    // Customers 1, 2, 3 one product each (they bought two), 5 one (PLATE and BOWL
    // bought), 6 none.
    assert_eq!(table.lines().count(), 1 + 4, "{table}");
    assert!(table.lines().next().unwrap().contains("customer_id"));
}

#[test]
fn recommend_evaluates_against_popularity_and_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    lgs(&wh)
        .arg("ingest")
        .arg(data("recommend_handmade.csv"))
        .assert()
        .success();
    let out = dir.path().join("out");
    lgs(&wh)
        .args(["recommend", "--calibration-end", "2011-01-31", "-n", "1"])
        .arg("--out")
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("Offline evaluation"))
        .stdout(predicate::str::contains("precision@1"));
    let table = std::fs::read_to_string(out.join("recommend_evaluation.csv")).unwrap();
    let popularity = table.lines().find(|l| l.starts_with("popularity")).unwrap();
    assert!(
        popularity.starts_with("popularity,2,1,0.5,0.5,0.5,0.5"),
        "{table}"
    );
    lgs(&wh)
        .args(["recommend", "--item", "2000"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no line has stock code '2000'"))
        .stderr(predicate::str::contains("did you mean"));
    lgs(&wh)
        .args(["recommend", "--item", "20001", "--customer", "1"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("cannot be used with"));
    lgs(&wh)
        .args(["recommend", "--customer", "99"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("customer 99 bought no product"));
}
