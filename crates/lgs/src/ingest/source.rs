//! Finding input files and opening them, compressed or not.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{LgsError, Result};

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

/// A fingerprint of a file's bytes (XXH3-128, hex): the same content gives the same
/// fingerprint whatever the file's name, so a re-ingest is recognised.
pub fn fingerprint(path: &Path) -> Result<String> {
    let read_err = |source| LgsError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(read_err)?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(read_err)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:032x}", hasher.digest128()))
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

/// Opens a file for reading, decompressing gzip or zstd (recognised by their magic
/// bytes, whatever the file is called). `count` receives the compressed bytes read.
pub fn open_decoded(path: &Path, count: Arc<AtomicU64>) -> Result<Box<dyn BufRead + Send>> {
    let read_err = |source| LgsError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let mut raw = BufReader::with_capacity(1 << 20, CountingReader { inner: file, count });
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
