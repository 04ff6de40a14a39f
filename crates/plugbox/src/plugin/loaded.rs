//! A loaded plugin: compiled, pre-linked code with the limits and sandbox
//! every call runs under, and what can be asked of it.

use crate::code::{Code, Prepared};
use crate::config::{Limits, Sandbox};
use crate::engine::Engine;
use crate::error::Result;
use crate::kv::Kv;
use std::sync::Arc;
use wasmtime::FuncType;

/// A compiled, linked plugin. Cheap to clone (an `Arc`) and `Send + Sync`:
/// share one across threads and call it concurrently. Each call on a
/// `Plugin` runs in a fresh instance (stateless); use
/// [`instantiate`](Self::instantiate) for an instance whose state persists.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<Prepared>,
    sha256: Arc<str>,
}

impl Plugin {
    pub(crate) fn from_prepared(inner: Arc<Prepared>, sha256: Arc<str>) -> Self {
        Self { inner, sha256 }
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// The engine it was compiled for.
    pub fn engine(&self) -> &Engine {
        self.inner.engine()
    }

    /// Whether this plugin's instances come from the engine's pool
    /// ([`EngineConfig::pooling`](crate::EngineConfig::pooling)). Not
    /// without the pooling allocator, nor for code one instance of which
    /// needs more of Wasmtime's own state than a pool slot holds (1 MiB,
    /// about 30 000 exported functions): such a plugin is found out from
    /// its binary before it is compiled, and its instances are allocated
    /// on demand, by a second Wasmtime engine configured as the first. Its
    /// code is compiled and cached as any other's.
    pub fn is_pooled(&self) -> bool {
        self.engine().is_pooling() && !self.inner.on_demand()
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> &Limits {
        self.inner.limits()
    }

    /// The granted capabilities.
    pub fn sandbox(&self) -> &Sandbox {
        &self.inner.template.sandbox
    }

    /// SHA-256 (hex) of the bytes the plugin was loaded from. For a binary
    /// source loaded without a `sha256` pin, a compile cache hit reports
    /// the SHA-256 recorded in the entry (trusted like its code) instead
    /// of hashing the source again; a pinned source is always hashed.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Whether the plugin imports WASI (components always do).
    pub fn uses_wasi(&self) -> bool {
        self.inner.template.wasi != crate::store::Wasi::None
    }

    /// The key-value store of this plugin: its namespace in its backend,
    /// as its `plugbox:plugin/kv` and `wasi:keyvalue` imports see it.
    pub fn kv(&self) -> &Kv {
        &self.inner.template.shared.kv
    }

    /// A copy of this plugin (sharing the compiled code) with other limits.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the engine
    /// cannot enforce them.
    pub fn with_limits(&self, limits: Limits) -> Result<Self> {
        let sandbox = self.sandbox().clone();
        Ok(Self::from_prepared(
            Arc::new(self.inner.with(limits, sandbox)?),
            self.sha256.clone(),
        ))
    }

    /// A copy of this plugin (sharing the compiled code) with another
    /// sandbox.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) or
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) when a grant is invalid.
    pub fn with_sandbox(&self, sandbox: Sandbox) -> Result<Self> {
        let limits = self.limits().clone();
        Ok(Self::from_prepared(
            Arc::new(self.inner.with(limits, sandbox)?),
            self.sha256.clone(),
        ))
    }

    /// The type of a core module's exported function.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ExportNotFound`](crate::ErrorKind::ExportNotFound) when
    /// there is no such function export;
    /// [`ErrorKind::SignatureMismatch`](crate::ErrorKind::SignatureMismatch)
    /// for a component.
    pub fn func_type(&self, func: &str) -> Result<FuncType> {
        self.inner.func_type(func)
    }

    /// Names of the exported functions, in export order (`f` and
    /// `iface#f` for components).
    pub fn functions(&self) -> Vec<String> {
        self.inner.functions()
    }

    /// Whether the plugin is a component (called with JSON values) rather
    /// than a core module.
    pub fn is_component(&self) -> bool {
        matches!(self.inner.code, Code::Component { .. })
    }

    /// The WIT signature of a component's exported function
    /// (`func(name: string) -> string`), or the core signature of a
    /// module's (`(i32, i32) -> i32`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ExportNotFound`](crate::ErrorKind::ExportNotFound) when
    /// there is no such function.
    pub fn signature(&self, func: &str) -> Result<String> {
        self.inner.signature(func)
    }

    /// Parses `body`, a JSON array of arguments for `func` (empty: none),
    /// checking it against `func`'s parameters while it is parsed: more
    /// elements than `func` takes, an argument nested too deep, or an
    /// array or object where a core module takes a number stop the parse.
    /// The values are converted by the call
    /// ([`PluginManager::call_json`](crate::PluginManager::call_json)).
    /// What `plugbox serve`'s JSON API runs on a request body.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ExportNotFound`](crate::ErrorKind::ExportNotFound),
    /// and [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument)
    /// naming what is wrong with the body.
    #[doc(hidden)]
    pub fn parse_json_args(&self, func: &str, body: &[u8]) -> Result<Vec<serde_json::Value>> {
        crate::call::json_args::Params::of(&self.inner, func)?.parse(body)
    }

    pub(crate) fn prepared(&self) -> &Arc<Prepared> {
        &self.inner
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}
