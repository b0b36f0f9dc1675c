//! The commands that run analyses with options of their own (`lgs clv`,
//! `lgs kmeans`, `lgs experiment`): their arguments, and what they hand to the report's path.

use std::sync::Arc;

use anyhow::Result;
use clap::{Args, Subcommand};
use lgs::analytics::Analysis;
use lgs::analytics::clv::{ClvAnalysis, ClvOptions, ClvValidationAnalysis};
use lgs::analytics::experiment::{Assignments, ExperimentAnalysis, ExperimentOptions};
use lgs::analytics::kmeans::{KMeansAnalysis, KMeansSettings};

use crate::args::{ClusterArg, ReportArgs, SummaryFormat};

#[derive(Debug, Args)]
pub struct ClvArgs {
    /// Days ahead for the expected purchases.
    #[arg(long, value_name = "DAYS", default_value_t = 90.0)]
    pub horizon: f64,
    /// Months of lifetime value (a month is 30 days, as lifetimes' freq "D").
    #[arg(long, value_name = "MONTHS", default_value_t = 12)]
    pub horizon_months: u32,
    /// Discount rate per month (0.01 is 1 % a month).
    #[arg(long, value_name = "RATE", default_value_t = 0.01)]
    pub discount: f64,
    /// Also check the model: fit it on the purchase days up to this date and compare
    /// its predictions for the days after it (to the end of the data) with what each
    /// customer did, beside a naive baseline (each customer's past rate).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub calibration_end: Option<chrono::NaiveDate>,
    #[command(flatten)]
    pub report: ReportArgs,
}

impl ClvArgs {
    /// The CLV analysis with these options, and the holdout check when asked for.
    pub fn analyses(&self) -> Vec<Arc<dyn Analysis>> {
        let mut out: Vec<Arc<dyn Analysis>> = vec![Arc::new(ClvAnalysis {
            options: ClvOptions {
                horizon_days: self.horizon,
                months: self.horizon_months,
                discount: self.discount,
            },
        })];
        if let Some(calibration_end) = self.calibration_end {
            out.push(std::sync::Arc::new(ClvValidationAnalysis {
                calibration_end,
            }));
        }
        out
    }
}

#[derive(Debug, Args)]
pub struct KMeansArgs {
    /// The number of segments [default: 2 to 10, the best silhouette].
    #[arg(long, value_name = "N")]
    pub k: Option<usize>,
    /// Runs from different seeds per k; the one of lowest inertia is kept.
    #[arg(long, default_value_t = 10)]
    pub restarts: usize,
    /// Seed of the k-means++ seeding (and of the silhouette's sample).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[command(flatten)]
    pub report: ReportArgs,
}

impl KMeansArgs {
    /// The k-means analysis with these options.
    pub fn analysis(&self) -> Arc<dyn Analysis> {
        Arc::new(KMeansAnalysis {
            settings: KMeansSettings {
                k: self.k,
                restarts: self.restarts,
                seed: self.seed,
                ..KMeansSettings::default()
            },
        })
    }
}

#[derive(Debug, Args)]
pub struct ExperimentArgs {
    #[command(subcommand)]
    pub command: Option<ExperimentCommand>,
    /// The assignments: a CSV file with a header, or a warehouse table, with columns
    /// customer_id and group, and optionally assigned_at (each customer's start).
    #[arg(long, value_name = "FILE|TABLE")]
    pub assignments: Option<String>,
    /// The first day of the window for customers without assigned_at.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub start: Option<chrono::NaiveDate>,
    /// Days after the start that count (30 or 30d).
    #[arg(long, value_name = "DAYS", default_value = "30d", value_parser = days)]
    pub window: i64,
    /// Days before the start whose revenue CUPED adjusts by (0 turns it off).
    #[arg(long, value_name = "DAYS", default_value = "90d", value_parser = days)]
    pub pre_window: i64,
    /// The control group [default: the group named control].
    #[arg(long, value_name = "GROUP")]
    pub control: Option<String>,
    /// The intended split, for the sample-ratio check (e.g. control=50,offer=50)
    /// [default: equal shares].
    #[arg(long, value_name = "GROUP=SHARE,...", value_parser = split)]
    pub split: Option<Split>,
    /// Seed of the bootstrap's resampling.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Subcommand)]
pub enum ExperimentCommand {
    /// Customers needed per group to detect a lift in conversion.
    Plan(PlanArgs),
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The control's expected conversion rate (0.05 is 5 %).
    #[arg(long, value_name = "RATE")]
    pub baseline_rate: f64,
    /// The smallest absolute lift worth detecting (0.01 is one point).
    #[arg(long, value_name = "LIFT")]
    pub mde: f64,
    /// The chance of detecting a lift of that size.
    #[arg(long, default_value_t = 0.8)]
    pub power: f64,
    /// The test's significance level (two-sided).
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

/// Intended shares per group.
#[derive(Debug, Clone)]
pub struct Split(pub Vec<(String, f64)>);

fn days(s: &str) -> Result<i64, String> {
    let n = s.strip_suffix('d').unwrap_or(s);
    n.parse::<i64>()
        .ok()
        .filter(|d| *d >= 0)
        .ok_or_else(|| format!("{s:?} is not a number of days (e.g. 30 or 30d)"))
}

fn split(s: &str) -> Result<Split, String> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let (group, share) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} is not GROUP=SHARE"))?;
        let share: f64 = share
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v > 0.0)
            .ok_or_else(|| format!("{part:?}: the share must be a positive number"))?;
        out.push((group.trim().to_string(), share));
    }
    Ok(Split(out))
}

impl ExperimentArgs {
    /// The experiment analysis with these options.
    pub fn analysis(&self) -> Result<Arc<dyn Analysis>> {
        let Some(given) = &self.assignments else {
            anyhow::bail!(
                "lgs experiment needs --assignments FILE|TABLE (or `lgs experiment plan`)"
            );
        };
        let path = std::path::Path::new(given);
        let looks_like_table = given.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let assignments = if path.is_file() || !looks_like_table {
            Assignments::File(path.to_path_buf())
        } else {
            Assignments::Table(given.clone())
        };
        Ok(Arc::new(ExperimentAnalysis {
            options: ExperimentOptions {
                assignments,
                start: self.start,
                window_days: self.window,
                pre_window_days: self.pre_window,
                control: self.control.clone(),
                split: self.split.as_ref().map(|s| s.0.clone()),
                seed: self.seed,
                ..ExperimentOptions::default()
            },
        }))
    }
}

/// `lgs experiment plan`: the sample size per group.
pub fn plan(args: &PlanArgs) -> Result<()> {
    let n =
        lgs_models::experiment::sample_size(args.baseline_rate, args.mde, args.power, args.alpha)?;
    match args.format {
        SummaryFormat::Json => println!(
            "{}",
            serde_json::json!({
                "baseline_rate": args.baseline_rate,
                "mde": args.mde,
                "power": args.power,
                "alpha": args.alpha,
                "customers_per_group": n,
            })
        ),
        SummaryFormat::Text => println!(
            "{} customers per group detect a lift of {} points over a {}% conversion rate \
             with {}% power at a {}% significance level (two-sided)",
            lgs::output::group(n as f64, 0),
            args.mde * 100.0,
            args.baseline_rate * 100.0,
            args.power * 100.0,
            args.alpha * 100.0
        ),
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct CustomerArgs {
    /// The customer's id.
    pub id: i64,
    /// Recency and the models' observation are measured to this date (default: the
    /// day after the last invoice).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Option<chrono::NaiveDate>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
    #[command(flatten)]
    pub cluster: ClusterArg,
}

/// `lgs customer ID`: one customer's profile.
pub async fn customer(
    warehouse: &lgs::Warehouse,
    args: &CustomerArgs,
    limits: &lgs::session::Limits,
) -> Result<()> {
    let engine = lgs::session::Engine::from_url(args.cluster.cluster.as_deref(), limits.clone());
    let (ctx, tables) = lgs::session::context_on(warehouse, &engine).await?;
    lgs::session::require_retail(warehouse, &tables)?;
    let options = lgs::analytics::ReportOptions { as_of: args.as_of };
    let p = lgs::analytics::customer::profile(&ctx, &options, args.id).await?;
    if matches!(args.format, SummaryFormat::Json) {
        println!("{}", serde_json::to_string_pretty(&p)?);
        return Ok(());
    }
    let none = || "-".to_string();
    let fixed = |v: Option<f64>, d: usize| v.map_or_else(none, |v| lgs::output::group(v, d));
    let mut rows: Vec<(&str, String)> = vec![
        ("country", p.country.clone().unwrap_or_else(none)),
        (
            "first purchase",
            p.first_purchase.clone().unwrap_or_else(none),
        ),
        (
            "last purchase",
            p.last_purchase.clone().unwrap_or_else(none),
        ),
    ];
    if let Some(r) = &p.rfm {
        rows.push((
            "RFM (as of)",
            format!("R{} F{} M{} ({})", r.r, r.f, r.m, p.as_of),
        ));
        rows.push(("segment", r.segment.clone()));
        rows.push((
            "recency, frequency, monetary",
            format!(
                "{} days, {} invoices, {}",
                r.recency,
                r.frequency,
                lgs::output::group(r.monetary, 2)
            ),
        ));
    }
    if let Some(c) = &p.cluster {
        rows.push(("k-means cluster", format!("{} ({})", c.cluster, c.name)));
    }
    if let Some(c) = &p.clv {
        rows.push(("repeat purchase days", c.x.to_string()));
        rows.push((
            "P(alive)",
            c.p_alive
                .map_or_else(none, |v| format!("{:.1}%", v * 100.0)),
        ));
        rows.push((
            "expected purchases, 90 days",
            fixed(c.expected_purchases_90d, 2),
        ));
        rows.push(("CLV, 12 months (GBP)", fixed(c.clv, 2)));
    }
    println!("Customer {}", p.customer_id);
    for (k, v) in rows {
        println!("  {k:<30} {v}");
    }
    if !p.top_products.is_empty() {
        println!("  top products:");
        for t in &p.top_products {
            println!(
                "    {:<10} {:<40} {:>8} {:>12}",
                t.stock_code,
                t.description.clone().unwrap_or_default(),
                t.quantity,
                lgs::output::group(t.amount, 2)
            );
        }
    }
    Ok(())
}
