//! What each subcommand does, on top of the `lgs` library.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use comfy_table::Table;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use lgs::Warehouse;
use lgs::ingest::{Dataset, Files, IngestOptions, IngestReport, Postgres, WriteMode};
use lgs::output::group;
use lgs::session::{Engine, Limits};

use crate::args::{
    Cli, Command, DatasetArg, ExecutorArgs, IngestArgs, ModeArg, SchedulerArgs, SqlArgs, SqlOutput,
    SummaryFormat,
};
use crate::progress;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    let warehouse = cli.warehouse()?;
    let key = cli.global.pseudonym_key()?;
    let quiet = cli.global.quiet;
    let limits = cli.global.limits();
    match cli.command {
        Command::Ingest(args) => ingest(&warehouse, &args, key.clone(), quiet).await,
        Command::Forget(args) => {
            let reason = cli.global.reason.as_deref();
            crate::maintenance::forget(&warehouse, &args, reason, key.clone()).await
        }
        Command::Customer(args) => crate::analyses::customer(&warehouse, &args, &limits).await,
        Command::Experiment(crate::analyses::ExperimentArgs {
            command: Some(crate::analyses::ExperimentCommand::Plan(plan)),
            ..
        }) => crate::analyses::plan(&plan),
        command @ (Command::Report(_)
        | Command::Clv(_)
        | Command::Kmeans(_)
        | Command::Experiment(_)
        | Command::Basket(_)
        | Command::Recommend(_)
        | Command::Trends(_)) => {
            let run = crate::report::Run::of(&command)?.expect("an analysis");
            run.execute(warehouse, &limits, quiet).await
        }
        Command::Stream(args) => crate::stream::run_stream(&warehouse, &args, key, quiet).await,
        Command::Replay(args) => crate::stream::run_replay(&args).await,
        Command::Tables(f) => tables(&warehouse, f.format).await,
        Command::Describe { table, format } => describe(&warehouse, &table, format.format).await,
        Command::History { table, format } => history(&warehouse, &table, format.format).await,
        Command::Sql(args) => {
            let warehouse = args.travel.apply(warehouse)?;
            let result = sql(&warehouse, &args, &limits)
                .await
                .map_err(|e| explain_cluster_error(e, &warehouse, &args.cluster));
            crate::maintenance::explain_damage(result, &warehouse).await
        }
        Command::Restore(args) => crate::maintenance::restore(&warehouse, &args).await,
        Command::Check(args) => crate::maintenance::check(&warehouse, &args).await,
        Command::Repair(args) => crate::maintenance::repair(&warehouse, &args).await,
        Command::Optimize(args) => crate::maintenance::optimize(&warehouse, &args).await,
        Command::Audit(args) => crate::maintenance::audit(&warehouse, &args).await,
        Command::Key {
            command: crate::args::KeyCommand::New,
        } => {
            writeln!(std::io::stdout(), "{}", lgs::crypt::Keyring::new_key_line())?;
            Ok(())
        }
        Command::Vacuum(args) => crate::maintenance::vacuum(&warehouse, &args).await,
        Command::Live(args) => crate::maintenance::live(&warehouse, &args).await,
        Command::Generate(args) => {
            crate::generate::generate(&args, limits.threads.unwrap_or(0), quiet).await
        }
        Command::Serve(args) => {
            let policy = cli.global.policy.as_deref();
            crate::serving::serve(warehouse, &args, policy, limits, quiet).await
        }
        Command::Scheduler(args) => scheduler(&args, quiet).await,
        Command::Executor(args) => {
            let keyring = warehouse.keyring().cloned();
            executor(&args, limits.memory_limit, keyring, quiet).await
        }
        Command::Shell(cluster) => {
            let engine = Engine::from_url(cluster.cluster.as_deref(), limits);
            let (ctx, _) = lgs::session::context_on(&warehouse, &engine).await?;
            let failed = crate::shell::run(lgs::shell::Shell::new(ctx)).await?;
            if failed > 0 {
                anyhow::bail!("{failed} statement(s) failed");
            }
            Ok(())
        }
        Command::Demo { data, report: args } => {
            demo(&warehouse, data, &args, key, &limits, quiet).await
        }
    }
}

/// `lgs demo`: the bundled dataset (or `data`) ingested, then the report.
async fn demo(
    warehouse: &Warehouse,
    data: Option<PathBuf>,
    args: &crate::args::ReportArgs,
    key: Option<std::sync::Arc<[u8]>>,
    limits: &Limits,
    quiet: bool,
) -> Result<()> {
    let data = match data {
        Some(d) => d,
        None => bundled_dataset()?,
    };
    let paths = [data.display().to_string()];
    let options = IngestOptions {
        pseudonym_key: key,
        ..IngestOptions::default()
    };
    ingest_and_summarise(
        warehouse,
        &paths,
        &options,
        SummaryFormat::Text,
        quiet,
        true,
    )
    .await?;
    let run = crate::report::Run {
        analyses: lgs::analytics::analyses(),
        args: args.clone(),
    };
    crate::report::report(warehouse, &run, limits, quiet).await
}

/// The dataset the repository carries, found from the working directory or the
/// source tree the binary was built from.
fn bundled_dataset() -> Result<PathBuf> {
    let name = Path::new("data").join("online_retail_II.csv.zst");
    let candidates = [
        name.clone(),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(&name),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .with_context(|| {
            format!(
                "the bundled dataset {} was not found; pass --data PATH",
                name.display()
            )
        })
}

pub(crate) fn out() -> std::io::StdoutLock<'static> {
    std::io::stdout().lock()
}

async fn ingest(
    warehouse: &Warehouse,
    args: &IngestArgs,
    key: Option<std::sync::Arc<[u8]>>,
    quiet: bool,
) -> Result<()> {
    let options = ingest_options(args, key);
    if let Some(location) = &args.watch {
        return crate::stream::watch(warehouse, location, &options, args, quiet).await;
    }
    ingest_and_summarise(warehouse, &args.paths, &options, args.format, quiet, false).await
}

/// What `lgs ingest`'s flags ask of the ingest (`key`: the forget list's pseudonym key).
pub fn ingest_options(args: &IngestArgs, key: Option<std::sync::Arc<[u8]>>) -> IngestOptions {
    let dataset = match args.dataset {
        DatasetArg::Retail => Dataset::Retail,
        DatasetArg::Wdi => Dataset::Wdi {
            indicator: args.indicator.clone(),
            indicator_name: args.indicator_name.clone(),
        },
    };
    let mut options = IngestOptions {
        strict: args.strict,
        force: args.force,
        table: args.table.clone(),
        dataset,
        mode: match args.mode {
            ModeArg::Append => WriteMode::Append,
            ModeArg::Overwrite => WriteMode::Overwrite,
        },
        pseudonym_key: key,
        ..IngestOptions::default()
    }
    .with(Postgres {
        table: None,
        query: args.query.clone(),
        partitions: args.partitions.unwrap_or(0),
        partition_column: args.partition_column.clone(),
    });
    if !args.sheet.is_empty() {
        options = options.with(Files::sheets(args.sheet.clone()));
    }
    options
}

/// Runs an ingest and prints its summary (to stderr for `demo`, whose report
/// follows on stdout).
async fn ingest_and_summarise(
    warehouse: &Warehouse,
    paths: &[String],
    options: &IngestOptions,
    format: SummaryFormat,
    quiet: bool,
    to_stderr: bool,
) -> Result<()> {
    let progress = progress::for_ingest(quiet);
    let report = lgs::ingest::ingest(warehouse, paths, options, progress)
        .await
        .context("ingest failed; the warehouse is unchanged")?;
    if format == SummaryFormat::Json {
        writeln!(out(), "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(());
    }
    let text = ingest_summary(&report, options.target_table());
    if to_stderr {
        if !quiet {
            eprint!("{text}");
        }
    } else {
        write!(out(), "{text}")?;
    }
    Ok(())
}

/// The accounting's last term, when rows of forgotten customers were dropped.
fn forgotten(rows: u64) -> String {
    match rows {
        0 => String::new(),
        n => format!(" + {} forgotten", group(n as f64, 0)),
    }
}

pub(crate) fn ingest_summary(report: &IngestReport, table: &str) -> String {
    let mut s = String::new();
    for f in &report.files {
        match &f.skipped {
            Some(why) => s.push_str(&format!("skipped {}: {why}\n", f.path)),
            None => s.push_str(&format!(
                "{}: {} rows read = {} loaded + {} quarantined{}\n",
                f.path,
                group(f.rows_read as f64, 0),
                group(f.rows_loaded as f64, 0),
                group(f.rows_rejected as f64, 0),
                forgotten(f.rows_forgotten),
            )),
        }
    }
    match report.retail_version {
        Some(v) => {
            s.push_str(&format!(
                "ingested: {} rows read = {} loaded + {} quarantined{}; {table} is at version {v}",
                group(report.rows_read as f64, 0),
                group(report.rows_loaded as f64, 0),
                group(report.rows_rejected as f64, 0),
                forgotten(report.rows_forgotten),
            ));
            if let Some(rv) = report.rejected_version {
                s.push_str(&format!(
                    "; quarantined rows are in {table}_rejected (version {rv})"
                ));
            }
            s.push('\n');
        }
        None => s.push_str("nothing to ingest: every input was skipped\n"),
    }
    s
}

/// On a cluster, a warehouse file that an executor cannot open is the classic
/// deployment mistake (a local path that only this machine has): say so, above the
/// engine's error naming the file.
pub(crate) fn explain_cluster_error(
    err: anyhow::Error,
    warehouse: &Warehouse,
    cluster: &crate::args::ClusterArg,
) -> anyhow::Error {
    let Some(url) = &cluster.cluster else {
        return err;
    };
    let text = format!("{err:#}");
    if text.contains("encrypted footer but decryption properties were not provided") {
        err.context(format!(
            "an executor of the cluster at {url} has no key for the warehouse's encrypted \
             files: start every executor with the same --key-file (or LGS_KEY_FILE)"
        ))
    } else if text.contains("not found") && text.contains(&warehouse.location()) {
        err.context(format!(
            "an executor of the cluster at {url} cannot read the warehouse {}: the \
             scheduler and every executor must reach it at the same path (a shared \
             directory, or object storage)",
            warehouse.location()
        ))
    } else {
        err
    }
}

async fn scheduler(args: &SchedulerArgs, quiet: bool) -> Result<()> {
    let options = lgs::cluster::SchedulerOptions {
        bind: args.bind,
        external_host: args.external_host.clone(),
        executor_timeout: std::time::Duration::from_secs(args.executor_timeout),
    };
    if !quiet {
        eprintln!(
            "Ballista {} scheduler on {}; executors: lgs executor --scheduler {}; \
             queries: --cluster df://{}",
            lgs::cluster::BALLISTA_VERSION,
            args.bind,
            args.bind,
            args.bind
        );
    }
    tokio::select! {
        ran = lgs::cluster::run_scheduler(&options) => ran?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

async fn executor(
    args: &ExecutorArgs,
    memory_limit: Option<u64>,
    keyring: Option<std::sync::Arc<lgs::crypt::Keyring>>,
    quiet: bool,
) -> Result<()> {
    if args.grpc_bind.ip() != args.bind.ip() {
        anyhow::bail!(
            "--grpc-bind {} must be on the same host as --bind {}",
            args.grpc_bind,
            args.bind
        );
    }
    let options = lgs::cluster::ExecutorOptions {
        scheduler: args.scheduler.clone(),
        bind: args.bind,
        grpc_port: args.grpc_bind.port(),
        external_host: args.external_host.clone(),
        slots: args.slots,
        work_dir: args.work_dir.clone(),
        memory_limit,
        heartbeat: std::time::Duration::from_secs(args.heartbeat),
        keyring,
    };
    if !quiet {
        eprintln!(
            "Ballista {} executor on {} (gRPC {}), scheduler {}",
            lgs::cluster::BALLISTA_VERSION,
            args.bind,
            args.grpc_bind,
            args.scheduler
        );
    }
    tokio::select! {
        ran = lgs::cluster::run_executor(&options) => ran?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

pub(crate) fn text_table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    t
}

async fn tables(warehouse: &Warehouse, format: SummaryFormat) -> Result<()> {
    let tables = warehouse.tables().await?;
    if format == SummaryFormat::Json {
        writeln!(out(), "{}", serde_json::to_string_pretty(&tables)?)?;
        return Ok(());
    }
    if tables.is_empty() {
        writeln!(
            out(),
            "no tables in {} (run `lgs ingest FILE` or `lgs demo`)",
            warehouse.location()
        )?;
        return Ok(());
    }
    let mut t = text_table(&["table", "version", "rows", "files", "size"]);
    for info in &tables {
        t.add_row(vec![
            info.name.clone(),
            info.version.to_string(),
            group(info.rows as f64, 0),
            info.files.to_string(),
            format!("{:.1} MB", info.bytes as f64 / 1e6),
        ]);
    }
    writeln!(out(), "{t}")?;
    Ok(())
}

/// A table's columns as `lgs describe --format json` prints them.
pub fn columns_json(schema: &datafusion::arrow::datatypes::Schema) -> serde_json::Value {
    schema
        .fields()
        .iter()
        .map(|f| {
            serde_json::json!({
                "name": f.name(),
                "type": f.data_type().to_string(),
                "nullable": f.is_nullable(),
            })
        })
        .collect()
}

async fn describe(warehouse: &Warehouse, table: &str, format: SummaryFormat) -> Result<()> {
    let schema = warehouse.schema(table).await?;
    if format == SummaryFormat::Json {
        let fields = columns_json(&schema);
        writeln!(out(), "{}", serde_json::to_string_pretty(&fields)?)?;
        return Ok(());
    }
    let mut t = text_table(&["column", "type", "nullable"]);
    for f in schema.fields() {
        t.add_row(vec![
            f.name().clone(),
            f.data_type().to_string(),
            if f.is_nullable() { "yes" } else { "no" }.to_string(),
        ]);
    }
    writeln!(out(), "{t}")?;
    Ok(())
}

async fn history(warehouse: &Warehouse, table: &str, format: SummaryFormat) -> Result<()> {
    let commits = warehouse.history(table).await?;
    if format == SummaryFormat::Json {
        writeln!(out(), "{}", serde_json::to_string_pretty(&commits)?)?;
        return Ok(());
    }
    let mut t = text_table(&[
        "version",
        "timestamp",
        "operation",
        "rows added",
        "total rows",
        "sources",
        "by",
    ]);
    // Rows each commit added, less those a forget removed.
    let net = |c: &lgs::warehouse::CommitRecord| {
        let forgotten = match c.operation.as_str() {
            "DELETE" => c.lgs.as_ref().and_then(|f| f.rows_forgotten).unwrap_or(0),
            _ => 0,
        };
        c.rows_added.unwrap_or(0) as i64 - forgotten as i64
    };
    // Commits cleaned from the log (after a checkpoint) are not listed: start from
    // what the listed ones leave unexplained of the current rows.
    let current = warehouse.table_info(table).await?.rows as i64;
    let mut total = current - commits.iter().map(net).sum::<i64>();
    for c in &commits {
        total += net(c);
        let by = c
            .lgs
            .as_ref()
            .and_then(|f| f.actor.as_ref())
            .map(|a| match &a.reason {
                Some(why) => format!("{} ({}): {why}", a.user, a.role),
                None => format!("{} ({})", a.user, a.role),
            })
            .unwrap_or_default();
        let sources = c
            .lgs
            .iter()
            .flat_map(|f| &f.sources)
            .map(|s| {
                format!(
                    "{} ({} read, {} quarantined)",
                    s.path,
                    group(s.rows_read as f64, 0),
                    group(s.rows_rejected as f64, 0)
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        t.add_row(vec![
            c.version.to_string(),
            c.timestamp.clone().unwrap_or_default(),
            c.operation.clone(),
            match net(c) {
                n if n < 0 => group(n as f64, 0),
                _ => c.rows_added.map(|r| group(r as f64, 0)).unwrap_or_default(),
            },
            group(total.max(0) as f64, 0),
            sources,
            by,
        ]);
    }
    writeln!(out(), "{t}")?;
    Ok(())
}

async fn sql(warehouse: &Warehouse, args: &SqlArgs, limits: &Limits) -> Result<()> {
    use lgs::sql::SqlFormat;
    let text = match (&args.query, &args.file) {
        (Some(q), _) => q.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        (None, None) => unreachable!("clap requires a query or a file"),
    };
    let format = match args.format {
        SqlOutput::Table => SqlFormat::Table,
        SqlOutput::Json => SqlFormat::Json,
        SqlOutput::Csv => SqlFormat::Csv,
        SqlOutput::Parquet => SqlFormat::Parquet,
    };
    let statements = lgs::sql::parse_script(&text)?;
    let engine = Engine::from_url(args.cluster.cluster.as_deref(), limits.clone());
    let (ctx, _) = lgs::session::context_on(warehouse, &engine).await?;
    let many = statements.len() > 1;
    for statement in statements {
        let stream = lgs::sql::execute(&ctx, statement).await?;
        match (&args.out, format) {
            (Some(path), SqlFormat::Parquet) => {
                lgs::sql::write_parquet(stream, path).await?;
            }
            (Some(path), _) => {
                let file = std::fs::File::create(path)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                let mut file = std::io::BufWriter::new(file);
                lgs::sql::write_stream(stream, format, &mut file).await?;
                file.flush()?;
            }
            (None, _) => {
                let mut stdout = std::io::BufWriter::new(std::io::stdout());
                let has_columns = !stream.schema().fields().is_empty();
                lgs::sql::write_stream(stream, format, &mut stdout).await?;
                if many && has_columns && format == SqlFormat::Table {
                    writeln!(stdout)?;
                }
                stdout.flush()?;
            }
        }
    }
    Ok(())
}
