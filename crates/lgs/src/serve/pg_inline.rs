//! `x IN (subquery)` where the subquery reads no table, only functions (Grafana's
//! walk of the search path: `quote_ident(table_schema) IN (SELECT … FROM
//! generate_series(…) AS i, string_to_array(current_setting('search_path'), ',') s)`).
//!
//! DataFusion runs `IN (subquery)` only in a filter, and datafusion-postgres's
//! parser replaces Grafana's walk by `''` (its search path matched nothing, so every
//! table came back qualified, `public.retail`). Such a subquery does not depend on
//! the rows around it, so lgs runs it first and puts its answer in the statement as
//! a list of literals: `quote_ident(table_schema) IN ('postgres', 'public')`.

use std::ops::ControlFlow;

use datafusion::arrow::array::Array;
use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    Expr, Query, Statement, TableFactor, Value, Visit, VisitMut, Visitor, VisitorMut,
};

/// The most values a subquery may answer to be put in the statement.
const MOST_VALUES: usize = 1_000;

/// Whether `statement` holds an `IN (subquery)` that [`inlined`] would run.
pub(super) fn has_inlinable(statement: &Statement) -> bool {
    !candidates(statement).is_empty()
}

/// `statement` with each `IN (subquery)` over no table replaced by the subquery's
/// answer; a subquery that does not run on its own (it refers to the rows around
/// it) or answers more than [`MOST_VALUES`] values is left as it is.
pub(super) async fn inlined(ctx: &SessionContext, statement: Statement) -> Statement {
    let mut answers = vec![];
    for query in candidates(&statement) {
        if let Some(values) = answer(ctx, &query).await {
            answers.push((query, values));
        }
    }
    if answers.is_empty() {
        return statement;
    }
    let mut copy = statement;
    let _ = VisitMut::visit(&mut copy, &mut Replace { answers: &answers });
    copy
}

/// The subqueries of `IN (subquery)` in `statement` that read no table.
fn candidates(statement: &Statement) -> Vec<Query> {
    struct Find(Vec<Query>);
    impl Visitor for Find {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            if let Expr::InSubquery { subquery, .. } = expr
                && reads_no_table(subquery)
                && !self.0.contains(subquery)
            {
                self.0.push(subquery.as_ref().clone());
            }
            ControlFlow::Continue(())
        }
    }
    let mut find = Find(vec![]);
    let _ = Visit::visit(statement, &mut find);
    find.0
}

/// Whether `query` has a FROM list and reads nothing but functions in it.
fn reads_no_table(query: &Query) -> bool {
    struct Tables {
        functions: usize,
        tables: usize,
    }
    impl Visitor for Tables {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            match factor {
                TableFactor::Table { args: Some(_), .. } | TableFactor::Function { .. } => {
                    self.functions += 1
                }
                TableFactor::Derived { .. } | TableFactor::NestedJoin { .. } => {}
                _ => self.tables += 1,
            }
            ControlFlow::Continue(())
        }
    }
    let mut tables = Tables {
        functions: 0,
        tables: 0,
    };
    let _ = Visit::visit(query, &mut tables);
    tables.functions > 0 && tables.tables == 0
}

/// The values `query` answers, as SQL literals; `None` when it does not run on
/// its own, answers more than one column, or too many values.
async fn answer(ctx: &SessionContext, query: &Query) -> Option<Vec<Expr>> {
    let statement = Statement::Query(Box::new(query.clone()));
    let statement = super::pg_sql::rewritten(&statement, ctx).unwrap_or(statement);
    let plan = super::pg_sql::plan(ctx, statement).await.ok()?;
    if plan.schema().fields().len() != 1 {
        return None;
    }
    let df = ctx.execute_logical_plan(plan).await.ok()?;
    let batches = df
        .limit(0, Some(MOST_VALUES + 1))
        .ok()?
        .collect()
        .await
        .ok()?;
    let mut values = vec![];
    for batch in &batches {
        let column = batch.column(0);
        for row in 0..column.len() {
            values.push(literal(column.as_ref(), row)?);
        }
    }
    (values.len() <= MOST_VALUES).then_some(values)
}

/// Row `row` of `column` as a SQL literal ([`super::pg_sql::sql_literal`]).
fn literal(column: &dyn Array, row: usize) -> Option<Expr> {
    let value = ScalarValue::try_from_array(column, row).ok()?;
    super::pg_sql::sql_literal(value).ok()
}

/// Puts the answers in place of their subqueries.
struct Replace<'a> {
    answers: &'a [(Query, Vec<Expr>)],
}

impl VisitorMut for Replace<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::InSubquery {
            expr: left,
            subquery,
            negated,
        } = expr
        else {
            return ControlFlow::Continue(());
        };
        let Some((_, values)) = self.answers.iter().find(|(q, _)| q == subquery.as_ref()) else {
            return ControlFlow::Continue(());
        };
        *expr = if values.is_empty() {
            // Nothing is in an empty list (and everything is not in it).
            Expr::value(Value::Boolean(*negated))
        } else {
            Expr::InList {
                expr: left.clone(),
                list: values.clone(),
                negated: *negated,
            }
        };
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::util::display::array_value_to_string;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    async fn answers(sql: &str) -> Vec<String> {
        let ctx = SessionContext::new();
        super::super::pg_expr::register(&ctx);
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        assert!(has_inlinable(&statement), "{sql}");
        let plan = super::super::pg_sql::plan_as_written(&ctx, statement)
            .await
            .unwrap();
        let batches = ctx
            .execute_logical_plan(plan)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let mut rows = vec![];
        for batch in &batches {
            for row in 0..batch.num_rows() {
                let fields: Vec<String> = batch
                    .columns()
                    .iter()
                    .map(|c| array_value_to_string(c, row).unwrap())
                    .collect();
                rows.push(fields.join(","));
            }
        }
        rows
    }

    /// Grafana's walk of the search path, over a list written in the query.
    const WALK: &str = "SELECT CASE WHEN trim(p[i]) = 'x' THEN 'me' ELSE trim(p[i]) END \
                        FROM generate_series(1, 3) AS i, \
                        string_to_array('x, public, extra', ',') p";

    #[tokio::test]
    async fn a_subquery_over_functions_in_the_select_list_and_order_is_answered_first() {
        // By hand: the walk answers me, public, extra; `s` is in it for "public"
        // and "me" only, which sort first.
        let sql = format!(
            "SELECT s, s IN ({WALK}) FROM (VALUES ('a'), ('public'), ('me'), ('b')) t(s) \
             ORDER BY CASE WHEN s IN ({WALK}) THEN 0 ELSE 1 END, s"
        );
        assert_eq!(
            answers(&sql).await,
            ["me,true", "public,true", "a,false", "b,false"]
        );
    }

    #[tokio::test]
    async fn not_in_and_an_empty_answer_are_as_postgresql_answers() {
        // NOT IN the walk: a and b. IN an empty answer: nothing; NOT IN it: all.
        let sql = format!(
            "SELECT s FROM (VALUES ('a'), ('public'), ('b')) t(s) \
             WHERE s NOT IN ({WALK}) ORDER BY s"
        );
        assert_eq!(answers(&sql).await, ["a", "b"]);
        let empty = "SELECT count(*) FILTER (WHERE s IN (SELECT i FROM generate_series(1, 0) AS i)), \
                     count(*) FILTER (WHERE s NOT IN (SELECT i FROM generate_series(1, 0) AS i)) \
                     FROM (VALUES (1), (2)) t(s)";
        assert_eq!(answers(empty).await, ["0,2"]);
    }

    #[test]
    fn a_subquery_that_reads_a_table_is_left_to_datafusion() {
        let statement = Parser::parse_sql(
            &PostgreSqlDialect {},
            "SELECT s IN (SELECT country FROM retail) FROM t",
        )
        .unwrap()
        .remove(0);
        assert!(!has_inlinable(&statement));
    }
}
