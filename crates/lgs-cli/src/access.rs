//! Who the invocation acts as: the role of `--policy`/`--role`, and which commands
//! change the warehouse (refused for a restricted role).

use anyhow::Context;

use crate::args::{Command, GlobalArgs};

impl GlobalArgs {
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
            Command::Report(r) => r,
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
