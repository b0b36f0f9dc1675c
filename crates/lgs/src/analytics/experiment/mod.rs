//! Campaign experiments: did a targeted campaign work? Customers are assigned to
//! groups (`customer_id, group`, optionally `assigned_at`); over the window after
//! each customer's start, each group's conversion (any purchase day: a day whose
//! lines net to more than zero), orders (non-cancellation invoices) and net revenue
//! per customer are compared, treatment against control, with the tests of
//! [`lgs_models::experiment`].
//!
//! The lines are reduced by SQL to one row per (customer, day) inside the span the
//! windows cover; each assigned customer's windows are summed from those in Rust.

mod output;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use async_trait::async_trait;
use chrono::{NaiveDate, TimeDelta};
use datafusion::prelude::{CsvReadOptions, SessionContext};
use datafusion::scalar::ScalarValue;

use super::clv::day_number;
use super::{Analysis, INVOICE_LINES, PassColumn, Section, Shared, query};
use crate::error::{LgsError, QueryContext, Result};

pub use output::{Comparison, Experiment, ExperimentResult, GroupRow, SampleRatio};

/// Where the assignments come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Assignments {
    /// A CSV file with a header (read on this machine).
    File(PathBuf),
    /// A table of the warehouse.
    Table(String),
}

/// What `lgs experiment` was asked.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentOptions {
    pub assignments: Assignments,
    /// The window's first day for customers without `assigned_at`.
    pub start: Option<NaiveDate>,
    pub window_days: i64,
    pub pre_window_days: i64,
    /// The control group's name (default: the group named `control`).
    pub control: Option<String>,
    /// The intended split: group → share (default: equal shares).
    pub split: Option<Vec<(String, f64)>>,
    /// Confidence level 1 − alpha of the intervals.
    pub alpha: f64,
    pub bootstrap_resamples: usize,
    pub seed: u64,
}

impl Default for ExperimentOptions {
    fn default() -> Self {
        ExperimentOptions {
            assignments: Assignments::Table("assignments".into()),
            start: None,
            window_days: 30,
            pre_window_days: 90,
            control: None,
            split: None,
            alpha: 0.05,
            bootstrap_resamples: 2000,
            seed: 42,
        }
    }
}

/// The experiment analysis.
#[derive(Debug, Clone)]
pub struct ExperimentAnalysis {
    pub options: ExperimentOptions,
}

/// One assigned customer: group and the window's first day.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Assigned {
    pub customer_id: i64,
    pub group: String,
    pub start: NaiveDate,
}

/// One assigned customer's outcomes.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub customer_id: i64,
    pub group: String,
    pub converted: bool,
    pub orders: u64,
    pub revenue: f64,
    pub pre_revenue: f64,
}

fn bad(message: String) -> LgsError {
    LgsError::InvalidArgument {
        what: "experiment",
        message,
    }
}

#[async_trait]
impl Analysis for ExperimentAnalysis {
    fn name(&self) -> &'static str {
        "experiment"
    }

    /// Neither the month nor the eligible amount.
    fn pass_columns(&self) -> &'static [PassColumn] {
        &[]
    }

    async fn run(&self, ctx: &SessionContext, _shared: &Shared) -> Result<Section> {
        let o = &self.options;
        if o.window_days < 1 || o.pre_window_days < 0 {
            return Err(bad(format!(
                "--window must be at least 1 day and --pre-window at least 0 (got {} and {})",
                o.window_days, o.pre_window_days
            )));
        }
        let assigned = read_assignments(ctx, o).await?;
        check_customers(ctx, &assigned).await?;
        let outcomes = outcomes(ctx, &assigned, o).await?;
        let result = output::analyse(&outcomes, o)?;
        let mut section = Section::new(self.name(), "Campaign experiment", result.clone());
        section.text = output::text(&result.experiment);
        section.tables = output::tables(&result, &outcomes)?;
        Ok(section)
    }
}

/// The assignments, checked: the columns are there, no customer twice, a start
/// for everyone, at least two groups.
async fn read_assignments(ctx: &SessionContext, o: &ExperimentOptions) -> Result<Vec<Assigned>> {
    let (source, relation, local) = match &o.assignments {
        Assignments::File(path) => {
            // Read here whatever engine runs the rest: the file is on this machine.
            let local = SessionContext::new();
            let shown = path.display().to_string();
            if !path.is_file() {
                return Err(LgsError::InputNotFound { path: shown });
            }
            local
                .register_csv("lgs_assignments", &shown, CsvReadOptions::new())
                .await
                .context(&shown)?;
            (shown, "lgs_assignments".to_string(), Some(local))
        }
        Assignments::Table(name) => (format!("table {name}"), name.clone(), None),
    };
    let reader = local.as_ref().unwrap_or(ctx);
    let schema = reader
        .table(relation.as_str())
        .await
        .context(&source)?
        .schema()
        .clone();
    let has = |c: &str| schema.fields().iter().any(|f| f.name() == c);
    if !has("customer_id") || !has("group") {
        let found: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        return Err(bad(format!(
            "{source} needs columns customer_id and group (optionally assigned_at); it has {}",
            found.join(", ")
        )));
    }
    let assigned_at = if has("assigned_at") {
        "CAST(CAST(CAST(assigned_at AS DATE) AS INT) AS BIGINT)"
    } else {
        "CAST(NULL AS BIGINT)"
    };
    let sql = format!(
        "SELECT CAST(customer_id AS BIGINT) AS customer_id, CAST(\"group\" AS VARCHAR) AS grp, \
           {assigned_at} AS start FROM {relation} ORDER BY customer_id"
    );
    let rows = query(reader, "experiment assignments", &sql, vec![]).await?;
    let mut out: Vec<Assigned> = Vec::with_capacity(rows.len());
    let mut line = 0usize;
    rows.for_each(|r| {
        line += 1;
        let Some(customer_id) = r.i64("customer_id")? else {
            return Err(bad(format!(
                "{source}: assignment {line} has no customer_id"
            )));
        };
        let group = r.string("grp")?.unwrap_or_default().trim().to_string();
        if group.is_empty() {
            return Err(bad(format!(
                "{source}: customer {customer_id} has no group"
            )));
        }
        let start = match (r.i64("start")?, o.start) {
            (Some(days), _) => NaiveDate::default() + TimeDelta::days(days),
            (None, Some(start)) => start,
            (None, None) => {
                return Err(bad(format!(
                    "customer {customer_id} has no assigned_at and no --start was given"
                )));
            }
        };
        out.push(Assigned {
            customer_id,
            group,
            start,
        });
        Ok(())
    })?;
    let twice: Vec<String> = out
        .windows(2)
        .filter(|w| w[0].customer_id == w[1].customer_id)
        .map(|w| format!("{} ({} and {})", w[0].customer_id, w[0].group, w[1].group))
        .collect();
    if !twice.is_empty() {
        return Err(bad(format!(
            "{source}: {} customer(s) are assigned more than once, e.g. {}",
            twice.len(),
            twice.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(out)
}

/// Every assigned customer must be a customer of the warehouse.
async fn check_customers(ctx: &SessionContext, assigned: &[Assigned]) -> Result<()> {
    let sql = format!(
        "SELECT customer_id FROM {INVOICE_LINES} WHERE customer_id IS NOT NULL \
         GROUP BY customer_id"
    );
    let rows = query(ctx, "experiment customers", &sql, vec![]).await?;
    let mut known = std::collections::HashSet::with_capacity(rows.len());
    rows.for_each(|r| {
        known.insert(r.i64("customer_id")?.unwrap_or_default());
        Ok(())
    })?;
    let unknown: Vec<i64> = assigned
        .iter()
        .map(|a| a.customer_id)
        .filter(|c| !known.contains(c))
        .collect();
    if !unknown.is_empty() {
        let shown: Vec<String> = unknown.iter().take(5).map(|c| c.to_string()).collect();
        return Err(bad(format!(
            "{} of {} assignments do not match a customer in the warehouse (e.g. {}): check \
             the customer ids",
            unknown.len(),
            assigned.len(),
            shown.join(", ")
        )));
    }
    Ok(())
}

/// Each assigned customer's conversion, orders and revenue in their window, and
/// revenue in the pre-window before it.
async fn outcomes(
    ctx: &SessionContext,
    assigned: &[Assigned],
    o: &ExperimentOptions,
) -> Result<Vec<Outcome>> {
    let first = assigned.iter().map(|a| a.start).min().unwrap_or_default();
    let last = assigned.iter().map(|a| a.start).max().unwrap_or_default();
    let from = day_number(first) - o.pre_window_days;
    let to = day_number(last) + o.window_days;
    let sql = format!(
        "SELECT customer_id, day, \
           CAST(sum(amount) AS DOUBLE) AS value, \
           CAST(sum(CASE WHEN is_cancellation THEN 0 ELSE 1 END) AS BIGINT) AS orders \
         FROM {INVOICE_LINES} \
         WHERE customer_id IS NOT NULL AND day >= $1 \
           AND day < $2 \
         GROUP BY customer_id, day"
    );
    let params = vec![ScalarValue::Int64(Some(from)), ScalarValue::Int64(Some(to))];
    let rows = query(ctx, "experiment windows", &sql, params).await?;
    let mut days: HashMap<i64, BTreeMap<i64, (f64, u64)>> = HashMap::new();
    rows.for_each(|r| {
        let customer = r.i64("customer_id")?.unwrap_or_default();
        let day = r.i64("day")?.unwrap_or_default();
        let entry = days.entry(customer).or_default().entry(day).or_default();
        entry.0 += r.f64("value")?.unwrap_or_default();
        entry.1 += r.u64("orders")?;
        Ok(())
    })?;
    let empty = BTreeMap::new();
    Ok(assigned
        .iter()
        .map(|a| {
            let own = days.get(&a.customer_id).unwrap_or(&empty);
            let start = day_number(a.start);
            let window = own.range(start..start + o.window_days);
            let pre = own.range(start - o.pre_window_days..start);
            let mut out = Outcome {
                customer_id: a.customer_id,
                group: a.group.clone(),
                converted: false,
                orders: 0,
                revenue: 0.0,
                pre_revenue: pre.map(|(_, v)| v.0).sum(),
            };
            for (_, (value, orders)) in window {
                out.converted |= *value > 0.0;
                out.orders += orders;
                out.revenue += value;
            }
            out
        })
        .collect())
}
