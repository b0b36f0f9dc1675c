//! `lgs report` and the commands that run some of its analyses with their own
//! options (`lgs clv`): one path from the warehouse through the analyses to every
//! output.

use std::sync::Arc;

use anyhow::Result;
use lgs::Warehouse;
use lgs::analytics::{Analysis, ReportOptions};
use lgs::output::{self, Sink};
use lgs::session::{Engine, Limits};

use crate::args::{ReportArgs, ReportFormat};
use crate::commands::explain_cluster_error;

/// Runs `analyses` over the warehouse (as of the time-travel flags) and writes the
/// report to the outputs `args` asks for; damage is explained.
pub async fn run(
    warehouse: Warehouse,
    args: &ReportArgs,
    analyses: &[Arc<dyn Analysis>],
    limits: &Limits,
    quiet: bool,
) -> Result<()> {
    let warehouse = args.travel.apply(warehouse)?;
    let result = report(&warehouse, args, analyses, limits, quiet)
        .await
        .map_err(|e| explain_cluster_error(e, &warehouse, &args.cluster));
    crate::maintenance::explain_damage(result, &warehouse).await
}

/// Runs `analyses` and writes the report to the outputs `args` asks for.
pub(crate) async fn report(
    warehouse: &Warehouse,
    args: &ReportArgs,
    analyses: &[Arc<dyn Analysis>],
    limits: &Limits,
    quiet: bool,
) -> Result<()> {
    let engine = Engine::from_url(args.cluster.cluster.as_deref(), limits.clone());
    let (ctx, tables) = lgs::session::context_on(warehouse, &engine).await?;
    lgs::session::require_retail(warehouse, &tables)?;
    if !args.recompute && !engine.is_cluster() {
        let retail = tables.iter().find(|t| t.name == lgs::schema::RETAIL_TABLE);
        let version = retail.map_or(0, |t| t.version);
        lgs::live::attach(warehouse, &ctx, version).await?;
    }
    let options = ReportOptions { as_of: args.as_of };
    let report = lgs::analytics::run_analyses(&ctx, &options, analyses).await?;
    let visual = args.html.is_some() || args.png.is_some();
    let format = match args.format {
        Some(f) => Some(f),
        None if visual => None,
        None => Some(ReportFormat::Table),
    };
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    match format {
        None => {}
        Some(ReportFormat::Table) => sinks.push(Box::new(output::terminal::Terminal)),
        Some(ReportFormat::Json) => sinks.push(Box::new(output::json::Json)),
        Some(ReportFormat::Csv) => sinks.push(Box::new(output::csv::Csv)),
    }
    if let Some(path) = &args.html {
        sinks.push(Box::new(output::visual::Html {
            path: path.clone(),
            ctx: ctx.clone(),
            tables: tables.clone(),
            info: lgs::html::PageInfo {
                warehouse: warehouse.location(),
                generated: chrono::Local::now().format("%Y-%m-%d %H:%M").to_string(),
                nav: vec![],
                top: String::new(),
            },
        }));
    }
    if let Some(dir) = &args.png {
        sinks.push(Box::new(output::visual::Png(dir.clone())));
    }
    if let Some(dir) = &args.out {
        sinks.push(Box::new(output::files::Files(dir.clone())));
    }
    if let Some(url) = &args.to {
        sinks.push(Box::new(output::postgres::Postgres(url.clone())));
    }
    if args.save {
        sinks.push(Box::new(output::delta::Delta(warehouse.clone())));
    }
    output::write_all(&report, &sinks, |line| {
        if !quiet {
            eprintln!("{line}");
        }
    })
    .await?;
    Ok(())
}
