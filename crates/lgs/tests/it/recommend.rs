//! Recommendations on hand-made invoices whose counts and metrics were worked out
//! by hand: item to item on the basket test's invoices (see `basket.rs`), and the
//! offline evaluation on `recommend_handmade.csv` (below).

use std::sync::Arc;

use chrono::NaiveDate;
use lgs::analytics::recommend::{RecommendAnalysis, RecommendOptions, RecommendResult, Target};
use lgs::analytics::{ReportOptions, run_analyses};

use crate::common::{Scratch, test_data};

async fn recommend(s: &Scratch, options: RecommendOptions) -> lgs::Result<RecommendResult> {
    let ctx = s.context().await;
    let analysis = Arc::new(RecommendAnalysis { options });
    let report = run_analyses(&ctx, &ReportOptions::default(), &[analysis]).await?;
    Ok(report
        .part::<RecommendResult>()
        .expect("the recommend section")
        .clone())
}

async fn scratch(file: &str) -> Scratch {
    let s = Scratch::new();
    s.ingest(&[&test_data(file)]).await.unwrap();
    s
}

fn target(target: Target) -> RecommendOptions {
    RecommendOptions {
        target,
        ..RecommendOptions::default()
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[tokio::test]
async fn item_to_item_counts_lift_and_confidence_as_by_hand() {
    let s = scratch("baskets_handmade.csv").await;
    // MUG (10001) is in 4 of the 6 baskets; with it: PLATE in 3 (PLATE in 4 of 6:
    // confidence 3/4, lift 0.75 / (4/6) = 1.125), BOWL in 2 (BOWL in 3: 2/4 and
    // 0.5 / (3/6) = 1).
    let options = RecommendOptions {
        min_together: Some(1),
        ..target(Target::Item("10001".into()))
    };
    let r = recommend(&s, options).await.unwrap();
    let item = r.item.unwrap();
    assert_eq!(
        (item.description.as_str(), item.baskets, item.total_baskets),
        ("MUG", 4, 6)
    );
    let got: Vec<(&str, &str, u64, u64)> = item
        .peers
        .iter()
        .map(|p| {
            (
                p.stock_code.as_str(),
                p.description.as_str(),
                p.together,
                p.baskets,
            )
        })
        .collect();
    assert_eq!(got, vec![("10002", "PLATE", 3, 4), ("10003", "BOWL", 2, 3)]);
    assert!(close(item.peers[0].confidence, 0.75) && close(item.peers[0].lift, 1.125));
    assert!(close(item.peers[1].confidence, 0.5) && close(item.peers[1].lift, 1.0));
    // At least 3 baskets together: PLATE only; -n 1 keeps the first.
    let three = RecommendOptions {
        min_together: Some(3),
        ..target(Target::Item("10001".into()))
    };
    let r = recommend(&s, three).await.unwrap();
    assert_eq!(r.item.unwrap().peers.len(), 1);
}

#[tokio::test]
async fn an_unknown_code_or_customer_says_what_is_near() {
    let s = scratch("baskets_handmade.csv").await;
    let err = recommend(&s, target(Target::Item("10004".into())))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no line has stock code '10004'"), "{err}");
    assert!(err.contains("did you mean '10001'"), "{err}");
    // POST is in the data but is not a product.
    let err = recommend(&s, target(Target::Item("POST".into())))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is in the data"), "{err}");
    // Customer 4 bought only postage.
    let err = recommend(&s, target(Target::Customer(4)))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("customer 4 bought no product"), "{err}");
    let bad = RecommendOptions {
        n: 0,
        ..RecommendOptions::default()
    };
    assert!(recommend(&s, bad).await.is_err());
}

#[tokio::test]
async fn a_customer_is_offered_only_what_they_have_not_bought() {
    let s = scratch("baskets_handmade.csv").await;
    // Customer 2 bought MUG and PLATE: BOWL is the one product left.
    let r = recommend(&s, target(Target::Customer(2))).await.unwrap();
    let c = r.customer.unwrap();
    let offered: Vec<&str> = c.offers.iter().map(|o| o.stock_code.as_str()).collect();
    assert_eq!(offered, vec!["10003"]);
    assert_eq!(c.offers[0].description, "BOWL");
    let bought: Vec<(&str, u64)> = c
        .bought
        .iter()
        .map(|b| (b.stock_code.as_str(), b.baskets))
        .collect();
    assert_eq!(bought, vec![("10001", 1), ("10002", 1)]);
    let model = r.model.unwrap();
    // Customers 1, 2, 3, 5 and 6 bought products (4 only postage); 3 products.
    assert_eq!((model.customers, model.products), (5, 3));
    // Every customer's list: no product a customer bought.
    let all = recommend(&s, RecommendOptions::default()).await.unwrap();
    let offers = all.offers.unwrap();
    assert!(
        offers
            .iter()
            .all(|o| !(o.customer_id == 2 && o.stock_code != "10003"))
    );
    // Customer 6 bought all three: nothing to offer.
    assert!(offers.iter().all(|o| o.customer_id != 6));
    assert_eq!(offers.iter().filter(|o| o.customer_id == 1).count(), 1);
}

// recommend_handmade.csv: January (up to the calibration end 2011-01-31):
// customer 1 APPLE BANANA; 2 APPLE BANANA CHERRY; 3 APPLE CHERRY; 4 BANANA; 5 DATE.
// Popularity (customers): APPLE 3, BANANA 3, CHERRY 2, DATE 1.
// February: 1 buys CHERRY (new) and APPLE (not new); 4 buys DATE (new); 3 buys
// ELDERBERRY, not sold in January (so not relevant: 3 is not evaluated).
// Top 1 by popularity: customer 1 → CHERRY (APPLE and BANANA bought): a hit;
// customer 4 → APPLE: a miss. Precision, recall, MAP and hit rate 0.5 each.
// Top 10: every product a customer has not bought is offered, so both methods
// find each customer's one new product: recall 1, precision 1/10, hit rate 1.
#[tokio::test]
async fn the_evaluation_scores_popularity_as_by_hand() {
    let s = scratch("recommend_handmade.csv").await;
    let end = NaiveDate::from_ymd_opt(2011, 1, 31).unwrap();
    let one = RecommendOptions {
        n: 1,
        ..target(Target::Evaluate(end))
    };
    let e = recommend(&s, one).await.unwrap().evaluation.unwrap();
    assert_eq!(e.customers, 2);
    let popularity = e.methods.iter().find(|m| m.method == "popularity").unwrap();
    for v in [
        popularity.precision,
        popularity.recall,
        popularity.map,
        popularity.hit_rate,
    ] {
        assert!(close(v, 0.5), "{popularity:?}");
    }
    assert_eq!(e.model.customers, 5);
    let ten = recommend(&s, target(Target::Evaluate(end)))
        .await
        .unwrap()
        .evaluation
        .unwrap();
    for m in &ten.methods {
        assert!(close(m.recall, 1.0) && close(m.hit_rate, 1.0), "{m:?}");
        assert!(close(m.precision, 0.1), "{m:?}");
        assert!(m.map > 0.0 && m.map <= 1.0, "{m:?}");
    }
}
