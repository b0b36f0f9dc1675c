//! Market baskets on hand-made invoices whose itemsets and rules were counted by
//! hand (see `baskets`), and the errors of a scope without baskets or a support
//! that would make too many itemsets.

use std::sync::Arc;

use chrono::NaiveDate;
use lgs::analytics::basket::{BasketAnalysis, BasketOptions, BasketResult, ItemKey, Scope};
use lgs::analytics::{ReportOptions, run_analyses};

use crate::common::{Scratch, test_data};

// Six baskets (UK unless said); `C1006` is a cancellation (no basket):
//
// | invoice | day | items (code: description) |
// |---|---|---|
// | 1001 | 01-05 | 10001 "MUG " (trailing space), 10002 PLATE, POST |
// | 1002 | 01-06 | 10001 MUG, 10002 PLATE |
// | 1003 | 01-07 | 10001 MUG, 10003 BOWL; 10002 PLATE +1 and -1 (net 0: not in it) |
// | 1004 | 01-08 | POST only: a basket without items |
// | 1005 | 02-01 France | 10002 PLATE, 10003 BOWL |
// | 1007 | 02-02 France | 10001 MUG, 10002 PLATE, 10003 "BLUE BOWL" |
//
// MUG is in 4 baskets, PLATE 4, BOWL (10003) 3; MUG+PLATE 3, MUG+BOWL 2,
// PLATE+BOWL 2, all three 1. 10003's label is BOWL (2 lines against 1). The
// file: tests/data/baskets_handmade.csv.

async fn baskets(s: &Scratch, options: BasketOptions) -> lgs::Result<BasketResult> {
    let ctx = s.context().await;
    let analysis = Arc::new(BasketAnalysis { options });
    let report = run_analyses(&ctx, &ReportOptions::default(), &[analysis]).await?;
    Ok(report
        .part::<BasketResult>()
        .expect("the basket section")
        .clone())
}

async fn scratch() -> Scratch {
    let s = Scratch::new();
    s.ingest(&[&test_data("baskets_handmade.csv")])
        .await
        .unwrap();
    s
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[tokio::test]
async fn itemsets_and_rules_of_hand_counted_baskets() {
    let s = scratch().await;
    let all = BasketOptions {
        min_support: 0.3,
        min_confidence: 0.0,
        min_lift: 0.0,
        ..BasketOptions::default()
    };
    let r = baskets(&s, all.clone()).await.unwrap();
    assert_eq!((r.baskets, r.items), (6, 3));
    // ceil(0.3 × 6) = 2 baskets: the three items and the three pairs, not the triple.
    assert_eq!(r.min_baskets, 2);
    let sets: Vec<(Vec<&str>, u64)> = r
        .itemsets
        .iter()
        .map(|s| (s.items.iter().map(String::as_str).collect(), s.baskets))
        .collect();
    assert_eq!(
        sets,
        vec![
            (vec!["MUG"], 4),
            (vec!["PLATE"], 4),
            (vec!["BOWL"], 3),
            (vec!["MUG", "PLATE"], 3),
            (vec!["BOWL", "MUG"], 2),
            (vec!["BOWL", "PLATE"], 2),
        ]
    );
    assert_eq!(
        r.itemsets[3].codes.as_deref(),
        Some(&["10001".to_string(), "10002".to_string()][..])
    );
    assert!(close(r.itemsets[2].support, 0.5));
    // Two rules per pair; the two of MUG and PLATE first (lift 1.125).
    assert_eq!(r.rules.len(), 6);
    let first = &r.rules[0];
    assert_eq!(
        (&first.antecedents[..], &first.consequents[..]),
        (&["MUG".to_string()][..], &["PLATE".to_string()][..])
    );
    assert!(close(first.antecedent_support, 4.0 / 6.0) && close(first.support, 0.5));
    assert!(close(first.confidence, 0.75) && close(first.lift, 1.125));
    assert!(close(first.leverage, 0.5 - 4.0 / 9.0));
    assert!(close(first.conviction.unwrap(), (1.0 / 3.0) / 0.25));
    // BOWL -> MUG: 2 of BOWL's 3 baskets, MUG in 4 of 6: lift 1, conviction 1.
    let bowl_mug = r
        .rules
        .iter()
        .find(|x| x.antecedents == ["BOWL"] && x.consequents == ["MUG"])
        .unwrap();
    assert!(close(bowl_mug.confidence, 2.0 / 3.0) && close(bowl_mug.lift, 1.0));
    assert!(close(bowl_mug.conviction.unwrap(), 1.0));
    // Lift above 1.1: only MUG <-> PLATE.
    let strong = baskets(
        &s,
        BasketOptions {
            min_lift: 1.1,
            ..all.clone()
        },
    )
    .await
    .unwrap();
    let names: Vec<(String, String)> = strong
        .rules
        .iter()
        .map(|x| (x.antecedents.join("+"), x.consequents.join("+")))
        .collect();
    assert_eq!(
        names,
        vec![
            ("MUG".into(), "PLATE".into()),
            ("PLATE".into(), "MUG".into())
        ]
    );
}

#[tokio::test]
async fn country_dates_and_descriptions_scope_the_baskets() {
    let s = scratch().await;
    // France: 1005 and 1007; at support 0.5 (one basket) every itemset of both.
    let france = baskets(
        &s,
        BasketOptions {
            scope: Scope {
                country: Some("France".into()),
                ..Scope::default()
            },
            min_support: 0.5,
            min_confidence: 0.0,
            min_lift: 0.0,
            ..BasketOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (france.baskets, france.items, france.itemsets.len()),
        (2, 3, 7)
    );
    // 6 to 8 January, both included: 1002, 1003 and 1004 (no items).
    let days = baskets(
        &s,
        BasketOptions {
            scope: Scope {
                since: NaiveDate::from_ymd_opt(2011, 1, 6),
                until: NaiveDate::from_ymd_opt(2011, 1, 8),
                ..Scope::default()
            },
            min_support: 0.5,
            ..BasketOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((days.baskets, days.items), (3, 3));
    // Only MUG is in 2 of the 3 baskets.
    let items: Vec<&Vec<String>> = days.itemsets.iter().map(|s| &s.items).collect();
    assert_eq!(items, vec![&vec!["MUG".to_string()]]);
    assert!(
        days.basket_note.as_deref().unwrap().contains("no rule"),
        "{days:?}"
    );
    // By description: BLUE BOWL is not BOWL, so BOWL's pairs fall under 2 baskets.
    let described = baskets(
        &s,
        BasketOptions {
            item: ItemKey::Description,
            min_support: 0.3,
            ..BasketOptions::default()
        },
    )
    .await
    .unwrap();
    let sets: Vec<(String, u64)> = described
        .itemsets
        .iter()
        .map(|s| (s.items.join("+"), s.baskets))
        .collect();
    assert_eq!(
        sets,
        vec![
            ("MUG".to_string(), 4),
            ("PLATE".to_string(), 4),
            ("MUG+PLATE".to_string(), 3),
            ("BOWL".to_string(), 2),
        ]
    );
    assert!(described.itemsets[0].codes.is_none());
}

#[tokio::test]
async fn an_empty_scope_a_support_too_high_and_too_many_itemsets_say_so() {
    let s = scratch().await;
    let err = baskets(
        &s,
        BasketOptions {
            scope: Scope {
                country: Some("Frnace".into()),
                ..Scope::default()
            },
            ..BasketOptions::default()
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("no basket in scope") && err.contains("did you mean 'France'?"),
        "{err}"
    );
    let none = baskets(
        &s,
        BasketOptions {
            min_support: 0.9,
            ..BasketOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(none.itemsets.is_empty() && none.rules.is_empty());
    let note = none.basket_note.unwrap();
    assert!(
        note.contains("in 4 (0.6667 of them)") && note.contains("lower --min-support"),
        "{note}"
    );
    let err = baskets(
        &s,
        BasketOptions {
            min_support: 0.3,
            max_itemsets: 3,
            ..BasketOptions::default()
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("more than 3 frequent itemsets") && err.contains("raise --min-support"),
        "{err}"
    );
    let err = baskets(
        &s,
        BasketOptions {
            min_support: 0.0,
            ..BasketOptions::default()
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("--min-support must be more than 0"), "{err}");
}
