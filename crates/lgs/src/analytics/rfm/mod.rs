//! RFM segmentation (recency, frequency, monetary) over every line with a customer,
//! cancellations included.
//!
//! * recency: whole days from the customer's last invoice timestamp to the as-of date
//!   (floored, as Python's `(as_of - last).days`);
//! * frequency: distinct invoices; monetary: the sum of line amounts (may be negative);
//! * scores 1–5 by 5-quantile bins ([`super::quantile`], pandas `qcut` semantics):
//!   R from recency (most recent = 5), F from the rank of frequency with ties broken by
//!   ascending customer_id, M from monetary;
//! * the segment from R and F (see [`SEGMENT_SQL`]).

mod charts;

use async_trait::async_trait;
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use serde::Serialize;

use super::quantile::{qcut_edges, qcut_levels};
use super::section::count;
use super::{
    Analysis, INVOICE_LINES, Intermediate, PassColumn, ResultTable, Section, Shared, TableBuilder,
    TextTable, Wanted, both, midnight_micros, order_stats, query,
};
use crate::error::Result;
use crate::format::{group, percent};

/// The per-customer values, computed once per report.
pub const RFM_VALUES_TABLE: Intermediate = Intermediate {
    name: RFM_VALUES,
    sql: values_sql,
};

/// The RFM analysis.
pub struct RfmAnalysis;

#[async_trait]
impl Analysis for RfmAnalysis {
    fn name(&self) -> &'static str {
        "rfm"
    }

    /// Neither the month nor the eligible amount.
    fn pass_columns(&self) -> &'static [PassColumn] {
        &[]
    }

    fn needs(&self) -> &'static [&'static Intermediate] {
        &[&RFM_VALUES_TABLE]
    }

    async fn run(&self, ctx: &SessionContext, shared: &Shared) -> Result<Section> {
        let as_of = shared.as_of(ctx).await?;
        let r = shared.rfm(ctx).await?;
        let as_of = as_of.format("%Y-%m-%d").to_string();
        let mut section = Section::new(self.name(), "RFM segments", (*r).clone());
        section.text = vec![text(&r.rfm_segments, &as_of)];
        section.tables = tables(&r)?;
        section.chart_rank = 30;
        section.charts = charts::charts(&r, &as_of);
        Ok(section)
    }
}

fn text(segments: &[SegmentRow], as_of: &str) -> TextTable {
    TextTable {
        heading: format!("RFM segments (as of {as_of})"),
        header: [
            "segment",
            "customers",
            "share",
            "avg recency (days)",
            "avg frequency",
            "avg monetary (GBP)",
            "revenue share",
        ]
        .map(String::from)
        .to_vec(),
        rows: segments
            .iter()
            .map(|s| {
                vec![
                    s.segment.clone(),
                    group(s.customers as f64, 0),
                    percent(Some(s.customer_share * 100.0)),
                    group(s.avg_recency_days, 1),
                    group(s.avg_frequency, 2),
                    group(s.avg_monetary, 2),
                    percent(Some(s.revenue_share * 100.0)),
                ]
            })
            .collect(),
        left: 1,
        note: String::new(),
    }
}

/// The segments' summary and one row per customer.
fn tables(r: &Rfm) -> Result<Vec<ResultTable>> {
    let s = &r.rfm_segments;
    let segments = TableBuilder::new()
        .utf8("segment", s.iter().map(|s| &s.segment))
        .i64("customers", s.iter().map(|s| count(s.customers)))
        .f64(
            "avg_recency_days",
            s.iter().map(|s| Some(s.avg_recency_days)),
        )
        .f64("avg_frequency", s.iter().map(|s| Some(s.avg_frequency)))
        .f64("avg_monetary", s.iter().map(|s| Some(s.avg_monetary)))
        .f64("customer_share", s.iter().map(|s| Some(s.customer_share)))
        .f64("revenue_share", s.iter().map(|s| Some(s.revenue_share)))
        .build("rfm_segments", &["segment"])?;
    let c = &r.rfm_customers;
    let score = |get: fn(&RfmCustomer) -> u8| c.iter().map(move |x| Some(get(x) as i64));
    let mut customers = TableBuilder::new()
        .i64("customer_id", c.iter().map(|c| Some(c.customer_id)))
        .i64("recency", c.iter().map(|c| Some(c.recency)))
        .i64("frequency", c.iter().map(|c| count(c.frequency)))
        .f64("monetary", c.iter().map(|c| Some(c.monetary)))
        .i64("r", score(|c| c.r))
        .i64("f", score(|c| c.f))
        .i64("m", score(|c| c.m))
        .utf8("segment", c.iter().map(|c| &c.segment))
        .build("rfm_customers", &["customer_id"])?;
    customers.detail = true;
    Ok(vec![segments, customers])
}

/// One customer's RFM values, scores and segment.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RfmCustomer {
    pub customer_id: i64,
    pub recency: i64,
    pub frequency: u64,
    pub monetary: f64,
    pub r: u8,
    pub f: u8,
    pub m: u8,
    pub segment: String,
}

/// Per-segment summary.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SegmentRow {
    pub segment: String,
    pub customers: u64,
    pub avg_recency_days: f64,
    pub avg_frequency: f64,
    pub avg_monetary: f64,
    /// Share of all RFM customers.
    pub customer_share: f64,
    /// Share of the total monetary value of all RFM customers.
    pub revenue_share: f64,
}

/// The qcut edges used for the scores (six each: min, four inner edges, max).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct RfmEdges {
    pub recency: Vec<f64>,
    pub frequency_rank: Vec<f64>,
    pub monetary: Vec<f64>,
}

/// The RFM section: the segments' summary, the score edges, and (left out of the
/// JSON document) one row per customer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rfm {
    pub rfm_segments: Vec<SegmentRow>,
    pub rfm_edges: RfmEdges,
    #[serde(skip)]
    pub rfm_customers: Vec<RfmCustomer>,
}

/// The segment of an (R, F) pair, as SQL over columns `r` and `f`.
pub const SEGMENT_SQL: &str = "CASE \
    WHEN r <= 2 AND f <= 2 THEN 'Hibernating' \
    WHEN r <= 2 AND f <= 4 THEN 'At Risk' \
    WHEN r <= 2 THEN 'Can''t Lose' \
    WHEN r = 3 AND f <= 2 THEN 'About to Sleep' \
    WHEN r = 3 AND f = 3 THEN 'Need Attention' \
    WHEN r <= 4 AND f >= 4 THEN 'Loyal Customers' \
    WHEN r = 4 AND f = 1 THEN 'Promising' \
    WHEN r = 5 AND f = 1 THEN 'New Customers' \
    WHEN f <= 3 THEN 'Potential Loyalists' \
    ELSE 'Champions' END";

/// Name under which the per-customer values are registered during a report.
pub const RFM_VALUES: &str = "lgs_rfm_values";

/// Per-customer last invoice timestamp, frequency and monetary (recency is derived
/// from the last timestamp when the as-of date is known, see [`rfm`]).
pub fn values_sql() -> String {
    format!(
        "SELECT customer_id, max(last_date) AS last_date, \
           count(DISTINCT invoice_no) AS frequency, \
           sum(amount) AS monetary \
         FROM {INVOICE_LINES} WHERE customer_id IS NOT NULL GROUP BY customer_id"
    )
}

/// The per-customer values with recency in whole days to `$1` (the as-of instant in
/// µs), floored as Python's `timedelta.days`; monetary as a double, and exact
/// (decimal) in `monetary_exact` for sums over customers, which are then the same
/// bits whatever order the partitions add up in.
fn with_recency_sql() -> String {
    format!(
        "SELECT customer_id, \
           CAST(floor(CAST($1 - CAST(last_date AS BIGINT) AS DOUBLE) / 86400000000.0) AS BIGINT) \
             AS recency, \
           frequency, CAST(monetary AS DOUBLE) AS monetary, monetary AS monetary_exact \
         FROM {RFM_VALUES}"
    )
}

/// `CASE` assigning 1..5 by upper edges given as parameters `$first..$first+3`.
fn bin_sql(column: &str, first: usize, descending: bool) -> String {
    let mut sql = String::from("CASE");
    for i in 0..4 {
        let label = if descending { 5 - i } else { i + 1 };
        sql.push_str(&format!(" WHEN {column} <= ${} THEN {label}", first + i));
    }
    let last = if descending { 1 } else { 5 };
    sql.push_str(&format!(" ELSE {last} END"));
    sql
}

/// The as-of parameter of [`with_recency_sql`]: the midnight of `as_of` in µs.
fn as_of_param(as_of: NaiveDate) -> ScalarValue {
    ScalarValue::Int64(Some(midnight_micros(as_of)))
}

/// Computes RFM for every customer from the [`RFM_VALUES`] intermediate, with
/// recency measured to `as_of`.
pub async fn rfm(ctx: &SessionContext, as_of: NaiveDate) -> Result<Rfm> {
    let base = with_recency_sql();
    let as_of = vec![as_of_param(as_of)];
    let levels = qcut_levels();
    let wanted = Wanted {
        levels: &levels,
        ..Wanted::default()
    };
    let values_of =
        |column| order_stats(ctx, "RFM quantiles", &base, column, &wanted, as_of.clone());
    let (recency, monetary) = both(ctx, values_of("recency"), values_of("monetary")).await?;
    let n = recency.n;
    if n == 0 {
        return Ok(Rfm {
            rfm_customers: vec![],
            rfm_segments: vec![],
            rfm_edges: RfmEdges::default(),
        });
    }
    let edges = RfmEdges {
        recency: qcut_edges(n, |i| recency.at(i)).to_vec(),
        // Frequency ranks are 1..=n, so their quantiles need no query.
        frequency_rank: qcut_edges(n, |i| (i + 1) as f64).to_vec(),
        monetary: qcut_edges(n, |i| monetary.at(i)).to_vec(),
    };

    let mut params = as_of;
    for e in [&edges.recency, &edges.frequency_rank, &edges.monetary] {
        params.extend(e[1..5].iter().map(|v| ScalarValue::Float64(Some(*v))));
    }
    let scored = format!(
        "SELECT customer_id, recency, frequency, monetary, monetary_exact, r, f, m, \
           {SEGMENT_SQL} AS segment FROM ( \
           SELECT customer_id, recency, frequency, monetary, monetary_exact, \
             {r} AS r, {f} AS f, {m} AS m \
           FROM (SELECT *, row_number() OVER (ORDER BY frequency, customer_id) AS f_rank \
                 FROM ({base})))",
        r = bin_sql("CAST(recency AS DOUBLE)", 2, true),
        f = bin_sql("CAST(f_rank AS DOUBLE)", 6, false),
        m = bin_sql("monetary", 10, false),
    );

    // The customers and the segments' summary, at once.
    let scores_sql = format!("{scored} ORDER BY customer_id");
    let summary_sql = format!(
        "SELECT segment, count(*) AS customers, avg(recency) AS avg_recency_days, \
           avg(frequency) AS avg_frequency, \
           CAST(sum(monetary_exact) AS DOUBLE) / CAST(count(*) AS DOUBLE) AS avg_monetary, \
           CAST(count(*) AS DOUBLE) / CAST(sum(count(*)) OVER () AS DOUBLE) AS customer_share, \
           CAST(sum(monetary_exact) AS DOUBLE) / CAST(sum(sum(monetary_exact)) OVER () AS DOUBLE) \
             AS revenue_share \
         FROM ({scored}) GROUP BY segment ORDER BY customers DESC, segment"
    );
    let scores = query(ctx, "RFM scores", &scores_sql, params.clone());
    let summary = query(ctx, "RFM segments", &summary_sql, params);
    let (rows, summary) = both(ctx, scores, summary).await?;
    let mut customers = Vec::with_capacity(rows.len());
    rows.for_each(|r| {
        customers.push(RfmCustomer {
            customer_id: r.i64("customer_id")?.unwrap_or_default(),
            recency: r.i64("recency")?.unwrap_or_default(),
            frequency: r.u64("frequency")?,
            monetary: r.f64("monetary")?.unwrap_or_default(),
            r: r.u64("r")? as u8,
            f: r.u64("f")? as u8,
            m: r.u64("m")? as u8,
            segment: r.string("segment")?.unwrap_or_default(),
        });
        Ok(())
    })?;

    let mut segments = Vec::new();
    summary.for_each(|r| {
        segments.push(SegmentRow {
            segment: r.string("segment")?.unwrap_or_default(),
            customers: r.u64("customers")?,
            avg_recency_days: r.f64("avg_recency_days")?.unwrap_or(f64::NAN),
            avg_frequency: r.f64("avg_frequency")?.unwrap_or(f64::NAN),
            avg_monetary: r.f64("avg_monetary")?.unwrap_or(f64::NAN),
            customer_share: r.f64("customer_share")?.unwrap_or(f64::NAN),
            revenue_share: r.f64("revenue_share")?.unwrap_or(f64::NAN),
        });
        Ok(())
    })?;
    Ok(Rfm {
        rfm_customers: customers,
        rfm_segments: segments,
        rfm_edges: edges,
    })
}
