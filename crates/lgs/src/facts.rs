//! What lgs records in each Delta commit it makes (under the `lgs` key of the
//! commit's `commitInfo`): written and read here only, as one typed struct.
//!
//! Commits by other tools have no facts; facts written by an earlier lgs read the
//! same (every field has a default, unknown fields are ignored).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Key under which lgs records its facts in a Delta commit's `commitInfo`.
pub const COMMIT_INFO_KEY: &str = "lgs";

/// Whether a write adds to the table or replaces it (`append`, `overwrite`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteMode {
    #[default]
    Append,
    Overwrite,
}

impl WriteMode {
    /// As it is recorded: `append` or `overwrite`.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::Append => "append",
            WriteMode::Overwrite => "overwrite",
        }
    }
}

/// What one lgs commit did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommitFacts {
    /// The ingest run that made it (both tables an ingest writes share it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingest_id: Option<String>,
    /// An overwrite replaces what earlier commits loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<WriteMode>,
    /// The inputs it loaded, with their fingerprints and accounting.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceFacts>,
    /// The run's accounting (on the data table's commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_read: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_loaded: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_rejected: Option<u64>,
    /// The ingest runs an `ingest_log` commit lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub covers: Vec<Covered>,
    /// Rows this commit added.
    #[serde(default)]
    pub rows_written: u64,
    /// The version whose state this commit made current (`lgs restore`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored: Option<u64>,
    /// Data files this commit dropped because they were missing or damaged (`lgs
    /// repair`), and the rows the log recorded in them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped_files: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_lost: Option<u64>,
    /// Rows of forgotten customers this commit removed (`lgs forget`) or an ingest
    /// dropped (never their ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_forgotten: Option<u64>,
    /// Who made the commit, as which role, and why (the audit of every write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// The stream position this commit loaded up to (`lgs stream`): recorded as a
    /// Delta application transaction too, whose version is the position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamPosition>,
}

/// Who changes the warehouse: the user (`LGS_USER`, else the login name), the
/// policy role it acts as (`admin` without a policy) and the reason given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub user: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where a stream's messages were loaded up to: an application id (one per stream
/// and table) and the last position (a NATS stream sequence, a Kafka offset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamPosition {
    pub app_id: String,
    /// The position the table held before this commit (0: none); the commit fails
    /// as concurrent when the table holds another.
    #[serde(default)]
    pub after: u64,
    pub position: u64,
}

/// One input of an ingest (a file, or one partition of a PostgreSQL read).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceFacts {
    #[serde(default)]
    pub path: String,
    /// Content fingerprint of a file (empty for a live source).
    #[serde(default)]
    pub fingerprint: String,
    #[serde(default)]
    pub bytes: u64,
    #[serde(default)]
    pub rows_read: u64,
    #[serde(default)]
    pub rows_loaded: u64,
    #[serde(default)]
    pub rows_rejected: u64,
}

/// An ingest run recorded in the ingest log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Covered {
    pub table: String,
    pub ingest_id: String,
}

impl CommitFacts {
    /// The facts of a commit's info, when lgs wrote them (`None` for other tools'
    /// commits, or facts that do not parse).
    pub fn from_info(info: &HashMap<String, serde_json::Value>) -> Option<CommitFacts> {
        serde_json::from_value(info.get(COMMIT_INFO_KEY)?.clone()).ok()
    }

    /// As the JSON stored in the commit.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("commit facts serialise")
    }

    /// Whether this commit replaced the table's contents.
    pub fn overwrote(&self) -> bool {
        self.mode == Some(WriteMode::Overwrite)
    }

    /// What this commit loads that must be loaded only once into its table: the
    /// content of each source (its fingerprint) and each ingest the log covers.
    /// Recorded as Delta application transaction ids, so that of two concurrent
    /// commits claiming the same, one fails (see [`crate::write::TableWriter`]).
    pub fn claims(&self) -> Vec<String> {
        let contents = self
            .sources
            .iter()
            .filter(|s| !s.fingerprint.is_empty())
            .map(|s| format!("lgs:{}", s.fingerprint));
        let covered = self
            .covers
            .iter()
            .map(|c| format!("lgs:{}@{}", c.ingest_id, c.table));
        let mut claims: Vec<String> = contents.chain(covered).collect();
        claims.sort();
        claims.dedup();
        claims
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A commit claims the content of each source with a fingerprint (a live source
    /// has none) and each ingest the log covers, once each.
    #[test]
    fn a_commit_claims_its_contents_and_the_ingests_it_lists() {
        let source = |fingerprint: &str| SourceFacts {
            path: "f".into(),
            fingerprint: fingerprint.into(),
            ..SourceFacts::default()
        };
        let facts = CommitFacts {
            sources: vec![source("b2"), source(""), source("a1"), source("b2")],
            covers: vec![Covered {
                table: "retail".into(),
                ingest_id: "7".into(),
            }],
            ..CommitFacts::default()
        };
        assert_eq!(facts.claims(), ["lgs:7@retail", "lgs:a1", "lgs:b2"]);
        assert!(CommitFacts::default().claims().is_empty());
    }

    /// Facts written by earlier versions (as JSON objects with these keys, and a
    /// source's `skipped`) read back, and write the same keys in the same order.
    #[test]
    fn facts_read_what_earlier_versions_wrote_and_write_the_same_keys() {
        let written = json!({
            "ingest_id": "abc",
            "mode": "append",
            "sources": [{"path": "a.csv", "fingerprint": "f1", "bytes": 10,
                         "rows_read": 3, "rows_loaded": 2, "rows_rejected": 1}],
            "rows_read": 3, "rows_loaded": 2, "rows_rejected": 1, "rows_written": 2,
        });
        let info = HashMap::from_iter([(COMMIT_INFO_KEY.to_string(), written.clone())]);
        let facts = CommitFacts::from_info(&info).unwrap();
        assert_eq!(facts.sources[0].fingerprint, "f1");
        assert_eq!(facts.rows_written, 2);
        assert!(!facts.overwrote());
        assert_eq!(
            serde_json::to_string(&facts.to_value()).unwrap(),
            serde_json::to_string(&written).unwrap()
        );
        let log = json!({"covers": [{"table": "retail", "ingest_id": "abc"}], "rows_written": 1});
        let info = HashMap::from_iter([(COMMIT_INFO_KEY.to_string(), log.clone())]);
        let facts = CommitFacts::from_info(&info).unwrap();
        assert_eq!(facts.covers[0].ingest_id, "abc");
        assert_eq!(facts.to_value(), log);
        assert_eq!(CommitFacts::from_info(&HashMap::new()), None);
    }
}
