//! The product analyses' commands (`lgs basket`, `lgs recommend`, `lgs trends`): their arguments, and what they
//! hand to the report's path.

use std::sync::Arc;

use clap::{Args, ValueEnum};
use lgs::analytics::Analysis;
use lgs::analytics::basket::{BasketAnalysis, BasketOptions, ItemKey, Scope};
use lgs::analytics::recommend::{RecommendAnalysis, RecommendOptions, Target};
use lgs::analytics::trends::derive::Period;
use lgs::analytics::trends::{TrendsAnalysis, TrendsOptions};
use lgs_models::als::AlsOptions;

use crate::args::ReportArgs;

/// What an item of a basket is.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ItemArg {
    /// The stock code, labelled with its most frequent description.
    StockCode,
    /// The trimmed description.
    Description,
}

/// Which invoices a product analysis looks at.
#[derive(Debug, Args)]
pub struct ScopeArgs {
    /// Only the invoices of this country.
    #[arg(long, value_name = "COUNTRY")]
    pub country: Option<String>,
    /// Only the invoices from this day on.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub since: Option<chrono::NaiveDate>,
    /// Only the invoices up to this day (included).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub until: Option<chrono::NaiveDate>,
}

impl ScopeArgs {
    pub fn scope(&self) -> Scope {
        Scope {
            country: self.country.clone(),
            since: self.since,
            until: self.until,
        }
    }
}

#[derive(Debug, Args)]
pub struct BasketArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// What an item is.
    #[arg(long, value_enum, default_value_t = ItemArg::StockCode)]
    pub item: ItemArg,
    /// The least share of baskets a frequent itemset is in (0.01 is 1 %).
    #[arg(long, value_name = "SHARE", default_value_t = 0.01)]
    pub min_support: f64,
    /// The least confidence of a rule A → C: the share of A's baskets that hold C.
    #[arg(long, value_name = "SHARE", default_value_t = 0.5)]
    pub min_confidence: f64,
    /// The least lift of a rule: confidence over C's support (1 is chance).
    #[arg(long, value_name = "RATIO", default_value_t = 1.0)]
    pub min_lift: f64,
    /// The most items in an itemset [default: any].
    #[arg(long, value_name = "N")]
    pub max_len: Option<usize>,
    /// Stop with an error beyond this many itemsets or rules (a support too low
    /// for the data), instead of running out of memory.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub max_itemsets: usize,
    #[command(flatten)]
    pub report: ReportArgs,
}

impl BasketArgs {
    /// The market-basket analysis with these options.
    pub fn analysis(&self) -> Arc<dyn Analysis> {
        Arc::new(BasketAnalysis {
            options: BasketOptions {
                scope: self.scope.scope(),
                item: match self.item {
                    ItemArg::StockCode => ItemKey::StockCode,
                    ItemArg::Description => ItemKey::Description,
                },
                min_support: self.min_support,
                min_confidence: self.min_confidence,
                min_lift: self.min_lift,
                max_len: self.max_len,
                max_itemsets: self.max_itemsets,
            },
        })
    }
}

/// What `lgs recommend` is asked for: one of these, or every customer's list.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct RecommendTarget {
    /// The products most often bought with this stock code, by lift, with the
    /// evidence (baskets together, confidence).
    #[arg(long, value_name = "STOCK_CODE")]
    pub item: Option<String>,
    /// The products to offer this customer (ALS), with what they bought.
    #[arg(long, value_name = "CUSTOMER_ID")]
    pub customer: Option<i64>,
    /// Evaluate: fit on the purchases up to this day and score the top n of ALS
    /// and of the most popular products against each customer's new products
    /// after it (precision, recall, MAP and hit rate at n).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub calibration_end: Option<chrono::NaiveDate>,
}

#[derive(Debug, Args)]
pub struct RecommendArgs {
    #[command(flatten)]
    pub target: RecommendTarget,
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Products per list.
    #[arg(short = 'n', long = "top", value_name = "N", default_value_t = 10)]
    pub n: usize,
    /// With --item: the least number of baskets a product shares with it
    /// [default: 5 or 1 % of the product's baskets, whichever is more].
    #[arg(long, value_name = "BASKETS")]
    pub min_together: Option<u64>,
    /// ALS: latent factors per customer and product.
    #[arg(long, value_name = "N", default_value_t = AlsOptions::default().factors)]
    pub factors: usize,
    /// ALS: alternating iterations.
    #[arg(long, value_name = "N", default_value_t = AlsOptions::default().iterations)]
    pub iterations: usize,
    /// ALS: λ, the weight of the factors' squared norms.
    #[arg(long, value_name = "LAMBDA", default_value_t = AlsOptions::default().regularization)]
    pub regularization: f64,
    /// ALS: α of the confidence 1 + α·baskets of a product a customer bought.
    #[arg(long, value_name = "ALPHA", default_value_t = AlsOptions::default().alpha)]
    pub alpha: f64,
    /// ALS: the seed of the starting factors.
    #[arg(long, value_name = "N", default_value_t = AlsOptions::default().seed)]
    pub seed: u64,
    /// ALS: conjugate-gradient steps per customer (and product) and half-step;
    /// 0 solves each one's normal equations exactly (slower, the same quality).
    #[arg(long, value_name = "N", default_value_t = AlsOptions::default().cg_steps)]
    pub cg_steps: usize,
    #[command(flatten)]
    pub report: ReportArgs,
}

impl RecommendArgs {
    /// The recommendation analysis with these options.
    pub fn analysis(&self) -> Arc<dyn Analysis> {
        let t = &self.target;
        let target = match (&t.item, t.customer, t.calibration_end) {
            (Some(code), _, _) => Target::Item(code.clone()),
            (_, Some(id), _) => Target::Customer(id),
            (_, _, Some(end)) => Target::Evaluate(end),
            _ => Target::Everyone,
        };
        Arc::new(RecommendAnalysis {
            options: RecommendOptions {
                scope: self.scope.scope(),
                target,
                n: self.n,
                min_together: self.min_together,
                als: AlsOptions {
                    factors: self.factors,
                    iterations: self.iterations,
                    regularization: self.regularization,
                    alpha: self.alpha,
                    seed: self.seed,
                    cg_steps: self.cg_steps,
                },
            },
        })
    }
}

#[derive(Debug, Args)]
pub struct TrendsArgs {
    /// The movers' periods, now and before, as months FIRST..LAST
    /// (e.g. 2011-09..2011-11 2010-09..2010-11) [default: the last three complete
    /// months against the same months a year before].
    #[arg(long, num_args = 2, value_names = ["NOW", "BEFORE"], value_parser = period)]
    pub compare: Option<Vec<Period>>,
    /// New and gone products: the data's last N months.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub recent_months: u32,
    /// The least units of a mover in the earlier period (and of a product in the
    /// seasonality list over the year), so that tiny products do not top the lists.
    #[arg(long, value_name = "UNITS", default_value_t = 100)]
    pub min_units: i64,
    /// A gone product sold in at least this many of the 12 months before the window.
    #[arg(long, value_name = "N", default_value_t = 6)]
    pub steady_months: usize,
    #[command(flatten)]
    pub report: ReportArgs,
}

fn period(text: &str) -> Result<Period, String> {
    Period::parse(text).ok_or_else(|| format!("'{text}' is not FIRST..LAST as YYYY-MM..YYYY-MM"))
}

impl TrendsArgs {
    /// The SKU trends analysis with these options.
    pub fn analysis(&self) -> Arc<dyn Analysis> {
        Arc::new(TrendsAnalysis {
            options: TrendsOptions {
                compare: self.compare.as_ref().map(|p| (p[0], p[1])),
                recent_months: self.recent_months,
                min_units: self.min_units,
                steady_months: self.steady_months,
            },
        })
    }
}
