//! The CLV section on the real data (called from `real_data`'s test, which has
//! ingested the file): every customer's summary against a plain-Rust computation
//! from the CSV's records, and the fits and totals against the reference
//! implementation, `lifetimes` 0.11.3.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, TimeDelta};
use lgs::analytics::Report;
use lgs::analytics::clv::Clv;

use crate::common::close;

/// `bench/clv_reference.py data/online_retail_II.csv.zst --as-of 2012-01-01`
/// (lifetimes 0.11.3, autograd 1.9.1, pandas 3.1.1, scipy 1.17.1, numpy 2.4.6): BetaGeoFitter and
/// GammaGammaFitter's parameters, the 90-day expected purchases and the 12-month
/// CLV at 1 % a month summed over customers.
const LIFETIMES_BGNBD: [f64; 4] = [
    0.6633676733121847,
    66.98573138876948,
    0.14978556433157164,
    2.9037027640049944,
];
const LIFETIMES_GAMMA_GAMMA: [f64; 3] = [2.100784992521805, 3.6579721117300523, 513.7059170623779];
const LIFETIMES_EXPECTED_90D: f64 = 4188.2551726005795;
const LIFETIMES_CLV: f64 = 7550583.721120335;

/// `days`: (customer, day) → the day's net amount ×10⁴, from the records.
pub fn clv_as_reference(r: &Report, days: &HashMap<(i64, NaiveDate), i128>, as_of: NaiveDate) {
    let clv = r.part::<Clv>().expect("the clv section");
    let end = as_of - TimeDelta::days(1);
    assert_eq!(clv.clv.observation_end, end.format("%Y-%m-%d").to_string());
    // customer → their purchase days in order, with values.
    let mut bought: BTreeMap<i64, Vec<(NaiveDate, i128)>> = BTreeMap::new();
    for (&(c, day), &v) in days {
        if v > 0 && day <= end {
            bought.entry(c).or_default().push((day, v));
        }
    }
    assert_eq!(clv.clv_customers.len(), bought.len());
    for (c, mut purchases) in bought {
        purchases.sort();
        let first = purchases[0].0;
        let last = purchases.last().unwrap().0;
        let x = purchases.len() as u64 - 1;
        let repeat: i128 = purchases[1..].iter().map(|p| p.1).sum();
        let m = if x > 0 {
            repeat as f64 / 10_000.0 / x as f64
        } else {
            0.0
        };
        let got = clv
            .clv_customers
            .iter()
            .find(|g| g.customer_id == c)
            .unwrap_or_else(|| panic!("customer {c} has no CLV row"));
        let want = (x, (last - first).num_days(), (end - first).num_days());
        assert_eq!((got.x, got.t_x, got.t), want, "customer {c}");
        close(got.m, m, 1e-12);
    }
    let b = clv.clv.bgnbd.as_ref().expect("a BG/NBD fit");
    assert!(b.converged, "{b:?}");
    for (got, want) in [b.r, b.alpha, b.a, b.b].iter().zip(LIFETIMES_BGNBD) {
        close(*got, want, 1e-4);
    }
    let g = clv.clv.gamma_gamma.as_ref().expect("a Gamma-Gamma fit");
    assert!(g.converged, "{g:?}");
    assert_eq!(g.customers, 4181);
    for (got, want) in [g.p, g.q, g.gamma].iter().zip(LIFETIMES_GAMMA_GAMMA) {
        close(*got, want, 1e-4);
    }
    close(
        clv.clv.expected_purchases_90d_total.unwrap(),
        LIFETIMES_EXPECTED_90D,
        1e-4,
    );
    close(clv.clv.clv_total.unwrap(), LIFETIMES_CLV, 1e-4);
    // By RFM segment: every customer with a purchase day is in one (they all have
    // lines), and the segments' values add up to the total.
    let segments = &clv.clv.by_segment;
    let customers: u64 = segments.iter().map(|s| s.customers).sum();
    assert_eq!(customers as usize, clv.clv_customers.len());
    let total: f64 = segments.iter().map(|s| s.clv.unwrap()).sum();
    close(total, clv.clv.clv_total.unwrap(), 1e-9);
    assert!(segments.windows(2).all(|w| w[0].clv >= w[1].clv));
}
