//! Finding input files, on the local disk or on object storage, and opening them,
//! compressed or not.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use url::Url;

use crate::error::{LgsError, Result};
use crate::storage;

/// An input file: a local path or an object in a bucket or container.
#[derive(Debug, Clone)]
pub enum InputFile {
    Local(PathBuf),
    Remote(RemoteObject),
}

/// An object on object storage, as listed.
#[derive(Debug, Clone)]
pub struct RemoteObject {
    pub url: Url,
    store: Arc<dyn ObjectStore>,
    path: StorePath,
    size: u64,
}

impl InputFile {
    /// How the input is named in reports, messages and the ingest log.
    pub fn shown(&self) -> String {
        match self {
            InputFile::Local(path) => path.display().to_string(),
            InputFile::Remote(o) => o.url.to_string(),
        }
    }

    /// The file's name (its last path segment).
    pub fn file_name(&self) -> String {
        match self {
            InputFile::Local(path) => path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string(),
            InputFile::Remote(o) => o.path.filename().unwrap_or("").to_string(),
        }
    }

    /// Size as stored, in bytes (0 when unknown).
    pub fn size(&self) -> u64 {
        match self {
            InputFile::Local(path) => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
            InputFile::Remote(o) => o.size,
        }
    }

    fn read_error(&self, source: std::io::Error) -> LgsError {
        LgsError::Read {
            path: PathBuf::from(self.shown()),
            source,
        }
    }

    /// The first `n` bytes (fewer if the file is shorter).
    pub async fn head(&self, n: usize) -> Result<Vec<u8>> {
        match self {
            InputFile::Local(path) => {
                let mut file = File::open(path).map_err(|e| self.read_error(e))?;
                let mut head = Vec::with_capacity(n);
                file.by_ref()
                    .take(n as u64)
                    .read_to_end(&mut head)
                    .map_err(|e| self.read_error(e))?;
                Ok(head)
            }
            InputFile::Remote(o) => {
                let end = o.size.min(n as u64);
                if end == 0 {
                    return Ok(vec![]);
                }
                let bytes = o
                    .store
                    .get_range(&o.path, 0..end)
                    .await
                    .map_err(|e| storage::error(o.url.as_str(), e))?;
                Ok(bytes.to_vec())
            }
        }
    }

    /// A fingerprint of the file's bytes (XXH3-128, hex): the same content gives the
    /// same fingerprint whatever the file is called or where it lives, so a re-ingest
    /// is recognised.
    pub async fn fingerprint(&self) -> Result<String> {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        match self {
            InputFile::Local(path) => {
                let mut file = File::open(path).map_err(|e| self.read_error(e))?;
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let n = file.read(&mut buf).map_err(|e| self.read_error(e))?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                }
            }
            InputFile::Remote(o) => {
                let mut stream = o.stream().await?;
                while let Some(chunk) = stream.next().await {
                    hasher.update(&chunk.map_err(|e| storage::error(o.url.as_str(), e))?);
                }
            }
        }
        Ok(format!("{:032x}", hasher.digest128()))
    }

    /// Opens the raw bytes for reading on a blocking thread (`handle` drives the
    /// download of an object).
    pub fn open_raw(&self, handle: &tokio::runtime::Handle) -> Result<Box<dyn Read + Send>> {
        match self {
            InputFile::Local(path) => {
                Ok(Box::new(File::open(path).map_err(|e| self.read_error(e))?))
            }
            InputFile::Remote(o) => {
                let stream = handle.block_on(o.stream())?;
                Ok(Box::new(RemoteReader {
                    url: o.url.to_string(),
                    stream,
                    chunk: Bytes::new(),
                    handle: handle.clone(),
                }))
            }
        }
    }

    /// A local file with the input's bytes, for readers that need random access
    /// (Parquet, Excel): the file itself, or a staged copy of an object that is
    /// deleted when the returned guard is dropped.
    pub fn local_copy(
        &self,
        handle: &tokio::runtime::Handle,
        count: Arc<AtomicU64>,
    ) -> Result<(PathBuf, Option<Arc<tempfile::TempPath>>)> {
        match self {
            InputFile::Local(path) => {
                count.fetch_add(self.size(), Ordering::Relaxed);
                Ok((path.clone(), None))
            }
            InputFile::Remote(_) => {
                let mut staged = tempfile::Builder::new()
                    .prefix("lgs-staged-")
                    .tempfile()
                    .map_err(|e| self.read_error(e))?;
                let mut reader = CountingReader {
                    inner: self.open_raw(handle)?,
                    count,
                };
                std::io::copy(&mut reader, staged.as_file_mut()).map_err(|e| self.read_error(e))?;
                let path = staged.into_temp_path();
                Ok((path.to_path_buf(), Some(Arc::new(path))))
            }
        }
    }
}

impl RemoteObject {
    async fn stream(&self) -> Result<BoxStream<'static, object_store::Result<Bytes>>> {
        let got = self
            .store
            .get(&self.path)
            .await
            .map_err(|e| storage::error(self.url.as_str(), e))?;
        Ok(got.into_stream())
    }
}

/// An object's bytes as a blocking reader, chunk by chunk as they arrive.
struct RemoteReader {
    url: String,
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    chunk: Bytes,
    handle: tokio::runtime::Handle,
}

impl Read for RemoteReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.handle.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => {
                    return Err(std::io::Error::other(format!("{}: {e}", self.url)));
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// Expands the inputs given by the user into files: local paths, directories and
/// globs (see [`expand_inputs`]), and object-store locations: an object, a prefix
/// (every data file under it) or a glob (`s3://bucket/drops/2011-*.csv`).
pub async fn expand(args: &[String]) -> Result<Vec<InputFile>> {
    let mut out = Vec::new();
    for arg in args {
        if storage::is_remote(arg) {
            out.extend(expand_remote(arg).await?.into_iter().map(InputFile::Remote));
        } else {
            let paths = expand_inputs(std::slice::from_ref(arg))?;
            out.extend(paths.into_iter().map(InputFile::Local));
        }
    }
    Ok(out)
}

async fn expand_remote(arg: &str) -> Result<Vec<RemoteObject>> {
    let url = storage::parse(arg)?;
    let (store, path) = storage::store_for(&url)?;
    let bucket = storage::bucket_url(&url);
    let object = |meta: ObjectMeta| -> Result<RemoteObject> {
        let url = bucket
            .join(meta.location.as_ref())
            .map_err(|e| LgsError::InvalidArgument {
                what: "object-store location",
                message: format!("{}: {e}", meta.location),
            })?;
        Ok(RemoteObject {
            url,
            store: store.clone(),
            path: meta.location,
            size: meta.size,
        })
    };
    let err = |e| storage::error(arg, e);
    let decoded = path.as_ref().to_string();
    if let Some(first_wild) = decoded.find(['*', '?', '[']) {
        let pattern = glob::Pattern::new(&decoded).map_err(|source| LgsError::BadPattern {
            pattern: arg.to_string(),
            source,
        })?;
        let fixed = decoded[..first_wild]
            .rsplit_once('/')
            .map(|(dir, _)| StorePath::from(dir));
        let mut found: Vec<ObjectMeta> = store
            .list(fixed.as_ref())
            .try_filter(|m| futures::future::ready(pattern.matches(m.location.as_ref())))
            .try_collect()
            .await
            .map_err(err)?;
        if found.is_empty() {
            return Err(LgsError::InputNotFound {
                path: format!("{arg} (pattern matches no object)"),
            });
        }
        found.sort_by(|a, b| a.location.cmp(&b.location));
        return found.into_iter().map(object).collect();
    }
    if !arg.ends_with('/') && !decoded.is_empty() {
        match store.head(&path).await {
            Ok(meta) => return Ok(vec![object(meta)?]),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(err(e)),
        }
    }
    // Not an object: a prefix, like a directory.
    let prefix = (!decoded.is_empty()).then_some(&path);
    let mut found: Vec<ObjectMeta> = store
        .list(prefix)
        .try_filter(|m| {
            let name = m.location.filename().unwrap_or("");
            let keep = !name.starts_with(['.', '_']) && is_data_file(name);
            futures::future::ready(keep)
        })
        .try_collect()
        .await
        .map_err(err)?;
    if found.is_empty() {
        return Err(LgsError::ObjectStore {
            location: arg.to_string(),
            message: "does not exist (no such object, and no data files under it)".into(),
        });
    }
    found.sort_by(|a, b| a.location.cmp(&b.location));
    found.into_iter().map(object).collect()
}

/// Expands the paths given by the user: plain files, directories (every regular file
/// inside, recursively, sorted) and glob patterns. Every argument must match something.
pub fn expand_inputs(args: &[String]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for arg in args {
        let path = Path::new(arg);
        if path.is_dir() {
            let mut files = Vec::new();
            collect_dir(path, &mut files).map_err(|source| LgsError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            files.sort();
            if files.is_empty() {
                return Err(LgsError::InputNotFound {
                    path: format!("{arg} (directory has no data files)"),
                });
            }
            out.extend(files);
        } else if path.exists() {
            out.push(path.to_path_buf());
        } else if arg.contains(['*', '?', '[']) {
            let paths = glob::glob(arg).map_err(|source| LgsError::BadPattern {
                pattern: arg.clone(),
                source,
            })?;
            let mut matched: Vec<PathBuf> = paths
                .filter_map(|p| p.ok())
                .filter(|p| p.is_file())
                .collect();
            if matched.is_empty() {
                return Err(LgsError::InputNotFound {
                    path: format!("{arg} (pattern matches no file)"),
                });
            }
            matched.sort();
            out.extend(matched);
        } else {
            return Err(LgsError::InputNotFound { path: arg.clone() });
        }
    }
    Ok(out)
}

fn collect_dir(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect_dir(&path, out)?;
        } else if is_data_file(name) {
            out.push(path);
        }
    }
    Ok(())
}

fn is_data_file(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [".csv", ".txt", ".gz", ".zst", ".sql", ".xlsx", ".parquet"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// Counts the bytes read from the underlying (possibly compressed) file, for progress.
struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Decodes a file's bytes, decompressing gzip or zstd (recognised by their magic
/// bytes, whatever the file is called). `count` receives the bytes read as stored.
pub fn decode(
    file: &InputFile,
    raw: Box<dyn Read + Send>,
    count: Arc<AtomicU64>,
) -> Result<Box<dyn BufRead + Send>> {
    let read_err = |source| file.read_error(source);
    let mut raw = BufReader::with_capacity(1 << 20, CountingReader { inner: raw, count });
    let magic = raw.fill_buf().map_err(read_err)?;
    Ok(if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let decoder = zstd::stream::read::Decoder::with_buffer(raw).map_err(read_err)?;
        Box::new(BufReader::with_capacity(1 << 20, decoder))
    } else if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::bufread::MultiGzDecoder::new(raw),
        ))
    } else {
        Box::new(raw)
    })
}
