//! `lgs clv`: lifetime value and churn as a user runs it, with its options, its
//! outputs and its errors.

use crate::cli::lgs;

fn clv_data() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../lgs/tests/data/clv_handmade.csv")
}

#[test]
fn clv_prints_the_fits_and_every_customer() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    lgs(&wh).arg("ingest").arg(clv_data()).assert().success();

    let out = lgs(&wh)
        .args([
            "clv",
            "--format",
            "json",
            "--horizon",
            "30",
            "--horizon-months",
            "6",
        ])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    // Only the CLV section (and the as-of date), with the options applied.
    let keys: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(keys, ["as_of", "clv"]);
    let clv = &doc["clv"];
    assert_eq!(clv["observation_end"], "2011-02-10");
    assert_eq!(clv["customers"], 4);
    assert_eq!(clv["repeat_customers"], 2);
    assert_eq!(clv["horizon_days"], 30.0);
    assert_eq!(clv["months"], 6);
    for key in ["r", "alpha", "a", "b", "loglik"] {
        assert!(clv["bgnbd"][key].is_f64(), "bgnbd.{key}: {clv}");
    }
    // Four customers, two of them repeat buyers, cannot determine the model: the
    // section says so beside its numbers.
    let notes = clv["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("ran to a bound")),
        "{notes:?}"
    );
    // The table for people, and every customer in --out.
    lgs(&wh)
        .arg("clv")
        .assert()
        .success()
        .stdout(predicates::str::contains("BG/NBD r, alpha, a, b"));
    let out_dir = dir.path().join("out");
    lgs(&wh)
        .args(["clv", "--format", "json", "--out"])
        .arg(&out_dir)
        .assert()
        .success();
    let customers = std::fs::read_to_string(out_dir.join("clv_customers.csv")).unwrap();
    assert!(
        customers.starts_with("customer_id,x,t_x,t,m,p_alive,"),
        "{customers}"
    );
    assert_eq!(customers.lines().count(), 5, "header + 4 customers");
}

/// On generated data (thousands of customers) a shorter horizon expects fewer
/// purchases than 90 days, and every customer has a value.
#[test]
fn the_horizon_changes_the_expectation() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let csv = dir.path().join("g.csv");
    lgs(&wh)
        .args([
            "-q", "generate", "retail", "--rows", "20000", "--seed", "3", "--out",
        ])
        .arg(&csv)
        .assert()
        .success();
    lgs(&wh).args(["-q", "ingest"]).arg(&csv).assert().success();
    let out = lgs(&wh)
        .args(["clv", "--format", "json", "--horizon", "30"])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let clv = &doc["clv"];
    let e = clv["expected_purchases_total"].as_f64().unwrap();
    let e90 = clv["expected_purchases_90d_total"].as_f64().unwrap();
    assert!(e > 0.0 && e < e90, "{e} vs {e90}");
    assert!(clv["clv_total"].as_f64().unwrap() > 0.0, "{clv}");
}

#[test]
fn clv_checks_itself_on_a_holdout() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    lgs(&wh).arg("ingest").arg(clv_data()).assert().success();
    let out = lgs(&wh)
        .args(["clv", "--calibration-end", "2011-01-20", "--format", "json"])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let v = &doc["clv_validation"];
    assert_eq!(v["holdout_days"], 21, "{doc}");
    assert_eq!(v["actual_total"], 2.0);
    for key in ["total", "mae", "rmse"] {
        assert!(
            v["model"][key].is_f64() && v["baseline"][key].is_f64(),
            "{v}"
        );
    }
    // And in the terminal, with the chart's numbers in the HTML page.
    lgs(&wh)
        .args(["clv", "--calibration-end", "2011-01-20"])
        .assert()
        .success()
        .stdout(predicates::str::contains("past rate (baseline)"));
    let html = dir.path().join("clv.html");
    lgs(&wh)
        .args(["clv", "--calibration-end", "2011-01-20", "--html"])
        .arg(&html)
        .assert()
        .success();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("clv-holdout") && page.contains("clv-p-alive"));
    // A date that leaves no holdout is refused.
    lgs(&wh)
        .args(["clv", "--calibration-end", "2011-02-10"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("leaves no holdout"));
}

#[test]
fn clv_refuses_options_that_make_no_sense() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    lgs(&wh).arg("ingest").arg(clv_data()).assert().success();
    for (flag, value) in [
        ("--horizon", "0"),
        ("--horizon-months", "0"),
        ("--discount", "-0.5"),
    ] {
        lgs(&wh)
            .args(["clv", &format!("{flag}={value}")])
            .assert()
            .failure()
            .stderr(predicates::str::contains(flag));
    }
}
