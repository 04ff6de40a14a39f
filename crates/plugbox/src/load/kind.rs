//! What a file holds: a module, a component, or either precompiled.

/// What a `.wasm` (or `.wat`, `.cwasm`) file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WasmKind {
    /// A core WebAssembly module.
    Module,
    /// A component (component model).
    Component,
    /// A module precompiled to native code by `plugbox compile`.
    PrecompiledModule,
    /// A component precompiled to native code by `plugbox compile`.
    PrecompiledComponent,
}

impl WasmKind {
    /// `module`, `component`, `precompiled module`, `precompiled component`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Module => "module",
            Self::Component => "component",
            Self::PrecompiledModule => "precompiled module",
            Self::PrecompiledComponent => "precompiled component",
        }
    }

    /// Whether this is native code rather than WebAssembly.
    pub fn is_precompiled(self) -> bool {
        matches!(self, Self::PrecompiledModule | Self::PrecompiledComponent)
    }

    /// Whether this is a component (precompiled or not).
    pub fn is_component(self) -> bool {
        matches!(self, Self::Component | Self::PrecompiledComponent)
    }
}

impl std::fmt::Display for WasmKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
