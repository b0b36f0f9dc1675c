//! Recommendations: the products bought with a product (item to item, by lift),
//! what to offer a customer or every customer (implicit-feedback ALS on the
//! baskets each customer bought each product in), and how well those offers would
//! have done, against offering the most popular products, on the purchases after
//! a calibration end.
//!
//! Products, baskets and the scope are `lgs basket`'s: non-cancellation invoices
//! of the country and days asked, product codes only.

mod customers;
mod item;
mod output;

use async_trait::async_trait;
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use lgs_models::als::AlsOptions;
use serde::Serialize;

pub use customers::{Evaluation, MethodScore, ModelSummary, Offer};
pub use item::{ItemRecommendations, Peer};

use super::basket::scope::{Scope, labels, sql_list};
use super::{Analysis, Section, Shared};
use crate::error::{LgsError, Result};

/// What to recommend.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Target {
    /// The products bought with this stock code.
    Item(String),
    /// The products to offer this customer.
    Customer(i64),
    /// The products to offer every customer (a table, for `--out`).
    #[default]
    Everyone,
    /// Fit up to this day, and score the offers on the purchases after it.
    Evaluate(NaiveDate),
}

/// What `lgs recommend` does.
#[derive(Debug, Clone, PartialEq)]
pub struct RecommendOptions {
    pub scope: Scope,
    pub target: Target,
    /// Products per list.
    pub n: usize,
    /// Item to item: the least number of baskets together [default: 5 or 1 % of
    /// the product's baskets, whichever is more, so that a few baskets of a rare
    /// product do not top a popular product's list by lift].
    pub min_together: Option<u64>,
    pub als: AlsOptions,
}

impl Default for RecommendOptions {
    fn default() -> Self {
        RecommendOptions {
            scope: Scope::default(),
            target: Target::Everyone,
            n: 10,
            min_together: None,
            als: AlsOptions::default(),
        }
    }
}

/// The recommendation analysis.
#[derive(Debug, Clone, Default)]
pub struct RecommendAnalysis {
    pub options: RecommendOptions,
}

/// A product a customer bought, with the number of baskets.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bought {
    pub stock_code: String,
    pub description: String,
    pub baskets: u64,
}

/// One customer's offers and what they bought.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CustomerOffers {
    pub customer_id: i64,
    /// The products bought in the most baskets (at most n).
    pub bought: Vec<Bought>,
    pub offers: Vec<Offer>,
}

/// The section: one of its parts is there, by what was asked.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RecommendResult {
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<ItemRecommendations>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerOffers>,
    /// Every customer's offers, by customer and rank.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offers: Option<Vec<Offer>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<Evaluation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelSummary>,
}

#[async_trait]
impl Analysis for RecommendAnalysis {
    fn name(&self) -> &'static str {
        "recommend"
    }

    /// It reads the warehouse's table directly.
    fn reads_invoice_lines(&self) -> bool {
        false
    }

    async fn run(&self, ctx: &SessionContext, _shared: &Shared) -> Result<Section> {
        let result = self.compute(ctx).await?;
        let mut section = Section::new(self.name(), "Recommendations", result.clone());
        section.text = output::text(&result);
        section.tables = output::tables(&result)?;
        section.charts = output::charts(&result);
        section.chart_rank = 61;
        Ok(section)
    }
}

impl RecommendAnalysis {
    fn check(&self) -> Result<()> {
        let o = &self.options;
        let bad = |message: &str| {
            Err(LgsError::InvalidArgument {
                what: "recommend option",
                message: message.into(),
            })
        };
        if o.n == 0 || o.min_together == Some(0) {
            return bad("-n and --min-together must be at least 1");
        }
        let a = &o.als;
        if a.factors == 0 || a.iterations == 0 {
            return bad("--factors and --iterations must be at least 1");
        }
        let finite = a.regularization.is_finite() && a.alpha.is_finite();
        if !(finite && a.regularization > 0.0 && a.alpha >= 0.0) {
            return bad("--regularization must be more than 0 and --alpha at least 0");
        }
        o.scope.check("recommend option")
    }

    async fn compute(&self, ctx: &SessionContext) -> Result<RecommendResult> {
        self.check()?;
        let o = &self.options;
        let mut result = RecommendResult {
            scope: o.scope.text(),
            item: None,
            customer: None,
            offers: None,
            evaluation: None,
            model: None,
        };
        match &o.target {
            Target::Item(code) => result.item = Some(item::peers(ctx, o, code).await?),
            Target::Evaluate(end) => {
                result.evaluation = Some(customers::evaluate(ctx, o, *end).await?)
            }
            Target::Customer(id) => {
                let matrix = customers::matrix(ctx, &o.scope).await?;
                let u = matrix
                    .customer(*id)
                    .ok_or_else(|| customers::unknown_customer(*id, &o.scope))?;
                let model = customers::fit(&matrix, o)?;
                let counts = matrix.observed.counts_of(u);
                let mut bought: Vec<Bought> = matrix
                    .bought(u)
                    .iter()
                    .zip(counts)
                    .map(|(&item, &count)| Bought {
                        stock_code: matrix.codes[item as usize].clone(),
                        description: String::new(),
                        baskets: count as u64,
                    })
                    .collect();
                bought.sort_by(|a, b| {
                    b.baskets
                        .cmp(&a.baskets)
                        .then_with(|| a.stock_code.cmp(&b.stock_code))
                });
                bought.truncate(o.n);
                let mut offers = customers::offers(&matrix, &model, o.n, Some(u));
                self.describe(ctx, &mut offers, &mut bought).await?;
                result.model = Some(customers::summary(&matrix, &model, o));
                result.customer = Some(CustomerOffers {
                    customer_id: *id,
                    bought,
                    offers,
                });
            }
            Target::Everyone => {
                let matrix = customers::matrix(ctx, &o.scope).await?;
                let model = customers::fit(&matrix, o)?;
                let mut offers = customers::offers(&matrix, &model, o.n, None);
                self.describe(ctx, &mut offers, &mut []).await?;
                result.model = Some(customers::summary(&matrix, &model, o));
                result.offers = Some(offers);
            }
        }
        Ok(result)
    }

    /// Fills in the products' descriptions (the code's most frequent one in scope).
    async fn describe(
        &self,
        ctx: &SessionContext,
        offers: &mut [Offer],
        bought: &mut [Bought],
    ) -> Result<()> {
        let mut codes: Vec<&str> = offers
            .iter()
            .map(|o| o.stock_code.as_str())
            .chain(bought.iter().map(|b| b.stock_code.as_str()))
            .collect();
        codes.sort_unstable();
        codes.dedup();
        let (scope, params) = self.options.scope.sql();
        let by_code = labels(ctx, &scope, Some(&sql_list(codes)), params).await?;
        let label = |c: &str| by_code.get(c).cloned().unwrap_or_else(|| c.to_string());
        for o in offers.iter_mut() {
            o.description = label(&o.stock_code);
        }
        for b in bought.iter_mut() {
            b.description = label(&b.stock_code);
        }
        Ok(())
    }
}
