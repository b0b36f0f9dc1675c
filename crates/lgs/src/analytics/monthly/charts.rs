//! The monthly metrics' charts: sales and growth, placed vs cancelled orders, new and
//! existing customers.

use super::{MonthRow, growth_flagged, label};
use crate::charts::svg::{BLUE, GREEN, ORANGE, RED, grouped, month_label};
use crate::charts::{BarLine, Chart, DataTable, Series, bar_line};

/// The monthly metrics' charts: sales and growth, orders, customers.
pub(crate) fn charts(rows: &[MonthRow]) -> Vec<Chart> {
    vec![
        monthly_sales(rows),
        monthly_orders(rows),
        monthly_customers(rows),
    ]
}

fn months(rows: &[MonthRow]) -> Vec<String> {
    rows.iter()
        .map(|r| label(r, &month_label(&r.month)))
        .collect()
}

/// A chart's subtitle, with the partial months named when there are any.
fn subtitle(text: &str, rows: &[MonthRow]) -> String {
    let partial: Vec<String> = rows
        .iter()
        .filter(|r| r.partial)
        .map(|r| month_label(&r.month))
        .collect();
    if partial.is_empty() {
        text.to_string()
    } else {
        format!("{text} · * partial month: {}", partial.join(", "))
    }
}

fn opt(v: Option<f64>, decimals: usize, suffix: &str) -> String {
    v.map(|v| format!("{}{suffix}", grouped(v, decimals)))
        .unwrap_or_default()
}

fn monthly_sales(rows: &[MonthRow]) -> Chart {
    let title = "Monthly sales and growth";
    let svg = bar_line(&BarLine {
        id: "monthly-sales",
        title,
        subtitle: Some(&subtitle(
            "Net sales per month (cancellations deducted); growth against the month before",
            rows,
        )),
        categories: months(rows),
        x_label: "Month",
        bars: vec![Series {
            name: "Sales (GBP)".into(),
            values: rows.iter().map(|r| Some(r.sales)).collect(),
            color: BLUE,
        }],
        stacked: false,
        left_label: "Sales (GBP)",
        line: Some(Series {
            name: "Growth (%)".into(),
            values: rows.iter().map(|r| r.sales_growth_pct).collect(),
            color: RED,
        }),
        right_label: "Growth (%)",
        right_percent: true,
    });
    Chart {
        id: "monthly-sales".into(),
        title: title.into(),
        svg,
        table: DataTable {
            header: vec!["Month".into(), "Sales (GBP)".into(), "Growth (%)".into()],
            rows: rows
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    vec![
                        label(r, &r.month),
                        grouped(r.sales, 2),
                        growth_flagged(rows, i, opt(r.sales_growth_pct, 2, " %")),
                    ]
                })
                .collect(),
        },
    }
}

fn monthly_orders(rows: &[MonthRow]) -> Chart {
    let title = "Placed and cancelled orders";
    let svg = bar_line(&BarLine {
        id: "monthly-orders",
        title,
        subtitle: Some(&subtitle(
            "Distinct invoices per month; cancellation rate = cancelled / placed",
            rows,
        )),
        categories: months(rows),
        x_label: "Month",
        bars: vec![
            Series {
                name: "Placed".into(),
                values: rows.iter().map(|r| Some(r.placed_orders as f64)).collect(),
                color: BLUE,
            },
            Series {
                name: "Cancelled".into(),
                values: rows
                    .iter()
                    .map(|r| Some(r.cancelled_orders as f64))
                    .collect(),
                color: ORANGE,
            },
        ],
        stacked: false,
        left_label: "Orders (invoices)",
        line: Some(Series {
            name: "Cancellation rate (%)".into(),
            values: rows
                .iter()
                .map(|r| r.cancellation_rate.map(|x| x * 100.0))
                .collect(),
            color: RED,
        }),
        right_label: "Cancellation rate (%)",
        right_percent: true,
    });
    Chart {
        id: "monthly-orders".into(),
        title: title.into(),
        svg,
        table: DataTable {
            header: vec![
                "Month".into(),
                "Placed".into(),
                "Cancelled".into(),
                "Cancellation rate (%)".into(),
            ],
            rows: rows
                .iter()
                .map(|r| {
                    vec![
                        label(r, &r.month),
                        grouped(r.placed_orders as f64, 0),
                        grouped(r.cancelled_orders as f64, 0),
                        opt(r.cancellation_rate.map(|x| x * 100.0), 2, " %"),
                    ]
                })
                .collect(),
        },
    }
}

fn monthly_customers(rows: &[MonthRow]) -> Chart {
    let title = "Monthly active customers: new and existing";
    let svg = bar_line(&BarLine {
        id: "monthly-customers",
        title,
        subtitle: Some(&subtitle(
            "Customers with a purchase in the month; new = first month seen",
            rows,
        )),
        categories: months(rows),
        x_label: "Month",
        bars: vec![
            Series {
                name: "New".into(),
                values: rows.iter().map(|r| Some(r.new_users as f64)).collect(),
                color: GREEN,
            },
            Series {
                name: "Existing".into(),
                values: rows.iter().map(|r| Some(r.existing_users as f64)).collect(),
                color: BLUE,
            },
        ],
        stacked: true,
        left_label: "Customers",
        line: None,
        right_label: "",
        right_percent: false,
    });
    Chart {
        id: "monthly-customers".into(),
        title: title.into(),
        svg,
        table: DataTable {
            header: vec![
                "Month".into(),
                "Active".into(),
                "New".into(),
                "Existing".into(),
            ],
            rows: rows
                .iter()
                .map(|r| {
                    vec![
                        label(r, &r.month),
                        grouped(r.active_users as f64, 0),
                        grouped(r.new_users as f64, 0),
                        grouped(r.existing_users as f64, 0),
                    ]
                })
                .collect(),
        },
    }
}
