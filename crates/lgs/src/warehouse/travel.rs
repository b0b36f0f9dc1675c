//! Time travel and restore. A warehouse can be read with some tables pinned to an
//! earlier version or to their state at a moment ([`Warehouse::pinned`]: `lgs sql
//! --version 3`, `lgs report --timestamp 2026-11-30`); the other tables are read at
//! their latest version. [`Warehouse::restore`] makes an earlier state current in a
//! new commit, as Delta's `RESTORE` does: the way back from a bad ingest.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use deltalake::DeltaTable;

use super::Warehouse;
use crate::error::{LgsError, Result};
use crate::facts::{CommitFacts, SourceFacts, WriteMode};

/// A state of a table: a version, or the latest version committed at or before a
/// moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pin {
    Version(u64),
    Timestamp(DateTime<Utc>),
}

impl Pin {
    /// A moment as `2026-11-30T12:00:00Z` (RFC 3339), `2026-11-30 12:00:00` (UTC) or
    /// `2026-11-30` (the end of that day, UTC).
    pub fn timestamp(text: &str) -> Result<Pin> {
        let text = text.trim();
        let parsed = DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
                    .ok()
                    .map(|t| t.and_utc())
            })
            .or_else(|| {
                NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(23, 59, 59))
                    .map(|t| t.and_utc())
            });
        parsed.map(Pin::Timestamp).ok_or_else(|| LgsError::InvalidArgument {
            what: "--timestamp",
            message: format!(
                "{text:?}: write 2026-11-30, 2026-11-30 12:00:00 (UTC) or 2026-11-30T12:00:00+01:00"
            ),
        })
    }
}

impl FromStr for Pin {
    type Err = LgsError;

    /// A version number.
    fn from_str(text: &str) -> Result<Pin> {
        text.trim()
            .parse()
            .map(Pin::Version)
            .map_err(|_| LgsError::InvalidArgument {
                what: "--version",
                message: format!("{text:?}: a table version is a number (see `lgs history TABLE`)"),
            })
    }
}

impl std::fmt::Display for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pin::Version(v) => write!(f, "version {v}"),
            Pin::Timestamp(t) => write!(f, "its state at {}", t.to_rfc3339()),
        }
    }
}

impl Warehouse {
    /// This warehouse with `table` read as of `pin` (sessions, `lgs tables`); writes
    /// still go to the latest version.
    pub fn pinned(mut self, table: &str, pin: Pin) -> Self {
        self.pins.insert(table.to_string(), pin);
        self
    }

    /// Loads the pinned state of `table`, if it is pinned.
    pub(super) async fn apply_pin(&self, name: &str, table: &mut DeltaTable) -> Result<()> {
        match self.pins.get(name) {
            Some(pin) => load_pin(name, table, *pin).await,
            None => Ok(()),
        }
    }

    /// Registers `pin`'s state of `table` in `ctx` under the name `alias` (SQL's
    /// `VERSION AS OF`, see [`crate::asof`]), checked as every read is.
    pub async fn register_as(
        &self,
        ctx: &datafusion::prelude::SessionContext,
        table: &str,
        pin: Pin,
        alias: &str,
    ) -> Result<()> {
        let mut opened = self.open_existing(table).await?;
        load_pin(table, &mut opened, pin).await?;
        let provider = self
            .visible_provider(ctx, table, &opened)
            .await?
            .ok_or_else(|| LgsError::TableNotFound {
                table: table.to_string(),
                warehouse: self.location(),
                hint: format!("role {} may not read it", self.access().name()),
            })?;
        ctx.register_table(alias, provider)
            .map_err(|e| LgsError::InvalidArgument {
                what: "time travel",
                message: format!("cannot read {table} at {pin}: {e}"),
            })?;
        Ok(())
    }

    /// Makes `pin`'s state of `table` current, in a new commit (nothing is deleted:
    /// the versions in between stay in the history). Content loaded after that state
    /// is no longer in the table, so a later ingest loads it again. Returns the new
    /// version.
    pub async fn restore(&self, name: &str, pin: Pin) -> Result<u64> {
        self.ensure_writable().await?;
        let table = self.open_existing(name).await?;
        let mut at = table.clone();
        load_pin(name, &mut at, pin).await?;
        let version = at.version().unwrap_or(0);
        let sources = self.sources_at(name, version).await?;
        let facts = CommitFacts {
            mode: Some(WriteMode::Overwrite),
            restored: Some(version),
            sources,
            ..CommitFacts::default()
        };
        let properties = self.with_facts(&facts);
        let (table, _) = table
            .restore()
            .with_version_to_restore(version)
            .with_commit_properties(properties)
            .await
            .map_err(|e| LgsError::delta(name, e))?;
        Ok(table.version().unwrap_or(0))
    }

    /// The sources whose content the table holds at `version`: those of the lgs
    /// commits up to it, since the last overwrite.
    async fn sources_at(&self, name: &str, version: u64) -> Result<Vec<SourceFacts>> {
        let mut sources = Vec::new();
        for (v, facts) in self.commit_facts(name).await? {
            if v > version {
                break;
            }
            if facts.overwrote() {
                sources.clear();
            }
            sources.extend(facts.sources);
        }
        Ok(sources)
    }
}

/// Loads `pin`'s state of `table` (whose latest version is loaded).
async fn load_pin(name: &str, table: &mut DeltaTable, pin: Pin) -> Result<()> {
    let latest = table.version().unwrap_or(0);
    let loaded = match pin {
        Pin::Version(v) if v > latest => {
            return Err(LgsError::InvalidArgument {
                what: "--version",
                message: format!(
                    "table {name} has no version {v}: its latest is {latest} (see `lgs history {name}`)"
                ),
            });
        }
        Pin::Version(v) => table.load_version(v).await,
        Pin::Timestamp(t) => table.load_with_datetime(t).await,
    };
    loaded.map_err(|e| LgsError::InvalidArgument {
        what: "time travel",
        message: format!("table {name} cannot be read at {pin}: {e}"),
    })
}
