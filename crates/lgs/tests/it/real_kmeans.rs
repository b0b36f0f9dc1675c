//! The k-means section on the real data (called from `real_data`'s test):
//! against scikit-learn 1.9.1 on the same features (`bench/kmeans_reference.py`
//! over `lgs report --as-of 2012-01-01 --out DIR`'s rfm_customers.csv), and
//! consistent with the RFM section.

use lgs::analytics::Report;
use lgs::analytics::kmeans::KMeansResult;

use crate::common::Parts;

/// scikit-learn's inertia (best of `n_init=10`, `random_state=0`) for k = 2..10.
const SKLEARN_INERTIA: [f64; 9] = [
    8473.792735021067,
    5973.034119803589,
    4578.991320529749,
    3666.409331998496,
    3222.2010122955667,
    2849.102755327736,
    2621.456106702347,
    2420.407320152193,
    2253.7432815277793,
];

pub fn kmeans_as_reference(r: &Report) {
    let result = r.part::<KMeansResult>().expect("the kmeans section");
    let s = result.kmeans.as_ref().expect("clusters");
    let paying = r
        .rfm()
        .rfm_customers
        .iter()
        .filter(|c| c.monetary > 0.0)
        .count();
    assert_eq!(s.customers as usize, paying);
    assert_eq!(result.kmeans_customers.len(), paying);
    assert_eq!(s.silhouette_sample, None, "under 20,000 customers: exact");
    let ks: Vec<usize> = s.by_k.iter().map(|b| b.k).collect();
    assert_eq!(ks, (2..=10).collect::<Vec<_>>());
    for (b, want) in s.by_k.iter().zip(SKLEARN_INERTIA) {
        assert!(
            b.inertia <= want * 1.01,
            "k = {}: inertia {} against scikit-learn's {want}",
            b.k,
            b.inertia
        );
    }
    // k is the best silhouette's; the clusters and the cross-tab cover everyone.
    let best = s
        .by_k
        .iter()
        .max_by(|a, b| a.silhouette.total_cmp(&b.silhouette))
        .unwrap();
    assert_eq!(s.k, best.k);
    assert_eq!(s.clusters.len(), s.k);
    let sizes: u64 = s.clusters.iter().map(|c| c.customers).sum();
    let crossed: u64 = s.crosstab.iter().map(|x| x.customers).sum();
    assert_eq!((sizes, crossed), (paying as u64, paying as u64));
    let revenue: f64 = s.clusters.iter().map(|c| c.revenue_share).sum();
    assert!((revenue - 1.0).abs() < 1e-9, "{revenue}");
}
