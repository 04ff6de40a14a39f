//! Turning validated bytes into native code: compiling (just in time or
//! ahead of time), or loading a trusted precompiled artifact.

use super::atomic_wait;
use crate::engine::Engine;
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
    let wt = engine.wasmtime();
    if !wasm.kind().is_precompiled() {
        // Validation first: its errors carry precise offsets and tell a
        // disabled feature from malformed input; compilation's do not.
        wasm.validate(engine)?;
    }
    match wasm.kind() {
        WasmKind::Module => wasmtime::Module::new(wt, &compilable(wasm)?)
            .map(Compiled::Module)
            .map_err(|e| validation_error(wasm.name(), wasm.bytes(), e)),
        WasmKind::Component => wasmtime::component::Component::new(wt, wasm.bytes())
            .map(Compiled::Component)
            .map_err(|e| validation_error(wasm.name(), wasm.bytes(), e)),
        WasmKind::PrecompiledModule | WasmKind::PrecompiledComponent => {
            if !allow_precompiled && !aot::in_trusted_cache(engine, wasm.path()) {
                return Err(Error::new(
                    ErrorKind::Precompiled(PrecompiledReason::NotTrusted),
                    format!(
                        "refusing precompiled artifact `{}`: it is native code; load it only if you trust its origin (allow-precompiled, --allow-precompiled)",
                        wasm.name()
                    ),
                ));
            }
            let image = aot::check(engine, wasm.name(), wasm.bytes())?;
            let incompatible = |e: wasmtime::Error| {
                Error::new(
                    ErrorKind::Precompiled(PrecompiledReason::Incompatible),
                    format!("refusing precompiled artifact `{}`", wasm.name()),
                )
                .with_source(e.into_boxed_dyn_error())
            };
            // SAFETY: the caller opted in to trusting this artifact (or it
            // sits in the engine's own cache), its checksum matched, and it
            // was produced by `precompile` for an engine with the same
            // compatibility hash; Wasmtime re-checks compatibility itself.
            if wasm.kind() == WasmKind::PrecompiledModule {
                unsafe { wasmtime::Module::deserialize(wt, image) }
                    .map(Compiled::Module)
                    .map_err(incompatible)
            } else {
                unsafe { wasmtime::component::Component::deserialize(wt, image) }
                    .map(Compiled::Component)
                    .map_err(incompatible)
            }
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
        crate::load::bounds::check_declared(engine.config(), wasm.name(), wasm.bytes())?;
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
    .map_err(|e| validation_error(wasm.name(), wasm.bytes(), e))?;
    Ok(aot::seal(engine, image, crate::load::WASMTIME_VERSION))
}
