//! Who the invocation acts as: the role of `--policy`/`--role`, and which commands
//! change the warehouse (refused for a restricted role).

use anyhow::Context;

use crate::args::{Cli, Command, GlobalArgs};

impl GlobalArgs {
    /// Who this invocation changes the warehouse as.
    pub fn actor(&self, access: &lgs::policy::Access) -> lgs::facts::Actor {
        let user = std::env::var("LGS_USER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "unknown".into());
        lgs::facts::Actor {
            user,
            role: access.name().to_string(),
            reason: self.reason.clone(),
        }
    }

    /// The pseudonym key: `LGS_PSEUDONYM_KEY`, else the policy's key file (`None`:
    /// neither is given).
    pub fn pseudonym_key(&self) -> anyhow::Result<Option<std::sync::Arc<[u8]>>> {
        if let Some(key) = std::env::var_os(lgs::policy::KEY_ENV) {
            let key = key.into_encoded_bytes();
            anyhow::ensure!(
                key.len() >= lgs::policy::MIN_KEY_BYTES,
                "{} has {} bytes; a pseudonym key needs at least {}",
                lgs::policy::KEY_ENV,
                key.len(),
                lgs::policy::MIN_KEY_BYTES
            );
            return Ok(Some(key.into()));
        }
        match &self.policy {
            Some(path) => Ok(lgs::policy::Policy::load(path)?.key().cloned()),
            None => Ok(None),
        }
    }

    /// The warehouse's encryption keys: `LGS_KEY`, else `--key-file` (`None`:
    /// neither is given; the warehouse is not encrypted).
    pub fn keyring(&self) -> anyhow::Result<Option<lgs::crypt::Keyring>> {
        if let Ok(text) = std::env::var(lgs::crypt::KEY_ENV) {
            return Ok(Some(lgs::crypt::Keyring::parse(
                &text,
                lgs::crypt::KEY_ENV,
            )?));
        }
        match &self.key_file {
            Some(path) => Ok(Some(lgs::crypt::Keyring::load(path)?)),
            None => Ok(None),
        }
    }

    /// What this invocation may see: everything without a policy, else the role's
    /// view.
    pub fn access(&self) -> anyhow::Result<lgs::policy::Access> {
        match (&self.policy, &self.role) {
            (None, None) => Ok(lgs::policy::Access::Admin),
            (None, Some(role)) => anyhow::bail!(
                "--role {role} needs a policy: give --policy FILE (or set LGS_POLICY)"
            ),
            (Some(path), role) => {
                let policy = lgs::policy::Policy::load(path)?;
                let role = role.as_deref().with_context(|| {
                    format!(
                        "a policy is given ({}): choose a role with --role (one of {})",
                        path.display(),
                        policy.roles().collect::<Vec<_>>().join(", ")
                    )
                })?;
                Ok(policy.access(role)?)
            }
        }
    }
}

impl Command {
    /// What the command would change in the warehouse, for a refusal (`None`: it
    /// only reads it).
    pub fn changes_the_warehouse(&self) -> Option<&'static str> {
        let report = match self {
            Command::Ingest(_) | Command::Demo { .. } => return Some("loading data"),
            Command::Stream(_) => return Some("streaming into the warehouse"),
            Command::Restore(_) | Command::Repair(_) => return Some("restoring a table"),
            Command::Optimize(_) | Command::Vacuum(_) => return Some("compacting a table"),
            Command::Live(_) => return Some("refreshing the live state"),
            Command::Check(_) => return Some("checking the warehouse's files"),
            Command::Forget(_) => return Some("forgetting customers"),
            Command::Report(r) => &r.report,
            Command::Clv(a) => &a.report,
            Command::Kmeans(a) => &a.report,
            Command::Experiment(a) => &a.report,
            Command::Basket(a) => &a.report,
            Command::Recommend(a) => &a.report,
            Command::Trends(a) => &a.report,
            _ => return None,
        };
        report
            .save
            .then_some("saving a report into the warehouse (--save)")
    }
}

impl Cli {
    /// The warehouse as this invocation's role sees it, recording who changes it;
    /// a command that would change it fails here for a restricted role.
    pub fn warehouse(&self) -> anyhow::Result<lgs::Warehouse> {
        let access = match (&self.command, &self.global.role) {
            // Each user of the server gets its own role; the server itself is admin.
            (Command::Serve(args), None) if args.users.is_some() => lgs::policy::Access::Admin,
            _ => self.global.access()?,
        };
        if let Some(what) = self.command.changes_the_warehouse() {
            access.require_admin(what)?;
        }
        let actor = self.global.actor(&access);
        Ok(lgs::Warehouse::at(&self.global.warehouse)?
            .with_access(access)
            .with_actor(actor)
            .with_keyring(self.global.keyring()?))
    }
}
