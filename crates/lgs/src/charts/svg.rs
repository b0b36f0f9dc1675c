//! The drawing primitives of the charts: a frame with axes, scales, ticks, number
//! formats, and an SVG buffer that escapes what it is given.
//!
//! Elements carry classes the browser tests count: `bar`, `point`, `cell`,
//! `marker`.

use std::fmt::Write;

/// Width and height of every chart, in SVG units (the PNG is rendered at 2×).
pub const WIDTH: f64 = 960.0;
pub const HEIGHT: f64 = 440.0;

/// Colours (Tableau 10): readable on screen and in print, distinct for most
/// colour-vision deficiencies.
pub const BLUE: &str = "#4e79a7";
pub const ORANGE: &str = "#f28e2b";
pub const RED: &str = "#e15759";
pub const TEAL: &str = "#76b7b2";
pub const GREEN: &str = "#59a14f";
pub const YELLOW: &str = "#edc948";
pub const PURPLE: &str = "#b07aa1";
pub const GREY: &str = "#79706e";
const AXIS: &str = "#555";
const GRID: &str = "#e6e6e6";
const INK: &str = "#222";

pub const FONT: &str = "DejaVu Sans, Verdana, Arial, sans-serif";

/// Escapes text for SVG and HTML.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An SVG document being written.
pub struct Svg {
    pub buf: String,
}

impl Svg {
    /// Starts a chart: the root element (identified by `id` for tests and styles),
    /// a white background and the title.
    pub fn new(id: &str, title: &str, subtitle: Option<&str>) -> Svg {
        let mut buf = String::with_capacity(16 * 1024);
        let _ = write!(
            buf,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{id}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" font-family="{FONT}" role="img" aria-label="{title}"><rect width="{WIDTH}" height="{HEIGHT}" fill="white"/><text x="24" y="30" font-size="18" font-weight="bold" fill="{INK}">{title}</text>"#,
            id = esc(id),
            title = esc(title),
        );
        if let Some(sub) = subtitle {
            let _ = write!(
                buf,
                r##"<text x="24" y="50" font-size="12" fill="#666">{}</text>"##,
                esc(sub)
            );
        }
        Svg { buf }
    }

    pub fn text(&mut self, x: f64, y: f64, size: f64, anchor: &str, fill: &str, text: &str) {
        let _ = write!(
            self.buf,
            r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="{anchor}" fill="{fill}">{}</text>"#,
            esc(text)
        );
    }

    /// Text rotated by `angle` degrees around its anchor point.
    pub fn text_rotated(
        &mut self,
        x: f64,
        y: f64,
        size: f64,
        anchor: &str,
        angle: f64,
        text: &str,
    ) {
        let _ = write!(
            self.buf,
            r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="{anchor}" fill="{AXIS}" transform="rotate({angle} {x:.1} {y:.1})">{}</text>"#,
            esc(text)
        );
    }

    pub fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, stroke: &str, width: f64) {
        let _ = write!(
            self.buf,
            r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="{stroke}" stroke-width="{width}"/>"#
        );
    }

    /// A data rectangle with a class (`bar`, `cell`) and a tooltip.
    #[allow(clippy::too_many_arguments)]
    pub fn rect(&mut self, class: &str, x: f64, y: f64, w: f64, h: f64, fill: &str, tip: &str) {
        let _ = write!(
            self.buf,
            r#"<rect class="{class}" x="{x:.2}" y="{y:.2}" width="{:.2}" height="{:.2}" fill="{fill}"><title>{}</title></rect>"#,
            w.max(0.0),
            h.max(0.0),
            esc(tip)
        );
    }

    /// A line-series point with a tooltip.
    pub fn point(&mut self, x: f64, y: f64, fill: &str, tip: &str) {
        let _ = write!(
            self.buf,
            r#"<circle class="point" cx="{x:.2}" cy="{y:.2}" r="3.5" fill="{fill}" stroke="white" stroke-width="1"><title>{}</title></circle>"#,
            esc(tip)
        );
    }

    /// A polyline through `points` (a break in the series starts a new one).
    pub fn polyline(&mut self, points: &[(f64, f64)], stroke: &str) {
        if points.len() < 2 {
            return;
        }
        let mut d = String::new();
        for (x, y) in points {
            let _ = write!(d, "{x:.2},{y:.2} ");
        }
        let _ = write!(
            self.buf,
            r#"<polyline points="{}" fill="none" stroke="{stroke}" stroke-width="2.5"/>"#,
            d.trim_end()
        );
    }

    /// A legend entry: a swatch (a square, or a line for line series) and a label.
    /// Returns the x where the next entry starts.
    pub fn legend(&mut self, x: f64, y: f64, color: &str, line: bool, label: &str) -> f64 {
        if line {
            self.line(x, y - 4.0, x + 18.0, y - 4.0, color, 2.5);
        } else {
            let _ = write!(
                self.buf,
                r#"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{color}"/>"#,
                y - 10.0
            );
        }
        self.text(x + 24.0, y, 12.0, "start", INK, label);
        x + 24.0 + text_width(label, 12.0) + 18.0
    }

    pub fn finish(mut self) -> String {
        self.buf.push_str("</svg>");
        self.buf
    }
}

/// Approximate rendered width of `text` at `size` (DejaVu Sans averages ~0.6 em).
pub fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.6
}

/// The plotting area inside a chart.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
}

impl Frame {
    pub fn standard() -> Frame {
        Frame {
            left: 86.0,
            right: WIDTH - 80.0,
            top: 78.0,
            bottom: HEIGHT - 78.0,
        }
    }

    pub fn width(&self) -> f64 {
        self.right - self.left
    }

    pub fn height(&self) -> f64 {
        self.bottom - self.top
    }
}

/// A linear scale from a domain to a pixel range.
#[derive(Debug, Clone, Copy)]
pub struct Linear {
    pub d0: f64,
    pub d1: f64,
    pub r0: f64,
    pub r1: f64,
}

impl Linear {
    /// The vertical scale of a plot from its value ticks: the first tick at the
    /// bottom of the frame, the last at the top.
    pub fn up(ticks: &[f64], frame: &Frame) -> Linear {
        Linear {
            d0: ticks[0],
            d1: *ticks.last().expect("ticks"),
            r0: frame.bottom,
            r1: frame.top,
        }
    }

    pub fn at(&self, v: f64) -> f64 {
        if self.d1 == self.d0 {
            return self.r0;
        }
        self.r0 + (v - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)
    }
}

/// "Nice" ticks covering `[lo, hi]` (steps of 1, 2 or 5 × 10^k), about `n` of them.
/// The first and last ticks enclose the range, so they make a good domain.
pub fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let (lo, hi) = if hi - lo < 1e-12 {
        (
            lo - 1.0_f64.max(lo.abs() * 0.1),
            hi + 1.0_f64.max(hi.abs() * 0.1),
        )
    } else {
        (lo, hi)
    };
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    // Ticks are multiples of the step, from the last one at or below `lo` to the
    // first one at or above `hi` (computed by index, so no error accumulates).
    let first = (lo / step + 1e-9).floor() as i64;
    let last = (hi / step - 1e-9).ceil() as i64;
    (first..=last.max(first + 1))
        .map(|k| if k == 0 { 0.0 } else { k as f64 * step })
        .collect()
}

/// A number for an axis: `1.2M`, `450k`, `12`, `0.5`.
pub fn compact(v: f64) -> String {
    let a = v.abs();
    let (x, suffix) = if a >= 1e9 {
        (v / 1e9, "bn")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let text = if (x - x.round()).abs() < 1e-9 {
        format!("{}", x.round() as i64)
    } else if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    };
    format!("{text}{suffix}")
}

/// A number with thousands separators and `decimals` decimals: `1,234,567.89`.
pub fn grouped(v: f64, decimals: usize) -> String {
    // Halves round away from zero (as people round money), not to even.
    let scale = 10f64.powi(decimals as i32);
    let text = format!("{:.*}", decimals, (v.abs() * scale).round() / scale);
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text.as_str(), None),
    };
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    if v < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.insert(0, '-');
    }
    out
}

/// `2010-12` as `Dec 2010`.
pub fn month_label(month: &str) -> String {
    const NAMES: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    match month.split_once('-') {
        Some((y, m)) => match m.parse::<usize>() {
            Ok(m) if (1..=12).contains(&m) => format!("{} {y}", NAMES[m - 1]),
            _ => month.to_string(),
        },
        None => month.to_string(),
    }
}

/// Which side of the plot a value axis stands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The primary axis: tick labels on the left, with horizontal gridlines.
    Left,
    /// A secondary axis (a rate, a growth %): tick labels on the right, no gridlines.
    Right,
}

/// Draws a vertical value axis on `side` of `frame`, labelled `label`.
pub fn value_axis(
    svg: &mut Svg,
    frame: &Frame,
    scale: &Linear,
    ticks: &[f64],
    side: Side,
    label: &str,
    format: &dyn Fn(f64) -> String,
) {
    let (x, dx, anchor) = match side {
        Side::Left => (frame.left, -8.0, "end"),
        Side::Right => (frame.right, 8.0, "start"),
    };
    for &t in ticks {
        let y = scale.at(t);
        if side == Side::Left {
            svg.line(frame.left, y, frame.right, y, GRID, 1.0);
        }
        svg.text(x + dx, y + 4.0, 11.0, anchor, AXIS, &format(t));
    }
    svg.line(x, frame.top, x, frame.bottom, AXIS, 1.0);
    let lx = if side == Side::Left {
        22.0
    } else {
        WIDTH - 16.0
    };
    let ly = (frame.top + frame.bottom) / 2.0;
    let _ = write!(
        svg.buf,
        r#"<text x="{lx}" y="{ly}" font-size="12" text-anchor="middle" fill="{INK}" transform="rotate(-90 {lx} {ly})">{}</text>"#,
        esc(label)
    );
}

/// Draws a horizontal value axis under `frame`: the ticks inside the scale's
/// domain, each labelled by `format`, and `label` beneath them.
pub fn x_value_axis(
    svg: &mut Svg,
    frame: &Frame,
    scale: &Linear,
    ticks: &[f64],
    label: &str,
    format: &dyn Fn(f64) -> String,
) {
    svg.line(
        frame.left,
        frame.bottom,
        frame.right,
        frame.bottom,
        AXIS,
        1.0,
    );
    let (lo, hi) = (scale.d0.min(scale.d1), scale.d0.max(scale.d1));
    for &t in ticks.iter().filter(|&&t| t >= lo - 1e-9 && t <= hi + 1e-9) {
        let x = scale.at(t);
        svg.line(x, frame.bottom, x, frame.bottom + 5.0, AXIS, 1.0);
        svg.text(x, frame.bottom + 18.0, 11.0, "middle", AXIS, &format(t));
    }
    let middle = (frame.left + frame.right) / 2.0;
    svg.text(middle, frame.bottom + 38.0, 12.0, "middle", INK, label);
}

/// Draws the category axis under `frame`, labelling every `every`-th band.
pub fn category_axis(svg: &mut Svg, frame: &Frame, labels: &[String], label: &str) {
    let n = labels.len().max(1);
    let band = frame.width() / n as f64;
    svg.line(
        frame.left,
        frame.bottom,
        frame.right,
        frame.bottom,
        AXIS,
        1.0,
    );
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) as f64;
    let rotate = longest * 6.6 > band;
    let every = if rotate {
        ((13.0 / band).ceil() as usize).max(1)
    } else {
        1
    };
    for (i, l) in labels.iter().enumerate() {
        if i % every != 0 {
            continue;
        }
        let x = frame.left + band * (i as f64 + 0.5);
        if rotate {
            svg.text_rotated(x + 4.0, frame.bottom + 14.0, 11.0, "end", -45.0, l);
        } else {
            svg.text(x, frame.bottom + 16.0, 11.0, "middle", AXIS, l);
        }
    }
    svg.text(
        (frame.left + frame.right) / 2.0,
        HEIGHT - 8.0,
        12.0,
        "middle",
        INK,
        label,
    );
}

/// White to dark blue, by `t` in 0..=1.
pub fn blend(t: f64) -> String {
    let (r0, g0, b0) = (0xf2 as f64, 0xf6 as f64, 0xfb as f64);
    let (r1, g1, b1) = (0x1f as f64, 0x4e as f64, 0x86 as f64);
    let t = t.clamp(0.0, 1.0).sqrt();
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(r0, r1), mix(g0, g1), mix(b0, b1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_nice_and_enclose_the_range() {
        assert_eq!(
            nice_ticks(0.0, 95.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        let t = nice_ticks(-31.5, 120.2, 5);
        assert!(t[0] <= -31.5 && *t.last().unwrap() >= 120.2, "{t:?}");
        assert!(nice_ticks(5.0, 5.0, 4).len() >= 2);
        // A maximum just past a tick gets the next tick (November's 3,100 invoices
        // once drew above a 3,000 axis).
        assert_eq!(
            nice_ticks(0.0, 3_100.0, 5),
            vec![0.0, 1000.0, 2000.0, 3000.0, 4000.0]
        );
        for (lo, hi) in [
            (0.0, 1.0),
            (-0.7, 0.3),
            (0.0, 1_467_000.0),
            (-75.2, 49.9),
            (3.0, 3.0),
        ] {
            let t = nice_ticks(lo, hi, 5);
            assert!(t[0] <= lo && *t.last().unwrap() >= hi, "{lo}..{hi}: {t:?}");
        }
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(compact(1_250_000.0), "1.2M");
        assert_eq!(compact(450_000.0), "450k");
        assert_eq!(compact(2_500.0), "2500");
        assert_eq!(compact(-20.0), "-20");
        assert_eq!(grouped(168469.6, 2), "168,469.60");
        assert_eq!(grouped(-1234.5, 0), "-1,235");
        assert_eq!(grouped(-0.001, 2), "0.00");
        assert_eq!(month_label("2010-12"), "Dec 2010");
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
