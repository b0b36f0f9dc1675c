//! Predictions checked against independent computations: P(alive) by Bayes' rule
//! from the two parts of the likelihood, expected purchases by integrating the
//! model's definition numerically (no hypergeometric function), lifetime value
//! summed from those, and `lifetimes` 0.11.3 as a reference implementation.

use lgs_models::{BgNbd, GammaGamma, Horizon, lifetime_value};
use statrs::function::gamma::ln_gamma;

/// The published CDNOW fit (Fader, Hardie & Lee 2005).
const CDNOW: BgNbd = BgNbd {
    r: 0.2426,
    alpha: 4.4135,
    a: 0.7929,
    b: 2.4258,
};

fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

fn close(got: f64, want: f64, rel: f64) {
    assert!(
        (got - want).abs() <= rel * want.abs(),
        "got {got}, want {want} (relative error {:e})",
        ((got - want) / want).abs()
    );
}

/// P(alive) = the alive part of the likelihood over the whole: with λ integrated
/// out, B(a, b+x)/B(a, b) (α+T)^-(r+x) against B(a+1, b+x-1)/B(a, b) (α+t_x)^-(r+x).
fn p_alive_by_bayes(m: &BgNbd, x: f64, t_x: f64, t: f64) -> f64 {
    let alive = (ln_beta(m.a, m.b + x) - (m.r + x) * (m.alpha + t).ln()).exp();
    if x == 0.0 {
        return 1.0;
    }
    let dead = (ln_beta(m.a + 1.0, m.b + x - 1.0) - (m.r + x) * (m.alpha + t_x).ln()).exp();
    alive / (alive + dead)
}

/// E[purchases in (T, T+h]] from the model's definition: a customer alive at T with
/// rate λ and drop-out p buys (1 - e^(-λph))/p in expectation. With λ integrated
/// out analytically (Gamma integrals), the remaining integral over p ~ Beta(a, b)
/// is summed by the midpoint rule after p = s^(1/a), which removes p^(a-1).
fn expected_by_quadrature(m: &BgNbd, h: f64, x: f64, t_x: f64, t: f64) -> f64 {
    let k = m.r + x;
    let n = 400_000;
    let (mut num, mut den) = (0.0, 0.0);
    for i in 0..n {
        let s = (i as f64 + 0.5) / n as f64;
        let p = s.powf(1.0 / m.a);
        let weight = (1.0 - p).powf(m.b - 1.0);
        let alive = (1.0 - p).powf(x) * (m.alpha + t).powf(-k);
        let later = (1.0 - p).powf(x) * (m.alpha + t + p * h).powf(-k);
        num += weight * (alive - later) / p;
        den += weight * alive;
        if x > 0.0 {
            den += weight * p * (1.0 - p).powf(x - 1.0) * (m.alpha + t_x).powf(-k);
        }
    }
    num / den
}

const HISTORIES: [(f64, f64, f64); 6] = [
    (2.0, 30.43, 38.86),
    (0.0, 0.0, 38.86),
    (7.0, 35.0, 38.0),
    (1.0, 1.71, 38.86),
    (30.0, 37.5, 38.5),
    (5.0, 2.0, 60.0),
];

#[test]
fn p_alive_matches_bayes_rule() {
    for (x, t_x, t) in HISTORIES {
        close(
            CDNOW.p_alive(x, t_x, t),
            p_alive_by_bayes(&CDNOW, x, t_x, t),
            1e-12,
        );
    }
}

#[test]
fn expected_purchases_match_the_integral_of_the_model() {
    for (x, t_x, t) in HISTORIES {
        for h in [1.0, 13.0, 39.0, 100.0] {
            let got = CDNOW.expected_purchases(h, x, t_x, t).unwrap();
            close(got, expected_by_quadrature(&CDNOW, h, x, t_x, t), 1e-7);
        }
    }
}

/// `lifetimes` 0.11.3 fitted on the same file (bench/clv_reference.py):
/// conditional_probability_alive and
/// conditional_expected_number_of_purchases_up_to_time(39, ...).
#[test]
fn predictions_match_lifetimes() {
    let lifetimes = [
        (2.0, 30.43, 38.86, 0.72660914, 1.2259104241744068),
        (0.0, 0.0, 38.86, 1.0, 0.19478085793947836),
        (7.0, 35.0, 38.0, 0.86200751, 4.556215302058842),
        (1.0, 1.71, 38.86, 0.21222739, 0.20325062425618798),
        (30.0, 37.5, 38.5, 0.95104358, 20.155437548089896),
    ];
    // lifetimes' own fit: r 0.242593, alpha 4.413532, a 0.792886, b 2.425752.
    let theirs = BgNbd {
        r: 0.242593,
        alpha: 4.413532,
        a: 0.792886,
        b: 2.425752,
    };
    for (x, t_x, t, alive, expected) in lifetimes {
        close(theirs.p_alive(x, t_x, t), alive, 1e-6);
        close(
            theirs.expected_purchases(39.0, x, t_x, t).unwrap(),
            expected,
            1e-5,
        );
    }
}

#[test]
fn lifetime_value_sums_discounted_expected_purchases() {
    let spend = GammaGamma {
        p: 6.25,
        q: 3.74,
        gamma: 15.44,
    };
    // A month is 4.345 weeks in CDNOW's unit, as lifetimes' freq "W".
    let horizon = Horizon {
        periods: 12,
        period_length: 4.345,
        discount: 0.01,
    };
    for (x, t_x, t) in HISTORIES {
        let m = if x > 0.0 { 30.0 } else { 0.0 };
        // The expected spend written as lifetimes writes it: a weighted mean of
        // the population mean and the customer's own.
        let population = spend.gamma * spend.p / (spend.q - 1.0);
        let own = spend.p * x / (spend.p * x + spend.q - 1.0);
        let value = (1.0 - own) * population + own * m;
        close(spend.expected_value(x, m).unwrap(), value, 1e-12);
        let mut want = 0.0;
        for month in 1..=12 {
            let by = |months: f64| {
                if months == 0.0 {
                    0.0
                } else {
                    expected_by_quadrature(&CDNOW, months * 4.345, x, t_x, t)
                }
            };
            let bought = by(f64::from(month)) - by(f64::from(month - 1));
            want += value * bought / 1.01f64.powi(month);
        }
        let got = lifetime_value(&CDNOW, &horizon, value, x, t_x, t).unwrap();
        close(got, want, 1e-6);
    }
}

#[test]
fn a_new_customer_expects_what_the_model_implies() {
    // A customer with no history beyond the first purchase at the very end of
    // observation (x = 0, T = 0) expects what a new customer does.
    for h in [1.0, 10.0, 52.0] {
        close(
            CDNOW.expected_purchases(h, 0.0, 0.0, 0.0).unwrap(),
            CDNOW.expected_purchases_new(h).unwrap(),
            1e-12,
        );
    }
}
