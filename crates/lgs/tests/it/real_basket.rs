//! Market baskets on the real data (called from `real_data`'s test) against
//! mlxtend 0.25.0 on the same baskets (`bench/basket_reference.py`; the reference
//! files are in tests/data/basket): the same itemsets and rules, with the same
//! supports and metrics.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::prelude::SessionContext;
use lgs::analytics::basket::{BasketAnalysis, BasketOptions, BasketResult, Scope};
use lgs::analytics::{ReportOptions, run_analyses};
use serde_json::Value;

use crate::common::test_data;

fn sorted(codes: &Option<Vec<String>>) -> Vec<String> {
    let mut codes = codes.clone().expect("items by stock code have codes");
    codes.sort();
    codes
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn close(what: &str, a: f64, b: f64) {
    assert!(
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()),
        "{what}: lgs {a}, mlxtend {b}"
    );
}

pub async fn baskets_as_reference(ctx: &SessionContext) {
    for (file, country, min_support) in [
        ("mlxtend_germany_0.05.json", Some("Germany"), 0.05),
        ("mlxtend_all_0.02.json", None, 0.02),
    ] {
        let text = std::fs::read_to_string(test_data(&format!("basket/{file}"))).unwrap();
        let want: Value = serde_json::from_str(&text).unwrap();
        let analysis = Arc::new(BasketAnalysis {
            options: BasketOptions {
                scope: Scope {
                    country: country.map(String::from),
                    ..Scope::default()
                },
                min_support,
                ..BasketOptions::default()
            },
        });
        let report = run_analyses(ctx, &ReportOptions::default(), &[analysis])
            .await
            .unwrap();
        let r = report.part::<BasketResult>().unwrap();
        assert_eq!(Some(r.baskets), want["baskets"].as_u64(), "{file}");
        assert_eq!(Some(r.items), want["items"].as_u64(), "{file}");
        let ours: BTreeMap<Vec<String>, f64> = r
            .itemsets
            .iter()
            .map(|s| (sorted(&s.codes), s.support))
            .collect();
        let theirs: BTreeMap<Vec<String>, f64> = want["itemsets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (strings(&s["items"]), s["support"].as_f64().unwrap()))
            .collect();
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "{file}: the same itemsets"
        );
        for (items, support) in &ours {
            close(&format!("{file} {items:?}"), *support, theirs[items]);
        }
        let theirs: BTreeMap<(Vec<String>, Vec<String>), &Value> = want["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| ((strings(&x["antecedents"]), strings(&x["consequents"])), x))
            .collect();
        assert_eq!(r.rules.len(), theirs.len(), "{file}: the same rules");
        for x in &r.rules {
            let key = (sorted(&x.antecedent_codes), sorted(&x.consequent_codes));
            let t = theirs
                .get(&key)
                .unwrap_or_else(|| panic!("{file}: {key:?} not in mlxtend's"));
            for (name, v) in [
                ("antecedent_support", x.antecedent_support),
                ("consequent_support", x.consequent_support),
                ("support", x.support),
                ("confidence", x.confidence),
                ("lift", x.lift),
                ("leverage", x.leverage),
            ] {
                close(
                    &format!("{file} {key:?} {name}"),
                    v,
                    t[name].as_f64().unwrap(),
                );
            }
            match (x.conviction, t["conviction"].as_f64()) {
                (Some(a), Some(b)) => close(&format!("{file} {key:?} conviction"), a, b),
                (a, b) => assert_eq!(a, b, "{file} {key:?} conviction"),
            }
        }
        // By lift, largest first.
        assert!(r.rules.windows(2).all(|w| w[0].lift >= w[1].lift), "{file}");
    }
}
