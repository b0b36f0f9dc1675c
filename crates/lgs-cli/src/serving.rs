//! `lgs serve`: the dashboard, with or without users.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use lgs::Warehouse;
use lgs::session::{Engine, Limits};

use crate::args::ServeArgs;
use crate::commands::out;

pub async fn serve(
    warehouse: Warehouse,
    args: &ServeArgs,
    policy: Option<&Path>,
    limits: Limits,
    quiet: bool,
) -> Result<()> {
    if args.new_token {
        let token = lgs::serve::auth::new_token();
        writeln!(out(), "token: {token}")?;
        let hash = lgs::serve::auth::token_hash(&token);
        writeln!(out(), "token_sha256 = \"{hash}\"")?;
        writeln!(out(), "{}", lgs::serve::auth::pg_scram_line(&token))?;
        return Ok(());
    }
    let users = match (&args.users, policy) {
        (Some(file), Some(policy)) => Some(served_users(file, policy)?),
        (Some(_), None) => anyhow::bail!(
            "--users needs --policy FILE (or LGS_POLICY): the policy defines the users' roles"
        ),
        (None, _) => None,
    };
    if !args.bind.is_loopback() && users.is_none() {
        anyhow::bail!(
            "refusing to serve on {}: it is not a loopback address, and without --users \
             anyone who reaches it could query the warehouse. Give --users FILE (with \
             --policy) so that every request needs a user's token.",
            args.bind
        );
    }
    let engine = Engine::from_url(args.cluster.cluster.as_deref(), limits);
    let pg_wanted = args.pg || args.pg_tls_cert.is_some();
    let pg_wanted = pg_wanted || args.pg_max_rows.is_some() || args.pg_timeout.is_some();
    let pg_port = match (pg_wanted, args.pg_port) {
        (_, Some(port)) => Some(port),
        (true, None) => Some(5433),
        (false, None) => None,
    };
    let pg = match pg_port {
        None => None,
        Some(port) => {
            let options = lgs::serve::pg::PgOptions {
                bind: std::net::SocketAddr::new(args.bind, port),
                tls: args
                    .pg_tls_cert
                    .clone()
                    .zip(args.pg_tls_key.clone())
                    .map(|(cert, key)| lgs::serve::pg::TlsFiles { cert, key }),
                limits: lgs::serve::pg::QueryLimits {
                    max_rows: args.pg_max_rows,
                    timeout: args.pg_timeout,
                },
            };
            let stop = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            let served = lgs::serve::pg::bind(
                warehouse.clone(),
                options,
                engine.clone(),
                users.clone(),
                stop,
            );
            Some(served.await?)
        }
    };
    let options = lgs::serve::ServeOptions {
        bind: std::net::SocketAddr::new(args.bind, args.port),
        as_of: args.as_of,
        keep_rows: 100_000,
        engine,
        // The live panel reads the live state, which holds every line's figures:
        // not for a restricted role.
        live_interval: (!args.no_live && warehouse.access().role().is_none())
            .then_some(args.live_interval),
        users,
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let (addr, server) = lgs::serve::bind(warehouse, options, shutdown).await?;
    {
        let mut stdout = out();
        writeln!(stdout, "serving http://{addr}/")?;
        if let Some((pg_addr, _)) = &pg {
            writeln!(stdout, "serving postgres://{pg_addr}/")?;
        }
        stdout.flush()?;
    }
    if !quiet {
        eprintln!("the report at /, SQL at /sql; Ctrl-C stops");
    }
    match pg {
        Some((_, pg_server)) => {
            let (dashboard, postgres) = tokio::join!(server, pg_server);
            dashboard?;
            postgres?;
        }
        None => server.await?,
    }
    Ok(())
}

/// The users of `lgs serve --users`, with the access of each role of the policy.
fn served_users(file: &Path, policy: &Path) -> Result<lgs::serve::ServedUsers> {
    let policy = lgs::policy::Policy::load(policy)?;
    let roles: Vec<&str> = policy.roles().collect();
    let users = lgs::serve::auth::Users::load(file, roles.iter().copied())?;
    let mut roles = std::collections::BTreeMap::new();
    for user in users.users() {
        roles.insert(user.role.clone(), policy.access(&user.role)?);
    }
    Ok(lgs::serve::ServedUsers {
        users: std::sync::Arc::new(users),
        roles,
    })
}
