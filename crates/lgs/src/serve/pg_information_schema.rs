//! PostgreSQL's `information_schema` for a PostgreSQL connection's session, in
//! place of DataFusion's: the views BI tools read to list schemas, tables and
//! columns, with PostgreSQL's columns (`udt_name`, `is_identity`, …, which
//! Metabase's field sync reads) and type names (`bigint`, `numeric`, `text`), and
//! the constraint views, empty (lgs tables have no keys).
//!
//! Built when the connection's session opens, from the tables its role sees.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
use datafusion::datasource::{MemTable, TableType};
use datafusion::prelude::SessionContext;
use datafusion_postgres::arrow_pg::datatypes::into_pg_type;

use datafusion::error::{DataFusionError, Result};

const SCHEMA: &str = "information_schema";

/// One column of a table, as `information_schema.columns` lists it.
struct Column {
    schema: String,
    table: String,
    name: String,
    position: i32,
    nullable: bool,
    data_type: DataType,
}

/// A column of a view: its name and whether it is text (else an integer).
type Shape = &'static [(&'static str, bool)];

const SCHEMATA: Shape = &[
    ("catalog_name", true),
    ("schema_name", true),
    ("schema_owner", true),
    ("default_character_set_catalog", true),
    ("default_character_set_schema", true),
    ("default_character_set_name", true),
    ("sql_path", true),
];

const TABLES: Shape = &[
    ("table_catalog", true),
    ("table_schema", true),
    ("table_name", true),
    ("table_type", true),
    ("self_referencing_column_name", true),
    ("reference_generation", true),
    ("user_defined_type_catalog", true),
    ("user_defined_type_schema", true),
    ("user_defined_type_name", true),
    ("is_insertable_into", true),
    ("is_typed", true),
    ("commit_action", true),
];

const COLUMNS: Shape = &[
    ("table_catalog", true),
    ("table_schema", true),
    ("table_name", true),
    ("column_name", true),
    ("ordinal_position", false),
    ("column_default", true),
    ("is_nullable", true),
    ("data_type", true),
    ("character_maximum_length", false),
    ("character_octet_length", false),
    ("numeric_precision", false),
    ("numeric_precision_radix", false),
    ("numeric_scale", false),
    ("datetime_precision", false),
    ("interval_type", true),
    ("interval_precision", false),
    ("character_set_catalog", true),
    ("character_set_schema", true),
    ("character_set_name", true),
    ("collation_catalog", true),
    ("collation_schema", true),
    ("collation_name", true),
    ("domain_catalog", true),
    ("domain_schema", true),
    ("domain_name", true),
    ("udt_catalog", true),
    ("udt_schema", true),
    ("udt_name", true),
    ("scope_catalog", true),
    ("scope_schema", true),
    ("scope_name", true),
    ("maximum_cardinality", false),
    ("dtd_identifier", true),
    ("is_self_referencing", true),
    ("is_identity", true),
    ("identity_generation", true),
    ("identity_start", true),
    ("identity_increment", true),
    ("identity_maximum", true),
    ("identity_minimum", true),
    ("identity_cycle", true),
    ("is_generated", true),
    ("generation_expression", true),
    ("is_updatable", true),
];

const VIEWS: Shape = &[
    ("table_catalog", true),
    ("table_schema", true),
    ("table_name", true),
    ("view_definition", true),
    ("check_option", true),
    ("is_updatable", true),
    ("is_insertable_into", true),
];

/// The constraint views: empty.
const EMPTY: &[(&str, Shape)] = &[
    (
        "table_constraints",
        &[
            ("constraint_catalog", true),
            ("constraint_schema", true),
            ("constraint_name", true),
            ("table_catalog", true),
            ("table_schema", true),
            ("table_name", true),
            ("constraint_type", true),
            ("is_deferrable", true),
            ("initially_deferred", true),
            ("enforced", true),
            ("nulls_distinct", true),
        ],
    ),
    (
        "key_column_usage",
        &[
            ("constraint_catalog", true),
            ("constraint_schema", true),
            ("constraint_name", true),
            ("table_catalog", true),
            ("table_schema", true),
            ("table_name", true),
            ("column_name", true),
            ("ordinal_position", false),
            ("position_in_unique_constraint", false),
        ],
    ),
    (
        "referential_constraints",
        &[
            ("constraint_catalog", true),
            ("constraint_schema", true),
            ("constraint_name", true),
            ("unique_constraint_catalog", true),
            ("unique_constraint_schema", true),
            ("unique_constraint_name", true),
            ("match_option", true),
            ("update_rule", true),
            ("delete_rule", true),
        ],
    ),
    (
        "constraint_column_usage",
        &[
            ("table_catalog", true),
            ("table_schema", true),
            ("table_name", true),
            ("column_name", true),
            ("constraint_catalog", true),
            ("constraint_schema", true),
            ("constraint_name", true),
        ],
    ),
];

/// A value of a row: text or an integer, or NULL.
#[derive(Clone)]
enum Cell {
    Text(Option<String>),
    Int(Option<i32>),
}

fn text(value: &str) -> Cell {
    Cell::Text(Some(value.to_string()))
}

/// A table of `shape` holding `rows` (each as long as the shape).
fn table(shape: Shape, rows: Vec<Vec<Cell>>) -> Result<Arc<MemTable>> {
    let fields: Vec<Field> = shape
        .iter()
        .map(|(name, is_text)| {
            let data_type = if *is_text {
                DataType::Utf8
            } else {
                DataType::Int32
            };
            Field::new(*name, data_type, true)
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let columns: Vec<ArrayRef> = (0..shape.len())
        .map(|i| -> ArrayRef {
            match shape[i].1 {
                true => Arc::new(
                    rows.iter()
                        .map(|r| match &r[i] {
                            Cell::Text(t) => t.clone(),
                            Cell::Int(n) => n.map(|n| n.to_string()),
                        })
                        .collect::<StringArray>(),
                ),
                false => Arc::new(
                    rows.iter()
                        .map(|r| match &r[i] {
                            Cell::Int(n) => *n,
                            Cell::Text(_) => None,
                        })
                        .collect::<Int32Array>(),
                ),
            }
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

/// PostgreSQL's `data_type` and `udt_name` of an Arrow type, with its numeric
/// precision and scale.
fn pg_type(data_type: &DataType) -> (String, String, Option<i32>, Option<i32>) {
    let udt = into_pg_type(data_type)
        .map(|t| t.name().to_string())
        .unwrap_or_else(|_| "text".into());
    let sql = match udt.as_str() {
        "int2" => "smallint",
        "int4" => "integer",
        "int8" => "bigint",
        "float4" => "real",
        "float8" => "double precision",
        "bool" => "boolean",
        "varchar" => "character varying",
        "timestamp" => "timestamp without time zone",
        "timestamptz" => "timestamp with time zone",
        "time" => "time without time zone",
        name if name.starts_with('_') => "ARRAY",
        name => name,
    };
    let (precision, scale) = match data_type {
        DataType::Decimal128(p, s) => (Some(i32::from(*p)), Some(i32::from(*s))),
        DataType::Int16 => (Some(16), Some(0)),
        DataType::Int32 => (Some(32), Some(0)),
        DataType::Int64 => (Some(64), Some(0)),
        _ => (None, None),
    };
    (sql.to_string(), udt, precision, scale)
}

/// A row of `information_schema.columns`, in [`COLUMNS`]' order.
fn column_row(catalog: &str, c: &Column) -> Vec<Cell> {
    let (sql, udt, precision, scale) = pg_type(&c.data_type);
    let radix = precision.map(|_| match c.data_type {
        DataType::Decimal128(..) => 10,
        _ => 2,
    });
    let mut row = vec![
        text(catalog),
        text(&c.schema),
        text(&c.table),
        text(&c.name),
        Cell::Int(Some(c.position)),
        Cell::Text(None),
        text(if c.nullable { "YES" } else { "NO" }),
        text(&sql),
        Cell::Int(None),
        Cell::Int(None),
        Cell::Int(precision),
        Cell::Int(radix),
        Cell::Int(scale),
        Cell::Int(None),
        Cell::Text(None),
        Cell::Int(None),
    ];
    // No character set, collation or domain of their own.
    row.extend(std::iter::repeat_n(Cell::Text(None), 9));
    row.extend([text(catalog), text("pg_catalog"), text(&udt)]);
    // Not a reference type; not an array with a declared cardinality.
    row.extend(std::iter::repeat_n(Cell::Text(None), 3));
    row.extend([
        Cell::Int(None),
        text(&c.position.to_string()),
        text("NO"),
        text("NO"),
        Cell::Text(None),
    ]);
    // Not an identity column.
    row.extend(std::iter::repeat_n(Cell::Text(None), 5));
    row.extend([text("NEVER"), Cell::Text(None), text("NO")]);
    row
}

/// Replaces DataFusion's `information_schema` in `ctx` by PostgreSQL's.
pub async fn register(ctx: &SessionContext) -> Result<()> {
    let catalog_name = ctx.catalog_names().into_iter().next().unwrap_or_default();
    let catalog = ctx
        .catalog(&catalog_name)
        .ok_or_else(|| DataFusionError::Plan(format!("no catalog {catalog_name}")))?;
    let mut schemata = vec![];
    let (mut tables, mut columns, mut views) = (vec![], vec![], vec![]);
    let mut names = catalog.schema_names();
    names.retain(|s| s != SCHEMA && s != "pg_catalog");
    names.sort();
    for name in ["information_schema", "pg_catalog"]
        .into_iter()
        .chain(names.iter().map(String::as_str))
    {
        schemata.push(vec![
            text(&catalog_name),
            text(name),
            text("lgs"),
            Cell::Text(None),
            Cell::Text(None),
            Cell::Text(None),
            Cell::Text(None),
        ]);
    }
    for schema_name in &names {
        let Some(schema) = catalog.schema(schema_name) else {
            continue;
        };
        let mut table_names = schema.table_names();
        table_names.sort();
        for table_name in table_names {
            let Some(provider) = schema.table(&table_name).await? else {
                continue;
            };
            let view = provider.table_type() == TableType::View;
            let kind = if view { "VIEW" } else { "BASE TABLE" };
            let mut row = vec![text(&catalog_name), text(schema_name), text(&table_name)];
            row.push(text(kind));
            row.extend(std::iter::repeat_n(Cell::Text(None), 5));
            row.extend([text("NO"), text("NO"), Cell::Text(None)]);
            tables.push(row);
            if view {
                let mut row = vec![text(&catalog_name), text(schema_name), text(&table_name)];
                row.extend([Cell::Text(None), text("NONE"), text("NO"), text("NO")]);
                views.push(row);
            }
            for (i, field) in provider.schema().fields().iter().enumerate() {
                let column = Column {
                    schema: schema_name.clone(),
                    table: table_name.clone(),
                    name: field.name().clone(),
                    position: i as i32 + 1,
                    nullable: field.is_nullable(),
                    data_type: field.data_type().clone(),
                };
                columns.push(column_row(&catalog_name, &column));
            }
        }
    }
    let provider = MemorySchemaProvider::new();
    let views_of = [
        ("schemata", SCHEMATA, schemata),
        ("tables", TABLES, tables),
        ("columns", COLUMNS, columns),
        ("views", VIEWS, views),
    ];
    for (name, shape, rows) in views_of {
        provider.register_table(name.into(), table(shape, rows)?)?;
    }
    for (name, shape) in EMPTY {
        provider.register_table(name.to_string(), table(shape, vec![])?)?;
    }
    // DataFusion answers `information_schema` itself while its option is on.
    let state = ctx.state_ref();
    state
        .write()
        .config_mut()
        .options_mut()
        .catalog
        .information_schema = false;
    catalog.register_schema(SCHEMA, Arc::new(provider))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_row_fills_postgresqls_columns_view_in_order() {
        let column = Column {
            schema: "public".into(),
            table: "retail".into(),
            name: "amount".into(),
            position: 10,
            nullable: false,
            data_type: DataType::Decimal128(18, 4),
        };
        let row = column_row("lgs", &column);
        // PostgreSQL 16's information_schema.columns has 44 columns.
        assert_eq!((row.len(), COLUMNS.len()), (44, 44));
        let at = |name: &str| &row[COLUMNS.iter().position(|(n, _)| *n == name).unwrap()];
        let text = |cell: &Cell| match cell {
            Cell::Text(t) => t.clone(),
            Cell::Int(n) => n.map(|n| n.to_string()),
        };
        assert_eq!(text(at("data_type")).as_deref(), Some("numeric"));
        assert_eq!(text(at("udt_name")).as_deref(), Some("numeric"));
        assert_eq!(text(at("numeric_precision")).as_deref(), Some("18"));
        assert_eq!(text(at("numeric_scale")).as_deref(), Some("4"));
        assert_eq!(text(at("dtd_identifier")).as_deref(), Some("10"));
        assert_eq!(text(at("is_generated")).as_deref(), Some("NEVER"));
        assert_eq!(text(at("is_updatable")).as_deref(), Some("NO"));
        assert_eq!(text(at("character_set_name")), None);
    }
}
