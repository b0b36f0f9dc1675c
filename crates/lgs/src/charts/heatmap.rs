//! A heat map: rows by columns of cells coloured by value on one scale, with the
//! scale's legend. Cells without a value are left blank.

use super::svg::{self, Svg, blend};

/// What a heat map shows.
pub struct Heatmap<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub subtitle: Option<&'a str>,
    /// Labels of the rows (top to bottom) and of the columns (left to right).
    pub rows: &'a [String],
    pub columns: &'a [String],
    pub row_label: &'a str,
    pub column_label: &'a str,
    /// `values[row][column]`; `None` is no cell.
    pub values: &'a [Vec<Option<f64>>],
    /// The value of the darkest colour (larger values are drawn as it).
    pub max: f64,
    /// How values read on the legend and in tooltips.
    pub format: &'a dyn Fn(f64) -> String,
    /// The legend's title.
    pub legend: &'a str,
}

/// Draws the heat map; cells carry the class `cell` and a tooltip with their row,
/// column and value.
pub fn heatmap(spec: &Heatmap) -> String {
    let mut svg = Svg::new(spec.id, spec.title, spec.subtitle);
    let (left, top, right, bottom) = (96.0, 66.0, svg::WIDTH - 130.0, svg::HEIGHT - 48.0);
    let (n_rows, n_cols) = (spec.rows.len().max(1), spec.columns.len().max(1));
    let (w, h) = (
        (right - left) / n_cols as f64,
        (bottom - top) / n_rows as f64,
    );
    let max = if spec.max > 0.0 { spec.max } else { 1.0 };
    // Label every k-th row and column so that labels do not overlap.
    let every = |n: usize, room: f64, size: f64| ((size / room).ceil() as usize).clamp(1, n.max(1));
    let row_step = every(n_rows, h, 11.0);
    let col_step = every(n_cols, w, 24.0);
    for (i, label) in spec.rows.iter().enumerate() {
        let y = top + i as f64 * h;
        if i % row_step == 0 {
            svg.text(left - 6.0, y + h / 2.0 + 4.0, 10.0, "end", "#555", label);
        }
        for (j, value) in spec.values.get(i).into_iter().flatten().enumerate() {
            let Some(v) = value else { continue };
            let tip = format!(
                "{} {label}, {} {}: {}",
                spec.row_label,
                spec.column_label,
                spec.columns.get(j).map_or("", |c| c.as_str()),
                (spec.format)(*v)
            );
            let x = left + j as f64 * w;
            svg.rect(
                "cell",
                x + 0.5,
                y + 0.5,
                w - 1.0,
                h - 1.0,
                &blend(v / max),
                &tip,
            );
        }
    }
    for (j, label) in spec.columns.iter().enumerate() {
        if j % col_step == 0 {
            svg.text(
                left + (j as f64 + 0.5) * w,
                bottom + 14.0,
                10.0,
                "middle",
                "#555",
                label,
            );
        }
    }
    svg.text(
        (left + right) / 2.0,
        bottom + 34.0,
        12.0,
        "middle",
        "#222",
        spec.column_label,
    );
    svg.text_rotated(
        22.0,
        (top + bottom) / 2.0,
        12.0,
        "middle",
        -90.0,
        spec.row_label,
    );

    // The legend: the colour scale from 0 to the maximum, with five ticks.
    let (lx, lw) = (right + 36.0, 18.0);
    svg.text(lx, top - 8.0, 11.0, "start", "#222", spec.legend);
    let steps = 40;
    let step_h = (bottom - top) / steps as f64;
    for k in 0..steps {
        // Top is the maximum.
        let t = 1.0 - (k as f64 + 0.5) / steps as f64;
        svg.buf.push_str(&format!(
            r#"<rect x="{lx:.1}" y="{:.2}" width="{lw}" height="{:.2}" fill="{}"/>"#,
            top + k as f64 * step_h,
            step_h + 0.3,
            blend(t)
        ));
    }
    for k in 0..=4 {
        let t = k as f64 / 4.0;
        let y = bottom - t * (bottom - top);
        svg.line(lx + lw, y, lx + lw + 4.0, y, "#555", 1.0);
        let label = (spec.format)(t * max);
        let label = if k == 4 {
            format!("≥ {label}")
        } else {
            label
        };
        svg.text(lx + lw + 7.0, y + 4.0, 10.0, "start", "#555", &label);
    }
    svg.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One cell per value, none where there is no value; a value above the maximum
    /// is drawn in the darkest colour; the legend runs from 0 to the maximum.
    #[test]
    fn cells_for_values_and_a_legend() {
        let rows = vec!["a".to_string(), "b".to_string()];
        let columns = vec!["0".to_string(), "1".to_string(), "2".to_string()];
        let values = vec![
            vec![Some(1.0), Some(0.5), Some(0.25)],
            vec![Some(0.0), None, None],
        ];
        let svg = heatmap(&Heatmap {
            id: "h",
            title: "T",
            subtitle: None,
            rows: &rows,
            columns: &columns,
            row_label: "Row",
            column_label: "Column",
            values: &values,
            max: 0.5,
            format: &|v| format!("{:.0} %", v * 100.0),
            legend: "Share",
        });
        assert_eq!(svg.matches(r#"class="cell""#).count(), 4);
        let darkest = blend(1.0);
        // The cell of 1.0 and the cell of 0.5 (the maximum) share the darkest colour.
        assert_eq!(
            svg.matches(&format!(r#"fill="{darkest}"><title>"#)).count(),
            2
        );
        assert!(svg.contains("Row a, Column 2: 25 %"), "{svg}");
        assert!(svg.contains(">0 %<") && svg.contains(">≥ 50 %<"), "{svg}");
    }
}
