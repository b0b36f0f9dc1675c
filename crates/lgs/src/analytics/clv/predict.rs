//! The fits and per-customer predictions of the CLV section, and how it reads in a
//! terminal and as result tables.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use lgs_models::{BgNbd, BgNbdFit, GammaGamma, GammaGammaFit, History, Horizon, Spend};
use serde::Serialize;

use super::{BgNbdParams, Clv, ClvOptions, ClvSummary, GammaGammaParams, Summary};
use crate::analytics::section::count;
use crate::analytics::{ResultTable, TableBuilder, TextTable};
use crate::error::{LgsError, Result};
use crate::format::group;

/// One customer's summary and predictions (None where a model could not be fitted).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClvCustomer {
    pub customer_id: i64,
    /// Repeat purchase days.
    pub x: u64,
    /// Days from the first to the last purchase day.
    pub t_x: i64,
    /// Days from the first purchase day to the observation end.
    pub t: i64,
    /// Mean value of the repeat purchase days (0 without any).
    pub m: f64,
    pub p_alive: Option<f64>,
    pub expected_purchases_90d: Option<f64>,
    /// Expected purchase days in the next `horizon_days`.
    pub expected_purchases: Option<f64>,
    /// Gamma-Gamma's expected value of a purchase day.
    pub expected_value: Option<f64>,
    pub clv: Option<f64>,
}

/// Customers whose P(alive) is in [lower, upper) (the last band includes 1).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PAliveBand {
    pub lower: f64,
    pub upper: f64,
    pub customers: u64,
    pub clv: Option<f64>,
}

/// A key for equal summaries (the fits see each distinct one once, with a count).
type Key = (u64, u64, u64);

fn key(x: f64, t_x: f64, t: f64) -> Key {
    (x.to_bits(), t_x.to_bits(), t.to_bits())
}

/// The fits on `summaries` and every customer's predictions.
pub(super) fn predict(summaries: &[Summary], end: NaiveDate, o: &ClvOptions) -> Result<Clv> {
    let mut notes = Vec::new();
    let repeat = summaries.iter().filter(|s| s.x > 0.0).count();
    let bg = fit_bgnbd(summaries, repeat, &mut notes);
    let gg = fit_gamma_gamma(summaries, repeat, &mut notes);
    let horizon = Horizon {
        periods: o.months,
        period_length: 30.0,
        discount: o.discount,
    };
    // Per distinct history: P(alive), expected purchases at 90 days and at the
    // horizon, and the discounted expected purchases of the lifetime-value horizon.
    let mut per_history: BTreeMap<Key, Option<[f64; 4]>> = BTreeMap::new();
    let mut failed = 0u64;
    let mut customers = Vec::with_capacity(summaries.len());
    for s in summaries {
        let predicted = bg.as_ref().and_then(|fit| {
            *per_history.entry(key(s.x, s.t_x, s.t)).or_insert_with(|| {
                match history_predictions(&fit.params, &horizon, o.horizon_days, s) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        if failed == 0 {
                            notes.push(format!("no predictions for some customers: {e}"));
                        }
                        failed += 1;
                        None
                    }
                }
            })
        });
        let value = gg.as_ref().and_then(|g| g.params.expected_value(s.x, s.m));
        customers.push(ClvCustomer {
            customer_id: s.customer_id,
            x: s.x as u64,
            t_x: s.t_x as i64,
            t: s.t as i64,
            m: s.m,
            p_alive: predicted.map(|v| v[0]),
            expected_purchases_90d: predicted.map(|v| v[1]),
            expected_purchases: predicted.map(|v| v[2]),
            expected_value: value,
            clv: predicted.zip(value).map(|(v, value)| v[3] * value),
        });
    }
    if failed > 0 {
        notes.push(format!(
            "{failed} distinct customer histories have no predictions, so there are no totals"
        ));
    }
    let summary = ClvSummary {
        observation_end: end.format("%Y-%m-%d").to_string(),
        customers: summaries.len() as u64,
        repeat_customers: repeat as u64,
        bgnbd: bg.as_ref().map(bgnbd_params),
        gamma_gamma: gg.as_ref().map(gamma_gamma_params),
        horizon_days: o.horizon_days,
        months: o.months,
        discount_monthly: o.discount,
        expected_purchases_90d_total: total(&customers, |c| c.expected_purchases_90d),
        expected_purchases_total: total(&customers, |c| c.expected_purchases),
        clv_total: total(&customers, |c| c.clv),
        p_alive_bands: bands(&customers),
        top_customers: top(&customers, 10),
        by_segment: vec![],
        notes,
    };
    Ok(Clv {
        clv: summary,
        clv_customers: customers,
    })
}

/// P(alive), expected purchases in 90 days and in `horizon_days`, and the sum
/// over the months of the lifetime-value horizon of the expected purchases in
/// each month, discounted (a customer's CLV is that times their expected value).
fn history_predictions(
    p: &BgNbd,
    horizon: &Horizon,
    horizon_days: f64,
    s: &Summary,
) -> Result<[f64; 4]> {
    let expected = |days| {
        p.expected_purchases(days, s.x, s.t_x, s.t)
            .map_err(LgsError::model("clv"))
    };
    let discounted = lgs_models::lifetime_value(p, horizon, 1.0, s.x, s.t_x, s.t)
        .map_err(LgsError::model("clv"))?;
    Ok([
        p.p_alive(s.x, s.t_x, s.t),
        expected(90.0)?,
        expected(horizon_days)?,
        discounted,
    ])
}

/// The distinct histories of `summaries`, each with the number of customers who
/// have it (what the fit needs: far fewer rows than customers).
pub(super) fn histories(summaries: &[Summary]) -> Vec<History> {
    let mut weights: BTreeMap<Key, f64> = BTreeMap::new();
    for s in summaries {
        *weights.entry(key(s.x, s.t_x, s.t)).or_default() += 1.0;
    }
    weights
        .iter()
        .map(|(k, w)| History {
            x: f64::from_bits(k.0),
            t_x: f64::from_bits(k.1),
            t: f64::from_bits(k.2),
            weight: *w,
        })
        .collect()
}

fn fit_bgnbd(summaries: &[Summary], repeat: usize, notes: &mut Vec<String>) -> Option<BgNbdFit> {
    if summaries.is_empty() {
        notes.push("no customer has a purchase day: there is nothing to model".into());
        return None;
    }
    if repeat == 0 {
        notes.push(
            "no customer bought on two different days: BG/NBD needs repeat purchases, so there \
             are no predictions"
                .into(),
        );
        return None;
    }
    let histories = histories(summaries);
    match BgNbd::fit(&histories) {
        Ok(fit) => {
            notes.extend(
                fit.convergence
                    .warnings
                    .iter()
                    .map(|w| format!("BG/NBD: {w}")),
            );
            if repeat < 30 {
                notes.push(format!(
                    "BG/NBD fitted on only {repeat} repeat customer(s): treat its predictions \
                     as rough"
                ));
            }
            Some(fit)
        }
        Err(e) => {
            notes.push(format!("BG/NBD could not be fitted: {e}"));
            None
        }
    }
}

fn fit_gamma_gamma(
    summaries: &[Summary],
    repeat: usize,
    notes: &mut Vec<String>,
) -> Option<GammaGammaFit> {
    if repeat == 0 {
        return None;
    }
    let mut weights: BTreeMap<(u64, u64), f64> = BTreeMap::new();
    for s in summaries.iter().filter(|s| s.x > 0.0 && s.m > 0.0) {
        *weights.entry((s.x.to_bits(), s.m.to_bits())).or_default() += 1.0;
    }
    let spend: Vec<Spend> = weights
        .iter()
        .map(|(k, w)| Spend {
            x: f64::from_bits(k.0),
            m: f64::from_bits(k.1),
            weight: *w,
        })
        .collect();
    match GammaGamma::fit(&spend) {
        Ok(fit) => {
            notes.extend(
                fit.convergence
                    .warnings
                    .iter()
                    .map(|w| format!("Gamma-Gamma: {w}")),
            );
            if fit.params.q <= 1.0 {
                notes.push(format!(
                    "Gamma-Gamma: q = {:.3} <= 1 means an unbounded mean spend: no expected \
                     values or lifetime values",
                    fit.params.q
                ));
            }
            Some(fit)
        }
        Err(e) => {
            notes.push(format!("Gamma-Gamma could not be fitted: {e}"));
            None
        }
    }
}

fn bgnbd_params(f: &BgNbdFit) -> BgNbdParams {
    BgNbdParams {
        r: f.params.r,
        alpha: f.params.alpha,
        a: f.params.a,
        b: f.params.b,
        loglik: f.loglik,
        converged: f.convergence.converged,
        iterations: f.convergence.iterations,
        warnings: f.convergence.warnings.clone(),
    }
}

fn gamma_gamma_params(f: &GammaGammaFit) -> GammaGammaParams {
    GammaGammaParams {
        p: f.params.p,
        q: f.params.q,
        gamma: f.params.gamma,
        loglik: f.loglik,
        customers: f.customers as u64,
        converged: f.convergence.converged,
        iterations: f.convergence.iterations,
        warnings: f.convergence.warnings.clone(),
    }
}

fn total(customers: &[ClvCustomer], get: fn(&ClvCustomer) -> Option<f64>) -> Option<f64> {
    let values: Option<Vec<f64>> = customers.iter().map(get).collect();
    values.filter(|v| !v.is_empty()).map(|v| v.iter().sum())
}

fn bands(customers: &[ClvCustomer]) -> Vec<PAliveBand> {
    if customers.iter().any(|c| c.p_alive.is_none()) || customers.is_empty() {
        return vec![];
    }
    let mut out: Vec<PAliveBand> = (0..10)
        .map(|i| PAliveBand {
            lower: f64::from(i) / 10.0,
            upper: f64::from(i + 1) / 10.0,
            customers: 0,
            clv: customers.iter().all(|c| c.clv.is_some()).then_some(0.0),
        })
        .collect();
    for c in customers {
        let p = c.p_alive.unwrap_or_default();
        let band = &mut out[((p * 10.0).floor() as usize).min(9)];
        band.customers += 1;
        if let (Some(total), Some(v)) = (band.clv.as_mut(), c.clv) {
            *total += v;
        }
    }
    out
}

/// The customers of an RFM segment: how many have a purchase day, their mean
/// P(alive) and their lifetime value (None where the model could not be fitted).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SegmentValue {
    pub segment: String,
    pub customers: u64,
    pub mean_p_alive: Option<f64>,
    pub clv: Option<f64>,
}

/// Lifetime value by RFM segment, in order of value (then name).
pub(super) fn by_segment(
    customers: &[ClvCustomer],
    rfm: &[crate::analytics::rfm::RfmCustomer],
) -> Vec<SegmentValue> {
    let segment: std::collections::HashMap<i64, &str> = rfm
        .iter()
        .map(|c| (c.customer_id, c.segment.as_str()))
        .collect();
    let mut groups: BTreeMap<&str, Vec<&ClvCustomer>> = BTreeMap::new();
    for c in customers {
        if let Some(s) = segment.get(&c.customer_id) {
            groups.entry(s).or_default().push(c);
        }
    }
    let mut out: Vec<SegmentValue> = groups
        .into_iter()
        .map(|(name, members)| {
            let n = members.len() as f64;
            let alive: Option<Vec<f64>> = members.iter().map(|c| c.p_alive).collect();
            let clv: Option<Vec<f64>> = members.iter().map(|c| c.clv).collect();
            SegmentValue {
                segment: name.to_string(),
                customers: members.len() as u64,
                mean_p_alive: alive.map(|v| v.iter().sum::<f64>() / n),
                clv: clv.map(|v| v.iter().sum()),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.clv
            .unwrap_or(0.0)
            .total_cmp(&a.clv.unwrap_or(0.0))
            .then(a.segment.cmp(&b.segment))
    });
    out
}

fn top(customers: &[ClvCustomer], n: usize) -> Vec<ClvCustomer> {
    let mut valued: Vec<&ClvCustomer> = customers.iter().filter(|c| c.clv.is_some()).collect();
    valued.sort_by(|a, b| {
        b.clv
            .unwrap_or_default()
            .total_cmp(&a.clv.unwrap_or_default())
            .then(a.customer_id.cmp(&b.customer_id))
    });
    valued.into_iter().take(n).cloned().collect()
}

/// A fitted parameter to four decimals, or in scientific notation when it ran off
/// towards zero or infinity.
fn param(v: f64) -> String {
    if v != 0.0 && !(1e-3..1e6).contains(&v.abs()) {
        format!("{v:.4e}")
    } else {
        format!("{v:.4}")
    }
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".to_string(), |v| group(v, decimals))
}

/// The model's figures and the top customers, as the terminal shows them.
pub(super) fn text(clv: &Clv) -> Vec<TextTable> {
    let s = &clv.clv;
    let mut rows = vec![
        vec!["observation end".into(), s.observation_end.clone()],
        vec!["customers".into(), group(s.customers as f64, 0)],
        vec![
            "repeat customers".into(),
            group(s.repeat_customers as f64, 0),
        ],
    ];
    if let Some(b) = &s.bgnbd {
        rows.push(vec![
            "BG/NBD r, alpha, a, b".into(),
            [b.r, b.alpha, b.a, b.b].map(param).join(", "),
        ]);
        rows.push(vec![
            "BG/NBD log-likelihood".into(),
            format!("{:.2}", b.loglik),
        ]);
    }
    if let Some(g) = &s.gamma_gamma {
        rows.push(vec![
            "Gamma-Gamma p, q, gamma".into(),
            [g.p, g.q, g.gamma].map(param).join(", "),
        ]);
    }
    rows.push(vec![
        format!("expected purchase days, next {} days", s.horizon_days),
        opt(s.expected_purchases_total, 1),
    ]);
    rows.push(vec![
        format!(
            "CLV, {} months at {}% a month (GBP)",
            s.months,
            s.discount_monthly * 100.0
        ),
        opt(s.clv_total, 2),
    ]);
    let model = TextTable {
        heading: "Lifetime value and churn (BG/NBD + Gamma-Gamma)".into(),
        header: vec!["figure".into(), "value".into()],
        rows,
        left: 1,
        note: s.notes.join("\n"),
    };
    let top = TextTable {
        heading: "Top customers by lifetime value".into(),
        header: [
            "customer",
            "repeat days",
            "P(alive)",
            "expected (90 d)",
            "value/purchase",
            "CLV",
        ]
        .map(String::from)
        .to_vec(),
        rows: s
            .top_customers
            .iter()
            .map(|c| {
                vec![
                    c.customer_id.to_string(),
                    c.x.to_string(),
                    opt(c.p_alive.map(|p| p * 100.0), 1) + "%",
                    opt(c.expected_purchases_90d, 2),
                    opt(c.expected_value, 2),
                    opt(c.clv, 2),
                ]
            })
            .collect(),
        left: 1,
        note: String::new(),
    };
    let segments = TextTable {
        heading: "Lifetime value by RFM segment".into(),
        header: ["segment", "customers", "mean P(alive)", "CLV (GBP)"]
            .map(String::from)
            .to_vec(),
        rows: s
            .by_segment
            .iter()
            .map(|b| {
                vec![
                    b.segment.clone(),
                    group(b.customers as f64, 0),
                    opt(b.mean_p_alive.map(|p| p * 100.0), 1) + "%",
                    opt(b.clv, 2),
                ]
            })
            .collect(),
        left: 1,
        note: String::new(),
    };
    vec![model, top, segments]
}

/// One row per customer, and the P(alive) bands.
pub(super) fn tables(clv: &Clv) -> Result<Vec<ResultTable>> {
    let c = &clv.clv_customers;
    let mut customers = TableBuilder::new()
        .i64("customer_id", c.iter().map(|c| Some(c.customer_id)))
        .i64("x", c.iter().map(|c| count(c.x)))
        .i64("t_x", c.iter().map(|c| Some(c.t_x)))
        .i64("t", c.iter().map(|c| Some(c.t)))
        .f64("m", c.iter().map(|c| Some(c.m)))
        .f64("p_alive", c.iter().map(|c| c.p_alive))
        .f64(
            "expected_purchases_90d",
            c.iter().map(|c| c.expected_purchases_90d),
        )
        .f64("expected_purchases", c.iter().map(|c| c.expected_purchases))
        .f64("expected_value", c.iter().map(|c| c.expected_value))
        .f64("clv", c.iter().map(|c| c.clv))
        .build("clv_customers", &["customer_id"])?;
    customers.detail = true;
    let b = &clv.clv.p_alive_bands;
    let bands = TableBuilder::new()
        .f64("lower", b.iter().map(|b| Some(b.lower)))
        .f64("upper", b.iter().map(|b| Some(b.upper)))
        .i64("customers", b.iter().map(|b| count(b.customers)))
        .f64("clv", b.iter().map(|b| b.clv))
        .build("clv_p_alive", &["lower"])?;
    let g = &clv.clv.by_segment;
    let segments = TableBuilder::new()
        .utf8("segment", g.iter().map(|g| &g.segment))
        .i64("customers", g.iter().map(|g| count(g.customers)))
        .f64("mean_p_alive", g.iter().map(|g| g.mean_p_alive))
        .f64("clv", g.iter().map(|g| g.clv))
        .build("clv_segments", &["segment"])?;
    Ok(vec![customers, bands, segments])
}
