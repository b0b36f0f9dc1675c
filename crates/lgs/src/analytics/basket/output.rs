//! The itemsets and rules by label, and how the section reads in a terminal, as
//! result tables and as a chart.

use lgs_models::association::{Itemset, Rule};

use super::{BasketResult, ItemKey, ItemsetRow, RuleRow};
use crate::analytics::section::count;
use crate::analytics::{ResultTable, TableBuilder, TextTable};
use crate::charts::scatter::{Bubble, Scatter, scatter};
use crate::charts::{Chart, DataTable};
use crate::error::Result;
use crate::format::group;

/// Rows shown in the terminal and drawn in the chart.
const SHOWN: usize = 20;
const DRAWN: usize = 100;

/// Labels (and codes, with items by stock code) of item ids, in label order.
fn named(ids: &[u32], keys: &[(String, u64)], labels: &[String], item: ItemKey) -> Named {
    let mut pairs: Vec<(&String, &String)> = ids
        .iter()
        .map(|&i| (&labels[i as usize], &keys[i as usize].0))
        .collect();
    pairs.sort();
    Named {
        labels: pairs.iter().map(|(l, _)| (*l).clone()).collect(),
        codes: (item == ItemKey::StockCode)
            .then(|| pairs.iter().map(|(_, c)| (*c).clone()).collect()),
    }
}

struct Named {
    labels: Vec<String>,
    codes: Option<Vec<String>>,
}

/// Fills `result` with the itemsets by support and the rules by lift.
pub(super) fn fill(
    result: &mut BasketResult,
    keys: &[(String, u64)],
    labels: &[String],
    item: ItemKey,
    itemsets: &[Itemset],
    rules: &[Rule],
) {
    let n = result.baskets as f64;
    result.itemsets = itemsets
        .iter()
        .map(|s| {
            let named = named(&s.items, keys, labels, item);
            ItemsetRow {
                items: named.labels,
                codes: named.codes,
                baskets: s.count,
                support: s.count as f64 / n,
            }
        })
        .collect();
    result.itemsets.sort_by(|a, b| {
        b.baskets
            .cmp(&a.baskets)
            .then(a.items.len().cmp(&b.items.len()))
            .then_with(|| a.items.cmp(&b.items))
    });
    result.rules = rules
        .iter()
        .map(|r| {
            let a = named(&r.antecedents, keys, labels, item);
            let c = named(&r.consequents, keys, labels, item);
            RuleRow {
                antecedents: a.labels,
                consequents: c.labels,
                antecedent_codes: a.codes,
                consequent_codes: c.codes,
                antecedent_support: r.antecedent_support,
                consequent_support: r.consequent_support,
                support: r.support,
                confidence: r.confidence,
                lift: r.lift,
                leverage: r.leverage,
                conviction: r.conviction.is_finite().then_some(r.conviction),
            }
        })
        .collect();
    result.rules.sort_by(|a, b| {
        b.lift
            .total_cmp(&a.lift)
            .then(b.confidence.total_cmp(&a.confidence))
            .then(b.support.total_cmp(&a.support))
            .then_with(|| a.antecedents.cmp(&b.antecedents))
            .then_with(|| a.consequents.cmp(&b.consequents))
    });
}

fn joined(items: &[String]) -> String {
    items.join(" + ")
}

fn percent(v: f64) -> String {
    format!("{}%", group(v * 100.0, 2))
}

/// The strongest rules and the largest itemsets of two or more items.
pub(super) fn text(r: &BasketResult) -> Vec<TextTable> {
    let heading = format!(
        "Products bought together ({} baskets: {}; support ≥ {} = {} baskets)",
        group(r.baskets as f64, 0),
        r.scope,
        r.min_support,
        group(r.min_baskets as f64, 0)
    );
    let rules = TextTable {
        heading,
        header: ["if bought", "also bought", "support", "confidence", "lift"]
            .map(String::from)
            .to_vec(),
        rows: r
            .rules
            .iter()
            .take(SHOWN)
            .map(|x| {
                vec![
                    joined(&x.antecedents),
                    joined(&x.consequents),
                    percent(x.support),
                    percent(x.confidence),
                    group(x.lift, 2),
                ]
            })
            .collect(),
        left: 2,
        note: match &r.basket_note {
            Some(note) => note.clone(),
            None => format!(
                "{} rules and {} itemsets in all ({} items in the baskets); \
                 every one with --format json or --out",
                group(r.rules.len() as f64, 0),
                group(r.itemsets.len() as f64, 0),
                group(r.items as f64, 0)
            ),
        },
    };
    let pairs: Vec<&ItemsetRow> = r.itemsets.iter().filter(|s| s.items.len() > 1).collect();
    if pairs.is_empty() {
        return vec![rules];
    }
    let itemsets = TextTable {
        heading: "Frequent itemsets of two or more products".into(),
        header: ["items", "baskets", "support"].map(String::from).to_vec(),
        rows: pairs
            .iter()
            .take(SHOWN)
            .map(|s| {
                vec![
                    joined(&s.items),
                    group(s.baskets as f64, 0),
                    percent(s.support),
                ]
            })
            .collect(),
        left: 1,
        note: String::new(),
    };
    vec![rules, itemsets]
}

/// The rules and the itemsets; items joined with " + " (and their codes).
pub(super) fn tables(r: &BasketResult) -> Result<Vec<ResultTable>> {
    let codes = |c: &Option<Vec<String>>, labels: &[String]| match c {
        Some(c) => joined(c),
        None => joined(labels),
    };
    let x = &r.rules;
    let rules = TableBuilder::new()
        .i64("rule", (1..=x.len() as i64).map(Some))
        .utf8("antecedents", x.iter().map(|x| joined(&x.antecedents)))
        .utf8("consequents", x.iter().map(|x| joined(&x.consequents)))
        .utf8(
            "antecedent_items",
            x.iter().map(|x| codes(&x.antecedent_codes, &x.antecedents)),
        )
        .utf8(
            "consequent_items",
            x.iter().map(|x| codes(&x.consequent_codes, &x.consequents)),
        )
        .f64(
            "antecedent_support",
            x.iter().map(|x| Some(x.antecedent_support)),
        )
        .f64(
            "consequent_support",
            x.iter().map(|x| Some(x.consequent_support)),
        )
        .f64("support", x.iter().map(|x| Some(x.support)))
        .f64("confidence", x.iter().map(|x| Some(x.confidence)))
        .f64("lift", x.iter().map(|x| Some(x.lift)))
        .f64("leverage", x.iter().map(|x| Some(x.leverage)))
        .f64("conviction", x.iter().map(|x| x.conviction))
        .build("basket_rules", &["rule"])?;
    let s = &r.itemsets;
    let itemsets = TableBuilder::new()
        .i64("itemset", (1..=s.len() as i64).map(Some))
        .utf8("items", s.iter().map(|s| joined(&s.items)))
        .utf8("item_keys", s.iter().map(|s| codes(&s.codes, &s.items)))
        .i64("length", s.iter().map(|s| Some(s.items.len() as i64)))
        .i64("baskets", s.iter().map(|s| count(s.baskets)))
        .f64("support", s.iter().map(|s| Some(s.support)))
        .build("basket_itemsets", &["itemset"])?;
    Ok(vec![rules, itemsets])
}

/// The strongest rules: support against confidence, each circle's area by lift.
pub(super) fn charts(r: &BasketResult) -> Vec<Chart> {
    if r.rules.is_empty() {
        return vec![];
    }
    let drawn = &r.rules[..r.rules.len().min(DRAWN)];
    let name = |x: &RuleRow| format!("{} → {}", joined(&x.antecedents), joined(&x.consequents));
    let points: Vec<Bubble> = drawn
        .iter()
        .map(|x| Bubble {
            x: x.support * 100.0,
            y: x.confidence * 100.0,
            size: x.lift,
            label: name(x),
            tip: format!(
                "{}: support {}, confidence {}, lift {}",
                name(x),
                percent(x.support),
                percent(x.confidence),
                group(x.lift, 2)
            ),
        })
        .collect();
    let id = "basket-rules";
    let title = "Products bought together: the strongest rules";
    let subtitle = format!(
        "The {} rules of the highest lift (circle area); {} baskets",
        drawn.len(),
        group(r.baskets as f64, 0)
    );
    let svg = scatter(&Scatter {
        id,
        title,
        subtitle: Some(&subtitle),
        points: &points,
        x_label: "Support (% of baskets)",
        y_label: "Confidence (%)",
        format_x: &|v| format!("{v:.1}"),
        format_y: &|v| format!("{v:.0}"),
        labelled: 5,
    });
    let table = DataTable {
        header: ["rule", "support", "confidence", "lift"]
            .map(String::from)
            .to_vec(),
        rows: drawn
            .iter()
            .take(SHOWN)
            .map(|x| {
                vec![
                    name(x),
                    percent(x.support),
                    percent(x.confidence),
                    group(x.lift, 2),
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
