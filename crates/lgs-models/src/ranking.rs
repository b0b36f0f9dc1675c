//! How good a list of recommendations is against what was bought afterwards: the
//! top-N metrics of recommender evaluation (as in Spark's `RankingMetrics` and the
//! usual offline protocol).

/// The metrics of one list, or their means over many.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Ranking {
    /// Hits among the first n, over n.
    pub precision: f64,
    /// Hits among the first n, over the relevant items.
    pub recall: f64,
    /// Average precision at n: the mean, over the hits, of the precision at each
    /// hit's rank, divided by min(relevant, n).
    pub average_precision: f64,
    /// 1 when there is at least one hit.
    pub hit: f64,
}

/// The metrics of `recommended` (best first; only the first `n` count) against the
/// `relevant` items (sorted, distinct). None when nothing is relevant (such a user
/// is left out of the means) or `n` is 0.
pub fn rank(recommended: &[u32], relevant: &[u32], n: usize) -> Option<Ranking> {
    if relevant.is_empty() || n == 0 {
        return None;
    }
    let mut hits = 0usize;
    let mut precisions = 0.0;
    for (at, item) in recommended.iter().take(n).enumerate() {
        if relevant.binary_search(item).is_ok() {
            hits += 1;
            precisions += hits as f64 / (at + 1) as f64;
        }
    }
    Some(Ranking {
        precision: hits as f64 / n as f64,
        recall: hits as f64 / relevant.len() as f64,
        average_precision: precisions / relevant.len().min(n) as f64,
        hit: if hits > 0 { 1.0 } else { 0.0 },
    })
}

/// The means of the metrics over lists (zeros when there are none).
pub fn mean(rankings: &[Ranking]) -> Ranking {
    if rankings.is_empty() {
        return Ranking::default();
    }
    let n = rankings.len() as f64;
    let sum = |f: fn(&Ranking) -> f64| rankings.iter().map(f).sum::<f64>() / n;
    Ranking {
        precision: sum(|r| r.precision),
        recall: sum(|r| r.recall),
        average_precision: sum(|r| r.average_precision),
        hit: sum(|r| r.hit),
    }
}
