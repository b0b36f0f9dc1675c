//! Market baskets: which products sell together, as frequent itemsets and
//! association rules.
//!
//! A basket is a non-cancellation invoice in scope (country and dates). An item is
//! in a basket when its summed quantity in that invoice is at least 1. Items are
//! stock codes (labelled with their most frequent trimmed description) or trimmed
//! descriptions; non-product codes (postage, fees, adjustments, vouchers, tests:
//! every code that is not five digits and optional letters) are not items, but
//! their invoices still count as baskets, so support's denominator is every basket
//! in scope. The scan and the grouping are SQL; the itemsets are mined by
//! FP-growth and the rules derived in [`lgs_models::association`], with mlxtend's
//! definitions.

mod output;
pub(crate) mod scope;

pub use scope::Scope;

use std::collections::HashMap;

use async_trait::async_trait;
use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use futures::TryStreamExt;
use lgs_models::ModelError;
use lgs_models::association::{Mining, RuleFilter, frequent_itemsets, rules};
use serde::Serialize;

use super::engine::staged;
use super::{Analysis, Section, Shared};
use crate::error::{LgsError, QueryContext, Result};
use scope::{pairs_sql, sql_list};

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
        let pairs = pairs_sql(o.item, &scope, None);
        let baskets = scope::baskets(ctx, &o.scope, &scope, params.clone(), "basket scope").await?;
        let item_counts = scope::item_counts(ctx, &pairs, params.clone()).await?;
        let min_baskets = Mining::min_count(o.min_support, baskets);
        // Ids by decreasing count, then item: the order of the FP-tree's items.
        let mut frequent: Vec<(String, u64)> = item_counts
            .iter()
            .filter(|(_, c)| *c >= min_baskets)
            .cloned()
            .collect();
        frequent.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut result = BasketResult {
            baskets,
            items: item_counts.len() as u64,
            scope: o.scope.text(),
            min_support: o.min_support,
            min_baskets,
            itemsets: vec![],
            rules: vec![],
            basket_note: None,
        };
        if frequent.is_empty() {
            let top = item_counts.iter().map(|(_, c)| *c).max().unwrap_or(0);
            result.basket_note = Some(format!(
                "no item is in {min_baskets} of the {baskets} baskets (--min-support {}); \
                 the most frequent item is in {top} ({:.4} of them): lower --min-support",
                o.min_support,
                top as f64 / baskets as f64
            ));
            return Ok(result);
        }
        // Only the frequent items' lines are grouped for the baskets' items and labelled.
        let listed = sql_list(frequent.iter().map(|(item, _)| item.as_str()));
        let transactions = self
            .transactions(ctx, &scope, &listed, params.clone(), &frequent)
            .await?;
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

    /// Each basket's frequent items (`listed`, as SQL literals), as ids (the index
    /// in `frequent`); baskets without one are left out (they still count in
    /// support's denominator).
    async fn transactions(
        &self,
        ctx: &SessionContext,
        scope: &str,
        listed: &str,
        params: Vec<ScalarValue>,
        frequent: &[(String, u64)],
    ) -> Result<Vec<Vec<u32>>> {
        let id: HashMap<&str, u32> = frequent
            .iter()
            .enumerate()
            .map(|(i, (item, _))| (item.as_str(), i as u32))
            .collect();
        // A filter on the items before the grouping is the same as one after it:
        // an item's lines of a basket are all kept or all dropped.
        let pairs = pairs_sql(self.options.item, scope, Some(listed));
        let sql = format!("SELECT array_agg(item) AS items FROM ({pairs}) GROUP BY invoice_no");
        let context = "basket: baskets' items";
        staged(context, async {
            let df = ctx.sql(&sql).await.context(context)?;
            let df = df.with_param_values(params).context(context)?;
            let mut stream = df.execute_stream().await.context(context)?;
            let mut out = Vec::new();
            while let Some(batch) = stream.try_next().await.context(context)? {
                let Some(lists) = batch.column(0).as_list_opt::<i32>() else {
                    let why = format!("array_agg gave {}", batch.column(0).data_type());
                    return Err(LgsError::query(context, DataFusionError::Internal(why)));
                };
                // The items may come as string views: one cast per batch.
                let values = cast(lists.values(), &DataType::Utf8)
                    .map_err(DataFusionError::from)
                    .context(context)?;
                let strings = values.as_string::<i32>();
                for w in lists.value_offsets().windows(2) {
                    out.push(
                        (w[0] as usize..w[1] as usize)
                            .filter_map(|i| id.get(strings.value(i)).copied())
                            .collect(),
                    );
                }
            }
            Ok(out)
        })
        .await
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
