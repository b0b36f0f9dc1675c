//! Market baskets: which products sell together, as frequent itemsets and
//! association rules.
//!
//! A basket is a non-cancellation invoice in scope (country and dates). An item is
//! in a basket when its summed quantity in that invoice is at least 1. Items are
//! stock codes (labelled with their most frequent trimmed description) or trimmed
//! descriptions; non-product codes (postage, fees, adjustments, vouchers, tests:
//! every code that is not five digits and optional letters) are not items, but
//! their invoices still count as baskets, so support's denominator is every basket
//! in scope. The lines are grouped by invoice in SQL (one aggregation, see
//! [`lines`]) and each basket's items summed from its lists; the itemsets are
//! mined by FP-growth and the rules derived in [`lgs_models::association`], with
//! mlxtend's definitions.

pub(crate) mod lines;
mod output;
pub(crate) mod scope;

pub use scope::Scope;

use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use lgs_models::ModelError;
use lgs_models::association::{Mining, RuleFilter, frequent_itemsets, rules};
use serde::Serialize;

use super::{Analysis, Section, Shared};
use crate::error::{LgsError, Result};
use scope::sql_list;

/// What an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ItemKey {
    /// The stock code, labelled with its most frequent trimmed description.
    #[default]
    StockCode,
    /// The trimmed description (lines without one are not items).
    Description,
}

/// Which baskets, and how strong an itemset or a rule must be.
#[derive(Debug, Clone, PartialEq)]
pub struct BasketOptions {
    pub scope: Scope,
    pub item: ItemKey,
    /// The least share of baskets an itemset is in.
    pub min_support: f64,
    pub min_confidence: f64,
    pub min_lift: f64,
    pub max_len: Option<usize>,
    /// More frequent itemsets (or rules) than this is an error naming the options.
    pub max_itemsets: usize,
}

impl Default for BasketOptions {
    fn default() -> Self {
        BasketOptions {
            scope: Scope::default(),
            item: ItemKey::StockCode,
            min_support: 0.01,
            min_confidence: 0.5,
            min_lift: 1.0,
            max_len: None,
            max_itemsets: 100_000,
        }
    }
}

/// The market-basket analysis.
#[derive(Debug, Clone, Default)]
pub struct BasketAnalysis {
    pub options: BasketOptions,
}

/// A frequent itemset, its items by label.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ItemsetRow {
    pub items: Vec<String>,
    /// The stock codes (with items by stock code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codes: Option<Vec<String>>,
    pub baskets: u64,
    pub support: f64,
}

/// A rule antecedents → consequents (mlxtend's metrics; conviction null when
/// infinite, that is when confidence is 1).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleRow {
    pub antecedents: Vec<String>,
    pub consequents: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub antecedent_codes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consequent_codes: Option<Vec<String>>,
    pub antecedent_support: f64,
    pub consequent_support: f64,
    pub support: f64,
    pub confidence: f64,
    pub lift: f64,
    pub leverage: f64,
    pub conviction: Option<f64>,
}

/// The section: its keys are the top level of `lgs basket --format json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BasketResult {
    /// Baskets in scope (support's denominator).
    pub baskets: u64,
    /// Distinct items in them.
    pub items: u64,
    /// What was in scope, as the user asked.
    pub scope: String,
    pub min_support: f64,
    /// The least number of baskets of a frequent itemset: the least count whose
    /// share of the baskets is at least `min_support` (`Mining::min_count`).
    pub min_baskets: u64,
    /// By support, largest first.
    pub itemsets: Vec<ItemsetRow>,
    /// By lift, largest first.
    pub rules: Vec<RuleRow>,
    /// Why there are no itemsets or no rules, and what to change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basket_note: Option<String>,
}

#[async_trait]
impl Analysis for BasketAnalysis {
    fn name(&self) -> &'static str {
        "basket"
    }

    /// It reads the warehouse's table directly.
    fn reads_invoice_lines(&self) -> bool {
        false
    }

    async fn run(&self, ctx: &SessionContext, _shared: &Shared) -> Result<Section> {
        let result = self.compute(ctx).await?;
        let mut section = Section::new(self.name(), "Products bought together", result.clone());
        section.text = output::text(&result);
        section.tables = output::tables(&result)?;
        section.charts = output::charts(&result);
        section.chart_rank = 60;
        Ok(section)
    }
}

impl BasketAnalysis {
    fn check(&self) -> Result<()> {
        let o = &self.options;
        let bad = |message: &str| {
            Err(LgsError::InvalidArgument {
                what: "basket option",
                message: message.into(),
            })
        };
        if !(o.min_support > 0.0 && o.min_support <= 1.0) {
            return bad("--min-support must be more than 0 and at most 1 (a share of baskets)");
        }
        if !(0.0..=1.0).contains(&o.min_confidence) || o.min_lift.is_nan() || o.min_lift < 0.0 {
            return bad("--min-confidence must be between 0 and 1, --min-lift at least 0");
        }
        if o.max_len == Some(0) || o.max_itemsets == 0 {
            return bad("--max-len and --max-itemsets must be at least 1");
        }
        o.scope.check("basket option")
    }

    async fn compute(&self, ctx: &SessionContext) -> Result<BasketResult> {
        self.check()?;
        let o = &self.options;
        let (scope, params) = o.scope.sql();
        let lines = lines::baskets(ctx, o.item, &scope, params.clone()).await?;
        if lines.count == 0 {
            return Err(o.scope.empty(ctx, "basket scope").await);
        }
        let baskets = lines.count;
        let min_baskets = Mining::min_count(o.min_support, baskets);
        // Ids by decreasing count, then item: the order of the FP-tree's items.
        let mut order: Vec<u32> = (0..lines.names.len() as u32)
            .filter(|&i| lines.counts[i as usize] >= min_baskets)
            .collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (a as usize, b as usize);
            lines.counts[b]
                .cmp(&lines.counts[a])
                .then_with(|| lines.names[a].cmp(&lines.names[b]))
        });
        let frequent: Vec<(String, u64)> = order
            .iter()
            .map(|&i| (lines.names[i as usize].clone(), lines.counts[i as usize]))
            .collect();
        let items = lines.counts.iter().filter(|&&c| c > 0).count() as u64;
        let mut result = BasketResult {
            baskets,
            items,
            scope: o.scope.text(),
            min_support: o.min_support,
            min_baskets,
            itemsets: vec![],
            rules: vec![],
            basket_note: None,
        };
        if frequent.is_empty() {
            let top = lines.counts.iter().copied().max().unwrap_or(0);
            result.basket_note = Some(format!(
                "no item is in {min_baskets} of the {baskets} baskets (--min-support {}); \
                 the most frequent item is in {top} ({:.4} of them): lower --min-support",
                o.min_support,
                top as f64 / baskets as f64
            ));
            return Ok(result);
        }
        // Each basket's frequent items, as their ids in `frequent`; baskets without
        // one are left out (they still count in support's denominator).
        let mut rank = vec![u32::MAX; lines.names.len()];
        for (r, &i) in order.iter().enumerate() {
            rank[i as usize] = r as u32;
        }
        let transactions: Vec<Vec<u32>> = lines
            .each()
            .map(|t| {
                t.iter()
                    .map(|&i| rank[i as usize])
                    .filter(|&r| r != u32::MAX)
                    .collect::<Vec<u32>>()
            })
            .filter(|t| !t.is_empty())
            .collect();
        drop(lines);
        let listed = sql_list(frequent.iter().map(|(item, _)| item.as_str()));
        let mining = Mining {
            min_count: min_baskets,
            max_len: o.max_len,
            max_itemsets: o.max_itemsets,
        };
        let itemsets = frequent_itemsets(&transactions, &mining).map_err(|e| self.too_many(e))?;
        let filter = RuleFilter {
            min_confidence: o.min_confidence,
            min_lift: o.min_lift,
            max_rules: o.max_itemsets,
        };
        let found = rules(&itemsets, baskets, &filter).map_err(|e| self.too_many(e))?;
        let labels = self.labels(ctx, &scope, &listed, params, &frequent).await?;
        output::fill(
            &mut result,
            &frequent,
            &labels,
            self.options.item,
            &itemsets,
            &found,
        );
        if result.rules.is_empty() {
            result.basket_note = Some(format!(
                "{} itemsets, no rule with confidence ≥ {} and lift ≥ {}: lower \
                 --min-confidence or --min-lift",
                result.itemsets.len(),
                o.min_confidence,
                o.min_lift
            ));
        }
        Ok(result)
    }

    /// A limit of the mining reached: which options to change.
    fn too_many(&self, e: ModelError) -> LgsError {
        let o = &self.options;
        match e {
            ModelError::TooManyItemsets { .. } | ModelError::TooManyRules { .. } => {
                LgsError::InvalidArgument {
                    what: "basket option",
                    message: format!(
                        "{e} at --min-support {}: raise --min-support or --min-confidence, \
                         set --max-len, or raise --max-itemsets ({})",
                        o.min_support, o.max_itemsets
                    ),
                }
            }
            other => LgsError::model("basket")(other),
        }
    }

    /// The label of each frequent item (`listed`, as SQL literals): with items by
    /// stock code, the code's most frequent trimmed description in scope (the code
    /// itself when it has none); a description is its own label.
    async fn labels(
        &self,
        ctx: &SessionContext,
        scope: &str,
        listed: &str,
        params: Vec<ScalarValue>,
        frequent: &[(String, u64)],
    ) -> Result<Vec<String>> {
        if self.options.item == ItemKey::Description {
            return Ok(frequent.iter().map(|(item, _)| item.clone()).collect());
        }
        let by_code = scope::labels(ctx, scope, Some(listed), params).await?;
        Ok(frequent
            .iter()
            .map(|(code, _)| by_code.get(code).cloned().unwrap_or_else(|| code.clone()))
            .collect())
    }
}
