//! A bubble scatter: points on two value axes, each circle's area by a third value,
//! the largest ones labelled.

use super::svg::{
    self, BLUE, Frame, Linear, Side, Svg, esc, nice_ticks, text_width, value_axis, x_value_axis,
};

/// One point.
#[derive(Debug, Clone)]
pub struct Bubble {
    pub x: f64,
    pub y: f64,
    /// What the circle's area shows.
    pub size: f64,
    /// Written beside the point when it is among the largest.
    pub label: String,
    /// Its tooltip.
    pub tip: String,
}

/// What a bubble scatter shows.
pub struct Scatter<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub subtitle: Option<&'a str>,
    pub points: &'a [Bubble],
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub format_x: &'a dyn Fn(f64) -> String,
    pub format_y: &'a dyn Fn(f64) -> String,
    /// How many of the largest points get their label written.
    pub labelled: usize,
}

const MIN_RADIUS: f64 = 4.0;
const MAX_RADIUS: f64 = 16.0;

/// Draws the scatter; circles carry the class `point` and a tooltip.
pub fn scatter(spec: &Scatter) -> String {
    let mut svg = Svg::new(spec.id, spec.title, spec.subtitle);
    let frame = Frame {
        right: svg::WIDTH - 40.0,
        ..Frame::standard()
    };
    let range = |f: &dyn Fn(&Bubble) -> f64| {
        spec.points
            .iter()
            .map(f)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            })
    };
    let (x0, x1) = range(&|p| p.x);
    let (y0, y1) = range(&|p| p.y);
    let (s0, s1) = range(&|p| p.size);
    let y_ticks = nice_ticks(y0, y1, 5);
    let ys = Linear::up(&y_ticks, &frame);
    value_axis(
        &mut svg,
        &frame,
        &ys,
        &y_ticks,
        Side::Left,
        spec.y_label,
        spec.format_y,
    );
    let x_ticks = nice_ticks(x0, x1, 6);
    let xs = Linear {
        d0: x_ticks[0],
        d1: *x_ticks.last().expect("ticks"),
        r0: frame.left,
        r1: frame.right,
    };
    x_value_axis(&mut svg, &frame, &xs, &x_ticks, spec.x_label, spec.format_x);
    let radius = |s: f64| {
        let t = if s1 > s0 { (s - s0) / (s1 - s0) } else { 0.5 };
        // Area, not radius, in proportion.
        (MIN_RADIUS.powi(2) + t * (MAX_RADIUS.powi(2) - MIN_RADIUS.powi(2))).sqrt()
    };
    // The largest last, so that they are drawn on top.
    let mut order: Vec<usize> = (0..spec.points.len()).collect();
    order.sort_by(|&a, &b| spec.points[a].size.total_cmp(&spec.points[b].size));
    for &i in &order {
        let p = &spec.points[i];
        svg.buf.push_str(&format!(
            r#"<circle class="point" cx="{:.2}" cy="{:.2}" r="{:.2}" fill="{BLUE}" fill-opacity="0.55" stroke="{BLUE}" stroke-width="1"><title>{}</title></circle>"#,
            xs.at(p.x),
            ys.at(p.y),
            radius(p.size),
            esc(&p.tip)
        ));
    }
    for &i in order.iter().rev().take(spec.labelled) {
        let p = &spec.points[i];
        let label: String = p.label.chars().take(40).collect();
        let (x, y) = (xs.at(p.x) + radius(p.size) + 3.0, ys.at(p.y) + 4.0);
        let anchor_end = x + text_width(&label, 10.0) > svg::WIDTH - 8.0;
        let (x, anchor) = if anchor_end {
            (xs.at(p.x) - radius(p.size) - 3.0, "end")
        } else {
            (x, "start")
        };
        svg.text(x, y, 10.0, anchor, "#222", &label);
    }
    svg.finish()
}
