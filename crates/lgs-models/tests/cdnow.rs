//! The fits on the CDNOW sample against the published ones (tests/data/cdnow).

use lgs_models::{BgNbd, GammaGamma, History, Spend};

fn rows(name: &str) -> Vec<Vec<f64>> {
    let path = format!("{}/tests/data/cdnow/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.trim()
                .split(',')
                .map(|v| {
                    v.parse::<f64>()
                        .unwrap_or_else(|e| panic!("{path}: {l}: {e}"))
                })
                .collect()
        })
        .collect()
}

fn histories() -> Vec<History> {
    rows("cdnow_customers_summary.csv")
        .into_iter()
        .map(|r| History {
            x: r[1],
            t_x: r[2],
            t: r[3],
            weight: 1.0,
        })
        .collect()
}

/// `value` shown to the digits of `published` (e.g. 0.2426 to four decimals).
fn shows_as(value: f64, published: f64, decimals: i32) {
    let factor = 10f64.powi(decimals);
    assert_eq!(
        (value * factor).round() / factor,
        published,
        "fitted {value}, published {published}"
    );
}

#[test]
fn bgnbd_fit_matches_fader_hardie_lee() {
    let data = histories();
    assert_eq!(data.len(), 2357);
    let fit = BgNbd::fit(&data).unwrap();
    let p = fit.params;
    eprintln!("{fit:?}");
    assert!(fit.convergence.converged, "{:?}", fit.convergence);
    shows_as(p.r, 0.2426, 4);
    shows_as(p.alpha, 4.4135, 4);
    shows_as(p.a, 0.7929, 4);
    shows_as(p.b, 2.4258, 4);
    shows_as(fit.loglik, -9582.43, 2);
}

#[test]
fn grouped_histories_fit_the_same_as_one_per_customer() {
    let data = histories();
    let mut grouped: Vec<History> = Vec::new();
    let mut sorted = data.clone();
    sorted.sort_by(|a, b| (a.x, a.t_x, a.t).partial_cmp(&(b.x, b.t_x, b.t)).unwrap());
    for h in sorted {
        match grouped.last_mut() {
            Some(g) if (g.x, g.t_x, g.t) == (h.x, h.t_x, h.t) => g.weight += 1.0,
            _ => grouped.push(h),
        }
    }
    assert!(grouped.len() < data.len());
    let one = BgNbd::fit(&data).unwrap();
    let many = BgNbd::fit(&grouped).unwrap();
    for (a, b) in [
        (one.params.r, many.params.r),
        (one.params.alpha, many.params.alpha),
        (one.params.a, many.params.a),
        (one.params.b, many.params.b),
    ] {
        assert!((a - b).abs() < 1e-6 * a, "{one:?} vs {many:?}");
    }
}

#[test]
fn gamma_gamma_fit_matches_fader_hardie() {
    let spend: Vec<Spend> = rows("cdnow_customers_summary_with_transactions.csv")
        .into_iter()
        .map(|r| Spend {
            x: r[1],
            m: r[4],
            weight: 1.0,
        })
        .collect();
    let fit = GammaGamma::fit(&spend).unwrap();
    eprintln!("{fit:?}");
    assert_eq!(fit.customers, 946.0);
    assert!(fit.convergence.converged, "{:?}", fit.convergence);
    shows_as(fit.params.p, 6.249, 3);
    shows_as(fit.params.q, 3.745, 3);
    shows_as(fit.params.gamma, 15.448, 3);
}
