//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use crate::maintenance_args::*;

/// lgs — London Gift Shop analytics: ingest transactions into a Delta Lake warehouse
/// and compute the marketing analytics (invoice statistics, monthly sales and growth,
/// orders, active/new/existing customers, RFM segments).
#[derive(Debug, Parser)]
#[command(name = "lgs", version, propagate_version = true)]
#[command(
    after_help = "Quick start:\n  lgs demo                       ingest the bundled dataset and print the report\n  lgs ingest data/*.csv.zst      load files into ./warehouse\n  lgs report --format json       every analysis as one JSON document"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Warehouse location: a directory, or an object-store prefix (s3://bucket/path,
    /// az://container/path; credentials from the AWS_* or AZURE_* environment
    /// variables). Delta tables live in its subdirectories.
    #[arg(
        long,
        global = true,
        env = "LGS_WAREHOUSE",
        default_value = "warehouse"
    )]
    pub warehouse: String,
    /// Print only errors (no progress bar, no summary on stderr).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// More logging on stderr (-v, -vv). LGS_LOG=<filter> overrides.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Memory the process should stay within (e.g. 2GB, 512MB). Query operators
    /// (aggregations, sorts, joins) and an analysis's own data share three quarters
    /// of it and spill to temporary files in $TMPDIR beyond that; the rest is for
    /// reading files and batches in flight. A query that cannot finish even so fails
    /// naming the operator. For `executor`, the executor's memory, shared by its
    /// slots [default: no limit].
    #[arg(long, global = true, env = "LGS_MEMORY_LIMIT", value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<u64>,
    /// Cores to use: query partitions and worker threads (and generator threads for
    /// `generate`) [default: one per core].
    #[arg(long, global = true, env = "LGS_THREADS", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// A policy file (TOML) of roles: the tables each may read, row filters, masked
    /// columns (keyed pseudonyms) and denied columns; see docs/governance.md. Used
    /// with --role.
    #[arg(long, global = true, env = "LGS_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Act as this role of the policy: every query, report and extract sees only
    /// what the role may see, and the warehouse cannot be changed. On the machine
    /// that holds the warehouse's files this is a convenience for producing masked
    /// extracts, not a security boundary (the files can be read directly); served
    /// surfaces enforce it.
    #[arg(long, global = true, env = "LGS_ROLE", value_name = "NAME")]
    pub role: Option<String>,
    /// Why this change is made: recorded with the user (LGS_USER, else the login
    /// name) and the role in every commit the command makes (`lgs history` shows
    /// it). Required by `forget` (a request reference, not the customer's name).
    #[arg(long, global = true, env = "LGS_REASON", value_name = "TEXT")]
    pub reason: Option<String>,
    /// The warehouse's encryption keys (lines `<id> <64 hex digits>`; make one with
    /// `lgs key new`): data files are written encrypted (Parquet modular encryption,
    /// AES-256-GCM) with the last key and read with the key each names. LGS_KEY may
    /// hold the lines instead. See docs/governance.md for rotation.
    #[arg(long, global = true, env = "LGS_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}

impl GlobalArgs {
    /// What local query sessions may use.
    pub fn limits(&self) -> lgs::session::Limits {
        lgs::session::Limits {
            memory_limit: self.memory_limit,
            threads: self.threads.map(usize::from),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load data into the warehouse: CSV files (plain, .gz or .zst), pg_dump output
    /// (.sql), Excel workbooks (.xlsx), Parquet files, as paths, directories or globs,
    /// local or on object storage (s3://bucket/key, az://container/prefix/), or a
    /// live PostgreSQL table or query (postgres://user@host:port/db). Files
    /// already loaded are skipped, so a directory of daily drops loads only the new
    /// ones. Rows that cannot be parsed go to `<table>_rejected` with source, line,
    /// raw text and reason; every run ends with the row accounting.
    Ingest(IngestArgs),
    /// Run every analysis over the warehouse and print it.
    #[command(disable_version_flag = true)]
    Report(ReportCommand),
    /// Lifetime value and churn: fit BG/NBD (who is still a customer, how often
    /// they will buy) and Gamma-Gamma (what a purchase is worth) to every
    /// customer's purchase days, and print the fits, P(alive), expected purchases
    /// and CLV per customer. The report has the same section with the defaults.
    #[command(disable_version_flag = true)]
    Clv(crate::analyses::ClvArgs),
    /// Segments beyond RFM: k-means on each customer's log recency, frequency and
    /// monetary (standardised), k from 2 to 10 by silhouette unless --k; each
    /// cluster's profile, a name, and a cross-tab with the RFM segments.
    #[command(disable_version_flag = true)]
    Kmeans(crate::analyses::KMeansArgs),
    /// One customer's profile: RFM scores and segment, k-means cluster, P(alive),
    /// expected purchases and lifetime value, first and last purchase, top products.
    Customer(crate::analyses::CustomerArgs),
    /// Campaign experiments (A/B tests): compare each treatment group with the
    /// control over a window after each customer's start: conversion (two-proportion
    /// z-test), revenue per customer (Welch's t-test, a bootstrap interval, CUPED on
    /// pre-period revenue), and a sample-ratio check. `lgs experiment plan` gives the
    /// customers a test needs.
    #[command(disable_version_flag = true, args_conflicts_with_subcommands = true)]
    Experiment(crate::analyses::ExperimentArgs),
    /// Market baskets: which products sell together. Frequent itemsets of the
    /// non-cancellation invoices (FP-growth, exact: mlxtend's itemsets) and the
    /// rules A → C with support, confidence, lift, leverage and conviction, by lift.
    #[command(disable_version_flag = true)]
    Basket(crate::products::BasketArgs),
    /// Recommendations: the products bought with a product (--item, by lift), what
    /// to offer a customer (--customer) or every customer (the default, a table for
    /// --out), by implicit-feedback ALS on the baskets each customer bought each
    /// product in; --calibration-end scores the offers against the most popular
    /// products on the purchases after that day.
    #[command(disable_version_flag = true)]
    Recommend(crate::products::RecommendArgs),
    /// Product trends: each product's units, net sales, customers, invoices and
    /// returns by month; the rising and falling products between two periods; new
    /// and gone products; the most seasonal; and the ABC classes of the last twelve
    /// complete months with the Pareto curve.
    #[command(disable_version_flag = true)]
    Trends(crate::products::TrendsArgs),
    /// Load a message broker's stream into a table in micro-batches, exactly once
    /// (each batch one Delta commit recording the stream position; a restart resumes
    /// after it). Messages are transaction lines as JSON or CSV; bad ones are
    /// quarantined as in `ingest`.
    #[command(disable_version_flag = true)]
    Stream(crate::stream::StreamArgs),
    /// Publish a file's transaction lines to a stream, one message per line (for
    /// demos, load tests and `lgs stream`).
    #[command(disable_version_flag = true)]
    Replay(crate::stream::ReplayArgs),
    /// List the warehouse tables with their version, rows, files and size.
    Tables(FormatArgs),
    /// Show the schema of a table.
    Describe {
        /// Table name (e.g. retail, retail_rejected).
        table: String,
        #[command(flatten)]
        format: FormatArgs,
    },
    /// Show the Delta versions of a table with their source files and row counts.
    History {
        /// Table name (e.g. retail).
        table: String,
        #[command(flatten)]
        format: FormatArgs,
    },
    /// Run SQL over the warehouse tables (retail, retail_rejected, ...) and views
    /// (invoices: one row per invoice). Results stream; EXPLAIN works.
    #[command(disable_version_flag = true)]
    Sql(SqlArgs),
    /// Make an earlier state of a table current, in a new commit (as Delta's RESTORE):
    /// the way back from a bad ingest. The versions in between stay in the history,
    /// and content loaded after that state is loaded again by a later ingest.
    #[command(disable_version_flag = true)]
    Restore(RestoreArgs),
    /// Verify the warehouse: every table's log reads, and every data file is there
    /// with the size the log records. Exits non-zero when something is wrong.
    Check(CheckArgs),
    /// Drop from a table the data files that are missing or damaged (as FSCK REPAIR
    /// TABLE), in a commit that records them and the rows lost. Run `lgs check`
    /// first; putting the files back from a backup loses nothing.
    Repair(RepairArgs),
    /// Compact a table's small files (a stream's commits, many daily drops) into
    /// large ones, adjacent files together so the load order is kept; one commit
    /// that changes no row.
    Optimize(OptimizeArgs),
    /// Delete the data files of a table that no version within --retain needs, and
    /// those of runs killed before their commit.
    Vacuum(VacuumArgs),
    /// The right to be forgotten: remove every row of these customers from every
    /// table that holds them (transactions, quarantined lines, saved reports; the
    /// live state and scratch results are deleted and rebuilt), and keep their ids
    /// only as keyed pseudonyms in a forget list, so that later ingests drop their
    /// rows. Needs the pseudonym key (LGS_PSEUDONYM_KEY, or --policy with its
    /// pseudonym_key_file).
    Forget(ForgetArgs),
    /// The audit trail of served queries (admins only): when, who, as which role,
    /// through which surface, the statement, the tables it read, the rows it
    /// returned and how it ended, oldest first.
    Audit(AuditArgs),
    /// Encryption keys: `lgs key new >> FILE` appends a new random key (AES-256)
    /// to a key file; the last key of the file encrypts what is written next.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Bring the live state (what the report reads instead of every line) up to
    /// date with retail's new commits, creating it the first time.
    Live(FormatArgs),
    /// An interactive SQL shell: statements end with `;`, history is kept in
    /// ~/.lgs_history (or $LGS_HISTORY), Tab completes names, Ctrl-C cancels a running
    /// query, \? lists the commands. Reads stdin plainly when it is not a terminal.
    Shell(ClusterArg),
    /// Serve the dashboard: the report's charts live from the warehouse, and a SQL
    /// page (results paged, charted and downloadable as CSV; progress and cancel).
    /// Listens on 127.0.0.1 unless --allow-remote is given.
    Serve(ServeArgs),
    /// Run a Ballista scheduler (the cluster's coordinator) in this process; query
    /// commands use it with --cluster df://HOST:PORT.
    Scheduler(SchedulerArgs),
    /// Run a Ballista executor in this process: it registers with the scheduler and
    /// runs query tasks. Several can share a host (every port can be set).
    Executor(ExecutorArgs),
    /// Generate synthetic data of a real shape for scale tests.
    Generate(crate::generate::GenerateArgs),
    /// Ingest the bundled LGS dataset (data/online_retail_II.csv.zst) and print the
    /// full report. Re-running skips the already-ingested file.
    Demo {
        /// The dataset to ingest (default: the bundled one).
        #[arg(long)]
        data: Option<PathBuf>,
        #[command(flatten)]
        report: ReportArgs,
    },
}

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Address to listen on (gRPC, for clients and executors).
    #[arg(long, default_value = "127.0.0.1:50050")]
    pub bind: std::net::SocketAddr,
    /// Host name executors and clients use to reach the scheduler (default: the
    /// --bind address).
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// Seconds without a heartbeat after which an executor is considered lost and
    /// its tasks run elsewhere.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub executor_timeout: u64,
}

#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler's address.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50050")]
    pub scheduler: String,
    /// Address of the Arrow Flight service that serves shuffle data to other
    /// executors and results to clients.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub bind: std::net::SocketAddr,
    /// Address of the executor's gRPC service; its host must be --bind's.
    #[arg(long, default_value = "127.0.0.1:50052")]
    pub grpc_bind: std::net::SocketAddr,
    /// Host name the scheduler and other executors use to reach this executor
    /// (default: the --bind address).
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// Tasks run at once [default: the number of cores].
    #[arg(long)]
    pub slots: Option<usize>,
    /// Directory for shuffle files [default: a temporary directory].
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Seconds between heartbeats to the scheduler.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    pub heartbeat: u64,
}

/// `4GB`, `512MB`, `1.5GiB`, `1000000` (bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 4GB or 512MB"))?;
    let scale: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use B, KB, MB, GB or TB)"
            ));
        }
    };
    Ok((number * scale as f64) as u64)
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port to listen on (0 picks a free one; the address is printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on. Anything but a loopback address needs --users.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Users (TOML: [users.NAME] with role and token_sha256): every page and API
    /// call then needs a user's token (a bearer header, or a session cookie from
    /// /login), and shows what the user's role of --policy may see.
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// Print a new random token and the token_sha256 and pg_scram lines for a users
    /// file, and exit.
    #[arg(long)]
    pub new_token: bool,
    /// Also serve the PostgreSQL protocol (port 5433, or --pg-port), for BI tools
    /// and psql: the same users (the token is the password, over SCRAM-SHA-256),
    /// roles and audit trail, read-only.
    #[arg(long)]
    pub pg: bool,
    /// The PostgreSQL protocol's port (0 picks a free one; implies --pg).
    #[arg(long, value_name = "PORT")]
    pub pg_port: Option<u16>,
    /// The PostgreSQL protocol's TLS certificate (PEM chain; with --pg-tls-key):
    /// every connection must then use TLS (sslmode=require or verify-full); one
    /// that does not is refused, never served in plain text.
    #[arg(long, value_name = "FILE", requires = "pg_tls_key")]
    pub pg_tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --pg-tls-cert.
    #[arg(long, value_name = "FILE", requires = "pg_tls_cert")]
    pub pg_tls_key: Option<PathBuf>,
    /// A PostgreSQL query may return at most this many rows (more ends it with
    /// an error, SQLSTATE 54000). Default: no limit.
    #[arg(long, value_name = "ROWS")]
    pub pg_max_rows: Option<u64>,
    /// A PostgreSQL statement may run this long (e.g. 30s, 5m; longer ends it
    /// with PostgreSQL's statement-timeout error, 57014). Default: no limit.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub pg_timeout: Option<std::time::Duration>,
    /// RFM recency is measured to this date (default: the day after the last invoice).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Option<chrono::NaiveDate>,
    /// How often to look for new lines in retail, pushed to open report pages.
    #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration)]
    pub live_interval: std::time::Duration,
    /// No live updates (and no live state written to the warehouse).
    #[arg(long)]
    pub no_live: bool,
    #[command(flatten)]
    pub cluster: ClusterArg,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files, directories or glob patterns to load, or postgres:// URLs.
    #[arg(required_unless_present = "watch", value_name = "PATH|URL")]
    pub paths: Vec<String>,
    /// Keep running: list this directory (or s3://, az:// prefix) every --interval
    /// and load each new file once (a local file once two listings found it at the
    /// same size), one commit per round; Ctrl-C or SIGTERM stop between rounds.
    #[arg(long, value_name = "DIR|URL", conflicts_with = "paths")]
    pub watch: Option<String>,
    /// Between two listings of --watch.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, requires = "watch")]
    pub interval: std::time::Duration,
    /// With --watch: stop after this long without a new file.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, requires = "watch")]
    pub exit_when_idle: Option<std::time::Duration>,
    /// Target table (default: retail, or wdi with --dataset wdi). For a postgres://
    /// input it is also the table read from the server (schema.table works; the
    /// warehouse table takes the last part).
    #[arg(long)]
    pub table: Option<String>,
    /// append: add to the table; overwrite: replace its contents (and its quarantine)
    /// in one commit.
    #[arg(long, value_enum, default_value_t = ModeArg::Append)]
    pub mode: ModeArg,
    /// Excel: the sheet(s) to read (repeatable; default: every sheet).
    #[arg(long, value_name = "NAME")]
    pub sheet: Vec<String>,
    /// PostgreSQL: read this SELECT instead of a table.
    #[arg(long, value_name = "SQL")]
    pub query: Option<String>,
    /// PostgreSQL: parallel partitions (connections), ranges of the date column
    /// (default: 4).
    #[arg(long, value_name = "N")]
    pub partitions: Option<usize>,
    /// PostgreSQL: the date column the partitions split (default: the first
    /// timestamp column).
    #[arg(long, value_name = "COLUMN")]
    pub partition_column: Option<String>,
    /// What the files hold: LGS transactions, or World Development Indicators (wide
    /// World Bank CSV, the long Hive layout, or an ISO,COUNTRY,VALUE,YEAR export).
    #[arg(long, value_enum, default_value_t = DatasetArg::Retail)]
    pub dataset: DatasetArg,
    /// WDI: the indicator code of a file that does not name it (ISO,COUNTRY,VALUE,YEAR).
    #[arg(long, value_name = "CODE", requires = "indicator_name")]
    pub indicator: Option<String>,
    /// WDI: the indicator name that goes with --indicator.
    #[arg(long, value_name = "NAME", requires = "indicator")]
    pub indicator_name: Option<String>,
    /// Fail (writing nothing) if any row cannot be parsed.
    #[arg(long)]
    pub strict: bool,
    /// Load files even if the same content was ingested before.
    #[arg(long)]
    pub force: bool,
    /// Summary format.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("input").required(true).args(["query", "file"]))]
pub struct SqlArgs {
    /// The query (or several statements separated by `;`).
    pub query: Option<String>,
    #[command(flatten)]
    pub travel: TravelArgs,
    #[command(flatten)]
    pub cluster: ClusterArg,
    /// Run a script file instead; it stops at the first error, with its position.
    #[arg(long, short = 'f', value_name = "FILE.sql")]
    pub file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SqlOutput::Table)]
    pub format: SqlOutput,
    /// Write the result here instead of stdout (required for parquet).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Where queries run.
#[derive(Debug, Clone, Args)]
pub struct ClusterArg {
    /// Run the queries on the Ballista cluster whose scheduler is at this address
    /// (df://HOST:PORT, started with `lgs scheduler`; executors with `lgs executor`).
    /// The scheduler and every executor must reach the warehouse at the same path.
    #[arg(long, value_name = "df://HOST:PORT", env = "LGS_CLUSTER")]
    pub cluster: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SqlOutput {
    /// Readable tables.
    Table,
    /// A JSON array with one object per row.
    Json,
    /// CSV with a header.
    Csv,
    /// A Parquet file (with --out).
    Parquet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Append,
    Overwrite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DatasetArg {
    /// LGS transactions (the retail table).
    Retail,
    /// World Development Indicators (the wdi table, partitioned by year).
    Wdi,
}

/// `lgs report`: the report's flags, and which of its sections to compute.
#[derive(Debug, Clone, Args)]
pub struct ReportCommand {
    #[command(flatten)]
    pub report: ReportArgs,
    /// Compute only these sections, comma-separated: invoices, monthly, rfm,
    /// cohorts, clv, kmeans [default: all]. `--sections invoices,monthly,rfm,cohorts`
    /// is the first job's report, without the model fits.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "NAMES",
        conflicts_with = "skip"
    )]
    pub sections: Vec<String>,
    /// Leave out these sections, comma-separated (e.g. `--skip clv,kmeans`).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub skip: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub travel: TravelArgs,
    /// RFM recency is measured to this date (default: the day after the last invoice).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Option<chrono::NaiveDate>,
    #[command(flatten)]
    pub cluster: ClusterArg,
    /// Read every line even when the warehouse keeps a live state (`lgs live`).
    #[arg(long)]
    pub recompute: bool,
    /// Output format on stdout [default: table; nothing when --html or --png is
    /// given without --format].
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
    /// Write the report as one self-contained HTML file (charts inline as SVG, each
    /// with its numbers beneath it; opens without network access).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write every chart as a PNG (1920×880) into this directory, for slides.
    #[arg(long, value_name = "DIR")]
    pub png: Option<PathBuf>,
    /// Also write every result (and the per-customer RFM table) as Parquet and CSV here.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also save every result into the warehouse as Delta tables `report_<name>`
    /// (replaced on each run), to query them with `lgs sql`.
    #[arg(long)]
    pub save: bool,
    /// Also write every result table into PostgreSQL for BI tools
    /// (postgres://user@host:port/db[?schema=marketing]): typed columns, primary
    /// keys, all tables replaced together in one transaction.
    #[arg(long, value_name = "URL")]
    pub to: Option<String>,
}

#[derive(Debug, Args)]
pub struct FormatArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Readable terminal tables.
    Table,
    /// One JSON document.
    Json,
    /// CSV sections, each preceded by a `# name` line.
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SummaryFormat {
    /// Human-readable text.
    Text,
    /// JSON.
    Json,
}

/// Reading tables at an earlier state (time travel).
#[derive(Debug, Clone, Args)]
pub struct TravelArgs {
    /// Read a table at an earlier version: N for the retail table, TABLE=N for
    /// another (repeat for several; `lgs history TABLE` lists the versions).
    #[arg(long = "version", value_name = "[TABLE=]N")]
    pub versions: Vec<String>,
    /// Read a table as it was at a moment: 2026-11-30 (the end of that day, UTC),
    /// "2026-11-30 12:00:00" (UTC) or RFC 3339; TABLE=WHEN for another table than
    /// retail.
    #[arg(long = "timestamp", value_name = "[TABLE=]WHEN")]
    pub timestamps: Vec<String>,
}

impl TravelArgs {
    /// The warehouse with the asked tables pinned.
    pub fn apply(&self, mut warehouse: lgs::Warehouse) -> lgs::Result<lgs::Warehouse> {
        let table_and = |arg: &str| match arg.split_once('=') {
            Some((table, value)) => (table.trim().to_string(), value.to_string()),
            None => ("retail".to_string(), arg.to_string()),
        };
        for arg in &self.versions {
            let (table, version) = table_and(arg);
            warehouse = warehouse.pinned(&table, version.parse()?);
        }
        for arg in &self.timestamps {
            let (table, when) = table_and(arg);
            warehouse = warehouse.pinned(&table, lgs::warehouse::Pin::timestamp(&when)?);
        }
        Ok(warehouse)
    }
}
