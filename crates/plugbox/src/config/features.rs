//! The WebAssembly proposals an engine can switch on or off.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A WebAssembly proposal that can be switched on or off.
///
/// Unset features keep Wasmtime 48's defaults but three: the WebAssembly
/// 3.0 set is on (SIMD, relaxed SIMD, multi-memory, memory64, reference
/// types, tail calls, typed function references) plus the component model;
/// garbage collection, exception handling and the component model's async
/// ABI are off unless enabled, because Wasmtime 48.0.8 can abort or panic
/// on hostile guests using them (see SECURITY.md, "Pinned Wasmtime");
/// threads are on but shared memories are refused unless `threads` is
/// enabled explicitly; wide arithmetic is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum WasmFeature {
    /// 128-bit SIMD.
    Simd,
    /// Relaxed SIMD (switched off with `simd` unless set explicitly).
    RelaxedSimd,
    /// Threads and shared memories.
    Threads,
    /// Several memories per module.
    MultiMemory,
    /// 64-bit memories.
    Memory64,
    /// Reference types.
    ReferenceTypes,
    /// Bulk memory operations.
    BulkMemory,
    /// Multi-value returns.
    MultiValue,
    /// Tail calls.
    TailCall,
    /// Extended constant expressions.
    ExtendedConst,
    /// Typed function references.
    FunctionReferences,
    /// Garbage collection.
    Gc,
    /// Exception handling.
    Exceptions,
    /// 128-bit wide arithmetic.
    WideArithmetic,
    /// The component model.
    ComponentModel,
    /// The component model's async ABI: async lifts and lowers, `stream`
    /// and `future` (with Wasmtime's concurrency support).
    ComponentModelAsync,
}

impl WasmFeature {
    /// Every feature, in a stable order.
    pub const ALL: [WasmFeature; 16] = [
        Self::Simd,
        Self::RelaxedSimd,
        Self::Threads,
        Self::MultiMemory,
        Self::Memory64,
        Self::ReferenceTypes,
        Self::BulkMemory,
        Self::MultiValue,
        Self::TailCall,
        Self::ExtendedConst,
        Self::FunctionReferences,
        Self::Gc,
        Self::Exceptions,
        Self::WideArithmetic,
        Self::ComponentModel,
        Self::ComponentModelAsync,
    ];

    /// The feature's kebab-case name (`relaxed-simd`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Simd => "simd",
            Self::RelaxedSimd => "relaxed-simd",
            Self::Threads => "threads",
            Self::MultiMemory => "multi-memory",
            Self::Memory64 => "memory64",
            Self::ReferenceTypes => "reference-types",
            Self::BulkMemory => "bulk-memory",
            Self::MultiValue => "multi-value",
            Self::TailCall => "tail-call",
            Self::ExtendedConst => "extended-const",
            Self::FunctionReferences => "function-references",
            Self::Gc => "gc",
            Self::Exceptions => "exceptions",
            Self::WideArithmetic => "wide-arithmetic",
            Self::ComponentModel => "component-model",
            Self::ComponentModelAsync => "component-model-async",
        }
    }
}

impl fmt::Display for WasmFeature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WasmFeature {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|f| f.name()).collect();
                format!("unknown wasm feature `{s}` (known: {})", names.join(", "))
            })
    }
}
