//! Charts of the report, drawn as SVG: inline in the HTML report and the dashboard
//! (readable without JavaScript), and rasterised to PNG for slides ([`png`]). Each
//! chart carries its numbers as a [`DataTable`], shown beneath it.
//!
//! The same [`bar_line`] drawing serves the report and the dashboard's automatic
//! charts of SQL results.

pub mod heatmap;
pub mod png;
pub mod scatter;
pub mod svg;

use svg::{
    BLUE, Frame, Linear, Side, Svg, category_axis, compact, nice_ticks, text_width, value_axis,
};

/// A chart and the numbers it shows.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Stable identifier (`monthly-sales`), used for file names and by the tests.
    pub id: String,
    pub title: String,
    /// The chart as a standalone SVG document.
    pub svg: String,
    /// The numbers behind it.
    pub table: DataTable,
}

/// Rows of text under a header.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataTable {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// A named series of values, one per category (`None` where it has no value).
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
    pub color: &'static str,
}

/// What a bar/line chart shows.
#[derive(Debug, Clone)]
pub struct BarLine<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub subtitle: Option<&'a str>,
    /// Category labels along the x axis (e.g. months).
    pub categories: Vec<String>,
    pub x_label: &'a str,
    /// Bar series on the left axis: side by side, or stacked.
    pub bars: Vec<Series>,
    pub stacked: bool,
    pub left_label: &'a str,
    /// A line on the right axis (growth %, a rate), or on the left axis when
    /// there are no bars.
    pub line: Option<Series>,
    pub right_label: &'a str,
    /// Tick format of the right axis.
    pub right_percent: bool,
}

/// Draws bars (grouped or stacked) with an optional line on a second axis.
pub fn bar_line(spec: &BarLine) -> String {
    let mut svg = Svg::new(spec.id, spec.title, spec.subtitle);
    let frame = Frame::standard();
    let (mut lo, mut hi) = bar_domain(spec, spec.categories.len().max(1));
    let line_on_left = spec.bars.is_empty();
    if line_on_left && let Some(line) = &spec.line {
        let (a, b) = range(line);
        lo = a.min(0.0);
        hi = b;
    }
    let ticks = nice_ticks(lo, hi, 5);
    let left = Linear::up(&ticks, &frame);
    value_axis(
        &mut svg,
        &frame,
        &left,
        &ticks,
        Side::Left,
        spec.left_label,
        &compact,
    );
    draw_bars(&mut svg, spec, &frame, &left);
    if let Some(line) = &spec.line {
        // On the right axis, or the left when there are no bars.
        let scale = if line_on_left {
            left
        } else {
            right_axis(&mut svg, spec, line, &frame)
        };
        draw_line(&mut svg, spec, line, &frame, &scale);
    }
    category_axis(&mut svg, &frame, &spec.categories, spec.x_label);
    legend(&mut svg, spec, &frame);
    svg.finish()
}

/// The left axis's domain for the bars (stacked sums when stacked), 0 included.
fn bar_domain(spec: &BarLine, n: usize) -> (f64, f64) {
    let mut lo: f64 = 0.0;
    let mut hi: f64 = 0.0;
    for i in 0..n {
        let values = spec
            .bars
            .iter()
            .filter_map(|s| s.values.get(i).copied().flatten());
        if spec.stacked {
            let (pos, neg) =
                values.fold(
                    (0.0, 0.0),
                    |(p, q), v| {
                        if v >= 0.0 { (p + v, q) } else { (p, q + v) }
                    },
                );
            hi = hi.max(pos);
            lo = lo.min(neg);
        } else {
            for v in values {
                hi = hi.max(v);
                lo = lo.min(v);
            }
        }
    }
    (lo, hi)
}

/// The bars, side by side or stacked, in bands of the plot's width.
fn draw_bars(svg: &mut Svg, spec: &BarLine, frame: &Frame, left: &Linear) {
    let n = spec.categories.len().max(1);
    let band = frame.width() / n as f64;
    let groups = if spec.stacked {
        1
    } else {
        spec.bars.len().max(1)
    };
    let inner = band * 0.8;
    let width = inner / groups as f64;
    for i in 0..n {
        let x0 = frame.left + band * i as f64 + band * 0.1;
        let (mut up, mut down) = (0.0, 0.0);
        for (k, s) in spec.bars.iter().enumerate() {
            let Some(v) = s.values.get(i).copied().flatten() else {
                continue;
            };
            let (base, top) = if spec.stacked {
                if v >= 0.0 {
                    up += v;
                    (up - v, up)
                } else {
                    down += v;
                    (down - v, down)
                }
            } else {
                (0.0, v)
            };
            let x = if spec.stacked {
                x0
            } else {
                x0 + width * k as f64
            };
            let (y0, y1) = (left.at(base), left.at(top));
            let tip = format!(
                "{} — {}: {}",
                spec.categories[i],
                s.name,
                svg::grouped(v, 2)
            );
            svg.rect(
                "bar",
                x,
                y0.min(y1),
                (width - 1.0).max(1.0),
                (y0 - y1).abs(),
                s.color,
                &tip,
            );
        }
    }
}

/// The right axis, for the line beside bars.
fn right_axis(svg: &mut Svg, spec: &BarLine, line: &Series, frame: &Frame) -> Linear {
    let (a, b) = range(line);
    let ticks = nice_ticks(a.min(0.0), b.max(0.0), 5);
    let right = Linear::up(&ticks, frame);
    let format = |v: f64| {
        if spec.right_percent {
            format!("{}%", compact(v))
        } else {
            compact(v)
        }
    };
    value_axis(
        svg,
        frame,
        &right,
        &ticks,
        Side::Right,
        spec.right_label,
        &format,
    );
    if right.d0 < 0.0 {
        let y = right.at(0.0);
        svg.line(frame.left, y, frame.right, y, "#bbb", 1.0);
    }
    right
}

/// The line with a point per value (broken where a value is missing).
fn draw_line(svg: &mut Svg, spec: &BarLine, line: &Series, frame: &Frame, scale: &Linear) {
    let n = spec.categories.len().max(1);
    let band = frame.width() / n as f64;
    let mut run = Vec::new();
    let mut points = Vec::new();
    for i in 0..n {
        match line.values.get(i).copied().flatten() {
            Some(v) => {
                let p = (frame.left + band * (i as f64 + 0.5), scale.at(v));
                run.push(p);
                points.push((p, v, i));
            }
            None => {
                svg.polyline(&run, line.color);
                run.clear();
            }
        }
    }
    svg.polyline(&run, line.color);
    for ((x, y), v, i) in points {
        let value = if spec.right_percent {
            format!("{v:.1}%")
        } else {
            svg::grouped(v, 2)
        };
        let tip = format!("{} — {}: {value}", spec.categories[i], line.name);
        svg.point(x, y, line.color, &tip);
    }
}

/// The legend, right-aligned above the plot (when there is more than one series or a line).
fn legend(svg: &mut Svg, spec: &BarLine, frame: &Frame) {
    let entries: Vec<(&Series, bool)> = spec
        .bars
        .iter()
        .map(|s| (s, false))
        .chain(spec.line.iter().map(|s| (s, true)))
        .collect();
    let total: f64 = entries
        .iter()
        .map(|(s, _)| 24.0 + text_width(&s.name, 12.0) + 18.0)
        .sum();
    let mut x = (frame.right - total).max(frame.left);
    if entries.len() > 1 || spec.line.is_some() {
        for (s, is_line) in entries {
            x = svg.legend(x, frame.top - 16.0, s.color, is_line, &s.name);
        }
    }
}

fn range(series: &Series) -> (f64, f64) {
    let values = series.values.iter().flatten();
    let lo = values.clone().copied().fold(f64::INFINITY, f64::min);
    let hi = values.copied().fold(f64::NEG_INFINITY, f64::max);
    if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) }
}

/// A chart of one numeric column over labels, for results that are not the
/// report's: bars for categories, a line for a time series.
pub fn auto(
    id: &str,
    title: &str,
    labels: Vec<String>,
    name: &str,
    values: Vec<Option<f64>>,
    time: bool,
) -> String {
    let series = Series {
        name: name.to_string(),
        values,
        color: BLUE,
    };
    let (bars, line) = if time {
        (vec![], Some(series))
    } else {
        (vec![series], None)
    };
    bar_line(&BarLine {
        id,
        title,
        subtitle: None,
        categories: labels,
        x_label: "",
        bars,
        stacked: false,
        left_label: name,
        line,
        right_label: "",
        right_percent: false,
    })
}
