//! `lgs generate`: synthetic data of a real shape, to a file or (retail) published to
//! a stream as `lgs replay` publishes a file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use lgs::ingest::stream::replay::{ReplayOptions, replay};
use lgs::output::group;

use crate::args::SummaryFormat;
use crate::progress;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// What to generate.
    #[arg(value_enum)]
    pub what: GenerateWhat,
    /// Retail: rows to write.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Retail: file format (default: from the --out extension, else csv).
    #[arg(long, value_enum)]
    pub format: Option<GenerateFormat>,
    /// WDI: indicators in the grid (1,446 in the original work).
    #[arg(long, default_value_t = 1446)]
    pub indicators: u32,
    /// WDI: countries and aggregates in the grid.
    #[arg(long, default_value_t = 264)]
    pub countries: u32,
    /// WDI: years in the grid, from 1960.
    #[arg(long, default_value_t = 57)]
    pub years: u32,
    /// Random seed: the same seed gives the same file.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output file.
    #[arg(long, value_name = "PATH", required_unless_present = "to")]
    pub out: Option<PathBuf>,
    /// Retail: publish the lines to this stream instead (nats://HOST[:PORT]/STREAM or
    /// kafka://HOST[:PORT]/TOPIC, created when missing), one JSON message per line,
    /// as `lgs replay` does.
    #[arg(long, value_name = "URL", conflicts_with = "out")]
    pub to: Option<String>,
    /// With --to: at most this many messages a second.
    #[arg(long, value_name = "N", requires = "to")]
    pub rate: Option<f64>,
    /// With --to: keep the data's clock N times faster (see `lgs replay --speedup`).
    #[arg(long, value_name = "N", requires = "to")]
    pub speedup: Option<f64>,
    /// With --to kafka://...: the partitions of a topic this creates.
    #[arg(long, value_name = "N", requires = "to", value_parser = clap::value_parser!(i32).range(1..))]
    pub partitions: Option<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenerateWhat {
    /// LGS transactions shaped like the real data, quirks included, at any size
    /// (deterministic per seed).
    Retail,
    /// A full-shape WDI grid in the long layout (57 × 264 × 1,446 = 21,759,408 rows).
    Wdi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenerateFormat {
    /// CSV with the warehouse column names.
    Csv,
    /// Plain pg_dump output (CREATE TABLE and a COPY block).
    Sql,
    /// Parquet (zstd), typed like a Spark export.
    Parquet,
    /// An Excel workbook with the UCI column names (a sheet per 1,000,000 rows).
    Xlsx,
}

/// `lgs generate`.
pub async fn generate(args: &GenerateArgs, threads: usize, quiet: bool) -> Result<()> {
    let Some(to) = &args.to else {
        let out = args
            .out
            .as_deref()
            .expect("clap requires --out without --to");
        return write(args, out, None, threads, quiet);
    };
    if args.what != GenerateWhat::Retail {
        anyhow::bail!("--to publishes retail lines; WDI goes to a file (--out)");
    }
    // Written first (the generator is parallel and fast), then published in order.
    let file = std::env::temp_dir().join(format!("lgs-generate-{}.csv", std::process::id()));
    let published = async {
        write(args, &file, Some(GenerateFormat::Csv), threads, quiet)?;
        let options = ReplayOptions {
            rate: args.rate,
            speedup: args.speedup,
            partitions: args.partitions,
            ..Default::default()
        };
        Ok::<_, anyhow::Error>(replay(&file.display().to_string(), to, &options).await?)
    }
    .await;
    let _ = std::fs::remove_file(&file);
    crate::stream::print_replay(&published?, SummaryFormat::Text)
}

/// Writes the generated data to `out` (retail in `format`, else as `args` says).
fn write(
    args: &GenerateArgs,
    out: &Path,
    format: Option<GenerateFormat>,
    threads: usize,
    quiet: bool,
) -> Result<()> {
    use lgs::generate::retail::{RetailFormat, RetailSpec};
    let started = std::time::Instant::now();
    let rows = match args.what {
        GenerateWhat::Wdi => {
            let grid = lgs::generate::WdiGrid {
                years: args.years,
                countries: args.countries,
                indicators: args.indicators,
                seed: args.seed,
                ..Default::default()
            };
            let file = std::fs::File::create(out)
                .with_context(|| format!("cannot write {}", out.display()))?;
            let mut file = std::io::BufWriter::with_capacity(1 << 20, file);
            lgs::generate::write_wdi(&grid, &mut file)?
        }
        GenerateWhat::Retail => {
            let extension = out
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            let format = match format.or(args.format) {
                Some(GenerateFormat::Csv) => RetailFormat::Csv,
                Some(GenerateFormat::Sql) => RetailFormat::Sql,
                Some(GenerateFormat::Parquet) => RetailFormat::Parquet,
                Some(GenerateFormat::Xlsx) => RetailFormat::Xlsx,
                None => match extension.as_str() {
                    "sql" => RetailFormat::Sql,
                    "parquet" => RetailFormat::Parquet,
                    "xlsx" => RetailFormat::Xlsx,
                    _ => RetailFormat::Csv,
                },
            };
            let spec = RetailSpec {
                rows: args.rows,
                seed: args.seed,
                format,
                threads,
            };
            let bar = progress::for_rows(quiet, args.rows);
            let done = lgs::generate::retail::write_retail(&spec, out, &|n| {
                if let Some(bar) = &bar {
                    bar.set_position(n);
                }
            })?;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            done.rows
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    if !quiet {
        let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
        eprintln!(
            "wrote {} rows ({:.1} MB) to {} in {seconds:.1} s ({} rows/s)",
            group(rows as f64, 0),
            bytes as f64 / 1e6,
            out.display(),
            group(rows as f64 / seconds.max(1e-9), 0)
        );
    }
    Ok(())
}
