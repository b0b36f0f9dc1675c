//! What to offer each customer: implicit-feedback ALS on the baskets in which each
//! customer bought each product ([`lgs_models::als`]), and its offline evaluation
//! against the most popular products: fit on the purchases up to a calibration
//! end, then see whether the customers' next new products were among the top n.
//!
//! The (customer, product, baskets) counts are SQL; the fit is Rust on them.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use lgs_models::als::{AlsModel, Interaction, Observed, fit_observed};
use lgs_models::ranking::{Ranking, mean, rank};
use serde::Serialize;

use super::RecommendOptions;
use crate::analytics::basket::scope::{PRODUCT, Scope};
use crate::analytics::engine::staged;
use crate::error::{LgsError, QueryContext, Result};
use crate::schema::RETAIL_TABLE;

/// Customers × products with the baskets of each pair bought.
pub(super) struct Matrix {
    /// Sorted customer ids: a customer's index is its position.
    pub customers: Vec<i64>,
    /// Sorted stock codes.
    pub codes: Vec<String>,
    /// The pairs by customer (each customer's products sorted by index).
    pub observed: Observed,
}

impl Matrix {
    pub fn customer(&self, id: i64) -> Option<usize> {
        self.customers.binary_search(&id).ok()
    }

    /// A stock code's index.
    pub fn code(&self, code: &str) -> Option<u32> {
        self.codes
            .binary_search_by(|c| c.as_str().cmp(code))
            .ok()
            .map(|i| i as u32)
    }

    /// A customer's products (sorted indices).
    pub fn bought(&self, customer: usize) -> &[u32] {
        self.observed.items_of(customer)
    }

    /// Products by the number of customers who bought them, most first (ties by code).
    pub fn popular(&self) -> Vec<u32> {
        let customers = self.observed.users_per_item();
        let mut order: Vec<u32> = (0..self.codes.len() as u32).collect();
        order.sort_by(|a, b| {
            customers[*b as usize]
                .cmp(&customers[*a as usize])
                .then(a.cmp(b))
        });
        order
    }
}

/// The (customer, product, baskets) counts of the scope: a product counts in a
/// basket as in `lgs basket` (its lines there sum to at least one unit); lines
/// without a customer are left out.
pub(super) async fn matrix(ctx: &SessionContext, scope: &Scope) -> Result<Matrix> {
    let (clause, params) = scope.sql();
    let sql = format!(
        "SELECT customer_id, item, count(*) AS baskets FROM ( \
           SELECT invoice_no, customer_id, stock_code AS item FROM {RETAIL_TABLE} \
           WHERE {clause} AND {PRODUCT} AND customer_id IS NOT NULL \
           GROUP BY invoice_no, customer_id, stock_code HAVING sum(quantity) >= 1) \
         GROUP BY customer_id, item"
    );
    let context = "recommend: customers' products";
    // The counts are read batch by batch as they come, each customer and code
    // numbered by its first row: held whole, their ids and strings would outweigh
    // the pairs several times over (51M pairs at 100M lines).
    staged(context, async {
        let df = ctx.sql(&sql).await.context(context)?;
        let df = df.with_param_values(params).context(context)?;
        let mut stream = df.execute_stream().await.context(context)?;
        let mut customers: HashMap<i64, u32> = HashMap::new();
        let mut codes: HashMap<String, u32> = HashMap::new();
        let mut pairs: Vec<Interaction> = Vec::new();
        while let Some(batch) = stream.try_next().await.context(context)? {
            let column = |i: usize, to: &DataType| {
                cast(batch.column(i), to)
                    .map_err(DataFusionError::from)
                    .context(context)
            };
            let ids = column(0, &DataType::Int64)?;
            let items = column(1, &DataType::Utf8)?;
            let counts = column(2, &DataType::Int64)?;
            let (ids, items) = (ids.as_primitive::<Int64Type>(), items.as_string::<i32>());
            let counts = counts.as_primitive::<Int64Type>();
            for r in 0..batch.num_rows() {
                if ids.is_valid(r) && items.is_valid(r) {
                    let next = customers.len() as u32;
                    let user = *customers.entry(ids.value(r)).or_insert(next);
                    let item = items.value(r);
                    let item = match codes.get(item) {
                        Some(&first) => first,
                        None => {
                            let first = codes.len() as u32;
                            codes.insert(item.to_string(), first);
                            first
                        }
                    };
                    let count = counts.value(r).max(0) as f64;
                    pairs.push(Interaction { user, item, count });
                }
            }
        }
        indexed(pairs, customers, codes)
    })
    .await
}

/// The pairs renumbered by sorted id and code, so that a seed gives the same fit
/// whatever order the engine returned the rows in; `pairs` number customers and
/// codes as `customers` and `codes` do.
fn indexed(
    mut pairs: Vec<Interaction>,
    customers: HashMap<i64, u32>,
    codes: HashMap<String, u32>,
) -> Result<Matrix> {
    let (customers, customer_index) = sorted(customers);
    let (codes, code_index) = sorted(codes);
    for p in &mut pairs {
        p.user = customer_index[p.user as usize];
        p.item = code_index[p.item as usize];
    }
    let observed =
        Observed::new(customers.len(), codes.len(), pairs).map_err(LgsError::model("recommend"))?;
    Ok(Matrix {
        customers,
        codes,
        observed,
    })
}

/// The keys of `first` (each numbered by its first appearance) sorted, and for
/// each first-appearance number the key's sorted index.
fn sorted<K: Ord>(first: HashMap<K, u32>) -> (Vec<K>, Vec<u32>) {
    let mut keys: Vec<(K, u32)> = first.into_iter().collect();
    keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut index = vec![0u32; keys.len()];
    for (at, (_, number)) in keys.iter().enumerate() {
        index[*number as usize] = at as u32;
    }
    (keys.into_iter().map(|(key, _)| key).collect(), index)
}

/// The fit of the options' ALS to a matrix.
pub(super) fn fit(matrix: &Matrix, options: &RecommendOptions) -> Result<AlsModel> {
    if matrix.observed.is_empty() {
        return Err(LgsError::InvalidArgument {
            what: "recommend scope",
            message: format!(
                "no customer bought a product in the {}",
                options.scope.text()
            ),
        });
    }
    fit_observed(&matrix.observed, &options.als).map_err(LgsError::model("recommend"))
}

/// The model's summary: its size, options and how the loss ended.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelSummary {
    pub customers: u64,
    pub products: u64,
    /// Observed (customer, product) pairs.
    pub pairs: u64,
    pub factors: u64,
    pub iterations: u64,
    pub regularization: f64,
    pub alpha: f64,
    /// Conjugate-gradient steps per row and half-step (0: exact solves).
    pub cg_steps: u64,
    pub first_loss: f64,
    pub final_loss: f64,
    /// The last iteration's change of the loss, relative to it.
    pub last_change: f64,
}

pub(super) fn summary(
    matrix: &Matrix,
    model: &AlsModel,
    options: &RecommendOptions,
) -> ModelSummary {
    let losses = &model.losses;
    let last = losses[losses.len() - 1];
    let before = if losses.len() > 1 {
        losses[losses.len() - 2]
    } else {
        last
    };
    ModelSummary {
        customers: matrix.customers.len() as u64,
        products: matrix.codes.len() as u64,
        pairs: matrix.observed.len() as u64,
        factors: options.als.factors as u64,
        iterations: options.als.iterations as u64,
        regularization: options.als.regularization,
        alpha: options.als.alpha,
        cg_steps: options.als.cg_steps as u64,
        first_loss: losses[0],
        final_loss: last,
        last_change: (before - last) / last.abs().max(f64::MIN_POSITIVE),
    }
}

/// How the top n of a method did on the evaluated customers.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MethodScore {
    pub method: String,
    pub precision: f64,
    pub recall: f64,
    pub map: f64,
    pub hit_rate: f64,
}

/// The offline evaluation: ALS against popularity on the purchases after the
/// calibration end.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evaluation {
    pub calibration_end: chrono::NaiveDate,
    pub n: u64,
    /// Customers who bought, after the calibration end, a product they had not
    /// bought before it (and that was sold before it): the ones evaluated.
    pub customers: u64,
    pub methods: Vec<MethodScore>,
    pub model: ModelSummary,
}

/// Fits on the scope up to `end` and scores the top n of ALS and of popularity
/// (both leaving out what each customer already bought) against each customer's
/// new products after `end`.
pub(super) async fn evaluate(
    ctx: &SessionContext,
    options: &RecommendOptions,
    end: chrono::NaiveDate,
) -> Result<Evaluation> {
    // Two scans: one scan split at the calibration end grouped the two together,
    // as fast at 10.7M rows and 2.3 GB instead of 1 GB under --memory-limit 2GB.
    let scope = &options.scope;
    let after = end.succ_opt().unwrap_or(end);
    let train = Scope {
        until: Some(scope.until.map_or(end, |u| u.min(end))),
        ..scope.clone()
    };
    let test = Scope {
        since: Some(scope.since.map_or(after, |s| s.max(after))),
        ..scope.clone()
    };
    let training = matrix(ctx, &train).await?;
    let later = matrix(ctx, &test).await?;
    let model = fit(&training, options)?;
    let popular = training.popular();
    // Each evaluated customer: their index in training and the relevant products.
    let mut evaluated: Vec<(usize, Vec<u32>)> = Vec::new();
    for (u, &id) in later.customers.iter().enumerate() {
        let Some(c) = training.customer(id) else {
            continue;
        };
        let (items, before) = (later.bought(u), training.bought(c));
        let mut relevant: Vec<u32> = items
            .iter()
            .filter_map(|&i| training.code(&later.codes[i as usize]))
            .filter(|i| before.binary_search(i).is_err())
            .collect();
        relevant.sort_unstable();
        if !relevant.is_empty() {
            evaluated.push((c, relevant));
        }
    }
    let users: Vec<usize> = evaluated.iter().map(|(c, _)| *c).collect();
    let ranked = model.recommend_many(&users, options.n, |c| training.bought(c));
    let mut als = Vec::new();
    let mut baseline = Vec::new();
    for ((c, relevant), ranked) in evaluated.iter().zip(ranked) {
        let before = training.bought(*c);
        let ranked: Vec<u32> = ranked.into_iter().map(|(i, _)| i).collect();
        let offered: Vec<u32> = popular
            .iter()
            .copied()
            .filter(|i| before.binary_search(i).is_err())
            .take(options.n)
            .collect();
        if let (Some(a), Some(b)) = (
            rank(&ranked, relevant, options.n),
            rank(&offered, relevant, options.n),
        ) {
            als.push(a);
            baseline.push(b);
        }
    }
    let score = |method: &str, r: Ranking| MethodScore {
        method: method.into(),
        precision: r.precision,
        recall: r.recall,
        map: r.average_precision,
        hit_rate: r.hit,
    };
    Ok(Evaluation {
        calibration_end: end,
        n: options.n as u64,
        customers: als.len() as u64,
        methods: vec![
            score("als", mean(&als)),
            score("popularity", mean(&baseline)),
        ],
        model: summary(&training, &model, options),
    })
}

/// One product offered to a customer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Offer {
    pub customer_id: i64,
    pub rank: u64,
    pub stock_code: String,
    pub description: String,
    /// The model's predicted preference (1 is a product the customer buys).
    pub score: f64,
}

/// The top n products for each listed customer (all when `only` is None), leaving
/// out what each already bought; descriptions are filled in later.
pub(super) fn offers(
    matrix: &Matrix,
    model: &AlsModel,
    n: usize,
    only: Option<usize>,
) -> Vec<Offer> {
    let users: Vec<usize> = match only {
        Some(u) => vec![u],
        None => (0..matrix.customers.len()).collect(),
    };
    let lists = model.recommend_many(&users, n, |u| matrix.bought(u));
    let mut out = Vec::with_capacity(users.len() * n);
    for (u, ranked) in users.into_iter().zip(lists) {
        out.extend(ranked.into_iter().enumerate().map(|(r, (i, s))| Offer {
            customer_id: matrix.customers[u],
            rank: r as u64 + 1,
            stock_code: matrix.codes[i as usize].clone(),
            description: String::new(),
            score: s,
        }));
    }
    out
}

/// The error of a customer with no product in scope.
pub(super) fn unknown_customer(id: i64, scope: &Scope) -> LgsError {
    LgsError::InvalidArgument {
        what: "customer",
        message: format!(
            "customer {id} bought no product in the {} (check the id with \
             `lgs customer {id}`)",
            scope.text()
        ),
    }
}
