//! The Gamma-Gamma model of spend per purchase (Fader & Hardie 2013, "The
//! Gamma-Gamma Model of Monetary Value"): a customer's purchases are Gamma(p, ν)
//! around their own mean, with ν ~ Gamma(q, γ) across customers.

use statrs::function::gamma::{digamma, ln_gamma};

use crate::error::ModelError;
use crate::fit::{Convergence, Objective, minimise};

/// Customers with `x` repeat purchases of mean value `m` (`weight` of them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spend {
    pub x: f64,
    pub m: f64,
    pub weight: f64,
}

/// Fitted Gamma-Gamma parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

/// A fit: the parameters, the maximised log-likelihood and how the fit ended.
#[derive(Debug, Clone, PartialEq)]
pub struct GammaGammaFit {
    pub params: GammaGamma,
    pub loglik: f64,
    /// Customers the fit saw (x > 0 and m > 0).
    pub customers: f64,
    pub convergence: Convergence,
}

/// The likelihood over the spend rows, with the terms that depend on x alone
/// (ln Γ and ψ of p·x and p·x + q) computed once per distinct x and the logarithms
/// of the data once.
struct Likelihood {
    rows: Vec<Row>,
    /// Distinct repeat counts.
    xs: Vec<f64>,
}

struct Row {
    x: f64,
    m: f64,
    weight: f64,
    ln_m: f64,
    ln_x: f64,
    /// Index of x in `xs`.
    xi: usize,
}

impl Likelihood {
    fn new(data: &[Spend]) -> Self {
        let mut xs: Vec<f64> = data.iter().map(|s| s.x).collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        let rows = data
            .iter()
            .map(|s| Row {
                x: s.x,
                m: s.m,
                weight: s.weight,
                ln_m: s.m.ln(),
                ln_x: s.x.ln(),
                xi: xs
                    .binary_search_by(|v| v.total_cmp(&s.x))
                    .expect("an x of the data"),
            })
            .collect();
        Likelihood { rows, xs }
    }

    fn loglik(&self, g: &GammaGamma) -> (f64, [f64; 3]) {
        let GammaGamma { p, q, gamma } = *g;
        let (mut ll, mut d) = (0.0, [0.0; 3]);
        // Per distinct x: ln Γ(px+q) - ln Γ(px), ψ(px+q) and ψ(px).
        let per_x: Vec<(f64, f64, f64)> = self
            .xs
            .iter()
            .map(|x| {
                let px = p * x;
                (
                    ln_gamma(px + q) - ln_gamma(px),
                    digamma(px + q),
                    digamma(px),
                )
            })
            .collect();
        let (ln_gamma_q, digamma_q, ln_g) = (ln_gamma(q), digamma(q), gamma.ln());
        for s in &self.rows {
            let (x, m, w) = (s.x, s.m, s.weight);
            let (ln_ratio, digamma_pxq, digamma_px) = per_x[s.xi];
            let px = p * x;
            let total = x * m + gamma;
            let ln_total = total.ln();
            ll += w
                * (ln_ratio - ln_gamma_q + q * ln_g + (px - 1.0) * s.ln_m + px * s.ln_x
                    - (px + q) * ln_total);
            d[0] += w * x * (digamma_pxq - digamma_px + s.ln_m + s.ln_x - ln_total);
            d[1] += w * (digamma_pxq - digamma_q + ln_g - ln_total);
            d[2] += w * (q / gamma - (px + q) / total);
        }
        (ll, d)
    }
}

impl Objective for Likelihood {
    fn names(&self) -> &'static [&'static str] {
        &["p", "q", "gamma"]
    }

    fn value_and_gradient(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        let g = GammaGamma {
            p: theta[0].exp(),
            q: theta[1].exp(),
            gamma: theta[2].exp(),
        };
        let (ll, d) = self.loglik(&g);
        if !ll.is_finite() {
            return (f64::INFINITY, vec![0.0; 3]);
        }
        (-ll, vec![-d[0] * g.p, -d[1] * g.q, -d[2] * g.gamma])
    }
}

impl GammaGamma {
    /// Fits the model on customers with at least one repeat purchase and a positive
    /// mean value; others in `data` are ignored (they carry no spend information).
    pub fn fit(data: &[Spend]) -> Result<GammaGammaFit, ModelError> {
        for (i, s) in data.iter().enumerate() {
            if !(s.x.is_finite() && s.m.is_finite() && s.weight > 0.0) {
                return Err(ModelError::BadHistory {
                    index: i,
                    message: format!("x = {}, m = {}, weight = {}", s.x, s.m, s.weight),
                });
            }
        }
        let used: Vec<Spend> = data
            .iter()
            .copied()
            .filter(|s| s.x > 0.0 && s.m > 0.0)
            .collect();
        let customers: f64 = used.iter().map(|s| s.weight).sum();
        if used.is_empty() {
            return Err(ModelError::NoData(
                "no customer has a repeat purchase with a positive value: the Gamma-Gamma \
                 model needs some"
                    .into(),
            ));
        }
        let mean = used.iter().map(|s| s.m * s.weight).sum::<f64>() / customers;
        let likelihood = Likelihood::new(&used);
        let (theta, value, convergence) =
            minimise(&likelihood, vec![0.0, 0.0, mean.ln()], customers)?;
        Ok(GammaGammaFit {
            params: GammaGamma {
                p: theta[0].exp(),
                q: theta[1].exp(),
                gamma: theta[2].exp(),
            },
            loglik: -value,
            customers,
            convergence,
        })
    }

    /// The expected value of a purchase by a customer with `x` repeat purchases of
    /// mean `m` (Fader & Hardie 2013, eq. 5): a weighted mean of the population's
    /// mean, pγ/(q-1), and the customer's own. For x = 0 it is the population mean.
    /// Needs q > 1 (otherwise the mean spend is infinite): `None` then.
    pub fn expected_value(&self, x: f64, m: f64) -> Option<f64> {
        let GammaGamma { p, q, gamma } = *self;
        (q > 1.0).then(|| p * (gamma + x * m) / (p * x + q - 1.0))
    }
}
