//! Encryption at rest: the warehouse's data files as encrypted Parquet (modular
//! encryption, AES-256-GCM, footer and every column under the key), written and
//! read through DataFusion's Parquet encryption support.
//!
//! Keys come from a key file (`--key-file`, `LGS_KEY_FILE`) or the environment
//! (`LGS_KEY`), one key per line: `<id> <64 hexadecimal digits>`. The last line's key
//! encrypts new files and every line's key decrypts: each file names its key's id
//! in its (plaintext) key metadata. Rotating a key is appending a new line (`lgs
//! key new >> FILE`), rewriting the tables under it (`lgs optimize --rekey`), then
//! deleting the old line.
//!
//! The Delta log never holds a column's values: an encrypted warehouse's commits
//! record each file's row count and null counts, not its minimum and maximum
//! values (the Parquet footers keep those, encrypted, for DataFusion's pruning).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::config::{EncryptionFactoryOptions, TableParquetOptions};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::physical_plan::{FileScanConfig, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::DataFusionError;
use datafusion::execution::parquet_encryption::EncryptionFactory;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::parquet::encryption::decrypt::{FileDecryptionProperties, KeyRetriever};
use datafusion::parquet::encryption::encrypt::FileEncryptionProperties;
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use datafusion::physical_plan::ExecutionPlan;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::error::{LgsError, Result};

/// The environment variable holding keys (the key file's lines).
pub const KEY_ENV: &str = "LGS_KEY";

/// The id lgs's [`EncryptionFactory`] is registered under in a session's runtime.
pub const FACTORY_ID: &str = "lgs";

/// Bytes of a key (AES-256).
const KEY_BYTES: usize = 32;

/// The keys of a warehouse: the last encrypts, all decrypt.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<(String, Vec<u8>)>,
    /// Where the keys came from, for messages.
    origin: String,
}

impl fmt::Debug for Keyring {
    /// Ids only: a key never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        write!(f, "Keyring({}: {ids:?})", self.origin)
    }
}

impl Keyring {
    /// The keys of `text` (lines `<id> <hex>`; `#` starts a comment), from `origin`.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let bad = |line: usize, message: String| LgsError::KeyFile {
            origin: origin.to_string(),
            line,
            message,
        };
        let mut keys: Vec<(String, Vec<u8>)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut fields = line.split_whitespace();
            let (Some(id), Some(hex), None) = (fields.next(), fields.next(), fields.next()) else {
                return Err(bad(i + 1, "expected `<id> <64 hexadecimal digits>`".into()));
            };
            let key = crate::format::unhex(hex)
                .filter(|k| k.len() == KEY_BYTES)
                .ok_or_else(|| {
                    bad(
                        i + 1,
                        format!(
                            "key {id} is not {} hexadecimal digits (make one with `lgs key new`)",
                            2 * KEY_BYTES
                        ),
                    )
                })?;
            if keys.iter().any(|(other, _)| other == id) {
                return Err(bad(i + 1, format!("key id {id} appears twice")));
            }
            keys.push((id.to_string(), key));
        }
        if keys.is_empty() {
            return Err(bad(0, "holds no key (make one with `lgs key new`)".into()));
        }
        Ok(Keyring {
            keys,
            origin: origin.to_string(),
        })
    }

    /// The keys of the key file at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| LgsError::KeyFile {
            origin: path.display().to_string(),
            line: 0,
            message: format!("cannot be read: {e}"),
        })?;
        Keyring::parse(&text, &path.display().to_string())
    }

    /// A new key line (`<id> <hex>`), from the system's random source; its id is the
    /// time it was made and a random suffix.
    pub fn new_key_line() -> String {
        let key: [u8; KEY_BYTES] = rand::random();
        let suffix: u16 = rand::random();
        let id = format!(
            "{}-{suffix:04x}",
            chrono::Utc::now().format("k%Y%m%dT%H%M%S")
        );
        format!("{id} {}", crate::format::hex(&key))
    }

    /// The id of the key new files are encrypted with.
    pub fn current_id(&self) -> &str {
        &self.keys.last().expect("a keyring holds a key").0
    }

    /// Where the keys came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// How a new file is encrypted: footer and columns under the current key, whose
    /// id the file records.
    pub fn encryption(&self) -> Result<Arc<FileEncryptionProperties>> {
        let (id, key) = self.keys.last().expect("a keyring holds a key");
        FileEncryptionProperties::builder(key.clone())
            .with_footer_key_metadata(id.as_bytes().to_vec())
            .build()
            .map_err(|e| self.error(e))
    }

    /// How a file is decrypted: with the key its metadata names.
    pub fn decryption(self: &Arc<Self>) -> Result<Arc<FileDecryptionProperties>> {
        decryption_with(self.clone()).map_err(|e| self.error(e))
    }

    fn error(&self, e: ParquetError) -> LgsError {
        LgsError::KeyFile {
            origin: self.origin.clone(),
            line: 0,
            message: e.to_string(),
        }
    }
}

impl KeyRetriever for Keyring {
    fn retrieve_key(&self, metadata: &[u8]) -> datafusion::parquet::errors::Result<Vec<u8>> {
        let id = String::from_utf8_lossy(metadata);
        self.keys
            .iter()
            .find(|(known, _)| *known == id)
            .map(|(_, key)| key.clone())
            .ok_or_else(|| {
                ParquetError::General(format!(
                    "the file is encrypted with key {id}, which is not among the keys of {} \
                     (keep a rotated key until `lgs optimize --rekey` has rewritten its files)",
                    self.origin
                ))
            })
    }
}

/// The [`EncryptionFactory`] of a keyring: every Parquet file a session with it
/// writes or reads under the warehouse.
#[derive(Debug)]
pub struct Factory(pub Arc<Keyring>);

#[async_trait]
impl EncryptionFactory for Factory {
    async fn get_file_encryption_properties(
        &self,
        _: &EncryptionFactoryOptions,
        _: &SchemaRef,
        _: &StorePath,
    ) -> datafusion::common::Result<Option<Arc<FileEncryptionProperties>>> {
        let properties = self.0.encryption().map_err(DataFusionError::from)?;
        Ok(Some(properties))
    }

    async fn get_file_decryption_properties(
        &self,
        _: &EncryptionFactoryOptions,
        _: &StorePath,
    ) -> datafusion::common::Result<Option<Arc<FileDecryptionProperties>>> {
        let properties = self.0.decryption().map_err(DataFusionError::from)?;
        Ok(Some(properties))
    }
}

/// Registers `keyring`'s factory in `runtime` (sessions then read and write
/// encrypted files: see [`parquet_options`]).
pub fn register(runtime: &RuntimeEnv, keyring: &Arc<Keyring>) {
    runtime.register_parquet_encryption_factory(FACTORY_ID, Arc::new(Factory(keyring.clone())));
}

/// The factory of the keyring registered in `runtime`, if any.
pub fn registered(runtime: &RuntimeEnv) -> Option<Arc<dyn EncryptionFactory>> {
    runtime.parquet_encryption_factory(FACTORY_ID).ok()
}

/// The Parquet options of the warehouse's tables in a session over `runtime`:
/// through the keyring's factory when one is registered.
pub fn parquet_options(runtime: &RuntimeEnv) -> TableParquetOptions {
    let mut options = TableParquetOptions::default();
    if registered(runtime).is_some() {
        options.crypto.factory_id = Some(FACTORY_ID.to_string());
    }
    options
}

/// `plan` with every Parquet scan reading through `factory`: what a cluster's
/// executor does to the tasks it receives, whose scans lost their encryption
/// settings on the wire (DataFusion's plan encoding does not carry them; the keys
/// stay with the processes given the key file).
pub fn attach(
    plan: Arc<dyn ExecutionPlan>,
    factory: &Arc<dyn EncryptionFactory>,
) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let Some(exec) = node.downcast_ref::<DataSourceExec>() else {
            return Ok(Transformed::no(node));
        };
        let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() else {
            return Ok(Transformed::no(node));
        };
        let source = config.file_source().as_ref() as &dyn std::any::Any;
        let Some(parquet) = source.downcast_ref::<ParquetSource>() else {
            return Ok(Transformed::no(node));
        };
        let parquet = parquet.clone().with_encryption_factory(factory.clone());
        let config = FileScanConfigBuilder::from(config.clone())
            .with_source(Arc::new(parquet))
            .build();
        let scan: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(config);
        Ok(Transformed::yes(scan))
    })
    .map(|t| t.data)
}

/// What is wrong with a data file's footer ([`footer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FooterProblem {
    /// The file is encrypted and no key was given.
    NoKey,
    /// The file is encrypted with a key the keyring does not hold (the message
    /// names it).
    UnknownKey(String),
    /// The file is encrypted and does not decrypt with the key its metadata names.
    Undecryptable(String),
    /// The file cannot be read, or is not Parquet (the message says which).
    Unreadable(String),
}

impl FooterProblem {
    /// Whether the problem is with the keys (none given, or not the file's), not
    /// with the file.
    pub fn is_key_problem(&self) -> bool {
        matches!(
            self,
            FooterProblem::NoKey | FooterProblem::UnknownKey(_) | FooterProblem::Undecryptable(_)
        )
    }
}

impl std::fmt::Display for FooterProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FooterProblem::NoKey => f.write_str(NO_KEY),
            FooterProblem::UnknownKey(m) => f.write_str(m),
            FooterProblem::Undecryptable(e) => {
                write!(f, "cannot be decrypted with the keys given: {e}")
            }
            FooterProblem::Unreadable(m) => f.write_str(m),
        }
    }
}

/// How a file is decrypted with the keys `retriever` hands out (the keyring itself,
/// or one file's [`Retrieval`]).
fn decryption_with(
    retriever: Arc<dyn KeyRetriever>,
) -> datafusion::parquet::errors::Result<Arc<FileDecryptionProperties>> {
    FileDecryptionProperties::with_key_retriever(retriever).build()
}

/// A keyring's retriever for one file, which remembers the key id it did not hold:
/// how [`footer`] tells a missing key from a damaged file without reading the
/// Parquet reader's message.
struct Retrieval {
    keyring: Arc<Keyring>,
    unknown: std::sync::Mutex<Option<String>>,
}

impl KeyRetriever for Retrieval {
    fn retrieve_key(&self, metadata: &[u8]) -> datafusion::parquet::errors::Result<Vec<u8>> {
        self.keyring.retrieve_key(metadata).inspect_err(|e| {
            *self.unknown.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
        })
    }
}

/// A Parquet file's footer, decrypted with `keyring` when it is encrypted. The
/// error says what is wrong (not Parquet, encrypted without a key, the wrong key).
pub async fn footer(
    store: &dyn ObjectStore,
    path: &StorePath,
    size: u64,
    keyring: Option<&Arc<Keyring>>,
) -> std::result::Result<ParquetMetaData, FooterProblem> {
    // A Parquet file ends with its footer, the footer's length (4 bytes, little
    // endian) and "PAR1", or "PARE" when the footer is encrypted.
    let unreadable =
        |m: String| FooterProblem::Unreadable(format!("is not a readable Parquet file: {m}"));
    if size < 12 {
        return Err(unreadable(format!("{size} bytes is too short")));
    }
    let fetch_failed =
        |e: object_store::Error| FooterProblem::Unreadable(format!("cannot be read: {e}"));
    let tail = store
        .get_range(path, size - 8..size)
        .await
        .map_err(fetch_failed)?;
    let encrypted = match &tail[4..] {
        b"PAR1" => false,
        b"PARE" => true,
        _ => return Err(unreadable("it does not end with PAR1".into())),
    };
    let length = u64::from(u32::from_le_bytes(tail[..4].try_into().expect("4 bytes")));
    if length > size - 12 {
        return Err(unreadable(format!(
            "its footer length {length} exceeds the file"
        )));
    }
    let retrieval = match keyring {
        None if encrypted => return Err(FooterProblem::NoKey),
        Some(keyring) if encrypted => Some(Arc::new(Retrieval {
            keyring: keyring.clone(),
            unknown: std::sync::Mutex::new(None),
        })),
        _ => None,
    };
    let suffix = store
        .get_range(path, size - 8 - length..size)
        .await
        .map_err(fetch_failed)?;
    let decryption = match &retrieval {
        Some(retrieval) => Some(
            decryption_with(retrieval.clone())
                .map_err(|e| FooterProblem::Undecryptable(e.to_string()))?,
        ),
        None => None,
    };
    let mut reader = ParquetMetaDataReader::new().with_decryption_properties(decryption);
    reader
        .try_parse_sized(&suffix, size)
        .and_then(|()| reader.finish())
        .map_err(|e| {
            let unknown = retrieval
                .as_ref()
                .and_then(|r| r.unknown.lock().unwrap_or_else(|p| p.into_inner()).take());
            match unknown {
                Some(message) => FooterProblem::UnknownKey(message),
                None if encrypted => FooterProblem::Undecryptable(e.to_string()),
                None => unreadable(e.to_string()),
            }
        })
}

/// What [`footer`] says of an encrypted file read without keys.
pub const NO_KEY: &str = "is encrypted, and no key was given: give the warehouse's key file \
                          with --key-file (or LGS_KEY_FILE)";

/// The statistics a commit of an encrypted warehouse records for a file: its row
/// count and null counts, without any value (`stats` as the writer made them).
pub fn log_stats(stats: &str) -> Option<String> {
    let mut parsed: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(stats).ok()?;
    parsed.retain(|k, _| k == "numRecords" || k == "nullCount");
    Some(serde_json::Value::Object(parsed).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_name_their_problems_by_line() {
        let good = Keyring::new_key_line();
        let ring = Keyring::parse(&format!("# keys\n{good}\n"), "k.txt").unwrap();
        assert_eq!(ring.current_id(), good.split(' ').next().unwrap());
        for (text, line, words) in [
            ("", 0, "holds no key"),
            ("a 00\n", 1, "not 64 hexadecimal digits"),
            ("\nb\n", 2, "expected"),
            (&format!("{good}\n{good}\n"), 2, "appears twice"),
        ] {
            let e = Keyring::parse(text, "k.txt").unwrap_err().to_string();
            assert!(e.contains(words), "{e}");
            assert!(e.contains(&format!("k.txt:{line}")) || line == 0, "{e}");
        }
        // Ids, never keys, in debug output.
        let hex = good.split(' ').nth(1).unwrap();
        assert!(!format!("{ring:?}").contains(hex));
    }

    #[test]
    fn the_last_key_encrypts_and_every_key_decrypts() {
        let ring = Keyring::parse(
            &format!(
                "old {}\nnew {}\n",
                "11".repeat(KEY_BYTES),
                "22".repeat(KEY_BYTES)
            ),
            "env",
        )
        .unwrap();
        assert_eq!(ring.current_id(), "new");
        assert_eq!(ring.retrieve_key(b"old").unwrap(), vec![0x11; KEY_BYTES]);
        let e = ring.retrieve_key(b"gone").unwrap_err().to_string();
        assert!(
            e.contains("key gone, which is not among the keys of env"),
            "{e}"
        );
    }

    #[test]
    fn log_statistics_keep_counts_and_no_value() {
        let stats = r#"{"numRecords":3,"minValues":{"country":"France"},"maxValues":{"customer_id":17850},"nullCount":{"customer_id":1}}"#;
        let kept = log_stats(stats).unwrap();
        assert_eq!(kept, r#"{"numRecords":3,"nullCount":{"customer_id":1}}"#);
    }
}
