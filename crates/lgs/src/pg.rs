//! Connections to PostgreSQL, the retailer's source warehouse: parsing a
//! `postgres://` URL, connecting with a bounded timeout, and errors that name the
//! server and say why it refused.

use std::time::Duration;

use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

use crate::error::{LgsError, Result};

/// How long a connection attempt may take before it is reported as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// True when an input or output names a PostgreSQL server.
pub fn is_postgres_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// A server and database to connect to.
#[derive(Clone)]
pub struct PgServer {
    config: Config,
    /// `user@host:port/db`, without the password, for messages.
    pub shown: String,
}

impl std::fmt::Debug for PgServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl PgServer {
    /// Parses a `postgres://user[:password]@host[:port]/db[?param=value...]` URL.
    /// `extra` parameters (lgs's own, such as `schema`) are taken out and returned.
    pub fn parse(url: &str, extra: &[&str]) -> Result<(PgServer, Vec<(String, String)>)> {
        let invalid = |message: String| LgsError::InvalidArgument {
            what: "PostgreSQL URL",
            message,
        };
        let mut parsed = url::Url::parse(url).map_err(|e| invalid(format!("{url}: {e}")))?;
        let mut taken = Vec::new();
        let kept: Vec<(String, String)> = parsed
            .query_pairs()
            .filter_map(|(k, v)| {
                if extra.contains(&k.as_ref()) {
                    taken.push((k.into_owned(), v.into_owned()));
                    None
                } else {
                    Some((k.into_owned(), v.into_owned()))
                }
            })
            .collect();
        if kept.is_empty() {
            parsed.set_query(None);
        } else {
            parsed.query_pairs_mut().clear().extend_pairs(kept);
        }
        let mut config: Config = parsed
            .as_str()
            .parse()
            .map_err(|e| invalid(format!("{}: {e}", redact(url))))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("lgs");
        let host = config
            .get_hosts()
            .first()
            .map(|h| match h {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            })
            .unwrap_or_else(|| "localhost".into());
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let shown = format!(
            "{}@{host}:{port}/{}",
            config.get_user().unwrap_or("?"),
            config.get_dbname().unwrap_or("?")
        );
        Ok((PgServer { config, shown }, taken))
    }

    /// Connects; the connection is driven by a task on the current runtime.
    pub async fn connect(&self) -> Result<Client> {
        let (client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| self.error("cannot connect", &e))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("PostgreSQL connection ended: {e}");
            }
        });
        Ok(client)
    }

    /// An error naming this server, with the server's own message when it sent one.
    pub fn error(&self, doing: &str, e: &tokio_postgres::Error) -> LgsError {
        LgsError::Postgres {
            target: self.shown.clone(),
            message: format!("{doing}: {}", describe(e)),
        }
    }
}

/// The most useful text of a driver error: the server's message and detail, or the
/// I/O cause (connection refused, timed out, ...).
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{}: {}", db.severity(), db.message());
        if let Some(detail) = db.detail() {
            s.push_str(&format!(" ({detail})"));
        }
        return s;
    }
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !s.contains(&text) {
            s.push_str(&format!(": {text}"));
        }
        source = cause.source();
    }
    s
}

/// The URL with its password replaced by `***`.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Quotes an identifier for SQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a possibly schema-qualified name (`schema.table`) for SQL.
pub fn quote_qualified(name: &str) -> String {
    name.split('.')
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(".")
}
