//! What `lgs serve --pg` guards beyond roles: TLS (when configured, every
//! connection must use it: a client that does not ask for it is refused, never
//! served in plain text) and per-query limits (rows of a result, time of a
//! statement), which end a statement with PostgreSQL's own error codes.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use datafusion_postgres::pgwire;
use futures::StreamExt;
use pgwire::api::results::Response;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::tokio_rustls::rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::pg::{fatal, refused};
use crate::error::{LgsError, Result};

/// How `lgs serve --pg` listens.
#[derive(Debug, Clone)]
pub struct PgOptions {
    pub bind: SocketAddr,
    /// The server's certificate and key: TLS, required of every connection.
    pub tls: Option<TlsFiles>,
    pub limits: QueryLimits,
}

/// A PEM certificate chain and its PEM private key.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Limits of every statement of a connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryLimits {
    /// A result may have at most this many rows (more is an error, 54000).
    pub max_rows: Option<u64>,
    /// A statement may run this long, planning and results (then 57014).
    pub timeout: Option<Duration>,
}

/// The TLS acceptor of `files` (PostgreSQL's ALPN name, for clients that
/// negotiate TLS directly).
pub(super) fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor> {
    let certs = pem_items::<CertificateDer>(&files.cert, "certificate")?;
    let key = pem_items::<PrivateKeyDer>(&files.key, "private key")?
        .into_iter()
        .next()
        .ok_or_else(|| tls_error(&files.key, "holds no PEM private key".into()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| tls_error(&files.cert, format!("cannot be used with its key: {e}")))?;
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Every PEM item of type `T` in `path` (at least one).
fn pem_items<T: PemObject>(path: &Path, what: &str) -> Result<Vec<T>> {
    let text = std::fs::read(path).map_err(|source| LgsError::Io {
        doing: format!("cannot read the TLS {what} {}", path.display()),
        source,
    })?;
    let items = T::pem_slice_iter(&text)
        .collect::<std::result::Result<Vec<T>, _>>()
        .map_err(|e| tls_error(path, format!("is not a PEM {what}: {e}")))?;
    match items.is_empty() {
        true => Err(tls_error(path, format!("holds no PEM {what}"))),
        false => Ok(items),
    }
}

fn tls_error(path: &Path, message: String) -> LgsError {
    LgsError::InvalidArgument {
        what: "TLS file",
        message: format!("{} {message}", path.display()),
    }
}

/// The error a client that did not ask for TLS gets from a server that requires it.
pub(super) fn plain_text_refused() -> PgWireError {
    let message = "this server accepts TLS connections only: connect with sslmode=require \
                   (or verify-full)";
    fatal("28000", message.into())
}

/// The client's `SET statement_timeout`, as datafusion-postgres's `SET` keeps it
/// in the connection's metadata (milliseconds; absent or 0 when off).
pub(super) fn client_timeout(metadata: &HashMap<String, String>) -> Option<Duration> {
    metadata
        .get("statement_timeout_ms")
        .and_then(|ms| ms.parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
}

impl QueryLimits {
    /// Runs a statement (`run`, which plans it and returns its responses) within
    /// the time limit, the server's or the client's `statement_timeout`
    /// (`client`), whichever is shorter, and puts the limits on the rows of its
    /// results.
    pub(super) async fn within<F>(
        &self,
        client: Option<Duration>,
        run: F,
    ) -> PgWireResult<Vec<Response>>
    where
        F: Future<Output = PgWireResult<Vec<Response>>>,
    {
        let (timeout, by_client) = match (self.timeout, client) {
            (Some(server), Some(client)) if client < server => (Some(client), true),
            (None, Some(client)) => (Some(client), true),
            (server, _) => (server, false),
        };
        let applied = Applied {
            max_rows: self.max_rows,
            timeout,
            by_client,
        };
        applied.run(run).await
    }
}

/// The limits a statement runs under.
#[derive(Clone, Copy)]
struct Applied {
    max_rows: Option<u64>,
    timeout: Option<Duration>,
    /// The time limit is the client's `statement_timeout`.
    by_client: bool,
}

impl Applied {
    async fn run<F>(self, run: F) -> PgWireResult<Vec<Response>>
    where
        F: Future<Output = PgWireResult<Vec<Response>>>,
    {
        let deadline = self.timeout.map(|t| tokio::time::Instant::now() + t);
        let responses = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, run)
                .await
                .map_err(|_| self.timed_out())??,
            None => run.await?,
        };
        Ok(responses
            .into_iter()
            .map(|r| self.limit(r, deadline))
            .collect())
    }

    /// `response`'s rows, ended by an error at the row or time limit.
    fn limit(&self, response: Response, deadline: Option<tokio::time::Instant>) -> Response {
        let Response::Query(mut query) = response else {
            return response;
        };
        if self.max_rows.is_none() && deadline.is_none() {
            return Response::Query(query);
        }
        let limits = *self;
        let rows = std::mem::replace(&mut query.data_rows, Box::pin(futures::stream::empty()));
        query.data_rows = Box::pin(futures::stream::unfold(
            Some((rows, 0u64)),
            move |state| async move {
                let (mut rows, seen) = state?;
                let next = match deadline {
                    Some(deadline) => match tokio::time::timeout_at(deadline, rows.next()).await {
                        Ok(next) => next,
                        Err(_) => return Some((Err(limits.timed_out()), None)),
                    },
                    None => rows.next().await,
                };
                match (next, limits.max_rows) {
                    (None, _) => None,
                    (Some(Ok(_)), Some(max)) if seen >= max => {
                        Some((Err(limits.too_many_rows(max)), None))
                    }
                    (Some(row), _) => Some((row, Some((rows, seen + 1)))),
                }
            },
        ));
        Response::Query(query)
    }

    fn timed_out(&self) -> PgWireError {
        let limit = self.timeout.unwrap_or_default();
        let whose = match self.by_client {
            true => "the session's statement_timeout",
            false => "the server's limit (lgs serve --pg-timeout)",
        };
        refused(
            "57014",
            format!(
                "canceling statement due to statement timeout: it ran longer than \
                 {limit:?}, {whose}"
            ),
        )
    }

    fn too_many_rows(&self, max: u64) -> PgWireError {
        refused(
            "54000",
            format!(
                "the result has more than {max} rows, the server's limit (lgs serve \
                 --pg-max-rows): aggregate, filter or add a LIMIT"
            ),
        )
    }
}
