//! What the dashboard records in the audit trail ([`crate::audit`]): every request
//! that answers with the warehouse's data (the report page, a chart, a customer
//! profile, a result's CSV), and every SQL query when it ends.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::{Caller, Shared};
use crate::audit::Record;

/// The surface the dashboard's requests are recorded under.
pub(super) const DASHBOARD: &str = "dashboard";
/// The surface of the SQL page's queries.
pub(super) const SQL_PAGE: &str = "sql page";

/// Whether a request to `path` answers with the warehouse's data.
fn reads_data(path: &str) -> bool {
    path == "/"
        || path == "/customer"
        || path.starts_with("/api/charts")
        || (path.starts_with("/api/queries/") && path.ends_with("/csv"))
}

/// Records each data request of a caller after it is answered.
pub(super) async fn audit_layer(
    State(state): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    let caller = request.extensions().get::<Caller>().cloned();
    let (Some(caller), true) = (caller, reads_data(&path)) else {
        return next.run(request).await;
    };
    let statement = match request.uri().query() {
        Some(query) => format!("{} {path}?{query}", request.method()),
        None => format!("{} {path}", request.method()),
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    let outcome = if status.is_success() {
        "ok".to_string()
    } else {
        format!("failed: HTTP {}", status.as_u16())
    };
    state.audit.record(Record {
        at: chrono::Utc::now(),
        user: caller.user.clone(),
        role: caller.audience.warehouse.access().name().to_string(),
        surface: DASHBOARD.into(),
        statement,
        tables: crate::schema::RETAIL_TABLE.into(),
        rows: None,
        outcome,
        millis: started.elapsed().as_millis() as i64,
    });
    response
}

/// The tables `sql` names (empty when it does not parse: the query's own error says
/// why).
pub(super) fn tables_of(sql: &str) -> String {
    let Ok(mut statements) = datafusion::sql::parser::DFParser::parse_sql(sql) else {
        return String::new();
    };
    let Some(statement) = statements.pop_front() else {
        return String::new();
    };
    match datafusion::sql::resolve::resolve_table_references(&statement, true) {
        Ok((tables, _ctes)) => {
            let mut names: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
            names.sort();
            names.dedup();
            names.join(",")
        }
        Err(_) => String::new(),
    }
}
