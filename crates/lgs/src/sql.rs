//! Ad-hoc SQL over the warehouse: scripts split into statements (with their line, for
//! errors), executed one by one, results streamed to a writer batch by batch.

use std::io::Write;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::context::SQLOptions;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::{DataFrame, SessionContext};
use datafusion::sql::parser::{DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::Spanned;
use futures::StreamExt;

use crate::error::{LgsError, Result};

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlFormat {
    /// Readable tables, printed in chunks as rows arrive.
    Table,
    /// A JSON array with one object per row.
    Json,
    /// CSV with a header line.
    Csv,
    /// A Parquet file (needs a file to write to).
    Parquet,
}

/// One statement of a script.
pub struct ParsedStatement {
    /// 1-based position in the script.
    pub index: usize,
    /// 1-based line where the statement starts, when the parser knows it.
    pub line: Option<u64>,
    statement: DFStatement,
}

/// Splits a script into statements (separated by `;`). A syntax error is reported with
/// the parser's line and column.
pub fn parse_script(sql: &str) -> Result<Vec<ParsedStatement>> {
    let rewritten = crate::asof::rewrite(sql)?;
    let sql = rewritten.as_deref().unwrap_or(sql);
    let statements = DFParserBuilder::new(sql)
        .build()
        .and_then(|mut p| p.parse_statements())
        .map_err(|source| LgsError::Sql {
            statement: None,
            line: None,
            source: Box::new(source),
        })?;
    if statements.is_empty() {
        return Err(LgsError::InvalidArgument {
            what: "SQL",
            message: "no statement to run".into(),
        });
    }
    Ok(statements
        .into_iter()
        .enumerate()
        .map(|(i, statement)| {
            let line = match &statement {
                DFStatement::Statement(s) => {
                    let line = s.span().start.line;
                    (line > 0).then_some(line)
                }
                _ => None,
            };
            ParsedStatement {
                index: i + 1,
                line,
                statement,
            }
        })
        .collect())
}

/// Plans and starts one statement; its rows arrive on the returned stream.
pub async fn execute(
    ctx: &SessionContext,
    statement: ParsedStatement,
) -> Result<SendableRecordBatchStream> {
    execute_with(ctx, statement, &SQLOptions::new()).await
}

/// Runs `sql` as the dashboard (and every served surface) does: exactly one
/// statement, and a query (no DDL, DML or statements such as `SET`). A script of
/// several statements is refused, not run in part.
pub async fn execute_read_only(
    ctx: &SessionContext,
    sql: &str,
) -> Result<SendableRecordBatchStream> {
    let mut statements = parse_script(sql)?;
    if statements.len() != 1 {
        return Err(LgsError::InvalidArgument {
            what: "SQL",
            message: format!("run one statement at a time ({} given)", statements.len()),
        });
    }
    let read_only = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let statement = statements.pop().expect("one statement");
    execute_with(ctx, statement, &read_only).await
}

/// [`execute`], refusing what `options` does not allow (e.g. anything but queries).
pub async fn execute_with(
    ctx: &SessionContext,
    statement: ParsedStatement,
    options: &SQLOptions,
) -> Result<SendableRecordBatchStream> {
    let (index, line) = (statement.index, statement.line);
    let df = plan_with(ctx, statement, options).await?;
    df.execute_stream()
        .await
        .map_err(|e| located(ctx, index, line, e))
}

/// Plans one statement without running it (a query runs when its frame is
/// collected or streamed); errors name the statement's line.
pub async fn plan(ctx: &SessionContext, statement: ParsedStatement) -> Result<DataFrame> {
    plan_with(ctx, statement, &SQLOptions::new()).await
}

/// [`plan`], refusing what `options` does not allow.
pub async fn plan_with(
    ctx: &SessionContext,
    statement: ParsedStatement,
    options: &SQLOptions,
) -> Result<DataFrame> {
    let at = |source| located(ctx, statement.index, statement.line, source);
    // Tables read at an earlier state (`VERSION AS OF`) are opened now.
    let state = ctx.state();
    let pinned: Vec<String> = state
        .resolve_table_references(&statement.statement)
        .map_err(at)?
        .iter()
        .map(|t| t.table().to_string())
        .filter(|t| t.contains('@'))
        .collect();
    crate::asof::register_pinned(ctx, &pinned).await?;
    let plan = ctx
        .state()
        .statement_to_plan(statement.statement.clone())
        .await
        .map_err(at)?;
    options.verify_plan(&plan).map_err(at)?;
    ctx.execute_logical_plan(plan).await.map_err(at)
}

/// A DataFusion error of statement `index` (at `line`), with a hint where one helps.
fn located(
    ctx: &SessionContext,
    index: usize,
    line: Option<u64>,
    source: DataFusionError,
) -> LgsError {
    let message = source.to_string();
    let source = if let DataFusionError::NotImplemented(what) = &source
        && ["SORT BY", "CLUSTER BY", "DISTRIBUTE BY"]
            .iter()
            .any(|k| what.contains(k))
    {
        // HiveQL's per-reducer orderings: say what runs instead.
        DataFusionError::NotImplemented(format!(
            "{what} (HiveQL): use ORDER BY, a total order; DISTRIBUTE BY x SORT BY y \
             and CLUSTER BY x become ORDER BY x, y and ORDER BY x"
        ))
    } else if let Some(hint) = suggestion(ctx, &message) {
        DataFusionError::Plan(format!("{message}\nHint: {hint}"))
    } else {
        source
    };
    LgsError::Sql {
        statement: Some(index),
        line,
        source: Box::new(source),
    }
}

/// "Did you mean ...?" for an unknown table or column, by edit distance.
fn suggestion(ctx: &SessionContext, message: &str) -> Option<String> {
    if let Some(rest) = message.split("table '").nth(1)
        && message.contains("not found")
    {
        let wanted = rest.split('\'').next()?.rsplit('.').next()?;
        let names = ctx.catalog("datafusion")?.schema("public")?.table_names();
        let best = closest(wanted, names.iter().map(String::as_str))?;
        return Some(format!("did you mean table '{best}'?"));
    }
    if let Some(rest) = message.split("No field named ").nth(1) {
        let wanted = rest.split(['.', ' ', '\n']).next()?.trim_matches('"');
        let valid = message.split("Valid fields are ").nth(1)?;
        let names = valid
            .trim_end_matches('.')
            .split(", ")
            .map(|f| f.rsplit('.').next().unwrap_or(f).trim_matches('"'));
        let best = closest(wanted, names)?;
        return Some(format!("did you mean column '{best}'?"));
    }
    None
}

/// The candidate nearest to `wanted`, if it is near enough to be a typo.
pub(crate) fn closest<'a>(
    wanted: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let wanted = wanted.to_ascii_lowercase();
    candidates
        .map(|c| (edit_distance(&wanted, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d > 0 && *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(row[j]).min(row[j + 1])
            };
            previous = current;
        }
    }
    row[b.len()]
}

/// Writes a result stream in `format`, batch by batch; returns the number of rows.
/// A statement without result columns (`CREATE VIEW`, `SET`) writes nothing.
/// `Parquet` needs `out` to be a file (see [`write_parquet`]).
pub async fn write_stream(
    mut stream: SendableRecordBatchStream,
    format: SqlFormat,
    out: &mut (dyn Write + Send),
) -> Result<u64> {
    if stream.schema().fields().is_empty() {
        while next(&mut stream).await?.is_some() {}
        return Ok(0);
    }
    let io = |source: std::io::Error| LgsError::Output { source };
    let arrow = |e: datafusion::arrow::error::ArrowError| match e {
        datafusion::arrow::error::ArrowError::IoError(_, source) => LgsError::Output { source },
        other => LgsError::Write {
            path: "<output>".into(),
            message: other.to_string(),
        },
    };
    let mut rows = 0u64;
    match format {
        SqlFormat::Table => {
            // Tables are for people: print chunks of at least 1,000 rows as they come.
            let mut pending: Vec<RecordBatch> = Vec::new();
            let mut pending_rows = 0;
            while let Some(batch) = next(&mut stream).await? {
                rows += batch.num_rows() as u64;
                pending_rows += batch.num_rows();
                pending.push(batch);
                if pending_rows >= 1000 {
                    writeln!(out, "{}", pretty_format_batches(&pending).map_err(arrow)?)
                        .map_err(io)?;
                    pending.clear();
                    pending_rows = 0;
                }
            }
            if !pending.is_empty() || rows == 0 {
                let schema = stream.schema();
                if pending.is_empty() {
                    pending.push(RecordBatch::new_empty(schema));
                }
                writeln!(out, "{}", pretty_format_batches(&pending).map_err(arrow)?).map_err(io)?;
            }
            writeln!(out, "({rows} row{})", if rows == 1 { "" } else { "s" }).map_err(io)?;
        }
        SqlFormat::Json => {
            let mut writer = arrow_json::ArrayWriter::new(&mut *out);
            while let Some(batch) = next(&mut stream).await? {
                rows += batch.num_rows() as u64;
                writer.write(&batch).map_err(arrow)?;
            }
            writer.finish().map_err(arrow)?;
            writeln!(out).map_err(io)?;
        }
        SqlFormat::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            while let Some(batch) = next(&mut stream).await? {
                rows += batch.num_rows() as u64;
                writer.write(&batch).map_err(arrow)?;
            }
        }
        SqlFormat::Parquet => {
            return Err(LgsError::InvalidArgument {
                what: "output",
                message: "Parquet output needs a file: use --out FILE".into(),
            });
        }
    }
    Ok(rows)
}

/// Writes a result stream to a Parquet file; returns the number of rows.
pub async fn write_parquet(
    mut stream: SendableRecordBatchStream,
    path: &std::path::Path,
) -> Result<u64> {
    let fail = |e: &dyn std::fmt::Display| LgsError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let file = std::fs::File::create(path).map_err(|e| fail(&e))?;
    let mut writer = ArrowWriter::try_new(file, stream.schema(), None).map_err(|e| fail(&e))?;
    let mut rows = 0u64;
    while let Some(batch) = next(&mut stream).await? {
        rows += batch.num_rows() as u64;
        writer.write(&batch).map_err(|e| fail(&e))?;
    }
    writer.close().map_err(|e| fail(&e))?;
    Ok(rows)
}

async fn next(stream: &mut SendableRecordBatchStream) -> Result<Option<RecordBatch>> {
    match stream.next().await {
        None => Ok(None),
        Some(Ok(batch)) => Ok(Some(batch)),
        Some(Err(e)) => Err(LgsError::query("running the statement", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::{closest, edit_distance};

    #[test]
    fn suggests_near_names_only() {
        assert_eq!(edit_distance("custmer_id", "customer_id"), 1);
        let names = ["customer_id", "country", "invoice_no"];
        assert_eq!(
            closest("custmer_id", names.into_iter()),
            Some("customer_id")
        );
        assert_eq!(closest("xyz", names.into_iter()), None);
        assert_eq!(
            closest("retial", ["retail", "wdi"].into_iter()),
            Some("retail")
        );
    }
}
