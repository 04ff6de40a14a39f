//! Loading and validation: files, bytes and streams, with the size cap
//! enforced while reading; what the bytes are is decided in `sniff`; full
//! validation against the engine.

use super::kind::WasmKind;
use super::sniff::{classify, looks_like_text};
use super::validate::validation_error;
use crate::engine::Engine;
use crate::error::Result;
use crate::input::too_large;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// WebAssembly bytes that have been read under the size cap, converted from
/// text if needed, and classified — the input to validation, inspection and
/// compilation.
#[derive(Clone)]
pub struct Wasm {
    name: String,
    path: Option<PathBuf>,
    bytes: Storage,
    kind: WasmKind,
    from_text: bool,
    /// Computed when asked for (hashing a large module is not free); set
    /// at once for text, whose converted bytes differ from those read.
    sha256: OnceLock<String>,
    /// The XXH3-128 of `bytes`, when it was computed as they were copied
    /// in (for the compile cache's key).
    xxh3: Option<u128>,
}

/// The compile cache's key (an XXH3-128) of a source, computed part by
/// part as it is read or copied, while each part is in the CPU's cache (a
/// third of the cost of hashing it again afterwards); nothing when the
/// engine has no cache.
struct KeyHasher(Option<xxhash_rust::xxh3::Xxh3Default>);

impl KeyHasher {
    fn new(engine: &Engine) -> Self {
        Self(
            engine
                .cache()
                .map(|_| xxhash_rust::xxh3::Xxh3Default::new()),
        )
    }

    fn update(&mut self, part: &[u8]) {
        if let Some(h) = &mut self.0 {
            h.update(part);
        }
    }

    fn finish(self) -> Option<u128> {
        self.0.map(|h| h.digest128())
    }
}

/// Where the bytes are: read into memory, or (precompiled native code)
/// memory-mapped from its file.
#[derive(Clone)]
enum Storage {
    // A `Vec` behind the `Arc`, not an `Arc<[u8]>`: converting to that
    // would copy the whole source once more.
    Owned(Arc<Vec<u8>>),
    Mapped {
        map: Arc<memmap2::Mmap>,
        file: Arc<std::fs::File>,
    },
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Owned(bytes) => bytes,
            Self::Mapped { map, .. } => map,
        }
    }
}

impl std::fmt::Debug for Wasm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wasm")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("len", &self.bytes().len())
            .finish()
    }
}

impl Wasm {
    /// Reads a file (binary, text, or precompiled).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] if the file cannot be read,
    /// [`ErrorKind::InvalidModule`] if it is too large or not WebAssembly.
    pub fn from_file(engine: &Engine, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let cap = engine.config().get_max_module_size();
        let file = crate::input::open_sized(path, cap).map_err(|e| e.for_module(&name))?;
        let mapped = map_native(&file).filter(|m| super::aot::detect(m).is_some());
        let mut wasm = match mapped {
            Some(map) => {
                let storage = Storage::Mapped {
                    map: Arc::new(map),
                    file: Arc::new(file),
                };
                let kind =
                    super::aot::detect(storage.bytes()).unwrap_or(WasmKind::PrecompiledModule);
                Self {
                    name,
                    path: None,
                    bytes: storage,
                    kind,
                    from_text: false,
                    sha256: OnceLock::new(),
                    xxh3: None,
                }
            }
            None => {
                let mut key = KeyHasher::new(engine);
                let bytes = crate::input::read_opened_with(file, cap, |part| key.update(part))
                    .map_err(|e| e.for_module(&name))?;
                Self::decode(name, bytes, key.finish())?
            }
        };
        wasm.path = Some(path.to_path_buf());
        Ok(wasm)
    }

    /// Takes bytes already in memory.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidModule`] if they are too large or not WebAssembly.
    pub fn from_bytes(engine: &Engine, bytes: impl Into<Vec<u8>>) -> Result<Self> {
        let bytes = bytes.into();
        Self::check_size(engine, bytes.len())?;
        Self::decode("<bytes>".into(), bytes, None)
    }

    /// [`from_bytes`](Self::from_bytes) for borrowed bytes: with a compile
    /// cache, they are hashed for its key as they are copied.
    pub(crate) fn from_slice(engine: &Engine, bytes: &[u8]) -> Result<Self> {
        Self::check_size(engine, bytes.len())?;
        let mut key = KeyHasher::new(engine);
        let mut copy = Vec::with_capacity(bytes.len());
        for part in bytes.chunks(64 << 10) {
            copy.extend_from_slice(part);
            key.update(part);
        }
        Self::decode("<bytes>".into(), copy, key.finish())
    }

    fn check_size(engine: &Engine, len: usize) -> Result<()> {
        match engine.config().get_max_module_size() {
            Some(cap) if len as u64 > cap => Err(too_large("<bytes>", len as u64, cap)),
            _ => Ok(()),
        }
    }

    /// Reads any stream in 64 KiB chunks, refusing it as soon as it passes
    /// the size cap (a 100 GB stream is not read to the end).
    ///
    /// # Errors
    ///
    /// As [`from_bytes`](Self::from_bytes), plus [`ErrorKind::Io`] when the
    /// stream fails.
    pub fn from_reader(engine: &Engine, reader: impl Read) -> Result<Self> {
        Self::from_reader_named(engine, reader, "<stream>")
    }

    fn from_reader_named(engine: &Engine, reader: impl Read, name: &str) -> Result<Self> {
        let mut key = KeyHasher::new(engine);
        let cap = engine.config().get_max_module_size();
        let bytes = crate::input::read_capped(reader, cap, |part| key.update(part))
            .map_err(|e| e.for_module(name))?;
        Self::decode(name.to_string(), bytes, key.finish())
    }

    /// Sets the name used in error messages (default: the path, or
    /// `<bytes>` / `<stream>`).
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// `xxh3`, if known, is the XXH3-128 of `bytes`.
    fn decode(name: String, bytes: Vec<u8>, xxh3: Option<u128>) -> Result<Self> {
        let sha256 = OnceLock::new();
        if looks_like_text(&bytes) {
            let _ = sha256.set(sha256_hex(&bytes));
        }
        let (bytes, kind, from_text) = classify(&name, bytes)?;
        Ok(Self {
            name,
            path: None,
            bytes: Storage::Owned(Arc::new(bytes)),
            kind,
            // Text's binary is not the bytes hashed.
            xxh3: xxh3.filter(|_| !from_text),
            from_text,
            sha256,
        })
    }

    /// The XXH3-128 of [`bytes`](Self::bytes): the compile cache's key.
    pub(crate) fn xxh3(&self) -> u128 {
        self.xxh3
            .unwrap_or_else(|| xxhash_rust::xxh3::xxh3_128(self.bytes()))
    }

    /// SHA-256 (hex) of the input exactly as read (before any text
    /// conversion): what a manifest's `sha256` pin is compared with.
    /// Computed on first use.
    pub fn sha256(&self) -> &str {
        self.sha256.get_or_init(|| sha256_hex(self.bytes.bytes()))
    }

    /// [`sha256`](Self::sha256) as bytes, if it has been computed.
    pub(crate) fn known_sha256(&self) -> Option<[u8; 32]> {
        let hex = self.sha256.get()?.as_bytes();
        let mut sha = [0u8; 32];
        for (byte, pair) in sha.iter_mut().zip(hex.chunks_exact(2)) {
            let digit = |c: u8| char::from(c).to_digit(16);
            *byte = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
        }
        Some(sha)
    }

    /// Keeps `sha`, computed by the caller from [`bytes`](Self::bytes) of
    /// a binary source, as [`sha256`](Self::sha256).
    pub(crate) fn remember_sha256(&self, sha: &[u8; 32]) {
        debug_assert!(!self.from_text);
        let _ = self.sha256.set(hex(sha));
    }

    /// The open file of a memory-mapped precompiled artifact, for Wasmtime
    /// to map in turn (no copy).
    pub(crate) fn mapped_file(&self) -> Option<&std::fs::File> {
        match &self.bytes {
            Storage::Mapped { file, .. } => Some(file),
            Storage::Owned(_) => None,
        }
    }

    /// The name used in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file it came from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Module, component, or precompiled.
    pub fn kind(&self) -> WasmKind {
        self.kind
    }

    /// The binary (text input is already converted).
    pub fn bytes(&self) -> &[u8] {
        self.bytes.bytes()
    }

    /// Whether the input was WebAssembly text.
    pub fn is_text(&self) -> bool {
        self.from_text
    }

    /// Fully validates the bytes against `engine`'s enabled features,
    /// without compiling them.
    ///
    /// Precompiled artifacts are checked for integrity and compatibility
    /// (but not trust: see [`PluginBuilder::allow_precompiled`](crate::PluginBuilder::allow_precompiled)).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidModule`] with the byte offset of the problem, or
    /// [`InvalidReason::FeatureDisabled`] when the module needs a proposal
    /// this engine has turned off; [`ErrorKind::Precompiled`] for a corrupt
    /// or foreign artifact.
    pub fn validate(&self, engine: &Engine) -> Result<()> {
        if !self.kind.is_precompiled() {
            super::bounds::check_declared(engine, &self.name, self.bytes())?;
        }
        self.validate_code(engine)
    }

    /// [`Wasm::validate`] without the caps on what the module declares
    /// (checked already by the caller).
    pub(crate) fn validate_code(&self, engine: &Engine) -> Result<()> {
        let bytes = self.bytes();
        match self.kind {
            WasmKind::Module => wasmtime::Module::validate(engine.wasmtime(), bytes)
                .map_err(|e| validation_error(engine.config(), &self.name, bytes, e)),
            WasmKind::Component => {
                // Wasmtime validates components while compiling them; for a
                // compile-free check, validate with the engine's toggles.
                let features = super::validate::component_features(engine.config());
                let mut v = wasmparser::Validator::new_with_features(features);
                v.validate_all(bytes).map(|_| ()).map_err(|e| {
                    validation_error(engine.config(), &self.name, bytes, wasmtime::Error::new(e))
                })
            }
            WasmKind::PrecompiledModule | WasmKind::PrecompiledComponent => {
                super::aot::check(engine, &self.name, bytes).map(|_| ())
            }
        }
    }
}

/// Memory-maps `file` when it starts like native code (an ELF image, as
/// Wasmtime's and plugbox's precompiled artifacts do): such artifacts are
/// large and only need to be checked and handed to Wasmtime, not copied.
fn map_native(file: &std::fs::File) -> Option<memmap2::Mmap> {
    let mut head = [0u8; 4];
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(&mut head, 0).ok()?;
    }
    #[cfg(not(unix))]
    return None;
    if &head != b"\x7fELF" {
        return None;
    }
    // SAFETY: a precompiled artifact is trusted input (loading one needs
    // an explicit opt-in) that must not change while it is loaded, the
    // same contract as Wasmtime's own `deserialize_file`.
    unsafe { memmap2::Mmap::map(file) }.ok()
}

/// SHA-256 of `bytes` as lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes).into())
}

fn hex(sha: &[u8; 32]) -> String {
    sha.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
