//! Ahead-of-time compilation and plugbox's precompiled artifact format.
//!
//! A `.cwasm` written by plugbox is Wasmtime's native-code ELF image followed
//! by a 64-byte trailer:
//!
//! ```text
//! [image][wasmtime version: 24 bytes, NUL-padded][engine fingerprint: u64 LE]
//!        [XXH3-128 of image+version+fingerprint: 16 bytes][image length: u64 LE]
//!        [magic "PLUGBOX\x02"]
//! ```
//!
//! The checksum catches corruption (a flipped byte) and the version and
//! fingerprint catch artifacts from another Wasmtime or another engine
//! configuration, all *before* Wasmtime sees the native code. The checksum
//! is not a signature: loading a precompiled artifact still requires an
//! explicit opt-in (`allow-precompiled`).

use super::kind::WasmKind;
use crate::engine::{Engine, WASMTIME_VERSION};
use crate::error::{Error, ErrorKind, PrecompiledReason, Result};
use xxhash_rust::xxh3::xxh3_128;

const MAGIC: &[u8; 8] = b"PLUGBOX\x02";
/// The magic of the first format (a SHA-256 checksum), now refused.
const OLD_MAGIC: &[u8; 8] = b"PLUGBOX\x01";
const VERSION_LEN: usize = 24;
const TRAILER_LEN: usize = VERSION_LEN + 8 + 16 + 8 + 8;

/// Appends the trailer to a native image. `version` is a parameter so tests
/// can forge artifacts "from another Wasmtime".
#[doc(hidden)]
pub fn seal(engine: &Engine, mut image: Vec<u8>, version: &str) -> Vec<u8> {
    let image_len = image.len() as u64;
    let mut v = [0u8; VERSION_LEN];
    let n = version.len().min(VERSION_LEN);
    v[..n].copy_from_slice(&version.as_bytes()[..n]);
    image.extend_from_slice(&v);
    image.extend_from_slice(&engine.fingerprint().to_le_bytes());
    let sum = xxh3_128(&image);
    image.extend_from_slice(&sum.to_le_bytes());
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
    if bytes.len() >= TRAILER_LEN && (bytes.ends_with(MAGIC) || bytes.ends_with(OLD_MAGIC)) {
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
    if bytes.ends_with(OLD_MAGIC) {
        return Err(refused(
            name,
            PrecompiledReason::Incompatible,
            "it was made by an older plugbox (artifact format 1); compile it again with `plugbox compile`",
        ));
    }
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
    let mut sum = [0u8; 16];
    sum.copy_from_slice(&rest[..16]);
    if xxh3_128(body) != u128::from_le_bytes(sum) {
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
    if u64::from_le_bytes(hash) != engine.fingerprint() {
        return Err(refused(
            name,
            PrecompiledReason::Incompatible,
            "compiled with a different engine configuration (opt level, features, fuel, epochs, target) or plugbox version, whose defaults may differ; recompile it (`plugbox compile`) with this plugbox and the flags it runs with",
        ));
    }
    Ok(&bytes[..image_len])
}
