//! Results back to PostgreSQL, for the BI tools that read the warehouse there:
//! `lgs report --to postgres://user@host:port/db?schema=marketing`.
//!
//! Every result table of every section is written with typed columns and its
//! declared primary key. All of
//! them are replaced in one transaction (drop, create, COPY, commit), so a reader sees
//! either the previous report or the new one, never a mix or a half-written table,
//! and re-running gives the same tables, never duplicates.

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::csv::WriterBuilder;
use datafusion::arrow::datatypes::DataType;
use futures::SinkExt;

use super::Sink;
use crate::analytics::Report;
use crate::error::{LgsError, Result};
use crate::pg::{PgServer, quote_ident};

/// Result tables in PostgreSQL, at this URL.
pub struct Postgres(pub String);

#[async_trait]
impl Sink for Postgres {
    async fn write(&self, report: &Report) -> Result<Option<String>> {
        let written = to_postgres(report, &self.0).await?;
        let tables: Vec<String> = written
            .iter()
            .map(|(t, rows)| format!("{t} ({rows} rows)"))
            .collect();
        Ok(Some(format!(
            "replaced in PostgreSQL {}: {}",
            crate::pg::redact(&self.0),
            tables.join(", ")
        )))
    }
}

fn pg_type(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Boolean => "boolean",
        DataType::Int8 | DataType::Int16 | DataType::Int32 => "integer",
        DataType::Int64 | DataType::UInt8 | DataType::UInt16 | DataType::UInt32 => "bigint",
        DataType::UInt64 => "numeric(20,0)",
        DataType::Float16 | DataType::Float32 | DataType::Float64 => "double precision",
        DataType::Decimal128(..) | DataType::Decimal256(..) => "numeric",
        _ => "text",
    }
}

/// What was written: (schema-qualified table, rows).
pub type Exported = Vec<(String, usize)>;

/// Writes the report's tables into PostgreSQL (`?schema=NAME` picks the schema,
/// created if missing; default `public`).
pub async fn to_postgres(report: &Report, url: &str) -> Result<Exported> {
    let (server, extra) = PgServer::parse(url, &["schema"])?;
    let schema = extra
        .iter()
        .find(|(k, _)| k == "schema")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "public".into());
    let mut client = server.connect().await?;
    let err = |doing: String, e: tokio_postgres::Error| server.error(&doing, &e);
    let tx = client
        .transaction()
        .await
        .map_err(|e| err("cannot start a transaction".into(), e))?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {}",
        quote_ident(&schema)
    ))
    .await
    .map_err(|e| err(format!("cannot create schema {schema}"), e))?;
    let mut written = Vec::new();
    for table in report.tables() {
        let (name, batch, primary_key) = (table.name, &table.batch, table.primary_key);
        let qualified = format!("{}.{}", quote_ident(&schema), quote_ident(name));
        let columns: Vec<String> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| {
                let not_null = if primary_key.contains(&f.name().as_str()) {
                    " NOT NULL"
                } else {
                    ""
                };
                format!(
                    "{} {}{not_null}",
                    quote_ident(f.name()),
                    pg_type(f.data_type())
                )
            })
            .collect();
        let key = primary_key
            .iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        let key = if key.is_empty() {
            String::new()
        } else {
            format!(", PRIMARY KEY ({key})")
        };
        tx.batch_execute(&format!(
            "DROP TABLE IF EXISTS {qualified}; CREATE TABLE {qualified} ({}{key})",
            columns.join(", ")
        ))
        .await
        .map_err(|e| err(format!("cannot create {schema}.{name}"), e))?;
        let sink = tx
            .copy_in::<_, Bytes>(&format!("COPY {qualified} FROM STDIN (FORMAT csv)"))
            .await
            .map_err(|e| err(format!("cannot load {schema}.{name}"), e))?;
        let mut sink = Box::pin(sink);
        sink.send(Bytes::from(csv_rows(batch)?))
            .await
            .map_err(|e| err(format!("cannot load {schema}.{name}"), e))?;
        sink.as_mut()
            .finish()
            .await
            .map_err(|e| err(format!("cannot load {schema}.{name}"), e))?;
        written.push((format!("{schema}.{name}"), batch.num_rows()));
    }
    tx.commit()
        .await
        .map_err(|e| err("cannot commit".into(), e))?;
    Ok(written)
}

/// The batch as CSV without a header (empty unquoted fields are NULL to COPY).
fn csv_rows(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut writer = WriterBuilder::new().with_header(false).build(&mut out);
    writer.write(batch).map_err(|e| LgsError::Write {
        path: "<PostgreSQL COPY>".into(),
        message: e.to_string(),
    })?;
    drop(writer);
    Ok(out)
}
