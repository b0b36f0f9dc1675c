//! Implicit-feedback matrix factorisation by alternating least squares (Hu, Koren
//! & Volinsky 2008, "Collaborative Filtering for Implicit Feedback Datasets").
//!
//! Each observed (user, item) pair has a count r > 0 (here: the baskets in which a
//! customer bought a product); its preference is 1 with confidence c = 1 + α·r,
//! and every unobserved pair has preference 0 with confidence 1. The factors X
//! (users) and Y (items) minimise
//!
//! Σ_{u,i} c_ui (p_ui − x_u·y_i)² + λ (Σ_u |x_u|² + Σ_i |y_i|²)
//!
//! over all pairs, observed or not. Each half-step solves every user's (then
//! every item's) normal equations (YᵀY + Yᵀ(C_u − I)Y + λI) x_u = Yᵀ C_u p_u with
//! the paper's speed-up: YᵀY once per half-step, then only the user's observed
//! items. Two ways ([`AlsOptions::cg_steps`]):
//!
//! - **Conjugate gradient** (the default, 3 steps from the row's current factors;
//!   Takács, Pilászy & Tikk 2011, as the `implicit` library): each step costs
//!   O(k² + n·k) for a row of n observed pairs, against O(n·k²) for forming the
//!   system, and each step lowers the row's quadratic objective.
//! - **Exact** (`cg_steps` 0): the system formed and solved by Cholesky.
//!
//! Either way each half-step cannot raise the loss; the loss after every
//! iteration is reported. Solves run in fixed chunks on scoped threads, so a seed
//! gives the same factors on any number of cores.

use std::borrow::Cow;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::ModelError;
use crate::parallel::chunked;

/// Rows (users or items) per chunk of parallel solves.
const CHUNK: usize = 512;

/// What a fit does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlsOptions {
    /// Latent factors per user and item.
    pub factors: usize,
    pub iterations: usize,
    /// λ, the weight of the factors' squared norms.
    pub regularization: f64,
    /// α of the confidence 1 + α·r.
    pub alpha: f64,
    pub seed: u64,
    /// Conjugate-gradient steps per row and half-step; 0 solves each row's
    /// normal equations exactly.
    pub cg_steps: usize,
}

impl Default for AlsOptions {
    fn default() -> Self {
        AlsOptions {
            factors: 32,
            iterations: 15,
            regularization: 0.1,
            // Spark's default too; on the real data, fitted up to 2011-06-30, α 1
            // gave precision@10 0.084 against 0.068 for α 10 (BENCHMARKS.md).
            alpha: 1.0,
            seed: 42,
            cg_steps: 3,
        }
    }
}

/// An observed pair: user, item (indices from 0) and its count (> 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interaction {
    pub user: u32,
    pub item: u32,
    pub count: f64,
}

/// The fitted factors (rows of `factors` values) and the loss after each iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct AlsModel {
    pub factors: usize,
    pub users: Vec<f64>,
    pub items: Vec<f64>,
    pub losses: Vec<f64>,
}

/// The observed pairs by user: each user's items in order, with their counts.
/// Counts are held as `f32`, exact for whole counts up to 2²⁴ (a count of baskets
/// always is), so that 51M pairs take 8 bytes each; the confidences are computed
/// from them in `f64`.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    items: usize,
    offsets: Vec<usize>,
    index: Vec<u32>,
    counts: Vec<f32>,
}

impl Observed {
    /// The pairs of `users` × `items` (in any order; a repeated pair is an error).
    pub fn new(
        users: usize,
        items: usize,
        mut pairs: Vec<Interaction>,
    ) -> Result<Self, ModelError> {
        // Checked here too, in the order given: the rows below index by user.
        for (index, o) in pairs.iter().enumerate() {
            if let Some(message) = bad_pair(o.user, o.item, o.count, users, items) {
                return Err(ModelError::BadHistory { index, message });
            }
        }
        pairs.sort_unstable_by_key(|p| (p.user, p.item));
        let mut offsets = vec![0usize; users + 1];
        for p in &pairs {
            offsets[p.user as usize + 1] += 1;
        }
        for u in 0..users {
            offsets[u + 1] += offsets[u];
        }
        let index = pairs.iter().map(|p| p.item).collect();
        let counts = pairs.iter().map(|p| p.count as f32).collect();
        drop(pairs);
        Self::by_rows(items, offsets, index, counts)
    }

    /// Pairs already gathered by user: user `u`'s items are
    /// `index[offsets[u]..offsets[u + 1]]` (increasing) with their `counts`.
    pub fn by_rows(
        items: usize,
        offsets: Vec<usize>,
        index: Vec<u32>,
        counts: Vec<f32>,
    ) -> Result<Self, ModelError> {
        let bad = |index: usize, message: String| Err(ModelError::BadHistory { index, message });
        if offsets.first() != Some(&0)
            || offsets.last() != Some(&index.len())
            || index.len() != counts.len()
            || offsets.windows(2).any(|w| w[0] > w[1])
        {
            return bad(0, "the rows' offsets do not match the pairs".into());
        }
        let users = offsets.len() - 1;
        for u in 0..users {
            let span = offsets[u]..offsets[u + 1];
            for at in span.clone() {
                let (item, count) = (index[at], counts[at]);
                if let Some(message) = bad_pair(u as u32, item, count, users, items) {
                    return bad(at, message);
                }
                if at > span.start && index[at - 1] >= item {
                    let message = match index[at - 1] == item {
                        true => format!("pair ({u}, {item}) is given twice"),
                        false => format!("user {u}'s items are not in order"),
                    };
                    return bad(at, message);
                }
            }
        }
        Ok(Observed {
            items,
            offsets,
            index,
            counts,
        })
    }

    /// Users (rows), whether or not they have pairs.
    pub fn users(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Items (columns), whether or not they have pairs.
    pub fn items(&self) -> usize {
        self.items
    }

    /// Observed pairs.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The bytes it holds.
    pub fn heap_bytes(&self) -> usize {
        self.offsets.capacity() * size_of::<usize>()
            + self.index.capacity() * size_of::<u32>()
            + self.counts.capacity() * size_of::<f32>()
    }

    /// A user's items, in order.
    pub fn items_of(&self, user: usize) -> &[u32] {
        &self.index[self.offsets[user]..self.offsets[user + 1]]
    }

    /// The counts of a user's items, in the order of [`Self::items_of`].
    pub fn counts_of(&self, user: usize) -> &[f32] {
        &self.counts[self.offsets[user]..self.offsets[user + 1]]
    }

    /// The number of users who have each item.
    pub fn users_per_item(&self) -> Vec<u64> {
        let mut per = vec![0u64; self.items];
        for &i in &self.index {
            per[i as usize] += 1;
        }
        per
    }

    /// The pairs by user, as the fit reads them with confidence 1 + `alpha`·count.
    fn by_user(&self, alpha: f64) -> Sparse<'_> {
        Sparse {
            offsets: Cow::Borrowed(&self.offsets),
            index: Cow::Borrowed(&self.index),
            counts: Cow::Borrowed(&self.counts),
            alpha,
        }
    }

    /// The same pairs by item (each item's users in order), as the fit reads them.
    fn by_item(&self, alpha: f64) -> Sparse<'static> {
        let mut offsets = vec![0usize; self.items + 1];
        for &i in &self.index {
            offsets[i as usize + 1] += 1;
        }
        for i in 0..self.items {
            offsets[i + 1] += offsets[i];
        }
        let mut next = offsets.clone();
        let mut index = vec![0u32; self.index.len()];
        let mut counts = vec![0f32; self.index.len()];
        for user in 0..self.users() {
            let span = self.offsets[user]..self.offsets[user + 1];
            for (&i, &c) in self.index[span.clone()].iter().zip(&self.counts[span]) {
                let at = &mut next[i as usize];
                index[*at] = user as u32;
                counts[*at] = c;
                *at += 1;
            }
        }
        Sparse {
            offsets: Cow::Owned(offsets),
            index: Cow::Owned(index),
            counts: Cow::Owned(counts),
            alpha,
        }
    }
}

/// Why a pair cannot be one of `users` × `items` with a positive count, if it
/// cannot.
fn bad_pair<C: Into<f64> + Copy + std::fmt::Display>(
    user: u32,
    item: u32,
    count: C,
    users: usize,
    items: usize,
) -> Option<String> {
    let value: f64 = count.into();
    (user as usize >= users || item as usize >= items || value.is_nan() || value <= 0.0).then(
        || {
            format!(
                "pair ({user}, {item}) with count {count} is outside {users} users × {items} \
                 items or not positive"
            )
        },
    )
}

/// Rows of observed pairs: for each row (user or item), the other side's index and
/// the count, whose confidence is 1 + α·count.
struct Sparse<'a> {
    offsets: Cow<'a, [usize]>,
    index: Cow<'a, [u32]>,
    counts: Cow<'a, [f32]>,
    alpha: f64,
}

impl Sparse<'_> {
    fn rows(&self) -> usize {
        self.offsets.len() - 1
    }

    fn row(&self, r: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let span = self.offsets[r]..self.offsets[r + 1];
        let alpha = self.alpha;
        self.index[span.clone()]
            .iter()
            .zip(&self.counts[span])
            .map(move |(&i, &c)| (i as usize, 1.0 + alpha * c as f64))
    }
}

/// Fits the factors of `users` × `items` to the observed pairs.
pub fn fit_implicit(
    users: usize,
    items: usize,
    observed: &[Interaction],
    options: &AlsOptions,
) -> Result<AlsModel, ModelError> {
    check(options)?;
    let observed = Observed::new(users, items, observed.to_vec())?;
    fit_observed(&observed, options)
}

fn check(options: &AlsOptions) -> Result<(), ModelError> {
    if options.factors == 0 || options.iterations == 0 {
        return Err(ModelError::NoData(
            "ALS needs at least one factor and one iteration".into(),
        ));
    }
    if !(options.regularization > 0.0 && options.alpha >= 0.0) {
        return Err(ModelError::NoData(
            "ALS needs a regularization above 0 and an alpha of at least 0".into(),
        ));
    }
    Ok(())
}

/// [`fit_implicit`] on pairs already gathered by user: besides them, the fit holds
/// only their transpose (8 bytes a pair) and the factors.
pub fn fit_observed(observed: &Observed, options: &AlsOptions) -> Result<AlsModel, ModelError> {
    check(options)?;
    if observed.is_empty() {
        return Err(ModelError::NoData("no observed (user, item) pair".into()));
    }
    let k = options.factors;
    let (users, items) = (observed.users(), observed.items());
    let by_user = observed.by_user(options.alpha);
    let by_item = observed.by_item(options.alpha);
    // Small random factors, as implicit and Spark start.
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let scale = 0.01;
    let mut x: Vec<f64> = (0..users * k)
        .map(|_| rng.random::<f64>() * scale)
        .collect();
    let mut y: Vec<f64> = (0..items * k)
        .map(|_| rng.random::<f64>() * scale)
        .collect();
    let lambda = options.regularization;
    let mut losses = Vec::with_capacity(options.iterations);
    let steps = options.cg_steps;
    for _ in 0..options.iterations {
        x = half_step(&by_user, &y, &x, k, lambda, steps);
        y = half_step(&by_item, &x, &y, k, lambda, steps);
        losses.push(loss(&by_user, &x, &y, k, lambda));
    }
    Ok(AlsModel {
        factors: k,
        users: x,
        items: y,
        losses,
    })
}

/// Gram matrix FᵀF of the rows of `f` (k × k, row-major).
fn gram(f: &[f64], k: usize) -> Vec<f64> {
    let mut g = vec![0.0; k * k];
    for row in f.chunks_exact(k) {
        for a in 0..k {
            let ra = row[a];
            for b in a..k {
                g[a * k + b] += ra * row[b];
            }
        }
    }
    for a in 0..k {
        for b in 0..a {
            g[a * k + b] = g[b * k + a];
        }
    }
    g
}

/// YᵀY + λI of the other side's factors `f` (k values a row): the part of every
/// row's normal equations that does not depend on the row.
fn regularised_gram(f: &[f64], k: usize, lambda: f64) -> Vec<f64> {
    let mut g = gram(f, k);
    for d in 0..k {
        g[d * k + d] += lambda;
    }
    g
}

/// Every row's new factors given the other side's factors `other`: `steps`
/// conjugate-gradient steps from the rows' `current` factors, or exact solves.
fn half_step(
    rows: &Sparse,
    other: &[f64],
    current: &[f64],
    k: usize,
    lambda: f64,
    steps: usize,
) -> Vec<f64> {
    match steps {
        0 => exact_step(rows, other, k, lambda),
        steps => gradient_step(rows, other, current, k, lambda, steps),
    }
}

/// `out` = `a`·`v` for a k × k row-major `a`.
#[inline(always)]
fn mat_vec(a: &[f64], v: &[f64], out: &mut [f64]) {
    for (o, row) in out.iter_mut().zip(a.chunks_exact(v.len())) {
        *o = dot(row, v);
    }
}

/// `y` += `w`·`x`.
#[inline(always)]
fn axpy(w: f64, x: &[f64], y: &mut [f64]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += w * x;
    }
}

/// `steps` conjugate-gradient steps on each row's normal equations A x = b, from
/// the row's current factors, never forming A: A·v is (YᵀY + λI)·v plus, over the
/// row's observed pairs, (c − 1)(y·v) y.
fn gradient_step(
    rows: &Sparse,
    other: &[f64],
    current: &[f64],
    k: usize,
    lambda: f64,
    steps: usize,
) -> Vec<f64> {
    let base = regularised_gram(other, k, lambda);
    let n = rows.rows();
    let parts = chunked(n, CHUNK, |range| {
        let job = Rows {
            rows,
            other,
            current,
            base: &base,
            k,
            steps,
        };
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: this CPU has AVX2, checked just above.
            return unsafe { job.solve_avx2(range) };
        }
        job.solve(range)
    });
    parts.concat()
}

/// One chunk's share of a conjugate-gradient half-step.
struct Rows<'a> {
    rows: &'a Sparse<'a>,
    other: &'a [f64],
    current: &'a [f64],
    /// YᵀY + λI.
    base: &'a [f64],
    k: usize,
    steps: usize,
}

impl Rows<'_> {
    /// [`Self::solve`] compiled for AVX2: the same operations in the same order
    /// (no fused multiply-add), so the same factors, in twice as wide vectors.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn solve_avx2(&self, range: std::ops::Range<usize>) -> Vec<f64> {
        self.solve(range)
    }

    /// The new factors of the rows in `range`.
    #[inline(always)]
    fn solve(&self, range: std::ops::Range<usize>) -> Vec<f64> {
        let Rows {
            rows,
            other,
            current,
            base,
            k,
            steps,
        } = *self;
        let mut out = Vec::with_capacity(range.len() * k);
        let (mut r, mut p, mut ap) = (vec![0.0; k], vec![0.0; k], vec![0.0; k]);
        for row in range {
            let start = out.len();
            out.extend_from_slice(&current[row * k..(row + 1) * k]);
            let x = &mut out[start..];
            // r = b − A x = Σ (c − (c − 1)(y·x)) y − (YᵀY + λI) x.
            mat_vec(base, x, &mut r);
            r.iter_mut().for_each(|v| *v = -*v);
            for (i, c) in rows.row(row) {
                let yi = &other[i * k..(i + 1) * k];
                axpy(c - (c - 1.0) * dot(yi, x), yi, &mut r);
            }
            p.copy_from_slice(&r);
            let mut rs = dot(&r, &r);
            for _ in 0..steps {
                if rs <= 1e-30 {
                    break;
                }
                mat_vec(base, &p, &mut ap);
                for (i, c) in rows.row(row) {
                    let yi = &other[i * k..(i + 1) * k];
                    axpy((c - 1.0) * dot(yi, &p), yi, &mut ap);
                }
                let step = rs / dot(&p, &ap);
                axpy(step, &p, x);
                axpy(-step, &ap, &mut r);
                let next = dot(&r, &r);
                let keep = next / rs;
                for (p, r) in p.iter_mut().zip(&r) {
                    *p = r + keep * *p;
                }
                rs = next;
            }
        }
        out
    }
}

/// Solves every row's normal equations exactly given the other side's factors
/// `other`.
fn exact_step(rows: &Sparse, other: &[f64], k: usize, lambda: f64) -> Vec<f64> {
    let base = regularised_gram(other, k, lambda);
    let n = rows.rows();
    let parts = chunked(n, CHUNK, |range| {
        let mut out = Vec::with_capacity(range.len() * k);
        let mut a = vec![0.0; k * k];
        let mut b = vec![0.0; k];
        for r in range {
            a.copy_from_slice(&base);
            b.fill(0.0);
            for (i, c) in rows.row(r) {
                let yi = &other[i * k..(i + 1) * k];
                for p in 0..k {
                    let w = (c - 1.0) * yi[p];
                    let row = &mut a[p * k..(p + 1) * k];
                    for (q, v) in row.iter_mut().enumerate().skip(p) {
                        *v += w * yi[q];
                    }
                    b[p] += c * yi[p];
                }
            }
            for p in 0..k {
                for q in 0..p {
                    a[p * k + q] = a[q * k + p];
                }
            }
            cholesky_solve(&mut a, &mut b, k);
            out.extend_from_slice(&b);
        }
        out
    });
    parts.concat()
}

/// Solves A·x = b in place for a symmetric positive definite A (k × k, row-major):
/// A is overwritten by its Cholesky factor L (A = L·Lᵀ), b by x.
pub fn cholesky_solve(a: &mut [f64], b: &mut [f64], k: usize) {
    for j in 0..k {
        let mut d = a[j * k + j];
        for p in 0..j {
            d -= a[j * k + p] * a[j * k + p];
        }
        // λ > 0 keeps A positive definite; the floor only guards rounding.
        let d = d.max(f64::MIN_POSITIVE).sqrt();
        a[j * k + j] = d;
        for i in j + 1..k {
            let mut s = a[i * k + j];
            for p in 0..j {
                s -= a[i * k + p] * a[j * k + p];
            }
            a[i * k + j] = s / d;
        }
    }
    for i in 0..k {
        let mut s = b[i];
        for p in 0..i {
            s -= a[i * k + p] * b[p];
        }
        b[i] = s / a[i * k + i];
    }
    for i in (0..k).rev() {
        let mut s = b[i];
        for p in i + 1..k {
            s -= a[p * k + i] * b[p];
        }
        b[i] = s / a[i * k + i];
    }
}

/// a·b, summed in eight lanes: a sum in one running total is a chain of
/// dependent additions, which the compiler may not reorder into vector lanes.
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut lanes = [0.0f64; 8];
    for (x, y) in a8.zip(b8) {
        for ((lane, x), y) in lanes.iter_mut().zip(x).zip(y) {
            *lane += x * y;
        }
    }
    lanes.iter().sum::<f64>() + tail
}

/// The objective over every pair: Σ_all s² (from YᵀY) plus, on the observed pairs,
/// c(1 − s)² − s², plus the penalty.
fn loss(by_user: &Sparse, x: &[f64], y: &[f64], k: usize, lambda: f64) -> f64 {
    let g = gram(y, k);
    let users = by_user.rows();
    let parts = chunked(users, CHUNK, |range| {
        let mut total = 0.0;
        let mut gx = vec![0.0; k];
        for u in range {
            let xu = &x[u * k..(u + 1) * k];
            for (p, v) in gx.iter_mut().enumerate() {
                *v = dot(&g[p * k..(p + 1) * k], xu);
            }
            total += dot(xu, &gx);
            for (i, c) in by_user.row(u) {
                let s = dot(xu, &y[i * k..(i + 1) * k]);
                total += c * (1.0 - s) * (1.0 - s) - s * s;
            }
        }
        total
    });
    let penalty = lambda * (dot(x, x) + dot(y, y));
    parts.iter().sum::<f64>() + penalty
}

impl AlsModel {
    /// A user's predicted preference for every item.
    pub fn scores(&self, user: usize) -> Vec<f64> {
        self.scored(user).collect()
    }

    /// Each item's score for `user`, in item order.
    fn scored(&self, user: usize) -> impl Iterator<Item = f64> + '_ {
        let k = self.factors;
        let xu = &self.users[user * k..(user + 1) * k];
        self.items.chunks_exact(k).map(move |yi| dot(xu, yi))
    }

    /// The `n` items of the highest score for `user`, best first (ties by item),
    /// leaving out `exclude`.
    pub fn recommend(&self, user: usize, n: usize, exclude: &[u32]) -> Vec<(u32, f64)> {
        let mut scored = Vec::new();
        self.rank_into(user, n, exclude, &mut scored);
        scored
    }

    /// [`Self::recommend`] into `scored` (cleared first), which keeps its room
    /// for the next user.
    fn rank_into(&self, user: usize, n: usize, exclude: &[u32], scored: &mut Vec<(u32, f64)>) {
        scored.clear();
        scored.extend(self.scored(user).enumerate().map(|(i, s)| (i as u32, s)));
        for &i in exclude {
            if let Some(s) = scored.get_mut(i as usize) {
                s.1 = f64::NAN;
            }
        }
        scored.retain(|(_, s)| !s.is_nan());
        top(scored, n);
    }

    /// [`Self::recommend`] for each of `users` (leaving out `exclude(user)`), in
    /// fixed chunks on scoped threads; the lists in the order of `users`.
    pub fn recommend_many<'a>(
        &self,
        users: &[usize],
        n: usize,
        exclude: impl Fn(usize) -> &'a [u32] + Sync,
    ) -> Vec<Vec<(u32, f64)>> {
        chunked(users.len(), CHUNK, |range| {
            let mut scored = Vec::new();
            users[range]
                .iter()
                .map(|&u| {
                    self.rank_into(u, n, exclude(u), &mut scored);
                    scored.clone()
                })
                .collect::<Vec<_>>()
        })
        .concat()
    }
}

/// Keeps the `n` pairs of the highest score, best first (ties by the smaller id).
pub fn top(scored: &mut Vec<(u32, f64)>, n: usize) {
    let order = |a: &(u32, f64), b: &(u32, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if scored.len() > n && n > 0 {
        scored.select_nth_unstable_by(n - 1, order);
        scored.truncate(n);
    }
    if n == 0 {
        scored.clear();
    }
    scored.sort_by(order);
}
