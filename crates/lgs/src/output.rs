//! Rendering a [`Report`]: terminal tables, one JSON document, CSV, and result files
//! (Parquet and CSV) for `--out`.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use deltalake::DeltaTable;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use serde::Serialize;

use crate::analytics::{AmountStats, HistogramBin, Report};
use crate::error::{LgsError, Result};
use crate::warehouse::Warehouse;

/// The report as one JSON document (numbers unrounded).
pub fn to_json(report: &Report) -> String {
    serde_json::to_string_pretty(report).expect("a report always serialises")
}

/// Formats a number with thousands separators and `decimals` places.
pub fn group(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let text = format!("{:.*}", decimals, value.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if value < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

fn new_table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().map(Cell::new));
    t
}

fn right(s: impl Into<String>) -> Cell {
    Cell::new(s.into()).set_alignment(CellAlignment::Right)
}

fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "".into(), |v| format!("{v:.3} %"))
}

/// The report as readable terminal tables.
pub fn to_tables(report: &Report) -> String {
    let mut out = String::new();
    let stats = |s: &AmountStats, with_p85: bool| {
        let mut t = new_table(&["count", "min", "mean", "median", "mode", "max", "p85"]);
        t.add_row(vec![
            right(group(s.count as f64, 0)),
            right(group(s.min, 2)),
            right(group(s.mean, 4)),
            right(group(s.median, 4)),
            right(group(s.mode, 2)),
            right(group(s.max, 2)),
            right(if with_p85 {
                group(s.p85, 4)
            } else {
                String::new()
            }),
        ]);
        t
    };
    out.push_str("Invoice amounts (GBP; lines with price > 0 and quantity > 0)\n");
    out.push_str(&stats(&report.invoice_amount, true).to_string());
    out.push_str("\n\nInvoice amounts without outliers (amount <= p85)\n");
    out.push_str(&stats(&report.invoice_amount_trimmed, false).to_string());

    out.push_str("\n\nMonthly orders, sales and customers\n");
    let mut t = new_table(&[
        "month",
        "placed",
        "cancelled",
        "cancel rate",
        "sales (GBP)",
        "growth",
        "active",
        "new",
        "existing",
    ]);
    for m in &report.monthly {
        t.add_row(vec![
            Cell::new(&m.month),
            right(group(m.placed_orders as f64, 0)),
            right(group(m.cancelled_orders as f64, 0)),
            right(percent(m.cancellation_rate.map(|r| r * 100.0))),
            right(group(m.sales, 2)),
            right(percent(m.sales_growth_pct)),
            right(group(m.active_users as f64, 0)),
            right(group(m.new_users as f64, 0)),
            right(group(m.existing_users as f64, 0)),
        ]);
    }
    out.push_str(&t.to_string());

    out.push_str(&format!("\n\nRFM segments (as of {})\n", report.as_of));
    let mut t = new_table(&[
        "segment",
        "customers",
        "share",
        "avg recency (days)",
        "avg frequency",
        "avg monetary (GBP)",
        "revenue share",
    ]);
    for s in &report.rfm_segments {
        t.add_row(vec![
            Cell::new(&s.segment),
            right(group(s.customers as f64, 0)),
            right(percent(Some(s.customer_share * 100.0))),
            right(group(s.avg_recency_days, 1)),
            right(group(s.avg_frequency, 2)),
            right(group(s.avg_monetary, 2)),
            right(percent(Some(s.revenue_share * 100.0))),
        ]);
    }
    out.push_str(&t.to_string());
    out.push('\n');
    out
}

/// The report's results as named tables of rows, in a fixed order.
pub(crate) fn result_tables(report: &Report) -> Result<Vec<(&'static str, RecordBatch)>> {
    #[derive(Serialize)]
    struct StatsRow<'a> {
        population: &'a str,
        #[serde(flatten)]
        stats: &'a AmountStats,
    }
    #[derive(Serialize)]
    struct BinRow<'a> {
        population: &'a str,
        #[serde(flatten)]
        bin: &'a HistogramBin,
    }
    let stats = [
        StatsRow {
            population: "all",
            stats: &report.invoice_amount,
        },
        StatsRow {
            population: "trimmed",
            stats: &report.invoice_amount_trimmed,
        },
    ];
    let bins: Vec<BinRow> = report
        .invoice_amount_histogram
        .iter()
        .map(|bin| BinRow {
            population: "all",
            bin,
        })
        .chain(
            report
                .invoice_amount_trimmed_histogram
                .iter()
                .map(|bin| BinRow {
                    population: "trimmed",
                    bin,
                }),
        )
        .collect();
    Ok(vec![
        ("invoice_amount_stats", to_batch(&stats)?),
        ("invoice_amount_histogram", to_batch(&bins)?),
        ("monthly", to_batch(&report.monthly)?),
        ("rfm_segments", to_batch(&report.rfm_segments)?),
        ("rfm_customers", to_batch(&report.rfm_customers)?),
    ])
}

/// Saves every result table into the warehouse as the Delta table `report_<name>`,
/// each replaced in one commit, so that `lgs sql` can query them. Returns the names.
pub async fn save_results(report: &Report, warehouse: &Warehouse) -> Result<Vec<String>> {
    warehouse.ensure_writable().await?;
    let mut saved = Vec::new();
    for (name, batch) in result_tables(report)? {
        let table = format!("report_{name}");
        let url = warehouse.prepare_table_dir(&table)?;
        let delta_err = |e| LgsError::delta(&table, e);
        DeltaTable::try_from_url(url)
            .await
            .map_err(delta_err)?
            .write(vec![batch])
            .with_save_mode(SaveMode::Overwrite)
            .with_schema_mode(SchemaMode::Overwrite)
            .with_table_name(&table)
            .await
            .map_err(delta_err)?;
        saved.push(table);
    }
    Ok(saved)
}

/// Serialises rows into one Arrow batch, with a schema inferred from their values
/// (a column that is null in every row is typed as a float).
fn to_batch<T: Serialize>(rows: &[T]) -> Result<RecordBatch> {
    let err = |e: datafusion::arrow::error::ArrowError| LgsError::Write {
        path: "<report>".into(),
        message: e.to_string(),
    };
    let values: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::to_value(r).expect("report rows serialise"))
        .collect();
    let inferred: Schema =
        arrow_json::reader::infer_json_schema_from_iterator(values.iter().map(Ok)).map_err(err)?;
    let fields: Vec<Field> = inferred
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Null => Field::new(f.name(), DataType::Float64, true),
            _ => f.as_ref().clone(),
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let mut decoder = arrow_json::ReaderBuilder::new(schema.clone())
        .build_decoder()
        .map_err(err)?;
    decoder.serialize(&values).map_err(err)?;
    Ok(decoder
        .flush()
        .map_err(err)?
        .unwrap_or_else(|| RecordBatch::new_empty(schema)))
}

/// The report's tables as CSV sections on one stream: each preceded by `# name`.
pub fn to_csv(report: &Report) -> Result<String> {
    let mut out = Vec::new();
    for (name, batch) in result_tables(report)? {
        if name == "rfm_customers" {
            continue;
        }
        out.extend_from_slice(format!("# {name}\n").as_bytes());
        let mut writer = datafusion::arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(&mut out);
        writer.write(&batch).map_err(|e| LgsError::Write {
            path: "<stdout>".into(),
            message: e.to_string(),
        })?;
        drop(writer);
        out.push(b'\n');
    }
    Ok(String::from_utf8(out).expect("CSV of UTF-8 data is UTF-8"))
}

/// Writes every result table as `<name>.parquet` and `<name>.csv` into `dir`.
pub fn write_results(report: &Report, dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| LgsError::Write {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut written = Vec::new();
    for (name, batch) in result_tables(report)? {
        let parquet_path = dir.join(format!("{name}.parquet"));
        let csv_path = dir.join(format!("{name}.csv"));
        let fail = |path: &Path, e: &dyn std::fmt::Display| LgsError::Write {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let file = File::create(&parquet_path).map_err(|e| fail(&parquet_path, &e))?;
        let mut writer = ArrowWriter::try_new(file, batch.schema(), None)
            .map_err(|e| fail(&parquet_path, &e))?;
        writer.write(&batch).map_err(|e| fail(&parquet_path, &e))?;
        writer.close().map_err(|e| fail(&parquet_path, &e))?;
        let file = File::create(&csv_path).map_err(|e| fail(&csv_path, &e))?;
        let mut writer = datafusion::arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(file);
        writer.write(&batch).map_err(|e| fail(&csv_path, &e))?;
        written.push(parquet_path);
        written.push(csv_path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::group;

    #[test]
    fn groups_thousands() {
        assert_eq!(group(1234567.891, 2), "1,234,567.89");
        assert_eq!(group(-1234.5, 1), "-1,234.5");
        assert_eq!(group(12.0, 0), "12");
        assert_eq!(group(-0.001, 2), "0.00");
        assert_eq!(group(999.999, 2), "1,000.00");
    }
}
