//! The values of `pg_dump --inserts` statements: `(...), (...);` split into tuples,
//! each parsed into its fields (SQL string literals with their escapes, numbers,
//! NULL, casts).

/// Splits `(...), (...);` into the tuples' texts with their byte offsets.
pub fn split_tuples(values: &str) -> std::result::Result<Vec<(usize, String)>, String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut start = None;
    for (i, c) in values.char_indices() {
        match c {
            '\'' => in_string = !in_string,
            '(' if !in_string => {
                if depth == 0 {
                    start = Some(i);
                }
                depth += 1;
            }
            ')' if !in_string => {
                depth = depth.checked_sub(1).ok_or("unbalanced parentheses")?;
                if depth == 0 {
                    let s = start.take().ok_or("unbalanced parentheses")?;
                    out.push((s, values[s..=i].to_string()));
                }
            }
            _ => {}
        }
    }
    if depth != 0 || in_string {
        return Err("unterminated tuple".into());
    }
    Ok(out)
}

/// `('a''b', 12, NULL, E'x\ny', -1.5)` → [a'b, 12, null, x⏎y, -1.5].
pub fn parse_tuple(tuple: &str) -> std::result::Result<Vec<Option<String>>, String> {
    let inner = tuple
        .trim()
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or("not a parenthesised tuple")?;
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let escaped = matches!(chars.peek(), Some('E' | 'e')) && {
            let mut look = chars.clone();
            look.next();
            look.peek() == Some(&'\'')
        };
        if escaped {
            chars.next();
        }
        let value = if chars.peek() == Some(&'\'') {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    None => return Err("unterminated string".into()),
                    Some('\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                        s.push('\'');
                    }
                    Some('\'') => break,
                    Some('\\') if escaped => match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some('r') => s.push('\r'),
                        Some('b') => s.push('\u{8}'),
                        Some('f') => s.push('\u{c}'),
                        Some(c) => s.push(c),
                        None => return Err("unterminated string".into()),
                    },
                    Some(c) => s.push(c),
                }
            }
            // A cast such as '...'::numeric: drop it.
            let token = take_until_comma(&mut chars);
            if !token.trim().is_empty() && !token.trim().starts_with("::") {
                return Err(format!("unexpected {:?} after a string", token.trim()));
            }
            Some(s)
        } else {
            let token = take_until_comma(&mut chars);
            let token = token.trim();
            if token.is_empty() {
                return Err("empty value".into());
            }
            if token.eq_ignore_ascii_case("NULL") {
                None
            } else {
                Some(token.split("::").next().unwrap_or(token).to_string())
            }
        };
        out.push(value);
        match chars.next() {
            Some(',') => continue,
            None => break,
            Some(c) => return Err(format!("unexpected {c:?}")),
        }
    }
    Ok(out)
}

/// The characters up to the next `,` (not consumed) or the end.
fn take_until_comma(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
    let mut token = String::new();
    while let Some(&c) = chars.peek() {
        if c == ',' {
            break;
        }
        token.push(c);
        chars.next();
    }
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_tuples() {
        let t = split_tuples(" ('a', 1), ('b(', NULL);").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(
            parse_tuple(&t[1].1).unwrap(),
            vec![Some("b(".to_string()), None]
        );
        assert_eq!(
            parse_tuple("('it''s', -1.5, E'x\\ny', '12'::numeric)").unwrap(),
            vec![
                Some("it's".into()),
                Some("-1.5".into()),
                Some("x\ny".into()),
                Some("12".into())
            ]
        );
        assert!(parse_tuple("('open, 1)").is_err());
    }
}
