//! `lgs serve`: the dashboard. The report page and its charts, live from the
//! warehouse (recomputed when a table's version changes), and a notebook-like SQL
//! page: run a query, page through the result, see an automatic chart, download CSV,
//! follow progress and cancel.
//!
//! Endpoints:
//! - `GET /` the report page; `GET /sql` the SQL page; `GET /customer?id=N` one
//!   customer's profile, with a search box;
//! - `GET /api/charts` the charts (id, title); `GET /api/charts/{id}` one chart's
//!   numbers and SVG as JSON; `GET /api/charts/{id}.svg` the SVG alone;
//! - `GET /api/live` server-sent events: the latest day, orders per minute and the
//!   monthly charts, pushed when `retail` changes (see [`live`]);
//! - `POST /api/queries` `{"sql": ...}` starts a query → `{"id": n}`;
//!   `GET /api/queries/{id}?offset=&limit=` its progress and a page of rows;
//!   `POST /api/queries/{id}/cancel`; `GET /api/queries/{id}/csv` the whole result.
//!
//! Queries are read-only (no DDL, DML or statements). Query errors are part of the
//! job's state (HTTP 200), so the page shows the engine's message.
//!
//! With users ([`auth`]), every route but `/login` needs a user's token or session;
//! each user sees the warehouse as its policy role may, every page, chart and query
//! included, and sees only its own query jobs. The live push is for admins only.

mod audited;
pub mod auth;
mod customer;
pub mod jobs;
mod live;
mod login;
mod pages;
pub mod pg;
mod pg_compat;
mod pg_expr;
mod pg_guard;
mod pg_information_schema;
mod pg_inline;
mod pg_parser;
mod pg_rows;
mod pg_shape;
mod pg_sql;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

use crate::analytics::ReportOptions;
use crate::error::{LgsError, Result};
use crate::html::{PageInfo, ReportPage};
use crate::session::Engine;
use crate::warehouse::{TableInfo, Warehouse};
use datafusion::prelude::SessionContext;
use jobs::Jobs;

/// How often the served queries' audit records are committed.
pub(crate) const AUDIT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// How the dashboard runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub bind: SocketAddr,
    /// RFM recency date (default: the day after the last invoice).
    pub as_of: Option<NaiveDate>,
    /// Rows of a query result kept for paging.
    pub keep_rows: usize,
    /// Where the report and the SQL queries run.
    pub engine: Engine,
    /// How often the live updates look for a new version of `retail` (`None`: no
    /// live updates).
    pub live_interval: Option<std::time::Duration>,
    /// The users, and the access of each role they have (`None`: anyone who reaches
    /// the server is the process's own role).
    pub users: Option<ServedUsers>,
}

/// The users of a server and what their roles may see.
#[derive(Debug, Clone)]
pub struct ServedUsers {
    pub users: Arc<auth::Users>,
    pub roles: std::collections::BTreeMap<String, crate::policy::Access>,
}

struct AppState {
    warehouse: Warehouse,
    options: ServeOptions,
    /// What each role sees ("" without users: the process's own role).
    audiences: std::collections::HashMap<String, Arc<Audience>>,
    jobs: Jobs,
    /// The latest live push (JSON), for `GET /api/live`.
    live: tokio::sync::watch::Sender<Option<Arc<String>>>,
    /// Where served queries are recorded ([`crate::audit`]).
    audit: crate::audit::AuditLog,
}

type Shared = Arc<AppState>;

/// The warehouse as one role sees it, with the session over its current tables.
struct Audience {
    warehouse: Warehouse,
    /// The session over the tables' current versions, and its report page.
    current: Mutex<Option<Current>>,
    /// It sees everything (and so may follow the live push).
    admin: bool,
}

impl Audience {
    fn new(warehouse: Warehouse) -> Arc<Audience> {
        Arc::new(Audience {
            admin: warehouse.access().role().is_none(),
            warehouse,
            current: Mutex::new(None),
        })
    }
}

/// Who is asking (set by `login::auth_layer` on every request).
#[derive(Clone)]
struct Caller {
    /// The user's name ("" without users).
    user: String,
    audience: Arc<Audience>,
}

/// A session over the warehouse, the (table, version) pairs it registered, and the
/// report page computed over it (once asked for).
struct Current {
    versions: Vec<(String, u64)>,
    /// When the last look at the versions started.
    looked: std::time::Instant,
    ctx: SessionContext,
    tables: Vec<TableInfo>,
    page: Option<Arc<ReportPage>>,
}

/// Binds the address (so a port of 0 picks a free one) and returns the bound
/// address and the server, which runs until `shutdown` completes.
pub async fn bind(
    warehouse: Warehouse,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, impl std::future::Future<Output = Result<()>>)> {
    let io = |doing: String| move |source| LgsError::Io { doing, source };
    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .map_err(io(format!("cannot serve on {}", options.bind)))?;
    let addr = listener
        .local_addr()
        .map_err(io(format!("cannot serve on {}", options.bind)))?;
    let mut audiences = std::collections::HashMap::new();
    match &options.users {
        None => {
            audiences.insert(String::new(), Audience::new(warehouse.clone()));
        }
        Some(served) => {
            for (role, access) in &served.roles {
                let seen = warehouse.clone().with_access(access.clone());
                audiences.insert(role.clone(), Audience::new(seen));
            }
        }
    }
    let (audit, flusher) = crate::audit::AuditLog::start(warehouse.clone(), AUDIT_EVERY);
    let state = Arc::new(AppState {
        jobs: Jobs::new(options.keep_rows),
        audit,
        warehouse,
        options,
        audiences,
        live: tokio::sync::watch::Sender::new(None),
    });
    let watcher = state
        .options
        .live_interval
        .map(|interval| tokio::spawn(live::watch(state.clone(), interval)));
    // Compute the report once before the first visitor asks.
    if let Some(audience) = state.audiences.get("") {
        let _ = current_page(audience, &state.options).await;
    }
    let app = Router::new()
        .route("/", get(report_page))
        .route("/sql", get(sql_page))
        .route("/customer", get(customer_page))
        .route("/api/charts", get(chart_list))
        .route("/api/charts/{id}", get(chart))
        .route("/api/live", get(live::events))
        .route("/api/queries", post(start_query))
        .route("/api/queries/{id}", get(query_view))
        .route("/api/queries/{id}/cancel", post(cancel_query))
        .route("/api/queries/{id}/csv", get(query_csv))
        .route("/login", get(login::page).post(login::login))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            audited::audit_layer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            login::auth_layer,
        ))
        .with_state(state);
    let server = async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        if let Some(watcher) = watcher {
            watcher.abort();
        }
        flusher.finish().await;
        served.map_err(io("the dashboard server stopped".into()))
    };
    Ok((addr, server))
}

/// The session over the warehouse's current table versions: the tables are opened
/// by a look at their logs that started after the caller arrived (so a table loaded
/// before a request is seen by it), and the session (with its report page) is
/// reused while their versions are unchanged. Requests that arrive together share
/// one look: under load the logs are read a few times a second, not once per
/// request. The guard holds the cache for the caller.
async fn current<'a>(
    audience: &'a Audience,
    options: &ServeOptions,
) -> Result<tokio::sync::MutexGuard<'a, Option<Current>>> {
    let arrived = std::time::Instant::now();
    let mut cached = audience.current.lock().await;
    if cached.as_ref().is_some_and(|c| c.looked >= arrived) {
        return Ok(cached);
    }
    let looked = std::time::Instant::now();
    let warehouse = &audience.warehouse;
    let opened = warehouse.open_all().await?;
    let versions: Vec<(String, u64)> = opened
        .iter()
        .map(|t| (t.name.clone(), t.version()))
        .collect();
    match cached.as_mut() {
        Some(c) if c.versions == versions => c.looked = looked,
        _ => {
            let (ctx, tables) =
                crate::session::context_over(warehouse, &options.engine, &opened).await?;
            // Locally, the report reads the live state when the warehouse keeps one.
            let retail = tables
                .iter()
                .find(|t| t.name == crate::schema::RETAIL_TABLE);
            if let (Some(retail), false) = (retail, options.engine.is_cluster()) {
                crate::live::attach(warehouse, &ctx, retail.version).await?;
            }
            *cached = Some(Current {
                versions,
                looked,
                ctx,
                tables,
                page: None,
            });
        }
    }
    Ok(cached)
}

/// The session over the current table versions, and what it registered.
async fn session(
    audience: &Audience,
    options: &ServeOptions,
) -> Result<(SessionContext, Vec<TableInfo>)> {
    let current = current(audience, options).await?;
    let c = current.as_ref().expect("set by current");
    Ok((c.ctx.clone(), c.tables.clone()))
}

/// The report page for the warehouse's current table versions (recomputed when
/// they change, shared otherwise).
async fn current_page(audience: &Audience, serve: &ServeOptions) -> Result<Arc<ReportPage>> {
    let mut current = current(audience, serve).await?;
    let c = current.as_mut().expect("set by current");
    if let Some(page) = &c.page {
        return Ok(page.clone());
    }
    crate::session::require_retail(&audience.warehouse, &c.tables)?;
    let options = ReportOptions { as_of: serve.as_of };
    let page = Arc::new(ReportPage::compute(&c.ctx, &c.tables, &options).await?);
    c.page = Some(page.clone());
    Ok(page)
}

fn error_page(e: &LgsError) -> Response {
    let body = pages::message_page("The report cannot be shown", &e.to_string());
    (StatusCode::SERVICE_UNAVAILABLE, Html(body)).into_response()
}

fn nav() -> Vec<(String, String)> {
    vec![
        ("/".into(), "Report".into()),
        ("/sql".into(), "SQL".into()),
        ("/customer".into(), "Customer".into()),
    ]
}

#[derive(Debug, Deserialize)]
struct CustomerQuery {
    id: Option<String>,
}

/// One customer's profile (the search box alone without an id).
async fn customer_page(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<CustomerQuery>,
) -> Response {
    let asked = q.id.unwrap_or_default();
    let asked = asked.trim();
    if asked.is_empty() {
        return Html(customer::customer_page("", None, None)).into_response();
    }
    let Ok(id) = asked.parse::<i64>() else {
        let message = format!("{asked:?} is not a customer id (a whole number)");
        let page = customer::customer_page(asked, None, Some(&message));
        return (StatusCode::BAD_REQUEST, Html(page)).into_response();
    };
    let options = ReportOptions {
        as_of: state.options.as_of,
    };
    let profile = match session(&caller.audience, &state.options).await {
        Ok((ctx, _)) => crate::analytics::customer::profile(&ctx, &options, id).await,
        Err(e) => Err(e),
    };
    match profile {
        Ok(p) => Html(customer::customer_page(asked, Some(&p), None)).into_response(),
        Err(e) => {
            let page = customer::customer_page(asked, None, Some(&e.to_string()));
            (StatusCode::NOT_FOUND, Html(page)).into_response()
        }
    }
}

async fn report_page(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
) -> Response {
    match current_page(&caller.audience, &state.options).await {
        Ok(page) => {
            let info = PageInfo {
                warehouse: state.warehouse.location(),
                generated: format!(
                    "{} (live; retail version {})",
                    chrono::Local::now().format("%Y-%m-%d %H:%M:%S"),
                    page.version
                ),
                nav: nav(),
                top: match state.options.live_interval {
                    Some(_) if caller.audience.admin => live::PANEL.to_string(),
                    _ => String::new(),
                },
            };
            Html(page.html(&info)).into_response()
        }
        Err(e) => error_page(&e),
    }
}

async fn sql_page(State(state): State<Shared>, Extension(caller): Extension<Caller>) -> Response {
    let tables = session(&caller.audience, &state.options)
        .await
        .map(|s| s.1)
        .unwrap_or_default();
    Html(pages::sql_page(&state.warehouse.location(), &tables)).into_response()
}

async fn chart_list(State(state): State<Shared>, Extension(caller): Extension<Caller>) -> Response {
    match current_page(&caller.audience, &state.options).await {
        Ok(page) => {
            let list: Vec<_> = page
                .report
                .charts()
                .map(|c| json!({"id": c.id, "title": c.title}))
                .collect();
            axum::Json(json!({"version": page.version, "charts": list})).into_response()
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn chart(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let page = match current_page(&caller.audience, &state.options).await {
        Ok(p) => p,
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"error": e.to_string()})),
            )
                .into_response();
        }
    };
    let (name, svg_only) = match id.strip_suffix(".svg") {
        Some(name) => (name, true),
        None => (id.as_str(), false),
    };
    let Some(chart) = page.report.charts().find(|c| c.id == name) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": format!("no chart {name}")})),
        )
            .into_response();
    };
    if svg_only {
        return (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml"),
            )],
            chart.svg.clone(),
        )
            .into_response();
    }
    axum::Json(json!({
        "id": chart.id,
        "title": chart.title,
        "version": page.version,
        "header": chart.table.header,
        "rows": chart.table.rows,
        "svg": chart.svg,
    }))
    .into_response()
}

#[derive(Deserialize)]
struct StartQuery {
    sql: String,
}

async fn start_query(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    axum::Json(q): axum::Json<StartQuery>,
) -> Response {
    let on = state.clone();
    let audience = caller.audience.clone();
    let ctx = async move { session(&audience, &on.options).await.map(|(ctx, _)| ctx) };
    let audit = state.audit.clone();
    let (user, role) = (
        caller.user.clone(),
        caller.audience.warehouse.access().name().to_string(),
    );
    let (statement, tables) = (q.sql.clone(), audited::tables_of(&q.sql));
    let at = chrono::Utc::now();
    let on_end: jobs::OnEnd = Box::new(move |ended: jobs::Ended| {
        let outcome = match (&ended.state, &ended.error) {
            (jobs::State::Cancelled, _) => "cancelled".to_string(),
            (_, Some(error)) => format!("failed: {error}"),
            _ => "ok".to_string(),
        };
        audit.record(crate::audit::Record {
            at,
            user,
            role,
            surface: audited::SQL_PAGE.into(),
            statement,
            tables,
            rows: Some(ended.rows as i64),
            outcome,
            millis: ended.elapsed.as_millis() as i64,
        });
    });
    let id = state.jobs.start(ctx, q.sql, caller.user, on_end);
    axum::Json(json!({ "id": id })).into_response()
}

#[derive(Deserialize)]
struct PageQuery {
    #[serde(default)]
    offset: usize,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    100
}

fn no_job(id: u64) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": format!("no query {id} (the server keeps the last 50)")})),
    )
        .into_response()
}

async fn query_view(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<u64>,
    Query(p): Query<PageQuery>,
) -> Response {
    match state.jobs.get(id, &caller.user) {
        Some(job) => axum::Json(job.view(id, p.offset, p.limit.min(10_000))).into_response(),
        None => no_job(id),
    }
}

async fn cancel_query(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<u64>,
) -> Response {
    match state.jobs.cancel(id, &caller.user) {
        Some(s) => axum::Json(json!({ "id": id, "state": s })).into_response(),
        None => no_job(id),
    }
}

/// The whole result as CSV: the query runs again and streams, so a result larger
/// than what is kept for paging downloads complete.
async fn query_csv(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<u64>,
) -> Response {
    let Some(job) = state.jobs.get(id, &caller.user) else {
        return no_job(id);
    };
    let started = async {
        let (ctx, _) = session(&caller.audience, &state.options).await?;
        crate::sql::execute_read_only(&ctx, &job.sql).await
    }
    .await;
    let stream = match started {
        Ok(s) => s,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, e.to_string()).into_response();
        }
    };
    let mut header_written = false;
    let body = stream.map(
        move |batch| -> std::result::Result<Vec<u8>, datafusion::error::DataFusionError> {
            let batch = batch?;
            let mut buf = Vec::new();
            {
                let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                    .with_header(!header_written)
                    .build(&mut buf);
                writer.write(&batch)?;
            }
            header_written = true;
            Ok(buf)
        },
    );
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!("attachment; filename=\"query-{id}.csv\""))
                    .expect("ascii header"),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}
