//! The invoice amounts' charts: the distribution, full and without outliers.

use super::{AmountStats, HistogramBin, InvoiceAmounts};
use crate::charts::svg::{
    self, BLUE, Frame, GREEN, GREY, Linear, ORANGE, PURPLE, RED, Side, Svg, compact, grouped,
    nice_ticks, value_axis, x_value_axis,
};
use crate::charts::{Chart, DataTable};

/// The invoice amounts' distributions, full and without outliers.
pub(crate) fn charts(a: &InvoiceAmounts) -> Vec<Chart> {
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
    let y = Linear::up(&ticks, &frame);
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
    let ticks = nice_ticks(x0, x1, 8);
    x_value_axis(
        &mut svg,
        &frame,
        &x,
        &ticks,
        "Invoice amount (GBP)",
        &compact,
    );
    stat_markers(&mut svg, &frame, &x, stats);
    Chart {
        id: id.into(),
        title: title.into(),
        svg: svg.finish(),
        table: distribution_table(bins, stats),
    }
}

/// The min, mode, median, mean and max as dashed lines, with a legend of their values.
fn stat_markers(svg: &mut Svg, frame: &Frame, x: &Linear, stats: &AmountStats) {
    // The legend holds the values: the lines can sit close together.
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
}

/// The bins, then the statistics.
fn distribution_table(bins: &[HistogramBin], stats: &AmountStats) -> DataTable {
    DataTable {
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
    }
}
