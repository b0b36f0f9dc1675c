//! `lgs basket` as a user runs it: the JSON document the issue asks for, the
//! tables in --out, the chart, and the errors (the hand-made baskets are counted
//! in crates/lgs/tests/it/basket.rs).

use predicates::prelude::*;

use crate::cli::lgs;

fn baskets() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../lgs/tests/data/baskets_handmade.csv")
}

#[test]
fn basket_prints_itemsets_and_rules_as_json_tables_and_a_chart() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    lgs(&wh).arg("ingest").arg(baskets()).assert().success();
    let out = lgs(&wh)
        .args([
            "basket",
            "--min-support",
            "0.3",
            "--min-lift",
            "1.1",
            "--format",
            "json",
        ])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["baskets"], 6);
    assert_eq!(doc["items"], 3);
    assert_eq!(doc["itemsets"].as_array().unwrap().len(), 6);
    assert_eq!(doc["itemsets"][0]["items"], serde_json::json!(["MUG"]));
    assert_eq!(doc["itemsets"][0]["support"], 4.0 / 6.0);
    let rules = doc["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2, "{doc}");
    assert_eq!(rules[0]["antecedents"], serde_json::json!(["MUG"]));
    assert_eq!(rules[0]["consequents"], serde_json::json!(["PLATE"]));
    for key in [
        "antecedent_support",
        "consequent_support",
        "support",
        "confidence",
        "lift",
        "leverage",
        "conviction",
    ] {
        assert!(rules[0][key].is_f64(), "{key}: {}", rules[0]);
    }
    // The terminal's table, every rule and itemset in --out, the chart in --html.
    lgs(&wh)
        .args(["basket", "--min-support", "0.3"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Products bought together (6 baskets",
        ))
        .stdout(predicate::str::contains("MUG + PLATE"));
    let out = dir.path().join("out");
    let html = dir.path().join("baskets.html");
    lgs(&wh)
        .args([
            "basket",
            "--min-support",
            "0.3",
            "--min-confidence",
            "0",
            "--min-lift",
            "0",
        ])
        .arg("--out")
        .arg(&out)
        .arg("--html")
        .arg(&html)
        .assert()
        .success();
    let rules = std::fs::read_to_string(out.join("basket_rules.csv")).unwrap();
    assert_eq!(rules.lines().count(), 1 + 6, "{rules}");
    assert!(rules.lines().next().unwrap().contains("conviction"));
    let itemsets = std::fs::read_to_string(out.join("basket_itemsets.csv")).unwrap();
    assert_eq!(itemsets.lines().count(), 1 + 6, "{itemsets}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains(r#"data-chart="basket-rules""#));
    assert_eq!(page.matches(r#"<circle class="point""#).count(), 6);
}

#[test]
fn basket_errors_name_what_to_change() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    lgs(&wh).arg("ingest").arg(baskets()).assert().success();
    lgs(&wh)
        .args(["basket", "--country", "Frnace"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no basket in scope"))
        .stderr(predicate::str::contains("did you mean 'France'?"));
    lgs(&wh)
        .args(["basket", "--min-support", "0.3", "--max-itemsets", "3"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("raise --min-support"));
    // A support nothing reaches is said, not an empty screen.
    lgs(&wh)
        .args(["basket", "--min-support", "0.9"])
        .assert()
        .success()
        .stdout(predicate::str::contains("lower --min-support"));
    lgs(&wh)
        .args(["basket", "--since", "2011-02-01", "--until", "2011-01-01"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("is after --until"));
}
