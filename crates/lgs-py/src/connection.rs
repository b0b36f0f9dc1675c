//! `lgs.connect(...)`: a warehouse, opened as the command line opens it.

use std::sync::Arc;

use clap::Parser;
use datafusion::prelude::DataFrame;
use lgs::progress::FileRows;
use lgs::warehouse::OpenedTables;
use lgs_cli::args::{Cli, Command};
use pyo3::prelude::*;
use tokio::runtime::Runtime;

use crate::arrow::{Batches, capsule};
use crate::errors::LgsError;
use crate::report::Report;
use crate::run::{Watch, runtime, wait, wait_watched};

/// A warehouse and how to query it: the command line's global options (`--warehouse`,
/// `--memory-limit`, `--threads`, `--policy`, `--role`, `--key-file`) and a cluster.
#[pyclass(frozen, module = "lgs._lgs")]
pub struct Connection {
    globals: Vec<String>,
    cluster: Option<String>,
    runtime: Arc<Runtime>,
    /// The warehouse's tables as last opened, reused by each query while they
    /// are still every table at its current version.
    opened: Arc<OpenedTables>,
}

/// Opens a connection: `globals` are the command line's global options, checked
/// here as it checks them; `cluster` a `df://HOST:PORT` scheduler (`None`: this
/// process runs the queries).
#[pyfunction]
#[pyo3(signature = (globals, cluster=None))]
pub fn connect(
    py: Python<'_>,
    globals: Vec<String>,
    cluster: Option<String>,
) -> PyResult<Connection> {
    // The options are checked now (a wrong role or key file fails here, not at the
    // first query); the runtime uses the threads asked for.
    let cli = parse(&globals, &["tables"])?;
    let warehouse = cli.warehouse().map_err(crate::errors::to_py)?;
    let threads = cli.global.threads.map(usize::from);
    let runtime = Arc::new(runtime(threads)?);
    // The tables are opened now, as a notebook's first query would (a table that
    // cannot be opened is the first query's error, with its message).
    let opened = Arc::new(OpenedTables::default());
    let tables = opened.clone();
    let _ = wait(py, &runtime, move || async move {
        Ok(tables.current(&warehouse).await?.len())
    });
    Ok(Connection {
        globals,
        cluster,
        runtime,
        opened,
    })
}

/// The command line `lgs <globals> <command...>`, parsed.
fn parse<S: AsRef<str>>(globals: &[String], command: &[S]) -> PyResult<Cli> {
    let argv = std::iter::once("lgs".to_string())
        .chain(globals.iter().cloned())
        .chain(command.iter().map(|s| s.as_ref().to_string()));
    Cli::try_parse_from(argv).map_err(|e| {
        // clap's message without its "error: " and its pointer to --help.
        let text = e.render().to_string();
        let text: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("For more information"))
            .collect();
        let text = text.join("\n");
        LgsError::new_err(text.trim().trim_start_matches("error: ").to_string())
    })
}

impl Connection {
    fn warehouse_for<S: AsRef<str>>(&self, command: &[S]) -> PyResult<(Cli, lgs::Warehouse)> {
        let cli = parse(&self.globals, command)?;
        let warehouse = cli.warehouse().map_err(crate::errors::to_py)?;
        Ok((cli, warehouse))
    }

    /// `args` with `--cluster URL` when the connection has a cluster.
    fn on_cluster(&self, mut args: Vec<String>) -> Vec<String> {
        if let Some(url) = &self.cluster {
            args.extend(["--cluster".to_string(), url.clone()]);
        }
        args
    }
}

#[pymethods]
impl Connection {
    /// The warehouse's tables (JSON: name, version, rows, files, bytes).
    fn tables_json(&self, py: Python<'_>) -> PyResult<String> {
        let (_, warehouse) = self.warehouse_for(&["tables"])?;
        wait(py, &self.runtime, move || async move {
            Ok(serde_json::to_string(&warehouse.tables().await?)?)
        })
    }

    /// A table's columns (JSON: name, type, nullable).
    fn describe_json(&self, py: Python<'_>, table: String) -> PyResult<String> {
        let (_, warehouse) = self.warehouse_for(&["describe", &table])?;
        wait(py, &self.runtime, move || async move {
            let schema = warehouse.schema(&table).await?;
            let fields = lgs_cli::commands::columns_json(&schema);
            Ok(serde_json::to_string(&fields)?)
        })
    }

    /// A table's commits (JSON, as `lgs history --format json`).
    fn history_json(&self, py: Python<'_>, table: String) -> PyResult<String> {
        let (_, warehouse) = self.warehouse_for(&["history", &table])?;
        wait(py, &self.runtime, move || async move {
            Ok(serde_json::to_string(&warehouse.history(&table).await?)?)
        })
    }

    /// Ingests as `lgs ingest ARGS...` does (JSON: the accounting).
    fn ingest_json(&self, py: Python<'_>, args: Vec<String>) -> PyResult<String> {
        let mut command = vec!["ingest".to_string()];
        command.extend(args);
        let (cli, warehouse) = self.warehouse_for(&command)?;
        let Command::Ingest(args) = &cli.command else {
            unreachable!("parsed as ingest")
        };
        if args.watch.is_some() {
            return Err(LgsError::new_err(
                "watch runs until stopped: use `lgs ingest --watch` from a terminal",
            ));
        }
        let key = cli.global.pseudonym_key().map_err(crate::errors::to_py)?;
        let options = lgs_cli::commands::ingest_options(args, key);
        let paths = args.paths.clone();
        wait(py, &self.runtime, move || async move {
            let progress = Arc::new(lgs::ingest::NoProgress);
            let report = lgs::ingest::ingest(&warehouse, &paths, &options, progress)
                .await
                .map_err(|e| {
                    anyhow::Error::from(e).context("ingest failed; the warehouse is unchanged")
                })?;
            Ok(serde_json::to_string(&report)?)
        })
    }

    /// Plans one SQL statement (errors now, with their line); it runs when its
    /// result is read.
    fn sql(&self, py: Python<'_>, query: String) -> PyResult<Query> {
        let (cli, warehouse) = self.warehouse_for(&["sql", "SELECT 1"])?;
        let engine = lgs::session::Engine::from_url(self.cluster.as_deref(), cli.global.limits());
        let cache = self.opened.clone();
        let df = wait(py, &self.runtime, move || async move {
            let mut statements = lgs::sql::parse_script(&query)?;
            anyhow::ensure!(
                statements.len() == 1,
                "give one statement at a time ({} given)",
                statements.len()
            );
            let opened = cache.current(&warehouse).await?;
            let (ctx, _) = lgs::session::context_over(&warehouse, &engine, &opened).await?;
            let statement = statements.pop().expect("one statement");
            Ok(lgs::sql::plan(&ctx, statement).await?)
        })?;
        Ok(Query {
            df,
            runtime: self.runtime.clone(),
            watch: Watch::default(),
        })
    }

    /// Runs `lgs ARGS...` for a report or an analysis (`report`, `clv`, `kmeans`,
    /// `experiment`, `basket`, `recommend`, `trends`) and returns its sections
    /// (only those named in `sections`, when given).
    #[pyo3(signature = (args, sections=None))]
    fn analysis(
        &self,
        py: Python<'_>,
        args: Vec<String>,
        sections: Option<Vec<String>>,
    ) -> PyResult<Report> {
        let args = self.on_cluster(args);
        let (cli, warehouse) = self.warehouse_for(&args)?;
        let limits = cli.global.limits();
        let Some(mut run) = lgs_cli::report::Run::of(&cli.command).map_err(crate::errors::to_py)?
        else {
            return Err(LgsError::new_err(format!(
                "{} is not an analysis (report, clv, kmeans, experiment, basket, recommend, trends)",
                args.first().map_or("nothing", String::as_str)
            )));
        };
        if let Some(wanted) = sections {
            let known: Vec<&str> = run.analyses.iter().map(|a| a.name()).collect();
            if let Some(unknown) = wanted.iter().find(|w| !known.contains(&w.as_str())) {
                return Err(LgsError::new_err(format!(
                    "no section {unknown:?} (the sections are {})",
                    known.join(", ")
                )));
            }
            run.analyses
                .retain(|a| wanted.iter().any(|w| w == a.name()));
        }
        let report = wait(py, &self.runtime, move || async move {
            run.compute(&warehouse, &limits).await
        })?;
        Ok(Report::from(report))
    }
}

/// A planned SQL statement: it runs each time its result is read.
#[pyclass(frozen, module = "lgs._lgs")]
pub struct Query {
    df: DataFrame,
    runtime: Arc<Runtime>,
    /// The plan of the last run, for its progress.
    watch: Watch,
}

#[pymethods]
impl Query {
    /// The result's column names.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.df
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// Runs the statement and keeps every batch of its result.
    fn collect(&self, py: Python<'_>) -> PyResult<Batches> {
        self.first(py, None)
    }

    /// Runs the statement for its first `n` rows (all with `None`).
    #[pyo3(signature = (n=None))]
    fn first(&self, py: Python<'_>, n: Option<usize>) -> PyResult<Batches> {
        let df = self.df.clone();
        let schema = Arc::new(df.schema().as_arrow().clone());
        let watch = self.watch.clone();
        let watched = Some(watch.clone());
        let batches = wait_watched(py, &self.runtime, watched, move || async move {
            let df = match n {
                Some(n) => df.limit(0, Some(n))?,
                None => df,
            };
            let task = Arc::new(df.task_ctx());
            let plan = df.create_physical_plan().await?;
            watch.set(plan.clone(), FileRows::of(task.session_config()));
            Ok(datafusion::physical_plan::collect(plan, task).await?)
        })?;
        Ok(Batches::new(schema, batches))
    }

    /// The rows the last run's scans read and the rows their tables hold
    /// (what its progress bar shows), or `None`.
    #[getter]
    fn scanned(&self) -> Option<(u64, u64)> {
        self.watch.scanned()
    }

    /// The number of rows of the result (the statement runs to count them).
    fn count(&self, py: Python<'_>) -> PyResult<usize> {
        let df = self.df.clone();
        wait(
            py,
            &self.runtime,
            move || async move { Ok(df.count().await?) },
        )
    }

    /// The statement's plan, as `EXPLAIN` shows it.
    fn explain(&self, py: Python<'_>) -> PyResult<String> {
        let df = self.df.clone();
        let batches = wait(py, &self.runtime, move || async move {
            Ok(df.explain(false, false)?.collect().await?)
        })?;
        Ok(
            datafusion::arrow::util::pretty::pretty_format_batches(&batches)
                .map_err(|e| crate::errors::to_py(e.into()))?
                .to_string(),
        )
    }

    /// The result through the Arrow C stream interface: the statement runs (a
    /// kernel interrupt cancels it) and its batches are handed over as they are.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, pyo3::types::PyCapsule>> {
        let _ = requested_schema;
        let result = self.collect(py)?;
        capsule(py, result.schema, result.batches)
    }
}
