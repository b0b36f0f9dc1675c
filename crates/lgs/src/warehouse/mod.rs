//! The warehouse: a directory of Delta Lake tables, and how queries reach them.
//!
//! Each table lives in `<warehouse>/<name>/` as a standard Delta table (readable by
//! Spark and Databricks). The warehouse is a local directory or an object-store
//! prefix (`s3://bucket/path`, `az://container/path`; see [`crate::storage`]). Writes go through [`Warehouse::commit`]: data files are
//! written first and become visible only in one atomic Delta commit, so an ingest that
//! fails or is killed leaves the table at its previous version.
//!
//! Queries do not go through a Delta-specific table provider. [`Warehouse::register`]
//! hands DataFusion a plain Parquet listing of exactly the files of the table's current
//! snapshot. That plan is stock DataFusion, so it runs unchanged on any executor that
//! can see the warehouse path (the rule the cluster mode relies on).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use deltalake::kernel::Action;
use futures::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::Serialize;
use url::Url;

use crate::crypt::Keyring;
use crate::error::{LgsError, QueryContext, Result};
use crate::policy::Access;
use crate::storage;

pub use crate::facts::COMMIT_INFO_KEY;
use crate::facts::CommitFacts;

mod commit;
mod compact;
mod consistency;
mod forget;
mod integrity;
mod opened;
mod provider;
mod repair;
mod rewrite;
pub(crate) mod scan;
mod travel;

pub use opened::OpenedTables;

pub(crate) use commit::{position_in, read_commits};
pub use compact::{Optimized, TARGET_FILE_SIZE, Vacuumed};
pub(crate) use provider::files_provider;

pub use forget::{ForgetList, ForgetRequest, Forgotten, LIST_TABLE as FORGET_LIST, TableForgotten};
pub use integrity::Damage;
pub use repair::{Repair, TableCheck};
pub use travel::Pin;

/// A directory (or object-store prefix) of Delta tables.
#[derive(Debug, Clone)]
pub struct Warehouse {
    root: Root,
    /// Tables read at an earlier state (see [`Warehouse::pinned`]).
    pins: std::collections::BTreeMap<String, Pin>,
    /// What sessions over it may see (see [`crate::policy`]).
    access: Access,
    /// Who changes it, recorded in every commit it makes.
    actor: Option<crate::facts::Actor>,
    /// The keys its data files are encrypted with (see [`crate::crypt`]).
    keyring: Option<Arc<Keyring>>,
}

/// Where the warehouse lives.
#[derive(Debug, Clone)]
enum Root {
    Local(PathBuf),
    /// An `s3://` or `az://` prefix: its URL (ending in `/`), the bucket's store and
    /// the prefix inside it.
    Remote {
        url: Url,
        store: Arc<dyn ObjectStore>,
        prefix: StorePath,
    },
}

/// What `lgs tables` shows of one table.
#[derive(Debug, Clone, Serialize)]
pub struct TableInfo {
    pub name: String,
    pub version: u64,
    pub rows: u64,
    pub files: usize,
    pub bytes: u64,
}

/// A table opened at its current version.
#[derive(Debug, Clone)]
pub struct OpenTable {
    pub name: String,
    table: DeltaTable,
}

impl OpenTable {
    /// Its version.
    pub fn version(&self) -> u64 {
        self.table.version().unwrap_or(0)
    }

    /// Its summary.
    pub fn info(&self) -> Result<TableInfo> {
        table_info(&self.name, &self.table)
    }
}

/// One entry of `lgs history`.
#[derive(Debug, Clone, Serialize)]
pub struct CommitRecord {
    pub version: u64,
    pub timestamp: Option<String>,
    pub operation: String,
    /// Rows this commit added (as lgs recorded it; `None` for commits by other tools).
    pub rows_added: Option<u64>,
    /// What lgs recorded about the commit (sources, row accounting), if lgs wrote it.
    pub lgs: Option<CommitFacts>,
}

impl Warehouse {
    /// A warehouse in the local directory `root` (made absolute; nothing is created
    /// yet).
    pub fn new(root: impl AsRef<Path>) -> Self {
        let root = root.as_ref();
        let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
        Warehouse {
            root: Root::Local(root),
            pins: Default::default(),
            access: Access::Admin,
            actor: None,
            keyring: None,
        }
    }

    /// A warehouse at `location`: a local directory, or an object-store prefix such
    /// as `s3://bucket/warehouse` or `az://container/warehouse` (see [`storage`]).
    pub fn at(location: &str) -> Result<Self> {
        if !storage::is_remote(location) {
            return Ok(Warehouse::new(location));
        }
        let mut url = storage::parse(location)?;
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        let (store, prefix) = storage::store_for(&url)?;
        Ok(Warehouse {
            root: Root::Remote { url, store, prefix },
            pins: Default::default(),
            access: Access::Admin,
            actor: None,
            keyring: None,
        })
    }

    /// The warehouse as `access` may see it: sessions over it register its tables
    /// through the role's policy ([`crate::policy::visible`]).
    pub fn with_access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// Records `actor` (who, as which role, why) in every commit made through this
    /// warehouse.
    pub fn with_actor(mut self, actor: crate::facts::Actor) -> Self {
        self.actor = Some(actor);
        self
    }

    /// The warehouse with its data files encrypted under `keyring`: files it writes
    /// are encrypted with the keyring's current key, files it reads decrypted with
    /// the key each names (see [`crate::crypt`]).
    pub fn with_keyring(mut self, keyring: Option<Keyring>) -> Self {
        self.keyring = keyring.map(Arc::new);
        self
    }

    /// The keys of its data files, if it is encrypted.
    pub fn keyring(&self) -> Option<&Arc<Keyring>> {
        self.keyring.as_ref()
    }

    /// What sessions over this warehouse may see.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The warehouse's URL, ending in `/` (a `file://` URL when local).
    pub fn root_url(&self) -> Result<Url> {
        self.table_url("")
    }

    /// Where the warehouse is, as the user would write it.
    pub fn location(&self) -> String {
        match &self.root {
            Root::Local(path) => path.display().to_string(),
            Root::Remote { url, .. } => url.as_str().trim_end_matches('/').to_string(),
        }
    }

    /// The warehouse directory, when it is local.
    pub fn local_root(&self) -> Option<&Path> {
        match &self.root {
            Root::Local(path) => Some(path),
            Root::Remote { .. } => None,
        }
    }

    fn table_url(&self, name: &str) -> Result<Url> {
        match &self.root {
            Root::Local(root) => {
                Url::from_directory_path(root.join(name)).map_err(|()| LgsError::InvalidArgument {
                    what: "warehouse path",
                    message: root.join(name).display().to_string(),
                })
            }
            Root::Remote { url, .. } => {
                url.join(&format!("{name}/"))
                    .map_err(|e| LgsError::InvalidArgument {
                        what: "table name",
                        message: format!("{name}: {e}"),
                    })
            }
        }
    }

    /// Creates a table's directory if the warehouse is local (not the table) and
    /// returns its URL, for writers.
    pub fn prepare_table_dir(&self, name: &str) -> Result<Url> {
        if let Root::Local(root) = &self.root {
            let dir = root.join(name);
            std::fs::create_dir_all(&dir)
                .map_err(|source| LgsError::WarehouseNotWritable { path: dir, source })?;
        }
        self.table_url(name)
    }

    /// Creates the warehouse directory if needed and checks that it can be written
    /// (on object storage: writes and deletes a probe object).
    pub async fn ensure_writable(&self) -> Result<()> {
        let probe_name = format!(".lgs-write-probe-{}", std::process::id());
        match &self.root {
            Root::Local(root) => {
                let err = |source| LgsError::WarehouseNotWritable {
                    path: root.clone(),
                    source,
                };
                std::fs::create_dir_all(root).map_err(err)?;
                let probe = root.join(probe_name);
                std::fs::write(&probe, b"").map_err(err)?;
                std::fs::remove_file(&probe).map_err(err)?;
            }
            Root::Remote { store, prefix, .. } => {
                let probe = prefix.clone().join(probe_name.as_str());
                let err = |e| storage::error(&self.location(), e);
                store.put(&probe, PutPayload::new()).await.map_err(err)?;
                store.delete(&probe).await.map_err(err)?;
            }
        }
        Ok(())
    }

    /// Whether a Delta table called `name` exists.
    async fn has_table(&self, name: &str) -> Result<bool> {
        match &self.root {
            Root::Local(root) => Ok(root.join(name).join("_delta_log").is_dir()),
            Root::Remote { store, prefix, .. } => {
                // A name may have several parts (`_lgs_live/retail`): one segment each.
                let table = name.split('/').fold(prefix.clone(), |p, part| p.join(part));
                let log = table.join("_delta_log");
                let mut listing = store.list(Some(&log));
                match listing.try_next().await {
                    Ok(first) => Ok(first.is_some()),
                    Err(e) => Err(storage::error(&self.location(), e)),
                }
            }
        }
    }

    /// Opens a table at its latest version; `None` when it does not exist.
    pub async fn open(&self, name: &str) -> Result<Option<DeltaTable>> {
        if !self.has_table(name).await? {
            return Ok(None);
        }
        let url = self.table_url(name)?;
        match deltalake::open_table(url.clone()).await {
            Ok(table) => Ok(Some(table)),
            Err(e) => match integrity::diagnose_log(name, &url).await {
                Some(damage) => Err(damage),
                None => Err(LgsError::delta(name, e)),
            },
        }
    }

    /// Opens a table that must exist.
    pub async fn open_existing(&self, name: &str) -> Result<DeltaTable> {
        self.open(name).await?.ok_or_else(|| self.not_found(name))
    }

    fn not_found(&self, name: &str) -> LgsError {
        LgsError::TableNotFound {
            table: name.to_string(),
            warehouse: self.location(),
            hint: "run `lgs ingest FILE` first (or `lgs tables` to see what exists)".into(),
        }
    }

    /// Names of the tables in the warehouse, sorted.
    pub async fn table_names(&self) -> Result<Vec<String>> {
        let candidates: Vec<String> = match &self.root {
            Root::Local(root) => {
                let entries = match std::fs::read_dir(root) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
                    Err(source) => {
                        return Err(LgsError::Read {
                            path: root.clone(),
                            source,
                        });
                    }
                };
                entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            }
            Root::Remote { store, prefix, .. } => {
                let listing = store
                    .list_with_delimiter(Some(prefix))
                    .await
                    .map_err(|e| storage::error(&self.location(), e))?;
                listing
                    .common_prefixes
                    .iter()
                    .filter_map(|p| p.filename().map(str::to_string))
                    .collect()
            }
        };
        let mut names = Vec::new();
        for name in candidates {
            if self.access.role().is_some_and(|r| !r.may_read(&name)) {
                continue;
            }
            if self.has_table(&name).await? {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Summary of one table (as `lgs tables` shows it).
    pub async fn table_info(&self, name: &str) -> Result<TableInfo> {
        self.require_readable(name)?;
        table_info(name, &self.open_existing(name).await?)
    }

    /// Summary of every table. For a restricted role, a table with a row filter
    /// counts the rows the role sees (a query through its view), not the file's.
    pub async fn tables(&self) -> Result<Vec<TableInfo>> {
        let mut infos = Vec::new();
        for open in self.open_all().await? {
            let mut info = open.info()?;
            if let Some(role) = self.access.role()
                && role
                    .rules
                    .get(&open.name)
                    .is_some_and(|r| r.filter.is_some())
            {
                info.rows = self.visible_rows(&open).await?;
            }
            infos.push(info);
        }
        Ok(infos)
    }

    /// The rows of `open` the caller's role sees.
    async fn visible_rows(&self, open: &OpenTable) -> Result<u64> {
        let ctx = SessionContext::new();
        let Some(provider) = self.visible_provider(&ctx, &open.name, &open.table).await? else {
            return Ok(0);
        };
        let df = ctx
            .read_table(provider)
            .context("counting the rows a role sees")?;
        let rows = df.count().await.context("counting the rows a role sees")?;
        Ok(rows as u64)
    }

    /// Every table, opened at its current version (once: [`Warehouse::register_opened`]
    /// registers them without opening them again).
    pub async fn open_all(&self) -> Result<Vec<OpenTable>> {
        let mut out = Vec::new();
        for name in self.table_names().await? {
            let mut table = self.open_existing(&name).await?;
            self.apply_pin(&name, &mut table).await?;
            out.push(OpenTable { name, table });
        }
        if let Some(name) = self
            .pins
            .keys()
            .find(|p| !out.iter().any(|t| &t.name == *p))
        {
            return Err(self.not_found(name));
        }
        Ok(out)
    }

    /// Fails as if there were no table `name` when the caller may not read it.
    fn require_readable(&self, name: &str) -> Result<()> {
        match self.access.role() {
            Some(role) if !role.may_read(name) => Err(LgsError::TableNotFound {
                table: name.to_string(),
                warehouse: self.location(),
                hint: format!("role {} may not read it", role.name),
            }),
            _ => Ok(()),
        }
    }

    /// The Arrow schema of a table as stored in its Delta metadata (for a
    /// restricted role, as its policy shows the table).
    pub async fn schema(&self, name: &str) -> Result<SchemaRef> {
        self.require_readable(name)?;
        if self.access.role().is_some() {
            let table = self.open_existing(name).await?;
            let ctx = SessionContext::new();
            let provider = self.visible_provider(&ctx, name, &table).await?;
            return Ok(provider.ok_or_else(|| self.not_found(name))?.schema());
        }
        let table = self.open_existing(name).await?;
        stored_schema(name, &table)
    }

    /// Every commit of a table up to its current version, oldest first, each read
    /// by its version (a commit file removed by log clean-up is left out).
    pub async fn history(&self, name: &str) -> Result<Vec<CommitRecord>> {
        self.require_readable(name)?;
        let table = self.open_existing(name).await?;
        let commits = commit::read_commits(name, &table, 0).await?;
        Ok(commits
            .into_iter()
            .map(|(version, actions)| {
                let info = actions
                    .into_iter()
                    .find_map(|action| match action {
                        Action::CommitInfo(info) => Some(info),
                        _ => None,
                    })
                    .unwrap_or_default();
                let lgs = CommitFacts::from_info(&info.info);
                CommitRecord {
                    version,
                    timestamp: info.timestamp.and_then(|ms| {
                        chrono::DateTime::from_timestamp_millis(ms).map(|t| t.to_rfc3339())
                    }),
                    operation: info.operation.unwrap_or_default(),
                    rows_added: lgs.as_ref().map(|f| f.rows_written),
                    lgs,
                }
            })
            .collect())
    }

    /// The table's current version (`None`: there is no table).
    pub async fn version_of(&self, name: &str) -> Result<Option<u64>> {
        Ok(self.open(name).await?.and_then(|t| t.version()))
    }

    /// The `lgs` facts recorded in each commit of a table, with the commit's version
    /// (empty when the table does not exist).
    pub async fn commit_facts(&self, name: &str) -> Result<Vec<(u64, CommitFacts)>> {
        if self.open(name).await?.is_none() {
            return Ok(vec![]);
        }
        Ok(self
            .history(name)
            .await?
            .into_iter()
            .filter_map(|c| Some((c.version, c.lgs?)))
            .collect())
    }

    /// Registers every warehouse table in `ctx` under its name, as a Parquet listing
    /// of the files of its current Delta snapshot. Returns what it registered.
    pub async fn register(&self, ctx: &SessionContext) -> Result<Vec<TableInfo>> {
        let opened = self.open_all().await?;
        self.register_opened(ctx, &opened).await
    }

    /// Lets `ctx` read the warehouse's files: registers its object store when the
    /// warehouse is remote.
    /// Lets `ctx` read (and write) the warehouse's files: its object store, and its
    /// keys when it is encrypted.
    pub(crate) fn register_store(&self, ctx: &SessionContext) {
        if let Root::Remote { url, store, .. } = &self.root {
            ctx.register_object_store(&storage::bucket_url(url), store.clone());
        }
        if let Some(keyring) = &self.keyring {
            crate::crypt::register(&ctx.runtime_env(), keyring);
        }
    }

    /// Registers tables already opened by [`Warehouse::open_all`] (as
    /// [`Warehouse::register`] does).
    pub async fn register_opened(
        &self,
        ctx: &SessionContext,
        opened: &[OpenTable],
    ) -> Result<Vec<TableInfo>> {
        self.register_store(ctx);
        let mut registered = Vec::new();
        for open in opened {
            let Some(provider) = self.visible_provider(ctx, &open.name, &open.table).await? else {
                continue;
            };
            ctx.register_table(open.name.as_str(), provider)
                .context("registering a warehouse table")?;
            registered.push(open.info()?);
        }
        Ok(registered)
    }
}

/// Version, rows, files and bytes of a table's current snapshot.
fn table_info(name: &str, table: &DeltaTable) -> Result<TableInfo> {
    let snapshot = table.snapshot().map_err(|e| LgsError::delta(name, e))?;
    let mut info = TableInfo {
        name: name.to_string(),
        version: table.version().unwrap_or(0),
        rows: 0,
        files: 0,
        bytes: 0,
    };
    for add in snapshot.log_data() {
        info.files += 1;
        info.bytes += add.size() as u64;
        info.rows += add.num_records().unwrap_or(0) as u64;
    }
    Ok(info)
}

/// The Arrow schema of table `name` as its Delta metadata stores it.
pub(crate) fn stored_schema(name: &str, table: &DeltaTable) -> Result<SchemaRef> {
    let snapshot = table.snapshot().map_err(|e| LgsError::delta(name, e))?;
    Ok(snapshot.snapshot().arrow_schema())
}
