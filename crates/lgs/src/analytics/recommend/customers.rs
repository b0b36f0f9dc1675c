//! What to offer each customer: implicit-feedback ALS on the baskets in which each
//! customer bought each product ([`lgs_models::als`]), and its offline evaluation
//! against the most popular products: fit on the purchases up to a calibration
//! end, then see whether the customers' next new products were among the top n.
//!
//! The baskets by customer are SQL (one aggregation by invoice and customer); the
//! counts and the fit are Rust on them.

use std::sync::Arc;

use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool, MemoryReservation};
use datafusion::prelude::SessionContext;
use lgs_models::als::{AlsModel, Observed, fit_observed};
use lgs_models::ranking::{Ranking, mean, rank};
use serde::Serialize;

use super::RecommendOptions;
use crate::analytics::basket::lines::{Baskets, customer_baskets};
use crate::analytics::basket::scope::Scope;
use crate::error::{LgsError, Result};

/// Customers × products with the baskets of each pair bought.
pub(super) struct Matrix {
    /// Sorted customer ids: a customer's index is its position.
    pub customers: Vec<i64>,
    /// Sorted stock codes.
    pub codes: Vec<String>,
    /// The pairs by customer (each customer's products sorted by index).
    pub observed: Observed,
    /// The memory pool's account of the pairs: the queries that run while they
    /// are held (the later baskets of an evaluation) spill sooner.
    _held: MemoryReservation,
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
/// without a customer are left out. The baskets come from one aggregation by
/// invoice and customer ([`customer_baskets`]), and are counted here customer by
/// customer straight into the pairs by customer.
pub(super) async fn matrix(ctx: &SessionContext, scope: &Scope) -> Result<Matrix> {
    let (clause, params) = scope.sql();
    let baskets = customer_baskets(ctx, &clause, params).await?;
    // What the aggregation freed goes back before the pairs are counted, and the
    // baskets' own memory after, so that the fit's resident size is its data's.
    crate::memory::release_freed();
    let matrix = counted(&baskets, &ctx.runtime_env().memory_pool);
    drop(baskets);
    crate::memory::release_freed();
    matrix
}

/// Counts each customer's baskets per product; customers and codes by sorted id
/// and code, so that a seed gives the same fit whatever order the engine returned
/// the baskets in.
fn counted(baskets: &Baskets, pool: &Arc<dyn MemoryPool>) -> Result<Matrix> {
    let mut codes: Vec<(&str, u32)> = baskets
        .names
        .iter()
        .enumerate()
        .map(|(id, name)| (name.as_str(), id as u32))
        .collect();
    codes.sort_unstable();
    // The sorted index of each item id.
    let mut code_index = vec![0u32; codes.len()];
    for (at, (_, id)) in codes.iter().enumerate() {
        code_index[*id as usize] = at as u32;
    }
    let owners = &baskets.customers;
    let mut order: Vec<u32> = (0..owners.len() as u32).collect();
    order.sort_unstable_by_key(|&b| (owners[b as usize], b));
    // Each customer's baskets: order[starts[c]..starts[c + 1]].
    let mut starts: Vec<usize> = (0..order.len())
        .filter(|&at| at == 0 || owners[order[at] as usize] != owners[order[at - 1] as usize])
        .collect();
    starts.push(order.len());
    let customers: Vec<i64> = starts[..starts.len() - 1]
        .iter()
        .map(|&at| owners[order[at] as usize])
        .collect();
    let items_of = |c: usize| {
        order[starts[c]..starts[c + 1]]
            .iter()
            .flat_map(|&b| baskets.basket(b as usize))
            .map(|&item| code_index[item as usize])
    };
    // First the number of products of each customer, so that the pairs (51M at
    // 100M lines) are allocated once at their size.
    let mut last = vec![u32::MAX; codes.len()];
    let mut offsets = Vec::with_capacity(customers.len() + 1);
    offsets.push(0usize);
    for c in 0..customers.len() {
        let mut distinct = 0;
        for i in items_of(c) {
            if last[i as usize] != c as u32 {
                last[i as usize] = c as u32;
                distinct += 1;
            }
        }
        offsets.push(offsets[c] + distinct);
    }
    let pairs = offsets[customers.len()];
    let (mut index, mut counts) = (Vec::with_capacity(pairs), Vec::with_capacity(pairs));
    // One customer's count per product, and the products they bought.
    let mut per = vec![0u32; codes.len()];
    let mut touched: Vec<u32> = Vec::new();
    for c in 0..customers.len() {
        for i in items_of(c) {
            if per[i as usize] == 0 {
                touched.push(i);
            }
            per[i as usize] += 1;
        }
        touched.sort_unstable();
        for &i in &touched {
            index.push(i);
            counts.push(per[i as usize] as f32);
            per[i as usize] = 0;
        }
        touched.clear();
    }
    let observed = Observed::by_rows(codes.len(), offsets, index, counts)
        .map_err(LgsError::model("recommend"))?;
    let held = MemoryConsumer::new("recommend: customers × products").register(pool);
    held.resize(observed.heap_bytes());
    Ok(Matrix {
        customers,
        codes: codes
            .into_iter()
            .map(|(code, _)| code.to_string())
            .collect(),
        observed,
        _held: held,
    })
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
    // Fitted before the later baskets are read: the fit's copy by product is
    // gone by then.
    let model = fit(&training, options)?;
    let later = matrix(ctx, &test).await?;
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

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{
        ArrayRef, AsArray, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray,
    };
    use datafusion::arrow::datatypes::{DataType, Int64Type};

    use super::*;
    use crate::analytics::basket::scope::PRODUCT;
    use crate::schema::RETAIL_TABLE;

    /// Hand-made lines: (invoice, customer, code, quantity, cancellation).
    fn lines() -> RecordBatch {
        let rows: [(&str, Option<i64>, &str, i32, bool); 12] = [
            // Customer 10's first basket: A sums to 0 units, postage is no product.
            ("I1", Some(10), "10001", 1, false),
            ("I1", Some(10), "10002", 2, false),
            ("I1", Some(10), "10001", -1, false),
            ("I1", Some(10), "POST", 1, false),
            ("I2", Some(10), "10001", 3, false),
            ("I2", Some(10), "10003", 1, false),
            // Customer 20: B twice in one basket counts once; C with 0 units not.
            ("I3", Some(20), "10002", 1, false),
            ("I3", Some(20), "10002", 1, false),
            ("I3", Some(20), "10003", 0, false),
            // No customer, and a cancellation: neither counts.
            ("I4", None, "10001", 5, false),
            ("C5", Some(20), "10001", 4, true),
            ("I6", Some(20), "10002", 2, false),
        ];
        RecordBatch::try_from_iter([
            (
                "invoice_no",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
            ),
            (
                "customer_id",
                Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1))) as ArrayRef,
            ),
            (
                "stock_code",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))) as ArrayRef,
            ),
            (
                "quantity",
                Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.3))) as ArrayRef,
            ),
            (
                "is_cancellation",
                Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.4)))) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    #[tokio::test]
    async fn counts_each_customers_baskets_per_product_as_by_hand_and_by_sql() {
        let ctx = SessionContext::new();
        ctx.register_batch(RETAIL_TABLE, lines()).unwrap();
        let m = matrix(&ctx, &Scope::default()).await.unwrap();
        assert_eq!(m.customers, vec![10, 20]);
        assert_eq!(m.codes, vec!["10001", "10002", "10003"]);
        assert_eq!(m.bought(0), &[0, 1, 2]);
        assert_eq!(m.observed.counts_of(0), &[1.0, 1.0, 1.0]);
        assert_eq!(m.bought(1), &[1]);
        assert_eq!(m.observed.counts_of(1), &[2.0]);
        // The pairs are on the memory pool's account while they are held, and
        // only they (the baskets they came from are gone).
        let pool = &ctx.runtime_env().memory_pool;
        assert_eq!(pool.reserved(), m.observed.heap_bytes());
        assert!(pool.reserved() > 0);
        // The same counts as the three-level SQL the matrix was once read with.
        let sql = format!(
            "SELECT customer_id, item, count(*) AS baskets FROM ( \
               SELECT invoice_no, customer_id, stock_code AS item FROM {RETAIL_TABLE} \
               WHERE NOT is_cancellation AND {PRODUCT} AND customer_id IS NOT NULL \
               GROUP BY invoice_no, customer_id, stock_code HAVING sum(quantity) >= 1) \
             GROUP BY customer_id, item ORDER BY customer_id, item"
        );
        let mut want = Vec::new();
        for b in ctx.sql(&sql).await.unwrap().collect().await.unwrap() {
            let (ids, items) = (b.column(0).as_primitive::<Int64Type>(), b.column(1));
            let items = datafusion::arrow::compute::cast(items, &DataType::Utf8).unwrap();
            let counts = b.column(2).as_primitive::<Int64Type>();
            for r in 0..b.num_rows() {
                let item = items.as_string::<i32>().value(r).to_string();
                want.push((ids.value(r), item, counts.value(r) as f32));
            }
        }
        let mut got = Vec::new();
        for (u, &id) in m.customers.iter().enumerate() {
            for (&i, &c) in m.bought(u).iter().zip(m.observed.counts_of(u)) {
                got.push((id, m.codes[i as usize].clone(), c));
            }
        }
        assert_eq!(got, want);
        drop(m);
        assert_eq!(ctx.runtime_env().memory_pool.reserved(), 0);
    }
}
