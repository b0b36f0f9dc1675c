//! k-means and the silhouette against scikit-learn 1.9.1 on the same points
//! (tests/data/kmeans/PROVENANCE.md), and the inertia against a computation of
//! its own from the labels and centres.

use lgs_models::kmeans::{
    KMeansOptions, fits_silhouettes, kmeans, kmeans_each, silhouette, silhouettes,
};

fn data(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/data/kmeans/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn blobs() -> Vec<f64> {
    data("blobs.csv")
        .lines()
        .skip(1)
        .flat_map(|l| {
            l.split(',')
                .map(|v| v.parse::<f64>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

const SKLEARN: [(usize, f64, f64); 5] = [
    (2, 4268.000055536745, 0.4606713934765647),
    (3, 2594.9661156531956, 0.47637640096910966),
    (4, 1215.0001355243958, 0.5927002836477216),
    (5, 1105.8395272351709, 0.5040241821779584),
    (6, 1001.0778631469977, 0.42732329046116907),
];

#[test]
fn inertia_within_one_percent_of_scikit_learn() {
    let points = blobs();
    assert_eq!(points.len(), 1800);
    for (k, inertia, _) in SKLEARN {
        let c = kmeans(&points, 3, k, &KMeansOptions::default()).unwrap();
        assert!(
            c.inertia <= inertia * 1.01,
            "k = {k}: {} against scikit-learn's {inertia}",
            c.inertia
        );
        // The inertia is what the labels and centres say.
        let own: f64 = (0..600)
            .map(|i| {
                let l = c.labels[i];
                (0..3)
                    .map(|d| (points[i * 3 + d] - c.centres[l * 3 + d]).powi(2))
                    .sum::<f64>()
            })
            .sum();
        assert!(
            (own - c.inertia).abs() < 1e-9 * own,
            "{own} vs {}",
            c.inertia
        );
        // Every point is with its nearest centre.
        for i in 0..600 {
            let d = |c2: usize| -> f64 {
                (0..3)
                    .map(|d| (points[i * 3 + d] - c.centres[c2 * 3 + d]).powi(2))
                    .sum()
            };
            assert!((0..k).all(|o| d(c.labels[i]) <= d(o)));
        }
    }
}

#[test]
fn silhouette_matches_scikit_learn() {
    let points = blobs();
    let labels: Vec<usize> = data("labels_k4.csv")
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    let s = silhouette(&points, 3, &labels, 4);
    assert!((s - 0.5927002836477216).abs() < 1e-12, "{s}");
}

/// The silhouette by its definition, point by point, with no shared work.
fn naive_silhouette(points: &[f64], labels: &[usize], k: usize) -> f64 {
    let n = labels.len();
    let dist = |i: usize, j: usize| -> f64 {
        (0..3)
            .map(|d| (points[i * 3 + d] - points[j * 3 + d]).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let mut total = 0.0;
    for i in 0..n {
        let mean_to = |c: usize| {
            let (sum, count) = (0..n)
                .filter(|&j| j != i && labels[j] == c)
                .fold((0.0, 0usize), |(s, m), j| (s + dist(i, j), m + 1));
            (count > 0).then(|| sum / count as f64)
        };
        let Some(a) = mean_to(labels[i]) else {
            continue;
        };
        let b = (0..k)
            .filter(|&c| c != labels[i])
            .filter_map(mean_to)
            .fold(f64::INFINITY, f64::min);
        total += (b - a) / a.max(b);
    }
    total / n as f64
}

#[test]
fn silhouettes_of_several_labellings_are_each_ones_silhouette() {
    let points = blobs();
    let o = KMeansOptions::default();
    let fits: Vec<(Vec<usize>, usize)> = (2..=6)
        .map(|k| (kmeans(&points, 3, k, &o).unwrap().labels, k))
        .collect();
    let labellings: Vec<(&[usize], usize)> = fits.iter().map(|(l, k)| (l.as_slice(), *k)).collect();
    let all = silhouettes(&points, 3, &labellings);
    assert_eq!(all.len(), 5);
    for ((labels, k), s) in fits.iter().zip(&all) {
        let want = naive_silhouette(&points, labels, *k);
        assert!((s - want).abs() < 1e-12, "k = {k}: {s} against {want}");
    }
}

#[test]
fn the_same_seed_gives_the_same_clustering() {
    let points = blobs();
    let o = KMeansOptions::default();
    assert_eq!(
        kmeans(&points, 3, 4, &o).unwrap(),
        kmeans(&points, 3, 4, &o).unwrap()
    );
    assert!(kmeans(&points, 3, 700, &o).is_err());
}

/// Labels that do not nest (every point nearly its own cell) give each labelling's
/// own silhouette too.
#[test]
fn silhouettes_of_unrelated_labellings_are_each_ones_silhouette() {
    let points = blobs();
    let n = points.len() / 3;
    let labels: Vec<(Vec<usize>, usize)> = [(2usize, 7usize), (3, 11), (5, 13), (7, 17)]
        .iter()
        .map(|&(k, step)| ((0..n).map(|i| (i * step + i / 7) % k).collect(), k))
        .collect();
    let labellings: Vec<(&[usize], usize)> =
        labels.iter().map(|(l, k)| (l.as_slice(), *k)).collect();
    for ((l, k), s) in labels.iter().zip(silhouettes(&points, 3, &labellings)) {
        let want = naive_silhouette(&points, l, *k);
        assert!((s - want).abs() < 1e-12, "k = {k}: {s} against {want}");
    }
}

/// The ks of one call share the cores, and each k's result is what it is alone.
#[test]
fn each_k_is_fitted_as_on_its_own() {
    let points = blobs();
    let o = KMeansOptions::default();
    let all = kmeans_each(&points, 3, &[2, 4, 6], &o).unwrap();
    for c in &all {
        assert_eq!(c, &kmeans(&points, 3, c.k, &o).unwrap());
    }
    assert!(kmeans_each(&points, 3, &[2, 700], &o).is_err());
}

/// The three-coordinate assignment and the general one agree: the same points with
/// a fourth coordinate of zeros are clustered the same way.
#[test]
fn three_coordinates_and_any_number_agree() {
    let points = blobs();
    let padded: Vec<f64> = points
        .chunks_exact(3)
        .flat_map(|p| [p[0], p[1], p[2], 0.0])
        .collect();
    let o = KMeansOptions::default();
    for k in [3, 5] {
        let three = kmeans(&points, 3, k, &o).unwrap();
        let four = kmeans(&padded, 4, k, &o).unwrap();
        assert_eq!(three.labels, four.labels, "k = {k}");
        assert!((three.inertia - four.inertia).abs() < 1e-9 * three.inertia);
    }
}

/// Up to the limit every point counts; beyond it a seeded sample of the limit's
/// size gives nearly the exact score.
#[test]
fn silhouettes_beyond_the_limit_are_sampled() {
    let points = blobs();
    let o = KMeansOptions::default();
    let fits = kmeans_each(&points, 3, &[2, 4], &o).unwrap();
    let (exact, none) = fits_silhouettes(&points, 3, &fits, 600, 42);
    assert_eq!(none, None);
    assert!((exact[1] - silhouette(&points, 3, &fits[1].labels, 4)).abs() < 1e-12);
    let (sampled, size) = fits_silhouettes(&points, 3, &fits, 300, 42);
    assert_eq!(size, Some(300));
    assert_eq!(sampled, fits_silhouettes(&points, 3, &fits, 300, 42).0);
    for (s, e) in sampled.iter().zip(&exact) {
        assert!(s != e && (s - e).abs() < 0.05, "{s} against {e}");
    }
}
