//! Product trends on hand-made lines (tests/data/trends_handmade.csv) whose
//! movers, new and gone products, seasonality and ABC classes were worked out by
//! hand. The last invoice is on 2011-12-09, so the last complete month is
//! 2011-11: movers compare 2011-09..2011-11 with 2010-09..2010-11, the window of
//! new and gone products is 2011-10..2011-12, and the year of the seasonality and
//! the ABC classes is 2010-12..2011-11.
//!
//! | code | lines |
//! |---|---|
//! | 30001 RISER | 100 units 2010-09; 150 2011-09; 150 2011-10 (customer 2), −30 cancelled 2011-10; £1 |
//! | 30002 FALLER | 200 2010-10; 50 2011-10; £0.50 |
//! | 30003 TINY | 10 2010-11; 100 2011-11; £1 |
//! | 30004 NEWBIE | 40 2011-11, 10 2011-12-09; £2 |
//! | 30005 GONER | 10 a month 2010-10..2011-09; £1 |
//! | 30006 XMAS | 10 2011-06, 90 2011-11; £3 |
//! | POST | postage on 2011-12-09 (not a product) |

use std::sync::Arc;

use lgs::analytics::trends::derive::Period;
use lgs::analytics::trends::{TrendsAnalysis, TrendsOptions, TrendsResult};
use lgs::analytics::{ReportOptions, run_analyses};

use crate::common::{Scratch, test_data};

async fn trends(options: TrendsOptions) -> TrendsResult {
    let s = Scratch::new();
    s.ingest(&[&test_data("trends_handmade.csv")])
        .await
        .unwrap();
    let ctx = s.context().await;
    let analysis = Arc::new(TrendsAnalysis { options });
    let report = run_analyses(&ctx, &ReportOptions::default(), &[analysis])
        .await
        .unwrap();
    report.part::<TrendsResult>().unwrap().clone()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[tokio::test]
async fn monthly_figures_movers_new_and_gone_as_by_hand() {
    let r = trends(TrendsOptions::default()).await;
    assert_eq!(r.last_complete, "2011-11");
    assert_eq!(
        (
            r.now.text(),
            r.before.text(),
            r.window.text(),
            r.year.text()
        ),
        (
            "2011-09..2011-11".to_string(),
            "2010-09..2010-11".to_string(),
            "2011-10..2011-12".to_string(),
            "2010-12..2011-11".to_string()
        )
    );
    // 3 + 2 + 2 + 2 + 12 + 2 product months; postage is not a product.
    assert_eq!(r.months.len(), 23);
    let october = r
        .months
        .iter()
        .find(|m| m.stock_code == "30001" && m.month == "2011-10")
        .unwrap();
    assert_eq!(
        (
            october.units,
            october.cancelled_units,
            october.customers,
            october.invoices
        ),
        (150, 30, 1, 1)
    );
    assert!(close(october.net_sales, 120.0));
    assert!(close(october.return_rate.unwrap(), 0.2));
    // TINY had 10 units before (under --min-units 100); GONER 20; XMAS none.
    let movers: Vec<(&str, i64, i64)> = r
        .movers
        .iter()
        .map(|m| (m.stock_code.as_str(), m.units_before, m.units_now))
        .collect();
    assert_eq!(movers, vec![("30001", 100, 300), ("30002", 200, 50)]);
    assert!(close(r.movers[0].growth, 2.0) && close(r.movers[1].growth, -0.75));
    assert!(close(r.movers[0].net_sales_now, 270.0));
    let new: Vec<(&str, &str, i64)> = r
        .new_products
        .iter()
        .map(|a| (a.stock_code.as_str(), a.month.as_str(), a.units))
        .collect();
    assert_eq!(new, vec![("30004", "2011-11", 50)]);
    let gone: Vec<(&str, &str, i64)> = r
        .gone_products
        .iter()
        .map(|a| (a.stock_code.as_str(), a.month.as_str(), a.units))
        .collect();
    assert_eq!(gone, vec![("30005", "2011-09", 120)]);
    assert_eq!(r.descriptions["30005"], "GONER");
}

#[tokio::test]
async fn seasonality_and_abc_as_by_hand() {
    let r = trends(TrendsOptions::default()).await;
    // Units in 2010-12..2011-11, at least 100: TINY all in November; XMAS 90 of
    // 100 in November; RISER 150 in September and 150 in October (the earlier
    // month is the peak); GONER 10 a month, December to September.
    let seasons: Vec<(&str, i64, u32)> = r
        .seasonality
        .iter()
        .map(|s| (s.stock_code.as_str(), s.units, s.peak_month))
        .collect();
    assert_eq!(
        seasons,
        vec![
            ("30003", 100, 11),
            ("30006", 100, 11),
            ("30001", 300, 9),
            ("30005", 100, 1)
        ]
    );
    let q4: Vec<f64> = r.seasonality.iter().map(|s| s.q4_share).collect();
    for (got, want) in q4.iter().zip([1.0, 0.9, 0.5, 0.1]) {
        assert!(close(*got, want), "{q4:?}");
    }
    // Net sales in the year: XMAS 300, RISER 270, TINY 100, GONER 100 (a tie, by
    // code), NEWBIE 80, FALLER 25; of 875. Shares above each: 0, 300, 570, 670
    // (all under 80 %: A), 770 (88 %: B), 850 (97 %: C).
    let abc: Vec<(&str, char)> = r
        .abc
        .iter()
        .map(|a| (a.stock_code.as_str(), a.class))
        .collect();
    assert_eq!(
        abc,
        vec![
            ("30006", 'A'),
            ("30001", 'A'),
            ("30003", 'A'),
            ("30005", 'A'),
            ("30004", 'B'),
            ("30002", 'C')
        ]
    );
    assert!(close(r.abc[2].cumulative_share, 670.0 / 875.0));
    assert!(close(r.abc[5].cumulative_share, 1.0));
}

#[tokio::test]
async fn compare_periods_and_limits_change_the_lists() {
    // Now 2011-10 against 2010-10: only FALLER sold in 2010-10 (200 units).
    let options = TrendsOptions {
        compare: Some((
            Period::parse("2011-10..2011-10").unwrap(),
            Period::parse("2010-10..2010-10").unwrap(),
        )),
        min_units: 10,
        steady_months: 12,
        ..TrendsOptions::default()
    };
    let r = trends(options).await;
    let movers: Vec<&str> = r.movers.iter().map(|m| m.stock_code.as_str()).collect();
    // GONER: 10 units in 2010-10 and none in 2011-10 (−100 %); FALLER −75 %.
    assert_eq!(movers, vec!["30002", "30005"]);
    // Sold in 12 of the 12 months before the window: GONER still.
    assert_eq!(r.gone_products.len(), 1);
    // At least 10 units: NEWBIE (50) and FALLER (50) join the seasonality list.
    assert_eq!(r.seasonality.len(), 6);
    assert!(Period::parse("2011-11..2011-09").is_none());
    assert!(Period::parse("2011-13..2011-14").is_none());
}
