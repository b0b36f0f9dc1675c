//! Lifetime value and churn (BG/NBD + Gamma-Gamma) on hand-made data whose
//! summaries were computed by hand, and on edge cases: no repeat customer, no
//! customer at all.

use chrono::NaiveDate;
use lgs::analytics::clv::{Clv, ClvCustomer};
use lgs::analytics::{ReportOptions, run_report};
use lgs_models::BgNbd;

use crate::common::{Scratch, close, test_data};

async fn clv_of(s: &Scratch, as_of: Option<NaiveDate>) -> Clv {
    let ctx = s.context().await;
    let report = run_report(&ctx, &ReportOptions { as_of }).await.unwrap();
    report.part::<Clv>().expect("the clv section").clone()
}

fn customer(clv: &Clv, id: i64) -> &ClvCustomer {
    clv.clv_customers
        .iter()
        .find(|c| c.customer_id == id)
        .unwrap_or_else(|| panic!("customer {id} in {:?}", clv.clv_customers))
}

/// By hand (clv_handmade.csv; the last invoice day is 2011-02-10):
/// - 201 buys on 01-03 (10), 01-10 (20 + 5 - 5 = 20: two orders and a
///   cancellation the same day) and 02-01 (15): x = 2, t_x = 29, T = 38,
///   m = (20 + 15) / 2 = 17.5.
/// - 202 orders 30 on 01-05 and cancels it that day (net 0: no purchase), then
///   buys 12 on 01-20: x = 0, t_x = 0, T = 21, m = 0.
/// - 203 only cancels: no purchase day, not a customer here.
/// - 204 buys 8 + 2 on 01-04 (one day, two invoices), 40 on 01-25; on 01-26 a
///   cancellation of -100 and a purchase of 15 net to -85 (no purchase):
///   x = 1, t_x = 21, T = 37, m = 40.
/// - 205 buys once, on the last day: x = 0, t_x = 0, T = 0.
/// - The line without a customer is no one's.
#[tokio::test]
async fn summaries_by_hand() {
    let s = Scratch::new();
    s.ingest(&[&test_data("clv_handmade.csv")]).await.unwrap();
    let clv = clv_of(&s, None).await;
    assert_eq!(clv.clv.observation_end, "2011-02-10");
    let got: Vec<(i64, u64, i64, i64, f64)> = clv
        .clv_customers
        .iter()
        .map(|c| (c.customer_id, c.x, c.t_x, c.t, c.m))
        .collect();
    assert_eq!(
        got,
        vec![
            (201, 2, 29, 38, 17.5),
            (202, 0, 0, 21, 0.0),
            (204, 1, 21, 37, 40.0),
            (205, 0, 0, 0, 0.0),
        ]
    );
    assert_eq!((clv.clv.customers, clv.clv.repeat_customers), (4, 2));
    // Two repeat customers fit a model, roughly, and say so.
    assert!(
        clv.clv.notes.iter().any(|n| n.contains("only 2 repeat")),
        "{:?}",
        clv.clv.notes
    );
}

/// An earlier as-of date ends the observation the day before it: later purchases
/// are not seen.
#[tokio::test]
async fn as_of_ends_the_observation() {
    let s = Scratch::new();
    s.ingest(&[&test_data("clv_handmade.csv")]).await.unwrap();
    let clv = clv_of(&s, NaiveDate::from_ymd_opt(2011, 1, 26)).await;
    assert_eq!(clv.clv.observation_end, "2011-01-25");
    let c201 = customer(&clv, 201);
    // 01-03 and 01-10 only: x = 1, t_x = 7, T = 22, m = 20.
    assert_eq!((c201.x, c201.t_x, c201.t, c201.m), (1, 7, 22, 20.0));
    assert!(clv.clv_customers.iter().all(|c| c.customer_id != 205));
}

/// The per-customer predictions are the model's formulas at the reported
/// parameters, and the totals their sums.
#[tokio::test]
async fn predictions_follow_the_fitted_model() {
    let s = Scratch::new();
    s.ingest(&[&test_data("clv_handmade.csv")]).await.unwrap();
    let clv = clv_of(&s, None).await;
    let Some(b) = &clv.clv.bgnbd else {
        panic!("a BG/NBD fit: {:?}", clv.clv.notes)
    };
    let model = BgNbd {
        r: b.r,
        alpha: b.alpha,
        a: b.a,
        b: b.b,
    };
    let mut total = 0.0;
    for c in &clv.clv_customers {
        let (x, t_x, t) = (c.x as f64, c.t_x as f64, c.t as f64);
        close(c.p_alive.unwrap(), model.p_alive(x, t_x, t), 1e-12);
        let e90 = model.expected_purchases(90.0, x, t_x, t).unwrap();
        close(c.expected_purchases_90d.unwrap(), e90, 1e-12);
        total += e90;
    }
    close(clv.clv.expected_purchases_90d_total.unwrap(), total, 1e-12);
    // Without a repeat purchase nobody can have left: P(alive) = 1.
    assert_eq!(customer(&clv, 202).p_alive, Some(1.0));
    let bands: u64 = clv.clv.p_alive_bands.iter().map(|b| b.customers).sum();
    assert_eq!(bands, 4);
}

/// Only one-time buyers: no model can be fitted, and the section says why
/// instead of failing the report or printing numbers.
#[tokio::test]
async fn one_time_buyers_get_a_note_not_numbers() {
    let s = Scratch::new();
    let file = s.file(
        "once.csv",
        "invoice_no,stock_code,description,quantity,invoice_date,unit_price,customer_id,country\n\
         1,P1,MUG,1,2011-01-03 09:00:00,5.00,1,United Kingdom\n\
         2,P1,MUG,1,2011-01-04 09:00:00,5.00,2,United Kingdom\n",
    );
    s.ingest(&[&file]).await.unwrap();
    let clv = clv_of(&s, None).await;
    assert_eq!(clv.clv.customers, 2);
    assert!(clv.clv.bgnbd.is_none() && clv.clv.gamma_gamma.is_none());
    assert!(clv.clv_customers.iter().all(|c| c.p_alive.is_none()));
    assert!(clv.clv.clv_total.is_none());
    assert!(
        clv.clv
            .notes
            .iter()
            .any(|n| n.contains("two different days")),
        "{:?}",
        clv.clv.notes
    );
}

/// The holdout check by hand (clv_handmade.csv, calibration to 2011-01-20, the
/// data end on 2011-02-10: 21 holdout days). In the calibration period 201 bought
/// on 01-03 and 01-10 (x = 1, T = 17), 202 on 01-20 (x = 0, T = 0), 204 on 01-04
/// (x = 0, T = 16); 205 first buys in the holdout and is not scored. In the
/// holdout 201 buys on 02-01 and 204 on 01-25 (01-26 nets to -85): 2 days.
/// Baseline (x / T per day × 21): 201 21/17, the others 0.
#[tokio::test]
async fn holdout_check_by_hand() {
    use lgs::analytics::clv::{ClvValidationAnalysis, Validation};
    let s = Scratch::new();
    s.ingest(&[&test_data("clv_handmade.csv")]).await.unwrap();
    let ctx = s.context().await;
    let check = ClvValidationAnalysis {
        calibration_end: NaiveDate::from_ymd_opt(2011, 1, 20).unwrap(),
    };
    let analyses: Vec<std::sync::Arc<dyn lgs::analytics::Analysis>> =
        vec![std::sync::Arc::new(check)];
    let options = ReportOptions::default();
    let report = lgs::analytics::run_analyses(&ctx, &options, &analyses)
        .await
        .unwrap();
    let v = &report.part::<Validation>().unwrap().clv_validation;
    assert_eq!((v.holdout_days, v.customers), (21, 3));
    assert_eq!(v.actual_total, 2.0);
    let rate = 21.0 / 17.0;
    close(v.baseline.total, rate, 1e-12);
    close(v.baseline.mae, ((rate - 1.0) + 1.0) / 3.0, 1e-12);
    close(
        v.baseline.rmse,
        (((rate - 1.0).powi(2) + 1.0) / 3.0).sqrt(),
        1e-12,
    );
    let rows: Vec<(u64, u64, f64, f64)> = v
        .by_frequency
        .iter()
        .map(|b| (b.x, b.customers, b.actual, b.baseline))
        .collect();
    assert_eq!(rows[0], (0, 2, 0.5, 0.0));
    assert_eq!((rows[1].0, rows[1].1, rows[1].2), (1, 1, 1.0));
    close(rows[1].3, rate, 1e-12);
    // The model's total is the sum of its per-group means times the group sizes.
    let summed: f64 = v
        .by_frequency
        .iter()
        .map(|b| b.predicted * b.customers as f64)
        .sum();
    close(v.model.total, summed, 1e-9);

    // A calibration end that leaves no holdout is refused, saying why.
    let late = ClvValidationAnalysis {
        calibration_end: NaiveDate::from_ymd_opt(2011, 2, 10).unwrap(),
    };
    let analyses: Vec<std::sync::Arc<dyn lgs::analytics::Analysis>> =
        vec![std::sync::Arc::new(late)];
    let err = lgs::analytics::run_analyses(&ctx, &options, &analyses)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("leaves no holdout"), "{err}");
}

/// k-means on the hand-made customers: three with monetary > 0 (201: 20 + 20 + 15
/// net, 202: 12, 204: 10 + 40 - 85 < 0 is left out, 205: 30), so k = 2 only, every
/// clustered customer in one cluster, and with fewer than three nothing but a note.
#[tokio::test]
async fn kmeans_on_a_handful_of_customers() {
    use lgs::analytics::kmeans::KMeansResult;
    let s = Scratch::new();
    s.ingest(&[&test_data("clv_handmade.csv")]).await.unwrap();
    let ctx = s.context().await;
    let report = run_report(&ctx, &ReportOptions::default()).await.unwrap();
    let k = report.part::<KMeansResult>().unwrap();
    let summary = k.kmeans.as_ref().expect("clusters");
    let members: Vec<i64> = k.kmeans_customers.iter().map(|m| m.customer_id).collect();
    assert_eq!(members, [201, 202, 205]);
    let ks: Vec<usize> = summary.by_k.iter().map(|b| b.k).collect();
    assert_eq!((ks, summary.k), (vec![2], 2));

    let s = Scratch::new();
    let file = s.file(
        "two.csv",
        "invoice_no,stock_code,description,quantity,invoice_date,unit_price,customer_id,country\n\
         1,P1,MUG,1,2011-01-03 09:00:00,5.00,1,United Kingdom\n\
         2,P1,MUG,1,2011-01-04 09:00:00,5.00,2,United Kingdom\n",
    );
    s.ingest(&[&file]).await.unwrap();
    let report = run_report(&s.context().await, &ReportOptions::default())
        .await
        .unwrap();
    let k = report.part::<KMeansResult>().unwrap();
    assert!(k.kmeans.is_none());
    assert!(
        k.kmeans_note.as_ref().unwrap().contains("at least 3"),
        "{k:?}"
    );
}

/// One customer's profile brings the sections' figures together: 201 of
/// clv_handmade.csv first bought on 2011-01-03 and last on 2011-02-01, spent most
/// on MUG (P1: 2×5 + 4×5 = 30), and has RFM scores, a cluster and CLV figures.
#[tokio::test]
async fn a_customer_profile_by_hand() {
    use lgs::analytics::customer::profile;
    let s = Scratch::new();
    s.ingest(&[&test_data("clv_handmade.csv")]).await.unwrap();
    let ctx = s.context().await;
    let p = profile(&ctx, &ReportOptions::default(), 201).await.unwrap();
    assert_eq!(p.first_purchase.as_deref(), Some("2011-01-03 09:00:00"));
    assert_eq!(p.last_purchase.as_deref(), Some("2011-02-01 11:00:00"));
    assert_eq!(p.country.as_deref(), Some("United Kingdom"));
    let top = &p.top_products[0];
    assert_eq!(
        (top.stock_code.as_str(), top.quantity, top.amount),
        ("P1", 6, 30.0)
    );
    assert_eq!(p.rfm.as_ref().unwrap().frequency, 5);
    assert_eq!(p.clv.as_ref().unwrap().x, 2);
    assert!(p.cluster.is_some());
    // 203 only cancelled: a customer with lines but no purchase.
    let p = profile(&ctx, &ReportOptions::default(), 203).await.unwrap();
    assert_eq!((p.first_purchase, p.clv), (None, None));
    let err = profile(&ctx, &ReportOptions::default(), 99999)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("99999 has no lines"), "{err}");
}
