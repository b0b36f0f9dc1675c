//! The CLV section's chart: how many customers are probably still customers, and
//! where the lifetime value is.

use super::Clv;
use crate::charts::svg::{BLUE, RED};
use crate::charts::{BarLine, Chart, DataTable, Series, bar_line};
use crate::format::group;

/// Customers per tenth of P(alive) (bars) with the lifetime value of each band
/// (line); none when the model could not be fitted.
pub(super) fn charts(clv: &Clv) -> Vec<Chart> {
    let s = &clv.clv;
    let bands = &s.p_alive_bands;
    if bands.is_empty() {
        return vec![];
    }
    let id = "clv-p-alive";
    let title = "Who is still a customer: P(alive) and lifetime value";
    let subtitle = format!(
        "Customers per band of P(alive) at {} (BG/NBD); CLV over {} months at {}% a month \
         (Gamma-Gamma)",
        s.observation_end,
        s.months,
        s.discount_monthly * 100.0
    );
    let categories: Vec<String> = bands
        .iter()
        .map(|b| format!("{:.0}–{:.0}%", b.lower * 100.0, b.upper * 100.0))
        .collect();
    let svg = bar_line(&BarLine {
        id,
        title,
        subtitle: Some(&subtitle),
        categories: categories.clone(),
        x_label: "P(alive)",
        bars: vec![Series {
            name: "Customers".into(),
            values: bands.iter().map(|b| Some(b.customers as f64)).collect(),
            color: BLUE,
        }],
        stacked: false,
        left_label: "Customers",
        line: bands.iter().all(|b| b.clv.is_some()).then(|| Series {
            name: "CLV (GBP)".into(),
            values: bands.iter().map(|b| b.clv).collect(),
            color: RED,
        }),
        right_label: "CLV (GBP)",
        right_percent: false,
    });
    let table = DataTable {
        header: ["P(alive)", "customers", "CLV (GBP)"]
            .map(String::from)
            .to_vec(),
        rows: bands
            .iter()
            .zip(categories)
            .map(|(b, label)| {
                vec![
                    label,
                    group(b.customers as f64, 0),
                    b.clv.map_or_else(|| "-".into(), |v| group(v, 2)),
                ]
            })
            .collect(),
    };
    vec![Chart {
        id: id.into(),
        title: title.into(),
        svg,
        table,
    }]
}
