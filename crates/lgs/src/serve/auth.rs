//! Who is asking: users with a role and a token, for `lgs serve --users FILE`.
//!
//! A users file (TOML) names each user's policy role and the SHA-256 of its token
//! (`lgs serve --new-token` prints a fresh token and its hash; the token itself is
//! never stored):
//!
//! ```toml
//! [users.alice]
//! role = "analyst"
//! token_sha256 = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
//! ```
//!
//! A request carries the token as `Authorization: Bearer TOKEN`, or a session
//! cookie obtained once from `POST /login` (`{"token": ...}`): signed with a key of
//! this server process, HttpOnly, SameSite=Strict, expiring after
//! [`SESSION_SECONDS`]. Token hashes are compared in constant time; an address
//! with [`MAX_FAILURES`] failed attempts within a minute is refused for that minute.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{LgsError, Result};
use crate::format::{hex, unhex};

/// How long a login session lasts.
pub const SESSION_SECONDS: i64 = 8 * 3600;
/// Failed attempts from one address within [`FAILURE_WINDOW`] before it is refused.
pub const MAX_FAILURES: u32 = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// The session cookie's name.
pub const COOKIE: &str = "lgs_session";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    users: BTreeMap<String, UserEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    role: String,
    token_sha256: String,
    /// For the PostgreSQL protocol: the token's SCRAM-SHA-256 salt and salted
    /// password (`<hex salt>:<hex salted password>`, [`SCRAM_ITERATIONS`]).
    pg_scram: Option<String>,
}

/// A user of the served surfaces.
#[derive(Clone)]
pub struct User {
    pub name: String,
    pub role: String,
    token_hash: [u8; 32],
    /// The SCRAM salt and salted password of the token (PostgreSQL logins).
    pub pg_scram: Option<(Vec<u8>, Vec<u8>)>,
}

/// PBKDF2 iterations of the PostgreSQL logins' SCRAM (PostgreSQL's default).
pub const SCRAM_ITERATIONS: usize = 4096;

/// The `pg_scram` line of a users file for `token` (a fresh salt).
pub fn pg_scram_line(token: &str) -> String {
    let salt: [u8; 16] = rand::random();
    let salted = crate::serve::pg::salted_password(token, &salt);
    format!("pg_scram = \"{}:{}\"", hex(&salt), hex(&salted))
}

/// `pg_scram`'s salt and salted password.
fn parse_scram(text: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let (salt, salted) = text.split_once(':')?;
    Some((unhex(salt)?, unhex(salted)?)).filter(|(s, p)| !s.is_empty() && p.len() == 32)
}

/// The users, the session key and the failed attempts of a server.
pub struct Users {
    users: Vec<User>,
    session_key: [u8; 32],
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl std::fmt::Debug for Users {
    /// Names and roles only: no hashes, no session key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let users: Vec<(&str, &str)> = self
            .users
            .iter()
            .map(|u| (u.name.as_str(), u.role.as_str()))
            .collect();
        f.debug_struct("Users").field("users", &users).finish()
    }
}

/// SHA-256 of a token, in hexadecimal (what a users file stores).
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// A new random token (32 bytes, hexadecimal).
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex(&bytes)
}

/// Equal without an early exit (the time does not tell how much matched).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Users {
    /// Reads a users file; every role must be one of `roles`.
    pub fn load<'a>(path: &Path, roles: impl Iterator<Item = &'a str> + Clone) -> Result<Users> {
        let bad = |message: String| LgsError::Policy {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| LgsError::Read {
            path: path.to_path_buf(),
            source: e,
        })?;
        let file: UsersFile = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if file.users.is_empty() {
            return Err(bad(
                "no users: add [users.NAME] with role and token_sha256".into()
            ));
        }
        let mut users = Vec::new();
        for (name, entry) in file.users {
            if !roles.clone().any(|r| r == entry.role) {
                return Err(bad(format!(
                    "user {name:?} has role {:?}, which the policy does not define",
                    entry.role
                )));
            }
            let token_hash = unhex(&entry.token_sha256)
                .and_then(|h| <[u8; 32]>::try_from(h).ok())
                .ok_or_else(|| {
                    bad(format!(
                        "user {name:?}: token_sha256 must be 64 hexadecimal digits (the SHA-256 of \
                     the token; lgs serve --new-token makes one)"
                    ))
                })?;
            let pg_scram = match &entry.pg_scram {
                None => None,
                Some(text) => Some(parse_scram(text).ok_or_else(|| {
                    bad(format!(
                        "user {name:?}: pg_scram must be `<hex salt>:<64 hex digits>` \
                         (lgs serve --new-token makes one)"
                    ))
                })?),
            };
            users.push(User {
                name,
                role: entry.role,
                token_hash,
                pg_scram,
            });
        }
        Ok(Users {
            users,
            session_key: rand::random(),
            failures: Mutex::new(HashMap::new()),
        })
    }

    /// The user called `name`.
    pub fn by_name(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// The user whose token this is (every user's hash is compared).
    pub fn by_token(&self, token: &str) -> Option<&User> {
        let hash = Sha256::digest(token.as_bytes());
        let mut found = None;
        for user in &self.users {
            if same(&user.token_hash, &hash) {
                found = Some(user);
            }
        }
        found
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.session_key).expect("any key length")
    }

    /// A signed session for `user`, valid for [`SESSION_SECONDS`] from `now`.
    pub fn session(&self, user: &User, now: i64) -> String {
        let body = format!("{}.{}", hex(user.name.as_bytes()), now + SESSION_SECONDS);
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        format!("{body}.{}", hex(&mac.finalize().into_bytes()))
    }

    /// The user of a session cookie's value, if it is signed by this server and not
    /// expired at `now`.
    pub fn by_session(&self, value: &str, now: i64) -> Option<&User> {
        let (body, signature) = value.rsplit_once('.')?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        if !same(
            hex(&mac.finalize().into_bytes()).as_bytes(),
            signature.as_bytes(),
        ) {
            return None;
        }
        let (name, expires) = body.split_once('.')?;
        if expires.parse::<i64>().ok()? <= now {
            return None;
        }
        let name: Vec<u8> = (0..name.len() / 2)
            .map(|i| u8::from_str_radix(name.get(2 * i..2 * i + 2)?, 16).ok())
            .collect::<Option<_>>()?;
        let name = String::from_utf8(name).ok()?;
        self.users.iter().find(|u| u.name == name)
    }

    /// Whether `from` may try again (fewer than [`MAX_FAILURES`] failures within the
    /// last minute).
    pub fn may_try(&self, from: IpAddr) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match failures.get(&from) {
            Some((n, since)) => *n < MAX_FAILURES || since.elapsed() > FAILURE_WINDOW,
            None => true,
        }
    }

    /// Counts a failed attempt from `from`.
    pub fn failed(&self, from: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let entry = failures.entry(from).or_insert((0, Instant::now()));
        if entry.1.elapsed() > FAILURE_WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    pub fn users(&self) -> &[User] {
        &self.users
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Users {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        std::fs::write(
            &path,
            format!(
                "[users.alice]\nrole = \"analyst\"\ntoken_sha256 = \"{}\"\n",
                token_hash("alice-token")
            ),
        )
        .unwrap();
        Users::load(&path, ["analyst", "admin"].into_iter()).unwrap()
    }

    #[test]
    fn tokens_are_checked_by_their_hash() {
        // SHA-256("abc"), FIPS 180-2.
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let users = users();
        assert_eq!(users.by_token("alice-token").unwrap().name, "alice");
        assert!(users.by_token("alice-token ").is_none());
        assert!(users.by_token("").is_none());
    }

    #[test]
    fn sessions_are_signed_and_expire() {
        let users = users();
        let alice = users.users()[0].clone();
        let session = users.session(&alice, 1_000);
        assert_eq!(users.by_session(&session, 1_001).unwrap().name, "alice");
        assert!(
            users
                .by_session(&session, 1_000 + SESSION_SECONDS)
                .is_none(),
            "expired"
        );
        let forged = session.replacen(&(1_000 + SESSION_SECONDS).to_string(), "99999999999", 1);
        assert!(
            users.by_session(&forged, 1_001).is_none(),
            "the signature covers the expiry"
        );
        assert!(users.by_session(&session, 1_001).is_some());
        // Another server (another key) does not accept it.
        assert!(self::users().by_session(&session, 1_001).is_none());
    }

    #[test]
    fn repeated_failures_are_refused_for_a_while() {
        let users = users();
        let from: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(users.may_try(from));
            users.failed(from);
        }
        assert!(!users.may_try(from));
        assert!(users.may_try("127.0.0.2".parse().unwrap()));
    }
}
