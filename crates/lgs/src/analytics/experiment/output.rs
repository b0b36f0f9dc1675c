//! The experiment's statistics per group and per comparison, and how they read
//! in a terminal and as result tables.

use std::collections::BTreeMap;

use lgs_models::experiment::{
    Difference, bootstrap_difference, cuped, sample_ratio, two_proportions, welch,
};
use serde::Serialize;

use super::{ExperimentOptions, Outcome, bad};
use crate::analytics::section::count;
use crate::analytics::{ResultTable, TableBuilder, TextTable};
use crate::error::{LgsError, Result};
use crate::format::group;

/// One group over its customers' windows.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GroupRow {
    pub group: String,
    pub customers: u64,
    pub converted: u64,
    pub conversion: f64,
    pub orders_per_customer: f64,
    pub revenue_per_customer: f64,
    pub pre_revenue_per_customer: f64,
}

/// A difference with its interval and p-value.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Test {
    pub difference: f64,
    pub low: f64,
    pub high: f64,
    pub p_value: f64,
}

impl From<Difference> for Test {
    fn from(d: Difference) -> Self {
        Test {
            difference: d.estimate,
            low: d.low,
            high: d.high,
            p_value: d.p_value,
        }
    }
}

/// A treatment against the control.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Comparison {
    pub treatment: String,
    pub control: String,
    /// Two-proportion z-test.
    pub conversion: Test,
    /// Welch's t-test on revenue per customer.
    pub revenue: Test,
    /// Percentile bootstrap interval of the revenue difference.
    pub revenue_bootstrap_low: f64,
    pub revenue_bootstrap_high: f64,
    /// Welch's test on revenue adjusted by pre-period revenue (CUPED).
    pub revenue_cuped: Test,
    pub cuped_theta: f64,
    /// Share of the revenue variance CUPED removed.
    pub cuped_variance_reduction: f64,
}

/// The sample-ratio-mismatch check.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SampleRatio {
    /// Intended share per group.
    pub expected: BTreeMap<String, f64>,
    pub chi_square: f64,
    pub p_value: f64,
    /// p < 0.001: the assignment did not work as intended; distrust the results.
    pub mismatch: bool,
}

/// The experiment section.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Experiment {
    pub window_days: i64,
    pub pre_window_days: i64,
    pub confidence: f64,
    pub control: String,
    pub groups: Vec<GroupRow>,
    pub sample_ratio: SampleRatio,
    pub comparisons: Vec<Comparison>,
}

/// The section's JSON key.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExperimentResult {
    pub experiment: Experiment,
}

/// The groups, the sample-ratio check and every treatment against the control.
pub(super) fn analyse(outcomes: &[Outcome], o: &ExperimentOptions) -> Result<ExperimentResult> {
    let mut by_group: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
    for x in outcomes {
        by_group.entry(x.group.as_str()).or_default().push(x);
    }
    if by_group.len() < 2 {
        return Err(bad(format!(
            "an experiment needs at least two groups; the assignments have {}",
            by_group.len()
        )));
    }
    let control = match &o.control {
        Some(c) => c.clone(),
        None => by_group
            .keys()
            .find(|g| g.eq_ignore_ascii_case("control"))
            .map(|g| g.to_string())
            .ok_or_else(|| {
                bad("no group is named control: say which one is with --control".into())
            })?,
    };
    let names: Vec<String> = by_group.keys().map(|g| g.to_string()).collect();
    if !by_group.contains_key(control.as_str()) {
        return Err(bad(format!(
            "--control {control} is not a group; the groups are {}",
            names.join(", ")
        )));
    }
    let expected = expected_shares(&names, o)?;
    let sizes: Vec<u64> = by_group.values().map(|v| v.len() as u64).collect();
    let shares: Vec<f64> = names.iter().map(|g| expected[g]).collect();
    let (chi_square, p_value) =
        sample_ratio(&sizes, &shares).map_err(LgsError::model("experiment"))?;
    let groups = by_group.iter().map(|(g, v)| group_row(g, v)).collect();
    let c = &by_group[control.as_str()];
    let mut comparisons = Vec::new();
    for (name, t) in by_group.iter().filter(|(g, _)| **g != control) {
        comparisons.push(compare(name, t, &control, c, o)?);
    }
    Ok(ExperimentResult {
        experiment: Experiment {
            window_days: o.window_days,
            pre_window_days: o.pre_window_days,
            confidence: 1.0 - o.alpha,
            control,
            groups,
            sample_ratio: SampleRatio {
                expected,
                chi_square,
                p_value,
                mismatch: p_value < 0.001,
            },
            comparisons,
        },
    })
}

/// The intended shares: `--split` (every group named, nothing else), or equal.
fn expected_shares(names: &[String], o: &ExperimentOptions) -> Result<BTreeMap<String, f64>> {
    let Some(split) = &o.split else {
        return Ok(names
            .iter()
            .map(|g| (g.clone(), 1.0 / names.len() as f64))
            .collect());
    };
    let unknown: Vec<&str> = names
        .iter()
        .filter(|g| !split.iter().any(|(s, _)| s == *g))
        .map(|g| g.as_str())
        .collect();
    if !unknown.is_empty() {
        return Err(bad(format!(
            "the assignments have group(s) {} that --split does not name",
            unknown.join(", ")
        )));
    }
    let total: f64 = split.iter().map(|(_, s)| s).sum();
    Ok(split
        .iter()
        .filter(|(g, _)| names.contains(g))
        .map(|(g, s)| (g.clone(), s / total))
        .collect())
}

fn group_row(name: &str, v: &[&Outcome]) -> GroupRow {
    let n = v.len() as f64;
    let converted = v.iter().filter(|x| x.converted).count() as u64;
    GroupRow {
        group: name.to_string(),
        customers: v.len() as u64,
        converted,
        conversion: converted as f64 / n,
        orders_per_customer: v.iter().map(|x| x.orders as f64).sum::<f64>() / n,
        revenue_per_customer: v.iter().map(|x| x.revenue).sum::<f64>() / n,
        pre_revenue_per_customer: v.iter().map(|x| x.pre_revenue).sum::<f64>() / n,
    }
}

fn compare(
    name: &str,
    t: &[&Outcome],
    control: &str,
    c: &[&Outcome],
    o: &ExperimentOptions,
) -> Result<Comparison> {
    let converted = |v: &[&Outcome]| v.iter().filter(|x| x.converted).count() as u64;
    let conversion = two_proportions(
        converted(t),
        t.len() as u64,
        converted(c),
        c.len() as u64,
        o.alpha,
    )
    .map_err(LgsError::model("experiment"))?;
    let revenue = |v: &[&Outcome]| -> Vec<f64> { v.iter().map(|x| x.revenue).collect() };
    let (rt, rc) = (revenue(t), revenue(c));
    let welch = welch(&rt, &rc, o.alpha).map_err(LgsError::model("experiment"))?;
    let (low, high) = bootstrap_difference(&rt, &rc, o.bootstrap_resamples, o.alpha, o.seed)
        .map_err(LgsError::model("experiment"))?;
    let pairs = |v: &[&Outcome]| -> Vec<(f64, f64)> {
        v.iter().map(|x| (x.revenue, x.pre_revenue)).collect()
    };
    let cuped = cuped(&pairs(t), &pairs(c), o.alpha).map_err(LgsError::model("experiment"))?;
    Ok(Comparison {
        treatment: name.to_string(),
        control: control.to_string(),
        conversion: conversion.into(),
        revenue: welch.into(),
        revenue_bootstrap_low: low,
        revenue_bootstrap_high: high,
        revenue_cuped: cuped.difference.into(),
        cuped_theta: cuped.theta,
        cuped_variance_reduction: cuped.variance_reduction,
    })
}

fn interval(t: &Test, scale: f64, decimals: usize) -> String {
    format!(
        "{} [{}, {}]",
        group(t.difference * scale, decimals),
        group(t.low * scale, decimals),
        group(t.high * scale, decimals)
    )
}

/// The groups and the comparisons, as the terminal shows them.
pub(super) fn text(e: &Experiment) -> Vec<TextTable> {
    let groups = TextTable {
        heading: format!(
            "Experiment: {} days after each customer's start (pre-period {} days)",
            e.window_days, e.pre_window_days
        ),
        header: [
            "group",
            "customers",
            "converted",
            "conversion",
            "orders/customer",
            "revenue/customer (GBP)",
            "pre-period revenue/customer",
        ]
        .map(String::from)
        .to_vec(),
        rows: e
            .groups
            .iter()
            .map(|g| {
                vec![
                    g.group.clone(),
                    group(g.customers as f64, 0),
                    group(g.converted as f64, 0),
                    format!("{}%", group(g.conversion * 100.0, 2)),
                    group(g.orders_per_customer, 3),
                    group(g.revenue_per_customer, 2),
                    group(g.pre_revenue_per_customer, 2),
                ]
            })
            .collect(),
        left: 1,
        note: format!(
            "sample ratio: chi-square {:.3}, p = {:.4}{}",
            e.sample_ratio.chi_square,
            e.sample_ratio.p_value,
            if e.sample_ratio.mismatch {
                ": MISMATCH, the groups are not the intended split; distrust the results"
            } else {
                ""
            }
        ),
    };
    let confidence = format!("{:.0}%", e.confidence * 100.0);
    let comparisons = TextTable {
        heading: format!("Against {} ({confidence} intervals)", e.control),
        header: [
            "treatment",
            "conversion (points)",
            "p",
            "revenue/customer",
            "p",
            "bootstrap",
            "CUPED",
            "p",
            "variance cut",
        ]
        .map(String::from)
        .to_vec(),
        rows: e
            .comparisons
            .iter()
            .map(|c| {
                vec![
                    c.treatment.clone(),
                    interval(&c.conversion, 100.0, 2),
                    format!("{:.4}", c.conversion.p_value),
                    interval(&c.revenue, 1.0, 2),
                    format!("{:.4}", c.revenue.p_value),
                    format!(
                        "[{}, {}]",
                        group(c.revenue_bootstrap_low, 2),
                        group(c.revenue_bootstrap_high, 2)
                    ),
                    interval(&c.revenue_cuped, 1.0, 2),
                    format!("{:.4}", c.revenue_cuped.p_value),
                    format!("{}%", group(c.cuped_variance_reduction * 100.0, 1)),
                ]
            })
            .collect(),
        left: 1,
        note: String::new(),
    };
    vec![groups, comparisons]
}

/// The groups, the comparisons, and one row per assigned customer.
pub(super) fn tables(r: &ExperimentResult, outcomes: &[Outcome]) -> Result<Vec<ResultTable>> {
    let g = &r.experiment.groups;
    let groups = TableBuilder::new()
        .utf8("group", g.iter().map(|g| &g.group))
        .i64("customers", g.iter().map(|g| count(g.customers)))
        .i64("converted", g.iter().map(|g| count(g.converted)))
        .f64("conversion", g.iter().map(|g| Some(g.conversion)))
        .f64(
            "orders_per_customer",
            g.iter().map(|g| Some(g.orders_per_customer)),
        )
        .f64(
            "revenue_per_customer",
            g.iter().map(|g| Some(g.revenue_per_customer)),
        )
        .f64(
            "pre_revenue_per_customer",
            g.iter().map(|g| Some(g.pre_revenue_per_customer)),
        )
        .build("experiment_groups", &["group"])?;
    let c = &r.experiment.comparisons;
    let f = |get: fn(&Comparison) -> f64| c.iter().map(move |c| Some(get(c)));
    let comparisons = TableBuilder::new()
        .utf8("treatment", c.iter().map(|c| &c.treatment))
        .utf8("control", c.iter().map(|c| &c.control))
        .f64("conversion_difference", f(|c| c.conversion.difference))
        .f64("conversion_low", f(|c| c.conversion.low))
        .f64("conversion_high", f(|c| c.conversion.high))
        .f64("conversion_p", f(|c| c.conversion.p_value))
        .f64("revenue_difference", f(|c| c.revenue.difference))
        .f64("revenue_low", f(|c| c.revenue.low))
        .f64("revenue_high", f(|c| c.revenue.high))
        .f64("revenue_p", f(|c| c.revenue.p_value))
        .f64("revenue_bootstrap_low", f(|c| c.revenue_bootstrap_low))
        .f64("revenue_bootstrap_high", f(|c| c.revenue_bootstrap_high))
        .f64("cuped_difference", f(|c| c.revenue_cuped.difference))
        .f64("cuped_p", f(|c| c.revenue_cuped.p_value))
        .f64(
            "cuped_variance_reduction",
            f(|c| c.cuped_variance_reduction),
        )
        .build("experiment_comparisons", &["treatment"])?;
    let mut customers = TableBuilder::new()
        .i64("customer_id", outcomes.iter().map(|o| Some(o.customer_id)))
        .utf8("group", outcomes.iter().map(|o| &o.group))
        .boolean("converted", outcomes.iter().map(|o| Some(o.converted)))
        .i64("orders", outcomes.iter().map(|o| count(o.orders)))
        .f64("revenue", outcomes.iter().map(|o| Some(o.revenue)))
        .f64("pre_revenue", outcomes.iter().map(|o| Some(o.pre_revenue)))
        .build("experiment_customers", &["customer_id"])?;
    customers.detail = true;
    Ok(vec![groups, comparisons, customers])
}
