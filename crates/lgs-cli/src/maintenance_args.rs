//! Arguments of the commands that look after the warehouse: restore, check,
//! repair, optimize, vacuum, forget, audit and keys.

use clap::{Args, Subcommand};

use crate::args::{FormatArgs, SummaryFormat};

#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// Customer ids to forget (repeat, or give several).
    #[arg(long = "customer", value_name = "ID", required = true, num_args = 1..)]
    pub customers: Vec<i64>,
    /// Delete the replaced files and the log entries that name them now, instead of
    /// at the next `lgs vacuum` after the retention period (time travel to before
    /// the forget is then impossible).
    #[arg(long)]
    pub now: bool,
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only records from this time on: a date (2026-12-01), a date and time
    /// (2026-12-01T09:00:00Z), or how long ago (24h, 7days).
    #[arg(long, value_parser = parse_since)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only this user's records.
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

/// `--since`: a date, an RFC 3339 time, or a duration before now.
fn parse_since(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    }
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.to_utc());
    }
    let ago = humantime::parse_duration(text).map_err(|_| {
        format!(
            "{text:?} is not a date (2026-12-01), a time (2026-12-01T09:00:00Z) or a duration (24h)"
        )
    })?;
    let ago = chrono::Duration::from_std(ago).map_err(|e| e.to_string())?;
    Ok(chrono::Utc::now() - ago)
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The table to restore (e.g. retail).
    pub table: String,
    /// The version to make current (`lgs history TABLE` lists them).
    #[arg(
        long,
        value_name = "N",
        required_unless_present = "timestamp",
        conflicts_with = "timestamp"
    )]
    pub version: Option<u64>,
    /// Or the state at a moment: 2026-11-30, "2026-11-30 12:00:00" (UTC) or RFC 3339.
    #[arg(long, value_name = "WHEN")]
    pub timestamp: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Only this table (default: every table).
    pub table: Option<String>,
    #[command(flatten)]
    pub format: FormatArgs,
}

#[derive(Debug, Args)]
pub struct RepairArgs {
    /// The table to repair.
    pub table: String,
    #[command(flatten)]
    pub format: FormatArgs,
}

/// What `lgs key` does.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Print a new random key line (`<id> <64 hex digits>`) to append to a key file.
    New,
}

#[derive(Debug, Args)]
pub struct OptimizeArgs {
    /// The table to compact (e.g. retail); with --rekey and no table, every table.
    #[arg(required_unless_present = "rekey")]
    pub table: Option<String>,
    /// Rewrite every file under the current key (the last of --key-file): after
    /// adding a new key, or to encrypt tables written without one. Without a table,
    /// every table of the warehouse (and the forget list and live state). Old keys
    /// can be deleted from the key file afterwards.
    #[arg(long)]
    pub rekey: bool,
    #[command(flatten)]
    pub format: FormatArgs,
}

#[derive(Debug, Args)]
pub struct VacuumArgs {
    /// The table to clean (e.g. retail).
    pub table: String,
    /// Keep the files that versions of this recent past need (time travel to older
    /// versions then fails). Files no commit references (left by killed runs) go
    /// once older than this too: keep it above a running writer's batch time.
    #[arg(long, default_value = "168h", value_parser = humantime::parse_duration)]
    pub retain: std::time::Duration,
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub format: FormatArgs,
}
