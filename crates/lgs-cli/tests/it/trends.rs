//! `lgs trends` as a user runs it: the JSON, every table in --out, the charts,
//! and a bad period (the figures are worked out by hand in
//! crates/lgs/tests/it/trends.rs).

use predicates::prelude::*;

use crate::cli::lgs;

#[test]
fn trends_prints_lists_writes_tables_and_draws_the_pareto_curve() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../lgs/tests/data/trends_handmade.csv");
    lgs(&wh).arg("ingest").arg(data).assert().success();
    let out = lgs(&wh)
        .args(["trends", "--format", "json"])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["last_complete"], "2011-11");
    assert_eq!(doc["movers"][0]["stock_code"], "30001");
    assert_eq!(doc["new_products"][0]["stock_code"], "30004");
    assert_eq!(doc["abc"].as_array().unwrap().len(), 6);
    lgs(&wh)
        .arg("trends")
        .assert()
        .success()
        .stdout(predicate::str::contains("Rising products"))
        .stdout(predicate::str::contains("RISER"))
        .stdout(predicate::str::contains("Gone products: 1"))
        .stdout(predicate::str::contains("ABC analysis"));
    let tables = dir.path().join("out");
    let html = dir.path().join("trends.html");
    lgs(&wh)
        .args(["trends", "--out"])
        .arg(&tables)
        .arg("--html")
        .arg(&html)
        .assert()
        .success();
    for (name, rows) in [
        ("sku_monthly", 23),
        ("sku_movers", 2),
        ("sku_new", 1),
        ("sku_gone", 1),
        ("sku_seasonality", 4),
        ("sku_abc", 6),
    ] {
        let csv = std::fs::read_to_string(tables.join(format!("{name}.csv"))).unwrap();
        assert_eq!(csv.lines().count(), 1 + rows, "{name}: {csv}");
    }
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains(r#"data-chart="sku-pareto""#));
    assert!(page.contains(r#"data-chart="sku-movers""#));
    lgs(&wh)
        .args([
            "trends",
            "--compare",
            "2011-11..2011-09",
            "2010-09..2010-11",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("is not FIRST..LAST"));
}
