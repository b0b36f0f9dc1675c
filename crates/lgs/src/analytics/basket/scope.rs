//! Which invoices a product analysis looks at (country and days), and the SQL
//! pieces the product analyses share: what a product is and the products' labels.

use std::collections::HashMap;

use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use crate::analytics::engine::{midnight_micros, query};
use crate::error::{LgsError, Result};
use crate::schema::RETAIL_TABLE;

/// A stock code of a product: five digits and optional letters (`85123A`).
pub(crate) const PRODUCT: &str = "regexp_like(stock_code, '^[0-9]{5}[A-Za-z]*$')";

/// The non-cancellation invoices of a country and a span of days (each optional).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    pub country: Option<String>,
    /// The first day in scope.
    pub since: Option<NaiveDate>,
    /// The last day in scope.
    pub until: Option<NaiveDate>,
}

impl Scope {
    /// A span that ends before it starts is an error.
    pub(crate) fn check(&self, what: &'static str) -> Result<()> {
        if let (Some(s), Some(u)) = (self.since, self.until)
            && s > u
        {
            return Err(LgsError::InvalidArgument {
                what,
                message: format!("--since {s} is after --until {u}"),
            });
        }
        Ok(())
    }

    /// The WHERE clause, and its parameters.
    pub(crate) fn sql(&self) -> (String, Vec<ScalarValue>) {
        let mut clauses = vec!["NOT is_cancellation".to_string()];
        let mut params = Vec::new();
        if let Some(c) = &self.country {
            params.push(ScalarValue::Utf8(Some(c.clone())));
            clauses.push(format!("country = ${}", params.len()));
        }
        let day = |d: NaiveDate| ScalarValue::TimestampMicrosecond(Some(midnight_micros(d)), None);
        if let Some(s) = self.since {
            params.push(day(s));
            clauses.push(format!("invoice_date >= ${}", params.len()));
        }
        if let Some(u) = self.until.and_then(|u| u.succ_opt()) {
            params.push(day(u));
            clauses.push(format!("invoice_date < ${}", params.len()));
        }
        (clauses.join(" AND "), params)
    }

    /// The scope in words.
    pub fn text(&self) -> String {
        let mut text = "non-cancellation invoices".to_string();
        if let Some(c) = &self.country {
            text += &format!(" of {c}");
        }
        match (self.since, self.until) {
            (Some(s), Some(u)) => text += &format!(" from {s} to {u}"),
            (Some(s), None) => text += &format!(" from {s}"),
            (None, Some(u)) => text += &format!(" to {u}"),
            (None, None) => {}
        }
        text
    }

    /// The error of a scope without invoices: what the scope was, and, when the
    /// country has no lines at all, the data's country nearest to it (a typo).
    pub(crate) async fn empty(&self, ctx: &SessionContext, what: &'static str) -> LgsError {
        let mut message = format!("no basket in scope: there are no {}", self.text());
        if let Some(country) = &self.country {
            let countries = distinct(ctx, "country").await;
            if let Ok(countries) = countries
                && !countries.iter().any(|c| c == country)
            {
                message += &match crate::sql::closest(country, countries.iter().map(String::as_str))
                {
                    Some(near) => {
                        format!(" (no line has country '{country}': did you mean '{near}'?)")
                    }
                    None => format!(" (no line has country '{country}')"),
                };
            }
        }
        LgsError::InvalidArgument { what, message }
    }
}

/// The distinct values of a text column of the retail table.
pub(crate) async fn distinct(ctx: &SessionContext, column: &str) -> Result<Vec<String>> {
    let mut values = Vec::new();
    query(
        ctx,
        "products: distinct values",
        &format!("SELECT DISTINCT {column} AS v FROM {RETAIL_TABLE} WHERE {column} IS NOT NULL"),
        vec![],
    )
    .await?
    .for_each(|r| {
        values.extend(r.string("v")?);
        Ok(())
    })?;
    Ok(values)
}

/// The items as SQL string literals, comma-separated (for `IN (...)`).
pub(crate) fn sql_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = items
        .into_iter()
        .map(|item| format!("'{}'", item.replace('\'', "''")))
        .collect();
    quoted.join(", ")
}

/// Each listed stock code's (every code's with `listed` None) most frequent
/// trimmed description in scope (the smallest on a tie); codes without one are
/// absent.
pub(crate) async fn labels(
    ctx: &SessionContext,
    scope: &str,
    listed: Option<&str>,
    params: Vec<ScalarValue>,
) -> Result<HashMap<String, String>> {
    let mut by_code: HashMap<String, String> = HashMap::new();
    let listed = match listed {
        Some("") => return Ok(by_code),
        Some(list) => format!(" AND stock_code IN ({list})"),
        None => String::new(),
    };
    query(
        ctx,
        "products: labels",
        &format!(
            "SELECT stock_code, description FROM ( \
               SELECT stock_code, description, row_number() OVER ( \
                 PARTITION BY stock_code ORDER BY lines DESC, description) AS rank \
               FROM (SELECT stock_code, trim(description) AS description, count(*) AS lines \
                     FROM {RETAIL_TABLE} \
                     WHERE {scope}{listed} \
                       AND description IS NOT NULL AND trim(description) <> '' \
                     GROUP BY stock_code, trim(description))) \
             WHERE rank = 1"
        ),
        params,
    )
    .await?
    .for_each(|r| {
        if let (Some(code), Some(label)) = (r.string("stock_code")?, r.string("description")?) {
            by_code.insert(code, label);
        }
        Ok(())
    })?;
    Ok(by_code)
}
