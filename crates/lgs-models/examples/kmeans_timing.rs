//! Times the k-means work of `lgs kmeans` (k = 2..10, 10 restarts each, the
//! silhouettes of every k on a 20,000-point sample) on `n` points, phase by phase.
//!
//!     cargo run --release -p lgs-models --example kmeans_timing -- [N] [POINTS.csv]
//!
//! Without a file the points are a seeded mixture of skewed 3-d clusters, standardised
//! as the analysis standardises its features; a file holds one point per line,
//! three comma-separated numbers.

use std::time::Instant;

use lgs_models::kmeans::{KMeansOptions, fits_silhouettes, kmeans};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn generated(n: usize) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let centres = [
        [0.0, 0.5, 3.0],
        [2.0, 1.5, 5.0],
        [4.0, 0.2, 2.0],
        [1.0, 3.0, 7.0],
    ];
    let mut raw = Vec::with_capacity(n * 3);
    for _ in 0..n {
        let c = &centres[rng.random_range(0..centres.len())];
        for v in c {
            // A sum of uniforms: roughly normal, with a skewed tail.
            let noise: f64 = (0..4).map(|_| rng.random::<f64>()).sum::<f64>() - 2.0;
            raw.push(v + noise * (0.5 + rng.random::<f64>()));
        }
    }
    standardised(raw)
}

fn standardised(mut points: Vec<f64>) -> Vec<f64> {
    let n = points.len() / 3;
    for d in 0..3 {
        let mean = (0..n).map(|i| points[i * 3 + d]).sum::<f64>() / n as f64;
        let sd = ((0..n)
            .map(|i| (points[i * 3 + d] - mean).powi(2))
            .sum::<f64>()
            / n as f64)
            .sqrt();
        for i in 0..n {
            points[i * 3 + d] = (points[i * 3 + d] - mean) / sd;
        }
    }
    points
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map_or(58_640, |a| a.parse().expect("N"));
    let points = match args.get(2) {
        Some(path) => standardised(
            std::fs::read_to_string(path)
                .expect("points file")
                .lines()
                .flat_map(|l| {
                    l.split(',')
                        .map(|v| v.trim().parse::<f64>().expect("number"))
                        .collect::<Vec<_>>()
                })
                .collect(),
        ),
        None => generated(n),
    };
    let n = points.len() / 3;
    let options = KMeansOptions::default();
    let started = Instant::now();
    let mut fits = Vec::new();
    for k in 2..=10 {
        let t = Instant::now();
        let c = kmeans(&points, 3, k, &options).expect("fit");
        println!(
            "k = {k:2}: inertia {:.6} after {:3} iterations, {:.3} s",
            c.inertia,
            c.iterations,
            t.elapsed().as_secs_f64()
        );
        fits.push(c);
    }
    let fitted = started.elapsed().as_secs_f64();
    let t = Instant::now();
    let (s, _) = fits_silhouettes(&points, 3, &fits, 20_000, 42);
    println!(
        "{n} points: fits {fitted:.3} s, silhouettes {:.3} s ({})",
        t.elapsed().as_secs_f64(),
        s.iter()
            .map(|v| format!("{v:.6}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
}
