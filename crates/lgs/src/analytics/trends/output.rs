//! How the product trends read in a terminal, as result tables and as charts.

use super::TrendsResult;
use super::derive::{Arrival, Mover, Season};
use crate::analytics::section::count;
use crate::analytics::{ResultTable, TableBuilder, TextTable};
use crate::charts::svg::{BLUE, ORANGE};
use crate::charts::{BarLine, Chart, DataTable, Series, bar_line};
use crate::error::Result;
use crate::format::group;

/// Rows of each list shown in the terminal.
const SHOWN: usize = 10;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn percent(v: f64) -> String {
    format!("{}%", group(v * 100.0, 1))
}

fn strings<const N: usize>(header: [&str; N]) -> Vec<String> {
    header.map(String::from).to_vec()
}

fn described(r: &TrendsResult, code: &str) -> String {
    r.descriptions.get(code).cloned().unwrap_or_default()
}

fn mover_rows<'a>(r: &TrendsResult, movers: impl Iterator<Item = &'a Mover>) -> Vec<Vec<String>> {
    movers
        .map(|m| {
            vec![
                m.stock_code.clone(),
                described(r, &m.stock_code),
                group(m.units_before as f64, 0),
                group(m.units_now as f64, 0),
                percent(m.growth),
                group(m.net_sales_now, 2),
            ]
        })
        .collect()
}

fn arrival_rows(r: &TrendsResult, list: &[Arrival]) -> Vec<Vec<String>> {
    list.iter()
        .take(SHOWN)
        .map(|a| {
            vec![
                a.stock_code.clone(),
                described(r, &a.stock_code),
                a.month.clone(),
                group(a.units as f64, 0),
                group(a.net_sales, 2),
            ]
        })
        .collect()
}

fn season_row(r: &TrendsResult, s: &Season) -> Vec<String> {
    vec![
        s.stock_code.clone(),
        described(r, &s.stock_code),
        group(s.units as f64, 0),
        MONTHS[(s.peak_month as usize).clamp(1, 12) - 1].to_string(),
        percent(s.peak_share),
        percent(s.q4_share),
    ]
}

/// The movers, new and gone products, the most seasonal and the ABC classes.
pub(super) fn text(r: &TrendsResult) -> Vec<TextTable> {
    let movers_header = strings([
        "stock code",
        "description",
        "units before",
        "units now",
        "growth",
        "net sales now",
    ]);
    let compared = format!("{} against {}", r.now.text(), r.before.text());
    let floor = format!(
        "products with at least {} units in {}; every one with --out",
        r.min_units,
        r.before.text()
    );
    let rising = TextTable {
        heading: format!("Rising products: units {compared}"),
        header: movers_header.clone(),
        rows: mover_rows(r, r.movers.iter().filter(|m| m.growth > 0.0).take(SHOWN)),
        left: 2,
        note: floor.clone(),
    };
    let falling = TextTable {
        heading: format!("Falling products: units {compared}"),
        header: movers_header,
        rows: mover_rows(
            r,
            r.movers.iter().rev().filter(|m| m.growth < 0.0).take(SHOWN),
        ),
        left: 2,
        note: floor,
    };
    let arrivals = strings(["stock code", "description", "month", "units", "net sales"]);
    let new = TextTable {
        heading: format!(
            "New products: {} first sold in {}",
            group(r.new_products.len() as f64, 0),
            r.window.text()
        ),
        header: arrivals.clone(),
        rows: arrival_rows(r, &r.new_products),
        left: 2,
        note: "month: the first with a sale; units and net sales in the window".into(),
    };
    let gone = TextTable {
        heading: format!(
            "Gone products: {} sold in {}+ of the 12 months before {} and not since",
            group(r.gone_products.len() as f64, 0),
            r.steady_months,
            r.window.text()
        ),
        header: arrivals,
        rows: arrival_rows(r, &r.gone_products),
        left: 2,
        note: "month: the last with a sale; units and net sales in those 12 months".into(),
    };
    let seasonal = TextTable {
        heading: format!(
            "Most seasonal products ({}): share of units in Q4",
            r.year.text()
        ),
        header: strings([
            "stock code",
            "description",
            "units",
            "peak month",
            "peak share",
            "Q4 share",
        ]),
        rows: r
            .seasonality
            .iter()
            .take(SHOWN)
            .map(|s| season_row(r, s))
            .collect(),
        left: 2,
        note: format!("products with at least {} units in the year", r.min_units),
    };
    vec![rising, falling, new, gone, seasonal, abc_text(r)]
}

fn abc_text(r: &TrendsResult) -> TextTable {
    let total_products = r.abc.len().max(1) as f64;
    let total: f64 = r.abc.iter().map(|a| a.net_sales.max(0.0)).sum();
    let rows = ['A', 'B', 'C']
        .iter()
        .map(|&class| {
            let of: Vec<_> = r.abc.iter().filter(|a| a.class == class).collect();
            let sales: f64 = of.iter().map(|a| a.net_sales).sum();
            vec![
                class.to_string(),
                group(of.len() as f64, 0),
                percent(of.len() as f64 / total_products),
                group(sales, 2),
                percent(if total > 0.0 { sales / total } else { 0.0 }),
            ]
        })
        .collect();
    TextTable {
        heading: format!("ABC analysis of net sales ({})", r.year.text()),
        header: strings(["class", "products", "of products", "net sales", "of sales"]),
        rows,
        left: 1,
        note: "A: the products that make the first 80 % of net sales; B: the next 15 %; \
               C: the rest"
            .into(),
    }
}

/// sku_monthly, sku_movers, sku_new, sku_gone, sku_seasonality and sku_abc.
pub(super) fn tables(r: &TrendsResult) -> Result<Vec<ResultTable>> {
    let d = |code: &String| described(r, code);
    let m = &r.months;
    let monthly = TableBuilder::new()
        .utf8("stock_code", m.iter().map(|x| &x.stock_code))
        .utf8("month", m.iter().map(|x| &x.month))
        .utf8("description", m.iter().map(|x| d(&x.stock_code)))
        .i64("units", m.iter().map(|x| Some(x.units)))
        .f64("net_sales", m.iter().map(|x| Some(x.net_sales)))
        .i64("customers", m.iter().map(|x| count(x.customers)))
        .i64("invoices", m.iter().map(|x| count(x.invoices)))
        .i64("cancelled_units", m.iter().map(|x| Some(x.cancelled_units)))
        .f64("return_rate", m.iter().map(|x| x.return_rate))
        .build("sku_monthly", &["stock_code", "month"])?;
    let v = &r.movers;
    let movers = TableBuilder::new()
        .utf8("stock_code", v.iter().map(|x| &x.stock_code))
        .utf8("description", v.iter().map(|x| d(&x.stock_code)))
        .i64("units_before", v.iter().map(|x| Some(x.units_before)))
        .i64("units_now", v.iter().map(|x| Some(x.units_now)))
        .f64("growth", v.iter().map(|x| Some(x.growth)))
        .f64(
            "net_sales_before",
            v.iter().map(|x| Some(x.net_sales_before)),
        )
        .f64("net_sales_now", v.iter().map(|x| Some(x.net_sales_now)))
        .build("sku_movers", &["stock_code"])?;
    let arrivals = |name: &'static str, month: &str, list: &[Arrival]| {
        TableBuilder::new()
            .utf8("stock_code", list.iter().map(|x| &x.stock_code))
            .utf8("description", list.iter().map(|x| d(&x.stock_code)))
            .utf8(month, list.iter().map(|x| &x.month))
            .i64("units", list.iter().map(|x| Some(x.units)))
            .f64("net_sales", list.iter().map(|x| Some(x.net_sales)))
            .build(name, &["stock_code"])
    };
    let s = &r.seasonality;
    let seasonality = TableBuilder::new()
        .utf8("stock_code", s.iter().map(|x| &x.stock_code))
        .utf8("description", s.iter().map(|x| d(&x.stock_code)))
        .i64("units", s.iter().map(|x| Some(x.units)))
        .i64(
            "peak_month",
            s.iter().map(|x| Some(i64::from(x.peak_month))),
        )
        .f64("peak_share", s.iter().map(|x| Some(x.peak_share)))
        .f64("q4_share", s.iter().map(|x| Some(x.q4_share)))
        .build("sku_seasonality", &["stock_code"])?;
    let a = &r.abc;
    let abc = TableBuilder::new()
        .i64("rank", a.iter().map(|x| count(x.rank)))
        .utf8("stock_code", a.iter().map(|x| &x.stock_code))
        .utf8("description", a.iter().map(|x| d(&x.stock_code)))
        .f64("net_sales", a.iter().map(|x| Some(x.net_sales)))
        .f64(
            "cumulative_share",
            a.iter().map(|x| Some(x.cumulative_share)),
        )
        .utf8("class", a.iter().map(|x| x.class.to_string()))
        .build("sku_abc", &["rank"])?;
    Ok(vec![
        monthly,
        movers,
        arrivals("sku_new", "first_month", &r.new_products)?,
        arrivals("sku_gone", "last_month", &r.gone_products)?,
        seasonality,
        abc,
    ])
}

/// The Pareto curve of the ABC analysis, and the strongest movers.
pub(super) fn charts(r: &TrendsResult) -> Vec<Chart> {
    let mut out = Vec::new();
    if !r.abc.is_empty() {
        out.push(pareto(r));
    }
    let up: Vec<&Mover> = r
        .movers
        .iter()
        .filter(|m| m.growth > 0.0)
        .take(SHOWN)
        .collect();
    let down: Vec<&Mover> = r
        .movers
        .iter()
        .rev()
        .filter(|m| m.growth < 0.0)
        .take(SHOWN)
        .collect();
    if !(up.is_empty() && down.is_empty()) {
        out.push(movers_chart(r, &up, &down));
    }
    out
}

/// Cumulative share of net sales against the share of products, in 5 % steps.
fn pareto(r: &TrendsResult) -> Chart {
    let n = r.abc.len();
    let steps = 20;
    let at: Vec<(String, f64)> = (1..=steps)
        .map(|s| {
            let products = (n * s).div_ceil(steps).max(1);
            (
                format!("{}%", s * 100 / steps),
                r.abc[products - 1].cumulative_share * 100.0,
            )
        })
        .collect();
    let a = r.abc.iter().filter(|x| x.class == 'A').count();
    let id = "sku-pareto";
    let title = format!("Pareto curve of net sales ({})", r.year.text());
    let subtitle = format!(
        "{} of {} products ({}) make 80 % of net sales (class A)",
        group(a as f64, 0),
        group(n as f64, 0),
        percent(a as f64 / n as f64)
    );
    let svg = bar_line(&BarLine {
        id,
        title: &title,
        subtitle: Some(&subtitle),
        categories: at.iter().map(|(c, _)| c.clone()).collect(),
        x_label: "Products, best-selling first",
        bars: vec![],
        stacked: false,
        left_label: "Cumulative share of net sales (%)",
        line: Some(Series {
            name: "cumulative share".into(),
            values: at.iter().map(|(_, v)| Some(*v)).collect(),
            color: BLUE,
        }),
        right_label: "",
        right_percent: false,
    });
    let table = DataTable {
        header: strings(["share of products", "share of net sales"]),
        rows: at
            .iter()
            .map(|(c, v)| vec![c.clone(), format!("{}%", group(*v, 1))])
            .collect(),
    };
    Chart {
        id: id.into(),
        title,
        svg,
        table,
    }
}

fn movers_chart(r: &TrendsResult, up: &[&Mover], down: &[&Mover]) -> Chart {
    let id = "sku-movers";
    let title = format!(
        "Rising and falling products: units {} against {}",
        r.now.text(),
        r.before.text()
    );
    let all: Vec<&Mover> = up.iter().chain(down.iter().rev()).copied().collect();
    let growth = |rising: bool| Series {
        name: if rising { "rising" } else { "falling" }.into(),
        values: all
            .iter()
            .map(|m| ((m.growth > 0.0) == rising).then_some(m.growth * 100.0))
            .collect(),
        color: if rising { BLUE } else { ORANGE },
    };
    let subtitle = format!(
        "Products with at least {} units in {}",
        r.min_units,
        r.before.text()
    );
    let svg = bar_line(&BarLine {
        id,
        title: &title,
        subtitle: Some(&subtitle),
        categories: all.iter().map(|m| m.stock_code.clone()).collect(),
        x_label: "Stock code",
        bars: vec![growth(true), growth(false)],
        stacked: true,
        left_label: "Growth of units (%)",
        line: None,
        right_label: "",
        right_percent: false,
    });
    let table = DataTable {
        header: strings([
            "stock code",
            "description",
            "units before",
            "units now",
            "growth",
            "net sales now",
        ]),
        rows: mover_rows(r, all.iter().copied()),
    };
    Chart {
        id: id.into(),
        title,
        svg,
        table,
    }
}
