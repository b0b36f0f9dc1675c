//! Customer lifetime value: expected purchases per period from BG/NBD, valued by
//! Gamma-Gamma's expected spend, discounted per period (as `lifetimes`'
//! `customer_lifetime_value`).

use crate::bgnbd::BgNbd;
use crate::error::ModelError;

/// How far ahead and at what discount to value a customer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Horizon {
    /// Periods (months) ahead.
    pub periods: u32,
    /// Length of one period in the data's time unit (30 for days).
    pub period_length: f64,
    /// Discount rate per period (0.01 for 1 % a month).
    pub discount: f64,
}

impl Default for Horizon {
    /// Twelve months of 30 days at 1 % a month.
    fn default() -> Self {
        Horizon {
            periods: 12,
            period_length: 30.0,
            discount: 0.01,
        }
    }
}

/// The discounted value of a customer with this history and expected spend per
/// purchase `value`: the sum over periods i of
/// value × (E[purchases by i] − E[purchases by i−1]) / (1 + discount)^i.
pub fn lifetime_value(
    model: &BgNbd,
    horizon: &Horizon,
    value: f64,
    x: f64,
    t_x: f64,
    t: f64,
) -> Result<f64, ModelError> {
    let mut total = 0.0;
    let mut before = 0.0;
    for i in 1..=horizon.periods {
        let by_now = model.expected_purchases(f64::from(i) * horizon.period_length, x, t_x, t)?;
        total += value * (by_now - before) / (1.0 + horizon.discount).powi(i as i32);
        before = by_now;
    }
    Ok(total)
}
