//! Is the model any good here? Fit on the purchase days up to a calibration end,
//! predict each customer's repeat purchase days in the holdout after it, and
//! compare with what they did, beside a naive baseline (each customer's past rate).

use async_trait::async_trait;
use chrono::{NaiveDate, TimeDelta};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use lgs_models::BgNbd;
use serde::Serialize;

use super::{Summary, day_number, summaries};
use crate::analytics::section::count;
use crate::analytics::{
    Analysis, INVOICE_LINES, PassColumn, ResultTable, Section, Shared, TableBuilder, TextTable,
    query,
};
use crate::charts::svg::{BLUE, GREY, RED};
use crate::charts::{BarLine, Chart, DataTable, Series, bar_line};
use crate::error::{LgsError, Result};
use crate::format::group;

/// The validation analysis (`lgs clv --calibration-end DATE`).
#[derive(Debug, Clone)]
pub struct ClvValidationAnalysis {
    pub calibration_end: NaiveDate,
}

/// Error of a prediction per customer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Errors {
    pub total: f64,
    pub mae: f64,
    pub rmse: f64,
}

/// Customers by repeat purchase days in the calibration period (the last row is
/// "this many or more"), with the mean actual, predicted and baseline holdout days.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ByFrequency {
    pub x: u64,
    pub or_more: bool,
    pub customers: u64,
    pub actual: f64,
    pub predicted: f64,
    pub baseline: f64,
}

/// The validation's figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClvValidation {
    pub calibration_end: String,
    pub holdout_end: String,
    pub holdout_days: i64,
    /// Customers with a purchase day in the calibration period.
    pub customers: u64,
    pub bgnbd: BgNbdFitted,
    pub actual_total: f64,
    pub model: Errors,
    /// Each customer's past rate, x / T per day (0 when T = 0), times the holdout.
    pub baseline: Errors,
    pub by_frequency: Vec<ByFrequency>,
}

/// The calibration fit.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BgNbdFitted {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    pub converged: bool,
    pub warnings: Vec<String>,
}

/// The section's JSON key.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Validation {
    pub clv_validation: ClvValidation,
}

/// The last x of [`ByFrequency`]: customers with this many or more.
const MAX_X: u64 = 7;

#[async_trait]
impl Analysis for ClvValidationAnalysis {
    fn name(&self) -> &'static str {
        "clv_validation"
    }

    /// Neither the month nor the eligible amount.
    fn pass_columns(&self) -> &'static [PassColumn] {
        &[]
    }

    async fn run(&self, ctx: &SessionContext, shared: &Shared) -> Result<Section> {
        let end = shared.as_of(ctx).await? - TimeDelta::days(1);
        let cal = self.calibration_end;
        if cal >= end {
            return Err(LgsError::InvalidArgument {
                what: "--calibration-end",
                message: format!(
                    "{cal} leaves no holdout: the data end on {end}; choose an earlier date"
                ),
            });
        }
        let calibration = summaries(ctx, cal).await?;
        if !calibration.iter().any(|s| s.x > 0.0) {
            return Err(LgsError::InvalidArgument {
                what: "--calibration-end",
                message: format!(
                    "no customer bought on two different days by {cal}: nothing to fit; \
                     choose a later date"
                ),
            });
        }
        let actual = holdout_days(ctx, cal, end).await?;
        let v = validate(&calibration, &actual, cal, end)?;
        let mut section = Section::new(self.name(), "Lifetime value: holdout check", v.clone());
        section.text = vec![text(&v.clv_validation)];
        section.tables = vec![table(&v.clv_validation)?];
        section.chart_rank = 41;
        section.charts = vec![chart(&v.clv_validation)];
        Ok(section)
    }
}

/// Purchase days per customer in (calibration end, end], sorted by customer.
async fn holdout_days(
    ctx: &SessionContext,
    cal: NaiveDate,
    end: NaiveDate,
) -> Result<Vec<(i64, u64)>> {
    let sql = format!(
        "WITH days AS ( \
           SELECT customer_id, sum(amount) AS value FROM {INVOICE_LINES} \
           WHERE customer_id IS NOT NULL \
             AND day > $1 AND day <= $2 \
           GROUP BY customer_id, day) \
         SELECT customer_id, count(*) AS days FROM days WHERE value > 0 \
         GROUP BY customer_id ORDER BY customer_id"
    );
    let params = vec![
        ScalarValue::Int64(Some(day_number(cal))),
        ScalarValue::Int64(Some(day_number(end))),
    ];
    let rows = query(ctx, "CLV holdout", &sql, params).await?;
    let mut out = Vec::with_capacity(rows.len());
    rows.for_each(|r| {
        out.push((r.i64("customer_id")?.unwrap_or_default(), r.u64("days")?));
        Ok(())
    })?;
    Ok(out)
}

/// Fits on `calibration` and compares predictions with `actual` (sorted by customer).
fn validate(
    calibration: &[Summary],
    actual: &[(i64, u64)],
    cal: NaiveDate,
    end: NaiveDate,
) -> Result<Validation> {
    let histories = super::predict::histories(calibration);
    let fit = BgNbd::fit(&histories).map_err(LgsError::model("clv_validation"))?;
    let holdout = (end - cal).num_days() as f64;
    let mut rows = Vec::with_capacity(calibration.len());
    for s in calibration {
        let done = actual
            .binary_search_by_key(&s.customer_id, |a| a.0)
            .map_or(0, |i| actual[i].1) as f64;
        let predicted = fit
            .params
            .expected_purchases(holdout, s.x, s.t_x, s.t)
            .map_err(LgsError::model("clv_validation"))?;
        let baseline = if s.t > 0.0 { s.x / s.t * holdout } else { 0.0 };
        rows.push((s.x as u64, done, predicted, baseline));
    }
    let errors = |pick: fn(&(u64, f64, f64, f64)) -> f64| {
        let n = rows.len().max(1) as f64;
        Errors {
            total: rows.iter().map(pick).sum(),
            mae: rows.iter().map(|r| (pick(r) - r.1).abs()).sum::<f64>() / n,
            rmse: (rows.iter().map(|r| (pick(r) - r.1).powi(2)).sum::<f64>() / n).sqrt(),
        }
    };
    let mut by_frequency = Vec::new();
    for x in 0..=MAX_X {
        let group: Vec<_> = rows
            .iter()
            .filter(|r| r.0 == x || (x == MAX_X && r.0 > x))
            .collect();
        if group.is_empty() {
            continue;
        }
        let mean = |pick: fn(&(u64, f64, f64, f64)) -> f64| {
            group.iter().map(|r| pick(r)).sum::<f64>() / group.len() as f64
        };
        by_frequency.push(ByFrequency {
            x,
            or_more: x == MAX_X,
            customers: group.len() as u64,
            actual: mean(|r| r.1),
            predicted: mean(|r| r.2),
            baseline: mean(|r| r.3),
        });
    }
    let p = fit.params;
    Ok(Validation {
        clv_validation: ClvValidation {
            calibration_end: cal.format("%Y-%m-%d").to_string(),
            holdout_end: end.format("%Y-%m-%d").to_string(),
            holdout_days: holdout as i64,
            customers: calibration.len() as u64,
            bgnbd: BgNbdFitted {
                r: p.r,
                alpha: p.alpha,
                a: p.a,
                b: p.b,
                converged: fit.convergence.converged,
                warnings: fit.convergence.warnings.clone(),
            },
            actual_total: rows.iter().map(|r| r.1).sum(),
            model: errors(|r| r.2),
            baseline: errors(|r| r.3),
            by_frequency,
        },
    })
}

fn text(v: &ClvValidation) -> TextTable {
    let row = |what: &str, e: &Errors| {
        vec![
            what.to_string(),
            group(e.total, 1),
            group(e.mae, 3),
            group(e.rmse, 3),
        ]
    };
    TextTable {
        heading: format!(
            "Holdout check: fitted to {}, predicted {} days to {} ({} customers)",
            v.calibration_end,
            v.holdout_days,
            v.holdout_end,
            group(v.customers as f64, 0)
        ),
        header: ["", "purchase days", "MAE", "RMSE"]
            .map(String::from)
            .to_vec(),
        rows: vec![
            vec![
                "actual".into(),
                group(v.actual_total, 0),
                String::new(),
                String::new(),
            ],
            row("BG/NBD", &v.model),
            row("past rate (baseline)", &v.baseline),
        ],
        left: 1,
        note: v.bgnbd.warnings.join("\n"),
    }
}

fn label(b: &ByFrequency) -> String {
    if b.or_more {
        format!("{}+", b.x)
    } else {
        b.x.to_string()
    }
}

fn table(v: &ClvValidation) -> Result<ResultTable> {
    let b = &v.by_frequency;
    TableBuilder::new()
        .utf8("calibration_repeat_days", b.iter().map(label))
        .i64("customers", b.iter().map(|b| count(b.customers)))
        .f64("actual", b.iter().map(|b| Some(b.actual)))
        .f64("predicted", b.iter().map(|b| Some(b.predicted)))
        .f64("baseline", b.iter().map(|b| Some(b.baseline)))
        .build("clv_holdout", &["calibration_repeat_days"])
}

/// Mean holdout purchase days by calibration repeat days: actual, BG/NBD and the
/// baseline (as `lifetimes`' plot_calibration_purchases_vs_holdout_purchases).
fn chart(v: &ClvValidation) -> Chart {
    let id = "clv-holdout";
    let title = "Holdout: predicted and actual purchase days";
    let subtitle = format!(
        "Mean purchase days {} to {} by repeat purchase days up to {}",
        v.calibration_end, v.holdout_end, v.calibration_end
    );
    let b = &v.by_frequency;
    let categories: Vec<String> = b.iter().map(label).collect();
    let series = |name: &str, pick: fn(&ByFrequency) -> f64, color| Series {
        name: name.into(),
        values: b.iter().map(|b| Some(pick(b))).collect(),
        color,
    };
    let svg = bar_line(&BarLine {
        id,
        title,
        subtitle: Some(&subtitle),
        categories: categories.clone(),
        x_label: "Repeat purchase days in the calibration period",
        bars: vec![
            series("Actual", |b| b.actual, BLUE),
            series("BG/NBD", |b| b.predicted, RED),
            series("Past rate (baseline)", |b| b.baseline, GREY),
        ],
        stacked: false,
        left_label: "Mean purchase days in the holdout",
        line: None,
        right_label: "",
        right_percent: false,
    });
    let table = DataTable {
        header: ["repeat days", "customers", "actual", "BG/NBD", "baseline"]
            .map(String::from)
            .to_vec(),
        rows: b
            .iter()
            .zip(categories)
            .map(|(b, label)| {
                vec![
                    label,
                    group(b.customers as f64, 0),
                    group(b.actual, 3),
                    group(b.predicted, 3),
                    group(b.baseline, 3),
                ]
            })
            .collect(),
    };
    Chart {
        id: id.into(),
        title: title.into(),
        svg,
        table,
    }
}
