//! The product analyses' commands (`lgs basket`): their arguments, and what they
//! hand to the report's path.

use std::sync::Arc;

use clap::{Args, ValueEnum};
use lgs::analytics::Analysis;
use lgs::analytics::basket::{BasketAnalysis, BasketOptions, ItemKey};

use crate::args::ReportArgs;

/// What an item of a basket is.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ItemArg {
    /// The stock code, labelled with its most frequent description.
    StockCode,
    /// The trimmed description.
    Description,
}

#[derive(Debug, Args)]
pub struct BasketArgs {
    /// Only the invoices of this country.
    #[arg(long, value_name = "COUNTRY")]
    pub country: Option<String>,
    /// Only the invoices from this day on.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub since: Option<chrono::NaiveDate>,
    /// Only the invoices up to this day (included).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub until: Option<chrono::NaiveDate>,
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
                country: self.country.clone(),
                since: self.since,
                until: self.until,
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
