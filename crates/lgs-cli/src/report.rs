//! `lgs report` and the commands that run some of its analyses with their own
//! options (`lgs clv`): one path from the warehouse through the analyses to every
//! output.

use std::sync::Arc;

use anyhow::Result;
use datafusion::prelude::SessionContext;
use lgs::Warehouse;
use lgs::analytics::{Analysis, Report, ReportOptions};
use lgs::output::{self, Sink};
use lgs::session::{Engine, Limits};
use lgs::warehouse::TableInfo;

use crate::args::{Command, ReportArgs, ReportCommand, ReportFormat};
use crate::commands::explain_cluster_error;

/// A report, or the analyses one command runs with its own options (`lgs clv`,
/// `lgs basket`): which analyses, and the report's flags.
#[derive(Clone)]
pub struct Run {
    pub analyses: Vec<Arc<dyn Analysis>>,
    pub args: ReportArgs,
}

impl Run {
    /// The run a command asks for (`None`: the command is not a report or an
    /// analysis); an analysis's options that do not fit together are an error.
    pub fn of(command: &Command) -> Result<Option<Run>> {
        let (analyses, args) = match command {
            Command::Report(r) => (r.analyses()?, &r.report),
            Command::Clv(a) => (a.analyses(), &a.report),
            Command::Kmeans(a) => (vec![a.analysis()], &a.report),
            Command::Experiment(a) if a.command.is_none() => (vec![a.analysis()?], &a.report),
            Command::Basket(a) => (vec![a.analysis()], &a.report),
            Command::Recommend(a) => (vec![a.analysis()], &a.report),
            Command::Trends(a) => (vec![a.analysis()], &a.report),
            _ => return Ok(None),
        };
        Ok(Some(Run {
            analyses,
            args: args.clone(),
        }))
    }

    /// Computes the report over the warehouse (as of the time-travel flags) and
    /// writes it to the outputs the flags ask for; damage is explained.
    pub async fn execute(&self, warehouse: Warehouse, limits: &Limits, quiet: bool) -> Result<()> {
        self.explained(warehouse, async |wh| report(wh, self, limits, quiet).await)
            .await
    }

    /// Computes the report (as of the time-travel flags), without writing it.
    pub async fn compute(&self, warehouse: &Warehouse, limits: &Limits) -> Result<Report> {
        self.explained(warehouse.clone(), async |wh| {
            Ok(self.session(wh, limits).await?.0)
        })
        .await
    }

    /// `work` over the warehouse as of the time-travel flags, its cluster and
    /// damage errors explained.
    async fn explained<T>(
        &self,
        warehouse: Warehouse,
        work: impl AsyncFnOnce(&Warehouse) -> Result<T>,
    ) -> Result<T> {
        let warehouse = self.args.travel.apply(warehouse)?;
        let result = work(&warehouse)
            .await
            .map_err(|e| explain_cluster_error(e, &warehouse, &self.args.cluster));
        crate::maintenance::explain_damage(result, &warehouse).await
    }

    /// The report, and the session and tables it was computed in.
    async fn session(
        &self,
        warehouse: &Warehouse,
        limits: &Limits,
    ) -> Result<(Report, SessionContext, Vec<TableInfo>)> {
        let args = &self.args;
        let engine = Engine::from_url(args.cluster.cluster.as_deref(), limits.clone());
        let (ctx, tables) = lgs::session::context_on(warehouse, &engine).await?;
        lgs::session::require_retail(warehouse, &tables)?;
        if !args.recompute && !engine.is_cluster() {
            let retail = tables.iter().find(|t| t.name == lgs::schema::RETAIL_TABLE);
            let version = retail.map_or(0, |t| t.version);
            lgs::live::attach(warehouse, &ctx, version).await?;
        }
        let options = ReportOptions { as_of: args.as_of };
        let report = lgs::analytics::run_analyses(&ctx, &options, &self.analyses).await?;
        Ok((report, ctx, tables))
    }
}

/// Computes the report and writes it to the outputs `run`'s flags ask for.
pub(crate) async fn report(
    warehouse: &Warehouse,
    run: &Run,
    limits: &Limits,
    quiet: bool,
) -> Result<()> {
    let (report, ctx, tables) = run.session(warehouse, limits).await?;
    let args = &run.args;
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

impl ReportCommand {
    /// The report's analyses, as `--sections` and `--skip` choose them; a name that
    /// is not a section is an error listing those there are.
    pub fn analyses(&self) -> Result<Vec<Arc<dyn Analysis>>> {
        let all = lgs::analytics::analyses();
        let names: Vec<&str> = all.iter().map(|a| a.name()).collect();
        for name in self.sections.iter().chain(&self.skip) {
            if !names.contains(&name.as_str()) {
                anyhow::bail!(
                    "no report section {name:?}; the sections are {}",
                    names.join(", ")
                );
            }
        }
        let chosen: Vec<Arc<dyn Analysis>> = all
            .into_iter()
            .filter(|a| self.sections.is_empty() || self.sections.iter().any(|s| s == a.name()))
            .filter(|a| !self.skip.iter().any(|s| s == a.name()))
            .collect();
        if chosen.is_empty() {
            anyhow::bail!("--skip leaves no section of the report to compute");
        }
        Ok(chosen)
    }
}
