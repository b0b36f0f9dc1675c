//! A WDI grid of the full shape of the original Hive work.

use std::fmt::Write as _;
use std::io::Write;

use crate::error::{LgsError, Result};

/// Shape of a generated WDI grid.
#[derive(Debug, Clone)]
pub struct WdiGrid {
    pub years: u32,
    pub countries: u32,
    pub indicators: u32,
    pub first_year: i32,
    pub seed: u64,
}

impl Default for WdiGrid {
    /// The full shape of the original work: 57 years (1960-2016) × 264 countries and
    /// aggregates × 1,446 indicators = 21,759,408 rows.
    fn default() -> Self {
        WdiGrid {
            years: 57,
            countries: 264,
            indicators: 1446,
            first_year: 1960,
            seed: 42,
        }
    }
}

/// SplitMix64: a small, fast, deterministic generator.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Writes the grid as a long CSV in the original Hive schema
/// (`year,countryName,countryCode,indicatorName,indicatorCode,indicatorValue`), grouped by
/// indicator then country then year as the World Bank publishes it. About a quarter
/// of the values are missing (empty), as in the real data; the same seed gives the
/// same file. Returns the number of rows.
pub fn write_wdi(grid: &WdiGrid, out: &mut dyn Write) -> Result<u64> {
    let io = |source| LgsError::Output { source };
    writeln!(
        out,
        "year,countryName,countryCode,indicatorName,indicatorCode,indicatorValue"
    )
    .map_err(io)?;
    let countries: Vec<(String, String)> = (0..grid.countries)
        .map(|c| {
            let a = (b'A' + (c / 26 % 26) as u8) as char;
            let b = (b'A' + (c % 26) as u8) as char;
            let d = (b'A' + (c / 676 % 26) as u8) as char;
            (format!("Country {c:03}"), format!("{d}{a}{b}"))
        })
        .collect();
    let mut rows = 0u64;
    let mut line = String::with_capacity(128);
    for i in 0..grid.indicators {
        let code = format!("IND.{i:04}.ZG");
        let name = format!("\"Indicator {i}, synthetic (annual %)\"");
        for (c, (country, ccode)) in countries.iter().enumerate() {
            let base = mix(grid.seed ^ (u64::from(i) << 32) ^ c as u64);
            for y in 0..grid.years {
                let r = mix(base ^ u64::from(y));
                line.clear();
                line.push_str(&(grid.first_year + y as i32).to_string());
                line.push(',');
                line.push_str(country);
                line.push(',');
                line.push_str(ccode);
                line.push(',');
                line.push_str(&name);
                line.push(',');
                line.push_str(&code);
                line.push(',');
                if !r.is_multiple_of(4) {
                    // A value in [-10, 30) with five decimals, written exactly.
                    let v = ((r >> 8) % 4_000_000) as i64 - 1_000_000;
                    let sign = if v < 0 { "-" } else { "" };
                    let _ = write!(line, "{sign}{}.{:05}", v.abs() / 100_000, v.abs() % 100_000);
                }
                line.push('\n');
                out.write_all(line.as_bytes()).map_err(io)?;
                rows += 1;
            }
        }
    }
    out.flush().map_err(io)?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_grid_is_deterministic_and_complete() {
        let grid = WdiGrid {
            years: 3,
            countries: 4,
            indicators: 2,
            ..WdiGrid::default()
        };
        let mut a = Vec::new();
        let mut b = Vec::new();
        assert_eq!(write_wdi(&grid, &mut a).unwrap(), 24);
        write_wdi(&grid, &mut b).unwrap();
        assert_eq!(a, b);
        let text = String::from_utf8(a).unwrap();
        assert_eq!(text.lines().count(), 25);
        assert!(text.lines().nth(1).unwrap().starts_with(
            "1960,Country 000,AAA,\"Indicator 0, synthetic (annual %)\",IND.0000.ZG,"
        ));
        assert!(
            text.lines().any(|l| l.ends_with(',')),
            "some values are missing"
        );
    }
}
