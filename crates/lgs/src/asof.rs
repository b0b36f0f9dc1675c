//! Time travel in SQL, in Delta's (and Databricks') syntax:
//! `SELECT ... FROM retail VERSION AS OF 3` and
//! `... FROM retail TIMESTAMP AS OF '2026-11-30 12:00'`. A query may read several
//! states of one table at once (`FROM retail VERSION AS OF 0 a JOIN retail b ...`).
//!
//! DataFusion's SQL dialect does not parse these clauses, so the statement's text is
//! rewritten first: `retail VERSION AS OF 3` becomes a reference to a table named
//! `"retail@v3"` (and `TIMESTAMP AS OF 'T'` to `"retail@T"`), which the session
//! resolves when the statement is planned ([`register_pinned`]): it opens that
//! state of the table from the warehouse the session was made over.

use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Word};

use crate::error::{LgsError, Result};
use crate::warehouse::{Pin, Warehouse};

/// Separates a table's name from its pin in the names the rewrite makes.
const MARK: char = '@';

/// `sql` with every `<table> VERSION AS OF <n>` and `<table> TIMESTAMP AS OF '<when>'`
/// turned into a reference to the pinned table; `None` when it has none.
pub fn rewrite(sql: &str) -> Result<Option<String>> {
    let lower = sql.to_ascii_lowercase();
    if !lower.contains(" as of ") && !lower.contains("\nas of") {
        return Ok(None);
    }
    let bad = |message: String| LgsError::InvalidArgument {
        what: "SQL",
        message,
    };
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize()
        .map_err(|e| bad(e.to_string()))?;
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut changed = false;
    let mut i = 0;
    while i < tokens.len() {
        let Some((pin, next)) = clause_at(&tokens, i).map_err(bad)? else {
            out.push(tokens[i].clone());
            i += 1;
            continue;
        };
        // The clause follows the table's name (after the whitespace before it).
        let named = out
            .iter()
            .rposition(|t| !matches!(t, Token::Whitespace(_)))
            .and_then(|at| match &out[at] {
                Token::Word(w) if w.keyword == Keyword::NoKeyword || w.quote_style.is_some() => {
                    Some(at)
                }
                _ => None,
            })
            .ok_or_else(|| bad("AS OF must follow a table's name".into()))?;
        let Token::Word(word) = &out[named] else {
            unreachable!("checked above")
        };
        let name = match word.quote_style {
            Some(_) => word.value.clone(),
            None => word.value.to_lowercase(),
        };
        out[named] = Token::Word(Word {
            value: format!("{name}{MARK}{pin}"),
            quote_style: Some('"'),
            keyword: Keyword::NoKeyword,
        });
        out.truncate(named + 1);
        changed = true;
        i = next;
    }
    Ok(changed.then(|| out.iter().map(ToString::to_string).collect()))
}

/// The pin of a `VERSION AS OF n` / `TIMESTAMP AS OF 'when'` clause starting at
/// token `at` (`v<n>` or the text of the moment), and the token after it.
fn clause_at(tokens: &[Token], at: usize) -> std::result::Result<Option<(String, usize)>, String> {
    let keyword = |i: usize| match tokens.get(i) {
        Some(Token::Word(w)) if w.quote_style.is_none() => Some(w.keyword),
        _ => None,
    };
    let kind = match keyword(at) {
        Some(Keyword::VERSION) => Keyword::VERSION,
        Some(Keyword::TIMESTAMP) => Keyword::TIMESTAMP,
        _ => return Ok(None),
    };
    // The next significant tokens: AS, OF, then the version or the moment.
    let mut significant =
        (at + 1..tokens.len()).filter(|&i| !matches!(tokens[i], Token::Whitespace(_)));
    let (Some(as_), Some(of)) = (significant.next(), significant.next()) else {
        return Ok(None);
    };
    if keyword(as_) != Some(Keyword::AS) || keyword(of) != Some(Keyword::OF) {
        return Ok(None);
    }
    let value = significant.next();
    let pin = match (kind, value.map(|i| &tokens[i])) {
        (Keyword::VERSION, Some(Token::Number(n, _))) if n.bytes().all(|b| b.is_ascii_digit()) => {
            format!("v{n}")
        }
        (Keyword::TIMESTAMP, Some(Token::SingleQuotedString(s))) => s.clone(),
        (Keyword::VERSION, _) => return Err("VERSION AS OF takes a version number".into()),
        _ => return Err("TIMESTAMP AS OF takes a quoted moment, e.g. '2026-11-30 12:00'".into()),
    };
    Ok(Some((pin, value.expect("matched above") + 1)))
}

/// The warehouse a session reads, kept in its configuration so that planning can
/// open pinned states of its tables.
pub struct SessionWarehouse(pub Warehouse);

/// Registers in `ctx` every pinned table (`name@v3`, `name@2026-11-30`) that
/// `names` refers to and `ctx` does not have yet.
pub async fn register_pinned(ctx: &SessionContext, names: &[String]) -> Result<()> {
    for name in names {
        let Some((table, pin)) = name.split_once(MARK) else {
            continue;
        };
        if ctx.table_exist(name.as_str()).unwrap_or(false) {
            continue;
        }
        let pin = match pin.strip_prefix('v').map(str::parse::<u64>) {
            Some(Ok(v)) => Pin::Version(v),
            _ => Pin::timestamp(pin)?,
        };
        let state = ctx.state();
        let Some(warehouse) = state.config().get_extension::<SessionWarehouse>() else {
            return Err(LgsError::InvalidArgument {
                what: "SQL",
                message: format!("{table} AS OF: this session does not read a warehouse"),
            });
        };
        warehouse.0.register_as(ctx, table, pin, name).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        rewrite(sql).unwrap().expect("rewritten")
    }

    #[test]
    fn clauses_become_pinned_names() {
        assert_eq!(
            rewritten("SELECT count(*) FROM retail VERSION AS OF 3"),
            r#"SELECT count(*) FROM "retail@v3""#
        );
        assert_eq!(
            rewritten("select * from Retail timestamp as of '2026-11-30 12:00' r\nwhere 1=1"),
            "select * from \"retail@2026-11-30 12:00\" r\nwhere 1=1"
        );
        assert_eq!(
            rewritten(r#"SELECT 1 FROM "Odd" VERSION AS OF 0 a JOIN retail b ON true"#),
            r#"SELECT 1 FROM "Odd@v0" a JOIN retail b ON true"#
        );
    }

    #[test]
    fn other_sql_is_left_alone_and_bad_clauses_are_errors() {
        assert_eq!(rewrite("SELECT 'a as of b' FROM retail").unwrap(), None);
        assert_eq!(
            rewrite("SELECT CAST(x AS TIMESTAMP) AS of FROM t").unwrap(),
            None
        );
        assert!(rewrite("SELECT 1 FROM retail VERSION AS OF 'x'").is_err());
        assert!(rewrite("SELECT 1 FROM retail TIMESTAMP AS OF 3").is_err());
        assert!(rewrite("SELECT 1 FROM (SELECT 1) VERSION AS OF 3").is_err());
    }
}
