//! The PostgreSQL protocol (`lgs serve --pg-port PORT`): BI tools and `psql`
//! connect to the warehouse as to a PostgreSQL server, through
//! `datafusion-postgres` (the wire protocol of `pgwire`, PostgreSQL's catalog and
//! functions over a DataFusion session).
//!
//! - **The same users.** With `--users`, a client logs in as a user of the users
//!   file with its token as the password, over SCRAM-SHA-256 (the users file keeps
//!   the token's salted password, `pg_scram`, as `lgs serve --new-token` prints
//!   it). Without users, only a loopback address is served, as the process's own
//!   role (as the dashboard).
//! - **The same door.** Each connection opens its session through
//!   [`crate::session::context_on`] over the warehouse as the user's role sees it:
//!   the role's filters, masks and guard, every table at its version when the
//!   connection opened.
//! - **Read only.** Queries, `EXPLAIN`, cursors over queries (`DECLARE`, `FETCH`,
//!   `CLOSE`), and the session statements clients send (`SET`, `SHOW`,
//!   transactions, `DISCARD ALL`, which opens a fresh session); anything else is
//!   refused before it is planned.
//! - **Guarded.** With a certificate, TLS is required of every connection;
//!   every statement is held to the server's row and time limits
//!   ([`super::pg_guard`]).
//! - **Audited.** Every statement is recorded in the audit trail
//!   ([`crate::audit`]) with the surface `postgres`.

use std::collections::HashMap;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{DiscardObject, Statement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion_postgres::DfSessionService;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::hooks::QueryHook;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::pgwire;
use futures::Sink;
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::{ScramAuth, gen_salted_password};
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::portal::{Portal, PortalExecutionState};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{DescribePortalResponse, Response, Tag};
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, METADATA_USER, PgWireConnectionState, PgWireServerHandlers,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::extendedquery::Execute;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use super::ServedUsers;
use super::auth::SCRAM_ITERATIONS;
use super::pg_guard::client_timeout;
pub use super::pg_guard::{PgOptions, QueryLimits, TlsFiles};
use super::pg_parser::{AsWritten, planned_as_written};
use crate::audit::{AuditLog, Record};
use crate::error::{CatchPanic, LgsError, Result};
use crate::session::Engine;
use crate::warehouse::{OpenedTables, Warehouse};

/// The surface PostgreSQL statements are audited under.
pub const SURFACE: &str = "postgres";

/// The SCRAM salted password of `token` (what a users file's `pg_scram` keeps).
pub fn salted_password(token: &str, salt: &[u8]) -> Vec<u8> {
    gen_salted_password(token, salt, SCRAM_ITERATIONS)
}

/// What every connection of a server shares.
struct Shared {
    warehouse: Warehouse,
    engine: Engine,
    users: Option<ServedUsers>,
    audit: AuditLog,
    /// TLS required of every connection, when configured.
    tls: Option<pgwire::tokio::TlsAcceptor>,
    limits: QueryLimits,
    /// The tables each role's sessions open, kept open between connections
    /// while current (opening every table's log at each connection was most of
    /// its cost).
    opened: std::sync::Mutex<HashMap<String, Arc<OpenedTables>>>,
}

impl Shared {
    fn opened_for(&self, role: &str) -> Arc<OpenedTables> {
        let mut by_role = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
        by_role.entry(role.to_string()).or_default().clone()
    }
}

/// Binds `options.bind` and returns the bound address and the server, which runs
/// until `shutdown` completes (then commits its audit records).
pub async fn bind(
    warehouse: Warehouse,
    options: PgOptions,
    engine: Engine,
    users: Option<ServedUsers>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, impl std::future::Future<Output = Result<()>>)> {
    let io = |doing: String| move |source| LgsError::Io { doing, source };
    let tls = options
        .tls
        .as_ref()
        .map(super::pg_guard::acceptor)
        .transpose()?;
    let bind = options.bind;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(io(format!("cannot serve PostgreSQL on {bind}")))?;
    let addr = listener
        .local_addr()
        .map_err(io(format!("cannot serve PostgreSQL on {bind}")))?;
    let (audit, flusher) = AuditLog::start(warehouse.clone(), super::AUDIT_EVERY);
    let shared = Arc::new(Shared {
        warehouse,
        engine,
        users,
        audit,
        tls,
        limits: options.limits,
        opened: Default::default(),
    });
    let server = async move {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((socket, _)) = accepted else { continue };
                    let connection = Arc::new(Connection::new(shared.clone()));
                    let tls = shared.tls.clone();
                    tokio::spawn(async move {
                        let handlers = Handlers(connection);
                        let served = pgwire::tokio::process_socket(socket, tls, handlers);
                        match CatchPanic::new(served).await {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => tracing::debug!("a PostgreSQL connection ended: {e}"),
                            Err(panic) => tracing::warn!("{}", contained(&panic)),
                        }
                    });
                }
                _ = &mut shutdown => break,
            }
        }
        drop(shared);
        flusher.finish().await;
        Ok(())
    };
    Ok((addr, server))
}

/// What the server says of a connection whose task panicked: pgwire 0.41's
/// decoders panic on some malformed messages (a Parse whose count of parameter
/// types runs past its end, found by fuzzing: `fuzz/` target `pg_wire`), and such
/// a panic must end that client's connection, never reach the terminal as a
/// backtrace at every bad packet.
fn contained(panic: &str) -> String {
    format!(
        "closed a PostgreSQL connection: a failure while serving it ({panic}); most likely the client sent a malformed message"
    )
}

/// One connection: its session, once the client has logged in.
struct Connection {
    shared: Arc<Shared>,
    /// The session, once logged in (replaced by `DISCARD ALL`).
    opened: RwLock<Option<Arc<Opened>>>,
}

/// The parser of a connection that has no session yet (over no table; the query
/// itself is then refused): one for the process, not one per connection.
fn closed() -> Arc<AsWritten> {
    static CLOSED: std::sync::LazyLock<Arc<AsWritten>> = std::sync::LazyLock::new(|| {
        let ctx = Arc::new(SessionContext::new());
        let inner = DfSessionService::new(ctx.clone()).query_parser();
        Arc::new(AsWritten { inner, ctx })
    });
    CLOSED.clone()
}

struct Opened {
    service: Arc<DfSessionService>,
    /// The extended protocol's parser, over the session the service runs in.
    parser: Arc<AsWritten>,
    user: String,
    role: String,
    /// The session's catalog, which holds its `pg_catalog` schema.
    catalog: String,
}

/// A closed session lets go of its `pg_catalog` schema: datafusion-postgres's
/// schema provider holds the session's list of catalogs, which holds the schema,
/// so without this every connection's session (its catalog tables, a few MB)
/// stayed in memory for the life of the server.
impl Drop for Opened {
    fn drop(&mut self) {
        if let Some(catalog) = self.parser.ctx.catalog(&self.catalog) {
            let _ = catalog.deregister_schema("pg_catalog", true);
        }
    }
}

impl Connection {
    fn new(shared: Arc<Shared>) -> Self {
        Connection {
            shared,
            opened: RwLock::new(None),
        }
    }

    /// Opens the session of `user` (logged in), as its role sees the warehouse.
    async fn open(&self, user: &str) -> PgWireResult<()> {
        let (warehouse, role) = match &self.shared.users {
            None => {
                let role = self.shared.warehouse.access().name().to_string();
                (self.shared.warehouse.clone(), role)
            }
            Some(served) => {
                let found = served.users.by_name(user);
                let access = found.and_then(|u| served.roles.get(&u.role));
                let Some(access) = access else {
                    return Err(refused("28000", format!("no user {user}")));
                };
                let role = access.name().to_string();
                (
                    self.shared.warehouse.clone().with_access(access.clone()),
                    role,
                )
            }
        };
        let opened = self
            .shared
            .opened_for(&role)
            .current(&warehouse)
            .await
            .map_err(|e| refused("58000", e.to_string()))?;
        let (ctx, _) = crate::session::context_over(&warehouse, &self.shared.engine, &opened)
            .await
            .map_err(|e| refused("58000", e.to_string()))?;
        // PostgreSQL's catalog over the tables the role sees (what `\dt` and BI
        // tools read to list tables and columns).
        let catalog = ctx.catalog_names().into_iter().next().unwrap_or_default();
        setup_pg_catalog(&ctx, &catalog, EmptyContextProvider)
            .map_err(|e| refused("58000", e.to_string()))?;
        super::pg_shape::register(&ctx).map_err(|e| refused("58000", e.to_string()))?;
        super::pg_compat::register(&ctx);
        super::pg_expr::register(&ctx);
        super::pg_information_schema::register(&ctx)
            .await
            .map_err(|e| refused("58000", e.to_string()))?;
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(super::pg_sql::RewriteHook),
            Arc::new(super::pg_rows::BatchedFetch),
            Arc::new(CursorStatementHook),
            Arc::new(SetShowHook),
            Arc::new(TransactionStatementHook),
            Arc::new(super::pg_compat::SessionHook),
        ];
        let ctx = Arc::new(ctx);
        let service = Arc::new(DfSessionService::new_with_hooks(ctx.clone(), hooks));
        let parser = Arc::new(AsWritten {
            inner: service.query_parser(),
            ctx,
        });
        *self.opened.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(Opened {
            service,
            parser,
            user: user.to_string(),
            role,
            catalog,
        }));
        Ok(())
    }

    fn opened(&self) -> PgWireResult<Arc<Opened>> {
        self.opened
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| refused("08000", "the connection has no session".into()))
    }

    fn is_open(&self) -> bool {
        self.opened
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// `DISCARD ALL` (what connection pools send before handing a connection to
    /// the next client): a fresh session, as at login (no `SET` value kept, every
    /// table at its current version).
    async fn discard(&self, opened: &Opened) -> PgWireResult<Response> {
        self.open(&opened.user).await?;
        Ok(Response::Execution(Tag::new("DISCARD ALL")))
    }

    /// Records a statement in the audit trail.
    fn record(&self, opened: &Opened, sql: &str, failed: Option<String>, started: Instant) {
        self.shared.audit.record(Record {
            at: chrono::Utc::now(),
            user: opened.user.clone(),
            role: opened.role.clone(),
            surface: SURFACE.into(),
            statement: sql.to_string(),
            tables: super::audited::tables_of(sql),
            rows: None,
            outcome: failed.map_or_else(|| "ok".into(), |e| format!("failed: {e}")),
            millis: started.elapsed().as_millis() as i64,
        });
    }
}

/// PostgreSQL's error `code` with `message`: the statement fails, the
/// connection goes on.
pub(super) fn refused(code: &str, message: String) -> PgWireError {
    error("ERROR", code, message)
}

/// PostgreSQL's error `code` with `message`, which ends the connection.
pub(super) fn fatal(code: &str, message: String) -> PgWireError {
    error("FATAL", code, message)
}

fn error(severity: &str, code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        severity.to_string(),
        code.to_string(),
        message,
    )))
}

/// Whether a statement only reads: a query, `EXPLAIN`, or a session statement.
fn reads_only(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::Query(_)
            | Statement::Explain { .. }
            | Statement::ExplainTable { .. }
            | Statement::Set(_)
            | Statement::ShowVariable { .. }
            | Statement::ShowVariables { .. }
            | Statement::ShowTables { .. }
            | Statement::ShowColumns { .. }
            | Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Discard { .. }
            | Statement::Deallocate { .. }
            | Statement::Fetch { .. }
            | Statement::Close { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
    ) || matches!(statement, Statement::Declare { stmts }
        if stmts.iter().all(|d| d.for_query.is_some()))
}

fn read_only_error() -> PgWireError {
    refused(
        "25006",
        "lgs serves the warehouse read-only: queries only (load data with lgs ingest)".into(),
    )
}

/// The statements of `sql`, refused unless every one of them only reads.
fn read_only_statements(sql: &str) -> PgWireResult<Vec<Statement>> {
    let statements =
        datafusion::sql::sqlparser::parser::Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .map_err(|e| refused("42601", e.to_string()))?;
    match statements.iter().all(reads_only) {
        true => Ok(statements),
        false => Err(read_only_error()),
    }
}

/// Whether `statements` are `DISCARD ALL` alone (which lgs answers itself).
fn is_discard_all(statements: &[Statement]) -> bool {
    matches!(
        statements,
        [Statement::Discard {
            object_type: DiscardObject::ALL
        }]
    )
}

#[async_trait]
impl SimpleQueryHandler for Connection {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let opened = self.opened()?;
        let started = Instant::now();
        let result = match read_only_statements(query) {
            Ok(statements) if is_discard_all(&statements) => {
                self.discard(&opened).await.map(|r| vec![r])
            }
            Ok(statements) => {
                let timeout = client_timeout(client.metadata());
                match planned_as_written(statements) {
                    Some(statement) => {
                        let metadata = client.metadata().clone();
                        let ctx = &opened.parser.ctx;
                        let run = async {
                            Ok(vec![super::pg_sql::run(ctx, statement, &metadata).await?])
                        };
                        self.shared.limits.within(timeout, run).await
                    }
                    None => {
                        let service = opened.service.as_ref();
                        let run = SimpleQueryHandler::do_query(service, client, query);
                        self.shared.limits.within(timeout, run).await
                    }
                }
            }
            Err(e) => Err(e),
        };
        let failed = result.as_ref().err().map(|e| e.to_string());
        self.record(&opened, query, failed, started);
        result
    }
}

#[async_trait]
impl ExtendedQueryHandler for Connection {
    type Statement = <DfSessionService as ExtendedQueryHandler>::Statement;
    type QueryParser = AsWritten;

    fn query_parser(&self) -> Arc<AsWritten> {
        match &*self.opened.read().unwrap_or_else(PoisonError::into_inner) {
            Some(opened) => opened.parser.clone(),
            None => closed(),
        }
    }

    /// Execute, with its row limit held to one batch ([`super::pg_rows`]).
    async fn on_execute<C>(&self, client: &mut C, mut message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        message.max_rows = super::pg_rows::execute_row_limit(message.max_rows);
        self._on_execute(client, message).await
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let opened = self.opened()?;
        let (sql, parsed) = &portal.statement.statement;
        let started = Instant::now();
        let result = match parsed {
            Some((statement, _)) if !reads_only(statement) => Err(read_only_error()),
            Some((
                Statement::Discard {
                    object_type: DiscardObject::ALL,
                },
                _,
            )) => self.discard(&opened).await,
            _ => {
                let service = opened.service.as_ref();
                let timeout = client_timeout(client.metadata());
                let run = async {
                    ExtendedQueryHandler::do_query(service, client, portal, max_rows)
                        .await
                        .map(|r| vec![r])
                };
                let limited = self.shared.limits.within(timeout, run).await;
                limited.map(|mut responses| responses.remove(0))
            }
        };
        let failed = result.as_ref().err().map(|e| e.to_string());
        self.record(&opened, sql, failed, started);
        result
    }

    /// A portal's columns; for a cursor opened by `DECLARE` (whose portal has the
    /// cursor's name, as in PostgreSQL, and which psycopg's named cursors
    /// describe), the columns of its open result.
    async fn do_describe_portal<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if portal.statement.statement.1.is_none()
            && let PortalExecutionState::Suspended(open) = &*portal.state.lock().await
        {
            return Ok(DescribePortalResponse::new(open.row_schema().to_vec()));
        }
        let opened = self.opened()?;
        ExtendedQueryHandler::do_describe_portal(opened.service.as_ref(), client, portal).await
    }
}

/// The logins of a server with users: SCRAM-SHA-256 against each user's salted
/// token.
#[derive(Debug)]
struct Logins(ServedUsers);

#[async_trait]
impl AuthSource for Logins {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or_default();
        match self.0.users.by_name(user).and_then(|u| u.pg_scram.clone()) {
            Some((salt, salted)) => Ok(Password::new(Some(salt), salted)),
            None => Err(PgWireError::InvalidPassword(user.to_string())),
        }
    }
}

/// A server without users: anyone on the loopback address, as the process's role.
struct Trust;

impl NoopStartupHandler for Trust {}

/// How a connection logs in, then opens its session.
struct Startup {
    connection: Arc<Connection>,
    scram: Option<SASLAuthStartupHandler<DefaultServerParameterProvider>>,
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if self.connection.shared.tls.is_some() && !client.is_secure() {
            return Err(super::pg_guard::plain_text_refused());
        }
        match (&self.scram, &self.connection.shared.users) {
            (Some(scram), Some(served)) => {
                // Failed logins count per address, with the dashboard's: five
                // within a minute refuse the address for the rest of it.
                let from = client.socket_addr().ip();
                if !served.users.may_try(from) {
                    let message = "too many failed logins from this address; wait a minute";
                    return Err(fatal("28P01", message.into()));
                }
                if let Err(e) = scram.on_startup(client, message).await {
                    served.users.failed(from);
                    return Err(e);
                }
            }
            _ => Trust.on_startup(client, message).await?,
        }
        if matches!(client.state(), PgWireConnectionState::ReadyForQuery)
            && !self.connection.is_open()
        {
            let user = client.metadata().get(METADATA_USER).cloned();
            self.connection.open(&user.unwrap_or_default()).await?;
        }
        Ok(())
    }
}

/// The handlers of one connection.
struct Handlers(Arc<Connection>);

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.0.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.0.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        let scram = self.0.shared.users.as_ref().map(|users| {
            let mut auth = ScramAuth::new(Arc::new(Logins(users.clone())));
            auth.set_iterations(SCRAM_ITERATIONS);
            SASLAuthStartupHandler::new(Arc::new(DefaultServerParameterProvider::default()))
                .with_scram(auth)
        });
        Arc::new(Startup {
            connection: self.0.clone(),
            scram,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Found by the `pg_wire` fuzz target (its memory grew by megabytes per
    /// connection): a connection's session is freed when the connection ends, and
    /// when `DISCARD ALL` replaces it.
    #[tokio::test]
    async fn a_closed_connection_frees_its_session() {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::new(dir.path().join("warehouse"));
        let (audit, flusher) = AuditLog::start(warehouse.clone(), Duration::from_secs(60));
        let shared = Arc::new(Shared {
            warehouse,
            engine: Engine::Local(Default::default()),
            users: None,
            audit,
            tls: None,
            limits: QueryLimits::default(),
            opened: Default::default(),
        });
        let connection = Connection::new(shared.clone());
        connection.open("someone").await.unwrap();
        let catalogs_of = |c: &Connection| {
            let opened = c.opened().unwrap();
            Arc::downgrade(opened.parser.ctx.state().catalog_list())
        };
        let first = catalogs_of(&connection);
        // DISCARD ALL: a fresh session in place of the first.
        connection.open("someone").await.unwrap();
        let second = catalogs_of(&connection);
        assert!(first.upgrade().is_none(), "the replaced session is freed");
        assert!(second.upgrade().is_some(), "the open session is there");
        drop(connection);
        assert!(
            second.upgrade().is_none(),
            "the closed connection's session is freed"
        );
        drop(shared);
        flusher.finish().await;
    }
}
