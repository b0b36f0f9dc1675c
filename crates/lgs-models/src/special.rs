//! Special functions the models need beyond `statrs`: the Gauss hypergeometric
//! function 2F1, and a log-sum-exp of two terms.

use crate::error::ModelError;

/// Terms the series may take before [`hyp2f1`] gives up: at |z| = 0.999 the terms
/// shrink by 0.1 % each, so a million terms reach 1e-16 of the first.
const MAX_TERMS: usize = 1_000_000;

/// The Gauss hypergeometric function 2F1(a, b; c; z) for real arguments and
/// |z| < 1, summed as its power series until a term no longer changes the sum.
///
/// The BG/NBD conditional expectation calls it with 0 <= z < 1 and c > 0.
/// Returns [`ModelError::Hypergeometric`] for |z| >= 1, for c a non-positive integer
/// (where the function has a pole), or when the series does not settle.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Result<f64, ModelError> {
    let fail = |reason: &str| ModelError::Hypergeometric {
        a,
        b,
        c,
        z,
        reason: reason.to_string(),
    };
    if !(a.is_finite() && b.is_finite() && c.is_finite() && z.is_finite()) {
        return Err(fail("an argument is not a finite number"));
    }
    if z.abs() >= 1.0 {
        return Err(fail("the series needs |z| < 1"));
    }
    if c <= 0.0 && c.fract() == 0.0 {
        return Err(fail("c is a non-positive integer"));
    }
    let mut sum = 1.0_f64;
    let mut term = 1.0_f64;
    for k in 0..MAX_TERMS {
        let k = k as f64;
        term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        sum += term;
        if term == 0.0 || !sum.is_finite() {
            break;
        }
        // Stop once the term is negligible and the terms are shrinking for good
        // (the ratio of consecutive terms tends to z, below one).
        let ratio = ((a + k + 1.0) * (b + k + 1.0) / ((c + k + 1.0) * (k + 2.0)) * z).abs();
        if term.abs() <= f64::EPSILON * sum.abs() && ratio < 1.0 {
            return Ok(sum);
        }
    }
    if sum.is_finite() && term == 0.0 {
        return Ok(sum);
    }
    Err(fail("the series did not converge"))
}

/// ln(e^x + e^y) without overflow; `y` may be minus infinity (a term that is absent).
pub fn log_add_exp(x: f64, y: f64) -> f64 {
    let (hi, lo) = if x >= y { (x, y) } else { (y, x) };
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64, rel: f64) {
        assert!(
            (got - want).abs() <= rel * want.abs().max(1e-300),
            "got {got:e}, want {want:e} (relative error {:e})",
            ((got - want) / want).abs()
        );
    }

    /// Closed forms of 2F1 (Abramowitz & Stegun 15.1.3, 15.1.8, 15.1.6).
    #[test]
    fn hyp2f1_matches_closed_forms() {
        for z in [-0.9_f64, -0.5, -1e-3, 0.0, 1e-6, 0.1, 0.5, 0.9, 0.99] {
            // 2F1(1, 1; 2; z) = -ln(1 - z) / z
            let want = if z == 0.0 { 1.0 } else { -(-z).ln_1p() / z };
            close(hyp2f1(1.0, 1.0, 2.0, z).unwrap(), want, 1e-13);
            // 2F1(a, b; b; z) = (1 - z)^-a
            close(
                hyp2f1(2.7, 0.3, 0.3, z).unwrap(),
                (1.0 - z).powf(-2.7),
                1e-13,
            );
        }
        for s in [0.1_f64, 0.5, 0.9, 0.999] {
            // 2F1(1/2, 1/2; 3/2; s^2) = arcsin(s) / s
            close(hyp2f1(0.5, 0.5, 1.5, s * s).unwrap(), s.asin() / s, 1e-12);
        }
    }

    /// Values computed independently with mpmath 1.3 (`mpmath.hyp2f1`, 30 digits),
    /// at arguments of the shape the BG/NBD expectation uses.
    #[test]
    fn hyp2f1_matches_mpmath() {
        let cases = [
            // (a, b, c, z, mpmath.hyp2f1(a, b, c, z))
            (2.2426, 4.4258, 5.2187, 0.5, 3.613_933_466_415_349_4),
            (0.2426, 2.4258, 2.2187, 0.8, 1.571_019_178_088_418_1),
            (2.4614, -0.2071, 3.2187, 0.9, 0.763_724_299_743_256_5),
            (12.5, 14.0, 20.0, 0.3, 21.370_871_876_026_42),
        ];
        for (a, b, c, z, want) in cases {
            close(hyp2f1(a, b, c, z).unwrap(), want, 1e-12);
        }
    }

    #[test]
    fn hyp2f1_refuses_what_it_cannot_sum() {
        assert!(hyp2f1(1.0, 1.0, 2.0, 1.0).is_err());
        assert!(hyp2f1(1.0, 1.0, -2.0, 0.5).is_err());
        assert!(hyp2f1(f64::NAN, 1.0, 2.0, 0.5).is_err());
        // A terminating series (a is a non-positive integer) is a polynomial.
        close(hyp2f1(-2.0, 1.0, 1.0, 0.5).unwrap(), 0.25, 1e-15);
    }

    #[test]
    fn log_add_exp_is_stable() {
        close(log_add_exp(0.0, 0.0), 2f64.ln(), 1e-15);
        close(log_add_exp(1000.0, 1000.0), 1000.0 + 2f64.ln(), 1e-15);
        assert_eq!(log_add_exp(-5.0, f64::NEG_INFINITY), -5.0);
    }
}
