//! plugbox's compile cache: native code for a module, kept on disk and
//! memory-mapped on the next load.
//!
//! An entry is named by what decides its content: the XXH3-128 of the
//! binary compiled (fast to compute), whether it is a module or a
//! component, plugbox's cache format and the engine's compatibility
//! fingerprint (Wasmtime's own hash of every setting that changes
//! generated code, and its version). XXH3 is not collision-resistant and
//! sources are untrusted, so the entry also records the SHA-256 of its
//! source, and a hit counts only if it matches the SHA-256 of the binary
//! being loaded (computed alongside mapping the entry for sources of
//! 1 MiB or more; for a binary source it is also `Plugin::sha256`): a
//! crafted collision gets its own compile, never another module's code. Its content is
//! Wasmtime's serialized image followed by a 64-byte trailer:
//!
//! ```text
//! [image][SHA-256 of the source: 32 bytes][XXH3-128 of image: 16 bytes]
//! [image length: u64 LE][magic "PBXCACH2"]
//! ```
//!
//! Entries are written to a temporary file and renamed into place, so a
//! crash or a concurrent writer never leaves a torn entry under its name;
//! the checksum catches anything else (a flipped bit on disk, an entry
//! truncated by a full disk), and such an entry is deleted and compiled
//! again. Hits refresh an entry's modification time, and the least
//! recently used entries are removed when the cache outgrows its bound.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use xxhash_rust::xxh3::xxh3_128;

const MAGIC: &[u8; 8] = b"PBXCACH2";
const TRAILER_LEN: usize = 64;
/// Bumped when plugbox changes what it compiles (the atomic-wait rewrite,
/// say) or the entry layout.
const FORMAT: u32 = 2;

/// The name of a source in the cache: its XXH3-128.
pub(crate) fn key(source: &[u8]) -> String {
    format!("{:032x}", xxh3_128(source))
}

/// What an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Artifact {
    Module,
    Component,
}

/// A compile cache in one directory.
pub(crate) struct Cache {
    dir: PathBuf,
    max_size: u64,
    fingerprint: u64,
}

/// A cache hit: the entry, checked, ready for Wasmtime to map.
pub(crate) struct Hit {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    /// The SHA-256 of the source the entry was compiled from: the hit
    /// counts only if it is the loaded source's.
    pub(crate) source_sha256: [u8; 32],
}

impl Cache {
    /// Opens (creating) the cache under `dir`, for entries of `engine`.
    pub(crate) fn open(dir: &Path, max_size: u64, fingerprint: u64) -> Result<Self> {
        let dir = std::path::absolute(dir)
            .map_err(|e| Error::io(format!("invalid cache directory `{}`", dir.display()), e))?
            .join(format!("plugbox-cache-{FORMAT}"));
        std::fs::create_dir_all(&dir).map_err(|e| {
            Error::io(
                format!("cannot create cache directory `{}`", dir.display()),
                e,
            )
        })?;
        Ok(Self {
            dir,
            max_size,
            fingerprint,
        })
    }

    /// The directory entries live in.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str, artifact: Artifact) -> PathBuf {
        let kind = match artifact {
            Artifact::Module => 'm',
            Artifact::Component => 'c',
        };
        self.dir
            .join(format!("{key}-{:016x}.{kind}", self.fingerprint))
    }

    /// The checked entry named `key` (see [`key`]), if there is one. A
    /// damaged entry is deleted (and reported as a miss).
    pub(crate) fn get(&self, key: &str, artifact: Artifact) -> Option<Hit> {
        let path = self.path(key, artifact);
        let file = File::open(&path).ok()?;
        match check(&file) {
            Ok(source_sha256) => {
                // Least recently used goes first: a hit is a use.
                let _ = file.set_modified(SystemTime::now());
                Some(Hit {
                    path,
                    file,
                    source_sha256,
                })
            }
            Err(why) => {
                tracing::warn!(entry = %path.display(), %why, "discarding a damaged cache entry");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores `image` (Wasmtime's serialized code) for the source named
    /// `key` whose SHA-256 is `source_sha256`, then trims the cache to its
    /// bound. Failures only cost the next load a compile: they are logged,
    /// not returned.
    pub(crate) fn put(
        &self,
        key: &str,
        source_sha256: &[u8; 32],
        artifact: Artifact,
        image: &[u8],
    ) {
        let path = self.path(key, artifact);
        if let Err(e) = self.write(&path, source_sha256, image) {
            tracing::warn!(entry = %path.display(), error = %e, "cannot write a cache entry");
            return;
        }
        self.evict();
    }

    fn write(&self, path: &Path, source_sha256: &[u8; 32], image: &[u8]) -> std::io::Result<()> {
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&self.dir)?;
        tmp.write_all(image)?;
        tmp.write_all(&trailer(source_sha256, image))?;
        tmp.as_file().flush()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }

    /// Removes the least recently used entries until the cache fits its
    /// bound (and temporary files a crashed writer left over an hour ago).
    fn evict(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let now = SystemTime::now();
        let mut files = Vec::new();
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let stale_tmp = entry.file_name().to_string_lossy().starts_with(".tmp-")
                && now
                    .duration_since(modified)
                    .is_ok_and(|age| age.as_secs() > 3600);
            if stale_tmp {
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            files.push((modified, meta.len(), entry.path()));
        }
        let mut total: u64 = files.iter().map(|(_, len, _)| len).sum();
        if total <= self.max_size {
            return;
        }
        files.sort();
        for (_, len, path) in files {
            if total <= self.max_size {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total = total.saturating_sub(len);
            }
        }
    }
}

fn trailer(source_sha256: &[u8; 32], image: &[u8]) -> [u8; TRAILER_LEN] {
    let mut t = [0u8; TRAILER_LEN];
    t[..32].copy_from_slice(source_sha256);
    t[32..48].copy_from_slice(&xxh3_128(image).to_le_bytes());
    t[48..56].copy_from_slice(&(image.len() as u64).to_le_bytes());
    t[56..].copy_from_slice(MAGIC);
    t
}

/// Checks an entry's trailer and checksum; returns the SHA-256 of its
/// source.
fn check(file: &File) -> std::result::Result<[u8; 32], String> {
    // SAFETY: entries are only ever replaced by rename, never written in
    // place, so the mapped inode does not change while it is read.
    let map = unsafe { memmap2::Mmap::map(file) }.map_err(|e| e.to_string())?;
    let Some(body_len) = map.len().checked_sub(TRAILER_LEN) else {
        return Err(format!("{} bytes, shorter than its trailer", map.len()));
    };
    let (image, t) = map.split_at(body_len);
    if &t[56..] != MAGIC {
        return Err("no plugbox cache trailer".into());
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&t[48..56]);
    if u64::from_le_bytes(len) != body_len as u64 {
        return Err("truncated".into());
    }
    let mut sum = [0u8; 16];
    sum.copy_from_slice(&t[32..48]);
    if u128::from_le_bytes(sum) != xxh3_128(image) {
        return Err("checksum mismatch".into());
    }
    let mut source = [0u8; 32];
    source.copy_from_slice(&t[..32]);
    Ok(source)
}
