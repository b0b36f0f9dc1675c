//! The extended protocol's parser, and the check both protocols make before a
//! query goes to datafusion-postgres: its parser replaces a correlated subquery
//! that is a whole select item by NULL (meant for the catalog's lookups), which
//! over a warehouse table would be a wrong answer; such a query is planned by lgs
//! from the client's own text. So is a query with an `IN (subquery)` over no table
//! (Grafana's search-path walk, which that parser replaces by `''`): see
//! [`super::pg_inline`].

use std::ops::ControlFlow;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Expr, Statement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion_postgres::pgwire;
use pgwire::api::portal::Format;
use pgwire::api::results::FieldInfo;
use pgwire::api::stmt::QueryParser;
use pgwire::api::{ClientInfo, Type};
use pgwire::error::PgWireResult;

use super::pg_sql::{plan_as_written, relations};

/// A query DataFusion must plan as the client wrote it: datafusion-postgres's
/// parser replaces a correlated subquery that is a whole select item by NULL (it
/// is meant for the catalog's lookups); over a warehouse table that would be a
/// wrong answer, so such a query is parsed and planned here from its text; and
/// so is one with an `IN (subquery)` over no table ([`super::pg_inline`]).
pub(super) fn planned_as_written(mut statements: Vec<Statement>) -> Option<Statement> {
    let [Statement::Query(_)] = statements.as_slice() else {
        return None;
    };
    let statement = statements.pop()?;
    if super::pg_inline::has_inlinable(&statement) {
        return Some(statement);
    }
    let mut found = false;
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(&statement, |e| {
        if let Expr::Subquery(query) = e
            && let Some((_, all)) = relations(query)
        {
            found |= all.iter().any(|t| {
                !(t.starts_with("pg_") || t.contains(".pg_") || t.starts_with("information_schema"))
            });
        }
        ControlFlow::<()>::Continue(())
    });
    found.then_some(statement)
}

/// The extended protocol's parser: [`planned_as_written`] for the queries it
/// names, datafusion-postgres's for the others.
pub struct AsWritten {
    pub inner: Arc<datafusion_postgres::Parser>,
    pub ctx: Arc<SessionContext>,
}

type Parsed = <datafusion_postgres::Parser as QueryParser>::Statement;

#[async_trait]
impl QueryParser for AsWritten {
    type Statement = Parsed;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Parsed>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let parsed = Parser::parse_sql(&PostgreSqlDialect {}, sql).ok();
        match parsed.and_then(planned_as_written) {
            Some(statement) => {
                let plan = plan_as_written(&self.ctx, statement.clone()).await?;
                Ok(Some((statement.to_string(), Some((statement, plan)))))
            }
            None => self.inner.parse_sql(client, sql, types).await,
        }
    }

    fn get_parameter_types(&self, stmt: &Parsed) -> PgWireResult<Vec<Type>> {
        self.inner.get_parameter_types(stmt)
    }

    fn get_result_schema(
        &self,
        stmt: &Parsed,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        self.inner.get_result_schema(stmt, column_format)
    }
}
