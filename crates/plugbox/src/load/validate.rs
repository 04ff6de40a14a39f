//! Validation failures as `InvalidModule` errors with their byte offset,
//! telling truncated input and disabled features apart from malformed input
//! by what the bytes are, not by what the message says.

use crate::config::{EngineConfig, WasmFeature};
use crate::error::{Error, ErrorKind, InvalidReason};
use wasmparser::{BinaryReaderError, Chunk, Parser, Validator, WasmFeatures};

/// An `InvalidModule` error of `name`.
pub(crate) fn invalid(name: &str, reason: InvalidReason, what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::InvalidModule(reason),
        format!("invalid module `{name}`: {what}"),
    )
}

/// Turns a validation or compilation failure into an error: a truncated
/// binary, a disabled feature, malformed input (all with the byte offset),
/// or a compile failure.
pub(crate) fn validation_error(
    config: &EngineConfig,
    name: &str,
    bytes: &[u8],
    err: wasmtime::Error,
) -> Error {
    let Some(reader_err) = err.downcast_ref::<BinaryReaderError>() else {
        return Error::new(ErrorKind::Compile, format!("failed to compile `{name}`"))
            .with_source(err.into_boxed_dyn_error());
    };
    let offset = reader_err.offset();
    let message = reader_err.message().to_string();
    if let Some(end) = truncated_at(bytes) {
        return invalid(
            name,
            InvalidReason::Truncated { offset: end },
            format!(
                "truncated: {message} (at offset {offset:#x}, file is {} bytes)",
                bytes.len()
            ),
        );
    }
    if Validator::new_with_features(WasmFeatures::all())
        .validate_all(bytes)
        .is_ok()
    {
        let hint = match enabling_features(config, bytes).as_slice() {
            [] => String::new(),
            needed => {
                let names: Vec<String> = needed.iter().map(|f| format!("`{f}`")).collect();
                let flags: Vec<String> = needed.iter().map(|f| format!("--enable {f}")).collect();
                format!(
                    "; it needs {} (`{}`, or `enable` under `[engine]`; SECURITY.md says why some are off by default)",
                    names.join(" and "),
                    flags.join(" ")
                )
            }
        };
        return invalid(
            name,
            InvalidReason::FeatureDisabled {
                offset: Some(offset),
            },
            format!(
                "uses a WebAssembly feature disabled in this engine: {message} (at offset {offset:#x}){hint}"
            ),
        );
    }
    invalid(
        name,
        InvalidReason::Malformed {
            offset: Some(offset),
        },
        format!("{message} (at offset {offset:#x})"),
    )
}

/// Where the binary ends if it ends inside a section: the streaming parser
/// still wants more data although it is not at a section boundary.
fn truncated_at(bytes: &[u8]) -> Option<usize> {
    let mut parser = Parser::new(0);
    let mut pos = 0;
    loop {
        match parser.parse(&bytes[pos..], false) {
            // At a section boundary a module may simply end; inside one the
            // data is cut short.
            Ok(Chunk::NeedMoreData(_)) => return (pos < bytes.len()).then_some(bytes.len()),
            Ok(Chunk::Parsed { consumed, payload }) => {
                pos += consumed;
                if let wasmparser::Payload::End(_) = payload {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
}

/// The wasmparser feature set matching an engine configuration, for
/// validating components without compiling them.
pub(crate) fn component_features(config: &EngineConfig) -> WasmFeatures {
    let mut features = WasmFeatures::WASM3 | WasmFeatures::COMPONENT_MODEL;
    for f in crate::engine::DEFAULT_OFF {
        if config.get_feature(f).is_none() {
            features.remove(parser_flag(f));
        }
    }
    if config.get_feature(WasmFeature::Simd) == Some(false)
        && config.get_feature(WasmFeature::RelaxedSimd).is_none()
    {
        features.remove(WasmFeatures::RELAXED_SIMD);
    }
    for f in WasmFeature::ALL {
        if let Some(on) = config.get_feature(f) {
            features.set(parser_flag(f), on);
        }
    }
    features
}

/// The wasmparser flags of a plugbox feature.
fn parser_flag(f: WasmFeature) -> WasmFeatures {
    match f {
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
        WasmFeature::ComponentModelAsync => WasmFeatures::CM_ASYNC,
    }
}

/// The features, off in this engine, that would make `bytes` valid (one
/// if one suffices): what a `FeatureDisabled` error tells the user to
/// enable. Only on the error path: it validates the module again.
fn enabling_features(config: &EngineConfig, bytes: &[u8]) -> Vec<WasmFeature> {
    let base = component_features(config);
    let valid = |features: WasmFeatures| {
        Validator::new_with_features(features)
            .validate_all(bytes)
            .is_ok()
    };
    let off: Vec<WasmFeature> = WasmFeature::ALL
        .into_iter()
        .filter(|f| !base.contains(parser_flag(*f)))
        .collect();
    if let Some(one) = off.iter().find(|f| valid(base | parser_flag(**f))) {
        return vec![*one];
    }
    let all = off.iter().fold(base, |acc, f| acc | parser_flag(*f));
    if !valid(all) {
        return Vec::new();
    }
    off.into_iter()
        .filter(|f| !valid(all.difference(parser_flag(*f))))
        .collect()
}
