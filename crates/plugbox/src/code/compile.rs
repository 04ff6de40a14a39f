//! Turning validated bytes into native code: compiling (just in time or
//! ahead of time), or loading a trusted precompiled artifact.

use super::atomic_wait;
use crate::engine::Engine;
use crate::engine::cache::{self, Artifact, Cache};
use crate::error::{Error, ErrorKind, PrecompiledReason, Result};
use crate::load::validate::validation_error;
use crate::load::{Wasm, WasmKind, aot};
use std::borrow::Cow;

/// Compiled code, before linking.
pub(crate) enum Compiled {
    Module(wasmtime::Module),
    Component(wasmtime::component::Component),
}

/// The bytes Wasmtime compiles: the module, with its atomic waits bounded
/// when it has shared memories.
fn compilable<'a>(wasm: &'a Wasm) -> Result<Cow<'a, [u8]>> {
    if wasm.kind() != WasmKind::Module {
        return Ok(Cow::Borrowed(wasm.bytes()));
    }
    atomic_wait::bound_waits(wasm.bytes()).map_err(|why| {
        Error::new(
            ErrorKind::Compile,
            format!(
                "failed to compile `{}`: cannot bound its atomic waits: {why}",
                wasm.name()
            ),
        )
    })
}

pub(crate) fn compile(engine: &Engine, wasm: &Wasm, allow_precompiled: bool) -> Result<Compiled> {
    let _span = tracing::info_span!("compile", plugin = wasm.name(), kind = %wasm.kind()).entered();
    let artifact = match wasm.kind() {
        WasmKind::Module => Artifact::Module,
        WasmKind::Component => Artifact::Component,
        WasmKind::PrecompiledModule | WasmKind::PrecompiledComponent => {
            return load_precompiled(engine, wasm, allow_precompiled);
        }
    };
    // An entry is named by the XXH3-128 of the binary compiled and counts
    // only if the BLAKE3 it records is this binary's (see `cache`).
    let mut digest = None;
    let fits = match engine.cache() {
        Some(cache) => {
            let looked = lookup(engine, cache, artifact, wasm)?;
            if let Some(compiled) = looked.hit {
                return Ok(compiled);
            }
            digest = Some((cache, looked.key, looked.blake3));
            looked.fits
        }
        None => check_caps(engine, wasm)?,
    };
    // Validation first: its errors carry precise offsets and tell a
    // disabled feature from malformed input; compilation's do not.
    wasm.validate_code(engine)?;
    // Compiled to an image, which does not depend on how instances are
    // allocated, then loaded into the engine they come from: code too
    // large for a pool slot is compiled (and cached) once all the same.
    let wt = engine.wasmtime();
    let image = match artifact {
        Artifact::Module => wt.precompile_module(&compilable(wasm)?),
        Artifact::Component => wt.precompile_component(wasm.bytes()),
    }
    .map_err(|e| validation_error(engine.config(), wasm.name(), wasm.bytes(), e))?;
    if let Some((cache, key, blake3)) = digest {
        let source = cache::Source {
            blake3: blake3.unwrap_or_else(|| blake3_of(wasm)),
            sha256: binary_sha256(wasm),
        };
        cache.put(&key, &source, artifact, &image);
    }
    // SAFETY: `image` was just compiled by this engine, whose on-demand
    // engine is configured as it is but for the allocator.
    place(engine, fits, |wt| unsafe {
        deserialize(wt, &image, artifact)
    })
    .map_err(|e| {
        Error::new(
            ErrorKind::Compile,
            format!("failed to load the compiled code of `{}`", wasm.name()),
        )
        .with_source(e.into_boxed_dyn_error())
    })
}

/// Loads compiled code into the Wasmtime engine its instances come from:
/// the pool's when one fits a slot (`fits`, as far as the binary tells),
/// the on-demand engine when not, or when the pool refuses it (a
/// precompiled artifact, whose counts are not read, or a component
/// whose own state was larger than its core modules let see).
fn place(
    engine: &Engine,
    fits: bool,
    load: impl Fn(&wasmtime::Engine) -> wasmtime::Result<Compiled>,
) -> wasmtime::Result<Compiled> {
    let mut refused = None;
    if fits || !engine.is_pooling() {
        match load(engine.wasmtime()) {
            Ok(compiled) => return Ok(compiled),
            Err(e) if !engine.is_pooling() => return Err(e),
            Err(e) => refused = Some(e),
        }
    }
    match load(engine.on_demand()?) {
        Ok(compiled) => {
            if let Some(e) = refused {
                tracing::info!(error = %format!("{e:#}"), "the pool refused the code; its instances are allocated on demand");
            }
            Ok(compiled)
        }
        // The pool's reason, when it refused first: the on-demand engine
        // differs only in its allocator.
        Err(e) => Err(refused.unwrap_or(e)),
    }
}

/// Native code from an image that [`place`]'s engine compiled.
///
/// # Safety
///
/// `image` must be what `precompile_module` or `precompile_component`
/// made for an engine configured as `engine` but for its allocator.
unsafe fn deserialize(
    engine: &wasmtime::Engine,
    image: &[u8],
    artifact: Artifact,
) -> wasmtime::Result<Compiled> {
    // SAFETY: the caller's contract.
    unsafe {
        match artifact {
            Artifact::Module => wasmtime::Module::deserialize(engine, image).map(Compiled::Module),
            Artifact::Component => {
                wasmtime::component::Component::deserialize(engine, image).map(Compiled::Component)
            }
        }
    }
}

/// The caps and the pool's fit depend on this engine's settings, not on
/// the code: checked on a cache hit too (a walk, not a validation).
/// `Ok(false)`: an instance would not fit a pool slot.
fn check_caps(engine: &Engine, wasm: &Wasm) -> Result<bool> {
    crate::load::bounds::check_declared(engine, wasm.name(), wasm.bytes())?;
    let fits = engine
        .slot_instance_size()
        .is_none_or(|slot| crate::load::footprint::of(wasm.bytes()).fits(slot));
    Ok(fits)
}

/// What a cache lookup found.
struct Looked {
    /// The cache's code, if an entry holds code compiled from the source.
    hit: Option<Compiled>,
    /// The entry's name.
    key: String,
    /// The BLAKE3 of the source's binary, if it was computed.
    blake3: Option<[u8; 32]>,
    /// Whether an instance fits a pool slot ([`check_caps`]).
    fits: bool,
}

/// The cache's compiled code for `wasm`, if an entry holds code compiled
/// from it, with the entry's name and the BLAKE3 of `wasm`'s binary if it
/// was computed. An entry counts if it records the loaded binary's BLAKE3
/// or, when the binary's SHA-256 is already known (a `sha256` pin hashed
/// it), its SHA-256: either is collision-resistant, and the source is
/// not hashed twice. For a large source, the hash and the caps walk run
/// on another thread while this one names the entry and checks it; its
/// code is mapped once the walk has said which engine it goes to. A hit
/// also gives a binary source its SHA-256, recorded in the entry, so a
/// hit never computes one.
fn lookup(engine: &Engine, cache: &Cache, artifact: Artifact, wasm: &Wasm) -> Result<Looked> {
    let known_sha256 = (!wasm.is_text()).then(|| wasm.known_sha256()).flatten();
    let look = || {
        let key = cache::key(wasm.xxh3());
        (cache.get(&key, artifact), key)
    };
    let vet = || -> Result<(bool, Option<[u8; 32]>)> {
        let fits = check_caps(engine, wasm)?;
        Ok((fits, known_sha256.is_none().then(|| blake3_of(wasm))))
    };
    let ((found, key), vetted) = if wasm.bytes().len() >= PARALLEL_HASH_FROM {
        std::thread::scope(|s| {
            let vetting = std::thread::Builder::new()
                .name("plugbox-hash".into())
                .spawn_scoped(s, vet);
            let looked = look();
            let vetted = match vetting {
                Ok(h) => h.join().unwrap_or_else(|_| vet()),
                Err(_) => vet(),
            };
            (looked, vetted)
        })
    } else {
        let vetted = vet()?;
        (look(), Ok(vetted))
    };
    let (fits, blake3) = vetted?;
    let hit = found.and_then(|hit| {
        let same = match (known_sha256, blake3) {
            (Some(sha), _) => hit.source.sha256 == sha,
            (None, Some(blake3)) => hit.source.blake3 == blake3,
            (None, None) => false,
        };
        if !same {
            tracing::warn!(entry = %hit.path.display(), "cache entry compiled from another source with the same XXH3; compiling");
            return None;
        }
        let compiled = map_entry(engine, &hit, artifact, fits)?;
        if !wasm.is_text() {
            wasm.remember_sha256(&hit.source.sha256);
        }
        Some(compiled)
    });
    Ok(Looked {
        hit,
        key,
        blake3,
        fits,
    })
}

/// The BLAKE3 of the binary compiled.
fn blake3_of(wasm: &Wasm) -> [u8; 32] {
    *blake3::hash(wasm.bytes()).as_bytes()
}

/// The code of a checked entry whose source is the one loaded, mapped
/// into the engine its instances come from.
fn map_entry(
    engine: &Engine,
    hit: &cache::Hit,
    artifact: Artifact,
    fits: bool,
) -> Option<Compiled> {
    // SAFETY: the entry was written by plugbox's cache for an engine
    // with the same fingerprint, atomically, its checksum was verified,
    // and it records the loaded source; Wasmtime checks compatibility
    // again.
    match place(engine, fits, |wt| unsafe {
        map_file(wt, &hit.file, artifact)
    }) {
        Ok(compiled) => Some(compiled),
        Err(e) => {
            tracing::warn!(entry = %hit.path.display(), error = %e, "cache entry refused; compiling");
            None
        }
    }
}

/// Sources from this size on are hashed (BLAKE3) and walked for the caps
/// on a second thread during a cache lookup.
const PARALLEL_HASH_FROM: usize = 1 << 20;

/// The SHA-256 of the binary compiled, recorded in its cache entry; for
/// a binary source it is also [`Wasm::sha256`], which keeps it.
fn binary_sha256(wasm: &Wasm) -> [u8; 32] {
    use sha2::Digest;
    if wasm.is_text() {
        return sha2::Sha256::digest(wasm.bytes()).into();
    }
    // Already computed for a `sha256` pin: not hashed twice.
    if let Some(sha) = wasm.known_sha256() {
        return sha;
    }
    let sha: [u8; 32] = sha2::Sha256::digest(wasm.bytes()).into();
    wasm.remember_sha256(&sha);
    sha
}

/// Loads a precompiled artifact the caller opted in to trust, after
/// checking its integrity and compatibility.
fn load_precompiled(engine: &Engine, wasm: &Wasm, allow_precompiled: bool) -> Result<Compiled> {
    if !allow_precompiled {
        return Err(Error::new(
            ErrorKind::Precompiled(PrecompiledReason::NotTrusted),
            format!(
                "refusing precompiled artifact `{}`: it is native code; load it only if you trust its origin (allow-precompiled, --allow-precompiled)",
                wasm.name()
            ),
        ));
    }
    let image = aot::check(engine, wasm.name(), wasm.bytes())?;
    let artifact = if wasm.kind() == WasmKind::PrecompiledModule {
        Artifact::Module
    } else {
        Artifact::Component
    };
    // SAFETY: the caller opted in to trusting this artifact, its checksum
    // matched, and it was produced by `precompile` for an engine with the
    // same fingerprint; Wasmtime re-checks compatibility itself. A mapped
    // file is the one whose bytes were just checked. Its counts are not
    // read: the pool is tried first.
    let loaded = place(engine, true, |wt| unsafe {
        match (wasm.mapped_file(), artifact) {
            (Some(file), _) => map_file(wt, file, artifact),
            (None, Artifact::Module) => {
                wasmtime::Module::deserialize(wt, image).map(Compiled::Module)
            }
            (None, Artifact::Component) => {
                wasmtime::component::Component::deserialize(wt, image).map(Compiled::Component)
            }
        }
    });
    loaded.map_err(|e| {
        Error::new(
            ErrorKind::Precompiled(PrecompiledReason::Incompatible),
            format!("refusing precompiled artifact `{}`", wasm.name()),
        )
        .with_source(e.into_boxed_dyn_error())
    })
}

/// Has Wasmtime map native code from `file` (the image, then a trailer
/// it does not read).
///
/// # Safety
///
/// `file` must hold native code for an engine configured as `wt` (but
/// for its allocator), and must not change
/// while the code is in use.
unsafe fn map_file(
    wt: &wasmtime::Engine,
    file: &std::fs::File,
    artifact: Artifact,
) -> wasmtime::Result<Compiled> {
    match artifact {
        // SAFETY: the caller's contract.
        Artifact::Module => {
            unsafe { wasmtime::Module::deserialize_open_file(wt, file.try_clone()?) }
                .map(Compiled::Module)
        }
        Artifact::Component => {
            // Through the descriptor already open: the very file checked.
            #[cfg(target_os = "linux")]
            let path = {
                use std::os::fd::AsRawFd;
                std::path::PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
            };
            #[cfg(not(target_os = "linux"))]
            let path = return Err(wasmtime::Error::msg(
                "no mapped components on this platform",
            ));
            // SAFETY: the caller's contract.
            unsafe { wasmtime::component::Component::deserialize_file(wt, path) }
                .map(Compiled::Component)
        }
    }
}

/// Compiles `wasm` to native code for `engine`, in plugbox's checked
/// `.cwasm` format.
///
/// # Errors
///
/// [`ErrorKind::InvalidModule`] or [`ErrorKind::Compile`] when the input
/// does not compile; [`ErrorKind::Precompiled`] when it is already
/// precompiled.
pub fn precompile(engine: &Engine, wasm: &Wasm) -> Result<Vec<u8>> {
    let wt = engine.wasmtime();
    if !wasm.kind().is_precompiled() {
        crate::load::bounds::check_declared(engine, wasm.name(), wasm.bytes())?;
    }
    let image = match wasm.kind() {
        WasmKind::Module => wt.precompile_module(&compilable(wasm)?),
        WasmKind::Component => wt.precompile_component(wasm.bytes()),
        WasmKind::PrecompiledModule | WasmKind::PrecompiledComponent => {
            return Err(Error::new(
                ErrorKind::Precompiled(PrecompiledReason::Incompatible),
                format!("`{}` is already precompiled", wasm.name()),
            ));
        }
    }
    .map_err(|e| validation_error(engine.config(), wasm.name(), wasm.bytes(), e))?;
    Ok(aot::seal(engine, image, crate::engine::WASMTIME_VERSION))
}
