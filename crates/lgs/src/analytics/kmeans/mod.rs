//! Segments beyond RFM's fixed grid: k-means on each customer's RFM values.
//!
//! Features per customer with monetary > 0 (RFM as in the report, the same as-of):
//! ln(1+recency), ln(1+frequency), ln(1+monetary), each standardised to mean 0 and
//! population standard deviation 1. For k = 2..10, k-means (k-means++ seeding,
//! `restarts` runs, a seed: [`lgs_models::kmeans`]) with its inertia and silhouette
//! (exact up to 20,000 customers, on a seeded sample of that many beyond); k is the
//! one of the best silhouette unless given.

mod output;

use std::collections::BTreeMap;

use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use lgs_models::kmeans::{KMeansOptions, fits_silhouettes, kmeans_each};
use serde::Serialize;

use super::rfm::{RFM_VALUES_TABLE, RfmCustomer};
use super::{Analysis, Intermediate, PassColumn, Section, Shared, compute};
use crate::error::{LgsError, Result};

/// How the segments are found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KMeansSettings {
    /// The number of clusters; by the best silhouette of 2..=`max_k` when None.
    pub k: Option<usize>,
    pub max_k: usize,
    pub restarts: usize,
    pub seed: u64,
    /// Up to this many customers the silhouette is exact; beyond, it is computed
    /// on a seeded sample of this many.
    pub silhouette_limit: usize,
}

impl Default for KMeansSettings {
    fn default() -> Self {
        KMeansSettings {
            k: None,
            max_k: 10,
            restarts: 10,
            seed: 42,
            silhouette_limit: 20_000,
        }
    }
}

/// The k-means analysis.
#[derive(Debug, Clone, Default)]
pub struct KMeansAnalysis {
    pub settings: KMeansSettings,
}

/// One k tried.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ByK {
    pub k: usize,
    pub inertia: f64,
    pub silhouette: f64,
}

/// One cluster's profile.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cluster {
    pub cluster: usize,
    pub name: String,
    pub customers: u64,
    pub share: f64,
    pub mean_recency: f64,
    pub mean_frequency: f64,
    pub mean_monetary: f64,
    pub revenue_share: f64,
}

/// Customers of an RFM segment in a cluster.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CrossTab {
    pub cluster: usize,
    pub segment: String,
    pub customers: u64,
}

/// A customer's cluster.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Member {
    pub customer_id: i64,
    pub cluster: usize,
}

/// The k-means section's figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KMeansSummary {
    /// Customers with monetary > 0 (the ones clustered).
    pub customers: u64,
    /// Whether the silhouette was computed on a sample (and of how many).
    pub silhouette_sample: Option<u64>,
    pub by_k: Vec<ByK>,
    pub k: usize,
    /// "silhouette" or "given".
    pub chosen_by: String,
    pub clusters: Vec<Cluster>,
    pub crosstab: Vec<CrossTab>,
}

/// The section: `"kmeans"` in the JSON document, the members in the outputs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KMeansResult {
    pub kmeans: Option<KMeansSummary>,
    #[serde(skip)]
    pub kmeans_customers: Vec<Member>,
    /// Why there are no clusters (too few customers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kmeans_note: Option<String>,
}

#[async_trait]
impl Analysis for KMeansAnalysis {
    fn name(&self) -> &'static str {
        "kmeans"
    }

    /// Neither the month nor the eligible amount.
    fn pass_columns(&self) -> &'static [PassColumn] {
        &[]
    }

    fn needs(&self) -> &'static [&'static Intermediate] {
        &[&RFM_VALUES_TABLE]
    }

    async fn run(&self, ctx: &SessionContext, shared: &Shared) -> Result<Section> {
        let s = &self.settings;
        if s.k.is_some_and(|k| k < 2) || s.restarts == 0 || s.max_k < 2 {
            return Err(LgsError::InvalidArgument {
                what: "k-means option",
                message: "--k must be at least 2 and --restarts at least 1".into(),
            });
        }
        let r = shared.rfm(ctx).await?;
        let settings = *s;
        let result = compute("k-means", move || {
            let customers: Vec<&RfmCustomer> = r
                .rfm_customers
                .iter()
                .filter(|c| c.monetary > 0.0)
                .collect();
            segment(&customers, &settings)
        })
        .await?;
        let mut section = Section::new(self.name(), "Segments by k-means", result.clone());
        section.text = output::text(&result);
        section.tables = output::tables(&result)?;
        section.chart_rank = 35;
        section.charts = output::charts(&result);
        Ok(section)
    }
}

/// ln(1+x) of the three values, standardised (a constant feature stays 0).
fn features(customers: &[&RfmCustomer]) -> Vec<f64> {
    let n = customers.len();
    let raw: Vec<[f64; 3]> = customers
        .iter()
        .map(|c| {
            [
                (c.recency.max(0) as f64).ln_1p(),
                (c.frequency as f64).ln_1p(),
                c.monetary.ln_1p(),
            ]
        })
        .collect();
    let mut out = vec![0.0; n * 3];
    for d in 0..3 {
        let mean = raw.iter().map(|r| r[d]).sum::<f64>() / n as f64;
        let sd = (raw.iter().map(|r| (r[d] - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        for (i, r) in raw.iter().enumerate() {
            out[i * 3 + d] = if sd > 0.0 { (r[d] - mean) / sd } else { 0.0 };
        }
    }
    out
}

fn segment(customers: &[&RfmCustomer], s: &KMeansSettings) -> Result<KMeansResult> {
    let n = customers.len();
    if n < 3 {
        return Ok(KMeansResult {
            kmeans: None,
            kmeans_customers: vec![],
            kmeans_note: Some(format!(
                "k-means needs at least 3 customers with monetary > 0; there are {n}"
            )),
        });
    }
    let points = features(customers);
    let options = KMeansOptions {
        restarts: s.restarts,
        seed: s.seed,
        ..KMeansOptions::default()
    };
    let ks: Vec<usize> = match s.k {
        Some(k) => vec![k.min(n - 1)],
        None => (2..=s.max_k.min(n - 1)).collect(),
    };
    let fits = kmeans_each(&points, 3, &ks, &options).map_err(LgsError::model("kmeans"))?;
    let (scores, sampled) = fits_silhouettes(&points, 3, &fits, s.silhouette_limit, s.seed);
    let by_k: Vec<ByK> = fits
        .iter()
        .zip(scores)
        .map(|(c, silhouette)| ByK {
            k: c.k,
            inertia: c.inertia,
            silhouette,
        })
        .collect();
    // The best silhouette (the smallest k on a tie).
    let best = (0..by_k.len())
        .max_by(|&a, &b| {
            by_k[a]
                .silhouette
                .total_cmp(&by_k[b].silhouette)
                .then(b.cmp(&a))
        })
        .unwrap_or(0);
    let chosen = &fits[best];
    let clusters = output::profile(customers, chosen);
    let mut crosstab: BTreeMap<(usize, String), u64> = BTreeMap::new();
    for (c, &l) in customers.iter().zip(&chosen.labels) {
        *crosstab.entry((l, c.segment.clone())).or_default() += 1;
    }
    Ok(KMeansResult {
        kmeans: Some(KMeansSummary {
            customers: n as u64,
            silhouette_sample: sampled.map(|s| s as u64),
            by_k,
            k: chosen.k,
            chosen_by: if s.k.is_some() { "given" } else { "silhouette" }.into(),
            clusters,
            crosstab: crosstab
                .into_iter()
                .map(|((cluster, segment), customers)| CrossTab {
                    cluster,
                    segment,
                    customers,
                })
                .collect(),
        }),
        kmeans_customers: customers
            .iter()
            .zip(&chosen.labels)
            .map(|(c, &cluster)| Member {
                customer_id: c.customer_id,
                cluster,
            })
            .collect(),
        kmeans_note: None,
    })
}
