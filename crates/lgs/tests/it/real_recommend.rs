//! Recommendations on the real data (called from `real_data`'s test): the
//! evaluation's popularity baseline equals the protocol written again in pandas
//! (`bench/recommend_peers.py`; tests/data/recommend), and ALS's offers do better
//! than it on every metric.

use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use lgs::analytics::recommend::{RecommendAnalysis, RecommendOptions, RecommendResult, Target};
use lgs::analytics::{ReportOptions, run_analyses};
use serde_json::Value;

use crate::common::test_data;

pub async fn evaluation_as_reference(ctx: &SessionContext) {
    let end = NaiveDate::from_ymd_opt(2011, 9, 30).unwrap();
    let analysis = Arc::new(RecommendAnalysis {
        options: RecommendOptions {
            target: Target::Evaluate(end),
            ..RecommendOptions::default()
        },
    });
    let report = run_analyses(ctx, &ReportOptions::default(), &[analysis])
        .await
        .unwrap();
    let e = report
        .part::<RecommendResult>()
        .unwrap()
        .evaluation
        .clone()
        .unwrap();
    let text =
        std::fs::read_to_string(test_data("recommend/popularity_real_2011-09-30.json")).unwrap();
    let want: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(Some(e.customers), want["customers"].as_u64());
    let by = |name: &str| e.methods.iter().find(|m| m.method == name).unwrap();
    let (als, popularity) = (by("als"), by("popularity"));
    let metrics =
        |m: &lgs::analytics::recommend::MethodScore| [m.precision, m.recall, m.map, m.hit_rate];
    for (name, ours) in ["precision", "recall", "map", "hit_rate"]
        .iter()
        .zip(metrics(popularity))
    {
        let theirs = want["popularity"][name].as_f64().unwrap();
        assert!(
            (ours - theirs).abs() <= 1e-12,
            "popularity {name}: lgs {ours}, pandas {theirs}"
        );
    }
    for (ours, baseline) in metrics(als).iter().zip(metrics(popularity)) {
        assert!(
            *ours > baseline,
            "ALS {als:?} against popularity {popularity:?}"
        );
    }
}
