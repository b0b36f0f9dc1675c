//! RFM's charts: the segments, and the R × F grid.

use std::collections::BTreeMap;

use super::{Rfm, RfmCustomer, SegmentRow};
use crate::charts::svg::{
    self, BLUE, Frame, GREEN, GREY, Linear, ORANGE, RED, Svg, TEAL, YELLOW, blend, compact,
    grouped, nice_ticks,
};
use crate::charts::{Chart, DataTable};

/// RFM's charts: the segments, and the R × F grid.
pub(crate) fn charts(r: &Rfm, as_of: &str) -> Vec<Chart> {
    vec![
        rfm_segments(&r.rfm_segments),
        rfm_grid(&r.rfm_customers, as_of),
    ]
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
        table: segments_table(&sorted),
    }
}

/// The segments' numbers, largest first.
fn segments_table(sorted: &[&SegmentRow]) -> DataTable {
    DataTable {
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
        table: grid_table(&cells),
    }
}

/// The grid's numbers, best recency first.
fn grid_table(cells: &BTreeMap<(u8, u8), (u64, String)>) -> DataTable {
    DataTable {
        header: ["R", "F", "Customers", "Segment"]
            .map(String::from)
            .to_vec(),
        rows: (1..=5u8)
            .rev()
            .flat_map(|r| (1..=5u8).map(move |f| (r, f)))
            .map(|(r, f)| {
                let (count, segment) = cells.get(&(r, f)).cloned().unwrap_or((0, String::new()));
                vec![
                    r.to_string(),
                    f.to_string(),
                    grouped(count as f64, 0),
                    segment,
                ]
            })
            .collect(),
    }
}
