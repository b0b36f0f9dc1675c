//! Keeping the warehouse right and fast: `lgs check`, `lgs repair`, `lgs restore`,
//! `lgs optimize` and `lgs vacuum`.

use std::io::Write;

use anyhow::{Context, Result};
use lgs::Warehouse;
use lgs::format::group;
use lgs::warehouse::Pin;

use crate::args::{
    CheckArgs, ForgetArgs, FormatArgs, OptimizeArgs, RepairArgs, RestoreArgs, SummaryFormat,
    VacuumArgs,
};
use crate::commands::out;
use lgs::live::Change;

pub async fn check(warehouse: &Warehouse, args: &CheckArgs) -> Result<()> {
    let checks = warehouse.check(args.table.as_deref()).await?;
    if args.format.format == SummaryFormat::Json {
        writeln!(out(), "{}", serde_json::to_string_pretty(&checks)?)?;
    } else {
        for c in &checks {
            print_check(c)?;
        }
    }
    let damaged = checks
        .iter()
        .filter(|c| c.log.is_some() || !c.damaged.is_empty());
    let damaged = damaged.count();
    if damaged > 0 {
        anyhow::bail!(
            "{damaged} table(s) damaged: put the files back from a backup, or `lgs repair TABLE` \
             to drop the damaged files (their rows are lost)"
        );
    }
    let inconsistent = checks.iter().filter(|c| !c.ok()).count();
    if inconsistent > 0 {
        anyhow::bail!("{inconsistent} table(s) disagree with the commits that wrote them");
    }
    Ok(())
}

/// One table's check, as lines of text.
fn print_check(c: &lgs::warehouse::TableCheck) -> Result<()> {
    let version = c.version.unwrap_or(0);
    match &c.log {
        Some(log) => writeln!(out(), "{}: {log}", c.table)?,
        None if c.damaged.is_empty() && c.problems.is_empty() => writeln!(
            out(),
            "{} version {version}: ok ({} files, {} rows)",
            c.table,
            c.files,
            group(c.rows as f64, 0)
        )?,
        None if c.damaged.is_empty() => writeln!(
            out(),
            "{} version {version}: files ok; disagrees with its commits:",
            c.table
        )?,
        None => writeln!(
            out(),
            "{} version {version}: {} of {} data files damaged",
            c.table,
            c.damaged.len(),
            c.files
        )?,
    }
    for d in &c.damaged {
        let rows = d
            .rows
            .map_or(String::new(), |r| format!(" ({} rows)", group(r as f64, 0)));
        writeln!(out(), "  {} {}{rows}", d.file, d.problem)?;
    }
    for p in &c.problems {
        writeln!(out(), "  {p}")?;
    }
    for n in &c.notes {
        writeln!(out(), "  note: {n}")?;
    }
    Ok(())
}

pub async fn repair(warehouse: &Warehouse, args: &RepairArgs) -> Result<()> {
    let repair = warehouse
        .repair(&args.table)
        .await
        .with_context(|| format!("repair failed; {} is unchanged", args.table))?;
    if args.format.format == SummaryFormat::Json {
        writeln!(out(), "{}", serde_json::to_string_pretty(&repair)?)?;
        return Ok(());
    }
    match repair.version {
        None => writeln!(out(), "{}: nothing to repair", repair.table)?,
        Some(v) => {
            for d in &repair.dropped {
                writeln!(out(), "dropped {} ({})", d.file, d.problem)?;
            }
            writeln!(
                out(),
                "{} is at version {v}: {} files dropped, {} rows lost; \
                 `lgs ingest --force` loads their sources again",
                repair.table,
                repair.dropped.len(),
                group(repair.rows_lost as f64, 0)
            )?;
        }
    }
    Ok(())
}

pub async fn restore(warehouse: &Warehouse, args: &RestoreArgs) -> Result<()> {
    let pin = match (&args.timestamp, args.version) {
        (Some(when), _) => Pin::timestamp(when)?,
        (None, Some(v)) => Pin::Version(v),
        (None, None) => anyhow::bail!("say which state: --version N or --timestamp WHEN"),
    };
    let version = warehouse
        .restore(&args.table, pin)
        .await
        .with_context(|| format!("restore failed; {} is unchanged", args.table))?;
    writeln!(
        out(),
        "restored {} to {pin}: it is at version {version}",
        args.table
    )?;
    Ok(())
}

/// A read that failed inside a data file fails naming the damaged file instead.
pub async fn explain_damage<T>(result: Result<T>, warehouse: &Warehouse) -> Result<T> {
    let err = match result {
        Ok(value) => return Ok(value),
        Err(err) => err,
    };
    match warehouse.diagnose(err.as_ref()).await {
        Some(damage) => Err(damage.into()),
        None => Err(err),
    }
}

pub async fn optimize(warehouse: &Warehouse, args: &OptimizeArgs) -> Result<()> {
    let done = match &args.table {
        Some(table) => vec![warehouse.optimize(table, args.rekey).await?],
        None => warehouse.rekey_all().await?,
    };
    if args.format.format == SummaryFormat::Json {
        let json = match (&args.table, done.as_slice()) {
            (Some(_), [one]) => serde_json::to_string_pretty(one)?,
            _ => serde_json::to_string_pretty(&done)?,
        };
        writeln!(out(), "{json}")?;
        return Ok(());
    }
    let verb = if args.rekey {
        "rewritten under the current key into"
    } else {
        "compacted into"
    };
    for done in done {
        if done.files_removed == 0 {
            writeln!(
                out(),
                "{} version {}: nothing to {}",
                done.table,
                done.version,
                if args.rekey { "rewrite" } else { "compact" }
            )?;
            continue;
        }
        writeln!(
            out(),
            "{} version {}: {} files ({}) {verb} {} ({})",
            done.table,
            done.version,
            group(done.files_removed as f64, 0),
            megabytes(done.bytes_removed),
            group(done.files_added as f64, 0),
            megabytes(done.bytes_added),
        )?;
    }
    Ok(())
}

pub async fn vacuum(warehouse: &Warehouse, args: &VacuumArgs) -> Result<()> {
    let done = warehouse
        .vacuum(&args.table, args.retain, args.dry_run)
        .await?;
    if args.format.format == SummaryFormat::Json {
        writeln!(out(), "{}", serde_json::to_string_pretty(&done)?)?;
        return Ok(());
    }
    let verb = if done.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    writeln!(
        out(),
        "{}: {verb} {} files",
        done.table,
        group(done.files_deleted.len() as f64, 0)
    )?;
    Ok(())
}

fn megabytes(bytes: i64) -> String {
    format!("{:.1} MB", bytes.max(0) as f64 / 1e6)
}

/// `lgs live`: brings the live state up to date and says what it did.
pub async fn live(warehouse: &Warehouse, args: &FormatArgs) -> Result<()> {
    let Some(done) = lgs::live::refresh(warehouse).await? else {
        anyhow::bail!(
            "no retail table in {}: run `lgs ingest FILE` first",
            warehouse.location()
        );
    };
    if args.format == SummaryFormat::Json {
        writeln!(out(), "{}", serde_json::to_string_pretty(&done)?)?;
        return Ok(());
    }
    let what = match &done.change {
        Change::Current => "already up to date".to_string(),
        Change::Added { commits, files } => format!(
            "added {} commits ({} files)",
            group(*commits as f64, 0),
            group(*files as f64, 0)
        ),
        Change::Rebuilt { reason } => format!("rebuilt from every line ({reason})"),
    };
    let compacted = if done.compacted { ", compacted" } else { "" };
    writeln!(
        out(),
        "live state of retail version {}: {what}{compacted}, {} rows written in {:.2} s",
        done.version,
        group(done.rows_written as f64, 0),
        done.seconds
    )?;
    Ok(())
}

pub async fn forget(
    warehouse: &Warehouse,
    args: &ForgetArgs,
    reason: Option<&str>,
    key: Option<std::sync::Arc<[u8]>>,
) -> Result<()> {
    let reason = reason.context(
        "lgs forget needs --reason TEXT (kept in the forget list and the commits: a request \
         reference, not the customer's name)",
    )?;
    let key = key.context(
        "lgs forget keeps the forgotten ids only as keyed pseudonyms: give the pseudonym \
         key (LGS_PSEUDONYM_KEY, or --policy with its pseudonym_key_file; make one with \
         `head -c 32 /dev/urandom > pseudonym.key`)",
    )?;
    let request = lgs::warehouse::ForgetRequest {
        customers: args.customers.clone(),
        reason: reason.to_string(),
        now: args.now,
        key,
    };
    let done = warehouse.forget(&request).await?;
    if args.format == SummaryFormat::Json {
        writeln!(out(), "{}", serde_json::to_string_pretty(&done)?)?;
        return Ok(());
    }
    let mut o = out();
    for t in done.tables.iter().filter(|t| t.rows > 0) {
        let what = match t.redacted {
            true => "audit records with the ids taken out of their statements, in",
            false => "rows removed from",
        };
        write!(
            o,
            "{}: {} {what} {} files (version {})",
            t.table,
            group(t.rows as f64, 0),
            t.files_rewritten,
            t.version.map_or("-".into(), |v| v.to_string())
        )?;
        if done.now {
            write!(
                o,
                "; {} data files and {} log files deleted",
                t.files_deleted, t.log_files_deleted
            )?;
        }
        writeln!(o)?;
    }
    for dir in &done.derived_deleted {
        writeln!(o, "{dir}: deleted (derived; rebuilt when needed)")?;
    }
    writeln!(
        o,
        "forgot {} customer(s): {} rows in {:.2} s; later ingests drop their rows{}",
        done.customers,
        group(done.rows as f64, 0),
        done.seconds,
        if done.now {
            ""
        } else {
            "; the old files go at the next `lgs vacuum` after the retention period (or use --now)"
        }
    )?;
    Ok(())
}

/// `lgs audit`: the served queries' records.
pub async fn audit(warehouse: &Warehouse, args: &crate::args::AuditArgs) -> Result<()> {
    let filter = lgs::audit::Filter {
        since: args.since,
        user: args.user.clone(),
    };
    let records = warehouse.audit(&filter).await?;
    if args.format == SummaryFormat::Json {
        writeln!(out(), "{}", serde_json::to_string_pretty(&records)?)?;
        return Ok(());
    }
    let mut t = crate::commands::text_table(&[
        "time",
        "user",
        "role",
        "surface",
        "statement",
        "tables",
        "rows",
        "outcome",
        "ms",
    ]);
    for r in &records {
        t.add_row(vec![
            r.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            r.user.clone(),
            r.role.clone(),
            r.surface.clone(),
            r.statement.clone(),
            r.tables.clone(),
            r.rows.map(|n| group(n as f64, 0)).unwrap_or_default(),
            r.outcome.clone(),
            r.millis.to_string(),
        ]);
    }
    writeln!(out(), "{t}")?;
    if records.is_empty() {
        writeln!(
            out(),
            "no served query recorded{}",
            match (&args.since, &args.user) {
                (None, None) => String::new(),
                _ => " that matches".into(),
            }
        )?;
    }
    Ok(())
}
