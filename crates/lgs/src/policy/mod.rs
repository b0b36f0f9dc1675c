//! Who may see what: roles read from a policy file (TOML), each naming the tables
//! and views it may read, and per table a row filter, masked columns (replaced by
//! keyed pseudonyms, see [`pseudonym`]) and denied columns.
//!
//! Enforced in one place: the session every surface opens registers each table as
//! the role may see it ([`visible`]): a view over the raw table with the role's
//! filter and masks, whose raw table is reachable only from inside that view. A
//! guard ([`guard`]) rejects any plan that reads a warehouse file by another way,
//! and statements that would read files directly (`CREATE EXTERNAL TABLE`) are
//! refused.
//!
//! ```toml
//! pseudonym_key_file = "pseudonym.key"   # or LGS_PSEUDONYM_KEY; 32 bytes or more
//!
//! [roles.admin]
//! admin = true
//!
//! [roles.agency_fr]
//! read = ["retail", "invoices"]
//! [roles.agency_fr.rules.retail]
//! filter = "country = 'France'"
//! mask = ["customer_id"]
//! deny = ["description"]
//! ```

pub mod guard;
pub mod pseudonym;
pub mod unmask;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::common::{Column, DFSchema};
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder};
use datafusion::prelude::SessionContext;
use serde::Deserialize;

use crate::error::{LgsError, Result};

/// The environment variable that holds the pseudonym key (instead of a key file).
pub const KEY_ENV: &str = "LGS_PSEUDONYM_KEY";

/// The shortest pseudonym key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    pseudonym_key_file: Option<PathBuf>,
    #[serde(default)]
    roles: BTreeMap<String, RoleFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleFile {
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    rules: BTreeMap<String, Rule>,
}

/// What a role sees of one table.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// A SQL condition on the table's columns: the rows the role sees.
    pub filter: Option<String>,
    /// Columns replaced by their keyed pseudonym.
    #[serde(default)]
    pub mask: Vec<String>,
    /// Columns the role does not see at all.
    #[serde(default)]
    pub deny: Vec<String>,
}

/// A restricted role, resolved from a policy file.
#[derive(Debug, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    /// Tables and views the role may read.
    pub read: BTreeSet<String>,
    pub rules: BTreeMap<String, Rule>,
    key: Option<Arc<[u8]>>,
}

impl Role {
    pub fn may_read(&self, table: &str) -> bool {
        self.read.contains(table)
    }

    /// The key of the role's pseudonyms (`None` when it masks nothing).
    pub fn key(&self) -> Option<&Arc<[u8]>> {
        self.key.as_ref()
    }
}

/// What the caller of a session may see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Access {
    /// Everything (no policy, or a role marked `admin`).
    #[default]
    Admin,
    Restricted(Arc<Role>),
}

impl Access {
    pub fn role(&self) -> Option<&Role> {
        match self {
            Access::Admin => None,
            Access::Restricted(role) => Some(role),
        }
    }

    /// The role's name for messages and the audit (`admin` without a policy).
    pub fn name(&self) -> &str {
        self.role().map_or("admin", |r| r.name.as_str())
    }

    /// Fails unless the caller may change the warehouse (`what` says how).
    pub fn require_admin(&self, what: &str) -> Result<()> {
        match self.role() {
            None => Ok(()),
            Some(role) => Err(LgsError::Denied {
                role: role.name.clone(),
                message: format!("{what} needs an admin role; this role may only read"),
            }),
        }
    }
}

/// A policy file, parsed and checked.
#[derive(Debug)]
pub struct Policy {
    path: PathBuf,
    roles: BTreeMap<String, Access>,
    key: Option<Arc<[u8]>>,
}

impl Policy {
    /// Reads and checks the policy at `path`.
    pub fn load(path: &Path) -> Result<Policy> {
        let text = std::fs::read_to_string(path).map_err(|e| LgsError::Read {
            path: path.to_path_buf(),
            source: e,
        })?;
        Policy::parse(
            path,
            &text,
            std::env::var_os(KEY_ENV).map(|k| k.into_encoded_bytes()),
        )
    }

    /// Parses a policy's text; `env_key` is the key from the environment, if any.
    pub fn parse(path: &Path, text: &str, env_key: Option<Vec<u8>>) -> Result<Policy> {
        let bad = |message: String| LgsError::Policy {
            path: path.to_path_buf(),
            message,
        };
        let file: PolicyFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let masks = file
            .roles
            .values()
            .any(|r| r.rules.values().any(|t| !t.mask.is_empty()));
        let key = match (env_key, &file.pseudonym_key_file) {
            (Some(key), _) => Some(key),
            (None, Some(key_file)) => {
                let key_path = path.parent().unwrap_or(Path::new(".")).join(key_file);
                Some(std::fs::read(&key_path).map_err(|e| {
                    bad(format!(
                        "cannot read the pseudonym key {}: {e}",
                        key_path.display()
                    ))
                })?)
            }
            (None, None) if !masks => None,
            (None, None) => {
                return Err(bad(format!(
                    "roles mask columns but there is no pseudonym key: set pseudonym_key_file \
                     or {KEY_ENV} (e.g. `head -c 32 /dev/urandom > pseudonym.key`)"
                )));
            }
        };
        if let Some(key) = &key
            && key.len() < MIN_KEY_BYTES
        {
            return Err(bad(format!(
                "the pseudonym key has {} bytes; it needs at least {MIN_KEY_BYTES}",
                key.len()
            )));
        }
        let key: Option<Arc<[u8]>> = key.map(Arc::from);
        let mut roles = BTreeMap::new();
        for (name, spec) in file.roles {
            let access = resolve(&name, spec, &key).map_err(bad)?;
            roles.insert(name, access);
        }
        Ok(Policy {
            path: path.to_path_buf(),
            roles,
            key,
        })
    }

    /// The access of the role called `name`.
    pub fn access(&self, name: &str) -> Result<Access> {
        self.roles
            .get(name)
            .cloned()
            .ok_or_else(|| LgsError::Policy {
                path: self.path.clone(),
                message: format!(
                    "there is no role {name:?}; the roles are {}",
                    self.roles.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            })
    }

    /// The pseudonym key (from the environment or the policy's key file).
    pub fn key(&self) -> Option<&Arc<[u8]>> {
        self.key.as_ref()
    }

    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.roles.keys().map(String::as_str)
    }
}

fn resolve(
    name: &str,
    spec: RoleFile,
    key: &Option<Arc<[u8]>>,
) -> std::result::Result<Access, String> {
    if spec.admin {
        if !spec.read.is_empty() || !spec.rules.is_empty() {
            return Err(format!(
                "role {name:?} is admin: it sees everything, so it takes no read or rules"
            ));
        }
        return Ok(Access::Admin);
    }
    let read: BTreeSet<String> = spec.read.into_iter().collect();
    for (table, rule) in &spec.rules {
        if !read.contains(table) {
            return Err(format!(
                "role {name:?} has rules for {table:?}, which is not in its read list"
            ));
        }
        if let Some(both) = rule.mask.iter().find(|c| rule.deny.contains(c)) {
            return Err(format!(
                "role {name:?} both masks and denies {table}.{both}"
            ));
        }
    }
    let masks = spec.rules.values().any(|r| !r.mask.is_empty());
    Ok(Access::Restricted(Arc::new(Role {
        name: name.to_string(),
        read,
        rules: spec.rules,
        key: if masks { key.clone() } else { None },
    })))
}

/// `raw` (the table `name` as its files hold it, its scans [`guard::sealed`] for a
/// restricted role) as `access` may see it: itself for an admin, `None` when the
/// role may not read it, else a view applying the role's rule.
pub fn visible(
    ctx: &SessionContext,
    access: &Access,
    name: &str,
    raw: Arc<dyn TableProvider>,
) -> Result<Option<Arc<dyn TableProvider>>> {
    let Some(role) = access.role() else {
        return Ok(Some(raw));
    };
    if !role.may_read(name) {
        return Ok(None);
    }
    let rule = role.rules.get(name).cloned().unwrap_or_default();
    let denied = |message: String| LgsError::Denied {
        role: role.name.clone(),
        message,
    };
    let schema = raw.schema();
    for column in rule.mask.iter().chain(&rule.deny) {
        if schema.field_with_name(column).is_err() {
            return Err(denied(format!(
                "its rule names column {column:?}, which table {name} does not have (it has {})",
                schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let plan_err = |e| LgsError::query(format!("applying role {}'s rule to {name}", role.name), e);
    let mut plan =
        LogicalPlanBuilder::scan(name, provider_as_source(raw), None).map_err(plan_err)?;
    if let Some(filter) = &rule.filter {
        let df_schema = DFSchema::try_from(schema.as_ref().clone()).map_err(plan_err)?;
        let condition = ctx.parse_sql_expr(filter, &df_schema).map_err(|e| {
            denied(format!(
                "its filter on {name} ({filter}) is not a valid condition: {e}"
            ))
        })?;
        plan = plan.filter(condition).map_err(plan_err)?;
    }
    let pseudonym = role.key().map(|k| pseudonym::Pseudonym::udf(k.clone()));
    let columns: Vec<Expr> = schema
        .fields()
        .iter()
        .filter(|f| !rule.deny.contains(f.name()))
        .map(|f| match &pseudonym {
            Some(udf) if rule.mask.contains(f.name()) => udf
                .call(vec![Expr::Column(Column::new_unqualified(f.name()))])
                .alias(f.name()),
            _ => Expr::Column(Column::new_unqualified(f.name())),
        })
        .collect();
    let plan = plan
        .project(columns)
        .map_err(plan_err)?
        .build()
        .map_err(plan_err)?;
    Ok(Some(Arc::new(ViewTable::new(plan, None))))
}
