//! Product trends on the real data (called from `real_data`'s test) against DuckDB
//! SQL written independently (`bench/trends_reference.py`; the reference is
//! tests/data/trends/duckdb_real.json.zst): the same movers in the same order, new
//! and gone products, seasonality and ABC classes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::prelude::SessionContext;
use lgs::analytics::trends::{TrendsAnalysis, TrendsResult};
use lgs::analytics::{ReportOptions, run_analyses};
use serde_json::Value;

use crate::common::test_data;

fn close(what: &str, a: f64, b: f64) {
    assert!(
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
        "{what}: lgs {a}, DuckDB {b}"
    );
}

fn reference() -> Value {
    let file = std::fs::File::open(test_data("trends/duckdb_real.json.zst")).unwrap();
    serde_json::from_reader(zstd::stream::read::Decoder::new(file).unwrap()).unwrap()
}

fn code(v: &Value) -> String {
    v["stock_code"].as_str().unwrap().to_string()
}

pub async fn trends_as_reference(ctx: &SessionContext) {
    // The report's as_of is the day after the last invoice, as the reference's.
    let analysis = Arc::new(TrendsAnalysis::default());
    let report = run_analyses(ctx, &ReportOptions::default(), &[analysis])
        .await
        .unwrap();
    let r = report.part::<TrendsResult>().unwrap();
    let want = reference();
    assert_eq!(r.last_complete, want["last_complete"].as_str().unwrap());
    // The product months: their number and totals, and the products described.
    let m = &r.months;
    let totals = [
        m.len() as i64,
        m.iter().map(|x| x.customers as i64).sum(),
        m.iter().map(|x| x.invoices as i64).sum(),
        m.iter().map(|x| x.cancelled_units).sum(),
        r.descriptions.len() as i64,
    ];
    let keys = [
        "rows",
        "customers",
        "invoices",
        "cancelled_units",
        "described_products",
    ];
    let want_totals = keys.map(|k| want["sku_monthly"][k].as_i64().unwrap());
    assert_eq!(totals, want_totals, "product months: {keys:?}");
    let theirs = want["movers"].as_array().unwrap();
    assert_eq!(r.movers.len(), theirs.len(), "movers");
    for (ours, t) in r.movers.iter().zip(theirs) {
        assert_eq!(ours.stock_code, code(t), "the movers' order");
        assert_eq!(ours.units_before, t["units_before"].as_i64().unwrap());
        assert_eq!(ours.units_now, t["units_now"].as_i64().unwrap());
        close(&ours.stock_code, ours.growth, t["growth"].as_f64().unwrap());
    }
    let new: BTreeSet<(String, String)> = r
        .new_products
        .iter()
        .map(|a| (a.stock_code.clone(), a.month.clone()))
        .collect();
    let want_new: BTreeSet<(String, String)> = want["new_products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (code(t), t["month"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(new, want_new, "new products");
    let gone: BTreeSet<&str> = r
        .gone_products
        .iter()
        .map(|a| a.stock_code.as_str())
        .collect();
    let want_gone: BTreeSet<&str> = want["gone_products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(gone, want_gone, "gone products");
    let seasons: BTreeMap<String, &Value> = want["seasonality"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (code(t), t))
        .collect();
    assert_eq!(r.seasonality.len(), seasons.len(), "seasonal products");
    for s in &r.seasonality {
        let t = seasons[&s.stock_code];
        assert_eq!(s.units, t["units"].as_i64().unwrap(), "{}", s.stock_code);
        assert_eq!(s.peak_month, t["peak_month"].as_u64().unwrap() as u32);
        close(
            &s.stock_code,
            s.peak_share,
            t["peak_share"].as_f64().unwrap(),
        );
        close(&s.stock_code, s.q4_share, t["q4_share"].as_f64().unwrap());
    }
    let theirs = want["abc"].as_array().unwrap();
    assert_eq!(r.abc.len(), theirs.len(), "ABC products");
    for (ours, t) in r.abc.iter().zip(theirs) {
        assert_eq!(ours.stock_code, code(t), "the ABC order");
        assert_eq!(ours.class.to_string(), t["class"].as_str().unwrap());
        close(
            &ours.stock_code,
            ours.net_sales,
            t["net_sales"].as_f64().unwrap(),
        );
    }
}
