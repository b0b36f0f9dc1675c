//! The charts of the built-in analyses: monthly sales and growth, placed vs cancelled orders,
//! new and existing customers, the invoice amount distribution (full and without
//! outliers) and RFM (segments, and the R × F grid).

use std::collections::BTreeMap;

use super::invoices::{AmountStats, HistogramBin, InvoiceAmounts};
use super::monthly::MonthRow;
use super::rfm::{Rfm, RfmCustomer, SegmentRow};
use crate::charts::svg::{
    self, BLUE, Frame, GREEN, GREY, Linear, ORANGE, PURPLE, RED, Side, Svg, TEAL, YELLOW, blend,
    compact, grouped, month_label, nice_ticks, value_axis,
};
use crate::charts::{BarLine, Chart, DataTable, Series, bar_line};

/// The monthly metrics' charts: sales and growth, orders, customers.
pub(crate) fn monthly(rows: &[MonthRow]) -> Vec<Chart> {
    vec![
        monthly_sales(rows),
        monthly_orders(rows),
        monthly_customers(rows),
    ]
}

/// The invoice amounts' distributions, full and without outliers.
pub(crate) fn invoices(a: &InvoiceAmounts) -> Vec<Chart> {
    vec![
        amount_distribution(
            "invoice-amounts",
            "Invoice amounts",
            "All invoices with eligible lines (price > 0, quantity > 0)",
            &a.invoice_amount_histogram,
            &a.invoice_amount,
        ),
        amount_distribution(
            "invoice-amounts-trimmed",
            "Invoice amounts without outliers",
            &format!(
                "Invoices of at most the 85th percentile, {} GBP",
                grouped(a.invoice_amount.p85, 2)
            ),
            &a.invoice_amount_trimmed_histogram,
            &a.invoice_amount_trimmed,
        ),
    ]
}

/// RFM's charts: the segments, and the R × F grid.
pub(crate) fn rfm(r: &Rfm, as_of: &str) -> Vec<Chart> {
    vec![
        rfm_segments(&r.rfm_segments),
        rfm_grid(&r.rfm_customers, as_of),
    ]
}

fn months(rows: &[MonthRow]) -> Vec<String> {
    rows.iter().map(|r| month_label(&r.month)).collect()
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
        subtitle: Some(
            "Net sales per month (cancellations deducted); growth against the month before",
        ),
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
                .map(|r| {
                    vec![
                        r.month.clone(),
                        grouped(r.sales, 2),
                        opt(r.sales_growth_pct, 2, " %"),
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
        subtitle: Some("Distinct invoices per month; cancellation rate = cancelled / placed"),
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
                        r.month.clone(),
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
        subtitle: Some("Customers with a purchase in the month; new = first month seen"),
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
                        r.month.clone(),
                        grouped(r.active_users as f64, 0),
                        grouped(r.new_users as f64, 0),
                        grouped(r.existing_users as f64, 0),
                    ]
                })
                .collect(),
        },
    }
}

/// A histogram with min, mean, median, mode and max marked.
fn amount_distribution(
    id: &str,
    title: &str,
    subtitle: &str,
    bins: &[HistogramBin],
    stats: &AmountStats,
) -> Chart {
    let mut svg = Svg::new(id, title, Some(subtitle));
    let frame = Frame {
        bottom: svg::HEIGHT - 64.0,
        ..Frame::standard()
    };
    let (x0, x1) = match (bins.first(), bins.last()) {
        (Some(f), Some(l)) => (f.lower, l.upper),
        _ => (0.0, 1.0),
    };
    let x = Linear {
        d0: x0,
        d1: x1,
        r0: frame.left,
        r1: frame.right,
    };
    let most = bins.iter().map(|b| b.count).max().unwrap_or(0) as f64;
    let ticks = nice_ticks(0.0, most, 5);
    let y = Linear {
        d0: 0.0,
        d1: *ticks.last().expect("ticks"),
        r0: frame.bottom,
        r1: frame.top,
    };
    value_axis(
        &mut svg,
        &frame,
        &y,
        &ticks,
        Side::Left,
        "Invoices",
        &compact,
    );
    for b in bins {
        let (left, right) = (x.at(b.lower), x.at(b.upper));
        let top = y.at(b.count as f64);
        let tip = format!(
            "{} to {} GBP: {} invoices",
            grouped(b.lower, 2),
            grouped(b.upper, 2),
            grouped(b.count as f64, 0)
        );
        svg.rect(
            "bar",
            left + 0.5,
            top,
            right - left - 1.0,
            frame.bottom - top,
            BLUE,
            &tip,
        );
        if b.count > 0 {
            svg.text(
                (left + right) / 2.0,
                top - 4.0,
                10.0,
                "middle",
                "#333",
                &compact(b.count as f64),
            );
        }
    }
    // The x axis: amounts in GBP.
    svg.line(
        frame.left,
        frame.bottom,
        frame.right,
        frame.bottom,
        "#555",
        1.0,
    );
    for t in nice_ticks(x0, x1, 8) {
        if t < x0 - 1e-9 || t > x1 + 1e-9 {
            continue;
        }
        let px = x.at(t);
        svg.line(px, frame.bottom, px, frame.bottom + 5.0, "#555", 1.0);
        svg.text(px, frame.bottom + 18.0, 11.0, "middle", "#555", &compact(t));
    }
    svg.text(
        (frame.left + frame.right) / 2.0,
        frame.bottom + 38.0,
        12.0,
        "middle",
        "#222",
        "Invoice amount (GBP)",
    );
    // Markers, with their values in a legend (they can sit close together).
    let markers = [
        ("min", stats.min, GREY),
        ("mode", stats.mode, PURPLE),
        ("median", stats.median, GREEN),
        ("mean", stats.mean, RED),
        ("max", stats.max, ORANGE),
    ];
    let mut lx = frame.left;
    for (name, value, color) in markers {
        let px = x.at(value).clamp(frame.left, frame.right);
        svg.buf.push_str(&format!(
            r#"<line class="marker" data-marker="{name}" x1="{px:.2}" y1="{:.2}" x2="{px:.2}" y2="{:.2}" stroke="{color}" stroke-width="2" stroke-dasharray="5 3"><title>{name}: {} GBP</title></line>"#,
            frame.top,
            frame.bottom,
            grouped(value, 2)
        ));
        let label = format!("{name} {}", grouped(value, 2));
        lx = svg.legend(lx, svg::HEIGHT - 8.0, color, true, &label);
    }
    Chart {
        id: id.into(),
        title: title.into(),
        svg: svg.finish(),
        table: DataTable {
            header: vec!["From (GBP)".into(), "To (GBP)".into(), "Invoices".into()],
            rows: bins
                .iter()
                .map(|b| {
                    vec![
                        grouped(b.lower, 2),
                        grouped(b.upper, 2),
                        grouped(b.count as f64, 0),
                    ]
                })
                .chain([
                    vec![
                        "count".into(),
                        String::new(),
                        grouped(stats.count as f64, 0),
                    ],
                    vec!["min".into(), String::new(), grouped(stats.min, 2)],
                    vec!["mean".into(), String::new(), grouped(stats.mean, 4)],
                    vec!["median".into(), String::new(), grouped(stats.median, 4)],
                    vec!["mode".into(), String::new(), grouped(stats.mode, 2)],
                    vec!["max".into(), String::new(), grouped(stats.max, 2)],
                    vec!["p85".into(), String::new(), grouped(stats.p85, 4)],
                ])
                .collect(),
        },
    }
}

fn segment_color(segment: &str) -> &'static str {
    match segment {
        "Champions" => GREEN,
        "Loyal Customers" => BLUE,
        "Potential Loyalists" => TEAL,
        "New Customers" | "Promising" => YELLOW,
        "Need Attention" | "About to Sleep" => ORANGE,
        "At Risk" | "Can't Lose" => RED,
        _ => GREY,
    }
}

/// Customers per segment as horizontal bars, with the segment's revenue share.
fn rfm_segments(rows: &[SegmentRow]) -> Chart {
    let id = "rfm-segments";
    let title = "RFM segments: customers and revenue share";
    let mut svg = Svg::new(
        id,
        title,
        Some("Customers per segment (bars); share of all customers' revenue at the end"),
    );
    let mut sorted: Vec<&SegmentRow> = rows.iter().collect();
    sorted.sort_by(|a, b| {
        b.customers
            .cmp(&a.customers)
            .then(a.segment.cmp(&b.segment))
    });
    let frame = Frame {
        left: 170.0,
        right: svg::WIDTH - 210.0,
        top: 70.0,
        bottom: svg::HEIGHT - 48.0,
    };
    let most = sorted.iter().map(|r| r.customers).max().unwrap_or(0) as f64;
    let ticks = nice_ticks(0.0, most, 5);
    let x = Linear {
        d0: 0.0,
        d1: *ticks.last().expect("ticks"),
        r0: frame.left,
        r1: frame.right,
    };
    for &t in &ticks {
        let px = x.at(t);
        svg.line(px, frame.top, px, frame.bottom, "#e6e6e6", 1.0);
        svg.text(px, frame.bottom + 16.0, 11.0, "middle", "#555", &compact(t));
    }
    svg.text(
        (frame.left + frame.right) / 2.0,
        svg::HEIGHT - 10.0,
        12.0,
        "middle",
        "#222",
        "Customers",
    );
    let band = frame.height() / sorted.len().max(1) as f64;
    for (i, r) in sorted.iter().enumerate() {
        let top = frame.top + band * i as f64 + band * 0.15;
        let h = band * 0.7;
        let w = x.at(r.customers as f64) - frame.left;
        let color = segment_color(&r.segment);
        let tip = format!(
            "{}: {} customers ({:.1}%), {:.1}% of revenue",
            r.segment,
            grouped(r.customers as f64, 0),
            r.customer_share * 100.0,
            r.revenue_share * 100.0
        );
        svg.rect("bar", frame.left, top, w, h, color, &tip);
        svg.text(
            frame.left - 8.0,
            top + h / 2.0 + 4.0,
            12.0,
            "end",
            "#222",
            &r.segment,
        );
        let label = format!(
            "{} · {:.1}% of revenue",
            grouped(r.customers as f64, 0),
            r.revenue_share * 100.0
        );
        svg.text(
            frame.left + w + 6.0,
            top + h / 2.0 + 4.0,
            11.0,
            "start",
            "#333",
            &label,
        );
    }
    Chart {
        id: id.into(),
        title: title.into(),
        svg: svg.finish(),
        table: DataTable {
            header: [
                "Segment",
                "Customers",
                "Customer share (%)",
                "Revenue share (%)",
                "Avg recency (days)",
                "Avg frequency (invoices)",
                "Avg monetary (GBP)",
            ]
            .map(String::from)
            .to_vec(),
            rows: sorted
                .iter()
                .map(|r| {
                    vec![
                        r.segment.clone(),
                        grouped(r.customers as f64, 0),
                        grouped(r.customer_share * 100.0, 2),
                        grouped(r.revenue_share * 100.0, 2),
                        grouped(r.avg_recency_days, 1),
                        grouped(r.avg_frequency, 2),
                        grouped(r.avg_monetary, 2),
                    ]
                })
                .collect(),
        },
    }
}

/// Customers per (R, F) score pair: R from 5 (recent) at the top to 1, F from 1
/// to 5 (frequent) left to right, each cell named by its segment.
fn rfm_grid(customers: &[RfmCustomer], as_of: &str) -> Chart {
    let id = "rfm-grid";
    let title = "RFM grid: recency × frequency";
    let mut cells: BTreeMap<(u8, u8), (u64, String)> = BTreeMap::new();
    for c in customers {
        let cell = cells
            .entry((c.r, c.f))
            .or_insert_with(|| (0, c.segment.clone()));
        cell.0 += 1;
    }
    let subtitle = format!("Customers per score pair (5 = best); recency measured to {as_of}");
    let mut svg = Svg::new(id, title, Some(&subtitle));
    let size = 64.0;
    let (left, top) = ((svg::WIDTH - 5.0 * size * 1.9) / 2.0 + 40.0, 70.0);
    let cell_w = size * 1.9;
    let most = cells.values().map(|c| c.0).max().unwrap_or(1).max(1) as f64;
    for r in 1..=5u8 {
        let row = (5 - r) as f64;
        svg.text(
            left - 10.0,
            top + row * size + size / 2.0 + 4.0,
            12.0,
            "end",
            "#555",
            &format!("R {r}"),
        );
        for f in 1..=5u8 {
            let (count, segment) = cells.get(&(r, f)).cloned().unwrap_or((0, String::new()));
            let t = count as f64 / most;
            let fill = blend(t);
            let (cx, cy) = (left + (f - 1) as f64 * cell_w, top + row * size);
            let tip = format!(
                "R {r}, F {f}: {} customers ({segment})",
                grouped(count as f64, 0)
            );
            svg.rect(
                "cell",
                cx + 1.0,
                cy + 1.0,
                cell_w - 2.0,
                size - 2.0,
                &fill,
                &tip,
            );
            let ink = if t > 0.55 { "white" } else { "#222" };
            svg.text(
                cx + cell_w / 2.0,
                cy + size / 2.0,
                15.0,
                "middle",
                ink,
                &grouped(count as f64, 0),
            );
            svg.text(
                cx + cell_w / 2.0,
                cy + size / 2.0 + 16.0,
                10.0,
                "middle",
                ink,
                &segment,
            );
        }
    }
    for f in 1..=5u8 {
        svg.text(
            left + (f - 1) as f64 * cell_w + cell_w / 2.0,
            top + 5.0 * size + 18.0,
            12.0,
            "middle",
            "#555",
            &format!("F {f}"),
        );
    }
    svg.text(
        left + 2.5 * cell_w,
        top + 5.0 * size + 38.0,
        12.0,
        "middle",
        "#222",
        "Frequency score (F) →",
    );
    let (lx, ly) = (left - 62.0, top + 2.5 * size);
    svg.buf.push_str(&format!(
        r##"<text x="{lx}" y="{ly}" font-size="12" text-anchor="middle" fill="#222" transform="rotate(-90 {lx} {ly})">Recency score (R) →</text>"##
    ));
    Chart {
        id: id.into(),
        title: title.into(),
        svg: svg.finish(),
        table: DataTable {
            header: ["R", "F", "Customers", "Segment"]
                .map(String::from)
                .to_vec(),
            rows: (1..=5u8)
                .rev()
                .flat_map(|r| (1..=5u8).map(move |f| (r, f)))
                .map(|(r, f)| {
                    let (count, segment) =
                        cells.get(&(r, f)).cloned().unwrap_or((0, String::new()));
                    vec![
                        r.to_string(),
                        f.to_string(),
                        grouped(count as f64, 0),
                        segment,
                    ]
                })
                .collect(),
        },
    }
}
