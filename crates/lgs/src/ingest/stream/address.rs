//! Broker addresses: `SCHEME://HOST[:PORT]/NAME`.

use crate::error::{LgsError, Result};

/// Splits a broker address `SCHEME://HOST[:PORT]/NAME` (the port `port` unless
/// given): `(HOST:PORT, NAME)`, or an error showing `shape` when it is not one or
/// `NAME` breaks `valid`'s rule (which says why).
pub(crate) fn split_address(
    url: &str,
    scheme: &str,
    port: u16,
    shape: &str,
    valid: impl Fn(&str) -> std::result::Result<(), &'static str>,
) -> Result<(String, String)> {
    let bad = |why: &str| LgsError::InvalidArgument {
        what: "stream address",
        message: format!("{url}: {why}; expected {shape}"),
    };
    let rest = url
        .strip_prefix(scheme)
        .and_then(|r| r.strip_prefix("://"))
        .ok_or_else(|| bad(&format!("not a {scheme}:// address")))?;
    let (server, name) = rest
        .split_once('/')
        .ok_or_else(|| bad("no name after the server"))?;
    let name = name.trim_end_matches('/');
    if server.is_empty() {
        return Err(bad("no server"));
    }
    valid(name).map_err(bad)?;
    let server = match server.contains(':') {
        true => server.to_string(),
        false => format!("{server}:{port}"),
    };
    Ok((server, name.to_string()))
}
