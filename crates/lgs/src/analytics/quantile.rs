//! Order statistics with the exact semantics of numpy/pandas, so that our figures
//! match the original notebooks to the last digit.
//!
//! * [`quantile`] is `numpy.percentile(x, q * 100, method="linear")`, which is what
//!   `pandas.Series.quantile(q)` calls (including numpy's two-sided `_lerp`).
//! * [`median`] is `numpy.median` (mean of the two middle values).
//! * [`qcut_edges`] are the edges `pandas.qcut(x, 5)` uses: quantiles at
//!   `numpy.linspace(0, 1, 6)`.
//! * [`qcut_bin`] assigns a value to a bin: bins are right-closed and the first one
//!   includes the minimum.
//!
//! **When edges coincide** (small or very skewed data, where pandas' `qcut` raises
//! "Bin edges must be unique"), we do not fail: a value goes to the *lowest* bin whose
//! upper edge is at least the value. Bins between coinciding edges stay empty, and
//! labels keep their meaning (bin 1 is always the lowest values).

/// Where quantile `q` of `n` sorted values falls: the two neighbouring indices and
/// the interpolation weight, as numpy computes them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    pub lower: usize,
    pub upper: usize,
    pub gamma: f64,
}

/// The level numpy is handed for `q`: pandas' `q * 100` round trip.
pub fn virtual_level(q: f64) -> f64 {
    (q * 100.0) / 100.0
}

/// numpy's virtual index for the "linear" method, after pandas' `q * 100` round trip.
pub fn position(n: usize, q: f64) -> Position {
    assert!(n > 0, "quantile of an empty set");
    let q = virtual_level(q);
    let virtual_index = (n as f64 - 1.0) * q;
    let last = n - 1;
    if virtual_index >= last as f64 {
        // numpy sets both neighbours to the last element (gamma is irrelevant then).
        return Position {
            lower: last,
            upper: last,
            gamma: virtual_index - last as f64,
        };
    }
    if virtual_index < 0.0 {
        return Position {
            lower: 0,
            upper: 0,
            gamma: 0.0,
        };
    }
    let floor = virtual_index.floor();
    Position {
        lower: floor as usize,
        upper: floor as usize + 1,
        gamma: virtual_index - floor,
    }
}

/// numpy's `_lerp`: `a + (b - a) * t`, computed from `b` when `t >= 0.5`.
pub fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// Quantile `q` of `n` sorted values, where `value(i)` is the `i`-th smallest.
pub fn quantile(n: usize, q: f64, value: impl Fn(usize) -> f64) -> f64 {
    let p = position(n, q);
    lerp(value(p.lower), value(p.upper), p.gamma)
}

/// The indices `quantile` will read, so that only those values need fetching.
pub fn needed_indices(n: usize, qs: &[f64]) -> Vec<usize> {
    let mut out: Vec<usize> = qs
        .iter()
        .flat_map(|&q| {
            let p = position(n, q);
            [p.lower, p.upper]
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// numpy's median of `n` sorted values.
pub fn median(n: usize, value: impl Fn(usize) -> f64) -> f64 {
    assert!(n > 0, "median of an empty set");
    if n % 2 == 1 {
        value(n / 2)
    } else {
        (value(n / 2 - 1) + value(n / 2)) / 2.0
    }
}

/// Indices `median` will read.
pub fn median_indices(n: usize) -> Vec<usize> {
    if n % 2 == 1 {
        vec![n / 2]
    } else {
        vec![n / 2 - 1, n / 2]
    }
}

/// The quantile levels of a 5-bin qcut, as `numpy.linspace(0, 1, 6)` produces them.
pub fn qcut_levels() -> [f64; 6] {
    let step = 1.0 / 5.0;
    let mut levels = [0.0; 6];
    for (i, level) in levels.iter_mut().enumerate() {
        *level = i as f64 * step;
    }
    levels[5] = 1.0;
    levels
}

/// The six edges of a 5-bin qcut over `n` sorted values.
pub fn qcut_edges(n: usize, value: impl Fn(usize) -> f64) -> [f64; 6] {
    let mut edges = [0.0; 6];
    for (edge, q) in edges.iter_mut().zip(qcut_levels()) {
        *edge = quantile(n, q, &value);
    }
    edges
}

/// The 1-based bin of `x` given qcut `edges` (see the module docs for ties).
pub fn qcut_bin(x: f64, edges: &[f64; 6]) -> u8 {
    for (i, upper) in edges[1..5].iter().enumerate() {
        if x <= *upper {
            return i as u8 + 1;
        }
    }
    5
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(values: &[f64], level: f64) -> f64 {
        quantile(values.len(), level, |i| values[i])
    }

    #[test]
    fn matches_numpy_linear() {
        // numpy.percentile([1, 2, 3, 4], [0, 25, 50, 85, 100]) = [1, 1.75, 2.5, 3.55, 4]
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(q(&v, 0.0), 1.0);
        assert_eq!(q(&v, 0.25), 1.75);
        assert_eq!(q(&v, 0.5), 2.5);
        assert!((q(&v, 0.85) - 3.55).abs() < 1e-12);
        assert_eq!(q(&v, 1.0), 4.0);
        assert_eq!(q(&[7.0], 0.85), 7.0);
        assert_eq!(median(4, |i| v[i]), 2.5);
        assert_eq!(median(3, |i| v[i]), 2.0);
    }

    #[test]
    fn levels_are_linspace() {
        // numpy.linspace(0, 1, 6)
        assert_eq!(qcut_levels(), [0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
    }

    #[test]
    fn qcut_like_pandas_on_distinct_values() {
        // pandas.qcut(range(1, 11), 5, labels=False) + 1 = [1,1,2,2,3,3,4,4,5,5]
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        let edges = qcut_edges(v.len(), |i| v[i]);
        let bins: Vec<u8> = v.iter().map(|&x| qcut_bin(x, &edges)).collect();
        assert_eq!(bins, vec![1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    }

    #[test]
    fn coinciding_edges_do_not_fail_and_fill_the_lowest_bin() {
        // pandas.qcut([1,1,1,1,1,1,1,2,3,4], 5) raises: edges are [1,1,1,1,2.2,4].
        let v = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 4.0];
        let edges = qcut_edges(v.len(), |i| v[i]);
        assert_eq!(edges[..4], [1.0, 1.0, 1.0, 1.0]);
        assert!((edges[4] - 2.2).abs() < 1e-12);
        let bins: Vec<u8> = v.iter().map(|&x| qcut_bin(x, &edges)).collect();
        assert_eq!(bins, vec![1, 1, 1, 1, 1, 1, 1, 4, 5, 5]);
        // A single value: every edge is that value, everything is in bin 1.
        let one = qcut_edges(1, |_| 42.0);
        assert_eq!(qcut_bin(42.0, &one), 1);
    }
}
