//! Item to item: the products most often bought with one product, by lift, with
//! the evidence (baskets together, confidence). The counts are over the baskets
//! in scope as `lgs basket` reads them ([`lines::baskets`]).

use std::collections::HashMap;

use datafusion::prelude::SessionContext;
use serde::Serialize;

use super::RecommendOptions;
use crate::analytics::basket::ItemKey;
use crate::analytics::basket::lines;
use crate::analytics::basket::scope::{distinct, labels, sql_list};
use crate::error::{LgsError, Result};

/// A product bought with the one asked about.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Peer {
    pub stock_code: String,
    pub description: String,
    /// Baskets holding both products.
    pub together: u64,
    /// Baskets holding this product.
    pub baskets: u64,
    /// Share of the asked product's baskets that hold this one.
    pub confidence: f64,
    /// Confidence over this product's share of all baskets (1 is chance).
    pub lift: f64,
}

/// The products bought with one product.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ItemRecommendations {
    pub stock_code: String,
    pub description: String,
    /// Baskets holding the product.
    pub baskets: u64,
    /// Baskets in scope.
    pub total_baskets: u64,
    /// The least number of baskets together of a product listed.
    pub min_together: u64,
    /// Products bought with it at least `min_together` times, by lift.
    pub peers: Vec<Peer>,
}

/// The products most often bought with `code`, by lift.
pub(super) async fn peers(
    ctx: &SessionContext,
    options: &RecommendOptions,
    code: &str,
) -> Result<ItemRecommendations> {
    let (scope, params) = options.scope.sql();
    let lines = lines::baskets(ctx, ItemKey::StockCode, &scope, params.clone()).await?;
    if lines.count == 0 {
        return Err(options.scope.empty(ctx, "recommend scope").await);
    }
    let total = lines.count;
    let counts: HashMap<String, u64> = lines
        .names
        .iter()
        .zip(&lines.counts)
        .filter(|(_, c)| **c > 0)
        .map(|(name, c)| (name.clone(), *c))
        .collect();
    let code = match known(&counts, code) {
        Some(c) => c,
        None => return Err(unknown(ctx, options, code, &counts).await),
    };
    let baskets = counts[&code];
    let min_together = options
        .min_together
        .unwrap_or_else(|| baskets.div_ceil(100).max(5));
    // Each product's baskets with the asked one (a basket's ids are sorted).
    let asked = lines
        .names
        .iter()
        .position(|n| *n == code)
        .unwrap_or(usize::MAX) as u32;
    let mut with = vec![0u64; lines.names.len()];
    for items in lines.each().filter(|t| t.binary_search(&asked).is_ok()) {
        for &i in items.iter().filter(|&&i| i != asked) {
            with[i as usize] += 1;
        }
    }
    let together: Vec<(String, u64)> = with
        .iter()
        .enumerate()
        .filter(|&(_, &both)| both >= min_together)
        .map(|(i, &both)| (lines.names[i].clone(), both))
        .collect();
    drop(lines);
    let mut peers: Vec<Peer> = together
        .into_iter()
        .map(|(item, both)| {
            let theirs = counts.get(&item).copied().unwrap_or(both).max(1);
            let confidence = both as f64 / baskets as f64;
            Peer {
                lift: confidence / (theirs as f64 / total as f64),
                stock_code: item,
                description: String::new(),
                together: both,
                baskets: theirs,
                confidence,
            }
        })
        .collect();
    peers.sort_by(|a, b| {
        b.lift
            .total_cmp(&a.lift)
            .then(b.together.cmp(&a.together))
            .then_with(|| a.stock_code.cmp(&b.stock_code))
    });
    peers.truncate(options.n);
    let named =
        sql_list(std::iter::once(code.as_str()).chain(peers.iter().map(|p| p.stock_code.as_str())));
    let by_code = labels(ctx, &scope, Some(&named), params).await?;
    let label = |c: &str| by_code.get(c).cloned().unwrap_or_else(|| c.to_string());
    for p in &mut peers {
        p.description = label(&p.stock_code);
    }
    Ok(ItemRecommendations {
        description: label(&code),
        stock_code: code,
        baskets,
        total_baskets: total,
        min_together,
        peers,
    })
}

/// The code as the data spells it (codes are matched ignoring case).
fn known(counts: &HashMap<String, u64>, code: &str) -> Option<String> {
    if counts.contains_key(code) {
        return Some(code.to_string());
    }
    counts
        .keys()
        .find(|c| c.eq_ignore_ascii_case(code))
        .cloned()
}

/// The error of a code no basket in scope holds: whether the data has it at all,
/// and the nearest code that is in a basket.
async fn unknown(
    ctx: &SessionContext,
    options: &RecommendOptions,
    code: &str,
    counts: &HashMap<String, u64>,
) -> LgsError {
    let anywhere = distinct(ctx, "stock_code")
        .await
        .map(|all| all.iter().any(|c| c.eq_ignore_ascii_case(code)))
        .unwrap_or(false);
    let mut message = if anywhere {
        format!(
            "stock code '{code}' is in no basket of the {} as a product (it is in the data: \
             outside the scope, only cancelled, or not a product code)",
            options.scope.text()
        )
    } else {
        format!("no line has stock code '{code}'")
    };
    let mut codes: Vec<&str> = counts.keys().map(String::as_str).collect();
    codes.sort_unstable();
    if let Some(near) = crate::sql::closest(code, codes.into_iter()) {
        message += &format!(": did you mean '{near}'?");
    }
    LgsError::InvalidArgument {
        what: "stock code",
        message,
    }
}
