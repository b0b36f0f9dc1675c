//! What an analysis returns: a [`Section`] of the report, with everything an
//! output needs to show it without knowing the analysis (its JSON keys, its
//! terminal tables, its result tables with declared types and primary keys, its
//! charts and its headline figures).

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::charts::Chart;
use crate::error::{LgsError, Result};

/// One section of the report.
#[derive(Clone)]
pub struct Section {
    /// The analysis's name (`monthly`, `cohorts`).
    pub name: &'static str,
    pub title: String,
    /// The keys it adds to the report's JSON document, in order.
    pub json: Map<String, Value>,
    /// How it reads in a terminal, in order.
    pub text: Vec<TextTable>,
    /// Its results as typed tables (written by `--out`, `--save` and `--to`).
    pub tables: Vec<ResultTable>,
    pub charts: Vec<Chart>,
    /// Where its charts go among all the report's (smaller first; sections of the
    /// same rank in the order of the sections). Default 100.
    pub chart_rank: u8,
    /// Its headline figures (the report page's tiles).
    pub figures: Vec<Figure>,
    /// The analysis's own typed result, for callers that know it
    /// ([`super::Report::part`]).
    data: Arc<dyn Any + Send + Sync>,
}

impl Section {
    /// A section whose JSON keys are the fields of `data` (serialised with serde).
    pub fn new<T: Serialize + Any + Send + Sync>(
        name: &'static str,
        title: impl Into<String>,
        data: T,
    ) -> Section {
        let json = match serde_json::to_value(&data).expect("analysis results serialise") {
            Value::Object(map) => map,
            other => Map::from_iter([(name.to_string(), other)]),
        };
        Section {
            name,
            title: title.into(),
            json,
            text: vec![],
            tables: vec![],
            charts: vec![],
            chart_rank: 100,
            figures: vec![],
            data: Arc::new(data),
        }
    }

    /// The analysis's typed result, when it is a `T`.
    pub fn data<T: Any>(&self) -> Option<&T> {
        self.data.downcast_ref()
    }
}

impl std::fmt::Debug for Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Section")
            .field("name", &self.name)
            .field("json", &self.json)
            .field("tables", &self.tables)
            .finish_non_exhaustive()
    }
}

/// Two sections are equal when their names, JSON and result tables are.
impl PartialEq for Section {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.json == other.json && self.tables == other.tables
    }
}

/// A table as the terminal shows it: a heading, a header and formatted cells (the
/// first `left` columns aligned left, the others right), and a note beneath it
/// (none when empty).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextTable {
    pub heading: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub left: usize,
    pub note: String,
}

/// A headline figure: a formatted value and what it is. Pages show figures of all
/// sections ordered by `rank` (then by section order).
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub rank: u8,
    pub value: String,
    pub label: String,
}

/// A result table: an Arrow batch with declared types and its primary key.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultTable {
    /// Its name in every output (`monthly` is `monthly.parquet`, the Delta table
    /// `report_monthly` and the PostgreSQL table `monthly`).
    pub name: &'static str,
    pub batch: RecordBatch,
    pub primary_key: &'static [&'static str],
    /// One row per customer or finer: left out of the CSV on standard output.
    pub detail: bool,
}

/// Builds a [`ResultTable`] column by column, each with its declared type (a column
/// that is null in every row keeps it).
#[derive(Default)]
pub struct TableBuilder {
    fields: Vec<Field>,
    columns: Vec<ArrayRef>,
}

impl TableBuilder {
    pub fn new() -> TableBuilder {
        TableBuilder::default()
    }

    fn push(mut self, name: &str, data_type: DataType, column: ArrayRef) -> TableBuilder {
        self.fields.push(Field::new(name, data_type, true));
        self.columns.push(column);
        self
    }

    pub fn utf8<S: AsRef<str>>(self, name: &str, values: impl IntoIterator<Item = S>) -> Self {
        let array: StringArray = values
            .into_iter()
            .map(|s| Some(s.as_ref().to_owned()))
            .collect();
        self.push(name, DataType::Utf8, Arc::new(array))
    }

    pub fn i64(self, name: &str, values: impl IntoIterator<Item = Option<i64>>) -> Self {
        let array: Int64Array = values.into_iter().collect();
        self.push(name, DataType::Int64, Arc::new(array))
    }

    pub fn f64(self, name: &str, values: impl IntoIterator<Item = Option<f64>>) -> Self {
        let array: Float64Array = values.into_iter().collect();
        self.push(name, DataType::Float64, Arc::new(array))
    }

    pub fn boolean(self, name: &str, values: impl IntoIterator<Item = Option<bool>>) -> Self {
        let array: BooleanArray = values.into_iter().collect();
        self.push(name, DataType::Boolean, Arc::new(array))
    }

    /// The table named `name` with primary key `primary_key` (every key column must
    /// be one of the table's).
    pub fn build(
        self,
        name: &'static str,
        primary_key: &'static [&'static str],
    ) -> Result<ResultTable> {
        let err = |message: String| LgsError::Write {
            path: format!("<report table {name}>").into(),
            message,
        };
        if let Some(missing) = primary_key
            .iter()
            .find(|k| !self.fields.iter().any(|f| f.name() == *k))
        {
            return Err(err(format!("primary key column {missing} is not a column")));
        }
        let schema = Arc::new(Schema::new(self.fields));
        let batch = RecordBatch::try_new(schema, self.columns).map_err(|e| err(e.to_string()))?;
        Ok(ResultTable {
            name,
            batch,
            primary_key,
            detail: false,
        })
    }
}

/// A count as an Arrow `Int64` value.
pub fn count(v: u64) -> Option<i64> {
    Some(v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Declared types hold for a column that is null in every row, and a primary
    /// key that names no column is refused.
    #[test]
    fn result_tables_keep_their_declared_types() {
        let t = TableBuilder::new()
            .utf8("month", ["2011-01", "2011-02"])
            .f64("growth", [None, None])
            .build("t", &["month"])
            .unwrap();
        assert_eq!(t.batch.schema().field(1).data_type(), &DataType::Float64);
        assert_eq!(t.batch.num_rows(), 2);
        let bad = TableBuilder::new()
            .utf8("month", ["2011-01"])
            .build("t", &["nope"]);
        assert!(bad.unwrap_err().to_string().contains("nope"));
    }
}
