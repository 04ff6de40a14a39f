//! plugbox's compile cache: native code for a module, kept on disk and
//! memory-mapped on the next load.
//!
//! An entry is named by what decides its content: the XXH3-128 of the
//! binary compiled (fast to compute), whether it is a module or a
//! component, plugbox's cache format and the engine's compatibility
//! fingerprint (Wasmtime's own hash of every setting that changes
//! generated code, and its version). XXH3 is not collision-resistant and
//! sources are untrusted, so the entry also records the BLAKE3 of its
//! source, and a hit counts only if it matches the BLAKE3 of the binary
//! being loaded (computed alongside mapping the entry for sources of
//! 1 MiB or more; when a `sha256` pin has already hashed the binary, its
//! SHA-256, recorded too, is matched instead): a crafted collision gets
//! its own compile, never another module's code. BLAKE3 rather than
//! SHA-256 because it is four times faster here and the hash is on every
//! hit's path. The recorded SHA-256 is what a hit of a binary source
//! reports as `Plugin::sha256` instead of computing it. An entry is
//! Wasmtime's serialized image followed by a 96-byte trailer:
//!
//! ```text
//! [image][BLAKE3 of the source: 32 bytes][SHA-256 of the source: 32 bytes]
//! [XXH3-128 of image and both digests: 16 bytes][image length: u64 LE]
//! [magic "PBXCACH3"]
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

const MAGIC: &[u8; 8] = b"PBXCACH3";
const TRAILER_LEN: usize = 96;
/// Where the trailer's parts start.
const DIGESTS: usize = 64;
const CHECKSUM: usize = DIGESTS + 16;
const LENGTH: usize = CHECKSUM + 8;
/// Bumped when plugbox changes what it compiles (the atomic-wait rewrite,
/// say) or the entry layout.
const FORMAT: u32 = 3;

/// The name of a source in the cache, from its XXH3-128.
pub(crate) fn key(xxh3: u128) -> String {
    format!("{xxh3:032x}")
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

/// What an entry records of the source it was compiled from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Source {
    /// Its BLAKE3: a hit counts only if it is the loaded source's.
    pub(crate) blake3: [u8; 32],
    /// Its SHA-256, for `Plugin::sha256`.
    pub(crate) sha256: [u8; 32],
}

/// A cache hit: the entry, checked, ready for Wasmtime to map.
pub(crate) struct Hit {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    pub(crate) source: Source,
}

impl Cache {
    /// Opens (creating) the cache under `dir`, for entries of `engine`.
    pub(crate) fn open(dir: &Path, max_size: u64, fingerprint: u64) -> Result<Self> {
        let root = std::path::absolute(dir)
            .map_err(|e| Error::io(format!("invalid cache directory `{}`", dir.display()), e))?;
        remove_old_formats(&root);
        let dir = root.join(format!("plugbox-cache-{FORMAT}"));
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
            Ok(source) => {
                // Least recently used goes first: a hit is a use.
                let _ = file.set_modified(SystemTime::now());
                Some(Hit { path, file, source })
            }
            Err(why) => {
                tracing::warn!(entry = %path.display(), %why, "discarding a damaged cache entry");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores `image` (Wasmtime's serialized code) for the source named
    /// `key` and digested as `source`, then trims the cache to its bound.
    /// Failures only cost the next load a compile: they are logged, not
    /// returned.
    pub(crate) fn put(&self, key: &str, source: &Source, artifact: Artifact, image: &[u8]) {
        let path = self.path(key, artifact);
        if let Err(e) = self.write(&path, source, image) {
            tracing::warn!(entry = %path.display(), error = %e, "cannot write a cache entry");
            return;
        }
        self.evict();
    }

    fn write(&self, path: &Path, source: &Source, image: &[u8]) -> std::io::Result<()> {
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&self.dir)?;
        tmp.write_all(image)?;
        tmp.write_all(&trailer(source, image))?;
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

/// How long a cache of an earlier format must have gone unused before
/// it is removed: an older plugbox sharing the directory (a rolling
/// upgrade, two versions installed) keeps its own.
const OLD_FORMAT_UNUSED: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// Removes the caches of earlier formats under `root` that no plugbox
/// has used for [`OLD_FORMAT_UNUSED`]: this plugbox does not read them,
/// and nothing else would ever trim them.
fn remove_old_formats(root: &Path) {
    for format in 1..FORMAT {
        let old = root.join(format!("plugbox-cache-{format}"));
        if !std::fs::symlink_metadata(&old).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let used = last_used(&old);
        if used.is_none_or(|t| t.elapsed().is_ok_and(|age| age < OLD_FORMAT_UNUSED)) {
            continue;
        }
        match std::fs::remove_dir_all(&old) {
            Ok(()) => {
                tracing::info!(dir = %old.display(), "removed a compile cache of an older format")
            }
            Err(e) => {
                tracing::debug!(dir = %old.display(), error = %e, "cannot remove a compile cache of an older format")
            }
        }
    }
}

/// When a cache directory was last used: the latest modification time
/// of the directory and its entries (a hit refreshes its entry's).
fn last_used(dir: &Path) -> Option<SystemTime> {
    let mut latest = std::fs::metadata(dir).ok()?.modified().ok()?;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let modified = entry.metadata().ok()?.modified().ok()?;
        latest = latest.max(modified);
    }
    Some(latest)
}

fn trailer(source: &Source, image: &[u8]) -> [u8; TRAILER_LEN] {
    let mut t = [0u8; TRAILER_LEN];
    t[..32].copy_from_slice(&source.blake3);
    t[32..DIGESTS].copy_from_slice(&source.sha256);
    let sum = checksum(image, &t[..DIGESTS]);
    t[CHECKSUM - 16..CHECKSUM].copy_from_slice(&sum.to_le_bytes());
    t[CHECKSUM..LENGTH].copy_from_slice(&(image.len() as u64).to_le_bytes());
    t[LENGTH..].copy_from_slice(MAGIC);
    t
}

/// The XXH3-128 of an entry's image and the digests after it.
fn checksum(image: &[u8], digests: &[u8]) -> u128 {
    let mut h = xxhash_rust::xxh3::Xxh3Default::new();
    h.update(image);
    h.update(digests);
    h.digest128()
}

/// Checks an entry's trailer and checksum; returns what it records of
/// its source.
fn check(file: &File) -> std::result::Result<Source, String> {
    // SAFETY: entries are only ever replaced by rename, never written in
    // place, so the mapped inode does not change while it is read.
    let map = unsafe { memmap2::Mmap::map(file) }.map_err(|e| e.to_string())?;
    let Some(body_len) = map.len().checked_sub(TRAILER_LEN) else {
        return Err(format!("{} bytes, shorter than its trailer", map.len()));
    };
    let (image, t) = map.split_at(body_len);
    if &t[LENGTH..] != MAGIC {
        return Err("no plugbox cache trailer".into());
    }
    if u64::from_le_bytes(t[CHECKSUM..LENGTH].try_into().expect("8 bytes")) != body_len as u64 {
        return Err("truncated".into());
    }
    let sum = u128::from_le_bytes(t[CHECKSUM - 16..CHECKSUM].try_into().expect("16 bytes"));
    if sum != checksum(image, &t[..DIGESTS]) {
        return Err("checksum mismatch".into());
    }
    Ok(Source {
        blake3: t[..32].try_into().expect("32 bytes"),
        sha256: t[32..DIGESTS].try_into().expect("32 bytes"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trailer_checks_its_image_and_both_digests() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), u64::MAX, 7).unwrap();
        let source = Source {
            blake3: [1; 32],
            sha256: [2; 32],
        };
        cache.put("k", &source, Artifact::Module, b"image");
        let hit = cache.get("k", Artifact::Module).expect("a hit");
        assert_eq!(hit.source, source);
        let path = hit.path;
        let good = std::fs::read(&path).unwrap();
        assert_eq!(good.len(), 5 + TRAILER_LEN);
        // Any byte of the image or the digests changed is a damaged entry.
        for at in [0, 4, 5, 5 + 31, 5 + 32, 5 + 63] {
            let mut bad = good.clone();
            bad[at] ^= 1;
            std::fs::write(&path, &bad).unwrap();
            assert!(cache.get("k", Artifact::Module).is_none(), "byte {at}");
            assert!(!path.exists(), "byte {at}: the damaged entry is deleted");
        }
    }
}
