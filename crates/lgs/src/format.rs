//! Numbers as the terminal tables show them.

/// Formats a number with thousands separators and `decimals` places.
pub fn group(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let text = format!("{:.*}", decimals, value.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if value < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

/// `part` as a share of `whole` with two decimals (`12.34 %`; `0 %` of nothing).
pub fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        "0 %".into()
    } else {
        format!("{:.2} %", part as f64 / whole as f64 * 100.0)
    }
}

/// A percentage with three decimals (`12.345 %`), empty for `None`.
pub fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "".into(), |v| format!("{v:.3} %"))
}

/// Bytes as lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hexadecimal text as bytes (`None` when it is not: an odd length or another
/// character).
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::group;

    #[test]
    fn groups_thousands() {
        assert_eq!(group(1234567.891, 2), "1,234,567.89");
        assert_eq!(group(-1234.5, 1), "-1,234.5");
        assert_eq!(group(12.0, 0), "12");
        assert_eq!(group(-0.001, 2), "0.00");
        assert_eq!(group(999.999, 2), "1,000.00");
    }
}
