//! Each analytics definition on small hand-made data whose answers were computed by
//! hand (see the comments): ties, an empty month, a customer whose only invoice is a
//! cancellation, and quantile edges.

use std::path::Path;

use chrono::NaiveDate;
use lgs::analytics::{Report, ReportOptions, run_report};

use crate::common::{Parts, Scratch, close, test_data};

/// The report on `file` ingested into `s`'s warehouse, as of `as_of` (default: the
/// day after the last invoice).
async fn report_of(s: &Scratch, file: &Path, as_of: Option<NaiveDate>) -> Report {
    s.ingest(&[file]).await.unwrap();
    let ctx = s.context().await;
    let options = ReportOptions { as_of };
    run_report(&ctx, &options).await.unwrap()
}

async fn handmade_report() -> Report {
    let as_of = NaiveDate::from_ymd_opt(2010, 4, 1);
    report_of(&Scratch::new(), &test_data("handmade.csv"), as_of).await
}

#[tokio::test]
async fn invoice_amounts_by_hand() {
    let r = handmade_report().await;
    // Eligible invoices (price > 0 and quantity > 0): 10001 = 2×5 + 1×5 = 15,
    // 10002 = 15, 10003 = 40, 10006 = 4×2.5 = 10, 10007 = 10. 10005 has only a zero
    // price line and C10004 only a negative quantity: neither counts.
    let a = &r.invoices().invoice_amount;
    assert_eq!(a.count, 5);
    assert_eq!((a.min, a.max), (10.0, 40.0));
    assert_eq!(a.mean, 18.0);
    assert_eq!(a.median, 15.0);
    // 10 and 15 both occur twice: the smallest wins.
    assert_eq!(a.mode, 10.0);
    // sorted [10, 10, 15, 15, 40]: position 4 × 0.85 = 3.4 → 15 + 0.4 × 25 = 25.
    close(a.p85, 25.0, 1e-12);

    // Trimmed: amounts <= 25 → [10, 10, 15, 15].
    let t = &r.invoices().invoice_amount_trimmed;
    assert_eq!(t.count, 4);
    assert_eq!(
        (t.min, t.max, t.mean, t.median, t.mode),
        (10.0, 15.0, 12.5, 12.5, 10.0)
    );

    // Histograms: 20 equal bins over [10, 40]; every invoice is counted once.
    assert_eq!(r.invoices().invoice_amount_histogram.len(), 20);
    let total: u64 = r
        .invoices()
        .invoice_amount_histogram
        .iter()
        .map(|b| b.count)
        .sum();
    assert_eq!(total, 5);
    assert_eq!(r.invoices().invoice_amount_histogram[0].count, 2);
    assert_eq!(r.invoices().invoice_amount_histogram[19].count, 1);
    assert_eq!(r.invoices().invoice_amount_histogram[19].upper, 40.0);
}

#[tokio::test]
async fn monthly_metrics_by_hand_with_an_empty_month() {
    let r = handmade_report().await;
    let months: Vec<&str> = r.monthly().iter().map(|m| m.month.as_str()).collect();
    assert_eq!(months, ["2010-01", "2010-02", "2010-03"]);

    let jan = &r.monthly()[0];
    assert_eq!((jan.placed_orders, jan.cancelled_orders), (3, 1));
    close(jan.cancellation_rate.unwrap(), 1.0 / 3.0, 1e-12);
    // 15 + 15 + 40 − 5 (the cancellation counts in net sales).
    assert_eq!(jan.sales, 65.0);
    assert_eq!(jan.sales_growth_pct, None);
    // 101, 102 and 104 (whose only invoice is a cancellation); the line without a
    // customer does not count.
    assert_eq!(
        (jan.active_users, jan.new_users, jan.existing_users),
        (3, 3, 0)
    );

    // February has no line at all: listed with zeros, growth −100 %.
    let feb = &r.monthly()[1];
    assert_eq!(
        (feb.placed_orders, feb.cancelled_orders, feb.sales),
        (0, 0, 0.0)
    );
    assert_eq!(feb.cancellation_rate, None);
    assert_eq!(feb.sales_growth_pct, Some(-100.0));
    assert_eq!(
        (feb.active_users, feb.new_users, feb.existing_users),
        (0, 0, 0)
    );

    // March: 10005 (zero price) + 10006 + 10007; growth from zero sales is undefined.
    let mar = &r.monthly()[2];
    assert_eq!((mar.placed_orders, mar.cancelled_orders), (3, 0));
    assert_eq!(mar.sales, 20.0);
    assert_eq!(mar.sales_growth_pct, None);
    // 101 was seen in January (existing), 103 is new.
    assert_eq!(
        (mar.active_users, mar.new_users, mar.existing_users),
        (2, 1, 1)
    );
}

#[tokio::test]
async fn rfm_by_hand() {
    let r = handmade_report().await;
    assert_eq!(r.as_of, "2010-04-01");
    let by_id = |id: i64| {
        r.rfm()
            .rfm_customers
            .iter()
            .find(|c| c.customer_id == id)
            .unwrap()
    };
    // recency = floor(days from the last invoice to 2010-04-01 00:00):
    // 101: 2010-03-31 23:59 → 0 days 00:01 → 0; 102: 2010-01-10 12:30 → 80 d 11:30 → 80;
    // 103: 2010-03-02 11:15 → 29 d 12:45 → 29; 104: 2010-01-21 09:00 → 69 d 15:00 → 69.
    let c = [by_id(101), by_id(102), by_id(103), by_id(104)];
    let got: Vec<(i64, u64, f64)> = c
        .iter()
        .map(|c| (c.recency, c.frequency, c.monetary))
        .collect();
    assert_eq!(
        got,
        vec![(0, 3, 25.0), (80, 1, 15.0), (29, 1, 10.0), (69, 1, -5.0)]
    );
    // R edges over [0, 29, 69, 80]: [0, 17.4, 37, 61, 73.4, 80] → 5, 1, 4, 2.
    // F ranks (frequency, then customer_id): 102 → 1, 103 → 2, 104 → 3, 101 → 4;
    //   edges over ranks 1..4: [1, 1.6, 2.2, 2.8, 3.4, 4] → F = 5, 1, 2, 4.
    // M edges over [−5, 10, 15, 25]: [−5, 4, 11, 14, 19, 25] → 5, 4, 2, 1.
    let scores: Vec<(u8, u8, u8)> = c.iter().map(|c| (c.r, c.f, c.m)).collect();
    assert_eq!(scores, vec![(5, 5, 5), (1, 1, 4), (4, 2, 2), (2, 4, 1)]);
    let segments: Vec<&str> = c.iter().map(|c| c.segment.as_str()).collect();
    assert_eq!(
        segments,
        vec!["Champions", "Hibernating", "Potential Loyalists", "At Risk"]
    );
    close(r.rfm().rfm_edges.recency[1], 17.4, 1e-12);
    close(r.rfm().rfm_edges.monetary[3], 14.0, 1e-12);

    assert_eq!(r.rfm().rfm_segments.len(), 4);
    let champions = r
        .rfm()
        .rfm_segments
        .iter()
        .find(|s| s.segment == "Champions")
        .unwrap();
    assert_eq!(champions.customers, 1);
    close(champions.customer_share, 0.25, 1e-12);
    // Total monetary 25 + 15 + 10 − 5 = 45.
    close(champions.revenue_share, 25.0 / 45.0, 1e-12);
    close(champions.avg_monetary, 25.0, 1e-12);
}

#[tokio::test]
async fn as_of_defaults_to_the_day_after_the_last_invoice() {
    let r = report_of(&Scratch::new(), &test_data("handmade.csv"), None).await;
    assert_eq!(r.as_of, "2010-04-01");
}

#[tokio::test]
async fn rfm_with_too_few_customers_for_distinct_edges() {
    // Three customers, all with one invoice on the same day and the same amount:
    // every qcut edge coincides (pandas' qcut would raise). Everyone lands in bin 1
    // of R's order (label 5), F by rank, M bin 1.
    let s = Scratch::new();
    let csv = format!(
        "{}\n1,A,X,1,2011-01-01 10:00,2.00,1,UK\n2,A,X,1,2011-01-01 10:00,2.00,2,UK\n3,A,X,1,2011-01-01 10:00,2.00,3,UK\n",
        crate::common::HEADER
    );
    let r = report_of(&s, &s.file("ties.csv", csv), None).await;
    let scores: Vec<(i64, u8, u8, u8)> = r
        .rfm()
        .rfm_customers
        .iter()
        .map(|c| (c.customer_id, c.r, c.f, c.m))
        .collect();
    // Ranks 1, 2, 3 → edges [1, 1.4, 1.8, 2.2, 2.6, 3] → F 1, 3, 5.
    assert_eq!(scores, vec![(1, 5, 1, 1), (2, 5, 3, 1), (3, 5, 5, 1)]);
    let segments: Vec<&str> = r
        .rfm()
        .rfm_customers
        .iter()
        .map(|c| c.segment.as_str())
        .collect();
    assert_eq!(
        segments,
        vec!["New Customers", "Potential Loyalists", "Champions"]
    );
}

#[tokio::test]
async fn an_invoice_split_over_months_and_customers_counts_in_each() {
    // 20001 has a line on 2010-01-31 for customer 201 (2 × 5) and one on 2010-02-01
    // for 202 (1 × 5); 20003 has a line without a customer (40) and one for 203 (5).
    // The report cannot take an invoice's month and customer from any one of its
    // lines then: each (month, customer) part counts where it belongs.
    let r = report_of(&Scratch::new(), &test_data("split_invoice.csv"), None).await;

    // Invoice amounts are per invoice whatever its parts: 15, 5, 45.
    let a = &r.invoices().invoice_amount;
    assert_eq!((a.count, a.min, a.max, a.median), (3, 5.0, 45.0, 15.0));

    let got: Vec<(&str, u64, f64, u64, u64, u64)> = r
        .monthly()
        .iter()
        .map(|m| {
            (
                m.month.as_str(),
                m.placed_orders,
                m.sales,
                m.active_users,
                m.new_users,
                m.existing_users,
            )
        })
        .collect();
    // January: 20001's first line. February: 20001's second line, 20002, 20003;
    // active 201, 202, 203, of which 202 and 203 are new.
    assert_eq!(
        got,
        vec![("2010-01", 1, 10.0, 1, 1, 0), ("2010-02", 3, 55.0, 3, 2, 1)]
    );
    assert_eq!(r.monthly()[1].sales_growth_pct, Some(450.0));

    // As of 2010-02-12 (the day after 20003): 201 bought in 20001 and 20002 (10 + 5,
    // last 2010-02-10 10:00 → 1 day), 202 in 20001 (5, 2010-02-01 01:00 → 10 days),
    // 203 in 20003 (5, 2010-02-11 09:00 → 0 days).
    assert_eq!(r.as_of, "2010-02-12");
    let values: Vec<(i64, i64, u64, f64)> = r
        .rfm()
        .rfm_customers
        .iter()
        .map(|c| (c.customer_id, c.recency, c.frequency, c.monetary))
        .collect();
    assert_eq!(
        values,
        vec![(201, 1, 2, 15.0), (202, 10, 1, 5.0), (203, 0, 1, 5.0)]
    );
}
