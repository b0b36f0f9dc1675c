//! PostgreSQL statements that DataFusion does not plan as they are written, which
//! drivers and BI tools send, rewritten to what DataFusion plans with the same
//! answer (a [`QueryHook`] that runs before the others):
//!
//! - `LIKE … ESCAPE 'c'` with an escape character other than the backslash (the
//!   only one DataFusion knows; SQLAlchemy escapes with `/`): the pattern is
//!   rewritten to backslash escapes.
//! - Scalar subqueries of catalog queries (SQLAlchemy's column reflection puts
//!   correlated ones inside `CASE`): over a catalog table lgs always leaves empty
//!   (`pg_attrdef`: no column has a default; `pg_sequence`: no sequences) the
//!   subquery is NULL, as PostgreSQL answers; over other catalog tables, where
//!   they look up one row by its oid, the value is aggregated with `max`, which
//!   DataFusion needs to decorrelate them.
//! - PostgreSQL's set-returning functions and composite field access that
//!   DataFusion lacks (`generate_subscripts`, `_pg_expandarray`, `(row).field`):
//!   see [`super::pg_srf`].
//! - `DECLARE … CURSOR FOR` a query with parameters (psycopg's named cursors bind
//!   the query's parameters to the DECLARE): the values are put in the query as
//!   literals before the cursor opens.

use std::ops::ControlFlow;

use async_trait::async_trait;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments,
    GroupByExpr, Ident, ObjectName, Query, SelectItem, SetExpr, Statement, TableAliasColumnDef,
    TableFactor, Value, ValueWithSpan, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::unparser::Unparser;
use datafusion_postgres::arrow_pg::datatypes::df::encode_dataframe;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::{HookClient, QueryHook};
use datafusion_postgres::pgwire;
use pgwire::api::ClientInfo;
use pgwire::api::portal::Format;
use pgwire::api::results::Response;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::types::format::FormatOptions;

/// The hook that plans rewritten statements.
#[derive(Debug)]
pub struct RewriteHook;

/// `statement` rewritten, or `None` when nothing in it needs a rewrite.
pub fn rewritten(statement: &Statement, ctx: &SessionContext) -> Option<Statement> {
    let mut copy = statement.clone();
    let mut functions = FromFunctions {
        ctx,
        changed: false,
    };
    let _ = copy.visit(&mut functions);
    let mut escapes = Expressions { changed: false };
    let _ = copy.visit(&mut escapes);
    let mut lookups = CatalogLookups { changed: false };
    let _ = copy.visit(&mut lookups);
    let mut sets = super::pg_expr::SetReturning::default();
    let _ = copy.visit(&mut sets);
    (escapes.changed || lookups.changed || functions.changed || sets.changed).then_some(copy)
}

/// Functions in FROM as PostgreSQL reads them: a scalar function is a table of
/// one row whose one column has the table's alias as its name
/// (`FROM string_to_array(…) s`, as Grafana writes); so is the one column of a
/// table function aliased without column names (`generate_series(…) AS i`).
struct FromFunctions<'a> {
    ctx: &'a SessionContext,
    changed: bool,
}

impl VisitorMut for FromFunctions<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table {
            name,
            alias: Some(alias),
            args: Some(args),
            ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        let function = name.to_string().to_ascii_lowercase();
        let state = self.ctx.state_ref();
        let state = state.read();
        if state.table_functions().contains_key(&function) {
            if alias.columns.is_empty() && ONE_COLUMN_TABLE_FUNCTIONS.contains(&function.as_str()) {
                alias.columns = vec![TableAliasColumnDef::from_name(alias.name.value.clone())];
                self.changed = true;
            }
            return ControlFlow::Continue(());
        }
        if !state.scalar_functions().contains_key(&function) {
            return ControlFlow::Continue(());
        }
        let args: Vec<String> = args.args.iter().map(|a| a.to_string()).collect();
        let column = &alias.name;
        let text = format!(
            "SELECT 1 FROM (SELECT {function}({}) AS {column}) AS {column}",
            args.join(", ")
        );
        let parsed = datafusion::sql::sqlparser::parser::Parser::new(&PostgreSqlDialect {})
            .try_with_sql(&text)
            .and_then(|mut p| p.parse_query());
        if let Ok(query) = parsed
            && let SetExpr::Select(select) = *query.body
            && let Some(from) = select.from.into_iter().next()
        {
            *factor = from.relation;
            self.changed = true;
        }
        ControlFlow::Continue(())
    }
}

/// Table functions of one column.
const ONE_COLUMN_TABLE_FUNCTIONS: &[&str] = &["generate_series", "range", "unnest"];

/// The catalog tables lgs always leaves empty.
const EMPTY_CATALOG: &[&str] = &["pg_attrdef", "pg_sequence"];

/// What a scalar subquery reads: the tables of its FROM list (`base`, whose
/// emptiness empties it) and every table it joins (`all`), as `schema.table`
/// (lowercase); `None` when it reads anything but tables.
pub(super) fn relations(query: &Query) -> Option<(Vec<String>, Vec<String>)> {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let name = |factor: &TableFactor| match factor {
        TableFactor::Table { name, .. } => Some(name.to_string().to_ascii_lowercase()),
        _ => None,
    };
    let mut base = vec![];
    let mut all = vec![];
    for from in &select.from {
        base.push(name(&from.relation)?);
        all.push(name(&from.relation)?);
        for join in &from.joins {
            all.push(name(&join.relation)?);
        }
    }
    Some((base, all))
}

fn is_catalog(table: &str) -> bool {
    table.starts_with("pg_catalog.pg_")
}

/// Whether `expr` calls an aggregate function.
fn aggregates(expr: &Expr) -> bool {
    const AGGREGATES: &[&str] = &[
        "count",
        "sum",
        "min",
        "max",
        "avg",
        "array_agg",
        "string_agg",
        "bool_and",
        "bool_or",
        "json_agg",
        "every",
    ];
    let mut found = false;
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(expr, |e| {
        if let Expr::Function(f) = e {
            let name = f.name.to_string().to_ascii_lowercase();
            found |= AGGREGATES.contains(&name.trim_start_matches("pg_catalog."));
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

/// NULL, as an expression that still holds the placeholders of `expr` (the
/// parameters of a prepared statement are matched to its placeholders by
/// position: none may vanish).
fn null_keeping_placeholders(expr: &Expr) -> Expr {
    let mut held = vec![];
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(expr, |e| {
        if let Expr::Value(ValueWithSpan {
            value: Value::Placeholder(_),
            ..
        }) = e
        {
            held.push(format!("{e} IS NULL"));
        }
        ControlFlow::<()>::Continue(())
    });
    if held.is_empty() {
        return Expr::value(Value::Null);
    }
    let text = format!("CASE WHEN {} THEN NULL END", held.join(" OR "));
    datafusion::sql::sqlparser::parser::Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&text)
        .and_then(|mut p| p.parse_expr())
        .unwrap_or_else(|_| Expr::value(Value::Null))
}

/// Scalar subqueries over the catalog, as the module's documentation says.
struct CatalogLookups {
    changed: bool,
}

impl VisitorMut for CatalogLookups {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::Subquery(query) = expr else {
            return ControlFlow::Continue(());
        };
        let Some((base, all)) = relations(query) else {
            return ControlFlow::Continue(());
        };
        if !all.iter().all(|t| is_catalog(t)) || all.is_empty() {
            return ControlFlow::Continue(());
        }
        let empty = |t: &String| {
            EMPTY_CATALOG
                .iter()
                .any(|e| *t == format!("pg_catalog.{e}"))
        };
        if base.iter().any(empty) {
            *expr = null_keeping_placeholders(expr);
            self.changed = true;
            return ControlFlow::Continue(());
        }
        let limited = query.limit_clause.is_some() || query.fetch.is_some();
        let SetExpr::Select(select) = query.body.as_mut() else {
            return ControlFlow::Continue(());
        };
        let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
        if let [SelectItem::UnnamedExpr(item) | SelectItem::ExprWithAlias { expr: item, .. }] =
            select.projection.as_mut_slice()
            && !grouped
            && !limited
            && !aggregates(item)
        {
            *item = call("max", vec![item.clone()]);
            self.changed = true;
        }
        ControlFlow::Continue(())
    }
}

/// The functions that read comments on tables and columns: lgs keeps none, so
/// they are NULL (Metabase's field sync reads them, of `regclass` casts of names
/// DataFusion cannot plan).
const NO_COMMENTS: &[&str] = &[
    "col_description",
    "obj_description",
    "pg_catalog.col_description",
    "pg_catalog.obj_description",
];

/// Rewrites `LIKE p ESCAPE 'c'` (c not a backslash) to `LIKE p'` where p' is p
/// with backslash escapes; PostgreSQL's `user` (the current user, which
/// Grafana's search-path walk reads) to `session_user`; the comment functions
/// ([`NO_COMMENTS`]) to NULL.
struct Expressions {
    changed: bool,
}

impl VisitorMut for Expressions {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = expr
            && matches!(f.args, FunctionArguments::None)
            && f.name.to_string().eq_ignore_ascii_case("user")
        {
            f.name = ObjectName::from(vec![Ident::new("session_user")]);
            self.changed = true;
            return ControlFlow::Continue(());
        }
        if let Expr::Function(f) = expr
            && NO_COMMENTS.contains(&f.name.to_string().to_ascii_lowercase().as_str())
        {
            *expr = null_keeping_placeholders(expr);
            self.changed = true;
            return ControlFlow::Continue(());
        }
        let (Expr::Like {
            pattern,
            escape_char,
            ..
        }
        | Expr::ILike {
            pattern,
            escape_char,
            ..
        }) = expr
        else {
            return ControlFlow::Continue(());
        };
        let Some(ValueWithSpan {
            value: Value::SingleQuotedString(escape),
            ..
        }) = escape_char.as_ref()
        else {
            return ControlFlow::Continue(());
        };
        if escape == "\\" {
            return ControlFlow::Continue(());
        }
        let escape = escape.clone();
        // Literal backslashes doubled; a doubled escape character is the
        // character itself; an escape character before x is a backslash before x.
        let mut rewritten = replace((**pattern).clone(), "\\", "\\\\");
        if !escape.is_empty() {
            let pair = format!("{escape}{escape}");
            rewritten = replace(rewritten, &pair, HELD);
            rewritten = replace(rewritten, &escape, "\\");
            rewritten = replace(rewritten, HELD, &format!("\\{escape}"));
        }
        **pattern = rewritten;
        *escape_char = None;
        self.changed = true;
        ControlFlow::Continue(())
    }
}

/// Holds a doubled escape character's place while the others are rewritten.
const HELD: &str = "\u{1}";

fn replace(expr: Expr, from: &str, to: &str) -> Expr {
    call("replace", vec![expr, text(from), text(to)])
}

fn text(value: &str) -> Expr {
    Expr::value(Value::SingleQuotedString(value.to_string()))
}

pub(super) fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// `value` as a SQL literal, as DataFusion's unparser writes it.
pub(super) fn sql_literal(value: ScalarValue) -> datafusion::error::Result<Expr> {
    Unparser::default().expr_to_sql(&datafusion::logical_expr::lit(value))
}

/// `statement` with its placeholders (`$1`, …) replaced by `params` as literals.
fn bound(statement: &Statement, params: &ParamValues) -> PgWireResult<Statement> {
    struct Bind<'a> {
        params: &'a ParamValues,
        failed: Option<PgWireError>,
    }
    impl VisitorMut for Bind<'_> {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            let Expr::Value(ValueWithSpan {
                value: Value::Placeholder(id),
                ..
            }) = expr
            else {
                return ControlFlow::Continue(());
            };
            let literal = self
                .params
                .get_placeholders_with_values(id)
                .and_then(|value| sql_literal(value.value));
            match literal {
                Ok(literal) => *expr = literal,
                Err(e) => {
                    self.failed = Some(PgWireError::ApiError(Box::new(e)));
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut copy = statement.clone();
    let mut bind = Bind {
        params,
        failed: None,
    };
    let _ = copy.visit(&mut bind);
    match bind.failed {
        Some(e) => Err(e),
        None => Ok(copy),
    }
}

/// Plans and runs `statement` in `ctx`, its rows encoded as text.
pub(super) async fn run(
    ctx: &SessionContext,
    statement: Statement,
    metadata: &std::collections::HashMap<String, String>,
) -> PgWireResult<Response> {
    let plan = plan_as_written(ctx, statement).await?;
    let df = ctx
        .execute_logical_plan(plan)
        .await
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    let options = FormatOptions::from_client_metadata(metadata);
    let response = encode_dataframe(df, &Format::UnifiedText, Some(options.into())).await?;
    Ok(Response::Query(response))
}

/// Plans a statement that lgs plans from the client's own text (see
/// [`super::pg_parser`]): an `IN (subquery)` over no table first replaced by its
/// answer ([`super::pg_inline`]), then rewritten as [`RewriteHook`] would.
pub(super) async fn plan_as_written(
    ctx: &SessionContext,
    statement: Statement,
) -> PgWireResult<LogicalPlan> {
    if !super::pg_inline::has_inlinable(&statement) {
        return plan(ctx, statement).await;
    }
    let inlined = super::pg_inline::inlined(ctx, statement).await;
    let statement = rewritten(&inlined, ctx).unwrap_or(inlined);
    plan(ctx, statement).await
}

/// Plans `statement` in `ctx` as DataFusion's SQL planner does.
pub(super) async fn plan(ctx: &SessionContext, statement: Statement) -> PgWireResult<LogicalPlan> {
    ctx.state()
        .statement_to_plan(DfStatement::Statement(Box::new(statement)))
        .await
        .map_err(|e| PgWireError::ApiError(Box::new(e)))
}

#[async_trait]
impl QueryHook for RewriteHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let rewritten = rewritten(statement, ctx)?;
        Some(run(ctx, rewritten, client.metadata()).await)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        let rewritten = rewritten(statement, ctx)?;
        Some(plan(ctx, rewritten).await)
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        params: &ParamValues,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let declare = matches!(statement, Statement::Declare { .. });
        let has_params = match params {
            ParamValues::List(list) => !list.is_empty(),
            ParamValues::Map(map) => !map.is_empty(),
        };
        if !(declare && has_params) {
            return None;
        }
        let bound = match bound(statement, params) {
            Ok(bound) => bound,
            Err(e) => return Some(Err(e)),
        };
        CursorStatementHook
            .handle_simple_query(&bound, ctx, client)
            .await
    }
}

/// The one statement of `sql`, as a client's query is parsed (tests only).
#[cfg(test)]
pub(super) fn parse(sql: &str) -> Statement {
    datafusion::sql::sqlparser::parser::Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .unwrap()
        .remove(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answers(sql: &str) -> Vec<String> {
        let ctx = SessionContext::new();
        super::super::pg_expr::register(&ctx);
        let statement = rewritten(&parse(sql), &ctx).unwrap_or_else(|| parse(sql));
        let df = ctx
            .execute_logical_plan(plan(&ctx, statement).await.unwrap())
            .await
            .unwrap();
        let batches = df.collect().await.unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches).unwrap();
        text.to_string()
            .lines()
            .skip(3)
            .filter(|l| l.starts_with('|'))
            .map(|l| l.trim_matches(|c| c == '|' || c == ' ').to_string())
            .collect()
    }

    #[tokio::test]
    async fn like_with_another_escape_character_matches_as_postgresql_does() {
        // By hand: with ESCAPE '/', "pg/_%" is "pg_" then anything; "a//b" is a/b;
        // a backslash is an ordinary character.
        let sql = "SELECT s FROM (VALUES ('pg_catalog'), ('pgxcatalog'), ('public'), \
                   ('a/b'), ('a\\b')) t(s) WHERE s LIKE 'pg/_%' ESCAPE '/' \
                   OR s LIKE 'a//b' ESCAPE '/' OR s LIKE 'a\\b' ESCAPE '/' ORDER BY s";
        assert_eq!(answers(sql).await, ["a/b", "a\\b", "pg_catalog"]);
        let not_like = "SELECT count(*) FROM (VALUES ('pg_toast'), ('pgatoast'), ('public')) \
                        t(s) WHERE s NOT ILIKE 'PG/_%' ESCAPE '/'";
        assert_eq!(answers(not_like).await, ["2"]);
        let ctx = SessionContext::new();
        assert!(rewritten(&parse("SELECT 1 WHERE 'a' LIKE 'a'"), &ctx).is_none());
    }

    #[tokio::test]
    async fn functions_in_from_are_tables_named_by_their_alias() {
        // Grafana's search-path walk: element i of the array, for i = 1 and 2.
        let sql = "SELECT trim(s[i]) FROM generate_series(1, 2) AS i, \
                   string_to_array('\"$user\", public', ',') s ORDER BY 1";
        assert_eq!(answers(sql).await, ["\"$user\"", "public"]);
    }

    #[tokio::test]
    async fn set_returning_functions_pair_elements_with_their_positions() {
        // A regproc column (a function's name here) matched with pg_proc's oid.
        let sql = "SELECT t.typname, p.proname FROM (VALUES ('bool', 'boolrecv'), \
                   ('x', '-')) t(typname, typreceive) LEFT JOIN (VALUES (2436, 'boolrecv'), \
                   (7, 'other')) p(oid, proname) ON p.oid = t.typreceive ORDER BY 1";
        assert_eq!(answers(sql).await, ["bool    | boolrecv", "x"]);
        // SQLAlchemy's index reflection: each key with its subscript.
        let sql = "SELECT unnest(a) AS v, generate_subscripts(a, 1) AS i \
                   FROM (SELECT make_array(10, 20, 30) AS a) t ORDER BY i";
        assert_eq!(answers(sql).await, ["10 | 1", "20 | 2", "30 | 3"]);
        // pgjdbc's primary keys: the position of the element equal to b. By hand,
        // [7, 3] expands to (7, 1), (3, 2); b = 3 is at position 2.
        let sql = "SELECT result.n FROM (SELECT \
                   (information_schema._pg_expandarray(a)).n AS n, \
                   information_schema._pg_expandarray(a) AS keys, b \
                   FROM (SELECT make_array(7, 3) AS a, 3 AS b) t) result \
                   WHERE result.b = (result.keys).x";
        assert_eq!(answers(sql).await, ["2"]);
    }

    #[test]
    fn placeholders_are_bound_as_literals() {
        let declare = parse("DECLARE c CURSOR FOR SELECT * FROM t WHERE a > $1 AND b = $2");
        let params = ParamValues::List(vec![
            datafusion::common::ScalarValue::Int64(Some(-5)).into(),
            datafusion::common::ScalarValue::Utf8(Some("it's".into())).into(),
        ]);
        let bound = bound(&declare, &params).unwrap().to_string();
        assert!(bound.ends_with("WHERE a > -5 AND b = 'it''s'"), "{bound}");
    }
}
