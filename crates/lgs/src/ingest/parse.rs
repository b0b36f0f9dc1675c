//! Parsing of single field values into their warehouse types.
//!
//! The parsers are hand-written (no allocation, no regex) because they run once per
//! field of every row; each returns a message that becomes a quarantine reason.

use chrono::NaiveDate;

use crate::schema::PRICE_SCALE;

/// `s` without leading and trailing whitespace, as [`str::trim`]: a field that
/// starts and ends with a visible ASCII character (nearly every one) is returned
/// as it is, without the Unicode scan `str::trim` makes (4 % of an ingest).
pub fn trim(s: &str) -> &str {
    let visible = |b: Option<&u8>| b.is_some_and(|&b| b > b' ' && b < 0x7f);
    let bytes = s.as_bytes();
    if visible(bytes.first()) && visible(bytes.last()) {
        s
    } else {
        s.trim()
    }
}

/// Microseconds since the Unix epoch of a naive timestamp, with its calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedDate {
    pub micros: i64,
    pub year: i32,
    pub month: u32,
}

/// Parses `YYYY-MM-DD HH:MM[:SS[.ffffff]]` (a `T` also separates date and time) and the
/// US form `M/D/YYYY H:MM[:SS]` of the older UCI file.
pub fn parse_timestamp(s: &str) -> Result<ParsedDate, String> {
    let s = trim(s);
    let bad = || format!("bad invoice_date {s:?}: expected YYYY-MM-DD HH:MM[:SS] or M/D/YYYY H:MM");
    let (date, time) = s
        .split_once([' ', 'T'])
        .map(|(d, t)| (d, t.trim()))
        .unwrap_or((s, ""));
    let (y, m, d) = if date.contains('-') {
        let mut it = date.split('-');
        let y = it.next().and_then(num::<i32>).ok_or_else(bad)?;
        let m = it.next().and_then(num::<u32>).ok_or_else(bad)?;
        let d = it.next().and_then(num::<u32>).ok_or_else(bad)?;
        if it.next().is_some() || date.len() != 10 {
            return Err(bad());
        }
        (y, m, d)
    } else if date.contains('/') {
        let mut it = date.split('/');
        let m = it.next().and_then(num::<u32>).ok_or_else(bad)?;
        let d = it.next().and_then(num::<u32>).ok_or_else(bad)?;
        let y = it.next().and_then(num::<i32>).ok_or_else(bad)?;
        if it.next().is_some() || !(1000..=9999).contains(&y) {
            return Err(bad());
        }
        (y, m, d)
    } else {
        return Err(bad());
    };
    let day = NaiveDate::from_ymd_opt(y, m, d).ok_or_else(bad)?;
    if time.is_empty() {
        return Err(bad());
    }
    let mut it = time.split(':');
    let hh = it.next().and_then(num::<u32>).ok_or_else(bad)?;
    let mm = it.next().and_then(num::<u32>).ok_or_else(bad)?;
    let (ss, frac) = match it.next() {
        None => (0, 0),
        Some(sec) => {
            let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
            let whole = num::<u32>(whole).ok_or_else(bad)?;
            if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let frac_us = if frac.is_empty() {
                0
            } else {
                frac.parse::<u32>().map_err(|_| bad())? * 10u32.pow(6 - frac.len() as u32)
            };
            (whole, frac_us)
        }
    };
    if it.next().is_some() || hh > 23 || mm > 59 || ss > 59 {
        return Err(bad());
    }
    let secs = day
        .and_hms_opt(hh, mm, ss)
        .ok_or_else(bad)?
        .and_utc()
        .timestamp();
    Ok(ParsedDate {
        micros: secs * 1_000_000 + i64::from(frac),
        year: y,
        month: m,
    })
}

fn num<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The text before and after the first `.` (a byte loop: the fields are short,
/// and `str::split_once` set up a searcher for each, 3 % of an ingest).
fn split_at_point(s: &str) -> Option<(&str, &str)> {
    let at = s.bytes().position(|b| b == b'.')?;
    Some((&s[..at], &s[at + 1..]))
}

/// Parses an integer, also written with a zero fraction (`12.0`, as spreadsheets export).
fn parse_integer(s: &str) -> Option<i64> {
    let s = trim(s);
    let int_part = match split_at_point(s) {
        Some((i, f)) if !f.is_empty() && f.bytes().all(|b| b == b'0') => i,
        Some(_) => return None,
        None => s,
    };
    int_part.parse::<i64>().ok()
}

/// Parses a quantity: a whole number that fits in 32 bits.
pub fn parse_quantity(s: &str) -> Result<i32, String> {
    parse_integer(s)
        .and_then(|v| i32::try_from(v).ok())
        .ok_or_else(|| format!("bad quantity {s:?}: not a whole number in 32-bit range"))
}

/// Parses a customer id: empty is `None`; `12346.0` is 12346.
pub fn parse_customer_id(s: &str) -> Result<Option<i64>, String> {
    let t = trim(s);
    if t.is_empty() {
        return Ok(None);
    }
    parse_integer(t)
        .map(Some)
        .ok_or_else(|| format!("bad customer_id {s:?}: not a whole number"))
}

/// Parses a decimal number into an integer scaled by 10^[`PRICE_SCALE`].
pub fn parse_price(s: &str) -> Result<i128, String> {
    let t = trim(s);
    let bad = |why: &str| format!("bad unit_price {s:?}: {why}");
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (int_part, frac_part) = split_at_point(digits).unwrap_or((digits, ""));
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad("not a decimal number"));
    }
    let frac_trimmed = frac_part.trim_end_matches('0');
    let scale = PRICE_SCALE as usize;
    if frac_trimmed.len() > scale {
        return Err(bad(&format!("more than {scale} decimal places")));
    }
    if int_part.len() > 10 {
        return Err(bad("too large"));
    }
    // At most 10 + 4 digits, all checked above: the value fits in 64 bits, and a
    // byte loop in them costs a fraction of a 128-bit `parse` (3 % of an ingest).
    let mut value: u64 = 0;
    for b in int_part.bytes() {
        value = value * 10 + u64::from(b - b'0');
    }
    for i in 0..scale {
        let d = frac_trimmed.as_bytes().get(i).map_or(0, |b| b - b'0');
        value = value * 10 + u64::from(d);
    }
    let value = i128::from(value);
    Ok(if neg { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_both_shapes() {
        let a = parse_timestamp("2009-12-01 07:45:00").unwrap();
        let b = parse_timestamp("12/1/2009 7:45").unwrap();
        let c = parse_timestamp("2009-12-01 07:45").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!((a.year, a.month), (2009, 12));
        assert_eq!(a.micros, 1_259_653_500_000_000);
        assert_eq!(
            parse_timestamp("2011-12-09T12:50:00.5").unwrap().micros,
            parse_timestamp("2011-12-09 12:50").unwrap().micros + 500_000
        );
        for bad in [
            "",
            "2009-13-01 07:45",
            "2009-02-30 07:45",
            "2009-12-01",
            "12/1/09 7:45",
            "yesterday",
            "2009-12-01 25:00",
            "2009-12-01 07:45:00:00",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn prices_are_exact_decimals() {
        assert_eq!(parse_price("2.55"), Ok(25_500));
        assert_eq!(parse_price("0.001"), Ok(10));
        assert_eq!(parse_price("-11062.06"), Ok(-110_620_600));
        assert_eq!(parse_price("38970"), Ok(389_700_000));
        assert_eq!(parse_price(".5"), Ok(5_000));
        assert_eq!(parse_price("1.250000"), Ok(12_500));
        assert!(
            parse_price("1.23456")
                .unwrap_err()
                .contains("decimal places")
        );
        assert!(parse_price("abc").is_err());
        assert!(parse_price("").is_err());
        assert!(parse_price("1e3").is_err());
        // The widest prices accepted: ten integer digits and four decimals.
        assert_eq!(parse_price("9999999999.9999"), Ok(99_999_999_999_999));
        assert_eq!(parse_price("-9999999999.5"), Ok(-99_999_999_995_000));
        assert!(
            parse_price("12345678901")
                .unwrap_err()
                .contains("too large")
        );
        assert_eq!(parse_price("+0.0001"), Ok(1));
        assert_eq!(parse_price("-0"), Ok(0));
        // Against the value computed as text, for prices of every width.
        let mut state = 3u64;
        for _ in 0..5000 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            let int_digits = (state >> 60) as usize % 11;
            let frac_digits = (state >> 56) as usize % 5;
            let digits: String = (0..int_digits + frac_digits)
                .map(|i| char::from(b'0' + ((state >> (i * 4 % 56)) % 10) as u8))
                .collect();
            let (int, frac) = digits.split_at(int_digits);
            let text = format!("{int}.{frac}");
            if int.is_empty() && frac.is_empty() {
                continue;
            }
            let scaled: i128 = format!("{int}{frac:0<4}").parse().unwrap();
            assert_eq!(parse_price(&text), Ok(scaled), "{text}");
            assert_eq!(parse_price(&format!("-{text}")), Ok(-scaled), "-{text}");
        }
    }

    #[test]
    fn trim_is_str_trim() {
        for s in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\ta\r",
            "ab",
            "\u{a0}x\u{a0}",
            "é",
            " é ",
            "\u{1c}a",
            "a\u{3000}",
            "~",
            "12.0",
        ] {
            assert_eq!(trim(s), s.trim(), "{s:?}");
        }
    }

    #[test]
    fn integers_and_customer_ids() {
        assert_eq!(parse_quantity("-80995"), Ok(-80995));
        assert_eq!(parse_quantity("12.0"), Ok(12));
        assert!(parse_quantity("1.5").is_err());
        assert!(parse_quantity("99999999999").is_err());
        assert_eq!(parse_customer_id("12346.0"), Ok(Some(12346)));
        assert_eq!(parse_customer_id(""), Ok(None));
        assert_eq!(parse_customer_id(" 17850 "), Ok(Some(17850)));
        assert!(parse_customer_id("x12").is_err());
    }
}
