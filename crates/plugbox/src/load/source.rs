//! Loading and validation: files, bytes and streams, with the size cap
//! enforced while reading; WAT text; magic/version sniffing with errors that
//! say what the bytes look like; full validation against the engine.

use super::kind::WasmKind;
use super::validate::{invalid, validation_error};
use crate::engine::Engine;
use crate::error::{InvalidReason, Result};
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

const WASM_MAGIC: &[u8; 4] = b"\0asm";

/// Converts text to binary and decides what the bytes are.
fn classify(name: &str, bytes: Vec<u8>) -> Result<(Vec<u8>, WasmKind, bool)> {
    if bytes.is_empty() {
        return Err(invalid(name, InvalidReason::Empty, "empty file (0 bytes)"));
    }
    if let Some(kind) = super::aot::detect(&bytes) {
        return Ok((bytes, kind, false));
    }
    if bytes.starts_with(WASM_MAGIC) {
        if bytes.len() < 8 {
            return Err(invalid(
                name,
                InvalidReason::Truncated {
                    offset: bytes.len(),
                },
                format!(
                    "truncated: {} bytes, but the header alone is 8",
                    bytes.len()
                ),
            ));
        }
        let version = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        let kind = match version {
            1 => WasmKind::Module,
            // Component: version 0x0d, layer 1 (little-endian u16 pair).
            0x0001_000d => WasmKind::Component,
            v => {
                return Err(invalid(
                    name,
                    InvalidReason::UnsupportedVersion(v),
                    format!(
                        "unsupported WebAssembly version {v:#010x} (expected 0x00000001 for a module or 0x0001000d for a component)"
                    ),
                ));
            }
        };
        return Ok((bytes, kind, false));
    }
    if WASM_MAGIC.starts_with(&bytes) {
        return Err(invalid(
            name,
            InvalidReason::Truncated {
                offset: bytes.len(),
            },
            format!(
                "truncated: {} bytes, but the header alone is 8",
                bytes.len()
            ),
        ));
    }
    if looks_like_text(&bytes) {
        let text = String::from_utf8(bytes).map_err(|_| {
            invalid(
                name,
                InvalidReason::BadMagic,
                "not a WebAssembly binary and not UTF-8 text",
            )
        })?;
        // A byte-order mark is not part of the text format.
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let binary = parse_wat(name, text)?;
        let (binary, kind, _) = classify(name, binary)?;
        return Ok((binary, kind, true));
    }
    let magic: String = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let what = match describe_magic(&bytes) {
        Some(what) => format!(" — this looks like {what}"),
        None => String::new(),
    };
    Err(invalid(
        name,
        InvalidReason::BadMagic,
        format!("not a WebAssembly binary (bad magic bytes {magic}{what})"),
    ))
}

/// Heuristic: WAT starts (after whitespace and comments) with `(`.
fn looks_like_text(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(&bytes[..bytes.len().min(4096)]).or_else(|e| {
        // A multi-byte character cut by the 4 KiB window is still text.
        std::str::from_utf8(&bytes[..e.valid_up_to()])
    }) else {
        return false;
    };
    let mut rest = text.trim_start_matches('\u{feff}');
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix(";;") {
            rest = r.split_once('\n').map_or("", |(_, after)| after);
        } else if rest.starts_with("(;") {
            match rest.find(";)") {
                Some(i) => rest = &rest[i + 2..],
                None => return true,
            }
        } else {
            return rest.starts_with('(');
        }
    }
}

fn parse_wat(name: &str, text: &str) -> Result<Vec<u8>> {
    let fail = |e: wast::Error| {
        let offset = e.span().offset();
        let (line, column) = line_col(text, offset);
        invalid(
            name,
            InvalidReason::Text {
                line: Some(line),
                column: Some(column),
            },
            format!("text format error at {line}:{column}: {}", e.message()),
        )
    };
    let buf = wast::parser::ParseBuffer::new(text).map_err(fail)?;
    let mut wat: wast::Wat<'_> = wast::parser::parse(&buf).map_err(fail)?;
    wat.encode().map_err(fail)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Names common non-wasm formats from their first bytes.
fn describe_magic(bytes: &[u8]) -> Option<&'static str> {
    let starts = |m: &[u8]| bytes.starts_with(m);
    if starts(b"\x7fELF") {
        Some("an ELF executable")
    } else if starts(b"MZ") {
        Some("a Windows PE executable")
    } else if starts(b"\xcf\xfa\xed\xfe")
        || starts(b"\xce\xfa\xed\xfe")
        || starts(b"\xca\xfe\xba\xbe")
    {
        Some("a Mach-O executable or a Java class file")
    } else if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") {
        Some("a zip archive (or a jar)")
    } else if starts(b"\x1f\x8b") {
        Some("a gzip archive")
    } else if starts(b"\x28\xb5\x2f\xfd") {
        Some("a zstd archive")
    } else if starts(b"BZh") {
        Some("a bzip2 archive")
    } else if starts(b"\xfd7zXZ") {
        Some("an xz archive")
    } else if starts(b"%PDF") {
        Some("a PDF document")
    } else if starts(b"\x89PNG") {
        Some("a PNG image")
    } else if starts(b"#!") {
        Some("a script")
    } else if starts(b"{") || starts(b"[") {
        Some("JSON")
    } else if bytes.len() >= 262 && &bytes[257..262] == b"ustar" {
        Some("a tar archive")
    } else if std::str::from_utf8(&bytes[..bytes.len().min(512)]).is_ok() {
        Some("text, but not WebAssembly text (which starts with `(`)")
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
