//! Turning validated bytes into native code: compiling, or loading a trusted
//! precompiled artifact.

use crate::aot;
use crate::config::{EngineConfig, WasmFeature};
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, PrecompiledReason, Result};
use crate::source::{Wasm, WasmKind, validation_error};
use wasmparser::WasmFeatures;

/// Compiled code, shared by every instance of a plugin.
#[derive(Clone)]
pub(crate) enum Code {
    Module(wasmtime::Module),
    #[allow(dead_code, reason = "component instantiation is not wired yet")]
    Component(wasmtime::component::Component),
}

pub(crate) fn compile(engine: &Engine, wasm: &Wasm, allow_precompiled: bool) -> Result<Code> {
    let _span = tracing::info_span!("compile", plugin = wasm.name(), kind = %wasm.kind()).entered();
    let wt = engine.wasmtime();
    if !wasm.kind().is_precompiled() {
        // Validation first: its errors carry precise offsets and tell a
        // disabled feature from malformed input; compilation's do not.
        wasm.validate(engine)?;
    }
    match wasm.kind() {
        WasmKind::Module => wasmtime::Module::new(wt, wasm.bytes())
            .map(Code::Module)
            .map_err(|e| validation_error(wasm.name(), wasm.bytes(), e)),
        WasmKind::Component => wasmtime::component::Component::new(wt, wasm.bytes())
            .map(Code::Component)
            .map_err(|e| validation_error(wasm.name(), wasm.bytes(), e)),
        WasmKind::PrecompiledModule | WasmKind::PrecompiledComponent => {
            if !allow_precompiled && !aot::in_trusted_cache(engine, wasm) {
                return Err(Error::new(
                    ErrorKind::Precompiled(PrecompiledReason::NotTrusted),
                    format!(
                        "refusing precompiled artifact `{}`: it is native code; load it only if you trust its origin (allow_precompiled / --allow-precompiled)",
                        wasm.name()
                    ),
                ));
            }
            let image = aot::check(engine, wasm)?;
            let incompatible = |e: wasmtime::Error| {
                Error::new(
                    ErrorKind::Precompiled(PrecompiledReason::Incompatible),
                    format!("refusing precompiled artifact `{}`", wasm.name()),
                )
                .with_source(e.into_boxed_dyn_error())
            };
            // SAFETY: the caller opted in to trusting this artifact (or it
            // sits in the engine's own cache), its checksum matched, and it
            // was produced by `aot::precompile` for an engine with the same
            // compatibility hash; Wasmtime re-checks compatibility itself.
            if wasm.kind() == WasmKind::PrecompiledModule {
                unsafe { wasmtime::Module::deserialize(wt, image) }
                    .map(Code::Module)
                    .map_err(incompatible)
            } else {
                unsafe { wasmtime::component::Component::deserialize(wt, image) }
                    .map(Code::Component)
                    .map_err(incompatible)
            }
        }
    }
}

/// The wasmparser feature set matching an engine configuration, for
/// validating components without compiling them.
pub(crate) fn component_features(config: &EngineConfig) -> WasmFeatures {
    let mut features = WasmFeatures::WASM3 | WasmFeatures::COMPONENT_MODEL;
    let flag = |f: WasmFeature| match f {
        WasmFeature::Simd => WasmFeatures::SIMD,
        WasmFeature::RelaxedSimd => WasmFeatures::RELAXED_SIMD,
        WasmFeature::Threads => WasmFeatures::THREADS | WasmFeatures::SHARED_EVERYTHING_THREADS,
        WasmFeature::MultiMemory => WasmFeatures::MULTI_MEMORY,
        WasmFeature::Memory64 => WasmFeatures::MEMORY64,
        WasmFeature::ReferenceTypes => WasmFeatures::REFERENCE_TYPES,
        WasmFeature::BulkMemory => WasmFeatures::BULK_MEMORY,
        WasmFeature::MultiValue => WasmFeatures::MULTI_VALUE,
        WasmFeature::TailCall => WasmFeatures::TAIL_CALL,
        WasmFeature::ExtendedConst => WasmFeatures::EXTENDED_CONST,
        WasmFeature::FunctionReferences => WasmFeatures::FUNCTION_REFERENCES,
        WasmFeature::Gc => WasmFeatures::GC,
        WasmFeature::Exceptions => WasmFeatures::EXCEPTIONS,
        WasmFeature::WideArithmetic => WasmFeatures::WIDE_ARITHMETIC,
        WasmFeature::ComponentModel => WasmFeatures::COMPONENT_MODEL,
    };
    if config.get_feature(WasmFeature::Simd) == Some(false)
        && config.get_feature(WasmFeature::RelaxedSimd).is_none()
    {
        features.remove(WasmFeatures::RELAXED_SIMD);
    }
    for f in WasmFeature::ALL {
        if let Some(on) = config.get_feature(f) {
            features.set(flag(f), on);
        }
    }
    features
}
