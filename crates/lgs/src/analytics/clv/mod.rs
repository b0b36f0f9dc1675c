//! Customer lifetime value and churn: BG/NBD for who is still a customer and how
//! often they will buy, Gamma-Gamma for what a purchase is worth ([`lgs_models`]).
//!
//! A customer's purchase days are the calendar days on which the net amount of all
//! their lines (cancellations included) is positive, the day's value that amount.
//! With the observation end the last invoice day (the day before the as-of date):
//! x = purchase days − 1, t_x = days from the first to the last purchase day,
//! T = days from the first purchase day to the end, m = the mean value of the
//! repeat purchase days (0 when x = 0): `lifetimes.utils.
//! summary_data_from_transaction_data` with daily periods on those day totals.
//!
//! The summaries are SQL over the pass over the lines; the fits run in Rust on the
//! distinct summaries with their counts.

mod charts;
mod predict;
mod validation;

use async_trait::async_trait;
use chrono::{NaiveDate, TimeDelta};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use serde::Serialize;

use super::rfm::RFM_VALUES_TABLE;
use super::{Analysis, INVOICE_LINES, Intermediate, PassColumn, Section, Shared, compute, query};
use crate::error::{LgsError, Result};

pub use predict::{ClvCustomer, PAliveBand, SegmentValue};
pub use validation::{ClvValidation, ClvValidationAnalysis, Validation};

/// What the predictions look ahead to, and how value is discounted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClvOptions {
    /// Days ahead for the expected purchases (`--horizon`, default 90).
    pub horizon_days: f64,
    /// Months of lifetime value (`--horizon-months`, default 12; a month is 30 days).
    pub months: u32,
    /// Discount rate per month (`--discount`, default 0.01).
    pub discount: f64,
}

impl Default for ClvOptions {
    fn default() -> Self {
        ClvOptions {
            horizon_days: 90.0,
            months: 12,
            discount: 0.01,
        }
    }
}

impl ClvOptions {
    /// Refuses a horizon or discount that makes no sense.
    pub fn validate(&self) -> Result<()> {
        let bad = |message: String| {
            Err(LgsError::InvalidArgument {
                what: "CLV option",
                message,
            })
        };
        if !(self.horizon_days.is_finite() && self.horizon_days > 0.0) {
            return bad(format!(
                "--horizon {} must be a positive number of days",
                self.horizon_days
            ));
        }
        if self.months == 0 || self.months > 1200 {
            return bad(format!(
                "--horizon-months {} must be 1 to 1200",
                self.months
            ));
        }
        if !(self.discount.is_finite() && (0.0..1.0).contains(&self.discount)) {
            return bad(format!(
                "--discount {} must be a monthly rate from 0 to 1 (0.01 is 1 %)",
                self.discount
            ));
        }
        Ok(())
    }
}

/// The CLV analysis.
#[derive(Debug, Clone, Default)]
pub struct ClvAnalysis {
    pub options: ClvOptions,
}

#[async_trait]
impl Analysis for ClvAnalysis {
    fn name(&self) -> &'static str {
        "clv"
    }

    /// Neither the month nor the eligible amount.
    fn pass_columns(&self) -> &'static [PassColumn] {
        &[]
    }

    fn needs(&self) -> &'static [&'static Intermediate] {
        &[&RFM_VALUES_TABLE]
    }

    async fn run(&self, ctx: &SessionContext, shared: &Shared) -> Result<Section> {
        self.options.validate()?;
        let as_of = shared.as_of(ctx).await?;
        let end = as_of - TimeDelta::days(1);
        let summaries = summaries(ctx, end).await?;
        let options = self.options;
        let mut clv = compute("CLV fits", move || {
            predict::predict(&summaries, end, &options)
        })
        .await?;
        let segments = shared.rfm(ctx).await?;
        clv.clv.by_segment = predict::by_segment(&clv.clv_customers, &segments.rfm_customers);
        let mut section = Section::new(self.name(), "Lifetime value and churn", clv.clone());
        section.text = predict::text(&clv);
        section.tables = predict::tables(&clv)?;
        section.chart_rank = 40;
        section.charts = charts::charts(&clv);
        Ok(section)
    }
}

/// One customer's purchase history in days, and the mean value of their repeat
/// purchase days.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub customer_id: i64,
    pub x: f64,
    pub t_x: f64,
    pub t: f64,
    pub m: f64,
}

/// The summaries of every customer with a purchase day up to `end`.
pub async fn summaries(ctx: &SessionContext, end: NaiveDate) -> Result<Vec<Summary>> {
    let rows = query(
        ctx,
        "CLV summaries",
        &summary_sql(),
        vec![ScalarValue::Int64(Some(day_number(end)))],
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    rows.for_each(|r| {
        out.push(Summary {
            customer_id: r.i64("customer_id")?.unwrap_or_default(),
            x: r.i64("x")?.unwrap_or_default() as f64,
            t_x: r.i64("t_x")?.unwrap_or_default() as f64,
            t: r.i64("t")?.unwrap_or_default() as f64,
            m: r.f64("m")?.unwrap_or_default(),
        });
        Ok(())
    })?;
    Ok(out)
}

/// Days since 1970-01-01, as the SQL compares days.
pub(crate) fn day_number(date: NaiveDate) -> i64 {
    (date - NaiveDate::default()).num_days()
}

/// Per customer x, t_x, T and m from the pass over the lines; `$1` is the
/// observation end in days since 1970-01-01. Days are summed exactly (decimal) and
/// only the mean is a double.
fn summary_sql() -> String {
    format!(
        "WITH days AS ( \
           SELECT customer_id, day, sum(amount) AS value \
           FROM {INVOICE_LINES} \
           WHERE customer_id IS NOT NULL AND day <= $1 \
           GROUP BY customer_id, day), \
         bought AS (SELECT customer_id, day, value FROM days WHERE value > 0) \
         SELECT customer_id, count(*) - 1 AS x, max(day) - min(day) AS t_x, \
           $1 - min(day) AS t, \
           CASE WHEN count(*) > 1 THEN \
             CAST(sum(value) - first_value(value ORDER BY day) AS DOUBLE) \
               / CAST(count(*) - 1 AS DOUBLE) \
           ELSE 0.0 END AS m \
         FROM bought GROUP BY customer_id ORDER BY customer_id"
    )
}

/// The CLV section: the fits and totals in the JSON document, one row per
/// customer in the outputs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Clv {
    pub clv: ClvSummary,
    #[serde(skip)]
    pub clv_customers: Vec<ClvCustomer>,
}

/// The fitted BG/NBD parameters and how the fit ended.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BgNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    pub loglik: f64,
    pub converged: bool,
    pub iterations: u64,
    pub warnings: Vec<String>,
}

/// The fitted Gamma-Gamma parameters and how the fit ended.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GammaGammaParams {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
    pub loglik: f64,
    /// Customers it was fitted on (x > 0 and m > 0).
    pub customers: u64,
    pub converged: bool,
    pub iterations: u64,
    pub warnings: Vec<String>,
}

/// The CLV section's figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClvSummary {
    /// The last day of observation (the day before the as-of date).
    pub observation_end: String,
    /// Customers with at least one purchase day.
    pub customers: u64,
    /// Of those, customers with a repeat purchase day (x > 0).
    pub repeat_customers: u64,
    /// None when the model cannot be fitted (see `notes`).
    pub bgnbd: Option<BgNbdParams>,
    pub gamma_gamma: Option<GammaGammaParams>,
    pub horizon_days: f64,
    pub months: u32,
    pub discount_monthly: f64,
    pub expected_purchases_90d_total: Option<f64>,
    /// Expected purchase days of all customers in the next `horizon_days`.
    pub expected_purchases_total: Option<f64>,
    pub clv_total: Option<f64>,
    /// Customers per band of P(alive) (tenths), with their lifetime value.
    pub p_alive_bands: Vec<PAliveBand>,
    /// The ten customers of highest lifetime value.
    pub top_customers: Vec<ClvCustomer>,
    /// Lifetime value by RFM segment (same as-of).
    pub by_segment: Vec<SegmentValue>,
    /// What limits the results: a model that cannot be fitted, a fit's warnings.
    pub notes: Vec<String>,
}
