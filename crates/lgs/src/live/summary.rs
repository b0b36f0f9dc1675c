//! What the dashboard pushes to its open pages when `retail` changes: the latest
//! day's sales and orders, orders per minute over the data's last hour, and the
//! monthly metrics with their charts. Everything is read from the pass over the
//! lines, so over a session attached to the live state ([`super::attach`]) it costs
//! time in proportion to the state, not the table.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::analytics::monthly::MonthlyAnalysis;
use crate::analytics::{
    Analysis, INVOICE_LINES, MonthRow, Monthly, ReportOptions, Section, Shared, query, run_analyses,
};
use crate::charts::svg::{BLUE, RED};
use crate::charts::{BarLine, Chart, DataTable, Series, bar_line};
use crate::error::Result;
use crate::format::group;

/// The numbers of a moment of the data (see the module's documentation).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Now {
    /// The last invoice's timestamp (`YYYY-MM-DD HH:MM:SS`).
    pub latest: Option<String>,
    /// The calendar day of the last invoice.
    pub day: Option<String>,
    /// That day's net sales (cancellations deducted).
    pub day_sales: f64,
    /// Orders placed that day (invoices that are not cancellations).
    pub day_orders: u64,
    /// Each minute of the hour up to the last invoice that has invoices, in order.
    pub minutes: Vec<Minute>,
}

/// One minute's invoices.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Minute {
    /// `HH:MM`.
    pub minute: String,
    pub orders: u64,
    pub sales: f64,
}

/// A chart as the page swaps it in: its id and SVG.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveChart {
    pub id: String,
    pub svg: String,
}

/// What one push carries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Live {
    /// The `retail` version the numbers come from.
    pub version: u64,
    pub now: Now,
    pub monthly: Vec<MonthRow>,
    /// The monthly charts and the orders per minute.
    pub charts: Vec<LiveChart>,
}

/// Computes the push for `retail` at `version` over `ctx`.
pub async fn live(ctx: &SessionContext, version: u64, options: &ReportOptions) -> Result<Live> {
    let analyses: [Arc<dyn Analysis>; 2] = [Arc::new(MonthlyAnalysis), Arc::new(NowAnalysis)];
    let report = run_analyses(ctx, options, &analyses).await?;
    let now = report.part::<Now>().cloned().expect("the now section");
    let monthly = report
        .part::<Monthly>()
        .map(|m| m.monthly.clone())
        .unwrap_or_default();
    let charts = report
        .charts()
        .map(|c| LiveChart {
            id: c.id.clone(),
            svg: c.svg.clone(),
        })
        .collect();
    Ok(Live {
        version,
        now,
        monthly,
        charts,
    })
}

/// The latest day and hour of the data, as a section.
pub struct NowAnalysis;

#[async_trait]
impl Analysis for NowAnalysis {
    fn name(&self) -> &'static str {
        "now"
    }

    async fn run(&self, ctx: &SessionContext, _: &Shared) -> Result<Section> {
        let now = now(ctx).await?;
        let mut section = Section::new(self.name(), "The latest day and hour", now.clone());
        section.chart_rank = 5;
        section.charts = vec![per_minute(&now)];
        Ok(section)
    }
}

/// The latest day's and hour's numbers from the pass over the lines.
async fn now(ctx: &SessionContext) -> Result<Now> {
    let sql = format!(
        "WITH latest AS (SELECT max(last_date) AS t, max(day) AS d FROM {INVOICE_LINES}) \
         SELECT to_char(t, '%Y-%m-%d %H:%M:%S') AS latest, \
           to_char(CAST(t AS DATE), '%Y-%m-%d') AS day, \
           (SELECT CAST(sum(amount) AS DOUBLE) FROM {INVOICE_LINES}, latest WHERE day = d) \
             AS day_sales, \
           (SELECT count(DISTINCT invoice_no) FROM {INVOICE_LINES}, latest \
             WHERE day = d AND NOT is_cancellation) AS day_orders \
         FROM latest"
    );
    let rows = query(ctx, "the latest day", &sql, vec![]).await?;
    let mut now = Now {
        latest: None,
        day: None,
        day_sales: 0.0,
        day_orders: 0,
        minutes: vec![],
    };
    rows.for_each(|r| {
        now.latest = r.string("latest")?;
        now.day = r.string("day")?;
        now.day_sales = r.f64("day_sales")?.unwrap_or(0.0);
        now.day_orders = r.u64("day_orders")?;
        Ok(())
    })?;
    let sql = format!(
        "WITH latest AS (SELECT max(last_date) AS t FROM {INVOICE_LINES}) \
         SELECT to_char(date_trunc('minute', last_date), '%H:%M') AS minute, \
           count(DISTINCT CASE WHEN NOT is_cancellation THEN invoice_no END) AS orders, \
           CAST(sum(amount) AS DOUBLE) AS sales \
         FROM {INVOICE_LINES}, latest \
         WHERE last_date > t - INTERVAL '1' HOUR \
         GROUP BY date_trunc('minute', last_date) ORDER BY date_trunc('minute', last_date)"
    );
    let rows = query(ctx, "orders per minute", &sql, vec![]).await?;
    rows.for_each(|r| {
        now.minutes.push(Minute {
            minute: r.string("minute")?.unwrap_or_default(),
            orders: r.u64("orders")?,
            sales: r.f64("sales")?.unwrap_or(0.0),
        });
        Ok(())
    })?;
    Ok(now)
}

/// Orders (bars) and sales (line) per minute over the last hour of the data.
fn per_minute(now: &Now) -> Chart {
    let title = "Orders per minute";
    let subtitle = match &now.latest {
        Some(t) => format!("The hour up to the last invoice ({t}); minutes without one left out"),
        None => "No invoice yet".to_string(),
    };
    let m = &now.minutes;
    let svg = bar_line(&BarLine {
        id: "orders-per-minute",
        title,
        subtitle: Some(&subtitle),
        categories: m.iter().map(|m| m.minute.clone()).collect(),
        x_label: "Minute",
        bars: vec![Series {
            name: "Orders placed".into(),
            values: m.iter().map(|m| Some(m.orders as f64)).collect(),
            color: BLUE,
        }],
        stacked: false,
        left_label: "Orders",
        line: Some(Series {
            name: "Net sales (GBP)".into(),
            values: m.iter().map(|m| Some(m.sales)).collect(),
            color: RED,
        }),
        right_label: "Net sales (GBP)",
        right_percent: false,
    });
    Chart {
        id: "orders-per-minute".into(),
        title: title.into(),
        svg,
        table: DataTable {
            header: ["Minute", "Orders placed", "Net sales (GBP)"]
                .map(String::from)
                .to_vec(),
            rows: m
                .iter()
                .map(|m| {
                    vec![
                        m.minute.clone(),
                        group(m.orders as f64, 0),
                        group(m.sales, 2),
                    ]
                })
                .collect(),
        },
    }
}
