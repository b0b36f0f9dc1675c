//! Keeping the warehouse right: `lgs check`, `lgs repair` and `lgs restore`.

use std::io::Write;

use anyhow::{Context, Result};
use lgs::Warehouse;
use lgs::format::group;
use lgs::warehouse::Pin;

use crate::args::{CheckArgs, RepairArgs, RestoreArgs, SummaryFormat};
use crate::commands::out;

pub async fn check(warehouse: &Warehouse, args: &CheckArgs) -> Result<()> {
    let checks = warehouse.check(args.table.as_deref()).await?;
    if args.format.format == SummaryFormat::Json {
        writeln!(out(), "{}", serde_json::to_string_pretty(&checks)?)?;
    } else {
        for c in &checks {
            match (&c.log, c.damaged.is_empty(), c.version) {
                (Some(log), _, _) => writeln!(out(), "{}: {log}", c.table)?,
                (None, true, Some(v)) => writeln!(
                    out(),
                    "{} version {v}: ok ({} files, {} rows)",
                    c.table,
                    c.files,
                    group(c.rows as f64, 0)
                )?,
                (None, _, v) => {
                    writeln!(
                        out(),
                        "{} version {}: {} of {} data files damaged",
                        c.table,
                        v.unwrap_or(0),
                        c.damaged.len(),
                        c.files
                    )?;
                    for d in &c.damaged {
                        let rows = d
                            .rows
                            .map_or(String::new(), |r| format!(" ({} rows)", group(r as f64, 0)));
                        writeln!(out(), "  {} {}{rows}", d.file, d.problem)?;
                    }
                }
            }
        }
    }
    let bad = checks.iter().filter(|c| !c.ok()).count();
    if bad > 0 {
        anyhow::bail!(
            "{bad} table(s) damaged: put the files back from a backup, or `lgs repair TABLE` \
             to drop the damaged files (their rows are lost)"
        );
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
