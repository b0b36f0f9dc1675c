//! The BG/NBD model of repeat buying (Fader, Hardie & Lee 2005, "Counting Your
//! Customers the Easy Way"): while alive a customer buys at a Poisson rate λ ~
//! Gamma(r, α); after each purchase they leave with probability p ~ Beta(a, b).

use crate::error::ModelError;
use crate::fit::{Convergence, Objective, minimise};
use crate::special::{hyp2f1, log_add_exp};

/// From this a + b on, the drop-out probability's Beta distribution is treated as a
/// point when its series cannot be summed (see [`BgNbd::expected_purchases`]).
const DEGENERATE_BETA: f64 = 1e4;

/// One customer's history, or several identical ones: `x` repeat purchases, the
/// last at `t_x` after the first, observed for `t` since the first, in any time
/// unit (the fitted α is in that unit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct History {
    /// Repeat purchases (purchase periods after the first).
    pub x: f64,
    /// Time from the first to the last purchase (recency).
    pub t_x: f64,
    /// Time from the first purchase to the end of observation (age).
    pub t: f64,
    /// How many customers have exactly this history.
    pub weight: f64,
}

/// Fitted BG/NBD parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// A fit: the parameters, the maximised log-likelihood and how the fit ended.
#[derive(Debug, Clone, PartialEq)]
pub struct BgNbdFit {
    pub params: BgNbd,
    pub loglik: f64,
    /// Customers the fit saw (the sum of the weights).
    pub customers: f64,
    pub convergence: Convergence,
}

/// The likelihood over histories whose time is multiplied by `scale`, with the
/// terms that depend only on `x` computed once per distinct `x`, and the logarithms
/// of α + t once per distinct time (histories in days share a few hundred).
struct Likelihood<'a> {
    data: &'a [History],
    /// Distinct repeat counts and the customers with each.
    xs: Vec<f64>,
    x_weight: Vec<f64>,
    scale: f64,
    /// Distinct scaled times (T and t_x alike).
    times: Vec<f64>,
    /// Per history: the indices of its x in `xs` and of its T and t_x in `times`.
    at: Vec<(usize, usize, usize)>,
}

impl<'a> Likelihood<'a> {
    fn new(data: &'a [History], scale: f64) -> Self {
        let distinct = |values: &mut Vec<f64>| {
            values.sort_by(f64::total_cmp);
            values.dedup();
        };
        let index = |values: &[f64], v: f64| {
            values
                .binary_search_by(|u| u.total_cmp(&v))
                .expect("a value of the data")
        };
        let mut xs: Vec<f64> = data.iter().map(|h| h.x).collect();
        distinct(&mut xs);
        let mut x_weight = vec![0.0; xs.len()];
        for h in data {
            x_weight[index(&xs, h.x)] += h.weight;
        }
        let mut times: Vec<f64> = data
            .iter()
            .flat_map(|h| [h.t * scale, h.t_x * scale])
            .collect();
        distinct(&mut times);
        let at = data
            .iter()
            .map(|h| {
                (
                    index(&xs, h.x),
                    index(&times, h.t * scale),
                    index(&times, h.t_x * scale),
                )
            })
            .collect();
        Likelihood {
            data,
            xs,
            x_weight,
            scale,
            times,
            at,
        }
    }

    /// Log-likelihood and its gradient in (r, α, a, b).
    fn loglik(&self, p: &BgNbd) -> (f64, [f64; 4]) {
        let BgNbd { r, alpha, a, b } = *p;
        let (mut ll, mut g) = (0.0, [0.0; 4]);
        // The parts that depend on x alone: ln Γ(r+x) - ln Γ(r) + r ln α and
        // ln B(a, b+x) - ln B(a, b). x is a whole number, so the differences of ln Γ
        // are sums of logarithms (and those of ψ sums of reciprocals), accumulated
        // over x = 0, 1, ...: exact where ln Γ of large arguments would cancel
        // catastrophically (a fit whose a and b run off to infinity).
        let (mut sr, mut sb, mut sab) = (0.0, 0.0, 0.0);
        let (mut dr, mut db, mut dab) = (0.0, 0.0, 0.0);
        let mut next = 0.0;
        for (&x, &w) in self.xs.iter().zip(&self.x_weight) {
            while next < x {
                sr += (r + next).ln();
                sb += (b + next).ln();
                sab += (a + b + next).ln();
                dr += 1.0 / (r + next);
                db += 1.0 / (b + next);
                dab += 1.0 / (a + b + next);
                next += 1.0;
            }
            ll += w * (sr + r * alpha.ln() + sb - sab);
            g[0] += w * (dr + alpha.ln());
            g[1] += w * r / alpha;
            g[2] -= w * dab;
            g[3] += w * (db - dab);
        }
        let ln_a = a.ln();
        // ln(b + x - 1) per distinct x (unused for x = 0).
        let ln_b: Vec<f64> = self.xs.iter().map(|x| (b + x - 1.0).ln()).collect();
        // α + t and its logarithm per distinct time.
        let shifted: Vec<f64> = self.times.iter().map(|t| alpha + t).collect();
        let ln_shifted: Vec<f64> = shifted.iter().map(|s| s.ln()).collect();
        for (h, &(xi, ti, txi)) in self.data.iter().zip(&self.at) {
            let (x, w) = (h.x, h.weight);
            let rx = r + x;
            let a3 = -rx * ln_shifted[ti];
            let a4 = if x > 0.0 {
                ln_a - ln_b[xi] - rx * ln_shifted[txi]
            } else {
                f64::NEG_INFINITY
            };
            let total = log_add_exp(a3, a4);
            ll += w * total;
            let w3 = (a3 - total).exp();
            let w4 = if x > 0.0 { (a4 - total).exp() } else { 0.0 };
            g[0] += w * (-w3 * ln_shifted[ti] - w4 * ln_shifted[txi]);
            g[1] += w * (-w3 * rx / shifted[ti] - w4 * rx / shifted[txi]);
            if x > 0.0 {
                g[2] += w * w4 / a;
                g[3] -= w * w4 / (b + x - 1.0);
            }
        }
        (ll, g)
    }
}

impl Objective for Likelihood<'_> {
    fn names(&self) -> &'static [&'static str] {
        &["r", "alpha", "a", "b"]
    }

    fn value_and_gradient(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        let p = BgNbd {
            r: theta[0].exp(),
            alpha: theta[1].exp(),
            a: theta[2].exp(),
            b: theta[3].exp(),
        };
        let (ll, g) = self.loglik(&p);
        if !ll.is_finite() {
            return (f64::INFINITY, vec![0.0; 4]);
        }
        // d/dθ = p d/dp for θ = ln p; minimise the negative.
        let grad = vec![-g[0] * p.r, -g[1] * p.alpha, -g[2] * p.a, -g[3] * p.b];
        (-ll, grad)
    }

    fn reported(&self, theta: &[f64]) -> Vec<f64> {
        let mut p: Vec<f64> = theta.iter().map(|t| t.exp()).collect();
        p[1] /= self.scale;
        p
    }
}

fn validate(data: &[History]) -> Result<f64, ModelError> {
    let mut customers = 0.0;
    for (i, h) in data.iter().enumerate() {
        let ok = h.x >= 0.0
            && h.x.fract() == 0.0
            && h.t_x >= 0.0
            && h.t >= h.t_x
            && h.weight > 0.0
            && [h.x, h.t_x, h.t, h.weight].iter().all(|v| v.is_finite());
        if !ok {
            return Err(ModelError::BadHistory {
                index: i,
                message: format!(
                    "x = {}, t_x = {}, T = {}, weight = {}: need a whole x >= 0 and \
                     0 <= t_x <= T",
                    h.x, h.t_x, h.t, h.weight
                ),
            });
        }
        customers += h.weight;
    }
    if customers == 0.0 {
        return Err(ModelError::NoData("no customers to fit".into()));
    }
    if data.iter().all(|h| h.x == 0.0) {
        return Err(ModelError::NoData(
            "no customer bought twice: the BG/NBD model needs repeat purchases".into(),
        ));
    }
    Ok(customers)
}

impl BgNbd {
    /// Fits the model by maximum likelihood. Time is rescaled so that the longest
    /// observation is 10 units while fitting (as `lifetimes` does), which keeps the
    /// optimiser's steps comparable across time units; α is reported in the data's
    /// unit and the log-likelihood is that of the data as given.
    pub fn fit(data: &[History]) -> Result<BgNbdFit, ModelError> {
        let customers = validate(data)?;
        let longest = data.iter().map(|h| h.t).fold(0.0_f64, f64::max);
        let scale = if longest > 0.0 { 10.0 / longest } else { 1.0 };
        let scaled = Likelihood::new(data, scale);
        let (theta, _, convergence) = minimise(&scaled, vec![0.0; 4], customers)?;
        let params = BgNbd {
            r: theta[0].exp(),
            alpha: theta[1].exp() / scale,
            a: theta[2].exp(),
            b: theta[3].exp(),
        };
        let loglik = params.loglik(data);
        Ok(BgNbdFit {
            params,
            loglik,
            customers,
            convergence,
        })
    }

    /// The log-likelihood of `data` under these parameters.
    pub fn loglik(&self, data: &[History]) -> f64 {
        Likelihood::new(data, 1.0).loglik(self).0
    }

    /// ln of the odds that a customer with this history has left, the term shared
    /// by P(alive) and the conditional expectation (minus infinity when x = 0).
    fn log_dead_odds(&self, x: f64, t_x: f64, t: f64) -> f64 {
        if x == 0.0 {
            return f64::NEG_INFINITY;
        }
        (self.a / (self.b + x - 1.0)).ln()
            + (self.r + x) * ((self.alpha + t) / (self.alpha + t_x)).ln()
    }

    /// The probability that a customer with `x` repeat purchases, the last at
    /// `t_x`, observed for `t`, is still a customer (FHL 2005, eq. 13).
    pub fn p_alive(&self, x: f64, t_x: f64, t: f64) -> f64 {
        1.0 / (1.0 + self.log_dead_odds(x, t_x, t).exp())
    }

    /// Expected purchases in the next `horizon` time units of such a customer
    /// (FHL 2005, eq. 10):
    /// (a+b+x-1)/(a-1) [1 - (1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z)] / (1 + odds of having left)
    /// with z = horizon / (α+T+horizon). The hypergeometric term is summed in a form
    /// whose terms stay bounded: for z <= 1/2 by Euler's and Pfaff's transformations,
    /// (1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z) = 2F1(r+x, a-1; a+b+x-1; z/(z-1)), else
    /// by Euler's alone, (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z). When a + b is so
    /// large that the second series cannot be summed, the drop-out probability is
    /// Beta-distributed with no spread left and the limit of the model with it fixed
    /// at a/(a+b) is used (its relative error is of the order of 1/(a+b)).
    pub fn expected_purchases(
        &self,
        horizon: f64,
        x: f64,
        t_x: f64,
        t: f64,
    ) -> Result<f64, ModelError> {
        let BgNbd { r, alpha, a, b } = *self;
        if horizon <= 0.0 {
            return Ok(0.0);
        }
        let z = horizon / (alpha + t + horizon);
        let c = a + b + x - 1.0;
        let term = if z <= 0.5 {
            hyp2f1(r + x, a - 1.0, c, z / (z - 1.0))
        } else {
            hyp2f1(a + b - 1.0 - r, a - 1.0, c, z).map(|f| (1.0 - z).powf(a - 1.0) * f)
        };
        let term = match term {
            Ok(v) if v.is_finite() => v,
            Err(_) | Ok(_) if a + b >= DEGENERATE_BETA => {
                return Ok(self.expected_purchases_fixed_dropout(horizon, x, t_x, t));
            }
            Ok(v) => {
                return Err(ModelError::Hypergeometric {
                    a: a + b - 1.0 - r,
                    b: a - 1.0,
                    c,
                    z,
                    reason: format!("the series summed to {v}"),
                });
            }
            Err(e) => return Err(e),
        };
        let first = c / (a - 1.0);
        Ok(first * (1.0 - term) / (1.0 + self.log_dead_odds(x, t_x, t).exp()))
    }

    /// The limit of [`Self::expected_purchases`] as a and b grow with a/(a+b) = p
    /// fixed: every customer drops out with probability p after each purchase.
    /// With λ integrated out, an alive customer expects
    /// (1 - ((α+T)/(α+T+p h))^(r+x)) / p purchases in the next h, and is alive with
    /// odds 1 : p/(1-p) ((α+T)/(α+t_x))^(r+x) when x > 0.
    fn expected_purchases_fixed_dropout(&self, horizon: f64, x: f64, t_x: f64, t: f64) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let p = a / (a + b);
        let k = r + x;
        let alive = -(-k * (p * horizon / (alpha + t)).ln_1p()).exp_m1() / p;
        let dead_odds = if x > 0.0 {
            p / (1.0 - p) * ((alpha + t) / (alpha + t_x)).powf(k)
        } else {
            0.0
        };
        alive / (1.0 + dead_odds)
    }

    /// Expected purchases of a new customer in their first `horizon` time units
    /// (FHL 2005, eq. 9).
    pub fn expected_purchases_new(&self, horizon: f64) -> Result<f64, ModelError> {
        let BgNbd { r, alpha, a, b } = *self;
        let z = horizon / (alpha + horizon);
        let f = hyp2f1(r, b, a + b - 1.0, z)?;
        Ok((a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + horizon)).powf(r) * f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With a + b large the drop-out probability is nearly fixed: the series and
    /// the fixed-drop-out limit agree to the order of 1/(a+b).
    #[test]
    fn the_fixed_dropout_limit_matches_the_series_where_both_work() {
        let m = BgNbd {
            r: 0.7,
            alpha: 60.0,
            a: 2e3,
            b: 2e6,
        };
        for (x, t_x, t) in [(0.0, 0.0, 100.0), (3.0, 80.0, 200.0), (12.0, 300.0, 350.0)] {
            // z <= 1/2: the series converges whatever a and b are.
            let h = 60.0;
            let series = m.expected_purchases(h, x, t_x, t).unwrap();
            let limit = m.expected_purchases_fixed_dropout(h, x, t_x, t);
            assert!(
                ((series - limit) / limit).abs() < 1e-3,
                "{series} vs {limit}"
            );
        }
    }

    /// Parameters that ran off to infinity (a fit on data where nobody leaves)
    /// still give finite predictions, by the limit.
    #[test]
    fn runaway_beta_parameters_use_the_limit() {
        let m = BgNbd {
            r: 0.9,
            alpha: 40.0,
            a: 2.67e19,
            b: 2.59e22,
        };
        let e = m.expected_purchases(360.0, 5.0, 200.0, 300.0).unwrap();
        assert!(e.is_finite() && e > 0.0, "{e}");
        assert_eq!(
            e,
            m.expected_purchases_fixed_dropout(360.0, 5.0, 200.0, 300.0)
        );
        let alive = m.p_alive(5.0, 200.0, 300.0);
        assert!(alive > 0.99 && alive <= 1.0, "{alive}");
    }
}
