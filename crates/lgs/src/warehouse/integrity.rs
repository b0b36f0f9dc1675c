//! A table is read whole or not at all. Before a session sees a table, every data
//! file of its snapshot is checked to be there with the size the Delta log records:
//! a file deleted or truncated by hand (or lost by a bucket's lifecycle rule) makes
//! the read fail, naming the table, its version and the file, instead of answering
//! from the files that are left.

use std::sync::Arc;

use deltalake::DeltaTable;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStore, ObjectStoreExt};

use crate::crypt::Keyring;
use crate::error::{LgsError, Result};

/// Files checked at once (object stores answer each in a round trip).
const CONCURRENT_CHECKS: usize = 16;

/// A data file the log lists.
struct Listed {
    path: object_store::path::Path,
    size: u64,
    rows: Option<u64>,
}

/// A data file that is not as the log says.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Damage {
    /// Its path in the table.
    pub file: String,
    /// What is wrong ("is missing", "has N bytes where the log records M").
    pub problem: String,
    /// The rows the log records in it.
    pub rows: Option<u64>,
    /// Whether the problem is with the keys (none given, or not the file's)
    /// rather than with the file.
    #[serde(skip)]
    pub key_problem: bool,
}

/// How far a file is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Depth {
    /// It is there with the size the log records (one metadata request per file:
    /// what every read checks).
    Listed,
    /// Also: its Parquet footer reads, and holds the rows the log records (what
    /// `lgs check` and `lgs repair` check).
    Footer,
}

/// Fails with [`LgsError::DamagedTable`] naming the first data file of the table's
/// snapshot that is missing or whose size differs from the log's.
pub(super) async fn check_files(name: &str, table: &DeltaTable) -> Result<()> {
    match damaged_files(name, table, Depth::Listed, None)
        .await?
        .into_iter()
        .next()
    {
        None => Ok(()),
        Some(damage) => Err(LgsError::DamagedTable {
            table: name.to_string(),
            version: table.version().unwrap_or(0),
            file: damage.file,
            problem: damage.problem,
        }),
    }
}

/// Every data file of the table's snapshot that is not as the log says, checked to
/// `depth`, in path order.
/// A footer that does not decrypt is an error ([`LgsError::Encrypted`]), not damage:
/// `lgs repair` never drops files for want of their key.
pub(super) async fn damaged_files(
    name: &str,
    table: &DeltaTable,
    depth: Depth,
    keyring: Option<&Arc<Keyring>>,
) -> Result<Vec<Damage>> {
    let snapshot = table.snapshot().map_err(|e| LgsError::delta(name, e))?;
    let listed: Vec<Listed> = snapshot
        .log_data()
        .into_iter()
        .map(|file| Listed {
            path: file.object_store_path(),
            size: file.size().max(0) as u64,
            rows: file.num_records().map(|n| n as u64),
        })
        .collect();
    let store = table.log_store().object_store(None);
    let (started, files) = (std::time::Instant::now(), listed.len());
    let mut damage: Vec<Damage> = futures::stream::iter(listed)
        .map(|file| {
            let store = store.clone();
            async move { check_one(store, &file, depth, keyring).await }
        })
        .buffer_unordered(CONCURRENT_CHECKS)
        .filter_map(|d| async move { d })
        .collect()
        .await;
    damage.sort_by(|a, b| a.file.cmp(&b.file));
    if let Some(d) = damage.iter().find(|d| d.key_problem) {
        return Err(LgsError::Encrypted {
            table: name.to_string(),
            version: table.version().unwrap_or(0),
            file: d.file.clone(),
            problem: d.problem.clone(),
        });
    }
    tracing::debug!(
        "checked {files} data files of {name} ({depth:?}) in {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(damage)
}

/// What is wrong with the file, if anything.
async fn check_one(
    store: Arc<dyn ObjectStore>,
    file: &Listed,
    depth: Depth,
    keyring: Option<&Arc<Keyring>>,
) -> Option<Damage> {
    let (problem, key_problem) = match store.head(&file.path).await {
        Ok(meta) if meta.size == file.size => match depth {
            Depth::Listed => return None,
            Depth::Footer => footer_problem(store, file, keyring).await?,
        },
        Ok(meta) => (
            format!(
                "has {} bytes where the log records {}",
                meta.size, file.size
            ),
            false,
        ),
        Err(object_store::Error::NotFound { .. }) => ("is missing".to_string(), false),
        Err(e) => (format!("cannot be checked: {e}"), false),
    };
    Some(Damage {
        file: file.path.to_string(),
        problem,
        rows: file.rows,
        key_problem,
    })
}

/// What is wrong with a file's Parquet footer, and whether it is with the keys: it
/// does not read (or decrypt with `keyring`), or it counts other rows than the
/// log records.
async fn footer_problem(
    store: Arc<dyn ObjectStore>,
    file: &Listed,
    keyring: Option<&Arc<Keyring>>,
) -> Option<(String, bool)> {
    let rows = match crate::crypt::footer(store.as_ref(), &file.path, file.size, keyring).await {
        Ok(meta) => meta.file_metadata().num_rows().max(0) as u64,
        Err(problem) => return Some((problem.to_string(), problem.is_key_problem())),
    };
    match file.rows {
        Some(logged) if logged != rows => Some((
            format!("holds {rows} rows where the log records {logged}"),
            false,
        )),
        _ => None,
    }
}

/// Fails with [`LgsError::Encrypted`] when the table's newest file is encrypted and
/// there is no key, or its key is not among `keyring`'s: a clear error naming the
/// table before a query would fail on its first file.
pub(super) async fn check_key(
    name: &str,
    table: &DeltaTable,
    keyring: Option<&Arc<Keyring>>,
) -> Result<()> {
    let snapshot = table.snapshot().map_err(|e| LgsError::delta(name, e))?;
    let Some(file) = snapshot.log_data().into_iter().last() else {
        return Ok(());
    };
    let (path, size) = (file.object_store_path(), file.size().max(0) as u64);
    let store = table.log_store().object_store(None);
    match crate::crypt::footer(store.as_ref(), &path, size, keyring).await {
        Err(problem) if problem.is_key_problem() => Err(LgsError::Encrypted {
            table: name.to_string(),
            version: table.version().unwrap_or(0),
            file: path.to_string(),
            problem: problem.to_string(),
        }),
        // Other damage is for `lgs check` and the read itself to name.
        _ => Ok(()),
    }
}

/// What is wrong with a table's Delta log that delta-rs could not load: the first
/// commit file (after the last checkpoint) that is missing or does not parse.
/// `None` when the log looks whole (the failure is elsewhere).
pub(super) async fn diagnose_log(name: &str, table_url: &url::Url) -> Option<LgsError> {
    let table = deltalake::DeltaTableBuilder::from_url(table_url.clone())
        .ok()?
        .build()
        .ok()?;
    let store = table.log_store().object_store(None);
    let log = object_store::path::Path::from("_delta_log");
    let files: Vec<object_store::ObjectMeta> = store.list(Some(&log)).try_collect().await.ok()?;
    let version_of = |meta: &object_store::ObjectMeta, suffix: &str| {
        let file = meta.location.filename()?;
        file.strip_suffix(suffix)?.parse::<u64>().ok()
    };
    let checkpoint = files
        .iter()
        .filter_map(|m| version_of(m, ".checkpoint.parquet"))
        .max();
    if let Some(version) = checkpoint
        && let Some(damage) = damaged_checkpoint(name, &store, &files, version).await
    {
        return Some(damage);
    }
    let mut commits: Vec<(u64, &object_store::ObjectMeta)> = files
        .iter()
        .filter_map(|m| version_of(m, ".json").map(|v| (v, m)))
        .filter(|(v, _)| checkpoint.is_none_or(|c| *v > c))
        .collect();
    commits.sort_by_key(|(v, _)| *v);
    let damaged = |version: u64, file: String, problem: String| LgsError::DamagedLog {
        table: name.to_string(),
        version,
        file,
        problem,
    };
    let mut expected = checkpoint.map_or(0, |c| c + 1);
    for (version, meta) in commits {
        let file = format!(
            "_delta_log/{}",
            meta.location.filename().unwrap_or_default()
        );
        if version != expected {
            return Some(damaged(
                expected,
                format!("_delta_log/{expected:020}.json"),
                format!("is missing (the log goes on at version {version})"),
            ));
        }
        let bytes = store.get(&meta.location).await.ok()?.bytes().await.ok()?;
        for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if let Err(e) = serde_json::from_slice::<serde_json::Value>(line) {
                return Some(damaged(
                    version,
                    file,
                    format!("is damaged: line {} is not a JSON action ({e})", i + 1),
                ));
            }
        }
        expected += 1;
    }
    None
}

/// The damage of the checkpoint of `version` (a single-file checkpoint that is not a
/// readable Parquet file), if any.
async fn damaged_checkpoint(
    name: &str,
    store: &Arc<dyn ObjectStore>,
    files: &[object_store::ObjectMeta],
    version: u64,
) -> Option<LgsError> {
    let file = format!("{version:020}.checkpoint.parquet");
    let meta = files
        .iter()
        .find(|m| m.location.filename() == Some(file.as_str()))?;
    let listed = Listed {
        path: meta.location.clone(),
        size: meta.size,
        rows: None,
    };
    let (problem, _) = footer_problem(store.clone(), &listed, None).await?;
    Some(LgsError::DamagedCheckpoint {
        table: name.to_string(),
        version,
        file: format!("_delta_log/{file}"),
        problem,
    })
}
