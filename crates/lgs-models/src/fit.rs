//! Maximum likelihood by L-BFGS (argmin) on the logarithms of positive parameters,
//! and the checks that make a fit's trustworthiness visible: convergence, a
//! parameter running to a bound, a flat likelihood.

// Small dense matrices read best with their indices.
#![allow(clippy::needless_range_loop)]

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;

use crate::error::ModelError;

/// A model's negative log-likelihood over the logarithms of its parameters.
pub trait Objective {
    /// The parameters' names, in order (for messages).
    fn names(&self) -> &'static [&'static str];
    /// Negative log-likelihood and its gradient at `theta` (the parameters' logs).
    fn value_and_gradient(&self, theta: &[f64]) -> (f64, Vec<f64>);
    /// The parameters as reported from their logs (a model fitted on rescaled data
    /// scales some back).
    fn reported(&self, theta: &[f64]) -> Vec<f64> {
        theta.iter().map(|t| t.exp()).collect()
    }
}

/// How a fit ended, reported with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Convergence {
    /// The optimiser's iterations.
    pub iterations: u64,
    /// Euclidean norm of the log-likelihood's gradient in the logs of the parameters,
    /// per unit of weight (customer), at the solution.
    pub gradient_norm: f64,
    /// Whether the gradient vanished at the solution and no warning applies.
    pub converged: bool,
    /// The optimiser's reason for stopping.
    pub status: String,
    /// What makes the numbers doubtful: a parameter at a bound, a flat likelihood,
    /// no convergence. Empty for a clean fit.
    pub warnings: Vec<String>,
}

/// A parameter whose logarithm passes this is running off to zero or infinity.
const LOG_BOUND: f64 = 15.0;
/// Iterations before giving up.
const MAX_ITERS: u64 = 2_000;
/// A gradient per customer above this at the end means the fit did not converge.
const GRADIENT_TOLERANCE: f64 = 1e-5;

/// The objective per unit of weight (per customer), so that the optimiser's
/// first steps have the same size whatever the number of customers. The line
/// search asks for the cost and then the gradient at the same point: the last
/// evaluation is kept, so each point costs one pass over the data.
struct Problem<'a, O: Objective> {
    objective: &'a O,
    weight: f64,
    last: std::sync::Mutex<Option<Evaluation>>,
}

/// A point (the parameters' logs), the cost there and its gradient.
type Evaluation = (Vec<f64>, f64, Vec<f64>);

impl<O: Objective> Problem<'_, O> {
    fn evaluate(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, value, gradient)) = last.as_ref()
            && at.as_slice() == theta
        {
            return (*value, gradient.clone());
        }
        let (value, gradient) = self.objective.value_and_gradient(theta);
        let value = value / self.weight;
        let gradient: Vec<f64> = gradient.into_iter().map(|g| g / self.weight).collect();
        *last = Some((theta.to_vec(), value, gradient.clone()));
        (value, gradient)
    }
}

impl<O: Objective> CostFunction for Problem<'_, O> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, theta: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        Ok(self.evaluate(theta).0)
    }
}

impl<O: Objective> Gradient for Problem<'_, O> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, theta: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        Ok(self.evaluate(theta).1)
    }
}

/// Minimises `objective` from `start` (logs of the parameters); `weight` is the
/// number of customers, which scales the gradient test. Returns the best logs,
/// the minimum and how the fit ended.
pub fn minimise<O: Objective>(
    objective: &O,
    start: Vec<f64>,
    weight: f64,
) -> Result<(Vec<f64>, f64, Convergence), ModelError> {
    let weight = weight.max(1.0);
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10)
        .with_tolerance_grad(1e-12)
        .and_then(|s| s.with_tolerance_cost(0.0))
        .map_err(|e| ModelError::Optimiser(e.to_string()))?;
    let result = Executor::new(
        Problem {
            objective,
            weight,
            last: std::sync::Mutex::new(None),
        },
        solver,
    )
    .configure(|state| state.param(start).max_iters(MAX_ITERS))
    .run()
    .map_err(|e| ModelError::Optimiser(e.to_string()))?;
    let state = result.state();
    let theta = state
        .get_best_param()
        .cloned()
        .ok_or_else(|| ModelError::Optimiser("no parameters were evaluated".into()))?;
    let (value, gradient) = objective.value_and_gradient(&theta);
    if !value.is_finite() {
        return Err(ModelError::Optimiser(
            "the likelihood is not finite at the solution".into(),
        ));
    }
    let gradient_norm = norm(&gradient) / weight;
    let reason = state.get_termination_reason();
    // L-BFGS usually ends at the optimum with a failed line search (no descent
    // left): the gradient, not the optimiser's last message, says whether it converged.
    let status = if gradient_norm <= GRADIENT_TOLERANCE {
        "converged".to_string()
    } else {
        reason.map_or_else(|| "stopped".to_string(), |r| r.text().to_string())
    };
    let mut warnings = Vec::new();
    if gradient_norm > GRADIENT_TOLERANCE {
        warnings.push(format!(
            "did not converge ({status}; gradient {gradient_norm:.2e} per customer)"
        ));
    }
    let reported = objective.reported(&theta);
    for ((name, t), value) in objective.names().iter().zip(&theta).zip(reported) {
        if t.abs() > LOG_BOUND {
            warnings.push(format!(
                "{name} ran to a bound ({value:.3e}): the data do not determine it"
            ));
        }
    }
    if let Some(flat) = flatness(objective, &theta) {
        warnings.push(flat);
    }
    let convergence = Convergence {
        iterations: state.get_iter(),
        gradient_norm,
        converged: warnings.is_empty(),
        status,
        warnings,
    };
    Ok((theta, value, convergence))
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|g| g * g).sum::<f64>().sqrt()
}

/// The Hessian of the negative log-likelihood by central differences of the
/// gradient; a flat direction (an eigenvalue that is not clearly positive) means
/// the data cannot tell the parameters apart.
fn flatness<O: Objective>(objective: &O, theta: &[f64]) -> Option<String> {
    let n = theta.len();
    let h = 1e-5;
    let mut hessian = vec![vec![0.0; n]; n];
    for j in 0..n {
        let mut up = theta.to_vec();
        let mut down = theta.to_vec();
        up[j] += h;
        down[j] -= h;
        let (_, gu) = objective.value_and_gradient(&up);
        let (_, gd) = objective.value_and_gradient(&down);
        for i in 0..n {
            hessian[i][j] = (gu[i] - gd[i]) / (2.0 * h);
        }
    }
    for i in 0..n {
        for j in 0..i {
            let mean = (hessian[i][j] + hessian[j][i]) / 2.0;
            hessian[i][j] = mean;
            hessian[j][i] = mean;
        }
    }
    let eigen = symmetric_eigenvalues(hessian);
    let largest = eigen.iter().cloned().fold(0.0_f64, f64::max);
    let smallest = eigen.iter().cloned().fold(f64::INFINITY, f64::min);
    if largest.is_nan() || largest <= 0.0 || smallest <= 1e-9 * largest {
        return Some(format!(
            "the likelihood is flat in some direction (Hessian eigenvalues {smallest:.3e} to \
             {largest:.3e}): the parameters are not identified by these data"
        ));
    }
    None
}

/// Eigenvalues of a small symmetric matrix by cyclic Jacobi rotations.
pub(crate) fn symmetric_eigenvalues(mut m: Vec<Vec<f64>>) -> Vec<f64> {
    let n = m.len();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m[i][j] * m[i][j])
            .sum();
        if off < 1e-30 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if m[p][q].abs() < 1e-300 {
                    continue;
                }
                let tau = (m[q][q] - m[p][p]) / (2.0 * m[p][q]);
                let t = tau.signum() / (tau.abs() + (1.0 + tau * tau).sqrt());
                let t = if tau == 0.0 { 1.0 } else { t };
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (mkp, mkq) = (m[k][p], m[k][q]);
                    m[k][p] = c * mkp - s * mkq;
                    m[k][q] = s * mkp + c * mkq;
                }
                for k in 0..n {
                    let (mpk, mqk) = (m[p][k], m[q][k]);
                    m[p][k] = c * mpk - s * mqk;
                    m[q][k] = s * mpk + c * mqk;
                }
            }
        }
    }
    (0..n).map(|i| m[i][i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A quadratic bowl with its minimum at ln(2), ln(3): the fit finds it.
    struct Bowl;
    impl Objective for Bowl {
        fn names(&self) -> &'static [&'static str] {
            &["u", "v"]
        }
        fn value_and_gradient(&self, t: &[f64]) -> (f64, Vec<f64>) {
            let (du, dv) = (t[0] - 2f64.ln(), t[1] - 3f64.ln());
            (du * du + 4.0 * dv * dv, vec![2.0 * du, 8.0 * dv])
        }
    }

    /// A likelihood that depends only on u + v: flat along u - v.
    struct Ridge;
    impl Objective for Ridge {
        fn names(&self) -> &'static [&'static str] {
            &["u", "v"]
        }
        fn value_and_gradient(&self, t: &[f64]) -> (f64, Vec<f64>) {
            let s = t[0] + t[1] - 1.0;
            (s * s, vec![2.0 * s, 2.0 * s])
        }
    }

    /// Decreasing in u for ever: u runs to a bound.
    struct Slope;
    impl Objective for Slope {
        fn names(&self) -> &'static [&'static str] {
            &["u"]
        }
        fn value_and_gradient(&self, t: &[f64]) -> (f64, Vec<f64>) {
            let e = (-t[0]).exp();
            (e, vec![-e])
        }
    }

    #[test]
    fn finds_the_minimum_of_a_bowl() {
        let (theta, value, conv) = minimise(&Bowl, vec![0.0, 0.0], 1.0).unwrap();
        assert!((theta[0].exp() - 2.0).abs() < 1e-8, "{theta:?}");
        assert!((theta[1].exp() - 3.0).abs() < 1e-8, "{theta:?}");
        assert!(value < 1e-15);
        assert!(conv.converged, "{conv:?}");
        assert!(conv.warnings.is_empty());
    }

    #[test]
    fn a_flat_likelihood_is_reported() {
        let (_, _, conv) = minimise(&Ridge, vec![0.0, 0.0], 1.0).unwrap();
        assert!(!conv.converged);
        assert!(conv.warnings.iter().any(|w| w.contains("flat")), "{conv:?}");
    }

    #[test]
    fn a_parameter_running_away_is_reported() {
        let (_, _, conv) = minimise(&Slope, vec![0.0], 1.0).unwrap();
        assert!(!conv.converged);
        assert!(
            conv.warnings.iter().any(|w| w.contains("u ran to a bound")),
            "{conv:?}"
        );
    }

    #[test]
    fn jacobi_finds_known_eigenvalues() {
        let m = vec![
            vec![2.0, 1.0, 0.0],
            vec![1.0, 2.0, 0.0],
            vec![0.0, 0.0, 5.0],
        ];
        let mut e = symmetric_eigenvalues(m);
        e.sort_by(f64::total_cmp);
        for (got, want) in e.iter().zip([1.0, 3.0, 5.0]) {
            assert!((got - want).abs() < 1e-12, "{e:?}");
        }
    }
}
