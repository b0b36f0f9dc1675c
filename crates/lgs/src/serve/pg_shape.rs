//! PostgreSQL's catalog tables shaped as PostgreSQL shapes them, where the
//! queries drivers send to reflect keys and indexes need it:
//! - `pg_index` and `pg_constraint` with their key columns as arrays (`int2vector`,
//!   `oidvector`, `int2[]`, `oid[]`): SQLAlchemy's inspector `unnest`s
//!   `pg_index.indkey` and takes its `generate_subscripts`, Npgsql matches
//!   `attnum = ANY(conkey)`. datafusion-postgres's catalog holds them as text
//!   (`"1 2"`, `"[1, 2]"`).
//! - `pg_class` with the columns it lacks (`reloptions`, `relacl`), NULL as for a
//!   table without options or grants.
//! - `pg_settings` with the settings lgs answers `current_setting` with
//!   (pgjdbc reads `max_index_keys` there before it reflects foreign keys).
//!
//! lgs tables have no keys or indexes, so the rows are those of PostgreSQL's own
//! catalogs that datafusion-postgres ships; a client reflecting an lgs table gets
//! no key, no index, no constraint, as PostgreSQL answers for a table without any.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int32Builder, ListBuilder, RecordBatch, StringArray, new_null_array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{MemTable, SchemaProvider};
use datafusion::common::{Column, ScalarValue, TableReference};
use datafusion::datasource::{TableProvider, ViewTable, provider_as_source};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, lit};
use datafusion::prelude::SessionContext;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::PgCatalogStaticTables;

use super::pg_compat::SETTINGS;

/// The element type of an array column: PostgreSQL's `int2` or `oid`.
#[derive(Clone, Copy)]
enum Element {
    Int2,
    Oid,
}

/// The columns of each table that PostgreSQL holds as arrays.
const ARRAYS: &[(&str, &[(&str, Element)])] = &[
    (
        "pg_index",
        &[
            ("indkey", Element::Int2),
            ("indcollation", Element::Oid),
            ("indclass", Element::Oid),
            ("indoption", Element::Int2),
        ],
    ),
    (
        "pg_constraint",
        &[
            ("conkey", Element::Int2),
            ("confkey", Element::Int2),
            ("conpfeqop", Element::Oid),
            ("conppeqop", Element::Oid),
            ("conffeqop", Element::Oid),
            ("confdelsetcols", Element::Int2),
            ("conexclop", Element::Oid),
        ],
    ),
];

/// The two tables with array columns, built once per process.
static TABLES: LazyLock<Result<Vec<Named>, String>> =
    LazyLock::new(|| build().map_err(|e| e.to_string()));

/// A catalog table by its name.
type Named = (&'static str, Arc<MemTable>);

fn build() -> Result<Vec<Named>> {
    let statics = PgCatalogStaticTables::try_new()?;
    let mut tables = vec![];
    for (name, columns) in ARRAYS {
        let shipped = match *name {
            "pg_index" => statics.pg_index.try_into_memtable()?,
            _ => statics.pg_constraint.try_into_memtable()?,
        };
        let mut batches = vec![];
        for partition in &shipped.batches {
            let held = partition
                .try_read()
                .map_err(|e| DataFusionError::Internal(e.to_string()))?;
            for batch in held.iter() {
                batches.push(with_arrays(batch, columns)?);
            }
        }
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => with_arrays(&RecordBatch::new_empty(shipped.schema()), columns)?.schema(),
        };
        tables.push((*name, Arc::new(MemTable::try_new(schema, vec![batches])?)));
    }
    Ok(tables)
}

/// `batch` with each of `columns` (text) parsed into an array column.
fn with_arrays(batch: &RecordBatch, columns: &[(&str, Element)]) -> Result<RecordBatch> {
    let schema = batch.schema();
    let mut fields = vec![];
    let mut arrays: Vec<ArrayRef> = vec![];
    for (field, array) in schema.fields().iter().zip(batch.columns()) {
        let element = columns.iter().find(|(c, _)| c == field.name());
        match (element, array.as_string_opt::<i32>()) {
            (Some((_, element)), Some(text)) => {
                let parsed = parse(text, *element)?;
                fields.push(Field::new(field.name(), parsed.data_type().clone(), true));
                arrays.push(parsed);
            }
            _ => {
                fields.push(field.as_ref().clone());
                arrays.push(array.clone());
            }
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// PostgreSQL's text form of a vector (`1 2`) or an array (`{1,2}`; the shipped
/// catalog writes `[1, 2]`) as lists.
fn parse(text: &StringArray, element: Element) -> Result<ArrayRef> {
    let values = |s: &str| -> Result<Vec<i32>> {
        s.trim_matches(|c| matches!(c, '{' | '}' | '[' | ']'))
            .split([' ', ','])
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<i32>().map_err(|_| {
                    DataFusionError::Internal(format!("not a PostgreSQL vector: {s:?}"))
                })
            })
            .collect()
    };
    let mut list = ListBuilder::new(Int32Builder::new());
    for s in text {
        match s {
            None => list.append_null(),
            Some(s) => {
                list.values().append_slice(&values(s)?);
                list.append(true);
            }
        }
    }
    let list: ArrayRef = Arc::new(list.finish());
    Ok(match element {
        Element::Oid => list,
        Element::Int2 => {
            let int2 = DataType::List(Arc::new(Field::new_list_field(DataType::Int16, true)));
            cast(&list, &int2)?
        }
    })
}

/// Columns PostgreSQL's tables have that datafusion-postgres's lack: NULL text
/// arrays.
const ADDED: &[(&str, &[&str])] = &[("pg_class", &["relacl", "reloptions"])];

/// `table` with the `added` columns, NULL text arrays, after its own.
fn with_nulls(
    name: &str,
    table: Arc<dyn TableProvider>,
    added: &[&str],
) -> Result<Arc<dyn TableProvider>> {
    let scan = LogicalPlanBuilder::scan(name, provider_as_source(table.clone()), None)?;
    let mut columns: Vec<Expr> = table
        .schema()
        .fields()
        .iter()
        .map(|f| Expr::Column(Column::new(Some(TableReference::bare(name)), f.name())))
        .collect();
    let text_array = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));
    for column in added {
        columns.push(lit(ScalarValue::try_from(&text_array)?).alias(*column));
    }
    let plan = scan.project(columns)?.build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}

/// `pg_settings` (of `schema`) holding [`SETTINGS`]: their names and values,
/// the other columns NULL.
fn settings(schema: SchemaRef) -> Result<Arc<dyn TableProvider>> {
    let column = |name: &str, values: Vec<&str>| -> ArrayRef {
        match schema.field_with_name(name).map(|f| f.data_type()) {
            Ok(DataType::Utf8) => Arc::new(StringArray::from(values)),
            Ok(other) => new_null_array(other, SETTINGS.len()),
            Err(_) => new_null_array(&DataType::Utf8, SETTINGS.len()),
        }
    };
    let arrays = schema
        .fields()
        .iter()
        .map(|f| match f.name().as_str() {
            "name" => column("name", SETTINGS.iter().map(|(n, _)| *n).collect()),
            "setting" => column("setting", SETTINGS.iter().map(|(_, v)| *v).collect()),
            _ => new_null_array(f.data_type(), SETTINGS.len()),
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), arrays)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

/// The session's `pg_catalog` with [`ARRAYS`]' tables in place of the shipped
/// ones and [`ADDED`]'s columns.
#[derive(Debug)]
struct Keyed {
    inner: Arc<dyn SchemaProvider>,
    tables: &'static [Named],
}

#[async_trait]
impl SchemaProvider for Keyed {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some((_, table)) = self.tables.iter().find(|(n, _)| *n == name) {
            return Ok(Some(table.clone()));
        }
        let table = self.inner.table(name).await?;
        if let (Some(table), "pg_settings") = (&table, name) {
            return Ok(Some(settings(table.schema())?));
        }
        match (table, ADDED.iter().find(|(n, _)| *n == name)) {
            (Some(table), Some((_, added))) => Ok(Some(with_nulls(name, table, added)?)),
            (table, _) => Ok(table),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

/// Shapes the session's `pg_catalog` as the module says (after
/// datafusion-postgres's `setup_pg_catalog`).
pub fn register(ctx: &SessionContext) -> Result<()> {
    let tables = TABLES
        .as_ref()
        .map_err(|e| DataFusionError::Internal(e.clone()))?;
    let name = ctx.catalog_names().into_iter().next().unwrap_or_default();
    let catalog = ctx
        .catalog(&name)
        .ok_or_else(|| DataFusionError::Plan(format!("no catalog {name}")))?;
    let inner = catalog
        .schema("pg_catalog")
        .ok_or_else(|| DataFusionError::Plan("no pg_catalog".into()))?;
    catalog.register_schema("pg_catalog", Arc::new(Keyed { inner, tables }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_and_arrays_are_parsed_in_order_keeping_nulls() {
        let text = StringArray::from(vec![Some("1 2"), Some("[3, 1]"), Some(""), None]);
        let parsed = parse(&text, Element::Int2).unwrap();
        let list = parsed.as_list::<i32>();
        let values = |i: usize| -> Vec<i16> {
            let v = list.value(i);
            v.as_primitive::<datafusion::arrow::datatypes::Int16Type>()
                .values()
                .to_vec()
        };
        assert_eq!(values(0), vec![1, 2]);
        assert_eq!(values(1), vec![3, 1]);
        assert!(values(2).is_empty() && list.is_valid(2));
        assert!(list.is_null(3));
        assert!(parse(&StringArray::from(vec!["1 x"]), Element::Oid).is_err());
    }

    #[test]
    fn the_shipped_tables_keep_their_rows_with_array_columns() {
        let tables = TABLES.as_ref().unwrap();
        let (_, index) = tables.iter().find(|(n, _)| *n == "pg_index").unwrap();
        let schema = index.schema();
        let indkey = schema.field_with_name("indkey").unwrap();
        assert!(
            matches!(indkey.data_type(), DataType::List(f) if f.data_type() == &DataType::Int16)
        );
        let rows: usize = index.batches[0]
            .try_read()
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum();
        assert!(rows > 100, "{rows}");
    }
}
