//! The clusters' profiles and names, and how the section reads in a terminal, as
//! result tables and as a chart.

use lgs_models::kmeans::Clustering;

use super::{Cluster, KMeansResult, KMeansSummary};
use crate::analytics::rfm::RfmCustomer;
use crate::analytics::section::count;
use crate::analytics::{ResultTable, TableBuilder, TextTable};
use crate::charts::svg::{BLUE, RED};
use crate::charts::{BarLine, Chart, DataTable, Series, bar_line};
use crate::error::Result;
use crate::format::group;

/// A name from a cluster's centre (standardised features): recent or lapsed,
/// frequent or occasional, high or low spend, each against the average customer.
fn name(centre: &[f64]) -> String {
    let recency = if centre[0] < 0.0 { "Recent" } else { "Lapsed" };
    let frequency = if centre[1] > 0.0 {
        "frequent"
    } else {
        "occasional"
    };
    let spend = if centre[2] > 0.0 {
        "high spend"
    } else {
        "low spend"
    };
    format!("{recency}, {frequency}, {spend}")
}

/// Each cluster's size, means of the raw values, revenue share and name (a name
/// two clusters would share gets the cluster's number).
pub(super) fn profile(customers: &[&RfmCustomer], c: &Clustering) -> Vec<Cluster> {
    let total: f64 = customers.iter().map(|c| c.monetary).sum();
    let mut out: Vec<Cluster> = (0..c.k)
        .map(|k| {
            let members: Vec<&&RfmCustomer> = customers
                .iter()
                .zip(&c.labels)
                .filter(|(_, l)| **l == k)
                .map(|(m, _)| m)
                .collect();
            let n = members.len().max(1) as f64;
            let revenue: f64 = members.iter().map(|m| m.monetary).sum();
            Cluster {
                cluster: k,
                name: name(&c.centres[k * 3..k * 3 + 3]),
                customers: members.len() as u64,
                share: members.len() as f64 / customers.len() as f64,
                mean_recency: members.iter().map(|m| m.recency as f64).sum::<f64>() / n,
                mean_frequency: members.iter().map(|m| m.frequency as f64).sum::<f64>() / n,
                mean_monetary: revenue / n,
                revenue_share: revenue / total,
            }
        })
        .collect();
    let names: Vec<String> = out.iter().map(|c| c.name.clone()).collect();
    for c in &mut out {
        if names.iter().filter(|n| **n == c.name).count() > 1 {
            c.name = format!("{} ({})", c.name, c.cluster);
        }
    }
    out
}

/// k, inertia and silhouette of each k tried, formatted (the terminal's table and
/// the chart's numbers).
fn by_k_rows(s: &KMeansSummary) -> Vec<Vec<String>> {
    s.by_k
        .iter()
        .map(|b| {
            vec![
                b.k.to_string(),
                group(b.inertia, 1),
                format!("{:.4}", b.silhouette),
            ]
        })
        .collect()
}

/// The clusters and the k tried, as the terminal shows them.
pub(super) fn text(r: &KMeansResult) -> Vec<TextTable> {
    let Some(s) = &r.kmeans else {
        return vec![TextTable {
            heading: "Segments by k-means".into(),
            note: r.kmeans_note.clone().unwrap_or_default(),
            ..TextTable::default()
        }];
    };
    let clusters = TextTable {
        heading: format!(
            "Segments by k-means (k = {}, chosen by {}; {} customers)",
            s.k,
            s.chosen_by,
            group(s.customers as f64, 0)
        ),
        header: [
            "cluster",
            "name",
            "customers",
            "avg recency (days)",
            "avg frequency",
            "avg monetary (GBP)",
            "revenue share",
        ]
        .map(String::from)
        .to_vec(),
        rows: s
            .clusters
            .iter()
            .map(|c| {
                vec![
                    c.cluster.to_string(),
                    c.name.clone(),
                    group(c.customers as f64, 0),
                    group(c.mean_recency, 1),
                    group(c.mean_frequency, 2),
                    group(c.mean_monetary, 2),
                    format!("{}%", group(c.revenue_share * 100.0, 1)),
                ]
            })
            .collect(),
        left: 2,
        note: String::new(),
    };
    let ks = TextTable {
        heading: "k-means by k".into(),
        header: ["k", "inertia", "silhouette"].map(String::from).to_vec(),
        rows: by_k_rows(s),
        left: 0,
        note: s
            .silhouette_sample
            .map(|n| format!("silhouette on a seeded sample of {n} customers"))
            .unwrap_or_default(),
    };
    vec![clusters, ks]
}

/// The clusters, the k tried, the cross-tab with RFM segments, and each customer's
/// cluster.
pub(super) fn tables(r: &KMeansResult) -> Result<Vec<ResultTable>> {
    let Some(s) = &r.kmeans else {
        return Ok(vec![]);
    };
    let c = &s.clusters;
    let clusters = TableBuilder::new()
        .i64("cluster", c.iter().map(|c| Some(c.cluster as i64)))
        .utf8("name", c.iter().map(|c| &c.name))
        .i64("customers", c.iter().map(|c| count(c.customers)))
        .f64("share", c.iter().map(|c| Some(c.share)))
        .f64("mean_recency", c.iter().map(|c| Some(c.mean_recency)))
        .f64("mean_frequency", c.iter().map(|c| Some(c.mean_frequency)))
        .f64("mean_monetary", c.iter().map(|c| Some(c.mean_monetary)))
        .f64("revenue_share", c.iter().map(|c| Some(c.revenue_share)))
        .build("kmeans_clusters", &["cluster"])?;
    let by_k = TableBuilder::new()
        .i64("k", s.by_k.iter().map(|b| Some(b.k as i64)))
        .f64("inertia", s.by_k.iter().map(|b| Some(b.inertia)))
        .f64("silhouette", s.by_k.iter().map(|b| Some(b.silhouette)))
        .build("kmeans_by_k", &["k"])?;
    let x = &s.crosstab;
    let crosstab = TableBuilder::new()
        .i64("cluster", x.iter().map(|x| Some(x.cluster as i64)))
        .utf8("segment", x.iter().map(|x| &x.segment))
        .i64("customers", x.iter().map(|x| count(x.customers)))
        .build("kmeans_rfm", &["cluster", "segment"])?;
    let m = &r.kmeans_customers;
    let mut members = TableBuilder::new()
        .i64("customer_id", m.iter().map(|m| Some(m.customer_id)))
        .i64("cluster", m.iter().map(|m| Some(m.cluster as i64)))
        .build("kmeans_customers", &["customer_id"])?;
    members.detail = true;
    Ok(vec![clusters, by_k, crosstab, members])
}

/// Inertia (bars) and silhouette (line) by k.
pub(super) fn charts(r: &KMeansResult) -> Vec<Chart> {
    let Some(s) = &r.kmeans else {
        return vec![];
    };
    let id = "kmeans-k";
    let title = "k-means: how many segments?";
    let subtitle = format!(
        "Inertia (bars) and silhouette (line) by k; k = {} chosen by {}",
        s.k, s.chosen_by
    );
    let categories: Vec<String> = s.by_k.iter().map(|b| b.k.to_string()).collect();
    let svg = bar_line(&BarLine {
        id,
        title,
        subtitle: Some(&subtitle),
        categories: categories.clone(),
        x_label: "k",
        bars: vec![Series {
            name: "Inertia".into(),
            values: s.by_k.iter().map(|b| Some(b.inertia)).collect(),
            color: BLUE,
        }],
        stacked: false,
        left_label: "Inertia",
        line: Some(Series {
            name: "Silhouette".into(),
            values: s.by_k.iter().map(|b| Some(b.silhouette)).collect(),
            color: RED,
        }),
        right_label: "Silhouette",
        right_percent: false,
    });
    let table = DataTable {
        header: ["k", "inertia", "silhouette"].map(String::from).to_vec(),
        rows: by_k_rows(s),
    };
    vec![Chart {
        id: id.into(),
        title: title.into(),
        svg,
        table,
    }]
}
