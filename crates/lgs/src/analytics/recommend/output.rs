//! How the recommendations read in a terminal, as result tables and as charts.

use super::{
    CustomerOffers, Evaluation, ItemRecommendations, ModelSummary, Offer, RecommendResult,
};
use crate::analytics::section::count;
use crate::analytics::{ResultTable, TableBuilder, TextTable};
use crate::charts::svg::{BLUE, GREY};
use crate::charts::{BarLine, Chart, DataTable, Series, bar_line};
use crate::error::Result;
use crate::format::group;

/// Rows of the every-customer list shown in the terminal.
const SHOWN: usize = 30;

fn percent(v: f64) -> String {
    format!("{}%", group(v * 100.0, 2))
}

fn strings<const N: usize>(header: [&str; N]) -> Vec<String> {
    header.map(String::from).to_vec()
}

/// The model's size and how its loss ended, as a note.
fn model_note(model: Option<&ModelSummary>) -> String {
    match model {
        Some(m) => format!(
            "ALS: {} customers × {} products ({} pairs bought), {} factors, {} iterations, \
             λ {}, α {}, {}; the loss fell from {:.4e} to {:.4e} (last iteration {:.2e} of it)",
            group(m.customers as f64, 0),
            group(m.products as f64, 0),
            group(m.pairs as f64, 0),
            m.factors,
            m.iterations,
            m.regularization,
            m.alpha,
            match m.cg_steps {
                0 => "exact solves".to_string(),
                n => format!("{n} conjugate-gradient steps"),
            },
            m.first_loss,
            m.final_loss,
            m.last_change
        ),
        None => String::new(),
    }
}

const PEER_HEADER: [&str; 5] = [
    "stock code",
    "description",
    "together",
    "confidence",
    "lift",
];

fn peer_rows(i: &ItemRecommendations) -> Vec<Vec<String>> {
    i.peers
        .iter()
        .map(|p| {
            vec![
                p.stock_code.clone(),
                p.description.clone(),
                group(p.together as f64, 0),
                percent(p.confidence),
                group(p.lift, 2),
            ]
        })
        .collect()
}

fn item_text(i: &ItemRecommendations) -> TextTable {
    TextTable {
        heading: format!(
            "Bought with {} {} (in {} of {} baskets)",
            i.stock_code,
            i.description,
            group(i.baskets as f64, 0),
            group(i.total_baskets as f64, 0)
        ),
        header: strings(PEER_HEADER),
        rows: peer_rows(i),
        left: 2,
        note: if i.peers.is_empty() {
            format!(
                "no product is in {} or more of its baskets: lower --min-together",
                i.min_together
            )
        } else {
            format!(
                "products in at least {} of its baskets, by lift (confidence over the \
                 product's share of all baskets; 1 is chance)",
                i.min_together
            )
        },
    }
}

/// The part asked for, as tables of text.
pub(super) fn text(r: &RecommendResult) -> Vec<TextTable> {
    let mut out = Vec::new();
    if let Some(i) = &r.item {
        out.push(item_text(i));
    }
    if let Some(c) = &r.customer {
        out.extend(customer_text(r, c));
    }
    if let Some(offers) = &r.offers {
        out.push(offers_text(r, offers));
    }
    if let Some(e) = &r.evaluation {
        out.push(evaluation_text(e));
    }
    out
}

fn customer_text(r: &RecommendResult, c: &CustomerOffers) -> [TextTable; 2] {
    let bought = TextTable {
        heading: format!("Customer {} bought most often", c.customer_id),
        header: strings(["stock code", "description", "baskets"]),
        rows: c
            .bought
            .iter()
            .map(|b| {
                vec![
                    b.stock_code.clone(),
                    b.description.clone(),
                    group(b.baskets as f64, 0),
                ]
            })
            .collect(),
        left: 2,
        note: String::new(),
    };
    let offered = TextTable {
        heading: format!("Recommended for customer {} ({})", c.customer_id, r.scope),
        header: strings(["rank", "stock code", "description", "score"]),
        rows: c
            .offers
            .iter()
            .map(|o| offer_row(o)[1..].to_vec())
            .collect(),
        left: 3,
        note: format!(
            "products the customer has not bought; {}",
            model_note(r.model.as_ref())
        ),
    };
    [bought, offered]
}

fn offer_row(o: &Offer) -> Vec<String> {
    vec![
        o.customer_id.to_string(),
        o.rank.to_string(),
        o.stock_code.clone(),
        o.description.clone(),
        format!("{:.3}", o.score),
    ]
}

fn offers_text(r: &RecommendResult, offers: &[Offer]) -> TextTable {
    let customers = r.model.as_ref().map_or(0, |m| m.customers);
    TextTable {
        heading: format!(
            "Recommended products for each of {} customers ({})",
            group(customers as f64, 0),
            r.scope
        ),
        header: strings(["customer", "rank", "stock code", "description", "score"]),
        rows: offers.iter().take(SHOWN).map(offer_row).collect(),
        left: 4,
        note: format!(
            "the first {SHOWN} of {} rows; every one with --out or --format json. {}",
            group(offers.len() as f64, 0),
            model_note(r.model.as_ref())
        ),
    }
}

fn evaluation_text(e: &Evaluation) -> TextTable {
    TextTable {
        heading: format!(
            "Offline evaluation: fitted up to {}, scored on the {} customers' new \
             products after it (top {})",
            e.calibration_end,
            group(e.customers as f64, 0),
            e.n
        ),
        header: ["method", "precision", "recall", "MAP", "hit rate"]
            .iter()
            .enumerate()
            .map(|(i, h)| match i {
                0 | 4 => h.to_string(),
                _ => format!("{h}@{}", e.n),
            })
            .collect(),
        rows: e
            .methods
            .iter()
            .map(|m| {
                vec![
                    m.method.clone(),
                    percent(m.precision),
                    percent(m.recall),
                    percent(m.map),
                    percent(m.hit_rate),
                ]
            })
            .collect(),
        left: 1,
        note: format!(
            "both leave out what each customer bought up to {}; popularity offers the \
             products most customers bought. {}",
            e.calibration_end,
            model_note(Some(&e.model))
        ),
    }
}

/// The part asked for, as result tables.
pub(super) fn tables(r: &RecommendResult) -> Result<Vec<ResultTable>> {
    let mut out = Vec::new();
    if let Some(i) = &r.item {
        let p = &i.peers;
        out.push(
            TableBuilder::new()
                .i64("rank", (1..=p.len() as i64).map(Some))
                .utf8("stock_code", p.iter().map(|p| &p.stock_code))
                .utf8("description", p.iter().map(|p| &p.description))
                .i64("together", p.iter().map(|p| count(p.together)))
                .i64("baskets", p.iter().map(|p| count(p.baskets)))
                .f64("confidence", p.iter().map(|p| Some(p.confidence)))
                .f64("lift", p.iter().map(|p| Some(p.lift)))
                .build("recommend_item", &["rank"])?,
        );
    }
    let offers = match (&r.customer, &r.offers) {
        (Some(c), _) => Some(&c.offers),
        (None, Some(o)) => Some(o),
        _ => None,
    };
    if let Some(o) = offers {
        out.push(
            TableBuilder::new()
                .i64("customer_id", o.iter().map(|o| Some(o.customer_id)))
                .i64("rank", o.iter().map(|o| count(o.rank)))
                .utf8("stock_code", o.iter().map(|o| &o.stock_code))
                .utf8("description", o.iter().map(|o| &o.description))
                .f64("score", o.iter().map(|o| Some(o.score)))
                .build("recommendations", &["customer_id", "rank"])?,
        );
    }
    if let Some(e) = &r.evaluation {
        let m = &e.methods;
        out.push(
            TableBuilder::new()
                .utf8("method", m.iter().map(|m| &m.method))
                .i64("customers", m.iter().map(|_| count(e.customers)))
                .i64("n", m.iter().map(|_| count(e.n)))
                .f64("precision", m.iter().map(|m| Some(m.precision)))
                .f64("recall", m.iter().map(|m| Some(m.recall)))
                .f64("map", m.iter().map(|m| Some(m.map)))
                .f64("hit_rate", m.iter().map(|m| Some(m.hit_rate)))
                .build("recommend_evaluation", &["method"])?,
        );
    }
    Ok(out)
}

/// Item to item: the lift of each product bought with it; the evaluation: each
/// metric of ALS beside popularity's.
pub(super) fn charts(r: &RecommendResult) -> Vec<Chart> {
    let mut out = Vec::new();
    if let Some(i) = r.item.as_ref().filter(|i| !i.peers.is_empty()) {
        let id = "recommend-item";
        let title = format!("Bought with {} {}", i.stock_code, i.description);
        let subtitle = format!(
            "Lift of the products in at least {} of its {} baskets",
            i.min_together,
            group(i.baskets as f64, 0)
        );
        let svg = bar_line(&BarLine {
            id,
            title: &title,
            subtitle: Some(&subtitle),
            categories: i.peers.iter().map(|p| p.stock_code.clone()).collect(),
            x_label: "Stock code",
            bars: vec![Series {
                name: "lift".into(),
                values: i.peers.iter().map(|p| Some(p.lift)).collect(),
                color: BLUE,
            }],
            stacked: false,
            left_label: "Lift (1 is chance)",
            line: None,
            right_label: "",
            right_percent: false,
        });
        let table = DataTable {
            header: strings(PEER_HEADER),
            rows: peer_rows(i),
        };
        out.push(Chart {
            id: id.into(),
            title,
            svg,
            table,
        });
    }
    if let Some(e) = &r.evaluation {
        out.push(evaluation_chart(e));
    }
    out
}

fn evaluation_chart(e: &Evaluation) -> Chart {
    let id = "recommend-evaluation";
    let title = format!("Recommendations against popularity (top {})", e.n);
    let subtitle = format!(
        "{} customers' new products after {}",
        group(e.customers as f64, 0),
        e.calibration_end
    );
    let metrics = ["precision", "recall", "MAP", "hit rate"];
    let values = |m: &super::MethodScore| vec![m.precision, m.recall, m.map, m.hit_rate];
    let colors = [BLUE, GREY];
    let svg = bar_line(&BarLine {
        id,
        title: &title,
        subtitle: Some(&subtitle),
        categories: metrics.map(String::from).to_vec(),
        x_label: "",
        bars: e
            .methods
            .iter()
            .zip(colors)
            .map(|(m, color)| Series {
                name: m.method.clone(),
                values: values(m).into_iter().map(|v| Some(v * 100.0)).collect(),
                color,
            })
            .collect(),
        stacked: false,
        left_label: "%",
        line: None,
        right_label: "",
        right_percent: false,
    });
    let table = DataTable {
        header: std::iter::once("method".to_string())
            .chain(metrics.map(String::from))
            .collect(),
        rows: e
            .methods
            .iter()
            .map(|m| {
                std::iter::once(m.method.clone())
                    .chain(values(m).into_iter().map(percent))
                    .collect()
            })
            .collect(),
    };
    Chart {
        id: id.into(),
        title,
        svg,
        table,
    }
}
