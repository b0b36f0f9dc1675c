//! What PostgreSQL's drivers and BI tools expect beyond what `datafusion-postgres`
//! answers: `version()` in PostgreSQL's words, the catalog functions their start-up
//! and reflection queries call, and the statements lgs answers itself
//! (savepoints; `DISCARD ALL` through the extended protocol).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, ParamValues, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, EmptyRelation, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility, create_udf,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{DiscardObject, Statement};
use datafusion_postgres::hooks::{HookClient, QueryHook};
use datafusion_postgres::pgwire;
use pgwire::api::ClientInfo;
use pgwire::api::results::{Response, Tag};
use pgwire::error::PgWireResult;

/// Registers the functions drivers call in a connection's session.
pub fn register(ctx: &SessionContext) {
    // `version()` in the form drivers parse (`PostgreSQL 16.6 ...`), as the
    // server_version parameter says.
    ctx.register_udf(version_udf());
    ctx.register_udf(to_regtype_udf());
    ctx.register_udf(no_sequence_udf());
    ctx.register_udf(ScalarUDF::new_from_impl(JsonBuildObject::default()));
    ctx.register_udf(current_setting_udf());
    ctx.register_udf(ScalarUDF::from(
        datafusion::logical_expr::SimpleScalarUDF::new_with_signature(
            "format",
            Signature::variadic_any(Volatility::Immutable),
            DataType::Utf8,
            Arc::new(format_text),
        ),
    ));
    // The definition of an index or an index column: lgs tables have no indexes,
    // so there is none to write (SQLAlchemy's index reflection calls it on
    // expression columns only, of which there are none).
    ctx.register_udf(ScalarUDF::from(
        datafusion::logical_expr::SimpleScalarUDF::new_with_signature(
            "pg_get_indexdef",
            Signature::variadic_any(Volatility::Stable),
            DataType::Utf8,
            Arc::new(|_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
        ),
    ));
    ctx.register_udf(create_udf(
        "pg_collation_is_visible",
        vec![DataType::Int32],
        DataType::Boolean,
        Volatility::Stable,
        Arc::new(|_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::from(true)))),
    ));
}

/// `version()` as PostgreSQL words it (drivers such as SQLAlchemy's read the
/// version from it), saying what answers.
fn version_udf() -> ScalarUDF {
    let text = format!(
        "PostgreSQL 16.6 (lgs {} on Apache DataFusion {}), 64-bit",
        env!("CARGO_PKG_VERSION"),
        datafusion::DATAFUSION_VERSION
    );
    create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(text.clone()))))),
    )
}

/// `format(text, args…)`, PostgreSQL's: `%s` an argument as text (NULL is
/// empty), `%I` as an identifier (quoted when it needs to be), `%L` as a literal
/// (NULL unquoted), `%%` a percent sign. Metabase's field sync formats type and
/// table names with it.
fn format_text(args: &[ColumnarValue]) -> datafusion::error::Result<ColumnarValue> {
    use datafusion::arrow::array::Array;
    let rows = args
        .iter()
        .find_map(|a| match a {
            ColumnarValue::Array(a) => Some(a.len()),
            ColumnarValue::Scalar(_) => None,
        })
        .unwrap_or(1);
    let texts: Vec<ColumnarValue> = args
        .iter()
        .map(|a| a.cast_to(&DataType::Utf8, None))
        .collect::<datafusion::error::Result<_>>()?;
    let arrays = ColumnarValue::values_to_arrays(&texts)?;
    let arrays: Vec<&datafusion::arrow::array::StringArray> = arrays
        .iter()
        .map(|a| datafusion::common::cast::as_string_array(a))
        .collect::<datafusion::error::Result<_>>()?;
    let mut out = datafusion::arrow::array::StringBuilder::new();
    for row in 0..rows {
        let value = |i: usize| {
            arrays
                .get(i)
                .and_then(|a| (!a.is_null(row)).then(|| a.value(row).to_string()))
        };
        let Some(template) = value(0) else {
            out.append_null();
            continue;
        };
        let mut text = String::new();
        let mut next = 1;
        let mut chars = template.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                text.push(c);
                continue;
            }
            let spec = chars.next();
            if spec == Some('%') {
                text.push('%');
                continue;
            }
            let arg = value(next);
            next += 1;
            match spec {
                Some('s') => text.push_str(&arg.unwrap_or_default()),
                Some('I') => text.push_str(&quoted_identifier(&arg.unwrap_or_default())),
                Some('L') => match arg {
                    Some(v) => text.push_str(&format!("'{}'", v.replace('\'', "''"))),
                    None => text.push_str("NULL"),
                },
                other => {
                    return datafusion::common::exec_err!(
                        "format: unrecognized conversion type specifier \"{}\"",
                        other.map(String::from).unwrap_or_default()
                    );
                }
            }
        }
        out.append_value(text);
    }
    let array = out.finish();
    Ok(
        match rows == 1 && args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
            true => ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?),
            false => ColumnarValue::Array(Arc::new(array)),
        },
    )
}

/// An identifier as PostgreSQL's `quote_ident` writes it.
fn quoted_identifier(name: &str) -> String {
    let plain = name
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_lowercase() || c == '_' || (i > 0 && c.is_ascii_digit()));
    match plain && !name.is_empty() {
        true => name.to_string(),
        false => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// The server settings drivers and BI tools read with `current_setting` (Grafana
/// reads the version and the search path) or from `pg_settings` (pgjdbc reads
/// `max_index_keys`), as PostgreSQL 16 answers them.
pub(super) const SETTINGS: &[(&str, &str)] = &[
    ("search_path", "\"$user\", public"),
    ("server_version", "16.6"),
    ("server_version_num", "160006"),
    ("server_encoding", "UTF8"),
    ("client_encoding", "UTF8"),
    ("standard_conforming_strings", "on"),
    ("timezone", "UTC"),
    ("datestyle", "ISO, MDY"),
    ("intervalstyle", "postgres"),
    ("max_identifier_length", "63"),
    ("transaction_isolation", "read committed"),
    ("transaction_read_only", "on"),
    ("default_transaction_read_only", "on"),
    ("is_superuser", "off"),
    ("integer_datetimes", "on"),
    ("max_index_keys", "32"),
    ("max_function_args", "100"),
    ("block_size", "8192"),
];

/// `current_setting(name [, missing_ok])`: a setting of [`SETTINGS`]; another
/// name is PostgreSQL's error (42704), or NULL with `missing_ok`.
fn current_setting_udf() -> ScalarUDF {
    let setting = |args: &[ColumnarValue]| {
        let name = match &args[0] {
            ColumnarValue::Scalar(v) => v.to_string(),
            ColumnarValue::Array(_) => {
                return datafusion::common::exec_err!("current_setting takes a constant name");
            }
        };
        let missing_ok = matches!(
            args.get(1),
            Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
        );
        let found = SETTINGS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.to_string());
        match (found, missing_ok) {
            (Some(value), _) => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(value)))),
            (None, true) => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None))),
            (None, false) => {
                datafusion::common::plan_err!("unrecognized configuration parameter \"{name}\"")
            }
        }
    };
    let signature = Signature::one_of(
        vec![
            datafusion::logical_expr::TypeSignature::Exact(vec![DataType::Utf8]),
            datafusion::logical_expr::TypeSignature::Exact(vec![DataType::Utf8, DataType::Boolean]),
        ],
        Volatility::Stable,
    );
    ScalarUDF::from(
        datafusion::logical_expr::SimpleScalarUDF::new_with_signature(
            "current_setting",
            signature,
            DataType::Utf8,
            Arc::new(setting),
        ),
    )
}

/// PostgreSQL's built-in types by name (and the SQL names of some): their oids.
const TYPE_OIDS: &[(&str, i32)] = &[
    ("bool", 16),
    ("boolean", 16),
    ("bytea", 17),
    ("int8", 20),
    ("bigint", 20),
    ("int2", 21),
    ("smallint", 21),
    ("int4", 23),
    ("integer", 23),
    ("int", 23),
    ("text", 25),
    ("oid", 26),
    ("json", 114),
    ("float4", 700),
    ("real", 700),
    ("float8", 701),
    ("double precision", 701),
    ("varchar", 1043),
    ("character varying", 1043),
    ("date", 1082),
    ("time", 1083),
    ("timestamp", 1114),
    ("timestamptz", 1184),
    ("interval", 1186),
    ("numeric", 1700),
    ("decimal", 1700),
    ("uuid", 2950),
    ("jsonb", 3802),
];

/// `to_regtype(name)`: the oid of a built-in type, NULL for any other (an
/// extension's type such as `hstore`, which drivers probe for).
fn to_regtype_udf() -> ScalarUDF {
    create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| {
            let oid_of = |name: Option<&str>| {
                let name = name?.trim().to_ascii_lowercase();
                let name = name.trim_start_matches("pg_catalog.");
                TYPE_OIDS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, oid)| *oid)
            };
            match &args[0] {
                ColumnarValue::Scalar(v) => {
                    let name = match v {
                        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) => s.as_deref(),
                        ScalarValue::Utf8View(s) => s.as_deref(),
                        _ => None,
                    };
                    Ok(ColumnarValue::Scalar(ScalarValue::Int32(oid_of(name))))
                }
                ColumnarValue::Array(a) => {
                    let names = datafusion::arrow::compute::cast(a, &DataType::Utf8)?;
                    let names = datafusion::common::cast::as_string_array(&names)?;
                    let oids: datafusion::arrow::array::Int32Array =
                        names.iter().map(oid_of).collect();
                    Ok(ColumnarValue::Array(Arc::new(oids)))
                }
            }
        }),
    )
}

/// `pg_get_serial_sequence(table, column)`: NULL, the warehouse has no sequences
/// (SQLAlchemy's column reflection asks).
fn no_sequence_udf() -> ScalarUDF {
    create_udf(
        "pg_get_serial_sequence",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
    )
}

/// `json_build_object(key, value, ...)`: a JSON object's text (catalog queries
/// of drivers build one per column).
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonBuildObject {
    signature: Signature,
}

impl Default for JsonBuildObject {
    fn default() -> Self {
        JsonBuildObject {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for JsonBuildObject {
    fn name(&self) -> &str {
        "json_build_object"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let mut out = datafusion::arrow::array::StringBuilder::new();
        for row in 0..args.number_rows {
            let mut object = serde_json::Map::new();
            for pair in arrays.chunks(2) {
                let key = ScalarValue::try_from_array(&pair[0], row)?.to_string();
                // A NULL argument (of type Null too, which has no validity bits)
                // is JSON's null.
                let value = match pair.get(1).map(|a| ScalarValue::try_from_array(a, row)) {
                    Some(v) => match v? {
                        v if v.is_null() => serde_json::Value::Null,
                        v => serde_json::Value::String(v.to_string()),
                    },
                    None => serde_json::Value::Null,
                };
                object.insert(key, value);
            }
            out.append_value(serde_json::Value::Object(object).to_string());
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// Statements lgs answers itself: savepoints (nothing to undo in a read-only
/// session; drivers such as psycopg nest transactions with them), and `DISCARD
/// ALL` through the extended protocol's parse step (an empty plan; [`Connection`]
/// answers it).
pub struct SessionHook;

/// The command tag of a savepoint statement.
fn savepoint_tag(statement: &Statement) -> Option<&'static str> {
    match statement {
        Statement::Savepoint { .. } => Some("SAVEPOINT"),
        Statement::ReleaseSavepoint { .. } => Some("RELEASE"),
        _ => None,
    }
}

#[async_trait]
impl QueryHook for SessionHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        savepoint_tag(statement).map(|tag| Ok(Response::Execution(Tag::new(tag))))
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        let discard = matches!(
            statement,
            Statement::Discard {
                object_type: DiscardObject::ALL
            }
        );
        (discard || savepoint_tag(statement).is_some()).then(|| {
            Ok(LogicalPlan::EmptyRelation(EmptyRelation {
                produce_one_row: false,
                schema: Arc::new(DFSchema::empty()),
            }))
        })
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        savepoint_tag(statement).map(|tag| Ok(Response::Execution(Tag::new(tag))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn one(ctx: &SessionContext, sql: &str) -> String {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let column = batches[0].column(0);
        ScalarValue::try_from_array(column, 0).unwrap().to_string()
    }

    #[tokio::test]
    async fn drivers_functions_answer_as_postgresql_does() {
        let ctx = SessionContext::new();
        register(&ctx);
        let version = one(&ctx, "SELECT version()").await;
        assert!(version.starts_with("PostgreSQL 16.6 (lgs "), "{version}");
        let search_path = "SELECT current_setting('search_path')";
        assert_eq!(one(&ctx, search_path).await, "\"$user\", public");
        let grafana = "SELECT current_setting('server_version_num')::int/100";
        assert_eq!(one(&ctx, grafana).await, "1600");
        let formatted = "SELECT format('%s.%I = %L, 100%%', 'public', 'Retail', 'it''s')";
        assert_eq!(
            one(&ctx, formatted).await,
            "public.\"Retail\" = 'it''s', 100%"
        );
        let missing = "SELECT current_setting('no_such', true)";
        assert_eq!(one(&ctx, missing).await, "NULL");
        let error = ctx.sql("SELECT current_setting('no_such')").await;
        let error = match error {
            Ok(df) => df.collect().await.unwrap_err().to_string(),
            Err(e) => e.to_string(),
        };
        assert!(
            error.contains("unrecognized configuration parameter"),
            "{error}"
        );
        // PostgreSQL's oids for built-in types; NULL for an extension's type.
        assert_eq!(one(&ctx, "SELECT to_regtype('int4')").await, "23");
        assert_eq!(
            one(&ctx, "SELECT to_regtype('character varying')").await,
            "1043"
        );
        assert_eq!(one(&ctx, "SELECT to_regtype('numeric')").await, "1700");
        assert_eq!(one(&ctx, "SELECT to_regtype('hstore')").await, "NULL");
        assert_eq!(
            one(
                &ctx,
                "SELECT pg_get_serial_sequence('retail', 'invoice_no')"
            )
            .await,
            "NULL"
        );
        assert_eq!(
            one(
                &ctx,
                "SELECT json_build_object('a', 1, 'b', 'x', 'c', NULL)"
            )
            .await,
            r#"{"a":"1","b":"x","c":null}"#
        );
    }

    #[test]
    fn savepoints_are_answered_and_other_statements_passed_on() {
        use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
        use datafusion::sql::sqlparser::parser::Parser;
        let parse = |sql| {
            Parser::parse_sql(&PostgreSqlDialect {}, sql)
                .unwrap()
                .remove(0)
        };
        assert_eq!(savepoint_tag(&parse("SAVEPOINT a")), Some("SAVEPOINT"));
        assert_eq!(
            savepoint_tag(&parse("RELEASE SAVEPOINT a")),
            Some("RELEASE")
        );
        assert_eq!(savepoint_tag(&parse("SELECT 1")), None);
    }
}
