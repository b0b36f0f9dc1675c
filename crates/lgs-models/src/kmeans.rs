//! k-means clustering as scikit-learn's `KMeans` does it: greedy k-means++ seeding
//! (2 + ⌊ln k⌋ candidates per centre, the one that lowers the potential most),
//! Lloyd's iterations until the centres move less than `tol` times the data's mean
//! variance (or no label changes), several restarts keeping the lowest inertia;
//! and the exact silhouette score.
//!
//! Points are rows of a flat slice (`dim` values each), kept by coordinate while
//! fitting. The runs of a fit (every restart of every k asked for) share the cores,
//! each from its own random stream; beyond a million points each run's assignment
//! step is split over the cores instead. The silhouette runs in fixed-size chunks
//! on scoped threads. Partial sums are combined in a fixed order, so a seed gives
//! the same result on any number of cores.

use std::ops::Range;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::ModelError;
use crate::parallel::{chunked, each};

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

/// The points by coordinate (`dim` columns of `n` values): the loops over points
/// then run down contiguous columns, which the compiler turns into vector
/// instructions, instead of across short rows.
struct Columns {
    n: usize,
    dim: usize,
    values: Vec<f64>,
}

impl Columns {
    fn of(points: &[f64], dim: usize) -> Self {
        let n = points.len() / dim;
        let mut values = vec![0.0; n * dim];
        for (i, p) in points.chunks_exact(dim).enumerate() {
            for (d, v) in p.iter().enumerate() {
                values[d * n + i] = *v;
            }
        }
        Columns { n, dim, values }
    }

    /// The points (by row) taken in `order`: point `order[j]` is the `j`th.
    fn in_order(points: &[f64], dim: usize, order: &[usize]) -> Self {
        let n = order.len();
        let mut values = vec![0.0; n * dim];
        for (j, &i) in order.iter().enumerate() {
            for (d, v) in points[i * dim..(i + 1) * dim].iter().enumerate() {
                values[d * n + j] = *v;
            }
        }
        Columns { n, dim, values }
    }

    fn column(&self, d: usize, range: Range<usize>) -> &[f64] {
        &self.values[d * self.n + range.start..d * self.n + range.end]
    }

    /// Squared distances of the points in `range` to `centre` into `out`, summed
    /// coordinate by coordinate in the order [`distance2`] sums them (so the same
    /// values to the last bit).
    fn distances(&self, range: Range<usize>, centre: &[f64], out: &mut [f64]) {
        out.iter_mut().for_each(|v| *v = 0.0);
        for (d, &c) in centre.iter().enumerate() {
            for (v, x) in out.iter_mut().zip(self.column(d, range.clone())) {
                let t = x - c;
                *v += t * t;
            }
        }
    }

    /// Squared distance of each point to the centre of its label (`centres` by
    /// row), summed in the order [`distance2`] sums.
    fn distances_to_own(&self, centres: &[f64], labels: &[usize]) -> Vec<f64> {
        let mut out = vec![0.0; self.n];
        for d in 0..self.dim {
            for ((v, x), &l) in out.iter_mut().zip(self.column(d, 0..self.n)).zip(labels) {
                let t = x - centres[l * self.dim + d];
                *v += t * t;
            }
        }
        out
    }

    fn row(&self, i: usize) -> Vec<f64> {
        let mut row = vec![0.0; self.dim];
        self.row_into(i, &mut row);
        row
    }

    fn row_into(&self, i: usize, out: &mut [f64]) {
        for (d, v) in out.iter_mut().enumerate() {
            *v = self.values[d * self.n + i];
        }
    }
}

/// Greedy k-means++ seeding.
fn seed_centres(points: &Columns, k: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let n = points.n;
    let trials = 2 + (k as f64).ln().floor() as usize;
    let mut centres = points.row(rng.random_range(0..n));
    let mut closest = vec![0.0; n];
    points.distances(0..n, &centres, &mut closest);
    let mut potential = sum_of(&closest);
    let mut candidate_distances = vec![0.0; n];
    let mut updated = vec![0.0; n];
    let mut best_updated = vec![0.0; n];
    for _ in 1..k {
        let mut best: Option<(f64, usize)> = None;
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
            points.distances(0..n, &points.row(pick), &mut candidate_distances);
            for ((u, c), d) in updated.iter_mut().zip(&closest).zip(&candidate_distances) {
                *u = c.min(*d);
            }
            let total = sum_of(&updated);
            if best.is_none_or(|b| total < b.0) {
                best = Some((total, pick));
                std::mem::swap(&mut best_updated, &mut updated);
            }
        }
        let (total, pick) = best.expect("at least one trial");
        centres.extend(points.row(pick));
        std::mem::swap(&mut closest, &mut best_updated);
        potential = total;
    }
    centres
}

/// From this many points on, one run's assignment step is itself split over the
/// cores (below it the runs of a fit share the cores instead).
const PARALLEL_ASSIGNMENT: usize = 1 << 20;

/// Labels the points of `range` with their nearest centre (the lowest index among
/// equals); returns their inertia, summed in point order.
fn assign_range(
    points: &Columns,
    centres: &[f64],
    range: Range<usize>,
    labels: &mut [usize],
) -> f64 {
    match points.dim {
        3 => assign_three(points, centres, range, labels),
        _ => assign_any(points, centres, range, labels),
    }
}

/// Points per block of the assignment: a block's columns, best distances and labels
/// stay in the first-level cache while every centre passes over them.
const BLOCK: usize = 512;

/// [`assign_range`] for three coordinates (the k-means of RFM): one branch-free
/// loop over a block's points per centre, which the compiler turns into vector
/// instructions, with the terms added in the order [`distance2`] adds them.
fn assign_three(
    points: &Columns,
    centres: &[f64],
    range: Range<usize>,
    labels: &mut [usize],
) -> f64 {
    let mut inertia = 0.0;
    let mut best = [0.0; BLOCK];
    let mut nearest = [0u64; BLOCK];
    for (b, labels) in labels.chunks_mut(BLOCK).enumerate() {
        let start = range.start + b * BLOCK;
        let len = labels.len();
        let (xs, ys, zs) = (
            points.column(0, start..start + len),
            points.column(1, start..start + len),
            points.column(2, start..start + len),
        );
        let (best, nearest) = (&mut best[..len], &mut nearest[..len]);
        best.iter_mut().for_each(|v| *v = f64::INFINITY);
        nearest.iter_mut().for_each(|l| *l = 0);
        for (c, centre) in centres.chunks_exact(3).enumerate() {
            let (cx, cy, cz, c) = (centre[0], centre[1], centre[2], c as u64);
            for ((((x, y), z), b), l) in xs
                .iter()
                .zip(ys)
                .zip(zs)
                .zip(best.iter_mut())
                .zip(nearest.iter_mut())
            {
                let (dx, dy, dz) = (x - cx, y - cy, z - cz);
                let d = dx * dx + dy * dy + dz * dz;
                // Selections by mask rather than branches: all ones where nearer.
                let mask = ((d < *b) as u64).wrapping_neg();
                *b = if d < *b { d } else { *b };
                *l = (*l & !mask) | (c & mask);
            }
        }
        for (label, &l) in labels.iter_mut().zip(nearest.iter()) {
            *label = l as usize;
        }
        inertia += best.iter().sum::<f64>();
    }
    inertia
}

/// [`assign_range`] for any number of coordinates.
fn assign_any(points: &Columns, centres: &[f64], range: Range<usize>, labels: &mut [usize]) -> f64 {
    let dim = points.dim;
    let mut best = vec![f64::INFINITY; range.len()];
    let mut distances = vec![0.0; range.len()];
    labels.iter_mut().for_each(|l| *l = 0);
    for (c, centre) in centres.chunks_exact(dim).enumerate() {
        points.distances(range.clone(), centre, &mut distances);
        for ((b, l), &d) in best.iter_mut().zip(labels.iter_mut()).zip(&distances) {
            if d < *b {
                *b = d;
                *l = c;
            }
        }
    }
    best.iter().sum()
}

/// Labels every point with its nearest centre; returns the inertia (the chunks'
/// sums added in chunk order).
fn assign(points: &Columns, centres: &[f64], labels: &mut [usize]) -> f64 {
    let n = points.n;
    if n < PARALLEL_ASSIGNMENT {
        return labels
            .chunks_mut(CHUNK)
            .enumerate()
            .map(|(i, own)| {
                let start = i * CHUNK;
                assign_range(points, centres, start..start + own.len(), own)
            })
            .sum();
    }
    let parts = chunked(n, CHUNK, |range| {
        let mut own = vec![0; range.len()];
        let inertia = assign_range(points, centres, range, &mut own);
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
fn lloyd(points: &Columns, mut centres: Vec<f64>, o: &KMeansOptions, tol: f64) -> Clustering {
    let (n, dim) = (points.n, points.dim);
    let k = centres.len() / dim;
    let mut labels = vec![usize::MAX; n];
    let mut previous = labels.clone();
    let mut iterations = 0;
    for _ in 0..o.max_iterations {
        iterations += 1;
        assign(points, &centres, &mut labels);
        let mut counts = vec![0usize; k];
        for &l in &labels {
            counts[l] += 1;
        }
        // The clusters' sums in four interleaved copies (point j in copy j mod 4),
        // so that consecutive points of one cluster are not added one after the other.
        let mut lanes = vec![0.0; 4 * k * dim];
        for d in 0..dim {
            for (j, (&l, x)) in labels.iter().zip(points.column(d, 0..n)).enumerate() {
                lanes[(j & 3) * k * dim + l * dim + d] += x;
            }
        }
        let sums: Vec<f64> = (0..k * dim)
            .map(|s| {
                (lanes[s] + lanes[k * dim + s]) + (lanes[2 * k * dim + s] + lanes[3 * k * dim + s])
            })
            .collect();
        let mut moved = 0.0;
        for c in 0..k {
            let new: Vec<f64> = if counts[c] == 0 {
                // An empty cluster takes the point farthest from its centre.
                let own = points.distances_to_own(&centres, &labels);
                let far = (0..n)
                    .max_by(|&a, &b| own[a].total_cmp(&own[b]))
                    .unwrap_or(0);
                points.row(far)
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
    let inertia = assign(points, &centres, &mut labels);
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
    let mut fits = kmeans_each(points, dim, &[k], o)?;
    Ok(fits.remove(0))
}

/// [`kmeans`] for each of `ks`, the runs of all of them (each k's restarts) shared
/// among the cores. Restart `i` of `k` seeds from its own random stream, (seed, k,
/// i), so a result does not depend on the other ks asked for or on the cores.
pub fn kmeans_each(
    points: &[f64],
    dim: usize,
    ks: &[usize],
    o: &KMeansOptions,
) -> Result<Vec<Clustering>, ModelError> {
    let n = points.len().checked_div(dim).unwrap_or(0);
    for &k in ks {
        if k < 1 || n < k || o.restarts == 0 {
            return Err(ModelError::NoData(format!(
                "k-means into {k} clusters needs at least {k} points and a restart (got {n} points)"
            )));
        }
    }
    let columns = Columns::of(points, dim);
    // scikit-learn's tolerance: tol × the mean of the features' variances.
    let mean_variance = (0..dim)
        .map(|d| {
            let column = columns.column(d, 0..n);
            let m = column.iter().sum::<f64>() / n as f64;
            column.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64
        })
        .sum::<f64>()
        / dim as f64;
    let tol = o.tol * mean_variance;
    let runs: Vec<(usize, usize)> = ks
        .iter()
        .flat_map(|&k| (0..o.restarts).map(move |i| (k, i)))
        .collect();
    let run = |job: usize| {
        let (k, restart) = runs[job];
        let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
        rng.set_stream(((k as u64) << 32) | restart as u64);
        let centres = seed_centres(&columns, k, &mut rng);
        lloyd(&columns, centres, o, tol)
    };
    let done = if n < PARALLEL_ASSIGNMENT {
        each(runs.len(), run)
    } else {
        (0..runs.len()).map(run).collect()
    };
    let mut best: Vec<Option<Clustering>> = ks.iter().map(|_| None).collect();
    for (job, fit) in done.into_iter().enumerate() {
        // The lowest inertia; among equals the earliest restart.
        let slot = &mut best[job / o.restarts];
        if slot.as_ref().is_none_or(|b| fit.inertia < b.inertia) {
            *slot = Some(fit);
        }
    }
    Ok(best
        .into_iter()
        .map(|b| b.expect("at least one restart"))
        .collect())
}

/// The mean silhouette coefficient of a labelling (scikit-learn's
/// `silhouette_score`, Euclidean): for each point, a = mean distance to the other
/// points of its cluster, b = the lowest mean distance to another cluster's
/// points, s = (b − a) / max(a, b), and 0 for a point alone in its cluster.
/// Exact: O(n²).
pub fn silhouette(points: &[f64], dim: usize, labels: &[usize], k: usize) -> f64 {
    silhouettes(points, dim, &[(labels, k)])[0]
}

/// The silhouette of each fit of the same points, in one pass over the pairs
/// ([`silhouettes`]): exact up to `limit` points, beyond that on a sample of
/// `limit` of them drawn with `seed`. Returns the scores and the sample's size
/// when there is one.
pub fn fits_silhouettes(
    points: &[f64],
    dim: usize,
    fits: &[Clustering],
    limit: usize,
    seed: u64,
) -> (Vec<f64>, Option<usize>) {
    let n = points.len() / dim.max(1);
    if n <= limit {
        let labellings: Vec<(&[usize], usize)> =
            fits.iter().map(|c| (c.labels.as_slice(), c.k)).collect();
        return (silhouettes(points, dim, &labellings), None);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut picked = rand::seq::index::sample(&mut rng, n, limit).into_vec();
    picked.sort_unstable();
    let sample: Vec<f64> = picked
        .iter()
        .flat_map(|&i| points[i * dim..(i + 1) * dim].iter().copied())
        .collect();
    let labels: Vec<Vec<usize>> = fits
        .iter()
        .map(|c| picked.iter().map(|&i| c.labels[i]).collect())
        .collect();
    let labellings: Vec<(&[usize], usize)> = labels
        .iter()
        .zip(fits)
        .map(|(l, c)| (l.as_slice(), c.k))
        .collect();
    (silhouettes(&sample, dim, &labellings), Some(limit))
}

/// The silhouette of several labellings (`(labels, k)`) of the same points, each
/// as [`silhouette`]: every distance is computed once and counted in every
/// labelling, so trying k = 2..10 costs little more than one k.
///
/// The points are grouped into cells, the points with the same label in every
/// labelling (a few hundred for k = 2..10 of three features, as the clusterings
/// nest), and ordered by cell. For each point the distances to all points are
/// computed down the coordinate columns and summed per cell (a run of the order);
/// each labelling's sums per cluster are then sums of cells' sums.
pub fn silhouettes(points: &[f64], dim: usize, labellings: &[(&[usize], usize)]) -> Vec<f64> {
    let dim = dim.max(1);
    let n = points.len() / dim;
    let count = labellings.len();
    let mut sizes: Vec<Vec<usize>> = Vec::with_capacity(count);
    for &(labels, k) in labellings {
        assert_eq!(labels.len(), n, "one label per point");
        let mut size = vec![0usize; k];
        for &l in labels {
            size[l] += 1;
        }
        sizes.push(size);
    }
    // The points ordered by their labels in every labelling; runs of equal labels
    // are the cells.
    let key = |i: usize| labellings.iter().map(move |(labels, _)| labels[i]);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| key(i).cmp(key(j)));
    let mut cell_start: Vec<usize> = Vec::new();
    let mut cell_labels: Vec<usize> = Vec::new();
    for (at, &i) in order.iter().enumerate() {
        if at == 0 || !key(i).eq(key(order[at - 1])) {
            cell_start.push(at);
            cell_labels.extend(key(i));
        }
    }
    cell_start.push(n);
    let cells = cell_start.len() - 1;
    let columns = Columns::in_order(points, dim, &order);
    let offsets: Vec<usize> = labellings
        .iter()
        .scan(0, |next, &(_, k)| {
            let at = *next;
            *next += k;
            Some(at)
        })
        .collect();
    let slots: usize = labellings.iter().map(|&(_, k)| k).sum();
    let parts = chunked(n, SILHOUETTE_CHUNK, |range| {
        let mut sums = vec![0.0; count];
        let mut row = vec![0.0; n];
        let mut cell_sums = vec![0.0; cells];
        let mut to = vec![0.0; slots];
        let mut point = vec![0.0; dim];
        for at in range {
            columns.row_into(at, &mut point);
            columns.distances(0..n, &point, &mut row);
            row.iter_mut().for_each(|d| *d = d.sqrt());
            for (c, sum) in cell_sums.iter_mut().enumerate() {
                *sum = sum_of(&row[cell_start[c]..cell_start[c + 1]]);
            }
            to.iter_mut().for_each(|v| *v = 0.0);
            for (c, sum) in cell_sums.iter().enumerate() {
                let labels = &cell_labels[c * count..(c + 1) * count];
                for (l, &label) in labels.iter().enumerate() {
                    to[offsets[l] + label] += sum;
                }
            }
            let own_labels = &cell_labels[cell_of(&cell_start, at) * count..];
            for (l, &(_, k)) in labellings.iter().enumerate() {
                let (size, to) = (&sizes[l], &to[offsets[l]..offsets[l] + k]);
                let own = own_labels[l];
                if size[own] <= 1 {
                    continue;
                }
                let a = to[own] / (size[own] - 1) as f64;
                let b = (0..k)
                    .filter(|&c| c != own && size[c] > 0)
                    .map(|c| to[c] / size[c] as f64)
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

/// The sum of `values` in four interleaved partial sums, which the processor adds
/// side by side instead of one after the other.
fn sum_of(values: &[f64]) -> f64 {
    let mut lanes = [0.0; 4];
    let chunks = values.chunks_exact(4);
    let rest: f64 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane += v;
        }
    }
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + rest
}

/// The cell of the point at `at` in the order, given the cells' first positions.
fn cell_of(cell_start: &[usize], at: usize) -> usize {
    cell_start.partition_point(|&s| s <= at) - 1
}

/// Points per chunk of the silhouette: each costs a pass over all the points, so
/// small chunks keep the cores evenly busy.
const SILHOUETTE_CHUNK: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    /// The distances an empty cluster's search compares are each point's
    /// [`distance2`] to its own centre, to the last bit.
    #[test]
    fn distances_to_own_centres_are_distance2() {
        let dim = 3;
        let points: Vec<f64> = (0..60)
            .map(|i| ((i * 37) % 17) as f64 / 3.0 - 2.0)
            .collect();
        let centres = [0.5, -1.0, 2.0, 3.0, 0.25, -0.75];
        let labels: Vec<usize> = (0..points.len() / dim).map(|i| (i * 7) % 2).collect();
        let own = Columns::of(&points, dim).distances_to_own(&centres, &labels);
        for (i, p) in points.chunks_exact(dim).enumerate() {
            let c = &centres[labels[i] * dim..(labels[i] + 1) * dim];
            assert_eq!(own[i].to_bits(), distance2(p, c).to_bits(), "point {i}");
        }
    }
}
