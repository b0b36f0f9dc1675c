//! One customer's profile (`lgs customer ID`): RFM scores and segment, k-means
//! cluster, P(alive), expected purchases and CLV, first and last purchase, and the
//! products they spent most on. The per-customer figures are those of the report's
//! analyses (run for everyone: scores and models are relative to all customers).

use std::sync::Arc;

use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use serde::Serialize;

use super::clv::{Clv, ClvAnalysis, ClvCustomer};
use super::kmeans::{KMeansAnalysis, KMeansResult};
use super::rfm::{Rfm, RfmAnalysis, RfmCustomer};
use super::{Analysis, ReportOptions, query, run_analyses};
use crate::error::{LgsError, Result};
use crate::schema::RETAIL_TABLE;

/// A product the customer bought, by net amount.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TopProduct {
    pub stock_code: String,
    pub description: Option<String>,
    pub quantity: i64,
    pub amount: f64,
}

/// A k-means cluster, named.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClusterOf {
    pub cluster: usize,
    pub name: String,
}

/// Everything lgs knows about one customer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CustomerProfile {
    pub customer_id: i64,
    pub as_of: String,
    pub country: Option<String>,
    pub first_purchase: Option<String>,
    pub last_purchase: Option<String>,
    pub rfm: Option<RfmCustomer>,
    pub cluster: Option<ClusterOf>,
    pub clv: Option<ClvCustomer>,
    pub top_products: Vec<TopProduct>,
}

/// The profile of customer `id` as of `options.as_of`; an error naming the id
/// when the warehouse has no line of theirs.
pub async fn profile(
    ctx: &SessionContext,
    options: &ReportOptions,
    id: i64,
) -> Result<CustomerProfile> {
    // One scan of the customer's lines; first, last and country from the purchases.
    let facts = query(
        ctx,
        "customer",
        &format!(
            "SELECT count(*) AS lines, \
               to_char(min(CASE WHEN NOT is_cancellation THEN invoice_date END), \
                 '%Y-%m-%d %H:%M:%S') AS first, \
               to_char(max(CASE WHEN NOT is_cancellation THEN invoice_date END), \
                 '%Y-%m-%d %H:%M:%S') AS last, \
               max(CASE WHEN NOT is_cancellation THEN country END) AS country \
             FROM {RETAIL_TABLE} WHERE customer_id = $1"
        ),
        vec![ScalarValue::Int64(Some(id))],
    )
    .await?;
    if facts.i64(0, "lines")?.unwrap_or(0) == 0 {
        return Err(LgsError::InvalidArgument {
            what: "customer",
            message: format!("{id} has no lines in {RETAIL_TABLE}"),
        });
    }
    let analyses: Vec<Arc<dyn Analysis>> = vec![
        Arc::new(RfmAnalysis),
        Arc::new(ClvAnalysis::default()),
        Arc::new(KMeansAnalysis::default()),
    ];
    let report = run_analyses(ctx, options, &analyses).await?;
    let rfm = report.part::<Rfm>().and_then(|r| {
        r.rfm_customers
            .iter()
            .find(|c| c.customer_id == id)
            .cloned()
    });
    let clv = report.part::<Clv>().and_then(|c| {
        c.clv_customers
            .iter()
            .find(|c| c.customer_id == id)
            .cloned()
    });
    let cluster = report.part::<KMeansResult>().and_then(|k| {
        let member = k.kmeans_customers.iter().find(|m| m.customer_id == id)?;
        let named = k.kmeans.as_ref()?.clusters.get(member.cluster)?;
        Some(ClusterOf {
            cluster: member.cluster,
            name: named.name.clone(),
        })
    });
    let products = query(
        ctx,
        "customer products",
        &format!(
            "SELECT stock_code, max(trim(description)) AS description, \
               sum(quantity) AS quantity, CAST(sum(amount) AS DOUBLE) AS amount \
             FROM {RETAIL_TABLE} WHERE customer_id = $1 \
             GROUP BY stock_code ORDER BY amount DESC, stock_code LIMIT 5"
        ),
        vec![ScalarValue::Int64(Some(id))],
    )
    .await?;
    let mut top_products = Vec::new();
    products.for_each(|r| {
        top_products.push(TopProduct {
            stock_code: r.string("stock_code")?.unwrap_or_default(),
            description: r.string("description")?,
            quantity: r.i64("quantity")?.unwrap_or_default(),
            amount: r.f64("amount")?.unwrap_or_default(),
        });
        Ok(())
    })?;
    Ok(CustomerProfile {
        customer_id: id,
        as_of: report.as_of.clone(),
        country: facts.string(0, "country")?,
        first_purchase: facts.string(0, "first")?,
        last_purchase: facts.string(0, "last")?,
        rfm,
        cluster,
        clv,
        top_products,
    })
}
