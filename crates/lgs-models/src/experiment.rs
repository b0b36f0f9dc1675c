//! The statistics of a campaign experiment (an A/B test): differences between a
//! treatment and a control with confidence intervals and p-values, a bootstrap
//! interval for heavy-tailed revenue, the sample-ratio-mismatch check, CUPED
//! variance reduction, and the sample size a test needs.
//!
//! Conventions are scipy's and statsmodels': two-sided tests, intervals at
//! 1 − α (95 % by default), sample variances with n − 1.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal, StudentsT};

use crate::error::ModelError;

/// A treatment-minus-control difference and its test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Difference {
    /// Treatment minus control.
    pub estimate: f64,
    /// The confidence interval's bounds.
    pub low: f64,
    pub high: f64,
    /// The test statistic (z or t).
    pub statistic: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Degrees of freedom of a t statistic (infinite for z).
    pub df: f64,
}

fn standard_normal() -> Normal {
    Normal::new(0.0, 1.0).expect("the standard normal exists")
}

fn too_few(what: &str) -> ModelError {
    ModelError::NoData(format!("{what}: each group needs at least two customers"))
}

/// Two-proportion z-test of `x_t / n_t` against `x_c / n_c` (statsmodels'
/// `proportions_ztest`, pooled variance), with the interval of the difference
/// from the unpooled variance (Wald), at confidence 1 − `alpha`.
pub fn two_proportions(
    x_t: u64,
    n_t: u64,
    x_c: u64,
    n_c: u64,
    alpha: f64,
) -> Result<Difference, ModelError> {
    if n_t == 0 || n_c == 0 {
        return Err(too_few("conversion"));
    }
    let (nt, nc) = (n_t as f64, n_c as f64);
    let (pt, pc) = (x_t as f64 / nt, x_c as f64 / nc);
    let pooled = (x_t + x_c) as f64 / (nt + nc);
    let se0 = (pooled * (1.0 - pooled) * (1.0 / nt + 1.0 / nc)).sqrt();
    let estimate = pt - pc;
    let n = standard_normal();
    let statistic = if se0 > 0.0 { estimate / se0 } else { 0.0 };
    let p_value = if se0 > 0.0 {
        2.0 * n.sf(statistic.abs())
    } else {
        1.0
    };
    let se = (pt * (1.0 - pt) / nt + pc * (1.0 - pc) / nc).sqrt();
    let z = n.inverse_cdf(1.0 - alpha / 2.0);
    Ok(Difference {
        estimate,
        low: estimate - z * se,
        high: estimate + z * se,
        statistic,
        p_value,
        df: f64::INFINITY,
    })
}

/// Mean and sample variance (n − 1).
pub fn mean_var(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

/// Welch's t-test of the means of `t` and `c` (scipy's `ttest_ind(t, c,
/// equal_var=False)`), with the interval of the difference at 1 − `alpha`.
pub fn welch(t: &[f64], c: &[f64], alpha: f64) -> Result<Difference, ModelError> {
    if t.len() < 2 || c.len() < 2 {
        return Err(too_few("Welch's t-test"));
    }
    let ((mt, vt), (mc, vc)) = (mean_var(t), mean_var(c));
    let (qt, qc) = (vt / t.len() as f64, vc / c.len() as f64);
    let se = (qt + qc).sqrt();
    let estimate = mt - mc;
    if se == 0.0 {
        return Ok(Difference {
            estimate,
            low: estimate,
            high: estimate,
            statistic: 0.0,
            p_value: if estimate == 0.0 { 1.0 } else { 0.0 },
            df: f64::NAN,
        });
    }
    let df =
        (qt + qc).powi(2) / (qt * qt / (t.len() as f64 - 1.0) + qc * qc / (c.len() as f64 - 1.0));
    let dist = StudentsT::new(0.0, 1.0, df)
        .map_err(|e| ModelError::NoData(format!("Welch's t-test: {e}")))?;
    let statistic = estimate / se;
    let q = dist.inverse_cdf(1.0 - alpha / 2.0);
    Ok(Difference {
        estimate,
        low: estimate - q * se,
        high: estimate + q * se,
        statistic,
        p_value: 2.0 * dist.sf(statistic.abs()),
        df,
    })
}

/// Percentile bootstrap interval (1 − `alpha`) of the difference of means:
/// `resamples` times, each group resampled with replacement (a seeded ChaCha8
/// generator, so the same inputs give the same interval).
pub fn bootstrap_difference(
    t: &[f64],
    c: &[f64],
    resamples: usize,
    alpha: f64,
    seed: u64,
) -> Result<(f64, f64), ModelError> {
    if t.len() < 2 || c.len() < 2 || resamples == 0 {
        return Err(too_few("the bootstrap"));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut mean_of = |v: &[f64]| {
        let mut sum = 0.0;
        for _ in 0..v.len() {
            sum += v[rng.random_range(0..v.len())];
        }
        sum / v.len() as f64
    };
    let mut diffs: Vec<f64> = (0..resamples).map(|_| mean_of(t) - mean_of(c)).collect();
    diffs.sort_by(f64::total_cmp);
    Ok((
        percentile(&diffs, alpha / 2.0),
        percentile(&diffs, 1.0 - alpha / 2.0),
    ))
}

/// numpy's linear-interpolation percentile of sorted values at `q` in [0, 1].
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = (sorted.len() - 1) as f64 * q;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The sample-ratio-mismatch check: Pearson's chi-square of the observed group
/// sizes against the intended shares (scipy's `chisquare`). Returns the statistic
/// and its p-value (k − 1 degrees of freedom).
pub fn sample_ratio(observed: &[u64], shares: &[f64]) -> Result<(f64, f64), ModelError> {
    if observed.len() < 2 || observed.len() != shares.len() {
        return Err(ModelError::NoData(
            "the sample-ratio check needs a share for each of two or more groups".into(),
        ));
    }
    let total: f64 = observed.iter().sum::<u64>() as f64;
    let share_sum: f64 = shares.iter().sum();
    let statistic: f64 = observed
        .iter()
        .zip(shares)
        .map(|(&o, s)| {
            let e = total * s / share_sum;
            (o as f64 - e).powi(2) / e
        })
        .sum();
    let dist = ChiSquared::new((observed.len() - 1) as f64)
        .map_err(|e| ModelError::NoData(format!("chi-square: {e}")))?;
    Ok((statistic, dist.sf(statistic)))
}

/// CUPED (Deng et al. 2013): each customer's outcome y adjusted by their
/// pre-period value x, y − θ (x − mean x) with θ = cov(x, y) / var(x) over both
/// groups together, then Welch's test on the adjusted outcomes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cuped {
    pub theta: f64,
    /// 1 − var(adjusted) / var(outcome), over both groups.
    pub variance_reduction: f64,
    pub difference: Difference,
}

/// CUPED on (outcome, pre-period value) pairs of the treatment `t` and control `c`.
pub fn cuped(t: &[(f64, f64)], c: &[(f64, f64)], alpha: f64) -> Result<Cuped, ModelError> {
    if t.len() < 2 || c.len() < 2 {
        return Err(too_few("CUPED"));
    }
    let all: Vec<&(f64, f64)> = t.iter().chain(c).collect();
    let n = all.len() as f64;
    let my = all.iter().map(|p| p.0).sum::<f64>() / n;
    let mx = all.iter().map(|p| p.1).sum::<f64>() / n;
    let cov = all.iter().map(|p| (p.0 - my) * (p.1 - mx)).sum::<f64>() / (n - 1.0);
    let var_x = all.iter().map(|p| (p.1 - mx).powi(2)).sum::<f64>() / (n - 1.0);
    let var_y = all.iter().map(|p| (p.0 - my).powi(2)).sum::<f64>() / (n - 1.0);
    let theta = if var_x > 0.0 { cov / var_x } else { 0.0 };
    let adjust =
        |v: &[(f64, f64)]| -> Vec<f64> { v.iter().map(|p| p.0 - theta * (p.1 - mx)).collect() };
    let (at, ac) = (adjust(t), adjust(c));
    let adjusted: Vec<f64> = at.iter().chain(&ac).copied().collect();
    let (_, var_adjusted) = mean_var(&adjusted);
    Ok(Cuped {
        theta,
        variance_reduction: if var_y > 0.0 {
            1.0 - var_adjusted / var_y
        } else {
            0.0
        },
        difference: welch(&at, &ac, alpha)?,
    })
}

/// Customers needed per group to detect an absolute lift `mde` over a baseline
/// conversion rate with the given power, two-sided at `alpha`:
/// n = (z(1−α/2) √(2 p̄ (1 − p̄)) + z(power) √(p₁(1 − p₁) + p₂(1 − p₂)))² / mde²,
/// p̄ the mean of p₁ = baseline and p₂ = baseline + mde, rounded up.
pub fn sample_size(baseline: f64, mde: f64, power: f64, alpha: f64) -> Result<u64, ModelError> {
    let p2 = baseline + mde;
    let valid = (0.0..1.0).contains(&baseline)
        && baseline > 0.0
        && mde != 0.0
        && p2 > 0.0
        && p2 < 1.0
        && (0.0..1.0).contains(&power)
        && power > 0.0
        && alpha > 0.0
        && alpha < 1.0;
    if !valid {
        return Err(ModelError::NoData(format!(
            "a sample size needs 0 < baseline rate < 1, 0 < baseline + lift < 1, a lift other \
             than 0, and 0 < power, alpha < 1 (got baseline {baseline}, lift {mde}, power \
             {power}, alpha {alpha})"
        )));
    }
    let n = standard_normal();
    let (za, zb) = (n.inverse_cdf(1.0 - alpha / 2.0), n.inverse_cdf(power));
    let mean = (baseline + p2) / 2.0;
    let num = za * (2.0 * mean * (1.0 - mean)).sqrt()
        + zb * (baseline * (1.0 - baseline) + p2 * (1.0 - p2)).sqrt();
    Ok((num * num / (mde * mde)).ceil() as u64)
}
