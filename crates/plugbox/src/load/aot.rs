//! Ahead-of-time compilation and plugbox's precompiled artifact format.
//!
//! A `.cwasm` written by plugbox is Wasmtime's native-code ELF image followed
//! by an 80-byte trailer:
//!
//! ```text
//! [image][wasmtime version: 24 bytes, NUL-padded][engine compatibility hash: u64 LE]
//!        [sha256 of image+version+hash: 32 bytes][image length: u64 LE][magic "PLUGBOX\x01"]
//! ```
//!
//! The checksum catches corruption (a flipped byte) and the version and
//! compatibility hash catch artifacts from another Wasmtime or another engine
//! configuration, all *before* Wasmtime sees the native code. The checksum
//! is not a signature: loading a precompiled artifact still requires trust
//! (an explicit opt-in, or the artifact sitting in the engine's own cache).

use super::kind::WasmKind;
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, PrecompiledReason, Result};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::Path;

const MAGIC: &[u8; 8] = b"PLUGBOX\x01";
const VERSION_LEN: usize = 24;
const TRAILER_LEN: usize = VERSION_LEN + 8 + 32 + 8 + 8;
/// The Wasmtime version plugbox is built against (pinned in `Cargo.toml`).
pub const WASMTIME_VERSION: &str = "48.0.8";

/// Wasmtime's compatibility hash of the engine's settings, fed through
/// SHA-256: unlike `DefaultHasher`, stable across Rust releases.
fn compat_hash(engine: &Engine) -> u64 {
    let mut h = StableHasher(Sha256::new());
    engine
        .wasmtime()
        .precompile_compatibility_hash()
        .hash(&mut h);
    h.finish()
}

/// A `Hasher` over SHA-256, whose output depends only on the bytes written.
struct StableHasher(Sha256);

impl Hasher for StableHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }
}

fn checksum(body: &[u8]) -> [u8; 32] {
    Sha256::digest(body).into()
}

/// Appends the trailer to a native image. `version` is a parameter so tests
/// can forge artifacts "from another Wasmtime".
#[doc(hidden)]
pub fn seal(engine: &Engine, mut image: Vec<u8>, version: &str) -> Vec<u8> {
    let image_len = image.len() as u64;
    let mut v = [0u8; VERSION_LEN];
    let n = version.len().min(VERSION_LEN);
    v[..n].copy_from_slice(&version.as_bytes()[..n]);
    image.extend_from_slice(&v);
    image.extend_from_slice(&compat_hash(engine).to_le_bytes());
    let sum = checksum(&image);
    image.extend_from_slice(&sum);
    image.extend_from_slice(&image_len.to_le_bytes());
    image.extend_from_slice(MAGIC);
    image
}

/// Recognises plugbox artifacts (by trailer) and bare Wasmtime ones (by ELF
/// header), without trusting either.
pub(crate) fn detect(bytes: &[u8]) -> Option<WasmKind> {
    let kind_of = |image: &[u8]| match wasmtime::Engine::detect_precompiled(image) {
        Some(wasmtime::Precompiled::Component) => WasmKind::PrecompiledComponent,
        _ => WasmKind::PrecompiledModule,
    };
    if bytes.len() >= TRAILER_LEN && bytes.ends_with(MAGIC) {
        let image_len = image_len(bytes);
        let image = bytes.get(..image_len).unwrap_or(bytes);
        return Some(kind_of(image));
    }
    wasmtime::Engine::detect_precompiled(bytes).map(|_| kind_of(bytes))
}

fn image_len(bytes: &[u8]) -> usize {
    let at = bytes.len() - 16;
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[at..at + 8]);
    usize::try_from(u64::from_le_bytes(len)).unwrap_or(usize::MAX)
}

fn refused(name: &str, reason: PrecompiledReason, what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Precompiled(reason),
        format!("refusing precompiled artifact `{name}`: {what}"),
    )
}

/// Checks integrity and compatibility; returns the native image.
pub(crate) fn check<'a>(engine: &Engine, name: &str, bytes: &'a [u8]) -> Result<&'a [u8]> {
    if !(bytes.len() >= TRAILER_LEN && bytes.ends_with(MAGIC)) {
        return Err(refused(
            name,
            PrecompiledReason::Corrupt,
            "it has no plugbox checksum trailer (compile it with `plugbox compile`)",
        ));
    }
    let image_len = image_len(bytes);
    if image_len.checked_add(TRAILER_LEN) != Some(bytes.len()) {
        return Err(refused(
            name,
            PrecompiledReason::Corrupt,
            format!(
                "length field says {image_len} bytes of code but the file is {} bytes",
                bytes.len()
            ),
        ));
    }
    let body_end = image_len + VERSION_LEN + 8;
    let (body, rest) = bytes.split_at(body_end);
    if checksum(body)[..] != rest[..32] {
        return Err(refused(
            name,
            PrecompiledReason::Corrupt,
            "checksum mismatch (the file is corrupt or was modified)",
        ));
    }
    let version = &body[image_len..image_len + VERSION_LEN];
    let version = String::from_utf8_lossy(version)
        .trim_end_matches('\0')
        .to_string();
    if version != WASMTIME_VERSION {
        return Err(refused(
            name,
            PrecompiledReason::Incompatible,
            format!(
                "compiled by Wasmtime `{version}`, but this is Wasmtime {WASMTIME_VERSION}; recompile it"
            ),
        ));
    }
    let mut hash = [0u8; 8];
    hash.copy_from_slice(&body[image_len + VERSION_LEN..]);
    if u64::from_le_bytes(hash) != compat_hash(engine) {
        return Err(refused(
            name,
            PrecompiledReason::Incompatible,
            "compiled with a different engine configuration (opt level, features, fuel, epochs, target); recompile it with the same flags",
        ));
    }
    Ok(&bytes[..image_len])
}

/// Whether `wasm` came from inside the engine's cache directory.
pub(crate) fn in_trusted_cache(engine: &Engine, path: Option<&Path>) -> bool {
    let (Some(cache), Some(path)) = (engine.config().get_cache_dir(), path) else {
        return false;
    };
    match (std::fs::canonicalize(cache), std::fs::canonicalize(path)) {
        (Ok(cache), Ok(path)) => path.starts_with(cache),
        _ => false,
    }
}
