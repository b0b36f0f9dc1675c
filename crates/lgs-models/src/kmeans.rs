//! k-means clustering as scikit-learn's `KMeans` does it: greedy k-means++ seeding
//! (2 + ⌊ln k⌋ candidates per centre, the one that lowers the potential most),
//! Lloyd's iterations until the centres move less than `tol` times the data's mean
//! variance (or no label changes), several restarts keeping the lowest inertia;
//! and the exact silhouette score.
//!
//! Points are rows of a flat slice (`dim` values each). The assignment step and
//! the silhouette run in fixed-size chunks on scoped threads; partial sums are
//! combined in chunk order, so a seed gives the same result on any number of cores.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::ModelError;
use crate::parallel::chunked;

/// Points per chunk of parallel work.
const CHUNK: usize = 16_384;

/// A clustering: centres (k rows of `dim`), each point's cluster, and the inertia
/// (the sum of squared distances of the points to their centres).
#[derive(Debug, Clone, PartialEq)]
pub struct Clustering {
    pub k: usize,
    pub dim: usize,
    pub centres: Vec<f64>,
    pub labels: Vec<usize>,
    pub inertia: f64,
    pub iterations: usize,
}

/// What a fit does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KMeansOptions {
    pub restarts: usize,
    pub max_iterations: usize,
    /// Relative tolerance on the centres' movement (scikit-learn's `tol`).
    pub tol: f64,
    pub seed: u64,
}

impl Default for KMeansOptions {
    fn default() -> Self {
        KMeansOptions {
            restarts: 10,
            max_iterations: 300,
            tol: 1e-4,
            seed: 42,
        }
    }
}

fn distance2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Greedy k-means++ seeding.
fn seed_centres(points: &[f64], dim: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let n = points.len() / dim;
    let row = |i: usize| &points[i * dim..(i + 1) * dim];
    let trials = 2 + (k as f64).ln().floor() as usize;
    let mut centres = row(rng.random_range(0..n)).to_vec();
    let mut closest: Vec<f64> = (0..n).map(|i| distance2(row(i), &centres[..dim])).collect();
    let mut potential: f64 = closest.iter().sum();
    for _ in 1..k {
        let mut best: Option<(f64, usize, Vec<f64>)> = None;
        for _ in 0..trials {
            // A point drawn with probability proportional to its squared distance.
            let target = rng.random::<f64>() * potential;
            let mut acc = 0.0;
            let mut pick = n - 1;
            for (i, d) in closest.iter().enumerate() {
                acc += d;
                if acc > target {
                    pick = i;
                    break;
                }
            }
            let candidate = row(pick);
            let updated: Vec<f64> = (0..n)
                .map(|i| closest[i].min(distance2(row(i), candidate)))
                .collect();
            let total: f64 = updated.iter().sum();
            if best.as_ref().is_none_or(|b| total < b.0) {
                best = Some((total, pick, updated));
            }
        }
        let (total, pick, updated) = best.expect("at least one trial");
        centres.extend_from_slice(row(pick));
        closest = updated;
        potential = total;
    }
    centres
}

/// Labels every point with its nearest centre; returns the inertia.
fn assign(points: &[f64], dim: usize, centres: &[f64], labels: &mut [usize]) -> f64 {
    let n = points.len() / dim;
    let k = centres.len() / dim;
    let parts = chunked(n, CHUNK, |range| {
        let mut inertia = 0.0;
        let mut own = Vec::with_capacity(range.len());
        for i in range {
            let p = &points[i * dim..(i + 1) * dim];
            let (mut best, mut best_d) = (0, f64::INFINITY);
            for c in 0..k {
                let d = distance2(p, &centres[c * dim..(c + 1) * dim]);
                if d < best_d {
                    best = c;
                    best_d = d;
                }
            }
            own.push(best);
            inertia += best_d;
        }
        (own, inertia)
    });
    let mut inertia = 0.0;
    let mut at = 0;
    for (own, part) in parts {
        labels[at..at + own.len()].copy_from_slice(&own);
        at += own.len();
        inertia += part;
    }
    inertia
}

/// One run of Lloyd's algorithm from `centres`.
fn lloyd(
    points: &[f64],
    dim: usize,
    mut centres: Vec<f64>,
    o: &KMeansOptions,
    tol: f64,
) -> Clustering {
    let n = points.len() / dim;
    let k = centres.len() / dim;
    let mut labels = vec![usize::MAX; n];
    let mut previous = labels.clone();
    let mut iterations = 0;
    for _ in 0..o.max_iterations {
        iterations += 1;
        assign(points, dim, &centres, &mut labels);
        let mut sums = vec![0.0; k * dim];
        let mut counts = vec![0usize; k];
        for (i, &l) in labels.iter().enumerate() {
            counts[l] += 1;
            for d in 0..dim {
                sums[l * dim + d] += points[i * dim + d];
            }
        }
        let mut moved = 0.0;
        for c in 0..k {
            let new: Vec<f64> = if counts[c] == 0 {
                // An empty cluster takes the point farthest from its centre.
                let far = (0..n)
                    .max_by(|&a, &b| {
                        let da = distance2(
                            &points[a * dim..(a + 1) * dim],
                            &centres[labels[a] * dim..(labels[a] + 1) * dim],
                        );
                        let db = distance2(
                            &points[b * dim..(b + 1) * dim],
                            &centres[labels[b] * dim..(labels[b] + 1) * dim],
                        );
                        da.total_cmp(&db)
                    })
                    .unwrap_or(0);
                points[far * dim..(far + 1) * dim].to_vec()
            } else {
                (0..dim)
                    .map(|d| sums[c * dim + d] / counts[c] as f64)
                    .collect()
            };
            moved += distance2(&centres[c * dim..(c + 1) * dim], &new);
            centres[c * dim..(c + 1) * dim].copy_from_slice(&new);
        }
        if labels == previous || moved <= tol {
            break;
        }
        previous.clone_from(&labels);
    }
    // The labels and inertia of the final centres.
    let inertia = assign(points, dim, &centres, &mut labels);
    Clustering {
        k,
        dim,
        centres,
        labels,
        inertia,
        iterations,
    }
}

/// k-means of the rows of `points` (`dim` values each) into `k` clusters: the best
/// of `o.restarts` runs.
pub fn kmeans(
    points: &[f64],
    dim: usize,
    k: usize,
    o: &KMeansOptions,
) -> Result<Clustering, ModelError> {
    let n = points.len().checked_div(dim).unwrap_or(0);
    if k < 1 || n < k || o.restarts == 0 {
        return Err(ModelError::NoData(format!(
            "k-means into {k} clusters needs at least {k} points and a restart (got {n} points)"
        )));
    }
    // scikit-learn's tolerance: tol × the mean of the features' variances.
    let mean_variance = (0..dim)
        .map(|d| {
            let m = (0..n).map(|i| points[i * dim + d]).sum::<f64>() / n as f64;
            (0..n)
                .map(|i| (points[i * dim + d] - m).powi(2))
                .sum::<f64>()
                / n as f64
        })
        .sum::<f64>()
        / dim as f64;
    let tol = o.tol * mean_variance;
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    let mut best: Option<Clustering> = None;
    for _ in 0..o.restarts {
        let centres = seed_centres(points, dim, k, &mut rng);
        let run = lloyd(points, dim, centres, o, tol);
        if best.as_ref().is_none_or(|b| run.inertia < b.inertia) {
            best = Some(run);
        }
    }
    Ok(best.expect("at least one restart"))
}

/// The mean silhouette coefficient of a labelling (scikit-learn's
/// `silhouette_score`, Euclidean): for each point, a = mean distance to the other
/// points of its cluster, b = the lowest mean distance to another cluster's
/// points, s = (b − a) / max(a, b), and 0 for a point alone in its cluster.
/// Exact: O(n²).
pub fn silhouette(points: &[f64], dim: usize, labels: &[usize], k: usize) -> f64 {
    silhouettes(points, dim, &[(labels, k)])[0]
}

/// The silhouette of several labellings (`(labels, k)`) of the same points, each
/// as [`silhouette`]: every distance is computed once and added to the sums of
/// every labelling, so trying k = 2..10 costs little more than one k.
pub fn silhouettes(points: &[f64], dim: usize, labellings: &[(&[usize], usize)]) -> Vec<f64> {
    let n = points.len() / dim.max(1);
    let count = labellings.len();
    // Per point, per labelling: the slot of its cluster among all the labellings'
    // clusters (labelling l's clusters take slots offset[l]..offset[l] + k).
    let mut offset = Vec::with_capacity(count);
    let mut slots_total = 0;
    for &(labels, k) in labellings {
        assert_eq!(labels.len(), n, "one label per point");
        offset.push(slots_total);
        slots_total += k;
    }
    let mut slot = vec![0u32; n * count];
    let mut sizes = vec![0usize; slots_total];
    for (l, &(labels, _)) in labellings.iter().enumerate() {
        for (j, &label) in labels.iter().enumerate() {
            let s = offset[l] + label;
            slot[j * count + l] = s as u32;
            sizes[s] += 1;
        }
    }
    let parts = chunked(n, CHUNK, |range| {
        let mut sums = vec![0.0; count];
        let mut to = vec![0.0; slots_total];
        for i in range {
            to.iter_mut().for_each(|v| *v = 0.0);
            let p = &points[i * dim..(i + 1) * dim];
            for (j, q) in points.chunks_exact(dim).enumerate() {
                let d = distance2(p, q).sqrt();
                for &s in &slot[j * count..(j + 1) * count] {
                    to[s as usize] += d;
                }
            }
            for (l, &(_, k)) in labellings.iter().enumerate() {
                let own = slot[i * count + l] as usize;
                if sizes[own] <= 1 {
                    continue;
                }
                let a = to[own] / (sizes[own] - 1) as f64;
                let b = (offset[l]..offset[l] + k)
                    .filter(|&c| c != own && sizes[c] > 0)
                    .map(|c| to[c] / sizes[c] as f64)
                    .fold(f64::INFINITY, f64::min);
                if b.is_finite() {
                    let m = a.max(b);
                    sums[l] += if m > 0.0 { (b - a) / m } else { 0.0 };
                }
            }
        }
        sums
    });
    (0..count)
        .map(|l| parts.iter().map(|p| p[l]).sum::<f64>() / n as f64)
        .collect()
}
