//! The experiment statistics against scipy 1.17.1 (`scipy.stats.ttest_ind(...,
//! equal_var=False)`, `chisquare`, `norm`) on the same inputs, and the sample size
//! against the published calculator value.

use lgs_models::experiment::{
    bootstrap_difference, cuped, sample_ratio, sample_size, two_proportions, welch,
};

fn close(got: f64, want: f64, rel: f64) {
    assert!(
        (got - want).abs() <= rel * want.abs(),
        "got {got}, want {want}"
    );
}

const T: [f64; 10] = [12.5, 0.0, 33.1, 8.0, 0.0, 45.2, 19.9, 0.0, 5.5, 71.0];
const C: [f64; 8] = [0.0, 10.2, 0.0, 3.3, 25.0, 0.0, 9.9, 14.1];

#[test]
fn welch_matches_scipy() {
    let d = welch(&T, &C, 0.05).unwrap();
    close(d.statistic, 1.4462985151408216, 1e-12);
    close(d.p_value, 0.17377458890918715, 1e-9);
    close(d.df, 11.966064641530856, 1e-12);
    close(d.low, -5.935107348862175, 1e-9);
    close(d.high, 29.350107348862174, 1e-9);
}

#[test]
fn two_proportions_match_the_normal_test() {
    // 13 % of 1,000 against 10 % of 1,000 (statsmodels' proportions_ztest, pooled).
    let d = two_proportions(130, 1000, 100, 1000, 0.05).unwrap();
    close(d.estimate, 0.03, 1e-12);
    close(d.statistic, 2.102740605622114, 1e-12);
    close(d.p_value, 0.03548845046647471, 1e-9);
    close(d.low, 0.0020679344393763656, 1e-9);
    close(d.high, 0.057932065560623636, 1e-9);
}

#[test]
fn sample_ratio_matches_scipy_chisquare() {
    let (stat, p) = sample_ratio(&[5100, 4900], &[0.5, 0.5]).unwrap();
    close(stat, 4.0, 1e-12);
    close(p, 0.04550026389635857, 1e-9);
    let (stat, p) = sample_ratio(&[980, 1050, 970], &[1.0, 1.0, 1.0]).unwrap();
    close(stat, 3.8, 1e-12);
    close(p, 0.14956861922263506, 1e-9);
}

#[test]
fn cuped_matches_a_numpy_computation() {
    let x = [
        10.0, 0.0, 30.0, 5.0, 2.0, 40.0, 20.0, 1.0, 3.0, 60.0, 1.0, 9.0, 0.0, 2.0, 20.0, 0.0, 12.0,
        10.0,
    ];
    let t: Vec<(f64, f64)> = T.iter().copied().zip(x[..10].iter().copied()).collect();
    let c: Vec<(f64, f64)> = C.iter().copied().zip(x[10..].iter().copied()).collect();
    let r = cuped(&t, &c, 0.05).unwrap();
    close(r.theta, 1.1582245144299355, 1e-12);
    close(r.variance_reduction, 0.9901137139563768, 1e-12);
    close(r.difference.statistic, -0.3014453793316163, 1e-9);
    close(r.difference.p_value, 0.7672752383709626, 1e-9);
}

/// Baseline 5 %, an absolute lift of 1 point, 80 % power at 5 %: 8,158 per group,
/// as Evan Miller's sample size calculator gives.
#[test]
fn sample_size_matches_the_calculator() {
    assert_eq!(sample_size(0.05, 0.01, 0.8, 0.05).unwrap(), 8158);
    // More power or a smaller lift needs more customers.
    assert!(sample_size(0.05, 0.01, 0.9, 0.05).unwrap() > 8158);
    assert!(sample_size(0.05, 0.005, 0.8, 0.05).unwrap() > 8158);
    assert!(sample_size(0.05, 0.0, 0.8, 0.05).is_err());
    assert!(sample_size(0.99, 0.02, 0.8, 0.05).is_err());
}

/// The percentile bootstrap is reproducible for a seed, contains the estimate,
/// and agrees with Welch's interval on well-behaved data of this size.
#[test]
fn bootstrap_interval_is_reproducible_and_sensible() {
    let t: Vec<f64> = (0..400).map(|i| 10.0 + f64::from(i % 17)).collect();
    let c: Vec<f64> = (0..400).map(|i| 9.0 + f64::from(i % 13)).collect();
    let a = bootstrap_difference(&t, &c, 2000, 0.05, 7).unwrap();
    assert_eq!(a, bootstrap_difference(&t, &c, 2000, 0.05, 7).unwrap());
    let w = welch(&t, &c, 0.05).unwrap();
    assert!(a.0 < w.estimate && w.estimate < a.1, "{a:?} {w:?}");
    close(a.0, w.low, 0.1);
    close(a.1, w.high, 0.1);
}
